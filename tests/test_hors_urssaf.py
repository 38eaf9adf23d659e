"""Employment URSSAF does not see inside its field by rule (employers under the MSA by their object,
data/reference/emploi_hors_urssaf.csv; transforms/employment.py, unseen_employment): known answers by hand, how it
enters the cube (employment and the share of all employment, not the private share), and a clear refusal of a bad
reference file."""

from __future__ import annotations

import math

import numpy as np
import pytest

import cube_fixtures as F
from core_fixtures import build, by_siret
from ess.errors import UserError
from test_employment import HAND_CELLS, HAND_CREATIONS, HAND_ETABS, HAND_HISTORY, HAND_UNITS, HAND_URSSAF_ESS, S
from test_cube import _cube, _row
from transforms import employment, reference

# s uniform on [0.1, 0.3], g = s / (1 − s): by hand, E g = (−0.2 + ln(0.9 / 0.7)) / 0.2 = 0.2565721…;
# E g² = ([1/(1−s) + 2 ln(1−s) − (1−s)] from 0.1 to 0.3) / 0.2 = 0.0741566…, sd g = 0.0912581…
G_MEAN = (-0.2 + math.log(0.9 / 0.7)) / 0.2
G_SQUARE = ((1 / 0.7 + 2 * math.log(0.7) - 0.7) - (1 / 0.9 + 2 * math.log(0.9) - 0.9)) / 0.2
G_SD = math.sqrt(G_SQUARE - G_MEAN ** 2)
RULES = {"essai": (0.1, 0.3)}


def test_share_moments_by_hand():
    assert G_MEAN == pytest.approx(0.2565721414)
    assert G_SD == pytest.approx(0.0912580996)
    assert employment.share_moments(0.1, 0.3) == pytest.approx((G_MEAN, G_SD))
    # a point range: no uncertainty of the share; s = 0.2 → g = 0.25
    assert employment.share_moments(0.2, 0.2) == pytest.approx((0.25, 0.0))
    with pytest.raises(ValueError, match="0 <= low <= high < 1"):
        employment.share_moments(0.3, 0.1)


def test_one_rule_two_establishments_known_answers():
    # seen (calibrated) 10 and 30, two legal units, one rule; a third establishment matches no rule
    central, sd, var = employment.unseen_employment(np.array([10.0, 30.0, 50.0]), np.array(["essai", "essai", None]),
                                                    np.array(["A", "B", "C"]), RULES)
    assert central == pytest.approx([10 * G_MEAN, 30 * G_MEAN, 0])  # 2.566, 7.697 (true = seen / (1 − s))
    assert sd == pytest.approx([10 * G_SD, 30 * G_SD, 0])  # 0.913, 2.738
    assert var == pytest.approx([G_MEAN * 100, G_MEAN * 900, 0])  # each unit alone: ḡ · E_u²
    # a cube cell holding both: the share's standard deviations add up before squaring (one unknown share), the
    # granularity variances add up: (0.913 + 2.738)² + 25.66 + 230.91 = 269.90 — not 0.83 + 7.50 + 256.57
    cell = sd.sum() ** 2 + var.sum()
    assert cell == pytest.approx((40 * G_SD) ** 2 + G_MEAN * 1000)
    assert cell == pytest.approx(269.897, abs=1e-3)
    assert cell > (sd ** 2).sum() + var.sum()
    # both establishments of one legal unit: it is under the MSA whole, ḡ · e_i · E_u (10 × 40, 30 × 40), summing
    # to ḡ · 40²
    _, _, var_unit = employment.unseen_employment(np.array([10.0, 30.0]), np.array(["essai", "essai"]),
                                                  np.array(["A", "A"]), RULES)
    assert var_unit == pytest.approx([G_MEAN * 400, G_MEAN * 1200])


def _hand_with_rule(tmp_path, rules: str):
    """The hand-made world of test_employment (H5: an association of 85.59A alone in its cell, URSSAF 30) with
    this emploi_hors_urssaf.csv and every class on its own."""
    folder = tmp_path / "reference"
    folder.mkdir()
    model = (reference.reference_path("emploi_modele").read_text(encoding="utf-8")
             .replace("classe_min_etablissements,15", "classe_min_etablissements,1"))
    (folder / "emploi_modele.csv").write_text(model, encoding="utf-8")
    (folder / "emploi_hors_urssaf.csv").write_text(rules, encoding="utf-8")
    return build(tmp_path, params={"annee_urssaf": 2024, "reference_dir": str(folder)}, etablissements=HAND_ETABS,
                 unites=HAND_UNITS, historique=HAND_HISTORY, creations=HAND_CREATIONS, urssaf_ess=HAND_URSSAF_ESS,
                 urssaf_commune_ape=HAND_CELLS, unites_historique=[])


HEADER = "regle,categories_juridiques,activites,part_min,part_max,source,commentaire\n"


def test_the_core_step_gives_the_matching_establishment_its_unseen_employment(tmp_path):
    con, stats = _hand_with_rule(tmp_path, HEADER + "essai,92,85,0.1,0.3,essai,\n")
    rows = by_siret(con, "SELECT siret, effectif_central, effectif_hors_urssaf, ecart_type_hors_urssaf, "
                         "variance_hors_urssaf, regle_hors_urssaf FROM core_effectifs WHERE annee = 2024")
    # H5 (association, 85.59A): the calibrated estimate stays URSSAF's 30; the unseen part is 30 ḡ, sd 30 σ_g,
    # granularity ḡ · 30² (alone in its legal unit)
    assert rows[S(5, 105)] == (pytest.approx(30, abs=0.01), pytest.approx(30 * G_MEAN, abs=1e-3),
                               pytest.approx(30 * G_SD, rel=1e-3), pytest.approx(G_MEAN * 900, rel=1e-3), "essai")
    # an association of 88.99B and a company of 62.01Z match no rule
    assert rows[S(1, 101)][1:] == (0.0, 0.0, 0.0, None)
    assert rows[S(6, 106)][1:] == (0.0, 0.0, 0.0, None)
    assert stats["emploi"]["emploi_hors_urssaf"] == pytest.approx(30 * G_MEAN, abs=1e-3)
    # the families' targets stay URSSAF's: the associations' annual average converted, 60 × 78 / 68
    target = con.execute("SELECT cible_fin_annee FROM core_calibration WHERE annee = 2024 "
                         "AND groupe = 'associations'").fetchone()[0]
    assert target == pytest.approx(60 * 78 / 68)


def test_without_calibration_there_is_no_unseen_employment(tmp_path):
    folder = tmp_path / "reference"
    folder.mkdir()
    (folder / "emploi_hors_urssaf.csv").write_text(HEADER + "essai,92,85,0.1,0.3,essai,\n", encoding="utf-8")
    con, _ = build(tmp_path, params={"calage": False, "annee_urssaf": 2024, "reference_dir": str(folder)},
                   etablissements=HAND_ETABS, unites=HAND_UNITS, historique=HAND_HISTORY, creations=HAND_CREATIONS,
                   urssaf_ess=HAND_URSSAF_ESS, urssaf_commune_ape=HAND_CELLS, unites_historique=[])
    # SIRENE's bands count every employee, MSA or not: nothing to add
    assert con.execute("SELECT sum(effectif_hors_urssaf) FROM core_effectifs").fetchone()[0] == 0


def test_the_cube_adds_it_to_employment_and_all_employment_not_to_the_private_share(tmp_path):
    # S01 (14) and S02 (1.5), association A1, share the calibration cell 38001|8610Z (variance 2/3 for the pair);
    # give them the unseen terms of one rule [0.1, 0.3], one legal unit
    central, sd, var = employment.unseen_employment(np.array([14.0, 1.5]), np.array(["essai", "essai"]),
                                                    np.array(["A1", "A1"]), RULES)
    frames = F.default_frames()
    frames["core_effectifs"] = F.core_effectifs(hors_urssaf={"01": (central[0], sd[0], var[0]),
                                                             "02": (central[1], sd[1], var[1])})
    con = _cube(tmp_path, frames=frames)
    u = 15.5 * G_MEAN  # 3.977
    v_u = (15.5 * G_SD) ** 2 + G_MEAN * 15.5 ** 2  # (Σ sd)² + ḡ E_u²
    ess = _row(con, "commune", "38001", "ess", annee=F.ANNEE_EFFECTIFS)
    assert ess.effectif_central == pytest.approx(15.5 + u)
    assert ess.variance_effectif == pytest.approx(2 / 3 + v_u)
    # the private share: URSSAF's field as URSSAF sees it, numerator and denominator unchanged
    assert ess.effectif_prive_central == pytest.approx(15.5)
    assert ess.variance_effectif_prive == pytest.approx(2 / 3)
    assert ess.part_effectif_prive_central == pytest.approx(15.5 / 26.5)
    # all employment: the unseen part in both; the delta method with the ESS row's covariance with the total
    ens = _row(con, "commune", "38001", "ensemble", annee=F.ANNEE_EFFECTIFS)
    assert ens.effectif_central == pytest.approx(26.5 + u)
    assert ens.variance_effectif == pytest.approx(2 / 3 + 1 + v_u)
    s = (15.5 + u) / (26.5 + u)
    assert ess.part_effectif_total_central == pytest.approx(s)
    var_s = ((2 / 3 + v_u) - 2 * s * (2 / 3 + v_u) + s * s * (5 / 3 + v_u)) / (26.5 + u) ** 2
    half = F_Z * math.sqrt(var_s) / (s * (1 - s))
    logit = math.log(s / (1 - s))
    assert ess.part_effectif_total_ic90_bas == pytest.approx(1 / (1 + math.exp(-(logit - half))))
    # the rows without the unseen establishments do not move
    hors = _row(con, "commune", "38001", "hors_ess", annee=F.ANNEE_EFFECTIFS)
    assert (hors.effectif_central, hors.variance_effectif) == (11, pytest.approx(1))


F_Z = 1.6448536269514722


@pytest.mark.parametrize("line, message", [
    ("essai,92,85,0.3,0.1,s,\n", r"emploi_hors_urssaf.csv, line 2: part_min 0.3 and part_max 0.1 must satisfy"),
    ("essai,92,85,0.1,1.2,s,\n", r"line 2: part_min 0.1 and part_max 1.2 must satisfy 0 <= part_min <= part_max < 1"),
    ("essai,92,85,dix,0.2,s,\n", r"line 2: column 'part_min' = 'dix' is not a number"),
    ("essai,92,8,0.1,0.2,s,\n", r"line 2: column 'activites' = '8' does not match"),
    ("essai,92;54,85,0.1,0.2,s,\n", r"line 2: column 'categories_juridiques' = '92;54' does not match"),
    ("essai,92,85,0.1,0.2,,\n", r"line 2: column 'source' is empty; fill it in"),
    ("essai,92,85,0.1,0.2,s,\nautre,9,85.59,0.1,0.2,s,\n",
     r"emploi_hors_urssaf.csv: rules 'essai' and 'autre' can both match one establishment"),
])
def test_a_malformed_file_is_refused_naming_file_row_and_column(tmp_path, line, message):
    (tmp_path / "emploi_hors_urssaf.csv").write_text(HEADER + line, encoding="utf-8")
    with pytest.raises(UserError, match=message):
        reference.read_reference("emploi_hors_urssaf", tmp_path)


def test_the_committed_file_is_valid_and_cites_its_sources():
    rows = reference.read_reference("emploi_hors_urssaf")
    assert {r["regle"] for r in rows} >= {"enseignement_agricole_prive", "organisations_professionnelles_agricoles"}
    assert all("L722-20" in r["source"] for r in rows)
