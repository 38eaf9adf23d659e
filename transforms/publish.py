"""Publish a run's tables to the warehouse: Parquet files named after their tables, partitioned so that several
départements, millésimes and perimeters coexist, plus the DuckDB catalog (documented views over all partitions)
and the data dictionary.

Layout (git-ignored):
    <warehouse>/<access>/<table>/departement=<dep>/millesime=<YYYY-MM>[/perimetre=<p>]/<table>.parquet
    <warehouse>/ess.duckdb            views `<table>` over every partition, with comments
    <warehouse>/dictionnaire_donnees.md / .csv
`access` is `public` for protected tables (statistical confidentiality applied) and `interne` for the rest, which
must not leave the research team.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

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
        "ess:annee_cog": str(params["annee_cog"]),
        "ess:perimetre": params["perimetre"],
        "ess:sources": json.dumps(snapshots, ensure_ascii=False, sort_keys=True),
    }


def publish(tables: dict[str, str], params: dict, manifest: dict, warehouse: Path) -> dict:
    """Copy the published tables into the warehouse (each partition replaced atomically) and rebuild the catalog.

    A lock file prevents two runs from writing the same warehouse at once; a crash before the final rename of a
    partition leaves the previous good partition in place.
    """
    warehouse = Path(warehouse)
    warehouse.mkdir(parents=True, exist_ok=True)
    metadata = provenance_metadata(params, manifest)
    written = {}
    with warehouse_lock(warehouse):
        con = db.connect()
        try:
            for table, access in PUBLISHED.items():
                if table not in tables:
                    continue
                db.attach_tables(con, {table: tables[table]})
                columns = {r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()}
                target = partition_dir(warehouse, table, params, "perimetre" in columns)
                staging = target.with_name(f".{target.name}.new")
                shutil.rmtree(staging, ignore_errors=True)
                db.export_tables(con, [table], staging, metadata=metadata)
                _swap_in(staging, target)
                written[table] = str(target / f"{table}.parquet")
            catalog = build_catalog(warehouse)
        finally:
            con.close()
    return {"warehouse": str(warehouse), "tables": written, "catalog": str(catalog)}


def _swap_in(new: Path, target: Path) -> None:
    """Replace a partition folder by its new version: rename the old one aside, rename the new one in, delete the
    old one. At every instant either the old or the new complete partition is in place."""
    old = target.with_name(f".{target.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        target.rename(old)
    new.rename(target)
    shutil.rmtree(old, ignore_errors=True)


def build_catalog(warehouse: Path) -> Path:
    """(Re)build ess.duckdb: one view per published table over all its partitions, with comments."""
    from transforms.columns import describe_table

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
            table_doc, column_docs = describe_table(table)
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


def _literal(text: str) -> str:
    """A SQL string literal (COMMENT ON takes no bound parameters); the texts come from transforms/columns.py."""
    return "'" + text.replace("'", "''") + "'"
