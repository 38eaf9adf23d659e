"""The national read against its floors (NOT a test: `make bench-national`, minutes to an hour).

    python -m benchmarks.bench_national [--sizes 1 10 30] [--formats zip parquet] [--runs 3] [--departement 38]
                                        [--dir /tmp/ess-bench-national] [--no-all]

For each size (percent of France) it generates the four national SIRENE stocks once (benchmarks/national_stock.py:
real layouts, realistic text and compression), lays them out as a snapshot per deliverable (zipped CSV, Parquet)
with a download manifest (as `ess fetch` leaves it, so no checksum is recomputed), then measures, each in a fresh
child process, alternating runs so that the machine's noise hits both sides alike:

- the floor. Zip: `unzip -p` of the four members to /dev/null (decompression is one deflate stream per file: no
  reader of a zip can beat it). Parquet: four DuckDB queries, one per file, selecting exactly the rows the staging
  keeps (same predicates, same columns as text) and writing them to Parquet;
- the project: transforms.staging.stage_national("sirene", …) for the département — the one read of each file,
  the staging SQL and the partitions written, i.e. everything the staging step does;
- the ratio project / floor (medians), and the peak memory: the resident memory of the measuring process and of
  its own children (the decompressing process) together, sampled every 20 ms;
- the same staging for every département of France (one run: the time for all départements).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.national_stock import generate
from sources.sirene_layouts import LAYOUTS, csv_member_name, official_filename

ROOT = Path(__file__).resolve().parents[1]
FORMATS = {"zip": "csv", "parquet": "parquet"}

_PROJECT = """
import json, sys, time
from pathlib import Path
from transforms.staging import stage_national
snapshot, out, deps = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3].split(",")
t = time.perf_counter()
result = stage_national("sirene", snapshot, {"departements": deps, "millesime": "2026-10", "synthetic": True}, out)
wall = time.perf_counter() - t
print(json.dumps({"wall_s": wall, "national": result.stats["sirene"],
                  "first": result.stats["departements"][deps[0]]["sirene"]}))
"""

# The same rows as the staging keeps, selected by DuckDB alone: the loader's own predicates and text columns.
_FLOOR_PARQUET = """
import json, sys, time
from pathlib import Path
from ess.db import connect
from sources import sirene
from sources.sirene_layouts import NEEDED_COLUMNS
from sources.sirene_read import open_stock, quote
snapshot, out, deps = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3].split(",")
con = connect()
sirene._load_references(con)
params = {"departements": deps, **sirene._corse_codes(con)}
t = time.perf_counter()
for step in sirene._STEPS:
    with open_stock(con, sirene.find_stock(snapshot, step.key), step.key) as stock:
        columns = ", ".join(f"{stock.text[c]} AS {quote(c)}" for c in NEEDED_COLUMNS[step.key])
        sql = f"SELECT {columns} FROM {stock.relation} WHERE {sirene._keep_sql(step, stock.text)}"
        target = out / f"{step.key}.parquet"
        con.execute(f"COPY ({sql}) TO '{target}' (FORMAT parquet)",
                    {k: v for k, v in params.items() if f"${k}" in sql})
    if step.key == "etablissements":
        kept = f"read_parquet('{target}')"
        placed = ("list_contains($departements, CASE WHEN starts_with(codeCommuneEtablissement, '97') "
                  "THEN left(codeCommuneEtablissement, 3) ELSE left(codeCommuneEtablissement, 2) END)")
        con.execute(f"CREATE TABLE _sirene_sirets AS SELECT DISTINCT siret FROM {kept} WHERE {placed}", {"departements": deps})
        con.execute(f"CREATE TABLE _sirene_sirens AS SELECT DISTINCT siren FROM {kept} WHERE {placed}", {"departements": deps})
wall = time.perf_counter() - t
print(json.dumps({"wall_s": wall}))
"""

_FLOOR_ZIP = """
import json, subprocess, sys, time
t = time.perf_counter()
for path, member in zip(sys.argv[1::2], sys.argv[2::2]):
    with open("/dev/null", "wb") as null:
        subprocess.run(["unzip", "-p", path, member], stdout=null, check=True)
print(json.dumps({"wall_s": time.perf_counter() - t}))
"""


def _child(code: str, *args: str) -> dict:
    """Run a measuring child; its figures, plus the peak of the resident memory of the child and its own children
    together, sampled every 20 ms from outside (getrusage would count the parent's pages a fork inherits)."""
    import psutil

    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        child = subprocess.Popen([sys.executable, "-c", code, *args], stdout=out, stderr=err, cwd=ROOT)
        process, peak = psutil.Process(child.pid), 0
        while child.poll() is None:
            try:
                tree = [process, *process.children(recursive=True)]
                peak = max(peak, sum(p.memory_info().rss for p in tree))
            except psutil.Error:
                pass
            time.sleep(0.02)
        out.seek(0)
        err.seek(0)
        if child.returncode:
            raise SystemExit(f"benchmark child failed:\n{err.read()[-3000:]}")
        result = json.loads(out.read().strip().splitlines()[-1])
    result["peak_mb"] = peak / 2**20
    return result


def snapshot(generated: Path, fmt: str, folder: Path) -> Path:
    """A snapshot folder holding one deliverable (links to the generated files) and its download manifest."""
    from sources.download import write_manifest
    from sources.sirene import _sha256

    folder.mkdir(parents=True, exist_ok=True)
    for key in LAYOUTS:
        link = folder / official_filename(key, FORMATS[fmt])
        if not link.exists():
            link.symlink_to(generated / official_filename(key, FORMATS[fmt]))
    if not (folder / "manifest.json").exists():
        write_manifest(folder, [{"name": f.name, "size": f.stat().st_size, "sha256": _sha256(f.resolve())}
                                for f in sorted(folder.glob("Stock*"))])
    return folder


def floor(fmt: str, snap: Path, work: Path, deps: list[str]) -> dict:
    if fmt == "zip":
        args = []
        for key in LAYOUTS:
            args += [str((snap / official_filename(key, "csv")).resolve()), csv_member_name(key)]
        return _child(_FLOOR_ZIP, *args)
    work.mkdir(parents=True, exist_ok=True)
    try:
        return _child(_FLOOR_PARQUET, str(snap), str(work), ",".join(deps))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def project(snap: Path, work: Path, deps: list[str]) -> dict:
    try:
        return _child(_PROJECT, str(snap), str(work), ",".join(deps))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=float, nargs="+", default=[1, 10, 30], help="percent of France")
    p.add_argument("--formats", nargs="+", default=["zip", "parquet"], choices=list(FORMATS))
    p.add_argument("--runs", type=int, default=3, help="runs of each measure (medians are printed)")
    p.add_argument("--departement", default="38")
    p.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "ess-bench-national")
    p.add_argument("--no-all", action="store_true", help="skip the run for every département")
    args = p.parse_args(argv)

    from transforms.pipeline import known_departements

    every = sorted(known_departements())
    rows = []
    for size in args.sizes:
        generated = args.dir / f"france_{size:g}pct"
        print(f"== {size:g} % of France (files in {generated})", flush=True)
        t = time.perf_counter()
        info = generate(generated, size / 100)
        print(f"   stocks ready ({time.perf_counter() - t:.0f} s): " + ", ".join(
            f"{k} {v['rows']:,} rows" for k, v in info.items()), flush=True)
        for fmt in args.formats:
            snap = snapshot(generated, fmt, args.dir / f"snapshot_{size:g}pct_{fmt}")
            floors, runs = [], []
            for i in range(args.runs):
                floors.append(floor(fmt, snap, args.dir / "work_floor", [args.departement]))
                runs.append(project(snap, args.dir / "work_project", [args.departement]))
                print(f"   {fmt:8s} run {i + 1}: floor {floors[-1]['wall_s']:6.1f} s, project "
                      f"{runs[-1]['wall_s']:6.1f} s, peak {runs[-1]['peak_mb']:5.0f} MB", flush=True)
            row = {
                "size": size, "format": fmt,
                "floor_s": statistics.median(r["wall_s"] for r in floors),
                "floor_peak_mb": statistics.median(r["peak_mb"] for r in floors),
                "project_s": statistics.median(r["wall_s"] for r in runs),
                "project_peak_mb": max(r["peak_mb"] for r in runs),
            }
            row["ratio"] = row["project_s"] / row["floor_s"]
            for s in runs[0]["first"]:
                print(f"     {args.departement} {s['table']:42s} read {s['rows_read']:>11,}  staged "
                      f"{s['rows_staged']:>8,}  rejected {s['rows_rejected_total']:>6,}  out of scope "
                      f"{s['rows_out_of_scope']:>11,}")
            if not args.no_all:
                every_run = project(snap, args.dir / "work_all", every)
                row["all_s"], row["all_peak_mb"] = every_run["wall_s"], every_run["peak_mb"]
                staged = sum(s["rows_staged"] for s in every_run["national"])
                print(f"   {fmt:8s} every département ({len(every)}): {row['all_s']:6.1f} s, peak "
                      f"{row['all_peak_mb']:5.0f} MB, {staged:,} rows staged", flush=True)
            rows.append(row)
            print(f"   {fmt:8s} floor {row['floor_s']:6.1f} s  project {row['project_s']:6.1f} s  ratio "
                  f"{row['ratio']:4.2f}  peak {row['project_peak_mb']:5.0f} MB", flush=True)

    print("\nsize  format   floor (s)  project (s)  ratio  peak (MB)  every département (s, peak MB)")
    for r in rows:
        every_txt = f"{r['all_s']:8.1f} s {r['all_peak_mb']:6.0f} MB" if "all_s" in r else "   —"
        print(f"{r['size']:3g} %  {r['format']:7s}  {r['floor_s']:9.1f}  {r['project_s']:11.1f}  {r['ratio']:5.2f}  "
              f"{r['project_peak_mb']:9.0f}  {every_txt}")
    print(f"(medians of {args.runs} runs; département {args.departement}; floors: zip = unzip -p of the four "
          "members, Parquet = one DuckDB query per file selecting the same rows)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
