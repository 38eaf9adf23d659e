"""The pipeline of one département as a Prefect flow: fetch → stage → guards on the input → build (core, outputs)
→ check → guards on the figures → publication (tables, report, catalog and manifest as one new version of the
warehouse) → the run's provenance (manifest + markdown artifact).

This is the one composition of the steps: `ess run` (one or several départements), the scheduled deployments
(flows/deployments.py) and the France-wide flow (flows/france.py) all go through run_departements() /
departement_steps(). The national files (SIRENE, URSSAF) are staged ONCE for every département that reads the same
snapshot (stage_national_task: one partition per département); then each département's steps (its territories,
core, outputs, check, publish, report, provenance) read their partition. A département the national files do not
hold is refused with a clear message and nothing is published for it; the others go on. Tasks only pass paths,
table names and small JSON-able figures; the steps themselves are plain functions that never import Prefect,
imported here by name. The sources are those of sources/registry.py; the run's settings are one ess.settings.Settings
(the flow's one parameter, `settings`).

Expensive steps (staging, core, outputs) are cached by ess.caching on the checksums of their inputs, their code and
their parameters: a re-run with unchanged inputs reuses their tables, and a changed input re-runs exactly the steps
downstream of it. Checks, guards and publication always run: they compare with the last publication.

Logs and tracebacks go to the run's log file (data/runs/dep<NN>/<run_id>/run.log) and to the Prefect UI.
"""

from __future__ import annotations

import contextlib
import logging
import time
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from ess import caching, progress, runlog
from ess.errors import UserError, system_message, system_problem, write_failure
from ess.locking import departement_lock
from ess.settings import Settings
from flows.inputs import resolve_inputs, sample_missing
from flows.manifest import RunResult, restore_run_manifests, run_manifest, write_json_atomic
from reports.annual import build_report
from sources import registry
from sources.download import NetworkError, notices_to
from transforms.checks import check, input_completeness
from transforms.core import build_core
from transforms.outputs import build_outputs
from transforms.staging import stage_source
from transforms.steps import StepOutput

# The steps (docs/CONTRIBUTING.md, "Steps"), imported above; the tasks call them through this table (tests put
# stand-ins in it). A cached step's code version covers its function's module and that module's imports.
STEPS = {
    "fetch": registry.fetch,
    "stage": stage_source,
    "core": build_core,
    "completeness": input_completeness,
    "outputs": build_outputs,
    "check": check,
    "report": build_report,
}
# What the cached steps' code version covers besides their Python modules (followed through their imports). The
# publication thresholds are read by the guards only: changing them must not recompute the steps.
# (the guards' thresholds and the intervals' measured coverage are read after the cached steps: editing them
# recomputes nothing)
_REFERENCE = ("data/reference/**/*.csv", "!data/reference/seuils_publication.csv",
              "!data/reference/couverture_intervalles.csv")
# The field dictionary (sql/dictionnaire/) gives the rejects table, the empty optional inputs and the public table
# their columns.
STEP_FILES = {
    "stage": ("sql/staging/**/*.sql", "sql/dictionnaire/*.csv", *_REFERENCE),
    "core": ("sql/core/**/*.sql", "sql/dictionnaire/*.csv", *_REFERENCE),
    "outputs": ("sql/core/**/*.sql", "sql/out/**/*.sql", "sql/dictionnaire/*.csv", *_REFERENCE),
}
# Each source's staging receives only the parameters its Source declares (stage_params), so it cannot silently
# depend on a parameter that is not in its cache key (it would fail with a KeyError instead). National sources are
# staged for a set of départements (sorted), the others for one.
# Downloads: each request is tried several times a few seconds apart (sources.download.BACKOFF_SECONDS); a source
# whose download still fails for a passing reason (timeouts, 5xx, a cut connection) is fetched again in up to
# FETCH_RETRIES more rounds, 60 s, 120 s, 240 s later: long enough for a portal to come back, short enough for a
# monthly run. An address where nothing answers (connection refused, unknown host) gets no later round: a wrong
# mirror address or a stopped server is not mended by waiting, and the user should hear of it in seconds.
FETCH_RETRIES = 3
FETCH_BACKOFF_SECONDS = 60.0
PUBLISH_WAIT_SECONDS = 600.0  # another département publishing to the same warehouse: wait for it
log = logging.getLogger(__name__)


def reference_input(params: dict) -> dict[str, str | None]:
    """The user's reference folder as a cached step's input: its files' checksums are in the cache key, so editing
    one recomputes the steps (the committed reference is covered by the code version, STEP_FILES)."""
    return {"reference_dir": params.get("reference_dir")}


def fetch_retry_delays() -> list[float]:
    """The waits before each later round of a failed download: 60 s, 120 s, 240 s."""
    return [FETCH_BACKOFF_SECONDS * 2 ** i for i in range(FETCH_RETRIES)]


def _retry_later(exc: BaseException) -> bool:
    """A download that may succeed in a minute: a network failure other than an address where nothing answers.
    A file not in the official format, a 404, a checksum that does not match will not get better by waiting."""
    if isinstance(exc, NetworkError):
        return not exc.unreachable
    return isinstance(exc, (ConnectionError, TimeoutError))  # raised as such by a source's own code


def _cached_output(result: caching.CachedResult, step: str, run_folder: Path) -> dict:
    linked = caching.link_tables(result.output, run_folder)
    get_run_logger().info("%s: %s (cache key %s)", step, _cache_state(result), result.key)
    return {**linked.to_dict(), "cache": _cache_record(result, step)}


def _cache_state(result: caching.CachedResult) -> str:
    if result.hit:
        return "reused from cache"
    return f"computed ({result.changed} changed)" if result.changed else "computed"


def _cache_record(result: caching.CachedResult, step: str) -> dict:
    """The manifest's record of a cached step; `recalcul_cause`: what changed since the step's closest earlier
    result (caching.KEY_PARTS), when the step ran again for one reason."""
    return {"etape": step, "cle": result.key, "reutilise": result.hit, "dossier": str(result.folder),
            "recalcul_cause": None if result.hit else result.changed}


def show_cache(ending: progress.Outcome, output: dict) -> None:
    """The end of a cached step's progress line: « réutilisé », « recalculé : code modifié »…"""
    cache = output.get("cache") or {}
    ending.text = progress.cache_outcome(bool(cache.get("reutilise")), cache.get("recalcul_cause"))


# --- tasks -------------------------------------------------------------------------------------------------------


@task(name="fetch", task_run_name="fetch-{source}-{departement}", cache_policy=NO_CACHE)
def fetch_task(root: str, departement: str, millesime: str | None, source: str) -> list[str]:
    """One source's official files (one round: flows.pipeline.fetch_source starts failed rounds again)."""
    written = STEPS["fetch"](Path(root), millesime=millesime, departement=departement, sources=[source],
                             formats=None)
    return [str(p) for p in written]


@task(name="resolve-inputs", cache_policy=NO_CACHE)
def resolve_task(settings: dict) -> dict:
    """Find the snapshots (generating the sample if needed) and fix the run's millésimes."""
    resolved, inputs = resolve_inputs(Settings.from_dict(settings))
    return {"config": resolved.to_dict(), "inputs": {k: str(v) if v else None for k, v in inputs.items()}}


def _cached_stage(source: str, snapshot: str | None, params: dict) -> caching.CachedResult:
    module = registry.get(source)
    step_params = {k: params[k] for k in module.SOURCE.stage_params}
    stage = STEPS["stage"]
    return caching.run_cached(
        f"stage_{source}",
        lambda out: stage(source, Path(snapshot) if snapshot else None, step_params, out),
        inputs={"snapshot": snapshot, **reference_input(step_params)},
        params={"source": source, **step_params},
        code=caching.code_version((stage.__module__, module.__name__), STEP_FILES["stage"]),
    )


@task(name="stage", task_run_name="stage-{source}", cache_policy=NO_CACHE)
def stage_task(source: str, snapshot: str | None, params: dict, run_dir: str) -> dict:
    """Stage a source for one département (territories)."""
    return _cached_output(_cached_stage(source, snapshot, params), f"stage_{source}", Path(run_dir) / "staging")


@task(name="stage-national", task_run_name="stage-{source}-national", cache_policy=NO_CACHE)
def stage_national_task(source: str, snapshot: str | None, params: dict) -> dict:
    """Stage a national source once for params["departements"]: the output stays in the cache, each département
    links its partition into its run folder (departement_staging)."""
    result = _cached_stage(source, snapshot, params)
    get_run_logger().info("stage_%s (départements %s): %s (cache key %s)", source, ", ".join(params["departements"]),
                          _cache_state(result), result.key)
    return {**result.output.to_dict(), "cache": _cache_record(result, f"stage_{source}")}


def departement_staging(source: str, national: dict, departement: str, run_dir: str) -> dict:
    """A département's share of a national staging: its partition linked into its run folder, its accounting."""
    from transforms.staging import departement_stats, departement_tables

    output = StepOutput.from_dict(national)
    mine = StepOutput(departement_tables(output, departement),
                      {source: departement_stats(output, source, departement)})
    linked = caching.link_tables(mine, Path(run_dir) / "staging")
    return {**linked.to_dict(), "cache": national["cache"]}


def link_national_rejects(staged: dict, run_dir: str) -> dict[str, str]:
    """The national rejects of each national source (rows no département can claim), linked into the run folder
    under staging/national/: {source: path}."""
    national = {}
    for source, output in staged.items():
        name = f"staging_rejets_{source}"
        if name in output.get("tables", {}):
            linked = caching.link_tables(StepOutput({name: output["tables"][name]}, {}),
                                         Path(run_dir) / "staging" / "national")
            national[source] = linked.tables[name]
    return national


def _build_task(step: str, tables: dict[str, str], params: dict, run_dir: str, folder: str) -> dict:
    build = STEPS[step]
    step_params = {k: v for k, v in params.items() if k != "run_id"}
    result = caching.run_cached(
        step,
        lambda out: build({k: Path(v) for k, v in tables.items()}, step_params, out),
        inputs={**tables, **reference_input(step_params)},
        params=step_params,
        code=caching.code_version((build.__module__,), STEP_FILES[step]),
    )
    return _cached_output(result, step, Path(run_dir) / folder)


@task(name="build-core", cache_policy=NO_CACHE)
def core_task(tables: dict[str, str], params: dict, run_dir: str) -> dict:
    return _build_task("core", tables, params, run_dir, "core")


@task(name="build-outputs", cache_policy=NO_CACHE)
def outputs_task(tables: dict[str, str], params: dict, run_dir: str) -> dict:
    return _build_task("outputs", tables, params, run_dir, "out")


@task(name="guard-inputs", cache_policy=NO_CACHE)
def guard_inputs_task(sources: dict, rejects: dict[str, str], params: dict, force: bool, warehouse: str,
                      national: dict | None = None) -> dict:
    """Refuse (PublicationRefused) an input that is empty, lacks the département, starves the calibration or is
    mostly rejected — before any expensive step."""
    from transforms import guards

    findings = guards.check_inputs(sources, params, rejects, national=national)
    return guards.verdict(findings, force=force, warehouse=Path(warehouse))


@task(name="guard-completeness", cache_policy=NO_CACHE)
def guard_completeness_task(tables: dict[str, str], params: dict, force: bool, warehouse: str, earlier: dict,
                            sources: dict) -> dict:
    """Refuse an input read in part that left no row to reject (communes without a population, URSSAF's two files
    apart, a stock older than its millésime) once core is built — before the outputs' long protection. Returns the
    guards' record and the completeness figures (`completude`, for the manifest's checks)."""
    from transforms import guards

    complete = STEPS["completeness"](tables, params.get("millesime"))
    record = guards.verdict(guards.check_completeness(complete, sources), force=force, warehouse=Path(warehouse),
                            earlier=earlier)
    return {"garde_fous": record, "completude": complete}


@task(name="check", cache_policy=NO_CACHE)
def check_task(tables: dict[str, str], params: dict, warehouse: str) -> dict:
    from transforms.checks import other_perimeters, previous_publication

    return STEPS["check"](tables, params, previous_publication(Path(warehouse), params),
                          others=other_perimeters(Path(warehouse), params))


@task(name="guard-figures", cache_policy=NO_CACHE)
def guard_figures_task(checks: dict, force: bool, warehouse: str, earlier: dict, sources: dict) -> dict:
    """Refuse figures that moved beyond their thresholds since the last publication, or an empty observatory
    (`sources`: the département's input accounting, to name the files whose rows moved)."""
    from transforms import guards

    return guards.verdict(guards.check_indicators(checks, sources=sources), force=force, warehouse=Path(warehouse),
                          earlier=earlier)


@task(name="prepare-publication", cache_policy=NO_CACHE)
def prepare_task(tables: dict[str, str], params: dict, manifest: dict, staging: str) -> dict:
    from transforms.publish import prepare

    return prepare(tables, params, manifest, Path(staging))


@task(name="report", cache_policy=NO_CACHE)
def report_task(tables: dict[str, str], params: dict, staging: str) -> dict:
    """The charts and the PDF, built in the publication's staging folder from the very files to be published."""
    from transforms.publish import REPORT_FACTS, report_path

    folder = Path(staging) / report_path(params)
    folder.mkdir(parents=True, exist_ok=True)
    result = STEPS["report"](dict(tables), params, folder)
    info = result.stats.get("rapport", {}) if isinstance(result, StepOutput) else dict(result or {})
    return {k: v for k, v in info.items() if k in REPORT_FACTS}


@task(name="publish", cache_policy=NO_CACHE)
def publish_task(staging: str, params: dict, manifest: dict, warehouse: str, report: bool) -> dict:
    """The commit: tables, report, catalog, dictionary and the publication manifest become current together."""
    from transforms.publish import commit

    return commit(Path(staging), params, manifest, Path(warehouse), report=report,
                  wait_seconds=PUBLISH_WAIT_SECONDS)


@task(name="provenance", cache_policy=NO_CACHE)
def provenance_task(manifest: dict, manifest_path: str) -> str:
    """Write the manifest, then publish the same provenance as a Prefect markdown artifact."""
    from prefect.artifacts import create_markdown_artifact

    from flows.artifact import artifact_key, render_markdown

    write_json_atomic(Path(manifest_path), manifest)
    params = manifest["parametres"]
    create_markdown_artifact(
        markdown=render_markdown(manifest, manifest_path),
        key=artifact_key(params["departement"], params["perimetre"]),
        description=f"ESS observatoire — run {manifest['run_id']}, département {params['departement']}",
    )
    return manifest_path


# --- the composition ---------------------------------------------------------------------------------------------


def run_lock(config: Settings):
    """One run at a time per département and warehouse (runs of other départements may go on in parallel); `ess
    run` takes it before Prefect starts, and its flow goes through (ess.locking.departement_lock)."""
    return departement_lock(config.warehouse_dir, config.departement)


def run_departement(config: Settings, *, fetch_sources: list[str] | None = None) -> dict:
    """Every step for one département. `config` must be validated. Returns {"config", "manifest_path",
    "manifest"} (JSON-able). `fetch_sources`: what to download when config.download (default: all sources)."""
    return run_departements([config], fetch_sources=fetch_sources)[config.departement]


def run_departements(configs: list[Settings], *, fetch_sources: list[str] | None = None) -> dict[str, dict]:
    """Every step for several départements (validated configs of one run): each national file staged once for all
    of them, then each département's steps in turn. Returns {département: result}; when some fail, the others are
    published and a UserError lists the failures at the end (one département alone: its own error). Every
    département's run log receives the whole run's records (the national staging is shared)."""
    configs = sorted(configs, key=lambda c: c.departement)
    for shared in (progress.current().durations, progress.current().cpu):
        for key in [k for k in shared if k not in ("prefect", "sample")]:  # a new run in this process: its own times
            del shared[key]
    with contextlib.ExitStack() as stack:
        for config in configs:  # every lock first: a run is refused before any work
            stack.enter_context(run_lock(config))
        for config in configs:
            stack.enter_context(runlog.run_log(config.run_dir() / runlog.LOG_NAME))
            restore_run_manifests(config)
        if configs[0].download:
            download_inputs(configs, fetch_sources)
        prepared = prepare_departements(configs)
        results, failures = {}, {}
        for dep, (config, inputs, staged) in prepared.items():
            try:
                results[dep] = departement_steps(config, inputs, staged)
            except Exception as exc:
                if len(configs) == 1:
                    raise
                failures[dep] = exc
    if failures:
        raise DepartementsFailed(failure_report(failures, len(configs)), sorted(failures))
    return results


def download_inputs(configs: list[Settings], fetch_sources: list[str] | None = None) -> None:
    """The official files of a run: every source once (SIRENE's national stock), then again for each other
    département the sources whose portal filters by département (URSSAF: Source.fetched_by_departement; its fetch
    keeps the union of the départements asked). Each failed request attempt and each later round is a line under
    the step (ess.progress), and in the run's log."""
    root, millesime = str(configs[0].input_root()), configs[0].millesime
    chosen = list(dict.fromkeys(fetch_sources or registry.names()))
    by_departement = [s for s in chosen if registry.source(s).fetched_by_departement]
    jobs = [(configs[0].departement, s) for s in chosen]
    jobs += [(config.departement, s) for config in configs[1:] for s in by_departement]
    with progress.step("fetch"), notices_to(progress.current().note):
        for departement, source in jobs:
            fetch_source(root, departement, millesime, source)


def fetch_source(root: str, departement: str, millesime: str | None, source: str, *,
                 sleep=time.sleep) -> list[str]:
    """One source's files, in up to 1 + FETCH_RETRIES rounds when the failure may pass (_retry_later). The final
    error counts the attempts of every round, not only the last one's."""
    delays = fetch_retry_delays()
    started, attempts = time.monotonic(), 0
    for round_number in range(1, len(delays) + 2):
        try:
            return fetch_task(root, departement, millesime, source)
        except Exception as exc:
            attempts += exc.attempts if isinstance(exc, NetworkError) else 1
            if round_number > len(delays) or not _retry_later(exc):
                if isinstance(exc, NetworkError) and exc.unreachable:
                    raise exc.totalled(attempts, round_number, time.monotonic() - started, advice=(
                        f"{exc.advice} The run does not try again later: waiting does not mend an address where "
                        "nothing answers.")) from None
                if isinstance(exc, NetworkError) and round_number > 1:
                    raise exc.totalled(attempts, round_number, time.monotonic() - started) from None
                raise
            wait = delays[round_number - 1]
            problem = exc.problem_fr if isinstance(exc, NetworkError) else str(exc)
            log.warning("fetch %s: round %d failed (%s); round %d of %d in %.0f s", source, round_number, exc,
                           round_number + 1, len(delays) + 1, wait)
            progress.current().note(
                f"↻ {source} : échec du téléchargement ({problem}) ; nouvel essai complet "
                f"{round_number + 1}/{len(delays) + 1} dans {progress.duration(wait)}")
            sleep(wait)
    raise AssertionError("unreachable")


def prepare_departements(configs: list[Settings]) -> dict[str, tuple[Settings, dict, dict]]:
    """Resolve every département's inputs and stage the national files once per snapshot, for all the départements
    that read it. Returns {département: (config, inputs, {source: national staging})}."""
    with progress.step("resolve-inputs", detail=inputs_detail(configs)):
        resolved = {c.departement: resolve_task(c.to_dict()) for c in configs}
    national = registry.national()
    groups: dict[tuple, list[str]] = {}
    for dep, r in resolved.items():
        groups.setdefault(tuple(r["inputs"][s] for s in national), []).append(dep)
    prepared = {}
    for snapshots, deps in groups.items():
        first = Settings.from_dict(resolved[deps[0]]["config"])
        params = {**first.step_params(), "departements": sorted(deps)}
        # an optional source without files (URSSAF without calibration): nothing to stage
        staged = {}
        for source, snapshot in zip(national, snapshots):
            if snapshot is not None:
                with progress.step("stage-national", source) as ending:
                    staged[source] = stage_national_task(source, snapshot, params)
                    show_cache(ending, staged[source])
        for dep in deps:
            prepared[dep] = (Settings.from_dict(resolved[dep]["config"]), resolved[dep]["inputs"], staged)
    return prepared


def inputs_detail(configs: list[Settings]) -> str:
    """Where the input step looks, for its progress line: the folder given (or downloaded into), or the sample."""
    where = ", ".join(dict.fromkeys(str(c.input_root()) for c in configs))
    if not configs[0].uses_sample:
        return f"dans {where}"
    made = " (généré pour ce run)" if any(sample_missing(c) for c in configs) else ""
    return f"dans l'échantillon synthétique {where}{made}"


class DepartementsFailed(UserError):
    """Some départements of a run failed, the others were published: the message says which (`ess run` names
    each failed département's log)."""

    def __init__(self, message: str, departements: list[str]) -> None:
        super().__init__(message)
        self.departements = departements


def failure_report(failures: dict[str, BaseException], total: int) -> str:
    listing = "\n".join(f"- {d}: {failure_text(exc)}" for d, exc in sorted(failures.items()))
    others = "none was published" if len(failures) == total else "the others were published"
    return f"{len(failures)} of {total} départements failed ({others}):\n{listing}"


def failure_text(exc: BaseException) -> str:
    """One département's failure as `ess` says a run's: the disk's message for a full disk (whatever wrapped it),
    the message of a refused input, the type and message of anything else (a bug)."""
    if write_failure(exc):
        return system_message(*system_problem(exc))
    return str(exc) if isinstance(exc, UserError) else f"{type(exc).__name__}: {exc}"


def check_present(departement: str, staged: dict) -> None:
    """A département the national SIRENE files do not hold at all gets a clear error; nothing is published."""
    from transforms.staging import absent_departements

    sirene = StepOutput.from_dict(staged["sirene"])
    if departement in absent_departements(sirene, "sirene"):
        files = [Path(f["file"]).name for f in sirene.stats.get("sirene", [])][:1]
        read = next((f["rows_read"] for f in sirene.stats.get("sirene", [])), 0)
        raise UserError(
            f"département {departement} is not in the national files: {', '.join(files) or 'the SIRENE stock'} "
            f"({read} rows read) holds no establishment located in {departement}. Check the département code or "
            f"the input folder (is it a département's extract rather than the national file?); nothing was "
            f"published for {departement}."
        )


def departement_steps(config: Settings, inputs: dict, staged: dict) -> dict:
    """The steps of one département after the national staging: its partition of the national tables, its own
    territories, the guards on the input, core, the guards on the input's completeness, outputs, check, the guards
    on the figures, then the publication (tables, report, catalog and manifest as one new version of the warehouse)
    and provenance."""
    from transforms import warehouse as wh
    from transforms.staging import departement_stats, departement_tables

    params = config.step_params()
    run_dir = str(config.run_dir())
    warehouse = config.warehouse_dir
    dep = config.departement
    # every step printed with its elapsed time (ess/progress.py), kept for the manifest with the shared ones
    shared = ("prefect", "sample", "fetch", "resolve-inputs", "stage-national")
    durees = {k: v for k, v in progress.current().durations.items() if k.startswith(shared)}
    cpu = {k: v for k, v in progress.current().cpu.items() if k.startswith(shared)}
    shown = dep if len(config.departements or []) > 1 else None

    def step(key: str, source: str | None = None):
        return progress.step(key, source, departement=shown, into=durees, cpu_into=cpu)

    sources = [s for s in registry.names() if s in registry.local() or s in staged]
    local = {}
    for source in registry.local():
        with step("stage", source) as ending:
            local[source] = stage_task(source, inputs[source], params, run_dir)
            show_cache(ending, local[source])
    national = {source: StepOutput.from_dict(staged[source]) for source in registry.national() if source in staged}
    # The département's tables and rejects linked into its run folder first: a refusal names rejects that outlive
    # the cache (which may be deleted).
    by_source = {source: (departement_staging(source, staged[source], dep, run_dir) if source in national
                          else local[source]) for source in sources}
    national_rejects = link_national_rejects(staged, run_dir)
    # the guards first: an empty file, a département absent from the input… get their precise message
    stats = {source: (departement_stats(national[source], source, dep) if source in national
                      else local[source]["stats"].get(source, [])) for source in sources}
    rejects = {source: by_source[source]["tables"][f"staging_rejets_{source}"] for source in sources
               if f"staging_rejets_{source}" in by_source[source]["tables"]}
    with step("guard-inputs"):
        guarded = guard_inputs_task(stats, rejects, params, config.force, warehouse, {
            source: {"fichiers": staged[source]["stats"].get(source, []),
                     "rejets": national_rejects.get(source)} for source in national})
    check_present(dep, staged)  # even --force cannot publish a département the files do not hold
    staging_outputs = [by_source[source] for source in sources]
    with step("build-core") as ending:
        core = core_task(_tables(*staging_outputs), params, run_dir)
        show_cache(ending, core)
    with step("guard-completeness"):
        completeness = guard_completeness_task(_tables(*staging_outputs, core), params, config.force, warehouse,
                                               guarded, stats)
    guarded = completeness["garde_fous"]
    with step("build-outputs") as ending:
        outputs = outputs_task(_tables(*staging_outputs, core), params, run_dir)
        show_cache(ending, outputs)
    steps = [*staging_outputs, core, outputs]
    everything = StepOutput.from_dict(steps[0]).merged(*(StepOutput.from_dict(s) for s in steps[1:]))

    with step("check"):
        checks = {**check_task(everything.tables, params, warehouse), "completude": completeness["completude"]}
    with step("guard-figures"):
        guarded = guard_figures_task(checks, config.force, warehouse, guarded, stats)
    manifest = run_manifest(config, {k: Path(v) if v else None for k, v in inputs.items()}, everything, checks)
    manifest["cache"] = {s["cache"]["etape"]: s["cache"] for s in steps}
    manifest["garde_fous"] = guarded
    manifest["sources_nationales"] = {source: staged[source]["stats"].get(source, []) for source in national}
    manifest["rejets_nationaux"] = national_rejects
    from transforms.publish import provenance_metadata

    manifest["metadonnees_parquet"] = provenance_metadata(params, manifest)  # what publish writes
    with wh.staging_area(Path(warehouse)) as staging:
        with step("prepare-publication"):
            prepared = prepare_task(everything.tables, params, manifest, str(staging))
        if config.report:
            # published tables, plus the URSSAF series of the run (the evolution chart) and its communes (maps)
            report_inputs = {**{k: everything.tables[k] for k in REPORT_RUN_TABLES if k in everything.tables},
                             **prepared["tables"]}
            report_params = {**params, "publication_forcee": [c["libelle"] for c in guarded["constats"]]
                             if guarded["publication_forcee"] else []}
            with step("report"):
                manifest["rapport"] = report_task(report_inputs, report_params, str(staging))
        # seconds; the publication's own time goes to the run's copy
        manifest["durees_etapes"], manifest["cpu_etapes"] = dict(durees), dict(cpu)
        with step("publish"):
            manifest = publish_task(str(staging), params, manifest, warehouse, config.report)
    manifest["durees_etapes"], manifest["cpu_etapes"] = dict(durees), dict(cpu)
    manifest["durees_etapes_arretees_avant"] = "provenance"  # the step that writes this manifest
    with step("provenance"):
        manifest_path = provenance_task(manifest, str(Path(run_dir) / "manifest.json"))
    # what `ess run` prints at the end, for those who read the run's log (`ess serve`; the UI has the artifact)
    log.info("Résumé\n%s", RunResult(config, Path(manifest_path), manifest).summary())
    return {"config": config.to_dict(), "manifest_path": manifest_path, "manifest": manifest}


REPORT_RUN_TABLES = ("staging_urssaf_ess_departement", "staging_urssaf_ess_comparaison", "staging_communes")


def _tables(*steps: dict) -> dict[str, str]:
    tables: dict[str, str] = {}
    for s in steps:
        tables.update(s["tables"])
    return tables


def make_config(**parameters) -> Settings:
    """Validated Settings from flow parameters (None means the default); raises UserError before any work."""
    return Settings.from_dict(parameters).validated()


@flow(name="ess-observatoire", description="ESS indicators of one or several départements: fetch, stage (the "
      "national files once), build, check, publish (Parquet, catalog, report) with a provenance artifact.")
def ess_pipeline(settings: dict | None = None) -> dict:
    """`settings`: the run's settings (ess.settings.Settings, as a mapping; what is missing takes its default):
    the input (the generated sample by default, `input_dir`, or `download`), `departement` or several
    `departements` (the national files read once for all; the result is then {"departements": {code: result}}),
    `force` to publish even when a guard fails, the perimeters, the reference folder…"""
    progress.current().close_pending()  # Prefect has started: the flow runs
    config = make_config(**(settings or {}))
    if len(config.departements) == 1:
        return run_departement(config)
    return {"departements": run_departements(config.every_departement())}


def run_flow(config: Settings) -> RunResult:
    """Run the flow for a Settings of one département (validated first, so bad parameters fail before Prefect
    starts)."""
    results = run_flows(config)
    if len(results) != 1:
        raise ValueError("run_flow runs one département; use run_flows for several")
    return results[0]


def run_flows(config: Settings) -> list[RunResult]:
    """Run the flow for every département of a Settings (one national staging for all); one RunResult each."""
    out = ess_pipeline(settings=config.parameters())
    outs = list(out["departements"].values()) if "departements" in out else [out]
    return [RunResult(Settings.from_dict(o["config"]), Path(o["manifest_path"]), o["manifest"]) for o in outs]


__all__ = ["ess_pipeline", "run_departement", "run_departements", "departement_steps", "prepare_departements",
           "run_flow", "run_flows", "make_config", "STEPS", "UserError", "DepartementsFailed"]
