"""Run one job per year of the cube in worker processes: the years are protected (and re-audited) independently,
each in its own LP model, so they spread over the machine's cores. `in_child` runs one job beside the caller's own
work the same way (the report's charts beside its PDF).

Processes, not threads: the work is pandas and HiGHS holding the GIL for long stretches. Workers are spawned (not
forked): the caller runs inside Prefect's threads and DuckDB, whose locks a fork could copy while held — so, as
with any spawning Python code, a script calling the steps needs the `if __name__ == "__main__":` guard (the `ess`
command has it). Inside a daemonic process (a Dask worker of `ess france`), which may not have children, the years
run one after the other. A job's exception is re-raised in the caller; `deadline_in` turns the caller's deadline
into the worker's clock.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from typing import Any, Callable

from ess import orphans

# Below this many cube rows (all years together) a run is small (tests, tiny départements): spawning workers, each
# importing pandas, scipy and HiGHS (≈ 2 s), costs more than it saves.
MIN_ROWS_FOR_PROCESSES = 200_000


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def worker_count(requested: Any, n_jobs: int, n_rows: int) -> int:
    """`requested` (the run parameter secret_processus) when given, else every core for a large cube, else 1."""
    if requested not in (None, ""):
        n = int(requested)
        if n < 1:
            raise ValueError(f"secret_processus must be ≥ 1, got {requested!r}")
    else:
        n = available_cores() if n_rows >= MIN_ROWS_FOR_PROCESSES else 1
    return max(1, min(n, n_jobs))


def wall_deadline(seconds: float) -> float:
    """A deadline every process can read (time.time based), `seconds` from now."""
    return time.time() + seconds


def deadline_in(wall: float) -> float:
    """The wall deadline on this process's perf_counter clock (what the LP code compares with)."""
    return time.perf_counter() + (wall - time.time())


def run_jobs(fn: Callable, jobs: Iterable[tuple], workers: int,
             on_done: Callable[[int], None] | None = None) -> list:
    """fn(*job) for every job, in that order; in `workers` spawned processes when workers > 1. Put the longest jobs
    first: they start first. `jobs` may be a generator: each job is submitted as soon as it is made, so the workers
    start on the first ones while the caller reads the inputs of the next. `on_done(i)`: called with a job's index
    as soon as it has succeeded (in any order, from another thread when in processes), e.g. to show progress."""
    if workers <= 1 or multiprocessing.current_process().daemon:
        results = []
        for i, job in enumerate(jobs):
            results.append(fn(*job))
            if on_done is not None:
                on_done(i)
        return results
    with _pool(workers) as pool:
        futures = []
        try:
            for i, job in enumerate(jobs):
                future = pool.submit(fn, *job)
                if on_done is not None:
                    future.add_done_callback(
                        lambda f, i=i: None if f.cancelled() or f.exception() is not None else on_done(i))
                futures.append(future)
            return [f.result() for f in futures]
        except BaseException:
            for f in futures:
                f.cancel()
            raise


class _Deferred:
    """fn(*args) run in this process when its result is asked."""

    def __init__(self, fn: Callable, args: tuple):
        self.fn, self.args = fn, args

    def result(self) -> Any:
        return self.fn(*self.args)


@contextmanager
def in_child(fn: Callable, *args, enabled: bool = True) -> Iterator[Any]:
    """fn(*args) in a spawned process started on entering the block, while the block does other work; `.result()`
    of what it yields waits for it and re-raises its exception. Not enabled, or inside a daemonic process (which may
    not have children), fn runs in this process when its result is asked."""
    if not enabled or multiprocessing.current_process().daemon:
        yield _Deferred(fn, args)
        return
    with _pool(1) as pool:
        yield pool.submit(fn, *args)


def _pool(workers: int) -> ProcessPoolExecutor:
    """Spawned workers that die with this process (ess.orphans) instead of computing on, orphaned, when it is killed."""
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=orphans.die_with, initargs=(os.getpid(),))
