"""Does the secrecy pattern depend on the last bits of the employment estimates? (NOT a test: about a minute.)

    python -m benchmarks.pattern_stability RUN_DIR [--noise 1e-13] [--seed 1]

Another machine's CPU makes numpy and OpenBLAS take other kernels (AVX-512 or AVX2, other summation orders, other
exp/log), so the same inputs give estimates that differ in their last bits. This rebuilds the outputs step of a run
(RUN_DIR: data/runs/dep<d>/<run id>, whose manifest lists its inputs) with the unit-level employment of
core_effectifs multiplied by (1 + noise · N(0, 1)) — a relative change of about 1e-13 is such a last-bit difference
— then rounds the central estimates as the core step does (DECIMALES_EFFECTIF), and counts the cells of
out_indicateurs_public whose secrecy status differs from the run's own, per year. Any difference means two
publications of the same inputs made on two machines could mask different cells: read side by side, each could show
what the other hides. Without the rounding, 347 of the sample's 149 603 public statuses changed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

PERTURBED = ("effectif_central", "variance_a_priori", "projection_1", "projection_2", "projection_3",
             "projection_4", "projection_5")


def main(argv: list[str] | None = None) -> int:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from transforms import outputs
    from transforms.employment import quantise
    from transforms.outputs import STATUS
    from transforms.secret_model import ROW_KEY

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", type=Path)
    p.add_argument("--noise", type=float, default=1e-13, help="relative noise on the unit-level estimates")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args(argv)

    manifest = json.loads((args.run_dir / "manifest.json").read_text(encoding="utf-8"))
    tables = {k: v for k, v in manifest["tables"].items() if not k.startswith("out_")}
    work = Path(tempfile.mkdtemp(prefix="ess-pattern-"))
    try:
        core = pq.read_table(tables["core_effectifs"])
        rng = np.random.default_rng(args.seed)
        for column in PERTURBED:
            if column in core.column_names:
                values = core[column].to_numpy()
                noisy = values * (1 + args.noise * rng.standard_normal(len(values)))
                if column == "effectif_central":  # as the core step writes it (transforms/employment.py)
                    noisy = quantise(noisy)
                core = core.set_column(core.schema.get_field_index(column), column, pa.array(noisy))
        pq.write_table(core, work / "core_effectifs.parquet")
        tables["core_effectifs"] = str(work / "core_effectifs.parquet")
        outputs.build_outputs(tables, manifest["parametres"], work / "out")
        key = [*ROW_KEY, "annee"]
        before = pq.read_table(args.run_dir / "out" / "out_indicateurs_public.parquet",
                               columns=[*key, STATUS]).to_pandas()
        after = pq.read_table(work / "out" / "out_indicateurs_public.parquet", columns=[*key, STATUS]).to_pandas()
        both = before.merge(after, on=key, suffixes=("_run", "_bruit"), validate="one_to_one")
        differ = both[both[f"{STATUS}_run"].fillna("-") != both[f"{STATUS}_bruit"].fillna("-")]
        print(f"relative noise {args.noise:g}: {len(differ)} of {len(both)} public cells change their secrecy status")
        for year, n in differ.groupby("annee").size().items():
            print(f"  {year}: {n}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
