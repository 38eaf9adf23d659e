"""Publish a run's tables to the warehouse: Parquet files named after their tables, partitioned so that several
départements, millésimes and perimeters coexist, plus the DuckDB catalog (documented views over all partitions)
and the data dictionary.

Layout (git-ignored):
    <warehouse>/<access>/<table>/departement=<dep>/millesime=<YYYY-MM>[/perimetre=<p>]/<table>.parquet
    <warehouse>/ess.duckdb            views `<table>` over every partition, with comments
    <warehouse>/dictionnaire_donnees.md / .csv
    <warehouse>/rapports/departement=<dep>/millesime=<YYYY-MM>/perimetre=<p>/   charts and PDF (publish_folder)
`access` is `public` for protected tables (statistical confidentiality applied) and `interne` for the rest, which
must not leave the research team.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ess import db
from ess.locking import warehouse_lock

# Tables published, with their access level; any other table of the run stays in the run folder.
PUBLISHED = {
    "out_indicateurs_public": "public",
    "out_indicateurs": "interne",
    "out_audit_perimetre": "interne",
    "core_etablissements": "interne",
    "core_calibration": "interne",
    "core_ecart_urssaf": "interne",
}
CATALOG = "ess.duckdb"
VIEW_OPTIONS = "hive_partitioning = true, hive_types_autocast = false, union_by_name = true"


def partition_dir(warehouse: Path, table: str, params: dict, has_perimetre: bool) -> Path:
    folder = (
        Path(warehouse) / PUBLISHED[table] / table / f"departement={params['departement']}"
        / f"millesime={params['millesime']}"
    )
    return folder / f"perimetre={params['perimetre']}" if has_perimetre else folder


def provenance_metadata(params: dict, manifest: dict) -> dict[str, str]:
    """What every published Parquet file says about itself (read with pyarrow or DuckDB's parquet_kv_metadata)."""
    snapshots = {
        source: {"dossier": s.get("dossier"), "fichiers": {
            name: f.get("sha256") for name, f in ((s.get("manifest") or {}).get("files") or {}).items()
        }}
        for source, s in manifest.get("snapshots", {}).items()
    }
    return {
        "ess:synthetic": str(bool(params.get("synthetic"))).lower(),
        "ess:avertissement": (
            "DONNÉES SYNTHÉTIQUES — échantillon généré, ne décrit pas la réalité" if params.get("synthetic") else ""
        ),
        "ess:departement": params["departement"],
        "ess:millesime_sirene": str(params["millesime"]),
        "ess:annee_urssaf": str(params["annee_urssaf"]),
        **measured_dates(params, manifest),
        "ess:annee_cog": str(params["annee_cog"]),
        "ess:perimetre": params["perimetre"],
        "ess:sources": json.dumps(snapshots, ensure_ascii=False, sort_keys=True),
    }


def measured_dates(params: dict, manifest: dict) -> dict[str, str]:
    """What the published figures measure and when: establishments at the end of the millésime month, employment on
    31 December of the employment year (« non calé » when not calibrated on URSSAF)."""
    from transforms.outputs import millesime_date

    emploi = ((manifest.get("steps") or {}).get("core") or {}).get("emploi") or {}
    year = emploi.get("annee_effectifs")
    calage = emploi.get("calage", params.get("calage", True))
    out = {"ess:date_reference_etablissements": millesime_date(str(params["millesime"])).isoformat()}
    if year:
        out["ess:annee_effectifs"] = str(year)
        out["ess:date_reference_effectifs"] = f"{year}-12-31"
        out["ess:effectifs"] = (f"effectif salarié au 31/12/{year}, " + ("calé sur l'URSSAF" if calage
                                                                         else "non calé"))
    return out


def publish(tables: dict[str, str], params: dict, manifest: dict, warehouse: Path, *,
            wait_seconds: float = 0.0) -> dict:
    """Copy the published tables into the warehouse and rebuild the catalog, as one transaction.

    Every new partition is first written in a transaction folder (`<warehouse>/.transactions/<id>/`, outside the
    trees the catalog reads); only then are they swapped in, and the catalog rebuilt. If anything fails, the
    partitions already swapped are put back: the warehouse keeps the previous good publication, byte for byte.
    A lock file prevents two runs from writing the same warehouse at once (`wait_seconds`: how long to wait for
    another run's publication before giving up).
    """
    warehouse = Path(warehouse)
    warehouse.mkdir(parents=True, exist_ok=True)
    metadata = provenance_metadata(params, manifest)
    written = {}
    prepared: list[tuple[Path, Path]] = []  # (new folder, target partition)
    with warehouse_lock(warehouse, wait_seconds=wait_seconds), transaction_dir(warehouse) as tx:
        con = db.connect()
        try:
            for table, access in PUBLISHED.items():
                if table not in tables:
                    continue
                db.attach_tables(con, {table: tables[table]})
                columns = {r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()}
                target = partition_dir(warehouse, table, params, "perimetre" in columns)
                staging = tx / "new" / str(len(prepared))
                db.export_tables(con, [table], staging, metadata=metadata)
                prepared.append((staging, target))
                written[table] = str(target / f"{table}.parquet")
        finally:
            con.close()
        with swapped_in(prepared, tx / "old"):
            catalog = build_catalog(warehouse)
            write_dictionary(warehouse)
    return {"warehouse": str(warehouse), "tables": written, "catalog": str(catalog)}


TRANSACTIONS = ".transactions"


@contextlib.contextmanager
def transaction_dir(warehouse: Path):
    """A private folder on the warehouse's file system (so that renames are atomic), deleted afterwards. Call it
    holding the warehouse lock: leftovers of a killed publication are then known to be dead and are removed."""
    root = Path(warehouse) / TRANSACTIONS
    if root.exists():
        for stale in root.iterdir():
            shutil.rmtree(stale, ignore_errors=True)
    folder = root / f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
    folder.mkdir(parents=True)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def swapped_in(pairs: list[tuple[Path, Path]], trash: Path):
    """Swap every (new, target) folder pair in, moving the old versions to `trash`; if the swaps or the body
    fail, put every old folder back.

    Renames only: at every instant each partition is either its complete old or its complete new version. The old
    versions are deleted only once everything succeeded."""
    trash.mkdir(parents=True, exist_ok=True)
    done: list[tuple[Path, Path | None]] = []  # (target, its old version in the trash, or None if it was new)
    try:
        for i, (new, target) in enumerate(pairs):
            target.parent.mkdir(parents=True, exist_ok=True)
            old = trash / str(i) if target.exists() else None
            if old is not None:
                target.rename(old)
            done.append((target, old))
            new.rename(target)
        yield
    except BaseException:
        for target, old in reversed(done):
            if target.exists() and (old is None or old.exists()):
                shutil.rmtree(target, ignore_errors=True)
            if old is not None and old.exists():
                old.rename(target)
        raise
    shutil.rmtree(trash, ignore_errors=True)


def _swap_in(new: Path, target: Path) -> None:
    """Replace one partition folder by its new version (see swapped_in)."""
    trash = target.parent / f".{target.name}.{uuid.uuid4().hex[:8]}.old"
    with swapped_in([(new, target)], trash):
        pass


def report_dir(warehouse: Path, params: dict) -> Path:
    """<warehouse>/rapports/departement=<dep>/millesime=<YYYY-MM>/perimetre=<p>/: charts and PDF of a run."""
    return (Path(warehouse) / "rapports" / f"departement={params['departement']}"
            / f"millesime={params['millesime']}" / f"perimetre={params['perimetre']}")


def publish_folder(build: Callable[[Path], Any], target: Path, warehouse: Path, *,
                   wait_seconds: float = 0.0) -> Any:
    """Build a folder of outputs (the report) in a private folder, then swap it in under the warehouse lock: a
    failing build leaves the previous folder untouched. Returns what `build(folder)` returned."""
    target = Path(target)
    warehouse = Path(warehouse)
    work = warehouse / ".construction" / f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
    work.mkdir(parents=True)
    try:
        result = build(work)
        with warehouse_lock(warehouse, wait_seconds=wait_seconds), transaction_dir(warehouse) as tx:
            with swapped_in([(work, target)], tx / "old"):
                pass
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return result


def build_catalog(warehouse: Path) -> Path:
    """(Re)build ess.duckdb: one view per published table over all its partitions, with comments."""
    warehouse = Path(warehouse)
    final = warehouse / CATALOG
    tmp = warehouse / f".{CATALOG}.tmp"
    tmp.unlink(missing_ok=True)
    con = db.connect(tmp)
    try:
        for table, access in PUBLISHED.items():
            root = warehouse / access / table
            files = sorted(root.glob("**/*.parquet"))
            if not files:
                continue
            pattern = str(root / "**" / "*.parquet").replace("'", "''")
            con.execute(f"CREATE VIEW {table} AS SELECT * FROM read_parquet('{pattern}', {VIEW_OPTIONS})")
            table_doc, column_docs = _table_docs(table)
            label = "PUBLIC (secret statistique appliqué)" if access == "public" else "INTERNE (non protégé)"
            con.execute(f"COMMENT ON VIEW {table} IS {_literal(f'{label} — {table_doc}')}")
            view_columns = {r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()}
            for column, doc in column_docs.items():
                if column in view_columns:
                    con.execute(f"COMMENT ON COLUMN {table}.{db.identifier(column)} IS {_literal(doc)}")
    finally:
        con.close()
    tmp.replace(final)
    return final


def _table_docs(table: str) -> tuple[str, dict[str, str]]:
    """(table description, {column: description}) from transforms/columns.py, the one definition of columns."""
    from transforms import columns as cols

    try:
        return cols.describe_table(table)
    except KeyError:
        return table, {}


DICTIONARY = "dictionnaire_donnees"


def write_dictionary(warehouse: Path) -> list[Path]:
    """The data dictionary (every column: table, type, unit, French description, constraint), as CSV and Markdown,
    generated from transforms/columns.py."""
    import csv
    import io

    from transforms import columns as cols

    rows = cols.dictionary_rows()
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    lines = ["# Dictionnaire des données", "",
             "Généré depuis `transforms/columns.py` (ne pas modifier à la main). Les vues du catalogue `ess.duckdb` "
             "portent les mêmes descriptions (`SELECT * FROM duckdb_columns()`).", ""]
    for table in cols.TABLES:
        access = PUBLISHED.get(table, "interne")
        lines += [f"## {table} ({access})", "", cols.TABLE_DOCS.get(table, ""), "",
                  "| colonne | type | unité | description | contrainte |", "|---|---|---|---|---|"]
        lines += [f"| {r['colonne']} | {r['type']} | {r['unite']} | {r['description']} | {r['contrainte']} |"
                  for r in rows if r["table"] == table]
        lines.append("")
    written = []
    for suffix, text in ((".csv", buffer.getvalue()), (".md", "\n".join(lines))):
        path = Path(warehouse) / f"{DICTIONARY}{suffix}"
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
        written.append(path)
    return written


def _literal(text: str) -> str:
    """A SQL string literal (COMMENT ON takes no bound parameters); the texts come from transforms/columns.py."""
    return "'" + text.replace("'", "''") + "'"
