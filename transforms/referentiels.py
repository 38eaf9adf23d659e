"""The reference tables published beside the cube: what its codes mean, as the run used them.

An analyst holding only the warehouse cannot read data/reference/: these small public tables say which perimeters
the cube holds and which one is the run's (`referentiel_perimetres`), which communes make up every territory of
every level (`referentiel_territoires`), which NAF divisions make up each sector (`referentiel_secteurs`) and which
SIRENE size bands make up each size class (`referentiel_classes_taille`), and how often the published 90 % intervals
held the truth when measured on synthetic worlds (`referentiel_couverture_intervalles`, from
data/reference/couverture_intervalles.csv: `read_coverage` reads and checks it for the publication and the report).
Beside the codes, the rules that decide who is in the ESS and how employment is estimated, each the file the core
step reads: which legal forms make a legal unit part of an ESS family and which perimeters take it in by its form
(`referentiel_formes_juridiques`, perimetre_familles.csv), which activities the perimeters take out and which
perimeters apply each rule (`referentiel_exclusions_activite`, perimetre_exclusions_naf.csv), what is outside
URSSAF's field, so not calibrated on it (`referentiel_champ_urssaf`, champ_urssaf.csv), and the rules whose
employment is partly under the MSA, estimated on top of URSSAF's (`referentiel_emploi_hors_urssaf`,
emploi_hors_urssaf.csv). The last two are two tables, not one: their rules differ in shape (one criterion and one
code; lists of legal-form and activity prefixes with a share range and its sources) and in effect (the whole
employment left uncalibrated; a share added to the calibrated one), and each keeps the values of the establishment
tables' column it explains (motif_hors_champ_urssaf, regle_hors_urssaf), one row per line of its file. And one
source the report quotes beside the cube: URSSAF's ESS file of the département as the run read it, with the
average wage it gives (`urssaf_ess_departement`, public figures), so that every figure of the report's URSSAF page
is in the warehouse.

Each is the SQL file `sql/publication/<table>.sql`, run at the publication (transforms/publish.py, prepare) over:
- the reference files of the run's reference folder (`params["reference_dir"]` layered over data/reference/, read
  and checked by transforms/reference.py as every step reads them — the steps' cache keys hold their checksums, so
  they are the files the run's tables were built from), loaded as `ref_<name>`;
- the run's own tables the SQL reads (out_cube_communes: each commune's territory at every level, zonings
  included; out_indicateurs_public: the labels published).
A table whose run tables are missing (a partial publication in tests) is not built. Nothing here names a
perimeter, a zoning, a sector or a rule: a line added to those files is published without a code change.

They are published like the cube, one partition per département and millésime (public/<table>/departement_…/
millesime_…/), in the same version as the tables they describe; their columns are described in
sql/dictionnaire/colonnes.csv like every published column.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pyarrow as pa

from ess import db, paths, sql_order
from transforms import reference

SQL_DIR = Path(__file__).resolve().parent.parent / "sql" / "publication"
TABLES = ("referentiel_perimetres", "referentiel_territoires", "referentiel_secteurs", "referentiel_classes_taille",
          "referentiel_couverture_intervalles", "referentiel_formes_juridiques", "referentiel_exclusions_activite",
          "referentiel_champ_urssaf", "referentiel_emploi_hors_urssaf", "urssaf_ess_departement")
# The reference files they read, loaded as ref_<name> (transforms/reference.py checks them).
REFERENCE_FILES = ("perimetres", "secteurs_ess", "classes_taille", "tranches_effectifs", "emploi_modele",
                   "perimetre_familles", "perimetre_exclusions_naf", "champ_urssaf", "emploi_hors_urssaf",
                   "categories_juridiques")
NAF = "naf_rev2.csv"  # labels of NAF rév. 2 codes of every level (loaded as ref_naf_rev2)
_NAF_COLUMNS = ("code", "libelle", "code_classe", "libelle_classe", "code_groupe", "libelle_groupe", "code_division",
                "libelle_division", "section", "libelle_section")
# Labels of the levels I and II of INSEE's legal forms (loaded as ref_categories_juridiques_niveaux): the rules of the
# URSSAF field name a level-I code ('7'), those of emploi_hors_urssaf.csv level-II prefixes ('92').
CJ_LEVELS = "categories_juridiques_niveaux.csv"
_CJ_LEVEL_COLUMNS = ("niveau", "code", "libelle")

# The coverage of the employment intervals measured on synthetic worlds (benchmarks/coverage_reference.py writes
# it): a measurement, regenerated when the estimator or the generator changes, so never a figure in code. One row
# per indicator, territorial level (the département's, or each territory of a level below it), perimeter of the ESS,
# scope (the employment year, the past years) and kind of world (with or without the exceptions to URSSAF's field).
COVERAGE_FILE = "couverture_intervalles.csv"
COVERAGE_SCOPES = ("annee_emploi", "annees_passees")
_COVERAGE_COLUMNS = (
    reference.Col("indicateur", pattern=r"^[a-z][a-z0-9_]*$"), reference.Col("libelle_indicateur"),
    reference.Col("colonnes_mesurees", required=False),
    reference.Col("niveau", pattern=r"^[a-z][a-z0-9_]*$"),  # its allowed values: coverage_levels
    reference.Col("perimetre", pattern=r"^[a-z][a-z0-9_]*$"),
    reference.Col("portee", values=COVERAGE_SCOPES),
    reference.Col("annee_debut", "INTEGER", minimum=2000), reference.Col("annee_fin", "INTEGER", minimum=2000),
    reference.Col("cellules", "INTEGER", minimum=1), reference.Col("cellules_couvertes", "INTEGER", minimum=0),
    # the cells whose truth is 0 (a small territory without any true ESS job), and those of them held: an interval
    # reaching 0 holds them by construction, so the coverage that says something is that of the other cells
    reference.Col("cellules_vrai_nul", "INTEGER", minimum=0),
    reference.Col("cellules_vrai_nul_couvertes", "INTEGER", minimum=0),
    reference.Col("couverture_ic90_bas", "DOUBLE", minimum=0),
    reference.Col("couverture_ic90_haut", "DOUBLE", minimum=0),
    reference.Col("biais_relatif_moyen", "DOUBLE"), reference.Col("demi_largeur_relative_mediane", "DOUBLE", minimum=0),
    reference.Col("version_generateur", pattern=r"^[0-9]+\.[0-9]+\.[0-9]+$"),
    reference.Col("premiere_graine", "INTEGER", minimum=0), reference.Col("nb_graines", "INTEGER", minimum=1),
    reference.Col("echelle_echantillon", "DOUBLE", minimum=0), reference.Col("exceptions_champ_urssaf", "BOOLEAN"),
    reference.Col("date_mesure", pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"), reference.Col("commande_mesure"),
)


def _check_coverage_row(row: dict) -> str | None:
    if row["cellules_couvertes"] > row["cellules"]:
        return (f"cellules_couvertes = {row['cellules_couvertes']} is more than cellules = {row['cellules']}: "
                "0 <= cellules_couvertes <= cellules")
    if row["cellules_vrai_nul"] > row["cellules"]:
        return (f"cellules_vrai_nul = {row['cellules_vrai_nul']} is more than cellules = {row['cellules']}: "
                "0 <= cellules_vrai_nul <= cellules")
    if not row["cellules_vrai_nul_couvertes"] <= min(row["cellules_vrai_nul"], row["cellules_couvertes"]):
        return (f"cellules_vrai_nul_couvertes = {row['cellules_vrai_nul_couvertes']}: at most cellules_vrai_nul = "
                f"{row['cellules_vrai_nul']} and cellules_couvertes = {row['cellules_couvertes']}")
    if row["cellules_couvertes"] - row["cellules_vrai_nul_couvertes"] > row["cellules"] - row["cellules_vrai_nul"]:
        return (f"cellules_couvertes − cellules_vrai_nul_couvertes = "
                f"{row['cellules_couvertes'] - row['cellules_vrai_nul_couvertes']} is more than the "
                f"{row['cellules'] - row['cellules_vrai_nul']} cells whose truth is not 0")
    if not row["couverture_ic90_bas"] <= row["couverture_ic90_haut"] <= 1:
        return (f"couverture_ic90_bas = {row['couverture_ic90_bas']:g}, couverture_ic90_haut = "
                f"{row['couverture_ic90_haut']:g}: a coverage interval within [0, 1], low before high")
    if row["annee_debut"] > row["annee_fin"]:
        return f"annee_debut = {row['annee_debut']} is after annee_fin = {row['annee_fin']}"
    try:
        dt.date.fromisoformat(row["date_mesure"])
    except ValueError:
        return f"date_mesure = {row['date_mesure']!r} is not a date (YYYY-MM-DD)"
    return None


def coverage_levels(directory: str | Path | None = None) -> tuple[str, ...]:
    """The levels a coverage row may name: the cube's levels of the COG and those of the zonings of the reference
    folder (layered over data/reference/; a zoning's level is its file's stem), as out_cube_communes.sql has them."""
    from transforms import zonages

    zonings = tuple(p.stem for p in paths.reference_files(zonages.PATTERN, directory))
    return tuple(dict.fromkeys((*zonages.NIVEAUX_COG, *zonings)))


def coverage_spec(file: str = COVERAGE_FILE, levels: tuple[str, ...] | None = None) -> reference.RefSpec:
    """`levels`: the allowed values of `niveau` (coverage_levels; None: any name)."""
    columns = tuple(dataclasses.replace(c, values=levels) if c.name == "niveau" and levels is not None else c
                    for c in _COVERAGE_COLUMNS)
    return reference.RefSpec(file, columns,
                             key=("indicateur", "niveau", "perimetre", "portee", "exceptions_champ_urssaf"),
                             row_check=_check_coverage_row)


def read_coverage(directory: str | Path | None = None, *, file: str = COVERAGE_FILE) -> list[dict] | None:
    """The measured coverage of the run's reference folder (layered over data/reference/), checked: columns, types,
    scopes, levels (coverage_levels), 0 <= cellules_couvertes <= cellules (a UserError naming the file, line and
    column). None when there is no such file: coverage not measured, which the report says (it is no reason to stop
    a run)."""
    spec = coverage_spec(file, coverage_levels(directory))
    if not reference.reference_path(spec, directory).exists():
        return None
    return reference.read_reference(spec, directory)


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
        _load_labels(con, NAF, "ref_naf_rev2", _NAF_COLUMNS, params.get("reference_dir"))
        _load_labels(con, CJ_LEVELS, "ref_categories_juridiques_niveaux", _CJ_LEVEL_COLUMNS,
                     params.get("reference_dir"))
        _load_coverage(con, params.get("reference_dir"))
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


def _load_labels(con, file: str, table: str, columns: tuple[str, ...], reference_dir) -> None:
    """`table` (text columns) from a label file of the reference folder: empty without the file, as the cube's labels
    then have none (a label is a help to the reader, never a reason to stop a publication)."""
    path = paths.reference_file(file, reference_dir)
    if path.exists():
        escaped = str(path).replace("'", "''")
        con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT {', '.join(columns)} FROM read_csv('{escaped}', "
                    "header = true, all_varchar = true)")
    else:
        con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT "
                    + ", ".join(f"NULL::VARCHAR AS {c}" for c in columns) + " WHERE false")


_ARROW = {"VARCHAR": pa.string(), "BOOLEAN": pa.bool_(), "DOUBLE": pa.float64(), "INTEGER": pa.int32()}


def _load_coverage(con, reference_dir) -> None:
    """ref_couverture_intervalles: the checked rows of the coverage file, none without it (published empty: the
    intervals' comments still point to it, and it says nothing was measured)."""
    rows = read_coverage(reference_dir) or []
    arrow = pa.table({c.name: pa.array([r[c.name] for r in rows], type=_ARROW[c.type]) for c in _COVERAGE_COLUMNS})
    con.register("_coverage_upload", arrow)
    try:
        con.execute("CREATE OR REPLACE TABLE ref_couverture_intervalles AS SELECT * FROM _coverage_upload")
    finally:
        con.unregister("_coverage_upload")
