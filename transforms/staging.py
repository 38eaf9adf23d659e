"""Stage one source: run its loader into a private DuckDB database, then export every staging table (and the rows
it rejected) to Parquet. The loaders live in sources/; this module only gives them a database and collects the
accounting."""

from __future__ import annotations

import importlib
import re
import tempfile
from pathlib import Path

from ess import db
from ess.accounting import FileStats
from ess.errors import UserError
from transforms.steps import StepOutput

# source name -> module in sources/ (each exposes SOURCE and load()).
SOURCE_MODULES = {
    "sirene": "sources.sirene",
    "urssaf": "sources.urssaf",
    "territoires": "sources.territories",
}
_MILLESIME = {"YYYY-MM": re.compile(r"^\d{4}-(0[1-9]|1[0-2])$"), "YYYY": re.compile(r"^\d{4}$")}


def source_module(name: str):
    try:
        return importlib.import_module(SOURCE_MODULES[name])
    except KeyError:
        raise UserError(f"unknown source {name!r}; known sources: {sorted(SOURCE_MODULES)}") from None


def available_millesimes(root: Path, source: str) -> list[str]:
    """Snapshot folders of a source under an input root, oldest first."""
    module = source_module(source)
    pattern = _MILLESIME[module.SOURCE.millesime_format]
    folder = Path(root) / module.SOURCE.name
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and pattern.match(p.name))


def snapshot_dir(root: Path, source: str, millesime: str | None) -> Path:
    """The snapshot to use: the one asked for, or the latest present. Clear error when there is none."""
    found = available_millesimes(root, source)
    folder = Path(root) / source_module(source).SOURCE.name
    if millesime is None:
        if not found:
            raise UserError(
                f"no {source} snapshot under {folder} (expected folders named by millésime). "
                f"Run `ess fetch --source {source}` or point --input at a folder of official files."
            )
        return folder / found[-1]
    if millesime not in found:
        raise UserError(
            f"no {source} snapshot {millesime!r} under {folder}; available: {found or 'none'}. "
            f"Run `ess fetch --source {source}` or choose one of those."
        )
    return folder / millesime


def _load(source: str, con, snapshot: Path | None, params: dict, work_dir: Path) -> list[FileStats]:
    module = source_module(source)
    if source == "sirene":
        return module.load(con, snapshot, departement=params["departement"], millesime=params["millesime"],
                           work_dir=work_dir)
    if source == "urssaf":
        # every year of the commune × APE table: calibration picks the year of the size bands, not the latest
        return module.load(con, snapshot, departement=params["departement"])
    return module.load(con, snapshot, departement=params["departement"], annee_cog=params["annee_cog"])


def stage_source(source: str, snapshot: Path | None, params: dict, out_dir: Path) -> StepOutput:
    """Load one source's snapshot into staging tables written as Parquet under out_dir.

    The file accounting (read = staged + rejected + out of scope) is checked for every file before anything is
    returned; the rejected rows are kept in `staging_rejets_<source>.parquet`.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"stage-{source}-", dir=out_dir) as work:
        con = db.connect(Path(work) / "staging.duckdb")
        con.execute(f"SET temp_directory = '{Path(work) / 'spill'}'")
        try:
            db.ensure_rejects_table(con)
            stats = _load(source, con, snapshot, params, Path(work))
            for s in stats:
                s.check()
            tables = [
                r[0]
                for r in con.execute(
                    "SELECT table_name FROM duckdb_tables() WHERE NOT temporary AND table_name LIKE 'staging_%' "
                    "AND table_name <> ? ORDER BY 1",
                    [db.REJECTS_TABLE],
                ).fetchall()
            ]
            rejects = f"staging_rejets_{source}"
            con.execute(f"CREATE TABLE {rejects} AS SELECT * FROM {db.REJECTS_TABLE}")
            metadata = {"ess:source": source, "ess:synthetic": str(bool(params.get("synthetic"))).lower()}
            written = db.export_tables(con, tables + [rejects], out_dir, metadata=metadata)
        finally:
            con.close()
    return StepOutput(tables=written, stats={source: [s.to_dict() for s in stats]})
