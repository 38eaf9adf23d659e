"""Test-wide settings: offline Prefect/matplotlib, private temporary homes, one data dir per test."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

_private = tempfile.mkdtemp(prefix="ess-tests-")
atexit.register(shutil.rmtree, _private, ignore_errors=True)  # each pytest process leaves no home behind
for key, value in {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "PREFECT_TELEMETRY_ENABLE_RESOURCE_METRICS": "false",
    "PREFECT_LOGGING_LEVEL": "WARNING",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
    "MPLBACKEND": "Agg",
}.items():
    os.environ.setdefault(key, value)
os.environ["PREFECT_HOME"] = os.path.join(_private, "prefect")
os.environ["MPLCONFIGDIR"] = os.path.join(_private, "mpl")

import pytest  # noqa: E402


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    """A private ESS_DATA_DIR so tests never touch the repository's data/ folder."""
    d = tmp_path / "data"
    d.mkdir()
    monkeypatch.setenv("ESS_DATA_DIR", str(d))
    return d


@pytest.fixture
def spill_failure(tmp_path):
    """DuckDB's own error when the disk of its temporary folder is full (a 1 MB bound on that folder stands in for
    the disk: DuckDB's bound defaults to the disk's free space, and reports both alike)."""
    import duckdb

    con = duckdb.connect()
    con.execute("SET memory_limit = '16MB'")
    con.execute(f"SET temp_directory = '{tmp_path / 'spill'}'")
    con.execute("SET max_temp_directory_size = '1MB'")
    try:
        con.execute("CREATE TABLE t AS SELECT md5(i::VARCHAR) AS h FROM range(1000000) r(i) ORDER BY h")
    except duckdb.OutOfMemoryException as exc:
        return exc
    finally:
        con.close()
    raise AssertionError("DuckDB sorted 1 M rows without spilling beyond 1 MB: the fixture needs a larger sort")
