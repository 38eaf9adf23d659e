"""The pipeline of one département as a Prefect flow: fetch → stage → build (core, outputs) → check → publish
(Parquet, catalog, report), then the run's provenance (manifest + markdown artifact).

This is the one composition of the steps: `ess run`, the scheduled deployments (flows/deployments.py) and the
France-wide flow (flows/france.py) all go through run_departement(). Tasks only pass paths, table names and small
JSON-able figures; the steps themselves are plain functions that never import Prefect, looked up by their
documented names (STEP_FUNCTIONS) when a task runs.

Expensive steps (staging, core, outputs) are cached by ess.caching on the checksums of their inputs, their code and
their parameters: a re-run with unchanged inputs reuses their tables, and a changed input re-runs exactly the steps
downstream of it. Checks and publication always run: the checks compare with the previous run and gate the
publication, which is cheap.
"""

from __future__ import annotations

import contextlib
import importlib
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.tasks import exponential_backoff

from ess import caching
from ess.errors import InputFileError, UserError
from ess.locking import LockedError, warehouse_lock
from transforms.pipeline import SOURCES, RunConfig, RunResult, params_of, resolve_inputs, run_manifest
from transforms.steps import StepOutput

# The steps, by their documented names (docs/CONTRIBUTING.md, "Steps"), resolved when a task runs.
STEP_FUNCTIONS = {
    "fetch": "sources.fetch:fetch",
    "stage": "transforms.staging:stage_source",
    "core": "transforms.core:build_core",
    "outputs": "transforms.outputs:build_outputs",
    "check": "transforms.checks:check",
    "publish": "transforms.publish:publish",
    "report": "reports.annual:build_report",
}
# What the cached steps' code version covers besides their Python modules (followed through their imports).
STEP_FILES = {
    "stage": ("sql/staging/**/*.sql", "data/reference/**/*.csv"),
    "core": ("sql/core/**/*.sql", "data/reference/**/*.csv"),
    "outputs": ("sql/core/**/*.sql", "sql/out/**/*.sql", "data/reference/**/*.csv"),
}
# The parameters each source's staging depends on. The step receives only these, so it cannot silently depend on
# a parameter that is not in its cache key (it would fail with a KeyError instead).
STAGE_PARAMS = {
    "sirene": ("departement", "millesime", "synthetic"),
    "urssaf": ("departement", "annee_urssaf", "synthetic"),
    "territoires": ("departement", "annee_cog", "synthetic"),
}
# Downloads: Prefect retries the whole fetch on top of the per-file retries of sources.download.
FETCH_RETRIES = 3
FETCH_BACKOFF_SECONDS = 60.0  # 60 s, 120 s, 240 s (+ jitter): long enough for a portal to come back
PUBLISH_WAIT_SECONDS = 600.0  # another département publishing to the same warehouse: wait for it
LOCKS_FOLDER = ".verrous"


def step_function(name: str):
    module, _, attr = STEP_FUNCTIONS[name].partition(":")
    return getattr(importlib.import_module(module), attr)


def _step_module(name: str) -> str:
    return STEP_FUNCTIONS[name].partition(":")[0]


def fetch_retry_delays() -> list[float]:
    return exponential_backoff(backoff_factor=FETCH_BACKOFF_SECONDS)(FETCH_RETRIES)


def _retry_fetch(task, task_run, state) -> bool:
    """A file that is not in the official format will not get better by retrying; network trouble may."""
    try:
        state.result()
    except InputFileError:
        return False
    except Exception:
        return True
    return False


def _cached_output(result: caching.CachedResult, step: str, run_folder: Path) -> dict:
    linked = caching.link_tables(result.output, run_folder)
    get_run_logger().info("%s: %s (cache key %s)", step, "reused from cache" if result.hit else "computed",
                          result.key)
    return {**linked.to_dict(), "cache": {"etape": step, "cle": result.key, "reutilise": result.hit,
                                          "dossier": str(result.folder)}}


# --- tasks -------------------------------------------------------------------------------------------------------


@task(name="fetch", cache_policy=NO_CACHE)
def fetch_task(root: str, departement: str, millesime: str | None, sources: list[str] | None) -> list[str]:
    written = step_function("fetch")(Path(root), millesime=millesime, departement=departement, sources=sources,
                                     formats=None)
    return [str(p) for p in written]


@task(name="resolve-inputs", cache_policy=NO_CACHE)
def resolve_task(config: dict) -> dict:
    """Find the snapshots (generating the sample if needed) and fix the run's millésimes."""
    cfg = RunConfig.from_dict(config)
    inputs = resolve_inputs(cfg)
    return {"config": cfg.to_dict(), "inputs": {k: str(v) if v else None for k, v in inputs.items()}}


@task(name="stage", task_run_name="stage-{source}", cache_policy=NO_CACHE)
def stage_task(source: str, snapshot: str | None, params: dict, run_dir: str) -> dict:
    from transforms.staging import SOURCE_MODULES

    step_params = {k: params[k] for k in STAGE_PARAMS[source]}
    stage = step_function("stage")
    result = caching.run_cached(
        f"stage_{source}",
        lambda out: stage(source, Path(snapshot) if snapshot else None, step_params, out),
        inputs={"snapshot": snapshot},
        params={"source": source, **step_params},
        code=caching.code_version((_step_module("stage"), SOURCE_MODULES[source]), STEP_FILES["stage"]),
    )
    return _cached_output(result, f"stage_{source}", Path(run_dir) / "staging")


def _build_task(step: str, tables: dict[str, str], params: dict, run_dir: str, folder: str) -> dict:
    build = step_function(step)
    step_params = {k: v for k, v in params.items() if k != "run_id"}
    result = caching.run_cached(
        step,
        lambda out: build({k: Path(v) for k, v in tables.items()}, step_params, out),
        inputs=dict(tables),
        params=step_params,
        code=caching.code_version((_step_module(step),), STEP_FILES[step]),
    )
    return _cached_output(result, step, Path(run_dir) / folder)


@task(name="build-core", cache_policy=NO_CACHE)
def core_task(tables: dict[str, str], params: dict, run_dir: str) -> dict:
    return _build_task("core", tables, params, run_dir, "core")


@task(name="build-outputs", cache_policy=NO_CACHE)
def outputs_task(tables: dict[str, str], params: dict, run_dir: str) -> dict:
    return _build_task("outputs", tables, params, run_dir, "out")


@task(name="check", cache_policy=NO_CACHE)
def check_task(tables: dict[str, str], params: dict) -> dict:
    return step_function("check")(tables, params)


@task(name="publish", cache_policy=NO_CACHE)
def publish_task(tables: dict[str, str], params: dict, manifest: dict, warehouse: str) -> dict:
    return step_function("publish")(tables, params, manifest, Path(warehouse), wait_seconds=PUBLISH_WAIT_SECONDS)


@task(name="report", cache_policy=NO_CACHE)
def report_task(tables: dict[str, str], params: dict, warehouse: str) -> dict:
    """The charts and the PDF, built from the published tables and swapped into the warehouse as one folder."""
    from transforms.publish import publish_folder, report_dir

    build = step_function("report")
    target = report_dir(Path(warehouse), params)
    publish_folder(lambda out: build(dict(tables), params, out), target, Path(warehouse),
                   wait_seconds=PUBLISH_WAIT_SECONDS)
    return {"dossier": str(target), "fichiers": sorted(str(p) for p in target.rglob("*") if p.is_file())}


@task(name="provenance", cache_policy=NO_CACHE)
def provenance_task(manifest: dict, manifest_path: str) -> str:
    """Write the manifest, then publish the same provenance as a Prefect markdown artifact."""
    from prefect.artifacts import create_markdown_artifact

    from flows.artifact import artifact_key, render_markdown
    from transforms.pipeline import write_json_atomic

    write_json_atomic(Path(manifest_path), manifest)
    params = manifest["parametres"]
    create_markdown_artifact(
        markdown=render_markdown(manifest, manifest_path),
        key=artifact_key(params["departement"], params["perimetre"]),
        description=f"ESS observatoire — run {manifest['run_id']}, département {params['departement']}",
    )
    return manifest_path


# --- the composition ---------------------------------------------------------------------------------------------


@contextlib.contextmanager
def run_lock(config: RunConfig):
    """One run at a time per département and warehouse (runs of other départements may go on in parallel)."""
    folder = Path(config.warehouse_dir) / LOCKS_FOLDER / f"departement={config.departement}"
    try:
        with warehouse_lock(folder):
            yield
    except LockedError as exc:
        raise LockedError(f"a run of département {config.departement} into {config.warehouse_dir} is already "
                          f"in progress: {exc}") from None


def run_departement(config: RunConfig, *, fetch_sources: list[str] | None = None) -> dict:
    """Every step for one département. `config` must be validated. Returns {"config", "manifest_path",
    "manifest"} (JSON-able). `fetch_sources`: what to download when config.download (default: all sources)."""
    with run_lock(config):
        if config.download:
            fetch = fetch_task.with_options(retries=FETCH_RETRIES, retry_delay_seconds=fetch_retry_delays(),
                                            retry_jitter_factor=0.2, retry_condition_fn=_retry_fetch)
            fetch(str(config.input_root()), config.departement, config.millesime, fetch_sources)
        resolved = resolve_task(config.to_dict())
        config = RunConfig.from_dict(resolved["config"])
        inputs = resolved["inputs"]
        params = params_of(config)
        run_dir = str(config.run_dir())

        # without calibration the URSSAF files are optional: nothing to stage when there are none
        staged = [stage_task(source, inputs[source], params, run_dir) for source in SOURCES
                  if inputs[source] is not None or source != "urssaf"]
        core = core_task(_tables(*staged), params, run_dir)
        outputs = outputs_task(_tables(*staged, core), params, run_dir)
        steps = [*staged, core, outputs]
        everything = StepOutput.from_dict(steps[0]).merged(*(StepOutput.from_dict(s) for s in steps[1:]))

        checks = check_task(everything.tables, params)
        manifest = run_manifest(config, {k: Path(v) if v else None for k, v in inputs.items()}, everything, checks)
        manifest["cache"] = {s["cache"]["etape"]: s["cache"] for s in steps}
        from transforms.publish import provenance_metadata

        manifest["metadonnees_parquet"] = provenance_metadata(params, manifest)  # what publish writes
        manifest["outputs"] = publish_task(everything.tables, params, manifest, config.warehouse_dir)
        if config.report:
            # published tables, plus the URSSAF series of the run (the evolution chart) and its communes (maps)
            report_inputs = {**{k: everything.tables[k] for k in REPORT_RUN_TABLES if k in everything.tables},
                             **manifest["outputs"]["tables"]}
            manifest["rapport"] = report_task(report_inputs, params, config.warehouse_dir)
        manifest_path = provenance_task(manifest, str(Path(run_dir) / "manifest.json"))
    return {"config": config.to_dict(), "manifest_path": manifest_path, "manifest": manifest}


REPORT_RUN_TABLES = ("staging_urssaf_ess_departement", "staging_communes")


def _tables(*steps: dict) -> dict[str, str]:
    tables: dict[str, str] = {}
    for s in steps:
        tables.update(s["tables"])
    return tables


def make_config(**parameters: Any) -> RunConfig:
    """A validated RunConfig from flow parameters (None means the default); raises UserError before any work."""
    given = {k: v for k, v in parameters.items() if v is not None}
    config = RunConfig(**given)
    config.validate()
    return config


@flow(name="ess-observatoire", description="ESS indicators of one département: fetch, stage, build, check, "
      "publish (Parquet, catalog, report) with a provenance artifact.")
def ess_pipeline(
    departement: str = "38",
    millesime: str | None = None,
    annee_urssaf: int | None = None,
    annee_cog: int | None = None,
    perimetre: str = "insee",
    input_dir: str | None = None,
    download: bool = False,
    sample_scale: float = 1.0,
    report: bool = True,
    warehouse_dir: str | None = None,
    run_id: str | None = None,
    calage: bool = True,
) -> dict:
    """Input location: the generated sample (default), a folder of official files (`input_dir`), or the official
    downloads (`download=True`, into `input_dir` or data/raw)."""
    config = make_config(departement=departement, millesime=millesime, annee_urssaf=annee_urssaf,
                         annee_cog=annee_cog, perimetre=perimetre, input_dir=input_dir, download=download,
                         sample_scale=sample_scale, report=report, warehouse_dir=warehouse_dir, run_id=run_id,
                         calage=calage)
    return run_departement(config)


def flow_parameters(config: RunConfig) -> dict:
    """The flow's parameters for a RunConfig (what `ess run` and the deployments pass)."""
    return {
        "departement": config.departement, "millesime": config.millesime, "annee_urssaf": config.annee_urssaf,
        "annee_cog": config.annee_cog, "perimetre": config.perimetre, "input_dir": config.input_dir,
        "download": config.download, "sample_scale": config.sample_scale, "report": config.report,
        "warehouse_dir": config.warehouse_dir, "run_id": config.run_id, "calage": config.calage,
    }


def run_flow(config: RunConfig) -> RunResult:
    """Run the flow for a RunConfig (validated first, so bad parameters fail before Prefect starts)."""
    config.validate()
    out = ess_pipeline(**flow_parameters(config))
    return RunResult(RunConfig.from_dict(out["config"]), Path(out["manifest_path"]), out["manifest"])


__all__ = ["ess_pipeline", "run_departement", "run_flow", "make_config", "flow_parameters", "STEP_FUNCTIONS",
           "UserError"]
