"""Locks so that two runs never write the same outputs at once.

`fcntl.flock` is released by the kernel when the holding process dies, so a crashed run never leaves a stale lock;
the file's content (pid, start time) only helps the user see who holds it. The same property tells a cleaner whether
a private folder still belongs to a live process (`held_by_someone`): `locked_folder` makes such folders and
`remove_dead_folders` removes the dead ones.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import shutil
import time
from collections.abc import Iterator
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


@contextlib.contextmanager
def locked_folder(parent: Path, name: str, *, wait_seconds: float = 0.0, poll: float = 0.5) -> Iterator[Path]:
    """The private folder `parent/name`, with the lock file `<name>.lock` beside it held while it lives (taken
    first: a folder whose lock is free or absent is a dead process's, see remove_dead_folders); both removed at the
    end."""
    parent = Path(parent)
    parent.mkdir(parents=True, exist_ok=True)
    lock = parent / f"{name}.lock"
    with file_lock(lock, wait_seconds=wait_seconds, poll=poll):
        folder = parent / name
        folder.mkdir()
        try:
            yield folder
        finally:
            shutil.rmtree(folder, ignore_errors=True)
            lock.unlink(missing_ok=True)


def remove_dead_folders(parent: Path, pattern: str = "*") -> list[tuple[Path, int]]:
    """Remove the folders of `parent` matching `pattern` that locked_folder left in a process now dead (their lock
    free or absent), and the free lock files of no folder; each removed folder with the bytes it held."""
    parent = Path(parent)
    removed = []
    for folder in sorted(parent.glob(pattern)) if parent.is_dir() else []:
        if folder.is_dir() and not held_by_someone(parent / f"{folder.name}.lock"):
            size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file() and not f.is_symlink())
            shutil.rmtree(folder, ignore_errors=True)
            removed.append((folder, size))
    for lock in parent.glob(f"{pattern}.lock") if parent.is_dir() else []:
        if not lock.with_suffix("").exists() and not held_by_someone(lock):
            lock.unlink(missing_ok=True)
    return removed


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
