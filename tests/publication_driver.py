"""One publication in a process of its own, for test_publication.py: `python publication_driver.py SPEC.json`.

SPEC (JSON): warehouse, tables {name: Parquet path}, params, manifest, report (bool), wait_seconds, and optionally
- kill: [when, "module:attribute", n] — the process sends itself SIGKILL (kill -9: no cleanup of any kind) when
  the n-th call of that function starts (when = "before") or has returned ("after");
- barrier: {"folder": path, "count": n} — once its files are prepared, wait until n drivers are ready, then commit.
The stand-in report writes three files whose content depends on the published table, so that a new publication's
report differs from the previous one.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import signal
import sys
import time
from pathlib import Path


def write_file(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def fake_report(tables: dict[str, str], folder: Path) -> None:
    digest = hashlib.sha256(Path(tables["out_indicateurs_public"]).read_bytes()).hexdigest()[:16]
    for name in ("rapport.pdf", "graphiques/territoires.png", "graphiques/territoires.csv"):
        write_file(Path(folder) / name, f"{name} de la table {digest}\n")


def kill_at(when: str, target: str, n: int) -> None:
    module_name, _, attribute = target.partition(":")
    module = importlib.import_module(module_name)
    original = getattr(module, attribute)
    calls = [0]

    def wrapper(*args, **kwargs):
        calls[0] += 1
        if when == "before" and calls[0] == n:
            os.kill(os.getpid(), signal.SIGKILL)
        result = original(*args, **kwargs)
        if when == "after" and calls[0] == n:
            os.kill(os.getpid(), signal.SIGKILL)
        return result

    setattr(module, attribute, wrapper)


def wait_for(barrier: dict) -> None:
    folder = Path(barrier["folder"])
    folder.mkdir(parents=True, exist_ok=True)
    (folder / str(os.getpid())).touch()
    deadline = time.monotonic() + 60
    while len(list(folder.iterdir())) < barrier["count"]:
        if time.monotonic() > deadline:
            raise TimeoutError("the other publications never came")
        time.sleep(0.05)


def publish(spec: dict) -> dict:
    from transforms import publish as pub
    from transforms import warehouse as wh

    warehouse = Path(spec["warehouse"])
    params, manifest = spec["params"], spec["manifest"]
    with wh.staging_area(warehouse) as staging:
        prepared = pub.prepare(spec["tables"], params, manifest, staging)
        if spec.get("report"):
            folder = staging / pub.report_path(params)
            folder.mkdir(parents=True)
            fake_report(prepared["tables"], folder)
        if spec.get("barrier"):
            wait_for(spec["barrier"])
        return pub.commit(staging, params, manifest, warehouse, report=bool(spec.get("report")),
                          wait_seconds=spec.get("wait_seconds", 0))


def main(path: str) -> int:
    spec = json.loads(Path(path).read_text(encoding="utf-8"))
    if spec.get("kill"):
        kill_at(*spec["kill"])
    publish(spec)
    return 0


if __name__ == "__main__":
    sys.modules.setdefault("publication_driver", sys.modules["__main__"])  # kill points name this module
    sys.exit(main(sys.argv[1]))
