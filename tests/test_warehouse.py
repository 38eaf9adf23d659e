"""The warehouse as its users read it: the README's queries after several monthly runs, every published table read
with pandas, pyarrow.dataset and DuckDB with no options, a copied warehouse, the guidance and the synthetic flag.

The tables are the real outputs (transforms/outputs.py) of the hand-built core of tests/cube_fixtures.py, published
with transforms/publish.py as four runs: département 38 in millésimes 2026-01 and 2026-02, 2A in 2026-01, 01 in
2026-02. A stand-in core_calibration (two groups) feeds the README's internal query.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow.dataset as ds
import pytest

import cube_fixtures as F
from ess import paths
from transforms import outputs
from transforms import publish as pub
from transforms import referentiels
from transforms import warehouse as wh
from transforms.checks import previous_publication

README = Path(__file__).resolve().parent.parent / "README.md"
RUNS = [("38", "2026-01"), ("2A", "2026-01"), ("01", "2026-02"), ("38", "2026-02")]  # in publication order


def calibration(path: Path) -> str:
    con = duckdb.connect()
    con.execute(f"""COPY (SELECT * FROM (VALUES
        (2025, 'associations', 'moyenne_annuelle', 100.0, 1.016, 101.6, 104.0, 101.0),
        (2025, 'hors_ess', 'moyenne_annuelle', 900.0, 1.016, 914.4, 920.0, 915.0))
        t(annee, groupe, definition_cible, cible_publiee, facteur_conversion, cible_fin_annee, total_a_priori,
          total_cale)) TO '{path}' (FORMAT parquet)""")
    con.close()
    return str(path)


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("entrepot")
    inputs = F.write_tables(tmp / "in")
    built = outputs.build_outputs(inputs, F.PARAMS, tmp / "out")
    tables = {t: built.tables[t] for t in ("out_indicateurs_public", "out_indicateurs", "out_audit_perimetre",
                                           "out_cube_communes")}
    tables["core_etablissements"] = str(inputs["core_etablissements"])
    tables["core_calibration"] = calibration(tmp / "core_calibration.parquet")
    tables["staging_urssaf_ess_departement"] = str(tmp / "staging_urssaf_ess_departement.parquet")
    duckdb.sql("SELECT 2025 AS annee, '38' AS code_departement, 'ess' AS champ_ess, 'associations' AS famille_ess, "
               "10.0 AS nb_etablissements, 120.0 AS effectifs_salaries, 3.6e6 AS masse_salariale").write_parquet(
        tables["staging_urssaf_ess_departement"])
    root = tmp / "w"
    for departement, millesime in RUNS:
        params = {**F.PARAMS, "departement": departement, "millesime": millesime,
                  "run_id": f"R{departement}-{millesime}"}
        manifest = {"run_id": params["run_id"], "parametres": params, "synthetic": True, "snapshots": {},
                    "garde_fous": {"constats": [], "publication_forcee": False}}
        pub.publish(tables, params, manifest, root)
    return root


def readme_queries() -> list[str]:
    return re.findall(r"```sql\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


def keys_unique(con, sql: str) -> tuple[int, int]:
    """(rows, distinct label tuples) of a query: its label columns are those of type text, integer year or date."""
    frame = con.execute(sql).df()
    labels = [c for c in frame.columns if frame[c].dtype == object or str(frame[c].dtype) in ("str", "string", "int32")
              or "datetime" in str(frame[c].dtype)]
    assert labels, sql
    return len(frame), len(frame[labels].drop_duplicates())


def test_readme_queries_give_each_territory_once_after_two_millesimes(warehouse):
    con = pub.open_catalog(warehouse)
    queries = readme_queries()
    assert len(queries) >= 3
    for sql in queries:
        rows, distinct = keys_unique(con, sql)
        assert rows > 0 and rows == distinct, sql
        # the same query over every millésime: département 38's two runs give every row twice (the trap the
        # default views remove)
        table = re.search(r"FROM (\w+)", sql).group(1)
        if table in dict(pub.CONVENIENCE_VIEWS):
            continue  # a view ready to use reads the latest millésimes only
        history = sql.replace(f"FROM {table}", f"FROM {table}{pub.HISTORY_SUFFIX}")
        assert con.execute(history).df().shape[0] == 2 * rows, sql
    # the latest millésime of each département: 38 and 01 in 2026-02, 2A still in 2026-01
    latest = con.execute("SELECT departement, min(millesime), max(millesime) FROM out_indicateurs_public "
                         "GROUP BY ALL ORDER BY 1").fetchall()
    assert latest == [("01", "2026-02", "2026-02"), ("2A", "2026-01", "2026-01"), ("38", "2026-02", "2026-02")]
    con.close()


def test_internal_tables_published_per_perimeter_keep_their_latest_millesime_per_perimeter(warehouse):
    con = pub.open_catalog(warehouse)
    got = con.execute("SELECT departement, perimetre, millesime, count(*) FROM core_etablissements "
                      "GROUP BY ALL ORDER BY ALL").fetchall()
    n = len(F.core_etablissements())
    assert got == [("01", "insee", "2026-02", n), ("2A", "insee", "2026-01", n), ("38", "insee", "2026-02", n)]
    con.close()


def published_folders(warehouse: Path) -> list[Path]:
    return [warehouse / access / table for table, access in pub.PUBLISHED.items()
            if (warehouse / access / table).is_dir()]


def test_every_published_table_reads_with_no_options_and_codes_stay_text(warehouse):
    folders = published_folders(warehouse)
    assert {f.name for f in folders} == {"out_indicateurs_public", "out_indicateurs", "out_audit_perimetre",
                                         "core_etablissements", "core_calibration", *referentiels.TABLES}
    for folder in folders:
        frames = {
            "pandas": pd.read_parquet(folder),
            "pyarrow.dataset": ds.dataset(folder).to_table().to_pandas(),
            "duckdb": duckdb.sql(f"SELECT * FROM read_parquet('{folder}/**/*.parquet', hive_partitioning=true)").df(),
        }
        for reader, frame in frames.items():
            assert sorted(frame["departement"].unique()) == ["01", "2A", "38"], (folder.name, reader)
            assert sorted(frame["millesime"].unique()) == ["2026-01", "2026-02"], (folder.name, reader)
            assert frame["donnees_synthetiques"].all(), (folder.name, reader)
            # one column per name, the same rows whatever the reader
            assert len(set(frame.columns)) == len(frame.columns)
            assert len(frame) == len(frames["pandas"]), (folder.name, reader)
        assert list(frames["pandas"].columns) == list(frames["duckdb"].columns)
    # no folder of a table looks like a key=value partition (readers would guess its type)
    assert not [p for f in folders for p in f.rglob("*=*")]


def test_a_copied_warehouse_reads_its_own_files(warehouse, tmp_path, monkeypatch):
    copy = tmp_path / "ailleurs" / "entrepot"
    shutil.copytree(warehouse, copy, symlinks=True)
    moved = tmp_path / "original-deplace"
    warehouse.rename(moved)  # the original location no longer exists
    try:
        expected = pd.read_parquet(copy / "public" / "out_indicateurs_public")
        with pub.open_catalog(copy) as con:  # from any current directory
            assert con.execute("SELECT count(*) FROM out_indicateurs_public_historique").fetchone()[0] == \
                len(expected)
        monkeypatch.chdir(copy)  # the DuckDB CLI from the warehouse folder: no setting at all
        with duckdb.connect("ess.duckdb", read_only=True) as con:
            assert con.execute("SELECT count(*) FROM out_indicateurs_public_historique").fetchone()[0] == \
                len(expected)
        # a re-publication there compares its secrecy with the copy's own public table
        previous = previous_publication(copy, {**F.PARAMS, "departement": "38", "millesime": RUNS[-1][1]})
        assert previous["millesime"] == RUNS[-1][1]
        assert Path(previous["table_publique"]).is_relative_to(copy) and Path(previous["table_publique"]).exists()
        # one version copied alone is a warehouse too
        version = copy / wh.VERSIONS / wh.read_index(copy / wh.CURRENT)["version"]
        with pub.open_catalog(version) as con:
            assert con.execute("SELECT count(DISTINCT departement) FROM out_indicateurs_public").fetchone()[0] == 3
    finally:
        moved.rename(warehouse)


def test_comments_and_dictionary_say_which_filters_a_query_needs(warehouse):
    con = pub.open_catalog(warehouse)
    comments = dict(con.execute("SELECT view_name, comment FROM duckdb_views() WHERE NOT internal").fetchall())
    assert set(comments) == {name for table in pub.PUBLISHED if table != "core_ecart_urssaf"
                             for name in (table, table + pub.HISTORY_SUFFIX)} | {v for v, _ in pub.CONVENIENCE_VIEWS}
    public = comments["out_indicateurs_public"]
    assert public.startswith("DONNÉES SYNTHÉTIQUES")
    for words in ("Dernier millésime publié de chaque département", "nomenclature_secteur ET secteur",
                  "perimetre", "classe_taille", "sont NULL", "n'égale donc pas le total du département",
                  "« non_diffuse » n'est PAS un secret", "deux années différentes",
                  # opened from another folder, DuckDB only says « No files found »: every comment says why
                  "SET file_search_path = '<dossier du catalogue>'"):
        assert words in public, words
    assert all(pub.OPENING_HINT in comment for comment in comments.values())
    assert "WHERE actif AND dans_perimetre" in comments["core_etablissements"]
    assert "Tous les millésimes publiés" in comments["out_indicateurs_public_historique"]
    assert comments["core_etablissements"].startswith("DONNÉES SYNTHÉTIQUES (échantillon généré, ne décrit pas la "
                                                      "réalité) — INTERNE (non protégé, ne pas diffuser)")
    column = con.execute("SELECT comment FROM duckdb_columns() WHERE table_name = 'out_indicateurs_public' "
                         "AND column_name = 'departement'").fetchone()[0]
    assert "« 01 »" in column
    con.close()
    dictionary = (warehouse / "dictionnaire_donnees.md").read_text(encoding="utf-8")
    assert "**Filtres nécessaires.**" in dictionary and "_historique" in dictionary
    assert pub.OPENING_HINT in dictionary
    assert "| donnees_synthetiques | BOOLEAN |" in dictionary


def test_the_method_the_dictionary_cites_is_beside_it(warehouse):
    """The dictionary's descriptions send the analyst to « METHOD.md § 3 », § 6 …: the warehouse carries that file,
    as it is in the repository, at an entry point like the dictionary's."""
    dictionary = (warehouse / "dictionnaire_donnees.md").read_text(encoding="utf-8")
    assert "(METHOD.md, § 3)" in dictionary and "METHOD.md § 6" in dictionary
    assert "`METHOD.md`, à côté de ce dictionnaire" in dictionary
    method = warehouse / "METHOD.md"
    assert method.is_symlink() and os.readlink(method) == f"{wh.CURRENT}/METHOD.md"
    assert method.read_bytes() == (paths.ROOT / "METHOD.md").read_bytes()
    for section in ("## 3.", "## 6."):  # the sections the dictionary cites exist
        assert any(line.startswith(section) for line in method.read_text(encoding="utf-8").splitlines()), section


# --- the views ready to use and the reference tables (review ux4: W2, W3, W4, W6) -----------------------------------

# The fixture's insee ESS establishments active at the millésime (cube_fixtures.py): S01, S02, S03 (associations,
# 38001 and 38002), S04 (cooperative, 38002) in EPCI 200000001; S05 (mutual, 38003) in EPCI 200000002. loi2014 adds
# S10 (a commercial ESS company, 38001). S09 is excluded by its activity, the others are outside the ESS.
INSEE_EPCI = [("200000001", 4), ("200000002", 1)]
LOI2014_EPCI = [("200000001", 5), ("200000002", 1)]
FILTERS = ("nomenclature_secteur = 'ensemble' AND secteur = 'ensemble' AND classe_taille = 'ensemble'")


def test_ess_territoires_is_the_cube_of_the_runs_perimeter_with_every_filter_set(warehouse):
    con = pub.open_catalog(warehouse)
    # the trap: without all seven filters, 3 perimeters × 3 sector nomenclatures × 7 size classes are stacked
    trap = con.execute("SELECT sum(nb_etablissements) FROM out_indicateurs_public WHERE departement = '38' "
                       "AND niveau = 'epci' AND annee = 2026 AND famille = 'ess'").fetchone()[0]
    view = con.execute("SELECT code_territoire, nb_etablissements FROM ess_territoires WHERE departement = '38' "
                       "AND niveau = 'epci' AND famille = 'ess' AND rapport_etablissements ORDER BY 1").fetchall()
    assert view == INSEE_EPCI and trap > 5 * sum(n for _, n in view)
    assert con.execute("SELECT nb_etablissements FROM ess_territoires WHERE departement = '38' AND niveau = "
                       "'departement' AND famille = 'ess' AND rapport_etablissements").fetchall() == [(5,)]
    # one row per département × millésime × niveau × territoire × famille × annee, all of the run's perimeter
    rows, keys, perimeters = con.execute(
        "SELECT count(*), count(DISTINCT (departement, millesime, niveau, code_territoire, famille, annee)), "
        "list(DISTINCT perimetre) FROM ess_territoires").fetchone()
    assert rows == keys and perimeters == ["insee"]
    # its employment is the published rows' (nothing computed): the EPCI of the run's perimeter, all 7 filters set
    for niveau in ("epci", "territoire", "departement"):
        published = con.execute(
            f"SELECT code_territoire, effectif_central, statut_secret_effectifs FROM out_indicateurs_public WHERE "
            f"departement = '38' AND perimetre = 'insee' AND niveau = '{niveau}' AND famille = 'ess' AND {FILTERS} "
            "AND annee = 2025 ORDER BY 1").fetchall()
        assert con.execute(
            "SELECT code_territoire, effectif_central, statut_secret_effectifs FROM ess_territoires WHERE departement "
            f"= '38' AND niveau = '{niveau}' AND famille = 'ess' AND rapport_emploi ORDER BY 1").fetchall() == published
        assert published
    # the report's two years: establishments at the millésime's (2026), employment at the employment year's (2025)
    assert con.execute("SELECT DISTINCT annee FROM ess_territoires WHERE rapport_etablissements").fetchall() == [
        (F.ANNEE,)]
    assert con.execute("SELECT DISTINCT annee FROM ess_territoires WHERE rapport_emploi").fetchall() == [
        (F.ANNEE_EFFECTIFS,)]
    # the detail views: each sector once per view, sizes without their total, adding up to the département (counts
    # are never masked)
    for view in ("ess_secteurs_a21_departement", "ess_secteurs_ess_departement", "ess_tailles_departement"):
        total, keys, rows = con.execute(
            f"SELECT sum(nb_etablissements), count(DISTINCT (departement, famille, "
            f"{'classe_taille' if 'tailles' in view else 'secteur'}, annee)), count(*) FROM {view} "
            "WHERE departement = '38' AND famille = 'ess' AND rapport_etablissements").fetchone()
        assert (total, keys) == (5, rows), view
    assert con.execute("SELECT secteur, nb_etablissements FROM ess_secteurs_a21_departement WHERE departement = '38' "
                       "AND famille = 'ess' AND annee = 2026 ORDER BY 1").fetchall() == [("K", 2), ("Q", 2), ("R", 1)]
    con.close()


def test_the_views_follow_the_perimeter_of_the_run_that_published_the_millesime(warehouse, tmp_path):
    copy = tmp_path / "w"
    shutil.copytree(warehouse, copy, symlinks=True)
    # the run's tables again (as published: every perimeter in the cube), without out_cube_communes
    tables = {t: str(p) for t, p in _run_tables(warehouse).items()}
    params = {**F.PARAMS, "departement": "38", "millesime": "2026-02", "perimetre": "loi2014", "run_id": "R38-loi"}
    pub.publish(tables, params, {"run_id": "R38-loi", "parametres": params, "snapshots": {},
                                 "garde_fous": {"constats": [], "publication_forcee": False}}, copy)
    with pub.open_catalog(copy) as con:
        assert con.execute("SELECT departement, perimetre FROM referentiel_perimetres WHERE perimetre_du_run "
                           "ORDER BY 1").fetchall() == [("01", "insee"), ("2A", "insee"), ("38", "loi2014")]
        assert con.execute("SELECT code_territoire, nb_etablissements FROM ess_territoires WHERE departement = '38' "
                           "AND niveau = 'epci' AND famille = 'ess' AND rapport_etablissements ORDER BY 1"
                           ).fetchall() == LOI2014_EPCI
        assert con.execute("SELECT DISTINCT perimetre FROM ess_territoires WHERE departement = '38'").fetchall() == [
            ("loi2014",)]
        # a reference table the run could not build (no out_cube_communes) is not left from the previous run of the
        # millésime (the view shows 38's 2026-01, its latest left)
        assert con.execute("SELECT DISTINCT departement, millesime FROM referentiel_territoires ORDER BY ALL"
                           ).fetchall() == [("01", "2026-02"), ("2A", "2026-01"), ("38", "2026-01")]
        assert "WHERE perimetre = '<périmètre du run" in con.execute(
            "SELECT comment FROM duckdb_views() WHERE view_name = 'out_indicateurs_public'").fetchone()[0]


def _run_tables(warehouse: Path) -> dict[str, Path]:
    """The files of département 38's latest run as published (enough to publish it again)."""
    found = {p.stem: p for p in wh.current_dir(warehouse).glob("*/*/departement_38/millesime_2026-02/**/*.parquet")}
    assert {"out_indicateurs_public", "out_indicateurs"} <= found.keys()
    return {t: p for t, p in found.items() if not t.startswith("referentiel_")}


def test_the_reference_tables_say_what_the_codes_mean_as_the_run_used_them(warehouse):
    from transforms import reference

    con = pub.open_catalog(warehouse)
    where = "WHERE departement = '38'"
    perimeters = con.execute(f"SELECT perimetre, perimetre_du_run, libelle_perimetre IS NOT NULL, "
                             f"description_perimetre IS NOT NULL FROM referentiel_perimetres {where} ORDER BY 1"
                             ).fetchall()
    assert perimeters == [(p, p == "insee", True, True) for p in sorted(reference.perimetres())]
    # territory ↔ communes ↔ EPCI, as the run's zoning (tests/reference_cube) and COG made them
    members = con.execute(f"SELECT niveau, code_territoire, list(code_commune ORDER BY code_commune) FROM "
                          f"referentiel_territoires {where} AND niveau IN ('territoire', 'epci', 'zone_emploi') "
                          "GROUP BY ALL ORDER BY ALL").fetchall()
    assert members == [("epci", "200000001", ["38001", "38002"]), ("epci", "200000002", ["38003"]),
                       ("territoire", "T1", ["38001"]), ("territoire", "T2", ["38002", "38003"]),
                       ("zone_emploi", "8401", ["38001"]), ("zone_emploi", "8402", ["38002", "38003"])]
    assert con.execute(f"SELECT code_commune, nom_commune, annee_cog FROM referentiel_territoires {where} AND "
                       "niveau = 'commune' ORDER BY 1").fetchall() == [
        ("38001", "Aval", 2026), ("38002", "Belle", 2026), ("38003", "Combe", 2026)]
    assert con.execute(f"SELECT code_territoire, libelle_territoire, siren_epci, nom_epci, epci_partiel, "
                       f"nb_communes_territoire_epci, epci_entier FROM referentiel_territoires_epci {where} AND "
                       "niveau = 'territoire' ORDER BY ALL").fetchall() == [
        ("T1", "Territoire un", "200000001", "CC Une", False, 1, False),
        ("T2", "Territoire deux", "200000001", "CC Une", False, 1, False),
        ("T2", "Territoire deux", "200000002", "CC Deux", True, 1, True)]
    # sectors: a NAF division's section and ESS sector, with the labels the cube publishes
    assert con.execute(f"SELECT section_a21, secteur_ess FROM referentiel_secteurs {where} AND nomenclature_activite "
                       "= 'NAFRev2' AND division_naf = '86'").fetchall() == [("Q", "sante")]
    for nomenclature, code, label in (("a21", "section_a21", "libelle_section_a21"),
                                      ("ess", "secteur_ess", "libelle_secteur_ess")):
        pairs = con.execute(
            f"SELECT DISTINCT c.secteur, c.libelle_secteur, r.{label} FROM out_indicateurs_public AS c "
            f"JOIN referentiel_secteurs AS r ON r.departement = c.departement AND r.{code} = c.secteur "
            f"WHERE c.departement = '38' AND c.nomenclature_secteur = '{nomenclature}'").fetchall()
        assert pairs and all(cube == ref for _, cube, ref in pairs), pairs
    # size classes: the SIRENE bands each groups (data/reference/tranches_effectifs.csv), the cube's labels
    bands = dict(con.execute(f"SELECT classe_taille, list(tranche_effectifs ORDER BY tranche_effectifs) FROM "
                             f"referentiel_classes_taille {where} GROUP BY 1").fetchall())
    assert bands["10_49"] == ["11", "12"] and bands["sans_salarie"] == ["00", "NN"]
    assert bands["ensemble"] == [None] and bands["non_renseigne"] == [None]  # the empty band VIDE
    assert not con.execute(
        f"SELECT * FROM out_indicateurs_public AS c JOIN referentiel_classes_taille AS r USING (departement, "
        f"millesime, classe_taille) WHERE c.libelle_classe_taille <> r.libelle_classe_taille").fetchall()
    # every column of every view of the catalog is described (the reference tables' and the views' too)
    assert con.execute("SELECT table_name, column_name FROM duckdb_columns() WHERE comment IS NULL AND NOT internal"
                       ).fetchall() == []
    con.close()


def test_a_new_zoning_and_a_new_perimeter_are_published_without_a_code_change(tmp_path):
    """The reference tables read the run's files: a zoning or a perimeter added to the reference folder is in them."""
    from transforms import referentiels

    folder = tmp_path / "reference"
    shutil.copytree(Path(F.PARAMS["reference_dir"]), folder)
    (folder / "zonages" / "bassins.csv").write_text(
        "code_commune,code_zone,libelle_zone\n38001,B1,Bassin un\n38002,B1,Bassin un\n38003,B2,Bassin deux\n",
        encoding="utf-8")
    perimetres = (Path(wh.__file__).parent.parent / "data" / "reference" / "perimetres.csv").read_text(
        encoding="utf-8")
    (folder / "perimetres.csv").write_text(
        perimetres + "large,Toutes les familles,false,toutes,true,false,false,Un périmètre d'essai\n", encoding="utf-8")
    params = {**F.PARAMS, "reference_dir": str(folder), "perimetres_cube": ["insee", "large"]}
    inputs = F.write_tables(tmp_path / "in")
    built = outputs.build_outputs(inputs, {**F.PARAMS, "reference_dir": str(folder)}, tmp_path / "out")
    tables = referentiels.build(built.tables, params, tmp_path / "ref")
    con = duckdb.connect()
    assert con.execute(f"SELECT perimetre, perimetre_du_run, familles_cj FROM '{tables['referentiel_perimetres']}' "
                       "ORDER BY 1").fetchall() == [("insee", True, "defaut"), ("large", False, "toutes")]
    assert con.execute(f"SELECT code_territoire, libelle_territoire, list(code_commune ORDER BY code_commune) FROM "
                       f"'{tables['referentiel_territoires']}' WHERE niveau = 'bassins' GROUP BY ALL ORDER BY 1"
                       ).fetchall() == [("B1", "Bassin un", ["38001", "38002"]), ("B2", "Bassin deux", ["38003"])]
    con.close()


def test_the_comments_give_a_clause_ready_to_paste_and_say_shares_are_ratios(warehouse):
    con = pub.open_catalog(warehouse)
    comments = dict(con.execute("SELECT view_name, comment FROM duckdb_views() WHERE NOT internal").fetchall())
    clause = re.search(r"WHERE perimetre = .*? AND annee = \d{4}", comments["out_indicateurs_public"]).group(0)
    assert clause == (f"WHERE perimetre = 'insee' AND niveau = 'epci' AND famille = 'ess' AND {FILTERS} AND annee "
                      f"= {F.ANNEE_EFFECTIFS}")
    pasted = con.execute(f"SELECT departement, code_territoire, effectif_central FROM out_indicateurs_public {clause} "
                         "ORDER BY ALL").fetchall()
    assert pasted == con.execute("SELECT departement, code_territoire, effectif_central FROM ess_territoires WHERE "
                                 "niveau = 'epci' AND famille = 'ess' AND rapport_emploi ORDER BY ALL").fetchall()
    for view in ("out_indicateurs_public", "out_indicateurs", "ess_territoires", "ess_tailles_departement"):
        assert "ratio 0–1 : ×100 pour des %" in comments[view], view
        assert "pour reproduire le rapport : établissements à annee = année du millésime" in comments[view].lower()
        assert "ess:annee_effectifs" in comments[view]
    assert "×100" not in comments["referentiel_territoires"]
    assert "ABSENTS" not in comments["ess_territoires"]
    con.close()
    dictionary = (warehouse / "dictionnaire_donnees.md").read_text(encoding="utf-8")
    assert clause in dictionary and "## ess_territoires (vue sur out_indicateurs_public)" in dictionary
    assert "| perimetre_du_run | BOOLEAN |" in dictionary and "| rapport_emploi | BOOLEAN |" in dictionary


def test_a_departement_published_before_the_reference_tables_is_named_by_the_views(warehouse, tmp_path):
    """A partition of an older publication has no referentiel_perimetres: the ess_* views cannot know its run's
    perimeter, leave it out, and say so."""
    version = tmp_path / "v"
    shutil.copytree(wh.current_dir(warehouse).resolve(), version, symlinks=True)
    shutil.rmtree(version / "public" / "referentiel_perimetres" / "departement_2A")
    pub.build_catalog(version)
    with pub.open_catalog(version) as con:
        comment = con.execute("SELECT comment FROM duckdb_views() WHERE view_name = 'ess_territoires'").fetchone()[0]
        assert "ABSENTS de cette vue, publiés avant referentiel_perimetres : 2A (2026-01)" in comment
        assert con.execute("SELECT list(DISTINCT departement ORDER BY departement) FROM ess_territoires"
                           ).fetchone()[0] == ["01", "38"]
