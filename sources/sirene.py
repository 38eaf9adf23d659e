"""Load the SIRENE stock files of one snapshot into the four SIRENE staging tables of one département.

National files are large (StockEtablissement ≈ 44 M rows, 9 GB of CSV), so nothing national is ever held in
memory: each file is read in ONE streaming pass by DuckDB, which normalises the needed columns to text and marks
each row in or out of scope; Arrow record batches are counted and filtered here, and only the in-scope rows are
written to a Parquet file in `work_dir` (`raw_sirene_<key>.parquet`). The staging SQL (sql/staging/*.sql) then
checks and types those few rows, routing bad ones to `staging_rejets` with their reason.

Both deliverables are read: the Parquet file (preferred when both are in the snapshot folder: it is typed, read
column by column in parallel, and the CSV deliverable ends in 2027) and the zip holding `<stem>_utf8.csv`. DuckDB
cannot read zips offline (no zipfs), so a child process (sources/unzip_stream.py) inflates the CSV into a pipe
that DuckDB's read_csv reads with explicit VARCHAR columns. An anonymous pipe rather than a named FIFO: if the child
dies early, the reader sees end-of-file instead of blocking forever on open().

Order (each step needs the previous one): establishments of the département → their legal units (semi-join on
siren) → history of those establishments (siret) → history of those legal units (siren).
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
import subprocess
import sys
import tempfile
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ess.accounting import FileStats
from ess.db import REJECTS_TABLE, build_staging_table, ensure_rejects_table
from ess.errors import InputFileError, UserError
from sources.base import normalise_departement
from sources.download import read_manifest
from sources.sirene_layouts import (
    CODE_WIDTHS,
    LAYOUTS,
    NEEDED_COLUMNS,
    SOURCE,
    csv_member_name,
    official_filename,
    required_columns,
)

# Rows per Arrow batch: ≈ 10–30 MB of text per batch whatever the size of the file.
BATCH_ROWS = 128 * 1024
# Number of the record among those read (1 = first data row; malformed CSV records set aside are not numbered),
# kept in the raw Parquet of work_dir for tracing and as the last tie-break between duplicates.
LINE_NUMBER = "_ligne"
CSV_REJECT_REASON = "ligne CSV illisible"
_UNZIP_STREAM = Path(__file__).with_name("unzip_stream.py")
_UNZIP_EXIT_PIPE = 4

# Département codes: metropolitan 01–95 with Corsica as 2A/2B (never 20), overseas 971–978 (three characters:
# a commune 97209 is in 972, not in 971 — the prefix test below relies on the full code).


@dataclass(frozen=True)
class _Step:
    key: str  # key of LAYOUTS / NEEDED_COLUMNS
    key_column: str  # column identifying a row in staging_rejets
    scope_sql: str  # SQL boolean over the normalised columns: is the row in scope?

    @property
    def table(self) -> str:
        return f"staging_sirene_{self.key}"

    @property
    def raw_view(self) -> str:
        return f"raw_sirene_{self.key}"


# In the département: the commune code starts with the département code. Rows with neither a commune nor a foreign
# country cannot be located anywhere: they are kept so that staging rejects them with a reason (never dropped
# silently). Establishments abroad (empty commune, foreign country set) and other départements are out of scope.
_STEPS = (
    _Step(
        "etablissements",
        "siret",
        """CASE
             WHEN nullif(trim(codeCommuneEtablissement), '') IS NOT NULL
                 THEN starts_with(upper(trim(codeCommuneEtablissement)), $departement)
             ELSE nullif(trim(codePaysEtrangerEtablissement), '') IS NULL
           END""",
    ),
    _Step("unites_legales", "siren", "trim(siren) IN (SELECT siren FROM _sirene_sirens_requis)"),
    _Step("etablissements_historique", "siret", "trim(siret) IN (SELECT siret FROM _sirene_sirets_requis)"),
    _Step("unites_legales_historique", "siren", "trim(siren) IN (SELECT siren FROM _sirene_sirens_requis)"),
)




def find_stock(snapshot_dir: Path, key: str) -> Path:
    """The stock file `key` ('etablissements', 'unites_legales', …) of a snapshot folder.

    The Parquet deliverable is preferred when both are present: same content, typed, read in parallel and column
    by column, whereas the zip must be inflated as one stream (and the CSV deliverable ends in 2027).
    """
    if key not in LAYOUTS:
        raise KeyError(f"unknown SIRENE stock {key!r}; expected one of {sorted(LAYOUTS)}")
    snapshot_dir = Path(snapshot_dir)
    candidates = [snapshot_dir / official_filename(key, fmt) for fmt in ("parquet", "csv")]
    for path in candidates:
        if path.is_file():
            return path
    present = sorted(p.name for p in snapshot_dir.iterdir()) if snapshot_dir.is_dir() else None
    where = f"it holds {present}" if present is not None else "the folder does not exist"
    raise InputFileError(
        f"no SIRENE stock {key!r} in {snapshot_dir}: expected {candidates[0].name} or {candidates[1].name}; "
        f"{where}. Run `ess fetch` for this millésime or check the folder."
    )


def load(con, snapshot_dir: Path, *, departement: str, millesime: str, work_dir: Path) -> list[FileStats]:
    """Create the four SIRENE staging tables of `departement` in `con`; return one reconciled FileStats per file.

    `work_dir` receives the in-scope rows of each file (raw_sirene_<key>.parquet, all text); the caller owns it.
    """
    dep = normalise_departement(departement)
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    ensure_rejects_table(con)
    paths = {step.key: find_stock(snapshot_dir, step.key) for step in _STEPS}  # a missing file fails at once
    all_stats = []
    for step in _STEPS:
        stats = _load_file(con, step, paths[step.key], params={"departement": dep}, millesime=millesime,
                           work_dir=work_dir)
        all_stats.append(stats)
        if step.key == "etablissements":
            # The legal units and histories needed: those of every staged establishment, active or closed.
            con.execute("CREATE OR REPLACE TEMP TABLE _sirene_sirets_requis AS "
                        "SELECT DISTINCT siret FROM staging_sirene_etablissements")
            con.execute("CREATE OR REPLACE TEMP TABLE _sirene_sirens_requis AS "
                        "SELECT DISTINCT siren FROM staging_sirene_etablissements")
    con.execute("DROP TABLE IF EXISTS _sirene_sirets_requis")
    con.execute("DROP TABLE IF EXISTS _sirene_sirens_requis")
    return all_stats


def _load_file(con, step: _Step, path: Path, *, params: dict, millesime: str, work_dir: Path) -> FileStats:
    raw_path = work_dir / f"{step.raw_view}.parquet"
    with _open_source(con, path, step.key) as (source_sql, csv_rejects):
        # Out-of-scope rows travel as NULLs (only their count matters): less to hand over to Arrow.
        kept_columns = ", ".join(f"CASE WHEN _in_scope THEN {_quote(c)} END AS {_quote(c)}"
                                 for c in NEEDED_COLUMNS[step.key])
        query = (
            f"SELECT {kept_columns}, _in_scope FROM "
            f"(SELECT *, coalesce({step.scope_sql}, false) AS _in_scope FROM ({source_sql}))"
        )
        read, out_of_scope = _stream_in_scope(con, query, {k: v for k, v in params.items() if f"${k}" in query},
                                              raw_path, path)
        bad_lines = _csv_bad_lines(con, csv_rejects) if csv_rejects else []

    con.execute(f"CREATE OR REPLACE TEMP VIEW {step.raw_view} AS SELECT * FROM read_parquet({_sql_str(raw_path)})")
    try:
        result = build_staging_table(con, step.table, key=step.key_column, fichier=str(path))
    finally:
        con.execute(f"DROP VIEW IF EXISTS {step.raw_view}")

    rejected = dict(result["rejected"])
    if bad_lines:
        # Malformed CSV records (wrong number of fields, bad UTF-8): their département is unknown, so they are
        # rejected here rather than counted out of scope.
        con.executemany(
            f"INSERT INTO {REJECTS_TABLE} VALUES (?, ?, NULL, ?, to_json(?::VARCHAR))",
            [[step.table, str(path), f"{CSV_REJECT_REASON}: {err}", line] for err, line in bad_lines],
        )
        for err, _ in bad_lines:
            reason = f"{CSV_REJECT_REASON}: {err}"
            rejected[reason] = rejected.get(reason, 0) + 1
    stats = FileStats(
        source=SOURCE.name,
        table=step.table,
        file=str(path),
        millesime=millesime,
        sha256=_sha256(path),
        rows_read=read + len(bad_lines),
        rows_out_of_scope=out_of_scope,
        rows_staged=result["staged"],
        rows_rejected=rejected,
    )
    stats.check()
    return stats


# --- reading a deliverable as normalised text columns --------------------------------------------------------


@contextmanager
def _open_source(con, path: Path, key: str) -> Iterator[tuple[str, str | None]]:
    """Yield (SELECT of the needed columns as text, CSV rejects table or None) for a zip or Parquet stock."""
    if path.suffix == ".parquet":
        yield _parquet_select(con, path, key), None
    elif path.suffix == ".zip":
        with _csv_select_from_zip(con, path, key) as (sql, rejects):
            yield sql, rejects
    else:
        raise InputFileError(f"{path}: not a SIRENE deliverable (expected a .zip or a .parquet file)")


def _check_columns(path: Path, key: str, present: list[str]) -> None:
    missing = [c for c in required_columns(key) if c not in present]
    if missing:
        raise InputFileError(
            f"{path}: required column(s) {missing} missing (the file has {len(present)} columns). "
            "This is not a SIRENE stock file of this kind, or its layout changed: check the file."
        )


def _parquet_select(con, path: Path, key: str) -> str:
    try:
        schema = con.execute(f"DESCRIBE SELECT * FROM read_parquet({_sql_str(path)})").fetchall()
    except duckdb.Error as exc:
        raise InputFileError(f"{path}: cannot be read as Parquet ({exc}); download the file again") from exc
    types = {name: str(dtype).upper() for name, dtype, *_ in schema}
    _check_columns(path, key, list(types))
    items = []
    for col in NEEDED_COLUMNS[key]:
        if col in types:
            items.append(f"{_as_text(col, types[col])} AS {_quote(col)}")
        else:
            items.append(f"CAST(NULL AS VARCHAR) AS {_quote(col)}")
    return f"SELECT {', '.join(items)} FROM read_parquet({_sql_str(path)})"


_INTEGER_TYPES = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
                  "UBIGINT", "UHUGEINT"}


def _as_text(col: str, dtype: str) -> str:
    """SQL turning a typed Parquet column back into the text the CSV deliverable holds."""
    q = _quote(col)
    if dtype in ("FLOAT", "DOUBLE") or dtype.startswith("DECIMAL"):
        text = f"CAST(CAST({q} AS BIGINT) AS VARCHAR)"
    elif dtype in _INTEGER_TYPES:
        text = f"CAST({q} AS VARCHAR)"
    elif dtype == "DATE":
        return f"strftime({q}, '%Y-%m-%d')"
    elif dtype.startswith("TIMESTAMP"):
        return f"strftime({q}, '%Y-%m-%dT%H:%M:%S')"
    elif dtype == "BOOLEAN":
        return f"CASE WHEN {q} THEN 'true' WHEN NOT {q} THEN 'false' END"
    else:
        return f"CAST({q} AS VARCHAR)"
    width = CODE_WIDTHS.get(col)
    if width is None:
        return text
    # Integer-typed codes lost their leading zeros: pad back (never truncate a too-long value: staging rejects it).
    return f"CASE WHEN length({text}) < {width} THEN lpad({text}, {width}, '0') ELSE {text} END"


def _csv_header(path: Path, member: str) -> list[str]:
    """The header of the CSV inside the zip (reads only its first line)."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            if member not in names:
                raise InputFileError(
                    f"{path}: the zip holds {names}, not the expected {member!r}; is it the right file?"
                )
            with archive.open(member) as f:
                first = f.readline(1 << 20).decode("utf-8-sig")
    except zipfile.BadZipFile as exc:
        raise InputFileError(f"{path}: not a readable zip archive ({exc}); the download may be truncated: "
                             "download it again") from exc
    header = next(csv.reader(io.StringIO(first)), [])
    if not header:
        raise InputFileError(f"{path}: {member} is empty (no header line)")
    return [h.strip() for h in header]


@contextmanager
def _csv_select_from_zip(con, path: Path, key: str) -> Iterator[tuple[str, str]]:
    member = csv_member_name(key)
    header = _csv_header(path, member)
    _check_columns(path, key, header)
    if len(set(header)) != len(header):
        raise InputFileError(f"{path}: duplicate column names in the header of {member}")
    rejects, scan = f"_sirene_csv_rejets_{key}", f"_sirene_csv_scan_{key}"
    con.execute(f"DROP TABLE IF EXISTS {rejects}")
    con.execute(f"DROP TABLE IF EXISTS {scan}")

    read_fd, write_fd = os.pipe()
    with tempfile.TemporaryFile() as err:
        try:
            child = subprocess.Popen(
                [sys.executable, str(_UNZIP_STREAM), str(path), member], stdout=write_fd, stderr=err,
                stdin=subprocess.DEVNULL,
            )
        finally:
            os.close(write_fd)  # only the child writes: its exit is our end-of-file
        columns = "{" + ", ".join(f"{_sql_str(c)}: 'VARCHAR'" for c in header) + "}"
        items = [f"{_quote(c)}" if c in header else f"CAST(NULL AS VARCHAR) AS {_quote(c)}"
                 for c in NEEDED_COLUMNS[key]]
        sql = (
            f"SELECT {', '.join(items)} FROM read_csv('/dev/fd/{read_fd}', header = true, auto_detect = false, "
            f"delim = ',', quote = '\"', escape = '\"', columns = {columns}, store_rejects = true, "
            f"rejects_table = '{rejects}', rejects_scan = '{scan}')"
        )
        failure: BaseException | None = None
        try:
            yield sql, rejects
        except BaseException as exc:  # noqa: BLE001 — re-raised below, after the child's own error if any
            failure = exc
        finally:
            os.close(read_fd)
            try:
                # After a full read the child has already ended (we saw its end-of-file). After a failure it may
                # still be writing into a pipe nobody reads: give it a moment to report its own error, then stop it.
                code = child.wait(timeout=5 if failure is not None else 120)
            except subprocess.TimeoutExpired:
                child.kill()
                code = child.wait()
                code = _UNZIP_EXIT_PIPE if failure is not None else code
            err.seek(0)
            message = err.read().decode("utf-8", "replace").strip()
            con.execute(f"DROP TABLE IF EXISTS {scan}")
        # The child's error (corrupt or truncated member) explains any parse error DuckDB saw: report it first.
        if code not in (0, _UNZIP_EXIT_PIPE) or (code == _UNZIP_EXIT_PIPE and failure is None):
            con.execute(f"DROP TABLE IF EXISTS {rejects}")
            # The child's message names the zip already.
            raise InputFileError(message or f"{path}: decompression failed (exit code {code})") from failure
        if failure is not None:
            raise failure


def _csv_bad_lines(con, rejects: str) -> list[tuple[str, str]]:
    """Malformed records DuckDB set aside (one entry per record, with its first error)."""
    try:
        rows = con.execute(
            f"SELECT arg_min(error_type, column_idx), arg_min(csv_line, column_idx) FROM {rejects} "
            "GROUP BY line ORDER BY line"
        ).fetchall()
    finally:
        con.execute(f"DROP TABLE IF EXISTS {rejects}")
    return [(str(err), str(line)) for err, line in rows]


# --- the single streaming pass -------------------------------------------------------------------------------


def _stream_in_scope(con, query: str, params: dict, out_path: Path, source: Path) -> tuple[int, int]:
    """Run `query` (which has a boolean `_in_scope`), write the in-scope rows to `out_path`; count every row.

    One pass: DuckDB streams Arrow batches, each batch is counted and filtered here and only its in-scope rows
    are kept, so memory depends on the batch size, never on the file. Returns (rows read, rows out of scope).
    """
    try:
        reader = con.sql(query, params=params or None).to_arrow_reader(BATCH_ROWS)
    except duckdb.Error as exc:
        raise InputFileError(f"{source}: cannot be read ({exc})") from exc
    fields = [f for f in reader.schema if f.name != "_in_scope"]
    schema = pa.schema(fields + [pa.field(LINE_NUMBER, pa.int64())])
    read = kept = 0
    tmp = out_path.with_suffix(".parquet.tmp")
    try:
        with pq.ParquetWriter(tmp, schema, compression="zstd") as writer:
            for batch in reader:
                mask = batch.column("_in_scope")
                n_kept = pc.sum(mask).as_py() or 0
                if n_kept:
                    numbers = pa.array(np.arange(read + 1, read + batch.num_rows + 1, dtype=np.int64))
                    columns = [batch.column(f.name).filter(mask) for f in fields] + [numbers.filter(mask)]
                    writer.write_batch(pa.record_batch(columns, schema=schema))
                read += batch.num_rows
                kept += n_kept
    except duckdb.Error as exc:
        raise InputFileError(f"{source}: reading failed after {read} rows ({exc})") from exc
    finally:
        reader.close()  # releases DuckDB's handle on the pipe, so a still-writing child sees a broken pipe
    tmp.replace(out_path)
    return read, read - kept


def _sha256(path: Path) -> str:
    """The checksum `ess fetch` recorded in the snapshot's manifest (same name and size), else computed here."""
    size = path.stat().st_size
    for entry in read_manifest(path.parent).get("files", []):
        if entry.get("name") == path.name and entry.get("size") == size and entry.get("sha256"):
            return entry["sha256"]
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _sql_str(value) -> str:
    return "'" + str(value).replace("'", "''") + "'"
