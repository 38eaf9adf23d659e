"""The ESS perimeter: families by legal form, NAF exclusions (rév. 2 and 2025), activity fallback, the three named
perimeters, the reference files a researcher edits, the yearly series and the perimeter audit.
Expected answers are worked out by hand from tests/core_fixtures.py."""

from __future__ import annotations

import pytest

from core_fixtures import build, by_siret, edited_reference, siret
from ess import db
from ess.errors import UserError
from transforms.reference import load_reference, read_reference


@pytest.fixture(scope="module")
def core(tmp_path_factory):
    con, stats = build(tmp_path_factory.mktemp("perimeter"))
    db.build_table(con, "out_audit_perimetre")
    return con, stats


def S(n, unit=None):
    return siret(n, unit if unit is not None else n)


def test_each_family_from_the_legal_form(core):
    con, _ = core
    famille = by_siret(con, "SELECT siret, famille_ess FROM core_etablissements")
    assert famille[S(1)] == "associations"
    assert famille[S(2)] == "cooperatives"  # 5458 SCOP
    assert famille[S(3)] == "mutuelles"  # 8210
    assert famille[S(4)] == "fondations"  # 9300
    assert famille[S(5)] == "autres_organismes"  # 8310, listed but off by default
    assert famille[S(6)] == "societes_commerciales_ess"  # 5710 with flag O
    assert famille[S(7)] is None  # 5710 without flag
    assert famille[S(9)] == "associations"  # 9223 keeps its family, out of the default perimeter
    assert famille[S(10)] is None  # unknown padded code 5400
    assert famille[S(12)] is None  # commune (public law)


def test_three_perimeters_on_the_same_fixture(core):
    con, stats = core
    rows = con.execute("SELECT siret, perimetres_inclus FROM core_etablissements WHERE actif").fetchall()
    insee = {r[0] for r in rows if "insee" in r[1]}
    loi2014 = {r[0] for r in rows if "loi2014" in r[1]}
    flag = {r[0] for r in rows if "flag" in r[1]}
    assert {p for r in rows for p in r[1]} == {"insee", "loi2014", "flag"}  # perimeters are rows, listed per unit
    assert insee == {S(1), S(14, 1), S(2), S(3), S(4), S(18)}
    assert loi2014 == insee | {S(6)}  # + the flagged SAS
    # flag: flagged units whatever the form, no NAF exclusion (the 94.20Z union is in); 8210 without flag is out
    assert flag == {S(1), S(14, 1), S(2), S(4), S(6), S(8)}
    assert stats["actifs_par_perimetre"] == {"insee": 6, "loi2014": 7, "flag": 6, "retenu": 6}
    chosen = by_siret(con, "SELECT siret, perimetre, dans_perimetre FROM core_etablissements")
    assert chosen[S(3)] == ("insee", True) and chosen[S(6)] == ("insee", False)


def test_loi2014_run_marks_its_own_perimeter(tmp_path):
    con, _ = build(tmp_path, {"perimetre": "loi2014"})
    chosen = by_siret(con, "SELECT siret, perimetre, dans_perimetre FROM core_etablissements")
    assert chosen[S(6)] == ("loi2014", True)


def test_naf_exclusions_rev2_and_2025(core):
    con, _ = core
    motif = by_siret(con, "SELECT siret, motif_exclusion FROM core_etablissements")
    assert motif[S(8)] == "syndicats_salaries"  # 94.20Z
    assert motif[S(17)] == "administration_publique"  # 84.13Z, division rule
    assert motif[S(13)] == "organisations_politiques"  # 94.92Z from the legal unit
    assert motif[S(11)] == "organisations_religieuses"  # NAF 2025 code 94.91Y, NAF 2025 rule
    assert motif[S(18)] is None  # 94.12Z: rule present but inactive by default
    assert motif[S(1)] is None and motif[S(7)] is None
    nomenclature = by_siret(con, "SELECT siret, nomenclature_activite, activite FROM core_etablissements")
    assert nomenclature[S(11)] == ("NAF2025", "94.91Y")


def test_activity_falls_back_to_the_legal_unit(core):
    con, _ = core
    act = by_siret(con, "SELECT siret, activite, source_activite, section_a21, secteur_ess FROM core_etablissements")
    assert act[S(14, 1)] == ("88.99B", "unite_legale", "Q", "action_sociale_sans_hebergement")
    assert act[S(13)] == ("94.92Z", "unite_legale", "S", "organisations_associatives")
    assert act[S(1)] == ("88.99B", "etablissement", "Q", "action_sociale_sans_hebergement")


def test_naf2025_is_preferred_once_it_is_the_reference_ape(tmp_path):
    con, _ = build(tmp_path, {"millesime": "2027-01"})
    act = by_siret(con, "SELECT siret, activite, nomenclature_activite FROM core_etablissements")
    assert act[S(1)] == ("88.99Y", "NAF2025")  # has both: NAF 2025 wins from 2027
    assert act[S(2)] == ("71.12B", "NAFRev2")  # rév. 2 only: still used


def test_unknown_legal_form_is_counted_not_fatal(core):
    con, stats = core
    assert stats["categories_juridiques_inconnues"] == {"5400": 1}
    known = by_siret(con, "SELECT siret, categorie_juridique, categorie_juridique_connue FROM core_etablissements")
    assert known[S(10)] == ("5400", False)


def test_researcher_turns_on_rule_94_12(tmp_path):
    ref = edited_reference(tmp_path, "perimetre_exclusions_naf",
                           ("organisations_professionnelles,NAFRev2,classe,94.12,Activités des organisations "
                            "professionnelles,false", "organisations_professionnelles,NAFRev2,classe,94.12,"
                            "Activités des organisations professionnelles,true"))
    con, stats = build(tmp_path, {"reference_dir": str(ref)})
    row = by_siret(con, "SELECT siret, list_contains(perimetres_inclus, 'insee'), motif_exclusion "
                        "FROM core_etablissements")
    assert row[S(18)] == (False, "organisations_professionnelles")
    assert stats["actifs_par_perimetre"]["insee"] == 5


def test_researcher_adds_autres_organismes_to_the_default(tmp_path):
    ref = edited_reference(tmp_path, "perimetre_familles", (
        "8310,Comité social économique d’entreprise,autres_organismes,faible,false",
        "8310,Comité social économique d’entreprise,autres_organismes,faible,true"))
    con, _ = build(tmp_path, {"reference_dir": str(ref)})
    row = by_siret(con, "SELECT siret, list_contains(perimetres_inclus, 'insee'), famille_ess "
                        "FROM core_etablissements")
    assert row[S(5)] == (True, "autres_organismes")


def test_unknown_perimeter_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="unknown perimeter 'large'.*insee"):
        build(tmp_path, {"perimetre": "large"})


# --- reference files ---------------------------------------------------------------------------------------------

def test_reference_files_load_typed():
    con = db.connect()
    counts = load_reference(con)
    assert counts["ref_perimetres"] == 3
    assert con.execute("SELECT count(*) FROM ref_perimetre_familles WHERE inclus_par_defaut").fetchone()[0] == (
        7 + 1 + 4 + 48)  # associations, fondations, mutuelles, coopératives of the reconstruction
    assert con.execute("SELECT count(*) FROM ref_perimetre_exclusions_naf WHERE actif").fetchone()[0] == 10
    # every listed code exists in INSEE's list
    assert con.execute("SELECT count(*) FROM ref_perimetre_familles f ANTI JOIN ref_categories_juridiques c "
                       "ON c.code = f.categorie_juridique").fetchone()[0] == 0


@pytest.mark.parametrize(("name", "old", "new", "message"), [
    ("perimetre_familles", "9300,Fondation,fondations", "9300,Fondation,fondation",
     r"perimetre_familles.csv, line \d+: column 'famille' = 'fondation' is not allowed"),
    ("perimetre_familles", "8210,Mutuelle,mutuelles,haute,true", "8210,Mutuelle,mutuelles,haute,peut-être",
     r"column 'inclus_par_defaut' = 'peut-être' is not a boolean"),
    ("perimetre_exclusions_naf", "classe,94.20,", "classe,94.2,",
     r"code '94.2' is not a NAF classe code"),
    ("tranches_effectifs", "01,1 ou 2 salariés,1,2,1.41", "01,1 ou 2 salariés,1,2,2.5",
     r"effectif_central 2.5 must lie within"),
    ("perimetre_familles", "9210,", "9220,", r"duplicate \{'categorie_juridique': '9220'\}"),
    # codes unknown to the legal-form list and to the NAF at the rule's level: file, line, column and value
    ("perimetre_familles", "9300,Fondation,fondations", "9399,Fondation,fondations",
     r"perimetre_familles.csv, line 11: column 'categorie_juridique' = '9399' is not a code of "
     r".*data/reference/categories_juridiques.csv \(column 'code'\)"),
    ("perimetre_exclusions_naf", "NAFRev2,classe,94.20,", "NAFRev2,classe,94.29,",
     r"perimetre_exclusions_naf.csv, line 5: column 'code' = '94.29' is not a code of .*data/reference/naf_rev2.csv "
     r"\(column 'code_classe'\)"),
    ("perimetre_exclusions_naf", "NAFRev2,division,84,", "NAFRev2,division,04,",
     r"perimetre_exclusions_naf.csv, line 2: column 'code' = '04' is not a code of .*naf_rev2.csv "
     r"\(column 'code_division'\)"),
    # the named perimeters: duplicate, unknown value, one URSSAF definition, headers
    ("perimetres", "flag,Indicateur", "insee,Indicateur",
     r"perimetres.csv, line 4: duplicate \{'perimetre': 'insee'\} \(first seen line 2\)"),
    ("perimetres", "false,aucune,", "false,quelques,",
     r"perimetres.csv, line 4: column 'familles_cj' = 'quelques' is not allowed; use one of \['defaut', 'toutes', "
     r"'aucune'\]"),
    ("perimetres", "false,aucune,true,false,false,", "false,aucune,true,false,true,",
     r"perimetres.csv: exactly one perimeter must have calage_urssaf = true .*found \['insee', 'flag'\]"),
    ("perimetres", "calage_urssaf,description", "calage_urssaf,description,libelle",
     r"perimetres.csv, line 1: columns \['libelle'\] appear more than once in the header"),
    ("perimetres", "familles_cj,", "famille_cj,",
     r"perimetres.csv, line 1: columns \['familles_cj'\] are missing from the header"),
    ("perimetres", "loi2014,Périmètre de la loi du 31 juillet 2014,", "loi2014,Périmètre de la loi, 2014,",
     r"perimetres.csv, line 3: 9 values for 8 columns \(extra \[.*\]\); quote a value that holds a comma"),
    # the size labels: the cube's own classes are required, a label and its own rank per class
    ("classes_taille", "ensemble,Toutes tailles,7,", "toutes,Toutes tailles,7,",
     r"classes_taille.csv: size classes \['ensemble'\] are missing \(the cube always has \['ensemble', "
     r"'non_renseigne'\]\)"),
    ("classes_taille", "10_49,10 à 49 salariés,3,", "10_49,10 à 49 salariés,2,",
     r"classes_taille.csv: ordre \[2\] given to more than one size class"),
    ("classes_taille", "1_9,1 à 9 salariés,2,", "1_9,,2,", r"classes_taille.csv, line 3: column 'libelle' is empty"),
])
def test_bad_reference_rows_are_named(tmp_path, name, old, new, message):
    ref = edited_reference(tmp_path, name, (old, new))
    with pytest.raises(UserError, match=message):
        read_reference(name, ref)


# --- yearly series ------------------------------------------------------------------------------------------------

def test_yearly_series_follows_the_history(core):
    con, _ = core
    rows = con.execute("SELECT siret, annee, actif, list_contains(perimetres_inclus, 'insee'), "
                       "list_contains(perimetres_inclus, 'loi2014'), list_contains(perimetres_inclus, 'flag'), "
                       "motif_exclusion, date_situation FROM core_etablissements_annuel").fetchall()
    at = {(r[0], r[1]): r[2:] for r in rows}
    assert sorted(a for s, a in at if s == S(1)) == list(range(2012, 2027))
    # U01's flag was recorded in 2020, its earlier period has none: the years before take the flag recorded after
    assert at[(S(1), 2019)][:4] == (True, True, True, True)
    assert at[(S(1), 2020)][:4] == (True, True, True, True)
    assert str(at[(S(1), 2026)][5]) == "2026-10-31"  # millésime year: end of the millésime month
    assert at[(S(15, 1), 2017)][0] is True and at[(S(15, 1), 2018)][0] is False  # closed on 2018-04-01
    assert (S(15, 1), 2019) not in at  # after the closure year, no more rows
    assert at[(S(8), 2017)][1] is True  # 88.99B until 2018
    assert at[(S(8), 2018)][1] is False and at[(S(8), 2018)][4] == "syndicats_salaries"
    assert min(a for s, a in at if s == S(6)) == 2021  # created in 2021
    assert at[(S(6), 2022)][2] is False and at[(S(6), 2023)][2] is True  # recorded N in 2021-2022, O from 2023
    # establishments without history have no yearly rows (their past is unknown), not invented ones
    assert not any(s == S(2) for s, _ in at)


def test_flag_recorded_later_is_said_per_row(core):
    con, _ = core
    rows = con.execute("SELECT siret, annee, ess_flag, ess_flag_reconstitue FROM core_etablissements_annuel").fetchall()
    at = {(r[0], r[1]): r[2:] for r in rows}
    assert at[(S(1), 2012)] == (True, True) and at[(S(1), 2019)] == (True, True)  # U01: recorded O from 2020
    assert at[(S(1), 2020)] == (True, False)
    assert at[(S(8), 2019)] == (True, True) and at[(S(8), 2020)] == (True, False)  # U08: the period ends 2019-12-31
    assert at[(S(6), 2022)] == (False, False)  # a recorded N is never replaced by a later O
    assert at[(S(3), 2015)] == (None, False)  # U03 has no flag at all: nothing to take
    assert at[(S(4), 2025)] == (True, True) and at[(S(4), 2026)] == (True, False)  # no unit history: the stock's


@pytest.mark.parametrize("reverse", [False, True])
def test_periods_starting_the_same_day_are_read_alike_in_any_file_order(tmp_path, reverse):
    """Two periods of one unit (or establishment) with the same start: the open one is its state from that day on,
    whichever comes first in the file (the order of a tie was the order of the rows)."""
    from tests.core_fixtures import ETAB_HISTORIQUE, UL_HISTORIQUE, D
    unit = [h for h in UL_HISTORIQUE if h[0] != 1] + [(1, D(2010, 1, 1), D(2019, 12, 31), "9220", None, "88.99B")]
    tie = [(1, D(2020, 1, 1), D(2020, 6, 30), "9220", "N", "88.99B"), (1, D(2020, 1, 1), None, "9220", "O", "88.99B")]
    etab = [h for h in ETAB_HISTORIQUE if h[0] != 6]
    etab_tie = [(6, 6, D(2021, 3, 1), D(2021, 5, 31), "F", "56.10A"), (6, 6, D(2021, 3, 1), None, "A", "56.10A")]
    if reverse:
        tie, etab_tie = tie[::-1], etab_tie[::-1]
    con, _ = build(tmp_path, unites_historique=unit + tie, historique=etab + etab_tie)
    at = {(r[0], r[1]): r[2:] for r in con.execute(
        "SELECT siret, annee, actif, ess_flag, ess_flag_reconstitue FROM core_etablissements_annuel").fetchall()}
    assert [at[(S(1), a)] for a in (2019, 2020, 2026)] == [(True, True, True), (True, True, False),
                                                          (True, True, False)]
    assert [at[(S(6), a)][0] for a in (2021, 2022)] == [True, True]


def test_a_superseded_period_is_not_the_state_before_the_next_one(tmp_path):
    """Closed since 2010, then two periods from 2015-07-01: an active one ending that year and a closed open one. The
    open one supersedes the other: the establishment was never active again, so no closure row in 2015."""
    from tests.core_fixtures import ETAB_HISTORIQUE, D
    etab = [h for h in ETAB_HISTORIQUE if h[0] != 6] + [
        (6, 6, D(2010, 1, 1), D(2015, 6, 30), "F", "56.10A"), (6, 6, D(2015, 7, 1), D(2015, 12, 31), "A", "56.10A"),
        (6, 6, D(2015, 7, 1), None, "F", "56.10A")]
    con, _ = build(tmp_path, historique=etab)
    years = [r[0] for r in con.execute("SELECT annee FROM core_etablissements_annuel WHERE siret = ? AND annee < 2026",
                                       [S(6)]).fetchall()]
    assert years == []


# --- audit --------------------------------------------------------------------------------------------------------

def audit(con, rubrique, code, perimetre=None, nomenclature=None):
    sql = ("SELECT nb_unites_legales, nb_etablissements, nb_unites_legales_hors, nb_etablissements_hors "
           "FROM out_audit_perimetre WHERE rubrique = ? AND code IS NOT DISTINCT FROM ? "
           "AND perimetre IS NOT DISTINCT FROM ? AND nomenclature IS NOT DISTINCT FROM ?")
    rows = con.execute(sql, [rubrique, code, perimetre, nomenclature]).fetchall()
    assert len(rows) == 1, rows
    return rows[0]


def test_audit_counts_flags_recorded_later_per_year(core):
    con, _ = core
    # flag (no legal-form candidates): U01 (E01, E14, E15 open 2012-06-01 to 2018-04-01), U08 (E08) recorded O in
    # 2020, U04 (E04) without unit history (the stock's flag) until the millésime
    assert audit(con, "indicateur_ess_reconstitue", "2012", "flag") == (3, 5, None, None)
    assert audit(con, "indicateur_ess_reconstitue", "2019", "flag") == (3, 4, None, None)  # E15 closed
    assert audit(con, "indicateur_ess_reconstitue", "2020", "flag") == (1, 1, None, None)  # E04 only
    assert audit(con, "indicateur_ess_reconstitue", "2026", "flag") == (0, 0, None, None)
    # loi2014 takes those associations and the foundation by their legal form, and excludes E08 (94.20Z)
    assert audit(con, "indicateur_ess_reconstitue", "2012", "loi2014") == (0, 0, None, None)
    # insee does not take flagged units
    assert not con.execute("SELECT count(*) FROM out_audit_perimetre WHERE rubrique = 'indicateur_ess_reconstitue' "
                           "AND perimetre = 'insee'").fetchone()[0]


def test_audit_counts_by_legal_form(core):
    con, _ = core
    # 9220 active: E01, E14 (U01), E18 in insee; E08, E11, E13, E17 out
    assert audit(con, "categorie_juridique", "9220", "insee") == (2, 3, 4, 4)
    # flag: E01, E14, E08 in (units U01, U08); E11, E13, E17, E18 out
    assert audit(con, "categorie_juridique", "9220", "flag") == (2, 3, 4, 4)
    assert audit(con, "categorie_juridique", "5710", "loi2014") == (1, 1, 1, 2)  # E06 in; E07, E16 (U07) out
    assert audit(con, "categorie_juridique", "8310", "insee") == (0, 0, 1, 1)
    assert audit(con, "categorie_juridique", "9224", "insee") == (0, 0, 0, 0)  # listed, absent


def test_audit_counts_by_rule_and_unknown_codes(core):
    con, _ = core
    assert audit(con, "exclusion_naf", "syndicats_salaries", "insee", "NAFRev2")[:2] == (1, 1)
    assert audit(con, "exclusion_naf", "organisations_religieuses", "insee", "NAF2025")[:2] == (1, 1)
    assert audit(con, "exclusion_naf", "administration_publique", "loi2014", "NAFRev2")[:2] == (1, 1)
    # inactive rule: what it would take out
    assert audit(con, "exclusion_naf", "organisations_professionnelles", "insee", "NAFRev2")[:2] == (1, 1)
    assert audit(con, "categorie_juridique_inconnue", "5400")[:2] == (1, 1)


def test_audit_overlaps(core):
    con, _ = core
    assert audit(con, "recouvrement", "insee_et_flag")[:2] == (3, 4)  # E01, E14, E02, E04
    assert audit(con, "recouvrement", "insee_sans_flag")[:2] == (2, 2)  # E03, E18
    assert audit(con, "recouvrement", "flag_sans_insee")[:2] == (2, 2)  # E06, E08
    assert audit(con, "recouvrement", "loi2014_sans_insee")[:2] == (1, 1)  # E06
    assert audit(con, "recouvrement", "flag_sans_loi2014")[:2] == (1, 1)  # E08
    assert audit(con, "recouvrement", "loi2014_et_flag")[:2] == (4, 5)  # E01, E14, E02, E04, E06
    assert audit(con, "recouvrement", "loi2014_sans_flag")[:2] == (2, 2)  # E03, E18
    # every pair of perimeters.csv, each way: insee ⊂ loi2014
    assert audit(con, "recouvrement", "insee_et_loi2014")[:2] == (5, 6)
    assert audit(con, "recouvrement", "insee_sans_loi2014")[:2] == (0, 0)
    codes = [r[0] for r in con.execute("SELECT code FROM out_audit_perimetre WHERE rubrique = 'recouvrement'")
             .fetchall()]
    assert sorted(codes) == sorted(["insee_et_loi2014", "insee_sans_loi2014", "loi2014_sans_insee", "insee_et_flag",
                                    "insee_sans_flag", "flag_sans_insee", "loi2014_et_flag", "loi2014_sans_flag",
                                    "flag_sans_loi2014"])
