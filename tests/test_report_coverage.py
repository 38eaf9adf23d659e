"""The measured coverage of the 90 % intervals: the reference file (data/reference/couverture_intervalles.csv, written
by benchmarks/coverage_reference.py), its checks, the report's sentences built from it and its publication as
referentiel_couverture_intervalles. The figures here are made up: the report must print whatever the file says."""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import cube_fixtures as F
from ess.errors import UserError
from reports import annual, coverage, messages, style
from reports.context import load_context
from test_report import PARAMS, _all_texts, make_tables
from transforms import outputs, referentiels
from transforms import publish as pub

NB = "\u00a0"
HEADER = ("indicateur,libelle_indicateur,colonnes_mesurees,niveau,perimetre,portee,annee_debut,annee_fin,cellules,"
          "cellules_couvertes,couverture_ic90_bas,couverture_ic90_haut,biais_relatif_moyen,"
          "demi_largeur_relative_mediane,version_generateur,premiere_graine,nb_graines,echelle_echantillon,"
          "exceptions_champ_urssaf,date_mesure,commande_mesure,cellules_vrai_nul,cellules_vrai_nul_couvertes\n")
# (the last two columns: no cell whose truth is 0)
PROVENANCE = "9.8.7,3,14,0.5,true,2031-02-03,python -m benchmarks.coverage --seeds 14 --first-seed 3,0,0"
# made-up measures: ESS employment covered 12/14 for the year (enough) and 120/182 for the past years (short, the
# estimate too low), the share of all employment 10/14 (short, too high), associations 5/14; no part_prive row
MADE_UP = HEADER + "\n".join([
    f'emploi_ess,Emploi ESS,"a, b",departement,insee,annee_emploi,2030,2030,14,12,0.61,0.97,-0.004,0.015,'
    f'{PROVENANCE[:-4]},4,3',  # 4 cells whose truth is 0, 3 of them held
    f'emploi_ess,Emploi ESS,,departement,insee,annees_passees,2018,2029,182,120,0.6,0.72,-0.0123,0.014,{PROVENANCE}',
    f'part_total,Part totale,,departement,insee,annee_emploi,2030,2030,14,10,0.46,0.9,0.021,0.09,{PROVENANCE}',
    f'emploi_associations,Associations,,departement,insee,annee_emploi,2030,2030,14,5,0.15,0.6,-0.027,0.013,'
    f'{PROVENANCE}',
    f'emploi_fondations,Fondations,,departement,insee,annee_emploi,2030,2030,14,14,0.81,1.0,0.001,0.03,{PROVENANCE}',
]) + "\n"


def _reference(folder: Path, text: str = MADE_UP) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / referentiels.COVERAGE_FILE).write_text(text, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def context(tmp_path_factory):
    root = tmp_path_factory.mktemp("couverture")
    tables = make_tables(root / "tables")
    style.apply()
    return load_context(tables, {**PARAMS, "reference_dir": str(_reference(root / "reference"))})


def test_the_report_prints_the_figures_of_the_reference_file(context):
    cov = context.coverage
    assert (cov.worlds, cov.generator, cov.day) == (14, "9.8.7", "2031-02-03")
    got = {m.key: m.text for m in messages.key_messages(context)}
    # the year's ESS employment: covered enough, no direction said
    assert "; il a contenu la vraie valeur dans 12 départements simulés sur 14)." in got["emploi"]
    # the share of all employment: short (10/14), the estimate too high by about 2.1 %
    assert (f"il a contenu la vraie valeur dans 10 départements simulés sur 14 ; estimation plutôt trop haute, "
            f"d'environ 2,1{NB}%)") in got["part"]
    # the series: designed for, measured for both scopes, and which way the past years err (only they are short)
    assert coverage.interval_sentence(cov, "emploi_ess") == (
        "intervalle à 90 %, conçu pour contenir la vraie valeur 9 fois sur 10 ; éprouvé sur 14 départements "
        "simulés, il a contenu l'emploi de l'ESS du département 12 fois sur 14 pour l'année et 120 fois sur 182 "
        f"pour les années passées ; l'emploi de l'ESS y est plutôt sous-estimé, d'environ 1,2{NB}% "
        "(voir « Méthode »)")
    # the families: those measured, the short one's direction
    assert coverage.families_tested(cov) == (
        "éprouvé sur 14 départements simulés, il a contenu l'emploi de l'année du département 5 fois sur 14 pour "
        f"les associations et 14 pour les fondations ; l'emploi des associations y est plutôt sous-estimé, "
        f"d'environ 2,7{NB}%")
    # an indicator absent from the file
    assert coverage.interval_sentence(cov, "part_prive").endswith("; couverture non mesurée (voir « Méthode »)")
    # every page: the charts' notes, the cover, the « Méthode » table
    figures, _ = annual.render(context)
    text = " ".join(_all_texts(figures).split())
    assert ("Bande claire : intervalle à 90 %, conçu pour contenir la vraie valeur 9 fois sur 10 ; éprouvé sur 14 "
            "départements simulés, il a contenu l'emploi de l'ESS du département 12 fois sur 14") in text
    # sectors and sizes: no benchmark measured their cells, so the département's measure is not quoted for them
    for what in ("par secteur", "par taille"):
        assert ("Trait fin : intervalle à 90 %, conçu pour contenir la vraie valeur 9 fois sur 10 ; couverture non "
                f"mesurée {what}.") in text
    assert "12 sur 14 (61–97 %)" in text and "120 sur 182 (60–72 %)" in text  # (split() took the NBSPs)
    assert "−0,4 % ; −1,2 %" in text and "générateur 9.8.7" in text and "mesure du 03/02/2031" in text
    assert "Couverture mesurée des intervalles à 90 % (14 départements simulés)" in text
    # rounded figures: the families' sum and the changes between two years are explained (review of 1/12/2026)
    assert "Chaque valeur est arrondie à part : leur somme peut différer du total." in text
    assert "seulement si les deux années sont publiées, calculée sur les valeurs non arrondies." in text
    # the file's worlds are at scale 0.5: the note says why its figures are not this report's own intervals
    assert ("échelle 0,50 : des départements simulés 2 fois plus petits que l'échantillon, aux intervalles plus "
            "larges que ceux de ce rapport") in text
    assert "il peut manquer la vraie valeur (couverture non mesurée)" in text  # the private share: no row
    assert "9 chances sur 10" not in text


def test_without_a_measure_the_report_says_coverage_was_not_measured(context, tmp_path):
    assert referentiels.read_coverage(tmp_path, file="absent.csv") is None
    assert coverage.from_rows(None) is None and coverage.from_rows([]) is None
    # the ESS of another perimeter than the one measured: not measured
    rows = referentiels.read_coverage(_reference(tmp_path / "r"))
    assert coverage.from_rows(rows, "loi2014") is None and coverage.from_rows(rows, "insee").worlds == 14
    bare = dataclasses.replace(context, coverage=None)
    got = {m.key: m.text for m in messages.key_messages(bare)}
    assert "; couverture non mesurée)." in got["emploi"]
    figures, _ = annual.render(bare)
    text = " ".join(_all_texts(figures).split())
    assert "couverture non mesurée" in text and "Couverture mesurée des intervalles" not in text
    assert "sa couverture n'a pas été mesurée" in text


@pytest.mark.parametrize("line, message", [
    (f"emploi_ess,E,,departement,insee,annee_emploi,2030,2030,14,15,0.6,0.9,0,0.01,{PROVENANCE}",
     r"line 2: cellules_couvertes = 15 is more than cellules = 14"),
    (f"emploi_ess,E,,departement,insee,annee_courante,2030,2030,14,12,0.6,0.9,0,0.01,{PROVENANCE}",
     r"line 2: column 'portee' = 'annee_courante' is not allowed"),
    (f"emploi_ess,E,,departement,insee,annee_emploi,2030,2030,quatorze,12,0.6,0.9,0,0.01,{PROVENANCE}",
     r"line 2: column 'cellules' = 'quatorze' is not a number"),
    (f"emploi_ess,E,,departement,insee,annee_emploi,2030,2030,14,-1,0.6,0.9,0,0.01,{PROVENANCE}",
     r"line 2: column 'cellules_couvertes' = '-1' must be >= 0"),
    (f"emploi_ess,E,,departement,insee,annee_emploi,2030,2030,14,12,0.9,0.6,0,0.01,{PROVENANCE}",
     r"line 2: couverture_ic90_bas = 0.9, couverture_ic90_haut = 0.6"),
    ("emploi_ess,E,,departement,insee,annee_emploi,2030,2030,14,12,0.6,0.9,0,0.01,"
     + PROVENANCE.replace("2031-02-03", "2031-02-30"),
     r"line 2: date_mesure = '2031-02-30' is not a date"),
    # cells whose truth is 0: 15 of 14; 5 held of 4; 12 held of which 1 of the 4 at 0, so 11 of the 10 others
    (f"emploi_ess,E,,commune,insee,annee_emploi,2030,2030,14,12,0.6,0.9,0,0.01,{PROVENANCE[:-4]},15,4",
     r"line 2: cellules_vrai_nul = 15 is more than cellules = 14"),
    (f"emploi_ess,E,,commune,insee,annee_emploi,2030,2030,14,12,0.6,0.9,0,0.01,{PROVENANCE[:-4]},4,5",
     r"line 2: cellules_vrai_nul_couvertes = 5: at most cellules_vrai_nul = 4"),
    (f"emploi_ess,E,,commune,insee,annee_emploi,2030,2030,14,12,0.6,0.9,0,0.01,{PROVENANCE[:-4]},4,1",
     r"line 2: cellules_couvertes − cellules_vrai_nul_couvertes = 11 is more than the 10 cells whose truth is not 0"),
])
def test_a_malformed_reference_file_is_a_clear_error(tmp_path, line, message):
    _reference(tmp_path, HEADER + line + "\n")
    with pytest.raises(UserError, match=rf"{referentiels.COVERAGE_FILE}, {message}"):
        referentiels.read_coverage(tmp_path)


def test_a_reference_file_without_a_column_names_it(tmp_path):
    _reference(tmp_path, MADE_UP.replace("cellules_couvertes,", "couvertes,", 1))
    with pytest.raises(UserError, match=r"couverture_intervalles.csv, line 1: columns \['cellules_couvertes'\] are "
                                        "missing"):
        referentiels.read_coverage(tmp_path)
    # the report stops with that message too (a broken file is no « non mesurée »)
    with pytest.raises(UserError, match="cellules_couvertes"):
        load_context(make_tables(tmp_path / "t"), {**PARAMS, "reference_dir": str(tmp_path)})


def test_measured_coverage_is_for_the_current_generator():
    """A change of the sample's generator without a new measurement fails here: the report would print the coverage
    of worlds the sample no longer draws. Measure again (benchmarks/coverage.py --csv) and regenerate the file
    (python -m benchmarks.coverage_reference)."""
    from sources.sample import GENERATOR_VERSION

    rows = referentiels.read_coverage()  # the committed file, checked
    assert rows, "data/reference/couverture_intervalles.csv is missing or empty"
    assert {r["version_generateur"] for r in rows} == {GENERATOR_VERSION}
    assert {r["portee"] for r in rows} == set(referentiels.COVERAGE_SCOPES)
    assert {"emploi_ess", "part_prive", "part_total"} <= {r["indicateur"] for r in rows}


def test_the_cells_whose_truth_is_0_are_counted_apart(tmp_path):
    """Three communes: two without any true job (one held by an interval reaching 0, one not), one with 5 jobs,
    held; the coverage of the cells whose truth is not 0 is 1/1, not the 2/3 of all cells."""
    from benchmarks import coverage_reference

    cells = pd.DataFrame({"graine": [1, 1, 1], "niveau": "commune", "code_territoire": ["a", "b", "c"],
                          "indicateur": "emploi_ess", "central": [0.02, 0.4, 5.0], "bas": [0.0, 0.2, 4.0],
                          "haut": [0.3, 0.5, 6.0], "vrai": [0.0, 0.0, 5.0], "vrai_exceptions": 0.0, "annee": 2030})
    row = coverage_reference.reference_rows(cells, exceptions=True, scale=0.25, generator="1.2.3",
                                            day=dt.date(2031, 1, 2)).iloc[0]
    assert (row["cellules"], row["cellules_couvertes"], row["cellules_vrai_nul"],
            row["cellules_vrai_nul_couvertes"]) == (3, 2, 2, 1)


def test_the_reference_file_is_built_from_the_cells_of_a_coverage_run(tmp_path):
    from benchmarks import coverage_reference

    # 3 worlds (seeds 5–7) × 2 years: the truth 100 each time; 2030 covered twice, 2029 once
    cells = pd.DataFrame([
        {"graine": g, "indicateur": "emploi_ess", "central": c, "bas": c - 2, "haut": c + 2, "vrai": 100.0,
         "vrai_exceptions": 0.0, "annee": y}
        for g, y, c in [(5, 2029, 99.0), (5, 2030, 101.0), (6, 2029, 95.0), (6, 2030, 99.0), (7, 2029, 94.0),
                        (7, 2030, 90.0)]])
    cells.to_csv(tmp_path / "cells.csv", index=False)
    out = tmp_path / "ref" / referentiels.COVERAGE_FILE
    out.parent.mkdir()
    assert coverage_reference.main([str(tmp_path / "cells.csv"), "--out", str(out), "--scale", "0.5",
                                    "--date", "2031-01-02", "--version-generateur", "1.2.3"]) == 0
    rows = {r["portee"]: r for r in referentiels.read_coverage(out.parent)}
    year, past = rows["annee_emploi"], rows["annees_passees"]
    assert (year["cellules"], year["cellules_couvertes"], past["cellules"], past["cellules_couvertes"]) == (3, 2, 3, 1)
    assert (year["annee_debut"], past["annee_fin"]) == (2030, 2029)
    assert year["biais_relatif_moyen"] == pytest.approx(-0.0333, abs=1e-4)
    assert 0 < year["couverture_ic90_bas"] < 2 / 3 < year["couverture_ic90_haut"] < 1
    assert (year["version_generateur"], year["premiere_graine"], year["nb_graines"], year["echelle_echantillon"],
            year["exceptions_champ_urssaf"], year["date_mesure"]) == ("1.2.3", 5, 3, 0.5, True, "2031-01-02")
    assert year["commande_mesure"] == ("python -m benchmarks.coverage --seeds 3 --first-seed 5 --scale 0.5 "
                                       "--toutes-annees --csv FICHIER")
    assert year["libelle_indicateur"] == "Emploi salarié de l'ESS au 31/12, département"
    assert year["perimetre"] == "insee"  # the perimeter benchmarks.coverage sums


def test_the_reference_table_is_published_and_the_intervals_point_to_it(tmp_path):
    reference = tmp_path / "reference"
    shutil.copytree(Path(F.PARAMS["reference_dir"]), reference)
    _reference(reference)
    params = {**F.PARAMS, "reference_dir": str(reference), "run_id": "R38"}
    inputs = F.write_tables(tmp_path / "in")
    built = outputs.build_outputs(inputs, params, tmp_path / "out")
    tables = {t: built.tables[t] for t in ("out_indicateurs_public", "out_cube_communes")}
    pub.publish(tables, params, {"run_id": "R38", "parametres": params, "synthetic": True, "snapshots": {},
                                 "garde_fous": {"constats": [], "publication_forcee": False}}, tmp_path / "w")
    with pub.open_catalog(tmp_path / "w") as con:
        rows = con.execute("SELECT indicateur, portee, cellules, cellules_couvertes, couverture_mesuree, "
                           "couverture_nominale, version_generateur, date_mesure, couverture_mesuree_vrai_non_nul FROM "
                           "referentiel_couverture_intervalles WHERE departement = '38' ORDER BY 1, 2").fetchall()
        assert [r[:4] for r in rows] == [("emploi_associations", "annee_emploi", 14, 5),
                                         ("emploi_ess", "annee_emploi", 14, 12),
                                         ("emploi_ess", "annees_passees", 182, 120),
                                         ("emploi_fondations", "annee_emploi", 14, 14),
                                         ("part_total", "annee_emploi", 14, 10)]
        assert rows[1][4] == pytest.approx(12 / 14) and rows[1][5] == pytest.approx(0.9)
        assert str(rows[1][6:8]) == "('9.8.7', datetime.date(2031, 2, 3))"
        # the cells whose truth is 0 left out: (12 − 3) / (14 − 4); none of them: the coverage of all cells
        assert rows[1][8] == pytest.approx(0.9) and rows[0][8] == pytest.approx(5 / 14)
        comments = dict(con.execute("SELECT column_name, comment FROM duckdb_columns() WHERE table_name = "
                                    "'out_indicateurs_public'").fetchall())
        for column in ("effectif_ic90_bas", "effectif_ic90_haut", "part_effectif_total_ic90_bas",
                       "part_effectif_prive_ic90_haut"):
            assert ("intervalle nominal à 90 %" in comments[column]
                    and "couverture mesurée : referentiel_couverture_intervalles" in comments[column]), column
        view = con.execute("SELECT comment FROM duckdb_views() WHERE view_name = "
                           "'referentiel_couverture_intervalles'").fetchone()[0]
        assert view.startswith("DONNÉES SYNTHÉTIQUES") and "Couverture mesurée des intervalles à 90 %" in view
        assert con.execute("SELECT table_name, column_name FROM duckdb_columns() WHERE comment IS NULL AND NOT "
                           "internal").fetchall() == []


# --- coverage below the département: the territories of a level ---------------------------------------------------
# made-up territory measures: employment of the territoires 140/182 for the year (76.9 %: short, the estimate too
# high), their share 170/182 (enough); the past years measured on 7 worlds; EPCI not measured
TERRITORIES = "\n".join([
    f'emploi_ess,E,,territoire,insee,annee_emploi,2030,2030,182,140,0.72,0.82,0.034,0.07,{PROVENANCE}',
    f'part_total,P,,territoire,insee,annee_emploi,2030,2030,182,170,0.9,0.96,0.0004,0.1,{PROVENANCE}',
    f'emploi_ess,E,,territoire,insee,annees_passees,2018,2029,2184,2000,0.9,0.93,0.012,0.08,'
    + PROVENANCE.replace(",14,0.5,", ",7,0.5,"),
]) + "\n"


def test_a_territory_interval_quotes_the_measure_of_its_level(tmp_path):
    cov = coverage.from_rows(referentiels.read_coverage(_reference(tmp_path, MADE_UP + TERRITORIES)))
    # present and short (140/182 < 80 %): the count of territories, and which way the estimate errs
    assert coverage.interval_sentence(cov, "emploi_ess", (coverage.YEAR,), "territoire") == (
        "intervalle à 90 %, conçu pour contenir la vraie valeur 9 fois sur 10 ; éprouvé sur 14 départements "
        "simulés, il a contenu la vraie valeur dans 140 territoires simulés sur 182 pour l'année ; l'emploi de l'ESS "
        f"y est plutôt surestimé, d'environ 3,4{NB}% (voir « Méthode »)")
    # present, enough: no direction; the past years' measure says its own number of worlds
    assert coverage.measured(cov, "part_total", (coverage.YEAR,), "territoire") == (
        "éprouvé sur 14 départements simulés, il a contenu la vraie valeur dans 170 territoires simulés sur 182 pour "
        "l'année (voir « Méthode »)")
    assert coverage.tested(cov, "emploi_ess", (coverage.PAST,), "territoire") == (
        f"éprouvé sur 7 départements simulés, il a contenu la vraie valeur dans 2{NB}000 territoires simulés sur "
        f"2{NB}184 pour les années passées")
    # absent: that level was not measured — never the département's figure in its place
    assert coverage.measured(cov, "part_total", (coverage.YEAR,), "epci") == (
        "couverture non mesurée à ce niveau (voir « Méthode »)")
    assert coverage.territories_tested(cov, "epci") == "couverture non mesurée à ce niveau"
    assert coverage.territories_tested(None, "epci") == coverage.tested(None, "part_total", niveau="epci") == (
        "couverture non mesurée")  # no file at all
    # the département's sentence is unchanged by the territories' rows
    assert "12 fois sur 14 pour l'année" in coverage.tested(cov, "emploi_ess", (coverage.YEAR,))
    # the year's territory table: both indicators, the short one's direction
    assert coverage.territories_tested(cov, "territoire") == (
        "éprouvés sur 14 départements simulés, celui de l'emploi de l'ESS a contenu la vraie valeur dans 140 "
        "territoires simulés sur 182, celui de la part dans 170 ; l'emploi de l'ESS y est plutôt surestimé, "
        f"d'environ 3,4{NB}%")
    # an EPCI count, a zone d'emploi's agreement
    m = coverage.Measure(10, 9, 0.6, 0.99, 0.0, 0.05, 2030, 2030, 3)
    assert coverage._in_territories(m, "epci") == "dans 9 EPCI simulés sur 10"
    assert coverage._in_territories(m, "zone_emploi") == "dans 9 zones d'emploi simulées sur 10"
    # the « Méthode » table: the département's rows, then the levels asked for that were measured
    rows = coverage.table_rows(cov, {"territoire": "territoire du Département", "epci": "EPCI"})
    assert [r[0] for r in rows][-2:] == ["Emploi, par territoire du Département", "Part, par territoire du Département"]
    assert rows[-2][1:] == ["140 sur 182 (72–82\u00a0%)", f"2{NB}000 sur 2{NB}184 (90–93{NB}%)",
                            f"+3,4{NB}% ; +1,2{NB}%"]
    assert coverage.table_note(cov, {"territoire": "t", "epci": "EPCI"}) == (
        "lignes « par … » : emploi et part de l'ESS, une fois par territoire (7 ou 14 départements simulés)")
    assert coverage.table_note(cov, {"epci": "EPCI"}) == "département entier seulement"


# made-up commune measures: the file has them, the report quotes none (METHOD.md § 3: communes are not its cells)
COMMUNES = "\n".join([
    f'emploi_ess,E,,commune,insee,annee_emploi,2030,2030,7168,5240,0.72,0.74,0.026,0.81,{PROVENANCE}',
    f'part_total,P,,commune,insee,annee_emploi,2030,2030,6779,4903,0.71,0.73,0.003,1.7,{PROVENANCE}',
]) + "\n"


def test_the_report_quotes_the_territories_measure(tmp_path):
    tables = make_tables(tmp_path / "tables")
    style.apply()
    ctx = load_context(tables, {**PARAMS, "reference_dir": str(_reference(tmp_path / "ref",
                                                                          MADE_UP + TERRITORIES + COMMUNES))})
    assert ctx.coverage.get("emploi_ess", coverage.YEAR, "commune").cells == 7168  # read, not quoted
    niveau = ctx.niveau_territoires.niveau
    assert niveau == "territoire"  # the fixture's zoning, whose rows TERRITORIES holds
    figures, _ = annual.render(ctx)
    text = " ".join(_all_texts(figures).split())
    # the territories' share chart quotes its level's measure, the EPCI's says it was not measured
    assert ("Trait fin : intervalle à 90 %, conçu pour contenir la vraie valeur 9 fois sur 10 ; éprouvé sur 14 "
            "départements simulés, il a contenu la vraie valeur dans 170 territoires simulés sur 182 pour "
            "l'année") in text
    assert "couverture non mesurée à ce niveau" in text
    assert "celui de l'emploi de l'ESS a contenu la vraie valeur dans 140 territoires simulés sur 182" in text
    assert "Emploi, par territoire" in text and "une fois par territoire" in text
    # the « Méthode » table keeps to the levels of the report's charts: no commune row, no commune count
    assert "commune" not in " ".join(r[0] for r in coverage.table_rows(ctx.coverage, {
        n.niveau: n.par for n in (ctx.niveau_territoires, ctx.niveau("epci"))})).lower()
    assert "7 168" not in text and f"7{NB}168" not in text and "communes simulées" not in text


def test_an_unknown_level_is_a_clear_error(tmp_path):
    line = f"emploi_ess,E,,canton,insee,annee_emploi,2030,2030,14,12,0.6,0.9,0,0.01,{PROVENANCE}"
    _reference(tmp_path, HEADER + line + "\n")
    with pytest.raises(UserError, match=rf"{referentiels.COVERAGE_FILE}, line 2: column 'niveau' = 'canton' is not "
                                        r"allowed; use one of \[.*'departement'.*'territoire'"):
        referentiels.read_coverage(tmp_path)
    # a zoning of the reference folder is a level
    (tmp_path / "zonages").mkdir()
    (tmp_path / "zonages" / "canton.csv").write_text("code_commune,code_zone,libelle_zone\n38001,c1,C1\n",
                                                     encoding="utf-8")
    assert referentiels.read_coverage(tmp_path)[0]["niveau"] == "canton"


def test_coverage_is_pooled_per_level():
    from benchmarks.coverage import by_size, summarise

    # the département: 2 seeds; the territoires: 2 seeds × 2 territories, truth 100 (a: 200 for t2)
    cells = pd.DataFrame([
        ("departement", "38", 1, 1000.0, 990.0, 1010.0, 1000.0),
        ("departement", "38", 2, 1040.0, 1020.0, 1060.0, 1000.0),
        ("territoire", "t1", 1, 110.0, 100.0, 130.0, 100.0),  # covered, +10 %, half-width 15/110
        ("territoire", "t1", 2, 90.0, 80.0, 95.0, 100.0),  # missed (too low), −10 %, 7.5/90
        ("territoire", "t2", 1, 210.0, 190.0, 230.0, 200.0),  # covered, +5 %, 20/210
        ("territoire", "t2", 2, 5.0, 0.0, 10.0, 0.0),  # covered, no true job: no relative bias, 5/5
    ], columns=["niveau", "code_territoire", "graine", "central", "bas", "haut", "vrai"]).assign(
        indicateur="emploi_ess", annee=2030)
    got = summarise(cells).set_index("niveau")
    assert list(got.index) == ["departement", "territoire"]
    assert (got.at["departement", "cellules"], got.at["departement", "dans_ic90"]) == (2, 1)
    assert got.at["departement", "biais_moyen"] == pytest.approx(0.02)
    t = got.loc["territoire"]
    assert (t["cellules"], t["dans_ic90"], t["au_dessus"], t["vrai_nul"]) == (4, 3, 3, 1)
    assert t["biais_moyen"] == pytest.approx((0.1 - 0.1 + 0.05) / 3)
    assert t["demi_largeur_mediane"] == pytest.approx((15 / 110 + 20 / 210) / 2)
    # Clopper–Pearson in closed form at the edges: all covered, lower bound 0.05^(1/n); none, upper 1 − 0.05^(1/n)
    allin = summarise(cells[cells["code_territoire"] == "t2"]).iloc[0]
    assert (allin["couverture_bas"], allin["couverture_haut"]) == (pytest.approx(0.05 ** 0.5), 1.0)
    none = summarise(cells[(cells["code_territoire"] == "t1") & (cells["graine"] == 2)]).iloc[0]
    assert (none["couverture_bas"], none["couverture_haut"]) == (0.0, pytest.approx(0.95))
    # by size: the territories under / over the threshold of estimated ESS employment; the département apart
    sized = by_size(cells.assign(emploi_ess_central=cells["central"]), threshold=100).set_index("niveau")
    assert sorted(sized.index) == ["territoire < 100", "territoire ≥ 100"]
    assert (sized.at["territoire < 100", "cellules"], sized.at["territoire < 100", "dans_ic90"]) == (2, 1)
    assert (sized.at["territoire ≥ 100", "cellules"], sized.at["territoire ≥ 100", "dans_ic90"]) == (2, 2)


def test_the_truth_of_a_territory_is_that_of_its_true_communes():
    from benchmarks.coverage import _match_truth

    communes = pd.DataFrame([("38001", "territoire", "a"), ("38002", "territoire", "a"), ("38003", "territoire", "b"),
                             ("38001", "departement", "38"), ("38002", "departement", "38"),
                             ("38003", "departement", "38")], columns=["code_commune", "niveau", "code_territoire"])
    cube = pd.DataFrame([(n, c, 2030, 50.0, 40.0, 60.0, 0.5, 0.4, 0.6, 0.5, 0.4, 0.6)
                         for n, c in (("territoire", "a"), ("territoire", "b"), ("departement", "38"))],
                        columns=["niveau", "code_territoire", "annee", "effectif_central", "effectif_ic90_bas",
                                 "effectif_ic90_haut", "part_effectif_total_central", "part_effectif_total_ic90_bas",
                                 "part_effectif_total_ic90_haut", "part_effectif_prive_central",
                                 "part_effectif_prive_ic90_bas", "part_effectif_prive_ic90_haut"])
    truth = pd.DataFrame({
        "annee": [2030] * 4, "code_commune": ["38001", "38002", "38003", "38003"],
        "perimetres": [["insee"], ["flag"], ["insee", "flag"], []], "champ_urssaf": [True, True, False, True],
        "effectif_fin_annee": [10, 30, 4, 12], "exception_champ_urssaf": [False, False, True, False]})
    cells, dep = _match_truth(cube, communes, truth)
    got = cells.set_index(["code_territoire", "indicateur"])["vrai"]
    assert got[("a", "emploi_ess")] == 10 and got[("b", "emploi_ess")] == 4
    assert got[("a", "part_total")] == pytest.approx(10 / 40) and got[("b", "part_total")] == pytest.approx(4 / 16)
    assert got[("a", "part_prive")] == pytest.approx(10 / 40) and got[("b", "part_prive")] == 0.0
    assert cells.set_index(["code_territoire", "indicateur"]).at[("b", "emploi_ess"), "vrai_exceptions"] == 4
    assert set(cells["niveau"]) == {"territoire"} and dep.set_index("indicateur").at["emploi_ess", "vrai"] == 14
    # a true commune the cube's frame does not hold: its jobs would vanish from every territory
    with pytest.raises(ValueError, match=r"true communes \['38999'\]"):
        _match_truth(cube, communes, truth.assign(code_commune=["38001", "38002", "38003", "38999"]))


def test_the_reference_file_has_a_row_per_level(tmp_path):
    from benchmarks import coverage_reference

    cells = pd.DataFrame([
        {"graine": g, "niveau": n, "code_territoire": c, "indicateur": "emploi_ess", "central": 100.0,
         "bas": 95.0, "haut": 105.0, "vrai": v, "vrai_exceptions": 0.0, "annee": 2030}
        for g in (1, 2) for n, c, v in (("departement", "38", 100.0), ("epci", "e1", 101.0), ("epci", "e2", 110.0))])
    rows = coverage_reference.reference_rows(cells, exceptions=True, scale=0.25, generator="1.0.0",
                                             day=pd.Timestamp("2031-01-01").date()).set_index("niveau")
    assert (rows.at["departement", "cellules"], rows.at["departement", "cellules_couvertes"]) == (2, 2)
    assert (rows.at["epci", "cellules"], rows.at["epci", "cellules_couvertes"], rows.at["epci", "nb_graines"]) == (
        4, 2, 2)
    assert rows.at["epci", "libelle_indicateur"] == "Emploi salarié de l'ESS au 31/12, chaque territoire du niveau epci"
    assert "(niveau epci, famille ess)" in rows.at["epci", "colonnes_mesurees"]
    # a file of before the levels: the département's
    old = coverage_reference.reference_rows(cells[cells["niveau"] == "departement"].drop(columns="niveau"),
                                            exceptions=True, scale=0.25, generator="1.0.0",
                                            day=pd.Timestamp("2031-01-01").date())
    assert list(old["niveau"]) == ["departement"]


# --- the communes: hundreds of small cells per world, most without any true ESS job --------------------------------
def _commune_cells() -> pd.DataFrame:
    """Made-up commune cells of one world (estimate, interval, truth), with one territory beside them."""
    return pd.DataFrame([
        ("commune", "c1", 0.0, 0.0, 0.0, 0.0),  # no job, none estimated: [0, 0] holds the truth
        ("commune", "c2", 0.02, 0.001, 0.05, 0.0),  # no true job, a positive estimate: missed (log-normal, > 0)
        ("commune", "c3", 3.0, 1.0, 6.0, 4.0),  # covered, −25 %
        ("commune", "c4", 20.0, 15.0, 26.0, 30.0),  # missed, too low, −1/3
        ("commune", "c5", 5.0, 3.0, 8.0, 5.0),  # covered, on the 5 bound: class 5–50
        ("commune", "c6", 50.0, 45.0, 56.0, 48.0),  # covered, on the 50 bound: class ≥ 50, +2/48
        ("commune", "c7", 60.0, 55.0, 66.0, 62.0),  # covered, −2/62
        ("territoire", "t1", 30.0, 20.0, 40.0, 35.0),  # covered; the territories keep their own threshold
    ], columns=["niveau", "code_territoire", "central", "bas", "haut", "vrai"]).assign(
        indicateur="emploi_ess", annee=2030, graine=1)


def test_communes_are_pooled_and_split_by_size_and_truth():
    from benchmarks.coverage import by_size, by_truth, summarise

    cells = _commune_cells()
    got = summarise(cells).set_index("niveau").loc["commune"]
    assert (got["cellules"], got["dans_ic90"], got["vrai_nul"], got["au_dessus"]) == (7, 5, 2, 2)
    assert got["biais_moyen"] == pytest.approx((-0.25 - 1 / 3 + 0 + 2 / 48 - 2 / 62) / 5)  # truth > 0 only
    # half-widths of the positive estimates: 0.0245/0.02, 2.5/3, 5.5/20, 2.5/5, 5.5/50, 5.5/60 → median of six
    assert got["demi_largeur_mediane"] == pytest.approx((5.5 / 20 + 2.5 / 5) / 2)
    sized = by_size(cells.assign(emploi_ess_central=cells["central"]))
    assert list(sized["niveau"]) == ["commune < 5", "commune 5–50", "commune ≥ 50", "territoire < 500"]
    s = sized.set_index("niveau")
    assert list(s["cellules"]) == [3, 2, 2, 1] and list(s["dans_ic90"]) == [2, 1, 2, 1]
    assert list(s["vrai_nul"]) == [2, 0, 0, 0]
    t = by_truth(cells).set_index("niveau")
    assert list(t.index) == ["commune vrai > 0", "commune vrai nul"]  # the territory is not split
    assert (t.at["commune vrai nul", "cellules"], t.at["commune vrai nul", "dans_ic90"]) == (2, 1)
    assert (t.at["commune vrai > 0", "cellules"], t.at["commune vrai > 0", "dans_ic90"]) == (5, 4)
    # a share without truth (a commune with no true job at all) or without interval is not measured
    shares = cells.assign(indicateur="part_total")
    shares.loc[shares["code_territoire"] == "c1", "vrai"] = float("nan")
    shares.loc[shares["code_territoire"] == "c4", ["bas", "haut"]] = float("nan")
    got = summarise(shares).set_index("niveau").loc["commune"]
    assert (got["cellules"], got["dans_ic90"], got["vrai_nul"]) == (5, 4, 1)


def test_the_truth_of_a_commune_without_ess_job_is_zero():
    from benchmarks.coverage import _match_truth, summarise

    communes = pd.DataFrame([(c, n, c if n == "commune" else "38") for c in ("38001", "38002", "38003")
                             for n in ("commune", "departement")], columns=["code_commune", "niveau",
                                                                            "code_territoire"])
    cube = pd.DataFrame([("commune", c, 2030, e, lo, hi, 0.5, 0.4, 0.6, 0.5, 0.4, 0.6)
                         for c, e, lo, hi in (("38001", 10.0, 8.0, 12.0), ("38002", 0.03, 0.001, 0.09),
                                              ("38003", 0.0, 0.0, 0.0))],
                        columns=["niveau", "code_territoire", "annee", "effectif_central", "effectif_ic90_bas",
                                 "effectif_ic90_haut", "part_effectif_total_central", "part_effectif_total_ic90_bas",
                                 "part_effectif_total_ic90_haut", "part_effectif_prive_central",
                                 "part_effectif_prive_ic90_bas", "part_effectif_prive_ic90_haut"])
    # 38002: a non-ESS job only; 38003: no true job at all (and the establishment of 38001 is ESS)
    truth = pd.DataFrame({"annee": [2030] * 2, "code_commune": ["38001", "38002"],
                          "perimetres": [["insee"], []], "champ_urssaf": [True, True],
                          "effectif_fin_annee": [10, 7]})
    cells, _ = _match_truth(cube, communes, truth)
    assert set(cells["indicateur"]) == {"emploi_ess", "part_total"}  # no private share: published nowhere
    v = cells.set_index(["code_territoire", "indicateur"])["vrai"]
    assert (v[("38001", "emploi_ess")], v[("38002", "emploi_ess")], v[("38003", "emploi_ess")]) == (10, 0, 0)
    assert v[("38002", "part_total")] == 0 and pd.isna(v[("38003", "part_total")])
    got = summarise(cells).set_index("indicateur")
    # 38002's positive estimate misses its zero; 38003's zero estimate holds it
    assert (got.at["emploi_ess", "cellules"], got.at["emploi_ess", "dans_ic90"],
            got.at["emploi_ess", "vrai_nul"]) == (3, 2, 2)
    assert (got.at["part_total", "cellules"], got.at["part_total", "vrai_nul"]) == (2, 1)


def test_the_reference_file_reads_commune_rows(tmp_path):
    from benchmarks import coverage_reference

    cells = pd.concat([_commune_cells().assign(annee=y, graine=g) for g in (1, 2) for y in (2029, 2030)])
    rows = coverage_reference.reference_rows(cells, exceptions=True, scale=0.25, generator="1.0.0",
                                             day=pd.Timestamp("2031-01-01").date())
    c = rows[rows["niveau"] == "commune"].set_index("portee")
    assert (c.at["annee_emploi", "cellules"], c.at["annee_emploi", "cellules_couvertes"]) == (14, 10)
    # the communes' employment of past years stays in the internal cube
    assert c.at["annee_emploi", "colonnes_mesurees"].startswith("out_indicateurs_public.effectif_ic90_bas")
    assert c.at["annees_passees", "colonnes_mesurees"] == (
        "out_indicateurs.effectif_ic90_bas, effectif_ic90_haut (niveau commune, famille ess), non publiée à ce "
        "niveau les années passées")
    rows.to_csv(tmp_path / referentiels.COVERAGE_FILE, index=False)
    read = referentiels.read_coverage(tmp_path)
    assert sorted((r["niveau"], r["portee"], r["cellules"]) for r in read if r["niveau"] == "commune") == [
        ("commune", "annee_emploi", 14), ("commune", "annees_passees", 14)]
    # the committed file measures the communes' employment and share, each scope, with and without exceptions
    committed = {(r["indicateur"], r["portee"], r["exceptions_champ_urssaf"]) for r in referentiels.read_coverage()
                 if r["niveau"] == "commune"}
    assert committed == {(i, p, e) for i in ("emploi_ess", "part_total") for p in referentiels.COVERAGE_SCOPES
                         for e in (True, False)}


def test_the_coverage_benchmark_measures_the_cubes_own_intervals():
    """benchmarks/coverage.py draws its intervals with the macros the cube publishes (sql/macros/intervalles.sql),
    not a copy of them. By hand: 100 jobs of variance 100, σ = √ln 1.01 = 0.099751, [100·exp(−σ²/2 − 1.6449 σ),
    100·exp(−σ²/2 + 1.6449 σ)] = [84.447, 117.246]; 0 jobs of variance 4: [0, 1.6449 × 2]; no variance: the value;
    0.5 job of variance 0.01: a lower bound under one job is 0 (a whole number of jobs)."""
    from benchmarks.coverage import _ic, _intervals

    assert _ic(100, 100) == pytest.approx((84.447, 117.246), abs=1e-3)
    assert _ic(0, 4) == pytest.approx((0.0, 3.2897), abs=1e-4)
    assert _ic(100, 0) == (100.0, 100.0)
    lo, hi = _intervals(np.array([0.5, 100.0]), np.array([0.01, 100.0]))
    assert lo[0] == 0.0 and hi[0] > 0.5 and lo[1] == pytest.approx(84.447, abs=1e-3)
