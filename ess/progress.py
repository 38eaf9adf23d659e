"""What a run is doing, for the person who started it: each step on stderr when it starts and when it ends, with
its elapsed time, in French; a line after every HEARTBEAT_SECONDS of silence while a long step goes on; and the
elapsed time of every step, kept for the run's manifest (`durees_etapes`) whether or not anything is printed, with
its CPU time (`cpu_etapes`: this process's threads and the child processes it waited for during the step, e.g. the
protection's workers — what two cores can at best halve).

Printing is for a person at a console: on when stderr is a terminal, or when ESS_PROGRESS=1 (`make run` sets it,
so that a piped `make run` shows it too); ESS_PROGRESS=0 turns it off. Every line but the heartbeats is also logged
at INFO (logger `ess.progress`), so that the run's log file (ess/runlog.py) has the steps and their times even when
nobody watched (`ess serve`). Logs and tracebacks stay in that file; a failed run's console still ends with its one
message.

This module imports nothing heavy: `ess run` prints its first line before Prefect is even imported.
"""

from __future__ import annotations

import contextlib
import logging
import os
import resource
import sys
import threading
import time
from typing import TextIO

ENV = "ESS_PROGRESS"
HEARTBEAT_SECONDS = 30.0
log = logging.getLogger(__name__)

# French labels of the steps, by their Prefect task names (flows/pipeline.py). {source} names a source.
LABELS = {
    "prefect": "Démarrage de Prefect (orchestrateur)",
    "sample": "Génération de l'échantillon synthétique (Prefect démarre en parallèle)",
    "resolve-inputs": "Recherche des fichiers d'entrée",
    "fetch": "Téléchargement des fichiers officiels",
    "stage-national": "Lecture du fichier national {source}",
    "stage": "Lecture des fichiers {source}",
    "guard-inputs": "Garde-fous sur les fichiers lus",
    "build-core": "Périmètre de l'ESS et estimation de l'emploi",
    "guard-completeness": "Garde-fous sur la complétude des entrées",
    "build-outputs": "Indicateurs par territoire et secret statistique",
    "check": "Contrôles de qualité",
    "guard-figures": "Garde-fous sur les chiffres",
    "prepare-publication": "Préparation de la publication",
    "report": "Rapport annuel (graphiques et PDF)",
    "publish": "Publication (nouvelle version de l'entrepôt)",
    "provenance": "Manifeste et provenance",
}
SOURCES = {"sirene": "SIRENE", "urssaf": "URSSAF", "territoires": "des territoires (COG)"}
# How a cached step ended, after its label: caching.CachedResult.changed, in French.
REUSED = "réutilisé"
RECOMPUTED = {"code": "recalculé : code modifié", "inputs": "recalculé : entrées modifiées",
              "params": "recalculé : paramètres modifiés"}


def cpu_seconds() -> float:
    """CPU time so far of this process (every thread) and of the children it has waited for."""
    return sum(getattr(resource.getrusage(who), field) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
               for field in ("ru_utime", "ru_stime"))


def cache_outcome(reused: bool, changed: str | None = None) -> str:
    """« réutilisé », « recalculé : code modifié »…, or nothing (a step computed for the first time, or for
    several reasons at once)."""
    return REUSED if reused else RECOMPUTED.get(changed or "", "")


class Outcome:
    """What a step's end line says after its label (e.g. « réutilisé »): set by the code inside the step."""

    def __init__(self) -> None:
        self.text = ""


def label(step: str, source: str | None = None) -> str:
    text = LABELS.get(step, step)
    return text.format(source=SOURCES.get(source or "", source or "")) if "{source}" in text else text


def duration(seconds: float) -> str:
    """« 0,4 s », « 12 s », « 2 min 05 s » (French decimal comma)."""
    if seconds < 10:
        return f"{seconds:.1f} s".replace(".", ",")
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes} min {rest:02d} s"


def entier(value) -> str:
    """An integer with French thousands separators (« 15 349 »)."""
    return f"{int(value):,}".replace(",", "\u202f") if value is not None else "—"


def enabled() -> bool:
    value = os.environ.get(ENV, "").strip()
    if value in ("0", "1"):
        return value == "1"
    stream = sys.stderr
    return bool(stream is not None and getattr(stream, "isatty", lambda: False)())


class Progress:
    """The steps of one process. `stream` None: silent (the durations are still recorded)."""

    def __init__(self, stream: TextIO | None = None, heartbeat: float = HEARTBEAT_SECONDS) -> None:
        self.stream = stream
        self.heartbeat = heartbeat
        self.started = time.monotonic()
        self.durations: dict[str, float] = {}
        self.cpu: dict[str, float] = {}  # CPU seconds by step key, like durations
        self._pending: tuple[str, str, float, float] | None = None
        self._lock = threading.Lock()
        self._last_line = time.monotonic()  # a heartbeat only after `heartbeat` seconds without any line

    def say(self, text: str, *, logged: bool = True) -> None:
        if logged:
            log.info("%s", text.strip())
        if self.stream is None:
            return
        with self._lock:
            self._last_line = time.monotonic()
            self.stream.write(f"[{duration(self._last_line - self.started):>10}] {text}\n")
            self.stream.flush()

    def _silent_for(self) -> float:
        with self._lock:
            return time.monotonic() - self._last_line

    def note(self, text: str) -> None:
        """A line under the step going on: what happens inside it (a failed download attempt and when the next
        one comes)."""
        self.say(f"  {text}")

    def open(self, key: str, text: str) -> None:
        """A step whose end is noticed elsewhere (close_pending): Prefect's start ends when the flow begins."""
        self.close_pending()
        self.say(f"▶ {text}…")
        self._pending = (key, text, time.monotonic(), cpu_seconds())

    def close_pending(self) -> None:
        if self._pending is not None:
            key, text, start, cpu = self._pending
            self._pending = None
            self._done(key, text, time.monotonic() - start, cpu_seconds() - cpu)

    def _done(self, key: str, text: str, seconds: float, cpu: float, into: dict | None = None,
              cpu_into: dict | None = None, outcome: str = "") -> None:
        for record, value in ((self.durations, seconds), (into, seconds), (self.cpu, cpu), (cpu_into, cpu)):
            if record is not None:
                record[key] = round(record.get(key, 0.0) + value, 1)
        self.say(f"✓ {text}{f' ({outcome})' if outcome else ''} — {duration(seconds)}")

    @contextlib.contextmanager
    def step(self, key: str, text: str, into: dict | None = None, cpu_into: dict | None = None):
        """Print the step's start, a line every `heartbeat` seconds while it runs, and its end with its time
        (recorded in self.durations and in `into`, seconds by step key; its CPU time in self.cpu and `cpu_into`)
        and what the block set in the Outcome it receives."""
        self.close_pending()
        self.say(f"▶ {text}…")
        start, cpu = time.monotonic(), cpu_seconds()
        stop = threading.Event()
        beats = None
        if self.stream is not None and self.heartbeat > 0:
            def beat() -> None:
                # the step's own lines (a year protected, a file read) say it is alive: a heartbeat fills silences
                while not stop.wait(max(self.heartbeat - self._silent_for(), 0.0)):
                    if self._silent_for() >= self.heartbeat:
                        self.say(f"  … {text} : en cours depuis {duration(time.monotonic() - start)}", logged=False)
            beats = threading.Thread(target=beat, name="ess-progress", daemon=True)
            beats.start()
        outcome = Outcome()
        try:
            yield outcome
        except BaseException:
            stop.set()
            self.say(f"✗ {text} — arrêt après {duration(time.monotonic() - start)}")
            raise
        finally:
            stop.set()
            if beats is not None:
                beats.join()
        self._done(key, text, time.monotonic() - start, cpu_seconds() - cpu, into, cpu_into, outcome.text)


_current = Progress()


def current() -> Progress:
    return _current


def start(stream: TextIO | None = None, heartbeat: float = HEARTBEAT_SECONDS) -> Progress:
    """A new reporter for this process (a command starting): on the console when enabled(), else silent."""
    global _current
    _current = Progress(stream if stream is not None else (sys.stderr if enabled() else None), heartbeat)
    return _current


def step(key: str, source: str | None = None, *, departement: str | None = None, into: dict | None = None,
         cpu_into: dict | None = None, detail: str | None = None):
    """The current reporter's step for a Prefect task name (and its source; the département when a run has
    several; `detail` completes the label, e.g. where the inputs are looked for)."""
    name = f"{key}-{source}" if source else key
    text = label(key, source) + (f" {detail}" if detail else "") + \
        (f" — département {departement}" if departement else "")
    return _current.step(name, text, into, cpu_into)
