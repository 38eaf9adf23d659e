"""`ess run` starts Prefect's temporary server before importing the pipeline (ess/prefect_server.py)."""

from __future__ import annotations

import urllib.request

from prefect import flow
from prefect.context import get_run_context

from ess import prefect_server


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


def test_nothing_is_started_where_prefect_is_already_imported():
    # in this process Prefect is imported (and may run its own temporary server): leave it alone
    with prefect_server.early_server() as server:
        assert isinstance(server, prefect_server._Absent)
