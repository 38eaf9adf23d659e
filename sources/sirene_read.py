"""Open one SIRENE stock deliverable (zipped CSV or Parquet) as a DuckDB relation of text columns, for ONE pass.

`open_stock(con, path, key)` is the only place a national SIRENE file is opened (tests count its calls). It yields a
`Stock` describing how to read the file once:
- `text[col]`: SQL giving the column as the text the CSV deliverable holds (Parquet types turned back into text:
  leading zeros of integer-typed codes restored, dates as YYYY-MM-DD…); a column absent from an older layout is NULL;
- `relation`: the FROM clause; `line`: SQL of the row's number (record number in the CSV — turned into a line
  number later, once the malformed records are known —, row number in the Parquet file); `last`: SQL true on the
  last row of a CSV (whose number is then the count of rows read; Parquet gives its count in its footer).

Zips: DuckDB cannot read them offline (no zipfs), so a child process (sources/unzip_stream.py) inflates the CSV into
an anonymous pipe read by read_csv with explicit VARCHAR columns; malformed records go to a rejects table (kept,
counted and traced by the caller). A zip must hold exactly the expected member: anything else is refused before
reading, never silently skipped. Parquet: every needed column must have a type that converts to the official text
without guessing; anything else (e.g. a date typed as an integer) is refused with the column and its type named.
"""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
import tempfile
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import duckdb

from ess.errors import InputFileError
from sources.sirene_layouts import CODE_WIDTHS, NEEDED_COLUMNS, csv_member_name, required_columns

_UNZIP_STREAM = Path(__file__).with_name("unzip_stream.py")
_UNZIP_EXIT_PIPE = 4
# A CSV record longer than this is set aside by DuckDB as malformed (with its line number); shorter ones are read and
# an over-long field is rejected by staging with its key. DuckDB's read buffer must hold a whole record.
CSV_MAX_LINE_BYTES = 16 << 20
CSV_BUFFER_BYTES = 32 << 20

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
    text: dict[str, str]  # needed column -> SQL of its text over `relation`
    relation: str
    line: str
    last: str
    rows_in_file: int | None = None  # Parquet: from the footer
    rejects: str | None = None  # CSV: table of malformed records (filled by the read)
    header: list[str] | None = None


@contextmanager
def open_stock(con, path: Path, key: str) -> Iterator[Stock]:
    """Open a zip or Parquet stock for one read (see the module docstring)."""
    path = Path(path)
    if path.suffix == ".parquet":
        yield _parquet_stock(con, path, key)
    elif path.suffix == ".zip":
        with _zip_stock(con, path, key) as stock:
            yield stock
    else:
        raise InputFileError(f"{path}: not a SIRENE deliverable (expected a .zip or a .parquet file)")


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
    except duckdb.Error as exc:
        raise InputFileError(f"{path}: cannot be read as Parquet ({exc}); download the file again") from exc
    types = {name: str(dtype).upper() for name, dtype, *_ in schema}
    _check_columns(path, key, list(types))
    text = {}
    for col in NEEDED_COLUMNS[key]:
        text[col] = as_text(path, col, types[col]) if col in types else "CAST(NULL AS VARCHAR)"
    return Stock(path, key, "parquet", text, relation=f"read_parquet({sql_str(path)}, file_row_number = true)",
                 line="(file_row_number + 1)", last="false", rows_in_file=int(rows or 0))


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
        "converted by another tool: download the official file again (`ess fetch`) or fix the column's type."
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
                    f"holds only {member!r}, and the others would not be read. Download the official file again "
                    "(`ess fetch`) or remove the extra members."
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
def _zip_stock(con, path: Path, key: str) -> Iterator[Stock]:
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
        columns = "{" + ", ".join(f"{sql_str(c)}: 'VARCHAR'" for c in header) + "}"
        needed = [c for c in NEEDED_COLUMNS[key] if c in header]
        # Rows are numbered as they come (one stream, in file order); lead() marks the last one, so that the count of
        # rows read comes out of the same single pass.
        relation = (
            f"(SELECT {', '.join(quote(c) for c in needed)}, row_number() OVER () AS _numero_lu, "
            f"lead(1) OVER () IS NULL AS _dernier_lu "
            f"FROM read_csv('/dev/fd/{read_fd}', header = true, auto_detect = false, delim = ',', quote = '\"', "
            f"escape = '\"', columns = {columns}, max_line_size = {CSV_MAX_LINE_BYTES}, "
            f"buffer_size = {CSV_BUFFER_BYTES}, store_rejects = true, rejects_table = '{rejects}', "
            f"rejects_scan = '{scan}'))"
        )
        text = {c: (quote(c) if c in header else "CAST(NULL AS VARCHAR)") for c in NEEDED_COLUMNS[key]}
        stock = Stock(path, key, "csv", text, relation=relation, line="_numero_lu", last="_dernier_lu",
                      rejects=rejects, header=header)
        failure: BaseException | None = None
        try:
            yield stock
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
            raise InputFileError(message or f"{path}: decompression failed (exit code {code})") from failure
        if failure is not None:
            raise failure


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


def malformed_records(con, stock: Stock, key_column: str) -> list[dict]:
    """The records DuckDB set aside, one entry each: file line, what is wrong, the key when the line shows it."""
    if not stock.rejects:
        return []
    try:
        rows = con.execute(
            # One entry per line; an over-long or non-UTF-8 line says so first, else the first faulty column.
            f"SELECT line, arg_min(CAST(error_type AS VARCHAR), {_ERROR_RANK}), arg_min(csv_line, {_ERROR_RANK}) "
            f"FROM {stock.rejects} GROUP BY line ORDER BY line"
        ).fetchall()
    finally:
        con.execute(f"DROP TABLE IF EXISTS {stock.rejects}")
    position = stock.header.index(key_column) if stock.header and key_column in stock.header else None
    records = []
    for line, error, text in rows:
        key = None
        if text is not None and position is not None:
            fields = next(csv.reader(io.StringIO(text)), [])
            candidate = fields[position].strip() if len(fields) > position else ""
            key = candidate if candidate.isdigit() and len(candidate) == CODE_WIDTHS.get(key_column) else None
        records.append({"numero_ligne": int(line), "erreur": CSV_ERRORS.get(str(error), "ligne mal formée"),
                        "cle": key, "texte": text})
    return records
