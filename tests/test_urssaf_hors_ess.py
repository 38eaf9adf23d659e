"""The URSSAF « Hors ESS » target survives the normalisation of labels (data/reference/urssaf_familles.csv).

URSSAF's ESS file may give the rest of the private field twice: as a family (champ « Non », famille « Hors ESS ») and
as its champ's total (champ « Non », famille « Ensemble »). Both labels normalise to hors_ess / hors_ess; the staging
step used to reject both rows as duplicates, and core_cibles_urssaf then had no « Hors ESS » target: the family
calibration needs all five targets, so the ESS families were not calibrated either.

Hand-made file, département 38, year 2024: associations 100, coopératives 10, mutuelles 5, fondations 5, then
« Non / Hors ESS » 880 and « Non / Ensemble » 880 (the same figure, masse 30 000 000 both). Expected targets of
core_cibles_urssaf for 2024: associations 100, cooperatives 10, mutuelles 5, fondations 5, hors_ess 880 (one row,
the one labelled with the family); the copy is rejected, counted, and the file's accounting still balances.
"""

from __future__ import annotations

import test_urssaf as U
from ess import db
from sources import urssaf

FAMILIES = (("Associations", "100"), ("Coopératives", "10"), ("Mutuelles", "5"), ("Fondations", "5"))


def _rows(ensemble: str = "880"):
    rows = [U._ess_row("38", "Oui", famille, 2024, "1", eff, "1000") for famille, eff in FAMILIES]
    rows.append(U._ess_row("38", "Non", "Hors ESS", 2024, "1", "880", "30000000"))
    rows.append(U._ess_row("38", "Non", "Ensemble", 2024, "1", ensemble, "30000000"))
    return rows


def _targets(con) -> dict[str, float]:
    """core_cibles_urssaf built on the staged tables (no commune × APE cells: only the ESS file's targets)."""
    con.execute("CREATE OR REPLACE TABLE core_cellules_urssaf (annee INTEGER, code_commune VARCHAR, "
                "code_ape VARCHAR, effectif DOUBLE, nb_etablissements DOUBLE)")
    db.build_table(con, "core_cibles_urssaf", departement="38")
    return dict(con.execute("SELECT cible, effectif FROM core_cibles_urssaf WHERE annee = 2024").fetchall())


def test_hors_ess_given_as_a_family_and_as_its_champs_total_is_kept_once(tmp_path):
    con, stats = U._load(U._snapshot(tmp_path, ess_rows=_rows()))
    assert _targets(con) == {"associations": 100.0, "cooperatives": 10.0, "mutuelles": 5.0, "fondations": 5.0,
                             "hors_ess": 880.0}
    ess = stats["staging_urssaf_ess_departement"]
    assert ess.rows_rejected == {"doublon identique (même chiffre sous un autre libellé)": 1}
    assert (ess.rows_read, ess.rows_staged) == (6, 5)
    # the copy is kept among the rejects with its file line, column and value (line 7: the « Ensemble » row)
    reject = con.execute(f"SELECT numero_ligne, colonne, valeur FROM {db.REJECTS_TABLE} "
                         "WHERE table_staging = 'staging_urssaf_ess_departement'").fetchall()
    assert reject == [(7, "famille_ess", "Ensemble")]
    # the report's comparison reads the same figure once too
    hors = con.execute(f"SELECT effectifs_hors_ess FROM {urssaf.COMPARISON_TABLE} WHERE niveau = 'departement' "
                       "AND annee = 2024").fetchone()[0]
    assert hors == 880.0


def test_two_different_hors_ess_figures_are_both_refused(tmp_path):
    con, stats = U._load(U._snapshot(tmp_path, ess_rows=_rows(ensemble="870")))
    assert "hors_ess" not in _targets(con)  # no telling which one is right
    assert stats["staging_urssaf_ess_departement"].rows_rejected == {"doublon (annee, champ_ess, famille_ess)": 2}
