"""Where a run's logs go: its log file (`data/runs/dep<NN>/<run_id>/run.log`) and the Prefect UI, not the console.

`run_log(path)` sends every log record of the process (Prefect's flow and task logs with their tracebacks, the
project's own loggers, Python warnings) to the file while it is active. `quiet_console()` silences the console
handlers for the duration of a command, so that the console shows what the command prints itself: a summary, or
one message. Prefect's API handler is left alone: the UI keeps every log.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import sys
import traceback
import warnings
from pathlib import Path

LOG_NAME = "run.log"
PROJECT_LOGGERS = ("ess", "sources", "transforms", "reports", "flows")
FORMAT = "%(asctime)s %(levelname)-7s %(name)s%(run)s: %(message)s"
# Read by the Prefect processes this one starts (the temporary API server): their console handler stays silent too.
PREFECT_CONSOLE_LEVEL = "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL"


class _Formatter(logging.Formatter):
    """Names the Prefect task or flow run a record comes from (Prefect's records carry it)."""

    def format(self, record: logging.LogRecord) -> str:
        run = getattr(record, "task_run_name", None) or getattr(record, "flow_run_name", None)
        record.run = f" [{run}]" if run else ""
        return super().format(record)


@contextlib.contextmanager
def run_log(path: Path):
    """Append every log record of the process to `path` while the block runs (nested calls for the same file
    attach it once)."""
    path = Path(path).absolute()
    root = logging.getLogger()
    if any(isinstance(h, logging.FileHandler) and Path(h.baseFilename) == path for h in root.handlers):
        yield path
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setLevel(logging.INFO)
    handler.setFormatter(_Formatter(FORMAT))
    levels = {name: logging.getLogger(name).level for name in PROJECT_LOGGERS}
    for name in PROJECT_LOGGERS:
        if logging.getLogger(name).level == logging.NOTSET:
            logging.getLogger(name).setLevel(logging.INFO)  # the root logger's WARNING would drop their INFO
    capturing = warnings.showwarning is getattr(logging, "_showwarning", None)  # already routed to logging
    logging.captureWarnings(True)
    root.addHandler(handler)
    try:
        yield path
    finally:
        root.removeHandler(handler)
        handler.close()
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
        if not capturing:
            logging.captureWarnings(False)


def _console_handlers() -> list[logging.Handler]:
    """Handlers that write to the terminal: Prefect's console handler and plain stream handlers on stdout/stderr
    (not the handlers of a test harness, which write elsewhere)."""
    streams = {id(s) for s in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__) if s is not None}
    loggers = [logging.getLogger()] + [logging.getLogger(n) for n in list(logging.root.manager.loggerDict)]
    found = {}
    for logger in loggers:
        for h in getattr(logger, "handlers", []):
            console = type(h).__name__ == "PrefectConsoleHandler" or (
                type(h) is logging.StreamHandler and id(getattr(h, "stream", None)) in streams)
            if console:
                found[id(h)] = h
    return list(found.values())


@contextlib.contextmanager
def quiet_console(*, until_exit: bool = False):
    """Nothing but CRITICAL records reaches the terminal while the block runs (import Prefect before entering:
    its logging is configured at import). `until_exit`: stay quiet until the process exits — Prefect stops its
    temporary server at exit and says so; the exit handler registered here runs after Prefect's."""
    handlers = [(h, h.level) for h in _console_handlers()]
    before = os.environ.get(PREFECT_CONSOLE_LEVEL)
    os.environ[PREFECT_CONSOLE_LEVEL] = "CRITICAL"
    for h, _ in handlers:
        h.setLevel(logging.CRITICAL)

    def restore():
        for h, level in handlers:
            h.setLevel(level)
        if before is None:
            os.environ.pop(PREFECT_CONSOLE_LEVEL, None)
        else:
            os.environ[PREFECT_CONSOLE_LEVEL] = before

    if until_exit:
        atexit.register(restore)
    try:
        yield
    finally:
        if not until_exit:
            restore()


def append_traceback(path: Path, exc: BaseException) -> bool:
    """Write an exception's traceback at the end of a log file; False if even that fails (e.g. the disk is full)."""
    try:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write("".join(traceback.format_exception(exc)))
        return True
    except OSError:
        return False
