"""Coverage of the employment intervals over several synthetic worlds (seeds): how often the 90 % interval holds the
truth, with the binomial uncertainty of that measure, and the mean bias.

One sample's truth gives one cell per indicator at département level (benchmarks/accuracy.py): « couverture
100 % » there separates nothing from chance. Here each seed is another world (the generator's draws, the truth, the
files), each run through staging and the core step only (transforms/core.build_core: the estimates and their
posterior variances); the département's indicators of the employment year are summed from core_effectifs with the
cube's variance formula (out_indicateurs.sql: Σ v − Σ_c x_c²/D_c − |Σ projections|², transforms/calibration.py,
plus the employment under the MSA that URSSAF's field rule keeps in, (Σ ecart_type_hors_urssaf)² +
Σ variance_hors_urssaf, transforms/employment.py unseen_employment) and its interval macros (log-normal for
employment, logit-normal for shares, sql/macros/intervalles.sql):
- `emploi_ess`: ESS employment (perimeter `insee`) on 31/12 of the employment year;
- `emploi_<famille>`: the four families of the perimeter;
- `part_prive`: ESS share of the private employment of URSSAF's field (numerator and denominator in the field as
  the estimator sees it, without the unseen employment; truth in the field as it is: the exceptions the rule does
  not see, model.py, are out);
- `part_total`: ESS share of all salaried employment.
(`vrai_exceptions` in the CSV: the true jobs of the indicator under the MSA although the rule puts them in URSSAF's
field, absent from URSSAF's files.)
Below the département, the cube itself (transforms/outputs.build_cube: out_indicateurs unprotected, since the secrecy
only masks) gives `emploi_ess`, `part_total` and `part_prive` of every territory of every level (the Département's
territoires, EPCI, zones d'emploi, arrondissements; the communes' `emploi_ess` and `part_total` only, what they
publish: `niveau`, `code_territoire` in the CSV);
the truth of a territory sums the true establishments whose TRUE commune lies in it (out_cube_communes), so an
establishment the files place elsewhere (or nowhere) counts against its estimate. The cube's département row is
checked against _sum_stats (_check_cube): the measure is that of the published intervals.
Per level and indicator: cells (seeds, × territories below the département), coverage of the 90 % interval with
its 90 % Clopper–Pearson interval, mean relative bias (central − truth) / truth with its standard error over cells,
median half-width; the territories also split by size (SIZE_THRESHOLD jobs of estimated ESS employment; the
communes in SIZE_CLASSES).

    python -m benchmarks.coverage --seeds 10 --scale 0.25 [--first-seed 1] [--sans-exceptions] [--dir DIR]

Smaller scales are faster and noisier (fewer, smaller establishments per cell); the figures say the scale. Not a
test: minutes per seed.
"""

from __future__ import annotations

import argparse
import functools
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import beta as beta_law

from sources.sample.truth import in_perimetre

FAMILLES = ("associations", "cooperatives", "mutuelles", "fondations")
Z90 = 1.6448536269514722
PERIMETRE = "insee"  # the ESS measured; the reference file says it (coverage_reference)
DEPARTEMENT = "departement"  # the level of the département's own cells (_indicators_year, checked against the cube)
# Indicators measured per level when not all three: communes are published as family totals (employment, share of
# all employment); their private share is published nowhere and would only add hundreds of cells per world.
LEVEL_INDICATORS = {"commune": ("emploi_ess", "part_total")}
# The size split of the console: territories under / over this estimated ESS employment (at the sample's scale: at
# scale 0.25, 500 jobs stand for about 2 000 real ones).
SIZE_THRESHOLD = 500
# Communes split in three: under 5 estimated ESS jobs (at scale 0.25, one or two small establishments: the
# log-normal interval's assumptions are weakest there), 5 to 50 (a few establishments), 50 and more (about 200 real
# jobs and over: towns, where a territory's behaviour is expected).
SIZE_CLASSES = {"commune": (5, 50)}
# Levels whose cells are also split by truth (by_truth): most communes of a world have no true ESS job
TRUTH_SPLIT = ("commune",)


def run_seed(root: Path, seed: int, scale: float, exceptions: bool, departement: str = "38"
             ) -> tuple[dict[str, Path], dict[str, Path], dict]:
    """Generate one world and build its core tables; returns the core tables' files, the staging tables' files and
    the run's parameters (what the cube needs)."""
    from ess.settings import Settings
    from flows.inputs import resolve_inputs
    from sources.sample import write_sample
    from transforms.core import build_core
    from transforms.staging import departement_tables, stage_source
    from sources import registry

    sample = root / "echantillon"
    write_sample(sample, departement=departement, seed=seed, scale=scale, exceptions_champ_urssaf=exceptions)
    settings = Settings.from_dict({"departement": departement, "input_dir": str(sample),
                                   "sample_scale": scale}).validated()
    settings, inputs = resolve_inputs(settings)
    params = {**settings.step_params(), "departements": [departement], "secret_processus": 1}
    tables: dict[str, str] = {}
    for source in registry.names():  # as tests/tiny_run.stage_all
        keys = registry.source(source).stage_params
        if inputs.get(source) is None:
            continue
        output = stage_source(source, inputs[source], {k: params[k] for k in keys}, root / "staging" / source)
        tables.update(departement_tables(output, params["departement"]) if "departements" in keys
                      else output.tables)
    core = build_core({k: Path(v) for k, v in tables.items()}, params, root / "core")
    return {k: Path(v) for k, v in core.tables.items()}, {k: Path(v) for k, v in tables.items()}, params


def _sum_stats(f: pd.DataFrame, a: np.ndarray, b: np.ndarray | None = None,
               unseen: bool = True) -> tuple[float, float, float]:
    """(Σ_a central, Var Σ_a, Cov(Σ_a, Σ_b)) with the cube's formula; b ⊇ a (None: b = a). `unseen`: with the
    employment URSSAF does not see (effectif_hors_urssaf; not in URSSAF's field as URSSAF sees it: the private
    share)."""
    b = a if b is None else b
    v = f["variance_a_priori"].to_numpy()
    d = f["denominateur_calage"].to_numpy()
    cell = f["cellule_calage"].to_numpy()
    p = f[[f"projection_{i}" for i in range(1, 6)]].to_numpy()

    def x(mask):
        s = pd.Series(v[mask & pd.notna(cell)]).groupby(cell[mask & pd.notna(cell)]).sum()
        return s

    xa, xb = x(a), x(b)
    dc = pd.Series(d[pd.notna(cell)]).groupby(cell[pd.notna(cell)]).first()
    common = xa.index.intersection(xb.index)
    middle = float((xa[common] * xb[common] / dc[common]).sum())
    pa, pb = p[a].sum(axis=0), p[b].sum(axis=0)
    var_ab = float(v[a].sum()) - middle - float(pa @ pb)  # a ⊆ b: a'Vb = Σ_a v
    xa2 = float((xa ** 2 / dc[xa.index]).sum())
    var_a = max(float(v[a].sum()) - xa2 - float(pa @ pa), 0.0)
    central = float(f["effectif_central"].to_numpy()[a].sum())
    if unseen and "effectif_hors_urssaf" in f:
        # as out_indicateurs.sql: the share's standard deviations add up before squaring, the granularity adds
        s_u, g_u = (f[k].fillna(0.0).to_numpy() for k in ("ecart_type_hors_urssaf", "variance_hors_urssaf"))
        central += float(f["effectif_hors_urssaf"].fillna(0.0).to_numpy()[a].sum())
        var_a += float(s_u[a].sum()) ** 2 + float(g_u[a].sum())
        var_ab += float(s_u[a].sum()) * float(s_u[b].sum()) + float(g_u[a].sum())
    return central, var_a, var_ab


@functools.lru_cache(maxsize=1)
def _interval_macros():
    """A DuckDB connection holding the cube's interval macros (sql/macros/intervalles.sql): the intervals measured
    here are the published ones, computed by the same SQL, not a copy of it."""
    import duckdb

    from transforms.employment import define_macros

    con = duckdb.connect()
    define_macros(con)
    return con


def _intervals(central: np.ndarray, var: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ic_bas / ic_haut at 90 % of each (central, variance)."""
    frame = pd.DataFrame({"c": np.asarray(central, float), "v": np.asarray(var, float)})
    con = _interval_macros()
    con.register("_cells", frame)
    try:
        lo, hi = con.execute("SELECT ic_bas(c, v, $z) AS lo, ic_haut(c, v, $z) AS hi FROM _cells",
                             {"z": Z90}).df().to_numpy(float).T
    finally:
        con.unregister("_cells")
    return lo, hi


def _ic(c: float, var: float) -> tuple[float, float]:
    lo, hi = _intervals(np.array([c]), np.array([var]))
    return float(lo[0]), float(hi[0])


def _share(f, num, den, unseen: bool = True) -> tuple[float, float, float]:
    """The share num / den with its 90 % interval: ic_part_bas_emploi / ic_part_haut of the cube (logit-normal; the
    lower bound 0 when the numerator's may be 0)."""
    n, vn, cov = _sum_stats(f, num, den, unseen)
    dd, vd, _ = _sum_stats(f, den, unseen=unseen)
    s = n / dd
    var = max((vn - 2 * s * cov + s * s * vd) / dd ** 2, 0.0)
    lo, hi = _interval_macros().execute(
        "SELECT ic_part_bas_emploi($s, $v, $z, $n, $vn), ic_part_haut($s, $v, $z)",
        {"s": float(s), "v": float(var), "z": Z90, "n": float(n), "vn": float(vn)}).fetchone()
    return s, float(lo), float(hi)


def years_of(core: dict[str, Path], all_years: bool = False) -> list[int]:
    """The employment year (every year of the estimate with `all_years`)."""
    import duckdb

    con = duckdb.connect()
    last, first = con.execute("SELECT max(annee_effectifs), min(annee) FROM read_parquet(?)",
                              [str(core["core_calibration"])]).fetchone()
    return list(range(int(first), int(last) + 1)) if all_years else [int(last)]


def indicators(core: dict[str, Path], truth_file: Path, all_years: bool = False,
               departement: str = "38") -> pd.DataFrame:
    """The département's indicators of the employment year (every year of the estimate with `all_years`): central,
    interval, truth."""
    import duckdb

    con = duckdb.connect()
    t_all = pd.read_parquet(truth_file)
    out = pd.concat([_indicators_year(con, core, t_all, y, departement) for y in years_of(core, all_years)],
                    ignore_index=True)
    out.insert(0, "niveau", DEPARTEMENT)
    out.insert(1, "code_territoire", departement)
    return out


def territory_indicators(core: dict[str, Path], staging: dict[str, Path], params: dict, truth_file: Path,
                         all_years: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    """ESS employment (perimeter PERIMETRE) and its shares per territory of every sub-départemental level of the
    cube, central and interval read from the cube itself (transforms/outputs.build_cube: the
    unprotected out_indicateurs, whose intervals the secrecy only masks), against the truth of the establishments
    whose true commune lies in the territory. Returns (cells, the cube's département rows: a check that the cube
    and _sum_stats agree)."""
    from ess import db
    from transforms import outputs

    years = years_of(core, all_years)
    con = db.connect()
    try:
        db.attach_tables(con, {**staging, **core})
        outputs.build_cube(con, {**params, "perimetres_cube": [PERIMETRE]},
                           computed=outputs.core_perimetres(core["core_etablissements"]))
        cube = con.execute(
            """SELECT niveau, code_territoire, annee, effectif_central, effectif_ic90_bas, effectif_ic90_haut,
                      part_effectif_total_central, part_effectif_total_ic90_bas, part_effectif_total_ic90_haut,
                      part_effectif_prive_central, part_effectif_prive_ic90_bas, part_effectif_prive_ic90_haut
               FROM out_indicateurs
               WHERE perimetre = $p AND famille = 'ess' AND nomenclature_secteur = 'ensemble'
                 AND classe_taille = 'ensemble' AND code_territoire <> 'non_renseigne'
                 AND list_contains($years, annee)""", {"p": PERIMETRE, "years": years}).df()
        communes = con.execute("SELECT code_commune, niveau, code_territoire FROM out_cube_communes").df()
    finally:
        con.close()
    t_all = pd.read_parquet(truth_file)
    t_all = t_all[t_all["annee"].isin(years) & (t_all["localisation"] == "departement")]
    return _match_truth(cube, communes, t_all)


def _match_truth(cube: pd.DataFrame, communes: pd.DataFrame, t: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The cube's rows (niveau, code_territoire, annee, effectif_*, part_effectif_total_*, part_effectif_prive_*)
    beside the truth summed per territory: each true establishment (t: annee, code_commune, perimetres,
    champ_urssaf, effectif_fin_annee[, exception_champ_urssaf]) in the territory of its TRUE commune at every level
    (communes: out_cube_communes). A true commune outside the cube's frame is an error: its jobs would vanish."""
    h = t["effectif_fin_annee"].to_numpy().astype(float)
    ess = in_perimetre(t["perimetres"], PERIMETRE)
    field = t["champ_urssaf"].to_numpy().astype(bool)
    x = (t["exception_champ_urssaf"].to_numpy().astype(bool) if "exception_champ_urssaf" in t
         else np.zeros(len(t), bool))
    jobs = pd.DataFrame({"annee": t["annee"].to_numpy(), "code_commune": t["code_commune"].to_numpy(),
                         "tout": h, "ess": h * ess, "champ": h * field, "ess_champ": h * (ess & field),
                         "ess_exceptions": h * (ess & x)})
    jobs = jobs.groupby(["annee", "code_commune"], as_index=False).sum()
    lost = sorted(set(jobs["code_commune"]) - set(communes["code_commune"]))
    if lost:
        raise ValueError(f"true communes {lost[:5]} are not in the cube's frame (out_cube_communes)")
    truth = (jobs.merge(communes, on="code_commune").drop(columns="code_commune")
             .groupby(["niveau", "code_territoire", "annee"], as_index=False).sum())
    m = cube.merge(truth, on=["niveau", "code_territoire", "annee"], how="left").fillna(
        {k: 0.0 for k in ("tout", "ess", "champ", "ess_champ", "ess_exceptions")})
    rows = []
    for name, prefix, true, exceptions in (
            ("emploi_ess", "effectif", m["ess"], m["ess_exceptions"]),
            ("part_total", "part_effectif_total", m["ess"] / m["tout"].where(m["tout"] > 0), np.nan),
            ("part_prive", "part_effectif_prive", m["ess_champ"] / m["champ"].where(m["champ"] > 0), np.nan)):
        central = m["effectif_central" if prefix == "effectif" else f"{prefix}_central"]
        rows.append(pd.DataFrame({
            "niveau": m["niveau"], "code_territoire": m["code_territoire"], "indicateur": name,
            "central": central, "bas": m[f"{prefix}_ic90_bas"], "haut": m[f"{prefix}_ic90_haut"], "vrai": true,
            "vrai_exceptions": exceptions, "annee": m["annee"],
            # the cell's size: the territory's estimated ESS employment, as a reader sees it
            "emploi_ess_central": m["effectif_central"]}))
    out = pd.concat(rows, ignore_index=True)
    kept = pd.Series(True, index=out.index)
    for level, names in LEVEL_INDICATORS.items():
        kept &= (out["niveau"] != level) | out["indicateur"].isin(names)
    out = out[kept]
    return out[out["niveau"] != DEPARTEMENT].reset_index(drop=True), out[out["niveau"] == DEPARTEMENT]


def _indicators_year(con, core: dict[str, Path], t_all: pd.DataFrame, year: int,
                     departement: str = "38") -> pd.DataFrame:
    f = con.execute(
        """SELECT f.*, a.perimetres_inclus, a.famille_ess
           FROM read_parquet($eff) AS f
           JOIN read_parquet($ann) AS a ON a.siret = f.siret AND a.annee = f.annee
           JOIN read_parquet($etab) AS e ON e.siret = f.siret
           WHERE f.annee = $y AND e.code_departement = $dep""",
        {"eff": str(core["core_effectifs"]), "ann": str(core["core_etablissements_annuel"]),
         "etab": str(core["core_etablissements"]), "y": year, "dep": departement}).df()
    ess = np.array([PERIMETRE in list(p) if p is not None else False for p in f["perimetres_inclus"]])
    field = (f["statut_calage"] != "hors_champ_urssaf").to_numpy()
    all_ = np.ones(len(f), bool)
    t = t_all[(t_all["annee"] == year) & (t_all["localisation"] == "departement")]
    t_ess = in_perimetre(t["perimetres"], PERIMETRE)
    t_field = t["champ_urssaf"].to_numpy()
    h = t["effectif_fin_annee"].to_numpy().astype(float)
    rows = []

    x = (t["exception_champ_urssaf"].to_numpy() if "exception_champ_urssaf" in t
         else np.zeros(len(t), bool))

    def add(name, central, lo, hi, true, exceptions=np.nan):
        rows.append({"indicateur": name, "central": central, "bas": lo, "haut": hi, "vrai": true,
                     "vrai_exceptions": exceptions})

    c, v, _ = _sum_stats(f, ess)
    add("emploi_ess", c, *_ic(c, v), h[t_ess].sum(), h[t_ess & x].sum())
    for fam in FAMILLES:
        a = ess & (f["famille_ess"] == fam).to_numpy()
        c, v, _ = _sum_stats(f, a)
        in_f = t_ess & (t["famille_ess"] == fam).to_numpy()
        add(f"emploi_{fam}", c, *_ic(c, v), h[in_f].sum(), h[in_f & x].sum())
    # URSSAF's field as URSSAF sees it on both sides: without the unseen employment (out_indicateurs.sql)
    add("part_prive", *_share(f, ess & field, field, unseen=False), h[t_ess & t_field].sum() / h[t_field].sum())
    add("part_total", *_share(f, ess, all_), h[t_ess].sum() / h.sum())
    # the families' targets at 31/12 (URSSAF's annual averages converted, core_calibration) against the truth's
    # 31/12 headcount of the same family in URSSAF's field (its ESS file's families: perimeter insee, else
    # « Hors ESS »)
    alive = t["actif_fin_annee"].to_numpy() if "actif_fin_annee" in t else np.ones(len(t), bool)
    u_fam = np.where(t_ess & t["famille_ess"].isin(FAMILLES).to_numpy(), t["famille_ess"].to_numpy(), "hors_ess")
    cal = con.execute("SELECT groupe, cible_fin_annee, ecart_type_cible FROM read_parquet(?) WHERE annee = ? "
                      "AND groupe IN ('associations', 'cooperatives', 'mutuelles', 'fondations', 'hors_ess')",
                      [str(core["core_calibration"]), year]).fetchall()
    for groupe, cible, sd in cal:
        if cible is None:
            continue
        add(f"cible_{groupe}", cible, cible - Z90 * sd, cible + Z90 * sd,
            h[t_field & alive & (u_fam == groupe)].sum())
    out = pd.DataFrame(rows)
    out["annee"] = year
    return out


def with_term(cells: pd.DataFrame, shift: float, sd: float) -> pd.DataFrame:
    """The cells with a term added to the associations and the ESS: + shift × A to the central value, + (sd × A)²
    to the variance (A: the associations' central value); the variance is read back from the published log-normal
    interval, the new interval drawn the same way (sql/macros/intervalles.sql)."""
    out = cells.copy()
    assoc = out[out["indicateur"] == "emploi_associations"].set_index("graine")["central"]  # département only
    for ind in ("emploi_ess", "emploi_associations"):
        r = out["indicateur"] == ind
        if "niveau" in out:  # the term is the département's associations': its own cells only
            r &= out["niveau"].fillna(DEPARTEMENT) == DEPARTEMENT
        c, lo, hi = (out.loc[r, k].to_numpy() for k in ("central", "bas", "haut"))
        a = assoc.reindex(out.loc[r, "graine"]).to_numpy()
        s = (np.log(hi) - np.log(lo)) / (2 * Z90)
        var = c ** 2 * np.expm1(s ** 2) + (sd * a) ** 2
        c = c + shift * a
        lo, hi = _intervals(c, var)
        out.loc[r, "central"], out.loc[r, "bas"], out.loc[r, "haut"] = c, lo, hi
    return out


def clopper_pearson(k: int, n: int, level: float = 0.9) -> tuple[float, float]:
    a = (1 - level) / 2
    lo = 0.0 if k == 0 else float(beta_law.ppf(a, k, n - k + 1))
    hi = 1.0 if k == n else float(beta_law.ppf(1 - a, k + 1, n - k))
    return lo, hi


def summarise(cells: pd.DataFrame) -> pd.DataFrame:
    """Per level and indicator (cells without a `niveau`: the département's), pooled over the cells (seeds ×
    territories × years): cells whose interval holds the truth, with the 90 % Clopper–Pearson interval of that
    coverage, the mean relative bias (central − truth) / truth with its standard error over cells, the median
    relative half-width. A cell whose truth is 0 (no true ESS job in a small territory) counts for coverage (held
    when its lower bound is 0: an estimate under about one job, sql/macros/intervalles.sql), not for the relative
    figures; `vrai_nul` counts them (`vrai_nul_dans_ic90`: those held). A cell whose truth or interval is undefined
    (the share of a commune with no true, or no estimated, job at all: no share to hold, none published) is not
    measured."""
    if "niveau" not in cells:
        cells = cells.assign(niveau=DEPARTEMENT)
    cells = cells[cells["vrai"].notna() & cells["bas"].notna() & cells["haut"].notna()]
    out = []
    # the département first (its indicators in their order), then the levels below it in alphabetical order
    levels = sorted(cells["niveau"].unique(), key=lambda lv: (lv != DEPARTEMENT, lv))
    groups = [(lv, name, g) for lv in levels
              for name, g in cells[cells["niveau"] == lv].groupby("indicateur", sort=False)]
    for niveau, name, g in groups:
        inside = (g["vrai"] >= g["bas"]) & (g["vrai"] <= g["haut"])
        k, n = int(inside.sum()), len(g)
        lo, hi = clopper_pearson(k, n)
        rel = g[g["vrai"] > 0]
        bias = (rel["central"] - rel["vrai"]) / rel["vrai"]
        half = ((g["haut"] - g["bas"]) / 2 / g["central"])[g["central"] > 0]
        null = g["vrai"] == 0
        out.append({"niveau": niveau, "indicateur": name, "cellules": n, "dans_ic90": k, "couverture": k / n,
                    "au_dessus": int((g["central"] > g["vrai"]).sum()),
                    "couverture_bas": lo, "couverture_haut": hi, "biais_moyen": float(bias.mean()),
                    "biais_erreur_type": float(bias.std(ddof=1) / np.sqrt(len(bias))) if len(bias) > 1 else np.nan,
                    "demi_largeur_mediane": float(half.median()), "vrai_nul": int(null.sum()),
                    "vrai_nul_dans_ic90": int((inside & null).sum())})
    return pd.DataFrame(out)


def size_labels(niveau: pd.Series, size: pd.Series, threshold: float = SIZE_THRESHOLD,
                classes: dict[str, tuple[float, ...]] | None = None) -> tuple[np.ndarray, list[str]]:
    """Each cell's size class « <niveau> < a », « <niveau> a–b », « <niveau> ≥ b » (bounds: `classes` of its level,
    else `threshold`), and every label in reading order (level, then size)."""
    classes = SIZE_CLASSES if classes is None else classes
    labels = np.empty(len(niveau), dtype=object)
    order = []
    for level in sorted(niveau.unique()):
        bounds = classes.get(level, (threshold,))
        names = ([f"{level} < {bounds[0]:g}"] + [f"{level} {a:g}–{b:g}" for a, b in zip(bounds, bounds[1:])]
                 + [f"{level} ≥ {bounds[-1]:g}"])
        at = (niveau == level).to_numpy()
        labels[at] = np.array(names, dtype=object)[np.searchsorted(bounds, size.to_numpy()[at], side="right")]
        order += names
    return labels, order


def by_size(cells: pd.DataFrame, threshold: float = SIZE_THRESHOLD,
            classes: dict[str, tuple[float, ...]] | None = None) -> pd.DataFrame:
    """summarise() of the sub-départemental cells split by the territory's estimated ESS employment (the cells'
    `emploi_ess_central`): level « territoire < 500 » and « territoire ≥ 500 »; the levels of `classes` (default
    SIZE_CLASSES: communes < 5, 5–50, ≥ 50) in their own classes. A class without cells has no row."""
    sub = cells[cells["niveau"] != DEPARTEMENT]
    if sub.empty:
        return pd.DataFrame()
    labels, order = size_labels(sub["niveau"], sub["emploi_ess_central"], threshold, classes)
    out = summarise(sub.assign(niveau=labels))
    rank = {name: i for i, name in enumerate(order)}
    return out.sort_values("niveau", key=lambda s: s.map(rank), kind="stable").reset_index(drop=True)


def by_truth(cells: pd.DataFrame, levels: tuple[str, ...] = TRUTH_SPLIT) -> pd.DataFrame:
    """summarise() of the cells of `levels` split by their truth: « <niveau> vrai > 0 » (the interval's own
    behaviour) and « <niveau> vrai nul » (held when the interval reaches 0: an estimate under about one job)."""
    sub = cells[cells["niveau"].isin(levels) & cells["vrai"].notna()]
    if sub.empty:
        return pd.DataFrame()
    return summarise(sub.assign(niveau=np.where(sub["vrai"] > 0, sub["niveau"] + " vrai > 0",
                                                sub["niveau"] + " vrai nul")))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, default=10, help="number of worlds (seeds first-seed … first-seed + N − 1)")
    p.add_argument("--first-seed", type=int, default=1)
    p.add_argument("--scale", type=float, default=0.25)
    p.add_argument("--sans-exceptions", action="store_true",
                   help="worlds whose URSSAF field is exactly the rule (generator 2.3.0's truth): the « before »")
    p.add_argument("--departement", default="38", help="the département of the worlds (default 38)")
    p.add_argument("--dir", type=Path, help="working folder (default: a temporary one, removed)")
    p.add_argument("--csv", type=Path, help="also append every seed's cells there (CSV)")
    p.add_argument("--keep", action="store_true", help="keep each seed's sample and core tables under --dir")
    p.add_argument("--toutes-annees", action="store_true",
                   help="every year of the estimate (2012 → Y), not only Y; with the families' converted targets")
    p.add_argument("--resume", type=Path, help="summarise the cells of such a CSV (no new seed)")
    p.add_argument("--essai-terme", nargs=2, type=float, metavar=("DECALAGE", "ECART_TYPE"),
                   help="with --resume: what a term for the employment URSSAF does not see (a relative shift and "
                        "standard deviation on the associations' estimate, added to them and to the ESS) would do "
                        "to coverage — a measure of a proposal, not the estimator")
    args = p.parse_args(argv)
    if args.resume:
        cells = pd.read_csv(args.resume)
        if args.essai_terme:
            cells = with_term(cells, *args.essai_terme)
        _report(cells, f"{cells['graine'].nunique()} graines ({args.resume})")
        return 0
    work = args.dir or Path(tempfile.mkdtemp(prefix="ess-coverage-"))
    cells = []
    try:
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            t0 = time.perf_counter()
            root = work / f"graine{seed}"
            core, staging, params = run_seed(root, seed, args.scale, not args.sans_exceptions, args.departement)
            truth = root / "echantillon" / "ground_truth" / "effectifs_annuels.parquet"
            got = indicators(core, truth, args.toutes_annees, args.departement)
            territories, check = territory_indicators(core, staging, params, truth, args.toutes_annees)
            _check_cube(got, check)
            got = pd.concat([got, territories], ignore_index=True)
            got.insert(0, "graine", seed)
            cells.append(got)
            if args.csv:  # every seed as it comes: an interrupted run keeps its seeds
                got.to_csv(args.csv, mode="a", header=not args.csv.exists(), index=False)
            if not args.keep:
                shutil.rmtree(root, ignore_errors=True)
            e = got[(got["annee"] == got["annee"].max()) & (got["niveau"] == DEPARTEMENT)].set_index("indicateur")
            print(f"graine {seed}: emploi ESS {e.loc['emploi_ess', 'central']:.0f} "
                  f"[{e.loc['emploi_ess', 'bas']:.0f}–{e.loc['emploi_ess', 'haut']:.0f}] vrai "
                  f"{e.loc['emploi_ess', 'vrai']:.0f}; part privée {100 * e.loc['part_prive', 'central']:.2f} % "
                  f"[{100 * e.loc['part_prive', 'bas']:.2f}–{100 * e.loc['part_prive', 'haut']:.2f}] vraie "
                  f"{100 * e.loc['part_prive', 'vrai']:.2f} % ({time.perf_counter() - t0:.0f} s)", flush=True)
    finally:
        if args.dir is None and not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    all_cells = pd.concat(cells, ignore_index=True)
    label = "sans exceptions (champ = règle)" if args.sans_exceptions else "avec exceptions au champ URSSAF"
    _report(all_cells, f"{args.seeds} graines ({args.first_seed}…{args.first_seed + args.seeds - 1}), échelle "
                       f"{args.scale}, {label}")
    return 0


def _check_cube(departement: pd.DataFrame, cube: pd.DataFrame, tolerance: float = 1e-6) -> None:
    """The cube's département row must be _sum_stats' (same estimates, same variance formula): otherwise the
    territories' measure would not be that of the published intervals."""
    keys, values = ["indicateur", "annee"], ["central", "bas", "haut"]
    both = departement[keys + values].merge(cube[keys + values], on=keys, suffixes=("", "_cube"))
    if both.empty:
        raise ValueError("the cube has no département row to check against _sum_stats")
    for k in ("central", "bas", "haut"):
        gap = ((both[k] - both[f"{k}_cube"]).abs() / both[k].abs().clip(lower=1e-12)).max()
        if gap > tolerance:
            raise ValueError(f"the cube's département {k} differs from _sum_stats' by {gap:.2e} (relative)")


def _report(cells: pd.DataFrame, title: str) -> None:
    """The employment year's summary, then (cells of several years) the past years' (cells = seeds × years, × the
    territories of a level); each with the split of the territories by size."""
    if "niveau" not in cells:  # a CSV of before the territories
        cells = cells.assign(niveau=DEPARTEMENT)
    last = int(cells["annee"].max())
    past = cells[cells["annee"] < last]
    scopes = [(cells[cells["annee"] == last], f"{title}, année {last}", "")]
    if len(past):
        scopes.append((past, f"{title}, années {int(past['annee'].min())}–{last - 1}",
                       " (cellules = graines × années × territoires)"))
    for scope, label, cells_are in scopes:
        _print(summarise(scope), label + cells_are)
        if "emploi_ess_central" in cells and (cells["niveau"] != DEPARTEMENT).any():
            _print(by_size(scope), f"{label}, territoires par taille (emploi ESS estimé)")
        if cells["niveau"].isin(TRUTH_SPLIT).any():
            _print(by_truth(scope), f"{label}, cellules avec ou sans vrai emploi de l'ESS")


def _print(table: pd.DataFrame, title: str) -> None:
    print(f"\n{title}")
    print(f"{'niveau':<22}{'indicateur':<22}{'couverture IC90':>20}{'IC90 binomial':>16}{'biais moyen':>14}"
          f"{'± e.t.':>9}{'demi-largeur':>14}{'au-dessus':>13}{'vrai nul':>10}")
    for r in table.itertuples():
        print(f"{r.niveau:<22}{r.indicateur:<22}{r.dans_ic90:>9}/{r.cellules:<5} {100 * r.couverture:>4.0f} %"
              f"{100 * r.couverture_bas:>9.0f}–{100 * r.couverture_haut:.0f} %"
              f"{100 * r.biais_moyen:>+12.2f} %{100 * r.biais_erreur_type:>7.2f} %"
              f"{100 * r.demi_largeur_mediane:>12.2f} %{r.au_dessus:>7}/{r.cellules}{r.vrai_nul:>8}")


if __name__ == "__main__":
    sys.exit(main())
