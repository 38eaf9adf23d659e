"""DuckDB connection and the SQL-file runner.

Every table has one SQL file, `sql/<layer>/<table>.sql`, holding a single SELECT written as a chain of CTEs.
Python only binds named parameters (`$departement`, `$millesime`…) and materialises the result under the
file's name. Staging queries may add a `_motif_rejet` column: rows where it is not NULL go to `staging_rejets`
with that reason instead of the table, so nothing is dropped silently.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from ess import dictionary
from ess.paths import SQL_DIR

REJECT_COLUMN = "_motif_rejet"
REJECTS_TABLE = "staging_rejets"
# Optional helper columns of a staging query, copied into the rejects table when present: the line (or row) number
# of the record in its file, the file column at fault and its value, and the département the row belongs to.
LINE_COLUMN = "_ligne"
COLUMN_COLUMN = "_colonne_rejet"
VALUE_COLUMN = "_valeur_rejet"
DEPARTEMENT_COLUMN = "_departement"
# A column a staging query may output only to order the duplicates of a key (see Duplicates): dropped like the others.
ORDER_COLUMN = "_ordre_doublon"
HELPER_COLUMNS = (REJECT_COLUMN, LINE_COLUMN, COLUMN_COLUMN, VALUE_COLUMN, ORDER_COLUMN)
# DuckDB's vectors (rows), and how many of a staging table's may hold a rejected row for the rejects to be deleted in
# place rather than the kept rows copied (build_staging_table): 512 × 16 KiB of version information, 8 MiB.
VECTOR_ROWS = 2048
DELETED_VECTORS_MAX = 512
# staging_rejets: one row per rejected file row, its columns and types those of the field dictionary
# (sql/dictionnaire/colonnes.csv, tables `staging_rejets*`): `departements` lists the départements the row concerns
# (empty when it cannot be placed in any: no location, malformed key); `ligne` is the row as the staging query saw
# it, long texts cut.


def rejects_columns() -> list[tuple[str, str]]:
    return [(c.name, c.type) for c in dictionary.load().columns(REJECTS_TABLE)]


MAX_VALUE_CHARS = 200  # a value quoted in staging_rejets.valeur
MAX_JSON_TEXT_CHARS = 1000  # a text field inside staging_rejets.ligne
_IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]*$")
_PARAM = re.compile(r"\$([a-z_][a-z0-9_]*)")


def connect(path: str | Path = ":memory:", *, threads: int | None = None, memory_limit: str | None = None):
    """A DuckDB connection that never tries to download an extension (offline machines would hang)."""
    config: dict[str, Any] = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}
    if threads:
        config["threads"] = threads
    if memory_limit:
        config["memory_limit"] = memory_limit
    con = duckdb.connect(str(path), config=config)
    # No progress bar (its cursors inherit the setting): DuckDB draws one on stdout for any query over 2 s, even
    # into a flow's log.
    con.execute("SET enable_progress_bar = false")
    return con


@contextlib.contextmanager
def integer_setting(cons, name: str, value: int):
    """DuckDB's integer setting `name` at `value` on each connection or cursor of `cons` (one or a list) for the
    block, then each given its own back (a setting such as partitioned_write_flush_threshold is a cursor's own)."""
    cons = list(cons) if isinstance(cons, (list, tuple)) else [cons]
    before = [c.execute(f"SELECT current_setting('{name}')").fetchone()[0] for c in cons]
    try:
        for c in cons:
            c.execute(f"SET {name} = {int(value)}")
        yield
    finally:
        for c, was in zip(cons, before):
            c.execute(f"SET {name} = {int(was)}")


@contextlib.contextmanager
def one_thread(con):
    """Run the block on one DuckDB thread, then give the connection its setting back.

    For the tables whose figures are published: several threads sum floating-point numbers in an order that changes
    from run to run, so the same inputs gave figures differing by ~1e-12, and the statistical protection could then
    break ties differently and mask other cells (tests/test_reproducible.py)."""
    with integer_setting(con, "threads", 1):
        yield con


# Above this many départements, a national source is staged frugally: sources/sirene.py writes each file's
# partitions and drops its table before reading the next, and transforms/staging.py stages in a database file and
# writes the other tables' partitions in turn (one value, read at call time, for both to agree).
FRUGAL_DEPARTEMENTS = 10
# Share of DuckDB's memory bound left to the queries over many keys or rows (see frugal). Every département at 10 %
# of France peaked at 401 MB (Parquet) with two thirds; with half, 345 MB (Parquet) and 381 MB (zip, inflater included).
FRUGAL_SHARE = 1 / 2
# Rows sorted at a time when a table is written out by partition (export_partitions): on one thread within 91.5 MiB,
# DuckDB sorted 14.4 M rows of the establishments' history at 30 % of France by département, not the 28.8 M of the
# whole table (out of memory); at 5 M, six scans of that table and their sorts took 69 s, three took 60 s.
SORTED_ROWS_PER_GROUP = 5_000_000
# Rows per row group of a partition file: DuckDB's Parquet writer holds one in memory, and its default of 122 880 rows
# of the establishments' 54 columns, beside the sort, overflowed the frugal bound (the Nord's 499 321 establishments
# at 30 % of France).
PARTITION_ROW_GROUP = 16384


@contextlib.contextmanager
def frugal(con, on: bool = True):
    """For the block, DuckDB on ONE thread with FRUGAL_SHARE of its memory bound (nothing changes when `on` is
    false). Hash joins and aggregates over millions of keys allocate beyond DuckDB's bound (≈ 100 MB more under
    192 MB on two threads, measured); on one thread with a lower bound they spill sooner and the process stays
    within its memory (every département at 10 % of France), at the cost of one core for these queries.
    Used by sources/sirene.py for a SIRENE file with many keys or kept rows, and by transforms/staging.py for the
    partitions of many départements."""
    if not on:
        yield
        return
    limit = memory_limit_bytes(con)
    with one_thread(con):
        con.execute(f"SET memory_limit = '{int(limit * FRUGAL_SHARE)}B'")
        try:
            yield
        finally:
            con.execute(f"SET memory_limit = '{limit}B'")


_UNITS = {"": 1, "B": 1, "BYTES": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
          "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}


def memory_limit_bytes(con) -> int:
    """DuckDB's memory bound in bytes (it shows it as e.g. '183.1 MiB')."""
    text = con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
    match = re.fullmatch(r"\s*([0-9.]+)\s*([A-Za-z]*)\s*", str(text))
    if match is None or match.group(2).upper() not in _UNITS:
        raise ValueError(f"DuckDB's memory_limit {text!r} is not understood")
    # DuckDB shows one decimal, cut (192 MB shows as 183.1 MiB): half a tenth more restores the bound it shows.
    return int((float(match.group(1)) + 0.05) * _UNITS[match.group(2).upper()])


def identifier(name: str) -> str:
    """Check a table/column name before it is written into SQL (names come from code, never from users)."""
    if not _IDENTIFIER.match(name):
        raise ValueError(f"not a safe SQL identifier: {name!r}")
    return name


def sql_path(table: str) -> Path:
    """The SQL file of a table: its layer is the prefix of its name (staging_…, core_…, out_…)."""
    layer = table.split("_", 1)[0]
    path = SQL_DIR / layer / f"{table}.sql"
    if not path.exists():
        raise FileNotFoundError(f"no SQL file for table {table!r}: expected {path}")
    return path


def read_sql(table: str) -> str:
    return sql_path(table).read_text(encoding="utf-8")


def bind(sql: str, params: dict[str, Any]) -> dict[str, Any]:
    """Keep only the parameters the query uses, and fail clearly on a missing one."""
    used = set(_PARAM.findall(sql))
    missing = used - params.keys()
    if missing:
        raise KeyError(f"SQL needs parameters {sorted(missing)}; given {sorted(params)}")
    return {k: params[k] for k in used}


def query(con, table: str, **params):
    """Run a table's SQL file and return the relation result (for small results and tests)."""
    sql = read_sql(table)
    return con.execute(sql, bind(sql, params))


def table_names(con) -> set[str]:
    """The tables and views of `con` (its main schema and temporary ones)."""
    return {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}


def build_table(con, table: str, *, into: str | None = None, **params) -> int:
    """Materialise `sql/<layer>/<table>.sql` as table `<table>` (or `into`, a part of it); returns its row count."""
    identifier(table)
    target = identifier(into or table)
    sql = read_sql(table)
    con.execute(f"CREATE OR REPLACE TABLE {target} AS {sql}", bind(sql, params))
    return con.execute(f"SELECT count(*) FROM {target}").fetchall()[0][0]


def ensure_rejects_table(con) -> None:
    columns = ", ".join(f"{name} {dtype}" for name, dtype in rejects_columns())
    con.execute(f"CREATE TABLE IF NOT EXISTS {REJECTS_TABLE} ({columns})")


def quoted_value(expr: str) -> str:
    """SQL quoting a value in a reject: as found, or cut to MAX_VALUE_CHARS with its full length said when it is
    much longer (a value quoted this way is not cut again: the margin leaves room for the length)."""
    return (f"CASE WHEN length({expr}) > {MAX_VALUE_CHARS + 40} THEN left({expr}, {MAX_VALUE_CHARS}) || '… ('"
            f" || length({expr}) || ' caractères)' ELSE {expr} END")


def insert_rejects(con, rows: list[dict]) -> None:
    """Add rejects built outside SQL (e.g. malformed CSV records); keys are the rejects table's column names."""
    if not rows:
        return
    names = [name for name, _ in rejects_columns()]
    con.executemany(
        f"INSERT INTO {REJECTS_TABLE} ({', '.join(names)}) VALUES "
        f"({', '.join('?::JSON' if n == 'ligne' else '?' for n in names)})",
        [[row.get(n) for n in names] for row in rows],
    )


@dataclass(frozen=True)
class Duplicates:
    """The rows of a staging table that repeat a key: among the valid rows (no `_motif_rejet`) holding the same
    `keys` (NULLs equal), the first by `order` (SQL over the query's columns, e.g. `_ligne`) is kept and the others
    are rejected with `reason`, the file `column` at fault and `value` (SQL). Done by build_staging_table on the
    materialised rows: the hashes of the keys that repeat are found by a sort of the valid rows' key hashes, and
    only their rows are ranked, so the staging query itself stays a single streaming pass (its checked rows are
    neither materialised again nor joined back on their line)."""
    keys: tuple[str, ...]
    order: str
    reason: str
    column: str
    value: str


# The hash of a row's duplicate keys (see _reject_duplicates).
KEY_HASH_FUNCTION = "hash"


def _reject_duplicates(con, tmp: str, duplicates: Duplicates) -> None:
    keys = [identifier(k) for k in duplicates.keys]
    # Equal keys have equal hashes: only the rows of a hash that repeats can repeat a key. The repeated hashes are
    # found by a sort, which DuckDB runs beyond its memory bound (a hash aggregate over the 9 M legal units of every
    # département at 30 % of France did not fit the staging's memory), and are usually none.
    repeated = (f"SELECT h FROM (SELECT h, lag(h) OVER (ORDER BY h) AS avant FROM ("
                f"SELECT {KEY_HASH_FUNCTION}({', '.join(keys)}) AS h FROM {tmp} WHERE {REJECT_COLUMN} IS NULL)) "
                "WHERE h = avant")
    if not con.execute(f"SELECT count(*) FROM ({repeated})").fetchone()[0]:
        return
    con.execute(
        f"""UPDATE {tmp} SET {REJECT_COLUMN} = ?, {COLUMN_COLUMN} = ?, {VALUE_COLUMN} = CAST({duplicates.value} AS VARCHAR)
            WHERE rowid IN (
                SELECT id FROM (
                    SELECT t.rowid AS id, row_number() OVER (PARTITION BY {', '.join('t.' + k for k in keys)}
                                                             ORDER BY {duplicates.order}) AS rang
                    FROM {tmp} AS t
                    WHERE t.{REJECT_COLUMN} IS NULL
                      AND {KEY_HASH_FUNCTION}({', '.join('t.' + k for k in keys)}) IN ({repeated}))
                WHERE rang > 1)""",
        [duplicates.reason, duplicates.column])


def build_staging_table(con, table: str, *, key: str, fichier: str, duplicates: Duplicates | None = None,
                        **params) -> dict[str, Any]:
    """Materialise a staging table, routing rows with a `_motif_rejet` to `staging_rejets`.

    Returns {"staged": n, "rejected": {reason: n}}. `key` is the column identifying a row in the rejects table.
    `duplicates`: the rows repeating a key are rejected too (see Duplicates; the query must then output
    `_colonne_rejet` and `_valeur_rejet`).
    When the query outputs them, `_ligne` (line or row number in the file), `_colonne_rejet` and `_valeur_rejet`
    (the file column at fault and its value) and `_departement` go to the rejects too. The staged table keeps every
    column but the reject helpers (`_ligne` included); other `_…` columns are the caller's to drop.
    """
    identifier(table)
    identifier(key)
    sql = read_sql(table)
    tmp = f"_all_{table}"  # every row, rejected ones included; becomes the staged table below
    con.execute(f"CREATE OR REPLACE TABLE {tmp} AS {sql}", bind(sql, params))
    described = con.execute(f"DESCRIBE {tmp}").fetchall()
    cols = [r[0] for r in described]
    if REJECT_COLUMN not in cols:
        raise ValueError(f"{sql_path(table)} must output a {REJECT_COLUMN} column (NULL for rows to keep)")
    if duplicates is not None:
        _reject_duplicates(con, tmp, duplicates)
    ensure_rejects_table(con)
    con.execute(f"DELETE FROM {REJECTS_TABLE} WHERE table_staging = ?", [table])

    def helper(name: str, default: str = "NULL") -> str:
        return f"t.{name}" if name in cols else default

    # The row as JSON, without the helpers and with long texts cut (a 10 MB field stays in its file).
    fields = []
    for name, dtype, *_ in described:
        if name in HELPER_COLUMNS or name == DEPARTEMENT_COLUMN:
            continue
        ref = f't."{name}"'
        if dtype == "VARCHAR":
            ref = (f"CASE WHEN length({ref}) > {MAX_JSON_TEXT_CHARS} THEN left({ref}, {MAX_JSON_TEXT_CHARS}) || '…' "
                   f"ELSE {ref} END")
        fields.append(f'"{name}" := {ref}')
    departements = (f"CASE WHEN t.{DEPARTEMENT_COLUMN} IS NULL THEN []::VARCHAR[] ELSE [t.{DEPARTEMENT_COLUMN}] END"
                    if DEPARTEMENT_COLUMN in cols else "NULL")
    value = quoted_value(f"CAST({helper(VALUE_COLUMN)} AS VARCHAR)")
    con.execute(
        f"""INSERT INTO {REJECTS_TABLE} (table_staging, fichier, cle, motif_rejet, ligne, numero_ligne, colonne, valeur,
                                         departements)
            SELECT ?, ?, CAST(t.{key} AS VARCHAR), t.{REJECT_COLUMN}, to_json(struct_pack({', '.join(fields)})),
                   {helper(LINE_COLUMN)}, {helper(COLUMN_COLUMN)}, {value}, {departements}
            FROM {tmp} AS t WHERE t.{REJECT_COLUMN} IS NOT NULL""",
        [table, fichier],
    )
    helpers = [c for c in HELPER_COLUMNS if c in cols]
    con.execute(f"DROP TABLE IF EXISTS {table}")
    # The staged table is what remains once the rejected rows are deleted and the helpers dropped, in place (a
    # national file's kept rows are copied once less), unless the rejects are spread over many of the table's
    # vectors: DuckDB then holds, as long as the table lives, 16 KiB it cannot spill for each vector of 2 048 rows
    # where a row was deleted (every département at 100 % of France: 88 MiB for the establishments, out of the
    # staging's memory). The rows kept are then copied instead.
    spread = con.execute(f"SELECT count(DISTINCT rowid // {VECTOR_ROWS}) FROM {tmp} WHERE {REJECT_COLUMN} IS NOT NULL"
                         ).fetchone()[0]
    if spread <= DELETED_VECTORS_MAX:
        con.execute(f"DELETE FROM {tmp} WHERE {REJECT_COLUMN} IS NOT NULL")
        for column in helpers:
            con.execute(f"ALTER TABLE {tmp} DROP COLUMN {column}")
        con.execute(f"ALTER TABLE {tmp} RENAME TO {table}")
    else:
        con.execute(f"CREATE TABLE {table} AS SELECT * EXCLUDE ({', '.join(helpers)}) FROM {tmp} "
                    f"WHERE {REJECT_COLUMN} IS NULL")
        con.execute(f"DROP TABLE {tmp}")
    rejected = dict(
        con.execute(
            f"SELECT motif_rejet, count(*) FROM {REJECTS_TABLE} WHERE table_staging = ? GROUP BY 1 ORDER BY 1",
            [table],
        ).fetchall()
    )
    staged = con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
    return {"staged": staged, "rejected": rejected}


def attach_tables(con, tables: dict[str, str | Path]) -> None:
    """Expose Parquet files as views named after their tables (the way steps receive their inputs)."""
    for name, path in tables.items():
        identifier(name)
        if not Path(path).exists():
            raise FileNotFoundError(f"input table {name!r} is missing: expected the Parquet file {path}")
        escaped = str(path).replace("'", "''")
        # a file's columns are its own: a `departement=38` folder above it is not a column (no hive guessing)
        con.execute(f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM read_parquet('{escaped}', "
                    "hive_partitioning = false)")


def _kv_metadata(metadata: dict[str, str] | None) -> str:
    if not metadata:
        return ""
    pairs = ", ".join(
        "'{}': '{}'".format(k.replace("'", "''"), str(v).replace("'", "''")) for k, v in sorted(metadata.items())
    )
    return f", KV_METADATA {{{pairs}}}"


def export_select(con, select: str, params: dict, path: str | Path, metadata: dict[str, str] | None = None, *,
                  order: str | None = "ALL", row_group: int | None = None) -> str:
    """Write the rows of `select`, ordered by `order` (all columns by default, so that the same rows give the same
    bytes; None: as the query gives them), to the Parquet file `path`, atomically (temporary file, then rename);
    `params` are bound by name. `row_group`: rows per row group (DuckDB's default otherwise)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    escaped = str(tmp).replace("'", "''")
    sort = f" ORDER BY {order}" if order else ""
    options = f", ROW_GROUP_SIZE {int(row_group)}" if row_group else ""
    options += "" if order else ", PRESERVE_ORDER true"  # the query's order, whatever the database's setting
    con.execute(f"COPY (SELECT * FROM ({select}){sort}) TO '{escaped}' "
                f"(FORMAT parquet, COMPRESSION zstd{options}{_kv_metadata(metadata)})", bind(select, params))
    tmp.replace(path)
    return str(path)


def export_tables(con, names: list[str], out_dir: str | Path, *, metadata: dict[str, str] | None = None) -> dict[str, str]:
    """Write each table to <out_dir>/<table>.parquet atomically (temporary file, then rename).

    Rows are ordered by all columns so that the same inputs give the same bytes. `metadata` goes into the Parquet
    key-value metadata (provenance, `ess:synthetic`).
    """
    out_dir = Path(out_dir)
    written: dict[str, str] = {}
    for name in names:
        identifier(name)
        written[name] = export_select(con, f"SELECT * FROM {name}", {}, out_dir / f"{name}.parquet", metadata)
    return written


def export_partitions(con, table: str, column: str, values: list[str], path_for,
                      metadata: dict[str, str] | None = None, order: str = "ALL") -> dict[str, str]:
    """Write each value's rows of `table`, without `column`, to path_for(value) (an empty file for a value without
    rows; rows ordered by `order`, all the other columns by default, so that the same rows give the same bytes;
    row groups of PARTITION_ROW_GROUP rows); {value: path}.

    The values are taken a group at a time (_groups: consecutive values of at most SORTED_ROWS_PER_GROUP rows, or
    one value). A group of several values has its rows copied sorted by `column` then `order`, so that each value's
    query skips the row groups of the others and writes its rows as they come, unsorted (the copy keeps its ORDER
    BY's order as long as DuckDB's preserve_insertion_order is on, its default: the project never turns it off, a
    COPY that may reorder its rows says so itself); a group of one value is sorted as it is written, without a copy.
    A sort of the whole table ran out of the staging's memory (every département at 30 % of France), and so did a
    sort of each value's rows beside the group's copy (the 399 449 establishments of the Bouches-du-Rhône); a
    group's sort does not, however large the table."""
    identifier(table)
    if order == "ALL":
        order = ", ".join('"' + r[0].replace('"', '""') + '"' for r in con.execute(f"DESCRIBE {table}").fetchall()
                          if r[0] != column)
    counts = dict(con.execute(f"SELECT {column}, count(*) FROM {table} GROUP BY 1").fetchall())
    group_table = f"_groupe_{table}"
    written: dict[str, str] = {}
    for group in _groups(values, counts, SORTED_ROWS_PER_GROUP):
        if len(group) == 1:
            # One value (a single département's run): its rows sorted as they are written, without the group's copy
            # (StockEtablissement at 10 % of France, one département: ≈ 35 % less time for the write). The empty
            # branch of NULLs, after the filter, keeps every column optional as the group's row of NULLs does.
            written[group[0]] = export_select(
                con, f"SELECT * EXCLUDE ({column}) FROM (SELECT * FROM {table} WHERE {column} = $valeur "
                     f"UNION ALL BY NAME SELECT NULL AS {column} FROM range(0))",
                {"valeur": group[0]}, path_for(group[0]), metadata, order=order, row_group=PARTITION_ROW_GROUP)
            continue
        con.execute(f"CREATE OR REPLACE TEMP TABLE {group_table} AS SELECT * FROM {table} "
                    f"WHERE {column} IN (SELECT unnest($groupe)) ORDER BY {column}, {order}", {"groupe": group})
        # A row of NULLs, never written (its `column` is NULL): DuckDB declares a column required in a Parquet file
        # when it knows its source holds no NULL; so every file's columns are optional, whatever its group.
        con.execute(f"INSERT INTO {group_table} DEFAULT VALUES")
        try:
            for value in group:
                written[value] = export_select(
                    con, f"SELECT * EXCLUDE ({column}) FROM {group_table} WHERE {column} = $valeur",
                    {"valeur": value}, path_for(value), metadata, order=None, row_group=PARTITION_ROW_GROUP)
        finally:
            con.execute(f"DROP TABLE IF EXISTS {group_table}")
    return written


def _groups(values: list[str], counts: dict[str, int], most: int) -> list[list[str]]:
    """`values` cut, in their order, into runs of at most `most` rows (a value with more is a run of its own)."""
    groups: list[list[str]] = []
    rows = 0
    for value in values:
        n = counts.get(value, 0)
        if not groups or (rows + n > most and groups[-1]):
            groups.append([])
            rows = 0
        groups[-1].append(value)
        rows += n
    return groups
