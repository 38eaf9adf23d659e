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
# the figures of a row of `territories`
MEASURE_COLUMNS = ["part_ess_emploi_prive", "evolution_ess", "evolution_hors_ess", "salaire_moyen_ess",
                   "salaire_moyen_hors_ess"]


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


def territories(frame: pd.DataFrame | None) -> tuple[pd.DataFrame, int | None, int | None]:
    """The département beside its région and France (staging_urssaf_ess_comparaison): one row per niveau with
    its label (saying how many départements the file covers), the ESS share of private employment and the average
    wages of the last year, and the change of ESS and rest-of-economy employment since the first year the
    département has both. A région or France the file does not hold whole has no figures (NaN: « n.d. »), and a
    row covering the same départements as one above (a région of one département) is left out. Returns (rows,
    first year, last year)."""
    columns = ["niveau", "libelle", *MEASURE_COLUMNS]
    if frame is None or frame.empty:
        return pd.DataFrame(columns=columns), None, None
    dep = frame[(frame["niveau"] == "departement") & frame["effectifs_ess"].notna()
                & frame["effectifs_hors_ess"].notna()]
    if dep.empty:
        return pd.DataFrame(columns=columns), None, None
    first, last = int(dep["annee"].min()), int(dep["annee"].max())
    rows, covered = [], set()
    for niveau in ("departement", "region", "france"):
        at = frame[frame["niveau"] == niveau].set_index("annee")
        if last not in at.index:
            continue
        end = at.loc[last]
        row = {"niveau": niveau, "libelle": _label(niveau, end)}
        if niveau == "departement" or _complete(niveau, end):
            if int(end["nb_departements"]) in covered:  # the same départements as a row above: the same figures
                continue
            covered.add(int(end["nb_departements"]))
            row.update(_measures(at.loc[first] if first in at.index else None, end))
        rows.append(row)
    return pd.DataFrame(rows, columns=columns), first, last


def _complete(niveau: str, row: pd.Series) -> bool:
    """The file holds every département of the région (of France but Mayotte, which URSSAF does not cover): a
    sum over part of them is a partial total, not the région's nor France's (« n.d. »)."""
    have, expected = int(row["nb_departements"]), int(row["nb_departements_reference"])
    return have >= (expected - 1 if niveau == "france" else expected)


def _measures(start: pd.Series | None, end: pd.Series) -> dict:
    def change(column: str) -> float:
        if start is None or pd.isna(start[column]) or not start[column] or pd.isna(end[column]):
            return np.nan
        return float(end[column] / start[column] - 1)

    ess, hors = end["effectifs_ess"], end["effectifs_hors_ess"]
    return {
        "part_ess_emploi_prive": ess / (ess + hors) if pd.notna(ess) and pd.notna(hors) else np.nan,
        "evolution_ess": change("effectifs_ess"), "evolution_hors_ess": change("effectifs_hors_ess"),
        "salaire_moyen_ess": end["masse_salariale_ess"] / ess if pd.notna(ess) and ess else np.nan,
        "salaire_moyen_hors_ess": end["masse_salariale_hors_ess"] / hors if pd.notna(hors) and hors else np.nan,
    }


def _label(niveau: str, row: pd.Series) -> str:
    """The territory's name; when the file does not hold all its départements, that its total is not computed (and
    how many it holds): a sum over part of a région or of France is not called by their name."""
    name = row["libelle_territoire"] if isinstance(row["libelle_territoire"], str) else row["code_territoire"]
    have, expected = int(row["nb_departements"]), int(row["nb_departements_reference"])
    if niveau == "departement":
        return str(name)
    name = f"Région {name}" if niveau == "region" else "France"
    if not _complete(niveau, row):
        return f"{name} : n.d. (fichier URSSAF incomplet, {have} départements sur {expected})"
    return name + (" (hors Mayotte)" if have < expected else "")
