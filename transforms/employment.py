"""Salaried employment of every establishment at 31 December of each year (2012 → Y), with its uncertainty.

Y, the employment year, is the run's `annee_urssaf` (by default the latest year both URSSAF files cover). For each
year y, the population is the establishments open on 31/12/y (core_effectifs_entrees: closed since still count,
created after do not), and:

1. Prior. What SIRENE says of an establishment's size puts it in a class: its band and how old the band is relative
   to y (a band of the same year or the one before, of 2-4 years, older; for the years before it, the band an
   establishment closed since had at its end — often a decline — is a class of its own), or, without band, NN / 00 /
   empty with the stock's employer flag and whether it was created in y or the year before. The mean headcount at
   31/12/y of each class is estimated from URSSAF's commune × APE cells of year y by non-negative least squares (a
   cell's headcount = Σ class means of its establishments); classes with few establishments in cells are pooled, in
   proportion to their band's reference value. Within-band position, drift since the band year, hiring by
   establishments without band are all in these means: nothing is assumed about them. Variances come from the cells'
   residuals (method of moments): a·width² + g·mean² for banded classes (by band age), p·mean otherwise.
2. Calibration (transforms/calibration.py): the Gaussian posterior given URSSAF's figures of year y — every
   commune × APE cell's 31/12 headcount, each commune's employment URSSAF files under activities SIRENE has no
   employer in (pooled with the commune's establishments whose cell URSSAF does not list), and the département's
   annual averages of the four ESS families and of the rest of the field (« Hors ESS »), converted to 31/12 family
   by family: the ratio of the two files over the whole private field, adjusted by each family's growth relative to
   the field's (family_conversion), the targets summing to the 31/12 private total.
3. Outside URSSAF's field (public employers, agriculture under the MSA), the prior stands: same class means, full
   prior variance. In a cell URSSAF leaves empty where it may hide employment (a gap between published years, the
   file's last year right after a published one), the prior is weighed by the chance that the value is hidden
   rather than a year without employee (hidden_chances, impute_hidden).

4. Inside URSSAF's field by rule, some employers are under the MSA by their object (Code rural, art. L722-20: maisons
   familiales rurales, agricultural professional bodies, farmers' unions…): their jobs are in SIRENE, not in URSSAF's
   files, so the calibrated estimate describes what URSSAF sees. The establishments matching a rule of
   data/reference/emploi_hors_urssaf.csv get an expected unseen employment and its uncertainty (unseen_employment),
   kept apart from the calibrated estimate: the cube adds it to employment and to all employment, not to URSSAF's
   private field.

Without calibration (`calage` = False, or a year without URSSAF cells) the prior is the band's reference value
with a variance from the band's width and its age, nothing for establishments without band: every output says
« non calé ».

Tables: core_effectifs (one row per establishment and year: posterior mean, prior mean and variance, calibration
cell, the coefficients the cube needs for the variance of any sum, and the unseen employment's terms) and
core_calibration (one row per year and group: target, conversion, totals before and after, residual, status; with
the two rest-of-economy targets' disagreement).
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import pandas as pd
import pyarrow as pa
from scipy.optimize import nnls

from ess import db
from ess.errors import UserError
from transforms import calibration

FAMILLES = ("associations", "cooperatives", "mutuelles", "fondations", "hors_ess")
BANDES = ("01", "02", "03", "11", "12", "21", "22", "31", "32", "41", "42", "51", "52", "53")
TRANCHE_OUVERTE = "53"
FIRST_YEAR = 2012
# Decimals kept of each establishment's estimated employment. The same inputs give estimates that differ in their
# last bits from one CPU to another (numpy's and OpenBLAS's kernels are chosen at run time), and the secrecy
# pattern follows those bits (the protection LPs break ties on them: a relative change of 1e-13 of every estimate
# changed 347 of the sample's 149 603 public statuses, benchmarks/pattern_stability.py). Two publications of the
# same data made on two machines must not mask different cells: estimates are rounded to a thousandth of a job,
# far below what they can claim, and every sum made of them afterwards is made in a fixed order.
DECIMALES_EFFECTIF = 3


@dataclass
class Settings:
    niveau: float
    proche: int
    moyen: int
    classe_min: int
    conversion: float
    ajustement_max: float  # bound of a family's conversion relative to the field's (family_conversion)
    ouverte_haut: float
    variance_min: float
    derive_sans_calage: float
    fermeture: int  # a closed establishment's band within so many years of its last open year: « avant fermeture »
    vide_sure_min: float  # empty URSSAF values (hidden_chances): a cell published with so many surely employs
    vide_cellules_min: int  # fewer cells than this to measure an empty-value rate on: the chance is 0.5

    @property
    def z(self) -> float:
        """Normal quantile of the published intervals (1.645 for 90 %)."""
        return NormalDist().inv_cdf(0.5 + self.niveau / 2)


def settings(con) -> Settings:
    p = dict(con.execute("SELECT parametre, valeur FROM ref_emploi_modele").fetchall())
    return Settings(niveau=p["niveau_intervalle"], proche=int(p["distance_proche_max"]),
                    moyen=int(p["distance_moyenne_max"]), classe_min=int(p["classe_min_etablissements"]),
                    conversion=p["conversion_incertitude_relative"],
                    ajustement_max=p["conversion_ajustement_max"], ouverte_haut=p["tranche_ouverte_borne_haute"],
                    variance_min=p["variance_minimale_cellule"], derive_sans_calage=p["sans_calage_derive_annuelle"],
                    vide_sure_min=p["vide_effectif_sur_min"], vide_cellules_min=int(p["vide_cellules_min"]),
                    fermeture=int(p["fermeture_tranche_max"]))


def bands(con, cfg: Settings) -> dict[str, tuple[float, float, float]]:
    """band -> (low, high, reference value); the open band gets the working upper bound of the settings."""
    out = {}
    for tranche, low, high, ref in con.execute(
            "SELECT tranche, effectif_bas, effectif_haut, effectif_central FROM ref_tranches_effectifs").fetchall():
        if tranche in BANDES:
            high = cfg.ouverte_haut if high is None else high
            out[tranche] = (float(low), float(high), float(ref) if ref is not None else float(np.sqrt(low * high)))
    return out


def define_macros(con) -> None:
    """The macros of sql/macros/: intervals (intervalles.sql: ic_bas, ic_haut, ic_part_bas, ic_part_haut)."""
    from ess.paths import SQL_DIR

    for path in sorted((SQL_DIR / "macros").glob("*.sql")):
        con.execute(path.read_text(encoding="utf-8"))


# --- the employment year -----------------------------------------------------------------------------------------

def urssaf_file(key: str) -> str:
    from sources.urssaf import SOURCE

    return SOURCE.file(key).filename


def choose_year(con, params: dict, calage: bool) -> tuple[int, str]:
    """The employment year Y and why; a run asking for calibration stops when the URSSAF files lack Y or the
    département, naming the file and what is missing."""
    dep = params["departement"]
    asked = params.get("annee_urssaf")
    ess_years = {r[0]: r[1] for r in con.execute(
        "SELECT annee, count(*) FILTER (WHERE cible IN ('associations', 'cooperatives', 'mutuelles', 'fondations')) "
        "FROM core_cibles_urssaf WHERE definition = 'moyenne_annuelle' GROUP BY 1").fetchall()}
    cell_years = {r[0] for r in con.execute(
        "SELECT DISTINCT annee FROM core_cellules_urssaf WHERE effectif > 0").fetchall()}
    if not calage:
        if asked:
            return int(asked), "annee_urssaf_du_run_sans_calage"
        modal = con.execute(
            "SELECT annee_effectifs FROM core_etablissements_prep WHERE actif AND employeur "
            "AND annee_effectifs IS NOT NULL GROUP BY 1 ORDER BY count(*) DESC, 1 DESC LIMIT 1").fetchone()
        if modal is None:
            raise UserError("no establishment carries a dated size band: cannot choose the employment year; give "
                            "--annee-urssaf")
        return int(modal[0]), "annee_modale_des_tranches_sans_calage"
    ess_file, ape_file = urssaf_file("ess_departement"), urssaf_file("commune_ape")
    hint = ("check the URSSAF snapshot, or run with --sans-calage (every employment figure is then marked "
            "« non calé »)")
    n_ess = con.execute("SELECT count(*) FROM staging_urssaf_ess_departement").fetchone()[0]
    n_ape = con.execute("SELECT count(*) FROM staging_urssaf_commune_ape").fetchone()[0]
    if not n_ess and not n_ape:
        raise UserError(f"no URSSAF figures for département {dep} ({ess_file}, {ape_file} absent or without this "
                        f"département): employment cannot be calibrated; {hint}")
    if not ess_years:
        raise UserError(f"URSSAF file {ess_file} has no ESS family row for département {dep}: employment cannot be "
                        f"calibrated; {hint}")
    if not cell_years:
        raise UserError(f"URSSAF file {ape_file} has no employment for the communes of département {dep}: "
                        f"employment cannot be calibrated; {hint}")
    both = sorted(y for y in ess_years if ess_years[y] and y in cell_years)
    if asked is None:
        if not both:
            raise UserError(f"URSSAF files {ess_file} (years {_years(ess_years)}) and {ape_file} (years "
                            f"{_years(cell_years)}) have no year in common for département {dep}; {hint}")
        return both[-1], "derniere_annee_des_deux_fichiers"
    y = int(asked)
    if not ess_years.get(y):
        raise UserError(f"URSSAF file {ess_file} has no figures for year {y} for département {dep} (its years: "
                        f"{_years(ess_years)}): choose --annee-urssaf among the years of both files "
                        f"({_years(both)}), or {hint}")
    if y not in cell_years:
        raise UserError(f"URSSAF file {ape_file} has no employment for year {y} in département {dep} (its years: "
                        f"{_years(cell_years)}): choose --annee-urssaf among the years of both files "
                        f"({_years(both)}), or {hint}")
    return y, "annee_urssaf_du_run"


def _years(years) -> str:
    ys = sorted(years)
    if not ys:
        return "none"
    return f"{ys[0]}–{ys[-1]}" if len(ys) > 2 and ys[-1] - ys[0] == len(ys) - 1 else ", ".join(map(str, ys))


# --- one year ----------------------------------------------------------------------------------------------------

@dataclass
class YearInput:
    year: int
    tranche: np.ndarray  # object
    annee_tranche: np.ndarray  # float (NaN when none)
    flag_o: np.ndarray  # bool
    recent: np.ndarray  # bool: created in y or y-1
    champ: np.ndarray  # bool
    famille: np.ndarray  # object: FAMILLES or None
    commune: np.ndarray  # object
    cell_key: np.ndarray  # object: 'commune|ape' (None without commune)
    u_present: np.ndarray  # bool: URSSAF lists the cell this year
    u_value: np.ndarray  # float: NaN = unknown
    # chance that the establishment's cell, left empty (a gap between published years, or in the file's last year
    # right after a published one), hides employment (a value URSSAF did not publish) rather than a year without
    # employee; NaN elsewhere (hidden_chances)
    u_hidden: np.ndarray | None = None
    # bool: closed since, with its band taken within cfg.fermeture years of its last year open on 31/12
    avant_fermeture: np.ndarray | None = None

    def __post_init__(self):
        if self.avant_fermeture is None:
            self.avant_fermeture = np.zeros(self.tranche.size, bool)


@dataclass
class YearResult:
    mean: np.ndarray
    prior: np.ndarray
    variance: np.ndarray
    classe: np.ndarray
    contrainte: np.ndarray
    denominator: np.ndarray
    projections: np.ndarray  # (n, 5)
    statut: np.ndarray
    report: list[dict]
    # employment URSSAF does not see inside its field by rule (unseen_employment): expected value, the standard
    # deviation from the share's own uncertainty (fully correlated between establishments) and the granularity
    # variance (independent); zeros when the year is not calibrated
    unseen: np.ndarray | None = None
    unseen_sd: np.ndarray | None = None
    unseen_var: np.ndarray | None = None


# Band-age groups: the band of the year estimated or the one before (0), of 2-4 years (1), older (2), and a band taken
# at the end of an establishment closed since, for the years before it (3, « avant fermeture »: the band then often
# describes a decline before closing, not the years before).
N_GROUPS = 4
AVANT_FERMETURE = 3
# Classes as integers: banded ones are band × band-age group (0..55), then 00 (56), then NN / empty × employer flag
# × recent creation (57..64). Fitting columns are class × place (listed cell c = 0, commune pool p = 1), then the
# pooled banded classes of each band-age group × place (the ratio columns), then the pooled unbanded classes.
BASE_00 = len(BANDES) * N_GROUPS
N_BASE = BASE_00 + 1 + 8
RATIO_COL = N_BASE * 2
POOLED_COL = RATIO_COL + N_GROUPS * 2
N_COL = POOLED_COL + 2


def base_names() -> np.ndarray:
    names = [f"{b}:{g}" for b in BANDES for g in range(N_GROUPS)] + ["00"]
    names += [f"{k}:{f}:{r}" for k in ("NN", "vide") for f in ("x", "O") for r in ("ancien", "recent")]
    return np.array(names, dtype=object)


def column_names() -> np.ndarray:
    base = base_names()
    cols = [f"{b}|{w}" for b in base for w in ("c", "p")]
    cols += [f"rapport:{g}|{w}" for g in range(N_GROUPS) for w in ("c", "p")] + ["sans_tranche|c", "sans_tranche|p"]
    return np.array(cols, dtype=object)


def _classes(inp: YearInput, cfg: Settings) -> tuple[np.ndarray, np.ndarray]:
    """Class code of each establishment (see N_BASE) and its band-age group (−1 without band)."""
    band_idx = pd.Series(inp.tranche, dtype=object).map({b: i for i, b in enumerate(BANDES)})
    banded = band_idx.notna().to_numpy()
    d = np.abs(inp.year - inp.annee_tranche)
    group = np.where(d <= cfg.proche, 0, np.where(d <= cfg.moyen, 1, 2))
    group = np.where(inp.avant_fermeture & (inp.year < inp.annee_tranche), AVANT_FERMETURE, group)
    group = np.where(banded, group, -1)
    kind = np.where(inp.tranche == "NN", 0, 1)
    other = BASE_00 + 1 + kind * 4 + inp.flag_o.astype(int) * 2 + inp.recent.astype(int)
    base = np.where(banded, band_idx.fillna(0).to_numpy().astype(int) * N_GROUPS + np.maximum(group, 0), other)
    base = np.where(inp.tranche == "00", BASE_00, base)
    return base.astype(int), group


def _default_prior(inp, band, cfg) -> tuple[np.ndarray, np.ndarray]:
    """Uncalibrated prior: the band's reference value, a variance from its width and age; 0 without band."""
    m = np.zeros(inp.tranche.size)
    v = np.zeros(inp.tranche.size)
    d = np.nan_to_num(np.abs(inp.year - inp.annee_tranche))
    for b, (low, high, ref) in band.items():
        idx = inp.tranche == b
        m[idx] = ref
        v[idx] = (high - low) ** 2 / 12 + (cfg.derive_sans_calage * ref) ** 2 * np.maximum(d[idx], 1)
    return m, v


@dataclass
class Constraints:
    index: np.ndarray  # per establishment: constraint index (−1: none)
    keys: np.ndarray  # per constraint: 'commune|ape' or 'commune:<code>' (pool)
    target: np.ndarray  # per constraint: URSSAF's headcount
    is_pool: np.ndarray
    unknown: np.ndarray  # per establishment: in a cell URSSAF leaves empty
    orphan: dict  # commune -> URSSAF employment in cells without any SIRENE establishment
    hidden: np.ndarray  # per establishment: in an ambiguous empty cell, imputed with the chance u_hidden


def _constraints(inp: YearInput, orphan: dict[str, float]) -> Constraints:
    """Each establishment of the field with a commune goes to its commune × APE cell when URSSAF lists it for the
    year with a value, to its commune's pool when URSSAF does not list it (no employer there for URSSAF), nowhere
    when the value is unknown. A pool's target is the employment URSSAF files in cells of the commune where SIRENE
    has no establishment of the field (`orphan`: an APE recorded differently, an establishment SIRENE places
    elsewhere)."""
    in_field = inp.champ & pd.notna(inp.commune)
    # a gap (unknown value) with its chance is imputed even at π = 0 (then 0); an empty value of the last year, read
    # as 0, only when π > 0 (else its cell's 0 stands)
    has_chance = np.zeros(inp.tranche.size, bool) if inp.u_hidden is None else ~np.isnan(inp.u_hidden)
    hidden = in_field & inp.u_present & has_chance & ((_hidden(inp) > 0) | np.isnan(inp.u_value))
    matched = in_field & inp.u_present & ~np.isnan(inp.u_value) & ~hidden
    unknown = in_field & inp.u_present & np.isnan(inp.u_value)
    unmatched = in_field & ~inp.u_present
    key = pd.Series(np.full(inp.tranche.size, None, object), dtype=object)
    key[matched] = inp.cell_key[matched]
    key[unmatched] = "commune:" + pd.Series(inp.commune[unmatched], dtype=object).astype(str).to_numpy()
    codes, keys = pd.factorize(key, sort=True)
    keys = np.asarray(keys, dtype=object)
    is_pool = pd.Series(keys, dtype=object).str.startswith("commune:").to_numpy(dtype=bool)
    target = np.zeros(keys.size)
    cell_value = pd.Series(inp.u_value[matched]).groupby(codes[matched]).first()
    target[cell_value.index.to_numpy()] = cell_value.to_numpy()
    pools = np.flatnonzero(is_pool)
    target[pools] = [orphan.get(k[len("commune:"):], 0.0) for k in keys[pools]]
    return Constraints(index=np.asarray(codes), keys=keys, target=target, is_pool=is_pool, unknown=unknown,
                       orphan=orphan, hidden=hidden)


def _hidden(inp: YearInput) -> np.ndarray:
    return np.zeros(inp.tranche.size) if inp.u_hidden is None else np.nan_to_num(inp.u_hidden)


def impute_hidden(inp: YearInput, con_: Constraints, m: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Prior of the establishments of the file's ambiguous empty cells: with chance π (u_hidden) the cell hides
    employment and each member has its listed-cell law (m, v), else the cell had nobody (0). Mean π·m; variance
    π·v + π(1 − π)·m·M_c, M_c the cell's Σ m — summed over a whole cell this is exactly the variance of the cell's
    mixture, π·V_c + π(1 − π)·M_c² (all its members are 0 together or none is)."""
    pi = _hidden(inp)
    h = con_.hidden
    if not h.any():
        return m, v
    cells, code = np.unique(inp.cell_key[h].astype(str), return_inverse=True)
    M_c = np.bincount(code, weights=m[h], minlength=cells.size)[code]
    m, v = m.copy(), v.copy()
    p = pi[h]
    v[h] = np.maximum(p * v[h] + p * (1 - p) * m[h] * M_c, 1e-4)
    m[h] = p * m[h]
    return m, v


@dataclass
class Prior:
    mean: np.ndarray
    variance: np.ndarray
    column: np.ndarray  # the class each establishment's mean comes from
    cell_error: np.ndarray  # per constraint
    figures: dict


def _fit_prior(inp: YearInput, con_: Constraints, band: dict, cfg: Settings) -> Prior:
    """Class means by non-negative least squares on URSSAF's cells, class variances from the cells holding a single
    establishment, cell errors by the method of moments.

    Whether URSSAF lists an establishment's commune × APE cell is itself information (a listed cell has had an
    employer; an unlisted one had none in URSSAF's records), so each class is estimated separately for
    establishments of listed cells (|c) and of commune pools (|p). Establishments neither place constrains (outside
    the field, unknown cells) take the mixture of the two, in the proportions of their class in the field."""
    n = inp.tranche.size
    base, group = _classes(inp, cfg)
    banded = group >= 0
    ref = np.zeros(n)
    for b, (low, high, r) in band.items():
        ref[inp.tranche == b] = r
    cidx = con_.index
    constrained = cidx >= 0
    place = np.where(constrained, con_.is_pool[np.maximum(cidx, 0)].astype(int), 2)  # 0 cell, 1 pool, 2 neither
    counts = np.bincount((base * 2 + place)[constrained], minlength=N_BASE * 2)
    base_group = np.array([g for _ in BANDES for g in range(N_GROUPS)] + [-1] * (N_BASE - BASE_00))
    # fitting column of each class in each place: its own, or the pooled one of its kind when it has few members
    mapping = np.empty((2, N_BASE), int)
    for w in (0, 1):
        own = np.arange(N_BASE) * 2 + w
        pooled = np.where(base_group >= 0, RATIO_COL + np.maximum(base_group, 0) * 2 + w, POOLED_COL + w)
        mapping[w] = np.where(counts[own] >= cfg.classe_min, own, pooled)
    col_c, col_p = mapping[0][base], mapping[1][base]
    col_idx = np.where(place == 0, col_c, np.where(place == 1, col_p, -1))
    is_ratio = lambda c: (c >= RATIO_COL) & (c < POOLED_COL)  # noqa: E731
    value = np.where(banded & is_ratio(col_idx), ref, 1.0)
    k_c = con_.keys.size
    A = np.zeros((k_c, N_COL))
    np.add.at(A, (cidx[constrained], col_idx[constrained]), value[constrained])
    y = con_.target
    size = np.bincount(cidx[constrained], minlength=k_c)
    single = (size == 1) & ~con_.is_pool
    # share of URSSAF's employment in cells where SIRENE has no establishment of the field: a lower bound of the
    # rate at which URSSAF and SIRENE record an establishment's activity differently (reported)
    orphan_total = float(sum(con_.orphan.values()))
    mismatch = orphan_total / max(float(y[~con_.is_pool].sum()) + orphan_total, 1.0)

    used = np.flatnonzero(A.any(axis=0))
    beta = np.zeros(N_COL)
    beta[used], _ = nnls(A[:, used], y, maxiter=50 * used.size)
    for _ in range(3):
        model = _variance_model(beta, y, cidx, single, col_idx, value, cfg)
        m = np.where(constrained, beta[np.maximum(col_idx, 0)] * value, 0.0)
        v = np.where(constrained, model(np.maximum(col_idx, 0), m), 0.0)
        w = _cell_errors(m, v, y, cidx, size, con_.is_pool, cfg)
        V = np.bincount(cidx[constrained], weights=v[constrained], minlength=k_c)
        weight = 1.0 / np.sqrt(V + w)
        beta[used], _ = nnls(A[:, used] * weight[:, None], y * weight, maxiter=50 * used.size)
    model = _variance_model(beta, y, cidx, single, col_idx, value, cfg)
    seen = np.zeros(N_COL, bool)
    seen[used] = True

    def mean_var(cols: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Mean and variance of every establishment under the given fitting columns; `known` where estimated."""
        val = np.where(banded & is_ratio(cols), ref, 1.0)
        known = seen[cols].copy()
        mm = beta[cols] * val
        # banded classes never seen in cells (the top bands of public employers…): pooled ratio × reference value
        for j in np.unique(cols[~known & banded]):
            sel = (cols == j) & banded
            grp, w = (j - RATIO_COL) // 2 if is_ratio(j) else (j // 2) % N_GROUPS, j % 2
            mm[sel] = _pooled_ratio(beta, band, int(grp), int(w)) * ref[sel]
            known[sel] = True
        return mm, model(cols, mm), known

    m_c, v_c, known_c = mean_var(col_c)
    m_p, v_p, known_p = mean_var(col_p)
    # share of listed cells among the field's members of the class; a class without members in the field (the top
    # bands of public employers) takes that of its kind (banded of the same band-age group, or unbanded)
    n_c = counts[0::2].astype(float)
    n_p = counts[1::2].astype(float)
    kind_share = {}
    for g in (-1, *range(N_GROUPS)):
        sel = base_group == g
        total = n_c[sel].sum() + n_p[sel].sum()
        kind_share[g] = n_c[sel].sum() / total if total > 0 else 1.0
    class_share = np.where(n_c + n_p > 0, n_c / np.maximum(n_c + n_p, 1),
                           [kind_share[int(g)] for g in base_group])
    share_c = np.where(known_c & known_p, class_share[base], np.where(known_c, 1.0, np.where(known_p, 0.0, 0.5)))
    m_u = share_c * m_c + (1 - share_c) * m_p
    v_u = share_c * (v_c + m_c ** 2) + (1 - share_c) * (v_p + m_p ** 2) - m_u ** 2
    # an establishment of a cell URSSAF lists with an unknown value is in a listed cell: its class's |c law
    listed = (place == 0) | con_.unknown | con_.hidden
    m = np.where(listed, m_c, np.where(place == 1, m_p, m_u))
    v = np.maximum(np.where(listed, v_c, np.where(place == 1, v_p, v_u)), 1e-4)
    w = _cell_errors(m, v, y, cidx, size, con_.is_pool, cfg)
    names = column_names()
    shown = np.where(con_.unknown | con_.hidden, names[col_c].astype(str),
                     np.where(place == 2, "melange:" + base_names()[base].astype(str),
                              names[np.maximum(col_idx, 0)].astype(str))).astype(object)
    figures = {"classes": int(used.size), "cellules_mono_etablissement": int(single.sum()),
               "taux_ape_differente": mismatch}
    return Prior(mean=m, variance=v, column=shown, cell_error=w, figures=figures)


def _variance_model(beta, y, cidx, single, col_idx, value, cfg):
    """A function (fitting column, mean) -> variance of an establishment's headcount around its class mean.

    Listed cells (|c): from the cells where the establishment is alone (URSSAF's value is then its headcount) —
    relative to the squared mean for banded classes (whose means scale with the band), absolute for the others; a
    class with too few such cells takes the median of its kind. Pools (|p): one dispersion φ·(mean² + mean) fitted
    on the pools by the method of moments."""
    constrained = cidx >= 0
    j = np.maximum(col_idx, 0)
    m = np.where(constrained, beta[j] * value, 0.0)
    alone = constrained & single[np.maximum(cidx, 0)]
    gap2 = np.where(alone, (y[np.maximum(cidx, 0)] - m) ** 2, 0.0)
    rel = np.where(alone & (m > 0), gap2 / np.maximum(m, 1e-9) ** 2, 0.0)
    n_alone = np.bincount(j[alone], minlength=N_COL)
    mean_gap2 = np.bincount(j[alone], weights=gap2[alone], minlength=N_COL) / np.maximum(n_alone, 1)
    mean_rel = np.bincount(j[alone], weights=rel[alone], minlength=N_COL) / np.maximum(n_alone, 1)
    cols = np.arange(N_COL)
    col_banded = ((cols < RATIO_COL) & (cols // 2 < BASE_00)) | ((cols >= RATIO_COL) & (cols < POOLED_COL))
    col_pool = cols % 2 == 1
    ok = n_alone >= cfg.classe_min
    rel_default = float(np.median(mean_rel[ok & col_banded])) if (ok & col_banded).any() else 0.25
    abs_default = float(np.median(mean_gap2[ok & ~col_banded])) if (ok & ~col_banded).any() else 1.0
    rel_col = np.where(ok & col_banded, mean_rel, rel_default)
    abs_col = np.where(ok & ~col_banded, mean_gap2, abs_default)
    # pools: Σ (y − M)² ≈ φ Σ (m² + m) over pools
    k_c = y.size
    pool_member = constrained & col_pool[j]
    M = np.bincount(cidx[constrained], weights=m[constrained], minlength=k_c)
    feat = np.bincount(cidx[pool_member], weights=m[pool_member] ** 2 + m[pool_member], minlength=k_c)
    is_pool_c = np.bincount(cidx[pool_member], minlength=k_c) > 0
    phi = float(np.sum(np.where(is_pool_c, (y - M) ** 2, 0.0)) / feat.sum()) if feat.sum() > 0 else 1.0

    def model(jj: np.ndarray, mm: np.ndarray) -> np.ndarray:
        out = np.where(col_banded[jj], rel_col[jj] * mm ** 2, np.maximum(abs_col[jj], mm))
        out = np.where(col_pool[jj], phi * (mm ** 2 + mm), out)
        return np.maximum(out, 1e-4)

    return model


def _cell_errors(m, v, y, cidx, size, is_pool, cfg) -> np.ndarray:
    """Error variance of each constraint beyond its members' variances (method of moments): ω²·M² for cells with
    several establishments, ω_p²·(M² + y²) for pools, plus a floor. A member's variation and a recording mismatch
    (URSSAF filing an establishment under another APE than SIRENE's) look alike in a cell's total; the variances
    estimated on single-establishment cells hold both, so the calibration trusts a cell's total and spreads its
    gap over its members in proportion to their variances."""
    ok = cidx >= 0
    k_c = y.size
    M = np.bincount(cidx[ok], weights=m[ok], minlength=k_c)
    V = np.bincount(cidx[ok], weights=v[ok], minlength=k_c)
    out = np.full(k_c, cfg.variance_min, dtype=float)
    excess = (y - M) ** 2 - V - out
    for mask, feature in ((~is_pool & (size > 1), M ** 2), (is_pool, M ** 2 + y ** 2)):
        if mask.any() and np.sum(feature[mask] ** 2) > 0:
            omega = max(float(np.sum(excess[mask] * feature[mask]) / np.sum(feature[mask] ** 2)), 0.0)
            out[mask] += omega * feature[mask]
    return out


def _pooled_ratio(beta, band, grp: int, place: int) -> float:
    """Ratio of class means to band reference values for a band-age group and place: the pooled class's when
    estimated, else the median over the estimated banded classes of the group, else 1."""
    pooled = beta[RATIO_COL + grp * 2 + place]
    if pooled > 0:
        return float(pooled)
    ratios = [beta[(i * N_GROUPS + grp) * 2 + place] / band[b][2] for i, b in enumerate(BANDES)
              if b in band and beta[(i * N_GROUPS + grp) * 2 + place] > 0]
    return float(np.median(ratios)) if ratios else 1.0


@dataclass
class Conversion:
    """The families' targets at 31/12 (FAMILLES order) from their annual averages: `target` (sums to the 31/12
    private total), `rel_sd` (relative standard deviation of each target), `ratio` (the field factor: 31/12 private
    total / ESS-file total), `adjustment` (each family's factor over the field's), `growth_sd` (its part of rel_sd),
    `method` (per family: « centree », « suivante », « precedente » or « aucune »)."""
    target: np.ndarray
    rel_sd: np.ndarray
    ratio: float
    adjustment: np.ndarray
    growth_sd: np.ndarray
    method: list[str]


def _positive(series: dict, year: int, f: str) -> float | None:
    v = series.get(year, {}).get(f)
    return float(v) if v is not None and np.isfinite(v) and v > 0 else None


def family_conversion(series: dict[int, dict[str, float | None]], year: int, total: float | None,
                      residual: float, bound: float) -> Conversion | None:
    """Convert URSSAF's annual averages of the FAMILLES in `year` into headcounts at 31/12 summing to `total` (the
    31/12 private total of the commune × APE file); None when a family of the year is not published or without
    total (no family target that year).

    An annual average of quarterly headcounts is about the headcount at mid-year; 31/12 comes half a year later, so
    a family's 31/12 headcount is about its average plus half a year of its growth, c_f = 1 + ½ g_f with g_f its
    yearly growth measured on its published averages around the year: (A(y+1) − A(y−1)) / (2 A(y)) when both
    neighbours are published (central difference: exact when the headcount moves linearly), else the one-sided
    growth from the neighbour published (the first or the last year of the file, a neighbour secret). A family
    without either keeps c_f = the field's. The field factor r = total / Σ A_f holds the field's own growth and
    seasonality; each family is converted by r × c_f / C, C = Σ A_f c_f / Σ A_f (its growth relative to the
    field's), so that the targets sum to `total`: target_f = total × A_f c_f / Σ A_g c_g. The adjustment c_f / C is
    bounded at ×/÷ (1 + `bound`) (conversion_ajustement_max of emploi_modele.csv).

    Uncertainty (relative, independent between families): `residual` (what growth does not explain: a seasonal
    profile that differs between the family's activities and the field's, entries and exits not spread over the
    year; emploi_modele.csv) and the growth term's own error, measured on the family's published series: the RMS
    over its years of κ(t) = (A(t+1) − 2 A(t) + A(t−1)) / (4 A(t)), by which one-sided and central estimates of
    c differ (the series' curvature: a step in a small family gives a large κ). Fewer than 3 such years: the
    adjustment itself, |c_f / C − 1|."""
    now = {f: series.get(year, {}).get(f) for f in FAMILLES}
    if any(v is None or not np.isfinite(v) for v in now.values()) or not total:
        return None
    a = np.array([float(now[f]) for f in FAMILLES])
    if a.sum() <= 0:
        return None
    ratio = float(total) / float(a.sum())
    c = np.full(len(FAMILLES), np.nan)
    method = []
    for i, f in enumerate(FAMILLES):
        here, before, after = _positive(series, year, f), _positive(series, year - 1, f), \
            _positive(series, year + 1, f)
        if here is None or (before is None and after is None):
            method.append("aucune")
            continue
        if before is not None and after is not None:
            growth, how = (after - before) / (2 * here), "centree"
        elif after is not None:
            growth, how = (after - here) / here, "suivante"
        else:
            growth, how = (here - before) / here, "precedente"
        c[i] = 1 + growth / 2
        method.append(how)
    known = np.isfinite(c)
    field = float(np.sum(a[known] * c[known]) / a[known].sum()) if known.any() and a[known].sum() > 0 else 1.0
    adjustment = np.where(known, c / field, 1.0)
    adjustment = np.clip(adjustment, 1 / (1 + bound), 1 + bound)
    weighted = a * adjustment
    target = float(total) * weighted / weighted.sum()
    growth_sd = np.zeros(len(FAMILLES))
    years = sorted(series)
    for i, f in enumerate(FAMILLES):
        if not known[i]:
            continue
        kappa = []
        for t in years:
            here, before, after = (_positive(series, t, f), _positive(series, t - 1, f), _positive(series, t + 1, f))
            if here is not None and before is not None and after is not None:
                kappa.append((after - 2 * here + before) / (4 * here))
        growth_sd[i] = (float(np.sqrt(np.mean(np.square(kappa)))) if len(kappa) >= 3
                        else abs(float(adjustment[i]) - 1))
    rel_sd = np.sqrt(residual ** 2 + growth_sd ** 2)
    return Conversion(target=target, rel_sd=rel_sd, ratio=ratio, adjustment=adjustment, growth_sd=growth_sd,
                      method=method)


def share_moments(low: float, high: float) -> tuple[float, float]:
    """Mean and standard deviation of g = s / (1 − s), the unseen employment per seen job, when the share s of a
    category's employment URSSAF does not see is uniform on [low, high] (a point when low = high). Closed forms:
    ∫ g ds = −s − ln(1 − s), ∫ g² ds = 1 / (1 − s) + 2 ln(1 − s) − (1 − s)."""
    if not 0 <= low <= high < 1:
        raise ValueError(f"share range [{low}, {high}] must satisfy 0 <= low <= high < 1")
    if high - low < 1e-12:
        return low / (1 - low), 0.0

    def first(x):
        return -x - np.log1p(-x)

    def second(x):
        return 1 / (1 - x) + 2 * np.log1p(-x) - (1 - x)

    mean = (first(high) - first(low)) / (high - low)
    square = (second(high) - second(low)) / (high - low)
    return float(mean), float(np.sqrt(max(square - mean * mean, 0.0)))


def unseen_employment(seen: np.ndarray, rule: np.ndarray, unit: np.ndarray,
                      rules: dict[str, tuple[float, float]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Employment URSSAF does not see, per establishment of one year: (expected value, standard deviation from the
    share's uncertainty, granularity variance). `seen`: calibrated estimates (what URSSAF sees); `rule`: the rule of
    emploi_hors_urssaf.csv each matches (None: none); `unit`: its legal unit (SIREN); `rules`: rule -> (part_min,
    part_max).

    A share s of a rule's true employment T is under the MSA: seen = (1 − s) T, unseen = s T = g · seen with
    g = s / (1 − s). s is uniform on [part_min, part_max] (share_moments: mean ḡ, sd σ_g), the same for every
    establishment of the rule, so its uncertainty is fully correlated between them: the cube sums the standard
    deviations e_i σ_g of a cell and squares the sum (and treats the rules as correlated with each other too, a
    département with more agricultural bodies having more of each kind: an upper bound). Whole legal units are
    under the MSA or not (a Bernoulli draw of chance s per unit): given s, the unseen employment of units of seen
    employment E_u has variance s/(1 − s) · E_u², on average ḡ · E_u². It is spread over the unit's establishments
    as ḡ · e_i · E_u, exact for any sum holding whole units, larger than the truth for a sum holding part of one.
    Not counted: the calibrated estimate's own error scaled by g (second order), the units' draws being correlated
    within a département."""
    seen = np.asarray(seen, float)
    n = seen.size
    central, sd, var = np.zeros(n), np.zeros(n), np.zeros(n)
    rule = np.asarray(rule, dtype=object)
    matched = pd.notna(rule)
    if not matched.any():
        return central, sd, var
    moments = pd.DataFrame({r: share_moments(*rules[r]) for r in set(rule[matched])}, index=["g", "g_sd"]).T
    by_rule = moments.reindex(pd.Series(rule).where(matched, None)).fillna(0.0)
    g, g_sd = by_rule["g"].to_numpy(), by_rule["g_sd"].to_numpy()
    e = np.where(matched, np.maximum(seen, 0.0), 0.0)
    units = pd.Series(np.asarray(unit, dtype=object)).where(matched, None)
    unit_total = pd.Series(e).groupby(units).transform("sum").fillna(0.0).to_numpy()
    central = g * e
    sd = g_sd * e
    var = g * e * unit_total
    return central, sd, var


def quantise(mean: np.ndarray) -> np.ndarray:
    """Estimates at DECIMALES_EFFECTIF decimals (see there), never −0."""
    return np.round(np.asarray(mean, float), DECIMALES_EFFECTIF) + 0.0


def estimate_year(inp: YearInput, band: dict, cfg: Settings, targets: dict[str, float] | None,
                  ensemble_prive: float | None, orphan: dict[str, float] | None, calibrate: bool,
                  series: dict[int, dict[str, float | None]] | None = None) -> YearResult:
    """Prior, calibration and outputs of one year. `targets`: annual averages of the 5 FAMILLES (those published);
    `ensemble_prive`: URSSAF's 31/12 private total of the département; `orphan`: per commune, URSSAF's employment in
    cells without any establishment of the field (None: no URSSAF cells this year); `series`: the families' annual
    averages of every year of URSSAF's ESS file, for their growth (None: this year's `targets` only, no growth)."""
    n = inp.tranche.size
    nf = len(FAMILLES)
    if not calibrate or orphan is None:
        m, v = _default_prior(inp, band, cfg)
        m = quantise(m)
        classe, _ = _classes(inp, cfg)
        return YearResult(mean=m, prior=m, variance=v, classe=base_names()[classe], contrainte=np.full(n, None, object),
                          denominator=np.full(n, np.nan), projections=np.zeros((n, nf)),
                          statut=np.full(n, "non_cale", object), report=[])
    con_ = _constraints(inp, orphan)
    prior = _fit_prior(inp, con_, band, cfg)
    m, v = impute_hidden(inp, con_, prior.mean, prior.variance)

    # --- the private total at 31/12: URSSAF's published cells, plus what its ambiguous empty cells hold ----------
    # An empty value (a gap between published years, or in the file's last year right after a published year) is
    # missing from the file's sum but may hide employment (impute_hidden): it is added with the mean and variance its
    # establishments are given, weighed by the chance that it hides employment, so the conversion below is not
    # biased low and its uncertainty counts what is not published.
    empty = con_.hidden
    imputed = float(m[empty].sum())
    imputed_var = float(v[empty].sum())
    total_prive = ensemble_prive + imputed if ensemble_prive else ensemble_prive

    # --- family targets at 31/12: URSSAF's annual averages converted family by family (family_conversion) -------
    fam_idx = pd.Series(inp.famille, dtype=object).map({f: i for i, f in enumerate(FAMILLES)}).fillna(-1)
    fam_idx = np.where(inp.champ, fam_idx.to_numpy().astype(int), -1)
    published = [f for f in FAMILLES if targets and targets.get(f) is not None]
    conv = family_conversion(series or {inp.year: targets or {}}, inp.year, total_prive, cfg.conversion,
                             cfg.ajustement_max)
    ratio = conv.ratio if conv else None
    use_f = np.full(nf, conv is not None)
    y_f = conv.target if conv else np.zeros(nf)
    # the conversion's own uncertainty, and that of the empty cells' mass it holds (relative, on every target)
    rel_empty = imputed_var / total_prive ** 2 if total_prive else 0.0
    w_f = ((conv.rel_sd ** 2 if conv else 0.0) + rel_empty) * y_f ** 2 + cfg.variance_min
    remap = -np.ones(nf, int)
    remap[use_f] = np.arange(use_f.sum())
    fam_solve = np.where(fam_idx >= 0, remap[np.maximum(fam_idx, 0)], -1)
    post = calibration.solve_non_negative(m, v, con_.index, con_.target, prior.cell_error, fam_solve, y_f[use_f],
                                          w_f[use_f])
    post.mean = quantise(post.mean)  # what is written, summed and reported (total_cale)
    projections = np.zeros((n, nf))
    projections[:, np.flatnonzero(use_f)] = post.projections

    statut = np.full(n, "cale", object)
    statut[~inp.champ] = "hors_champ_urssaf"
    statut[inp.champ & ~pd.notna(inp.commune)] = "sans_commune"
    statut[con_.unknown] = "cellule_urssaf_inconnue"
    statut[con_.hidden] = "cellule_urssaf_vide_imputee"
    contrainte = np.where(con_.index >= 0, con_.keys[np.maximum(con_.index, 0)], None).astype(object)
    report = _year_report(inp, m, post, fam_idx, use_f, targets, published, ratio, y_f, w_f, ensemble_prive, con_,
                          prior, (imputed, imputed_var))
    # the variance the cube must use is the one of the last solve (establishments fixed at 0 have none)
    return YearResult(mean=post.mean, prior=m, variance=post.variance, classe=prior.column, contrainte=contrainte,
                      denominator=post.denominator, projections=projections, statut=statut, report=report)


def _year_report(inp, m, post, fam_idx, use_f, targets, published, ratio, y_f, w_f, ensemble_prive, con_,
                 prior, empty=(0.0, 0.0)) -> list[dict]:
    imputed, imputed_var = empty
    total_prive = ensemble_prive + imputed if ensemble_prive else ensemble_prive
    report = []
    for j, f in enumerate(FAMILLES):
        mask = fam_idx == j
        row = {
            "groupe": f, "source_cible": "urssaf_ess_departement",
            "definition_cible": "moyenne_annuelle" if f in published else None,
            "cible_publiee": targets.get(f) if targets else None,
            "facteur_conversion": ratio if use_f[j] else None,
            "cible_fin_annee": float(y_f[j]) if use_f[j] else None,
            "ecart_type_cible": float(np.sqrt(w_f[j])) if use_f[j] else None,
            "nb_etablissements": int(mask.sum()),
            "total_a_priori": float(m[mask].sum()), "total_cale": float(post.mean[mask].sum()),
            "statut": "cale" if use_f[j] else "sans_cible",
        }
        if f == "hors_ess" and ratio is not None:
            # the two URSSAF views of the rest of the economy: « Hors ESS » (annual average, converted) and the
            # commune × APE total minus the ESS families' converted targets
            cells_view = total_prive - float(y_f[:4].sum())
            row["cible_autre_source"] = cells_view
            row["desaccord_relatif"] = (float(y_f[j]) - cells_view) / cells_view if cells_view else None
            raw_cells = total_prive - sum(targets[g] for g in FAMILLES[:4])
            row["desaccord_relatif_avant_conversion"] = (targets[f] - raw_cells) / raw_cells if raw_cells else None
        report.append(row)
    pooled = {k[len("commune:"):] for k, p in zip(con_.keys, con_.is_pool) if p}
    field = inp.champ
    report.append({
        "groupe": "ensemble_prive", "source_cible": "urssaf_commune_ape", "definition_cible": "fin_annee",
        "cible_publiee": ensemble_prive, "cible_fin_annee": total_prive, "nb_etablissements": int(field.sum()),
        "ecart_type_cible": float(np.sqrt(imputed_var)),
        "total_a_priori": float(m[field].sum()), "total_cale": float(post.mean[field].sum()), "statut": "cale",
        "nb_cellules": int((~con_.is_pool).sum()), "nb_communes_rattrapage": int(con_.is_pool.sum()),
        "emploi_urssaf_sans_etablissement": float(sum(con_.orphan.values())),
        "emploi_urssaf_non_attribue": float(sum(x for c, x in con_.orphan.items() if c not in pooled)),
        "nb_etablissements_cellule_inconnue": int(con_.unknown.sum()),
        "nb_cellules_vides_imputees": int(np.unique(inp.cell_key[con_.hidden].astype(str)).size),
        "nb_etablissements_cellule_vide_imputee": int(con_.hidden.sum()),
        "probabilite_vide_masque": (float(np.average(_hidden(inp)[con_.hidden], weights=prior.mean[con_.hidden]
                                                      + 1e-9)) if con_.hidden.any() else None),
        "emploi_impute_cellules_vides": imputed,
        "nb_valeurs_negatives_ramenees_a_zero": post.clipped,
        "nb_classes": prior.figures["classes"],
        "nb_cellules_mono_etablissement": prior.figures["cellules_mono_etablissement"],
    })
    outside = ~field
    report.append({
        "groupe": "hors_champ_urssaf", "nb_etablissements": int(outside.sum()),
        "total_a_priori": float(m[outside].sum()), "total_cale": float(post.mean[outside].sum()),
        "statut": "non_cale",
    })
    return report


# --- the step ------------------------------------------------------------------------------------------------------

def estimate(con, params: dict) -> dict:
    """Build core_effectifs_entrees, core_effectifs and core_calibration in `con` (core step). Returns figures."""
    cfg = settings(con)
    calage = bool(params.get("calage", True))
    year, why = choose_year(con, params, calage)
    db.build_table(con, "core_effectifs_entrees", annee_effectifs=year)
    band = bands(con, cfg)
    _register_hidden(con, cfg)
    data = con.execute(
        """SELECT e.siret, e.annee, e.code_commune, e.code_commune || '|' || coalesce(e.code_ape, '') AS cellule,
                  e.champ_urssaf, e.famille_urssaf, e.tranche, e.annee_tranche,
                  e.caractere_employeur = 'O' AS flag_o, e.annee_creation, e.regle_hors_urssaf,
                  left(e.siret, 9) AS siren,
                  c.annee IS NOT NULL AS u_present, c.effectif AS u_value, h.chance AS u_hidden,
                  coalesce(s.etat_administratif = 'F' AND e.annee_tranche >= o.derniere_annee - $fermeture, false)
                      AS avant_fermeture
           FROM core_effectifs_entrees AS e
           LEFT JOIN (SELECT siret, etat_administratif FROM staging_sirene_etablissements) AS s USING (siret)
           -- its last year open on 31/12, whatever the employment year (core_situations goes to the millésime)
           LEFT JOIN (SELECT siret, max(annee) FILTER (WHERE actif AND date_situation = make_date(annee, 12, 31))
                          AS derniere_annee
                      FROM core_situations WHERE NOT courant GROUP BY siret) AS o USING (siret)
           LEFT JOIN core_cellules_urssaf AS c USING (annee, code_commune, code_ape)
           LEFT JOIN _vides_masques AS h USING (annee, code_commune, code_ape)
           ORDER BY e.annee, e.siret""", {"fermeture": cfg.fermeture}
    ).fetchnumpy()
    targets = {}
    for annee, cible, effectif in con.execute(
            "SELECT annee, cible, effectif FROM core_cibles_urssaf WHERE effectif IS NOT NULL").fetchall():
        targets.setdefault(int(annee), {})[cible] = float(effectif)
    series = {y: {f: t.get(f) for f in FAMILLES} for y, t in targets.items()}
    # per year and commune, URSSAF's employment in cells where SIRENE has no establishment of the field
    orphans: dict[int, dict[str, float]] = {int(y): {} for (y,) in con.execute(
        "SELECT DISTINCT annee FROM core_cellules_urssaf WHERE effectif IS NOT NULL").fetchall()}
    for annee, commune, total in con.execute(
            """SELECT c.annee, c.code_commune, sum(c.effectif)
               FROM core_cellules_urssaf AS c
               ANTI JOIN (SELECT DISTINCT annee, code_commune, code_ape FROM core_effectifs_entrees
                          WHERE champ_urssaf) AS e USING (annee, code_commune, code_ape)
               WHERE c.effectif > 0
               GROUP BY ALL""").fetchall():
        orphans[int(annee)][commune] = float(total)

    unseen_rules = {r: (float(lo), float(hi)) for r, lo, hi in con.execute(
        "SELECT regle, part_min, part_max FROM ref_emploi_hors_urssaf").fetchall()}
    rule_of = _strings(data["regle_hors_urssaf"])
    siren_of = np.asarray(data["siren"], dtype=object)

    years = np.asarray(data["annee"])
    parts, report = [], []
    for y in range(FIRST_YEAR, year + 1):
        idx = np.flatnonzero(years == y)
        if idx.size == 0:
            continue
        inp = _year_input(data, idx, y)
        t = targets.get(y, {})
        res = estimate_year(inp, band, cfg, {f: t.get(f) for f in FAMILLES}, t.get("ensemble_prive"),
                            orphans.get(y), calage, series)
        if res.report:  # calibrated: the estimate is what URSSAF sees; without calibration, SIRENE's bands count all
            res.unseen, res.unseen_sd, res.unseen_var = unseen_employment(res.mean, rule_of[idx], siren_of[idx],
                                                                          unseen_rules)
        parts.append((idx, res))
        for r in res.report:
            report.append({"annee": y, **r})
        if not res.report:
            report.append({"annee": y, "groupe": "ensemble", "statut": "non_cale",
                           "nb_etablissements": int(idx.size), "total_a_priori": float(res.prior.sum()),
                           "total_cale": float(res.mean.sum())})
    _write_effectifs(con, data, parts, rule_of)
    _write_calibration(con, report, calage, year, why)
    y_rows = [r for r in report if r["annee"] == year]
    unseen_y = con.execute("SELECT sum(effectif_hors_urssaf), count(*) FILTER (WHERE regle_hors_urssaf IS NOT NULL) "
                           "FROM core_effectifs WHERE annee = ?", [year]).fetchone()
    return {
        "annee_effectifs": year,
        "choix_annee": why,
        "calage": calage,
        "groupes": {r["groupe"]: {k: r.get(k) for k in ("cible_fin_annee", "total_a_priori", "total_cale", "statut")}
                    for r in y_rows},
        "lignes": int(years.size),
        # employment under the MSA that URSSAF's field rule keeps in (emploi_hors_urssaf.csv), year Y
        "emploi_hors_urssaf": float(unseen_y[0] or 0.0),
        "nb_etablissements_hors_urssaf": int(unseen_y[1] or 0),
    }


# Size classes of a cell's last published value, for the chance that an empty value hides employment.
CLASSES_VIDE = (1.0, 3.0, 10.0, 50.0)


def hidden_chances(con, cfg: Settings) -> pd.DataFrame:
    """Each commune × APE cell whose value is empty where it may hide employment, and whose commune and APE still
    hold an establishment of the field open on 31/12 (core_effectifs_entrees): the chance π that the empty value
    hides employment rather than a year without employee on 31/12.

    Two kinds of empty values, every year of the estimate:
    - a gap (`lacune`): empty between two published years of the cell. The cell is published again later, so the
      alternative is a year without employee, then hiring again;
    - in the file's last year, empty right after a published year: nothing later can tell; the alternative is the
      departure of the cell's last employer.

    Measured on URSSAF's file itself, not on the estimator's model: s, the rate at which a cell that surely employs
    is left empty (the year after one published with ≥ cfg.vide_sure_min employees, the cell published so again
    later: a value hidden one year or several — counting one-year gaps only gave s 0.38 % instead of 0.61 % on the
    sample); r_k, the rate at which a cell published the year before with a value of size class k (CLASSES_VIDE)
    and still holding an open establishment of the field is empty (all years of the estimate); and for a gap, r'_k,
    the same rate among the cells published again later. π_k = min(1, s / r_k) (s / r'_k for a gap), since a
    hidden value (chance s) is one of the ways to be empty. A gap of several years takes the class of the last value
    published before it (its first year's rate). A merged cell published in part (`lacune_partielle`) is not a gap.
    When too few cells measure a rate, π = 0.5 (as likely hidden as not).
    Columns: annee, code_commune, code_ape, chance, classe, s, r, lacune."""
    rows = con.execute(
        """WITH c AS (
               SELECT annee, code_commune, code_ape, effectif,
                      effectif IS NULL OR coalesce(vide_apres_publication, false) AS vide,
                      effectif IS NULL AND NOT coalesce(lacune_partielle, false) AS lacune,
                      coalesce(lacune_partielle, false) AS partielle,
                      coalesce(vide_apres_publication, false) AS vide_apres_publication,
                      lag(effectif) OVER w AS precedent, lag(annee) OVER w AS annee_precedente,
                      last_value(effectif IGNORE NULLS) OVER (w ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
                          AS dernier_publie,
                      max(effectif) OVER (w ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING) AS plus_tard
               FROM core_cellules_urssaf
               WINDOW w AS (PARTITION BY code_commune, code_ape ORDER BY annee)
           ),
           ouvertes AS (SELECT DISTINCT annee, code_commune, code_ape FROM core_effectifs_entrees WHERE champ_urssaf)
           SELECT c.annee, c.code_commune, c.code_ape, c.vide, c.lacune, c.partielle, c.vide_apres_publication,
                  CASE WHEN c.annee_precedente = c.annee - 1 THEN c.precedent END AS precedent,
                  c.dernier_publie, c.plus_tard,
                  o.annee IS NOT NULL AS ouverte
           FROM c LEFT JOIN ouvertes AS o USING (annee, code_commune, code_ape)""").df()
    columns = ["annee", "code_commune", "code_ape", "chance", "classe", "s", "r", "lacune"]
    empty = pd.DataFrame(columns=columns)
    if rows.empty:
        return empty
    last = int(rows["annee"].max())
    # a merged cell published in part is neither empty nor published: left out of the rates
    sure = (rows["precedent"] >= cfg.vide_sure_min) & (rows["plus_tard"] >= cfg.vide_sure_min) & ~rows["partielle"]
    n_sure = int(sure.sum())
    s = float(rows.loc[sure, "vide"].mean()) if n_sure >= cfg.vide_cellules_min else None

    def size_class(values: pd.Series) -> np.ndarray:
        return np.searchsorted(np.asarray(CLASSES_VIDE), values.fillna(0).to_numpy(), side="right") - 1

    before = rows["precedent"] > 0
    rows["classe"] = np.where(before, size_class(rows["precedent"]), -1)
    years = con.execute("SELECT DISTINCT annee FROM core_effectifs_entrees").df()["annee"]
    at_risk = before & rows["ouverte"] & rows["annee"].isin(years) & ~rows["partielle"]
    rates = {False: rows[at_risk].groupby("classe")["vide"].agg(["mean", "size"]),
             True: rows[at_risk & (rows["plus_tard"] > 0)].groupby("classe")["vide"].agg(["mean", "size"])}
    gaps = rows["lacune"] & rows["ouverte"] & rows["annee"].isin(years)
    # (a gap after a published value under 1 is in the smallest class)
    rows.loc[gaps, "classe"] = np.maximum(size_class(rows.loc[gaps, "dernier_publie"]), 0)
    target = rows[gaps | ((rows["annee"] == last) & rows["vide_apres_publication"] & rows["ouverte"] & before)].copy()
    if target.empty:
        return empty

    def chance(k: int, gap: bool) -> tuple[float, float | None]:
        r = rates[gap]
        if s is None or k not in r.index or r.loc[k, "size"] < cfg.vide_cellules_min or r.loc[k, "mean"] <= 0:
            return 0.5, None
        return min(1.0, s / float(r.loc[k, "mean"])), float(r.loc[k, "mean"])

    found = {(k, g): chance(int(k), bool(g)) for k, g in set(zip(target["classe"], target["lacune"]))}
    target["chance"] = [found[k][0] for k in zip(target["classe"], target["lacune"])]
    target["r"] = [found[k][1] for k in zip(target["classe"], target["lacune"])]
    target["s"] = s
    return target[columns].reset_index(drop=True)


def _register_hidden(con, cfg: Settings) -> None:
    """Create the temporary table _vides_masques (hidden_chances) read by estimate()."""
    table = hidden_chances(con, cfg)
    con.register("_vides_masques_df", table.astype({"annee": "int32", "chance": "float64"}))
    try:
        con.execute("CREATE OR REPLACE TEMP TABLE _vides_masques AS SELECT annee, code_commune, code_ape, chance "
                    "FROM _vides_masques_df")
    finally:
        con.unregister("_vides_masques_df")


def _floats(a) -> np.ndarray:
    """A numeric column of fetchnumpy (masked where NULL) as floats with NaN."""
    return np.ma.filled(np.ma.asarray(a).astype(float), np.nan)


def _strings(a) -> np.ndarray:
    """A text column of fetchnumpy (masked where NULL) as objects with None."""
    out = np.array(np.ma.getdata(a), dtype=object)
    out[np.ma.getmaskarray(a)] = None
    return out


def _year_input(data, idx, y) -> YearInput:
    commune = np.asarray(data["code_commune"], dtype=object)[idx]
    cell_key = np.asarray(data["cellule"], dtype=object)[idx]
    annee_tranche = _floats(data["annee_tranche"])[idx]
    creation = _floats(data["annee_creation"])[idx]
    u_value = _floats(data["u_value"])[idx]
    return YearInput(
        year=y,
        tranche=np.asarray(data["tranche"], dtype=object)[idx],
        annee_tranche=annee_tranche,
        flag_o=np.ma.filled(np.ma.asarray(data["flag_o"]).astype(bool), False)[idx],
        recent=creation >= y - 1,
        champ=np.asarray(data["champ_urssaf"], dtype=bool)[idx],
        famille=np.asarray(data["famille_urssaf"], dtype=object)[idx],
        commune=commune,
        cell_key=cell_key,
        u_present=np.asarray(data["u_present"], dtype=bool)[idx],
        u_value=u_value,
        u_hidden=_floats(data["u_hidden"])[idx],  # NaN: no chance measured (not an empty value that may hide)
        avant_fermeture=np.asarray(data["avant_fermeture"], dtype=bool)[idx],
    )


def _write_effectifs(con, data, parts, rule: np.ndarray) -> None:
    n = len(data["siret"])
    cols = {"effectif_central": np.zeros(n), "effectif_a_priori": np.zeros(n), "variance_a_priori": np.zeros(n),
            "denominateur_calage": np.full(n, np.nan), "effectif_hors_urssaf": np.zeros(n),
            "ecart_type_hors_urssaf": np.zeros(n), "variance_hors_urssaf": np.zeros(n)}
    proj = np.zeros((n, len(FAMILLES)))
    classe = np.full(n, None, object)
    contrainte = np.full(n, None, object)
    statut = np.full(n, None, object)
    for idx, res in parts:
        cols["effectif_central"][idx] = res.mean
        cols["effectif_a_priori"][idx] = res.prior
        cols["variance_a_priori"][idx] = res.variance
        cols["denominateur_calage"][idx] = res.denominator
        proj[idx] = res.projections
        classe[idx] = res.classe
        contrainte[idx] = res.contrainte
        statut[idx] = res.statut
        if res.unseen is not None:
            cols["effectif_hors_urssaf"][idx] = quantise(res.unseen)
            cols["ecart_type_hors_urssaf"][idx] = res.unseen_sd
            cols["variance_hors_urssaf"][idx] = res.unseen_var
    table = pa.table({
        "siret": pa.array(np.asarray(data["siret"], dtype=object), pa.string()),
        "annee": pa.array(np.asarray(data["annee"], dtype=np.int32), pa.int32()),
        **{k: pa.array(v, pa.float64(), from_pandas=True) for k, v in cols.items()},
        "classe_modele": pa.array(classe, pa.string()),
        "cellule_calage": pa.array(contrainte, pa.string()),
        "statut_calage": pa.array(statut, pa.string()),
        "regle_hors_urssaf": pa.array(rule, pa.string()),
        **{f"projection_{i + 1}": pa.array(proj[:, i], pa.float64()) for i in range(len(FAMILLES))},
    })
    con.register("_effectifs", table)
    try:
        con.execute("CREATE OR REPLACE TABLE core_effectifs AS SELECT * FROM _effectifs")
    finally:
        con.unregister("_effectifs")


CALIBRATION_COLUMNS = [
    ("annee", pa.int32()), ("groupe", pa.string()), ("source_cible", pa.string()), ("definition_cible", pa.string()),
    ("cible_publiee", pa.float64()), ("facteur_conversion", pa.float64()), ("cible_fin_annee", pa.float64()),
    ("ecart_type_cible", pa.float64()), ("cible_autre_source", pa.float64()), ("desaccord_relatif", pa.float64()),
    ("desaccord_relatif_avant_conversion", pa.float64()),
    ("nb_etablissements", pa.int64()), ("total_a_priori", pa.float64()), ("total_cale", pa.float64()),
    ("ecart_cale_cible", pa.float64()), ("ecart_relatif", pa.float64()), ("nb_cellules", pa.int64()),
    ("nb_communes_rattrapage", pa.int64()), ("emploi_urssaf_sans_etablissement", pa.float64()),
    ("emploi_urssaf_non_attribue", pa.float64()), ("nb_etablissements_cellule_inconnue", pa.int64()),
    ("nb_cellules_vides_imputees", pa.int64()), ("nb_etablissements_cellule_vide_imputee", pa.int64()),
    ("probabilite_vide_masque", pa.float64()), ("emploi_impute_cellules_vides", pa.float64()),
    ("nb_valeurs_negatives_ramenees_a_zero", pa.int64()), ("nb_classes", pa.int64()),
    ("nb_cellules_mono_etablissement", pa.int64()), ("statut", pa.string()),
    ("annee_effectifs", pa.int32()), ("choix_annee", pa.string()), ("calage", pa.bool_()),
]


def _write_calibration(con, report: list[dict], calage: bool, year: int, why: str) -> None:
    for r in report:
        target = r.get("cible_fin_annee")
        r["ecart_cale_cible"] = None if target is None else r["total_cale"] - target
        r["ecart_relatif"] = None if not target else (r["total_cale"] - target) / target
        r.update(annee_effectifs=year, choix_annee=why, calage=calage)
    table = pa.table({name: pa.array([r.get(name) for r in report], type) for name, type in CALIBRATION_COLUMNS})
    con.register("_calibration", table)
    try:
        con.execute("CREATE OR REPLACE TABLE core_calibration AS SELECT * FROM _calibration ORDER BY annee, groupe")
    finally:
        con.unregister("_calibration")
