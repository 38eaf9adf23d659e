"""Where things live. Everything is relative to the repository root unless the user says otherwise."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SQL_DIR = ROOT / "sql"
REFERENCE_DIR = ROOT / "data" / "reference"


def reference_file(name: str, reference_dir: str | Path | None = None) -> Path:
    """A reference file by its name relative to data/reference/: the user's reference folder (a run's
    `reference_dir`) when it holds that file, else the committed one. The user's file replaces the committed file
    whole; whether it exists is for the caller to check."""
    if reference_dir is not None and (Path(reference_dir) / name).is_file():
        return Path(reference_dir) / name
    return REFERENCE_DIR / name


def reference_files(pattern: str, reference_dir: str | Path | None = None) -> list[Path]:
    """Every reference file matching a glob pattern (relative to data/reference/), the user's folder layered over the
    committed one: one path per relative name, the user's when both hold it, sorted by relative name."""
    found = {p.relative_to(REFERENCE_DIR).as_posix(): p for p in REFERENCE_DIR.glob(pattern) if p.is_file()}
    if reference_dir is not None and Path(reference_dir).is_dir():
        user = Path(reference_dir)
        found.update({p.relative_to(user).as_posix(): p for p in user.glob(pattern) if p.is_file()})
    return [found[name] for name in sorted(found)]


def data_dir() -> Path:
    """Root of the working data (raw snapshots, sample, runs, warehouse); ESS_DATA_DIR overrides it."""
    return Path(os.environ.get("ESS_DATA_DIR", ROOT / "data"))


def raw_dir() -> Path:
    """Official files downloaded by `ess fetch`: <raw>/<source>/<millésime>/<file> + manifest.json."""
    return data_dir() / "raw"


def sample_dir(departement: str) -> Path:
    """The embedded sample, laid out exactly like raw_dir(): <sample>/<source>/<millésime>/<file>."""
    return data_dir() / "sample" / f"dep{departement}"


def runs_dir() -> Path:
    return data_dir() / "runs"


def warehouse_dir() -> Path:
    return data_dir() / "warehouse"
