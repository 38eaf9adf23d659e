"""Child processes that die with the `ess` process (Linux): the kernel sends them SIGTERM when their parent dies,
however it dies — a scheduler's SIGTERM or a SIGKILL runs no exit handler, and a child left behind kept its port
(Prefect's server) or computed a year's secrecy for minutes (the yearly workers), orphaned.

The kernel watches the *thread* that started the child, not the process: start children from a thread that outlives
them (a ProcessPoolExecutor spawns its workers in the thread that submits; transforms.yearly submits and shuts the
pool down in one call)."""

from __future__ import annotations

import os
import signal
from typing import Callable

_PR_SET_PDEATHSIG = 1


def death_signal(parent: int) -> Callable[[], None] | None:
    """A function that, called in a child of `parent`, asks the kernel for SIGTERM when `parent` dies (and sends it
    at once if `parent` already died); None where the C library's prctl is not found (not Linux). The library is
    found here, in the caller: between fork and exec (subprocess' preexec_fn) the child must import nothing."""
    import ctypes

    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None

    def arrange() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died before the request took effect
            os.kill(os.getpid(), signal.SIGTERM)
    return arrange


def die_with(parent: int) -> None:
    """Initializer of a spawned worker process (a fresh interpreter, which may import): die with `parent`."""
    arrange = death_signal(parent)
    if arrange is not None:
        arrange()
