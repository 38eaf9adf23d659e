"""Calibrate the central employment of SIRENE establishments on URSSAF's official figures, within their size bands.

SIRENE gives each establishment a size band, i.e. an interval [bas, haut] and a central value. URSSAF publishes
the département's ESS employment by family and all private employment (régime général) by commune × APE. For each
group of establishments with a target, the central values are multiplied by one factor so that the group's total
matches the target; a value pushed outside its interval is set to the bound, and what the bound removed is spread
again over the others (iterating) until the total matches — or every value sits at a bound, in which case the target
is unreachable and said so.

Groups (the run's perimeter decides what is ESS):
- each ESS family of the perimeter with a URSSAF target (associations, coopératives, mutuelles, fondations);
- `reste_economie`: every other active establishment of the URSSAF field (outside the perimeter, and perimeter
  families without a URSSAF target — autres organismes, sociétés commerciales de l'ESS), aimed at URSSAF's private
  total (commune × APE) minus the family targets.
Establishments outside the URSSAF field (public law, agriculture under the MSA… : ref_champ_urssaf) and closed ones
keep their raw central value.

The year: the band year most active employer establishments carry (that is what the central values describe), if
URSSAF has it; else the run's `annee_urssaf`; else the latest URSSAF year before it, else the latest.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from ess import db

FAMILLES_CIBLES = ("associations", "cooperatives", "mutuelles", "fondations")
RESTE = "reste_economie"
TOLERANCE = 1e-6  # salariés: a target is met when the total is this close


@dataclass
class GroupResult:
    values: np.ndarray
    statut: str  # calibre | cible_inatteignable_haut | cible_inatteignable_bas | cible_non_atteinte | sans_cible
    facteur: float | None  # factor applied to the values left inside their interval
    iterations: int
    borne_basse: np.ndarray  # bool: value moved to its lower bound
    borne_haute: np.ndarray


def calibrate_group(central, low, high, target: float | None) -> GroupResult:
    """Scale `central` so that it sums to `target`, each value clipped to [low, high] (see module doc)."""
    central = np.asarray(central, dtype=float)
    low = np.asarray(low, dtype=float)
    high = np.asarray(high, dtype=float)
    if np.any(low > central + TOLERANCE) or np.any(central > high + TOLERANCE):
        raise ValueError("every central value must lie within its [low, high] interval")
    none = np.zeros(len(central), dtype=bool)
    if target is None or not np.isfinite(target):
        return GroupResult(central.copy(), "sans_cible", None, 0, none, none.copy())
    movable = high > low
    if target > high.sum() + TOLERANCE:
        return GroupResult(high.copy(), "cible_inatteignable_haut", None, 0, none, movable.copy())
    if target < low.sum() - TOLERANCE:
        return GroupResult(low.copy(), "cible_inatteignable_bas", None, 0, movable.copy(), none.copy())

    values = central.copy()
    fixed = ~movable  # degenerate intervals ([0, 0] for NN, 00…) cannot move
    at_low, at_high = none.copy(), none.copy()
    factor, iterations = None, 0
    while True:
        iterations += 1
        free = np.flatnonzero(~fixed)
        residual = target - values[fixed].sum()
        base = central[free].sum()
        if free.size == 0 or base <= 0:
            break
        factor = residual / base
        trial = factor * central[free]
        over, under = trial > high[free], trial < low[free]
        if not over.any() and not under.any():
            values[free] = trial
            break
        # one factor moves every value the same way: only one of the two bounds is hit in a pass
        for mask, bound, flag in ((over, high, at_high), (under, low, at_low)):
            idx = free[mask]
            values[idx] = bound[idx]
            fixed[idx] = True
            flag[idx] = True
    statut = "calibre" if abs(values.sum() - target) <= TOLERANCE * max(1.0, abs(target)) else "cible_non_atteinte"
    return GroupResult(values, statut, factor, iterations, at_low, at_high)


def choose_year(modal_year: int | None, target_years: set[int], annee_urssaf: int | None) -> tuple[int | None, str]:
    """The URSSAF year to calibrate on, and why."""
    if not target_years:
        return None, "aucune_donnee_urssaf"
    if modal_year is not None and modal_year in target_years:
        return modal_year, "annee_modale_des_tranches"
    if annee_urssaf is not None and int(annee_urssaf) in target_years:
        return int(annee_urssaf), "annee_urssaf_du_run"
    if modal_year is not None and any(y <= modal_year for y in target_years):
        return max(y for y in target_years if y <= modal_year), "derniere_annee_urssaf_avant_annee_modale"
    return max(target_years), "derniere_annee_urssaf"


def _years_text(years) -> str:
    """'2023:120;2022:15' — band years of a group's employers, most frequent first."""
    counts = Counter(int(y) for y in years if y is not None and not np.isnan(y))
    return ";".join(f"{y}:{n}" for y, n in sorted(counts.items(), key=lambda kv: (-kv[1], -kv[0])))


def calibrate(con, params: dict) -> dict:
    """Build `core_effectifs_calibres` (siret → calibrated central value) and `core_calibration` (one row per family
    and group) from `core_etablissements_prep` and `core_cibles_urssaf`. Returns the run's calibration figures."""
    perimetre = params["perimetre"]
    # NULLs are turned into plain values in SQL so that numpy gets ordinary arrays
    units = con.execute(
        """SELECT siret, coalesce(actif, FALSE) AS actif, coalesce(champ_urssaf, FALSE) AS champ,
                  coalesce(employeur, FALSE) AS employeur,
                  CASE WHEN dans_perimetre THEN coalesce(famille_ess, '') ELSE '' END AS famille,
                  coalesce(annee_effectifs, -1) AS annee,
                  effectif_bas, effectif_haut, effectif_central_brut
           FROM core_etablissements_prep"""
    ).fetchnumpy()
    n = len(units["siret"])
    actif = np.asarray(units["actif"], dtype=bool)
    champ = np.asarray(units["champ"], dtype=bool)
    employeur = np.asarray(units["employeur"], dtype=bool)
    famille = np.array([f or None for f in units["famille"]], dtype=object)
    annee = np.where(np.asarray(units["annee"]) < 0, np.nan, np.asarray(units["annee"], dtype=float))
    low = np.asarray(units["effectif_bas"], dtype=float)
    high = np.asarray(units["effectif_haut"], dtype=float)
    central = np.asarray(units["effectif_central_brut"], dtype=float)
    eligible = actif & champ

    years = annee[eligible & employeur & ~np.isnan(annee)]
    modal = int(Counter(years.astype(int)).most_common(1)[0][0]) if years.size else None
    targets = {(int(a), c): v for a, c, v in con.execute(
        "SELECT annee, cible, effectif FROM core_cibles_urssaf WHERE effectif IS NOT NULL").fetchall()}
    family_years = {a for a, c in targets if c in FAMILLES_CIBLES}
    year, why = choose_year(modal, family_years, params.get("annee_urssaf"))

    # groups: a targeted family of the perimeter, or the rest of the URSSAF field
    targeted = {f for f in FAMILLES_CIBLES if (year, f) in targets}
    groups = np.array([f if f in targeted else RESTE for f in famille], dtype=object)
    family_sum = sum(targets[(year, f)] for f in targeted)
    ensemble = targets.get((year, "ensemble_prive"))
    group_targets = {f: targets[(year, f)] for f in targeted}
    group_targets[RESTE] = None if ensemble is None else ensemble - family_sum

    calibrated = central.copy()
    statut_unit = np.where(~actif, "inactif", np.where(~champ, "hors_champ_urssaf", "")).astype(object)
    rows, results = [], {}
    for group, target in group_targets.items():
        mask = eligible & (groups == group)
        res = calibrate_group(central[mask], low[mask], high[mask], target)
        calibrated[mask] = res.values
        unit_status = np.full(mask.sum(), res.statut, dtype=object)
        unit_status[res.borne_basse] = "borne_basse"
        unit_status[res.borne_haute] = "borne_haute"
        statut_unit[mask] = unit_status
        results[group] = res

    group_of = np.where(eligible, groups, None)
    upload = pa.table({
        "siret": pa.array(list(units["siret"]), pa.string()),
        "effectif_central": pa.array(calibrated, pa.float64()),
        "groupe_calibration": pa.array(list(group_of), pa.string()),
        "statut_calibration": pa.array(list(statut_unit), pa.string()),
    })
    con.register("_calibres", upload)
    con.execute("CREATE OR REPLACE TABLE core_effectifs_calibres AS SELECT * FROM _calibres")
    con.unregister("_calibres")

    def totals(mask) -> dict:
        return {
            "nb_etablissements": int(mask.sum()),
            "nb_etablissements_employeurs": int((mask & employeur).sum()),
            "total_bas": float(low[mask].sum()),
            "total_brut": float(central[mask].sum()),
            "total_haut": float(high[mask].sum()),
            "total_calibre": float(calibrated[mask].sum()),
            "nb_borne_basse": int((mask & (statut_unit == "borne_basse")).sum()),
            "nb_borne_haute": int((mask & (statut_unit == "borne_haute")).sum()),
            "annees_effectifs": _years_text(annee[mask & employeur]),
        }

    common = {"perimetre": perimetre, "annee_cible": year, "choix_annee": why, "annee_effectifs_modale": modal}
    # one row per family of the perimeter (and hors_ess), each with its group's target and factor
    labels = np.array([f if f is not None else "hors_ess" for f in famille], dtype=object)
    for label in sorted(set(labels[eligible]) | targeted):
        mask = eligible & (labels == label)
        group = label if label in targeted else RESTE
        res = results[group]
        own = group_targets[label] if label in targeted else None
        rows.append({**common, "famille": label, "groupe_calibration": group,
                     "source_cible": ("urssaf_ess_departement" if label in targeted
                                      else "urssaf_commune_ape_moins_familles"),
                     "cible_urssaf": own, "cible_groupe": group_targets[group], "facteur": res.facteur,
                     "iterations": res.iterations, "statut": res.statut, **totals(mask)})
    mask = actif & ~champ
    rows.append({**common, "famille": "hors_champ_urssaf", "groupe_calibration": None, "source_cible": None,
                 "cible_urssaf": None, "cible_groupe": None, "facteur": None, "iterations": 0,
                 "statut": "non_calibre", **totals(mask)})
    statuts = {r.statut for r in results.values()}
    rows.append({**common, "famille": "ensemble", "groupe_calibration": None, "source_cible": "urssaf_commune_ape",
                 "cible_urssaf": ensemble, "cible_groupe": ensemble, "facteur": None,
                 "iterations": max((r.iterations for r in results.values()), default=0),
                 "statut": "calibre" if statuts == {"calibre"} else "partiel", **totals(eligible)})
    for r in rows:
        r["facteur_global"] = r["total_calibre"] / r["total_brut"] if r["total_brut"] else None
        r["ecart_brut_cible"] = None if r["cible_urssaf"] is None else r["total_brut"] - r["cible_urssaf"]
    _write_calibration(con, rows)

    return {
        "annee_calage": year,
        "choix_annee": why,
        "annee_effectifs_modale": modal,
        "groupes": {g: {"cible": _plain(group_targets[g]), "statut": r.statut, "facteur": _plain(r.facteur),
                        "iterations": r.iterations} for g, r in results.items()},
        "etablissements": n,
    }


def _plain(x):
    """numpy scalars → Python numbers, so that the step's figures serialise to JSON as they are."""
    return None if x is None else float(x)


_CALIBRATION_COLUMNS = [
    ("perimetre", pa.string()), ("famille", pa.string()), ("groupe_calibration", pa.string()),
    ("annee_cible", pa.int32()), ("choix_annee", pa.string()), ("annee_effectifs_modale", pa.int32()),
    ("annees_effectifs", pa.string()), ("source_cible", pa.string()), ("cible_urssaf", pa.float64()),
    ("cible_groupe", pa.float64()), ("nb_etablissements", pa.int64()), ("nb_etablissements_employeurs", pa.int64()),
    ("total_bas", pa.float64()), ("total_brut", pa.float64()), ("total_haut", pa.float64()),
    ("facteur", pa.float64()), ("total_calibre", pa.float64()), ("facteur_global", pa.float64()),
    ("ecart_brut_cible", pa.float64()), ("nb_borne_basse", pa.int64()), ("nb_borne_haute", pa.int64()),
    ("iterations", pa.int32()), ("statut", pa.string()),
]


def _write_calibration(con, rows: list[dict]) -> None:
    table = pa.table({name: pa.array([r[name] for r in rows], type) for name, type in _CALIBRATION_COLUMNS})
    con.register("_calibration", table)
    con.execute(f"CREATE OR REPLACE TABLE {db.identifier('core_calibration')} AS SELECT * FROM _calibration")
    con.unregister("_calibration")
