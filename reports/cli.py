"""The `ess report` verb: rebuild the charts and the PDF of a finished (published) run.

Into the warehouse, the report goes through the same publication as `ess run`: built in a private folder, then put
in place as a new version of the warehouse, beside the tables of the run it describes (refused if another run's
tables are published there). Heavy imports happen inside the command so that `ess --help` stays instant.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ess import paths
from ess.errors import UserError

PARAM_KEYS = ("departement", "millesime", "annee_urssaf", "annee_cog", "perimetre", "synthetic", "run_id")


def find_run(departement: str, run: str | None) -> Path:
    """The run folder: --run as given, else the latest run of the département that has a manifest."""
    if run:
        folder = Path(run)
        if not (folder / "manifest.json").exists():
            raise UserError(f"{folder} is not a finished run (no manifest.json): give a folder of data/runs/dep<NN>/")
        return folder
    root = paths.runs_dir() / f"dep{departement}"
    runs = sorted(p.parent for p in root.glob("*/manifest.json"))
    if not runs:
        raise UserError(f"no finished run for département {departement} in {root}: run `ess run -d {departement}` "
                        "first or give --run")
    return runs[-1]


def run_tables(folder: Path) -> dict[str, Path]:
    """Every table a run wrote (<run>/<step>/<table>.parquet), by table name."""
    tables = {p.stem: p for p in sorted(folder.glob("*/*.parquet"))}
    if "out_indicateurs_public" not in tables:
        raise UserError(f"{folder} has no out_indicateurs_public.parquet: the run did not reach the outputs step")
    return tables


def run_params(folder: Path) -> dict:
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    given = manifest.get("parametres", {})
    params = {k: given.get(k) for k in PARAM_KEYS}
    params["synthetic"] = bool(manifest.get("synthetic", given.get("synthetic", False)))
    garde_fous = manifest.get("garde_fous") or {}
    params["publication_forcee"] = ([c.get("libelle") for c in garde_fous.get("constats", [])]
                                    if garde_fous.get("publication_forcee") else [])
    missing = [k for k in ("departement", "millesime", "perimetre") if not params.get(k)]
    if missing:
        raise UserError(f"{folder / 'manifest.json'}: parameters {missing} are missing; rerun `ess run`")
    return params


def cmd_report(args: argparse.Namespace) -> int:
    from reports.annual import build_report

    departement = args.departement.strip().upper()
    folder = find_run(departement, args.run)
    params = run_params(folder)
    if args.perimetre and args.perimetre != params["perimetre"]:
        raise UserError(f"run {folder} was built for perimeter {params['perimetre']!r}, not {args.perimetre!r}: "
                        "run `ess run --perimetre ...` first")
    tables = run_tables(folder)
    if args.out:
        out = Path(args.out)
        info = build_report(tables, params, out).stats["rapport"]
    else:
        # same place and same publication as the report of `ess run`: a new version of the warehouse
        from transforms import warehouse as wh
        from transforms.publish import REPORT_FACTS, publish_report, report_dir

        warehouse = Path(args.warehouse) if args.warehouse else paths.warehouse_dir()
        out = report_dir(warehouse, params)
        with wh.staging_area(warehouse) as staging:
            folder = staging / "rapport"
            folder.mkdir()
            info = build_report(tables, params, folder).stats["rapport"]
            facts = {k: v for k, v in info.items() if k in REPORT_FACTS}
            publish_report(folder, params, warehouse, run_id=params.get("run_id") or folder.name, facts=facts)
    print(out / Path(info["pdf"]).name)
    print(f"  pages: {info['pages']}, graphiques: {len(info['graphiques'])} in {out / 'graphiques'}"
          f"{', DONNÉES SYNTHÉTIQUES' if info['synthetique'] else ''}")
    return 0


def add_report_parser(sub) -> argparse.ArgumentParser:
    """Add the `report` verb to the `ess` subcommands."""
    p = sub.add_parser(
        "report",
        help="build the charts and the annual PDF report of a run",
        description="Build the charts (PNG, with the data of each as CSV) and the French PDF report of the "
        "Département from the protected tables of a finished run (statistical confidentiality applied). "
        "Output of the synthetic sample says so on every page and chart.",
    )
    p.add_argument("--departement", "-d", default="38", metavar="CODE", help="département code (default 38)")
    p.add_argument("--run", metavar="DOSSIER", help="run folder data/runs/dep<NN>/<run_id> (default: the latest of the département)")
    p.add_argument("--perimetre", metavar="PERIMETRE", help="check that the run used this perimeter")
    p.add_argument("--warehouse", metavar="DOSSIER", help="warehouse folder (default: data/warehouse); the report goes to "
                   "<warehouse>/rapports/departement=<dep>/millesime=<YYYY-MM>/perimetre=<p>/")
    p.add_argument("--out", metavar="DOSSIER", help="write into this folder instead of the warehouse")
    p.set_defaults(func=cmd_report)
    return p
