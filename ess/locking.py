"""Locks so that two runs never write the same outputs at once.

`fcntl.flock` is released by the kernel when the holding process dies, so a crashed run never leaves a stale lock;
the file's content (pid, start time) only helps the user see who holds it. The same property tells a cleaner whether
a private folder still belongs to a live process (`held_by_someone`).
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
LOCKS_FOLDER = ".verrous"  # inside the warehouse: one lock per département

# The département locks a command took for its whole duration (`ess run`, before Prefect starts: a second run is
# refused at once). The flow the command then runs, in the same process, finds them here and goes through.
_HELD_FOR_COMMAND: set[Path] = set()


class LockedError(UserError):
    pass


def _open_locked(path: Path, *, wait_seconds: float, poll: float):
    """Open `path` and take an exclusive flock on it; None if someone else holds it after wait_seconds.

    A cleaner may unlink a lock file it found free; the inode check makes sure the file we lock is still the one at
    `path` (otherwise we locked an orphan and must try again)."""
    deadline = time.monotonic() + wait_seconds
    while True:
        fh = open(path, "a+", encoding="utf-8")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip()
            fh.close()
            if time.monotonic() >= deadline:
                return None, holder
            time.sleep(poll)
            continue
        try:
            same = os.fstat(fh.fileno()).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fh, None
        fh.close()


@contextlib.contextmanager
def warehouse_lock(folder: Path, *, wait_seconds: float = 0.0, poll: float = 0.5):
    """Hold an exclusive lock on `folder` (waiting up to wait_seconds); raise LockedError if another run has it."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with file_lock(folder / LOCK_NAME, wait_seconds=wait_seconds, poll=poll, what=folder) as path:
        yield path


@contextlib.contextmanager
def file_lock(path: Path, *, wait_seconds: float = 0.0, poll: float = 0.5, what: Path | None = None):
    """Hold an exclusive lock on the file `path` (created if needed)."""
    path = Path(path)
    fh, holder = _open_locked(path, wait_seconds=wait_seconds, poll=poll)
    if fh is None:
        raise LockedError(f"another run is writing {what or path} ({holder or 'unknown process'}); wait for it to "
                          "finish and run again")
    try:
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()} since {dt.datetime.now(dt.timezone.utc).isoformat(timespec='seconds')}")
        fh.flush()
        yield path
    finally:
        fh.close()  # closing releases the lock


def departement_lock_folder(warehouse_dir: str | Path, departement: str) -> Path:
    return Path(warehouse_dir) / LOCKS_FOLDER / f"departement={departement}"


@contextlib.contextmanager
def departement_lock(warehouse_dir: str | Path, departement: str, *, for_command: bool = False):
    """One run at a time per département and warehouse (runs of other départements may go on in parallel).
    `for_command`: held until the command ends, and passed through by the same process's later requests for it (the
    flow `ess run` starts); without it, a lock this process already holds refuses like any other."""
    folder = departement_lock_folder(warehouse_dir, departement)
    key = folder.absolute()
    if key in _HELD_FOR_COMMAND and not for_command:
        yield folder
        return
    held = contextlib.ExitStack()
    try:
        held.enter_context(warehouse_lock(folder))
    except LockedError as exc:  # (only the taking: a LockedError of the run itself keeps its own message)
        raise LockedError(f"a run of département {departement} into {warehouse_dir} is already in progress: "
                          f"{exc}") from None
    with held:
        if for_command:
            _HELD_FOR_COMMAND.add(key)
        try:
            yield folder
        finally:
            _HELD_FOR_COMMAND.discard(key)


def held_by_someone(path: Path) -> bool:
    """True when a live process holds the lock file `path` (this process's own locks count as held: flock locks
    belong to open files, and ours are open elsewhere). A missing file is not held."""
    try:
        fh = open(path, "r", encoding="utf-8")
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        fh.close()
    return False
