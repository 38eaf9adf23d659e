"""One door to the reference files: the staging of SIRENE and URSSAF, the secrecy rules and the outputs' labels read
the run's reference folder (reference_dir) layered over data/reference/, with the same checks."""

from __future__ import annotations

from pathlib import Path

import pytest

import test_urssaf as U
from ess import db, paths
from ess.errors import UserError
from sources import sirene
from transforms import confidentiality as conf
from transforms import outputs


def _copy_with(folder: Path, name: str, extra: str = "", replace: tuple[str, str] | None = None) -> Path:
    folder.mkdir(exist_ok=True)
    text = paths.reference_file(name).read_text(encoding="utf-8")
    if replace:
        assert replace[0] in text
        text = text.replace(*replace)
    (folder / name).write_text(text + extra, encoding="utf-8")
    return folder


def test_a_researchers_urssaf_label_reaches_the_staging(tmp_path):
    rows = [U._ess_row(champ="Non", famille="Secteur marchand hors économie sociale", eff="880")]
    snap = U._snapshot(tmp_path / "in", ess_rows=rows)
    with pytest.raises(UserError, match=r"\['Secteur marchand hors économie sociale'\].*are not in "
                                        r".*data/reference/urssaf_familles.csv"):
        urssaf_load(snap)
    folder = _copy_with(tmp_path / "ref", "urssaf_familles.csv",
                        "Secteur marchand hors économie sociale,hors_ess,a researcher's label\n")
    con = urssaf_load(snap, folder)
    assert con.execute("SELECT champ_ess, famille_ess, effectifs_salaries FROM staging_urssaf_ess_departement"
                       ).fetchall() == [("hors_ess", "hors_ess", 880.0)]


def urssaf_load(snap: Path, folder: Path | None = None):
    from sources import urssaf

    con = db.connect()
    urssaf.load(con, snap, departement="38", reference_dir=folder)
    return con


def test_a_bad_urssaf_label_file_names_the_researchers_file(tmp_path):
    folder = _copy_with(tmp_path / "ref", "urssaf_familles.csv", "Autres,autres,not a code\n")
    with pytest.raises(UserError, match=rf"{folder}/urssaf_familles.csv, line \d+: column 'famille' = 'autres' is "
                                        "not allowed"):
        urssaf_load(U._snapshot(tmp_path / "in"), folder)


def test_sirene_activity_formats_come_from_the_run_folder(tmp_path):
    folder = _copy_with(tmp_path / "ref", "formats_activite.csv", replace=("NAFRev1,99.9A,", "NAFRev1,99.9a,"))
    with pytest.raises(UserError, match=rf"{folder}/formats_activite.csv, line 4: column 'forme' = '99.9a' does not "
                                        "match"):
        sirene._load_references(db.connect(), folder)
    con = db.connect()
    sirene._load_references(con)  # the committed files
    assert ("NAP", "9999", False) in con.execute("SELECT * FROM ref_formats_activite").fetchall()


def test_secrecy_rules_and_sector_labels_come_from_the_run_folder(tmp_path):
    folder = _copy_with(tmp_path / "ref", "secret_statistique.csv",
                        replace=("frequence,seuil_unites,3,", "frequence,seuil_unites,5,"))
    assert conf.load_rules(reference_dir=folder).frequency_threshold == 5
    assert conf.load_rules().frequency_threshold == 3
    _copy_with(folder, "secteurs_ess.csv", replace=(",Sports et loisirs\n", ",Sport et loisirs\n"))
    con = db.connect()
    outputs.load_labels(con, {"reference_dir": str(folder)})
    assert con.execute("SELECT libelle_secteur FROM ref_libelles_secteurs WHERE nomenclature_secteur = 'ess' "
                       "AND libelle_secteur LIKE 'Sport%'").fetchall() == [("Sport et loisirs",)]
