"""Build the output tables: the internal indicator cube, its protected public version and the perimeter audit.

`build_outputs` is the step of docs/CONTRIBUTING.md: it reads the core and staging tables (Parquet), runs
sql/out/out_cube_territoires.sql (the territorial frame), out_cube_etablissements.sql (the counted units) and
out_indicateurs.sql (the cube), protects the cube with transforms/confidentiality.py, runs
out_audit_perimetre.sql when that file exists, and writes every output table as Parquet.

Parameters read beyond the run's (departement, millesime, annee_urssaf, annee_cog, perimetre, synthetic):
`perimetres_cube` (list, default [perimetre]: more perimeters in the internal cube; only the run's perimeter is
protected and public), `secret_passe_detail` (bool, default False: past years are public as territory × family
totals only; True protects and publishes their sector detail too, at a cost of minutes per year on a real
département), `reference_dir` (reference CSVs overriding data/reference/, for the perimeter audit).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ess import db, paths
from ess.errors import UserError
from transforms import columns as cols
from transforms import confidentiality as conf
from transforms import employment, reference
from transforms.steps import StepOutput

CUBE = "out_indicateurs"
PUBLIC = "out_indicateurs_public"
AUDIT = "out_audit_perimetre"
REQUIRED = ("core_etablissements", "staging_communes")
# Optional inputs, replaced by an empty table of the same shape when absent.
OPTIONAL = {
    "core_etablissements_annuel": {"siret": "VARCHAR", "annee": "INTEGER", "actif": "BOOLEAN"},
    # employment of each year (transforms/employment.py); absent: the cube has counts only
    "core_effectifs": {"siret": "VARCHAR", "annee": "INTEGER", "effectif_central": "DOUBLE",
                       "variance_a_priori": "DOUBLE", "denominateur_calage": "DOUBLE", "cellule_calage": "VARCHAR",
                       "statut_calage": "VARCHAR", "projection_1": "DOUBLE", "projection_2": "DOUBLE",
                       "projection_3": "DOUBLE", "projection_4": "DOUBLE", "projection_5": "DOUBLE"},
    "staging_epci": {"siren_epci": "VARCHAR", "nom_epci": "VARCHAR", "nb_communes": "INTEGER",
                     "nb_communes_departement": "INTEGER"},
    "staging_territoires": {"code_commune": "VARCHAR", "code_territoire": "VARCHAR", "nom_territoire": "VARCHAR"},
}
# Columns of core_etablissements_annuel used when present. The year's situation (family, sector, perimeters) is
# used only when all of it is there; otherwise the establishment's current one.
ANNUEL_SITUATION = {"famille_ess": "VARCHAR", "section_a21": "VARCHAR", "secteur_ess": "VARCHAR"}
ANNUEL_FACULTATIF = {"employeur": "BOOLEAN", **ANNUEL_SITUATION}


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
        avec_territoires = "staging_territoires" in tables
        cube_params = build_cube(con, params, has_territoires=avec_territoires)
        stats[CUBE] = cube_stats(con)
        # the employment year is published in detail like the millésime year (transforms/confidentiality.py)
        params = {**params, "annee_effectifs": cube_params["annee_effectifs"] or None}
        stats[PUBLIC] = build_public(con, params, avec_territoires=avec_territoires)
        # out_cube_communes (commune -> code at each level, no unit data) lets checks re-audit the public table.
        names = [CUBE, PUBLIC, "out_cube_communes"]
        if _audit_sql().exists():
            audit_tables = {k: v for k, v in tables.items() if k not in REQUIRED and k not in OPTIONAL}
            db.attach_tables(con, audit_tables)
            reference.load_reference(con, directory=params.get("reference_dir"))
            stats[AUDIT] = {"lignes": db.build_table(con, AUDIT, **{**params, **cube_params})}
            names.append(AUDIT)
        metadata = {
            "ess:synthetic": str(bool(params.get("synthetic", False))).lower(),
            "ess:departement": params["departement"],
            "ess:millesime": params["millesime"],
            "ess:perimetre": params["perimetre"],
        }
        written = db.export_tables(con, names, out_dir, metadata=metadata)
    finally:
        con.close()
    return StepOutput(tables=written, stats=stats)


def _audit_sql() -> Path:
    return paths.SQL_DIR / "out" / f"{AUDIT}.sql"


def _reference_file(stem: str, annee_cog: Any) -> Path | None:
    """data/reference/<stem>_<COG year>.csv, else the latest such file (labels change little), else None."""
    if annee_cog and (paths.REFERENCE_DIR / f"{stem}_{annee_cog}.csv").exists():
        return paths.REFERENCE_DIR / f"{stem}_{annee_cog}.csv"
    files = sorted(paths.REFERENCE_DIR.glob(f"{stem}_[0-9][0-9][0-9][0-9].csv"))
    return files[-1] if files else None


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
    secteurs_ess.csv) and ref_libelles_territoires (arrondissements, départements of the COG reference)."""
    rows = [("ensemble", "ensemble", "Ensemble des secteurs"),
            ("a21", cols.NON_RENSEIGNE, "Activité non renseignée"),
            ("ess", cols.NON_RENSEIGNE, "Activité non renseignée")]
    naf = paths.REFERENCE_DIR / "naf_rev2.csv"
    if naf.exists():
        sections = _read_csv(naf, ["section", "libelle_section"]).drop_duplicates("section")
        rows += [("a21", r.section, _sentence_case(r.libelle_section)) for r in sections.itertuples()]
    secteurs = paths.REFERENCE_DIR / "secteurs_ess.csv"
    if secteurs.exists():
        ess = _read_csv(secteurs, ["secteur_ess", "libelle_secteur_ess"]).drop_duplicates("secteur_ess")
        rows += [("ess", r.secteur_ess, r.libelle_secteur_ess or None) for r in ess.itertuples()]
    con.register("_labels", pd.DataFrame(rows, columns=["nomenclature_secteur", "secteur", "libelle_secteur"]))
    con.execute("CREATE OR REPLACE TABLE ref_libelles_secteurs AS SELECT * FROM _labels")
    con.unregister("_labels")

    territoires = []
    arr = _reference_file("arrondissements", params.get("annee_cog"))
    if arr:
        frame = _read_csv(arr, ["code_arrondissement", "nom_arrondissement"])
        territoires += [("arrondissement", r.code_arrondissement, r.nom_arrondissement) for r in frame.itertuples()]
    dep = _reference_file("departements", params.get("annee_cog"))
    if dep:
        frame = _read_csv(dep, ["code_departement", "nom_departement"])
        territoires += [("departement", r.code_departement, r.nom_departement) for r in frame.itertuples()]
    con.register("_labels", pd.DataFrame(territoires, columns=["niveau", "code_territoire", "libelle"], dtype=object))
    con.execute("CREATE OR REPLACE TABLE ref_libelles_territoires AS SELECT niveau::VARCHAR AS niveau, "
                "code_territoire::VARCHAR AS code_territoire, libelle::VARCHAR AS libelle FROM _labels")
    con.unregister("_labels")


def millesime_date(millesime: str) -> dt.date:
    """The date a SIRENE millésime describes: the last day of its month ('2026-10' -> 2026-10-31)."""
    try:
        year, month = int(millesime[:4]), int(millesime[5:7])
        first_next = dt.date(year + month // 12, month % 12 + 1, 1)
    except (ValueError, IndexError):
        raise UserError(f"millésime {millesime!r} is not of the form YYYY-MM (e.g. 2026-01)") from None
    return first_next - dt.timedelta(days=1)


def cube_parameters(params: dict, *, has_territoires: bool, employeur_passe: bool,
                    annee_effectifs: int | None = None, calage: bool | None = None) -> dict[str, Any]:
    """The SQL parameters of the cube, derived from the run's parameters. `annee_effectifs`: the latest year whose
    employment is estimated (core_effectifs), `calage`: whether it is calibrated on URSSAF."""
    millesime = str(params["millesime"])
    date_reference = millesime_date(millesime)
    perimetres = params.get("perimetres_cube") or [params["perimetre"]]
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
                     f"{params.get('annee_urssaf') or annee_effectifs})")
    else:
        effectifs = (f"effectifs salariés au 31/12 de l'année : tranches SIRENE (stock {millesime}), non calés "
                     "sur l'URSSAF")
    return {
        "departement": params["departement"],
        "annee": date_reference.year,
        "annee_effectifs": int(annee_effectifs) if annee_effectifs is not None else 0,
        "perimetres": list(perimetres),
        "avec_territoires": has_territoires,
        "employeur_passe": employeur_passe,
        "date_reference": date_reference,
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


def _ensure_optional_inputs(con, present: set[str], perimetres: list[str]) -> None:
    """Give absent optional inputs an empty table, and the yearly table its optional columns (as NULL)."""
    for name, shape in OPTIONAL.items():
        if name not in present:
            select = ", ".join(f"NULL::{t} AS {db.identifier(c)}" for c, t in shape.items())
            con.execute(f"CREATE OR REPLACE VIEW {name} AS SELECT {select} WHERE false")
    have = _columns_of(con, "core_etablissements_annuel")
    add = {c: t for c, t in ANNUEL_FACULTATIF.items() if c not in have}
    add.update({f"perimetre_{p}": "BOOLEAN" for p in perimetres if f"perimetre_{p}" not in have})
    if add:
        extra = ", ".join(f"NULL::{t} AS {db.identifier(c)}" for c, t in add.items())
        con.execute("ALTER VIEW core_etablissements_annuel RENAME TO _core_etablissements_annuel_source")
        con.execute(f"CREATE VIEW core_etablissements_annuel AS SELECT *, {extra} "
                    "FROM _core_etablissements_annuel_source")


def _check_perimetres(con, perimetres: list[str]) -> None:
    have = {c.removeprefix("perimetre_") for c in _columns_of(con, "core_etablissements") if c.startswith("perimetre_")}
    unknown = [p for p in perimetres if p not in have]
    if unknown:
        raise UserError(
            f"perimeter {unknown} has no column perimetre_<name> in core_etablissements "
            f"(known: {sorted(have)}): choose one of those or add it to data/reference/perimetres.csv"
        )


def build_cube(con, params: dict, *, has_territoires: bool) -> dict[str, Any]:
    """Materialise out_cube_territoires, out_cube_etablissements and out_indicateurs in `con`.

    The input tables must already be views of `con`. Returns the SQL parameters used.
    """
    present = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    if "core_communes" not in present:  # the core step's communes (zone d'emploi filled in), else the staged ones
        con.execute("CREATE VIEW core_communes AS SELECT * FROM staging_communes")
    perimetres = list(params.get("perimetres_cube") or [params["perimetre"]])
    annuel = _columns_of(con, "core_etablissements_annuel") if "core_etablissements_annuel" in present else set()
    # Past employer counts only when the yearly table carries the employer flag; the year's own family, sector
    # and perimeter only when it carries all of them.
    employeur_passe = "employeur" in annuel
    annuel_situations = set(ANNUEL_SITUATION) <= annuel and all(f"perimetre_{p}" in annuel for p in perimetres)
    _check_perimetres(con, perimetres)
    _ensure_optional_inputs(con, present, perimetres)
    years = con.execute("SELECT max(annee), bool_and(statut_calage = 'non_cale') FROM core_effectifs").fetchone()
    sql_params = cube_parameters(params, has_territoires=has_territoires, employeur_passe=employeur_passe,
                                 annee_effectifs=years[0], calage=None if years[0] is None else not years[1])
    sql_params["annuel_situations"] = annuel_situations
    employment.define_macros(con)
    load_labels(con, params)
    db.build_table(con, "out_cube_territoires", **sql_params)
    db.build_table(con, "out_cube_etablissements", **sql_params)
    db.build_table(con, CUBE, **sql_params)
    db.build_table(con, "out_cube_communes", **sql_params)
    expected = cols.names(CUBE)
    got = [r[0] for r in con.execute(f"DESCRIBE {CUBE}").fetchall()]
    if got != expected:
        raise RuntimeError(f"{CUBE} columns {got} differ from transforms/columns.py {expected}: fix one of them")
    return sql_params


def cube_stats(con) -> dict[str, Any]:
    rows = con.execute(
        f"SELECT niveau, count(*) FROM {CUBE} GROUP BY niveau ORDER BY niveau"
    ).fetchall()
    return {"lignes": sum(n for _, n in rows), "lignes_par_niveau": dict(rows)}


# --- the public cube ----------------------------------------------------------------------------------------------
# The cube is, for each year and perimeter, a 3-dimensional table whose every cell exists (an absent row is a
# known 0): territory × famille × "secteur_taille", the last one being the four ways the cube cuts the economy
# (total, A21 sections, ESS sectors, size classes), each summing to the total. The additive relations given to
# transforms/confidentiality.py are therefore, per dimension:
#   territory: EPCI, arrondissement, zone d'emploi, territoire (non-nested) and département = Σ their communes;
#   famille:   ess = Σ families of the perimeter; ensemble = ess + hors_ess;
#   secteur_taille: ensemble = Σ A21 sections = Σ ESS sectors = Σ size classes.
# All of them are protected together, once for the establishment counts and once for employment. Years are
# protected separately (no additive relation links them), as are perimeters (only the run's perimeter is public).
DIMENSIONS = ("cellule_territoire", "famille", "cellule_secteur")
NIVEAUX_GROUPES = {"epci": "code_epci", "arrondissement": "code_arrondissement", "zone_emploi": "code_zone_emploi",
                   "territoire": "code_territoire", "departement": "code_departement"}
# The published columns each secret status hides (the measure itself is the `value` given to the protection):
# every employment figure with its interval, every employment share of both denominators.
COUNT_MASKED = ["nb_etablissements_employeurs", "etablissements_pour_1000_hab"]
EMPLOYMENT_MASKED = ["effectif_ic90_bas", "effectif_ic90_haut", "effectif_pour_1000_hab"]
SHARE_EMPLOYMENT = ["part_effectif_total_central", "part_effectif_total_ic90_bas", "part_effectif_total_ic90_haut",
                    "part_effectif_prive_central", "part_effectif_prive_ic90_bas", "part_effectif_prive_ic90_haut"]
SHARE_COUNT = ["part_ess_etablissements_employeurs"]
# Cells worth keeping when a secondary suppression has a choice: the département, and the family totals of every
# supra-communal territory.
_TOTAL_FAMILIES = ("ess", "hors_ess", "ensemble")


# How the public table is read by an attacker: cells absent from it (commune × sector detail) are unknowns that are
# never published; the audit covers the whole linked system, virtual cells included (≈ 120 000 for Isère, ~1 s).
PUBLIC_READING = {"absent": "unpublished", "max_component_cells": 2_000_000}


def _cell_codes(cube: pd.DataFrame) -> pd.DataFrame:
    """Add the three dimension codes of the confidentiality tables to cube rows."""
    df = cube.copy()
    df["cellule_territoire"] = df["niveau"] + ":" + df["code_territoire"]
    secteur = df["nomenclature_secteur"] + ":" + df["secteur"]
    taille = "taille:" + df["classe_taille"]
    df["cellule_secteur"] = np.where(
        df["nomenclature_secteur"] != "ensemble", secteur,
        np.where(df["classe_taille"] != "ensemble", taille, "ensemble"),
    )
    df["publication_prioritaire"] = (df["niveau"] == "departement") | (
        (df["niveau"] != "commune") & (df["cellule_secteur"] == "ensemble") & df["famille"].isin(_TOTAL_FAMILIES)
    )
    return df


def hierarchies(cells: pd.DataFrame, communes: pd.DataFrame, *, avec_territoires: bool) -> dict[str, list]:
    """The additive relations of one year × perimeter slice (see the comment above)."""
    levels = {n: c for n, c in NIVEAUX_GROUPES.items() if avec_territoires or n != "territoire"}
    territoire = conf.territory_groups(communes, levels)
    familles = sorted(set(cells["famille"]) - set(_TOTAL_FAMILIES))
    famille = [("ensemble", ["ess", "hors_ess"])] + ([("ess", familles)] if familles else [])
    secteur = []
    for prefix in ("a21:", "ess:", "taille:"):
        children = sorted(c for c in set(cells["cellule_secteur"]) if c.startswith(prefix))
        if children:
            secteur.append(("ensemble", children))
    return {"cellule_territoire": territoire, "famille": famille, "cellule_secteur": secteur}


def _commune_table(con) -> pd.DataFrame:
    communes = con.execute("SELECT * FROM out_cube_communes ORDER BY code_commune").df()
    dup = communes[communes["code_commune"].duplicated(keep=False)]
    if len(dup):
        raise RuntimeError(
            "the cube attaches a commune to two territories of the same level (core_etablissements disagrees with "
            f"staging_communes / staging_territoires), e.g. {dup.head(4).to_dict('records')}: fix the core step"
        )
    return communes


def _protect_slice(cells: pd.DataFrame, rel: dict, rules, employment: bool) -> tuple[pd.DataFrame, dict]:
    """Counts always; employment when the slice has it (the millésime year)."""
    stats: dict[str, Any] = {}
    counts = conf.protect(
        cells, dimensions=DIMENSIONS, value="nb_etablissements", contributors="nb_etablissements",
        hierarchies=rel, must_publish="publication_prioritaire", rules=rules,
        status_column="statut_secret_etablissements", mask_columns=COUNT_MASKED, **PUBLIC_READING,
    )
    _check_protection(counts, "nb_etablissements")
    stats["etablissements"] = counts.stats
    out = counts.cells
    if employment:
        emp = conf.protect(
            out, dimensions=DIMENSIONS, value="effectif_central", contributors="nb_contributeurs",
            max_contributor="effectif_max_unite_legale", hierarchies=rel, must_publish="publication_prioritaire",
            rules=rules, status_column="statut_secret_effectifs", mask_columns=EMPLOYMENT_MASKED, **PUBLIC_READING,
        )
        _check_protection(emp, "effectif_central")
        stats["effectifs"] = emp.stats
        out = emp.cells
    else:
        out["statut_secret_effectifs"] = None
    return out, stats


def _check_protection(result, measure: str) -> None:
    if result.stats["n_relations_non_additives"]:
        raise RuntimeError(
            f"{result.stats['n_relations_non_additives']} relations of {measure} do not add up in the cube: the "
            "cube or its relations are wrong (a bug), the public table is not written"
        )
    if result.audit is not None and result.audit.n_recoverable:
        raise RuntimeError(
            f"confidentiality audit: {result.audit.n_recoverable} suppressed {measure} cells can still be recomputed;"
            " the public table is not written"
        )


def _mask_shares(df: pd.DataFrame) -> pd.DataFrame:
    """A share is published when its cell and its 'ensemble' denominator are: else NULL with the reason."""
    key = ["annee", "perimetre", "niveau", "code_territoire", "nomenclature_secteur", "secteur", "classe_taille"]
    ens = df.loc[df["famille"] == "ensemble", key + ["statut_secret_etablissements", "statut_secret_effectifs"]]
    ens = ens.rename(columns={"statut_secret_etablissements": "_den_etab", "statut_secret_effectifs": "_den_eff"})
    df = df.merge(ens, on=key, how="left", validate="many_to_one")
    for own, den, status, shares in (
        ("statut_secret_etablissements", "_den_etab", "statut_secret_part_etablissements", SHARE_COUNT),
        ("statut_secret_effectifs", "_den_eff", "statut_secret_part_effectifs", SHARE_EMPLOYMENT),
    ):
        df[status] = df[own].where(df[own].notna(), df[den].where(df[den].isna(), "denominateur"))
        hidden = df[status].notna()
        for col in shares:
            df[col] = df[col].mask(hidden)
    return df.drop(columns=["_den_etab", "_den_eff"])


def protect_cube(con, params: dict, *, avec_territoires: bool, rules=None) -> tuple[pd.DataFrame, dict]:
    """The public cells of the run's perimeter, as a DataFrame with the columns of out_indicateurs_public."""
    perimetre = params["perimetre"]
    cube = con.execute(f"SELECT * FROM {CUBE} WHERE perimetre = ? ORDER BY ALL", [perimetre]).df()
    communes = _commune_table(con)
    annee = int(str(params["millesime"])[:4])
    rules = rules or conf.load_rules()
    parts, stats = [], {}
    detail_passe = bool(params.get("secret_passe_detail", False))
    for year, cells in _cell_codes(cube).groupby("annee", sort=True):
        # Communes are published as family totals only: commune × sector / size cells are mostly below the
        # frequency threshold, and protecting them would hide most of the table. They stay in the internal cube
        # and enter the protection as unknowns (PUBLIC_READING), so that sector detail of EPCI, territoires…
        # cannot be subtracted down to a commune.
        cells = cells[(cells["niveau"] != "commune") | (cells["cellule_secteur"] == "ensemble")]
        if int(year) not in (annee, params.get("annee_effectifs")) and not detail_passe:
            # Past years go public as territory × family totals only: their sector detail stays in the internal
            # cube (params["secret_passe_detail"] = True protects and publishes them all).
            cells = cells[cells["cellule_secteur"] == "ensemble"]
        cells = cells.reset_index(drop=True)
        rel = hierarchies(cells, communes, avec_territoires=avec_territoires)
        protected, year_stats = _protect_slice(cells, rel, rules,
                                               employment=bool(cells["effectif_central"].notna().any()))
        parts.append(protected)
        stats[str(int(year))] = year_stats
    public = pd.concat(parts, ignore_index=True) if parts else _cell_codes(cube).assign(
        statut_secret_etablissements=None, statut_secret_effectifs=None)
    public = _mask_shares(public)
    return public[cols.names(PUBLIC)], stats


def build_public(con, params: dict, *, avec_territoires: bool) -> dict[str, Any]:
    """Materialise out_indicateurs_public in `con` (after build_cube); returns the protection figures."""
    public, stats = protect_cube(con, params, avec_territoires=avec_territoires)
    casts = ", ".join(f"CAST({db.identifier(c.name)} AS {c.type}) AS {c.name}" for c in cols.columns(PUBLIC))
    con.register("_public_upload", public)
    try:
        con.execute(f"CREATE OR REPLACE TABLE {PUBLIC} AS SELECT {casts} FROM _public_upload")
    finally:
        con.unregister("_public_upload")
    summary = con.execute(
        f"""SELECT count(*), count(statut_secret_etablissements), count(statut_secret_effectifs)
            FROM {PUBLIC}"""
    ).fetchall()[0]
    return {"lignes": summary[0], "etablissements_masques": summary[1], "effectifs_masques": summary[2],
            "par_annee": stats}


def audit_public(con, *, avec_territoires: bool | None = None) -> dict[str, Any]:
    """Re-audit out_indicateurs_public (in `con`, with out_cube_communes): suppressed cells recomputable from the
    published ones, per year and measure. Every count must be 0."""
    public = con.execute(f"SELECT * FROM {PUBLIC} ORDER BY ALL").df()
    communes = _commune_table(con)
    if avec_territoires is None:
        avec_territoires = bool((public["niveau"] == "territoire").any())
    result: dict[str, Any] = {}
    for (year, perimetre), cells in _cell_codes(public).groupby(["annee", "perimetre"], sort=True):
        cells = cells.reset_index(drop=True)
        rel = hierarchies(cells, communes, avec_territoires=avec_territoires)
        for status in ("statut_secret_etablissements", "statut_secret_effectifs"):
            a = conf.audit(cells, dimensions=DIMENSIONS, hierarchies=rel, status_column=status, **PUBLIC_READING)
            result[f"{int(year)}/{perimetre}/{status}"] = a.to_dict()
    return result
