"""One rollback in a process of its own, for test_versions.py: `python rollback_driver.py SPEC.json`.

SPEC (JSON): warehouse, version (what `ess rollback` is given), and optionally kill: [when, "module:attribute", n],
as in publication_driver.py (the process sends itself SIGKILL at that call).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from publication_driver import kill_at


def main(path: str) -> int:
    spec = json.loads(Path(path).read_text(encoding="utf-8"))
    if spec.get("kill"):
        kill_at(*spec["kill"])
    from transforms import warehouse as wh

    wh.rollback(Path(spec["warehouse"]), spec["version"])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
