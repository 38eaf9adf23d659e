"""One read of the national files for several départements (issue 10): three départements (38, 73, 2A) from one tiny
national stock, through the real flow — real staging of SIRENE and URSSAF, real publication, stand-in core,
outputs, checks and report (tests/test_flows.py) —, plus a département the files do not hold (971).

Known answers are counted by hand on the stock below.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from sirene_fixtures import etablissement, etablissement_periode, unite_legale, unite_legale_periode, write_snapshot

from ess.errors import InputFileError, UserError
from test_flows import CALLS, STUBS, prefect_harness  # noqa: F401 — fixture


ETABLISSEMENTS = [
    etablissement("10000000100011", "38185"),  # legal unit 100000001 has establishments in 38 and in 73
    etablissement("10000000100029", "73065", etablissementSiege="false"),
    etablissement("20000000200012", "2A004"),
    etablissement("20000000200020", "2A004", trancheEffectifsEtablissement="ZZ"),  # rejected, in 2A
    etablissement("30000000300015", "69123"),  # another département
    etablissement("40000000400018", ""),  # located nowhere: rejected once, for no département
    etablissement("50000000500011", "38421"),
]
STOCK = {
    "etablissements": ETABLISSEMENTS,
    "unites_legales": [unite_legale("100000001"), unite_legale("200000002"), unite_legale("300000003"),
                       unite_legale("500000005"), unite_legale("999999999")],
    "etablissements_historique": [etablissement_periode(e["siret"], "2001-02-03") for e in ETABLISSEMENTS],
    "unites_legales_historique": [unite_legale_periode("100000001", "2001-01-01"),
                                  unite_legale_periode("200000002", "2001-01-01")],
}
URSSAF_ESS = ["region;ancienne_region;departement;champ_ess;famille_ess;annee;code_region;code_ancienne_region;"
              "code_departement;nombre_d_etablissements;effectifs_salaries_moyens;masse_salariale"]
URSSAF_ESS += [f"R;AR;D;Oui;Associations;2024;84;82;{d};10;100,5;1000" for d in ("38", "73", "2A", "01")]
# (national, per département) rows by hand: read / staged / rejected / out of scope
EXPECTED_NATIONAL = {
    "staging_sirene_etablissements": (7, 4, 2, 1),
    "staging_sirene_unites_legales": (5, 3, 0, 2),
    "staging_sirene_etablissements_historique": (7, 4, 0, 3),
    "staging_sirene_unites_legales_historique": (2, 2, 0, 0),
    "staging_urssaf_ess_departement": (4, 3, 0, 1),
    "staging_urssaf_commune_ape": (4, 3, 0, 1),
}
EXPECTED_STAGED = {  # staged rows of each département (a legal unit of 38 and 73 is in both)
    "38": {"staging_sirene_etablissements": 2, "staging_sirene_unites_legales": 2,
           "staging_sirene_etablissements_historique": 2, "staging_sirene_unites_legales_historique": 1},
    "73": {"staging_sirene_etablissements": 1, "staging_sirene_unites_legales": 1,
           "staging_sirene_etablissements_historique": 1, "staging_sirene_unites_legales_historique": 1},
    "2A": {"staging_sirene_etablissements": 1, "staging_sirene_unites_legales": 1,
           "staging_sirene_etablissements_historique": 1, "staging_sirene_unites_legales_historique": 1},
}


def national_inputs(root: Path) -> Path:
    from sources import urssaf
    from sources.download import write_manifest
    from sources.sirene import _sha256

    snap = write_snapshot(root / "sirene" / "2026-10", STOCK, fmt="csv")
    # As `ess fetch` leaves it: the checksums come from the manifest, the files are read once, by the staging.
    write_manifest(snap, [{"name": f.name, "size": f.stat().st_size, "sha256": _sha256(f)}
                          for f in sorted(snap.glob("Stock*"))])
    folder = root / "urssaf" / "2025"
    folder.mkdir(parents=True)
    (folder / urssaf.SOURCE.file("ess_departement").filename).write_text("\n".join(URSSAF_ESS) + "\n",
                                                                         encoding="utf-8")
    header = list(urssaf.commune_ape_columns(2024, 2024))
    lines = [";".join(header)]
    for commune in ("38185", "73065", "2A004", "01004"):
        ids = {c: "" for c in urssaf.COMMUNE_APE_ID_COLUMNS}
        ids.update(code_departement=commune[:2], code_commune=commune, code_ape="8899B", code_epci="200040715",
                   code_zone_d_emploi="8416")
        lines.append(";".join([ids[c] for c in urssaf.COMMUNE_APE_ID_COLUMNS] + ["3", "12"]))
    (folder / urssaf.SOURCE.file("commune_ape").filename).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


@pytest.fixture
def stand_ins(monkeypatch):
    """Real staging (national and territories) and publication; stand-ins for core, outputs, checks and report."""
    import flows.pipeline as fp

    CALLS.clear()
    for name in ("core", "completeness", "outputs", "check", "report"):
        monkeypatch.setitem(fp.STEPS, name, STUBS[name])
    return CALLS


@pytest.fixture
def opened(monkeypatch):
    """Every opening of a national file (the SIRENE opener and the URSSAF reader), by file name."""
    from sources import sirene, urssaf

    names: list[str] = []
    real_open, real_read = sirene.open_stock, urssaf.read_file

    def open_stock(con, path, key, *args):
        names.append(Path(path).name)
        return real_open(con, path, key, *args)

    def read_file(con, path, *args, **kwargs):
        names.append(Path(path).name)
        return real_read(con, path, *args, **kwargs)

    monkeypatch.setattr(sirene, "open_stock", open_stock)
    monkeypatch.setattr(urssaf, "read_file", read_file)
    return names


def _manifest(data_dir: Path, dep: str, run_id: str) -> dict:
    return json.loads((data_dir / "runs" / f"dep{dep}" / run_id / "manifest.json").read_text(encoding="utf-8"))


def test_three_departements_from_one_read_of_the_national_files(prefect_harness, stand_ins, opened, data_dir):
    from flows.pipeline import ess_pipeline

    root = national_inputs(data_dir / "officiel")
    warehouse = data_dir / "entrepot"
    with pytest.raises(UserError) as failure:
        ess_pipeline(settings={"departements": ["38", "73", "2A", "971"], "input_dir": str(root),
                               "warehouse_dir": str(warehouse), "run_id": "R1"})
    # 971 is not in the national files: a message says so, and nothing of it is published; the others are.
    message = str(failure.value)
    assert message.startswith("1 of 4 départements failed (the others were published):\n- 971: publication "
                              "refused — nothing was published")
    assert ("département 971 is absent from the input: none of the 7 rows of "
            f"{root / 'sirene' / '2026-10' / 'StockEtablissement_utf8.zip'} is in 971") in message
    public = warehouse / "public" / "out_indicateurs_public"
    assert sorted(p.name for p in public.iterdir()) == ["departement_2A", "departement_38", "departement_73"]
    assert not (data_dir / "runs" / "dep971" / "R1" / "manifest.json").exists()

    # Each national file opened exactly once for the four départements; the territories are per département.
    national_files = ["StockEtablissement_utf8.zip", "StockUniteLegale_utf8.zip",
                      "StockEtablissementHistorique_utf8.zip", "StockUniteLegaleHistorique_utf8.zip",
                      "nombre-etab-effectifs-salaries-et-masse-salariale-ess-departements.csv",
                      "etablissements-et-effectifs-salaries-au-niveau-commune-x-ape-last.csv"]
    assert sorted(opened) == sorted(national_files)
    assert stand_ins["core"] == 3  # the département steps ran for 38, 73 and 2A only

    manifests = {d: _manifest(data_dir, d, "R1") for d in ("38", "73", "2A")}
    national = {s["table"]: (s["rows_read"], s["rows_staged"], s["rows_rejected_total"], s["rows_out_of_scope"])
                for source in ("sirene", "urssaf") for s in manifests["38"]["sources_nationales"][source]}
    assert national == EXPECTED_NATIONAL
    assert manifests["73"]["sources_nationales"] == manifests["38"]["sources_nationales"]
    for dep, manifest in manifests.items():
        for source in ("sirene", "urssaf"):
            for s in manifest["sources"][source]:
                assert s["departement"] == dep
                assert s["rows_read"] == s["rows_staged"] + s["rows_rejected_total"] + s["rows_out_of_scope"]
        staged = {s["table"]: s["rows_staged"] for s in manifest["sources"]["sirene"]}
        assert staged == EXPECTED_STAGED[dep]
        # the département's partition is linked into its run folder
        run_etab = data_dir / "runs" / f"dep{dep}" / "R1" / "staging" / "staging_sirene_etablissements.parquet"
        assert pq.read_table(run_etab).num_rows == EXPECTED_STAGED[dep]["staging_sirene_etablissements"]
    # the reject of 2A is 2A's; the establishment located nowhere is rejected once, in the national rejects only
    rejects_2a = pq.read_table(data_dir / "runs" / "dep2A" / "R1" / "staging" / "staging_rejets_sirene.parquet")
    assert rejects_2a.column("cle").to_pylist() == ["20000000200020"]
    assert rejects_2a.column("motif_rejet").to_pylist() == ["tranche d'effectifs inconnue"]
    everything = pq.read_table(manifests["38"]["rejets_nationaux"]["sirene"]).to_pylist()
    assert sorted((r["cle"], r["departements"]) for r in everything) == [
        ("20000000200020", ["2A"]), ("40000000400018", [])]
    assert all(not any(r["motif_rejet"] == "code commune absent (établissement non localisable)"
                       for r in pq.read_table(data_dir / "runs" / f"dep{d}" / "R1" / "staging" /
                                              "staging_rejets_sirene.parquet").to_pylist()) for d in manifests)
    # national identity: staged in some département + rejected once + out of every scope
    etab = manifests["38"]["sources_nationales"]["sirene"][0]
    per_dep_staged = sum(next(s["rows_staged"] for s in m["sources"]["sirene"]
                              if s["table"] == "staging_sirene_etablissements") for m in manifests.values())
    assert etab["rows_staged"] == per_dep_staged  # an establishment is in one département only


def test_a_second_run_reuses_the_national_staging_without_reading_anything(prefect_harness, stand_ins, opened,
                                                                          data_dir):
    from flows.pipeline import ess_pipeline

    root = national_inputs(data_dir / "officiel")
    params = {"departements": ["38", "73"], "input_dir": str(root), "warehouse_dir": str(data_dir / "entrepot")}
    first = ess_pipeline(settings=params)
    assert len(opened) == 6
    second = ess_pipeline(settings=params)
    assert len(opened) == 6  # nothing read again: the staging of {38, 73} comes from the cache
    for dep in ("38", "73"):
        cache = second["departements"][dep]["manifest"]["cache"]
        assert cache["stage_sirene"]["reutilise"] and cache["stage_urssaf"]["reutilise"]
        assert cache["stage_sirene"]["cle"] == first["departements"][dep]["manifest"]["cache"]["stage_sirene"]["cle"]
    # another set of départements is another staging (keyed on the set)
    ess_pipeline(settings={**params, "departements": ["38"]})
    assert len(opened) == 12


def test_cli_run_takes_several_departements(data_dir):
    import argparse

    from flows.cli import build_parser
    from ess.settings import Settings

    args = build_parser().parse_args(["run", "-d", "38", "73", "2a", "--no-report"])
    config = Settings.from_args(args)
    assert (config.departement, config.departements) == ("38", ["38", "73", "2A"])
    assert [c.departement for c in config.every_departement()] == ["38", "73", "2A"]
    with pytest.raises(UserError, match="unknown département '99'"):
        Settings.from_args(build_parser().parse_args(["run", "-d", "38", "99"]))
    assert isinstance(args, argparse.Namespace)


# --- the national read of a Parquet stock: partitions, staging behind the reads -------------------------------------

def _empty_stock(**files) -> dict:
    return {"etablissements": [], "unites_legales": [], "etablissements_historique": [],
            "unites_legales_historique": [], **files}


def test_a_departement_partition_is_the_same_file_staged_alone_or_with_others(tmp_path):
    """The loader writes each département's partitions itself (result.partitions), as each file is staged: one
    département's or several départements' at once, the same rows in the same order (by all columns)."""
    from ess.db import connect
    from sources import sirene

    folder = write_snapshot(tmp_path / "snap", STOCK, fmt="parquet")
    alone = sirene.load_national(connect(), folder, departements=["38"], millesime="2026-10",
                                 work_dir=tmp_path / "alone", metadata={"ess:synthetic": "true"})
    together = sirene.load_national(connect(), folder, departements=["73", "38", "2A"], millesime="2026-10",
                                    work_dir=tmp_path / "together", metadata={"ess:synthetic": "true"})
    assert sorted(alone.partitions) == sorted(sirene.TABLES)
    assert sorted(together.partitions["staging_sirene_unites_legales"]) == ["2A", "38", "73"]
    for table in sirene.TABLES:
        assert pq.read_table(alone.partitions[table]["38"]).to_pylist() == pq.read_table(
            together.partitions[table]["38"]).to_pylist()
    establishments = pq.read_table(alone.partitions["staging_sirene_etablissements"]["38"])
    assert establishments.column("siret").to_pylist() == ["10000000100011", "50000000500011"]
    assert "_departement" not in establishments.column_names
    assert pq.read_metadata(alone.partitions["staging_sirene_etablissements"]["38"]).metadata[
        b"ess:synthetic"] == b"true"
    units = pq.read_table(together.partitions["staging_sirene_unites_legales"]["73"])
    assert units.column("siren").to_pylist() == ["100000001"]  # the unit of 38 and 73 is in both


@pytest.mark.parametrize("fmt", ["parquet", "csv"])  # csv: the zipped CSV deliverable
def test_with_many_departements_each_table_is_written_out_and_dropped_before_the_next_read(tmp_path, monkeypatch,
                                                                                           fmt):
    """Above FRUGAL_DEPARTEMENTS, a file's partitions are written as soon as it is staged and its table dropped, so
    that one staged table is held at a time (the four of every département at 30 % of France did not leave the
    memory to sort one): the same partitions and accounting as the staging of a few départements."""
    from ess import db
    from ess.db import connect
    from sources import sirene

    folder = write_snapshot(tmp_path / "snap", STOCK, fmt=fmt)
    deps = ["73", "38", "2A"]
    few = sirene.load_national(connect(), folder, departements=deps, millesime="2026-10", work_dir=tmp_path / "few")
    held: dict[str, list[str]] = {}
    real_read = sirene._read_once

    def read_once(con, step, *args):
        held[step.key] = [t for t in sirene.TABLES
                          if con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = ?",
                                         [t]).fetchone()[0]]
        return real_read(con, step, *args)

    monkeypatch.setattr(db, "FRUGAL_DEPARTEMENTS", 2)
    monkeypatch.setattr(sirene, "_read_once", read_once)
    con = connect()
    many = sirene.load_national(con, folder, departements=deps, millesime="2026-10", work_dir=tmp_path / "many")
    assert held == {"etablissements": [], "unites_legales": [], "etablissements_historique": [],
                    "unites_legales_historique": []}
    assert not con.execute("SELECT table_name FROM duckdb_tables() WHERE table_name LIKE 'staging_sirene_%'"
                           ).fetchall()
    assert many.to_dict() == few.to_dict()
    assert sorted(many.partitions) == sorted(sirene.TABLES)
    for table in sirene.TABLES:
        assert sorted(many.partitions[table]) == ["2A", "38", "73"]
        rows = pq.read_table(many.partitions[table]["38"]).to_pylist()
        assert len(rows) == EXPECTED_STAGED["38"][table]
        assert rows == pq.read_table(few.partitions[table]["38"]).to_pylist()


def test_many_departements_are_staged_in_a_database_file_with_the_same_result(tmp_path, monkeypatch):
    """Above FRUGAL_DEPARTEMENTS the staging database is a file of the step's temporary folder, not memory (DuckDB
    keeps, beyond its bound, bookkeeping for every block of an in-memory table it spills): the same partitions, rows
    and accounting, and the file goes with the folder."""
    from ess import db
    from transforms import staging

    folder = write_snapshot(tmp_path / "snap", STOCK, fmt="parquet")
    databases: list[str] = []
    real_connect = db.connect

    def connect(path=":memory:", **kwargs):
        databases.append(str(path))
        return real_connect(path, **kwargs)

    monkeypatch.setattr(staging.db, "connect", connect)
    params = {"departements": ["73", "38", "2A"], "millesime": "2026-10", "synthetic": True}
    in_memory = staging.stage_national("sirene", folder, params, tmp_path / "memory")
    monkeypatch.setattr(db, "FRUGAL_DEPARTEMENTS", 2)
    on_disk = staging.stage_national("sirene", folder, params, tmp_path / "disk")

    assert databases[0] == ":memory:"
    assert Path(databases[1]).name == "staging.duckdb" and Path(databases[1]).parent.parent == tmp_path / "disk"
    assert not Path(databases[1]).exists()
    assert on_disk.stats == in_memory.stats
    assert sorted(on_disk.tables) == sorted(in_memory.tables)
    for name, path in in_memory.tables.items():
        assert pq.read_table(on_disk.tables[name]).to_pylist() == pq.read_table(path).to_pylist(), name
    partition = pq.read_table(on_disk.tables["departement=38/staging_sirene_etablissements"])
    assert partition.column("siret").to_pylist() == ["10000000100011", "50000000500011"]


@pytest.mark.parametrize("fmt, many", [("parquet", False), ("csv", False), ("parquet", True)])
def test_the_console_says_each_national_file_as_it_is_read_and_staged(tmp_path, monkeypatch, fmt, many):
    """A national read of every département lasts minutes a file: `ess run` says each file as it is read (its rows,
    its rank) and as it is staged (rows kept and rejected: the hand counts of EXPECTED_NATIONAL), whether it is
    staged behind the next read (Parquet), in turn (zips) or with many départements."""
    import io
    import re

    from ess import db, progress
    from ess.db import connect
    from sources import sirene

    console = io.StringIO()
    monkeypatch.setattr(progress, "_current", progress.Progress(console, heartbeat=0))
    if many:
        monkeypatch.setattr(db, "FRUGAL_DEPARTEMENTS", 2)
    folder = write_snapshot(tmp_path / "snap", STOCK, fmt=fmt)
    sirene.load_national(connect(), folder, departements=["73", "38", "2A"], millesime="2026-10",
                         work_dir=tmp_path / "work")
    said = re.findall(r"\] +· (\S+) (lu|mis en table) : (.*)\n", console.getvalue())
    files = {table: sirene.official_filename(key, fmt)
             for table, key in zip(sirene.TABLES, ("etablissements", "unites_legales", "etablissements_historique",
                                                   "unites_legales_historique"))}
    reads = [(f, f"{EXPECTED_NATIONAL[t][0]} lignes ({i}/4 fichiers)") for i, (t, f) in enumerate(files.items(), 1)]
    assert [(f, rest) for f, what, rest in said if what == "lu"] == reads
    staged = {f: f"{EXPECTED_NATIONAL[t][1]} lignes retenues, {EXPECTED_NATIONAL[t][2]} rejetées"
              for t, f in files.items()}
    assert {f: rest for f, what, rest in said if what == "mis en table"} == staged
    for f in files.values():  # each file is staged after it is read
        assert said.index(next(x for x in said if x[:2] == (f, "mis en table"))) > said.index(
            next(x for x in said if x[:2] == (f, "lu")))


def test_a_file_is_staged_while_the_next_one_is_read(tmp_path, monkeypatch):
    """Once a Parquet file is read, its rows are checked, staged and written in the background while the main
    thread reads the next file: here the legal units' staging waits until the read of the establishments' history
    has begun (it would wait in vain if the files were staged in turn), and the result is the same."""
    import threading

    from ess.db import connect
    from sources import sirene

    folder = write_snapshot(tmp_path / "snap", STOCK, fmt="parquet")
    expected = sirene.load_national(connect(), folder, departements=["38"], millesime="2026-10",
                                    work_dir=tmp_path / "before")
    history_read = threading.Event()
    seen: dict[str, bool] = {}
    real_read, real_stage = sirene._read_once, sirene._stage_kept

    def read_once(con, step, *args):
        if step.key == "etablissements_historique":
            history_read.set()
        return real_read(con, step, *args)

    def stage_kept(con, step, *args):
        if step.key == "unites_legales":
            seen["history read meanwhile"] = history_read.wait(timeout=20)
        return real_stage(con, step, *args)

    monkeypatch.setattr(sirene, "_read_once", read_once)
    monkeypatch.setattr(sirene, "_stage_kept", stage_kept)
    result = sirene.load_national(connect(), folder, departements=["38"], millesime="2026-10",
                                  work_dir=tmp_path / "behind")
    assert seen == {"history read meanwhile": True}
    assert result.to_dict() == expected.to_dict()


def test_a_failure_while_staging_behind_the_reads_stops_the_load(tmp_path, monkeypatch):
    """An error in the background staging is the load's error, and nothing is left running on the database."""
    import threading

    from ess.db import connect
    from ess.errors import InputFileError
    from sources import sirene

    folder = write_snapshot(tmp_path / "snap", STOCK, fmt="parquet")
    real_stage = sirene._stage_kept

    def stage_kept(con, step, *args):
        if step.key == "unites_legales":
            raise InputFileError("the legal units cannot be staged")
        return real_stage(con, step, *args)

    monkeypatch.setattr(sirene, "_stage_kept", stage_kept)
    with pytest.raises(InputFileError, match="the legal units cannot be staged"):
        sirene.load_national(connect(), folder, departements=["38"], millesime="2026-10", work_dir=tmp_path / "w")
    assert not [t for t in threading.enumerate() if t.name.startswith("sirene-staging")]


def test_the_establishments_staging_failing_behind_the_reads_gives_its_own_error(tmp_path, monkeypatch):
    """The next reads wait for the establishments' staging (they match on its keys): when it fails, its own error
    comes out (here DuckDB's memory bound, which stage_national turns into advice), never a missing table. The
    thread is slowed right after it says the staging is over: the old signal came before the error was recorded."""
    import threading
    import time

    import duckdb

    from ess.errors import UserError
    from sources import sirene
    from transforms.staging import stage_national

    folder = write_snapshot(tmp_path / "snap", STOCK, fmt="parquet")
    real_stage = sirene._stage_kept

    def stage_kept(con, step, *args):
        if step.key == "etablissements":
            raise duckdb.OutOfMemoryException("Out of Memory Error: could not allocate block of size 256.0 KiB")
        return real_stage(con, step, *args)

    class SlowEvent(threading.Event):
        def set(self):
            super().set()
            time.sleep(0.3)

    class SlowThreading:
        Event = SlowEvent

        def __getattr__(self, name):
            return getattr(threading, name)

    monkeypatch.setattr(sirene, "_stage_kept", stage_kept)
    monkeypatch.setattr(sirene, "threading", SlowThreading(), raising=False)
    with pytest.raises(UserError, match="set ESS_STAGING_MEMOIRE=1GB"):
        stage_national("sirene", folder, {"departements": ["38"], "millesime": "2026-10", "synthetic": True},
                       tmp_path / "out")


# A query of seconds to minutes, whichever the machine: it ends in time only when interrupted.
_A_LONG_QUERY = "SELECT sum(hash(i)) FROM range(1000000000) t(i)"


def _run_long_query(con, log: list) -> None:
    """_A_LONG_QUERY, logging whether it was interrupted or finished (an interruption is raised on)."""
    import duckdb

    try:
        con.execute(_A_LONG_QUERY).fetchall()
    except duckdb.InterruptException:
        log.append("interrupted")
        raise
    log.append("finished")


def _history_fails_once_staging(monkeypatch, staging, failure: BaseException) -> list[str]:
    """The read of the establishments' history raises `failure` once `staging` is set; the tables whose partitions
    get written are logged in the list returned."""
    from sources import sirene

    real_read, real_write, written = sirene._read_once, sirene._write_partitions, []

    def write_partitions(con, step, *args):
        written.append(step.key)
        return real_write(con, step, *args)

    def read_once(con, step, *args):
        if step.key == "etablissements_historique":
            staging.wait(timeout=60)
            raise failure
        return real_read(con, step, *args)

    monkeypatch.setattr(sirene, "_write_partitions", write_partitions)
    monkeypatch.setattr(sirene, "_read_once", read_once)
    return written


def _database_state(con) -> tuple:
    """What a failed load must leave as it found: the settings the reads change for a while, and a working
    database."""
    return con.execute("SELECT current_setting('threads'), current_setting('memory_limit'), "
                       "current_setting('preserve_insertion_order'), 42").fetchone()


def test_a_failure_behind_the_reads_interrupts_the_read_in_progress(tmp_path, monkeypatch):
    """The legal units' staging fails while the establishments' history is read (a read of minutes at national
    scale): the read is interrupted rather than finished, whether its query starts before or after the failure (an
    interruption that comes before its query is lost), and the staging's error is the load's. The read had changed a setting
    for a while and could not put it back (its restoring can be what the interruption stops): the load does."""
    import threading

    import duckdb

    from ess.db import connect
    from sources import sirene

    folder = write_snapshot(tmp_path / "snap", STOCK, fmt="parquet")
    history = sirene.find_stock(folder, "etablissements_historique")
    real_copy, real_stage = sirene.copy_parts, sirene._stage_kept
    reading, read = threading.Event(), []

    def stage_kept(con, step, *args):
        if step.key == "unites_legales":
            reading.wait(timeout=60)
            raise duckdb.OutOfMemoryException("Out of Memory Error: could not allocate block of size 256.0 KiB")
        return real_stage(con, step, *args)

    def copy_parts(con, stock, *args, **kwargs):
        if stock.path == history:
            con.execute("SET preserve_insertion_order = false")
            reading.set()
            _run_long_query(con, read)
        return real_copy(con, stock, *args, **kwargs)

    monkeypatch.setattr(sirene, "_stage_kept", stage_kept)
    monkeypatch.setattr(sirene, "copy_parts", copy_parts)
    con = connect()
    before = _database_state(con)
    with pytest.raises(duckdb.OutOfMemoryException, match="could not allocate"):
        sirene.load_national(con, folder, departements=["38"], millesime="2026-10", work_dir=tmp_path / "w")
    assert read == ["interrupted"]
    assert _database_state(con) == before
    assert not [t for t in threading.enumerate() if t.name.startswith("sirene-")]


@pytest.mark.parametrize("failure", [InputFileError("the history cannot be read"), KeyboardInterrupt()],
                         ids=["read-error", "ctrl-c"])
def test_a_failed_read_stops_the_staging_behind_it(tmp_path, monkeypatch, failure):
    """The read of the establishments' history fails, or Ctrl-C stops it, while the legal units are staged behind
    it: their staging is interrupted rather than waited for — even when the failure comes before its query starts,
    as here —, their partitions are not written, the read's error is the load's, and the database is left usable."""
    import threading

    from ess.db import connect
    from sources import sirene

    folder = write_snapshot(tmp_path / "snap", STOCK, fmt="parquet")
    real_stage = sirene._stage_kept
    staging, staged = threading.Event(), []

    def stage_kept(con, step, *args):
        if step.key == "unites_legales":
            staging.set()
            _run_long_query(con, staged)
        return real_stage(con, step, *args)

    monkeypatch.setattr(sirene, "_stage_kept", stage_kept)
    written = _history_fails_once_staging(monkeypatch, staging, failure)
    con = connect()
    before = _database_state(con)
    with pytest.raises(type(failure)) as raised:
        sirene.load_national(con, folder, departements=["38"], millesime="2026-10", work_dir=tmp_path / "w")
    assert raised.value is failure
    assert staged == ["interrupted"]
    assert written == ["etablissements"]
    assert _database_state(con) == before


def test_a_staging_that_ends_as_the_read_fails_writes_no_partitions(tmp_path, monkeypatch):
    """The legal units' staging ends just as the read behind which it runs fails (here it misses the interruption):
    its partitions are not written, since the load is failing."""
    import threading

    import duckdb

    from ess.db import connect
    from sources import sirene

    folder = write_snapshot(tmp_path / "snap", STOCK, fmt="parquet")
    real_stage = sirene._stage_kept
    staging = threading.Event()

    def stage_kept(con, step, *args):
        outcome = real_stage(con, step, *args)
        if step.key == "unites_legales":
            staging.set()
            try:  # the end of a staging that the interruption misses
                con.execute(_A_LONG_QUERY).fetchall()
            except duckdb.InterruptException:
                pass
        return outcome

    monkeypatch.setattr(sirene, "_stage_kept", stage_kept)
    written = _history_fails_once_staging(monkeypatch, staging, InputFileError("the history cannot be read"))
    with pytest.raises(InputFileError, match="the history cannot be read"):
        sirene.load_national(connect(), folder, departements=["38"], millesime="2026-10", work_dir=tmp_path / "w")
    assert written == ["etablissements"]


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_a_value_is_too_long_by_its_characters_not_its_bytes(tmp_path, fmt):
    """The read measures a value's bytes first (cheap) and counts characters only beyond the limit's worth of bytes:
    a 1 000-character sign of two-byte letters is kept, one of 1 001 characters is rejected."""
    from ess.db import connect
    from sources import sirene

    rows = [etablissement("10000000000001", "38185", enseigne1Etablissement="é" * sirene.MAX_FIELD_CHARS),
            etablissement("20000000000002", "38185", enseigne1Etablissement="é" * (sirene.MAX_FIELD_CHARS + 1))]
    folder = write_snapshot(tmp_path / "snap", _empty_stock(etablissements=rows), fmt=fmt)
    con = connect()
    result = sirene.load_national(con, folder, departements=["38"], millesime="2026-10", work_dir=tmp_path / "w")
    stats = result.national[0]
    assert (stats.rows_staged, stats.rows_rejected) == (1, {"valeur trop longue": 1})
    assert con.execute("SELECT cle, colonne, length(valeur) > 200 FROM staging_rejets").fetchall() == [
        ("20000000000002", "enseigne1Etablissement", True)]
    assert con.execute("SELECT length(enseigne) FROM staging_sirene_etablissements").fetchall() == [(1000,)]


def test_a_frugal_read_waits_until_no_staging_runs_beside_it(tmp_path, monkeypatch):
    """DuckDB's threads and memory bound are the database's: a file read frugally (many keys) waits for the staging
    behind the reads to be done, or their settings would cross. Here the legal units (one siren) would be staged
    behind the read of the establishments' history (two sirets: many keys with PARALLEL_KEYS_MAX = 1)."""
    import threading

    from ess.db import connect
    from sources import sirene

    rows = [etablissement("10000000100011", "38185"), etablissement("10000000100029", "38185")]
    folder = write_snapshot(tmp_path / "snap", _empty_stock(
        etablissements=rows, unites_legales=[unite_legale("100000001")],
        etablissements_historique=[etablissement_periode(r["siret"], "2001-02-03") for r in rows]), fmt="parquet")
    monkeypatch.setattr(sirene, "PARALLEL_KEYS_MAX", 1)
    running, beside, units_staging, frugal_read = set(), [], threading.Event(), threading.Event()
    real_stage, real_frugal = sirene._stage_parts, sirene.frugal

    def stage_parts(con, step, *args, **kwargs):
        running.add(step.key)
        try:
            if step.key == "unites_legales":
                units_staging.set()
                frugal_read.wait(timeout=2)  # were the next read not waiting, it would begin meanwhile
            return real_stage(con, step, *args, **kwargs)
        finally:
            running.discard(step.key)

    def frugal(con, on=True):
        if on and threading.current_thread() is threading.main_thread():
            units_staging.wait(timeout=2)  # (the legal units' staging has begun, or is over)
            beside.append(sorted(running))
            frugal_read.set()
        return real_frugal(con, on)

    monkeypatch.setattr(sirene, "_stage_parts", stage_parts)
    monkeypatch.setattr(sirene, "frugal", frugal)
    result = sirene.load_national(connect(), folder, departements=["38"], millesime="2026-10", work_dir=tmp_path / "w")
    assert beside and all(b == [] for b in beside)  # the frugal read (and its staging) had no staging beside them
    assert [s.rows_staged for s in result.national] == [2, 1, 2, 0]


# --- legal units and histories whose establishments were rejected (review_ux3 L3) -----------------------------------

# STOCK plus two establishments of 38 rejected, their legal units and history rows:
# - 60000000600099 is not siren 600000006 + nic 00014 (the forced run of the review rejected 7 504 such rows): its
#   unit, the unit's history and its own history — under either siret — have no kept establishment anywhere;
# - 20000000200038 (unknown size band) belongs to the unit 200000002, kept in 2A through 20000000200012: for 38 the
#   unit is without a kept establishment, nationally it is staged.
# The unit 400000004 of the establishment located nowhere (rejected for no département) is plainly out of scope.
REJECTED_IN_38 = [etablissement("60000000600099", "38185", siren="600000006", nic="00014"),
                  etablissement("20000000200038", "38421", trancheEffectifsEtablissement="ZZ")]
STOCK_REJECTED_IN_38 = {
    "etablissements": ETABLISSEMENTS + REJECTED_IN_38,
    "unites_legales": STOCK["unites_legales"] + [unite_legale("600000006"), unite_legale("400000004")],
    "etablissements_historique": [etablissement_periode(e["siret"], "2001-02-03")
                                  for e in ETABLISSEMENTS + REJECTED_IN_38]
    + [etablissement_periode("60000000600014", "2001-02-03")],
    "unites_legales_historique": STOCK["unites_legales_historique"] + [
        unite_legale_periode("600000006", "2001-01-01"), unite_legale_periode("400000004", "2001-01-01")],
}
# read / staged / rejected / out of scope / of which without a kept establishment, counted by hand
EXPECTED_WITHOUT_KEPT = {
    None: {"staging_sirene_etablissements": (9, 4, 4, 1, 0),
           # 300000003 (69), 999999999 (nobody's), 400000004 (located nowhere); 600000006
           "staging_sirene_unites_legales": (7, 3, 0, 4, 1),
           # 30000000300015 (69), 40000000400018 (nowhere); 20000000200020 (2A), 60000000600099, 60000000600014,
           # 20000000200038
           "staging_sirene_etablissements_historique": (10, 4, 0, 6, 4),
           "staging_sirene_unites_legales_historique": (4, 2, 0, 2, 1)},
    "38": {"staging_sirene_etablissements": (9, 2, 2, 5, 0),
           "staging_sirene_unites_legales": (7, 2, 0, 5, 2),  # 600000006 and 200000002 (kept in 2A only)
           "staging_sirene_etablissements_historique": (10, 2, 0, 8, 3),
           "staging_sirene_unites_legales_historique": (4, 1, 0, 3, 2)},
    "73": {"staging_sirene_etablissements": (9, 1, 0, 8, 0), "staging_sirene_unites_legales": (7, 1, 0, 6, 0),
           "staging_sirene_etablissements_historique": (10, 1, 0, 9, 0),
           "staging_sirene_unites_legales_historique": (4, 1, 0, 3, 0)},
    "2A": {"staging_sirene_etablissements": (9, 1, 1, 7, 0),
           "staging_sirene_unites_legales": (7, 1, 0, 6, 0),  # 200000002 has a kept establishment in 2A
           "staging_sirene_etablissements_historique": (10, 1, 0, 9, 1),  # 20000000200020's own history
           "staging_sirene_unites_legales_historique": (4, 1, 0, 3, 0)},
}


@pytest.mark.parametrize("split", [False, True], ids=["one-read", "split-by-key-share"])
@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_rows_whose_establishments_were_rejected_are_counted_apart_from_out_of_scope(tmp_path, fmt, split,
                                                                                     monkeypatch):
    """A legal unit (a history row) whose establishments of a département were all rejected is not « hors champ »
    for want of being of the département: it is counted « sans établissement retenu », a share of out of scope, for
    the département and, when no établissement is kept anywhere, nationally; read = staged + rejected + out of
    scope still holds everywhere, and nothing is staged of it. The same when the files matched on keys are read
    split by key share (one key per share here; millions of keys in real runs): each share kept on its own keys."""
    from ess.db import connect
    from sources import sirene

    splits = []
    if split:
        monkeypatch.setattr(sirene, "MATCHED_KEYS_PER_SHARE", 1)
        real = sirene._keep_by_share
        monkeypatch.setattr(sirene, "_keep_by_share", lambda con, step, *a: splits.append(step.key) or real(
            con, step, *a))
    folder = write_snapshot(tmp_path / "snap", STOCK_REJECTED_IN_38, fmt=fmt)
    con = connect()
    result = sirene.load_national(con, folder, departements=["38", "73", "2A"], millesime="2026-10",
                                  work_dir=tmp_path / "w")
    counts = {None: result.national, **result.par_departement}
    for dep, expected in EXPECTED_WITHOUT_KEPT.items():
        assert {s.table: (s.rows_read, s.rows_staged, s.rejected_total, s.rows_out_of_scope,
                          s.rows_without_kept_establishment) for s in counts[dep]} == expected, dep
        for s in counts[dep]:
            assert s.rows_read == s.rows_staged + s.rejected_total + s.rows_out_of_scope
    # what the manifest records, nationally and per département
    recorded = result.to_dict()
    assert [s["rows_without_kept_establishment"] for s in recorded["national"]] == [0, 1, 4, 1]
    assert [s["rows_without_kept_establishment"] for s in recorded["departements"]["38"]] == [0, 2, 3, 2]
    assert sorted(con.execute("SELECT DISTINCT siren FROM staging_sirene_unites_legales").fetchall()) == [
        ("100000001",), ("200000002",), ("500000005",)]
    assert not con.execute("SELECT count(*) FROM staging_rejets WHERE table_staging <> ?",
                           [sirene.TABLES[0]]).fetchone()[0]
    # a single département: the same share of 38
    alone = sirene.load_national(connect(), folder, departements=["38"], millesime="2026-10",
                                 work_dir=tmp_path / "alone")
    assert [s.rows_without_kept_establishment for s in alone.par_departement["38"]] == [0, 2, 3, 2]
    # nationally for 38 alone, 200000002 has no kept establishment either
    assert [s.rows_without_kept_establishment for s in alone.national] == [0, 2, 3, 2]
    assert splits == (2 * ["unites_legales", "etablissements_historique", "unites_legales_historique"] if split
                      else [])


def test_an_accounting_whose_rows_without_kept_establishment_exceed_out_of_scope_is_a_bug():
    from ess.accounting import FileStats, ReconciliationError

    stats = FileStats(source="sirene", table="staging_sirene_unites_legales", file="/in/UL.parquet",
                      millesime="2026-10", rows_read=10, rows_staged=8, rows_out_of_scope=2,
                      rows_without_kept_establishment=3, departement="38")
    with pytest.raises(ReconciliationError, match=r"/in/UL.parquet \(département 38\): 3 rows without a kept "
                                                  r"establishment, but they are a share of the 2 rows out of scope"):
        stats.check()


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_an_empty_file_read_split_by_key_share_reads_as_empty(tmp_path, fmt, monkeypatch):
    """Read split by key share, a file matched on keys without a single row gives what the unsplit read gives: no
    row read, staged or rejected (the guards then judge the run)."""
    from ess.db import connect
    from sources import sirene

    folder = write_snapshot(tmp_path / "snap", {**STOCK_REJECTED_IN_38, "unites_legales": []}, fmt=fmt)
    results = []
    for per_share in (sirene.MATCHED_KEYS_PER_SHARE, 1):
        monkeypatch.setattr(sirene, "MATCHED_KEYS_PER_SHARE", per_share)
        con = connect()
        result = sirene.load_national(con, folder, departements=["38", "73"], millesime="2026-10",
                                      work_dir=tmp_path / f"w{per_share}")
        results.append((result.to_dict(), con.execute("SELECT count(*) FROM staging_sirene_unites_legales").fetchone()))
    assert results[0] == results[1]
    assert [(s["rows_read"], s["rows_staged"]) for s in results[0][0]["national"]][1] == (0, 0)
