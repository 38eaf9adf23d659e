"""Build the output tables: the internal indicator cube, its protected public version and the perimeter audit.

`build_outputs` is the step of docs/CONTRIBUTING.md: it reads the core and staging tables (Parquet) and the zonings
of the reference folder (transforms/zonages.py), runs sql/out/out_cube_etablissements.sql (the counted units),
out_cube_communes.sql (the territorial dimension: each commune's territory at every level),
out_cube_territoires.sql (the territorial frame) and out_indicateurs.sql (the cube), protects the cube with
transforms/confidentiality.py, runs out_audit_perimetre.sql when that file exists, and writes every output
table as Parquet.

Parameters read beyond the run's (departement, millesime, annee_urssaf, annee_cog, perimetre, synthetic):
`perimetres_cube` (list, default every perimeter of data/reference/perimetres.csv: all are computed, protected
jointly and published in one table; the run's perimeter only chooses the report's), `secret_passe_detail` (bool,
default False: past years are public as territory × family totals only; True publishes their sector detail too —
counts only, past years have no employment), `secret_budget_secondes` (float, default DEFAULT_BUDGET_SECONDS:
time allowed to protect and audit employment; past it the step fails and nothing is published),
`secret_processus` (int, default: every core for a large cube, else 1 — transforms/yearly.py: the years are
protected, and re-audited by the check step, in that many worker processes), `reference_dir` (reference CSVs
overriding data/reference/: zonings, labels, the perimeter audit).
"""

from __future__ import annotations

import itertools
import logging
import time
from concurrent.futures import ThreadPoolExecutor
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ess import db, paths, progress, sql_order
from ess.errors import UserError
from ess.settings import millesime_date
from transforms import columns as cols
from transforms import confidentiality as conf
from transforms import employment, reference, secret_lp, secret_model, yearly, zonages
from transforms.core import PERIMETRES_METADATA
from transforms.steps import StepOutput

log = logging.getLogger(__name__)

CUBE = "out_indicateurs"
UNITS = "out_cube_etablissements"  # the units the cube counts: one row per establishment, year and perimeter
PUBLIC = "out_indicateurs_public"
AUDIT = "out_audit_perimetre"
CERTIFICATES = "out_secret_certificats"
REQUIRED = ("core_etablissements", "staging_communes")
# Optional inputs, replaced by an empty table of their columns in the field dictionary when absent (without
# core_effectifs, employment of each year from transforms/employment.py, the cube has counts only).
# core_cibles_urssaf and staging_urssaf_commune_ape (with staging_communes_passage for its old commune codes):
# URSSAF's published family totals and commune × APE values, which the reader of the public table is assumed to know.
OPTIONAL = ("core_etablissements_annuel", "core_effectifs", "staging_epci", "core_cibles_urssaf",
            "staging_urssaf_commune_ape", "staging_communes_passage")
# Columns of core_etablissements_annuel used when present. The year's situation (family, sector, perimeters) is
# used only when all of it is there; otherwise the establishment's current one.
ANNUEL_SITUATION = {"famille_ess": "VARCHAR", "section_a21": "VARCHAR", "secteur_ess": "VARCHAR",
                    "perimetres_inclus": "VARCHAR[]"}
# (legal form and recorded-later flag: for the audit of the flags recorded later, out_audit_perimetre.sql)
ANNUEL_FACULTATIF = {"employeur": "BOOLEAN", "categorie_juridique": "VARCHAR", "ess_flag_reconstitue": "BOOLEAN",
                     **ANNUEL_SITUATION}


def build_outputs(tables: dict[str, Path], params: dict, out_dir: Path) -> StepOutput:
    """Build out_indicateurs, out_indicateurs_public (and out_audit_perimetre if its SQL exists) into out_dir."""
    missing = [t for t in REQUIRED if t not in tables]
    if missing:
        raise UserError(f"build_outputs needs the tables {missing}; given {sorted(tables)}")
    con = db.connect()
    try:
        db.attach_tables(con, {k: v for k, v in tables.items()
                               if k in REQUIRED or k in OPTIONAL or k == "core_communes"})
        stats: dict[str, Any] = {}
        cube_params = build_cube(con, params, computed=core_perimetres(tables["core_etablissements"]))
        stats[CUBE] = cube_stats(con)
        progress.current().say(f"  · cube d'indicateurs : {progress.entier(stats[CUBE]['lignes'])} lignes")
        # the employment year is published in detail like the millésime year (transforms/confidentiality.py)
        params = {**params, "annee_effectifs": cube_params["annee_effectifs"] or None}
        stats[PUBLIC] = build_public(con, params)
        # out_cube_communes (commune -> territory at each level) and out_secret_unites (establishments grouped by
        # commune, type and sector, no identifier) let the check step re-audit the public table.
        names = [CUBE, PUBLIC, "out_cube_communes", "out_secret_unites", CERTIFICATES]
        if _audit_sql().exists():
            audit_tables = {k: v for k, v in tables.items() if k not in REQUIRED and k not in OPTIONAL}
            db.attach_tables(con, audit_tables)
            reference.load_reference(con, directory=params.get("reference_dir"))
            with db.one_thread(con):
                stats[AUDIT] = {"lignes": db.build_table(con, AUDIT, **{**params, **cube_params})}
            names.append(AUDIT)
        metadata = {
            "ess:synthetic": str(bool(params.get("synthetic", False))).lower(),
            "ess:departement": params["departement"],
            "ess:millesime": params["millesime"],
            "ess:perimetre": params["perimetre"],
        }
        # the cube tables hold every perimeter and say so (as their published copies do, transforms/publish.py)
        every = {**metadata, "ess:perimetre": ",".join(perimetres_publies(params)),
                 "ess:perimetre_du_run": params["perimetre"]}
        written = {**db.export_tables(con, [n for n in names if n not in (CUBE, PUBLIC)], out_dir, metadata=metadata),
                   **db.export_tables(con, [CUBE, PUBLIC], out_dir, metadata=every)}
    finally:
        con.close()
    return StepOutput(tables=written, stats=stats)


def _audit_sql() -> Path:
    return paths.SQL_DIR / "out" / f"{AUDIT}.sql"


def _reference_file(stem: str, annee_cog: Any, reference_dir=None) -> Path | None:
    """<stem>_<COG year>.csv of the reference folder, else the latest such file (labels change little), else None."""
    files = paths.reference_files(f"{stem}_[0-9][0-9][0-9][0-9].csv", reference_dir)
    exact = [f for f in files if annee_cog and f.name == f"{stem}_{annee_cog}.csv"]
    return (exact or files or [None])[-1]


def _read_csv(path: Path, columns: list[str]) -> pd.DataFrame:
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise UserError(f"{path}: columns {missing} are missing (has {list(frame.columns)}); restore the file")
    return frame[columns]


def _sentence_case(text: str) -> str:
    """NAF section labels are upper case ('ENSEIGNEMENT'): 'Enseignement'."""
    return text[:1].upper() + text[1:].lower() if text.isupper() else text


def load_labels(con, params: dict) -> None:
    """Label tables of the cube: ref_libelles_secteurs (A21 sections from naf_rev2.csv, ESS sectors from
    secteurs_ess.csv, both from the run's reference folder), ref_classes_taille (size classes, classes_taille.csv)
    and ref_libelles_territoires (arrondissements, départements of the COG reference)."""
    reference.load_reference(con, ["classes_taille"], params.get("reference_dir"))
    rows = [("ensemble", "ensemble", "Ensemble des secteurs"),
            ("a21", cols.NON_RENSEIGNE, "Activité non renseignée"),
            ("ess", cols.NON_RENSEIGNE, "Activité non renseignée")]
    naf = paths.reference_file("naf_rev2.csv", params.get("reference_dir"))
    if naf.exists():
        sections = _read_csv(naf, ["section", "libelle_section"]).drop_duplicates("section")
        rows += [("a21", r.section, _sentence_case(r.libelle_section)) for r in sections.itertuples()]
    # the ESS sectors as the core step grouped them (checked like every perimeter file)
    ess: dict[str, str | None] = {}
    for r in reference.read_reference("secteurs_ess", params.get("reference_dir")):
        ess.setdefault(r["secteur_ess"], r["libelle_secteur_ess"])
    rows += [("ess", code, label or None) for code, label in ess.items()]
    con.register("_labels", pd.DataFrame(rows, columns=["nomenclature_secteur", "secteur", "libelle_secteur"]))
    con.execute("CREATE OR REPLACE TABLE ref_libelles_secteurs AS SELECT * FROM _labels")
    con.unregister("_labels")

    territoires = []
    arr = _reference_file("arrondissements", params.get("annee_cog"), params.get("reference_dir"))
    if arr:
        frame = _read_csv(arr, ["code_arrondissement", "nom_arrondissement"])
        territoires += [("arrondissement", r.code_arrondissement, r.nom_arrondissement) for r in frame.itertuples()]
    dep = _reference_file("departements", params.get("annee_cog"), params.get("reference_dir"))
    if dep:
        frame = _read_csv(dep, ["code_departement", "nom_departement"])
        territoires += [("departement", r.code_departement, r.nom_departement) for r in frame.itertuples()]
    con.register("_labels", pd.DataFrame(territoires, columns=["niveau", "code_territoire", "libelle"], dtype=object))
    con.execute("CREATE OR REPLACE TABLE ref_libelles_territoires AS SELECT niveau::VARCHAR AS niveau, "
                "code_territoire::VARCHAR AS code_territoire, libelle::VARCHAR AS libelle FROM _labels")
    con.unregister("_labels")


def cube_parameters(params: dict, *, employeur_passe: bool, annee_effectifs: int | None = None, calage: bool | None = None) -> dict[str, Any]:
    """The SQL parameters of the cube, derived from the run's parameters. `annee_effectifs`: the latest year whose
    employment is estimated (core_effectifs), `calage`: whether it is calibrated on URSSAF."""
    millesime = str(params["millesime"])
    date_reference = millesime_date(millesime)
    perimetres = perimetres_publies(params)
    if params["perimetre"] not in perimetres:
        raise UserError(f"perimetres_cube {perimetres} must include the run's perimeter {params['perimetre']!r}")
    cog = params.get("annee_cog")
    cog_text = f"COG {cog if cog else 'du millésime'}"
    if calage is None:
        calage = bool(params.get("calage", True))
    if annee_effectifs is None:
        effectifs = "pas d'estimation de l'emploi"
    elif calage:
        effectifs = (f"effectifs salariés au 31/12 de l'année : tranches SIRENE (stock {millesime}) calées sur "
                     f"l'URSSAF (ESS par département, établissements × APE par commune ; fichiers "
                     f"{params.get('annee_urssaf') or annee_effectifs}), plus l'emploi relevant de la MSA que "
                     "l'URSSAF ne voit pas, estimé (data/reference/emploi_hors_urssaf.csv)")
    else:
        effectifs = (f"effectifs salariés au 31/12 de l'année : tranches SIRENE (stock {millesime}), non calés "
                     "sur l'URSSAF")
    return {
        "departement": params["departement"],
        "annee": date_reference.year,
        "annee_effectifs": int(annee_effectifs) if annee_effectifs is not None else 0,
        "perimetres": list(perimetres),
        "employeur_passe": employeur_passe,
        "date_reference": date_reference,
        "annee_population": reference.population_year(cog),
        "z": employment_z(params),
        "sources_courant": f"Établissements au {date_reference:%d/%m/%Y} : SIRENE stock {millesime} ; {cog_text} ; "
                           "emploi non mesuré à cette date",
        "sources_passe": f"Établissements au 31/12 : SIRENE historique des établissements (stock {millesime}) ; "
                         f"{cog_text}",
        "sources_effectifs": f"Établissements au 31/12 : SIRENE historique des établissements (stock {millesime}) ;"
                             f" {effectifs} ; {cog_text}",
    }


def employment_z(params: dict) -> float:
    """Normal quantile of the published employment intervals (data/reference/emploi_modele.csv)."""
    from statistics import NormalDist

    level = next(r["valeur"] for r in reference.read_reference("emploi_modele", params.get("reference_dir"))
                 if r["parametre"] == "niveau_intervalle")
    return NormalDist().inv_cdf(0.5 + level / 2)


def _columns_of(con, table: str) -> set[str]:
    return {r[0] for r in con.execute(f"DESCRIBE {db.identifier(table)}").fetchall()}


def _ensure_optional_inputs(con, present: set[str]) -> None:
    """Give absent optional inputs an empty table, and the yearly table its optional columns (as NULL)."""
    for name in OPTIONAL:
        if name not in present:
            select = ", ".join(f"NULL::{c.type} AS {db.identifier(c.name)}" for c in cols.columns(name))
            con.execute(f"CREATE OR REPLACE VIEW {name} AS SELECT {select} WHERE false")
    have = _columns_of(con, "core_etablissements_annuel")
    add = {c: t for c, t in ANNUEL_FACULTATIF.items() if c not in have}
    if add:
        extra = ", ".join(f"NULL::{t} AS {db.identifier(c)}" for c, t in add.items())
        con.execute("ALTER VIEW core_etablissements_annuel RENAME TO _core_etablissements_annuel_source")
        con.execute(f"CREATE VIEW core_etablissements_annuel AS SELECT *, {extra} "
                    "FROM _core_etablissements_annuel_source")


def core_perimetres(path: str | Path) -> list[str] | None:
    """The perimeters core_etablissements was built with (its Parquet metadata), None when it does not say."""
    import pyarrow.parquet as pq

    value = (pq.read_schema(path).metadata or {}).get(PERIMETRES_METADATA.encode())
    return value.decode().split(",") if value is not None else None


def _check_perimetres(con, params: dict, perimetres: list[str], computed: list[str] | None = None) -> None:
    """The cube's perimeters must be defined in the run's perimetres.csv, and core_etablissements must say, for each
    establishment, the perimeters it is in (perimetres_inclus) — for these very perimeters: a perimeter the core
    step did not know would be published as empty."""
    if "perimetres_inclus" not in _columns_of(con, "core_etablissements"):
        raise UserError("core_etablissements has no column perimetres_inclus (the perimeters each establishment is "
                        "in): it was built by an older version of the core step; run the core step again")
    known = reference.perimetres(params.get("reference_dir"))
    unknown = [p for p in perimetres if p not in known]
    if unknown:
        path = reference.reference_path("perimetres", params.get("reference_dir"))
        raise UserError(f"perimeter {unknown} is not defined in {path} (defined: {known}): choose among those, or "
                        "add one row per new perimeter to that file")
    missing = [p for p in perimetres if computed is not None and p not in computed]
    if missing:
        raise UserError(f"core_etablissements was built with the perimeters {computed}, without {missing}: run the "
                        "core step again with the same reference folder (reference_dir) as this step")


def build_cube(con, params: dict, *, computed: list[str] | None = None) -> dict[str, Any]:
    """Materialise out_cube_etablissements, out_cube_communes, out_cube_territoires and out_indicateurs in `con`
    (the zonings of params["reference_dir"] layered over data/reference/ as levels).

    The input tables must already be views of `con`. `computed`: the perimeters core_etablissements was built with
    (core_perimetres), checked when given. Returns the SQL parameters used.
    """
    with db.one_thread(con):  # bit-reproducible figures: the protection's choices depend on them (db.one_thread)
        return _build_cube(con, params, computed)


def _build_cube(con, params: dict, computed: list[str] | None) -> dict[str, Any]:
    present = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    if "core_communes" not in present:  # the core step's communes (zone d'emploi filled in), else the staged ones
        con.execute("CREATE VIEW core_communes AS SELECT *, CAST(NULL AS VARCHAR) AS libelle_zone_emploi "
                    "FROM staging_communes")
    perimetres = perimetres_publies(params)
    annuel = _columns_of(con, "core_etablissements_annuel") if "core_etablissements_annuel" in present else set()
    # Past employer counts only when the yearly table carries the employer flag; the year's own family, sector
    # and perimeter only when it carries all of them.
    employeur_passe = "employeur" in annuel
    annuel_situations = set(ANNUEL_SITUATION) <= annuel
    _check_perimetres(con, params, perimetres, computed)
    _ensure_optional_inputs(con, present)
    years = con.execute("SELECT max(annee), bool_and(statut_calage = 'non_cale') FROM core_effectifs").fetchone()
    sql_params = cube_parameters(params, employeur_passe=employeur_passe,
                                 annee_effectifs=years[0], calage=None if years[0] is None else not years[1])
    sql_params["annuel_situations"] = annuel_situations
    employment.define_macros(con)
    load_labels(con, params)
    zonages.load_zonings(con, params)
    for table in sql_order.build_order([CUBE, "out_cube_communes"], existing=db.table_names(con)):
        if table == CUBE:
            _build_by_year(con, sql_params)
            continue
        if table == UNITS:
            _build_units(con, sql_params)
            continue
        db.build_table(con, table, **sql_params)
        if table == "out_cube_communes":
            _commune_table(con)  # one territory per commune and level, before anything is summed
    expected = cols.names(CUBE)
    got = [r[0] for r in con.execute(f"DESCRIBE {CUBE}").fetchall()]
    if set(got) != set(expected):
        raise RuntimeError(f"{CUBE}: columns {sorted(set(got) - set(expected))} are produced by its SQL but not "
                           f"listed for it in the field dictionary, columns {sorted(set(expected) - set(got))} listed "
                           "but not produced (sql/dictionnaire/colonnes.csv): fix one of them")
    check_size_labels(con, params.get("reference_dir"))
    return sql_params


def check_size_labels(con, reference_dir=None, table: str = CUBE) -> None:
    """Every size class of the cube has its label in classes_taille.csv (the run's reference folder): a class
    tranches_effectifs.csv introduces without one stops the run, naming the file and the classes."""
    missing = [r[0] for r in con.execute(f"SELECT DISTINCT classe_taille FROM {db.identifier(table)} "
                                         "WHERE libelle_classe_taille IS NULL ORDER BY 1").fetchall()]
    if missing:
        path = reference.reference_path("classes_taille", reference_dir)
        raise UserError(f"{path}: no label for the size class(es) {missing} of {table} (from tranches_effectifs.csv); "
                        "add a row (classe_taille, libelle, ordre) for each")


def _build_units(con, sql_params: dict[str, Any]) -> None:
    """out_cube_etablissements: the years in two groups of about as many rows, built side by side (_build_parts),
    and the view of both. On the sample, one query on one thread took 5 to 11 s while the other core waited."""
    sizes = {int(y): int(n) for y, n in con.execute(
        "SELECT annee, count(*) FROM core_etablissements_annuel GROUP BY annee").fetchall()}
    sizes[int(sql_params["annee"])] = con.execute("SELECT count(*) FROM core_etablissements").fetchone()[0]
    groups: list[list[int]] = [[], []]
    weights = [0, 0]
    for year in sorted(sizes, key=lambda y: (-sizes[y], y)):  # largest first, each to the lighter group
        lighter = weights.index(min(weights))
        groups[lighter].append(year)
        weights[lighter] += sizes[year]
    parts = _build_parts(con, UNITS, groups, sql_params)
    con.execute(f"CREATE OR REPLACE VIEW {UNITS} AS " + " UNION ALL ".join(f"SELECT * FROM {p}" for p in parts))


def _build_parts(con, table: str, groups: list[list[int]], sql_params: dict[str, Any]) -> list[str]:
    """`table`'s SQL once per group of years (its `$annees`) into `<table>_<i>`, the groups side by side on
    cursors of their own, in the order given (the largest first). Each cursor runs on one thread under
    db.one_thread, so each part's rows come in a fixed order: the cube's sums, and its secrecy, are the same from
    one machine to another, whatever its cores. Returns the parts' names, in the groups' order."""
    names = [f"{table}_{i}" for i in range(len(groups))]

    def build(i: int) -> None:
        cursor = con.cursor()
        try:
            db.build_table(cursor, table, into=names[i], **{**sql_params, "annees": sorted(groups[i])})
        finally:
            cursor.close()

    with ThreadPoolExecutor(max_workers=min(yearly.available_cores(), len(groups))) as pool:
        list(pool.map(build, range(len(groups))))
    return names


def _build_by_year(con, sql_params: dict[str, Any]) -> None:
    """out_indicateurs, one year at a time on as many cursors as cores, the years then stacked in order.

    A year's rows depend on its own units only. Under db.one_thread each year's sums keep a fixed order
    (reproducible figures) while years overlap on the cores: on the sample, 32 s instead of 43 s of wall time for
    the same 45 s of CPU (two cores)."""
    sizes = {int(y): int(n) for y, n in con.execute(
        f"SELECT annee, count(*) FROM {UNITS} GROUP BY annee").fetchall()}
    years = sorted({*sizes, int(sql_params["annee"])}, key=lambda y: (-sizes.get(y, 0), y))  # largest first
    parts: list[str] = [f"{CUBE}_{i}" for i in range(len(years))]
    try:
        parts = _build_parts(con, CUBE, [[y] for y in years], sql_params)
        in_order = [part for _, part in sorted(zip(years, parts))]
        con.execute(f"CREATE OR REPLACE TABLE {CUBE} AS " + " UNION ALL ".join(f"SELECT * FROM {p}" for p in in_order))
    finally:
        for part in parts:
            con.execute(f"DROP TABLE IF EXISTS {part}")


def cube_stats(con) -> dict[str, Any]:
    rows = con.execute(
        f"SELECT niveau, count(*) FROM {CUBE} GROUP BY niveau ORDER BY niveau"
    ).fetchall()
    return {"lignes": sum(n for _, n in rows), "lignes_par_niveau": dict(rows)}


# --- the public cube ----------------------------------------------------------------------------------------------
# What is published (policy, METHOD.md § 6):
# * counts of establishments (all, employers) and their densities: everywhere, never masked — they come from a
#   public register (SIRENE), as in INSEE's own establishment counts;
# * estimated employment on 31 December of the year it measures (central, 90 % interval, per 1 000 inhabitants,
#   shares): every territory × family, all sectors and sizes together, and — for the employment year of the run —
#   the département × family × sector / size class. The sector and size detail of smaller territories keeps its
#   counts and says « non_diffuse » for employment. Earlier years (the series) publish employment for territories
#   above the commune × family, all sectors (in_scope_past): each year costs a protection and an audit, about 10 s
#   on the sample; params["secret_emploi_passe"] = False publishes the employment year only;
# * every perimeter of data/reference/perimetres.csv, in one table, protected jointly (transforms/secret_model.py);
# * years are protected one by one: no published figure adds years together, and evolutions are read off
#   published cells only.
# Employment is protected by primary rules on legal units (frequency; dominance on the central estimate, the only
# additive measure: the interval bounds are central ± z·σ, masked with it), a
# secondary pattern from the linear heuristic of transforms/confidentiality.py, then completed by LP until the
# interval audit of transforms/secret_lp.py proves every sensitive cell's protection interval.
COUNT_MASKED: list[str] = []  # counts are published as they are (public register)
EMPLOYMENT_MASKED = ["effectif_central", "effectif_ic90_bas", "effectif_ic90_haut", "effectif_pour_1000_hab"]
SHARE_EMPLOYMENT = ["part_effectif_total_central", "part_effectif_total_ic90_bas", "part_effectif_total_ic90_haut",
                    "part_effectif_prive_central", "part_effectif_prive_ic90_bas", "part_effectif_prive_ic90_haut"]
SHARE_COUNT = ["part_ess_etablissements_employeurs"]
# The share of URSSAF's private field: a cell's employment in that field over the field's total. Beside the cell's
# published employment (every employer) and the field's total — which a family without employer outside the field
# gives (its employment over its share), or URSSAF's commune × APE file for a commune — it would give the cell's
# employment outside the field, often a few agricultural or public employers, which the secrecy model does not
# split out. Published for the ESS as a whole at the département only (the headline), « non_diffuse » elsewhere.
SHARE_PRIVATE = [c for c in SHARE_EMPLOYMENT if c.startswith("part_effectif_prive_")]
SHARE_TOTAL = [c for c in SHARE_EMPLOYMENT if c not in SHARE_PRIVATE]
# The additive employment measure and the column giving its largest legal unit (dominance), audited by LP. The
# interval bounds are not sums of units (central ± z·σ): they are masked with the central estimate.
DOMINANCE_BOUNDS = {"effectif_central": "effectif_max_unite_legale"}
PROTECTED = "effectif_central"  # the measure the secondary pattern is built on; the others are audited with it
# Below this share of a year's employment in URSSAF's commune × APE file with an APE division that secteurs_ess.csv
# maps, the codes are not those of the nomenclature read: the pair floors would sit on the wrong pairs.
URSSAF_APE_MAPPED_MIN = 0.95
# Cells worth keeping when a secondary suppression has a choice: the département, and the family totals of every
# supra-communal territory.
_TOTAL_FAMILIES = ("ess", "hors_ess", "ensemble")
# Protection + audit of every year; past it, nothing is published. A guard against a run that never ends, not a
# target: three times 2025's protection on the sample as it was on this project's 2-core machine (526 to 614 s,
# 30/11/2026; 278 s since the LPs count each distinct amount once), so that a much slower machine still publishes.
DEFAULT_BUDGET_SECONDS = 1800.0
STATUS = "statut_secret_effectifs"
# Every status column of the public table carries a code on every row: NULL never stands for « published », or a
# filter such as `statut <> 'non_diffuse'` would silently drop every published figure (review WH3 M2). A figure is
# NULL exactly when its status is not PUBLIE. Besides the secret reasons (confidentiality.STATUSES) and
# columns.NON_DIFFUSE (kept in the internal cube, not published at that level or for that year):
PUBLIE = cols.PUBLIE
NON_MESURE = cols.NON_MESURE  # no such figure for the row: the millésime year's employment, past years' employers
DENOMINATEUR = "denominateur"  # a share whose « ensemble » row is not published
DENOMINATEUR_NUL = cols.DENOMINATEUR_NUL  # a share whose « ensemble » row is 0: undefined
SHARE_STATUS = "statut_secret_part_effectifs"
PRIVATE_SHARE_STATUS = "statut_secret_part_effectifs_prive"
COUNT_STATUS = "statut_secret_etablissements"
COUNT_SHARE_STATUS = "statut_secret_part_etablissements"
# each status column and the figures it governs (the check step holds them to « NULL iff not publie »)
STATUS_FIGURES = {
    COUNT_STATUS: ["nb_etablissements"],
    STATUS: ["effectif_central", "effectif_ic90_bas", "effectif_ic90_haut"],
    COUNT_SHARE_STATUS: SHARE_COUNT,
    SHARE_STATUS: SHARE_TOTAL,
    PRIVATE_SHARE_STATUS: SHARE_PRIVATE,
}
# figures that follow a status but may be NULL while it is « publie » (a territory of population 0)
STATUS_RATES = {COUNT_STATUS: ["etablissements_pour_1000_hab"], STATUS: ["effectif_pour_1000_hab"]}


def perimetres_publies(params: dict) -> list[str]:
    """Every perimeter of the run's perimetres.csv (its reference_dir over data/reference/), or
    params['perimetres_cube']: all are published."""
    given = params.get("perimetres_cube")
    if given:
        return sorted(given)
    return sorted(reference.perimetres(params.get("reference_dir")))


def _commune_table(con) -> pd.DataFrame:
    """out_cube_communes (code_commune, niveau, code_territoire): each commune in exactly one territory of every
    level."""
    communes = con.execute("SELECT code_commune, niveau, code_territoire FROM out_cube_communes "
                           "ORDER BY code_commune, niveau").df()
    dup = communes[communes[["code_commune", "niveau"]].duplicated(keep=False)]
    per_commune = communes.groupby("code_commune")["niveau"].nunique()
    if len(dup) or per_commune.nunique() > 1:
        raise RuntimeError(
            "out_cube_communes does not give every commune exactly one territory of every level (e.g. "
            f"{dup.head(4).to_dict('records') or per_commune[per_commune < per_commune.max()].head(4).to_dict()}): "
            "fix sql/out/out_cube_communes.sql"
        )
    return communes


def in_scope(cells: pd.DataFrame) -> np.ndarray:
    """Cells whose employment may be published: all sectors and sizes together, or the département's detail."""
    return ((cells["nomenclature"] == "ensemble") | (cells["niveau"] == "departement")).to_numpy()


def in_scope_past(cells: pd.DataFrame) -> np.ndarray:
    """Cells of an earlier year whose employment may be published: territories above the commune, all sectors and
    sizes together (the series of the report). Fewer published cells keep the protection of each year short."""
    return ((cells["nomenclature"] == "ensemble") & (cells["niveau"] != "commune")).to_numpy()


def scope_of(year: int, params: dict):
    """The publication scope of a year: full for the run's employment year, the series' cells for the others."""
    current = params.get("annee_effectifs")
    return in_scope if current is None or int(year) == int(current) else in_scope_past


def primary_status(cells: pd.DataFrame, rules) -> np.ndarray:
    """frequence / dominance / None per cell. Contributors are legal units; dominance on every published bound."""
    n = cells["nb_etablissements"].fillna(0).to_numpy()
    units = cells["nb_unites_legales"].fillna(0).to_numpy()
    status = np.full(len(cells), None, dtype=object)
    for bound, largest in DOMINANCE_BOUNDS.items():
        v = cells[bound].fillna(0).to_numpy(float)
        big = cells[largest].fillna(0).to_numpy(float)
        status[(v > 0) & (big > rules.dominance_share * v)] = conf.DOMINANCE
    status[(n > 0) & (units < rules.frequency_threshold)] = conf.FREQUENCE
    return status


def requirements(values: np.ndarray, sensitive: np.ndarray, rules) -> tuple[np.ndarray, np.ndarray]:
    """Protection interval of the sensitive cells: max must reach `upper`, min must reach `lower` (≥ 0)."""
    upper = np.where(sensitive, values + rules.protection(values), np.nan)
    lower = np.where(sensitive, rules.lower_requirement(values), np.nan)
    return upper, lower


def _weights(cells: pd.DataFrame) -> np.ndarray:
    """Cost of suppressing a cell (per unit of change): totals cost more than parts, priority cells far more."""
    level = (cells["niveau"] != "commune").astype(float) + (cells["niveau"] == "departement")
    level += cells["famille_total"].astype(float) + (cells["nomenclature"] == "ensemble")
    run = cells["priorite_du_run"].astype(float) if "priorite_du_run" in cells else 0.0
    return (1.0 + level + 100.0 * cells["publication_prioritaire"].astype(float) + run).to_numpy()


def _zone(cells: pd.DataFrame) -> pd.Series:
    zone = cells["niveau"] + ":" + cells["code_territoire"]
    return zone.where(cells["nomenclature"] == "ensemble", zone + "|" + cells["nomenclature"] + ":" + cells["code"])


def _heuristic_groups(model, cells: pd.DataFrame, communes: pd.DataFrame) -> dict:
    """Additive relations among the cells in scope, for the linear heuristic (the LP phase sees all the rest):
    every territory of every level above the commune = Σ its communes (out_cube_communes)."""
    zone = conf.territory_groups(communes)
    dep = cells[(cells["niveau"] == "departement") & (cells["nomenclature"] != "ensemble")]
    for (code, nom), part in dep.groupby(["code_territoire", "nomenclature"]):
        zone.append((f"departement:{code}", sorted(set(_zone(part)))))
    label = set()
    rows = model.rows
    empty = {i for i, members in model.labels.items() if not members}
    for p in model.perimeters:
        fams = rows.loc[(rows["perimetre"] == p) & ~rows["famille"].isin(_TOTAL_FAMILIES), "famille"].unique()
        lab = lambda f: model.label_of(p, f)  # noqa: E731
        children = sorted({f"L{lab(f)}" for f in fams if lab(f) not in empty})
        for parent, parts in ((lab("ess"), children),
                              (lab("ensemble"), sorted({f"L{lab('ess')}", f"L{lab('hors_ess')}"}))):
            if parent is None or f"L{parent}" in parts or len(parts) < 1:
                continue
            label.add((f"L{parent}", tuple(parts)))
    return {"zone": zone, "label": [(p, list(c)) for p, c in sorted(label)]}


@dataclass(frozen=True)
class UrssafKnown:
    """What a reader of one year knows from URSSAF's own publications (urssaf_known)."""

    familles: tuple[tuple[str, str], ...] = ()  # (perimeter, family): the département's family totals
    communes: tuple[tuple[str, float], ...] = ()  # (commune, its private-field employment in the commune × APE file)
    # (commune, A21 section, ESS sector, the file's employment of the APE codes of that pair in the commune)
    paires: tuple[tuple[str, str, str, float], ...] = ()

    def pairs(self) -> pd.DataFrame:
        return pd.DataFrame(list(self.paires), columns=["code_commune", *secret_model.PAIR, "effectif"])


def urssaf_known(con, params: dict, perimeters: list[str]) -> dict[int, UrssafKnown]:
    """By year, what a reader knows from URSSAF's own publications:
    - the employment of each ESS family that URSSAF's ESS file gives for the département (core_cibles_urssaf), in
      the perimeter whose families are URSSAF's (calage_urssaf in perimetres.csv);
    - each commune's employment in URSSAF's private field on 31 December: the sum of every value the commune × APE
      file publishes for it (staging_urssaf_commune_ape, whatever the activity; old commune codes mapped to the
      run's COG as the core step does), as a reader who sums the file gets it;
    - the same per (A21 section, ESS sector) pair of the commune: each APE code's NAF division mapped as the core
      step maps an establishment's (secteurs_ess.csv, « non_renseigne » for a division it lacks), the values of
      one pair summed (_pair_floors: lower bounds of the commune's unknowns of that pair).
    URSSAF publishes annual averages of the families: the audit takes the reader to know our own figure of those
    cells exactly, which is safe (knowing less, a reader can only bound a masked cell less tightly). A commune's
    private field leaves out its public and agricultural employers: its total is a lower bound of the commune's
    employment of all employers (_commune_floors). That bound is what ties URSSAF's file to our cells: with it,
    publishing a commune's employment outside the ESS bounds its ESS employment from below (review of 29/11/2026:
    three ESS cells of one or two legal units bounded within 3–6 % that way).

    `perimeters`: those of the public table. Without the calibrated perimeter among them, the cells of the others
    that hold the same establishments as URSSAF's families cannot be told: refused."""
    present = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    familles: dict[int, list[tuple[str, str]]] = {}
    communes: dict[int, list[tuple[str, float]]] = {}
    if "core_cibles_urssaf" in present:
        calibrated = reference.calage_perimetre(params.get("reference_dir"))
        for annee, famille in con.execute(
                "SELECT DISTINCT annee, cible FROM core_cibles_urssaf WHERE source = 'urssaf_ess_departement' "
                "AND cible <> 'hors_ess' AND effectif IS NOT NULL ORDER BY ALL").fetchall():
            familles.setdefault(int(annee), []).append((calibrated, famille))
        if familles and calibrated not in perimeters:
            raise UserError(f"the public table's perimeters {sorted(perimeters)} lack ['{calibrated}'], whose families "
                            "are URSSAF's: the statistical confidentiality counts URSSAF's published family totals as "
                            f"known and cannot tell which cells of the other perimeters they give away — add "
                            f"{calibrated} to perimetres_cube (--perimetres-cube), or leave it out to publish every "
                            "perimeter")
    else:
        log.info("core_cibles_urssaf absent: the secrecy's reader knows no URSSAF family total")
    cog = next((t for t in ("core_communes", "staging_communes") if t in present), None)
    pairs: dict[int, list[tuple[str, str, str, float]]] = {}
    if {"staging_urssaf_commune_ape", "staging_communes_passage"} <= present and cog:
        # the core's reference nomenclature: a commune's pair floors sit on the pairs its establishments are in
        nomenclature = reference.reference_nomenclature(params.get("millesime"))
        sectors = _urssaf_sectors(reference.read_reference("secteurs_ess", params.get("reference_dir")), nomenclature)
        con.register("_urssaf_secteurs", sectors)
        try:
            _check_urssaf_codes(con, nomenclature)
            values = con.execute(
                f"""WITH passage AS (SELECT upper(trim(ancien_code)) AS ancien_code, min(code_commune) AS code_commune
                                     FROM staging_communes_passage GROUP BY 1)
                   SELECT u.annee, coalesce(c.code_commune, p.code_commune) AS code,
                          coalesce(s.section_a21, 'non_renseigne') AS section_a21,
                          coalesce(s.secteur_ess, 'non_renseigne') AS secteur_ess, sum(u.effectifs_salaries)
                   FROM staging_urssaf_commune_ape AS u
                   LEFT JOIN {cog} AS c ON c.code_commune = u.code_commune
                   LEFT JOIN passage AS p ON c.code_commune IS NULL AND p.ancien_code = u.code_commune
                   LEFT JOIN _urssaf_secteurs AS s ON s.division = left(u.code_ape, 2)
                   WHERE u.effectifs_salaries IS NOT NULL AND coalesce(c.code_commune, p.code_commune) IS NOT NULL
                   GROUP BY ALL ORDER BY ALL""").fetchall()
        finally:
            con.unregister("_urssaf_secteurs")
        totals: dict[tuple[int, str], float] = {}
        for annee, code, section, secteur, value in values:
            pairs.setdefault(int(annee), []).append((code, section, secteur, float(value)))
            totals[(int(annee), code)] = totals.get((int(annee), code), 0.0) + float(value)
        for (annee, code), total in sorted(totals.items()):
            communes.setdefault(annee, []).append((code, total))
    return {year: UrssafKnown(tuple(familles.get(year, ())), tuple(communes.get(year, ())), tuple(pairs.get(year, ())))
            for year in sorted(set(familles) | set(communes))}


def _urssaf_sectors(rows: list[dict], nomenclature: str) -> pd.DataFrame:
    """(division, section_a21, secteur_ess) of secteurs_ess.csv for URSSAF's APE codes: the divisions of
    `nomenclature`, then those only another nomenclature has. A file still in NAF rév. 2 under a NAF 2025 millésime
    (the two are told apart by division 45 alone) keeps its codes of division 45 on their pair (trade), instead of
    dropping their floors: a floor dropped is a reader who knows less than the real one."""
    ordered = sorted(rows, key=lambda r: r["nomenclature"] != nomenclature)
    seen, kept = set(), []
    for r in ordered:
        if r["division"] not in seen:
            seen.add(r["division"])
            kept.append((r["division"], r["section_a21"], r["secteur_ess"]))
    return pd.DataFrame(kept, columns=["division", "section_a21", "secteur_ess"])


def _check_urssaf_codes(con, nomenclature: str) -> None:
    """Refuse URSSAF's commune × APE file when too little of a year's employment has an APE division of
    `nomenclature` (registered as _urssaf_secteurs): its codes are of another nomenclature, or garbled."""
    low = con.execute(
        """SELECT annee, sum(effectifs_salaries) FILTER (WHERE s.division IS NOT NULL) / sum(effectifs_salaries)
           FROM staging_urssaf_commune_ape AS u LEFT JOIN _urssaf_secteurs AS s ON s.division = left(u.code_ape, 2)
           WHERE effectifs_salaries > 0 GROUP BY ALL HAVING coalesce(sum(effectifs_salaries) FILTER
           (WHERE s.division IS NOT NULL), 0) < $min * sum(effectifs_salaries) ORDER BY annee""",
        {"min": URSSAF_APE_MAPPED_MIN}).fetchall()
    if low:
        year, share = low[0][0], low[0][1] or 0.0
        example = con.execute("""SELECT code_ape FROM staging_urssaf_commune_ape WHERE annee = ? AND left(code_ape, 2)
                                 NOT IN (SELECT division FROM _urssaf_secteurs) AND effectifs_salaries > 0
                                 ORDER BY effectifs_salaries DESC, code_ape LIMIT 3""", [year]).fetchall()
        raise UserError(
            f"staging_urssaf_commune_ape (URSSAF's commune × APE file): in {year}, only {100 * share:.0f} % of the "
            f"employment has an APE division of {nomenclature} in secteurs_ess.csv (e.g. {[r[0] for r in example]}; "
            f"{len(low)} year(s) under {100 * URSSAF_APE_MAPPED_MIN:.0f} %): its codes are not of the nomenclature "
            f"the millésime reads (NAF 2025 from {reference.NAF2025_REFERENCE_FROM}), and the statistical "
            "confidentiality would place URSSAF's figures on the wrong sectors — check the file's activity codes, or "
            "add the nomenclature's divisions to secteurs_ess.csv")


def _known_cells(model, known: UrssafKnown) -> np.ndarray:
    """The cells of `model` that `known` (urssaf_known of the year) names: family totals of the département."""
    rows = model.rows
    totals = rows[(rows["niveau"] == "departement") & (rows["nomenclature_secteur"] == "ensemble")
                  & (rows["classe_taille"] == "ensemble")]
    pairs = set(known.familles)
    hit = [(p, f) in pairs for p, f in zip(totals["perimetre"], totals["famille"])]
    mask = np.zeros(len(model.cells), bool)
    mask[totals.loc[hit, "cellule"].to_numpy()] = True
    return mask


def _commune_floors(model, known: UrssafKnown, measure: str = PROTECTED) -> np.ndarray:
    """Per cell, the lower bound URSSAF's commune × APE file gives (NaN: none): a commune's employment of all
    employers is at least its private field's. Where our estimate falls below URSSAF's figure (its imputations,
    the file's gaps), the bound is our figure, so that the true table stays feasible; a reader who trusts URSSAF's
    figure there is misled, possibly close to the truth, which the model does not see (METHOD.md § 6)."""
    rows = model.rows
    floors = np.full(len(model.cells), np.nan)
    totals = rows[(rows["niveau"] == "commune") & (rows["famille"] == "ensemble")
                  & (rows["nomenclature_secteur"] == "ensemble") & (rows["classe_taille"] == "ensemble")]
    urssaf = dict(known.communes)
    hit = totals[totals["code_territoire"].isin(urssaf.keys())].drop_duplicates("cellule")
    cells = hit["cellule"].to_numpy()
    ours = model.cells[measure].fillna(0.0).to_numpy(float)[cells]
    floors[cells] = np.minimum(hit["code_territoire"].map(urssaf).to_numpy(float), ours)
    return floors


def _pair_floors(model, known: UrssafKnown, measure: str = PROTECTED):
    """The lower bounds URSSAF's commune × APE detail gives: per commune and (section, sector) pair, the file's
    employment of the pair's APE codes bounds the commune's unknowns of that pair, all kinds of units together
    (secret_model.pair_floor_rows: the smaller of that figure and ours). Combined with a commune total we publish,
    they bound its other pairs from above. Returns (rows, bounds, pairs bounded)."""
    return secret_model.pair_floor_rows(model, known.pairs(), measure)


def _reader_table(model, known: UrssafKnown, measure: str):
    """The model's table of `measure` with every lower bound URSSAF's commune × APE file gives (commune totals,
    commune × pair detail)."""
    rows, bounds, _ = _pair_floors(model, known, measure)
    return dataclasses.replace(model.tables[measure], floors=_commune_floors(model, known, measure),
                               floor_rows=rows, row_floors=bounds)


def disclosed_elsewhere(table, known_cells: np.ndarray, upper: np.ndarray, lower: np.ndarray, *,
                        deadline: float) -> tuple[np.ndarray, np.ndarray, int]:
    """The requirements once URSSAF's figures are counted: a side that the reader who knows the `known_cells` and
    nothing of ours can already narrow within its protection interval (a family's département total, a sector that
    makes most of it) is relaxed to the bound those figures give — our publication must not narrow it further, but
    cannot widen what URSSAF publishes. A side the model narrows with nothing published at all, or that either audit
    leaves undecided, keeps its requirement — but a side whose bound URSSAF's floors give in closed form, a valid
    least value whatever the audit decides, is relaxed to that bound. Returns the requirements and the number of sides
    relaxed."""
    if not known_cells.any() and not secret_lp.has_floors(table):
        return upper, lower, 0
    # Most lower sides URSSAF narrows, it narrows by its floors alone, whose bound has a closed form
    # (secret_lp.minimum_from_floors, a valid least value): the audit is asked that bound instead, which its batch
    # LPs reach, rather than finding it by an exact LP per side (sample's 2019: 192 LPs, 3.6 s, twice a year with
    # the check step). A side whose true bound is higher still fails, with its exact bound.
    least = secret_lp.minimum_from_floors(table)
    by_floors = ~np.isnan(lower) & (least > lower + secret_lp.tolerance(table.values))
    found = secret_lp.audit(table, known_cells, upper, np.where(by_floors, least, lower), deadline=deadline)
    bounds = {(j, side): v["borne"] for j, failed in found.failed.items() for side, v in failed.items()}
    for j in np.flatnonzero(by_floors):
        bounds.setdefault((int(j), "bas"), float(least[j]))
    if not bounds:
        return upper, lower, 0
    only_up, only_low = np.full(len(upper), np.nan), np.full(len(lower), np.nan)
    for j, side in bounds:
        (only_up if side == "haut" else only_low)[j] = (upper if side == "haut" else lower)[j]
    # a side the reader narrows with nothing published is the model's, not URSSAF's: it stays (and fails, a bug)
    alone = secret_lp.audit(dataclasses.replace(table, floors=None, floor_rows=None, row_floors=None),
                            np.zeros_like(known_cells), only_up, only_low, deadline=deadline)
    kept = {(j, side) for j, failed in alone.failed.items() for side in failed} | set(alone.pending_sides)
    upper, lower = upper.copy(), lower.copy()
    # The bound includes the rounding allowance the reader grants every figure it knows (secret_lp._allowance on the
    # known cells and the lower bounds): a requirement relaxed to it exactly could be met only through that slack,
    # which the protection LP (exact rows, fixed cells and floors that cannot move) never uses. Relax to the bound
    # less the whole slack, never past the value: a side URSSAF's figures give exactly (up to rounding) is then no
    # requirement.
    _, floors, _ = secret_lp.lower_bounds(table)
    slack = 2.0 * float(secret_lp._allowance(table.values[known_cells]).sum() + secret_lp._allowance(floors).sum())
    relaxed = 0
    for (j, side), bound in bounds.items():
        if (j, side) not in kept:
            value = table.values[j]
            if side == "haut":
                upper[j] = max(bound - slack, value)
            else:
                lower[j] = min(bound + slack, value)
            relaxed += 1
    return upper, lower, relaxed


def _lp_requirements(model, sensitive: np.ndarray, rules, known: UrssafKnown, measure: str):
    """The requirements of the `sensitive` cells, the lower side no further than what URSSAF's pair floors give alone
    (secret_model.floored_minimum): what disclosed_elsewhere would relax it to at least, found without an LP per side
    (on the sample's 2015, 2 809 cell LPs, 58 s a year)."""
    values = model.cells[measure].fillna(0.0).to_numpy(float)
    upper, lower = requirements(values, sensitive, rules)
    _, _, pairs = _pair_floors(model, known, measure)
    return upper, np.where(sensitive, np.fmax(lower, secret_model.floored_minimum(model, sensitive, pairs)), np.nan)


def _totals_bounding_their_sectors(model, candidates: np.ndarray, rules, known: UrssafKnown,
                                   measure: str = PROTECTED) -> np.ndarray:
    """The commune totals that must be masked: a pair of a commune all of whose types are in a family is at least its
    URSSAF floor inside that family, so a published total of the family bounds each of the commune's sector cells of
    a family inside it from above, by itself less the floors of those pairs without the cell's code — for every
    reader of both. Where that bound falls short of a sensitive cell's (`candidates`) upper requirement, the total
    cannot be published. Necessary, not sufficient (the reader has other routes; the LPs see them all): masked before
    the linear heuristic, which then keeps them from being recomputed, they spare the protection LPs the rounds of
    finding them one side at a time (review_diff6 § 1, HIGH)."""
    cells = model.cells
    out = np.zeros(len(cells), bool)
    _, _, pairs = _pair_floors(model, known, measure)
    commune = (cells["niveau"] == "commune").to_numpy()
    sector = cells["nomenclature"].isin(list(secret_model.DETAIL_GROUPS["secteur"])).to_numpy()
    wanted = candidates & commune & sector & cells["code_territoire"].isin(pairs["code_commune"]).to_numpy()
    if pairs.empty or not wanted.any():
        return out
    values = cells[measure].fillna(0.0).to_numpy(float)
    upper, _ = requirements(values, candidates, rules)
    totals = cells.loc[commune & (cells["nomenclature"] == "ensemble").to_numpy(), ["cellule", "code_territoire",
                                                                                    "label"]]
    # the floored pairs whole in each family of the commune's totals
    det = model._parts["det_vars"]
    key = ["code_commune", *secret_model.PAIR]
    held = det.loc[det["groupe"] == "secteur", [*key, "type"]].merge(pairs[[*key, "plancher"]], on=key)
    inside = held.merge(totals.rename(columns={"code_territoire": "code_commune", "cellule": "total"}),
                        on="code_commune").merge(model._parts["lab"].assign(_in=True), on=["label", "type"],
                                                 how="left")
    inside["_in"] = inside["_in"].fillna(False).astype(bool)
    whole = inside.groupby(["total", *key], sort=False).agg(whole=("_in", "all"), plancher=("plancher", "first"))
    whole = whole[whole["whole"]].reset_index()
    asked = cells.loc[wanted, ["cellule", "code_territoire", "label", "nomenclature", "code"]].merge(
        secret_model.label_inclusions(model), on="label").merge(
        totals.rename(columns={"cellule": "total", "label": "label_total"}), on=["code_territoire", "label_total"])
    floors_in = whole.groupby("total")["plancher"].sum()
    short = []
    for nom, column in (("a21", "section_a21"), ("ess", "secteur_ess")):
        part = asked[asked["nomenclature"] == nom]
        if part.empty:
            continue
        own = whole.groupby(["total", column])["plancher"].sum()
        mine = own.reindex(pd.MultiIndex.from_arrays([part["total"], part["code"]])).fillna(0.0).to_numpy()
        bound = values[part["total"].to_numpy()] - (floors_in.reindex(part["total"]).fillna(0.0).to_numpy() - mine)
        j = part["cellule"].to_numpy()
        short.append(part.loc[bound < upper[j] - 1e-6 * np.maximum(1.0, values[j]), "total"].to_numpy())
    if short:
        out[np.unique(np.concatenate(short))] = True
    return out


def _unproven_outside(model, candidates: np.ndarray, rules, known: UrssafKnown = UrssafKnown()) -> np.ndarray:
    """Sensitive cells outside publication that the closed-form swaps of secret_model do not prove safe, for every
    published bound, against a reader who knows URSSAF's commune × APE detail (a swap takes from a bounded pair no
    more than its slack)."""
    unproven = np.zeros(len(model.cells), bool)
    for measure in DOMINANCE_BOUNDS:
        values = model.cells[measure].fillna(0.0).to_numpy(float)
        upper, lower = requirements(values, candidates, rules)
        _, _, pairs = _pair_floors(model, known, measure)
        up, down = secret_model.swap_capacity(model, candidates, measure, pairs)
        tol = 1e-6 * np.maximum(1.0, values)
        # URSSAF's pair floors alone bound a cell from below (a commune's sector that the file's figures nearly make):
        # our publication must not narrow it more, and a swap down to that bound shows it does not (disclosed_elsewhere
        # relaxes the same side of a cell in the LPs, to the LP's bound, at least this one)
        lower = np.fmax(lower, secret_model.floored_minimum(model, candidates & (values - down > lower + tol), pairs))
        unproven |= candidates & ((values + up < upper - tol) | (values - down > lower + tol))
    return unproven


def _same_units_as_total(model) -> np.ndarray:
    """Sector / size cells made of exactly the establishments of their territory's total of the same family: one set
    of units, one value, the same sum of unknowns (a code without establishments has none), the same primary
    status. That total is audited (published, or sensitive outside publication: no swap proves a total), so the
    cell needs no audit of its own."""
    cells = model.cells
    key = ["niveau", "code_territoire", "label"]
    totals = cells.loc[cells["nomenclature"] == "ensemble", key + ["nb_etablissements"]].rename(
        columns={"nb_etablissements": "_n_total"})
    n_total = cells[key].merge(totals, on=key, how="left")["_n_total"].to_numpy()
    return (cells["nomenclature"] != "ensemble").to_numpy() & (cells["nb_etablissements"].to_numpy() == n_total)


def _protect_year(model, communes: pd.DataFrame, rules, *, deadline: float, scope_fn=in_scope,
                  known: UrssafKnown = UrssafKnown()) -> tuple[dict, dict[str, list[secret_lp.Certificate]]]:
    """Statuses of the cells of one year (in `model.cells[STATUS]`), the protection figures, and per measure the
    tables proving every requirement of the final pattern (secret_lp certificates, for the check step).
    `known`: the year's cells the reader knows from URSSAF (urssaf_known): masking them protects nothing, so the
    LP counts them as shown and never suppresses them, and they are shown unless sensitive; the requirements that
    URSSAF's figures break alone are relaxed to what those figures give (disclosed_elsewhere) and counted."""
    cells = model.cells
    table = model.tables[PROTECTED]
    gaps = secret_model.additivity_gaps(table, model.rows_in_matrix)
    if len(gaps):
        raise RuntimeError(f"{len(gaps)} cells of the cube are not the sum of their establishments (e.g. "
                           f"{cells.iloc[gaps[:3]][secret_model.CELL_KEY].to_dict('records')}): the cube or the "
                           "secret model is wrong (a bug); nothing is published")
    scope = scope_fn(cells)
    primary = primary_status(cells, rules)
    sensitive = primary != None  # noqa: E711 (object array)
    # 0. commune totals that, with URSSAF's pair floors, give away a sensitive sector of their commune: masked first
    forced = _totals_bounding_their_sectors(model, sensitive & ~scope, rules, known) & scope & ~sensitive
    # 1. linear heuristic on the cells in scope: no relation left with a single masked cell (the forced totals
    #    enter it as masked, under a primary code the statuses below do not keep)
    t0 = time.perf_counter()
    sub = cells[scope].assign(zone=_zone(cells[scope]), label="L" + cells.loc[scope, "label"].astype(str))
    groups = _heuristic_groups(model, cells, communes)
    heur = conf.protect(sub, dimensions=["zone", "label"], value=PROTECTED, contributors="nb_unites_legales",
                        hierarchies=groups, must_publish="publication_prioritaire", rules=rules,
                        primary=np.where(forced, conf.FREQUENCE, primary)[scope], audit=True, max_rounds=50)
    hidden = np.zeros(len(cells), bool)
    hidden[np.flatnonzero(scope)] = heur.cells["statut_secret"].notna().to_numpy()
    t_heur = time.perf_counter() - t0
    # 2. sector / size cells below the département (never published): a closed-form feasible table proves most of
    #    the sensitive ones safe whatever is published; the others join the LP
    unproven = _unproven_outside(model, sensitive & ~scope, rules, known) & ~_same_units_as_total(model)
    # 3. LP: suppress more until every sensitive cell (published in scope or not) keeps its protection interval,
    #    for each published bound of employment, against a reader who also knows URSSAF's figures (family totals of
    #    the département, commune totals: in the LP even when never published, as for an earlier year's communes)
    known_cells = _known_cells(model, known)
    floors = _commune_floors(model, known)
    floored = ~np.isnan(floors)
    n_pairs = len(_pair_floors(model, known)[2])
    if (unproven | ((known_cells | floored) & ~scope)).any():
        model.materialise(scope | unproven | known_cells | floored)
    published = scope & ~hidden & ~sensitive
    reader = published | known_cells
    weights = _weights(cells)
    stats: dict[str, Any] = {"cellules": int(len(cells)), "cellules_publiables": int(scope.sum()),
                             "frequence": int(np.sum(scope & (primary == conf.FREQUENCE))),
                             "dominance": int(np.sum(scope & (primary == conf.DOMINANCE))),
                             "sensibles_hors_publication": int(np.sum(~scope & sensitive)),
                             "sensibles_hors_publication_audit_lp": int(unproven.sum()),
                             "totaux_communaux_bornant_un_secteur": int(forced.sum()),
                             "secondaire_heuristique": int(np.sum(hidden & ~sensitive)),
                             "connues_urssaf": int(known_cells.sum()),
                             "sensibles_connues_urssaf": int(np.sum(known_cells & sensitive)),
                             "minorees_urssaf": int(floored.sum()),
                             "sensibles_minorees_urssaf": int(np.sum(floored & sensitive)),
                             "paires_minorees_urssaf": n_pairs,
                             "secondes_heuristique": round(t_heur, 3), "lp": {}}
    in_lp = model.rows_in_matrix
    certificates = {}
    required = {}
    for measure in DOMINANCE_BOUNDS:
        t = model.tables[measure] = _reader_table(model, known, measure)
        upper, lower, waived = disclosed_elsewhere(t, known_cells, *_lp_requirements(model, sensitive & in_lp, rules,
                                                                                     known, measure),
                                                   deadline=deadline)
        result = secret_lp.protect(t, reader, upper, lower, weights, deadline=deadline, fixed=known_cells)
        reader = result.published
        required[measure] = (upper, lower)
        stats["lp"][measure] = {**result.to_dict(), "exigences_divulguees_par_urssaf": waived}
        certificates[measure] = result.certificates
        if not result.audit.ok:
            raise SecretAuditError(measure, result.audit, time.perf_counter() >= deadline)
    # 4. a secondary cell the published figures already give (département − the other arrondissements) protects
    #    nothing and must not look protected: published, once every requirement is audited again without its mask
    reader, stats["secondaire_recalculable"] = publish_recomputable(
        {m: model.tables[m] for m in DOMINANCE_BOUNDS}, reader, scope & ~sensitive & ~known_cells, required,
        certificates, deadline=deadline)
    published = (reader & ~known_cells) | (known_cells & ~sensitive)
    status = np.where(scope, np.where(published, None, np.where(sensitive, primary, conf.SECONDAIRE)),
                      cols.NON_DIFFUSE)
    cells[STATUS] = pd.Series(status, index=cells.index, dtype=object)
    stats["secondaire"] = int(np.sum(status == conf.SECONDAIRE))
    return stats, certificates


# A masked cell whose every value the reader can still hold lies within this many jobs of its own is recomputed: the
# published figures give it to the job. Not less: the reader holds each published figure to its allowance
# (secret_lp._allowance, 1e-7 of it), so an arrondissement = département − the other two of the sample's 2016 is held
# to ±0.04 job, and the audit's own tolerance is 1e-6 of the cell. Nor a share of the value: 0.01 % of 17 848 jobs
# is 1.8 jobs, and on the sample's 2019 publishing such a cell took a protected cell's bound from 2.50 down to 1.77.
RECOMPUTED = 0.5


def recomputable(tables: dict[str, secret_lp.LinearTable], reader: np.ndarray, candidates: np.ndarray,
                 certificates: dict[str, list[secret_lp.Certificate]], *, deadline: float) -> tuple[np.ndarray, int]:
    """The cells of `candidates` the reader recomputes from the cells of `reader`: for every measure, no value
    RECOMPUTED jobs away from the cell's own, up or down (down: unless below 0), fits what it knows. One table the
    reader cannot rule out with the cell that far on either side clears it (secret_lp's any_side search: the
    `certificates` first, then LPs). Also returns how many candidates were left undecided at the deadline (not in
    the mask: a cell is called recomputed only once proven so)."""
    found = candidates & ~reader
    undecided = np.zeros(len(found), bool)
    for measure, t in tables.items():
        if not found.any():
            break
        v = t.values
        reach = RECOMPUTED + secret_lp.tolerance(v)
        upper = np.where(found, v + reach, np.nan)
        lower = np.where(found & (v - RECOMPUTED >= 0), v - reach, np.nan)
        search, _ = secret_lp.certified_audit(t, reader, upper, lower, certificates.get(measure, []),
                                              deadline=deadline, any_side=True)
        fixed = np.zeros(len(v), bool)
        for cell, sides in search.failed.items():
            fixed[cell] = len(sides) == (1 if np.isnan(lower[cell]) else 2)
        undecided[[j for j, _ in search.pending_sides]] = True  # a side left at the deadline
        found &= fixed
    return found, int(np.sum(undecided & ~found))


def publish_recomputable(tables: dict[str, secret_lp.LinearTable], reader: np.ndarray, maskable: np.ndarray,
                         required: dict[str, tuple[np.ndarray, np.ndarray]],
                         certificates: dict[str, list[secret_lp.Certificate]], *,
                         deadline: float) -> tuple[np.ndarray, dict[str, int]]:
    """`reader` (the cells the reader knows) plus the masked cells of `maskable` it can already recompute
    (`recomputable`). Publishing such a cell adds nothing the reader did not have to the job, but a cell shown « s »
    must be one nobody can recompute. Every requirement (`required`, per measure) is then audited again on the new
    pattern, and `certificates` become the tables that prove it; should one fail (a protected bound that held by
    less than a job of the cell's room), the cells are tried one at a time and those whose mask still protects
    something stay masked: a reader knows them to the job, but their last half job is what protects a sensitive
    cell (the check step verifies it of every such cell). Returns the reader's cells, and how many were published
    (`publiees`) or left masked (`restees_masquees`)."""
    recomputed, _ = recomputable(tables, reader, maskable, certificates, deadline=deadline)
    n = int(recomputed.sum())
    if not n:
        return reader, {"publiees": 0, "restees_masquees": 0}
    trials = [recomputed] + [np.arange(len(reader)) == j for j in np.flatnonzero(recomputed)]
    for i, cells in enumerate(trials):
        proofs = _audited(tables, reader | cells, required, certificates, deadline=deadline)
        if proofs is not None:
            reader = reader | cells
            certificates.update(proofs)
            if i == 0:
                break
    left = n - int(np.sum(recomputed & reader))
    if left:  # (in the year's figures of the manifest: the console shows the steps only)
        log.info("%d recomputable secondary cells left masked: the audit without their mask failed", left)
    return reader, {"publiees": n - left, "restees_masquees": left}


def _audited(tables: dict[str, secret_lp.LinearTable], reader: np.ndarray,
             required: dict[str, tuple[np.ndarray, np.ndarray]],
             certificates: dict[str, list[secret_lp.Certificate]], *,
             deadline: float) -> dict[str, list[secret_lp.Certificate]] | None:
    """Per measure, the tables proving every requirement against `reader`, or None if one is not met."""
    proofs = {}
    for measure, t in tables.items():
        again, kept = secret_lp.certified_audit(t, reader, *required[measure], certificates[measure],
                                                deadline=deadline)
        if not again.ok:
            return None
        proofs[measure] = kept
    return proofs


class SecretAuditError(UserError):
    """Employment could not be protected and audited in time (or, a bug, the audit still fails): nothing is written."""

    def __reduce__(self):  # raised in a worker process (transforms/yearly.py), re-raised in the step
        return _secret_audit_error, (str(self), self.result)

    def __init__(self, measure: str, result, timed_out: bool):
        self.result = result
        if timed_out:
            reason = ("the protection and its audit did not finish within the time budget: raise the run parameter "
                      "secret_budget_secondes")
        else:
            reason = f"{result.n_failed_sides} protection requirement(s) still not met after protection (a bug)"
        super().__init__(f"statistical confidentiality of {measure}: {reason} — {len(result.unaudited)} cell(s) "
                         f"unaudited, {len(result.failed)} failing; the public table is not written")


def _secret_audit_error(message: str, result) -> SecretAuditError:
    error = SecretAuditError.__new__(SecretAuditError)
    UserError.__init__(error, message)
    error.result = result
    return error


# What the secret model and the protection read of a cube row: its key, its contributors and its employment.
SECRET_INPUT = [*secret_model.ROW_KEY, "nb_etablissements", "nb_unites_legales", *DOMINANCE_BOUNDS,
                *DOMINANCE_BOUNDS.values()]


def _year_cube(con, year: int, perimeters: list[str]) -> pd.DataFrame:
    # ordered: the protection's LPs, hence its choices between equal costs, must not follow DuckDB's parallel scan
    return con.execute(f"SELECT {', '.join(SECRET_INPUT)} FROM out_indicateurs "
                       "WHERE annee = ? AND list_contains(?, perimetre) "
                       f"ORDER BY {', '.join(secret_model.ROW_KEY)}", [year, perimeters]).df()


def protected_years(con, params: dict) -> list[int]:
    """The years whose employment goes public: every year with employment (the earlier ones with the narrower scope
    of in_scope_past); only the run's employment year when params["secret_emploi_passe"] is False."""
    years = [int(r[0]) for r in con.execute(
        f"SELECT DISTINCT annee FROM {CUBE} WHERE effectif_central IS NOT NULL ORDER BY 1").fetchall()]
    if params.get("secret_emploi_passe", True):
        return years
    return [y for y in years if params.get("annee_effectifs") and y == int(params["annee_effectifs"])]


def _cell_columns(model, perimetre: str | None = None) -> pd.DataFrame:
    """Priorities of the cells when a secondary suppression has a choice. `priorite_du_run`: the ESS, hors-ESS and
    total employment of the run's perimeter — the report's headline (département, 10 000) and series (territories
    above the commune, 1 000) — which another perimeter's or family's cell can stand for when a difference must be
    hidden."""
    cells = model.cells
    rows = model.rows
    totals = rows[(rows["perimetre"] == perimetre) & rows["famille"].isin(_TOTAL_FAMILIES)
                  & (rows["nomenclature_secteur"] == "ensemble") & (rows["classe_taille"] == "ensemble")
                  & (rows["niveau"] != "commune")]
    priority = np.zeros(len(cells))
    priority[totals["cellule"].to_numpy()] = np.where(totals["niveau"] == "departement", 10_000.0, 1_000.0)
    cells["priorite_du_run"] = priority
    cells["famille_total"] = cells["famille"].isin(_TOTAL_FAMILIES)
    cells["publication_prioritaire"] = (cells["niveau"] == "departement") | (
        (cells["niveau"] != "commune") & (cells["nomenclature"] == "ensemble") & cells["famille_total"])
    return cells


def _protect_one(year: int, units: pd.DataFrame, year_cube: pd.DataFrame, communes: pd.DataFrame,
                 perimeters: list[str], rules, params: dict, deadline_wall: float,
                 known: UrssafKnown = UrssafKnown()):
    """Protect one year (in a worker process when years run in parallel): its statuses by cube row, its figures and
    its certificates (for out_secret_certificats)."""
    scope_fn = scope_of(year, params)
    model = secret_model.build(units, year_cube, communes, perimeters, scope=scope_fn)
    _cell_columns(model, params["perimetre"])
    stats, certificates = _protect_year(model, communes, rules, deadline=yearly.deadline_in(deadline_wall),
                                        scope_fn=scope_fn, known=known)
    key = model.rows[secret_model.ROW_KEY].assign(annee=year)
    key[STATUS] = model.cells[STATUS].to_numpy()[model.rows["cellule"].to_numpy()]
    return stats, key, _certificate_rows(year, model, certificates)


def _year_progress(order: list[int], text: str, detail: set[int] = frozenset()):
    """For the console of `ess run` (ess/progress.py): `text` (with {annee}) as each year of `order` is done — the
    protection is the step's longest part, the years published in `detail` by far the longest (minutes on the
    sample, against half a minute for a past year), so they say why they come last."""
    count = itertools.count(1)

    def say(i: int) -> None:
        why = ", année publiée en détail" if order[i] in detail else ""
        progress.current().say(f"  · {text.format(annee=order[i])}{why} ({next(count)}/{len(order)} années)")
    return say


def _announce(order: list[int], workers: int, detail: set[int], what: str) -> None:
    """The line before the years' protection (or re-audit): how many, on how many processes, which one is long."""
    long = [y for y in order if y in detail]
    said = (f" ; {', '.join(map(str, long))}, publiée{'s' if len(long) > 1 else ''} en détail, "
            f"prend{'nent' if len(long) > 1 else ''} le plus de temps") if long and len(order) > 1 else ""
    progress.current().say(f"  · {what} de {len(order)} année{'s' if len(order) > 1 else ''} sur {workers} "
                           f"processus{said}")


def _by_size_then_year(years: list[int], sizes: dict[int, int]) -> list[int]:
    """The largest year first (it starts first when years run in parallel)."""
    return sorted(years, key=lambda y: (-sizes.get(y, 0), y))


def _year_sizes(con, table: str) -> dict[int, int]:
    return {int(y): int(n) for y, n in con.execute(f"SELECT annee, count(*) FROM {table} GROUP BY 1").fetchall()}


def protect_cube(con, params: dict, *, rules=None) -> tuple[pd.DataFrame, dict]:
    """The public cells of every perimeter, as a DataFrame with the columns of out_indicateurs_public. Also writes
    out_secret_unites in `con`: the units each year was protected with, which the check step re-audits.
    Years are protected independently, in parallel processes for a large cube (params['secret_processus'])."""
    perimeters = perimetres_publies(params)
    communes = _commune_table(con)
    rules = rules or conf.load_rules(reference_dir=params.get("reference_dir"))
    budget = float(params.get("secret_budget_secondes", DEFAULT_BUDGET_SECONDS))
    deadline_wall = yearly.wall_deadline(budget)
    annee = int(str(params["millesime"])[:4])
    detail_passe = bool(params.get("secret_passe_detail", False))
    stats: dict[str, Any] = {"budget_secondes": budget, "perimetres": perimeters}
    years = protected_years(con, params)
    detail_years = {int(params["annee_effectifs"])} if params.get("annee_effectifs") else set()
    sizes = _year_sizes(con, CUBE)
    order = _by_size_then_year(years, sizes)
    workers = yearly.worker_count(params.get("secret_processus"), len(order), sum(sizes.get(y, 0) for y in order))
    known = urssaf_known(con, params, perimeters)
    secret_model.write_units(con, perimeters, years)
    jobs = ((year, secret_model.year_units(con, year), _year_cube(con, year, perimeters), communes, perimeters, rules,
             params, deadline_wall, known.get(year, UrssafKnown()))
            for year in order)  # each year's job starts while the next one's inputs are read
    started = time.perf_counter()
    detail = set() if detail_passe else {annee, *detail_years}
    _announce(order, workers, detail, "secret statistique de l'emploi")
    results = dict(zip(order, yearly.run_jobs(_protect_one, jobs, workers,
                                              on_done=_year_progress(order, "emploi de {annee} protégé", detail))))
    stats["processus"] = workers
    stats["secondes"] = round(time.perf_counter() - started, 3)
    # Communes are published as family totals only; past years as territory × family totals unless asked.
    total = "nomenclature_secteur = 'ensemble' AND classe_taille = 'ensemble'"
    keep = f"(niveau <> 'commune' OR ({total})) AND ($detail OR list_contains($detail_years, annee) OR ({total}))"
    public = con.execute(f"SELECT * FROM {CUBE} WHERE {keep} ORDER BY ALL",
                         {"detail": detail_passe, "detail_years": [annee, *detail_years]}).df()
    statuses, certificate_rows = [], []
    for year in years:
        year_stats, key, certificates = results[year]
        stats[str(year)] = year_stats
        statuses.append(key)
        certificate_rows += certificates
    if statuses:
        public = public.merge(pd.concat(statuses, ignore_index=True), on=[*secret_model.ROW_KEY, "annee"],
                              how="left", validate="one_to_one")
    else:
        public[STATUS] = None
    # the protection's statuses: a reason, or None for a published cell (the secret model's convention)
    public[STATUS] = public[STATUS].where(public[STATUS].notna(), None)
    # employment of the other years stays in the internal cube
    other = public["effectif_central"].notna() & ~public["annee"].isin(years)
    public.loc[other, STATUS] = cols.NON_DIFFUSE
    hidden = public[STATUS].notna()
    for col in EMPLOYMENT_MASKED:
        public[col] = public[col].astype("float64").mask(hidden)
    public[STATUS] = _coded(public[STATUS], public["effectif_central"])
    public[COUNT_STATUS] = _coded(pd.Series(None, index=public.index, dtype=object), public["nb_etablissements"])
    public = _mask_shares(public)
    _write_certificates(con, certificate_rows)
    return public[cols.names(PUBLIC)], stats


def _coded(reason: pd.Series, value: pd.Series) -> pd.Series:
    """The public status of a figure: its withholding reason, else PUBLIE where the figure exists, NON_MESURE
    where it does not."""
    return reason.where(reason.notna(), pd.Series(np.where(value.notna(), PUBLIE, NON_MESURE), index=value.index))


def _share_status(own: pd.Series, denominator: pd.Series, share: pd.Series) -> pd.Series:
    """A share's status: its row's own when not published, DENOMINATEUR when the « ensemble » row's is not,
    DENOMINATEUR_NUL when both are but the share is undefined (an « ensemble » of 0), else PUBLIE."""
    status = np.where(own != PUBLIE, own,
                      np.where(denominator != PUBLIE, DENOMINATEUR,
                               np.where(share.isna(), DENOMINATEUR_NUL, PUBLIE)))
    return pd.Series(status, index=own.index, dtype=object)


def _mask_shares(df: pd.DataFrame) -> pd.DataFrame:
    """A share is published when its cell and its « ensemble » denominator are: else NULL, its status saying why
    (_share_status). The share of URSSAF's private field is published for the ESS × département headline only
    (SHARE_PRIVATE): elsewhere « non_diffuse »."""
    key = ["annee", "perimetre", "niveau", "code_territoire", "nomenclature_secteur", "secteur", "classe_taille"]
    ens = df.loc[df["famille"] == "ensemble", key + [STATUS]].rename(columns={STATUS: "_den_eff"})
    df = df.merge(ens, on=key, how="left", validate="many_to_one")
    # counts are never masked: an employer share is missing only where employers are not counted (past years)
    employers = _coded(pd.Series(None, index=df.index, dtype=object), df["nb_etablissements_employeurs"])
    df[COUNT_SHARE_STATUS] = _share_status(employers, pd.Series(PUBLIE, index=df.index), df[SHARE_COUNT[0]])
    df[SHARE_STATUS] = _share_status(df[STATUS], df["_den_eff"].fillna(NON_MESURE), df["part_effectif_total_central"])
    headline = ((df["niveau"] == "departement") & (df["famille"] == "ess")
                & (df["nomenclature_secteur"] == "ensemble") & (df["classe_taille"] == "ensemble"))
    private = np.where(df[SHARE_STATUS] != PUBLIE, df[SHARE_STATUS],
                       np.where(~headline, cols.NON_DIFFUSE,
                                np.where(df["part_effectif_prive_central"].isna(), NON_MESURE, PUBLIE)))
    df[PRIVATE_SHARE_STATUS] = pd.Series(private, index=df.index, dtype=object)
    for status in (COUNT_SHARE_STATUS, SHARE_STATUS, PRIVATE_SHARE_STATUS):
        for col in STATUS_FIGURES[status]:
            df[col] = df[col].mask(df[status] != PUBLIE)
    return df.drop(columns=["_den_eff"])


def build_public(con, params: dict) -> dict[str, Any]:
    """Materialise out_indicateurs_public in `con` (after build_cube); returns the protection figures."""
    public, stats = protect_cube(con, params)
    casts = ", ".join(f"CAST({db.identifier(c.name)} AS {c.type}) AS {c.name}" for c in cols.columns(PUBLIC))
    con.register("_public_upload", public)
    try:
        con.execute(f"CREATE OR REPLACE TABLE {PUBLIC} AS SELECT {casts} FROM _public_upload")
    finally:
        con.unregister("_public_upload")
    summary = con.execute(
        f"SELECT count(*), count(*) FILTER (WHERE list_contains(?, {STATUS})) FROM {PUBLIC}",
        [list(conf.STATUSES)]).fetchall()[0]
    return {"lignes": summary[0], "effectifs_masques": summary[1], "par_annee": stats}


def _certificate_rows(year: int, model, certificates: dict[str, list[secret_lp.Certificate]]) -> list[tuple]:
    fingerprint = secret_model.unknowns_fingerprint(model)
    return [(year, measure, i, fingerprint, c.table()) for measure, kept in certificates.items()
            for i, c in enumerate(kept)]


def _write_certificates(con, rows: list[tuple]) -> None:
    """out_secret_certificats: per year and measure, tables of unknowns that prove every protection interval of the
    published pattern (secret_lp certificates) — the check step verifies them against its own model, and audits by
    LP only the sides they do not prove. Internal: they are close to the establishments' true figures."""
    import pyarrow as pa

    names = ["annee", "mesure", "certificat", "modele", "valeurs"]
    columns = list(zip(*rows)) if rows else [[]] * len(names)
    table = pa.table({"annee": pa.array(columns[0], pa.int32()), "mesure": pa.array(columns[1], pa.string()),
                      "certificat": pa.array(columns[2], pa.int32()), "modele": pa.array(columns[3], pa.string()),
                      "valeurs": pa.array([np.asarray(v, float) for v in columns[4]], pa.list_(pa.float64()))})
    con.register("_certificates", table)
    try:
        con.execute(f"CREATE OR REPLACE TABLE {CERTIFICATES} AS SELECT * FROM _certificates")
    finally:
        con.unregister("_certificates")


def audit_public(con, *, params: dict | None = None, rules=None) -> dict[str, Any]:
    """Re-audit out_indicateurs_public independently of the protection step: for each year with employment and
    each published bound, an interval audit (LP with non-negativity) of every sensitive cell of the internal cube
    — published or not — given only the cells the public table shows. Needs out_indicateurs, out_cube_communes and
    out_secret_unites in `con`. Every count of the result must be 0. Years are audited in parallel processes for a
    large cube, like the protection (params['secret_processus']).

    The protection's certificates (out_secret_certificats, when present) are candidate proofs only: each is checked
    against this audit's own model of what the public table shows, and every side none of them proves is audited by
    LP, exactly as without them. The reader also knows URSSAF's figures (urssaf_known, from core_cibles_urssaf and
    staging_urssaf_commune_ape when attached), as the protection assumed."""
    rules = rules or conf.load_rules(reference_dir=(params or {}).get("reference_dir"))
    params = params or {}
    deadline_wall = yearly.wall_deadline(float(params.get("secret_budget_secondes", DEFAULT_BUDGET_SECONDS)))
    public = con.execute(f"SELECT * FROM {PUBLIC}").df()
    communes = _commune_table(con)
    perimeters = sorted(public["perimetre"].unique())
    years = sorted(int(y) for y in public.loc[public["effectif_central"].notna(), "annee"].unique())
    sizes = _year_sizes(con, CUBE)
    order = _by_size_then_year(years, sizes)

    certificates = _certificates_by_year(con)
    known = urssaf_known(con, params, perimeters)

    def jobs():  # each year's job starts while the next one's inputs are read
        for year in order:
            units = secret_model.year_units(con, year)
            cube = _year_cube(con, year, perimeters)
            shown = public[public["annee"] == year][[*secret_model.ROW_KEY, STATUS, "effectif_central"]]
            # the latest year is the run's employment year
            yield (year, units, cube, shown, communes, perimeters, rules, years[-1], deadline_wall,
                   certificates.get(year, []), known.get(year, UrssafKnown()))

    workers = yearly.worker_count(params.get("secret_processus"), len(order), sum(sizes.get(y, 0) for y in order))
    detail = {years[-1]} if years else set()
    _announce(order, workers, set(), "réaudit du secret")  # the certificates make the detailed year quick here
    result: dict[str, Any] = {}
    for part in yearly.run_jobs(_audit_one, jobs(), workers,
                                on_done=_year_progress(order, "secret de {annee} réaudité", detail)):
        result.update(part)
    staged = _urssaf_values_by_year(con)
    for key, figures in result.items():
        figures["n_valeurs_urssaf_commune_ape"] = staged.get(int(key.split("/")[0]), 0)
    return dict(sorted(result.items()))


def _urssaf_values_by_year(con) -> dict[int, int]:
    """The positive values of staging_urssaf_commune_ape by year ({} without it): a year that has some and no pair
    floor in the model is a silently empty mapping (checks.check refuses it)."""
    if not con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = "
                       "'staging_urssaf_commune_ape'").fetchall()[0][0]:
        return {}
    return {int(y): int(n) for y, n in con.execute(
        "SELECT annee, count(*) FROM staging_urssaf_commune_ape WHERE effectifs_salaries > 0 GROUP BY 1").fetchall()}


def _certificates_by_year(con) -> dict[int, list[tuple[str, str, np.ndarray]]]:
    """out_secret_certificats by year as (measure, model fingerprint, table) — {} when the run has none. Read once,
    through Arrow: each table is a slice of one array (a query per year turning its lists into Python floats took
    2.5 s on the sample, beside GX)."""
    if not con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = ?",
                       [CERTIFICATES]).fetchall()[0][0]:
        return {}
    rows = con.sql(f"SELECT annee, mesure, modele, valeurs FROM {CERTIFICATES} WHERE valeurs IS NOT NULL "
                   "ORDER BY annee, mesure, certificat").to_arrow_table()
    lists = rows.column("valeurs").combine_chunks()
    flat, offsets = lists.values.to_numpy(zero_copy_only=False), lists.offsets.to_numpy()
    by_year: dict[int, list[tuple[str, str, np.ndarray]]] = {}
    for i, (year, measure, fingerprint) in enumerate(zip(*(rows.column(c).to_pylist()
                                                            for c in ("annee", "mesure", "modele")))):
        by_year.setdefault(int(year), []).append((measure, fingerprint, flat[offsets[i]:offsets[i + 1]]))
    return by_year


def _audit_one(year: int, units: pd.DataFrame, cube: pd.DataFrame, shown: pd.DataFrame, communes: pd.DataFrame,
               perimeters: list[str], rules, annee_effectifs: int, deadline_wall: float,
               certificates: list[tuple[str, str, np.ndarray]] = (),
               known: UrssafKnown = UrssafKnown()) -> dict[str, Any]:
    """The re-audit of one year (see audit_public); `certificates`: (measure, model fingerprint, table) rows;
    `known`: the year's cells the reader knows from URSSAF (urssaf_known), in the reader's set with the shown
    ones."""
    deadline = yearly.deadline_in(deadline_wall)
    scope_fn = scope_of(year, {"annee_effectifs": annee_effectifs})
    model = secret_model.build(units, cube, communes, perimeters, scope=scope_fn)
    cells = model.cells
    rows = model.rows.merge(shown, on=secret_model.ROW_KEY, how="left", validate="one_to_one")
    # a cell is published when one of its rows shows its employment (rows of one cell share one status)
    published = np.zeros(len(cells), bool)
    published[rows.loc[rows["effectif_central_y"].notna(), "cellule"].to_numpy()] = True
    sensitive = primary_status(cells, rules) != None  # noqa: E711
    scope = scope_fn(cells)
    unproven = _unproven_outside(model, sensitive & ~scope, rules, known) & ~_same_units_as_total(model)
    known_cells = _known_cells(model, known)
    floored = ~np.isnan(_commune_floors(model, known))
    model.materialise(scope | unproven | known_cells | floored)
    fingerprint = secret_model.unknowns_fingerprint(model)
    result: dict[str, Any] = {}
    for measure in DOMINANCE_BOUNDS:
        t = _reader_table(model, known, measure)
        upper, lower, waived = disclosed_elsewhere(t, known_cells, *_lp_requirements(
            model, sensitive & model.rows_in_matrix, rules, known, measure), deadline=deadline)
        # certificates of another model (its unknowns in another order) cannot be read: the LPs decide alone
        given = [c for m, f, c in certificates if m == measure and f == fingerprint and len(c) == t.n_vars]
        foreign = sum(1 for m, f, c in certificates if m == measure) - len(given)
        proofs = [secret_lp.Certificate(c) for c in given]
        a, _ = secret_lp.certified_audit(t, published | known_cells, upper, lower, proofs, deadline=deadline)
        leaked = int(np.sum(published & sensitive))
        # a masked secondary cell the published figures give protects nothing (publish_recomputable), unless its
        # last half job of room is what holds a sensitive cell's requirement: publishing it must then break one
        given_away, undecided = recomputable({measure: t}, published | known_cells,
                                             scope & ~sensitive & ~known_cells, {measure: proofs}, deadline=deadline)
        holding = 0
        for j in np.flatnonzero(given_away):
            trial, _ = secret_lp.certified_audit(t, published | known_cells | (np.arange(len(published)) == j),
                                                 upper, lower, proofs, deadline=deadline)
            holding += bool(trial.failed)
            undecided += not trial.failed and bool(trial.unaudited)  # out of time: neither way
            given_away[j] = trial.ok
        result[f"{year}/{measure}"] = {"n_sensibles": int(sensitive.sum()), "n_sensibles_publiees": leaked,
                                       "n_sensibles_prouvees_sans_lp": int(np.sum(sensitive & ~scope & ~unproven)),
                                       "n_masquees": int(np.sum(scope & ~published)),
                                       "n_recalculables_ou_encadrees": len(a.failed), "n_non_auditees":
                                       len(a.unaudited),
                                       "n_certificats": len(given), "n_certificats_illisibles": foreign,
                                       "n_connues_urssaf": int(known_cells.sum()),
                                       "n_sensibles_connues_urssaf": int(np.sum(known_cells & sensitive)),
                                       "n_minorees_urssaf": int(floored.sum()),
                                       "n_paires_minorees_urssaf": len(_pair_floors(model, known, measure)[2]),
                                       "n_exigences_divulguees_par_urssaf": waived,
                                       "n_secondaires_recalculables": int(given_away.sum()),
                                       "n_secondaires_recalculables_protegeant": holding,
                                       "n_secondaires_non_decidees": undecided,
                                       "ok": a.ok and leaked == 0 and not given_away.any() and not undecided,
                                       "detail": a.to_dict(10)}
    return result
