"""The `ess` command line: one verb per thing a user does. The run's options are derived from ess.settings.Settings
(its fields declare their flag, help and rule); heavy modules are imported inside each verb so that `ess --help`
stays quick."""

from __future__ import annotations

import argparse
import contextlib
import errno
import logging
import os
import sys
from pathlib import Path

from ess import paths
from ess.errors import (UserError, exception_chain, interrupted_by_user, system_message, system_problem,
                        write_failure)
from ess.settings import Settings, add_arguments, check_departement, check_folder_option, split_codes

DEFAULT_DEPARTEMENT = Settings.departement
# Offline-friendly Prefect settings (docs: /work/shared STACK notes): the temporary server needs more than the
# default 20 s to start on a loaded 2-core machine, and telemetry fails offline. Only set when the user has not.
PREFECT_DEFAULTS = {
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "PREFECT_TELEMETRY_ENABLE_RESOURCE_METRICS": "false",
    "DASK_LOGGING__DISTRIBUTED": "warning",
    "MPLBACKEND": "Agg",
}


def prefect_environment() -> None:
    """Called before Prefect is imported (it reads its settings at import)."""
    for key, value in PREFECT_DEFAULTS.items():
        os.environ.setdefault(key, value)


def _add_departement(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--departement",
        "-d",
        default=DEFAULT_DEPARTEMENT,
        metavar="CODE",
        help="département code: 38 (default), 01…95, 2A/2B, 971…976",
    )


# Several départements, the same way in every verb that takes them: `-d 38 73 26` or `-d 38,73,26`.
SEVERAL_DEPARTEMENTS_HELP = ("département code(s) of the COG: 38 (default), 01…95, 2A/2B, 971…976; several: "
                             "-d 38 73 26 or -d 38,73,26")


def cmd_sample(args: argparse.Namespace) -> int:
    from sources.sample import write_sample

    departement = check_departement(args.departement)
    if args.out:
        check_folder_option("--out", args.out)
    out = Path(args.out) if args.out else paths.sample_dir(departement)
    summary = write_sample(out, departement=departement, seed=args.seed, scale=args.scale)
    print(f"sample written to {out}")
    for key, value in summary.items():
        print(f"  {key}: {value}")
    return 0


def cmd_fetch(args: argparse.Namespace) -> int:
    from ess.settings import check_millesime
    from sources.registry import fetch

    if args.out:
        check_folder_option("--out", args.out)
    root = Path(args.out) if args.out else paths.raw_dir()
    written = fetch(
        root,
        millesime=check_millesime(args.millesime),
        departement=check_departement(args.departement),
        sources=args.source,
        formats=args.format,
    )
    for path in written:
        print(path)
    return 0


def _sample_while_prefect_starts(config, shown) -> None:
    """The sample a first `ess run` generates (≈ 30 s) is made while Prefect's server boots (≈ 13 s) rather than
    after it; the flow's input step then finds it."""
    from ess import progress
    from flows.inputs import ensure_sample, sample_missing

    if len(config.departements) == 1 and sample_missing(config):
        with shown.step("sample", progress.label("sample")):
            ensure_sample(config)


def _import_while_prefect_starts() -> None:
    """What later steps import (the checks' GX, the report's matplotlib): ≈ 5 s of imports made while Prefect's
    server finishes booting (≈ 4 s of waiting once the pipeline is imported) rather than in the check step, where
    they compete with the re-audit for the cores."""
    import great_expectations  # noqa: F401
    import reports.style  # noqa: F401  (matplotlib's headless backend, set before pyplot is imported)
    import matplotlib.pyplot  # noqa: F401


def cmd_run(args: argparse.Namespace) -> int:
    from ess import locking, prefect_server, progress, runlog

    shown = progress.start()  # on stderr when it is a terminal or ESS_PROGRESS=1 (make run)
    config = Settings.from_args(args)  # validated before Prefect starts
    with contextlib.ExitStack() as locks:
        # Another run of the same département is refused at once: before Prefect starts, before any folder.
        for one in config.every_departement():
            locks.enter_context(locking.departement_lock(one.warehouse_dir, one.departement, for_command=True))
        _refuse_an_existing_run_folder(config)
        shown.say(f"ess run — département{'s' if len(config.departements) > 1 else ''} "
                  f"{', '.join(config.departements)}, périmètre {config.perimetre} (journal : "
                  f"{config.run_dir() / runlog.LOG_NAME})")
        with prefect_server.early_server() as server:  # boots while the sample is made and the pipeline imported
            args.log_path = config.run_dir() / runlog.LOG_NAME
            args.run_config = config
            with runlog.quiet_console(until_exit=args.whole_process), runlog.run_log(args.log_path):
                try:
                    if isinstance(server, prefect_server.EarlyServer):
                        _sample_while_prefect_starts(config, shown)
                    shown.open("prefect", progress.label("prefect"))  # ends when the flow starts (flows/pipeline.py)
                    from flows.pipeline import run_flows

                    if isinstance(server, prefect_server.EarlyServer) and not server.ready():
                        _import_while_prefect_starts()
                    with server.api():
                        results = run_flows(config)
                except Exception:
                    logging.getLogger("flows.cli").exception("ess run %s failed", config.run_id)
                    raise
    shown.say("Terminé.")
    for result in results:
        print(result.summary())
    return 0


def _refuse_an_existing_run_folder(config: Settings) -> None:
    """A run folder belongs to one run: another one would mix its log and tables into it (and a failed run's
    traceback into a published run's log)."""
    for one in config.every_departement():
        if one.run_dir().exists():
            raise UserError(f"--run-id {config.run_id}: the run folder {one.run_dir()} already exists (an earlier "
                            "run); choose another name, or leave --run-id out (the default is the time of the run)")


def cmd_serve(args: argparse.Namespace) -> int:
    from flows.deployments import MONTHLY, YEARLY, build_deployments, describe, require_server

    if args.no_download and not args.input:
        raise UserError("--no-download serves the files of --input: give --input (e.g. data/raw), or use --sample")
    codes = list(dict.fromkeys(c.upper() for c in split_codes(args.departements)))
    if len(codes) > 1:
        raise UserError(f"ess serve schedules the runs of one département, not {len(codes)} ({', '.join(codes)}): "
                        "start one `ess serve -d <code>` per département (each registers its own deployments)")
    require_server()
    kinds = tuple(args.only or (MONTHLY, YEARLY))
    args.input_dir = None if args.sample else args.input
    args.download = not (args.sample or args.no_download)
    deployments = build_deployments(Settings.from_args(args), interval=args.interval, kinds=kinds)
    for line in describe(deployments):
        print(line)
    from flows.deployments import serve_deployments

    serve_deployments(deployments, limit=args.limit)
    return 0


def cmd_france(args: argparse.Namespace) -> int:
    from ess import runlog
    from flows.france import run_france

    departements = split_codes(args.departements) or None
    settings = Settings.from_args(args)  # every setting but the départements, checked before Dask starts
    with runlog.quiet_console(until_exit=args.whole_process):
        results = run_france(departements, dask_address=args.dask_address, n_workers=args.workers,
                             settings=settings.parameters(without=("departement", "departements")))
    for dep, r in results.items():
        print(f"{dep}: {r['headline']} — {r['manifest_path']} (on {r['worker']})")
    return 0


def cmd_build_reference(args: argparse.Namespace) -> int:
    from sources.reference_build import build_reference

    for path in build_reference(args.source_dir and Path(args.source_dir)):
        print(path)
    return 0


def cmd_versions(args: argparse.Namespace) -> int:
    from flows.versions import render_versions

    print(render_versions(Path(args.warehouse) if args.warehouse else paths.warehouse_dir()))
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    from flows.versions import render_rollback

    print(render_rollback(Path(args.warehouse) if args.warehouse else paths.warehouse_dir(), args.version))
    return 0


def _add_warehouse(p: argparse.ArgumentParser) -> None:
    p.add_argument("--warehouse", "--out", dest="warehouse", metavar="DOSSIER",
                   help="warehouse folder, the one `ess run --out` publishes into (default: data/warehouse)")


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
    p.add_argument("--out", metavar="DOSSIER", help="output folder (default: data/sample/dep<NN>)")
    p.add_argument("--seed", type=int, default=2012, metavar="GRAINE", help="random seed (default 2012)")
    p.add_argument("--scale", type=float, default=1.0, metavar="ECHELLE",
                   help="size factor (1.0 ≈ a real département)")
    p.set_defaults(func=cmd_sample)

    p = sub.add_parser(
        "fetch",
        help="download the official files into data/raw/<source>/<millésime>/",
        description="Download official files from their stable addresses, with resume, retries, size and "
        "checksum verification, and a manifest per snapshot. Files already complete are not downloaded again.",
    )
    _add_departement(p)
    p.add_argument("--millesime", metavar="AAAA-MM", help="SIRENE millésime (default: the latest published)")
    p.add_argument(
        "--source",
        action="append",
        metavar="SOURCE",
        help="source to fetch, by its name in sources/registry.py (sirene, urssaf, territoires…; repeatable; "
             "default: every registered source)",
    )
    p.add_argument(
        "--format",
        action="append",
        choices=["parquet", "csv"],
        metavar="FORMAT",
        help="SIRENE deliverable: parquet (default) or csv (CSV stops in 2027); repeatable",
    )
    p.add_argument("--out", metavar="DOSSIER", help="root folder (default: data/raw)")
    p.set_defaults(func=cmd_fetch)

    p = sub.add_parser(
        "run",
        help="run the pipeline for one or several départements (on the generated sample unless --input or "
        "--download is given)",
        description="Stage the sources, build the ESS perimeter and indicators, check them and publish "
        "Parquet, the DuckDB catalog, charts and the report, as a Prefect flow (a temporary local Prefect server "
        "starts when PREFECT_API_URL is not set). Without --input, the synthetic sample of the département is "
        "generated (if missing) and used. Steps whose inputs did not change are reused from data/cache/. With "
        "several départements (`-d 38 73 26`), each national file (SIRENE, URSSAF) is read once for all of them, "
        "then each département is built and published in turn; a département the files do not hold is refused "
        "with a message, the others are published.",
    )
    add_arguments(p, overrides={"departements": {"help": SEVERAL_DEPARTEMENTS_HELP + " (the national files are "
                                                         "read once for all)"}})
    p.set_defaults(func=cmd_run)

    p = sub.add_parser(
        "serve",
        help="register and serve the monthly and yearly scheduled runs with a Prefect server",
        description="Register two deployments of the pipeline with the Prefect server at PREFECT_API_URL and run "
        "their scheduled flow runs until interrupted (Ctrl-C pauses the schedules): a monthly refresh on the 5th "
        "at 06:00 Paris time (after SIRENE's publication; downloads the new files, no report) and a yearly full "
        "build with the report on 15 October. Start the server first: "
        "`prefect server start --host 127.0.0.1 --analytics-off`, then "
        "`export PREFECT_API_URL=http://127.0.0.1:4200/api`; the runs show in the UI at http://127.0.0.1:4200.",
    )
    # the run's settings but those each scheduled run decides (its files, millésimes, run id, report)
    add_arguments(p, without=SERVE_OWN, overrides={"departements": {
        "nargs": None, "action": "append", "help": "département code of the COG: 38 (default), 01…95, 2A/2B, 971…976"}})
    p.add_argument("--input", metavar="DOSSIER",
                   help="root of the official files (default: data/raw, where the runs download)")
    p.add_argument("--no-download", action="store_true",
                   help="use the files already in --input instead of downloading the latest ones")
    p.add_argument("--sample", action="store_true", help="serve on the generated sample instead of official files")
    p.add_argument("--only", action="append", choices=["mensuel", "annuel"], help="serve only this deployment")
    p.add_argument("--interval", type=float, metavar="SECONDES",
                   help="run every SECONDES seconds instead of the monthly/yearly dates (trials)")
    p.add_argument("--limit", type=int, default=1, metavar="NOMBRE",
                   help="flow runs at the same time (default 1: runs of a département take turns on its lock)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser(
        "france",
        help="run the pipeline for many départements (default: all) in parallel on Dask",
        description="Map the pipeline over départements with Prefect's DaskTaskRunner: on a local cluster of "
        "worker processes, or on an existing Dask cluster with --dask-address tcp://host:8786 (every worker needs "
        "this project installed, the same data folder and access to the Prefect API).",
    )
    p.add_argument("--departements", "--departement", "-d", dest="departements", nargs="+", action="extend",
                   metavar="CODE", help=SEVERAL_DEPARTEMENTS_HELP.replace("38 (default)", "38") +
                   " (default: every département of the COG reference)")
    add_arguments(p, without=("departements",))
    p.add_argument("--dask-address", metavar="ADRESSE",
                   help="address of a running Dask scheduler, e.g. tcp://10.0.0.5:8786 (default: a local cluster)")
    p.add_argument("--workers", type=int, metavar="NOMBRE",
                   help="local cluster size (default: the number of cores, at most 4)")
    p.set_defaults(func=cmd_france)

    p = sub.add_parser(
        "build-reference",
        help="rebuild data/reference/ from official nomenclature and territory files",
        description="Rebuild the committed reference tables (communes of France with EPCI, arrondissement, "
        "population and old codes; NAF; legal forms) from the official files. Maintainers only.",
    )
    p.add_argument("--source-dir", metavar="DOSSIER",
                   help="folder holding the official files (default: download from registries)")
    p.set_defaults(func=cmd_build_reference)

    p = sub.add_parser(
        "versions",
        help="list the versions of the warehouse: what each published, which is current, which were withdrawn",
        description="List the versions of the warehouse, the latest first: when each was made, by what (a "
        "publication of `ess run`, a report of `ess report`), from which run, département, millésime and "
        "perimeter, whether it was forced, and whether it is current, kept (`ess rollback` can put it back) or "
        "deleted; then the rollbacks, with the versions each withdrew. Read from the history every version "
        "holds, which outlives the versions deleted.",
    )
    _add_warehouse(p)
    p.set_defaults(func=cmd_versions)

    p = sub.add_parser(
        "rollback",
        help="make a kept version of the warehouse current again (undo a publication)",
        description="Make a kept version (see `ess versions`) current again, for every reader of the warehouse, "
        "in one atomic switch under the warehouse lock, as a publication does: everything published since "
        "(of every département) is withdrawn at once. The rollback is recorded in the warehouse's history, and "
        "the versions it withdraws are kept as long as the retention keeps any version (until two newer "
        "versions have been published), so a rollback can itself be undone.",
    )
    p.add_argument("version", metavar="VERSION", help="id of the version (as `ess versions` shows it, or its last 6 characters)")
    _add_warehouse(p)
    p.set_defaults(func=cmd_rollback)

    from reports.cli import add_report_parser

    add_report_parser(sub)
    return parser


# `ess serve` sets these itself (--input, --sample and --no-download; the schedules: millésimes, run ids, reports).
SERVE_OWN = ("input_dir", "download", "millesime", "annee_urssaf", "annee_cog", "report", "run_id", "force")

# Exit codes: 0 done, 1 a bug (the message says where the traceback is), 2 a problem with the input or the
# parameters (including a publication refused by its guards), 3 a problem of the machine (disk full, read-only
# file system, missing permission), 130 interrupted.
EXIT_BUG, EXIT_USER, EXIT_SYSTEM, EXIT_INTERRUPTED = 1, 2, 3, 130


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.whole_process = argv is None  # the `ess` program itself, not a call from Python (tests)
    prefect_environment()
    try:
        return args.func(args)
    except (Exception, KeyboardInterrupt) as exc:  # noqa: BLE001 — every failure ends as one message
        if interrupted_by_user(exc):
            _say(args, f"interrupted{_publication_state(args)}")
            return EXIT_INTERRUPTED
        return _failed(args, exc)


def _failed(args: argparse.Namespace, exc: Exception) -> int:
    """Print the one message of a failed command (its traceback, for a bug, in a log file); its exit code."""
    # (a full disk that a reader took for its file's fault gets the disk's message)
    if isinstance(exc, UserError) and not write_failure(exc):
        failed = getattr(exc, "departements", None)  # flows.pipeline.DepartementsFailed: it says what was published
        _say(args, str(exc) if failed or "nothing was published" in str(exc).lower()
             else _with_publication_state(str(exc), args), departements=failed)
        return EXIT_USER
    refused = _file_for_a_folder(args, exc)
    if refused is not None:
        _say(args, _with_publication_state(refused, args))
        return EXIT_USER
    problem = system_problem(exc)
    if problem is not None:
        _say(args, system_message(*problem) + _publication_state(args))
        return EXIT_SYSTEM
    log = _traceback_log(args, exc)
    where = f"the traceback is in {log}" if log else "its traceback could not be written to a log file"
    _say(args, f"unexpected error (a bug, not a problem with your files): {type(exc).__name__}: "
               f"{str(exc).splitlines()[0] if str(exc) else ''} — {where}; please report it with that file"
               f"{_publication_state(args)}", log=False)
    return EXIT_BUG


# The folders a user names, by the option (or variable) that named them: a file there is their mistake, not a bug.
FOLDER_OPTIONS = (("--out", "warehouse_dir"), ("--out", "out"), ("--input", "input_dir"), ("--input", "input"),
                  ("--reference-dir", "reference_dir"), ("--source-dir", "source_dir"))


def _file_for_a_folder(args: argparse.Namespace, exc: BaseException) -> str | None:
    """A NotADirectoryError on the way to a folder the user named (an option, ESS_DATA_DIR): the message naming
    it. The path options are checked first (ess.settings.check_folder_option); this catches what they cannot
    (ESS_DATA_DIR, a file put in place during the run)."""
    named = [(flag, getattr(args, attr)) for flag, attr in FOLDER_OPTIONS if getattr(args, attr, None)]
    named.append(("ESS_DATA_DIR", str(paths.data_dir())))
    for e in exception_chain(exc):
        if not (isinstance(e, OSError) and e.errno == errno.ENOTDIR and isinstance(e.filename, str)):
            continue
        for flag, value in named:
            if Path(e.filename).absolute().is_relative_to(Path(value).absolute()):
                try:
                    check_folder_option(flag, value)
                except UserError as refused:
                    return str(refused)
    return None


def _say(args: argparse.Namespace, message: str, *, log: bool = True, departements: list[str] | None = None) -> None:
    """The one message of a failed command, on stderr, with the run's log file when there is one (with
    `departements`, the failed ones of a run of several: each one's log)."""
    from ess.runlog import LOG_NAME

    print(f"ess {args.verb}: {message}", file=sys.stderr)
    config = getattr(args, "run_config", None)
    if log and departements and config is not None:
        for one in config.every_departement():
            path = one.run_dir() / LOG_NAME
            if one.departement in departements and path.is_file():
                print(f"  details for {one.departement}: {path}", file=sys.stderr)
        return
    path = getattr(args, "log_path", None)
    if log and path is not None and Path(path).is_file():
        print(f"  details: {path}", file=sys.stderr)


def _traceback_log(args: argparse.Namespace, exc: BaseException) -> Path | None:
    """The run's log (which has the traceback already), or a log file of the command written now."""
    from ess import runlog

    path = getattr(args, "log_path", None)
    if path is not None and Path(path).is_file():
        return Path(path)
    import datetime as dt

    path = paths.data_dir() / "logs" / f"ess-{args.verb}-{dt.datetime.now():%Y%m%dT%H%M%S}-{os.getpid()}.log"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return path if runlog.append_traceback(path, exc) else None


def _with_publication_state(message: str, args: argparse.Namespace) -> str:
    state = _publication_state(args)
    return message.rstrip(".") + state if state else message


def _publication_state(args: argparse.Namespace) -> str:
    """For `ess run`: whether this run's publication is in place (it is the last thing a run does for a département,
    in one move), for each of its départements."""
    config = getattr(args, "run_config", None)
    if config is None:
        return ""
    try:
        from transforms.publish import run_version

        versions = {one.departement: run_version(Path(one.warehouse_dir), one.departement, one.run_id)
                    for one in config.every_departement()}
    except Exception:  # noqa: BLE001 — the warehouse itself may be what failed
        return ""
    published = {dep: version for dep, version in versions.items() if version}
    if not published:
        return f". Nothing was published: {config.warehouse_dir} is as it was before the run"
    if len(versions) == 1:
        return f". This run's publication is in place (version {published[config.departement]}) but the run did " \
               "not finish"
    done = ", ".join(f"{dep} (version {version})" for dep, version in published.items())
    others = [dep for dep in versions if dep not in published]
    return f". Published: {done}" + (f"; nothing for {', '.join(others)}" if others else "")


if __name__ == "__main__":
    sys.exit(main())
