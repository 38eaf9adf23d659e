"""Errors a user can act on. The CLI prints them as one message, without a traceback (the traceback, when there is
one, goes to the run's log file)."""

from __future__ import annotations

import errno
import getpass
import os
import re
from pathlib import Path


class UserError(Exception):
    """Bad input or parameters: the message names the file, row or column, and what to do."""


class InputFileError(UserError):
    """A raw file cannot be read as the official format it should be."""


# Errors of the machine rather than of the input: their own messages (errno → kind).
DISK_FULL = {errno.ENOSPC, errno.EDQUOT}
READ_ONLY = {errno.EROFS}
NO_PERMISSION = {errno.EACCES, errno.EPERM}
_KINDS = {**{e: "disk_full" for e in DISK_FULL}, **{e: "read_only" for e in READ_ONLY},
          **{e: "permission" for e in NO_PERMISSION}}
# Libraries that report system errors in their own exception types (DuckDB's IOException) keep the system's words.
_WORDS = {os.strerror(e): _KINDS[e] for e in _KINDS}
# (a path quoted in JSON, as DuckDB's write errors quote it, ends before the backslash of its escaped quote)
_QUOTED_PATH = re.compile(r"[\"'](/[^\"'\\]+)\\?[\"']")
# DuckDB, out of room to spill a query to its temporary folder, says so as an out-of-memory error that names the
# setting whose default is the disk's free space (the project never sets it): a full disk, not a memory bound.
_SPILL_FAILED = ("failed to offload data block", "max_temp_directory_size")


def exception_chain(exc: BaseException):
    """The exception, then those it was raised from or while handling, each once."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def interrupted_by_user(exc: BaseException) -> bool:
    """Ctrl-C, whatever it became on the way up: DuckDB's Python client ends a query that Ctrl-C interrupts with
    RuntimeError('Query interrupted'), not KeyboardInterrupt, and a reader may have wrapped that in a file error."""
    return any(isinstance(e, KeyboardInterrupt) or (type(e) is RuntimeError and str(e) == "Query interrupted")
               for e in exception_chain(exc))


def system_problem(exc: BaseException) -> tuple[str, str | None] | None:
    """(kind, file) when the exception, or one it was raised from, is a full disk, a read-only file system or a
    missing permission — `kind` in disk_full, spill_full (DuckDB's temporary folder), read_only, permission; None
    for anything else."""
    found = [problem for e in exception_chain(exc) if (problem := _problem(e)) is not None]
    # the first that names its file: a wrapper may quote the system's words without the path
    return next((p for p in found if p[1]), found[0]) if found else None


def _problem(e: BaseException) -> tuple[str, str | None] | None:
    if isinstance(e, OSError) and e.errno in _KINDS:
        return _KINDS[e.errno], e.filename if isinstance(e.filename, str) else None
    text = str(e)
    if all(words in text for words in _SPILL_FAILED):
        return "spill_full", None
    for words, kind in _WORDS.items():
        if words in text:
            quoted = _QUOTED_PATH.search(text)
            return kind, quoted.group(1) if quoted else None
    return None


def write_failure(exc: BaseException) -> bool:
    """Whether the exception, or one it was raised from, is the machine failing to write (a full disk, a read-only
    file system): never the fault of the file being read, whatever reader it went through."""
    problem = system_problem(exc)
    return problem is not None and problem[0] in ("disk_full", "spill_full", "read_only")


def _existing(folder: Path) -> Path:
    """The folder, or its nearest ancestor that exists: a failed step's temporary folder is gone by the time its
    message is read."""
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder


def system_message(kind: str, filename: str | None) -> str:
    """What to do about a problem of the machine, naming the file and the folder to look at."""
    where = Path(filename).parent if filename else None
    target = f" {filename}" if filename else ""
    if kind == "disk_full":
        look = f" (`df -h {_existing(where)}`)" if where else " (`df -h`)"
        return (f"disk full: could not write{target}. Free space on that disk{look} or point --out / ESS_DATA_DIR at "
                "a disk with room, then run again")
    if kind == "spill_full":
        return ("disk full: a query could not spill to disk (DuckDB's temporary folder: in the step's folder under the "
                "data folder for the staging and the core, `.tmp` in the current folder for the other steps). Free "
                "space there (`df -h`) or point --out / ESS_DATA_DIR at a disk with room, then run again")
    if kind == "read_only":
        return (f"read-only file system: could not write{target}. Give --out (or ESS_DATA_DIR) a writable folder, "
                "or remount the disk read-write, then run again")
    look = f" (`ls -ld {where}`)" if where else ""
    try:
        user = f"user {getpass.getuser()}"
    except (KeyError, OSError):
        user = "this user"
    return (f"permission denied: {user} cannot write{target}. Fix its owner or permissions{look}, "
            "or choose another folder with --out / ESS_DATA_DIR, then run again")
