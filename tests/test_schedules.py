"""Schedules: the monthly and yearly deployments, `ess serve`, and a served deployment actually triggered by a
Prefect server (integration test, marked `server`: a real `prefect server` on a free loopback port and
`ess serve` in subprocesses, everything stopped by the test)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from test_flows import write_inputs

TESTS = Path(__file__).resolve().parent
VENV_BIN = Path(sys.executable).parent


def test_monthly_and_yearly_deployments():
    from ess.settings import Settings
    from flows.deployments import build_deployments

    monthly, yearly = build_deployments(Settings(departement="38", download=True, warehouse_dir="/srv/entrepot",
                                                 reference_dir=str(TESTS)))
    assert (monthly.name, yearly.name) == ("mensuel-dep38", "annuel-dep38")
    assert [(s.schedule.cron, s.schedule.timezone) for s in monthly.schedules] == [("0 6 5 * *", "Europe/Paris")]
    assert [(s.schedule.cron, s.schedule.timezone) for s in yearly.schedules] == [("0 6 15 10 *", "Europe/Paris")]
    # the settings, whole, as the flow's one parameter: every step setting a user can give, none left out
    settings = monthly.parameters["settings"]
    assert settings == {"reference_dir": str(TESTS), "departement": "38", "millesime": None, "annee_urssaf": None,
                        "annee_cog": None, "calage": True, "perimetre": "insee", "perimetres_cube": None,
                        "secret_passe_detail": False, "download": True, "input_dir": None, "sample_scale": 1.0,
                        "warehouse_dir": "/srv/entrepot", "force": False, "report": False}
    assert yearly.parameters["settings"]["report"] is True and yearly.parameters["settings"]["download"] is True
    assert monthly.entrypoint == "flows.pipeline.ess_pipeline"  # importable from any working directory


def test_deployments_are_validated_when_built():
    from ess.errors import UserError
    from ess.settings import Settings
    from flows.deployments import build_deployments

    with pytest.raises(UserError, match="unknown département '99'"):
        build_deployments(Settings(departement="99"))


def test_scheduled_runs_are_never_forced():
    """--force is for one run a researcher watches: served, every monthly run would publish past every guard."""
    from ess.errors import UserError
    from ess.settings import Settings
    from flows.deployments import build_deployments

    with pytest.raises(UserError, match=r"never the scheduled ones"):
        build_deployments(Settings(departement="38", force=True))
    done = subprocess.run([str(VENV_BIN / "ess"), "serve", "--sample", "--force"], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2 and "unrecognized arguments: --force" in done.stderr


def test_interval_replaces_the_crons_for_trials():
    from ess.settings import Settings
    from flows.deployments import MONTHLY, build_deployments

    (only,) = build_deployments(Settings(departement="73", sample_scale=0.01), interval=30, kinds=(MONTHLY,))
    assert only.schedules[0].schedule.interval.total_seconds() == 30
    settings = only.parameters["settings"]
    assert settings["sample_scale"] == 0.01 and settings["download"] is False and settings["departement"] == "73"


def _env(tmp_path: Path, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    env.update({
        "PREFECT_HOME": str(tmp_path / "prefect-home"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1",
        "PREFECT_TELEMETRY_ENABLE_RESOURCE_METRICS": "false", "PREFECT_LOGGING_LEVEL": "WARNING",
    })
    env.update(extra)
    return env


def test_serve_without_a_server_says_how_to_start_one(tmp_path):
    done = subprocess.run([str(VENV_BIN / "ess"), "serve", "--sample"], env=_env(tmp_path), capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2
    assert "prefect server start --host 127.0.0.1" in done.stderr
    assert "PREFECT_API_URL=http://127.0.0.1:4200/api" in done.stderr
    # a server address where nothing answers (the server not restarted after a reboot): the same advice, not a bug
    down = f"http://127.0.0.1:{_free_port()}/api"
    done = subprocess.run([str(VENV_BIN / "ess"), "serve", "--sample"], env=_env(tmp_path, PREFECT_API_URL=down),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert f"cannot reach the Prefect server at PREFECT_API_URL={down}" in done.stderr
    assert "prefect server start --host 127.0.0.1" in done.stderr


# --- integration: a real server schedules a served deployment ---------------------------------------------------

SHIM = '''\
# Test only: the flow runs started by `ess serve` use the stand-in steps of tests/test_flows.py.
import flows.pipeline
import test_flows
flows.pipeline.STEPS.update(test_flows.STUBS)
'''


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _api(url: str, path: str, body: dict | None = None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url + path, data=data, headers={"Content-Type": "application/json"},
                                 method="POST" if data else "GET")
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


@pytest.mark.server
def test_served_deployment_is_triggered_by_the_server_and_completes(tmp_path):
    port = _free_port()
    api = f"http://127.0.0.1:{port}/api"
    data = tmp_path / "data"
    inputs = data / "officiel"
    write_inputs(inputs)
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "sitecustomize.py").write_text(SHIM, encoding="utf-8")
    env = _env(tmp_path, PREFECT_API_URL=api, ESS_DATA_DIR=str(data), PREFECT_RUNNER_POLL_FREQUENCY="2",
               PYTHONPATH=os.pathsep.join([str(shim), str(TESTS)]))
    logs = tmp_path / "logs"
    logs.mkdir()
    server = subprocess.Popen(
        [str(VENV_BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port), "--analytics-off"],
        env={**env, "PYTHONPATH": ""}, stdout=open(logs / "server.log", "w"), stderr=subprocess.STDOUT,
        start_new_session=True)
    served = None
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                _api(api, "/health")
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, (logs / "server.log").read_text()
                time.sleep(0.5)
        served = subprocess.Popen(
            [str(VENV_BIN / "ess"), "serve", "--input", str(inputs), "--no-download", "--out", str(data / "entrepot"),
             "--only", "mensuel", "--interval", "5"],
            env=env, stdout=open(logs / "serve.log", "w"), stderr=subprocess.STDOUT, start_new_session=True)
        completed = []
        deadline = time.monotonic() + 120
        while not completed:
            assert served.poll() is None, (logs / "serve.log").read_text()
            assert time.monotonic() < deadline, (logs / "serve.log").read_text()
            time.sleep(1)
            runs = _api(api, "/flow_runs/filter", {"flow_runs": {"state": {"type": {"any_": ["COMPLETED", "FAILED",
                                                                                              "CRASHED"]}}}})
            bad = [r for r in runs if r["state_type"] != "COMPLETED"]
            assert not bad, (bad, (logs / "serve.log").read_text())
            completed = runs
        run = completed[0]
        deployment = _api(api, f"/deployments/{run['deployment_id']}")
        assert deployment["name"] == "mensuel-dep38"
        assert run["auto_scheduled"] is True  # created by the server's scheduler, not by hand
        assert run["parameters"]["settings"]["report"] is False and run["parameters"]["settings"]["departement"] == "38"
        manifests = list((data / "runs" / "dep38").glob("*/manifest.json"))
        assert manifests, (logs / "serve.log").read_text()
        manifest = json.loads(manifests[0].read_text(encoding="utf-8"))
        assert manifest["millesimes"]["sirene"] == "2026-10"
        assert (data / "entrepot" / "ess.duckdb").is_file()
    finally:
        if served is not None:
            _stop(served)
        _stop(server)
