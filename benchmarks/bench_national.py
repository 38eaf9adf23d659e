"""The national read against its floors (NOT a test: `make bench-national`, minutes to an hour).

    python -m benchmarks.bench_national [--sizes 1 10 30] [--formats zip parquet] [--runs 3] [--departement 38]
                                        [--dir /tmp/ess-bench-national] [--no-all] [--all-sizes 1 10]

For each size (percent of France) it generates the four national SIRENE stocks once (benchmarks/national_stock.py:
real layouts, realistic text and compression), lays them out as a snapshot per deliverable (zipped CSV, Parquet)
with a download manifest (as `ess fetch` leaves it, so no checksum is recomputed), then measures, each in a fresh
child process, alternating runs so that the machine's noise hits both sides alike:

- the floor. Zip: `unzip -p` of the four members to /dev/null (decompression is one deflate stream per file: no
  reader of a zip can beat it; the issue's floor), and also the project's own inflater alone to /dev/null
  (sources/unzip_stream.py: ISA-L, three times faster than Info-ZIP's), both ratios printed. Parquet: four DuckDB
  queries, one per file, selecting exactly the rows the staging keeps (the plainest predicates that select them,
  the same columns as text) and writing them to Parquet;
- the project: transforms.staging.stage_national("sirene", …) for the département — the one read of each file,
  the staging SQL and the partitions written, i.e. everything the staging step does;
- the ratio project / floor (medians), and the peak memory: the resident memory of the measuring process and of
  its own children (the decompressing process) together, sampled every 20 ms;
- the same staging for every département of France (one run, at the --all-sizes: the time for all départements).

Each line also gives CPU seconds (steadier than wall times on a shared machine) and the load average around it.
"""

from __future__ import annotations

import argparse
import json
import os
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

_CPU = "sum(getattr(resource.getrusage(w), f) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN) for f in ('ru_utime', 'ru_stime'))"

_PROJECT = """
import json, resource, sys, time
from pathlib import Path
from transforms.staging import stage_national
snapshot, out, deps = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3].split(",")
t = time.perf_counter()
result = stage_national("sirene", snapshot, {"departements": deps, "millesime": "2026-10", "synthetic": True}, out)
wall = time.perf_counter() - t
print(json.dumps({"wall_s": wall, "cpu_s": CPU, "national": result.stats["sirene"],
                  "first": result.stats["departements"][deps[0]]["sirene"]}))
""".replace("CPU", _CPU)

# The same rows as the staging keeps, selected by DuckDB alone, with the plainest predicates that select them: the
# establishments by the loader's own (the codes of the other départements listed), the other files on the staged
# keys as they are written (a semi-join on text), the columns as text.
_FLOOR_PARQUET = """
import json, resource, sys, time
from pathlib import Path
from ess.db import connect
from sources import sirene
from sources.sirene_layouts import NEEDED_COLUMNS
from sources.sirene_read import open_stock, quote
snapshot, out, deps = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3].split(",")
con = connect()
sirene._load_references(con)
sirene._communes_elsewhere(con, deps)
params = {"departements": deps, **sirene._corse_codes(con)}
t = time.perf_counter()
for step in sirene._STEPS:
    with open_stock(con, sirene.find_stock(snapshot, step.key), step.key) as stock:
        columns = ", ".join(f"{stock.text[c]} AS {quote(c)}" for c in NEEDED_COLUMNS[step.key])
        keep = (sirene._keep_sql(step, stock.text) if step.scope == "commune"
                else f"{stock.text[step.scope]} IN (SELECT {step.scope} FROM _sirene_{step.scope}s)")
        sql = f"SELECT {columns} FROM {stock.parts[0]} WHERE {keep}"
        target = out / f"{step.key}.parquet"
        con.execute(f"COPY ({sql}) TO '{target}' (FORMAT parquet)",
                    {k: v for k, v in params.items() if f"${k}" in sql})
    if step.key == "etablissements":
        kept = f"read_parquet('{target}')"
        placed = ("list_contains($departements, CASE WHEN starts_with(codeCommuneEtablissement, '97') "
                  "THEN left(codeCommuneEtablissement, 3) ELSE left(codeCommuneEtablissement, 2) END)")
        for key in ("siret", "siren"):
            con.execute(f"CREATE TABLE _sirene_{key}s AS SELECT DISTINCT {key} FROM {kept} WHERE {placed}",
                        {"departements": deps})
wall = time.perf_counter() - t
print(json.dumps({"wall_s": wall, "cpu_s": CPU}))
""".replace("CPU", _CPU)

_FLOOR_ZIP = """
import json, resource, subprocess, sys, time
command = json.loads(sys.argv[1])
t = time.perf_counter()
for path, member in zip(sys.argv[2::2], sys.argv[3::2]):
    with open("/dev/null", "wb") as null:
        subprocess.run([*command, path, member], stdout=null, check=True)
print(json.dumps({"wall_s": time.perf_counter() - t, "cpu_s": CPU}))
""".replace("CPU", _CPU)
# The floor (Info-ZIP's inflater), and the project's own inflater (ISA-L when installed) alone, to stdout.
ZIP_FLOORS = {"unzip -p": ["unzip", "-p"],
              "own inflater": [sys.executable, str(ROOT / "sources" / "unzip_stream.py")]}


def _child(code: str, *args: str, memory: str | None = None) -> dict:
    """Run a measuring child; its figures, plus the peak of the resident memory of the child and its own children
    together, sampled every 20 ms from outside (getrusage would count the parent's pages a fork inherits)."""
    import psutil

    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        env = {**os.environ, **({"ESS_STAGING_MEMOIRE": memory} if memory else {})}
        child = subprocess.Popen([sys.executable, "-c", code, *args], stdout=out, stderr=err, cwd=ROOT, env=env)
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


def floor(fmt: str, snap: Path, work: Path, deps: list[str], command: str = "unzip -p") -> dict:
    if fmt == "zip":
        args = []
        for key in LAYOUTS:
            args += [str((snap / official_filename(key, "csv")).resolve()), csv_member_name(key)]
        return _child(_FLOOR_ZIP, json.dumps(ZIP_FLOORS[command]), *args)
    work.mkdir(parents=True, exist_ok=True)
    try:
        return _child(_FLOOR_PARQUET, str(snap), str(work), ",".join(deps))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def project(snap: Path, work: Path, deps: list[str], memory: str | None = None) -> dict:
    try:
        return _child(_PROJECT, str(snap), str(work), ",".join(deps), memory=memory)
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
    p.add_argument("--all-sizes", type=float, nargs="+", default=[1, 10],
                   help="sizes at which every département is staged too (default: 1 and 10)")
    p.add_argument("--all-memory", default=None,
                   help="DuckDB's memory for the every-département runs (ESS_STAGING_MEMOIRE, e.g. 1GB)")
    args = p.parse_args(argv)

    from ess.settings import known_departements

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
            floors, own, runs, loads = [], [], [], []
            for i in range(args.runs):
                loads.append(os.getloadavg()[0])
                floors.append(floor(fmt, snap, args.dir / "work_floor", [args.departement]))
                if fmt == "zip":
                    own.append(floor(fmt, snap, args.dir / "work_floor", [args.departement], "own inflater"))
                runs.append(project(snap, args.dir / "work_project", [args.departement]))
                loads.append(os.getloadavg()[0])
                mine = f"own inflater {own[-1]['wall_s']:6.1f} s, " if own else ""
                print(f"   {fmt:8s} run {i + 1}: floor {floors[-1]['wall_s']:6.1f} s ({floors[-1]['cpu_s']:5.1f} s CPU), "
                      f"{mine}project {runs[-1]['wall_s']:6.1f} s ({runs[-1]['cpu_s']:5.1f} s CPU), peak "
                      f"{runs[-1]['peak_mb']:5.0f} MB, load {loads[-2]:.1f}-{loads[-1]:.1f}", flush=True)
            row = {
                "size": size, "format": fmt,
                "floor_s": statistics.median(r["wall_s"] for r in floors),
                "floor_peak_mb": statistics.median(r["peak_mb"] for r in floors),
                "project_s": statistics.median(r["wall_s"] for r in runs),
                "project_cpu_s": statistics.median(r["cpu_s"] for r in runs),
                "project_peak_mb": max(r["peak_mb"] for r in runs),
                "load": f"{min(loads):.1f}-{max(loads):.1f}",
            }
            row["ratio"] = row["project_s"] / row["floor_s"]
            # CPU seconds are steadier than wall times on a shared machine: their ratio is printed too
            row["floor_cpu_s"] = statistics.median(r["cpu_s"] for r in floors)
            row["cpu_ratio"] = row["project_cpu_s"] / row["floor_cpu_s"]
            if own:
                row["own_floor_s"] = statistics.median(r["wall_s"] for r in own)
                row["own_ratio"] = row["project_s"] / row["own_floor_s"]
            for s in runs[0]["first"]:
                print(f"     {args.departement} {s['table']:42s} read {s['rows_read']:>11,}  staged "
                      f"{s['rows_staged']:>8,}  rejected {s['rows_rejected_total']:>6,}  out of scope "
                      f"{s['rows_out_of_scope']:>11,}")
            if not args.no_all and size in args.all_sizes:
                every_run = project(snap, args.dir / "work_all", every, args.all_memory)
                row["all_s"], row["all_peak_mb"] = every_run["wall_s"], every_run["peak_mb"]
                staged = sum(s["rows_staged"] for s in every_run["national"])
                print(f"   {fmt:8s} every département ({len(every)}, DuckDB memory "
                      f"{args.all_memory or '192MB'}): {row['all_s']:6.1f} s "
                      f"({every_run['cpu_s']:.1f} s CPU), peak {row['all_peak_mb']:5.0f} MB, {staged:,} rows staged, "
                      f"load {os.getloadavg()[0]:.1f}", flush=True)
            rows.append(row)
            mine = f"  own inflater {row['own_floor_s']:6.1f} s (ratio {row['own_ratio']:4.2f})" if own else ""
            print(f"   {fmt:8s} floor {row['floor_s']:6.1f} s  project {row['project_s']:6.1f} s  ratio "
                  f"{row['ratio']:4.2f} (CPU {row['floor_cpu_s']:.1f} s / {row['project_cpu_s']:.1f} s: "
                  f"{row['cpu_ratio']:4.2f})  peak {row['project_peak_mb']:5.0f} MB{mine}", flush=True)

    print("\nsize  format   floor (s)  project (s)  ratio  CPU ratio  peak (MB)  own inflater (s, ratio)  load      "
          "every département (s, peak MB)")
    for r in rows:
        every_txt = f"{r['all_s']:8.1f} s {r['all_peak_mb']:6.0f} MB" if "all_s" in r else "   —"
        mine = f"{r['own_floor_s']:8.1f}  {r['own_ratio']:5.2f}" if "own_floor_s" in r else "       —       "
        print(f"{r['size']:3g} %  {r['format']:7s}  {r['floor_s']:9.1f}  {r['project_s']:11.1f}  {r['ratio']:5.2f}  "
              f"{r['cpu_ratio']:9.2f}  "
              f"{r['project_peak_mb']:9.0f}  {mine:>23s}  {r['load']:8s}  {every_txt}")
    print(f"(medians of {args.runs} runs; département {args.departement}; floors: zip = unzip -p of the four "
          "members (the issue's), own inflater = sources/unzip_stream.py alone to /dev/null, Parquet = one DuckDB "
          "query per file selecting the same rows; load = 1-minute load average around the runs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
