"""The warehouse as its users read it: the README's queries after several monthly runs, every published table read
with pandas, pyarrow.dataset and DuckDB with no options, a copied warehouse, the guidance and the synthetic flag.

The tables are the real outputs (transforms/outputs.py) of the hand-built core of tests/cube_fixtures.py, published
with transforms/publish.py as four runs: département 38 in millésimes 2026-01 and 2026-02, 2A in 2026-01, 01 in
2026-02. A stand-in core_calibration (two groups) feeds the README's internal query.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow.dataset as ds
import pytest

import cube_fixtures as F
from transforms import outputs
from transforms import publish as pub
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
    tables = {t: built.tables[t] for t in ("out_indicateurs_public", "out_indicateurs", "out_audit_perimetre")}
    tables["core_etablissements"] = str(inputs["core_etablissements"])
    tables["core_calibration"] = calibration(tmp / "core_calibration.parquet")
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
                                         "core_etablissements", "core_calibration"}
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
                             for name in (table, table + pub.HISTORY_SUFFIX)}
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
