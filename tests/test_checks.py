"""The column expectations of the check step (great-expectations), on hand-made frames."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from ess import paths
from transforms import checks
from transforms import columns as cols


def test_every_rule_of_a_column_is_checked_and_a_failure_is_named():
    # three rows of the cube: one malformed level, one negative count, one missing level
    frame = pd.DataFrame({"niveau": ["commune", "Canton 2", None], "nb_etablissements": [3, -1, 2]})
    found = checks.validate_frames({"out_indicateurs": frame})["out_indicateurs"]
    assert found["lignes"] == 3
    failed = {(f["column"], f["expectation"]): f for f in found["echecs"]}
    assert set(failed) == {("niveau", "expect_column_values_to_not_be_null"),
                           ("niveau", "expect_column_values_to_match_regex"),
                           ("nb_etablissements", "expect_column_values_to_be_between")}
    assert failed[("niveau", "expect_column_values_to_match_regex")]["exemples"] == ["Canton 2"]
    assert failed[("nb_etablissements", "expect_column_values_to_be_between")]["nb_inattendus"] == 1
    # the cube's other columns are reported absent, not silently skipped
    assert "effectif_central" in found["colonnes_absentes"]


def test_unexpected_rows_are_counted_not_distinct_values():
    # GX sees each column's distinct values; the count of failing rows must still be rows: « ccas » 3 times,
    # one NULL twice, a count of -1 twice and -5 once
    frame = pd.DataFrame({"famille": ["ccas", "ccas", "associations", "ccas", None, None],
                          "nb_etablissements": [-1, -1, 4, -5, 0, 2]})
    found = checks.validate_frames({"out_indicateurs": frame})["out_indicateurs"]
    failed = {(f["column"], f["expectation"]): f["nb_inattendus"] for f in found["echecs"]}
    assert failed == {("famille", "expect_column_values_to_not_be_null"): 2,
                      ("famille", "expect_column_values_to_be_in_set"): 3,
                      ("nb_etablissements", "expect_column_values_to_be_between"): 3}
    assert found["lignes"] == 6


def test_a_clean_frame_passes():
    frame = pd.DataFrame({"niveau": ["commune", "bassins_vie", "departement"], "nb_etablissements": [3, 1, 0]})
    found = checks.validate_frames({"out_indicateurs": frame})["out_indicateurs"]
    assert found["echecs"] == [] and found["expectations"] >= 3


def test_the_families_of_a_closed_list_come_from_the_reference_folder(tmp_path):
    # a researcher's perimetre_familles.csv with one more family: the cube's `famille` accepts it in that run only
    committed = (Path(paths.REFERENCE_DIR) / "perimetre_familles.csv").read_text(encoding="utf-8")
    (tmp_path / "perimetre_familles.csv").write_text(
        committed + "7490,Autre personne morale de droit privé,scic_locales,faible,true,essai\n", encoding="utf-8")
    frame = pd.DataFrame({"famille": ["associations", "scic_locales", "ess"]})
    assert checks.validate_frames({"out_indicateurs": frame})["out_indicateurs"]["echecs"][0]["exemples"] == [
        "scic_locales"]
    assert checks.validate_frames({"out_indicateurs": frame}, reference_dir=tmp_path)["out_indicateurs"][
        "echecs"] == []
    assert "scic_locales" in cols.familles(tmp_path) and "scic_locales" not in cols.FAMILLES


def test_a_column_without_its_dictionary_entry_fails_naming_table_and_column():
    frame = pd.DataFrame({"niveau": ["commune"], "colonne_mystere": [1], "siret": ["12345678901234"]})
    found = checks.validate_frames({"out_indicateurs": frame, "out_inconnue": frame})
    failed = found["out_indicateurs"]["echecs"]
    assert [(f["expectation"], f["column"]) for f in failed] == [("colonne_decrite", "colonne_mystere"),
                                                                 ("colonne_decrite", "siret")]
    assert failed[0]["message"].startswith("column colonne_mystere of table out_indicateurs has no entry in ")
    assert failed[0]["message"].endswith("colonnes.csv: add one line (type, unit, French description, "
                                         "constraints, tables)")
    # siret has an entry, which does not list the cube
    assert "its entry (line " in failed[1]["message"] and "does not list out_indicateurs" in failed[1]["message"]
    assert found["out_inconnue"]["echecs"][0]["message"].startswith("table out_inconnue is not in ")


def _public_rows() -> pd.DataFrame:
    """Three rows of a public table that keep the status convention: employment published, masked, not measured."""
    from transforms import outputs

    frame = pd.DataFrame({"annee": [2025, 2025, 2026]})
    for status, figures in outputs.STATUS_FIGURES.items():
        frame[status] = "publie"
        for figure in figures:
            frame[figure] = 0.5
    frame["statut_secret_effectifs"] = ["publie", "frequence", "non_mesure"]
    for figure in outputs.STATUS_FIGURES["statut_secret_effectifs"]:
        frame[figure] = [12.0, None, None]
    frame["effectif_pour_1000_hab"] = [3.0, None, None]
    frame["etablissements_pour_1000_hab"] = 1.0
    return frame


def test_the_check_rejects_a_null_status_and_a_figure_that_disagrees_with_its_status(tmp_path):
    import duckdb

    con = duckdb.connect()
    good = _public_rows()
    con.register("out_indicateurs_public", good)
    assert checks.status_violations(con) == []
    bad = good.copy()
    bad.loc[2, "statut_secret_effectifs"] = None  # « published » or « no employment »: the reader cannot tell
    bad.loc[1, "effectif_pour_1000_hab"] = 4.0  # a rate shown beside a masked figure
    bad.loc[0, "statut_secret_part_effectifs"] = "denominateur"  # a share shown under a withholding status
    con.register("out_indicateurs_public", bad)
    found = {v["colonne"]: v for v in checks.status_violations(con)}
    assert set(found) == {"statut_secret_effectifs", "statut_secret_part_effectifs"}
    assert (found["statut_secret_effectifs"]["statut_nul"], found["statut_secret_effectifs"]["valeur_non_publiee"],
            found["statut_secret_effectifs"]["publie_sans_valeur"]) == (1, 1, 0)
    assert found["statut_secret_part_effectifs"]["valeur_non_publiee"] == 1
    # the check step refuses it, naming the column; the dictionary's expectations also reject the NULL status
    bad.to_parquet(tmp_path / "out_indicateurs_public.parquet", index=False)
    with pytest.raises(checks.CheckError, match="status columns must carry a code on every row") as raised:
        checks.check({"out_indicateurs_public": str(tmp_path / "out_indicateurs_public.parquet")},
                     {"millesime": "2026-01", "departement": "38", "perimetre": "insee"})
    assert "'colonne': 'statut_secret_effectifs', 'chiffres': ['effectif_central'" in str(raised.value)
    assert "statut_secret_effectifs" in str(raised.value).split("expectations failed")[1].split("\n")[0]
    failed = checks.validate_frames({"out_indicateurs_public": bad})["out_indicateurs_public"]["echecs"]
    assert ("statut_secret_effectifs", "expect_column_values_to_not_be_null") in {
        (f["column"], f["expectation"]) for f in failed}
