"""True employment of every establishment, year by year, and what SIRENE shows of it.

The world's truth is a headcount at 31 December of every year from HISTORY_FIRST_YEAR to the millésime year, drawn
from a model of how establishments live — NOT from the pipeline's estimator (which never sees this module):

- an employer establishment has a size level (log-normal, by kind of unit and activity) that it reaches a few years
  after its creation (ramp-up), then moves by yearly random shocks with heavy tails (a random walk in logs, more
  volatile for small units), plus its sector's growth trend and the 2009 and 2020 dips; it shrinks during the two
  years before it closes; small employers sometimes have nobody on 31 December; some hire only years after their
  creation; a few non-employers have short employment spells;
- public bodies and the large anchors have their given headcounts (at BAND_YEAR) and move little.

SIRENE's size band is the band of the headcount of one year, the band year, which varies: most open establishments
were updated for BAND_YEAR, some are years behind, closed ones keep the band of their last full year (or none),
and establishments created after BAND_YEAR have none yet. So a band says little about the headcount of a later
year: headcounts drift out of their band. The employer flag of the stock (caractereEmployeur) follows the latest
processed year (URSSAF_YEAR), with errors.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sources.sample import model as m

BAND_LOWER = np.array([1, 3, 6, 10, 20, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000])
BAND_CODES = np.array(["01", "02", "03", "11", "12", "21", "22", "31", "32", "41", "42", "51", "52", "53"])
YEARS = np.arange(m.HISTORY_FIRST_YEAR, int(m.MILLESIME[:4]) + 1)
DAY = np.timedelta64(1, "D")


def band_of(headcount: np.ndarray) -> np.ndarray:
    """Size band of a positive headcount at 31/12 (SIRENE codes 01…53)."""
    idx = np.searchsorted(BAND_LOWER, np.maximum(headcount, 1), side="right") - 1
    return BAND_CODES[idx]


def year_ends(years: np.ndarray = YEARS) -> np.ndarray:
    """31 December of each year (datetime64[D])."""
    return np.array([np.datetime64(f"{int(y)}-12-31") for y in years], dtype="datetime64[D]")


def alive_matrix(created: np.ndarray, closure: np.ndarray, dates: np.ndarray) -> np.ndarray:
    """(E, len(dates)): the establishment exists on each date (created on or before it, not yet closed)."""
    c = created.astype("datetime64[D]")[:, None]
    x = closure.astype("datetime64[D]")[:, None]
    return (c <= dates[None, :]) & (np.isnat(x) | (x > dates[None, :]))


def draw(etabs: pd.DataFrame, units: pd.DataFrame, rng: np.random.Generator) -> np.ndarray:
    """The (E, len(YEARS)) matrix of true headcounts at 31/12 (0 when closed or without employee), and the SIRENE
    columns drawn from it (tranche, annee_tranche, effectif_annee_tranche, caractere_employeur) added to `etabs`;
    `effectif_vrai` / `employeur_vrai` are the headcount at 31/12 of URSSAF_YEAR and whether it is positive."""
    E = len(etabs)
    u = etabs["unit"].to_numpy()
    created = etabs["created"].to_numpy().astype("datetime64[D]")
    closure = etabs["closure"].to_numpy().astype("datetime64[D]")
    ends = year_ends()
    alive = alive_matrix(created, closure, ends)
    ny = YEARS.size
    k_band = int(np.flatnonzero(YEARS == m.BAND_YEAR)[0])
    k_y = int(np.flatnonzero(YEARS == m.URSSAF_YEAR)[0])

    profile = units["profile"].to_numpy()[u]
    siege = etabs["siege"].to_numpy()
    p_emp = units["p_employer"].to_numpy()[u]
    # A secondary establishment of a network is smaller than a typical siège but usually employs.
    p_emp = np.where(~siege & (profile != "entrepreneur_individuel"), np.maximum(p_emp, 0.45), p_emp)
    # Creations have boomed since the late 2000s (micro-entrepreneurs, small companies) while the number of
    # employers has barely moved: the more recent the establishment, the less likely it employs.
    created_year = created.astype("datetime64[Y]").astype(int) + 1970
    p_emp = p_emp * np.exp(-m.EMPLOYER_CREATION_DECAY * np.clip(created_year - 2008, 0, None))
    employer = rng.random(E) < p_emp
    level = np.exp(units["mu"].to_numpy()[u] + units["sigma"].to_numpy()[u] * rng.standard_normal(E))
    level = np.minimum(level, 1900.0)

    fixed = units["headcount"].to_numpy()[u] if "headcount" in units else np.full(E, np.nan)
    is_fixed = ~pd.isna(fixed)
    n_in_unit = np.bincount(u, minlength=len(units))[u]
    share = np.where(siege, np.where(n_in_unit > 1, 0.55, 1.0), 0.45 / np.maximum(n_in_unit - 1, 1))
    fixed_level = np.nan_to_num(fixed.astype(float)) * share
    level = np.where(is_fixed, fixed_level, level)
    employer = np.where(is_fixed, fixed_level >= 0.5, employer)

    # Random walk in logs anchored at the band year: heavy-tailed yearly shocks (Student t, 4 df).
    sd = np.where(is_fixed, 0.015, 0.06 + 0.16 / np.sqrt(np.maximum(level, 1.0)))
    shocks = sd[:, None] * rng.standard_t(4, size=(E, ny)) / np.sqrt(2.0)
    walk = np.zeros((E, ny))
    walk[:, k_band + 1:] = np.cumsum(shocks[:, k_band + 1:], axis=1)
    walk[:, :k_band] = -np.cumsum(shocks[:, 1:k_band + 1][:, ::-1], axis=1)[:, ::-1]

    growth = np.array([m.GROWTH_BY_PROFILE.get(p, m.GROWTH_BY_PROFILE["default"]) for p in m.PROFILE_NAMES])
    g = pd.Series(growth, index=m.PROFILE_NAMES).reindex(profile).fillna(m.GROWTH_BY_PROFILE["default"]).to_numpy()
    g = np.where(is_fixed, 0.004, g)
    trend = g[:, None] * (YEARS - m.BAND_YEAR)[None, :].astype(float)
    trend += np.array([m.MACRO_SHOCKS.get(int(y), 0.0) for y in YEARS])[None, :]

    age = (ends[None, :] - created[:, None]) / DAY / 365.25
    ramp = np.log(1.0 - 0.6 * np.exp(-np.clip(age, 0.0, None) / 1.3))
    ramp = np.where(is_fixed[:, None], 0.0, ramp)
    to_close = np.where(np.isnat(closure)[:, None], np.inf, (closure[:, None] - ends[None, :]) / DAY / 365.25)
    decline = -0.3 * np.clip(2.5 - to_close, 0.0, 2.5)

    log_h = np.log(np.maximum(level, 1e-3))[:, None] + walk + trend + ramp + decline
    h = np.rint(np.exp(log_h))
    # Some employers hire only years after their creation.
    delay = np.where(rng.random(E) < 0.2, rng.integers(1, 5, E), 0)
    h[age < delay[:, None]] = 0
    # Small employers sometimes have nobody on 31 December (SIRENE band 00 when it is the band year).
    empty_end = (level[:, None] < 10) & (rng.random((E, ny)) < 0.035) & ~is_fixed[:, None]
    h[empty_end] = 0
    h = np.where(employer[:, None] & alive, h, 0)
    # Short spells of a few employees in units that otherwise never employ.
    spell = ~employer & (rng.random(E) < 0.02)
    start = rng.integers(0, ny, E)
    length = rng.integers(1, 4, E)
    k = np.arange(ny)[None, :]
    in_spell = spell[:, None] & (k >= start[:, None]) & (k < (start + length)[:, None]) & alive
    h = np.where(in_spell, rng.integers(1, 4, (E, ny)), h).astype(np.int32)

    _bands(etabs, h, alive, employer, created, closure, k_band, rng, always_updated=is_fixed)
    etabs["effectif_vrai"] = h[:, k_y].astype(np.int64)
    etabs["employeur_vrai"] = h[:, k_y] > 0
    etabs["caractere_employeur"] = _employer_flag(h, alive, k_y, rng)
    return h


def _bands(etabs: pd.DataFrame, h: np.ndarray, alive: np.ndarray, employer: np.ndarray, created: np.ndarray,
           closure: np.ndarray, k_band: int, rng: np.random.Generator, always_updated: np.ndarray) -> None:
    """SIRENE's band and band year of each establishment, read off its true headcounts. Public bodies and anchors
    (`always_updated`) are updated for the band year, so that every band code occurs whatever the scale."""
    E = h.shape[0]
    created_year = created.astype("datetime64[Y]").astype(int) + 1970
    closure_year = np.where(np.isnat(closure), 9999, closure.astype("datetime64[Y]").astype("int64") + 1970)
    year = np.zeros(E, np.int64)
    open_at_band = alive[:, k_band]
    # Most establishments open at the band year were updated for it; some are years behind.
    lag = rng.choice(np.array([0, 1, 2, 3, 5]), size=E, p=[0.86, 0.07, 0.03, 0.02, 0.02])
    lag[always_updated] = 0
    year[open_at_band] = np.maximum(m.BAND_YEAR - lag, created_year)[open_at_band]
    # Closed before the band year: some keep the band of their last full year.
    past = ~open_at_band & (closure_year <= m.BAND_YEAR) & (closure_year - 1 >= np.maximum(created_year, YEARS[0]))
    past &= rng.random(E) < 0.45
    year[past] = closure_year[past] - 1
    has_year = year > 0
    k = np.clip(year - YEARS[0], 0, YEARS.size - 1)
    h_band = h[np.arange(E), k]
    h_before = h[np.arange(E), np.clip(k - 1, 0, None)]
    band = np.full(E, "", dtype="U2")
    band[has_year & (h_band > 0)] = band_of(h_band[has_year & (h_band > 0)])
    zero = has_year & (h_band == 0)
    band[zero & employer & (h_before > 0)] = "00"
    band[zero & (band == "")] = "NN"
    # Unbanded: created after the band year (not processed yet), or closed long ago without a band.
    nn = (band == "") & (rng.random(E) < np.where(employer, 0.3, 0.66))
    band[nn] = "NN"
    # NN carries a year only sometimes; 00 and real bands always do.
    keep_year = (band != "") & ((band != "NN") | (rng.random(E) < 0.2))
    year = np.where(keep_year, np.where(year > 0, year, m.BAND_YEAR), 0)
    etabs["tranche"] = band
    etabs["annee_tranche"] = year
    etabs["effectif_annee_tranche"] = np.where(np.isin(band, BAND_CODES), h_band, 0).astype(np.int64)


def _employer_flag(h: np.ndarray, alive: np.ndarray, k_y: int, rng: np.random.Generator) -> np.ndarray:
    """caractereEmployeurEtablissement of the stock: the latest processed year's employment, with errors; closed
    establishments often have none."""
    E = h.shape[0]
    now = alive[:, -1]
    employs = h[:, k_y] > 0
    r = rng.random(E)
    flag = np.where(employs, np.where(r < 0.92, "O", None), np.where(r < 0.9, "N", np.where(r < 0.93, "O", None)))
    flag = flag.astype(object)
    ever = (h > 0).any(axis=1)
    closed_flag = np.where(ever, "O", "N").astype(object)
    closed_flag[rng.random(E) < 0.4] = None
    return np.where(now, flag, closed_flag).astype(object)
