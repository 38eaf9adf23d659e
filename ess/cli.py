"""The `ess` command line: one verb per thing a user does. Heavy modules are imported inside each verb so that
`ess --help` stays instant."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ess import paths
from ess.errors import UserError

DEFAULT_DEPARTEMENT = "38"


def _add_departement(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--departement",
        "-d",
        default=DEFAULT_DEPARTEMENT,
        help="département code: 38 (default), 01…95, 2A/2B, 971…976",
    )


def cmd_sample(args: argparse.Namespace) -> int:
    from sources.sample import write_sample

    out = Path(args.out) if args.out else paths.sample_dir(args.departement)
    summary = write_sample(out, departement=args.departement, seed=args.seed, scale=args.scale)
    print(f"sample written to {out}")
    for key, value in summary.items():
        print(f"  {key}: {value}")
    return 0


def cmd_fetch(args: argparse.Namespace) -> int:
    from sources.fetch import fetch

    root = Path(args.out) if args.out else paths.raw_dir()
    written = fetch(
        root,
        millesime=args.millesime,
        departement=args.departement,
        sources=args.source,
        formats=args.format,
    )
    for path in written:
        print(path)
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from transforms.pipeline import RunConfig, run

    config = RunConfig.from_cli(args)
    result = run(config)
    print(result.summary())
    return 0


def cmd_build_reference(args: argparse.Namespace) -> int:
    from sources.reference import build_reference

    for path in build_reference(args.source_dir and Path(args.source_dir)):
        print(path)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ess",
        description="Measure the social and solidarity economy (ESS) of a département from open data "
        "(SIRENE, URSSAF, COG). Typical use: `ess run` (on the generated sample), or "
        "`ess fetch` then `ess run --input data/raw` (on official files).",
    )
    sub = parser.add_subparsers(dest="verb", required=True, metavar="VERB")

    p = sub.add_parser(
        "sample",
        help="write the synthetic sample (official file formats) for a département",
        description="Generate a deterministic synthetic dataset in exactly the official file formats and names "
        "(SIRENE zipped CSV and Parquet stocks with history, URSSAF exports, territory files) plus its ground "
        "truth. Everything it writes is marked synthetic.",
    )
    _add_departement(p)
    p.add_argument("--out", help="output folder (default: data/sample/dep<NN>)")
    p.add_argument("--seed", type=int, default=2012, help="random seed (default 2012)")
    p.add_argument("--scale", type=float, default=1.0, help="size factor (1.0 ≈ a real département)")
    p.set_defaults(func=cmd_sample)

    p = sub.add_parser(
        "fetch",
        help="download the official files into data/raw/<source>/<millésime>/",
        description="Download official files from their stable addresses, with resume, retries, size and "
        "checksum verification, and a manifest per snapshot. Files already complete are not downloaded again.",
    )
    _add_departement(p)
    p.add_argument("--millesime", help="SIRENE millésime YYYY-MM (default: the latest published)")
    p.add_argument(
        "--source",
        action="append",
        choices=["sirene", "urssaf", "territoires"],
        help="source to fetch (repeatable; default: all)",
    )
    p.add_argument(
        "--format",
        action="append",
        choices=["parquet", "csv"],
        help="SIRENE deliverable (default: parquet; CSV stops in 2027)",
    )
    p.add_argument("--out", help="root folder (default: data/raw)")
    p.set_defaults(func=cmd_fetch)

    p = sub.add_parser(
        "run",
        help="run the pipeline (on the generated sample unless --input is given)",
        description="Stage the sources, build the ESS perimeter and indicators, check them and publish "
        "Parquet, the DuckDB catalog, charts and the report. Without --input, the synthetic sample of the "
        "département is generated (if missing) and used.",
    )
    _add_departement(p)
    p.add_argument("--input", help="folder laid out as <source>/<millésime>/<files> (e.g. data/raw)")
    p.add_argument("--millesime", help="SIRENE millésime YYYY-MM (default: the latest found in --input)")
    p.add_argument("--annee-urssaf", type=int, help="URSSAF year (default: the latest found)")
    p.add_argument("--annee-cog", type=int, help="COG year (default: the latest available)")
    p.add_argument(
        "--perimetre",
        default="insee",
        help="named ESS perimeter: insee (default), loi2014, flag",
    )
    p.add_argument("--out", help="warehouse folder (default: data/warehouse)")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser(
        "build-reference",
        help="rebuild data/reference/ from official nomenclature and territory files",
        description="Rebuild the committed reference tables (communes of France with EPCI, arrondissement, "
        "population and old codes; NAF; legal forms) from the official files. Maintainers only.",
    )
    p.add_argument("--source-dir", help="folder holding the official files (default: download from registries)")
    p.set_defaults(func=cmd_build_reference)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except UserError as exc:
        print(f"ess {args.verb}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
