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
