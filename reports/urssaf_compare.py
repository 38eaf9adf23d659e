"""The département's ESS against the rest of the private economy, from URSSAF's published ESS file (public figures:
no secrecy applies; a figure URSSAF did not publish stays missing, never 0).

URSSAF publishes per département, year and ESS family (associations, coopératives, fondations, mutuelles) and for
the rest of its field (« Hors ESS »): establishments, the year's average salaried headcount and the wage bill.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

FAMILIES = ("associations", "cooperatives", "fondations", "mutuelles")
MEASURES = ("nb_etablissements", "effectifs_salaries", "masse_salariale")


def yearly(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per year: ESS and rest-of-economy measures, ESS share of private employment, index base 100 of the
    first year with both published, average annual wage (wage bill / average headcount).

    The ESS total is URSSAF's own ESS row when the file has one, else the sum of the four families — only when
    all four are published that year (a sum over a missing family would understate it)."""
    columns = ["annee"] + [f"{m}_{c}" for c in ("ess", "hors_ess") for m in MEASURES] + [
        "part_ess_emploi_prive", "indice_ess", "indice_hors_ess", "salaire_moyen_ess", "salaire_moyen_hors_ess"]
    if rows is None or rows.empty:
        return pd.DataFrame(columns=columns)
    out = pd.DataFrame({"annee": sorted(rows["annee"].dropna().astype(int).unique())}).set_index("annee")
    for champ in ("ess", "hors_ess"):
        for measure in MEASURES:
            out[f"{measure}_{champ}"] = [_total(rows, int(y), champ, measure) for y in out.index]
    eff_ess, eff_hors = out["effectifs_salaries_ess"], out["effectifs_salaries_hors_ess"]
    out["part_ess_emploi_prive"] = eff_ess / (eff_ess + eff_hors)
    both = eff_ess.notna() & eff_hors.notna()
    if both.any():
        base = both.idxmax()
        out["indice_ess"] = 100 * eff_ess / eff_ess.at[base]
        out["indice_hors_ess"] = 100 * eff_hors / eff_hors.at[base]
    else:
        out["indice_ess"] = out["indice_hors_ess"] = np.nan
    out["salaire_moyen_ess"] = out["masse_salariale_ess"] / eff_ess.where(eff_ess > 0)
    out["salaire_moyen_hors_ess"] = out["masse_salariale_hors_ess"] / eff_hors.where(eff_hors > 0)
    return out.reset_index()[columns]


def _total(rows: pd.DataFrame, year: int, champ: str, measure: str) -> float:
    year_rows = rows[(rows["annee"] == year) & (rows["champ_ess"] == champ)]
    own = year_rows[year_rows["famille_ess"] == champ]
    if len(own):
        value = own[measure].iloc[0]
        return float(value) if pd.notna(value) else np.nan
    if champ != "ess":
        return np.nan
    values = [year_rows.loc[year_rows["famille_ess"] == f, measure] for f in FAMILIES]
    if any(len(v) == 0 or v.isna().any() for v in values):
        return np.nan
    return float(sum(v.iloc[0] for v in values))


def base_year(frame: pd.DataFrame) -> int | None:
    """The year the indices equal 100."""
    rows = frame[np.isclose(frame["indice_ess"].astype(float), 100.0)]
    return int(rows["annee"].iloc[0]) if len(rows) else None
