"""Open one SIRENE stock deliverable (zipped CSV or Parquet) as DuckDB relations of text columns, for ONE pass.

`open_stock(con, path, key)` is the only place a national SIRENE file is opened (tests count its calls). It yields a
`Stock` describing how to read the file once:
- `text[col]`: SQL giving the column as the text the CSV deliverable holds (Parquet types turned back into text:
  leading zeros of integer-typed codes restored, dates as YYYY-MM-DD…); a column absent from an older layout is NULL;
- `parts`: the FROM clauses to read, in parallel (`copy_parts`): the Parquet file, or one pipe per reader for a zip;
  `line`: SQL of the row's number within its part.

Zips: DuckDB cannot read them offline (no zipfs), and parses a pipe on one thread, twice as slowly as the member
inflates. So a child process (sources/unzip_stream.py) inflates the CSV and deals it, in blocks cut between
records, to ESS_SIRENE_LECTEURS pipes (2 by default), each read by read_csv with explicit VARCHAR columns in its own
DuckDB cursor and thread. Marker records before each block say where its rows sit in the file: `numbering()` turns
a part's row number into the file's line (and checks that no marker went missing, which a damaged quote could
cause). Malformed records go to each reader's rejects table (kept, counted and traced by the caller with their
line in the file). A zip must hold exactly the expected member: anything else is refused before reading, never
silently skipped. Parquet: every needed column must have a type that converts to the official text without
guessing; anything else (e.g. a date typed as an integer) is refused with the column and its type named.
"""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
import tempfile
import threading
import uuid
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import duckdb

from ess.db import integer_setting
from ess.errors import InputFileError
from sources.sirene_layouts import CODE_WIDTHS, NEEDED_COLUMNS, SOURCE, csv_member_name, required_columns

_UNZIP_STREAM = Path(__file__).with_name("unzip_stream.py")
_UNZIP_EXIT_PIPE = 4
# A CSV record longer than this is set aside by DuckDB as malformed (with its line number); shorter ones are read and
# an over-long field is rejected by staging with its key. DuckDB's read buffer must be larger than a record; each
# reader holds up to two buffers, and the readers share the staging's memory limit (no SIRENE field exceeds 250
# characters: an 8 MiB record is a damaged file either way).
CSV_MAX_LINE_BYTES = 8 << 20
CSV_BUFFER_BYTES = 16 << 20
# A zipped CSV is dealt to DEFAULT_READERS pipes in blocks of about BLOCK_BYTES (sources/unzip_stream.py).
DEFAULT_READERS = 2
BLOCK_BYTES = 2 << 20
# Rows per row group of the kept rows' Parquet files: each writer holds one in memory (all départements keep every
# row: DuckDB's default of 122 880 wide rows per reader overflowed the staging's memory limit).
RAW_ROW_GROUP = 16384
# Row groups per file of a part's kept rows: DuckDB holds a Parquet file's footer (≈ 0.8 KB per column chunk) until
# the file is closed, so one file per reader grew with the national file: the 43.9 M establishments of 100 % of
# France read from zips are 2 680 row groups of 54 columns, and the process grew by ≈ 110 MB during the read (peak
# 416 MB). Each part is written as a folder of files of at most this many row groups (≈ 1 M rows).
RAW_GROUPS_PER_FILE = 64
# Rows a partitioned write buffers, all partitions together (partition_flush_rows): DuckDB holds up to its flush
# threshold of rows per partition. The establishments' history of every département at 100 % of France, split into
# 44 key shares from its zip: out of the frugal bound (91.5 MiB) within 3 s at 16 384 rows a share; whole at 6 000.
PARTITION_BUFFER_ROWS = 262_144

_INTEGER_TYPES = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
                  "UBIGINT", "UHUGEINT"}
_DATE_COLUMNS = {"dateCreationEtablissement", "dateCreationUniteLegale", "dateDebut", "dateFin"}
_TIMESTAMP_COLUMNS = {"dateDernierTraitementEtablissement", "dateDernierTraitementUniteLegale"}
_BOOLEAN_COLUMNS = {"etablissementSiege"}
_YEAR_COLUMNS = {"anneeEffectifsEtablissement", "anneeEffectifsUniteLegale"}


@dataclass
class Stock:
    path: Path
    key: str
    kind: str  # "csv" | "parquet"
    text: dict[str, str]  # needed column -> SQL of its text over each part
    parts: list[str]  # FROM clauses read in parallel (one per pipe for a zip; the file for Parquet)
    line: str  # SQL of the row's number within its part
    rows_in_file: int | None = None  # Parquet: from the footer
    header: list[str] | None = None
    marker: str | None = None  # CSV: first field of the block markers (see sources/unzip_stream.py)
    cursors: list = field(default_factory=list)  # CSV: the connection reading each part (owns its rejects table)
    rejects: list[str] = field(default_factory=list)  # CSV: the table of malformed records of each part
    fds: dict[int, int] = field(default_factory=dict)  # CSV: part -> our end of its pipe, until closed
    # The needed columns whose text can be of any length (a CSV's, a Parquet file's VARCHAR columns): the others are
    # typed in the file (a date, a number, a flag), so that their text is a few characters long.
    free_text: list[str] | None = None

    def unbounded(self) -> list[str]:
        return list(self.text) if self.free_text is None else list(self.free_text)

    def abandon(self, part: int) -> None:
        """Close our end of a part's pipe (its reader failed): the child gets a broken pipe and stops."""
        fd = self.fds.pop(part, None)
        if fd is not None:
            os.close(fd)

    def marker_sql(self) -> str:
        """SQL over a part: the block marker of a marker record, else NULL."""
        if self.marker is None:
            return "CAST(NULL AS VARCHAR)"
        first = quote(self.header[0])
        return f"CASE WHEN starts_with({first}, {sql_str(self.marker + ':')}) THEN {first} END"


@contextmanager
def open_stock(con, path: Path, key: str, readers: int | None = None) -> Iterator[Stock]:
    """Open a zip or Parquet stock for one read (see the module docstring); `readers` caps the zip's readers."""
    path = Path(path)
    if path.suffix == ".parquet":
        yield _parquet_stock(con, path, key)
    elif path.suffix == ".zip":
        with _zip_stock(con, path, key, readers) as stock:
            yield stock
    else:
        raise InputFileError(f"{path}: not a SIRENE deliverable (expected a .zip or a .parquet file)")


def copy_parts(con, stock: Stock, select: str, targets: list[Path], params: dict,
               partition_by: str | None = None, partitions: int = 1) -> None:
    """COPY `select` (a query over `{part}`) of every part of the stock to its target, a folder of Parquet files
    (RAW_GROUPS_PER_FILE), the parts in parallel: one DuckDB cursor (and thread) per pipe, as each pipe is parsed by
    one thread. `partition_by`: a column of `select` whose `partitions` values split each target into a folder of
    hive partitions (`<column>=<value>/`, each a folder of files), written in the same pass (the column itself is
    not written)."""
    rotate = f", ROW_GROUPS_PER_FILE {RAW_GROUPS_PER_FILE}"
    if not partition_by:
        _copy_parts(con, stock, select, targets, params, rotate)
        return
    # A partitioned write buffers rows per partition and thread until its flush threshold (DuckDB's default,
    # 524 288 wide rows, is larger than the staging's memory bound). The setting is a connection's own: it is set on
    # every cursor that writes (a zip's part is written on its reader's cursor: with the default there, every
    # département at 10 % of France ran out of memory in the legal units' read).
    with integer_setting([con, *stock.cursors], "partitioned_write_flush_threshold",
                         partition_flush_rows(partitions)):
        _copy_parts(con, stock, select, targets, params, f", PARTITION_BY ({partition_by}){rotate}")


def partition_flush_rows(partitions: int) -> int:
    """The flush threshold of a partitioned write into `partitions` partitions: a row group's worth, less with many
    partitions (PARTITION_BUFFER_ROWS), never under DuckDB's vector of 2 048 rows."""
    return max(2048, min(RAW_ROW_GROUP, PARTITION_BUFFER_ROWS // max(1, partitions)))


def _copy_parts(con, stock: Stock, select: str, targets: list[Path], params: dict, options: str) -> None:
    def run(cursor, i: int) -> None:
        sql = select.replace("{part}", stock.parts[i]).replace("{index}", str(i))
        cursor.execute(f"COPY ({sql}) TO {sql_str(targets[i])} (FORMAT parquet, ROW_GROUP_SIZE {RAW_ROW_GROUP}"
                       f"{options})", {k: v for k, v in params.items() if f"${k}" in sql})

    if stock.kind == "parquet":
        # Each row carries its row number in the file (file_row_number), so the order in which DuckDB's threads
        # write the kept rows never shows; keeping it made a low memory bound serialise the scan (StockEtablissement
        # at 10 % of France: 2.1 s on one thread instead of 1.3 s on two). Said to this COPY, not by DuckDB's
        # preserve_insertion_order: that setting is the database's, and the partitions written behind the read
        # rely on it (ess.db.export_partitions).
        options += ", PRESERVE_ORDER false"
        run(con, 0)
        return
    if len(stock.parts) == 1:
        run(stock.cursors[0] if stock.cursors else con, 0)
        return
    errors: list[BaseException | None] = [None] * len(stock.parts)

    def worker(i: int) -> None:
        try:
            run(stock.cursors[i], i)
        except BaseException as exc:  # noqa: BLE001 — re-raised in the caller's thread
            errors[i] = exc
            stock.abandon(i)  # the child stops, so the other readers see their end instead of waiting

    # Each reader's query runs on its own calling thread: DuckDB's worker threads would only compete with them.
    workers = con.execute("SELECT current_setting('threads')").fetchone()[0]
    con.execute("SET threads = 1")
    try:
        threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(stock.parts))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        con.execute(f"SET threads = {int(workers)}")
    failed = next((e for e in errors if e is not None), None)
    if failed is not None:
        raise failed


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def sql_str(value) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _check_columns(path: Path, key: str, present: list[str]) -> None:
    missing = [c for c in required_columns(key) if c not in present]
    if missing:
        raise InputFileError(
            f"{path}: required column(s) {missing} missing (the file has {len(present)} columns). "
            "This is not a SIRENE stock file of this kind, or its layout changed: check the file."
        )


# --- Parquet ----------------------------------------------------------------------------------------------------


def _parquet_stock(con, path: Path, key: str) -> Stock:
    try:
        schema = con.execute(f"DESCRIBE SELECT * FROM read_parquet({sql_str(path)})").fetchall()
        rows = con.execute(f"SELECT sum(num_rows) FROM parquet_file_metadata({sql_str(path)})").fetchone()[0]
    except duckdb.InterruptException:
        raise  # a failure elsewhere stops the load (sources/sirene.py, _Behind): not the file's fault
    except duckdb.Error as exc:
        # (DuckDB's first line says why; the next ones quote our SQL, of no use to the user)
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputFileError(f"{path}: cannot be read as Parquet ({detail}); download the file again") from exc
    types = {name: str(dtype).upper() for name, dtype, *_ in schema}
    _check_columns(path, key, list(types))
    text = {}
    for col in NEEDED_COLUMNS[key]:
        text[col] = as_text(path, col, types[col]) if col in types else "CAST(NULL AS VARCHAR)"
    # (file_row_number is DuckDB's virtual column: asking for it with `file_row_number = true` made it a column of
    # the scan, and the read of StockEtablissement ≈ 7 % dearer, README, Benchmarks)
    return Stock(path, key, "parquet", text, parts=[f"read_parquet({sql_str(path)})"],
                 line="(file_row_number + 1)", rows_in_file=int(rows or 0),
                 free_text=[c for c in NEEDED_COLUMNS[key] if types.get(c) == "VARCHAR"])


def as_text(path: Path, col: str, dtype: str) -> str:
    """SQL turning a typed Parquet column back into the text the CSV deliverable holds; a type that cannot be
    turned back without guessing is an InputFileError naming the column and its type."""
    q = quote(col)
    allowed = "VARCHAR"
    if dtype == "VARCHAR":
        return q
    if col in _DATE_COLUMNS or col in _TIMESTAMP_COLUMNS:
        if dtype == "DATE":
            return f"strftime({q}, '%Y-%m-%d')"
        if dtype.startswith("TIMESTAMP"):
            fmt = "%Y-%m-%dT%H:%M:%S" if col in _TIMESTAMP_COLUMNS else "%Y-%m-%d"
            return f"strftime({q}, '{fmt}')"
        allowed = "VARCHAR ('YYYY-MM-DD'), DATE or TIMESTAMP"
    elif col in _BOOLEAN_COLUMNS:
        if dtype == "BOOLEAN":
            return f"CASE WHEN {q} THEN 'true' WHEN NOT {q} THEN 'false' END"
        allowed = "VARCHAR ('true'/'false') or BOOLEAN"
    elif col in CODE_WIDTHS or col in _YEAR_COLUMNS:
        if dtype in _INTEGER_TYPES or dtype in ("FLOAT", "DOUBLE") or dtype.startswith("DECIMAL"):
            text = (f"CAST({q} AS VARCHAR)" if dtype in _INTEGER_TYPES
                    else f"CAST(CAST({q} AS BIGINT) AS VARCHAR)")
            width = CODE_WIDTHS.get(col)
            if width is None:
                return text
            # Integer-typed codes lost their leading zeros: pad back (never truncate: staging rejects a too-long one).
            return f"CASE WHEN length({text}) < {width} THEN lpad({text}, {width}, '0') ELSE {text} END"
        allowed = "VARCHAR or an integer type"
    raise InputFileError(
        f"{path}: column {col} is typed {dtype}; SIRENE's {col} is read as {allowed}. The file was probably "
        f"converted by another tool: {SOURCE.refetch_advice()}, or fix the column's type."
    )


# --- zipped CSV -------------------------------------------------------------------------------------------------


def _csv_header(path: Path, member: str) -> list[str]:
    """The header of the CSV inside the zip (reads only its first line); the zip must hold that member only."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            if member not in names:
                raise InputFileError(
                    f"{path}: the zip holds {names}, not the expected {member!r}; is it the right file?"
                )
            if len(names) > 1:
                others = [n for n in names if n != member]
                raise InputFileError(
                    f"{path}: the zip holds {len(names)} members ({others} besides {member!r}); the official zip "
                    f"holds only {member!r}, and the others would not be read: {SOURCE.refetch_advice()}, or remove "
                    "the extra members."
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
def _zip_stock(con, path: Path, key: str, cap: int | None) -> Iterator[Stock]:
    member = csv_member_name(key)
    header = _csv_header(path, member)
    _check_columns(path, key, header)
    if len(set(header)) != len(header):
        raise InputFileError(f"{path}: duplicate column names in the header of {member}")
    readers = min(csv_readers(), cap or csv_readers())
    marker = "ess-bloc-" + uuid.uuid4().hex  # no SIRENE field starts like this: the block markers are unambiguous
    pipes = [os.pipe() for _ in range(readers)]
    columns = "{" + ", ".join(f"{sql_str(c)}: 'VARCHAR'" for c in header) + "}"
    needed = [c for c in NEEDED_COLUMNS[key] if c in header]
    text = {c: (quote(c) if c in header else "CAST(NULL AS VARCHAR)") for c in NEEDED_COLUMNS[key]}
    stock = Stock(path, key, "csv", text, parts=[], line="_numero_lu", header=header, marker=marker)
    first = quote(header[0])
    for i, (read_fd, _) in enumerate(pipes):
        rejects = f"_sirene_csv_rejets_{key}_{i}"
        # Rows are numbered as they come (one pipe, in its order: a streaming window); the markers say which block
        # of the file each run of rows is (sirene_read.csv_numbering).
        stock.parts.append(
            f"(SELECT {', '.join(quote(c) for c in needed)}{'' if header[0] in needed else ', ' + first}, "
            f"row_number() OVER () AS _numero_lu "
            f"FROM read_csv('/dev/fd/{read_fd}', header = true, auto_detect = false, delim = ',', quote = '\"', "
            f"escape = '\"', columns = {columns}, max_line_size = {CSV_MAX_LINE_BYTES}, "
            f"buffer_size = {CSV_BUFFER_BYTES}, store_rejects = true, rejects_table = '{rejects}', "
            f"rejects_scan = '{rejects}_scan'))")
        stock.rejects.append(rejects)
        stock.fds[i] = read_fd
        stock.cursors.append(con.cursor())
    with tempfile.TemporaryFile() as err:
        try:
            child = subprocess.Popen(
                [sys.executable, str(_UNZIP_STREAM), str(path), member, "--marker", marker, "--block",
                 str(BLOCK_BYTES if readers > 1 else 0), *(str(w) for _, w in pipes)],
                stdout=subprocess.DEVNULL, stderr=err, stdin=subprocess.DEVNULL, pass_fds=[w for _, w in pipes],
            )
        except BaseException:
            for i in list(stock.fds):
                stock.abandon(i)
            raise
        finally:
            for _, write_fd in pipes:
                os.close(write_fd)  # only the child writes: its exit is our end-of-file
        failure: BaseException | None = None
        try:
            yield stock
        except BaseException as exc:  # noqa: BLE001 — re-raised below, after the child's own error if any
            failure = exc
        finally:
            for i in list(stock.fds):
                stock.abandon(i)
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
            for cursor in stock.cursors:
                cursor.close()
        # The child's error (corrupt or truncated member) explains any parse error DuckDB saw: report it first.
        if code not in (0, _UNZIP_EXIT_PIPE) or (code == _UNZIP_EXIT_PIPE and failure is None):
            raise InputFileError(message or f"{path}: decompression failed (exit code {code})") from failure
        if failure is not None:
            raise failure


def csv_readers() -> int:
    """How many pipes (and DuckDB readers) parse a zipped CSV: ESS_SIRENE_LECTEURS, else 2 (the machine's cores
    beyond 2 go to the other steps; one reader never cuts the file into blocks)."""
    value = os.environ.get("ESS_SIRENE_LECTEURS", "").strip() or str(DEFAULT_READERS)
    if not value.isdigit() or not 1 <= int(value) <= 16:
        raise InputFileError(f"ESS_SIRENE_LECTEURS={value!r}: expected a number of readers from 1 to 16")
    return int(value)


# DuckDB's error types for malformed records, as a person reads them.
CSV_ERRORS = {
    "TOO MANY COLUMNS": "trop de champs",
    "MISSING COLUMNS": "champs manquants",
    "UNQUOTED VALUE": "guillemet mal placé",
    "LINE SIZE OVER MAXIMUM": f"ligne de plus de {CSV_MAX_LINE_BYTES >> 20} Mio",
    "INVALID ENCODING": "caractères qui ne sont pas de l'UTF-8",
    "INVALID STATE": "ligne mal formée",
    "CAST": "valeur illisible",
}


_ERROR_RANK = ("CASE CAST(error_type AS VARCHAR) WHEN 'LINE SIZE OVER MAXIMUM' THEN -2 WHEN 'INVALID ENCODING' "
               "THEN -1 ELSE coalesce(column_idx, 0) END")


@dataclass
class Numbering:
    """Where the rows of a read come from: `line` of a kept row = its number in its part + the offset of the last
    segment of that part starting at or before it; `rows_read` counts every record (malformed ones included)."""
    rows_read: int
    segments: list[tuple[int, int, int]]  # (part, first row number of the segment, offset)
    malformed: list[dict]  # numero_ligne (line in the file, header = 1), erreur, cle, texte


def numbering(stock: Stock, markers: dict[int, list[tuple[int, str]]], key_column: str) -> Numbering:
    """The file's line of every row read, from the block markers each part kept (part -> [(row number, marker)])
    and the malformed records DuckDB set aside in each part. A line is a record (a quoted newline does not count),
    the header being line 1, as DuckDB numbers the malformed records.

    Within a part, a record's line in the pipe is its row number + 1 (header) + the malformed records before it;
    the markers cut the pipe into blocks, and block k holds the lines of the file that follow those of block k-1.
    """
    if stock.kind == "parquet":
        return Numbering(int(stock.rows_in_file or 0), [(0, 1, 0)], [])
    bad = {i: _malformed(stock, i, key_column) for i in range(len(stock.parts))}
    n = len(stock.parts)
    pipe_lines: dict[int, list[tuple[int, int]]] = {}  # part -> [(pipe line of the marker, row number)]
    labels: dict[int, list[str]] = {}
    for i in range(n):
        rows = sorted(markers.get(i, []))
        lines, c = [], 0
        for r, _ in rows:
            while c < len(bad[i]) and bad[i][c]["_ligne_tube"] <= r + 1 + c:
                c += 1
            lines.append((r + 1 + c, r))
        labels[i] = [m.split(":", 1)[1] for _, m in rows]
        # A last record whose quote never closes swallows the end marker: the pipe ends with that record.
        if (not labels[i] or not labels[i][-1].startswith("end:")) and bad[i] and bad[i][-1]["avale_fin"]:
            labels[i].append("end:?")
            lines.append((bad[i][-1]["_ligne_tube"] + 1, None))
        pipe_lines[i] = lines
    counts = {x.split(":")[1] for i in labels for x in labels[i][-1:] if x.startswith("end:")} - {"?"}
    numbered = [int(x) for i in labels for x in labels[i] if x.isdigit()]
    blocks = int(counts.pop()) if len(counts) == 1 else max(numbered, default=-1) + 1
    for i in range(n):
        # Only the pipe of the file's last block may end inside a quoted field (the file does); anywhere else a
        # swallowed marker means a cut inside a quoted field: the blocks cannot be put back in order.
        end = "end:?" if labels[i][-1:] == ["end:?"] and i == (blocks - 1) % n else f"end:{blocks}"
        expected = [str(k) for k in range(i, blocks, n)] + [end]
        if counts or labels[i] != expected or any(r["avale_bloc"] for r in bad[i]):
            raise InputFileError(
                f"{stock.path}: a misplaced quote character (one opened and never closed, or a stray one) hides "
                f"where the records of the file end when it is read by {n} parallel readers, so their line numbers "
                "cannot be told. Read this file with one reader (set ESS_SIRENE_LECTEURS=1 and run again: slower, "
                "and the damaged lines are rejected with their numbers) or download it again.")
    # Sizes of the blocks (records between a marker and the next one of its pipe), then where each starts.
    start_line, size = {}, {}
    for i in range(n):
        for (line, _), (following, _), label in zip(pipe_lines[i], pipe_lines[i][1:], labels[i]):
            size[int(label)] = following - line - 1
    first = 2
    for k in range(blocks):
        start_line[k] = first
        first += size[k]
    segments, malformed = [], []
    for i in range(n):
        events = [(line, 0, int(label), r) for (line, r), label in zip(pipe_lines[i], labels[i]) if label.isdigit()]
        events += [(rec["_ligne_tube"], 1, None, rec) for rec in bad[i]]
        k, marker_line, c = None, None, 0
        for line, kind, label, item in sorted(events, key=lambda e: (e[0], e[1])):
            if kind == 0:  # a marker: block `label` starts after it
                k, marker_line = label, line
                segments.append((i, item + 1, start_line[k] + c - marker_line))
            else:  # a malformed record: the rows after it are one line further
                c += 1
                rec = dict(item)
                rec["numero_ligne"] = start_line[k] + (line - marker_line - 1)
                for helper in ("_ligne_tube", "avale_fin", "avale_bloc"):
                    rec.pop(helper)
                malformed.append(rec)
                segments.append((i, line - c, start_line[k] + c - marker_line))
    malformed.sort(key=lambda r: r["numero_ligne"])
    return Numbering(first - 2, segments, malformed)


def _malformed(stock: Stock, part: int, key_column: str) -> list[dict]:
    """The records DuckDB set aside in one part, one entry each (line in the pipe, what is wrong, the key when the
    line shows it), in pipe order."""
    cursor = stock.cursors[part]
    rows = cursor.execute(
        # One entry per line; an over-long or non-UTF-8 line says so first, else the first faulty column.
        f"SELECT line, arg_min(CAST(error_type AS VARCHAR), {_ERROR_RANK}), arg_min(csv_line, {_ERROR_RANK}) "
        f"FROM {stock.rejects[part]} GROUP BY line ORDER BY line"
    ).fetchall()
    position = stock.header.index(key_column) if stock.header and key_column in stock.header else None
    marker = stock.marker + ":"
    records = []
    for line, error, text in rows:
        swallowed = text is not None and marker in text
        end = swallowed and (marker + "end") in text
        several = swallowed and text.count(marker) > 1
        if swallowed:
            text = text[:text.index(marker)].rstrip("\r\n")
        key = None
        if text is not None and position is not None:
            fields = next(csv.reader(io.StringIO(text)), [])
            candidate = fields[position].strip() if len(fields) > position else ""
            key = candidate if candidate.isdigit() and len(candidate) == CODE_WIDTHS.get(key_column) else None
        records.append({"_ligne_tube": int(line), "erreur": CSV_ERRORS.get(str(error), "ligne mal formée"),
                        "cle": key, "texte": text, "avale_fin": end,
                        "avale_bloc": swallowed and (not end or several)})
    if records and any(r["avale_fin"] for r in records[:-1]):
        records[0]["avale_bloc"] = True  # an end marker can only be swallowed by the last record
    return records
