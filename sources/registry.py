"""The sources of the pipeline, listed once. The flows, staging, `ess fetch`, the sample and the command line iterate
over this list; adding a source is its module, its staging SQL and one line here (+ a reference file if it needs one).

A source module exposes (sources/__init__.py describes the contract):
- `SOURCE`: its `sources.base.Source` (files, millésime format, whether it is national, the settings its staging
  reads);
- `find_snapshot(root, settings) -> (snapshot folder or None, {setting: value it fixes})`;
- `stage(con, snapshot, params, work_dir)`: its staging tables in `con`; returns its `FileStats` list, or for a
  national source a `NationalStaging` (one accounting per département);
- `fetch(root, request: FetchRequest) -> list[Path]`: its official files, downloaded unchanged.
The sample writers are listed in sources/sample/__init__.py (SAMPLE_WRITERS), by source name.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

from ess.errors import UserError
from sources import sirene, territories, urssaf
from sources.base import FetchRequest, Source

# In the order a run stages them (territories first: the others are checked against its communes).
SOURCES: dict[str, ModuleType] = {module.SOURCE.name: module for module in (territories, sirene, urssaf)}


def names() -> list[str]:
    return list(SOURCES)


def get(name: str) -> ModuleType:
    try:
        return SOURCES[name]
    except KeyError:
        raise UserError(f"unknown source {name!r}; known sources: {names()}") from None


def source(name: str) -> Source:
    return get(name).SOURCE


def national() -> list[str]:
    """The sources staged once for every département of a run."""
    return [name for name, module in SOURCES.items() if module.SOURCE.national]


def local() -> list[str]:
    return [name for name, module in SOURCES.items() if not module.SOURCE.national]


def fetch(root: Path, *, departement: str, millesime: str | None = None, sources: list[str] | None = None,
          formats: list[str] | None = None) -> list[Path]:
    """`ess fetch`: download the requested sources (default: all) under `root`; the paths of the files now in
    place. `departement` must be validated (ess.settings.check_departement)."""
    chosen = list(dict.fromkeys(sources or names()))
    unknown = [s for s in chosen if s not in SOURCES]
    if unknown:
        raise UserError(f"unknown source(s) {unknown}: choose among {names()}")
    request = FetchRequest(departement=departement, millesime=millesime, formats=tuple(formats) if formats else None)
    written: list[Path] = []
    for name in chosen:
        written += get(name).fetch(Path(root), request)
    return written


__all__ = ["SOURCES", "fetch", "get", "local", "names", "national", "source"]
