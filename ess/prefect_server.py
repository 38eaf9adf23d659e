"""Prefect's temporary local server, started as early as the command line can.

Without PREFECT_API_URL, Prefect starts a temporary server when the first flow runs: it imports its server code in
this process (≈ 6 s), then boots the same code in a child process (≈ 7 s), then the run begins. `ess run` instead
starts that child first, before importing anything of Prefect, so that its boot overlaps the imports of the
pipeline, and points Prefect at it for the run only (temporary settings). Same server, same command line and
environment as Prefect's own (a uvicorn child, UI off, ephemeral services), stopped when the process exits.

Only when nothing of Prefect is imported yet (a fresh `ess` process): inside a process that already runs flows
(the tests, a notebook), Prefect's own temporary server is left to do its job.
"""

from __future__ import annotations

import atexit
import os
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager, nullcontext

from ess import orphans

_PORT_IN_USE = 3  # uvicorn's exit code when the port was taken between choosing and binding it


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class EarlyServer:
    def __init__(self):
        self.port = _free_port()
        self.process = self._spawn()

    def _spawn(self) -> subprocess.Popen:
        env = {**os.environ, "PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1", "PREFECT__SERVER_FINAL": "1"}
        return subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", "prefect.server.api.server:create_app", "--host",
             "127.0.0.1", "--port", str(self.port), "--log-level", "error", "--lifespan", "on"], env=env,
            preexec_fn=orphans.death_signal(os.getpid()) if sys.platform.startswith("linux") else None)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            code = self.process.poll()
            if code == _PORT_IN_USE:
                self.port = _free_port()
                self.process = self._spawn()
                continue
            if code is not None:
                raise RuntimeError(f"Prefect's temporary server stopped at start-up (exit code {code}); set "
                                   "PREFECT_API_URL to a running Prefect server, or see the lines above")
            try:
                with urllib.request.urlopen(f"{self.api_url}/health", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"Prefect's temporary server did not answer within {timeout:.0f} s (raise "
                           "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS, or set PREFECT_API_URL)")

    def ready(self) -> bool:
        """Does the server answer already? (no waiting)"""
        try:
            with urllib.request.urlopen(f"{self.api_url}/health", timeout=0.5) as response:
                return response.status == 200
        except OSError:
            return False

    @contextmanager
    def api(self):
        """Wait for the server, then point Prefect at it until the block ends."""
        from prefect.settings import PREFECT_API_URL, temporary_settings

        self.wait_ready(float(os.environ.get("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS") or 90))
        with temporary_settings(updates={PREFECT_API_URL: self.api_url}):
            yield

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class _Absent:
    def api(self):
        return nullcontext()


@contextmanager
def early_server():
    """Start Prefect's temporary server now when Prefect would start one later (see the module docstring). Yields
    an object whose `api()` block runs flows on it (a no-op when Prefect has an API already or is imported)."""
    if os.environ.get("PREFECT_API_URL") or any(m == "prefect" or m.startswith("prefect.") for m in sys.modules):
        yield _Absent()
        return
    server = EarlyServer()
    # stopped at exit, after Prefect's own exit handlers (registered later, run first) have sent it their last logs
    # and events: stopping it at the end of the block left them retrying against a closed port
    atexit.register(server.stop)
    yield server
