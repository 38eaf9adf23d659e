"""`make bench`: figures that the tests never assert (no timed assertions in tests).

1. time to generate the synthetic sample of a département;
2. the whole pipeline on it (report included), cold then with every cacheable step reused (wall seconds, peak
   memory of the largest process, wall and CPU seconds per step from the run's manifest, and the CPU seconds over
   the cores: the wall time no scheduling of the same work can beat);
3. how far the estimates are from the sample's ground truth, a truth the estimator does not share
   (benchmarks/accuracy.py): per level, cells, mean and max relative error, coverage of the 90 % interval, median
   half-width, for ESS employment and the ESS shares; `--write-method` rewrites METHOD.md's accuracy table;
4. optionally (`--sirene`), the SIRENE loader on national-like files (benchmarks/bench_sirene.py).

Everything runs in a private ESS_DATA_DIR (default: a temporary folder) so the repository's data/ is untouched.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _timed(cmd: list[str], env: dict) -> tuple[float, str]:
    """Wall seconds of a child process and the peak RSS of its largest process, as text. The OS keeps ONE peak for
    all the children ever waited for: when this run's largest process stayed below an earlier one's, its own peak is
    unknown, and said so."""
    start = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    text = f"peak {peak / 1024:6.0f} MB" if peak > before else f"peak ≤ {before / 1024:.0f} MB (an earlier run's)"
    return time.perf_counter() - start, text


def _print_steps(manifest: Path) -> None:
    """The run's wall and CPU time per step (the manifest's durees_etapes and cpu_etapes), and what the CPU time
    means for the wall time: the steps' CPU seconds over the machine's cores is as fast as they can ever run."""
    import json

    from transforms.yearly import available_cores

    m = json.loads(manifest.read_text(encoding="utf-8"))
    steps, cpu = m.get("durees_etapes") or {}, m.get("cpu_etapes") or {}
    print(f"    {'step':<24}{'wall':>9}{'CPU':>9}")
    for step, seconds in steps.items():
        print(f"    {step:<24}{seconds:7.1f} s{cpu.get(step, float('nan')):7.1f} s")
    cores = available_cores()
    total_wall, total_cpu = sum(steps.values()), sum(cpu.values())
    print(f"    {'all steps':<24}{total_wall:7.1f} s{total_cpu:7.1f} s  (CPU / {cores} cores: at best "
          f"{total_cpu / cores:.1f} s of wall time)")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--departement", default="38")
    p.add_argument("--scale", type=float, default=1.0, help="sample scale (1.0 ≈ a real département)")
    p.add_argument("--data-dir", type=Path, help="ESS_DATA_DIR to use (default: a new temporary folder)")
    p.add_argument("--sirene", action="store_true", help="also run the SIRENE loader benchmark (minutes)")
    p.add_argument("--write-method", action="store_true",
                   help="rewrite METHOD.md's accuracy table from the figures measured (scale 1 only)")
    args = p.parse_args(argv)

    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="ess-bench-"))
    env = {**os.environ, "ESS_DATA_DIR": str(data_dir)}
    ess = [sys.executable, "-m", "flows.cli"]
    dep = ["--departement", args.departement]
    scale = ["--scale", str(args.scale)]
    print(f"data dir: {data_dir}")
    secs, peak = _timed(ess + ["sample", *dep, *scale,
                               "--out", str(data_dir / "sample" / f"dep{args.departement}")], env)
    print(f"sample generation:        {secs:7.1f} s  {peak}")
    run = ess + ["run", *dep, "--sample-scale", str(args.scale)]
    for label, run_id in (("cold", "bench-froid"), ("cached re-run", "bench-cache")):
        secs, peak = _timed(run + ["--run-id", run_id], env)
        print(f"pipeline, {label + ':':<16}{secs:7.1f} s  {peak} (largest process)"
              + ("  (incl. a temporary Prefect server)" if label == "cold" else ""))
        _print_steps(data_dir / "runs" / f"dep{args.departement}" / run_id / "manifest.json")
    from benchmarks import accuracy

    accuracy.main(["--data-dir", str(data_dir), "--departement", args.departement]
                  + (["--write-method"] if args.write_method and args.scale == 1.0 else []))
    if args.sirene:
        from benchmarks.bench_sirene import main as bench_sirene

        bench_sirene([])
    return 0


if __name__ == "__main__":
    sys.exit(main())
