"""Read the report's input tables and cut the public cube into the series the charts draw.

Only the protected cube (out_indicateurs_public) feeds figures about establishments and employment. Every status
column holds a code on every row (sql/dictionnaire/colonnes.csv); a value whose status is not « publie » is replaced
by NaN here, whatever the file holds, so no chart can draw it (let alone as 0). The charts read a status as a reason
(`reasons`): the code of a withheld figure travels with the value so the chart can say « s » and why; a figure
shown or that does not exist has none.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from ess.errors import UserError
from transforms import columns as cols

PUBLIC = "out_indicateurs_public"
CALIBRATION = "core_calibration"
AUDIT = "out_audit_perimetre"
ESTABLISHMENTS = "core_etablissements"
URSSAF = "staging_urssaf_ess_departement"
URSSAF_COMPARISON = "staging_urssaf_ess_comparaison"
URSSAF_COMPARISON_COLUMNS = ["annee", "niveau", "code_territoire", "libelle_territoire", "nb_departements",
                             "nb_departements_reference", "effectifs_ess", "masse_salariale_ess",
                             "effectifs_hors_ess", "masse_salariale_hors_ess"]
REQUIRED = (PUBLIC,)
# Status codes of the public table (transforms/outputs.py): PUBLIE where the figure is shown; NO_FIGURE where
# none exists (nothing is withheld, a chart says « non disponible »); any other code withholds a figure that exists
# (a secret, « non_diffuse », « denominateur »).
PUBLIE = cols.PUBLIE
NO_FIGURE = (cols.NON_MESURE, cols.DENOMINATEUR_NUL)
# which secret status governs which measure
STATUS_OF = {
    "nb_etablissements": "statut_secret_etablissements",
    "nb_etablissements_employeurs": "statut_secret_etablissements",
    "etablissements_pour_1000_hab": "statut_secret_etablissements",
    "effectif_central": "statut_secret_effectifs",
    "effectif_ic90_bas": "statut_secret_effectifs",
    "effectif_ic90_haut": "statut_secret_effectifs",
    "effectif_pour_1000_hab": "statut_secret_effectifs",
    "part_ess_etablissements_employeurs": "statut_secret_part_etablissements",
    **{f"part_effectif_total_{p}": "statut_secret_part_effectifs" for p in ("central", "ic90_bas", "ic90_haut")},
    **{f"part_effectif_prive_{p}": "statut_secret_part_effectifs_prive" for p in ("central", "ic90_bas", "ic90_haut")},
}
# the 90 % interval of a measure
RANGE_OF = {
    "effectif_central": ("effectif_ic90_bas", "effectif_ic90_haut"),
    "part_effectif_total_central": ("part_effectif_total_ic90_bas", "part_effectif_total_ic90_haut"),
    "part_effectif_prive_central": ("part_effectif_prive_ic90_bas", "part_effectif_prive_ic90_haut"),
}
# the date a measure describes: employment on 31 December of its row's year, counts at date_reference_etablissements
DATE_OF = {m: ("date_reference_effectifs" if "effectif" in m else "date_reference_etablissements")
           for m in STATUS_OF}


def withheld(status) -> bool:
    """The status of a figure that exists but is not shown: a secret, « non_diffuse » or « denominateur »."""
    return isinstance(status, str) and status != PUBLIE and status not in NO_FIGURE


def reasons(status):
    """A status Series or DataFrame as the charts read it: the code where a figure is withheld, else NaN."""
    return status.where(status.map(withheld))


def is_synthetic(path: Path) -> bool:
    """The Parquet file says it was built from the synthetic sample (key-value metadata ess:synthetic)."""
    meta = pq.read_schema(path).metadata or {}
    return meta.get(b"ess:synthetic", b"").decode().lower() == "true"


def read_table(tables: dict[str, Path], name: str, required: list[str] | None = None) -> pd.DataFrame | None:
    """A table as a DataFrame (None when not given); a missing column is a clear error naming the file."""
    path = _table_path(tables, name)
    if path is None:
        return None
    frame = pd.read_parquet(path)
    _require(path, name, required or [], frame.columns)
    return frame


def _table_path(tables: dict[str, Path], name: str) -> Path | None:
    if name not in tables:
        return None
    path = Path(tables[name])
    if not path.exists():
        raise UserError(f"table {name}: file {path} does not exist; rerun the step that writes it")
    return path


def _require(path: Path, name: str, required: list[str], present) -> None:
    missing = [c for c in required if c not in present]
    if missing:
        raise UserError(f"{path}: columns {missing} are missing from {name}; rebuild it with this version of the "
                        "pipeline (see docs/CONTRIBUTING.md for its columns)")


def band_years(tables: dict[str, Path], perimetre: str) -> pd.Series | None:
    """How many ESS employers of the millésime (perimeter `perimetre`) hold a SIRENE size band of each year: the
    band decides who is an employer and the size class, and INSEE updates it years late. None without
    core_etablissements."""
    from ess import db

    path = _table_path(tables, ESTABLISHMENTS)
    if path is None:
        return None
    _require(path, ESTABLISHMENTS, ["actif", "employeur", "perimetres_inclus", "annee_effectifs"],
             pq.read_schema(path).names)
    con = db.connect()
    try:
        rows = con.execute("SELECT annee_effectifs, count(*) FROM read_parquet(?) WHERE actif AND employeur "
                           "AND list_contains(perimetres_inclus, ?) AND annee_effectifs IS NOT NULL "
                           "GROUP BY 1 ORDER BY 1", [str(path), perimetre]).fetchall()
    finally:
        con.close()
    return pd.Series({int(y): int(n) for y, n in rows}, dtype="int64")


def load_public(tables: dict[str, Path], params: dict) -> pd.DataFrame:
    """The public cube of the run's département and perimeter, secret values blanked."""
    if PUBLIC not in tables:
        raise UserError(f"the report needs the table {PUBLIC} (the protected cube); given {sorted(tables)}")
    cube = read_table(tables, PUBLIC, cols.names(PUBLIC))
    cube = cube[cube["perimetre"] == params["perimetre"]].copy()
    if cube.empty:
        raise UserError(f"{tables[PUBLIC]}: no row for perimeter {params['perimetre']!r}; run the pipeline with "
                        "this perimeter or choose one present in the table")
    for measure, status in STATUS_OF.items():
        cube[measure] = cube[measure].astype(float).where(cube[status] == PUBLIE)
    return cube


def employment_year(cube: pd.DataFrame) -> int | None:
    """The latest year whose rows carry employment (measured on 31 December of that year)."""
    years = cube.loc[cube["date_reference_effectifs"].notna(), "annee"]
    return int(years.max()) if len(years) else None


def current_year(cube: pd.DataFrame, params: dict) -> int:
    year = int(str(params["millesime"])[:4])
    if not (cube["annee"] == year).any():
        raise UserError(f"the public cube has no row for the millésime year {year} (years: "
                        f"{sorted(cube['annee'].unique().tolist())})")
    return year


def cells(cube: pd.DataFrame, *, annee: int | None = None, niveau: str = "departement", famille=None,
          nomenclature: str = "ensemble", secteur: str | None = "ensemble",
          classe: str | None = "ensemble") -> pd.DataFrame:
    """Rows of the cube at one cut (None leaves a dimension free)."""
    mask = (cube["niveau"] == niveau) & (cube["nomenclature_secteur"] == nomenclature)
    if annee is not None:
        mask &= cube["annee"] == annee
    if famille is not None:
        mask &= cube["famille"].isin([famille] if isinstance(famille, str) else list(famille))
    if secteur is not None:
        mask &= cube["secteur"] == secteur
    if classe is not None:
        mask &= cube["classe_taille"] == classe
    return cube[mask]


def series(rows: pd.DataFrame, measure: str, label_column: str, labels=None,
           code_column: str | None = None) -> pd.DataFrame:
    """One chart series: etiquette, code, valeur, bas, haut, statut (the code of a withheld value, else NULL),
    disponible.

    `disponible` is false when the value is NULL without being withheld (e.g. employment of a past year)."""
    status = (reasons(rows[STATUS_OF[measure]]) if measure in STATUS_OF
              else pd.Series(None, index=rows.index, dtype=object))
    low, high = RANGE_OF.get(measure, (None, None))
    date = DATE_OF.get(measure)
    out = pd.DataFrame({
        "code": rows[code_column or label_column].astype(str).to_numpy(),
        "etiquette": [labels(v) if labels else v for v in rows[label_column]],
        "valeur": rows[measure].astype(float).to_numpy(),
        "bas": rows[low].astype(float).to_numpy() if low else np.nan,
        "haut": rows[high].astype(float).to_numpy() if high else np.nan,
        "statut": status.to_numpy(dtype=object),
        # what the value measures and when: readers of the chart's CSV see it on every row
        "mesure": measure,
        "date_reference": [pd.Timestamp(d).date().isoformat() if pd.notna(d) else None
                           for d in (rows[date] if date in rows.columns else [None] * len(rows))],
    })
    out["statut"] = out["statut"].where(out["statut"].notna(), None)
    out["disponible"] = out["statut"].isna() & out["valeur"].notna()
    return out.reset_index(drop=True)


def headline(cube: pd.DataFrame, year: int) -> dict[str, pd.Series | None]:
    """Département rows (all sectors, all sizes) of the ESS, the whole economy; None when absent."""
    dep = cells(cube, annee=year)
    out = {}
    for famille in ("ess", "ensemble", "hors_ess"):
        row = dep[dep["famille"] == famille]
        out[famille] = row.iloc[0] if len(row) else None
    return out


def urssaf_series(frame: pd.DataFrame | None, departement: str) -> pd.DataFrame:
    """URSSAF ESS employment by family and year (official published figures): annee × famille."""
    if frame is None or frame.empty:
        return pd.DataFrame()
    rows = frame[(frame["code_departement"].astype(str) == str(departement)) & (frame["champ_ess"] == "ess")]
    if rows.empty:
        return pd.DataFrame()
    # pivot, not pivot_table: a sum would turn an unpublished (NULL) figure into 0; staging keeps one row per
    # (annee, champ, famille)
    return rows.pivot(index="annee", columns="famille_ess", values="effectifs_salaries").sort_index()


def urssaf_rows(frame: pd.DataFrame | None, departement: str) -> pd.DataFrame:
    """URSSAF's published ESS rows of the département (annee, champ_ess, famille_ess and the three measures, NULL
    where the file publishes nothing; masse_salariale and nb_etablissements NULL when the file lacks them)."""
    columns = ["annee", "champ_ess", "famille_ess", "nb_etablissements", "effectifs_salaries", "masse_salariale"]
    if frame is None or frame.empty:
        return pd.DataFrame(columns=columns)
    rows = frame[frame["code_departement"].astype(str) == str(departement)].copy()
    for column in columns:
        if column not in rows.columns:
            rows[column] = np.nan
    return rows[columns].sort_values(["annee", "champ_ess", "famille_ess"]).reset_index(drop=True)


def largest_first(data: pd.DataFrame) -> pd.DataFrame:
    """Bars sorted by value, largest on top; masked and not-published values then « unknown » rows last (in
    their given order), so a suppressed cell is never placed where its value would rank."""
    data = data.reset_index(drop=True)
    unknown = data["code"].isin(["non_renseigne"])
    rank = pd.DataFrame({"unknown": unknown, "hidden": ~data["disponible"],
                         "value": -data["valeur"].fillna(0.0), "pos": range(len(data))})
    order = rank.sort_values(["unknown", "hidden", "value", "pos"]).index
    return data.loc[order].reset_index(drop=True)
