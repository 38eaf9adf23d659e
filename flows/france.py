"""All of France: the département pipeline mapped over départements, in parallel on a Dask cluster.

Each département is one task running the same composition as `ess run` (flows.pipeline.run_departement, whose
steps appear as nested tasks); Prefect's DaskTaskRunner sends the département tasks to Dask workers. Without an
address a local cluster of worker processes is started; with `dask_address` (e.g. "tcp://10.0.0.5:8786", a
`dask scheduler` the researcher started on a cluster, with `dask worker` processes on the machines) the tasks go
there. Every worker must have this project installed, the same ESS_DATA_DIR visible (shared disk) and access to the
Prefect API (PREFECT_API_URL).

Département runs are independent: each holds its own lock, their publications to the shared warehouse take turns
on the warehouse lock, and one département failing does not stop the others (the flow fails at the end, listing
them). SIRENE's national stock is downloaded once, before the map.
"""

from __future__ import annotations

import os
import socket

from prefect import flow, task, unmapped
from prefect.cache_policies import NO_CACHE

from ess.errors import UserError
from flows.pipeline import (FETCH_RETRIES, _retry_fetch, fetch_retry_delays, fetch_task, make_config,
                            run_departement)


@task(name="departement", task_run_name="departement-{departement}", cache_policy=NO_CACHE)
def departement_task(departement: str, common: dict, fetch_sources: list[str] | None) -> dict:
    config = make_config(departement=departement, **common)
    out = run_departement(config, fetch_sources=fetch_sources)
    return {
        "manifest_path": out["manifest_path"],
        "headline": (out["manifest"].get("checks") or {}).get("headline") or {},
        "worker": f"{socket.gethostname()}:{os.getpid()}",  # where it ran (a researcher checking the cluster)
    }


def departement_list(departements: list[str] | None) -> list[str]:
    from transforms.pipeline import known_departements

    chosen = departements or sorted(known_departements())
    return list(dict.fromkeys(str(d).strip().upper() for d in chosen))


@flow(name="ess-france", description="ESS indicators of many départements (default: all), in parallel.")
def ess_france(
    departements: list[str] | None = None,
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
    force: bool = False,
) -> dict:
    common = {"millesime": millesime, "annee_urssaf": annee_urssaf, "annee_cog": annee_cog, "perimetre": perimetre,
              "input_dir": input_dir, "download": download, "sample_scale": sample_scale, "report": report,
              "warehouse_dir": warehouse_dir, "force": force}
    deps = departement_list(departements)
    configs = [make_config(departement=d, run_id=run_id, **common) for d in deps]  # every one valid, before work
    common["run_id"] = configs[0].run_id  # one run id for the whole map
    common["warehouse_dir"] = configs[0].warehouse_dir
    fetch_sources = None
    if download:
        fetch = fetch_task.with_options(retries=FETCH_RETRIES, retry_delay_seconds=fetch_retry_delays(),
                                        retry_jitter_factor=0.2, retry_condition_fn=_retry_fetch)
        fetch(str(configs[0].input_root()), deps[0], millesime, ["sirene"])  # national files, once
        fetch_sources = ["urssaf"]  # exports per département
    futures = departement_task.map(deps, common=unmapped(common), fetch_sources=unmapped(fetch_sources))
    results, failures = {}, {}
    for dep, future in zip(deps, futures):
        try:
            results[dep] = future.result()
        except Exception as exc:  # noqa: BLE001 — collected and reported below
            failures[dep] = f"{type(exc).__name__}: {exc}"
    if failures:
        listing = "\n".join(f"- {d}: {m}" for d, m in failures.items())
        raise UserError(f"{len(failures)} of {len(deps)} départements failed (the others were published):\n"
                        f"{listing}")
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
               n_workers: int | None = None, **parameters) -> dict:
    """Run ess_france on Dask (see task_runner); `parameters` are the flow's other parameters."""
    return ess_france.with_options(task_runner=task_runner(dask_address, n_workers))(
        departements=departements, **parameters)
