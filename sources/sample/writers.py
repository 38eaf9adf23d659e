"""Byte-reproducible writers: the same tables always give the same files (fixed zip timestamps, fixed metadata)."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from ess.db import connect

SYNTHETIC_KEY = b"ess:synthetic"
# Every member of every zip gets this timestamp, whatever the clock says, so reruns are byte-identical.
ZIP_TIMESTAMP = (2026, 11, 1, 0, 0, 0)
_CHUNK = 1 << 20


def write_parquet(table: pa.Table, path: Path, *, extra_metadata: dict[bytes, bytes] | None = None) -> Path:
    """Parquet with the synthetic marker in its key-value metadata (INSEE's files have no such key)."""
    meta = dict(table.schema.metadata or {})
    meta[SYNTHETIC_KEY] = b"true"
    meta.update(extra_metadata or {})
    table = table.replace_schema_metadata(meta)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, compression="zstd", row_group_size=256_000, write_statistics=True)
    return path


def write_insee_csv(table: pa.Table, path: Path) -> Path:
    """INSEE's CSV flavour: ',' separator, header, quotes only where needed, empty for null.

    DuckDB's writer quotes only the values that need it (pyarrow's quotes every string), and keeps row order.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    con = connect(threads=2)
    try:
        con.register("_t", table)
        con.execute(
            f"COPY _t TO '{_sql_path(path)}' (FORMAT csv, HEADER, DELIMITER ',', QUOTE '\"', ESCAPE '\"', "
            "NULLSTR '')"
        )
    finally:
        con.close()
    return path


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")


# The archive comment of every generated zip: a zip copied without the sample's marker files still says it is
# synthetic (flows/inputs.py reads it).
ZIP_COMMENT = b"ess:synthetic=true (donnees synthetiques generees par ess sample)"


def zip_single(member: Path, zip_path: Path, *, arcname: str) -> Path:
    """Zip one file under `arcname` with a fixed timestamp and permissions, and the sample's archive comment
    (ZIP_COMMENT); the member file is then removed."""
    info = zipfile.ZipInfo(arcname, date_time=ZIP_TIMESTAMP)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    info.create_system = 3
    tmp = zip_path.with_suffix(zip_path.suffix + ".part")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        zf.comment = ZIP_COMMENT
        with member.open("rb") as src, zf.open(info, "w", force_zip64=member.stat().st_size > 2**31) as dst:
            while chunk := src.read(_CHUNK):
                dst.write(chunk)
    os.replace(tmp, zip_path)
    member.unlink()
    return zip_path
