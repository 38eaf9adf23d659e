"""The reference tables published beside the cube: what its codes mean, as the run used them.

An analyst holding only the warehouse cannot read data/reference/: these small public tables say which perimeters
the cube holds and which one is the run's (`referentiel_perimetres`), which communes make up every territory of
every level (`referentiel_territoires`), which NAF divisions make up each sector (`referentiel_secteurs`) and which
SIRENE size bands make up each size class (`referentiel_classes_taille`).

Each is the SQL file `sql/publication/<table>.sql`, run at the publication (transforms/publish.py, prepare) over:
- the reference files of the run's reference folder (`params["reference_dir"]` layered over data/reference/, read
  and checked by transforms/reference.py as every step reads them — the steps' cache keys hold their checksums, so
  they are the files the run's tables were built from), loaded as `ref_<name>`;
- the run's own tables the SQL reads (out_cube_communes: each commune's territory at every level, zonings
  included; out_indicateurs_public: the labels published).
A table whose run tables are missing (a partial publication in tests) is not built. Nothing here names a
perimeter, a zoning or a sector: a line added to those files is published without a code change.

They are published like the cube, one partition per département and millésime (public/<table>/departement_…/
millesime_…/), in the same version as the tables they describe; their columns are described in
sql/dictionnaire/colonnes.csv like every published column.
"""

from __future__ import annotations

from pathlib import Path

from ess import db, paths, sql_order
from transforms import reference

SQL_DIR = Path(__file__).resolve().parent.parent / "sql" / "publication"
TABLES = ("referentiel_perimetres", "referentiel_territoires", "referentiel_secteurs", "referentiel_classes_taille")
# The reference files they read, loaded as ref_<name> (transforms/reference.py checks them).
REFERENCE_FILES = ("perimetres", "secteurs_ess", "classes_taille", "tranches_effectifs")
NAF = "naf_rev2.csv"  # labels of NAF rév. 2 divisions and sections (loaded as ref_naf_rev2)


def sql(table: str) -> str:
    return (SQL_DIR / f"{table}.sql").read_text(encoding="utf-8")


def run_tables(table: str) -> set[str]:
    """The run's tables `table`'s SQL reads (its ref_ tables are loaded here)."""
    return {t for t in sql_order.tables_read(sql(table)) if not t.startswith("ref_")}


def build(tables: dict[str, str], params: dict, folder: Path) -> dict[str, str]:
    """Write each reference table whose run tables are in `tables` to <folder>/<table>.parquet; returns
    {table: file}."""
    folder = Path(folder)
    con = db.connect()
    try:
        reference.load_reference(con, REFERENCE_FILES, params.get("reference_dir"))
        _load_naf(con, params.get("reference_dir"))
        values = {"perimetre": params["perimetre"], "perimetres_cube": params.get("perimetres_cube") or None,
                  "annee_cog": params.get("annee_cog")}
        built = {}
        for table in TABLES:
            needed = run_tables(table)
            if not needed <= tables.keys():
                continue
            db.attach_tables(con, {t: tables[t] for t in needed})
            text = sql(table)
            built[table] = db.export_select(con, text, values, folder / f"{table}.parquet")
        return built
    finally:
        con.close()


def _load_naf(con, reference_dir) -> None:
    """ref_naf_rev2 (code_division, libelle_division, section, libelle_section): empty without the file, as the
    cube's labels then have none."""
    path = paths.reference_file(NAF, reference_dir)
    columns = ("code_division", "libelle_division", "section", "libelle_section")
    if path.exists():
        escaped = str(path).replace("'", "''")
        con.execute(f"CREATE OR REPLACE TABLE ref_naf_rev2 AS SELECT {', '.join(columns)} FROM read_csv('{escaped}', "
                    "header = true, all_varchar = true)")
    else:
        con.execute("CREATE OR REPLACE TABLE ref_naf_rev2 AS SELECT "
                    + ", ".join(f"NULL::VARCHAR AS {c}" for c in columns) + " WHERE false")
