"""The rules published beside the cube (transforms/referentiels.py): who is in the ESS (legal forms, activity
exclusions) and how employment is estimated (URSSAF's field, the MSA share estimated on top), as the run read them
from its own reference folder — so a rule edited there is published with no code change."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

import cube_fixtures as F
from transforms import columns as cols
from transforms import reference, referentiels

RULES = ("referentiel_formes_juridiques", "referentiel_exclusions_activite", "referentiel_champ_urssaf",
         "referentiel_emploi_hors_urssaf")


def _rows(path: str, select: str = "*", where: str = "") -> list[tuple]:
    with duckdb.connect() as con:
        return con.execute(f"SELECT {select} FROM '{path}' {where} ORDER BY ALL").fetchall()


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    # the rules read no run table: they are built whatever the run's tables (none here)
    return referentiels.build({}, F.PARAMS, tmp_path_factory.mktemp("regles"))


def test_every_rule_table_is_built_and_every_column_has_its_dictionary_line(published):
    assert set(RULES) <= published.keys() and set(RULES) <= set(referentiels.TABLES)
    for table in RULES:
        with duckdb.connect() as con:
            columns = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM '{published[table]}'").fetchall()]
        assert cols.undescribed(table, columns) == [], table
        assert cols.published_tables()[table] == "public"


def test_the_legal_forms_give_their_family_and_the_perimeters_that_take_them_in(published):
    path = published["referentiel_formes_juridiques"]
    assert len(_rows(path)) == len(reference.read_reference("perimetre_familles", F.PARAMS["reference_dir"]))
    got = {r[0]: r[1:] for r in _rows(path, "categorie_juridique, libelle_categorie_juridique, famille_ess, "
                                            "confiance, inclus_par_defaut, perimetres_retenant")}
    assert got["9220"] == ("Association déclarée", "associations", "haute", True, ["insee", "loi2014"])
    # listed in its family, usually left out: no perimeter of the file takes every family (familles_cj = toutes)
    assert got["9223"][1:] == ("associations", "faible", False, [])
    assert got["6411"][1] == "mutuelles"


def test_the_activity_exclusions_say_which_perimeters_apply_them(published):
    got = {r[:2]: r[2:] for r in _rows(published["referentiel_exclusions_activite"],
                                       "regle_exclusion, nomenclature_activite, niveau_naf, code_naf, "
                                       "libelle_code_naf, regle_active, perimetres_appliquant")}
    assert got[("administration_publique", "NAFRev2")] == (
        "division", "84", "Administration publique et défense ; sécurité sociale obligatoire", True,
        ["insee", "loi2014"])  # flag: exclusions_naf = false
    assert got[("organisations_professionnelles", "NAFRev2")][3:] == (False, [])  # inactive: takes nothing out
    assert {n for _, n in got} == {"NAFRev2", "NAF2025"}


def test_urssafs_field_and_the_msa_share_estimated_on_top(published):
    field = {r[0]: r[1:] for r in _rows(published["referentiel_champ_urssaf"])}
    assert len(field) == len(reference.read_reference("champ_urssaf", F.PARAMS["reference_dir"]))
    # the motive as core_etablissements writes it, the code's label from its nomenclature
    assert field["categorie_juridique_niveau1:7"][:3] == (
        "categorie_juridique_niveau1", "7", "Personne morale et organisme soumis au droit administratif")
    assert field["categorie_juridique:6317"][2] == "Société coopérative agricole"
    assert field["naf_division:01"][2] == "Culture et production animale, chasse et services annexes"
    unseen = {r[0]: r[1:] for r in _rows(
        published["referentiel_emploi_hors_urssaf"], "regle_hors_urssaf, prefixes_categorie_juridique, "
        "libelle_prefixes_categorie_juridique, prefixes_activite, libelle_prefixes_activite, part_hors_urssaf_min, "
        "part_hors_urssaf_max, sources_part_hors_urssaf IS NOT NULL")}
    assert len(unseen) == len(reference.read_reference("emploi_hors_urssaf", F.PARAMS["reference_dir"]))
    subsidiaries = unseen["filiales_credit_assurance_agricoles"]
    assert (subsidiaries[0], subsidiaries[2], *subsidiaries[4:]) == (["54", "55", "56", "57"], ["64", "65", "66"],
                                                                      0.005, 0.04, True)
    assert unseen["syndicats_exploitants"][1] == "8420 : Syndicat patronal"
    assert unseen["enseignement_agricole_prive"][1:4] == ("92 : Association loi 1901 ou assimilé", ["85"],
                                                           "85 : Enseignement")


def test_a_rule_edited_in_the_reference_folder_is_published_without_a_code_change(tmp_path):
    """Like a zoning or a perimeter: the tables read the run's reference folder (params reference_dir)."""
    folder = tmp_path / "reference"
    shutil.copytree(Path(F.PARAMS["reference_dir"]), folder)
    committed = Path(referentiels.__file__).resolve().parent.parent / "data" / "reference"

    def edit(file: str, append: str = "", replace: tuple[str, str] | None = None) -> None:
        text = (committed / file).read_text(encoding="utf-8")
        if replace:
            assert replace[0] in text
            text = text.replace(*replace)
        (folder / file).write_text(text + append, encoding="utf-8")

    edit("perimetre_familles.csv", "5710,,cooperatives,faible,true,SAS coopératives : essai\n")
    edit("perimetre_exclusions_naf.csv", "sport_essai,NAFRev2,groupe,93.1,,true,Essai\n",
         replace=("organisations_professionnelles,NAFRev2,classe,94.12,Activités des organisations professionnelles,"
                  "false,", "organisations_professionnelles,NAFRev2,classe,94.12,Activités des organisations "
                  "professionnelles,true,"))
    edit("champ_urssaf.csv", "naf_division,84,Essai\n")
    edit("emploi_hors_urssaf.csv", "sante_essai,92,86.10,0.01,0.02,Source d'essai,Essai\n")
    params = {**F.PARAMS, "reference_dir": str(folder), "perimetres_cube": ["insee", "flag"]}
    tables = referentiels.build({}, params, tmp_path / "ref")

    # the label left empty in the file comes from INSEE's list; only the cube's perimeters are named
    assert _rows(tables["referentiel_formes_juridiques"], "libelle_categorie_juridique, famille_ess, "
                 "perimetres_retenant, commentaire", "WHERE categorie_juridique = '5710'") == [
        ("SAS, société par actions simplifiée", "cooperatives", ["insee"], "SAS coopératives : essai")]
    assert _rows(tables["referentiel_exclusions_activite"], "regle_exclusion, libelle_code_naf, regle_active, "
                 "perimetres_appliquant", "WHERE nomenclature_activite = 'NAFRev2' AND regle_exclusion IN "
                 "('sport_essai', 'organisations_professionnelles')") == [
        ("organisations_professionnelles", "Activités des organisations professionnelles", True, ["insee"]),
        ("sport_essai", "Activités liées au sport", True, ["insee"])]
    assert _rows(tables["referentiel_champ_urssaf"], "motif_hors_champ_urssaf, libelle_code_critere, commentaire",
                 "WHERE code_critere = '84'") == [
        ("naf_division:84", "Administration publique et défense ; sécurité sociale obligatoire", "Essai")]
    assert _rows(tables["referentiel_emploi_hors_urssaf"], "regle_hors_urssaf, prefixes_activite, "
                 "libelle_prefixes_activite, part_hors_urssaf_min, part_hors_urssaf_max, sources_part_hors_urssaf",
                 "WHERE regle_hors_urssaf = 'sante_essai'") == [
        ("sante_essai", ["86.10"], "86.10 : Activités hospitalières", 0.01, 0.02, "Source d'essai")]


def test_urssafs_ess_file_is_published_with_the_average_wage_it_gives(tmp_path):
    """URSSAF's ESS file of the département, as staged, with masse / effectif per row: 2024's associations
    30 000 000 € / 1 000 = 30 000 € a year; an unpublished headcount (NULL) or one of 0 gives no wage, never 0."""
    staged = tmp_path / "staging_urssaf_ess_departement.parquet"
    with duckdb.connect() as con:
        con.execute(f"""COPY (SELECT * FROM (VALUES
            (2024, '38', 'ess', 'associations', 100.5, 1000.0, 30000000.0),
            (2024, '38', 'ess', 'fondations', NULL, NULL, 2000000.0),
            (2024, '38', 'hors_ess', 'hors_ess', 900.0, 9000.0, 360000000.0),
            (2023, '38', 'ess', 'mutuelles', 3.0, 0.0, 0.0))
            AS t(annee, code_departement, champ_ess, famille_ess, nb_etablissements, effectifs_salaries,
                 masse_salariale)) TO '{staged}' (FORMAT parquet)""")
    built = referentiels.build({"staging_urssaf_ess_departement": str(staged)}, F.PARAMS, tmp_path / "out")
    path = built["urssaf_ess_departement"]
    assert _rows(path, "annee, famille_ess, nb_etablissements, salaire_moyen_annuel") == [
        (2023, "mutuelles", 3.0, None), (2024, "associations", 100.5, 30000.0), (2024, "fondations", None, None),
        (2024, "hors_ess", 900.0, 40000.0)]
    with duckdb.connect() as con:
        columns = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM '{path}'").fetchall()]
    assert cols.undescribed("urssaf_ess_departement", columns) == []
    assert cols.published_tables()["urssaf_ess_departement"] == "public"
