"""The same inputs give the same figures, bit for bit, however DuckDB schedules its threads.

A sum of floating-point numbers depends on the order it adds them in. Under several threads DuckDB's aggregates and
windows add in an order that changes from run to run, so the cube's employment moved by ~1e-12 between two builds
of the same data. The statistical protection then broke some ties differently: two publications of one millésime
masked different cells, which together could reveal what each one hides. The core and the cube are therefore built
on one thread (transforms/core.py, transforms/outputs.py), and this checks it on a connection allowed four.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import tiny_run
from ess import db
from transforms import outputs
from transforms.core import build_core


@pytest.fixture(scope="module")
def staged(tmp_path_factory):
    root = tmp_path_factory.mktemp("reproductible")
    inputs, params = tiny_run.sample_inputs(root / "echantillon", scale=0.01)
    return root, tiny_run.stage_all(inputs, params, root / "staging"), params


def _frames(written: dict[str, str]) -> dict[str, pd.DataFrame]:
    return {name: pd.read_parquet(path) for name, path in sorted(written.items())}


def test_two_core_builds_are_identical(staged):
    root, tables, params = staged
    first, second = (build_core({k: Path(v) for k, v in tables.items()}, params, root / f"core{i}") for i in (1, 2))
    a, b = _frames(first.tables), _frames(second.tables)
    assert sorted(a) == sorted(b)
    for name in a:
        pd.testing.assert_frame_equal(a[name], b[name], check_exact=True, obj=name)


def _cube(tables: dict[str, str], params: dict) -> pd.DataFrame:
    con = db.connect(threads=4)
    try:
        db.attach_tables(con, {k: v for k, v in tables.items()
                               if k in outputs.REQUIRED or k in outputs.OPTIONAL or k == "core_communes"})
        outputs.build_cube(con, params)
        assert con.execute("SELECT current_setting('threads')").fetchone()[0] == 4  # the caller's setting is back
        return con.execute(f"SELECT * FROM {outputs.CUBE} ORDER BY ALL").df()
    finally:
        con.close()


def test_two_cube_builds_are_identical(staged):
    root, tables, params = staged
    core = build_core({k: Path(v) for k, v in tables.items()}, params, root / "core")
    everything = {**tables, **core.tables}
    a, b = _cube(everything, params), _cube(everything, params)
    assert len(a) > 1000 and a["effectif_central"].notna().any()
    pd.testing.assert_frame_equal(a, b, check_exact=True)
