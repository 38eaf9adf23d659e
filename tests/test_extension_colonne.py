"""The worked change of docs/CONTRIBUTING.md « a new column »: ONE line of sql/dictionnaire/colonnes.csv + its SQL.

Made in a temporary copy of sql/ (the repository is never edited): core_etablissements gets `largeur_tranche`, the
width of the establishment's SIRENE size band. The steps then run on a tiny sample (core, outputs, check,
publication), and the column is everywhere the dictionary says: in the published Parquet file with its type and
description, in the data dictionary, in the catalog's comment and in the expectations of the check step (a value
breaking its minimum fails the check, naming it). Without its line, the same SQL is refused by the check and by the
publication, naming the table and the column.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

import tiny_run
from ess import db, paths
from ess.errors import UserError
from transforms import checks
from transforms import publish as pub

ENTRY = {"colonne": "largeur_tranche", "type": "DOUBLE", "unite": "salariés", "tables": "core_etablissements",
         "minimum": "0", "description": "Largeur de la tranche d'effectifs SIRENE de l'établissement (borne haute "
                                        "moins borne basse) ; NULL pour la tranche ouverte et sans tranche"}
SQL_BEFORE = "FROM core_etablissements_prep AS p"
SQL_COLUMN = ",\n       p.effectif_tranche_haut - p.effectif_tranche_bas AS largeur_tranche\n"
REPOSITORY_SQL = paths.SQL_DIR


def _sql_copy(folder: Path, *, with_entry: bool) -> Path:
    """A copy of sql/ with the new column in core_etablissements.sql and, when asked, its dictionary line."""
    sql = folder / "sql"
    shutil.copytree(REPOSITORY_SQL, sql)
    path = sql / "core" / "core_etablissements.sql"
    text = path.read_text(encoding="utf-8")
    assert text.count(SQL_BEFORE) == 1
    head, tail = text.split(SQL_BEFORE)
    path.write_text(head.rstrip() + SQL_COLUMN + SQL_BEFORE + tail, encoding="utf-8")
    if with_entry:
        add_entry(sql / "dictionnaire" / "colonnes.csv")
    return sql


def _use(monkeypatch, sql: Path) -> None:
    """The steps read `sql` instead of the repository's sql/."""
    monkeypatch.setattr(paths, "SQL_DIR", sql)
    monkeypatch.setattr(db, "SQL_DIR", sql)


@pytest.fixture(scope="module")
def changed_run(tmp_path_factory):
    """The steps of a run (staging, core, outputs) on a tiny sample, with the change: the new column and its line."""
    root = tmp_path_factory.mktemp("extension")
    sql = _sql_copy(root / "avec", with_entry=True)
    with pytest.MonkeyPatch.context() as monkeypatch:
        _use(monkeypatch, sql)
        inputs, params = tiny_run.sample_inputs(root / "echantillon", scale=0.01)
        tables = tiny_run.build(tiny_run.stage_all(inputs, params, root / "staging"), params, root / "run")
    return sql, tables, params


def add_entry(path: Path) -> None:
    with open(path, encoding="utf-8", newline="") as f:
        fields = csv.DictReader(f).fieldnames
    with open(path, "a", encoding="utf-8", newline="") as f:
        csv.DictWriter(f, fieldnames=fields, lineterminator="\n").writerow(ENTRY)


def _manifest(params: dict) -> dict:
    return {"run_id": params["run_id"], "parametres": params, "synthetic": True, "snapshots": {},
            "checks": {"headline": {}}, "garde_fous": {"constats": [], "publication_forcee": False}}


def test_a_new_column_is_one_dictionary_line_and_its_sql(changed_run, tmp_path, monkeypatch):
    sql, tables, params = changed_run
    _use(monkeypatch, sql)

    produced = pq.read_schema(tables["core_etablissements"])
    assert str(produced.field("largeur_tranche").type) == "double"
    con = duckdb.connect()
    widths = dict(con.execute(
        f"SELECT tranche_effectifs, any_value(largeur_tranche) FROM read_parquet('{tables['core_etablissements']}') "
        "GROUP BY 1").fetchall())
    assert widths["12"] == 29.0 and widths["03"] == 3.0  # 20-49 and 6-9 salariés (tranches_effectifs.csv)
    assert "out_indicateurs_public" in tables  # the outputs ran on the changed core

    # the expectations of the check step: every table of the run passes, the new column is checked (its minimum)
    every = checks.validate_tables(_attached(tables, *tables), sorted(tables))
    assert {t: s["echecs"] for t, s in every.items() if s["echecs"]} == {}
    assert {t: s["colonnes_absentes"] for t, s in every.items() if s["colonnes_absentes"]} == {}
    # a value breaking the entry's minimum fails the check, naming the column
    broken = tmp_path / "casse.parquet"
    con.execute(f"COPY (SELECT * REPLACE (CASE WHEN tranche_effectifs = '12' THEN -1.0 ELSE largeur_tranche END AS "
                f"largeur_tranche) FROM read_parquet('{tables['core_etablissements']}')) TO '{broken}'")
    after = checks.validate_tables(_attached({"core_etablissements": broken}, "core_etablissements"),
                                   ["core_etablissements"])["core_etablissements"]
    assert after["expectations"] == every["core_etablissements"]["expectations"]
    assert [(f["column"], f["expectation"], f["exemples"]) for f in after["echecs"]] == [
        ("largeur_tranche", "expect_column_values_to_be_between", ["-1.0"])]
    with pytest.raises(checks.CheckError, match=r'"core_etablissements": \[\{"expectation": '
                                                r'"expect_column_values_to_be_between", "column": "largeur_tranche"'):
        checks.check({"core_etablissements": str(broken)}, params)

    # the publication: Parquet type and description, data dictionary, catalog comment
    warehouse = tmp_path / "entrepot"
    pub.publish(tables, params, _manifest(params), warehouse)
    (published,) = (warehouse / "interne" / "core_etablissements").rglob("*.parquet")
    schema = pq.read_schema(published)
    assert str(schema.field("largeur_tranche").type) == "double"
    described = json.loads(schema.metadata[b"dictionnaire:colonnes"])["largeur_tranche"]
    assert described == {"type": "DOUBLE", "unite": "salariés", "description": ENTRY["description"],
                         "contrainte": ">= 0"}
    with open(warehouse / "dictionnaire_donnees.csv", encoding="utf-8", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["colonne"] == "largeur_tranche"]
    assert rows == [{"table": "core_etablissements", "colonne": "largeur_tranche", "type": "DOUBLE",
                     "unite": "salariés", "description": ENTRY["description"], "contrainte": ">= 0"}]
    assert "| largeur_tranche | DOUBLE | salariés |" in (warehouse / "dictionnaire_donnees.md").read_text("utf-8")
    catalog = pub.open_catalog(warehouse)
    try:
        comments = dict(catalog.execute(
            "SELECT table_name, comment FROM duckdb_columns() WHERE column_name = 'largeur_tranche'").fetchall())
    finally:
        catalog.close()
    assert comments == {"core_etablissements": ENTRY["description"] + " [salariés] (>= 0)",
                        "core_etablissements_historique": ENTRY["description"] + " [salariés] (>= 0)"}


def test_a_column_without_its_dictionary_line_is_refused(changed_run, tmp_path, monkeypatch):
    # the same SQL, the dictionary without the new line
    _, tables, params = changed_run
    _use(monkeypatch, _sql_copy(tmp_path, with_entry=False))
    assert "largeur_tranche" in pq.read_schema(tables["core_etablissements"]).names  # the SQL made it
    with pytest.raises(checks.CheckError) as refused:
        checks.check({"core_etablissements": tables["core_etablissements"]}, params)
    assert ('"core_etablissements": [{"expectation": "colonne_decrite", "column": "largeur_tranche", "message": '
            '"column largeur_tranche of table core_etablissements has no entry in ') in str(refused.value)
    with pytest.raises(UserError, match=r"^core_etablissements cannot be published: column largeur_tranche of table "
                                        r"core_etablissements has no entry in .*colonnes.csv"):
        pub.publish(tables, params, _manifest(params), tmp_path / "entrepot")
    assert not (tmp_path / "entrepot" / "courant").exists()


def _attached(tables: dict, *names: str):
    con = db.connect()
    db.attach_tables(con, {n: Path(tables[n]) for n in names})
    return con
