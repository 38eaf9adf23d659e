"""The column expectations of the check step (great-expectations), on hand-made frames."""

from __future__ import annotations

import pandas as pd

from transforms import checks


def test_every_rule_of_a_column_is_checked_and_a_failure_is_named():
    # three rows of the cube: one malformed level name (levels are open: the COG's and the zonings'), one negative
    # count, one missing level
    frame = pd.DataFrame({"niveau": ["commune", "Canton 1", None], "nb_etablissements": [3, -1, 2]})
    found = checks.validate_frames({"out_indicateurs": frame})["out_indicateurs"]
    assert found["lignes"] == 3
    failed = {(f["column"], f["expectation"]): f for f in found["echecs"]}
    assert set(failed) == {("niveau", "expect_column_values_to_not_be_null"),
                           ("niveau", "expect_column_values_to_match_regex"),
                           ("nb_etablissements", "expect_column_values_to_be_between")}
    assert failed[("niveau", "expect_column_values_to_match_regex")]["exemples"] == ["Canton 1"]
    assert failed[("nb_etablissements", "expect_column_values_to_be_between")]["nb_inattendus"] == 1
    # the cube's other columns are reported absent, not silently skipped
    assert "effectif_central" in found["colonnes_absentes"]


def test_unexpected_rows_are_counted_not_distinct_values():
    # GX sees each column's distinct values; the count of failing rows must still be rows: « Canton » 3 times,
    # one NULL twice, a count of -1 twice and -5 once
    frame = pd.DataFrame({"niveau": ["Canton", "Canton", "commune", "Canton", None, None],
                          "nb_etablissements": [-1, -1, 4, -5, 0, 2]})
    found = checks.validate_frames({"out_indicateurs": frame})["out_indicateurs"]
    failed = {(f["column"], f["expectation"]): f["nb_inattendus"] for f in found["echecs"]}
    assert failed == {("niveau", "expect_column_values_to_not_be_null"): 2,
                      ("niveau", "expect_column_values_to_match_regex"): 3,
                      ("nb_etablissements", "expect_column_values_to_be_between"): 3}
    assert found["lignes"] == 6


def test_a_clean_frame_passes():
    frame = pd.DataFrame({"niveau": ["commune", "bassins_vie", "departement"], "nb_etablissements": [3, 1, 0]})
    found = checks.validate_frames({"out_indicateurs": frame})["out_indicateurs"]
    assert found["echecs"] == [] and found["expectations"] >= 3
