"""A run that crashes leaves the previous good outputs untouched: warehouse Parquet, catalog, report, cache.

Flows run with the stand-in steps of test_flows.py and the real publication (transforms.publish / warehouse); each
test publishes once, records every byte and every link of the warehouse, then makes a second run (with different
inputs, so that its outputs would differ) fail at one point and compares. Killing the process (kill -9) at every
stage of a publication is in test_publication.py.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ess import caching, db
from test_flows import inputs, prefect_harness, run, stubs, write_inputs  # noqa: F401 — fixtures
from transforms.steps import StepOutput


LOCK_FILE = ".ess.lock"  # its content (holder pid) changes on every acquisition


def snapshot(folder: Path) -> dict[str, bytes | str]:
    """Every file (its bytes) and every symbolic link (its target) under `folder`, links not followed."""
    out: dict[str, bytes | str] = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            rel = str(path.relative_to(folder))
            if path.is_symlink():
                out[rel] = "-> " + os.readlink(path)
            elif path.is_file() and name != LOCK_FILE:
                out[rel] = path.read_bytes()
    return out


def first_publication(inputs_root: Path, warehouse: Path) -> dict[str, bytes | str]:
    run(inputs_root, warehouse)
    before = snapshot(warehouse)
    assert any(k.endswith("out_indicateurs_public.parquet") for k in before)
    assert before["ess.duckdb"] == "-> courant/ess.duckdb" and (warehouse / "ess.duckdb").is_file()
    assert any(k.endswith("rapport.txt") for k in before)
    write_inputs(inputs_root, urssaf_lines=("2025;associations;120", "2025;mutuelles;7"))  # new outputs differ
    return before


def manifests(data_dir: Path) -> list[Path]:
    return sorted((data_dir / "runs").rglob("manifest.json"))


def no_leftovers(warehouse: Path) -> None:
    assert not list((warehouse / ".construction").iterdir())
    current = os.readlink(warehouse / "courant")
    assert all(f"versions/{p.name}" == current or (p / "publication.json").is_file()
               for p in (warehouse / "versions").iterdir())


def test_failure_while_writing_the_second_table_leaves_the_warehouse_identical(
        prefect_harness, stubs, inputs, data_dir, monkeypatch):
    warehouse = data_dir / "entrepot"
    before = first_publication(inputs, warehouse)
    real_export = db.export_select
    exports = []

    def failing_export(con, select, params, path, *args, **kw):
        if ".construction" in str(path):  # a publication, not a step
            exports.append(Path(path).name)
            if len(exports) == 2:
                raise OSError("disk full")
        return real_export(con, select, params, path, *args, **kw)

    monkeypatch.setattr(db, "export_select", failing_export)
    with pytest.raises(OSError, match="disk full"):
        run(inputs, warehouse)
    assert len(exports) == 2
    assert snapshot(warehouse) == before
    assert len(manifests(data_dir)) == 1  # the failed run wrote no manifest
    no_leftovers(warehouse)


def test_failure_while_building_the_new_version_leaves_the_current_one(
        prefect_harness, stubs, inputs, data_dir, monkeypatch):
    import transforms.publish as publish

    warehouse = data_dir / "entrepot"
    before = first_publication(inputs, warehouse)
    built = []

    def failing_catalog(root):
        # by now the new version holds every new partition and the report: the failure has something to undo
        built.append(sorted(p.name for p in Path(root).rglob("*.parquet")))
        raise RuntimeError("catalog: killed")

    monkeypatch.setattr(publish, "build_catalog", failing_catalog)
    with pytest.raises(RuntimeError, match="catalog: killed"):
        run(inputs, warehouse)
    assert "out_indicateurs_public.parquet" in built[0]
    assert snapshot(warehouse) == before


def test_failing_report_leaves_the_previous_report_in_place(prefect_harness, stubs, inputs, data_dir, monkeypatch):
    import test_flows

    warehouse = data_dir / "entrepot"
    before = first_publication(inputs, warehouse)

    def failing_report(tables, params, out_dir):
        (Path(out_dir) / "rapport.txt").write_text("half a report", encoding="utf-8")
        raise RuntimeError("matplotlib crashed")

    monkeypatch.setattr(test_flows, "fake_report", failing_report)
    with pytest.raises(RuntimeError, match="matplotlib crashed"):
        run(inputs, warehouse)
    assert snapshot(warehouse) == before  # the tables were not published without their report either
    no_leftovers(warehouse)


def test_crashing_step_leaves_no_cache_entry(data_dir):
    calls = []

    def compute(out_dir):
        calls.append(out_dir)
        con = db.connect()
        con.execute("CREATE TABLE core_x AS SELECT 1 AS a")
        written = db.export_tables(con, ["core_x"], out_dir)
        con.close()
        if len(calls) == 1:
            raise RuntimeError("killed after writing its table")
        return StepOutput(tables=written)

    src = data_dir / "in.csv"
    src.write_text("a\n1\n", encoding="utf-8")
    kwargs = {"inputs": {"in": src}, "params": {"p": 1}, "code": "c"}
    with pytest.raises(RuntimeError, match="killed"):
        caching.run_cached("core", compute, **kwargs)
    assert list((caching.cache_dir() / "core").iterdir()) == []  # neither entry nor temporary folder
    result = caching.run_cached("core", compute, **kwargs)
    assert not result.hit and len(calls) == 2
    again = caching.run_cached("core", compute, **kwargs)
    assert again.hit and len(calls) == 2 and again.output.tables == result.output.tables


# A computation of the step "core" that writes a file into its temporary folder, says so, then waits to be killed.
_COMPUTING = """
import sys, time
from pathlib import Path
from ess import caching

def compute(out_dir):
    (out_dir / "partie.parquet").write_bytes(b"x" * 100_000)
    print(out_dir, flush=True)
    time.sleep(600)

caching.run_cached("core", compute, inputs={}, params={"p": sys.argv[1]}, code="c")
"""


def test_a_killed_computation_leaves_a_folder_that_the_next_one_removes(data_dir):
    """kill -9 leaves the step's temporary folder (up to ≈ 22 GB for the national staging of every département): the
    next computation of the step removes it, but not the folder of a computation still running."""
    import signal
    import subprocess
    import sys

    from processes import alive

    children = [subprocess.Popen([sys.executable, "-c", _COMPUTING, p], stdout=subprocess.PIPE, text=True)
                for p in ("tuee", "vivante")]
    try:
        killed, running = (Path(child.stdout.readline().strip()) for child in children)
        os.kill(children[0].pid, signal.SIGKILL)
        children[0].wait()
        step_dir = caching.cache_dir() / "core"
        assert killed.is_dir() and (step_dir / f"{killed.name}.lock").is_file()  # what the kill leaves

        def compute(out_dir):
            con = db.connect()
            con.execute("CREATE TABLE core_x AS SELECT 1 AS a")
            written = db.export_tables(con, ["core_x"], out_dir)
            con.close()
            return StepOutput(tables=written)

        result = caching.run_cached("core", compute, inputs={}, params={"p": "apres"}, code="c")
        assert not killed.exists() and not (step_dir / f"{killed.name}.lock").exists()
        assert running.is_dir() and (running / "partie.parquet").is_file() and alive(children[1].pid)
        assert sorted(p.name for p in step_dir.iterdir()) == sorted([result.folder.name, running.name,
                                                                     f"{running.name}.lock"])
    finally:
        for child in children:
            child.kill()
            child.wait()


def test_step_writing_outside_its_folder_is_refused(data_dir, tmp_path):
    def compute(out_dir):
        con = db.connect()
        con.execute("CREATE TABLE core_x AS SELECT 1 AS a")
        written = db.export_tables(con, ["core_x"], tmp_path / "elsewhere")
        con.close()
        return StepOutput(tables=written)

    with pytest.raises(RuntimeError, match="outside its out_dir"):
        caching.run_cached("core", compute, inputs={}, params={}, code="c")
    assert list((caching.cache_dir() / "core").iterdir()) == []
