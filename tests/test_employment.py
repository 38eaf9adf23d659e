"""Employment: size-band intervals, the calibration arithmetic (worked by hand), the choice of year, the URSSAF
targets and the gap with URSSAF's commune × APE totals."""

from __future__ import annotations

import math

import numpy as np
import pytest

from core_fixtures import ETABLISSEMENTS, build, by_siret, siret
from transforms.calibration import calibrate_group, choose_year


def S(n, unit=None):
    return siret(n, unit if unit is not None else n)


@pytest.fixture(scope="module")
def core(tmp_path_factory):
    return build(tmp_path_factory.mktemp("employment"))


# --- bands --------------------------------------------------------------------------------------------------------

BANDS = ["NN", "00", "01", "02", "03", "11", "12", "21", "22", "31", "32", "41", "42", "51", "52", "53", None, "99"]
EXPECTED = {  # band: (bas, haut, central, employeur, classe)
    "NN": (0, 0, 0, False, "sans_salarie"), "00": (0, 0, 0, True, "sans_salarie"),
    "01": (1, 2, 1.41, True, "1_9"), "02": (3, 5, 3.87, True, "1_9"), "03": (6, 9, 7.35, True, "1_9"),
    "11": (10, 19, 13.78, True, "10_49"), "12": (20, 49, 31.3, True, "10_49"),
    "21": (50, 99, 70.36, True, "50_249"), "22": (100, 199, 141.07, True, "50_249"),
    "31": (200, 249, 223.16, True, "50_249"), "32": (250, 499, 353.2, True, "250_et_plus"),
    "41": (500, 999, 706.75, True, "250_et_plus"), "42": (1000, 1999, 1413.86, True, "250_et_plus"),
    "51": (2000, 4999, 3161.96, True, "250_et_plus"), "52": (5000, 9999, 7070.71, True, "250_et_plus"),
    "53": (10000, 20000, 14142.14, True, "250_et_plus"),  # open band: conventional upper bound 20 000
    None: (0, 0, 0, False, "non_renseigne"),  # empty band
    "99": (0, 0, 0, False, "non_renseigne"),  # code missing from the reference: counted, not fatal
}


def test_every_size_band_gives_its_interval(tmp_path):
    etabs = [(100 + i, 7, band, 2023, "38185", "A", "62.01Z", "NAFRev2", None) for i, band in enumerate(BANDS)]
    con, stats = build(tmp_path, etablissements=etabs, urssaf_ess=[], urssaf_commune_ape=[])
    got = by_siret(con, "SELECT siret, tranche_effectifs, effectif_bas, effectif_haut, effectif_central_brut, "
                        "employeur, classe_taille, tranche_connue FROM core_etablissements")
    for i, band in enumerate(BANDS):
        row = got[siret(100 + i, 7)]
        assert row[0] == band
        lo, hi, mid, employer, size_class = EXPECTED[band]
        assert (row[1], row[2], row[4], row[5]) == (lo, hi, employer, size_class), band
        assert row[3] == pytest.approx(mid), band
        assert row[6] is (band != "99"), band
    assert stats["tranches_inconnues"] == 1


def test_geometric_midpoint_is_what_the_reference_says():
    # the central values of the reference are sqrt(bas * haut), rounded to the hundredth
    for band, (lo, hi, mid, _, _) in EXPECTED.items():
        assert mid == pytest.approx(round(math.sqrt(lo * hi), 2)), band


# --- calibration arithmetic, worked by hand ------------------------------------------------------------------------
# Three establishments: A central 1 in [1, 2], B central 4 in [3, 5], C central 15 in [10, 30]; raw total 20.

C, LO, HI = [1.0, 4.0, 15.0], [1.0, 3.0, 10.0], [2.0, 5.0, 30.0]


def test_calibration_without_clipping():
    r = calibrate_group(C, LO, HI, 24.0)  # factor 24 / 20 = 1.2: 1.2, 4.8, 18 all inside
    assert r.statut == "calibre" and r.facteur == pytest.approx(1.2) and r.iterations == 1
    assert r.values == pytest.approx([1.2, 4.8, 18.0])


def test_calibration_clips_at_the_upper_bound_and_redistributes():
    # pass 1: factor 26/20 = 1.3 puts B at 5.2 > 5 → B = 5; pass 2: the other 21 shared by A and C (central 16),
    # factor 21/16 = 1.3125 → A = 1.3125, C = 19.6875
    r = calibrate_group(C, LO, HI, 26.0)
    assert r.statut == "calibre" and r.iterations == 2
    assert r.facteur == pytest.approx(1.3125)
    assert r.values == pytest.approx([1.3125, 5.0, 19.6875])
    assert r.borne_haute.tolist() == [False, True, False] and not r.borne_basse.any()


def test_calibration_clips_at_the_lower_bound():
    # factor 16/20 = 0.8 puts A at 0.8 < 1 → A = 1; then 15 over central 19: factor 15/19
    r = calibrate_group(C, LO, HI, 16.0)
    assert r.statut == "calibre" and r.facteur == pytest.approx(15 / 19)
    assert r.values == pytest.approx([1.0, 4 * 15 / 19, 15 * 15 / 19])
    assert r.borne_basse.tolist() == [True, False, False]


def test_unreachable_targets_put_everyone_at_a_bound():
    high = calibrate_group(C, LO, HI, 40.0)  # above 2 + 5 + 30 = 37
    assert high.statut == "cible_inatteignable_haut" and high.values.tolist() == HI and high.facteur is None
    low = calibrate_group(C, LO, HI, 10.0)  # below 1 + 3 + 10 = 14
    assert low.statut == "cible_inatteignable_bas" and low.values.tolist() == LO


def test_no_target_keeps_the_raw_values_and_degenerate_intervals_never_move():
    assert calibrate_group(C, LO, HI, None).values.tolist() == C
    r = calibrate_group([0.0, 4.0], [0.0, 3.0], [0.0, 5.0], 4.5)  # a NN unit [0, 0] and one that takes it all
    assert r.values.tolist() == pytest.approx([0.0, 4.5])


def test_calibration_refuses_a_central_value_outside_its_interval():
    with pytest.raises(ValueError, match="within"):
        calibrate_group([3.0], [1.0], [2.0], 2.0)


@pytest.mark.parametrize(("modal", "years", "annee_urssaf", "expected"), [
    (2023, {2021, 2022, 2023}, 2024, (2023, "annee_modale_des_tranches")),
    (2024, {2021, 2022, 2023}, 2023, (2023, "annee_urssaf_du_run")),
    (2024, {2021, 2022}, 2025, (2022, "derniere_annee_urssaf_avant_annee_modale")),
    (2019, {2021, 2022}, None, (2022, "derniere_annee_urssaf")),
    (2023, set(), 2023, (None, "aucune_donnee_urssaf")),
])
def test_choice_of_the_calibration_year(modal, years, annee_urssaf, expected):
    assert choose_year(modal, years, annee_urssaf) == expected


# --- calibration inside the core step --------------------------------------------------------------------------------

def test_calibration_on_the_fixture(core):
    con, stats = core
    assert stats["calibration"]["annee_calage"] == 2023  # most employers carry band year 2023
    eff = by_siret(con, "SELECT siret, effectif_central, statut_calibration, groupe_calibration "
                        "FROM core_etablissements")
    # associations (target 25): E01 13.78, E14 3.87, E18 1.41 → the worked example: E14 stops at 5, then
    # 20 over 15.19
    assert eff[S(14, 1)][:2] == (5.0, "borne_haute")
    assert eff[S(1)][0] == pytest.approx(13.78 * 20 / 15.19)
    assert eff[S(18)][0] == pytest.approx(1.41 * 20 / 15.19)
    # coopératives (target 10) cannot exceed E02's upper bound 5
    assert eff[S(2)][:2] == (5.0, "borne_haute")
    # mutuelles: 300 within [250, 499]
    assert eff[S(3)][0] == pytest.approx(300.0)
    # the rest of the URSSAF field: 12 000 (commune × APE, agriculture left out) − 25 − 10 − 300 = 11 665 over a raw
    # 14 186.43 (fondation without URSSAF target, SAS, excluded associations, unknown form…)
    factor = 11665 / 14186.43
    assert eff[S(7)][0] == pytest.approx(14142.14 * factor) and eff[S(7)][2] == "reste_economie"
    assert eff[S(4)][0] == pytest.approx(1.41 * factor) and eff[S(4)][2] == "reste_economie"
    # outside the field / closed: raw values
    assert eff[S(12)][:2] == (pytest.approx(70.36), "hors_champ_urssaf")
    assert eff[S(15, 1)][:2] == (pytest.approx(31.3), "inactif")


def test_calibration_report(core):
    con, _ = core
    rows = {r[0]: r[1:] for r in con.execute(
        "SELECT famille, cible_urssaf, total_brut, facteur, total_calibre, nb_borne_haute, iterations, statut, "
        "annee_cible, annees_effectifs FROM core_calibration").fetchall()}
    assoc = rows["associations"]
    assert assoc[0] == 25.0 and assoc[1] == pytest.approx(19.06) and assoc[2] == pytest.approx(20 / 15.19)
    assert assoc[3] == pytest.approx(25.0) and assoc[4:8] == (1, 2, "calibre", 2023)
    assert assoc[8] == "2023:3"
    assert rows["cooperatives"][6] == "cible_inatteignable_haut" and rows["cooperatives"][3] == 5.0
    assert rows["ensemble"][0] == 12000.0 and rows["ensemble"][3] == pytest.approx(11995.0)
    assert rows["ensemble"][6] == "partiel"  # because of the cooperatives
    assert rows["hors_champ_urssaf"][6] == "non_calibre"
    assert rows["fondations"][0] is None  # no URSSAF figure of its own: calibrated with the rest
    assert rows["hors_ess"][8].endswith(";2022:1")  # E07's band year is 2022, the others' 2023


def test_without_urssaf_files_nothing_is_calibrated(tmp_path):
    con, stats = build(tmp_path, without=("staging_urssaf_ess_departement", "staging_urssaf_commune_ape"))
    assert stats["calibration"]["annee_calage"] is None
    assert stats["tables_absentes"] == ["staging_urssaf_ess_departement", "staging_urssaf_commune_ape"]
    diff = con.execute("SELECT count(*) FROM core_etablissements WHERE effectif_central <> effectif_central_brut"
                       ).fetchone()[0]
    assert diff == 0


def test_gap_with_urssaf_commune_ape(core):
    con, _ = core
    rows = {(r[0], r[1]): r[2:] for r in con.execute(
        "SELECT niveau, code_territoire, effectif_urssaf, effectif_central_brut, effectif_central, effectif_bas, "
        "effectif_haut FROM core_ecart_urssaf").fetchall()}
    dep = rows[("departement", "38")]
    # URSSAF: 11 000 (Grenoble) + 1 000 (old code 38174 → 38001); the 500 of APE 0111Z are outside the field
    assert dep[0] == 12000.0
    # SIRENE in the field, active: everything but E12 (public) and E15 (closed)
    raw = sum(v for k, v in {1: 13.78, 2: 3.87, 3: 353.2, 4: 1.41, 7: 14142.14, 8: 7.35, 10: 31.3, 11: 1.41,
                             13: 1.41, 14: 3.87, 17: 1.41, 18: 1.41}.items())
    assert dep[1] == pytest.approx(raw)
    assert dep[2] == pytest.approx(12000 - 5)  # the cooperatives' target was 5 out of reach
    assert rows[("commune", "38001")][0] == 1000.0
    assert rows[("commune", "38001")][1] == pytest.approx(3.87)  # E02 (E06 has band 00)


def test_fixture_sanity():
    # the fixture's establishments have unique SIRETs (a guard for the hand computations above)
    sirets = [siret(e[0], e[1]) for e in ETABLISSEMENTS]
    assert len(set(sirets)) == len(sirets)
    assert np.isclose(sum([13.78, 3.87, 1.41]), 19.06)
