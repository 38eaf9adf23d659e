"""`ess run` starts Prefect's temporary server before importing the pipeline (ess/prefect_server.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from prefect import flow
from prefect.context import get_run_context

from ess import prefect_server
from processes import alive


def test_the_early_server_runs_a_flow_and_stops():
    server = prefect_server.EarlyServer()
    try:
        assert not server.ready()  # just spawned: it boots for seconds (Prefect's imports), `ready` does not wait
        with server.api():
            with urllib.request.urlopen(f"{server.api_url}/health", timeout=5) as answer:
                assert answer.status == 200
            assert server.ready()

            @flow
            def where() -> str:
                return str(get_run_context().client.api_url)

            assert where().rstrip("/") == server.api_url
    finally:
        server.stop()
    assert server.process.poll() is not None  # the child is gone
    assert not server.ready()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the parent-death signal is Linux's")
def test_the_server_does_not_outlive_a_killed_ess_process(tmp_path):
    # a process standing for `ess run` starts the server, says its pid, and is killed (no exit handler runs)
    parent = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from ess import prefect_server; s = prefect_server.EarlyServer(); "
        "print(s.process.pid, flush=True); time.sleep(120)")], stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and alive(child):
        time.sleep(0.1)
    assert not alive(child), "the server outlived the process that started it"



def test_nothing_is_started_where_prefect_is_already_imported():
    # in this process Prefect is imported (and may run its own temporary server): leave it alone
    with prefect_server.early_server() as server:
        assert isinstance(server, prefect_server._Absent)
