"""The synthetic world: legal units and their establishments, with a TRUE headcount for each establishment.

Everything is drawn in bulk with one numpy Generator (no loop over rows), so the same seed gives the same world.
The SIRENE files, the URSSAF exports and the ground truth are all derived from this one world.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from sources.sample import employment
from sources.sample import model as m
from sources.sample.employment import BAND_CODES, band_of
from sources.sample.ids import public_siren, random_sirens
from sources.sample.generator_reference import Reference

DAY = np.timedelta64(1, "D")
EPOCH_1900 = np.datetime64("1900-01-01")
SIRENE_START = np.datetime64("1973-01-01")



def isin(values, candidates) -> np.ndarray:
    """Membership test by hashing (numpy's isin compares object arrays pairwise, which is very slow)."""
    return pd.Series(np.asarray(values, dtype=object)).isin(list(candidates)).to_numpy()


@dataclass
class World:
    departement: str
    units: pd.DataFrame
    etabs: pd.DataFrame
    notes: dict = field(default_factory=dict)
    # true headcount at 31/12 of each year of employment.YEARS, one row per establishment (0: closed or none)
    headcounts: np.ndarray | None = None


def _pick(rng: np.random.Generator, n: int, weights: dict[str, float]) -> np.ndarray:
    codes = np.array(list(weights))
    p = np.array(list(weights.values()), float)
    return rng.choice(codes, size=n, p=p / p.sum())


def _random_dates(rng, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """A uniform day in [start, end] for each pair (datetime64[D])."""
    span = np.maximum((end - start) / DAY, 0)
    return start + np.floor(rng.random(start.size) * (span + 1)).astype(np.int64) * DAY


def _group_cumsum(values: np.ndarray, group_start: np.ndarray, group_of: np.ndarray) -> np.ndarray:
    c = np.cumsum(values)
    before = np.r_[0, c][group_start]
    return c - before[group_of]


def _other_departement_communes(ref: Reference, departement: str) -> pd.DataFrame:
    """Communes of other départements of the same region (the biggest ones), where out-of-area sièges sit."""
    others = ref.communes[ref.communes["code_departement"] != departement]
    region = ref.departement["code_region"].iloc[0]
    near = others[others["code_region"] == region]
    pool = near if len(near) else others
    if pool.empty:
        return pd.DataFrame({"code_commune": ["75056", "69123"], "nom_commune": ["Paris", "Lyon"],
                             "code_departement": ["75", "69"], "population": [2_100_000, 520_000]})
    return pool.sort_values("population", ascending=False).head(12).reset_index(drop=True)


def build_world(ref: Reference, departement: str, rng: np.random.Generator, scale: float) -> World:
    com = ref.departement
    pop = com["population"].to_numpy(np.float64)
    total_pop = float(pop.sum())
    weights = pop ** 1.08
    weights /= weights.sum()
    n_com = len(com)

    # ---- legal units of the drawn profiles -------------------------------------------------------------
    n_units = max(80, int(round(scale * total_pop * 0.105)))
    shares = np.array([p.share for p in m.PROFILES])
    counts = rng.multinomial(n_units, shares / shares.sum())
    prof = np.repeat(np.arange(len(m.PROFILES)), counts)
    prof_name = np.array([p.name for p in m.PROFILES])[prof]
    U = prof.size

    cj = np.empty(U, dtype="U4")
    naf = np.empty(U, dtype="U6")
    for k, p in enumerate(m.PROFILES):
        idx = np.flatnonzero(prof == k)
        if idx.size == 0:
            continue
        cj[idx] = _pick(rng, idx.size, p.cj)
        if p.naf:
            naf[idx] = _pick(rng, idx.size, p.naf)
        elif p.name in ("entrepreneur_individuel", "societe"):
            w = m.GENERAL_NAF_W_EI if p.name == "entrepreneur_individuel" else m.GENERAL_NAF_W_SOC
            naf[idx] = rng.choice(m.GENERAL_NAF_CODES, size=idx.size, p=w / w.sum())
            if ref.naf is not None and len(ref.naf):
                # A tail spread over the whole nomenclature, as in a real stock.
                pool = ref.naf["code"].to_numpy()
                pool = pool[~np.isin(pool.astype("U2"), ["84", "94", "97", "98", "99"])]
                tail = idx[rng.random(idx.size) < 0.12]
                naf[tail] = rng.choice(pool, size=tail.size)
    for code in np.unique(cj):
        if code in m.NAF_BY_CJ:
            idx = np.flatnonzero((cj == code) & (naf == ""))
            naf[idx] = _pick(rng, idx.size, m.NAF_BY_CJ[code])
    naf[naf == ""] = "70.22Z"

    # Commercial companies that registered as ESS (SCOP/SCIC as SAS, ESUS): flagged 'O', their own activities.
    soc = np.flatnonzero((prof_name == "societe") & np.isin(cj, ["5710", "5499"]))
    ess_company = np.zeros(U, bool)
    chosen = soc[rng.random(soc.size) < 0.008]
    if chosen.size == 0 and soc.size:
        chosen = soc[:1]
    ess_company[chosen] = True
    naf[chosen] = _pick(rng, chosen.size, m.ESS_COMPANY_NAF)

    # Legal-form codes real files hold although they are not in the INSEE list (padded level II, frozen codes).
    odd_codes = ["5400", "2200", "5500"] + [c for c in ("5498", "5201", "5720") if c not in ref.cj_codes][:1]
    plain_soc = np.flatnonzero((prof_name == "societe") & ~ess_company)
    n_odd = max(1, int(round(plain_soc.size * 0.0004)))
    odd_idx = rng.choice(plain_soc, size=min(plain_soc.size, n_odd * len(odd_codes)), replace=False)
    cj[odd_idx] = np.resize(np.array(odd_codes), odd_idx.size)

    age_mean = np.array([p.age_years for p in m.PROFILES])[prof]
    age_days = rng.exponential(age_mean * 365.25).astype(np.int64)
    created = m.MILLESIME_END - np.minimum(age_days, 126 * 365) * DAY
    created = np.maximum(created, EPOCH_1900)
    created[rng.random(U) < 0.004] = EPOCH_1900  # INSEE's placeholder for unknown old dates

    units = pd.DataFrame({"profile": prof_name, "cj": cj, "naf": naf, "created": created,
                          "ess_company": ess_company, "anchor": False, "public_fixed": False, "label": ""})
    units["p_employer"] = np.array([p.p_employer for p in m.PROFILES])[prof]
    units["mu"] = np.array([p.mu for p in m.PROFILES])[prof]
    units["sigma"] = np.array([p.sigma for p in m.PROFILES])[prof]
    units["p_closed"] = np.array([p.p_closed for p in m.PROFILES])[prof]
    units["p_multi"] = np.array([p.p_multi for p in m.PROFILES])[prof]
    units["p_flag"] = np.array([p.p_ess_flag for p in m.PROFILES])[prof]
    boost = np.array([p.big_naf_boost for p in m.PROFILES])[prof]
    division = units["naf"].str[:2].to_numpy()
    care = np.zeros(U)
    for div, w in m.CARE_DIVISIONS.items():
        care = np.where(division == div, w, care)
    units["mu"] += boost * care
    units["p_employer"] = np.where(care > 0, np.maximum(units["p_employer"], 0.2 + 0.55 * care),
                                   units["p_employer"])
    units.loc[ess_company, "p_employer"] = 0.7
    units.loc[ess_company, "mu"] = 2.0
    units.loc[units["profile"].isin(["public", "autre_prive"]) & (care > 0), "mu"] += 1.0

    # ---- public bodies that every département has: its communes, EPCI and the département council --------
    fixed = _public_bodies(com, departement, scale)
    big = np.argsort(-pop, kind="stable")[:4]  # the anchors sit in the biggest towns
    anchors = pd.DataFrame([
        {"profile": kind, "cj": code, "naf": act, "label": label, "headcount": h,
         "commune_idx": int(big[min(i // 2, big.size - 1)])}
        for i, (label, kind, code, act, h) in enumerate(m.ANCHORS)])
    fixed_units = pd.concat([fixed, anchors], ignore_index=True)
    fixed_units["created"] = np.where(fixed_units["cj"] == "7210", np.datetime64("1983-03-01"),
                                      np.datetime64("1962-01-01")).astype("datetime64[D]")
    fixed_units["ess_company"] = False
    fixed_units["anchor"] = fixed_units["headcount"].notna() & (fixed_units["cj"] != "7210")
    fixed_units["public_fixed"] = True
    for col, val in (("p_employer", 1.0), ("mu", 0.0), ("sigma", 0.0), ("p_closed", 0.0), ("p_multi", 0.0),
                     ("p_flag", 0.0)):
        fixed_units[col] = val
    fixed_units.loc[fixed_units["profile"].isin(["association", "mutuelle", "fondation"]), "p_flag"] = 1.0
    units = pd.concat([units, fixed_units], ignore_index=True)
    U = len(units)

    # SIRENs: public bodies keep the numbers the registry gives them; the rest are random Luhn-valid numbers.
    fixed_siren = units["fixed_siren"].to_numpy() if "fixed_siren" in units else np.full(U, np.nan)
    have = ~pd.isna(fixed_siren)
    siren = np.zeros(U, np.int64)
    siren[have] = fixed_siren[have].astype(np.int64)
    siren[~have] = random_sirens(rng, int((~have).sum()), exclude=siren[have])
    units["siren"] = siren
    units = units.drop(columns=[c for c in ("fixed_siren",) if c in units])

    # ---- establishments ----------------------------------------------------------------------------------
    multi = rng.random(U) < units["p_multi"].to_numpy()
    n_est = 1 + np.where(multi, np.minimum(rng.geometric(0.35, U), 40), 0)
    fixed_n = units["n_etab"].to_numpy() if "n_etab" in units else np.full(U, np.nan)
    n_est = np.where(pd.isna(fixed_n), n_est, np.nan_to_num(fixed_n, nan=1)).astype(np.int64)
    # Units with no establishment in the area (their establishments are elsewhere): out of scope for the loader.
    extra = ~units["public_fixed"].to_numpy() & (rng.random(U) < 0.01)
    n_est[extra] = 0
    units["extra"] = extra
    unit_of = np.repeat(np.arange(U), n_est)
    E = unit_of.size
    start = np.r_[0, np.cumsum(n_est)[:-1]]
    seq = np.arange(E) - start[unit_of]
    is_siege = seq == 0

    # Communes: drawn by population (big towns weigh more than their share); public bodies sit where they belong.
    commune_idx = rng.choice(n_com, size=E, p=weights)
    home = units["commune_idx"].to_numpy() if "commune_idx" in units else np.full(U, np.nan)
    home_e = home[unit_of]
    pinned = ~pd.isna(home_e) & is_siege
    commune_idx[pinned] = home_e[pinned].astype(np.int64)
    # Secondary establishments of communes stay in their commune.
    own_commune = (units["cj"].to_numpy()[unit_of] == "7210") & ~pd.isna(home_e)
    commune_idx[own_commune] = home_e[own_commune].astype(np.int64)
    code_commune = com["code_commune"].to_numpy()[commune_idx].astype(object)
    nom_commune = com["nom_commune"].to_numpy()[commune_idx].astype(object)
    location = np.full(E, "departement", dtype=object)

    # Some networks have their siège in another département (the national file holds that row too).
    others = _other_departement_communes(ref, departement)
    unit_cj = units["cj"].to_numpy()
    unit_prof = units["profile"].to_numpy()
    out_candidates = is_siege & (n_est[unit_of] > 1) & ~units["public_fixed"].to_numpy()[unit_of]
    p_out = np.where(np.isin(unit_prof[unit_of], ["cooperative_banque", "mutuelle"]), 0.5, 0.3)
    out = out_candidates & (rng.random(E) < p_out)
    pick = rng.integers(0, len(others), size=E)
    code_commune[out] = others["code_commune"].to_numpy()[pick[out]]
    nom_commune[out] = others["nom_commune"].to_numpy()[pick[out]]
    location[out] = "autre_departement"

    # A few establishments abroad (no commune, a country code).
    secondary = np.flatnonzero(~is_siege & ~units["public_fixed"].to_numpy()[unit_of])
    n_abroad = min(secondary.size, max(2, int(round(E * 0.00008))))
    abroad = rng.choice(secondary, size=n_abroad, replace=False) if n_abroad else np.array([], np.int64)
    location[abroad] = "etranger"
    code_commune[abroad] = None

    # NIC sequence numbers: increasing within a unit, with gaps (numbers of establishments now elsewhere).
    inc = 1 + (rng.random(E) < 0.2) * rng.integers(1, 4, E)
    nic_seq = _group_cumsum(inc, start, unit_of)

    created_u = units["created"].to_numpy().astype("datetime64[D]")
    created = created_u[unit_of].copy()
    sec = ~is_siege
    created[sec] = _random_dates(rng, created_u[unit_of][sec], np.full(sec.sum(), m.MILLESIME_END))

    # Closures: older establishments are more often closed.
    age = (m.MILLESIME_END - created) / DAY / 365.25
    p_closed = units["p_closed"].to_numpy()[unit_of] * np.clip(age / 8.0, 0.15, 1.7)
    closed = rng.random(E) < np.clip(p_closed, 0, 0.95)
    closed &= ~(units["anchor"].to_numpy()[unit_of])
    closed &= ~(units["public_fixed"].to_numpy()[unit_of] & is_siege)
    closed[out] = rng.random(int(out.sum())) < 0.05
    closure = np.full(E, np.datetime64("NaT"), dtype="datetime64[D]")
    lo = np.maximum(created[closed] + 30 * DAY, SIRENE_START)
    closure[closed] = _random_dates(rng, lo, np.full(lo.size, m.MILLESIME_END - DAY))
    closure[closed] = np.maximum(closure[closed], created[closed] + DAY)

    etabs = pd.DataFrame({
        "unit": unit_of, "siren": units["siren"].to_numpy()[unit_of], "nic_seq": nic_seq, "siege": is_siege,
        "code_commune": code_commune, "nom_commune": nom_commune, "location": location, "created": created,
        "closed": closed, "closure": closure,
    })
    etabs["cj"] = unit_cj[unit_of]
    etabs["profile"] = unit_prof[unit_of]
    etabs["naf"] = units["naf"].to_numpy()[unit_of]
    # Secondary establishments of communes and EPCI carry their own activities (schools, canteens, pools…).
    for code, opts in m.SECONDARY_NAF_BY_CJ.items():
        idx = np.flatnonzero(~is_siege & (etabs["cj"].to_numpy() == code) & units["public_fixed"].to_numpy()[unit_of])
        if idx.size:
            etabs.loc[idx, "naf"] = _pick(rng, idx.size, opts)

    headcounts = employment.draw(etabs, units, rng)
    etabs["commune_idx"] = np.where(location == "departement", commune_idx, -1)
    _unit_state(units, etabs, headcounts, rng)
    return World(departement=departement, units=units, etabs=etabs,
                 notes={"communes": n_com, "population": int(total_pop)}, headcounts=headcounts)


def _public_bodies(com: pd.DataFrame, departement: str, scale: float) -> pd.DataFrame:
    """One unit per commune, per EPCI, and the département council, with staff proportional to population."""
    dep_num = {"2A": 20, "2B": 20}.get(departement, None)
    dep_digits = str(dep_num) if dep_num is not None else departement
    rows = []
    pops = com["population"].to_numpy()
    known = com[_siren_column(com)].to_numpy() if _siren_column(com) else np.full(len(com), "")
    for i, (code, name, p) in enumerate(zip(com["code_commune"], com["nom_commune"], pops)):
        # Commune SIREN: 21 + département + commune number + check digit (e.g. 38004 -> 213800048).
        num = int(code[-3:]) if code[-3:].isdigit() else i + 1
        if len(str(known[i])) == 9 and str(known[i]).isdigit():
            s = int(known[i])
        elif len(dep_digits) == 2:
            s = public_siren(int(f"21{dep_digits}0"), num, 5)
        else:
            s = public_siren(int(f"21{dep_digits}"), num % 100, 5)
        staff = int(round(p * 0.016 * scale))
        n_extra = int(min(30, p * scale // 2500))
        rows.append({"profile": "public", "cj": "7210", "naf": "84.11Z", "label": f"COMMUNE DE {name}",
                     "fixed_siren": s, "commune_idx": i, "n_etab": 1 + n_extra, "headcount": staff})
    epci = com[com["siren_epci"].str.fullmatch(r"\d{9}")].groupby("siren_epci")
    for siren_epci, g in epci:
        seat = int(g["population"].idxmax())
        p = int(g["population"].sum())
        nature_name = str(g["nom_epci"].iloc[0]) if "nom_epci" in g else ""
        code = "7344" if "Métropole" in nature_name or "METRO" in nature_name else (
            "7348" if nature_name.startswith("CA") else "7346")
        rows.append({"profile": "public", "cj": code, "naf": "84.11Z",
                     "label": (nature_name or f"EPCI {siren_epci}").upper(), "fixed_siren": int(siren_epci),
                     "commune_idx": seat, "n_etab": 1 + int(min(6, p * scale // 40000)),
                     "headcount": int(round(p * 0.004 * scale))})
    seat = int(np.argmax(pops))
    dep_siren = public_siren(int(f"22{dep_digits}") if len(dep_digits) == 2 else int(f"22{dep_digits}"),
                             1, 4 if len(dep_digits) == 2 else 5)
    rows.append({"profile": "public", "cj": "7220", "naf": "84.11Z", "label": "DEPARTEMENT",
                 "fixed_siren": dep_siren, "commune_idx": seat, "n_etab": 1,
                 "headcount": int(round(pops.sum() * 0.0035 * scale))})
    return pd.DataFrame(rows)


def _siren_column(com: pd.DataFrame) -> str | None:
    for col in ("siren_commune", "siren"):
        if col in com.columns:
            return col
    return None


def _unit_state(units: pd.DataFrame, etabs: pd.DataFrame, headcounts: np.ndarray, rng: np.random.Generator) -> None:
    """Unit-level state derived from its establishments: open or ceased, headcount, employer, ESS flag."""
    U = len(units)
    u = etabs["unit"].to_numpy()
    active = ~etabs["closed"].to_numpy()
    n_active = np.bincount(u, weights=active, minlength=U)
    ceased = n_active == 0
    # A few units stay active in SIRENE although none of their establishments is open (ghost units).
    ceased &= rng.random(U) >= 0.02
    ceased &= ~units["extra"].to_numpy()
    last_closure = pd.Series(etabs["closure"]).groupby(u).max().reindex(range(U)).to_numpy()
    units["ceased"] = ceased
    units["closure"] = np.where(ceased, last_closure, np.datetime64("NaT")).astype("datetime64[D]")
    total = np.bincount(u, weights=etabs["effectif_vrai"].to_numpy(), minlength=U).astype(np.int64)
    any_00 = np.bincount(u, weights=(etabs["tranche"].to_numpy() == "00") & active, minlength=U) > 0
    units["effectif"] = total
    units["employeur"] = (total > 0) | any_00
    # The unit's band describes the band year, like its establishments' bands.
    k_band = int(np.flatnonzero(employment.YEARS == m.BAND_YEAR)[0])
    at_band = np.bincount(u, weights=headcounts[:, k_band], minlength=U).astype(np.int64)
    band = np.where(at_band > 0, band_of(at_band), np.where(any_00, "00", "")).astype("U2")
    siege_band = pd.Series(etabs["tranche"].to_numpy()[etabs["siege"].to_numpy()],
                           index=u[etabs["siege"].to_numpy()]).reindex(range(U)).fillna("").to_numpy()
    band = np.where((band == "") & (siege_band == "NN"), "NN", band)
    units["tranche"] = band
    year = pd.Series(etabs["annee_tranche"].to_numpy()).groupby(u).max().reindex(range(U)).fillna(0).to_numpy()
    units["annee_tranche"] = np.where(np.isin(band, BAND_CODES) | (band == "00"), year, 0).astype(np.int64)

    flag = np.where(rng.random(U) < units["p_flag"].to_numpy(), "O",
                    np.where(rng.random(U) < 0.7, "N", "")).astype(object)
    flag[units["ess_company"].to_numpy()] = "O"
    old_or_closed = ceased | (units["created"].to_numpy() < np.datetime64("1990-01-01"))
    flag[old_or_closed & (rng.random(U) < 0.8) & ~units["ess_company"].to_numpy()] = ""
    flag[units["profile"].to_numpy() == "public"] = np.where(
        rng.random(int((units["profile"] == "public").sum())) < 0.5, "N", "")
    units["ess_flag"] = flag
