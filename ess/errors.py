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
_QUOTED_PATH = re.compile(r"[\"'](/[^\"']+)[\"']")


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
    missing permission — `kind` in disk_full, read_only, permission; None for anything else."""
    for e in exception_chain(exc):
        if isinstance(e, OSError) and e.errno in _KINDS:
            return _KINDS[e.errno], e.filename if isinstance(e.filename, str) else None
        text = str(e)
        for words, kind in _WORDS.items():
            if words in text:
                found = _QUOTED_PATH.search(text)
                return kind, found.group(1) if found else None
    return None


def system_message(kind: str, filename: str | None) -> str:
    """What to do about a problem of the machine, naming the file and the folder to look at."""
    where = Path(filename).parent if filename else None
    target = f" {filename}" if filename else ""
    if kind == "disk_full":
        look = f" (`df -h {where}`)" if where else " (`df -h`)"
        return (f"disk full: could not write{target}. Free space on that disk{look} or point --out / ESS_DATA_DIR at "
                "a disk with room, then run again")
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
