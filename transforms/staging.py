"""Stage one source: run its loader into a private DuckDB database, then export every staging table (and the rows
it rejected) to Parquet. The loaders live in sources/; this module only gives them a database, checks the
accounting and lays the tables out.

National sources (SIRENE, URSSAF: one file for all of France) are staged ONCE for every requested département
(`params["departements"]`) and laid out as one partition per département:

    <out>/departement=<d>/<staging table>.parquet        the rows of d (a legal unit of two départements is in both)
    <out>/departement=<d>/staging_rejets_<source>.parquet  the rejected rows that concern d
    <out>/staging_rejets_<source>.parquet                 every rejected row once (those of no département included)

and StepOutput.tables names them "departement=<d>/<table>" and "<table>". A source may write its partitions itself
as it stages each file (SIRENE: the Parquet key-value metadata comes in params["parquet_metadata"]); they are then
moved into place instead of exported. The département steps take their partition with `departement_tables()`.
Territories are staged per département (`params["departement"]`), as their files are small.
"""

from __future__ import annotations

import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import duckdb

from ess import db
from ess.accounting import FileStats
from ess.errors import UserError, write_failure
from sources import registry
from transforms.steps import StepOutput

PARTITION = "departement={}"
# DuckDB's own memory while staging (the process adds ≈ 150 MB of Python, Arrow and the CSV reader's buffers);
# beyond it, joins and sorts spill to the step's temporary folder.
STAGING_MEMORY_LIMIT = "192MB"


def source_module(name: str):
    """The source's module, from the registry (sources/registry.py)."""
    return registry.get(name)


def available_millesimes(root: Path, source: str) -> list[str]:
    """Snapshot folders of a source under an input root, oldest first."""
    return registry.source(source).millesimes(root)


def snapshot_dir(root: Path, source: str, millesime: str | None) -> Path:
    """The snapshot to use: the one asked for, or the latest present. Clear error when there is none."""
    return registry.source(source).snapshot(root, millesime)


def staging_connection(work: Path, on_disk: bool = False):
    """A DuckDB database with bounded memory that spills to the step's temporary folder (tables are exported to
    Parquet at the end: nothing needs to persist), in memory, or `on_disk` in a file of that folder.
    ESS_STAGING_MEMOIRE (e.g. '1GB') raises the bound, which only spares spills: every département of a national
    file of 30 % of France stages within the default (sources/sirene.py runs the queries over millions of keys on one
    thread with a lower bound; README, Benchmarks).

    On disk for national files staged for many départements: DuckDB keeps, outside its bound, ≈ 15 MB of
    bookkeeping for each GB of an in-memory table it spills, and none for a table in a database file (which it also
    compresses). Every département at 100 % of France: while the 43.8 M establishments were staged, the process grew
    from 370 to 453 MB in memory (6 GB spilled), and stayed at 363–383 MB on disk."""
    import os

    con = db.connect(Path(work) / "staging.duckdb" if on_disk else ":memory:",
                     memory_limit=os.environ.get("ESS_STAGING_MEMOIRE", "").strip() or STAGING_MEMORY_LIMIT)
    con.execute(f"SET temp_directory = '{Path(work) / 'spill'}'")
    # DuckDB reads a Parquet row group's columns ahead of the scan; within the staging's bound it then spends more
    # than it saves (a local file, read once): one département at 10 % of France, 2.30 → 2.19 s, at 30 % 6.4 → 6.1 s.
    con.execute("SET disable_parquet_prefetching = true")
    return con


def stage_source(source: str, snapshot: Path | None, params: dict, out_dir: Path) -> StepOutput:
    """Load one source's snapshot into staging tables written as Parquet under out_dir.

    The file accounting (read = staged + rejected + out of scope) is checked for every file before anything is
    returned; the rejected rows are kept in `staging_rejets_<source>.parquet`.
    """
    module = source_module(source)
    if module.SOURCE.national:
        return stage_national(source, snapshot, params, out_dir)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"stage-{source}-", dir=out_dir) as work:
        con = staging_connection(Path(work))
        try:
            db.ensure_rejects_table(con)
            stats = module.stage(con, snapshot, params, Path(work))
            for s in stats:
                s.check()
            tables = _staging_tables(con)
            rejects = f"staging_rejets_{source}"
            con.execute(f"CREATE TABLE {rejects} AS SELECT * FROM {db.REJECTS_TABLE}")
            written = db.export_tables(con, tables + [rejects], out_dir, metadata=_metadata(source, params))
        finally:
            con.close()
    return StepOutput(tables=written, stats={source: [s.to_dict() for s in stats]})


def stage_national(source: str, snapshot: Path | None, params: dict, out_dir: Path) -> StepOutput:
    """Stage a national source once for every département of params["departements"] (see the module docstring).

    stats[source] is the national accounting (one FileStats per file); stats["departements"][d][source] each
    département's; stats["absents"][source] the départements the files do not hold at all.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    module = source_module(source)
    departements = sorted(set(params["departements"]))
    metadata = _metadata(source, params)
    with tempfile.TemporaryDirectory(prefix=f"stage-{source}-", dir=out_dir) as work:
        con = staging_connection(Path(work), on_disk=len(departements) > db.FRUGAL_DEPARTEMENTS)
        try:
            db.ensure_rejects_table(con)
            try:
                result = module.stage(con, snapshot, {**params, "departements": departements,
                                                      "parquet_metadata": metadata}, Path(work))
            except duckdb.OutOfMemoryException as exc:
                if write_failure(exc):  # no room on disk to spill to: not the memory bound (flows/cli.py says so)
                    raise
                limit = con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
                raise UserError(
                    f"staging {source} for {len(departements)} département(s) of {snapshot} needs more memory than "
                    f"DuckDB's bound for staging ({limit}): set ESS_STAGING_MEMOIRE=1GB (or more for a larger "
                    f"national file) and run again — nothing was staged ({str(exc).splitlines()[0]})") from None
            result.check()
            # The partitions the source wrote itself (SIRENE) are laid out as they are; its other tables exported.
            written = _lay_out(result.partitions, out_dir)
            tables = [t for t in _staging_tables(con) if t not in result.partitions]
            rejects = f"staging_rejets_{source}"
            # (not TEMP: the exports' cursors must see it)
            con.execute(f"CREATE TABLE rejets_par_departement AS SELECT unnest(departements) AS _departement, * "
                        f"FROM {db.REJECTS_TABLE}")
            jobs = [*((t, t) for t in tables), (rejects, "rejets_par_departement")]
            # Many départements: on one thread with a lower bound (two threads went ≈ 30 MB over the 400 MB of the
            # process with every département at 10 %).
            # Otherwise two tables are written at a time: DuckDB writes a sorted Parquet file on one thread.
            frugal = len(departements) > db.FRUGAL_DEPARTEMENTS
            with db.frugal(con, frugal):
                for (table, _), paths in zip(jobs, _in_turn_or_two_at_a_time(
                        con, [(source_table, departements, out_dir, f"{table}.parquet", metadata)
                              for table, source_table in jobs], two=not frugal)):
                    written.update({f"{PARTITION.format(d)}/{table}": p for d, p in paths.items()})
            written[rejects] = db.export_select(con, f"SELECT * FROM {db.REJECTS_TABLE}", {},
                                                out_dir / f"{rejects}.parquet", metadata)
        finally:
            con.close()
    stats = {
        source: [s.to_dict() for s in result.national],
        "departements": {d: {source: [s.to_dict() for s in per]} for d, per in result.par_departement.items()},
        "absents": {source: list(result.absents)},
    }
    return StepOutput(tables=written, stats=stats)


def _lay_out(partitions: dict[str, dict[str, str]], out_dir: Path) -> dict[str, str]:
    """Move the partition files a source wrote (in the step's temporary folder, on the same file system) to
    <out_dir>/departement=<d>/<table>.parquet; their StepOutput names."""
    written = {}
    for table, files in sorted(partitions.items()):  # (in the order the exported tables are named)
        for d, path in sorted(files.items()):
            target = out_dir / PARTITION.format(d) / f"{table}.parquet"
            target.parent.mkdir(parents=True, exist_ok=True)
            Path(path).replace(target)
            written[f"{PARTITION.format(d)}/{table}"] = str(target)
    return written


def _in_turn_or_two_at_a_time(con, jobs: list[tuple], two: bool) -> list[dict[str, str]]:
    """_export_partitions(·, *job) for every job, in turn on `con`, or two at a time, each on a cursor of its own."""
    if not two or len(jobs) < 2:
        return [_export_partitions(con, *job) for job in jobs]

    def run(job: tuple) -> dict[str, str]:
        cursor = con.cursor()
        try:
            return _export_partitions(cursor, *job)
        finally:
            cursor.close()

    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(run, jobs))


def _export_partitions(con, table: str, departements: list[str], out_dir: Path, filename: str,
                       metadata: dict[str, str]) -> dict[str, str]:
    """<out_dir>/departement=<d>/<filename> for every département (an empty file when it has no row), without
    `_departement`, each written by DuckDB (rows ordered by all columns: the same rows give the same bytes), within
    the staging's memory bound (spilling beyond it) whatever the table's size (ess.db.export_partitions)."""
    return db.export_partitions(con, table, "_departement", departements,
                                lambda d: out_dir / PARTITION.format(d) / filename, metadata)


def departement_tables(output: StepOutput, departement: str) -> dict[str, str]:
    """The tables a département's steps read from a staging output: its partition, and the tables that are not
    partitioned (a partition table replaces a national one of the same name, e.g. the rejects)."""
    prefix = PARTITION.format(departement) + "/"
    shared = {name: path for name, path in output.tables.items() if "/" not in name}
    own = {name[len(prefix):]: path for name, path in output.tables.items() if name.startswith(prefix)}
    return {**shared, **own}


def departement_stats(output: StepOutput, source: str, departement: str) -> list[dict]:
    """A département's accounting of a source (its share of every national file), else the step's own."""
    per = output.stats.get("departements", {}).get(departement, {}).get(source)
    return per if per is not None else output.stats.get(source, [])


def absent_departements(output: StepOutput, source: str) -> list[str]:
    return list(output.stats.get("absents", {}).get(source, []))


def _staging_tables(con) -> list[str]:
    return [
        r[0]
        for r in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE NOT temporary AND table_name LIKE 'staging_%' "
            "AND table_name <> ? ORDER BY 1",
            [db.REJECTS_TABLE],
        ).fetchall()
    ]


def _metadata(source: str, params: dict) -> dict[str, str]:
    return {"ess:source": source, "ess:synthetic": str(bool(params.get("synthetic"))).lower()}


__all__ = ["stage_source", "stage_national", "departement_tables", "departement_stats", "absent_departements",
           "snapshot_dir", "available_millesimes", "source_module", "FileStats"]
