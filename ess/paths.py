"""Where things live. Everything is relative to the repository root unless the user says otherwise."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SQL_DIR = ROOT / "sql"
REFERENCE_DIR = ROOT / "data" / "reference"


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
