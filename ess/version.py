"""Which code built a run: the git commit of the checkout (and whether its tracked files had changes), and a
checksum of the project's code, SQL and committed reference files that holds without git too. Written into the
run's manifest, publication.json and every published Parquet file (ess:version_pipeline): publish a millésime from
one version of the pipeline (METHOD.md § 6)."""

from __future__ import annotations

import functools
import hashlib
import subprocess

from ess import paths

# what the figures depend on (tests, benchmarks and docs aside): the project's files, and the libraries whose
# versions can move them (sums, LP choices: pipeline_version names them)
CODE = ("ess", "flows", "sources", "transforms", "reports", "sql", "data/reference")


@functools.lru_cache(maxsize=1)
def pipeline_version() -> dict:
    digest = hashlib.sha256()
    for folder in CODE:
        for path in sorted((paths.ROOT / folder).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                digest.update(f"{path.relative_to(paths.ROOT).as_posix()}\n".encode())
                digest.update(path.read_bytes())
    import duckdb
    import highspy
    import numpy
    import pandas
    import pyarrow
    import scipy

    libraries = {m.__name__: getattr(m, "__version__", None) for m in (duckdb, numpy, pandas, pyarrow, scipy)}
    libraries["highspy"] = highspy.Highs().version()  # (HiGHS's own version: the module has no __version__)
    changed = _git("status", "--porcelain", "--untracked-files=no", "--", *CODE)
    return {"commit": _git("rev-parse", "HEAD"), "modifie": bool(changed), "empreinte_code": digest.hexdigest(),
            "bibliotheques": libraries}


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(paths.ROOT), *args], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def short(version: dict) -> str:
    """« <commit 12> (modifié) · code <sha 12> », or the code checksum alone outside a git checkout."""
    commit = version.get("commit")
    code = f"code {version['empreinte_code'][:12]}"
    if not commit:
        return code
    return f"{commit[:12]}{' (modifié)' if version.get('modifie') else ''} · {code}"
