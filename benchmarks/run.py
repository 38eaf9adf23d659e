"""`make bench`: figures that the tests never assert (no timed assertions in tests).

1. time to generate the synthetic sample of a département;
2. the whole pipeline on it, cold then with every cacheable step reused (wall seconds, peak memory of the process);
3. how far the estimates are from the sample's ground truth: ESS employment of the département and of each
   commune (central value against the true headcount, and how often the truth falls inside [low, high]);
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


def _timed(cmd: list[str], env: dict) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of a child process."""
    start = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return time.perf_counter() - start, max(peak, before) / 1024


def accuracy(data_dir: Path, departement: str) -> dict:
    """Central / low / high ESS employment of the public-free internal cube against the generator's truth."""
    import duckdb

    truth = data_dir / "sample" / f"dep{departement}" / "ground_truth" / "totaux_communes.csv"
    cube = data_dir / "warehouse" / "interne" / "out_indicateurs" / "**" / "*.parquet"
    con = duckdb.connect()
    row = con.execute(
        f"""
        WITH est AS (
            SELECT code_territoire AS code_commune, effectif_bas, effectif_central, effectif_haut
            FROM read_parquet('{cube}', hive_partitioning = true, hive_types_autocast = false)
            WHERE niveau = 'commune' AND famille = 'ess' AND nomenclature_secteur = 'ensemble'
              AND classe_taille = 'ensemble' AND departement = ? AND perimetre = 'insee'
              AND annee = (SELECT max(annee) FROM read_parquet('{cube}'))),
        vrai AS (SELECT code_commune::VARCHAR AS code_commune, effectif_vrai_ess AS vrai FROM read_csv('{truth}',
                 types = {{'code_commune': 'VARCHAR'}}))
        SELECT sum(vrai), sum(coalesce(effectif_central, 0)), sum(coalesce(effectif_bas, 0)),
               sum(coalesce(effectif_haut, 0)),
               avg(abs(coalesce(effectif_central, 0) - vrai) / vrai) FILTER (WHERE vrai >= 50),
               avg((vrai BETWEEN coalesce(effectif_bas, 0) AND coalesce(effectif_haut, 0))::INT),
               count(*) FILTER (WHERE vrai >= 50)
        FROM vrai LEFT JOIN est USING (code_commune)
        """,
        [departement],
    ).fetchone()
    keys = ("vrai_ess_departement", "estime_central", "estime_bas", "estime_haut",
            "erreur_relative_moyenne_communes_50plus", "part_communes_vrai_dans_fourchette", "nb_communes_50plus")
    return dict(zip(keys, row))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--departement", default="38")
    p.add_argument("--scale", type=float, default=1.0, help="sample scale (1.0 ≈ a real département)")
    p.add_argument("--data-dir", type=Path, help="ESS_DATA_DIR to use (default: a new temporary folder)")
    p.add_argument("--sirene", action="store_true", help="also run the SIRENE loader benchmark (minutes)")
    args = p.parse_args(argv)

    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="ess-bench-"))
    env = {**os.environ, "ESS_DATA_DIR": str(data_dir)}
    ess = [sys.executable, "-m", "ess.cli"]
    dep = ["--departement", args.departement]
    scale = ["--scale", str(args.scale)]
    print(f"data dir: {data_dir}")
    secs, mb = _timed(ess + ["sample", *dep, *scale,
                             "--out", str(data_dir / "sample" / f"dep{args.departement}")], env)
    print(f"sample generation:        {secs:7.1f} s  peak {mb:6.0f} MB")
    run = ess + ["run", *dep, "--sample-scale", str(args.scale), "--no-report"]
    secs, mb = _timed(run, env)
    print(f"pipeline, cold:           {secs:7.1f} s  peak {mb:6.0f} MB  (incl. a temporary Prefect server)")
    secs, mb = _timed(run, env)
    print(f"pipeline, cached re-run:  {secs:7.1f} s  peak {mb:6.0f} MB")
    if args.scale == 1.0:
        for key, value in accuracy(data_dir, args.departement).items():
            print(f"  {key}: {value:,.4f}" if isinstance(value, float) else f"  {key}: {value}")
    if args.sirene:
        from benchmarks.bench_sirene import main as bench_sirene

        bench_sirene([])
    return 0


if __name__ == "__main__":
    sys.exit(main())
