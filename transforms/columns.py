"""The columns of every table, as the steps use them: views of the field dictionary (ess/dictionary.py, the files
sql/dictionnaire/colonnes.csv and tables.csv), which describes each column name once.

The publication step derives the data dictionary, the DuckDB COMMENTs and the Parquet types, and the check step the
expectations, from these records. Descriptions are in French (they are shown to users); the structured constraint
fields (nullable, values, minimum, maximum, pattern) are what checks enforce; `constraint` is the same in words.
`TABLES`, `TABLE_DOCS`, `QUERY_GUIDES`, `PUBLICATION_COLUMNS` and `FAMILLES` are read from the files when asked for
(module attributes computed on access), so a changed dictionary is seen without a restart.
"""

from __future__ import annotations

from ess import dictionary
from ess.dictionary import NON_RENSEIGNE, TOTAUX_FAMILLES, Column, familles  # noqa: F401  (re-exported)

STATUTS_SECRET = ("frequence", "dominance", "secondaire")
# Employment by sector or size is published at the département level only (transforms/outputs.py, policy in
# METHOD.md § 6): the other rows carry their counts and « non_diffuse » for employment.
NON_DIFFUSE = "non_diffuse"
# The other codes of the public table's status columns (transforms/outputs.py: a figure is NULL exactly when its
# status is not PUBLIE): the figure is shown; no such figure exists for the row; a share of an « ensemble » of 0.
PUBLIE = "publie"
NON_MESURE = "non_mesure"
DENOMINATEUR_NUL = "denominateur_nul"


def columns(table: str, reference_dir=None) -> list[Column]:
    """The column records of a table (KeyError names the tables described)."""
    return dictionary.load().columns(table, reference_dir)


def known_table(table: str) -> bool:
    return dictionary.load().table(table) is not None


def names(table: str) -> list[str]:
    return [c.name for c in columns(table)]


def publication_columns() -> list[Column]:
    """Columns every published file carries besides the table's own (written by transforms/publish.py): the keys
    of its partition as text, and the synthetic flag of the data."""
    return dictionary.load().publication_columns()


def published_tables() -> dict[str, str]:
    """Published tables and their access (public: protected; interne: must not leave the research team)."""
    return {t.name: t.access for t in dictionary.load().tables.values() if t.access}


def undescribed(table: str, produced) -> list[tuple[str | None, str]]:
    """(column, problem) for the columns a step produced for `table` without their entry (empty when all have one)."""
    return dictionary.load().undescribed(table, produced)


def describe_table(table: str) -> tuple[str, dict[str, str]]:
    """The table's French description and, per column, 'description [unité] (contrainte)' for COMMENTs."""
    d = dictionary.load()
    docs = {}
    own = d.columns(table) if d.table(table) else []
    for c in own + publication_columns():
        text = c.description + (f" [{c.unit}]" if c.unit else "")
        docs[c.name] = text + (f" ({c.constraint})" if c.constraint else "")
    found = d.table(table)
    return (found.description if found else table), docs


def query_guide(table: str) -> str:
    """What a query of `table` must filter on (French), empty when nothing special."""
    found = dictionary.load().table(table)
    return found.guide if found else ""


def dictionary_rows(tables=None) -> list[dict[str, str]]:
    """One row per column of every published table (or of `tables`), as published (with the publication columns):
    the data dictionary."""
    chosen = list(published_tables()) if tables is None else list(tables)
    extra = publication_columns()
    return [
        {"table": table, "colonne": c.name, "type": c.type, "unite": c.unit or "", "description": c.description,
         "contrainte": c.constraint}
        for table in chosen for c in extra + columns(table)
    ]


def __getattr__(name: str):
    # Read from the dictionary's files on each access (PEP 562), never frozen at import.
    d = dictionary.load()
    if name == "TABLES":
        return {t: d.columns(t) for t in d.tables if "*" not in t}
    if name == "TABLE_DOCS":
        return {t.name: t.description for t in d.tables.values()}
    if name == "QUERY_GUIDES":
        return {t.name: t.guide for t in d.tables.values() if t.guide}
    if name == "PUBLICATION_COLUMNS":
        return d.publication_columns()
    if name == "FAMILLES":
        return familles()
    if name == "FAMILLES_CUBE":
        return familles() + TOTAUX_FAMILLES
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
