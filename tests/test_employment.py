"""Employment: size-band intervals, the calibration arithmetic (worked by hand), who counts in the employment year
(closures and creations after it, stale bands), the choice of the year and the messages when URSSAF lacks it, the
uncalibrated run, the interval macros."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pytest

from core_fixtures import D, build, by_siret, edited_reference, siret
from ess import db
from ess.errors import UserError
from transforms import calibration, employment

Z90 = NormalDist().inv_cdf(0.95)


def S(n, unit=None):
    return siret(n, unit if unit is not None else n)


# --- bands --------------------------------------------------------------------------------------------------------

BANDS = ["NN", "00", "01", "02", "03", "11", "12", "21", "22", "31", "32", "41", "42", "51", "52", "53", None, "99"]
EXPECTED = {  # band: (bas, haut, employeur, classe); the open band 53 has no upper bound
    "NN": (0, 0, False, "sans_salarie"), "00": (0, 0, True, "sans_salarie"),
    "01": (1, 2, True, "1_9"), "02": (3, 5, True, "1_9"), "03": (6, 9, True, "1_9"),
    "11": (10, 19, True, "10_49"), "12": (20, 49, True, "10_49"),
    "21": (50, 99, True, "50_249"), "22": (100, 199, True, "50_249"),
    "31": (200, 249, True, "50_249"), "32": (250, 499, True, "250_et_plus"),
    "41": (500, 999, True, "250_et_plus"), "42": (1000, 1999, True, "250_et_plus"),
    "51": (2000, 4999, True, "250_et_plus"), "52": (5000, 9999, True, "250_et_plus"),
    "53": (10000, None, True, "250_et_plus"),
    None: (0, 0, False, "non_renseigne"),  # empty band
    "99": (0, 0, False, "non_renseigne"),  # code missing from the reference: counted, not fatal
}


def test_every_size_band_gives_its_interval(tmp_path):
    etabs = [(100 + i, 7, band, 2023, "38185", "A", "62.01Z", "NAFRev2", None) for i, band in enumerate(BANDS)]
    con, stats = build(tmp_path, etablissements=etabs, params={"calage": False})
    got = by_siret(con, "SELECT siret, tranche_effectifs, effectif_tranche_bas, effectif_tranche_haut, employeur, "
                        "classe_taille, tranche_connue, tranche_ouverte FROM core_etablissements")
    for i, band in enumerate(BANDS):
        row = got[siret(100 + i, 7)]
        assert row[0] == band
        assert row[1:5] == EXPECTED[band], band
        assert row[5] is (band != "99"), band
        assert row[6] is (band == "53"), band
    assert stats["tranches_inconnues"] == 1 and stats["tranches_ouvertes"] == 1


# --- the calibration arithmetic, worked by hand ---------------------------------------------------------------------

def test_one_cell_spreads_its_gap_in_proportion_to_the_variances():
    # prior means 2 and 8 (total 10), variances 1 and 4; URSSAF says 20 with error variance 1:
    # D = 1 + 4 + 1 = 6, λ = (20 − 10) / 6 = 5/3; each moves by v·λ: 2 + 5/3 and 8 + 20/3
    post = calibration.solve([2.0, 8.0], [1.0, 4.0], [0, 0], [20.0], [1.0], [-1, -1], [], [])
    assert post.mean == pytest.approx([2 + 5 / 3, 8 + 20 / 3])
    assert post.denominator.tolist() == [6.0, 6.0]
    # variance of the cell's total: 5 − 5² / 6 = 5/6 (the URSSAF error, shrunk by what the members explain)
    assert calibration.sum_variance([1.0, 4.0], [True, True], [0, 0], post.denominator, post.projections) == \
        pytest.approx(5 / 6)
    # variance of the first member alone: 1 − 1² / 6
    assert calibration.sum_variance([1.0, 4.0], [True, False], [0, 0], post.denominator, post.projections) == \
        pytest.approx(5 / 6 * 1)


def test_a_negative_estimate_is_fixed_at_zero_and_the_others_take_the_gap():
    # m = 0.1 and 10, v = 1 and 1, URSSAF 5 (error 1): first pass λ = (5 − 10.1) / 3 = −1.7 puts the first at
    # −1.6 → fixed at 0; second pass, the second alone: D = 2, 10 + (5 − 10) / 2 = 7.5
    post = calibration.solve_non_negative([0.1, 10.0], [1.0, 1.0], [0, 0], [5.0], [1.0], [-1, -1], [], [])
    assert post.mean == pytest.approx([0.0, 7.5])
    assert post.clipped == 1 and post.variance.tolist() == [0.0, 1.0]


def test_cells_and_families_together_match_the_dense_gaussian_posterior():
    # an independent check: the Schur-complement solution against the textbook formula on the full matrices
    rng = np.random.default_rng(3)
    n, n_c, n_f = 30, 5, 2
    m, v = rng.uniform(0, 20, n), rng.uniform(0.5, 9, n)
    cell, family = rng.integers(-1, n_c, n), rng.integers(-1, n_f, n)
    y_c, w_c = rng.uniform(10, 80, n_c), rng.uniform(0.5, 2, n_c)
    y_f, w_f = rng.uniform(50, 150, n_f), rng.uniform(1, 3, n_f)
    post = calibration.solve(m, v, cell, y_c, w_c, family, y_f, w_f)
    A = np.zeros((n_c + n_f, n))
    A[cell[cell >= 0], np.flatnonzero(cell >= 0)] = 1
    A[n_c + family[family >= 0], np.flatnonzero(family >= 0)] = 1
    V, M = np.diag(v), A @ np.diag(v) @ A.T + np.diag(np.r_[w_c, w_f])
    dense = m + V @ A.T @ np.linalg.solve(M, np.r_[y_c, y_f] - A @ m)
    cov = V - V @ A.T @ np.linalg.solve(M, A @ V)
    assert post.raw == pytest.approx(dense)
    for _ in range(5):
        a = rng.random(n) < 0.5
        assert calibration.sum_variance(v, a, cell, post.denominator, post.projections) == pytest.approx(a @ cov @ a)


def test_interval_macros_known_answers():
    con = db.connect()
    employment.define_macros(con)
    # log-normal with mean 100 and variance 400: σ² = ln 1.04, bounds 100·e^(−σ²/2 ∓ zσ)
    s2 = math.log(1.04)
    low, high = con.execute("SELECT ic_bas(100.0, 400.0, ?), ic_haut(100.0, 400.0, ?)", [Z90, Z90]).fetchone()
    assert low == pytest.approx(100 * math.exp(-s2 / 2 - Z90 * math.sqrt(s2)))
    assert high == pytest.approx(100 * math.exp(-s2 / 2 + Z90 * math.sqrt(s2)))
    # a zero estimate with variance 4: [0, z·2]; a tiny estimate with a huge variance keeps itself inside
    assert con.execute("SELECT ic_bas(0.0, 4.0, ?), ic_haut(0.0, 4.0, ?)", [Z90, Z90]).fetchone() == (
        0.0, pytest.approx(2 * Z90))
    low, high = con.execute("SELECT ic_bas(1e-6, 1.0, ?), ic_haut(1e-6, 1.0, ?)", [Z90, Z90]).fetchone()
    assert low <= 1e-6 <= high
    # a lower bound under one job is 0 (the truth is a whole number of jobs): mean 0.025, variance 0.01 gives a
    # log-normal bound of 0.025·e^(−σ²/2 − zσ) ≈ 4e-4 (σ² = ln 17); mean 3, variance 1: 3·e^(−σ²/2 − zσ) ≈ 1.67 stays
    assert con.execute("SELECT ic_bas(0.025, 0.01, ?)", [Z90]).fetchone()[0] == 0.0
    s2 = math.log(1 + 1 / 9)
    assert con.execute("SELECT ic_bas(3.0, 1.0, ?)", [Z90]).fetchone()[0] == pytest.approx(
        3 * math.exp(-s2 / 2 - Z90 * math.sqrt(s2)))
    # a share whose employment's interval reaches 0 reaches 0; otherwise the logit-normal bound
    assert con.execute("SELECT ic_part_bas_emploi(0.02, 0.0001, ?, 0.025, 0.01)", [Z90]).fetchone()[0] == 0.0
    assert con.execute("SELECT ic_part_bas_emploi(0.25, 0.0004, ?, 100.0, 400.0)", [Z90]).fetchone()[0] == \
        pytest.approx(con.execute("SELECT ic_part_bas(0.25, 0.0004, ?)", [Z90]).fetchone()[0])
    # a share of 0.25 with variance 0.0004: logit ± z·0.02 / (0.25 · 0.75)
    low, high = con.execute("SELECT ic_part_bas(0.25, 0.0004, ?), ic_part_haut(0.25, 0.0004, ?)",
                            [Z90, Z90]).fetchone()
    logit = math.log(0.25 / 0.75)
    half = Z90 * 0.02 / (0.25 * 0.75)
    assert low == pytest.approx(1 / (1 + math.exp(-(logit - half))))
    assert high == pytest.approx(1 / (1 + math.exp(-(logit + half))))


# --- a band taken at the end of an establishment closed since ---------------------------------------------------------
# The year 2015. E1 and E3 closed in 2021, their band 12 (20–49) taken in 2020, their last year open on 31/12: it often
# describes a decline before closing, not 2015. E2 and E4 are open, band 12 of 2023. E1 and E2 are each alone in an
# URSSAF cell (60 and 30 employees); E3 and E4 are outside URSSAF's field (say under the MSA) and take the mean their
# class has in the field. With the closing class, E3 gets E1's 60 and E4 E2's 30; both used to be in « band 12, old »
# (2015 is 5 and 8 years from their bands) and got the class mean 45.


def test_a_band_taken_before_closing_is_a_class_of_its_own_for_the_years_before_it():
    import dataclasses

    from transforms import reference

    con = db.connect()
    reference.load_reference(con, ["emploi_modele", "tranches_effectifs"])
    cfg = dataclasses.replace(employment.settings(con), classe_min=1)
    band = employment.bands(con, cfg)
    four = lambda *v: np.array(v, dtype=object)  # noqa: E731
    inp = employment.YearInput(
        year=2015, tranche=four("12", "12", "12", "12"), annee_tranche=np.array([2020.0, 2023.0, 2020.0, 2023.0]),
        flag_o=np.ones(4, bool), recent=np.zeros(4, bool), champ=np.array([True, True, False, False]),
        famille=four("hors_ess", "hors_ess", None, None), commune=four("38185", "38001", "38185", "38001"),
        cell_key=four("38185|6201Z", "38001|6201Z", "38185|0111Z", "38001|0111Z"),
        u_present=np.array([True, True, False, False]), u_value=np.array([60.0, 30.0, np.nan, np.nan]),
        avant_fermeture=np.array([True, False, True, False]))
    base, group = employment._classes(inp, cfg)
    assert list(employment.base_names()[base]) == ["12:3", "12:2", "12:3", "12:2"]
    prior = employment._fit_prior(inp, employment._constraints(inp, {}), band, cfg)
    assert prior.mean == pytest.approx([60, 30, 60, 30])
    assert list(prior.column) == ["12:3|c", "12:2|c", "melange:12:3", "melange:12:2"]
    # in 2020, the band's own year, E1's band describes the year: the usual class
    assert list(employment.base_names()[employment._classes(dataclasses.replace(inp, year=2020), cfg)[0]]) == [
        "12:0", "12:1", "12:0", "12:1"]
    # without the closing class (an establishment still open), E1 and E3 share E2's class: the mean is 45
    open_all = dataclasses.replace(inp, avant_fermeture=np.zeros(4, bool))
    assert employment._fit_prior(open_all, employment._constraints(open_all, {}), band, cfg).mean == pytest.approx(
        [45, 45, 45, 45])


# --- who counts in the employment year (hand check) -------------------------------------------------------------------
# Y = 2024. Associations (9220) and one SAS, each alone in its commune × APE cell, URSSAF's 31/12 headcount known:
#   H1 band 11 of 2024, open since 2005                  → counts in 2024; URSSAF 15
#   H2 band 12 of 2023, closed 30/06/2025 (after Y)      → counts in 2024; URSSAF 25 (URSSAF counts it in 2024 too)
#   H3 created 01/03/2025 (after Y), no band             → does not count in 2024
#   H4 band 02 of 2021, closed 01/05/2023 (before Y)     → does not count in 2024
#   H5 band 01 of 2019 (stale: 1–2 employees five years earlier), open → counts in 2024, at URSSAF's 30, far outside
#      its old band
#   H6 SAS band 03 of 2024                               → counts, hors ESS; URSSAF 8
# ESS file 2024 (annual averages): associations 60, hors ESS 8, other families 0; URSSAF's 31/12 total is
# 15 + 25 + 30 + 8 = 78, so the annual averages are converted by 78 / 68 (associations: 60 × 78/68 = 68.82).

HAND_ETABS = [
    (1, 101, "11", 2024, "38185", "A", "88.99B", "NAFRev2", None),
    (2, 102, "12", 2023, "38001", "F", "88.99B", "NAFRev2", None),
    (3, 103, None, None, "38544", "A", "88.99B", "NAFRev2", None),
    (4, 104, "02", 2021, "38185", "F", "94.99Z", "NAFRev2", None),
    (5, 105, "01", 2019, "38544", "A", "85.59A", "NAFRev2", None),
    (6, 106, "03", 2024, "38185", "A", "62.01Z", "NAFRev2", None),
]
HAND_UNITS = [(101, "9220", "O", "88.99B"), (102, "9220", "O", "88.99B"), (103, "9220", "O", "88.99B"),
              (104, "9220", "O", "94.99Z"), (105, "9220", "O", "85.59A"), (106, "5710", "N", "62.01Z")]
HAND_HISTORY = [
    (1, 101, D(2005, 1, 1), None, "A", "88.99B"),
    (2, 102, D(2010, 1, 1), D(2025, 6, 29), "A", "88.99B"), (2, 102, D(2025, 6, 30), None, "F", "88.99B"),
    (3, 103, D(2025, 3, 1), None, "A", "88.99B"),
    (4, 104, D(2000, 1, 1), D(2023, 4, 30), "A", "94.99Z"), (4, 104, D(2023, 5, 1), None, "F", "94.99Z"),
    (5, 105, D(2008, 1, 1), None, "A", "85.59A"),
    (6, 106, D(2015, 1, 1), None, "A", "62.01Z"),
]
HAND_CREATIONS = {1: D(2005, 1, 1), 2: D(2010, 1, 1), 3: D(2025, 3, 1), 4: D(2000, 1, 1), 5: D(2008, 1, 1),
                  6: D(2015, 1, 1)}
HAND_URSSAF_ESS = [(2024, "38", "ess", f, v) for f, v in (("associations", 60.0), ("cooperatives", 0.0),
                                                           ("mutuelles", 0.0), ("fondations", 0.0))] + [
    (2024, "38", "hors_ess", "hors_ess", 8.0)]
HAND_CELLS = [("38185", "8899B", 2024, 15.0), ("38001", "8899B", 2024, 25.0), ("38544", "8559A", 2024, 30.0),
              ("38185", "6201Z", 2024, 8.0), ("38185", "9499Z", 2022, 3.0)]


@pytest.fixture(scope="module")
def hand(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hand")
    # every class on its own (the fixture is too small for pooled classes)
    reference = edited_reference(tmp, "emploi_modele", ("classe_min_etablissements,15", "classe_min_etablissements,1"))
    return build(tmp, params={"annee_urssaf": 2024, "reference_dir": str(reference)}, etablissements=HAND_ETABS,
                 unites=HAND_UNITS, historique=HAND_HISTORY, creations=HAND_CREATIONS,
                 urssaf_ess=HAND_URSSAF_ESS, urssaf_commune_ape=HAND_CELLS, unites_historique=[])


def test_closures_and_creations_after_the_year_count_as_point_2_says(hand):
    con, stats = hand
    assert stats["emploi"]["annee_effectifs"] == 2024
    rows = by_siret(con, "SELECT siret, effectif_central FROM core_effectifs WHERE annee = 2024")
    # open on 31/12/2024: H1, H2 (closed in 2025), H5, H6 — not H3 (created 2025) nor H4 (closed 2023)
    assert set(rows) == {S(1, 101), S(2, 102), S(5, 105), S(6, 106)}
    flags = by_siret(con, "SELECT siret, actif_fin_annee_effectif FROM core_etablissements")
    assert flags == {S(1, 101): True, S(2, 102): True, S(3, 103): False, S(4, 104): False, S(5, 105): True,
                     S(6, 106): True}
    # each is alone in its cell, in a class of its own: the class mean is URSSAF's value, the estimate too
    assert rows[S(1, 101)] == pytest.approx(15, abs=0.01)
    assert rows[S(2, 102)] == pytest.approx(25, abs=0.01)  # a closed establishment counts in the years it lived
    assert rows[S(6, 106)] == pytest.approx(8, abs=0.01)


def test_a_closed_establishments_last_band_is_its_closing_class_for_the_years_before_it(hand):
    # H2 closed in 2025 (last open on 31/12/2024) with its band of 2023; H4 closed in 2023 (last open 2022) with its
    # band of 2021: the years before those bands are in the closing class (3); H5, open, keeps the old-band class
    con, _ = hand
    classes = {(s, y): c for s, y, c in con.execute(
        "SELECT siret, annee, classe_modele FROM core_effectifs").fetchall()}
    assert classes[(S(2, 102), 2020)].startswith("12:3")
    assert classes[(S(2, 102), 2023)].startswith("12:0")
    assert classes[(S(4, 104), 2015)].startswith("02:3")
    assert classes[(S(5, 105), 2012)].startswith("01:2")


def test_a_stale_band_does_not_bound_the_estimate(hand):
    con, _ = hand
    got = by_siret(con, "SELECT siret, tranche_effectifs, annee_effectifs, effectif_tranche_haut, effectif_central, "
                        "classe_modele FROM core_etablissements")
    tranche, annee, high, central, classe = got[S(5, 105)]
    assert (tranche, annee, high) == ("01", 2019, 2)
    assert central == pytest.approx(30, abs=0.01)  # what URSSAF counts at 31/12/2024, not the band of 2019
    assert classe == "01:2|c"  # band 01, band age 5 years (group 2), in a listed cell


def test_not_open_at_the_year_end_means_no_employment_that_year(hand):
    con, _ = hand
    got = by_siret(con, "SELECT siret, effectif_central, statut_calage FROM core_etablissements")
    assert got[S(3, 103)] == (0.0, "ferme_fin_annee_effectif")
    assert got[S(4, 104)] == (0.0, "ferme_fin_annee_effectif")
    # H4 counts in 2022, when it was open (URSSAF lists its cell with 3)
    past = by_siret(con, "SELECT siret, effectif_central FROM core_effectifs WHERE annee = 2022")
    assert S(4, 104) in past and S(3, 103) not in past


def test_annual_averages_are_converted_to_the_year_end_and_reported(hand):
    con, _ = hand
    rows = {r[0]: r[1:] for r in con.execute(
        "SELECT groupe, definition_cible, cible_publiee, facteur_conversion, cible_fin_annee, total_cale, statut, "
        "desaccord_relatif_avant_conversion FROM core_calibration WHERE annee = 2024").fetchall()}
    assoc = rows["associations"]
    assert assoc[:4] == ("moyenne_annuelle", 60.0, pytest.approx(78 / 68), pytest.approx(60 * 78 / 68))
    assert assoc[5] == "cale"
    # the associations' cells say 15 + 25 + 30 = 70; the converted annual average 68.8 with a 2 % error: the cells,
    # exact and alone, win (each establishment is its cell)
    assert assoc[4] == pytest.approx(70, abs=0.05)
    assert rows["ensemble_prive"][:3] == ("fin_annee", 78.0, None)
    # the two views of the rest of the economy before conversion: « Hors ESS » 8 vs 78 − 60 = 18 (−55.6 %)
    assert rows["hors_ess"][6] == pytest.approx((8 - 18) / 18)


def test_the_core_step_converts_each_family_by_its_own_growth(tmp_path):
    """The hand-made world with URSSAF's ESS file for 2023 as well: the associations grew from 50 to 60 (annual
    averages), the rest of the field stayed at 8. 2024 is the file's last year: the growth from 2023,
    c = 1 + (60 − 50) / (2 × 60) = 13 / 12; the field's C = (60 × 13/12 + 8) / 68 = 73 / 68; the associations'
    target 78 × 65 / 73 = 69.45 (the field factor alone gave 78 × 60 / 68 = 68.82), « Hors ESS » 78 × 8 / 73."""
    reference = edited_reference(tmp_path, "emploi_modele",
                                 ("classe_min_etablissements,15", "classe_min_etablissements,1"))
    ess = HAND_URSSAF_ESS + [(2023, "38", "ess", "associations", 50.0)] + [
        (2023, "38", "ess", f, 0.0) for f in ("cooperatives", "mutuelles", "fondations")] + [
        (2023, "38", "hors_ess", "hors_ess", 8.0)]
    con, _ = build(tmp_path, params={"annee_urssaf": 2024, "reference_dir": str(reference)},
                   etablissements=HAND_ETABS, unites=HAND_UNITS, historique=HAND_HISTORY, creations=HAND_CREATIONS,
                   urssaf_ess=ess, urssaf_commune_ape=HAND_CELLS, unites_historique=[])
    rows = {r[0]: r[1:] for r in con.execute(
        "SELECT groupe, facteur_conversion, cible_fin_annee, ecart_type_cible FROM core_calibration "
        "WHERE annee = 2024 AND groupe IN ('associations', 'hors_ess')").fetchall()}
    factor, target, sd = rows["associations"]
    assert factor == pytest.approx(78 / 68)  # facteur_conversion stays the field's
    assert target == pytest.approx(78 * 65 / 73)
    assert rows["hors_ess"][1] == pytest.approx(78 * 8 / 73)
    # one year of growth measures no curvature: its error is the adjustment itself, (13/12) / (73/68) − 1 = 0.91 %,
    # beside the residual 2 % (and the variance floor, 1)
    growth = (13 / 12) / (73 / 68) - 1
    assert sd == pytest.approx(math.sqrt((0.02 ** 2 + growth ** 2) * target ** 2 + 1))


def test_last_bit_differences_of_another_cpu_do_not_reach_the_estimates(hand, tmp_path, monkeypatch):
    """Another CPU's numpy and OpenBLAS kernels give the same posterior means up to their last bits; the estimates
    written (rounded to DECIMALES_EFFECTIF) are the same, so the sums and the secrecy pattern made of them are too."""
    con, _ = hand
    query = "SELECT siret, annee, effectif_central FROM core_effectifs ORDER BY ALL"
    expected = con.execute(query).fetchall()
    assert all(round(v, employment.DECIMALES_EFFECTIF) == v for _, _, v in expected)
    solve, noise = calibration.solve_non_negative, np.random.default_rng(7)

    def another_cpu(*args, **kwargs):
        post = solve(*args, **kwargs)
        post.mean = post.mean * (1 + 1e-13 * noise.standard_normal(len(post.mean)))
        return post

    monkeypatch.setattr(calibration, "solve_non_negative", another_cpu)
    reference = edited_reference(tmp_path, "emploi_modele",
                                 ("classe_min_etablissements,15", "classe_min_etablissements,1"))
    noisy, _ = build(tmp_path, params={"annee_urssaf": 2024, "reference_dir": str(reference)},
                     etablissements=HAND_ETABS, unites=HAND_UNITS, historique=HAND_HISTORY, creations=HAND_CREATIONS,
                     urssaf_ess=HAND_URSSAF_ESS, urssaf_commune_ape=HAND_CELLS, unites_historique=[])
    got = noisy.execute(query).fetchall()
    assert got == expected
    monkeypatch.setattr(employment, "quantise", lambda mean: mean)  # unrounded: the noise shows
    raw, _ = build(tmp_path / "brut", params={"annee_urssaf": 2024, "reference_dir": str(reference)},
                   etablissements=HAND_ETABS, unites=HAND_UNITS, historique=HAND_HISTORY, creations=HAND_CREATIONS,
                   urssaf_ess=HAND_URSSAF_ESS, urssaf_commune_ape=HAND_CELLS, unites_historique=[])
    assert raw.execute(query).fetchall() != expected


# --- the choice of the year and what URSSAF must hold -----------------------------------------------------------------

def test_the_year_defaults_to_the_latest_year_of_both_files(tmp_path):
    cells = [("38185", "8899B", y, 100.0) for y in (2022, 2023, 2024)]
    ess = [(y, "38", "ess", "associations", 50.0) for y in (2022, 2023)]
    con, stats = build(tmp_path, params={"annee_urssaf": None}, urssaf_ess=ess, urssaf_commune_ape=cells)
    assert (stats["emploi"]["annee_effectifs"], stats["emploi"]["choix_annee"]) == (2023,
                                                                                     "derniere_annee_des_deux_fichiers")


def test_a_year_missing_from_the_ess_file_stops_the_run_naming_the_file(tmp_path):
    with pytest.raises(UserError, match=r"URSSAF file nombre-etab-effectifs-salaries-et-masse-salariale-ess-"
                                        r"departements\.csv has no figures for year 2025 for département 38 \(its "
                                        r"years: 2022, 2023\).*--annee-urssaf.*--sans-calage"):
        build(tmp_path, params={"annee_urssaf": 2025})


def test_a_year_missing_from_the_commune_ape_file_stops_the_run(tmp_path):
    ess = [(2024, "38", "ess", "associations", 50.0), (2023, "38", "ess", "associations", 50.0)]
    with pytest.raises(UserError, match=r"URSSAF file etablissements-et-effectifs-salaries-au-niveau-commune-x-ape-"
                                        r"last\.csv has no employment for year 2024 in département 38 \(its years: "
                                        r"2022, 2023\)"):
        build(tmp_path, params={"annee_urssaf": 2024}, urssaf_ess=ess)


def test_a_ess_file_without_the_departement_stops_the_run(tmp_path):
    ess = [(2023, "69", "ess", "associations", 999.0)]
    with pytest.raises(UserError, match=r"nombre-etab-effectifs-salaries-et-masse-salariale-ess-departements\.csv "
                                        r"has no ESS family row for département 38"):
        build(tmp_path, urssaf_ess=ess)


def test_without_urssaf_files_the_run_stops_unless_asked_not_to_calibrate(tmp_path):
    without = ("staging_urssaf_ess_departement", "staging_urssaf_commune_ape")
    with pytest.raises(UserError, match="no URSSAF figures for département 38.*--sans-calage"):
        build(tmp_path / "a", without=without)
    con, stats = build(tmp_path / "b", params={"calage": False, "annee_urssaf": None}, without=without)
    # the band year most employers carry, every estimate « non calé », at its band's reference value
    assert stats["emploi"]["annee_effectifs"] == 2023 and stats["emploi"]["calage"] is False
    assert {r[0] for r in con.execute("SELECT DISTINCT statut_calage FROM core_effectifs").fetchall()} == {"non_cale"}
    got = by_siret(con, "SELECT siret, effectif_central FROM core_etablissements")
    assert got[S(1)] == pytest.approx(13.78)  # band 11: √(10 × 19)
    assert got[S(5)] == 0.0  # NN: nothing to go on without URSSAF


# --- past counts (point 7) ---------------------------------------------------------------------------------------------

def test_a_missing_history_start_is_read_from_the_creation_date(tmp_path):
    # E01's first period has no start: the establishment was created on 01/06/2015, so it counts from 2015, not
    # in 2012–2014 (a 1900 start would count it in every early year); E02, a secondary establishment without
    # creation date nor start, counts only from its next dated period (2019)
    history = [(1, 1, None, D(2019, 12, 31), "A", "88.99B"), (1, 1, D(2020, 1, 1), None, "A", "88.99B"),
               (2, 2, None, D(2018, 12, 31), "A", "71.12B"), (2, 2, D(2019, 1, 1), None, "A", "71.12B")]
    con, stats = build(tmp_path, historique=history, creations={1: D(2015, 6, 1), 2: None, 6: D(2021, 3, 1)},
                       non_sieges={2})
    years = {}
    for s, y in con.execute("SELECT siret, annee FROM core_etablissements_annuel WHERE actif").fetchall():
        years.setdefault(s, []).append(y)
    assert min(years[S(1)]) == 2015
    assert min(years[S(2)]) == 2019
    assert stats["debuts_historique_inconnus"] == 1


# --- a cell left empty in the file's last year (hand check) -----------------------------------------------------------
# Y = 2024, the file's last year. Two associations of the same class (band 02 of 2023, open since 2010, 88.99B),
# each alone in its commune × APE cell:
#   B1 in 38185 × 8899B: URSSAF 12 in 2023 and in 2024
#   B2 in 38001 × 8899B: URSSAF 10 in 2023, EMPTY in 2024 — the year right after its last published year, while
#      SIRENE says B2 is still open: the value may be hidden (not published) rather than B2 having nobody.
# The old reading took the empty value as 0, and B2 was calibrated to 0 (its cell's target), the private total
# and the conversion left its employment out. Too few cells measure the chance that such a value hides employment:
# it is 0.5. B2's listed-cell class mean is B1's 12 (the class's only cell): B2 gets 0.5 × 12 = 6, and the private
# total 12 + 6 = 18 converts the associations' annual average 20 by 18 / 20.

BLANK_ETABS = [(1, 201, "02", 2023, "38185", "A", "88.99B", "NAFRev2", None),
               (2, 202, "02", 2023, "38001", "A", "88.99B", "NAFRev2", None)]
BLANK_UNITS = [(201, "9220", "O", "88.99B"), (202, "9220", "O", "88.99B")]
BLANK_HISTORY = [(1, 201, D(2010, 1, 1), None, "A", "88.99B"), (2, 202, D(2010, 1, 1), None, "A", "88.99B")]
BLANK_ESS = [(2024, "38", "ess", f, v) for f, v in (("associations", 20.0), ("cooperatives", 0.0),
                                                    ("mutuelles", 0.0), ("fondations", 0.0))] + [
    (2024, "38", "hors_ess", "hors_ess", 0.0)]
BLANK_CELLS = [("38185", "8899B", 2023, 12.0), ("38185", "8899B", 2024, 12.0),
               ("38001", "8899B", 2023, 10.0), ("38001", "8899B", 2024, None)]


def _two_associations(tmp_path, cells):
    """B1 and B2 (BLANK_*), every class on its own, employment year 2024, with these URSSAF cells."""
    reference = edited_reference(tmp_path, "emploi_modele",
                                 ("classe_min_etablissements,15", "classe_min_etablissements,1"))
    con, _ = build(tmp_path, params={"annee_urssaf": 2024, "reference_dir": str(reference)},
                   etablissements=BLANK_ETABS, unites=BLANK_UNITS, historique=BLANK_HISTORY,
                   creations={1: D(2010, 1, 1), 2: D(2010, 1, 1)}, urssaf_ess=BLANK_ESS,
                   urssaf_commune_ape=cells, unites_historique=[])
    return con


def _b2_half_imputed(con, year: int) -> tuple:
    """Checks that B1 is calibrated on its 12 and B2 gets the mixture 0.5 × 12 = 6 in `year`; returns the year's
    private-total row of core_calibration (published, with the empty cells, its standard deviation, cells and
    establishments imputed, chance, employment imputed)."""
    rows = by_siret(con, f"SELECT siret, effectif_central, statut_calage FROM core_effectifs WHERE annee = {year}")
    assert rows[S(1, 201)] == (pytest.approx(12, abs=0.01), "cale")
    assert rows[S(2, 202)] == (pytest.approx(6, abs=0.01), "cellule_urssaf_vide_imputee")
    return con.execute("SELECT cible_publiee, cible_fin_annee, ecart_type_cible, nb_cellules_vides_imputees, "
                       "nb_etablissements_cellule_vide_imputee, probabilite_vide_masque, emploi_impute_cellules_vides "
                       "FROM core_calibration WHERE annee = ? AND groupe = 'ensemble_prive'", [year]).fetchone()


def test_a_cell_empty_in_the_last_year_is_imputed_not_read_as_zero(tmp_path):
    con = _two_associations(tmp_path, BLANK_CELLS)
    cell = con.execute("SELECT effectif, vide_apres_publication, effectif_avant_vide FROM core_cellules_urssaf "
                       "WHERE annee = 2024 AND code_commune = '38001'").fetchone()
    assert cell == (0.0, True, 10.0)  # the file's reading is unchanged: an empty value after the last one is 0
    r = _b2_half_imputed(con, 2024)  # B2 was calibrated on 0 before
    assert r[:2] == (12.0, pytest.approx(18, abs=0.01))
    assert r[3:] == (1, 1, 0.5, pytest.approx(6, abs=0.01))
    # B2's variance is the mixture's: 0.5·v + 0.5·0.5·12·12 ≥ 36 (its own class variance v on top)
    assert r[2] ** 2 >= 36 - 1e-6
    assoc = con.execute("SELECT facteur_conversion FROM core_calibration WHERE annee = 2024 "
                        "AND groupe = 'associations'").fetchone()[0]
    assert assoc == pytest.approx(18 / 20, abs=1e-3)


# The same two associations, one year earlier: URSSAF publishes B1's cell 12 in 2022, 2023 and 2024, and B2's 10 in
# 2022 and 2024 but leaves 2023 EMPTY — a gap between two published years: a hidden value, or a year without
# employee on 31/12 and hiring again. Too few cells measure the chance: 0.5. B2 used to keep its whole prior (12,
# the class mean of B1's cell) with the gap left out of the private total; it now gets the mixture 0.5 × 12 = 6, and
# the private total of 2023 is 12 + 6.
GAP_CELLS = [("38185", "8899B", y, 12.0) for y in (2022, 2023, 2024)] + [
    ("38001", "8899B", 2022, 10.0), ("38001", "8899B", 2023, None), ("38001", "8899B", 2024, 10.0)]


def test_a_gap_between_published_years_is_weighed_by_its_chance_of_hiding_employment(tmp_path):
    con = _two_associations(tmp_path, GAP_CELLS)
    assert con.execute("SELECT effectif FROM core_cellules_urssaf WHERE annee = 2023 AND code_commune = '38001'"
                       ).fetchone() == (None,)  # the file's reading is unchanged: a gap is unknown, never 0
    r = _b2_half_imputed(con, 2023)  # B2 kept its whole prior, 12, before
    assert r[:2] == (12.0, pytest.approx(18, abs=0.01))
    assert r[3:] == (1, 1, 0.5, pytest.approx(6, abs=0.01))
    # the years around it are published: B2 is calibrated on its cell there
    assert con.execute("SELECT list(DISTINCT statut_calage) FROM core_effectifs WHERE siret = ? "
                       "AND annee IN (2022, 2024)", [S(2, 202)]).fetchone()[0] == ["cale"]


def _settings() -> employment.Settings:
    """The employment model's settings of the committed reference (data/reference/emploi_modele.csv)."""
    from transforms import reference

    con = db.connect()
    reference.load_reference(con, ["emploi_modele"])
    return employment.settings(con)


def _cells_table(con, rows) -> None:
    """core_cellules_urssaf of (annee, commune, effectif, vide_apres_publication, effectif_avant_vide) rows in APE
    8899B, every cell holding an open establishment of the field each year (core_effectifs_entrees)."""
    con.execute("CREATE TABLE core_cellules_urssaf (annee INTEGER, code_commune VARCHAR, code_ape VARCHAR, "
                "effectif DOUBLE, vide_apres_publication BOOLEAN, effectif_avant_vide DOUBLE, "
                "lacune_partielle BOOLEAN DEFAULT false)")
    con.executemany("INSERT INTO core_cellules_urssaf (annee, code_commune, code_ape, effectif, vide_apres_publication, "
                    "effectif_avant_vide) VALUES (?, ?, '8899B', ?, ?, ?)", rows)
    con.execute("CREATE TABLE core_effectifs_entrees AS SELECT DISTINCT annee, code_commune, code_ape, "
                "true AS champ_urssaf FROM core_cellules_urssaf")


def test_the_chance_that_an_empty_value_hides_employment_is_measured_on_the_file():
    # 2020–2022, the file's last year 2022; every cell holds an open establishment of the field each year.
    #   A1…A40: 20 employees in 2020, 2021 and 2022, except A1…A4 left empty in 2021 (a gap: hidden values)
    #   B1…B12: 20 in 2020 and 2021, empty in 2022 (after their last published year: hidden or gone?)
    # s: cells surely employing in 2021 (≥ 10 in 2020 and 2022) are A1…A40, 4 of them empty: s = 0.1.
    # r for the class 10–49 of the year before: in 2021, A1…A40 and B1…B12 (52 cells) of which 4 empty; in 2022,
    # A5…A40 and B1…B12 (48; A1…A4 were not published in 2021) of which 12 empty: r = 16 / 100.
    # π = s / r = 0.625 for B1…B12 in 2022.
    # A1…A4's gap of 2021 may hide employment too: r' for 10–49, the cells published again later, is A1…A40 in 2021
    # (B1…B12 are empty later: 0), 4 empty of 40: π' = s / r' = 1 (every big cell's gap is a hidden value here).
    con = db.connect()
    rows = []
    for i in range(40):
        for y in (2020, 2021, 2022):
            blank = i < 4 and y == 2021
            rows.append((y, f"A{i}", None if blank else 20.0, False, None))
    for i in range(12):
        rows += [(2020, f"B{i}", 20.0, False, None), (2021, f"B{i}", 20.0, False, None),
                 (2022, f"B{i}", 0.0, True, 20.0)]
    _cells_table(con, rows)
    got = employment.hidden_chances(con, _settings())
    after = got[~got["lacune"]]
    assert sorted(after["code_commune"]) == sorted(f"B{i}" for i in range(12))
    assert (after["annee"] == 2022).all()
    assert after["s"].iloc[0] == pytest.approx(0.1)
    assert after["r"].iloc[0] == pytest.approx(0.16)
    assert after["chance"].to_numpy() == pytest.approx(np.full(12, 0.625))
    gaps = got[got["lacune"]]
    assert sorted(zip(gaps["annee"], gaps["code_commune"])) == [(2021, f"A{i}") for i in range(4)]
    assert gaps["r"].to_numpy() == pytest.approx(np.full(4, 0.1))
    assert gaps["chance"].to_numpy() == pytest.approx(np.ones(4))
    # without an open establishment of the field in the cell, an empty value is a departure: nothing to impute
    con.execute("DELETE FROM core_effectifs_entrees WHERE annee = 2022 AND code_commune = 'B0'")
    assert "B0" not in set(employment.hidden_chances(con, _settings())["code_commune"])


def test_a_merged_communes_cell_partly_published_is_not_taken_for_empty(tmp_path):
    # 38174 and 38113 are now 38001 (the fixture's passage). In 2024 URSSAF publishes 40 for 38174 × 88.99B and
    # leaves 38113 × 88.99B empty right after its last published year: the merged cell 38001 × 8899B reads 40 + 0
    # and is NOT flagged as an empty value that may hide employment (its 40 would otherwise be dropped as a target
    # and counted again in the imputed mass); 38113's empty value alone would be.
    cells = [("38174", "8899B", 2023, 30.0), ("38174", "8899B", 2024, 40.0),
             ("38113", "8899B", 2023, 10.0), ("38113", "8899B", 2024, None)]
    con, _ = build(tmp_path, urssaf_commune_ape=cells)
    assert con.execute("SELECT effectif, vide_apres_publication, effectif_avant_vide FROM core_cellules_urssaf "
                       "WHERE annee = 2024 AND code_commune = '38001' AND code_ape = '8899B'").fetchone() == (
        40.0, False, None)
    # the same in a past year: 38113 left empty between two published years while 38174 is published — the merged
    # cell's headcount is unknown, and flagged as published in part (not a gap whose value may be hidden)
    gap = [("38174", "8899B", y, v) for y, v in ((2022, 30.0), (2023, 40.0), (2024, 50.0))] + [
        ("38113", "8899B", y, v) for y, v in ((2022, 10.0), (2023, None), (2024, 10.0))] + [
        ("38185", "8899B", y, 12.0) for y in (2022, 2023, 2024)]
    con, _ = build(tmp_path / "gap", urssaf_commune_ape=gap)
    assert con.execute("SELECT effectif, lacune_partielle FROM core_cellules_urssaf WHERE annee = 2023 "
                       "AND code_commune = '38001' AND code_ape = '8899B'").fetchone() == (None, True)
    con, _ = build(tmp_path / "alone", urssaf_commune_ape=cells[2:])
    assert con.execute("SELECT effectif, vide_apres_publication, effectif_avant_vide FROM core_cellules_urssaf "
                       "WHERE annee = 2024 AND code_commune = '38001' AND code_ape = '8899B'").fetchone() == (
        0.0, True, 10.0)


def test_a_value_hidden_several_years_counts_in_the_chance_of_hiding():
    # 2019–2023, the file's last year 2023. A0…A39 publish 20 every year, except A0…A3 empty in 2020 and 2021 (a
    # value hidden two years running) and published again in 2022. B0…B11 publish 20 in 2019–2022, empty in 2023.
    # s: a cell published with ≥ 10 the year before and again later — in 2020: the 40 A (4 empty) and the 12 B; in
    # 2021: A4…A39 (A0…A3 have no value the year before) and the 12 B; in 2022: A4…A39 (B is 0 later) —
    # 4 / (52 + 48 + 36) = 1 / 34. (Counting one-year gaps only, the two-year gap was missed: s = 0, π = 0.)
    # r for 10–49 the year before: A4…A39 in 2020–2023 (144), A0…A3 in 2020 (4, empty) and 2023 (4), B in 2020–2023
    # (48, 12 empty): 16 / 200. π = (1 / 34) / (16 / 200) = 25 / 68 for B0…B11 in 2023.
    # A0…A3's two-year gap takes the class of 20, its last value before: r' counts the cells published again later
    # — the 40 A and 12 B in 2020, A4…A39 and the 12 B in 2021, A4…A39 in 2022 — 4 empty of 136 = s: π' = 1.
    con = db.connect()
    rows = []
    for i in range(40):
        for y in range(2019, 2024):
            rows.append((y, f"A{i}", None if i < 4 and y in (2020, 2021) else 20.0, False, None))
    for i in range(12):
        rows += [(y, f"B{i}", 20.0, False, None) for y in range(2019, 2023)] + [(2023, f"B{i}", 0.0, True, 20.0)]
    _cells_table(con, rows)
    got = employment.hidden_chances(con, _settings())
    after = got[~got["lacune"]]
    assert sorted(after["code_commune"]) == sorted(f"B{i}" for i in range(12))
    assert after["s"].iloc[0] == pytest.approx(1 / 34)
    assert after["r"].iloc[0] == pytest.approx(16 / 200)
    assert after["chance"].to_numpy() == pytest.approx(np.full(12, 25 / 68))
    gaps = got[got["lacune"]]
    assert sorted(zip(gaps["annee"], gaps["code_commune"])) == [(y, f"A{i}") for y in (2020, 2021) for i in range(4)]
    assert gaps["r"].to_numpy() == pytest.approx(np.full(8, 1 / 34))
    assert gaps["chance"].to_numpy() == pytest.approx(np.ones(8))


def test_a_gap_in_a_small_cell_is_more_often_a_year_without_employee():
    # 2020–2023. A0…A39 publish 20 every year, A0…A3 left empty in 2021 (hidden values). C0…C19 publish 2 every year,
    # C0…C9 left empty in 2021 — small cells, whose gaps are mostly a year without employee on 31/12.
    # s: published with ≥ 10 the year before and again later: the 40 A in 2021 (4 empty), A4…A39 in 2022: 4 / 76.
    # r' for 1–2 (published again later): the 20 C in 2021 (10 empty), C10…C19 in 2022: 10 / 30.
    # π' = (1 / 19) / (1 / 3) = 3 / 19 for C0…C9; r' for 10–49 is 4 / 76 = s: π' = 1 for A0…A3.
    # Z published 0 in 2020, then a gap, then 2: a value under 1 is in the smallest class (3 / 19, not the 0.5 of an
    # unmeasured rate). M's gap is in a cell of merged communes whose other row is published: not imputed.
    con = db.connect()
    rows = []
    for i in range(40):
        rows += [(y, f"A{i}", None if i < 4 and y == 2021 else 20.0, False, None) for y in range(2020, 2024)]
    for i in range(20):
        rows += [(y, f"C{i}", None if i < 10 and y == 2021 else 2.0, False, None) for y in range(2020, 2024)]
    rows += [(2020, "Z", 0.0, False, None), (2021, "Z", None, False, None), (2022, "Z", 2.0, False, None),
             (2023, "Z", 2.0, False, None)]
    rows += [(y, "M", None if y == 2021 else 30.0, False, None) for y in range(2020, 2024)]
    _cells_table(con, rows)
    con.execute("UPDATE core_cellules_urssaf SET lacune_partielle = true WHERE code_commune = 'M' AND annee = 2021")
    got = employment.hidden_chances(con, _settings()).set_index("code_commune")
    assert got["lacune"].all() and (got["annee"] == 2021).all()
    assert sorted(got.index) == sorted([f"A{i}" for i in range(4)] + [f"C{i}" for i in range(10)] + ["Z"])
    assert got.loc["Z", "chance"] == pytest.approx(3 / 19)
    assert got.loc["C0", "s"] == pytest.approx(1 / 19)
    assert got.loc[[f"C{i}" for i in range(10)], "r"].to_numpy() == pytest.approx(np.full(10, 1 / 3))
    assert got.loc[[f"C{i}" for i in range(10)], "chance"].to_numpy() == pytest.approx(np.full(10, 3 / 19))
    assert got.loc[[f"A{i}" for i in range(4)], "chance"].to_numpy() == pytest.approx(np.ones(4))


# --- the families' conversion from annual averages to 31/12 (family_conversion) ------------------------------------
# FAMILLES order: associations, cooperatives, mutuelles, fondations, hors_ess. The associations grow 10 % a year
# (1000, 1100, 1210), every other family is flat (100, 50, 20, 8 830): the ESS file's total is 10 000, 10 100, 10 210.

GROWING = {2021: (1000.0, 100.0, 50.0, 20.0, 8830.0), 2022: (1100.0, 100.0, 50.0, 20.0, 8830.0),
           2023: (1210.0, 100.0, 50.0, 20.0, 8830.0)}


def _series(rows: dict) -> dict:
    return {y: dict(zip(employment.FAMILLES, v)) for y, v in rows.items()}


def test_a_growing_family_is_converted_by_half_a_year_of_its_growth_and_the_targets_sum_to_the_year_end_total():
    conv = employment.family_conversion(_series(GROWING), 2022, 10_300.0, 0.02, 0.2)
    # central growth of the associations (1210 − 1000) / (2 × 1100) = 9.545 %: 31/12 ≈ average × 1.047727
    # (half a year); the field's C = (1100 × 1.047727 + 9000) / 10100 = 10152.5 / 10100; targets = 10300 × A_f c_f
    # / 10152.5: associations 10300 × 1152.5 / 10152.5 = 1169.24, the flat families 10300 / 10152.5 × A_f
    assert conv.method == ["centree"] * 5
    assert conv.ratio == pytest.approx(10_300 / 10_100)
    assert conv.target[0] == pytest.approx(10_300 * 1152.5 / 10_152.5)
    assert conv.target[1:] == pytest.approx([10_300 / 10_152.5 * a for a in (100, 50, 20, 8830)])
    assert conv.target.sum() == pytest.approx(10_300)
    # the single field factor gave them all 10300 / 10100: associations 1121.78, 47 fewer
    assert 1100 * conv.ratio == pytest.approx(1121.7822, abs=1e-3)
    assert conv.adjustment[0] == pytest.approx(1.047727 / (10_152.5 / 10_100), abs=1e-6)
    # fewer than 3 years measure the curvature: the growth term's error is the adjustment itself
    assert conv.growth_sd[0] == pytest.approx(abs(conv.adjustment[0] - 1))
    assert conv.rel_sd[0] == pytest.approx(math.hypot(0.02, conv.adjustment[0] - 1))
    assert conv.rel_sd[4] == pytest.approx(math.hypot(0.02, 1 - conv.adjustment[4]))


def test_the_first_and_last_years_take_the_growth_of_their_only_neighbour():
    first = employment.family_conversion(_series(GROWING), 2021, 10_150.0, 0.02, 0.2)
    # no 2020: the growth to 2022, (1100 − 1000) / 1000 = 10 %, c = 1.05; C = (1050 + 9000) / 10000
    assert first.method == ["suivante"] * 5
    assert first.target[0] == pytest.approx(10_150 * 1050 / 10_050)
    assert first.target[4] == pytest.approx(10_150 * 8830 / 10_050)
    last = employment.family_conversion(_series(GROWING), 2023, 10_400.0, 0.02, 0.2)
    # no 2024: the growth from 2022, (1210 − 1100) / 1210, c = 1 + 110 / 2420 = 1.0454545
    assert last.method == ["precedente"] * 5
    assert last.target[0] == pytest.approx(10_400 * 1210 * (1 + 110 / 2420) / (1265 + 9000))
    assert last.target.sum() == pytest.approx(10_400)


def test_a_secret_family_value_leaves_the_year_without_targets_and_a_secret_neighbour_falls_back_to_the_other():
    rows = dict(GROWING)
    rows[2022] = (1100.0, 100.0, None, 20.0, 8830.0)
    assert employment.family_conversion(_series(rows), 2022, 10_300.0, 0.02, 0.2) is None
    assert employment.family_conversion(_series(GROWING), 2022, None, 0.02, 0.2) is None
    rows = dict(GROWING)
    rows[2023] = (None, 100.0, 50.0, 20.0, 8830.0)  # the associations' next year secret: growth from 2021
    conv = employment.family_conversion(_series(rows), 2022, 10_300.0, 0.02, 0.2)
    assert conv.method[0] == "precedente"
    assert conv.target[0] == pytest.approx(10_300 * 1100 * (1 + 100 / 2200) / (1150 + 9000))
    # a family alone in its series (no neighbour published): the field factor, residual uncertainty only
    alone = employment.family_conversion({2022: dict(zip(employment.FAMILLES, GROWING[2022]))}, 2022, 10_300.0,
                                         0.02, 0.2)
    assert alone.method == ["aucune"] * 5
    assert alone.target == pytest.approx(np.array(GROWING[2022]) * 10_300 / 10_100)
    assert alone.rel_sd == pytest.approx([0.02] * 5)


def test_a_tiny_family_jump_is_bounded_and_a_steady_series_measures_its_curvature():
    rows = {y: (1000.0 * 1.1 ** k, 100.0, 50.0, f, 8830.0)
            for k, (y, f) in enumerate(zip(range(2018, 2024), (2.0, 2.0, 2.0, 2.0, 2.0, 40.0)))}
    conv = employment.family_conversion(_series(rows), 2022, 11_000.0, 0.02, 0.2)
    # fondations 2 → 2 → 40: c = 1 + 38 / 8 = 5.75, bounded to 1.2 × the field's
    assert conv.adjustment[3] == pytest.approx(1.2)
    # associations: 10 % a year every year, κ = (1.1 − 2 + 1 / 1.1) / 4 = 0.0022727 each year: RMS the same
    assert conv.growth_sd[0] == pytest.approx((1.1 - 2 + 1 / 1.1) / 4)
    assert conv.growth_sd[1] == 0.0  # flat: nothing to fear from its growth
    assert conv.rel_sd[1] == pytest.approx(0.02)
