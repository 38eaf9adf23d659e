"""The build order of the SQL tables, read from the SQL files themselves.

Each table has one file, `sql/<layer>/<table>.sql`. What a file reads is parsed from it: the identifiers that follow
FROM or JOIN (and the further items of a `FROM a, b` list) and name a table of the project's layers (`staging_`,
`core_`, `out_`, `ref_`). Comments and string literals are ignored, and the file's own CTE names (`name AS (`) are not
tables. Nothing is declared by hand, so nothing can fall out of step with the SQL.

A step asks for its target tables given the tables it already has (its inputs, the reference tables it loaded):
`build_order` returns every table it must build, each after the tables it reads, and fails clearly on a cycle or on
a table that is neither present nor built by a SQL file. `stages` splits that order around a Python stage (the
employment estimate of the core step): the tables that read its outputs, directly or not, come after it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from ess import paths

LAYERS = ("staging", "core", "out")  # the layers whose tables have SQL files
_LAYER_TABLE = re.compile(r"^(staging|core|out|ref)_[a-z0-9_]+$")
# A string literal, a line comment or a block comment: whichever starts first wins, so `--` inside a string stays
# in the string and a quote inside a comment does not open one.
_NOISE = re.compile(r"'(?:[^']|'')*'|--[^\n]*|/\*.*?\*/", re.DOTALL)
_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_CTE = re.compile(rf"\b({_NAME})\s+AS\s+(?:NOT\s+)?(?:MATERIALIZED\s+)?\(", re.IGNORECASE)
# FROM/JOIN then one relation, optionally aliased, then optional further `, relation [AS alias]` items. An alias is
# never a keyword (`FROM a JOIN b` must leave JOIN b to be read).
_KEYWORD = (r"(?:JOIN|LEFT|RIGHT|INNER|OUTER|FULL|CROSS|NATURAL|POSITIONAL|ASOF|ANTI|SEMI|LATERAL|WHERE|GROUP|ORDER|"
            r"HAVING|WINDOW|QUALIFY|LIMIT|OFFSET|ON|USING|UNION|EXCEPT|INTERSECT|SELECT|FROM)\b")
_ALIAS = rf"(?:\s+(?:AS\s+)?(?!{_KEYWORD}){_NAME})?"
_SOURCE = re.compile(rf"\b(?:FROM|JOIN)\s+({_NAME}{_ALIAS}(?:\s*,\s*{_NAME}{_ALIAS})*)", re.IGNORECASE)


class BuildOrderError(ValueError):
    """The SQL files cannot be ordered: a cycle, or a table read that nothing provides."""


def sql_dir(directory: str | Path | None = None) -> Path:
    return Path(directory) if directory is not None else paths.SQL_DIR


def sql_file(table: str, directory: str | Path | None = None) -> Path | None:
    """`sql/<layer>/<table>.sql` when it exists (the layer is the name's prefix), else None."""
    layer = table.split("_", 1)[0]
    if layer not in LAYERS:
        return None
    path = sql_dir(directory) / layer / f"{table}.sql"
    return path if path.is_file() else None


def tables_read(sql: str) -> set[str]:
    """The project tables a SQL text reads (FROM/JOIN), without its CTEs, comments and string literals."""
    text = _NOISE.sub(" ", sql)
    ctes = {m.group(1).lower() for m in _CTE.finditer(text)}
    found = set()
    for match in _SOURCE.finditer(text):
        for item in match.group(1).split(","):
            name = item.split()[0].lower()
            if _LAYER_TABLE.match(name) and name not in ctes:
                found.add(name)
    return found


def reads(table: str, directory: str | Path | None = None) -> set[str]:
    """The tables `table`'s SQL file reads (itself excluded); BuildOrderError when it has no file."""
    path = sql_file(table, directory)
    if path is None:
        raise BuildOrderError(f"no SQL file for table {table!r}: expected "
                              f"{sql_dir(directory) / table.split('_', 1)[0] / (table + '.sql')}")
    return tables_read(path.read_text(encoding="utf-8")) - {table}


def all_tables(directory: str | Path | None = None) -> dict[str, set[str]]:
    """Every table with a SQL file in the layers, and what it reads."""
    root = sql_dir(directory)
    return {p.stem: reads(p.stem, root) for layer in LAYERS for p in sorted((root / layer).glob(f"{layer}_*.sql"))}


def build_order(targets: Iterable[str], *, existing: Iterable[str] = (),
                directory: str | Path | None = None) -> list[str]:
    """The tables to build, in an order where each comes after what it reads: the targets and, recursively, the
    tables they read that are not in `existing`. Ties keep the targets' order, then names' order (the same files
    give the same order). Raises BuildOrderError on a cycle or a table with no SQL file."""
    have = set(existing)
    order: list[str] = []
    state: dict[str, str] = {}  # table -> "open" while its reads are visited, "done" after
    path: list[str] = []

    def visit(table: str, reader: str | None) -> None:
        if state.get(table) == "done":
            return
        if state.get(table) == "open":
            cycle = path[path.index(table):] + [table]
            raise BuildOrderError("the SQL files read each other in a cycle: " + " → ".join(
                f"{t} ({_display(t, directory)})" for t in cycle[:-1]) + f" → {table}; break it in one of them")
        if sql_file(table, directory) is None:
            where = f"read by {_display(reader, directory)}" if reader else "asked for"
            raise BuildOrderError(
                f"table {table!r} ({where}) is not among the tables present and has no SQL file "
                f"(expected {sql_dir(directory) / table.split('_', 1)[0] / (table + '.sql')}): add the file, or "
                "provide the table before this step (an input, or a reference table loaded by "
                "transforms/reference.py)")
        state[table] = "open"
        path.append(table)
        for dependency in sorted(reads(table, directory)):
            if dependency not in have:
                visit(dependency, table)
        path.pop()
        state[table] = "done"
        order.append(table)

    for target in targets:
        if target not in have:
            visit(target, None)
    return order


def stages(targets: Iterable[str], *, existing: Iterable[str], later: Iterable[str],
           directory: str | Path | None = None) -> tuple[list[str], list[str]]:
    """`build_order` around a stage that is not SQL and makes the tables `later`: (tables to build before it, tables
    to build after it). A table goes after when it reads a `later` table, directly or through another table."""
    later = set(later)
    order = build_order(targets, existing=set(existing) | later, directory=directory)
    after: set[str] = set()
    for table in order:  # topological: what a table reads is classified before it
        if reads(table, directory) & (later | after):
            after.add(table)
    return [t for t in order if t not in after], [t for t in order if t in after]


def _display(table: str | None, directory: str | Path | None) -> str:
    path = sql_file(table, directory) if table else None
    if path is None:
        return str(table)
    try:
        return path.relative_to(sql_dir(directory).parent).as_posix()
    except ValueError:
        return str(path)
