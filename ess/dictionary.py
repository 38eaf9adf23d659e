"""The field dictionary: one entry per column name, for every table of the pipeline (staging, core, out, public).

Two CSV files a researcher can read, next to the SQL that produces the columns:
    sql/dictionnaire/colonnes.csv   one line per column NAME: type, unit, French description, the tables holding it,
                                    its constraints (the ones checks enforce) — a name means the same in every table
    sql/dictionnaire/tables.csv     one line per table: access (public, interne, or empty: not published), French
                                    description, what a query must filter on
Everything about a column is derived from its entry: the published data dictionary, the catalog's COMMENTs, the
types of the published Parquet files and the expectations of the check step. A column a step produces without an
entry naming its table is refused by the check step and by the publication (`undescribed`), with table and column.

Fields of colonnes.csv (docs/CONTRIBUTING.md shows the worked change):
    colonne      the column name (unique in the file)
    type         DuckDB type in the tables listed (published files are cast to it)
    unite        unit ('salariés', 'ratio (0-1)'…), optional
    tables       the tables holding the column, separated by spaces; `table:TYPE` when its type there differs;
                 `staging_rejets*` matches every table of that prefix; `@publiees` every published table (columns
                 the publication adds to each file)
    cle          `oui` (key in every table listed) or the tables where it is part of the key
    non_nul      `oui` or the tables where NULL is not allowed
    valeurs      closed list of allowed values separated by |; `@familles` = the ESS families of
                 data/reference/perimetre_familles.csv plus societes_commerciales_ess, `@familles_cube` = those plus
                 the cube's totals (ess, hors_ess, ensemble, non_renseigne)
    minimum, maximum, motif (regular expression a text value matches)
    sauf         tables where valeurs, minimum, maximum and motif are not checked: a staging table that keeps what the
                 source says before a later step normalises it (the name's meaning is the same)
    interne      `oui`: never in a public table
    description  French, shown to users
"""

from __future__ import annotations

import csv
import fnmatch
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ess import paths
from ess.errors import UserError

FOLDER = "dictionnaire"
COLUMNS_FILE = "colonnes.csv"
TABLES_FILE = "tables.csv"
COLUMN_FIELDS = ("colonne", "type", "unite", "tables", "cle", "non_nul", "valeurs", "minimum", "maximum", "motif",
                 "sauf", "interne", "description")
TABLE_FIELDS = ("table", "acces", "description", "guide")
ACCESS = ("public", "interne", "")
TYPES = re.compile(r"^(VARCHAR|BIGINT|INTEGER|DOUBLE|BOOLEAN|DATE|TIMESTAMP|JSON)(\[\])?$")
PUBLISHED = "@publiees"
# Value used in key columns when the establishment's attribute is unknown, so that totals still add up.
NON_RENSEIGNE = "non_renseigne"
# The family of a legal unit SIRENE flags ESS whose catégorie juridique is in no family (sql/core/core_situations.sql)
SOCIETES_COMMERCIALES = "societes_commerciales_ess"
# The cube's rows beside the families: all families of the perimeter, outside it, the whole economy, unknown.
TOTAUX_FAMILLES = ("ess", "hors_ess", "ensemble", NON_RENSEIGNE)


@dataclass(frozen=True)
class Column:
    """A column as it stands in one table (the entry with its table's key, nullability and type resolved)."""
    name: str
    type: str  # DuckDB type
    description: str  # French, for the data dictionary
    unit: str | None = None  # 'établissements', 'salariés', 'habitants', 'ratio (0-1)', …
    nullable: bool = True
    values: tuple[str, ...] | None = None  # closed list of allowed values (NULL allowed iff nullable)
    minimum: float | None = None
    maximum: float | None = None
    pattern: str | None = None  # regular expression a text value matches
    key: bool = False  # part of the table's key
    internal: bool = False  # never in a public table

    @property
    def constraint(self) -> str:
        """The constraint in words, for the dictionary."""
        parts = []
        if not self.nullable:
            parts.append("non nul")
        if self.key:
            parts.append("clé")
        if self.values:
            parts.append("valeurs : " + ", ".join(self.values))
        if self.minimum is not None:
            parts.append(f">= {self.minimum:g}")
        if self.maximum is not None:
            parts.append(f"<= {self.maximum:g}")
        if self.pattern:
            parts.append(f"motif {self.pattern}")
        if self.internal:
            parts.append("interne (absent des tables publiques)")
        return "; ".join(parts)


@dataclass(frozen=True)
class Entry:
    """One line of colonnes.csv."""
    name: str
    type: str
    unit: str | None
    tables: tuple[tuple[str, str], ...]  # (table or pattern, type there)
    keys: tuple[str, ...]  # tables where it is a key ("*" = all)
    non_null: tuple[str, ...]
    unchecked: tuple[str, ...]  # tables where values/bounds/pattern are not checked
    values: tuple[str, ...] | None
    minimum: float | None
    maximum: float | None
    pattern: str | None
    internal: bool
    description: str
    line: int

    def type_in(self, table: str) -> str | None:
        """The column's type in `table`, None when the entry does not list that table (`@publiees` columns are
        not in the steps' tables: the publication adds them)."""
        for name, dtype in self.tables:
            if name == table or ("*" in name and fnmatch.fnmatchcase(table, name)):
                return dtype
        return None

    def column(self, table: str, reference_dir=None) -> Column:
        dtype = self.type_in(table) or self.type
        checked = table not in self.unchecked
        return Column(self.name, dtype, self.description, self.unit,
                      nullable=not _applies(self.non_null, table),
                      values=_values(self.values, reference_dir) if checked else None,
                      minimum=self.minimum if checked else None, maximum=self.maximum if checked else None,
                      pattern=self.pattern if checked else None,
                      key=_applies(self.keys, table), internal=self.internal)


@dataclass(frozen=True)
class Table:
    name: str
    access: str  # public, interne, "" (not published)
    description: str
    guide: str


@dataclass(frozen=True)
class Dictionary:
    entries: dict[str, Entry]
    tables: dict[str, Table]
    folder: Path

    @property
    def published(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.tables.values() if t.access)

    def table(self, name: str) -> Table | None:
        """The table's line (an exact name, else a `prefix*` line matching it)."""
        if name in self.tables:
            return self.tables[name]
        return next((t for t in self.tables.values() if "*" in t.name and fnmatch.fnmatchcase(name, t.name)), None)

    def columns(self, table: str, reference_dir=None) -> list[Column]:
        """The columns of a table, in the dictionary's order. KeyError for a table the dictionary does not know."""
        if self.table(table) is None:
            raise KeyError(f"table {table!r} is not in {self.folder / TABLES_FILE}; known: {sorted(self.tables)}")
        return [e.column(table, reference_dir) for e in self.entries.values() if e.type_in(table) is not None]

    def publication_columns(self) -> list[Column]:
        """The columns the publication adds to every published file (tables `@publiees`)."""
        return [e.column(PUBLISHED) for e in self.entries.values() if any(t == PUBLISHED for t, _ in e.tables)]

    def undescribed(self, table: str, produced) -> list[tuple[str | None, str]]:
        """(column, problem) for the columns a step produced for `table` that have no entry listing the table, or
        (None, problem) for a table the dictionary does not know; empty when all is described. Helper columns
        (`_…`) are the step's own."""
        if self.table(table) is None:
            return [(None, f"table {table} is not in {self.folder / TABLES_FILE}: add a line for it")]
        problems = []
        for name in produced:
            if name.startswith("_"):
                continue
            entry = self.entries.get(name)
            if entry is None:
                problems.append((name, f"column {name} of table {table} has no entry in {self.folder / COLUMNS_FILE}: "
                                       "add one line (type, unit, French description, constraints, tables)"))
            elif entry.type_in(table) is None:
                problems.append((name, f"column {name} of table {table}: its entry (line {entry.line} of "
                                       f"{self.folder / COLUMNS_FILE}) does not list {table} in its tables"))
        return problems


def folder() -> Path:
    return paths.SQL_DIR / FOLDER


def load(directory: str | Path | None = None) -> Dictionary:
    """The dictionary of `directory` (default sql/dictionnaire/), read once per version of its files."""
    where = Path(directory) if directory is not None else folder()
    stamps = tuple((where / n).stat().st_mtime_ns if (where / n).exists() else None
                   for n in (COLUMNS_FILE, TABLES_FILE))
    return _load(str(where), stamps)


@lru_cache(maxsize=8)
def _load(where: str, _stamps) -> Dictionary:
    directory = Path(where)
    tables = {}
    for line, row in _rows(directory / TABLES_FILE, TABLE_FIELDS):
        name = row["table"]
        where_ = f"{directory / TABLES_FILE}, line {line}"
        if not re.fullmatch(r"[a-z][a-z0-9_]*\*?", name):
            raise UserError(f"{where_}: table name {name!r} must be lower case letters, digits and _ (a trailing * "
                            "for a family of tables)")
        if name in tables:
            raise UserError(f"{where_}: table {name} is already described")
        if row["acces"] not in ACCESS:
            raise UserError(f"{where_}: acces {row['acces']!r} must be public, interne or empty")
        if not row["description"]:
            raise UserError(f"{where_}: table {name} has no description")
        tables[name] = Table(name, row["acces"], row["description"], row["guide"])
    entries: dict[str, Entry] = {}
    for line, row in _rows(directory / COLUMNS_FILE, COLUMN_FIELDS):
        entry = _entry(row, line, directory / COLUMNS_FILE, tables)
        if entry.name in entries:
            raise UserError(f"{directory / COLUMNS_FILE}, line {line}: column {entry.name} is already described "
                            f"line {entries[entry.name].line}: a name has one entry (list every table it is in)")
        entries[entry.name] = entry
    return Dictionary(entries, tables, directory)


def _rows(path: Path, fields: tuple[str, ...]):
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            missing = [c for c in fields if c not in (reader.fieldnames or [])]
            if missing:
                raise UserError(f"{path}: columns {missing} are missing from its header {reader.fieldnames}")
            for row in reader:
                if row.get(None):  # DictReader's key for the fields beyond the header
                    raise UserError(f"{path}, line {reader.line_num}: more fields than the header's "
                                    f"{len(reader.fieldnames)} (extra: {row[None]}): put a value holding a comma "
                                    "between double quotes")
                yield reader.line_num, {k: (row.get(k) or "").strip() for k in fields}
    except FileNotFoundError:
        raise UserError(f"the field dictionary {path} is missing: restore it from the repository") from None


def _entry(row: dict, line: int, path: Path, tables: dict[str, Table]) -> Entry:
    name = row["colonne"]
    where = f"{path}, line {line} ({name or 'no name'})"
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise UserError(f"{where}: the column name must be lower case letters, digits and _")
    if not TYPES.match(row["type"]):
        raise UserError(f"{where}: type {row['type']!r} is not one of VARCHAR, BIGINT, INTEGER, DOUBLE, BOOLEAN, "
                        "DATE, TIMESTAMP, JSON (or a list of one, e.g. VARCHAR[])")
    if not row["description"]:
        raise UserError(f"{where}: the description is empty (French, shown to users)")
    listed = []
    for item in row["tables"].split():
        table, _, dtype = item.partition(":")
        known = table in tables or any("*" in t and fnmatch.fnmatchcase(table, t) for t in tables)
        if table != PUBLISHED and not known:
            raise UserError(f"{where}: table {table!r} is not in {path.with_name(TABLES_FILE)}")
        if dtype and not TYPES.match(dtype):
            raise UserError(f"{where}: type {dtype!r} of {table} is not a known type")
        listed.append((table, dtype or row["type"]))
    if not listed:
        raise UserError(f"{where}: no table listed (tables: the tables holding the column, separated by spaces)")
    names = {t for t, _ in listed}
    scoped = {}
    for field in ("cle", "non_nul", "sauf"):
        value = tuple(row[field].split())
        if value == ("oui",) and field != "sauf":
            value = ("*",)
        elif set(value) - names:
            raise UserError(f"{where}: {field} names {sorted(set(value) - names)}, which are not in its tables")
        scoped[field] = value
    bounds = {}
    for field in ("minimum", "maximum"):
        try:
            bounds[field] = float(row[field]) if row[field] else None
        except ValueError:
            raise UserError(f"{where}: {field} {row[field]!r} is not a number") from None
    if row["motif"]:
        try:
            re.compile(row["motif"])
        except re.error as exc:
            raise UserError(f"{where}: motif {row['motif']!r} is not a regular expression ({exc})") from None
    if row["interne"] not in ("", "oui"):
        raise UserError(f"{where}: interne must be oui or empty")
    internal = row["interne"] == "oui"
    public = [t for t in names if t in tables and tables[t].access == "public"]
    if internal and (public or PUBLISHED in names):
        raise UserError(f"{where}: an interne column cannot be in the public table(s) {public or [PUBLISHED]}")
    values = tuple(v.strip() for v in row["valeurs"].split("|")) if row["valeurs"] else None
    if values and any(v.startswith("@") and v not in VALUE_LISTS for v in values):
        raise UserError(f"{where}: valeurs {row['valeurs']!r}: the lists known are {sorted(VALUE_LISTS)}")
    return Entry(name, row["type"], row["unite"] or None, tuple(listed), scoped["cle"], scoped["non_nul"],
                 scoped["sauf"], values,
                 bounds["minimum"], bounds["maximum"], row["motif"] or None, internal, row["description"], line)


def _applies(scope: tuple[str, ...], table: str) -> bool:
    return "*" in scope or table in scope


def familles(reference_dir=None) -> tuple[str, ...]:
    """The ESS families: those of data/reference/perimetre_familles.csv (in their order of appearance; the user's
    reference folder when it holds the file) and the family of ESS-flagged commercial companies."""
    path = paths.reference_file("perimetre_familles.csv", reference_dir)
    with open(path, newline="", encoding="utf-8") as f:
        found = [row.get("famille", "").strip() for row in csv.DictReader(f)]
    return tuple(dict.fromkeys(f for f in [*found, SOCIETES_COMMERCIALES] if f))


VALUE_LISTS = {
    "@familles": familles,
    "@familles_cube": lambda reference_dir=None: familles(reference_dir) + TOTAUX_FAMILLES,
}


def _values(values: tuple[str, ...] | None, reference_dir) -> tuple[str, ...] | None:
    if not values:
        return None
    out: list[str] = []
    for v in values:
        out.extend(VALUE_LISTS[v](reference_dir) if v in VALUE_LISTS else (v,))
    return tuple(dict.fromkeys(out))
