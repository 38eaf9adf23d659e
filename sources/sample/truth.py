"""The ground truth: the TRUE employment of every establishment, year by year, and true totals for URSSAF_YEAR.

The pipeline never reads these files; tests and benchmarks compare its estimates with them. Membership (ESS family,
perimeters, URSSAF field) is decided here with the generator's own rules (reference.Rules, from model.py) on the
establishment's true situation of the year — its activity as it was then, and whether its legal unit was of the ESS
as its flag says (ess_since: not the date SIRENE recorded the flag) — not with the pipeline's reference tables.

Employment comes in the two definitions of URSSAF's files: the headcount at 31 December (commune × APE file) and
the annual average of quarterly headcounts (ESS file): within a year the headcount moves linearly from one
31 December to the next, with a seasonal profile of the activity, and counts only while the establishment exists.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from sources.sample import model as m
from sources.sample.employment import YEARS
from sources.sample.generator_reference import Rules
from sources.sample.sirene_tables import SireneTables
from sources.sample.world import World, isin

FAMILIES = ("associations", "cooperatives", "mutuelles", "fondations", "autres_organismes",
            "societes_commerciales_ess")
# The perimeters the generator knows (its own definitions, model.py), named as in data/reference/perimetres.csv: a
# truth row lists those it is in (`perimetres`), as the pipeline's core tables do (perimetres_inclus).
PERIMETRES = ("flag", "insee", "loi2014")
# Quarterly headcount relative to the trend between two 31 December (mid-quarter), by NAF division: seasonal
# activities employ more in summer (tourism, leisure) or less (schools), shops more at year end.
SEASONS = {"55": (0.96, 1.06, 1.13, 1.01), "56": (0.97, 1.04, 1.08, 1.0), "85": (1.0, 1.0, 0.92, 1.0),
           "93": (0.97, 1.06, 1.06, 1.0), "47": (0.98, 0.99, 1.0, 1.02), "01": (0.9, 1.1, 1.2, 1.0),
           "88": (1.0, 1.0, 0.97, 1.0), "79": (0.95, 1.05, 1.1, 1.0)}
DEFAULT_SEASON = (0.99, 1.0, 1.0, 1.0)
QUARTER_MIDDLES = (0.125, 0.375, 0.625, 0.875)


@dataclass
class Timeline:
    """Each world establishment's truth, year by year (columns: `years`)."""

    years: np.ndarray
    headcount: np.ndarray  # (E, ny) at 31 December
    average: np.ndarray  # (E, ny) annual average of quarterly headcounts
    quarters: np.ndarray  # (E, ny) share of the year's quarters with employees (URSSAF's establishment count)
    alive_end: np.ndarray  # (E, ny) open on 31 December
    changed: np.ndarray  # (E, ny) the establishment's activity change has happened by 31 December
    flagged: np.ndarray  # (E, ny) the unit was of the ESS as its flag says by 31 December (ess_since)
    activity: tuple[np.ndarray, np.ndarray]  # activity before and after the change
    variants: dict  # (changed, flagged) -> membership(...) arrays

    def member(self, j: int, key: str) -> np.ndarray:
        c, f = self.changed[:, j], self.flagged[:, j]
        out = self.variants[(False, False)][key].copy()
        for (vc, vf), d in self.variants.items():
            mask = (c == vc) & (f == vf)
            out[mask] = d[key][mask]
        return out

    def activite(self, j: int) -> np.ndarray:
        return np.where(self.changed[:, j], self.activity[1], self.activity[0]).astype(object)


# The law of 31 July 2014 made commercial companies of the ESS (ESUS approval); SCOP conversions also turn a company
# into one. Share of the flagged commercial companies created before it that became of the ESS later.
LOI_ESS = np.datetime64("2014-07-31")
ESS_LATER_SHARE = 0.5


def ess_since(world: World, tables: SireneTables, rng: np.random.Generator) -> np.ndarray:
    """The day each legal unit became of the ESS as its flag says (NaT: since its creation) — NOT the day SIRENE
    recorded the flag (tables.date_ess_flag_unite, 2018 or later), which is all the pipeline sees: it gives a past
    year the first flag recorded after it. Units of an ESS legal form are of the ESS from their creation; some
    commercial companies created before the 2014 law became so between the law and the recording of their flag (or
    their closure), and the pipeline counts them too early. Drawn from its own generator: the files do not change."""
    units = world.units
    n = len(units)
    pick, when = rng.random(n), rng.random(n)
    created = units["created"].to_numpy().astype("datetime64[D]")
    closure = units["closure"].to_numpy().astype("datetime64[D]")
    recorded = tables.date_ess_flag_unite
    end = np.where(np.isnat(closure), m.MILLESIME_END, closure)
    end = np.where(np.isnat(recorded), end, np.minimum(recorded, end))
    later = units["ess_company"].to_numpy() & (created < LOI_ESS) & (pick < ESS_LATER_SHARE)
    span = np.maximum((end - LOI_ESS).astype(np.int64), 0)
    start = LOI_ESS + np.floor(when * (span + 1)).astype(np.int64) * np.timedelta64(1, "D")
    return np.where(later, start, np.datetime64("NaT", "D"))


def build_timeline(world: World, tables: SireneTables, rules: Rules, years: np.ndarray,
                   rng: np.random.Generator, exception_draw: np.ndarray | None = None) -> Timeline:
    """`exception_draw`: one uniform number per legal unit (its own random stream) deciding which units of the
    forms and activities of rules.urssaf_field_exceptions are under the MSA; None: no exception (the field is the
    rule)."""
    e = world.etabs
    ends = np.array([np.datetime64(f"{int(y)}-12-31") for y in years])
    cols = np.searchsorted(YEARS, years)
    h = world.headcounts[:, cols]
    created = e["created"].to_numpy().astype("datetime64[D]")
    closure = e["closure"].to_numpy().astype("datetime64[D]")
    alive = (created[:, None] <= ends[None, :]) & (np.isnat(closure)[:, None] | (closure[:, None] > ends[None, :]))
    change = tables.date_changement_activite
    changed = np.isnat(change)[:, None] | (ends[None, :] >= change[:, None])
    since = ess_since(world, tables, rng)[e["unit"].to_numpy()]
    flagged = np.isnat(since)[:, None] | (ends[None, :] >= since[:, None])
    current = e["naf"].to_numpy().astype(object)
    before = np.where(np.isnat(change), current, tables.activite_avant).astype(object)
    cj = e["cj"].to_numpy()
    flag = tables.ess_flag_unite[e["unit"].to_numpy()]
    none = np.full(len(e), None, dtype=object)
    draw = None if exception_draw is None else np.asarray(exception_draw)[e["unit"].to_numpy()]
    variants = {(c, f): membership(cj, current if c else before, flag if f else none, rules, draw)
                for c in (False, True) for f in (False, True)}
    average, quarters = _annual_averages(world, years)
    return Timeline(years=years, headcount=h, average=average, quarters=quarters, alive_end=alive, changed=changed,
                    flagged=flagged, activity=(before, current), variants=variants)


def membership(cj: np.ndarray, naf: np.ndarray, flag: np.ndarray, rules: Rules,
               draw: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """ESS family, excluded activity, perimeters and URSSAF field from legal form, activity and ESS flag.

    `champ_urssaf` is the field as it is: the rule's (legal form, activity division) minus the exceptions the
    rule does not see (`exception_champ_urssaf`: units under the MSA although the rule puts them in the field,
    rules.urssaf_field_exceptions, decided by each establishment's unit's `draw`)."""
    naf = naf.astype(str)
    famille = pd.Series(cj).map(rules.famille_of_cj).to_numpy(dtype=object)
    famille[pd.isna(famille) & (flag == "O")] = "societes_commerciales_ess"
    excluded = _startswith(naf, rules.excluded_naf_prefixes)
    insee = isin(cj, list(rules.included_cj)) & ~excluded
    loi2014 = insee | ((flag == "O") & ~isin(cj, list(rules.included_cj)) & ~excluded)
    flagged = flag == "O"  # the SIRENE flag alone, whatever the form, no exclusion
    urssaf = (~_startswith(cj.astype(str), rules.urssaf_excluded_cj_prefixes)
              & ~isin(cj, list(rules.urssaf_excluded_cj))
              & ~_startswith(naf, rules.urssaf_excluded_naf_divisions))
    exception = np.zeros(naf.size, bool)
    if draw is not None:
        for cj_prefixes, naf_prefixes, share in rules.urssaf_field_exceptions:
            exception |= (_startswith(cj.astype(str), tuple(cj_prefixes)) & _startswith(naf, tuple(naf_prefixes))
                          & (draw < share))
    exception &= urssaf
    inside = dict(zip(PERIMETRES, (flagged, insee, loi2014)))
    perimetres = pd.Series([[p for p, yes in zip(PERIMETRES, row) if yes]
                            for row in zip(*(inside[p] for p in PERIMETRES))], dtype=object).to_numpy()
    return {"famille_ess": famille, "activite_exclue": excluded, "perimetres": perimetres,
            "champ_urssaf": urssaf & ~exception, "exception_champ_urssaf": exception}


def in_perimetre(perimetres, name: str) -> np.ndarray:
    """Whether each truth row (its `perimetres` list) is in the perimeter `name`."""
    return np.fromiter((name in list(p) for p in perimetres), dtype=bool, count=len(perimetres))


def _annual_averages(world: World, years: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(E, len(years)) annual average headcount — mean of the four quarters' headcounts (mid-quarter), linear
    between the 31 December before and after, times the activity's seasonal profile, while the establishment
    exists (created during the year: its year-end headcount from its creation; closed during the year: its
    previous year-end headcount until it closes) — and the share of quarters with employees."""
    e = world.etabs
    h = world.headcounts.astype(float)
    created = e["created"].to_numpy().astype("datetime64[D]")
    closure = e["closure"].to_numpy().astype("datetime64[D]")
    division = e["naf"].astype(str).str[:2].to_numpy()
    codes = np.unique(division)
    season = np.array([SEASONS.get(d, DEFAULT_SEASON) for d in codes])[np.searchsorted(codes, division)]
    average = np.zeros((len(e), years.size))
    quarters = np.zeros((len(e), years.size))
    for j, y in enumerate(years):
        k = int(np.flatnonzero(YEARS == y)[0])
        if k == 0:  # no year before: the first year's average is its year-end headcount
            average[:, j] = h[:, 0]
            quarters[:, j] = h[:, 0] > 0
            continue
        start, end = h[:, k - 1], h[:, k]
        existed = created <= np.datetime64(f"{int(y) - 1}-12-31")
        closes = ~np.isnat(closure) & (closure <= np.datetime64(f"{int(y)}-12-31"))
        value = np.where(existed & ~closes, start, np.where(existed, start, end))
        slope = np.where(existed & ~closes, end - start, 0.0)
        for q, tau in enumerate(QUARTER_MIDDLES):
            day = np.datetime64(f"{int(y)}-01-01") + np.timedelta64(int(tau * 365), "D")
            exists = (created <= day) & (np.isnat(closure) | (closure > day))
            v = np.where(exists, (value + slope * tau) * season[:, q], 0.0)
            average[:, j] += v / 4.0
            quarters[:, j] += (v >= 0.5) / 4.0
    return average, quarters


def establishment_truth(world: World, tables: SireneTables, timeline: Timeline) -> pd.DataFrame:
    """One row per establishment (the duplicated file row counted once), in file order: its state at the millésime
    (`actif`), and its situation, membership and employment in URSSAF_YEAR (31/12 and annual average)."""
    units, e = world.units, world.etabs
    keys = tables.truth_keys[tables.truth_keys["defaut"].fillna("") != "ligne_dupliquee"]
    rows = keys["row"].to_numpy()
    j = int(np.flatnonzero(timeline.years == m.URSSAF_YEAR)[0])
    member = {k: timeline.member(j, k)[rows] for k in ("famille_ess", "activite_exclue", "perimetres",
                                                     "champ_urssaf", "exception_champ_urssaf")}
    tranche = e["tranche"].to_numpy()[rows].astype(object)
    tranche[tranche == ""] = None
    annee = e["annee_tranche"].to_numpy()[rows].astype(float)
    annee[annee == 0] = np.nan
    h = timeline.headcount[rows, j]
    return pd.DataFrame({
        "siret": keys["siret_vrai"].to_numpy(),
        "siret_fichier": keys["siret"].to_numpy(),
        "siren": keys["siret_vrai"].str[:9].to_numpy(),
        "defaut": keys["defaut"].to_numpy(),
        "localisation": e["location"].to_numpy()[rows],
        "code_commune": e["code_commune"].to_numpy()[rows],
        "code_commune_fichier": keys["code_commune_fichier"].to_numpy(),
        "statut_diffusion": keys["statut_diffusion"].to_numpy(),
        "actif": ~e["closed"].to_numpy()[rows],
        "actif_fin_annee_urssaf": timeline.alive_end[rows, j],
        "categorie_juridique": e["cj"].to_numpy()[rows],
        "activite": timeline.activite(j)[rows].astype(str),
        **member,
        "tranche_effectifs": tranche,
        "annee_effectifs": pd.array(annee, dtype="Int64"),
        "effectif_annee_tranche": e["effectif_annee_tranche"].to_numpy()[rows],
        "effectif_vrai": h.astype(np.int64),
        "effectif_moyen_vrai": np.round(timeline.average[rows, j], 3),
        "employeur": h > 0,
        "annee_creation": e["created"].to_numpy()[rows].astype("datetime64[Y]").astype(int) + 1970,
        "annee_fermeture": pd.array(np.where(e["closed"].to_numpy()[rows],
                                             e["closure"].to_numpy()[rows].astype("datetime64[Y]").astype(
                                                 "int64") + 1970, np.nan), dtype="Int64"),
        "ancre": units["anchor"].to_numpy()[e["unit"].to_numpy()[rows]],
    }).astype({"code_commune": "object"})


def yearly_truth(world: World, tables: SireneTables, timeline: Timeline, first_year: int) -> pd.DataFrame:
    """Long table: one row per establishment and year (from first_year) with employment (31/12 headcount or
    annual average > 0), with the year's activity and membership."""
    e = world.etabs
    keys = tables.truth_keys[tables.truth_keys["defaut"].fillna("") != "ligne_dupliquee"]
    rows = keys["row"].to_numpy()
    parts = []
    for j, y in enumerate(timeline.years):
        if y < first_year:
            continue
        h = timeline.headcount[rows, j]
        avg = timeline.average[rows, j]
        keep = (h > 0) | (avg > 0)
        r = rows[keep]
        parts.append(pd.DataFrame({
            "siret": keys["siret_vrai"].to_numpy()[keep], "annee": np.int32(y),
            "effectif_fin_annee": h[keep].astype(np.int32), "effectif_moyen": np.round(avg[keep], 3),
            "actif_fin_annee": timeline.alive_end[r, j],
            "localisation": e["location"].to_numpy()[r], "code_commune": e["code_commune"].to_numpy()[r],
            "categorie_juridique": e["cj"].to_numpy()[r], "activite": timeline.activite(j)[r].astype(str),
            **{k: timeline.member(j, k)[r] for k in ("famille_ess", "perimetres", "champ_urssaf",
                                                     "exception_champ_urssaf")},
        }))
    return pd.concat(parts, ignore_index=True).astype({"code_commune": "object"})


def _startswith(values: np.ndarray, prefixes: tuple[str, ...]) -> np.ndarray:
    out = np.zeros(values.size, bool)
    for p in prefixes:
        out |= np.char.startswith(values.astype(str), p)
    return out


def commune_totals(truth: pd.DataFrame, communes: pd.DataFrame) -> pd.DataFrame:
    """True totals per commune of the département (current COG): establishments active at the millésime, and
    employment at 31/12 of URSSAF_YEAR of the establishments open then (membership of that year)."""
    d = truth[truth["localisation"] == "departement"]
    a = d[d["actif"]]
    y = d[d["actif_fin_annee_urssaf"]]
    counts = pd.DataFrame({"code_commune": a["code_commune"], "nb_etablissements_actifs": 1}).groupby(
        "code_commune").sum()
    emp = y["effectif_vrai"]
    insee = pd.Series(in_perimetre(y["perimetres"], "insee"), index=y.index)  # the default perimeter
    g = pd.DataFrame({
        "code_commune": y["code_commune"],
        "nb_etablissements_employeurs": (emp > 0).astype(int),
        "effectif_vrai": emp,
        "nb_etablissements_employeurs_ess": ((emp > 0) & insee).astype(int),
        "effectif_vrai_ess": emp.where(insee, 0),
        "effectif_vrai_champ_urssaf": emp.where(y["champ_urssaf"], 0),
        "effectif_vrai_ess_champ_urssaf": emp.where(y["champ_urssaf"] & insee, 0),
    }).groupby("code_commune").sum()
    out = communes[["code_commune", "nom_commune"]].set_index("code_commune").join(counts).join(g).fillna(0)
    for col in out.columns[1:]:
        out[col] = out[col].astype(np.int64)
    return out.reset_index()


def family_totals(truth: pd.DataFrame) -> pd.DataFrame:
    """True totals per ESS family at département level: establishments active at the millésime, and employment at
    31/12 of URSSAF_YEAR (headcount and annual average) of the establishments open then.

    Families follow the legal form; establishments of an ESS legal form whose activity is excluded are counted
    apart ('exclus_activite'); 'ess_<perimetre>' are the perimeters' totals (ess_flag, ess_insee, ess_loi2014),
    'ensemble' everything.
    """
    d = truth[truth["localisation"] == "departement"].copy()
    key = d["famille_ess"].fillna("hors_ess").to_numpy().astype(object)
    key[d["activite_exclue"].to_numpy() & isin(key, list(FAMILIES))] = "exclus_activite"
    # Legal forms of a family that the default perimeter leaves out (e.g. 9223 groupements d'employeurs).
    key[~in_perimetre(d["perimetres"], "insee") & isin(key, ["associations", "cooperatives", "mutuelles",
                                                             "fondations"])] = "hors_perimetre_par_defaut"
    d["famille"] = key
    groups = {f: d[d["famille"] == f]
              for f in (*FAMILIES, "hors_perimetre_par_defaut", "exclus_activite", "hors_ess")}
    for p in PERIMETRES:
        groups[f"ess_{p}"] = d[in_perimetre(d["perimetres"], p)]
    groups["ensemble"] = d
    rows = []
    for name, g in groups.items():
        y = g[g["actif_fin_annee_urssaf"]]
        rows.append({
            "famille": name,
            "nb_etablissements_actifs": int(g["actif"].sum()),
            "nb_etablissements_employeurs": int(y["employeur"].sum()),
            "effectif_vrai": int(y["effectif_vrai"].sum()),
            "effectif_moyen_vrai": round(float(g["effectif_moyen_vrai"].sum()), 1),
            "nb_etablissements_employeurs_champ_urssaf": int((y["employeur"] & y["champ_urssaf"]).sum()),
            "effectif_vrai_champ_urssaf": int(y["effectif_vrai"].where(y["champ_urssaf"], 0).sum()),
        })
    return pd.DataFrame(rows)


def truth_table(truth: pd.DataFrame) -> pa.Table:
    return pa.Table.from_pandas(truth, preserve_index=False)
