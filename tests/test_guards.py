"""Guards before publication: the bad inputs of issue 8 are refused (exit ≠ 0 from the CLI, one message with the
figures and the file to look at), the warehouse stays byte for byte what it was, and `--force` publishes anyway with
the forcing recorded in the manifest, the Parquet metadata and the report.

Unit tests feed hand-made file accountings; flow tests stage real bad files (a tiny generated sample, altered by
tests/bad_inputs.py) against a warehouse that already holds a publication.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

import bad_inputs
from ess import caching
from test_flows import CALLS, inputs, prefect_harness, run, stubs, write_inputs  # noqa: F401 — fixtures
from test_publication import make_tables, manifest_of, tree
from transforms import checks as checks_module
from transforms import guards
from transforms.checks import compare, secrecy_changes


PARAMS = {"departement": "38", "millesime": "2026-10", "perimetre": "insee"}


def stats(table, file, read, staged, rejected=None, oos=0):
    return {"table": table, "file": file, "rows_read": read, "rows_staged": staged,
            "rows_rejected": rejected or {}, "rows_out_of_scope": oos}


def only(findings):
    assert len(findings) == 1, [f.message for f in findings]
    return findings[0]


# --- the input, by hand ----------------------------------------------------------------------------------------------


def test_an_empty_file_is_refused():
    f = only(guards.check_inputs({"sirene": [stats("staging_sirene_etablissements", "/in/StockEtab.parquet", 0, 0)]},
                                 PARAMS))
    assert f.regle == "lignes_lues_min"
    assert f.message == ("/in/StockEtab.parquet has no row (a header at most): it feeds staging_sirene_etablissements. "
                         "Download it again (`ess fetch --source sirene` serves the latest millésime only) or put "
                         "the complete file in place")
    assert f.libelle == "fichier vide : StockEtab.parquet"


def test_an_absent_departement_is_one_finding_for_all_its_files():
    sources = {"sirene": [stats("staging_sirene_etablissements", "/in/s/StockEtab.parquet", 3529, 0, oos=3529),
                          stats("staging_sirene_unites_legales", "/in/s/StockUL.parquet", 3266, 0, oos=3266)],
               "urssaf": [stats("staging_urssaf_ess_departement", "/in/u/ess.csv", 280, 0, oos=280)]}
    f = only(guards.check_inputs(sources, {**PARAMS, "departement": "2A"}))
    assert f.regle == "departement_present"
    assert f.message == ("département 2A is absent from the input: none of the 3 529 rows of /in/s/StockEtab.parquet "
                         "is in 2A (2 other input files have no row of 2A either). Check --departement, or give "
                         "--input a folder whose files cover 2A")
    assert f.chiffres == {"lues": 3529, "fichiers_sans_ligne": 3}


def test_files_without_a_row_of_the_departement_are_one_line():
    sources = {"sirene": [stats("staging_sirene_unites_legales", "/in/s/StockUL.parquet", 3266, 0, oos=3266),
                          stats("staging_sirene_unites_legales_historique", "/in/s/StockULH.parquet", 6633, 0,
                                oos=6633)]}
    f = only(guards.check_inputs(sources, PARAMS))
    assert f.message == ("none of the rows of StockUL.parquet (3 266), StockULH.parquet (6 633) in /in/s is of "
                         "département 38 (all out of scope). Check that these files cover 38")


def test_a_file_feeding_two_tables_is_named_once_and_a_file_elsewhere_by_its_path():
    """The EPCI file feeds two tables: it was listed twice, and the URSSAF file said to be in the territories'
    folder."""
    sources = {"territoires": [stats("staging_epci", "/in/t/epcicom.xlsx", 534, 0, oos=534),
                               stats("staging_communes_epci", "/in/t/epcicom.xlsx", 534, 0, oos=534),
                               stats("staging_communes", "/in/t/v_commune.csv", 549, 0, oos=549)],
               "urssaf": [stats("staging_urssaf_ess_departement", "/in/u/ess.csv", 280, 0, oos=280)]}
    f = only(guards.check_inputs(sources, {**PARAMS, "departement": "74"}))
    assert f.message == ("none of the rows of epcicom.xlsx (534), v_commune.csv (549) in /in/t, nor of /in/u/ess.csv "
                         "(280), is of département 74 (all out of scope). Check that these files cover 74")
    assert f.libelle == "aucune ligne du département 74 dans 3 fichiers"


def test_a_calibration_file_with_every_row_rejected_is_refused():
    f = only(guards.check_inputs(
        {"urssaf": [stats("staging_urssaf_ess_departement", "/in/u/ess.csv", 280, 0, {"valeur non numérique": 70},
                          210)]}, PARAMS, {"urssaf": "/run/staging/staging_rejets_urssaf.parquet"}))
    assert f.regle == "calage_lignes_min"
    assert f.message == ("/in/u/ess.csv: 0 of its 70 rows of département 38 kept, 70 rejected (« valeur non "
                         "numérique »: 70) (rejected rows with their reason: /run/staging/staging_rejets_urssaf.parquet)"
                         ". The employment calibration needs this file: fix it or fetch it again")
    assert f.chiffres == {"lues": 280, "retenues": 0, "rejetees": 70, "hors_champ": 210}


@pytest.mark.parametrize("staged, rejected, refused", [
    (33, {"date de création illisible": 15314, "siret en double": 2}, True),  # issue 8: 15 316 of 15 349
    (2, {"x": 5}, False),  # 5 rows are always tolerated, whatever their share (71 %)
    (294, {"x": 6}, False),  # 6 of 300 = 2.0 %: not above the 2 % threshold
    (293, {"x": 7}, True),  # 7 of 300 = 2.33 %
])
def test_reject_rate_threshold_by_hand(staged, rejected, refused):
    found = guards.check_inputs({"sirene": [stats("staging_sirene_etablissements", "/in/e.parquet",
                                                  staged + sum(rejected.values()) + 10, staged, rejected, 10)]},
                                PARAMS)
    assert bool(found) is refused
    if refused and staged == 33:
        assert found[0].message.startswith(
            "/in/e.parquet: 15 316 of its 15 349 rows of département 38 rejected (99.8 %, threshold 2.0 %): "
            "« date de création illisible »: 15 314; « siret en double »: 2. Fix the file")


def test_rows_rejected_without_a_departement_count_against_the_national_file(tmp_path):
    """A row without a usable location is rejected once, nationally, and in no département's share: 60 % of the
    commune codes malformed passed the 2 % guard of the département (adversarial test) until counted here, against
    the rows the national file holds."""
    import duckdb

    rejets = tmp_path / "staging_rejets_sirene.parquet"
    rows = ([("staging_sirene_etablissements", "code commune invalide", [])] * 90
            + [("staging_sirene_etablissements", "siret en double", ["38"])] * 4
            + [("staging_sirene_unites_legales", "code commune invalide", [])] * 2)
    con = duckdb.connect()
    con.execute("CREATE TABLE r (table_staging VARCHAR, motif_rejet VARCHAR, departements VARCHAR[])")
    con.executemany("INSERT INTO r VALUES (?, ?, ?)", rows)
    con.execute(f"COPY r TO '{rejets}' (FORMAT parquet)")
    national = {"sirene": {"rejets": str(rejets), "fichiers": [
        stats("staging_sirene_etablissements", "/in/etab.zip", 150, 56, {"code commune invalide": 90,
                                                                          "siret en double": 4}),
        stats("staging_sirene_unites_legales", "/in/ul.zip", 100, 98, {"code commune invalide": 2})]}}
    mine = {"sirene": [stats("staging_sirene_etablissements", "/in/etab.zip", 150, 56, {"siret en double": 4}, 90),
                       stats("staging_sirene_unites_legales", "/in/ul.zip", 100, 98, {}, 2)]}
    # the département's share alone: 4 rejected, tolerated
    assert guards.check_inputs(mine, PARAMS) == []
    # 90 of 150 rows rejected without a département: 60 %; the legal units' 2 of 100 are tolerated (≤ 5 rows)
    f = only(guards.check_inputs(mine, PARAMS, national=national))
    assert (f.regle, f.fichier, f.chiffres) == ("taux_rejet_max", "/in/etab.zip",
                                                {"lues": 150, "rejetees_sans_departement": 90})
    assert f.message.startswith("/in/etab.zip: 90 of its 150 rows rejected without a département (60.0 %, threshold "
                                "2.0 %): « code commune invalide »: 90")
    assert "they may be rows of 38" in f.message


def test_one_bad_row_and_optional_tables_never_block():
    sources = {"territoires": [stats("staging_communes_passage", "/in/t/v_mvt.csv", 16, 0, oos=16)],
               "urssaf": [stats("staging_urssaf_ess_departement", "/in/u/ess.csv", 3, 2, {"valeur": 1})]}
    assert guards.check_inputs(sources, PARAMS) == []


def test_units_whose_establishments_were_all_rejected_do_not_make_the_departement_absent():
    """Every establishment of 38 rejected: its legal units and their history are out of scope only for that reason
    (« sans établissement retenu »). One finding, on the establishments' file; the other files are not said to miss
    38 (the old guard added « none of the rows of StockUL.parquet, StockULH.parquet … is of département 38 »)."""
    def keyed(table, file, read, without):
        return {**stats(table, file, read, 0, oos=read), "rows_without_kept_establishment": without}

    sources = {"sirene": [stats("staging_sirene_etablissements", "/in/s/StockEtab.parquet", 3529, 0,
                                {"siret différent de siren + nic": 140}, 3389),
                          keyed("staging_sirene_unites_legales", "/in/s/StockUL.parquet", 3266, 120),
                          keyed("staging_sirene_unites_legales_historique", "/in/s/StockULH.parquet", 6633, 250)]}
    f = only(guards.check_inputs(sources, PARAMS))
    assert (f.regle, f.fichier) == ("taux_rejet_max", "/in/s/StockEtab.parquet")
    assert f.message.startswith("/in/s/StockEtab.parquet: 140 of its 140 rows of département 38 rejected (100.0 %")
    # a unit file with no row of 38 at all, not even without a kept establishment, is still one to check
    sources["sirene"][2]["rows_without_kept_establishment"] = 0
    found = guards.check_inputs(sources, PARAMS)
    assert [g.regle for g in found] == ["taux_rejet_max", "lignes_en_champ_min"]
    assert found[1].message == ("/in/s/StockULH.parquet: none of its 6 633 rows is of département 38 (all out of "
                                "scope); it feeds staging_sirene_unites_legales_historique. Check that the file "
                                "covers 38")


# --- the figures, by hand --------------------------------------------------------------------------------------------


def test_moves_beyond_their_threshold_are_refused():
    previous = {"nb_etablissements_ess": 8003, "effectif_ess_central": 38015.87, "effectif_ess_bas": 28042.0,
                "part_ess_effectif_central": 0.0942, "nb_etablissements_employeurs_ess": 0}
    current = {"nb_etablissements_ess": 9700, "effectif_ess_central": 44000.0, "effectif_ess_bas": 1.0,
               "part_ess_effectif_central": 0.0942, "nb_etablissements_employeurs_ess": 12}
    checks = {"headline": current, "variations": compare(current, previous),
              "publication_precedente": {"run_id": "R1", "millesime": "2026-09", "manifeste": "/w/m.json"}}
    # 9700 / 8003 - 1 = +21.2 % > 20 %; 44000 / 38015.87 - 1 = +15.7 %; effectif_ess_bas has no threshold;
    # employers were 0: no relative change
    assert [m["indicateur"] for m in checks["variations"]] == ["nb_etablissements_ess", "effectif_ess_central",
                                                                "effectif_ess_bas"]
    f = only(guards.check_indicators(checks))
    assert f.message == ("nb_etablissements_ess moved by +21.2% since the publication of run R1 (millésime 2026-09): "
                         "8 003 → 9 700, threshold ±20%. Compare the input files with that run's (its manifest: "
                         "/w/m.json); if the move is real, publish with --force")
    assert f.libelle == "nb_etablissements_ess : 8 003 → 9 700 (+21.2%, seuil ±20%) depuis la publication du run R1"


def test_a_move_names_the_input_files_whose_rows_moved(tmp_path):
    # the previous run kept 151 755 establishments and 10 696 URSSAF rows of the département; this one read half
    # of the establishments file: that file is named, first, and the URSSAF file (−2 %, within 5 %) is not
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"sources": {
        "sirene": [stats("staging_sirene_etablissements", "/old/StockEtablissement_utf8.zip", 151755, 151755),
                   stats("staging_sirene_unites_legales", "/old/StockUniteLegale_utf8.zip", 90000, 80000)],
        "urssaf": [stats("staging_urssaf_commune_ape", "/old/urssaf.csv", 10696, 10696)]}}), encoding="utf-8")
    now = {"sirene": [stats("staging_sirene_etablissements", "/new/StockEtablissement_utf8.zip", 75828, 75828),
                      stats("staging_sirene_unites_legales", "/new/StockUniteLegale_utf8.zip", 90000, 60000)],
           "urssaf": [stats("staging_urssaf_commune_ape", "/new/urssaf.csv", 10482, 10482)]}
    checks = {"headline": {"nb_etablissements_ess": 3897},
              "variations": compare({"nb_etablissements_ess": 3897}, {"nb_etablissements_ess": 8003}),
              "publication_precedente": {"run_id": "R1", "millesime": "2026-10", "manifeste": str(manifest)}}
    f = only(guards.check_indicators(checks, sources=now))
    # 75 828 / 151 755 − 1 = −50.0 %; 60 000 / 80 000 − 1 = −25.0 %
    assert ("threshold ±20%. Input rows of the département that moved most since that run: StockEtablissement_utf8"
            ".zip (staging_sirene_etablissements) 75 828 rows kept, 151 755 then (-50.0%); StockUniteLegale_utf8.zip "
            "(staging_sirene_unites_legales) 60 000 rows kept, 80 000 then (-25.0%). Compare the input files") in f.message
    # no file moved: the message says so; no manifest to read: nothing is added
    assert "No input file's rows of the département moved by more than 5% since that run" in guards.input_moves(
        {"urssaf": now["urssaf"]}, manifest)
    assert guards.input_moves(now, tmp_path / "absent.json") == ""
    # a table fed by two files is compared file by file (review: the second file was compared with the first's
    # figure); renamed files (another millésime) by the table's total
    two = {"territoires": [stats("staging_communes_passage", "/x/v_commune_2026.csv", 40, 15),
                           stats("staging_communes_passage", "/x/v_mvt_commune_2026.csv", 40, 16)]}
    manifest.write_text(json.dumps({"sources": two}), encoding="utf-8")
    assert "No input file's rows" in guards.input_moves(two, manifest)
    renamed = {"territoires": [stats("staging_communes_passage", "/x/v_commune_2027.csv", 40, 10),
                               stats("staging_communes_passage", "/x/v_mvt_commune_2027.csv", 40, 11)]}
    assert guards.input_moves(renamed, manifest) == (
        " Input rows of the département that moved most since that run: v_commune_2027.csv + v_mvt_commune_2027.csv "
        "(staging_communes_passage) 21 rows kept, 31 then (-32.3%).")


def test_figures_read_as_people_write_them():
    assert [guards._n(v) for v in (15316, 38112.34, 0.09421, 2.5, 1000.0)] == ["15 316", "38 112", "0.09421", "2.5",
                                                                              "1 000"]


def test_an_observatory_without_ess_establishment_is_refused_even_the_first_time():
    f = only(guards.check_indicators({"headline": {"nb_etablissements_ess": 0}, "variations": []}))
    assert f.regle == "valeur_min" and f.message.startswith("nb_etablissements_ess = 0 (minimum 1)")


def test_a_half_read_file_leaving_nothing_to_reject_is_refused_even_the_first_time():
    """Communes without an EPCI or a population, URSSAF's two files apart: no row was rejected, no publication is
    there to compare with, and still the run is refused, naming the file to fetch again."""
    sources = {"territoires": [stats("staging_epci", "/in/epcicom2026.xlsx", 534, 534),
                               stats("staging_communes", "/in/donnees_communes.csv", 534, 512)],
               "urssaf": [stats("staging_urssaf_commune_ape", "/in/etablissements-et-effectifs-salaries-au-niveau-"
                                "commune-x-ape-last.csv", 5000, 5000)]}
    complete = {"communes": 512, "communes_sans_siren_epci": 256, "communes_sans_population": 5,
                "annee_urssaf": 2025, "urssaf_commune_ape_31_12": 123_300.0, "urssaf_ess_moyennes": 221_556.0,
                "rapport_fichiers_urssaf": 123_300 / 221_556}
    sources["territoires"].append(stats("staging_communes", "/in/v_commune_2026.csv", 549, 512))
    complete.update({"etablissements": 20_000, "etablissements_commune_inconnue": 9_000})
    findings = guards.check_completeness(complete, sources)
    assert [f.regle for f in findings] == ["part_communes_sans_max", "part_etablissements_commune_inconnue_max",
                                           "ecart_fichiers_urssaf_max"]
    epci, cog, urssaf = findings
    assert cog.message.startswith("9 000 of the département's 20 000 establishments have a commune code that the COG "
                                  "does not know") and cog.fichier == "/in/v_commune_2026.csv"
    # 256 of 512 (50 %) have no EPCI; 5 of 512 (1.0 %) without a population stay under the threshold of 1 %
    assert epci.message.startswith("256 of the département's 512 communes have no siren_epci (50.0 %, threshold "
                                   "1.0 %)") and epci.fichier == "/in/epcicom2026.xlsx"
    assert "(ratio 0.557, allowed 1 ± 0.15)" in urssaf.message and "commune-x-ape" in urssaf.fichier
    # the usual gap between a 31/12 headcount and a year's average passes (the sample's: 225 038 / 221 556)
    # 200 of 20 000 establishments (1.0 %) in an unknown commune: tolerated (a COG a little older than the stock)
    fine = {**complete, "communes_sans_siren_epci": 0, "etablissements_commune_inconnue": 200,
            "rapport_fichiers_urssaf": 225_038 / 221_556}
    assert guards.check_completeness(fine, sources) == []


def secrecy_finding(previous: dict, changed: dict):
    """The one finding of the guards on a re-publication's secrecy comparison, about the manifest replaced."""
    f = only(guards.check_indicators({"headline": {}, "variations": [], "publication_precedente": previous,
                                      "secret_publication_precedente": changed}))
    assert f.regle == "statuts_secret_differents_max" and f.fichier == previous["manifeste"]
    return f


def test_a_republication_masking_other_cells_is_refused(tmp_path):
    """Same millésime: a cell masked in the publication being replaced and shown in the new one (or the reverse)
    is counted; a cell masked in both, whatever the reason, is not; another millésime is not compared. The
    publication replaced may predate the status codes (NULL for « publie » and « non_mesure » alike): a cell
    published, or without employment, in both is not counted."""
    import duckdb

    key = {"niveau": "territoire", "famille": "ess", "nomenclature_secteur": "ensemble", "secteur": "ensemble",
           "classe_taille": "ensemble", "perimetre": "insee", "annee": 2025}
    before = [("oisans", None), ("vercors", "secondaire"), ("voironnais", "frequence"), ("matheysine", None),
              ("chartreuse", None)]
    after = [("oisans", "secondaire"), ("vercors", "publie"), ("voironnais", "secondaire"), ("matheysine", "publie"),
             ("chartreuse", "non_mesure")]
    con = duckdb.connect()
    for name, rows in (("avant", before), ("apres", after)):
        con.execute(f"CREATE TABLE {name} (code_territoire VARCHAR, statut_secret_effectifs VARCHAR)")
        con.executemany(f"INSERT INTO {name} VALUES (?, ?)", rows)
        for column, value in key.items():
            con.execute(f"ALTER TABLE {name} ADD COLUMN {column} {'INTEGER' if column == 'annee' else 'VARCHAR'} "
                        f"DEFAULT {value if column == 'annee' else repr(value)}")
    con.execute(f"COPY avant TO '{tmp_path / 'public.parquet'}' (FORMAT parquet)")
    con.execute("CREATE VIEW out_indicateurs_public AS SELECT * FROM apres")
    previous = {"run_id": "R1", "millesime": "2026-10", "manifeste": "/w/m.json",
                "table_publique": str(tmp_path / "public.parquet")}
    changed = secrecy_changes(con, previous, {"millesime": "2026-10"})
    assert changed["n_statuts_differents"] == 2
    assert [(e["code_territoire"], e["avant"], e["apres"]) for e in changed["exemples"]] == [
        ("oisans", None, "secondaire"), ("vercors", "secondaire", "publie")]
    assert secrecy_changes(con, previous, {"millesime": "2026-11"}) is None  # another millésime: other data
    f = secrecy_finding(previous, changed)
    assert f.message.startswith("2 public cells of millésime 2026-10 would be masked in one publication and shown in "
                                "the other, against that of run R1 (e.g. 2025 territoire oisans ess insee: publié → "
                                "secondaire; 2025 territoire vercors ess insee: secondaire → publié).")
    assert guards.check_indicators({"headline": {}, "variations": [], "publication_precedente": previous,
                                    "secret_publication_precedente": {"n_statuts_differents": 0}}) == []


def test_a_republication_that_cannot_be_compared_is_refused(tmp_path):
    """The table replaced is gone, or of an older pipeline without the key or status columns: nothing shows the two
    patterns agree, so the guard refuses (with what is missing), as for a difference."""
    import duckdb

    con = duckdb.connect()
    con.execute("CREATE VIEW out_indicateurs_public AS SELECT 2025 AS annee, 'insee' AS perimetre, "
                "CAST(NULL AS VARCHAR) AS statut_secret_effectifs")
    old = tmp_path / "old.parquet"
    con.execute(f"COPY (SELECT 2025 AS annee, 'departement' AS niveau, 'x' AS statut) TO '{old}' (FORMAT parquet)")
    previous = {"run_id": "R0", "millesime": "2026-10", "manifeste": "/w/m.json", "table_publique": str(old)}
    older = secrecy_changes(con, previous, PARAMS)
    assert older["n_statuts_differents"] is None
    assert "lacks the columns ['code_territoire', 'famille', 'nomenclature_secteur', 'secteur', 'classe_taille', " \
           "'perimetre', 'statut_secret_effectifs'] (an older version of the pipeline)" in older["non_comparable"]
    gone = secrecy_changes(con, {**previous, "table_publique": str(tmp_path / "absent.parquet")}, PARAMS)
    assert gone["non_comparable"].startswith("its public table is not in this warehouse")
    for changed in (older, gone):
        f = secrecy_finding(previous, changed)
        assert f.message.startswith("the secrecy pattern of this run cannot be compared with that of the "
                                    "publication of the same millésime 2026-10 it would replace (run R0): its "
                                    "public table ")
        assert "publish with --force" in f.message


def test_sample_files_copied_without_their_markers_are_still_synthetic(tiny_sample, data_dir, tmp_path):
    """A researcher who copies the sample's zips, or its URSSAF CSVs beside real files, still gets « synthetic »: a
    zip by its archive comment, a CSV by its size and checksum in the sample's synthetic.json (data/sample/)."""
    import os

    from flows.inputs import synthetic_markers

    zips = tmp_path / "zips" / "sirene" / "2026-10"
    zips.mkdir(parents=True)
    for path in (tiny_sample / bad_inputs.SIRENE).glob("*.zip"):
        os.link(path, zips / path.name)
    assert synthetic_markers(tmp_path / "zips", {"sirene": zips}) == sorted(str(p) for p in zips.glob("*.zip"))
    csvs = tmp_path / "csv" / "urssaf" / "2025"
    csvs.mkdir(parents=True)
    for path in (tiny_sample / "urssaf" / "2025").glob("*.csv"):
        os.link(path, csvs / path.name)
    assert synthetic_markers(tmp_path / "csv", {"urssaf": csvs}) == []  # no sample under data/sample/ yet
    (data_dir / "sample" / "dep38").mkdir(parents=True)
    shutil.copy(tiny_sample / "synthetic.json", data_dir / "sample" / "dep38" / "synthetic.json")
    assert synthetic_markers(tmp_path / "csv", {"urssaf": csvs}) == sorted(str(p) for p in csvs.glob("*.csv"))
    # a file that differs (a real export of the same size would) is not
    edited = sorted(csvs.glob("*.csv"))[0]
    text = edited.read_bytes()
    edited.unlink()
    edited.write_bytes(text[:-2] + (b"9\n" if text[-2:] != b"9\n" else b"8\n"))
    assert str(edited) not in synthetic_markers(tmp_path / "csv", {"urssaf": csvs})


def test_a_stock_older_than_its_millesime_by_hand(tmp_path):
    """The latest creation of the département's establishments against the last day of the folder's month: 30 days
    short of 31 December is refused, 5 days short of 31 October is not."""
    import duckdb

    con = duckdb.connect()
    con.execute("CREATE TABLE staging_sirene_etablissements AS SELECT DATE '2026-12-01' AS date_creation "
                "UNION ALL SELECT DATE '2025-03-02' UNION ALL SELECT DATE '2027-06-01'")  # (a planned opening)
    tables = {"staging_sirene_etablissements": "x"}
    late = checks_module.completeness(con, tables, "2026-12")
    assert (late["date_creation_max"], late["fin_millesime"], late["jours_sans_creation_avant_fin_millesime"]) == (
        "2026-12-01", "2026-12-31", 30)
    (finding,) = guards.check_completeness(late)
    assert finding.regle == "jours_sans_creation_max" and "30 days before the end of the millésime" in finding.message
    assert guards.check_completeness(checks_module.completeness(con, tables, "2026-11")) == []


def test_verdict_refuses_or_records_a_forced_publication(tmp_path):
    finding = guards.Finding("lignes_lues_min", "x has no row", "fichier vide : x", "x")
    with pytest.raises(guards.PublicationRefused) as refused:
        guards.verdict([finding], force=False, warehouse=tmp_path)
    assert str(refused.value).splitlines() == [
        f"publication refused — nothing was published, {tmp_path} is unchanged:", "- x has no row",
        "Thresholds: data/reference/seuils_publication.csv. `--force` publishes anyway (the manifest and the report "
        "then say so)."]
    forced = guards.verdict([finding], force=True, warehouse=tmp_path)
    assert forced == {"force_demandee": True, "constats": [finding.to_dict()], "publication_forcee": True}
    later = guards.verdict([], force=True, warehouse=tmp_path, earlier=forced)
    assert later["publication_forcee"] and later["constats"] == [finding.to_dict()]
    assert guards.verdict([], force=True, warehouse=tmp_path)["publication_forcee"] is False


def test_a_bad_threshold_file_names_its_line(tmp_path):
    from ess.errors import UserError

    (tmp_path / "seuils_publication.csv").write_text("regle,cible,seuil,description\n"
                                                     "taux_rejet_max,*,deux pour cent,\n", encoding="utf-8")
    with pytest.raises(UserError, match=r"seuils_publication.csv, line 2: column 'seuil' = 'deux pour cent' is not "
                                        "a number"):
        guards.thresholds(tmp_path)


def test_thresholds_are_not_part_of_the_steps_cache_keys(tmp_path, monkeypatch):
    """Editing a threshold re-runs the guards, not the staging, core and output steps."""
    from ess import paths
    from flows.pipeline import STEP_FILES

    reference = tmp_path / "data" / "reference"
    reference.mkdir(parents=True)
    (reference / "perimetres.csv").write_text("a\n", encoding="utf-8")
    (reference / "seuils_publication.csv").write_text("regle\n", encoding="utf-8")
    monkeypatch.setattr(paths, "ROOT", tmp_path)
    version = caching.code_version.__wrapped__
    before = version(("ess.paths",), STEP_FILES["core"])
    (reference / "seuils_publication.csv").write_text("regle\nchanged\n", encoding="utf-8")
    assert version(("ess.paths",), STEP_FILES["core"]) == before
    (reference / "perimetres.csv").write_text("b\n", encoding="utf-8")
    assert version(("ess.paths",), STEP_FILES["core"]) != before


# --- bad files through the flow --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_sample(tmp_path_factory):
    return bad_inputs.sample(tmp_path_factory.mktemp("sample") / "dep38")


@pytest.fixture
def published_warehouse(data_dir):
    """A warehouse that already holds a publication of 38 (hand-made tables): it must not move."""
    from transforms.publish import publish

    warehouse = data_dir / "entrepot"
    tables = make_tables(data_dir / "anciennes", "38", 5)
    publish(tables, {"departement": "38", "millesime": "2026-10", "annee_urssaf": 2025, "annee_cog": 2026,
                     "perimetre": "insee", "synthetic": True}, manifest_of("ANCIEN", "38"), warehouse)
    return warehouse


BAD_INPUTS = {
    "empty_establishments": (bad_inputs.empty_establishments, "38",
                             "StockEtablissement_utf8.parquet has no row (a header at most)"),
    "urssaf_unreadable": (bad_inputs.unreadable_urssaf_numbers, "38",
                          "0 of its 70 rows of département 38 kept, 70 rejected"),
    "french_dates": (bad_inputs.french_creation_dates, "38", "rows of département 38 rejected"),
    "populations_cut": (bad_inputs.half_the_populations, "38", "communes have no population"),
    "commune_ape_cut": (bad_inputs.half_the_commune_ape_cells, "38", "URSSAF's two files of 2025 disagree"),
    "later_millesime": (bad_inputs.stock_under_a_later_month, "38",
                        "days before the end of the millésime it is filed under (2026-12-31; allowed 25 days)"),
    "departement_2A": (None, "2A", "département 2A is absent from the input: none of the 3 529 rows of"),
    "departement_971": (None, "971", "département 971 is absent from the input"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_refused_and_the_warehouse_is_untouched(prefect_harness, tiny_sample, published_warehouse,
                                                             data_dir, tmp_path, case):
    from transforms.guards import PublicationRefused

    alter, departement, expected = BAD_INPUTS[case]
    folder = bad_inputs.copy_of(tiny_sample, tmp_path / "entree")
    if alter:
        alter(folder)
    before = tree(published_warehouse)
    with pytest.raises(PublicationRefused) as refused:
        run(folder, published_warehouse, departement=departement)
    message = str(refused.value)
    assert message.startswith(f"publication refused — nothing was published, {published_warehouse} still holds "
                              "version ")
    assert expected in message
    assert tree(published_warehouse) == before  # byte for byte, links included
    assert not list((data_dir / "runs").rglob("manifest.json"))
    # refused before the outputs' long protection: the user waits a minute, not ten
    assert not (caching.cache_dir() / "outputs").exists()
    # the accounting of every file read stays exact: read = staged + rejected + out of scope
    accounted = [f for step in (caching.cache_dir()).glob("stage_*/*/step.json")
                 for files in _file_stats(json.loads(step.read_text(encoding="utf-8"))["stats"]) for f in files]
    assert len(accounted) >= 10
    for f in accounted:
        assert f["rows_read"] == f["rows_staged"] + sum(f["rows_rejected"].values()) + f["rows_out_of_scope"], f


def _file_stats(stats: dict):
    """Every list of per-file accounting in a staging step's figures: national, and each département's share."""
    for key, value in stats.items():
        if isinstance(value, list):
            yield value
        elif key == "departements":
            for per in value.values():
                yield from per.values()


def test_french_dates_rejects_by_hand(prefect_harness, tiny_sample, published_warehouse, data_dir, tmp_path):
    """The sample's stock at this scale: 3 529 rows, 34 of other départements, 3 495 of 38, 11 of them without a
    creation date (all in 38). Written as French text dates, every creation date is unreadable except the empty ones
    (NULL stays NULL): of the 3 484 dated rows of 38, the 2 planted SIRET mismatches are rejected for that and 3 482
    for the date, 3 484 in all (99.7 %); the 11 undated survive."""
    import pyarrow.compute as pc

    stock = pq.read_table(tiny_sample / bad_inputs.ETABLISSEMENTS, columns=["dateCreationEtablissement"])
    assert (stock.num_rows, pc.sum(pc.is_null(stock["dateCreationEtablissement"])).as_py()) == (3529, 11)
    folder = bad_inputs.copy_of(tiny_sample, tmp_path / "entree")
    bad_inputs.french_creation_dates(folder)
    with pytest.raises(guards.PublicationRefused, match=r"3 484 of its 3 495 rows of département 38 rejected "
                                                        r"\(99.7 %, threshold 2.0 %\): « date de création illisible »: "
                                                        r"3 482; « siret différent de siren \+ nic »: 2") as refused:
        run(folder, published_warehouse)
    # the rejects the message names are the run's own: they outlive the cache, which may be deleted
    named = re.search(r"rejected rows with their reason: (\S+\.parquet)\)", str(refused.value)).group(1)
    assert Path(named).is_relative_to(data_dir / "runs")
    shutil.rmtree(caching.cache_dir())
    rejected = pq.read_table(named).to_pandas()
    dates = rejected[rejected["table_staging"] == "staging_sirene_etablissements"]
    assert dates["motif_rejet"].value_counts().to_dict() == {"date de création illisible": 3482,
                                                              "siret différent de siren + nic": 2}


def test_a_date_column_of_the_wrong_type_is_named(prefect_harness, tiny_sample, published_warehouse, tmp_path):
    """A Parquet stock whose creation date is typed as an integer stops the run at staging with the column and its
    type named (not thousands of rejects whose cause nobody sees), and nothing is published."""
    from ess.errors import InputFileError

    folder = bad_inputs.copy_of(tiny_sample, tmp_path / "entree")
    bad_inputs.integer_creation_dates(folder)
    before = tree(published_warehouse)
    with pytest.raises(InputFileError, match=r"StockEtablissement_utf8.parquet: column dateCreationEtablissement is "
                                             r"typed BIGINT"):
        run(folder, published_warehouse)
    assert tree(published_warehouse) == before


# --- large moves and --force through the flow (stand-in steps) ----------------------------------------------------


def test_a_large_move_is_refused_then_forced(prefect_harness, stubs, inputs, data_dir, monkeypatch):
    import test_flows

    warehouse = data_dir / "entrepot"
    first = run(inputs, warehouse)
    assert first["manifest"]["checks"]["headline"] == {"nb_etablissements_ess": 6}
    write_inputs(inputs, urssaf_lines=tuple(f"2025;famille{i};{i}" for i in range(6)))  # 6 → 11 (+83 %)
    before = tree(warehouse)
    with pytest.raises(guards.PublicationRefused) as refused:
        run(inputs, warehouse)
    assert (f"- nb_etablissements_ess moved by +83.3% since the publication of run {first['manifest']['run_id']} "
            "(millésime 2026-10): 6 → 11, threshold ±20%") in str(refused.value)
    assert tree(warehouse) == before
    assert CALLS["report"] == 1  # refused before the report of the second run

    seen = {}
    real_report = test_flows.fake_report

    def report(tables, params, out_dir):
        seen.update(params)
        return real_report(tables, params, out_dir)

    monkeypatch.setattr(test_flows, "fake_report", report)
    forced = run(inputs, warehouse, force=True)["manifest"]
    assert forced["publication"]["forcee"] is True
    assert forced["garde_fous"]["force_demandee"] and forced["garde_fous"]["publication_forcee"]
    assert [c["regle"] for c in forced["garde_fous"]["constats"]] == ["variation_max"]
    assert seen["publication_forcee"] == ["nb_etablissements_ess : 6 → 11 (+83.3%, seuil ±20%) depuis la "
                                          f"publication du run {first['manifest']['run_id']}"]
    kv = pq.read_metadata(forced["outputs"]["tables"]["out_indicateurs_public"]).metadata
    assert kv[b"ess:publication_forcee"] == b"true"
    published = json.loads(Path(forced["outputs"]["manifeste_publication"]).read_text(encoding="utf-8"))
    assert published["publication"]["forcee"] is True and published["run_id"] == forced["run_id"]
    # the next run compares with the forced publication: no move, published without force
    assert run(inputs, warehouse)["manifest"]["publication"]["forcee"] is False


def test_the_report_says_it_was_forced(tmp_path):
    from reports import text_pages
    from reports.context import load_context
    from test_report import PARAMS as REPORT_PARAMS
    from test_report import make_tables as report_tables

    tables = report_tables(tmp_path)
    reason = "fichier vide : StockEtablissement_utf8.parquet"
    forced = " ".join(t.get_text() for t in text_pages.cover_page(
        load_context(tables, {**REPORT_PARAMS, "publication_forcee": [reason]}), 1).texts).replace("\n", " ")
    assert "Publication forcée" in forced and reason in forced
    normal = " ".join(t.get_text() for t in text_pages.cover_page(load_context(tables, REPORT_PARAMS), 1).texts)
    assert "Publication forcée" not in normal

