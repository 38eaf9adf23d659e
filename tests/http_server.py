"""A small HTTP server on 127.0.0.1 (random free port, own thread) for tests that download.

It serves byte bodies with optional Range support, JSON, redirects, and scripted misbehaviour per path (errors,
a connection cut mid-body, a corrupted body), and records every request (path, query, headers).

    with LocalServer() as srv:
        srv.add_file("/files/a.csv", b"...")
        srv.add_redirect("/datasets/r/abc", "/files/a.csv")
        srv.script("/files/a.csv", [Fail(503, {"Retry-After": "3"}), Cut(100)])
        download(srv.url("/datasets/r/abc"), dest)
        srv.requests_for("/files/a.csv")[1].headers["Range"]
"""

from __future__ import annotations

import json
import re
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass
class Fail:
    """Answer this status (with headers and an optional body) instead of the resource."""

    status: int
    headers: dict = field(default_factory=dict)
    body: bytes = b""


@dataclass
class Cut:
    """Announce the full length, send only `after` bytes of the (possibly ranged) body, then drop the connection."""

    after: int


@dataclass
class Corrupt:
    """Serve the body with one byte flipped (same length)."""

    at: int = 0


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]


@dataclass
class _Route:
    kind: str  # "body" | "redirect"
    body: bytes = b""
    content_type: str = "application/octet-stream"
    ranges: bool = True  # honour Range requests (206); False = always answer 200 with the whole body
    target: str = ""
    status: int = 200
    headers: dict = field(default_factory=dict)
    script: list = field(default_factory=list)  # actions consumed one per request, then normal service


class LocalServer:
    def __init__(self) -> None:
        self.routes: dict[str, _Route] = {}
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- set-up ---
    def add_file(self, path: str, body: bytes, *, content_type: str = "application/octet-stream",
                 ranges: bool = True, headers: dict | None = None) -> str:
        self.routes[path] = _Route("body", body=body, content_type=content_type, ranges=ranges,
                                   headers=dict(headers or {}))
        return self.url(path)

    def add_json(self, path: str, obj) -> str:
        return self.add_file(path, json.dumps(obj).encode(), content_type="application/json", ranges=False)

    def add_redirect(self, path: str, target: str, status: int = 302) -> str:
        self.routes[path] = _Route("redirect", target=target, status=status)
        return self.url(path)

    def script(self, path: str, actions: list) -> None:
        """Misbehave on the next requests of `path`, one action per request (Fail, Cut, Corrupt)."""
        self.routes[path].script = list(actions)

    def url(self, path: str = "") -> str:
        assert self._httpd is not None, "server not started"
        return f"http://127.0.0.1:{self._httpd.server_address[1]}{path}"

    # --- inspection ---
    def requests_for(self, path: str) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    # --- life cycle ---
    def start(self) -> "LocalServer":
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output clean
                pass

            def do_GET(self):
                server._handle(self)

            do_HEAD = do_GET

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02},
                                        name="test-http", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> "LocalServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- serving ---
    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(h.path)
        with self._lock:
            self.requests.append(Request(h.command, parts.path, parse_qs(parts.query), dict(h.headers.items())))
            route = self.routes.get(parts.path)
            action = route.script.pop(0) if route is not None and route.script else None
        if route is None:
            return _send(h, 404, b"not found", {"Content-Type": "text/plain"})
        if isinstance(action, Fail):
            return _send(h, action.status, action.body, action.headers)
        if route.kind == "redirect":
            target = route.target if "://" in route.target else self.url(route.target)
            return _send(h, route.status, b"", {"Location": target})

        body = route.body
        if isinstance(action, Corrupt):
            body = body[: action.at] + bytes([body[action.at] ^ 0xFF]) + body[action.at + 1:]
        status, start, headers = 200, 0, {"Content-Type": route.content_type, "Accept-Ranges": "bytes",
                                          "ETag": f'"{len(route.body)}-{hash(route.body) & 0xFFFFFF:x}"',
                                          **route.headers}
        m = re.fullmatch(r"bytes=(\d+)-(\d*)", h.headers.get("Range", ""))
        if m and route.ranges:
            start = int(m.group(1))
            end = int(m.group(2)) if m.group(2) else len(body) - 1
            if start >= len(body):
                return _send(h, 416, b"", {"Content-Range": f"bytes */{len(body)}"})
            headers["Content-Range"] = f"bytes {start}-{end}/{len(body)}"
            status, body = 206, body[start: end + 1]
        if not route.ranges:
            headers.pop("Accept-Ranges")
        if isinstance(action, Cut):
            return _send(h, status, body, headers, cut_after=action.after)
        return _send(h, status, body, headers)


def _send(h: BaseHTTPRequestHandler, status: int, body: bytes, headers: dict, cut_after: int | None = None) -> None:
    h.send_response(status)
    for key, value in headers.items():
        h.send_header(key, value)
    h.send_header("Content-Length", str(len(body)))
    if cut_after is not None:
        h.send_header("Connection", "close")
    h.end_headers()
    if h.command != "HEAD":
        h.wfile.write(body if cut_after is None else body[:cut_after])
    h.wfile.flush()
    if cut_after is not None:
        h.close_connection = True
        try:
            h.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
