"""Robust HTTP download of one official file, and the manifest that records what was downloaded.

Standard library only (urllib). A download streams into `<dest>.part`, resumes with an HTTP Range request after an
interruption when the server allows it (206) and starts over cleanly when it does not (200), retries transient
failures with exponential backoff, verifies size and checksums, and only then renames the `.part` file to its final
name (os.replace, atomic). A file that fails verification is deleted: a file found under its final name is always a
verified one (or one written by an earlier, verified run).
"""

from __future__ import annotations

import contextlib
import email.utils
import hashlib
import http.client
import json
import logging
import os
import re
import shutil
import socket
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

from ess.errors import UserError

log = logging.getLogger(__name__)

USER_AGENT = "ess-observatoire/0.1 (+https://github.com/; open data fetch)"
CHUNK = 1 << 20  # 1 MiB: large enough for throughput, small enough for smooth progress
# Attempts of one request: 2 s, 4 s, 8 s… between them (a server restarting, a passing network cut), never more than
# 5 minutes whatever Retry-After says. Longer outages are the pipeline's business (flows/pipeline.py: rounds of the
# whole fetch minutes apart), not this module's.
BACKOFF_SECONDS = 2.0
MAX_BACKOFF = 300.0
PROGRESS_MIN_BYTES = 10 << 20  # below 10 MB a progress line is noise
PROGRESS_INTERVAL = 0.5  # seconds between two progress refreshes
MANIFEST_NAME = "manifest.json"


class DownloadError(UserError):
    """A file could not be downloaded or did not verify; the message says what to do."""


class NetworkError(DownloadError):
    """Every attempt of a request failed for a network reason. `unreachable`: nothing answers at the address
    (connection refused, unknown host name) — a wrong address or a stopped server, which waiting minutes does not
    mend, unlike a timeout or a 503; the pipeline does not start such a download again later."""

    def __init__(self, what: str, problem: str, attempts: int, *, unreachable: bool, advice: str,
                 problem_fr: str | None = None, rounds: int = 1, seconds: float | None = None):
        self.what, self.problem, self.attempts, self.unreachable = what, problem, attempts, unreachable
        self.advice, self.problem_fr, self.rounds, self.seconds = advice, problem_fr or problem, rounds, seconds
        super().__init__(self._message())

    def _message(self) -> str:
        tried = f"after {self.attempts} attempt{'s' if self.attempts > 1 else ''}"
        if self.rounds > 1:
            tried += f" in {self.rounds} rounds"
        if self.seconds is not None and self.seconds >= 1:
            tried += f" over {_english_duration(self.seconds)}"
        return f"{self.what}: {self.problem} — {tried}. {self.advice}"

    def totalled(self, attempts: int, rounds: int, seconds: float, *, advice: str | None = None) -> "NetworkError":
        """The same failure counted over every round of a fetch (the caller's attempts, not only the last round's)."""
        return NetworkError(self.what, self.problem, attempts, unreachable=self.unreachable,
                            advice=advice or self.advice, problem_fr=self.problem_fr, rounds=rounds, seconds=seconds)


class TransientFailure(Exception):
    """A failure worth retrying (connection, timeout, 5xx, 429, short body). `problem`: what happened, in English
    (error messages, logs) and in French (the console's line for each failed attempt)."""

    def __init__(self, message: str, retry_after: float | None = None, *, problem: str | None = None,
                 problem_fr: str | None = None, unreachable: bool = False):
        super().__init__(message)
        self.retry_after = retry_after
        self.problem = problem or message
        self.problem_fr = problem_fr or self.problem
        self.unreachable = unreachable


# --- console notices: what a person waiting on a download sees --------------------------------------------------

def _to_stderr(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


_listener: list[Callable[[str], None]] = [_to_stderr]


def notice(text: str) -> None:
    """One line (French) for the person waiting: a file started, a failed attempt and when the next one comes. On
    stderr (`ess fetch`), or where `notices_to` sends it (`ess run`: under its progress step), and in the log."""
    log.info("%s", text)
    _listener[-1](text)


@contextlib.contextmanager
def notices_to(listener: Callable[[str], None]):
    """Send the notices of the downloads made inside the block to `listener` (e.g. ess.progress's note)."""
    _listener.append(listener)
    try:
        yield
    finally:
        _listener.remove(listener)


def retry_notice(what: str, attempt: int, attempts: int, problem_fr: str, wait: float | None) -> str:
    """« ✗ StockEtablissement_utf8.parquet : tentative 2/6 — connexion refusée ; nouvel essai dans 4,0 s »."""
    text = f"✗ {what} : tentative {attempt}/{attempts} — {problem_fr}"
    return text + (f" ; nouvel essai dans {_french_duration(wait)}" if wait is not None else "")


def _french_duration(seconds: float) -> str:
    from ess.progress import duration

    return duration(seconds)


def _english_duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes} min {rest:02d} s"


class _VerificationFailed(Exception):
    pass


@dataclass(frozen=True)
class DownloadResult:
    path: Path
    size: int
    sha256: str
    url: str
    final_url: str  # after redirects (data.gouv stable links point to the current file)
    retrieved_at: str  # UTC ISO 8601; for a file already present, when it was written
    resumed: bool  # the body was completed with at least one Range request
    skipped: bool = False  # the file was already complete and verified: nothing was downloaded

    def manifest_entry(self) -> dict[str, Any]:
        return {
            "name": self.path.name,
            "url": self.url,
            "final_url": self.final_url,
            "size": self.size,
            "sha256": self.sha256,
            "retrieved_at": self.retrieved_at,
        }


def utc_now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def part_path(dest: Path) -> Path:
    return dest.with_suffix(dest.suffix + ".part")


def file_digests(path: Path, algorithms: Iterable[str] = ("sha256",)) -> dict[str, str]:
    """Hex digests of a file in one pass (several algorithms at once)."""
    hashers = {name: hashlib.new(name) for name in dict.fromkeys(algorithms)}
    with open(path, "rb") as fh:
        while block := fh.read(CHUNK):
            for h in hashers.values():
                h.update(block)
    return {name: h.hexdigest() for name, h in hashers.items()}


def download(
    url: str,
    dest: Path,
    *,
    expected_size: int | None = None,
    expected_sha256: str | None = None,
    expected_sha1: str | None = None,
    expected_md5: str | None = None,
    retries: int = 5,
    backoff: float | None = None,
    timeout: float = 60,
    progress: bool = True,
    sleep: Callable[[float], None] = time.sleep,
    hint: str | None = None,
    known_sha256: str | None = None,
    address_hint: str | None = None,
) -> DownloadResult:
    """Download `url` to `dest`, verified. Returns without any request when `dest` already matches a checksum.

    `retries` counts consecutive attempts that brought no new byte (an attempt that made progress resets it, so a
    flaky connection on a 4 GB file still finishes); they are `backoff` seconds apart, doubling (default
    BACKOFF_SECONDS). Each failed attempt is a notice (French) saying when the next one comes. `sleep` is injectable
    so tests do not wait. `hint` is appended to the message of a 404/410 (e.g. where to check a resource id),
    `address_hint` to that of an address where nothing answers (e.g. the variable that set it). `known_sha256`
    (e.g. from a manifest) lets a file already at `dest` be accepted when the publisher gives no checksum; it does
    not verify a new download.
    """
    backoff = BACKOFF_SECONDS if backoff is None else backoff
    dest = Path(dest)
    expected = {
        k: v.lower()
        for k, v in (("sha256", expected_sha256), ("sha1", expected_sha1), ("md5", expected_md5))
        if v
    }
    algorithms = ["sha256", *[a for a in expected if a != "sha256"]]

    if dest.exists():
        proof = expected or ({"sha256": known_sha256.lower()} if known_sha256 else {})
        done = _existing_if_valid(dest, url, proof, expected_size, algorithms)
        if done is not None:
            log.info("%s: already complete and verified, not downloaded again", dest.name)
            return done

    dest.parent.mkdir(parents=True, exist_ok=True)
    part = part_path(dest)
    state = _State()
    failures = 0  # consecutive attempts without progress
    restarted_after_bad_resume = False
    best = part.stat().st_size if part.exists() else 0
    inherited_part = best > 0  # bytes left by an earlier run may belong to another version of the file
    tries, started = 0, time.monotonic()

    while True:
        try:
            tries += 1
            _attempt(url, part, state, expected_size=expected_size, timeout=timeout, progress=progress)
            sizes = _verify(part, expected_size, state.total, expected, algorithms)
            break
        except TransientFailure as exc:
            now = part.stat().st_size if part.exists() else 0
            if now > best:
                best, failures = now, 0
            failures += 1
            if failures > retries:
                notice(retry_notice(dest.name, failures, retries + 1, exc.problem_fr, None))
                raise NetworkError(
                    dest.name, str(exc), tries, unreachable=exc.unreachable, problem_fr=exc.problem_fr,
                    seconds=time.monotonic() - started,
                    advice=unreachable_advice(address_hint) if exc.unreachable else (
                        f"The partial file {part} is kept; run the same command again to resume." if part.exists()
                        else "Run the same command again later."),
                ) from None
            wait = min(MAX_BACKOFF, exc.retry_after if exc.retry_after is not None
                       else backoff * 2 ** (failures - 1))
            log.warning("%s: %s; retry %d/%d in %.0f s", dest.name, exc, failures, retries, wait)
            notice(retry_notice(dest.name, failures, retries + 1, exc.problem_fr, wait))
            sleep(wait)
        except _VerificationFailed as exc:
            _unlink(part)
            if (state.resumed or inherited_part) and not restarted_after_bad_resume:
                # The file may have changed on the server between two attempts: one clean restart.
                log.warning("%s: %s after a resumed download; downloading again from the start", dest.name, exc)
                restarted_after_bad_resume = True
                state = _State()
                continue
            raise DownloadError(
                f"{dest.name} downloaded from {url} failed verification: {exc}. The file was deleted. "
                "If this repeats, the published file or its announced checksum changed: check the source page."
            ) from None
        except _Fatal as exc:
            _unlink(part)
            msg = str(exc)
            if exc.status in (404, 410):
                msg += ": the resource id or address may have changed" + (f"; check {hint}" if hint else "")
            raise DownloadError(msg) from None

    os.replace(part, dest)
    return DownloadResult(
        path=dest,
        size=sizes["size"],
        sha256=sizes["sha256"],
        url=url,
        final_url=state.final_url or url,
        retrieved_at=utc_now(),
        resumed=state.resumed,
    )


class _Fatal(Exception):
    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


@dataclass
class _State:
    final_url: str | None = None
    total: int | None = None  # full size announced by the server
    validator: str | None = None  # ETag or Last-Modified, sent back in If-Range
    resumed: bool = False


def _existing_if_valid(dest, url, expected, expected_size, algorithms) -> DownloadResult | None:
    """A file already at `dest`: kept when a checksum proves it complete, deleted when it contradicts one."""
    if not expected:
        return None  # nothing proves the file is the right one: download again (replaced atomically)
    size = dest.stat().st_size
    digests = file_digests(dest, algorithms) if expected_size in (None, size) else {}
    if digests and all(digests[a] == v for a, v in expected.items()):
        mtime = datetime.fromtimestamp(dest.stat().st_mtime, timezone.utc).replace(microsecond=0)
        return DownloadResult(dest, size, digests["sha256"], url, url, mtime.isoformat(), False, skipped=True)
    log.warning("%s exists but does not match the expected size/checksum: deleted, downloading again", dest)
    _unlink(dest)
    return None


def _attempt(url: str, part: Path, state: _State, *, expected_size, timeout, progress) -> None:
    """One HTTP request, appending to `part` (Range) or rewriting it (200). Raises TransientFailure / _Fatal."""
    offset = part.stat().st_size if part.exists() else 0
    limit = expected_size or state.total
    if limit is not None and offset > limit:
        _unlink(part)
        offset = 0
    if limit is not None and offset == limit and offset > 0:
        return  # already all there (e.g. a previous run was interrupted just before the rename)

    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
        if state.validator:
            headers["If-Range"] = state.validator
    req = urllib.request.Request(url, headers=headers)
    try:
        resp = urllib.request.urlopen(req, timeout=timeout)
    except urllib.error.HTTPError as exc:
        _raise_for_http_error(exc, url, part, offset, state)
        return
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        raise unreachable_or_transient(url, exc) from None

    with resp:
        state.final_url = resp.geturl()
        status = resp.status
        length = _int_or_none(resp.headers.get("Content-Length"))
        if status == 206:
            start, total = _parse_content_range(resp.headers.get("Content-Range"))
            if start != offset:
                _unlink(part)
                raise TransientFailure(f"server answered a range starting at {start} instead of {offset}",
                                 problem_fr="reprise refusée par le serveur, nouveau départ")
            mode, state.resumed = "ab", True
            state.total = total if total is not None else state.total
        elif status == 200:
            if offset:
                log.info("%s: the server ignored the Range request, starting over", part.name)
            offset, mode = 0, "wb"
            state.total = length
            state.resumed = False
        else:
            raise TransientFailure(f"unexpected HTTP status {status} from {state.final_url}",
                             problem_fr=f"réponse HTTP {status} inattendue")
        state.validator = resp.headers.get("ETag") or resp.headers.get("Last-Modified") or state.validator

        _check_space(part, (state.total or 0) - offset)
        target = state.total if state.total is not None else expected_size
        meter = Progress(part.name.removesuffix(".part"), target, enabled=progress)
        received = offset
        try:
            with open(part, mode) as fh:
                meter.update(received)
                while True:
                    try:
                        block = resp.read(CHUNK)
                    except (OSError, http.client.HTTPException) as exc:
                        raise TransientFailure(f"connection lost after {received} bytes ({_reason(exc)})",
                                         problem_fr=f"connexion perdue après {received:,} octets".replace(",", " ")
                                         ) from None
                    if not block:
                        break
                    fh.write(block)
                    received += len(block)
                    meter.update(received)
                fh.flush()
                os.fsync(fh.fileno())
        finally:
            meter.close()
        if length is not None and received - offset < length:
            raise TransientFailure(f"connection closed after {received} of {offset + length} bytes",
                             problem_fr=f"connexion fermée après {received:,} octets sur {offset + length:,}"
                             .replace(",", " "))


def _raise_for_http_error(exc: urllib.error.HTTPError, url, part: Path, offset: int, state: _State) -> None:
    status = exc.code
    retry_after = _retry_after(exc.headers.get("Retry-After")) if exc.headers else None
    exc.close()
    if status == 416 and offset:
        _, total = _parse_content_range(exc.headers.get("Content-Range"))
        if total is not None and total == offset:
            state.total = total  # the .part file already holds the whole body
            return
        _unlink(part)  # the partial file does not belong to the current file: start over
        raise TransientFailure(f"range {offset}- not satisfiable, restarting from the start",
                         problem_fr="reprise impossible, nouveau départ")
    if status in (408, 425, 429) or status >= 500:
        raise TransientFailure(f"HTTP {status} {exc.reason} from {url}", retry_after,
                         problem_fr=f"le serveur répond HTTP {status} {exc.reason}")
    raise _Fatal(f"{url} answered HTTP {status} {exc.reason}", status)


def _verify(part: Path, expected_size, announced_size, expected: Mapping[str, str], algorithms) -> dict:
    size = part.stat().st_size
    if expected_size is not None and size != expected_size:
        raise _VerificationFailed(f"size {size} bytes, expected {expected_size}")
    if expected_size is None and announced_size is not None and size != announced_size:
        raise _VerificationFailed(f"size {size} bytes, the server announced {announced_size}")
    digests = file_digests(part, algorithms)
    for algo, value in expected.items():
        if digests[algo] != value:
            raise _VerificationFailed(f"{algo} {digests[algo]}, expected {value}")
    return {"size": size, "sha256": digests["sha256"]}


def _check_space(part: Path, needed: int) -> None:
    if needed <= 0:
        return
    free = shutil.disk_usage(part.parent).free
    if free < needed:
        raise DownloadError(
            f"not enough disk space in {part.parent}: {needed / 1e9:.2f} GB needed, {free / 1e9:.2f} GB free"
        )


def _parse_content_range(value: str | None) -> tuple[int | None, int | None]:
    """'bytes 100-199/1000' → (100, 1000); 'bytes */1000' → (None, 1000); '*' totals → None."""
    m = re.match(r"\s*bytes\s+(?:(\d+)-\d+|\*)/(\d+|\*)", value or "")
    if not m:
        return None, None
    start = int(m.group(1)) if m.group(1) is not None else None
    total = int(m.group(2)) if m.group(2) != "*" else None
    return start, total


def _retry_after(value: str | None) -> float | None:
    """Retry-After is either seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def unreachable_or_transient(url: str, exc: BaseException) -> TransientFailure:
    """A request that got no answer: nothing listening at the address (connection refused, a host name that does
    not exist) is `unreachable`; a timeout, a reset, a name server that does not answer yet may pass."""
    reason = exc.reason if isinstance(exc, urllib.error.URLError) and isinstance(exc.reason, BaseException) else exc
    host = urllib.parse.urlsplit(url).netloc
    if isinstance(reason, ConnectionRefusedError):
        return TransientFailure(f"cannot reach {url} (connection refused)", problem=f"connection refused by {host}",
                          problem_fr=f"connexion refusée par {host}", unreachable=True)
    if isinstance(reason, socket.gaierror) and reason.errno in _UNKNOWN_HOST:
        return TransientFailure(f"cannot reach {url} (unknown host name)", problem=f"unknown host name {host}",
                          problem_fr=f"nom d'hôte inconnu : {host}", unreachable=True)
    if isinstance(reason, (socket.timeout, TimeoutError)):
        french = "pas de réponse dans le délai"
    elif isinstance(reason, socket.gaierror):
        french = f"nom {host} introuvable pour l'instant (réseau ?)"
    elif isinstance(reason, ConnectionError):
        french = "connexion interrompue"
    else:
        french = _reason(reason)
    return TransientFailure(f"cannot reach {url} ({_reason(exc)})", problem_fr=french)


# getaddrinfo's "this name does not exist" (not EAI_AGAIN: a name server that does not answer yet may come back)
_UNKNOWN_HOST = {getattr(socket, name) for name in ("EAI_NONAME", "EAI_NODATA") if hasattr(socket, name)}


def unreachable_advice(address_hint: str | None) -> str:
    return ("Nothing answers at that address: it is wrong, or the server is stopped"
            + (f" ({address_hint})" if address_hint else "")
            + ".")


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _reason(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.URLError) and not isinstance(exc, urllib.error.HTTPError):
        exc = exc.reason if isinstance(exc.reason, BaseException) else exc
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "timed out"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass


class Progress:
    """One self-rewriting stderr line: bytes, percentage, MB/s. Throttled; silent unless the stream is a TTY."""

    def __init__(self, label: str, total: int | None, *, enabled: bool = True, stream: IO[str] | None = None,
                 clock: Callable[[], float] = time.monotonic, force: bool = False):
        self.stream = stream if stream is not None else sys.stderr
        big = total is None or total >= PROGRESS_MIN_BYTES
        is_tty = getattr(self.stream, "isatty", lambda: False)()
        self.enabled = enabled and big and (is_tty or force)
        self.label, self.total, self.clock = label, total, clock
        self.start = clock()
        self.first: int | None = None
        self.last_draw = float("-inf")
        self.drawn = False
        self.current = 0

    def update(self, done: int) -> None:
        if not self.enabled:
            return
        if self.first is None:
            self.first = done  # speed counts only this session's bytes (not the resumed part)
        self.current = done
        now = self.clock()
        if now - self.last_draw >= PROGRESS_INTERVAL:
            self.last_draw = now
            self.stream.write("\r" + self.render(done, now))
            self.stream.flush()
            self.drawn = True

    def render(self, done: int, now: float) -> str:
        elapsed = max(now - self.start, 1e-9)
        speed = (done - (self.first or 0)) / elapsed / 1e6
        text = f"  {self.label}  {done / 1e6:,.1f}"
        if self.total:
            text += f" / {self.total / 1e6:,.1f} MB  {100 * done / self.total:5.1f} %"
        else:
            text += " MB"
        return text + f"  {speed:,.1f} MB/s"

    def close(self) -> None:
        if self.enabled and self.drawn:
            self.stream.write("\r" + self.render(self.current, self.clock()) + "\n")
            self.stream.flush()


# --- manifest ---------------------------------------------------------------------------------------------------


# Whoever laid the folder out (`ess fetch`, a person, the sample): the manifest only records the download.
_MANIFEST_ADVICE = ("delete it: it only records how the files were downloaded (without it their checksums are "
                    "computed from the files)")


def read_manifest(snapshot_dir: Path) -> dict:
    """The manifest.json of a snapshot folder, or {} when there is none."""
    path = Path(snapshot_dir) / MANIFEST_NAME
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        from ess.errors import InputFileError

        raise InputFileError(f"{path} is not valid JSON ({exc}); {_MANIFEST_ADVICE}") from None
    if not isinstance(data, dict):
        from ess.errors import InputFileError

        raise InputFileError(f"{path} should hold a JSON object; {_MANIFEST_ADVICE}")
    return data


def write_manifest(
    snapshot_dir: Path,
    files: Iterable[DownloadResult | Mapping[str, Any]],
    *,
    source: Mapping[str, Any] | None = None,
    millesime: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Merge `files` into `<snapshot_dir>/manifest.json` (atomically) and return its path.

    Entries are keyed by file name: a new entry replaces the old one of the same name, others are kept.
    `source` is the source's description (sources.base.Source.describe()); `extra` adds top-level keys.
    Each entry holds at least name, url, final_url, size, sha256, retrieved_at (UTC ISO).
    """
    snapshot_dir = Path(snapshot_dir)
    snapshot_dir.mkdir(parents=True, exist_ok=True)
    manifest = read_manifest(snapshot_dir)
    by_name = {e["name"]: e for e in manifest.get("files", []) if isinstance(e, dict) and "name" in e}
    for f in files:
        entry = f.manifest_entry() if isinstance(f, DownloadResult) else dict(f)
        if "name" not in entry:
            raise ValueError(f"manifest entry without a name: {entry}")
        by_name[entry["name"]] = entry
    if source is not None:
        manifest["source"] = dict(source)
    if millesime is not None:
        manifest["millesime"] = millesime
    if extra:
        manifest.update(extra)
    manifest["files"] = [by_name[name] for name in sorted(by_name)]
    manifest["updated_at"] = utc_now()

    path = snapshot_dir / MANIFEST_NAME
    fd, tmp = tempfile.mkstemp(prefix=".manifest-", suffix=".json.tmp", dir=snapshot_dir)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(manifest, fh, ensure_ascii=False, indent=2, default=str)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        _unlink(Path(tmp))
        raise
    return path


__all__ = [
    "DownloadError",
    "NetworkError",
    "notice",
    "notices_to",
    "DownloadResult",
    "Progress",
    "download",
    "file_digests",
    "part_path",
    "read_manifest",
    "write_manifest",
    "utc_now",
]
