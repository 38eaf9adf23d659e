"""A lock so that two runs never write the same outputs at once.

`fcntl.flock` is released by the kernel when the holding process dies, so a crashed run never leaves a stale lock;
the file's content (pid, start time) only helps the user see who holds it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import time
from pathlib import Path

from ess.errors import UserError

LOCK_NAME = ".ess.lock"


class LockedError(UserError):
    pass


@contextlib.contextmanager
def warehouse_lock(folder: Path, *, wait_seconds: float = 0.0, poll: float = 0.5):
    """Hold an exclusive lock on `folder` (waiting up to wait_seconds); raise LockedError if another run has it."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_NAME
    fh = open(path, "a+", encoding="utf-8")
    deadline = time.monotonic() + wait_seconds
    try:
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    fh.seek(0)
                    holder = fh.read().strip() or "unknown process"
                    raise LockedError(
                        f"another run is writing {folder} ({holder}); wait for it to finish and run again"
                    ) from None
                time.sleep(poll)
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()} since {dt.datetime.now(dt.timezone.utc).isoformat(timespec='seconds')}")
        fh.flush()
        yield path
    finally:
        fh.close()  # closing releases the lock
