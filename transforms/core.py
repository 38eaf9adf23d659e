"""Build the core tables: establishments with ESS perimeters, activity, territory and employment, and the yearly
series since 2012 (counts and employment).

`build_core(tables, params, out_dir)` is the step: it reads the staging tables (Parquet files, DuckDB views named
after them), loads the reference CSVs (transforms/reference.py), runs the SQL files of sql/core/ in order, estimates
employment year by year, calibrated on URSSAF (transforms/employment.py), and writes each output table to
`<out_dir>/<table>.parquet`.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from ess import db, sql_order
from ess.errors import UserError
from transforms import employment
from transforms.columns import columns
from transforms.reference import NAF2025_REFERENCE_FROM, load_reference, perimetres, reference_path
from transforms.steps import StepOutput

# Parquet metadata of the core tables: the perimeters of the run's perimetres.csv they were built with.
PERIMETRES_METADATA = "ess:perimetres"
REQUIRED = (
    "staging_sirene_etablissements",
    "staging_sirene_unites_legales",
    "staging_communes",
)

# Optional inputs, replaced by an empty table of their columns in the field dictionary when absent (a run without
# URSSAF files is not calibrated; one without history has no yearly series).
OPTIONAL = ("staging_sirene_etablissements_historique", "staging_sirene_unites_legales_historique",
            "staging_communes_passage", "staging_urssaf_ess_departement", "staging_urssaf_commune_ape")

# Made by transforms/employment.py (core_effectifs_entrees from its SQL file, the others in Python): the SQL tables
# that read them are built after it, the others before (ess/sql_order.py reads the order from the SQL files).
EMPLOYMENT_TABLES = ("core_effectifs_entrees", "core_effectifs", "core_calibration")
OUTPUTS = ("core_communes", "core_etablissements", "core_etablissements_annuel", "core_effectifs",
           "core_calibration", "core_ecart_urssaf", "core_cibles_urssaf", "core_cellules_urssaf")


def attach_inputs(con, tables: dict[str, Path]) -> list[str]:
    """Attach the staging Parquet files; missing optional ones become empty tables. Returns the optional tables that
    were missing (reported in the step's figures)."""
    missing = [t for t in REQUIRED if t not in tables]
    if missing:
        raise UserError(f"the core step needs the staging tables {missing}: run the staging step for their source "
                        "first (`ess run` does it)")
    db.attach_tables(con, {k: v for k, v in tables.items() if k in REQUIRED or k in OPTIONAL})
    absent = []
    for name in OPTIONAL:
        if name not in tables:
            cols = ", ".join(f"{db.identifier(c.name)} {c.type}" for c in columns(name))
            con.execute(f"CREATE OR REPLACE TABLE {db.identifier(name)} ({cols})")
            absent.append(name)
    return absent


# Keys the staging step guarantees; a duplicate would multiply rows through every join, so it stops the run.
UNIQUE_KEYS = {"staging_sirene_etablissements": "siret", "staging_sirene_unites_legales": "siren",
               "staging_communes": "code_commune"}


def check_unique_keys(con, tables: dict[str, Path]) -> None:
    for table, key in UNIQUE_KEYS.items():
        dups = con.execute(f"SELECT {db.identifier(key)}, count(*) FROM {db.identifier(table)} "
                           f"GROUP BY 1 HAVING count(*) > 1 ORDER BY 1 LIMIT 5").fetchall()
        if dups:
            total = con.execute(f"SELECT count(*) - count(DISTINCT {key}) FROM {table}").fetchone()[0]
            raise UserError(f"{tables.get(table, table)}: {total} duplicate {key} value(s), e.g. "
                            f"{[d[0] for d in dups]}; each {key} must appear once in {table} — the staging step "
                            "should have rejected the duplicates (please report it)")


def check_params(params: dict) -> None:
    for key in ("departement", "millesime", "perimetre"):
        if not params.get(key):
            raise UserError(f"the core step needs the parameter {key!r}")
    known = perimetres(params.get("reference_dir"))
    if params["perimetre"] not in known:
        raise UserError(f"unknown perimeter {params['perimetre']!r}; choose one of {known} "
                        f"(defined in {reference_path('perimetres', params.get('reference_dir'))})")


def run_core(con, tables: dict[str, Path], params: dict) -> dict:
    """Build every core table inside `con` (no export); returns the step's figures. Tests call this directly."""
    check_params(params)
    absent = attach_inputs(con, tables)
    check_unique_keys(con, tables)
    load_reference(con, directory=params.get("reference_dir"))
    sql_params = {"departement": params["departement"], "millesime": params["millesime"],
                  "perimetre": params["perimetre"], "naf2025_depuis": NAF2025_REFERENCE_FROM}
    before, after = build_stages(con)
    rows = {t: db.build_table(con, t, **sql_params) for t in before}
    emploi = employment.estimate(con, params)
    employment.define_macros(con)
    sql_params.update(annee_effectifs=emploi["annee_effectifs"], z=employment.settings(con).z)
    rows.update({t: db.build_table(con, t, **sql_params) for t in after})
    for t in ("core_effectifs", "core_calibration"):
        rows[t] = con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
    return {"lignes": rows, "tables_absentes": absent, "emploi": emploi, **core_figures(con)}


def build_stages(con) -> tuple[list[str], list[str]]:
    """The SQL tables to build before and after the employment estimate: the step's outputs and what the employment
    SQL reads, in the order their files' FROM/JOIN give."""
    targets = [t for t in OUTPUTS if t not in EMPLOYMENT_TABLES] + sorted(sql_order.reads("core_effectifs_entrees"))
    return sql_order.stages(targets, existing=db.table_names(con), later=EMPLOYMENT_TABLES)


def core_figures(con) -> dict:
    """What the run log shows: perimeter sizes, placement problems, unknown codes, activity sources."""
    def pairs(sql: str) -> dict:
        return {str(k): v for k, v in con.execute(sql).fetchall()}

    one = con.execute(
        """SELECT count(*), count(*) FILTER (WHERE actif),
                  count(*) FILTER (WHERE actif AND dans_perimetre),
                  count(*) FILTER (WHERE NOT tranche_connue),
                  count(*) FILTER (WHERE actif AND activite IS NULL),
                  count(*) FILTER (WHERE tranche_ouverte)
           FROM core_etablissements"""
    ).fetchone()
    # every defined perimeter, in the order of perimetres.csv (0 when none of the establishments is in it)
    by_perimeter = pairs(
        """SELECT p.perimetre, count(e.siret)
           FROM (SELECT perimetre, row_number() OVER () AS rang FROM ref_perimetres) AS p
           LEFT JOIN core_etablissements AS e ON e.actif AND list_contains(e.perimetres_inclus, p.perimetre)
           GROUP BY p.perimetre, p.rang ORDER BY p.rang""")
    # history periods whose start SIRENE leaves empty and no creation date fills: not counted before a known date
    unknown_start = con.execute(
        """SELECT count(DISTINCT h.siret) FROM staging_sirene_etablissements_historique AS h
           JOIN staging_sirene_etablissements AS e USING (siret)
           LEFT JOIN staging_sirene_unites_legales AS u ON u.siren = e.siren
           WHERE h.date_debut IS NULL AND e.date_creation IS NULL
             AND NOT (coalesce(e.etablissement_siege, FALSE) AND u.date_creation IS NOT NULL)"""
    ).fetchone()[0]
    return {
        "etablissements": one[0],
        "etablissements_actifs": one[1],
        "actifs_par_perimetre": {**by_perimeter, "retenu": one[2]},
        "tranches_inconnues": one[3],
        "actifs_sans_activite": one[4],
        "tranches_ouvertes": one[5],
        "debuts_historique_inconnus": unknown_start,
        "motifs_placement": pairs("SELECT motif_placement, count(*) FROM core_etablissements "
                                  "WHERE motif_placement IS NOT NULL GROUP BY 1 ORDER BY 1"),
        "categories_juridiques_inconnues": pairs(
            "SELECT coalesce(categorie_juridique, 'absente'), count(*) FROM core_etablissements "
            "WHERE NOT categorie_juridique_connue GROUP BY 1 ORDER BY 1"),
        "sources_activite": pairs(
            "SELECT coalesce(nomenclature_activite || '/' || source_activite, 'inconnue'), count(*) "
            "FROM core_etablissements WHERE actif GROUP BY 1 ORDER BY 1"),
    }


def build_core(tables: dict[str, Path], params: dict, out_dir: Path) -> StepOutput:
    """The core step (see module doc). `params`: departement, millesime, annee_urssaf (the employment year),
    annee_cog, perimetre, synthetic, run_id; optional calage (default True: False estimates employment without
    URSSAF, « non calé ») and reference_dir (a folder of edited reference CSVs)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ess-core-", dir=out_dir) as tmp:
        con = db.connect(Path(tmp) / "core.duckdb")  # on disk: lets DuckDB spill for large départements
        try:
            with db.one_thread(con):  # bit-reproducible figures (db.one_thread)
                stats = run_core(con, tables, params)
            metadata = {"ess:synthetic": str(bool(params.get("synthetic"))).lower(),
                        "ess:run_id": str(params.get("run_id", "")),
                        "ess:perimetre": params["perimetre"], "ess:millesime": params["millesime"],
                        # the perimeters perimetres_inclus can name: the outputs step refuses to publish others
                        PERIMETRES_METADATA: ",".join(perimetres(params.get("reference_dir")))}
            written = db.export_tables(con, list(OUTPUTS), out_dir, metadata=metadata)
        finally:
            con.close()
    return StepOutput(tables=written, stats={"core": stats})
