"""All of France: one read of the national files, then the département steps fanned out on a Dask cluster.

The flow stages the national files (SIRENE, URSSAF) ONCE for every requested département — one partition per
département, in the content-addressed cache on the shared data folder — then maps one task per département that
runs that département's steps (territories, core, outputs, check, publish, report, provenance: flows.pipeline.
departement_steps, whose steps appear as nested tasks) on its partition. Prefect's DaskTaskRunner sends the
département tasks to Dask workers: without an address a local cluster of worker processes is started; with
`dask_address` (e.g. "tcp://10.0.0.5:8786", a `dask scheduler` the researcher started, with `dask worker` processes
on the machines) the tasks go there. Every worker must have this project installed, the same ESS_DATA_DIR visible
at the same path (shared disk: the staged partitions are read from there) and access to the Prefect API.

On the generated sample each département has its own synthetic files: then each task generates and stages its own
sample (nothing national to share). Département runs are independent: each holds its own lock, their publications
to the shared warehouse take turns on the warehouse lock, and one département failing (or absent from the national
files) does not stop the others — the flow fails at the end, listing them.
"""

from __future__ import annotations

import os
import socket

from prefect import flow, task, unmapped
from prefect.cache_policies import NO_CACHE

from ess import runlog
from ess.errors import UserError
from ess.settings import Settings, known_departements
from flows.manifest import restore_run_manifests
from flows.pipeline import (departement_steps, download_inputs, failure_report, make_config,
                            prepare_departements, run_departement, run_lock)


@task(name="departement", task_run_name="departement-{departement}", cache_policy=NO_CACHE)
def departement_task(departement: str, common: dict, prepared: dict | None = None) -> dict:
    """One département's steps: on its partition of the national staging (`prepared`), or — on the sample — on
    its own generated files, staged here."""
    config = Settings.from_dict(common).for_departement(departement)  # validated by the flow, for every département
    if prepared is None:
        out = run_departement(config)
    else:
        resolved = Settings.from_dict(prepared["config"])
        with run_lock(config), runlog.run_log(resolved.run_dir() / runlog.LOG_NAME):
            restore_run_manifests(resolved)
            out = departement_steps(resolved, prepared["inputs"], prepared["staged"])
    return {
        "manifest_path": out["manifest_path"],
        "headline": (out["manifest"].get("checks") or {}).get("headline") or {},
        "worker": f"{socket.gethostname()}:{os.getpid()}",  # where it ran (a researcher checking the cluster)
    }


def departement_list(departements: list[str] | None, reference_dir: str | None = None) -> list[str]:
    chosen = departements or sorted(known_departements(reference_dir))
    return list(dict.fromkeys(str(d).strip().upper() for d in chosen))


@flow(name="ess-france", description="ESS indicators of many départements (default: all): the national files read "
      "once, then the départements in parallel.")
def ess_france(departements: list[str] | None = None, settings: dict | None = None) -> dict:
    """`departements`: default every département of the COG reference; `settings`: the rest of the run's settings
    (ess.settings.Settings, as a mapping), shared by every département."""
    given = {k: v for k, v in (settings or {}).items() if k not in ("departement", "departements")}
    deps = departement_list(departements, given.get("reference_dir"))
    first = make_config(**given, departement=deps[0], departements=deps)  # every code and setting checked once
    configs = first.every_departement()
    common = first.to_dict()  # one run id and warehouse for the whole map
    download = first.download
    prepared: dict[str, dict | None] = {d: None for d in deps}
    if not configs[0].synthetic:
        if download:
            download_inputs(configs)
        common["download"] = False  # fetched once, here
        for dep, (config, inputs, staged) in prepare_departements(configs).items():
            prepared[dep] = {"config": config.to_dict(), "inputs": inputs, "staged": staged}
    futures = departement_task.map(deps, common=unmapped(common), prepared=[prepared[d] for d in deps])
    results, failures = {}, {}
    for dep, future in zip(deps, futures):
        try:
            results[dep] = future.result()
        except Exception as exc:  # noqa: BLE001 — collected and reported below
            failures[dep] = exc
    if failures:
        raise UserError(failure_report(failures, len(deps)))
    return results


def task_runner(dask_address: str | None = None, n_workers: int | None = None):
    """A DaskTaskRunner: on the cluster at `dask_address`, or on a local cluster of worker processes (one thread
    each: DuckDB already uses the cores it is given)."""
    from prefect_dask import DaskTaskRunner

    if dask_address:
        return DaskTaskRunner(address=dask_address)
    workers = n_workers or max(1, min(4, (os.cpu_count() or 2)))
    return DaskTaskRunner(cluster_kwargs={"n_workers": workers, "threads_per_worker": 1, "processes": True,
                                          "dashboard_address": None})


def run_france(departements: list[str] | None = None, *, dask_address: str | None = None,
               n_workers: int | None = None, settings: Settings | dict | None = None) -> dict:
    """Run ess_france on Dask (see task_runner) with the run's settings."""
    if isinstance(settings, Settings):
        settings = settings.parameters()
    return ess_france.with_options(task_runner=task_runner(dask_address, n_workers))(
        departements=departements, settings=settings or {})
