"""sources.download against a local HTTP server: resume, restart, retries, verification, redirects, manifest."""

from __future__ import annotations

import hashlib
import io
import json
import socket
import urllib.error

import pytest

try:
    from tests.http_server import Corrupt, Cut, Fail, LocalServer
except ImportError:  # tests/ is not a package: pytest puts it on sys.path
    from http_server import Corrupt, Cut, Fail, LocalServer

from ess.errors import UserError
from sources.download import (
    DownloadError,
    NetworkError,
    Progress,
    download,
    notices_to,
    part_path,
    read_manifest,
    unreachable_or_transient,
    write_manifest,
)

BODY = bytes(range(256)) * 200  # 51 200 bytes, every byte value
SHA256 = hashlib.sha256(BODY).hexdigest()
SHA1 = hashlib.sha1(BODY).hexdigest()


@pytest.fixture
def srv():
    with LocalServer() as server:
        yield server


class Sleeper:
    """Stands in for time.sleep: records the waits instead of waiting."""

    def __init__(self):
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def test_plain_download_verified(srv, tmp_path):
    url = srv.add_file("/files/StockEtablissement_utf8.parquet", BODY)
    dest = tmp_path / "snap" / "StockEtablissement_utf8.parquet"
    res = download(url, dest, expected_size=len(BODY), expected_sha256=SHA256, expected_sha1=SHA1, progress=False)
    assert dest.read_bytes() == BODY
    assert (res.path, res.size, res.sha256, res.url, res.final_url) == (dest, len(BODY), SHA256, url, url)
    assert res.resumed is False and res.skipped is False
    assert res.retrieved_at.endswith("+00:00")
    assert not part_path(dest).exists()
    assert len(srv.requests) == 1


def test_redirect_like_data_gouv_stable_links(srv, tmp_path):
    target = srv.add_file("/object/sirene/2026-05/StockUniteLegale_utf8.parquet", BODY)
    srv.add_redirect("/datasets/r/350182c9", "/object/sirene/2026-05/StockUniteLegale_utf8.parquet", status=302)
    stable = srv.add_redirect("/r/short", "/datasets/r/350182c9", status=301)
    srv.script("/object/sirene/2026-05/StockUniteLegale_utf8.parquet", [Cut(10_000)])
    res = download(stable, tmp_path / "f.parquet", expected_sha256=SHA256, progress=False, sleep=Sleeper())
    assert res.url == stable
    assert res.final_url == target
    assert (tmp_path / "f.parquet").read_bytes() == BODY
    # the resumed request goes through the redirects again and keeps its Range header
    ranges = [r.headers.get("Range") for r in srv.requests_for("/object/sirene/2026-05/StockUniteLegale_utf8.parquet")]
    assert ranges == [None, "bytes=10000-"] and res.resumed


def test_interrupted_download_resumes_with_range(srv, tmp_path):
    url = srv.add_file("/f.zip", BODY)
    srv.script("/f.zip", [Cut(20_000)])
    sleep = Sleeper()
    dest = tmp_path / "f.zip"
    res = download(url, dest, expected_size=len(BODY), expected_sha256=SHA256, progress=False, sleep=sleep,
                   backoff=2.0)
    reqs = srv.requests_for("/f.zip")
    assert len(reqs) == 2
    assert "Range" not in reqs[0].headers
    assert reqs[1].headers["Range"] == "bytes=20000-"
    assert "If-Range" in reqs[1].headers  # the resumed part must be of the same file version
    assert dest.read_bytes() == BODY
    assert res.resumed is True
    assert sleep.waits == [2.0]


def test_part_left_by_a_previous_run_is_resumed(srv, tmp_path):
    url = srv.add_file("/f.zip", BODY)
    dest = tmp_path / "f.zip"
    part_path(dest).write_bytes(BODY[:30_000])
    res = download(url, dest, expected_sha256=SHA256, progress=False)
    assert [r.headers.get("Range") for r in srv.requests_for("/f.zip")] == ["bytes=30000-"]
    assert dest.read_bytes() == BODY and res.resumed


def test_server_ignoring_range_restarts_cleanly(srv, tmp_path):
    url = srv.add_file("/f.zip", BODY, ranges=False)
    srv.script("/f.zip", [Cut(20_000)])
    dest = tmp_path / "f.zip"
    res = download(url, dest, expected_sha256=SHA256, progress=False, sleep=Sleeper())
    reqs = srv.requests_for("/f.zip")
    assert reqs[1].headers["Range"] == "bytes=20000-"  # asked, but got a 200 with the whole body
    assert dest.read_bytes() == BODY  # not 20 000 bytes + the whole body appended
    assert res.resumed is False


def test_503_then_success_backs_off_without_sleeping(srv, tmp_path):
    url = srv.add_file("/f.csv", BODY)
    srv.script("/f.csv", [Fail(503), Fail(502), Fail(503, {"Retry-After": "7"})])
    sleep = Sleeper()
    res = download(url, tmp_path / "f.csv", expected_sha256=SHA256, progress=False, sleep=sleep, backoff=1.5)
    assert sleep.waits == [1.5, 3.0, 7.0]  # exponential, then the server's Retry-After
    assert res.size == len(BODY)


def test_429_honours_retry_after(srv, tmp_path):
    url = srv.add_file("/f.csv", BODY)
    srv.script("/f.csv", [Fail(429, {"Retry-After": "42"})])
    sleep = Sleeper()
    download(url, tmp_path / "f.csv", progress=False, sleep=sleep)
    assert sleep.waits == [42.0]


def test_connection_refused_gives_up_after_retries(tmp_path):
    with LocalServer() as s:
        url = s.url("/gone")
    sleep = Sleeper()
    with pytest.raises(DownloadError, match="after 3 attempts") as err:
        download(url, tmp_path / "x", retries=2, backoff=1, progress=False, sleep=sleep, timeout=5)
    assert "cannot reach" in str(err.value)
    assert sleep.waits == [1, 2]
    assert not (tmp_path / "x").exists()


def test_each_failed_attempt_is_announced_with_the_next_wait(srv, tmp_path):
    """The console (French) says what failed and when the next attempt comes; the error counts the attempts."""
    url = srv.add_file("/f.csv", BODY)
    srv.script("/f.csv", [Fail(503)] * 3)
    said: list[str] = []
    with notices_to(said.append), pytest.raises(NetworkError) as err:
        download(url, tmp_path / "f.csv", retries=2, backoff=90, progress=False, sleep=Sleeper())
    assert said == ["✗ f.csv : tentative 1/3 — le serveur répond HTTP 503 Service Unavailable ; nouvel essai dans "
                    "1 min 30 s",
                    "✗ f.csv : tentative 2/3 — le serveur répond HTTP 503 Service Unavailable ; nouvel essai dans "
                    "3 min 00 s",
                    "✗ f.csv : tentative 3/3 — le serveur répond HTTP 503 Service Unavailable"]
    assert "HTTP 503 Service Unavailable" in str(err.value) and "after 3 attempts" in str(err.value)
    assert err.value.attempts == 3 and not err.value.unreachable  # may pass: worth another round later


def test_a_refused_connection_or_an_unknown_host_is_unreachable(tmp_path):
    """Nothing answers at the address: a wrong address or a stopped server, not a passing network problem."""
    with LocalServer() as s:
        url = s.url("/gone")
    said: list[str] = []
    with notices_to(said.append), pytest.raises(NetworkError) as err:
        download(url, tmp_path / "x", retries=1, progress=False, sleep=Sleeper(),
                 address_hint="it comes from ESS_DATA_GOUV_BASE_URL")
    host = url.split("/")[2]
    assert err.value.unreachable and err.value.attempts == 2
    assert f"Nothing answers at that address: it is wrong, or the server is stopped (it comes from " \
           "ESS_DATA_GOUV_BASE_URL)" in str(err.value)
    assert said[0] == f"✗ x : tentative 1/2 — connexion refusée par {host} ; nouvel essai dans 2,0 s"
    # a name that does not exist is unreachable too; a name server that does not answer yet, a timeout are not
    url = "http://portail.example/f.csv"
    gone = unreachable_or_transient(url, urllib.error.URLError(socket.gaierror(socket.EAI_NONAME, "not known")))
    assert gone.unreachable and gone.problem_fr == "nom d'hôte inconnu : portail.example"
    for passing in (socket.gaierror(socket.EAI_AGAIN, "try again"), TimeoutError("timed out"),
                    ConnectionResetError("reset")):
        assert not unreachable_or_transient(url, urllib.error.URLError(passing)).unreachable


def test_404_fails_fast_with_a_clear_message(srv, tmp_path):
    dest = tmp_path / "StockEtablissement_utf8.parquet"
    sleep = Sleeper()
    with pytest.raises(DownloadError) as err:
        download(srv.url("/datasets/r/unknown-id"), dest, progress=False, sleep=sleep,
                 hint="https://www.data.gouv.fr/datasets/5b7ffc618b4c4169d30727e0/")
    msg = str(err.value)
    assert "404" in msg and "resource id" in msg and "check https://www.data.gouv.fr/datasets/" in msg
    assert isinstance(err.value, UserError)
    assert sleep.waits == [] and len(srv.requests) == 1
    assert not dest.exists() and not part_path(dest).exists()


def test_corrupted_body_is_deleted(srv, tmp_path):
    url = srv.add_file("/f.parquet", BODY)
    srv.script("/f.parquet", [Corrupt(at=1234)])
    dest = tmp_path / "f.parquet"
    with pytest.raises(DownloadError, match="failed verification: sha256"):
        download(url, dest, expected_size=len(BODY), expected_sha256=SHA256, progress=False)
    assert not dest.exists() and not part_path(dest).exists()


def test_sha1_mismatch_and_wrong_size_are_caught(srv, tmp_path):
    url = srv.add_file("/f.parquet", BODY)
    with pytest.raises(DownloadError, match="sha1"):
        download(url, tmp_path / "a", expected_sha1="0" * 40, progress=False)
    with pytest.raises(DownloadError, match=f"size {len(BODY)} bytes, expected 10"):
        download(url, tmp_path / "b", expected_size=10, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_bad_resume_restarts_once_from_scratch(srv, tmp_path):
    """A stale .part from another version of the file: the resumed result fails, one clean download follows."""
    url = srv.add_file("/f.zip", BODY)
    dest = tmp_path / "f.zip"
    part_path(dest).write_bytes(b"\x00" * 1000)
    res = download(url, dest, expected_sha256=SHA256, progress=False)
    ranges = [r.headers.get("Range") for r in srv.requests_for("/f.zip")]
    assert ranges == ["bytes=1000-", None]
    assert dest.read_bytes() == BODY and res.resumed is False


def test_complete_part_of_another_version_is_downloaded_again(srv, tmp_path):
    """A previous run stopped before the rename, and the server now holds another version of the same size."""
    url = srv.add_file("/f.zip", BODY)
    dest = tmp_path / "f.zip"
    part_path(dest).write_bytes(b"\x01" * len(BODY))
    res = download(url, dest, expected_size=len(BODY), expected_sha256=SHA256, progress=False)
    assert [r.headers.get("Range") for r in srv.requests_for("/f.zip")] == [None]  # no range: it was all there
    assert dest.read_bytes() == BODY and not res.resumed


def test_complete_file_is_not_downloaded_again(srv, tmp_path):
    url = srv.add_file("/f.zip", BODY)
    dest = tmp_path / "f.zip"
    first = download(url, dest, expected_sha256=SHA256, progress=False)
    second = download(url, dest, expected_size=len(BODY), expected_sha256=SHA256, progress=False)
    assert len(srv.requests) == 1
    assert second.skipped and not first.skipped
    assert second.sha256 == SHA256 and second.size == len(BODY)


def test_existing_file_with_wrong_checksum_is_replaced(srv, tmp_path):
    url = srv.add_file("/f.zip", BODY)
    dest = tmp_path / "f.zip"
    dest.write_bytes(b"last month's file")
    res = download(url, dest, expected_sha256=SHA256, progress=False)
    assert len(srv.requests) == 1 and not res.skipped
    assert dest.read_bytes() == BODY


def test_progress_line_format_and_silence_off_tty(capsys):
    clock = iter([0.0, 0.0, 2.0, 2.0]).__next__
    out = io.StringIO()
    p = Progress("StockEtablissement_utf8.zip", 50_000_000, stream=out, clock=clock, force=True)
    p.update(0)
    p.update(25_000_000)
    p.close()
    lines = out.getvalue()
    assert "25.0 / 50.0 MB   50.0 %  12.5 MB/s" in lines and lines.endswith("\n")
    # download() draws nothing when stderr is not a terminal (pytest's capture is not one)
    assert not Progress("x", None).enabled


def test_manifest_write_merge_and_read(tmp_path, srv):
    url = srv.add_file("/a.parquet", BODY)
    snap = tmp_path / "sirene" / "2026-04"
    res = download(url, snap / "a.parquet", progress=False)
    source = {"source": "sirene", "title": "Base Sirene"}
    write_manifest(snap, [res], source=source, millesime="2026-04", extra={"regle_millesime": "rule"})
    write_manifest(snap, [{"name": "b.zip", "url": "u", "final_url": "u", "size": 1, "sha256": "x",
                           "retrieved_at": "2026-05-02T00:00:00+00:00"}])
    m = read_manifest(snap)
    assert m["source"] == source and m["millesime"] == "2026-04" and m["regle_millesime"] == "rule"
    assert [f["name"] for f in m["files"]] == ["a.parquet", "b.zip"]
    a = m["files"][0]
    assert set(a) >= {"name", "url", "final_url", "size", "sha256", "retrieved_at"}
    assert (a["size"], a["sha256"], a["url"]) == (len(BODY), SHA256, url)
    # an entry of the same name replaces the old one
    write_manifest(snap, [{**a, "sha256": "new"}])
    assert [f["sha256"] for f in read_manifest(snap)["files"]] == ["new", "x"]
    assert [p.name for p in snap.iterdir() if p.name.startswith(".")] == []  # no temp file left
    assert json.loads((snap / "manifest.json").read_text())["updated_at"]


def test_read_manifest_missing_and_broken(tmp_path):
    assert read_manifest(tmp_path) == {}
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(UserError, match="manifest.json is not valid JSON"):
        read_manifest(tmp_path)
