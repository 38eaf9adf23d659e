"""A run that crashes leaves the previous good outputs untouched: warehouse Parquet, catalog, report, cache.

Flows run with the stand-in steps of test_flows.py and the real transforms.publish; each test publishes once,
records every byte of the warehouse, then makes a second run (with different inputs, so that its outputs would
differ) fail at one point and compares.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ess import caching, db
from test_flows import inputs, prefect_harness, run, stubs, write_inputs  # noqa: F401 — fixtures
from transforms.steps import StepOutput

# One temporary Prefect server per pytest worker: keep the flow tests on the same one.
pytestmark = pytest.mark.xdist_group("prefect")


LOCK_FILE = ".ess.lock"  # its content (holder pid) changes on every acquisition


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != LOCK_FILE}


def first_publication(inputs_root: Path, warehouse: Path) -> dict[str, bytes]:
    run(inputs_root, warehouse)
    before = snapshot(warehouse)
    assert any(k.endswith("out_indicateurs_public.parquet") for k in before)
    assert "ess.duckdb" in before and any(k.endswith("rapport.txt") for k in before)
    write_inputs(inputs_root, urssaf_lines=("2025;associations;120", "2025;mutuelles;7"))  # new outputs differ
    return before


def manifests(data_dir: Path) -> list[Path]:
    return sorted((data_dir / "runs").rglob("manifest.json"))


def test_failure_while_writing_the_second_table_leaves_the_warehouse_identical(
        prefect_harness, stubs, inputs, data_dir, monkeypatch):
    warehouse = data_dir / "entrepot"
    before = first_publication(inputs, warehouse)
    real_export = db.export_tables
    exports = []

    def failing_export(con, names, out_dir, **kw):
        if ".transactions" in str(out_dir):  # a publication, not a step
            exports.append(names)
            if len(exports) == 2:
                raise OSError("disk full")
        return real_export(con, names, out_dir, **kw)

    monkeypatch.setattr(db, "export_tables", failing_export)
    with pytest.raises(OSError, match="disk full"):
        run(inputs, warehouse)
    assert len(exports) == 2
    assert snapshot(warehouse) == before
    assert len(manifests(data_dir)) == 1  # the failed run wrote no manifest
    assert not list((warehouse / ".transactions").iterdir())


def test_failure_after_the_partitions_were_swapped_in_puts_them_back(
        prefect_harness, stubs, inputs, data_dir, monkeypatch):
    import transforms.publish as publish

    warehouse = data_dir / "entrepot"
    before = first_publication(inputs, warehouse)
    swapped = []

    def failing_catalog(folder):
        # by now every new partition is in place: the rollback has real work to do
        swapped.append(snapshot(warehouse) != before)
        raise RuntimeError("catalog: killed")

    monkeypatch.setattr(publish, "build_catalog", failing_catalog)
    with pytest.raises(RuntimeError, match="catalog: killed"):
        run(inputs, warehouse)
    assert swapped == [True]
    assert snapshot(warehouse) == before


def test_failing_report_leaves_the_previous_report_in_place(prefect_harness, stubs, inputs, data_dir, monkeypatch):
    import test_flows

    warehouse = data_dir / "entrepot"
    first_publication(inputs, warehouse)
    reports = {k: v for k, v in snapshot(warehouse).items() if k.startswith("rapports/")}

    def failing_report(tables, params, out_dir):
        (Path(out_dir) / "rapport.txt").write_text("half a report", encoding="utf-8")
        raise RuntimeError("matplotlib crashed")

    monkeypatch.setattr(test_flows, "fake_report", failing_report)
    with pytest.raises(RuntimeError, match="matplotlib crashed"):
        run(inputs, warehouse)
    assert {k: v for k, v in snapshot(warehouse).items() if k.startswith("rapports/")} == reports
    assert not list((warehouse / ".construction").iterdir())


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
