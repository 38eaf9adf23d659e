"""Stage the SIRENE stock files of one snapshot for any set of départements, reading each national file ONCE.

National files are large (StockEtablissement ≈ 44 M rows, 9 GB of CSV), so nothing national is ever held in
memory: each file is read in one pass by DuckDB (sources/sirene_read.py opens it), which keeps only the rows the
requested départements need, plus the rows whose location cannot be told, and writes them to Parquet files in
`work_dir` (`raw_sirene_<key>.<part>/`, a folder of files per reader, every column as text, with its row number in
the part and the block markers of a zip that give each row its line in the file). The staging SQL
(sql/staging/*.sql) then checks and types those rows once for all the départements, routing bad ones to
`staging_rejets` with the reason, the file column at fault, its value and the line.

Order: the establishments located in the départements first; the other files are matched on their keys, so each
is read once they are staged: their legal units (semi-join on siren), the history of those establishments (siret)
and of those legal units (siren). A Parquet file is staged behind the read of the next one (_Behind: the reads
leave part of the cores idle, and the staging of the file before fills them). Every file's départements' partitions
are written as soon as it is staged (`work_dir/partitions/departement=<d>/<table>.parquet`, result.partitions);
with many départements, each file is staged in turn and its table dropped once written, before the next read.

Scope and format. An establishment is placed by its commune code, checked BEFORE the scope is decided: a
malformed or empty code (and no foreign country) is rejected once, nationally, never counted out of scope; a well
formed code of another département, or a foreign country, is out of scope. The other files are matched on the
siren/siret of the staged establishments: a row whose key is malformed cannot be any staged establishment's, and is
out of every scope. Establishments belong to one département; a legal unit (and its history) belongs to every
département where one of its staged establishments is.

Accounting, per file: nationally, read = staged (in at least one département) + rejected (each row once) + out of
every scope; per département d, read = staged in d + rejected rows of d + the rest (rows of other départements,
rows nobody can place), with the rows of d counted during the read and checked against what staging made of them.
Out of scope, the rows of the files matched on keys whose key is only that of establishments placed in a
département but rejected are counted apart (« sans établissement retenu »,
FileStats.rows_without_kept_establishment): nationally, those no staged establishment has; for d, those no staged
establishment of d has, with an establishment of d rejected. The read keeps them too (the rejected establishments'
keys are few: one hash table of keys, a few larger), and staging leaves them aside.
"""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb

from ess import db, progress
from ess.accounting import FileStats, NationalStaging
from ess.db import frugal
from ess.errors import InputFileError, write_failure
from ess.paths import REFERENCE_DIR, SQL_DIR
from sources.base import normalise_departement
from sources.download import read_manifest
from sources.sirene_layouts import CODE_WIDTHS, LAYOUTS, NEEDED_COLUMNS, SOURCE, official_filename
from sources.sirene_read import (RAW_GROUPS_PER_FILE, RAW_ROW_GROUP, Stock, copy_parts, numbering, open_stock,
                                 partition_flush_rows, quote, sql_str)

CSV_REJECT_REASON = "ligne CSV illisible"
# No SIRENE field is documented longer than 250 characters; a longer one is a damaged file (a lost quote swallows
# the next lines): the row is rejected with its key instead of carrying megabytes into the warehouse.
MAX_FIELD_CHARS = 1000
COMMUNE_FORMAT = "[0-9]{5}|2[AB][0-9]{3}"
# Above this many keys to match (siren or siret of the staged establishments), a zip is parsed by one reader and the
# file's read runs frugally (_stage_file). At 1 M rather than 500 000, the Isère at 100 % of France (≈ 820 000
# establishments) reads its histories on two threads: 34.5 → 24.0 s from Parquet, peak 334 → 342 MB; four
# départements at 30 % from zips (38, 73, 26, 69) and the Nord alone peak at 358 and 336 MB.
PARALLEL_KEYS_MAX = 1_000_000
# Up to this many keys, a file is matched on them as text, above as integers (_keep_sql): text spares turning every
# key of the file into an integer, but its hash table is larger (a siret is a string of its own, a BIGINT 8 bytes).
# At 30 % of France, from zips, as text: the Nord's 499 000 sirets 36.8 → 35.3 s but 341 → 358 MB; the 800 000 of
# four départements (Isère, Savoie, Drôme, Rhône) 44.3 → 50.3 s and 358 → 381 MB.
TEXT_KEYS_MAX = 300_000
# Above this many rows kept from a file, its staging queries run frugally (ess.db.frugal).
FRUGAL_KEPT_ROWS = 2_000_000
LINE_NUMBER = db.LINE_COLUMN
# Row numbers per bucket of the segments' join (see _segments_table).
SEGMENT_BUCKET = 8192
# Staged establishments whose keys are joined at a time when the legal units and histories get their départements
# (_key_shares).
JOIN_KEYS_PER_SHARE = 1_000_000
# Keys matched at a time by the read of a file matched on keys (_read_once): with more, the file is split by key
# share in its one pass, then each share is kept on its own keys. A hash table of every key did not fit the
# staging's memory (9 M sirens, every département at 30 % of France: out of memory on one thread, and 150 s at twice
# the bound while spilling).
MATCHED_KEYS_PER_SHARE = 1_000_000
# _classe of a kept row of a file matched on keys whose key is only that of rejected establishments: out of scope.
WITHOUT_KEPT_ESTABLISHMENT = "sans_etablissement"
OUT_OF_SCOPE_CLASSES = f"('hors_champ', '{WITHOUT_KEPT_ESTABLISHMENT}')"
PARTITION = "departement={}"


@dataclass(frozen=True)
class _Step:
    key: str  # key of LAYOUTS / NEEDED_COLUMNS
    key_column: str  # column identifying a row in staging_rejets, and joining it to the establishments
    scope: str  # "commune": placed by its commune code; "siren" / "siret": needed by a staged establishment
    duplicates: db.Duplicates  # the rows repeating a key, rejected once the staging query's rows are materialised

    @property
    def table(self) -> str:
        return f"staging_sirene_{self.key}"

    @property
    def raw_view(self) -> str:
        return f"raw_sirene_{self.key}"


# One row per siret (siren) among the valid rows, all départements together (a key is national): the most recently
# processed one, then the first in the file; one row per period of a key: the first in the file.
_LATEST_FIRST = f"{db.ORDER_COLUMN} DESC NULLS LAST, {LINE_NUMBER}"
_STEPS = (
    _Step("etablissements", "siret", "commune",
          db.Duplicates(("siret",), _LATEST_FIRST, "siret en double", "siret", "siret")),
    _Step("unites_legales", "siren", "siren",
          db.Duplicates(("siren",), _LATEST_FIRST, "siren en double", "siren", "siren")),
    _Step("etablissements_historique", "siret", "siret",
          db.Duplicates(("siret", "date_debut", "date_fin"), LINE_NUMBER, "période en double", "dateDebut",
                        "date_debut")),
    _Step("unites_legales_historique", "siren", "siren",
          db.Duplicates(("siren", "date_debut", "date_fin"), LINE_NUMBER, "période en double", "dateDebut",
                        "date_debut")),
)
TABLES = tuple(step.table for step in _STEPS)


def find_stock(snapshot_dir: Path, key: str) -> Path:
    """The stock file `key` ('etablissements', 'unites_legales', …) of a snapshot folder.

    The Parquet deliverable is preferred when both are present: same content, typed, read in parallel and column
    by column, whereas the zip must be inflated as one stream (and the CSV deliverable ends in 2027).
    """
    if key not in LAYOUTS:
        raise KeyError(f"unknown SIRENE stock {key!r}; expected one of {sorted(LAYOUTS)}")
    snapshot_dir = Path(snapshot_dir)
    candidates = [snapshot_dir / official_filename(key, fmt) for fmt in ("parquet", "csv")]
    for path in candidates:
        if path.is_file():
            return path
    present = sorted(p.name for p in snapshot_dir.iterdir()) if snapshot_dir.is_dir() else None
    where = f"it holds {present}" if present is not None else "the folder does not exist"
    raise InputFileError(
        f"no SIRENE stock {key!r} in {snapshot_dir}: expected {candidates[0].name} or {candidates[1].name}; "
        f"{where}. {SOURCE.how_to_get(snapshot_dir.parent.parent, snapshot_dir.name)}, or check the folder."
    )


def load(con, snapshot_dir: Path, *, departement: str, millesime: str, work_dir: Path,
         reference_dir: str | Path | None = None) -> list[FileStats]:
    """The four staging tables of ONE département in `con` (without `_departement`), and its accounting.

    `staging_rejets` holds every rejected row of the read, those that belong to no département included.
    """
    dep = normalise_departement(departement)
    result = load_national(con, snapshot_dir, departements=[dep], millesime=millesime, work_dir=work_dir,
                           reference_dir=reference_dir)
    for table in TABLES:
        con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * EXCLUDE (_departement) FROM {table} "
                    "WHERE _departement = ?", [dep])
    return result.par_departement[dep]


def load_national(con, snapshot_dir: Path, *, departements, millesime: str, work_dir: Path,
                  reference_dir: str | Path | None = None, metadata: dict[str, str] | None = None) -> NationalStaging:
    """Read each SIRENE file of the snapshot once and stage the rows of every département of `departements`.

    `work_dir` receives the rows kept from each file (raw_sirene_<key>.<part>/*.parquet, all text) and each
    département's staged rows (partitions/departement=<d>/<table>.parquet, with the Parquet key-value `metadata`;
    listed in `result.partitions`); the caller owns it. The staging tables stay in `con`, except with many
    départements (dropped once written).
    `reference_dir`: the run's reference folder (activity formats, size bands), over data/reference/.
    """
    deps = sorted({normalise_departement(d) for d in departements})
    if not deps:
        raise ValueError("load_national needs at least one département")
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    db.ensure_rejects_table(con)
    paths = {step.key: find_stock(snapshot_dir, step.key) for step in _STEPS}  # a missing file fails at once
    _load_references(con, reference_dir)
    _communes_elsewhere(con, deps)
    result = NationalStaging(deps, par_departement={d: [] for d in deps})
    staged: dict[str, Future] = {}
    many = len(deps) > db.FRUGAL_DEPARTEMENTS
    with _Behind(con, reference_dir, enabled=not many) as behind:
        for step in _STEPS:
            behind.raise_failure()
            staged[step.key] = _stage_file(con, step, paths[step.key], deps, millesime, work_dir, metadata, behind)
            staged[step.key].add_done_callback(lambda future, path=paths[step.key]: _say_staged(path, future))
            if step.key == "etablissements":
                behind.wait_staged(step.table)
                _needed_keys(con)
            if not behind.runs(step.table):
                # A file staged in turn: its partitions now. With many départements, its table is dropped before
                # the next file is read: DuckDB keeps part of every in-memory table in memory, and with the four
                # tables of every département at 30 % of France held together, sorting one by département ran out
                # of the staging's memory.
                with frugal(con, many):
                    _write_partitions(con, step, deps, work_dir, metadata)
                if many:
                    con.execute(f"DROP TABLE {step.table}")
        behind.wait_idle()
        outcomes = {key: future.result() for key, future in staged.items()}
    for step in _STEPS:
        national, per_dep = outcomes[step.key]
        result.national.append(national)
        for d in deps:
            result.par_departement[d].append(per_dep[d])
        result.partitions[step.table] = {d: str(_partition_path(work_dir, d, step.table)) for d in deps}
    for temp in ("_sirene_besoins", "_sirene_sirens", "_sirene_sirets", "_sirene_sans_sirens", "_sirene_sans_sirets",
                 "_sirene_communes_ailleurs", "sirene_corse"):
        con.execute(f"DROP TABLE IF EXISTS {temp}")
    # A département with no establishment at all in the national file: nothing can be published for it.
    result.absents = [d for d in deps if all(
        s.rows_staged + s.rejected_total == 0 for s in result.par_departement[d] if s.table == TABLES[0])]
    return result


def _say_staged(path: Path, future: Future) -> None:
    """The console line of a file once staged (in the thread that staged it), unless its staging failed."""
    if future.cancelled() or future.exception() is not None:
        return
    national, _ = future.result()
    progress.current().say(f"  · {path.name} mis en table : {progress.entier(national.rows_staged)} lignes "
                           f"retenues, {progress.entier(national.rejected_total)} rejetées")


class _Behind:
    """Stages the files a step behind their reads: once a Parquet file is read, its kept rows are checked, staged,
    accounted for and written as partitions by one background thread, on a DuckDB cursor of its own,
    while the main thread reads the next file. A read leaves part of the machine's cores idle (its single-threaded
    phases) and the work of the file before fills them: only the last file's staging is left once the reads are done.

    The other files are staged in turn, and their partitions written by load_national: zips (their staging needs
    the stock still open, and their readers keep both cores busy: staging beside them cost more CPU), files read
    frugally (many keys) and every file of many départements (`enabled` false).
    DuckDB's threads and memory bound are the database's, not a cursor's, and a staging may change them (frugally,
    with many kept rows), as a frugal read or a zip's readers do; a frugal read is also sized to have the memory
    bound to itself: those reads wait until nothing runs behind them (wait_idle). `wait_staged(table)` waits until a
    file's staging is done (the establishments' keys are what the next reads match on), not for its partitions, and
    raises its own error if it failed (an out-of-memory error becomes the advice stage_national gives for it).

    Either side stops the other at once when it fails (a national read or staging lasts minutes):
    - a failure behind the reads interrupts the main thread's query until the main thread has seen it (raise_failure,
      or on leaving the block), and that failure, not the interruption, is the load's error;
    - a failure of the main thread, or Ctrl-C, interrupts the background cursor until its thread is done, and the
      partitions of a file whose staging ends meanwhile are not written.
    A DuckDB interruption that comes before its query starts is lost (the next query resets it): hence interrupting
    again every INTERRUPT_EVERY seconds rather than once. An interrupted query may be the restoring of a setting: the
    database's settings are put back as they were on entering, once nothing runs any more."""

    INTERRUPT_EVERY = 0.05  # seconds

    def __init__(self, con, reference_dir: str | Path | None, enabled: bool):
        self.con, self.reference_dir, self.enabled = con, reference_dir, enabled
        self._pool: ThreadPoolExecutor | None = None
        self._cursor = None
        self._staged: dict[str, Future] = {}  # each file's staging outcome, settled before its partitions are written
        self._futures: list[Future] = []
        self._settings: tuple[int, bool, int] | None = None
        self._failure: BaseException | None = None  # the first failure behind the reads
        self._cancelled = threading.Event()  # the main thread failed: what runs behind it is of no use
        self._noticed = threading.Event()  # the main thread has seen the failure: stop interrupting it
        self._lock = threading.Lock()
        self._interrupter: threading.Thread | None = None

    def __enter__(self) -> "_Behind":
        self._settings = _settings(self.con)
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        try:
            self._stop_interrupting_reads()
            if exc is not None:
                self._cancel()
            self._wait()  # whatever happened: nothing runs on the database once we return
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
            if self._cursor is not None:
                self._cursor.close()
        if exc is not None:
            _restore_settings(self.con, self._settings)
            if isinstance(exc, duckdb.InterruptException) and self._failure is not None:
                raise self._failure  # the main read was interrupted because of it

    def done(self, outcome) -> Future:
        """The outcome of a file staged in turn."""
        future: Future = Future()
        future.set_result(outcome)
        return future

    def submit(self, table: str, stage, write) -> Future:
        """stage(cursor), then write(cursor) unless the load failed meanwhile, in the background thread; the future
        holds the staging's outcome."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sirene-staging")
            self._cursor = self.con.cursor()
            self._run_behind(lambda: _load_references(self._cursor, self.reference_dir))
        staged = self._staged[table] = Future()

        def stage_and_write():
            try:
                outcome = stage(self._cursor)
            except BaseException as exc:
                staged.set_exception(exc)
                raise
            staged.set_result(outcome)
            if not self._cancelled.is_set():
                write(self._cursor)
            return outcome

        return self._run_behind(stage_and_write)

    def runs(self, table: str) -> bool:
        """Whether the file of `table` was handed to the background thread (submit)."""
        return table in self._staged

    def wait_staged(self, table: str) -> None:
        if table in self._staged:
            wait([self._staged[table]])
            if self._staged[table].exception() is not None:
                self._stop_interrupting_reads()
                raise self._staged[table].exception()  # (its own error, whenever the thread is scheduled)
        self.raise_failure()

    def wait_idle(self) -> None:
        """Wait until nothing runs in the background (stagings and partitions), then raise its failure, if any."""
        self._wait()
        self.raise_failure()

    def raise_failure(self) -> None:
        if self._failure is not None:
            self._stop_interrupting_reads()
            raise self._failure

    def _run_behind(self, work) -> Future:
        def run():
            try:
                return work()
            except BaseException as exc:
                self._failed(exc)  # before the future is done: whoever waits for it sees the failure recorded
                raise

        future = self._pool.submit(run)
        self._futures.append(future)
        return future

    def _failed(self, exc: BaseException) -> None:
        if self._cancelled.is_set():
            return  # the main thread failed first: this is its aftermath
        with self._lock:
            if self._failure is not None:
                return
            self._failure = exc
            if not self._noticed.is_set():
                self._interrupter = threading.Thread(target=self._interrupt_reads, name="sirene-interrupt",
                                                     daemon=True)
                self._interrupter.start()

    def _interrupt_reads(self) -> None:
        while True:
            self.con.interrupt()
            if self._noticed.wait(self.INTERRUPT_EVERY):
                return

    def _stop_interrupting_reads(self) -> None:
        """Once this returns, no interruption reaches the main thread's queries any more."""
        with self._lock:
            self._noticed.set()
            interrupter = self._interrupter
        if interrupter is not None:
            interrupter.join()

    def _cancel(self) -> None:
        """Stop what runs behind the reads: the files not begun are dropped, the running query is interrupted."""
        self._cancelled.set()
        for future in self._futures:
            future.cancel()
        if self._cursor is None:
            return
        while not all(future.done() for future in self._futures):
            try:
                self._cursor.interrupt()
                wait(self._futures, timeout=self.INTERRUPT_EVERY)
            except KeyboardInterrupt:
                pass  # a second Ctrl-C: leaving now would leave the thread running, uninterrupted, to its end

    def _wait(self) -> None:
        wait(self._futures)


def _settings(con) -> tuple[int, bool, int]:
    """The database's settings that the reads and stagings change for a while (threads, order, memory bound)."""
    threads, ordered = con.execute(
        "SELECT current_setting('threads'), current_setting('preserve_insertion_order')").fetchone()
    return int(threads), bool(ordered), db.memory_limit_bytes(con)


def _restore_settings(con, settings: tuple[int, bool, int]) -> None:
    if _settings(con) != settings:
        threads, ordered, memory = settings
        con.execute(f"SET threads = {threads}")
        con.execute(f"SET preserve_insertion_order = {str(ordered).lower()}")
        con.execute(f"SET memory_limit = '{memory}B'")


# --- one file: read once, stage once, give each département its part ---------------------------------------------


def _stage_file(con, step: _Step, path: Path, deps: list[str], millesime: str, work_dir: Path,
                metadata: dict[str, str] | None, behind: _Behind) -> Future:
    """Read the file once; its staging and partitions now, or behind the next read (_Behind)."""
    readers = None
    many_keys = as_integers = False
    shares = 1
    if step.scope != "commune":
        # Each reader holds the keys it matches in a hash table of its own: with many keys (many départements),
        # one reader keeps the staging within its memory.
        keys = con.execute(f"SELECT count(*) FROM _sirene_{step.scope}s").fetchone()[0]
        many_keys = keys > PARALLEL_KEYS_MAX
        readers = 1 if many_keys else None
        shares = max(1, -(-keys // MATCHED_KEYS_PER_SHARE))
        as_integers = many_keys or keys > TEXT_KEYS_MAX or shares > 1  # (_keep_sql)
    # With many keys, the file's joins on them (the read's semi-join, the départements attached, the accounting)
    # run frugally (ess.db.frugal): on two threads, each partitions its own share of a hash table, and
    # with every département they ran out of the staging's memory (a semi-join on 4.4 M sirets needs > 96 MB on
    # two threads, less on one).
    if many_keys or path.suffix != ".parquet":
        # DuckDB's threads and memory bound are the database's: a frugal read, or a zip's readers (on one DuckDB
        # thread each), change them, and so may a staging (a frugal one); a frugal read is sized to have the memory
        # bound to itself: never beside what runs behind the reads
        behind.wait_idle()
    with frugal(con, many_keys):
        with open_stock(con, path, step.key, readers) as stock:
            parts = _read_once(con, step, stock, deps, work_dir, _has_keys_nowhere_kept(con, step), shares,
                               as_integers)
            markers = {}
            if stock.marker is not None:
                for part, number, marker in con.execute(
                        f"SELECT _tube, _ligne, _marque FROM read_parquet({_paths_sql(parts)}) "
                        "WHERE _marque IS NOT NULL").fetchall():
                    markers.setdefault(part, []).append((number, marker))
            numbers = numbering(stock, markers, step.key_column)
        # for the console of `ess run` (ess/progress.py): a national read of every département lasts minutes a file
        progress.current().say(f"  · {path.name} lu : {progress.entier(numbers.rows_read)} lignes "
                               f"({_STEPS.index(step) + 1}/{len(_STEPS)} fichiers)")

        if behind.enabled and stock.kind == "parquet" and not many_keys:
            return behind.submit(
                step.table, lambda c: _stage_parts(c, step, path, deps, millesime, parts, numbers, frugal_read=False,
                                                   as_integers=as_integers),
                lambda c: _write_partitions(c, step, deps, work_dir, metadata))
        return behind.done(_stage_parts(con, step, path, deps, millesime, parts, numbers, frugal_read=many_keys,
                                        as_integers=as_integers))


def _stage_parts(con, step: _Step, path: Path, deps: list[str], millesime: str, parts: list[Path], numbers,
                 frugal_read: bool, as_integers: bool) -> tuple[FileStats, dict[str, FileStats]]:
    _classify(con, step, parts, as_integers)
    kept, kept_out, without = con.execute(
        f"SELECT count(*) FILTER (_garde), count(*) FILTER (_garde AND _classe IN {OUT_OF_SCOPE_CLASSES}), "
        f"count(*) FILTER (_garde AND _classe = '{WITHOUT_KEPT_ESTABLISHMENT}') FROM _raw_all"
    ).fetchone()
    # Many kept rows (many départements): the staging queries run frugally too (see above). They are one streaming
    # pass each (the duplicates are found afterwards by an aggregate over the keys), so the bound is higher than for
    # the keys: one département of the largest files (StockEtablissementHistorique at 30 % of France, 539 458
    # rows kept for the Isère) stages on two threads.
    with frugal(con, kept > FRUGAL_KEPT_ROWS and not frugal_read):
        return _stage_kept(con, step, path, deps, millesime, parts, numbers, kept, kept_out, without)


def _stage_kept(con, step: _Step, path: Path, deps: list[str], millesime: str, parts: list[Path], numbers,
                kept: int, kept_out: int, without: int) -> tuple[FileStats, dict[str, FileStats]]:
    """Check, type and account for the rows the read kept (the staging SQL), and give each département its part."""
    bad = numbers.malformed
    rows_read = numbers.rows_read
    scanned = rows_read - len(bad)

    # The rows to stage, with their line in the file (header = line 1): each part's row number plus the offset of
    # its segment (the block of the file it sits in, shifted by the malformed records before it).
    if numbers.segments == [(0, 1, 0)]:
        # One part numbered from its first row, without offset (a Parquet file): the row number is the line.
        con.execute(f"CREATE OR REPLACE TEMP VIEW {step.raw_view} AS SELECT * EXCLUDE (_tube, _marque) "
                    f"FROM _raw_all WHERE _garde AND _classe NOT IN {OUT_OF_SCOPE_CLASSES}")
    else:
        _segments_table(con, parts, numbers.segments)
        con.execute(f"CREATE OR REPLACE TEMP VIEW {step.raw_view} AS "
                    "SELECT r.* EXCLUDE (_tube, _marque) REPLACE (r._ligne + s.decalage AS _ligne) FROM _raw_all AS r "
                    f"JOIN _sirene_segments AS s ON r._tube = s.tube AND r._ligne // {SEGMENT_BUCKET} = s.seau "
                    "AND r._ligne >= s.debut AND r._ligne < s.fin "
                    f"WHERE r._garde AND r._classe NOT IN {OUT_OF_SCOPE_CLASSES}")
    try:
        result = db.build_staging_table(con, step.table, key=step.key_column, fichier=str(path),
                                        duplicates=step.duplicates)
    finally:
        con.execute(f"DROP VIEW IF EXISTS {step.raw_view}")
        con.execute("DROP TABLE IF EXISTS _sirene_segments")
    db.insert_rejects(con, [{
        "table_staging": step.table, "fichier": str(path), "cle": r["cle"],
        "motif_rejet": f"{CSV_REJECT_REASON} : {r['erreur']}",
        "ligne": json.dumps({"texte": (r["texte"] or "")[:db.MAX_JSON_TEXT_CHARS]}, ensure_ascii=False),
        "numero_ligne": r["numero_ligne"], "departements": [],
    } for r in bad])

    work_dir = Path(parts[0]).parent  # the read's folder
    if step.scope != "commune":
        _attach_departements(con, step, deps, work_dir)
    rejected = dict(con.execute(
        f"SELECT motif_rejet, count(*) FROM {db.REJECTS_TABLE} WHERE table_staging = ? GROUP BY 1 ORDER BY 1",
        [step.table]).fetchall())
    sha256 = _sha256(path)
    national = FileStats(
        source=SOURCE.name, table=step.table, file=str(path), millesime=millesime, sha256=sha256,
        rows_read=rows_read, rows_staged=result["staged"], rows_rejected=rejected,
        # counted by the read, independently of what staging made of the rows
        rows_out_of_scope=scanned - kept + kept_out, rows_without_kept_establishment=without,
    )
    national.check()
    per_dep = _departements_stats(con, step, path, deps, millesime, sha256, rows_read, work_dir)
    con.execute("DROP VIEW IF EXISTS _raw_all")
    return national, per_dep


def _read_once(con, step: _Step, stock: Stock, deps: list[str], work_dir: Path,
               keys_nowhere_kept: bool = False, shares: int = 1, as_integers: bool = False) -> list[Path]:
    """The single pass over the file: keep the rows the départements need (and those whose location cannot be
    told), every needed column as text, with the row's number in its part (and, for a zip, the block markers).
    What staging needs to know of a kept row is computed in the same pass, on the kept rows only: the
    establishments' `_departement` and `_classe`, and the first over-long needed column. The parts of a zip are
    read in parallel; each writes its own Parquet file in work_dir. `keys_nowhere_kept`: the rows whose key is
    only that of rejected establishments are kept too, to be counted. `as_integers`: the keys are matched as
    integers (many keys, _keep_sql).

    `shares` > 1 (a file matched on more keys than MATCHED_KEYS_PER_SHARE): the file is split instead — the pass
    writes every row with its key's share (hash modulo the shares, as _keep_sql's keys), then each share is kept on
    its own keys (_keep_by_share); the same rows come out."""
    text = stock.text
    columns = [f"{text[c]} AS {quote(c)}" for c in NEEDED_COLUMNS[step.key]]
    extra = _placement_sql(step, text) if step.scope == "commune" else ["'departement' AS _classe"]
    too_long, too_long_value = _too_long_sql(step, stock)
    marker = stock.marker_sql()

    def select(keep: str, share: str = "") -> str:
        where = keep if stock.marker is None else f"({keep}) OR {marker} IS NOT NULL"
        return (f"SELECT {', '.join(columns)}, {stock.line} AS _ligne, {{index}} AS _tube, {marker} AS _marque, "
                f"{', '.join(extra)}, {too_long} AS _colonne_trop_longue, {too_long_value} AS _valeur_trop_longue"
                f"{share} FROM {{part}} WHERE {where}")

    targets = [work_dir / f"{step.raw_view}.{i}" for i in range(len(stock.parts))]  # (folders: copy_parts)
    tmps = [t.with_name(f"{t.name}.tmp") for t in targets]
    params = {"departements": deps, "longueur_max": MAX_FIELD_CHARS, **_corse_codes(con)}
    try:
        if shares == 1:
            copy_parts(con, stock, select(_keep_sql(step, text, keys_nowhere_kept, as_integers=as_integers)), tmps,
                       params)
        else:
            share = f", hash(TRY_CAST({text[step.scope]} AS BIGINT)) % {shares} AS _part"
            copy_parts(con, stock, select("true", share), tmps, params, partition_by="_part", partitions=shares)
            kept = _keep_by_share(con, step, tmps, shares, keys_nowhere_kept, work_dir)
            if kept:
                return kept
            if stock.kind != "parquet":  # a zip's read always writes its block markers
                raise InputFileError(f"{stock.path}: the read wrote nothing, not even its block markers — a bug "
                                     "of sources/sirene_read.py: report it with the file")
            # not a row in the file: its typed empty part, as the unsplit read writes it (reading only the footer)
            copy_parts(con, stock, select("false"), tmps, params)
    except Exception as exc:
        # DuckDB's memory bound is not the file's fault: transforms/staging.py says how to raise it; an
        # interruption is a failure elsewhere (_Behind); nor is a full disk (flows/cli.py says so)
        if (isinstance(exc, (InputFileError, duckdb.OutOfMemoryException, duckdb.InterruptException))
                or write_failure(exc)):
            raise
        detail = str(exc).split("\n")[0]
        raise InputFileError(f"{stock.path}: cannot be read ({detail})") from exc
    for tmp, target in zip(tmps, targets):
        tmp.replace(target)
    return targets


def _keep_by_share(con, step: _Step, folders: list[Path], shares: int, keys_nowhere_kept: bool,
                   work_dir: Path) -> list[Path]:
    """The second half of a read split by key share (_read_once): each share's rows kept on that share's keys, as
    the unsplit read keeps them, markers included, one file per share (none for a share without rows); the split
    folders are then removed."""
    columns = {c: quote(c) for c in NEEDED_COLUMNS[step.key]}  # the split files hold the needed columns as text
    targets = []
    try:
        for i in range(shares):
            files = _share_files(folders, i)
            if not files:
                continue
            keep = _keep_sql(step, columns, keys_nowhere_kept, share=(i, shares))
            target = work_dir / f"{step.raw_view}.part{i}.parquet"
            tmp = target.with_suffix(".parquet.tmp")
            con.execute(f"COPY (SELECT * FROM read_parquet({_paths_sql(files)}, hive_partitioning = false) "
                        f"WHERE ({keep}) OR _marque IS NOT NULL) TO {sql_str(tmp)} "
                        f"(FORMAT parquet, ROW_GROUP_SIZE {RAW_ROW_GROUP})")
            tmp.replace(target)
            targets.append(target)
    finally:
        for folder in folders:
            shutil.rmtree(folder, ignore_errors=True)
    return targets


def _share_files(folders: list[Path], i: int) -> list[Path]:
    """The Parquet files of share i in folders split by share (a COPY … PARTITION_BY (_part))."""
    return sorted(f for folder in folders for f in (folder / f"_part={i}").glob("*.parquet"))


def _too_long_sql(step: _Step, stock: Stock) -> tuple[str, str]:
    """SQL of the first needed column of a kept row longer than MAX_FIELD_CHARS characters, and of its value.

    Only the columns whose text can be long are measured (turning a typed column into text, twice per row, only to
    measure it, cost StockEtablissement's read at 30 % of France ≈ 0.3 s of CPU), and first by their size in bytes,
    which DuckDB knows without reading the text: a value of at most MAX_FIELD_CHARS bytes has at most as many
    characters, so only a row with a longer one has its characters counted (counting them in every column of every
    kept row cost the read of StockEtablissement ≈ 8 %)."""
    text = stock.text
    free = [c for c in NEEDED_COLUMNS[step.key] if c in stock.unbounded()]
    if not free:
        return "CAST(NULL AS VARCHAR)", "CAST(NULL AS VARCHAR)"
    sizes = [f"strlen({text[c]})" for c in free]
    gate = f"greatest({', '.join(sizes)})" if len(sizes) > 1 else sizes[0]
    name = " ".join(f"WHEN length({text[c]}) > $longueur_max THEN {sql_str(c)}" for c in free)
    value = " ".join(f"WHEN length({text[c]}) > $longueur_max THEN {db.quoted_value(text[c])}" for c in free)
    return (f"CASE WHEN {gate} > $longueur_max THEN CASE {name} END END",
            f"CASE WHEN {gate} > $longueur_max THEN CASE {value} END END")


def _segments_table(con, parts: list[Path], segments: list[tuple[int, int, int]]) -> None:
    """_sirene_segments: each segment [debut, fin) of a part's row numbers and its line offset, repeated for every
    bucket of SEGMENT_BUCKET row numbers it overlaps, so that a row finds its segment by an equality join on
    (part, bucket) — a small hash table probed as the rows stream — instead of an ASOF join, which sorts every
    kept row (all of France's, for every département) and did not fit the staging's memory."""
    last = dict(con.execute(f"SELECT _tube, max(_ligne) FROM read_parquet({_paths_sql(parts)}) "
                            "GROUP BY 1").fetchall())
    starts: dict[int, dict[int, int]] = {}
    for part, start, offset in segments:  # a later segment starting on the same row supersedes an earlier one
        starts.setdefault(part, {})[start] = offset
    rows = []
    for part, by_start in starts.items():
        ordered = sorted(by_start)
        ends = ordered[1:] + [max(last.get(part) or 0, ordered[-1]) + 1]
        for start, end in zip(ordered, ends):
            for bucket in range(start // SEGMENT_BUCKET, (end - 1) // SEGMENT_BUCKET + 1):
                rows.append((part, bucket, start, end, by_start[start]))
    con.execute("CREATE OR REPLACE TEMP TABLE _sirene_segments AS SELECT unnest(?::INTEGER[]) AS tube, "
                "unnest(?::BIGINT[]) AS seau, unnest(?::BIGINT[]) AS debut, unnest(?::BIGINT[]) AS fin, "
                "unnest(?::BIGINT[]) AS decalage", [[r[i] for r in rows] for i in range(5)])


def _paths_sql(paths: list[Path]) -> str:
    """The list of Parquet files for read_parquet; a folder stands for its files (a part's kept rows, copy_parts)."""
    return "[" + ", ".join(sql_str(Path(p) / "*.parquet" if Path(p).is_dir() else p) for p in paths) + "]"


def _classify(con, step: _Step, parts: list[Path], as_integers: bool = False) -> None:
    """_raw_all: the rows kept by the read, markers aside (`_garde`: kept for a département or to be rejected), the
    rows whose key no staged establishment has but rejected ones do as WITHOUT_KEPT_ESTABLISHMENT. `as_integers`:
    the read matched the keys as integers (_keep_sql), so a key written otherwise than a staged one ('0100000000'
    for 100000000) is out of scope, as the read on the keys as text leaves it."""
    source = f"read_parquet({_paths_sql(parts)})"
    cases = []
    if step.scope != "commune":
        trimmed = f"trim({quote(step.key_column)})"
        if as_integers:
            cases.append(f"WHEN NOT regexp_full_match({trimmed}, '[0-9]{{{CODE_WIDTHS[step.scope]}}}') "
                         "THEN 'hors_champ'")
        if _has_keys_nowhere_kept(con, step):
            cases.append(f"WHEN {trimmed} IN (SELECT cle FROM _sirene_sans_{step.scope}s WHERE nulle_part) "
                         f"THEN '{WITHOUT_KEPT_ESTABLISHMENT}'")
    if cases:
        source = f"(SELECT * REPLACE (CASE {' '.join(cases)} ELSE _classe END AS _classe) FROM {source})"
    con.execute(f"CREATE OR REPLACE TEMP VIEW _raw_all AS SELECT *, true AS _garde FROM {source} "
                "WHERE _marque IS NULL")


def _rejected_keys(con) -> None:
    """_sirene_sans_sirens and _sirene_sans_sirets (cle, departement, nulle_part): the keys of the establishments
    placed in a requested département but rejected, for each département no staged establishment of which has the
    key; `nulle_part` when no staged establishment has it at all. An establishment rejected because its siret is not
    its siren + nic has two sirets, and its history may hold either: both count. Only well-formed keys: another
    cannot be matched. A few rows (the rejects), and the staged keys probed only for theirs."""
    siren = "trim(ligne->>'siren')"
    keys = {"siren": f"[{siren}]", "siret": f"[cle, {siren} || trim(ligne->>'nic')]"}
    for scope in keys:
        width = CODE_WIDTHS[scope]
        con.execute(f"""CREATE OR REPLACE TABLE _sirene_sans_{scope}s AS
            WITH lus AS (
                SELECT cle, ligne, unnest(departements) AS departement FROM {db.REJECTS_TABLE}
                WHERE table_staging = $table AND len(departements) > 0),
            rejetes AS (
                SELECT DISTINCT cle, departement FROM (SELECT unnest({keys[scope]}) AS cle, departement FROM lus)
                WHERE regexp_full_match(cle, '[0-9]{{{width}}}')),
            retenus AS (
                SELECT DISTINCT {scope} AS cle, departement FROM _sirene_besoins
                WHERE {scope} IN (SELECT cle FROM rejetes))
            SELECT cle, departement, cle NOT IN (SELECT cle FROM retenus) AS nulle_part
            FROM (SELECT cle, departement FROM rejetes EXCEPT SELECT cle, departement FROM retenus)""",
                    {"table": TABLES[0]})


def _has_keys_nowhere_kept(con, step: _Step) -> bool:
    """Whether some rows of the file may have a key that only rejected establishments have (see _rejected_keys)."""
    if step.scope == "commune":
        return False
    return con.execute(f"SELECT count(*) FROM _sirene_sans_{step.scope}s WHERE nulle_part").fetchone()[0] > 0


def _keep_sql(step: _Step, text: dict[str, str], keys_nowhere_kept: bool = False,
              share: tuple[int, int] | None = None, as_integers: bool = False) -> str:
    """SQL over ONE column (so that DuckDB filters the Parquet scan before reading the others): is the row needed?
    A keyed file's row is needed when its key, trimmed, is a staged establishment's (or a rejected one's, when
    `keys_nowhere_kept`). `as_integers`: matched on a hash table of integers, the keys being many (see below).
    `share` (i, n): only the keys whose hash is i modulo n are matched (the rows of that share, _keep_by_share)."""
    if step.scope == "commune":
        # Well-formed codes decide by their département; empty, malformed and old Corsican codes are kept, to be
        # placed or rejected below: the codes left out are listed (_communes_elsewhere), for a hash probe a row
        # instead of a regular expression (StockEtablissement at 30 % of France, one département: 1.14 → 0.71 s).
        return (f"NOT EXISTS (SELECT 1 FROM _sirene_communes_ailleurs AS a "
                f"WHERE a.code = {text['codeCommuneEtablissement']})")
    scope, column = step.scope, text[step.scope]
    if as_integers or share is not None:
        # A hash table of 810 000 sirens as text did not fit the frugal read's memory (three large départements at
        # 30 % of France), as integers it does. Turning every key of the file into an integer costs (≈ 0.2 s of
        # CPU per 10 M rows), and it also matches a key written otherwise ('0100000000', '1e8'): _classify puts
        # those out of scope, so that the rows kept are the same either way.
        keys = f"SELECT {scope} FROM _sirene_{scope}s"
        nowhere = f"SELECT CAST(cle AS BIGINT) FROM _sirene_sans_{scope}s WHERE nulle_part"
        if share is not None:
            keys += f" WHERE hash({scope}) % {share[1]} = {share[0]}"
            nowhere += f" AND hash(CAST(cle AS BIGINT)) % {share[1]} = {share[0]}"
        probe = f"TRY_CAST({column} AS BIGINT)"
    else:
        keys = f"SELECT DISTINCT {scope} FROM _sirene_besoins"
        nowhere = f"SELECT cle FROM _sirene_sans_{scope}s WHERE nulle_part"
        probe = _trimmed_key(column, CODE_WIDTHS[scope])
    if keys_nowhere_kept:
        # one hash table still, a few keys larger (an OR of two IN lists would mark every row of the file instead)
        keys += f" UNION ALL {nowhere}"
    return f"{probe} IN ({keys})"


def _trimmed_key(column: str, width: int) -> str:
    """SQL of a key column trimmed, as staging reads it, for a match on keys of `width` characters: a value of that
    size is compared as it is (trimmed, it would be shorter, and match no key either way), so that only the others
    are trimmed — trimming every key of StockEtablissementHistorique cost its read more than the match itself."""
    return f"CASE WHEN strlen({column}) = {width} THEN {column} ELSE trim({column}) END"


def _communes_elsewhere(con, deps: list[str]) -> None:
    """_sirene_communes_ailleurs: every well-formed commune code (COMMUNE_FORMAT) of a département not in `deps`
    (overseas: its first 3 characters), old Corsican codes aside (20xxx, split into 2A/2B in 1976: placed by
    _placement_sql) — what the establishments' read leaves out (_keep_sql); 101 000 codes at most."""
    con.execute("""CREATE OR REPLACE TABLE _sirene_communes_ailleurs AS
        SELECT code FROM (
            SELECT lpad(CAST(i AS VARCHAR), 5, '0') AS code FROM range(100000) AS t(i)
            UNION ALL SELECT d || lpad(CAST(i AS VARCHAR), 3, '0') FROM range(1000) AS t(i),
                (VALUES ('2A'), ('2B')) AS v(d))
        WHERE NOT starts_with(code, '20') AND NOT list_contains($departements,
            CASE WHEN starts_with(code, '97') THEN left(code, 3) ELSE left(code, 2) END)""",
                {"departements": deps})


def _placement_sql(step: _Step, text: dict[str, str]) -> list[str]:
    """_departement (from the commune code as staging reads it, trimmed and in capitals) and _classe:
    'departement' (a requested one), 'hors_champ' (another département, or abroad), 'a_rejeter' (nowhere)."""
    code = f"nullif(upper(trim({text['codeCommuneEtablissement']})), '')"
    pays = f"nullif(trim({text['codePaysEtrangerEtablissement']}), '')"
    departement = (
        f"CASE WHEN regexp_full_match({code}, '{COMMUNE_FORMAT}') THEN "
        f"CASE WHEN starts_with({code}, '97') THEN left({code}, 3) "
        f"WHEN starts_with({code}, '20') THEN $corse_departements[list_position($corse_codes, {code})] "
        f"ELSE left({code}, 2) END END"
    )
    classe = (
        "CASE WHEN list_contains($departements, _departement) THEN 'departement' "
        f"WHEN _departement IS NOT NULL OR ({code} IS NULL AND {pays} IS NOT NULL) THEN 'hors_champ' "
        "ELSE 'a_rejeter' END"
    )
    return [f"{departement} AS _departement", f"{classe} AS _classe"]


def _corse_codes(con) -> dict[str, list[str]]:
    rows = con.execute("SELECT code, departement FROM sirene_corse ORDER BY code").fetchall()
    return {"corse_codes": [r[0] for r in rows], "corse_departements": [r[1] for r in rows]}


def _attach_departements(con, step: _Step, deps: list[str], work_dir: Path) -> None:
    """A legal unit or a history row belongs to the départements of the establishments that need it: one copy
    per département in the staged table, and the list of them on each reject."""
    key = step.key_column
    if len(deps) == 1:
        # The read kept exactly the rows whose key a staged establishment has: each belongs to the one département.
        con.execute(f"ALTER TABLE {step.table} ADD COLUMN _departement VARCHAR DEFAULT {sql_str(deps[0])}")
    else:
        attached = f"_{step.table}_departements"
        con.execute(f"CREATE OR REPLACE TABLE {attached} AS SELECT *, NULL::VARCHAR AS _departement "
                    f"FROM {step.table} LIMIT 0")
        with _joined_by_share(con, f"SELECT * FROM {step.table}", key, key,
                              work_dir / f"_{step.table}_rattachement") as shares:
            for rows, needs in shares:
                con.execute(f"INSERT INTO {attached} SELECT s.*, b.departement FROM {rows} AS s "
                            f"JOIN {needs} AS b USING ({key})")
        con.execute(f"DROP TABLE {step.table}")
        con.execute(f"ALTER TABLE {attached} RENAME TO {step.table}")
    con.execute(f"""UPDATE {db.REJECTS_TABLE} AS r SET departements = coalesce(
            (SELECT list(DISTINCT b.departement ORDER BY b.departement) FROM _sirene_besoins AS b
             WHERE b.{key} = r.cle), []::VARCHAR[])
        WHERE r.table_staging = ?""", [step.table])


def _partition_path(work_dir: Path, departement: str, table: str) -> Path:
    return Path(work_dir) / "partitions" / PARTITION.format(departement) / f"{table}.parquet"


def _write_partitions(con, step: _Step, deps: list[str], work_dir: Path, metadata: dict[str, str] | None) -> None:
    """Each département's rows of a staging table in its partition file (an empty one when it has none), without
    `_departement` (ess.db.export_partitions), ordered by the file's key — unique among a département's rows, the
    duplicates being rejected: the same rows come in the same order whichever way they were staged, sorted cheaper
    than by all columns (the Nord's 499 321 establishments at 30 % of France alone: 1.9 s against 6.1 s)."""
    db.export_partitions(con, step.table, "_departement", deps, lambda d: _partition_path(work_dir, d, step.table),
                         metadata, order=", ".join(step.duplicates.keys))


def _key_shares(con) -> int:
    """How many shares split the staged establishments' keys into at most JOIN_KEYS_PER_SHARE establishments: the
    (key, département) pairs of each share, and a join on them, fit the staging's memory, where those of all of
    France did not (at 10 %, every département: DuckDB asked for a block of 32 MiB beyond its bound)."""
    rows = con.execute("SELECT count(*) FROM _sirene_besoins").fetchone()[0]
    return max(1, -(-rows // JOIN_KEYS_PER_SHARE))


@contextmanager
def _by_share(con, select: str, key: str, shares: int, folder: Path) -> Iterator[list[str | None]]:
    """The rows of `select` as one relation (SQL) per share of their `key` column (its hash modulo `shares`; None
    for a share without rows), for joins on the share's keys alone. Above one share they are written once, split
    by share (one Parquet file each, removed on leaving), instead of scanned once per share: the legal units'
    staging of every département at 100 % of France scanned its 30 M rows for each of 44 shares (11 s a scan), its
    accounting the rows read as often."""
    if shares == 1:
        yield [f"({select})"]
        return
    with db.integer_setting(con, "partitioned_write_flush_threshold", partition_flush_rows(shares)):  # (copy_parts)
        con.execute(f"COPY (SELECT *, hash({key}) % {shares} AS _part FROM ({select})) TO {sql_str(folder)} "
                    f"(FORMAT parquet, PARTITION_BY (_part), ROW_GROUPS_PER_FILE {RAW_GROUPS_PER_FILE}, "
                    "PRESERVE_ORDER false)")
    try:
        yield [f"read_parquet({_paths_sql(files)}, hive_partitioning = false)"
               if (files := _share_files([folder], i)) else None for i in range(shares)]
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def _joined_by_share(con, select: str, key: str, needed_key: str, folder: Path) -> Iterator[list[tuple[str, str]]]:
    """For a join of the rows of `select` on the staged establishments' (key, département) pairs, one share of the
    keys at a time (_key_shares): each share's rows and its distinct pairs of _sirene_besoins (`needed_key`), as SQL
    relations, the shares without rows left out. Both sides are split once (_by_share): the pairs of every
    département at 100 % of France, 43.8 M, filtered again for each of 44 shares, cost 2–3 s a share."""
    shares = _key_shares(con)
    with _by_share(con, select, key, shares, folder.with_name(folder.name + "_lignes")) as rows, \
            _by_share(con, f"SELECT {needed_key}, departement FROM _sirene_besoins", needed_key, shares,
                      folder.with_name(folder.name + "_besoins")) as needs:
        yield [(r, f"(SELECT DISTINCT {needed_key}, departement FROM {n})") for r, n in zip(rows, needs) if r and n]


def _departements_stats(con, step: _Step, path: Path, deps: list[str], millesime: str, sha256: str,
                        rows_read: int, work_dir: Path) -> dict[str, FileStats]:
    """Each département's share of the file. Its rows are counted from the read (not from staging): the
    establishments placed there, or the rows whose key a staged establishment of the département has."""
    if step.scope == "commune":
        in_scope = dict(con.execute("SELECT _departement, count(*) FROM _raw_all WHERE _garde "
                                    "AND _classe = 'departement' GROUP BY 1").fetchall())
    elif len(deps) == 1:
        # every staged establishment's key is the one département's: the rows whose key is one of them
        key = step.key_column
        in_scope = {deps[0]: con.execute(
            f"SELECT count(*) FROM _raw_all AS r WHERE r._garde AND trim(r.{quote(key)}) IN "
            f"(SELECT {step.scope} FROM _sirene_besoins)").fetchone()[0]}
    else:
        key = step.key_column
        in_scope = {}
        with _joined_by_share(con, f"SELECT trim(r.{quote(key)}) AS _cle FROM _raw_all AS r WHERE r._garde", "_cle",
                              key, work_dir / f"_{step.table}_comptes") as shares:
            for rows, needs in shares:
                for dep, n in con.execute(f"SELECT b.departement, count(*) FROM {rows} AS r JOIN {needs} AS b "
                                          f"ON r._cle = b.{key} GROUP BY 1").fetchall():
                    in_scope[dep] = in_scope.get(dep, 0) + n
    without = _without_kept_establishment(con, step)
    staged = dict(con.execute(f"SELECT _departement, count(*) FROM {step.table} GROUP BY 1").fetchall())
    rejected: dict[str, dict[str, int]] = {d: {} for d in deps}
    for dep, reason, n in con.execute(
            f"SELECT d, motif_rejet, count(*) FROM (SELECT unnest(departements) AS d, motif_rejet "
            f"FROM {db.REJECTS_TABLE} WHERE table_staging = ?) GROUP BY 1, 2 ORDER BY 1, 2", [step.table]).fetchall():
        rejected[dep][reason] = n
    result = {}
    for dep in deps:
        stats = FileStats(source=SOURCE.name, table=step.table, file=str(path), millesime=millesime, sha256=sha256,
                          departement=dep, rows_read=rows_read, rows_staged=staged.get(dep, 0),
                          rows_rejected=rejected[dep], rows_out_of_scope=rows_read - in_scope.get(dep, 0),
                          rows_without_kept_establishment=without.get(dep, 0))
        stats.check()
        result[dep] = stats
    return result


def _needed_keys(con) -> None:
    """What the other files are matched on: _sirene_besoins (siret, siren, departement) of every staged
    establishment, active or closed, _sirene_sirets and _sirene_sirens their keys as integers (counted, and matched
    as such when they are many: _keep_sql), and the rejected ones (_rejected_keys). A siret is staged once
    nationally (the duplicates are rejected), so only the sirens need de-duplicating, by a sort (DuckDB sorts on
    disk beyond its bound): at 30 % of France with every département, a hash DISTINCT of 13 M sirets ran out of the
    staging's memory, of 9 M sirens too (frugally)."""
    con.execute("CREATE OR REPLACE TABLE _sirene_besoins AS "
                "SELECT siret, siren, _departement AS departement FROM staging_sirene_etablissements")
    con.execute("CREATE OR REPLACE TABLE _sirene_sirets AS SELECT CAST(siret AS BIGINT) AS siret FROM _sirene_besoins")
    many = con.execute("SELECT count(*) FROM _sirene_besoins").fetchone()[0] > PARALLEL_KEYS_MAX
    with frugal(con, many):
        con.execute("CREATE OR REPLACE TABLE _sirene_sirens AS SELECT siren FROM ("
                    "SELECT siren, lag(siren) OVER (ORDER BY siren) AS precedent "
                    "FROM (SELECT CAST(siren AS BIGINT) AS siren FROM _sirene_besoins)) "
                    "WHERE precedent IS DISTINCT FROM siren")
        _rejected_keys(con)


def _without_kept_establishment(con, step: _Step) -> dict[str, int]:
    """Each département's rows whose key only establishments of it that were rejected have (_rejected_keys); matched
    as the département's rows in scope are, so none of them is in scope."""
    if step.scope == "commune" or not con.execute(f"SELECT count(*) FROM _sirene_sans_{step.scope}s").fetchone()[0]:
        return {}
    return dict(con.execute(
        f"SELECT s.departement, count(*) FROM _raw_all AS r JOIN _sirene_sans_{step.scope}s AS s "
        f"ON trim(r.{quote(step.key_column)}) = s.cle WHERE r._garde GROUP BY 1").fetchall())


# --- reference data the checks use -----------------------------------------------------------------------------


def _load_references(con, reference_dir: str | Path | None = None) -> None:
    """ref_formats_activite, ref_codes_activite and ref_tranches_codes for the staging SQL (the run's reference
    folder over data/reference/, read through transforms/reference.py), the activity-code macros of
    sql/staging/macros_activite.sql, and sirene_corse (Corsica's codes before 1976 -> 2A/2B) for the placement."""
    from ess import paths as reference_paths
    from transforms.reference import read_reference

    formats = read_reference("formats_activite", reference_dir)
    codes = []
    for row in formats:
        if row["liste"]:
            listed = _read_csv(reference_paths.reference_file(row["liste"], reference_dir), ("code",))
            codes += [(row["nomenclature"], r["code"]) for r in listed]
    _temp_table(con, "ref_formats_activite", {"nomenclature": [r["nomenclature"] for r in formats],
                                              "forme": [r["forme"] for r in formats],
                                              "liste_fermee": [bool(r["liste"]) for r in formats]})
    _temp_table(con, "ref_codes_activite", {"nomenclature": [n for n, _ in codes], "code": [c for _, c in codes]})
    bands = [r["tranche"] for r in read_reference("tranches_effectifs", reference_dir) if r["tranche"] != "VIDE"]
    _temp_table(con, "ref_tranches_codes", {"tranche": bands})
    passage = sorted(REFERENCE_DIR.glob("communes_passage_*.csv"))
    corse = []
    if passage:
        corse = [(r["ancien_code"], r["code_commune"][:2]) for r in
                 _read_csv(passage[-1], ("ancien_code", "code_commune")) if r["ancien_code"].startswith("20")]
    _temp_table(con, "sirene_corse", {"code": [c for c, _ in corse], "departement": [d for _, d in corse]})
    con.execute((SQL_DIR / "staging" / "macros_activite.sql").read_text(encoding="utf-8"))


def _temp_table(con, name: str, columns: dict[str, list]) -> None:
    """A small temp table from Python lists (one statement: executemany is slow row by row)."""
    types = {name: "BOOLEAN" if values and isinstance(values[0], bool) else "VARCHAR"
             for name, values in columns.items()}
    select = ", ".join(f"unnest(${c}::{t}[]) AS {c}" for c, t in types.items())
    con.execute(f"CREATE OR REPLACE TEMP TABLE {db.identifier(name)} AS SELECT {select}", columns)


def _read_csv(path: Path, columns: tuple[str, ...]) -> list[dict]:
    from ess.errors import UserError

    if not path.is_file():
        raise UserError(f"reference file {path} is missing: restore it from the repository (git checkout -- {path})")
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in columns if c not in (reader.fieldnames or [])]
        if missing:
            raise UserError(f"{path}: columns {missing} are missing (header: {reader.fieldnames})")
        return [{c: (row[c] or "").strip() for c in columns} for row in reader]


def _sha256(path: Path) -> str:
    """The checksum `ess fetch` recorded in the snapshot's manifest (same name and size), else computed here."""
    size = path.stat().st_size
    for entry in read_manifest(path.parent).get("files", []):
        if entry.get("name") == path.name and entry.get("size") == size and entry.get("sha256"):
            return entry["sha256"]
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


# --- the source's registry surface (sources/registry.py) ---------------------------------------------------------


def find_snapshot(root: Path, settings) -> tuple[Path, dict]:
    """The SIRENE snapshot of the run (the millésime asked for, else the latest) and the millésime it fixes."""
    snapshot = SOURCE.snapshot(root, settings.millesime)
    return snapshot, {"millesime": snapshot.name}


def stage(con, snapshot: Path, params: dict, work_dir: Path) -> NationalStaging:
    """Stage the stocks once for every département of params["departements"]; the partitions carry the Parquet
    key-value metadata params["parquet_metadata"]."""
    return load_national(con, snapshot, departements=params["departements"], millesime=params["millesime"],
                         work_dir=work_dir, reference_dir=params.get("reference_dir"),
                         metadata=params.get("parquet_metadata"))


def fetch(root: Path, request) -> list[Path]:
    """The latest stocks from their data.gouv.fr stable links (sources/fetch.py)."""
    from sources import fetch as portals

    return portals.fetch_sirene(root, millesime=request.millesime, formats=request.formats)
