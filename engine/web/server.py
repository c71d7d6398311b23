"""The HTTP shell of `tuneplan serve`: the standard library's threading server, with the guards a
local editing server needs (body size limit, JSON-only POSTs, Host and Origin checks against DNS
rebinding and cross-site requests) in front of ``WebApp.handle``."""

from __future__ import annotations

import ipaddress
import json
import logging
import re
import socket
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from engine.web.api import Request, Response, WebApp

log = logging.getLogger("engine.web")

MAX_BODY_BYTES = 1024 * 1024
MAX_DRAIN_BYTES = 8 * MAX_BODY_BYTES   # read and drop an oversized body up to this, so the client sees the 413
SOCKET_TIMEOUT_S = 30
_LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1", "[::1]"}
_HOST = re.compile(r"(?P<name>[A-Za-z0-9.\-]+|\[[0-9A-Fa-f:.]+\])(?::(?P<port>[0-9]{1,5}))?")  # name[:port], strictly
_SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; "
                               "script-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


def is_loopback(host: str) -> bool:
    """Whether a listening address is only reachable from this machine."""
    if host.strip("[]") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class TuneplanServer(ThreadingHTTPServer):
    """A threading HTTP server that carries the app and its limits."""

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # socketserver prints tracebacks to stderr; the library logs instead (the CLI decides where to)
        log.exception("error while serving %s", client_address)

    def __init__(self, address: tuple[str, int], app: WebApp, *, max_body_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.loopback_only = is_loopback(address[0])
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)

    @property
    def url(self) -> str:
        """The base URL the server answers on."""
        host, port = self.server_address[:2]
        name = host.decode() if isinstance(host, bytes) else host
        shown = f"[{name}]" if ":" in name else name
        return f"http://{shown}:{port}"


class _Handler(BaseHTTPRequestHandler):
    server: TuneplanServer
    server_version = "tuneplan"
    sys_version = ""
    protocol_version = "HTTP/1.1"
    timeout = SOCKET_TIMEOUT_S

    def do_GET(self) -> None:
        self._serve()

    def do_HEAD(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def _serve(self) -> None:
        try:
            response = self._respond()
        except Exception:  # the HTTP layer itself failed: still no traceback to the client
            log.exception("internal error in the HTTP layer")
            response = Response.json({"error": "internal error; see the server log", "problems": []}, 500)
        self._send(response)

    def _respond(self) -> Response:
        split = urlsplit(self.path)
        refusal = self._refuse_host()
        if refusal is not None:
            return self._refused(refusal)
        body = b""
        if self.command in ("POST", "PUT", "DELETE"):
            refusal = self._refuse_cross_site()
            if refusal is not None:
                return self._refused(refusal)
            read = self._read_body()
            if isinstance(read, Response):
                return read
            body = read
        elif (self.headers.get("Content-Length") or "0").strip() not in ("", "0") or self.headers.get(
                "Transfer-Encoding"):
            # a GET/HEAD with a body: never leave it on the connection to be read as the next request
            return self._refused(_error(400, f"a {self.command} request has no body"))
        try:
            query = dict(parse_qsl(split.query, keep_blank_values=True, strict_parsing=False, max_num_fields=200))
        except ValueError as exc:
            return _error(400, f"bad query string: {exc}")
        host = self.headers.get("Host") or self.server.url.removeprefix("http://")
        request = Request(self.command, split.path, query, body, base_url=f"http://{host}")
        return self.server.app.handle(request)

    def _refused(self, response: Response) -> Response:
        """An answer given before the body was read: the body is discarded (within the drain limit) and the
        connection closed, so that nothing the client sent after the headers is read as a next request."""
        self.close_connection = True
        raw = (self.headers.get("Content-Length") or "0").strip()
        if raw.isdigit() and "chunked" not in (self.headers.get("Transfer-Encoding") or "").lower():
            self._drain(int(raw))
        return response

    def _refuse_host(self) -> Response | None:
        # DNS rebinding: a page of another site that resolves its name to 127.0.0.1 sends its own Host
        if not self.server.loopback_only:
            return None
        host = (self.headers.get("Host") or "").strip()
        match = _HOST.fullmatch(host)
        port = str(self.server.server_address[1])
        if match is None or match.group("name").lower() not in _LOOPBACK_NAMES or (
                match.group("port") is not None and match.group("port") != port):
            shown = repr(host[:100]) if host else "(none)"
            return _error(403, f"Host {shown} refused: this server answers on localhost only "
                               f"(Host must be localhost, 127.0.0.1 or [::1], with port {port} if any)")
        return None

    def _refuse_cross_site(self) -> Response | None:
        origin = self.headers.get("Origin")
        if origin and origin != "null" and urlsplit(origin).netloc != (self.headers.get("Host") or ""):
            return _error(403, f"cross-site request from {origin[:100]!r} refused")
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if content_type != "application/json":
            # a JSON content type also makes browsers ask first (CORS preflight), which this server denies
            return _error(415, "send the body as JSON with 'Content-Type: application/json'")
        return None

    def _read_body(self) -> bytes | Response:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            self.close_connection = True
            return _error(411, "chunked bodies are not accepted; send Content-Length")
        raw_length = self.headers.get("Content-Length") or "0"
        try:
            length = int(raw_length)
        except ValueError:
            length = -1
        if length < 0:
            self.close_connection = True
            return _error(400, f"bad Content-Length {raw_length[:40]!r}")
        if length > self.server.max_body_bytes:
            self.close_connection = True
            self._drain(length)
            return _error(413, f"the body is {length} bytes; the limit is {self.server.max_body_bytes} bytes")
        return self.rfile.read(length)

    def _drain(self, length: int) -> None:
        remaining = min(length, MAX_DRAIN_BYTES)
        try:
            while remaining > 0:
                chunk = self.rfile.read(min(remaining, 65536))
                if not chunk:
                    break
                remaining -= len(chunk)
        except OSError:
            pass

    def _send(self, response: Response) -> None:
        self.send_response(response.status)
        headers = {**_SECURITY_HEADERS, "Content-Type": response.content_type,
                   "Content-Length": str(len(response.body)), "Cache-Control": "no-store", **response.headers}
        if self.close_connection:
            headers["Connection"] = "close"
        try:
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(response.body)
        except ConnectionError:  # the page gave up on it (a newer keystroke aborted the fetch): not an error
            self.close_connection = True
            log.debug("client closed the connection before the answer to %s", self.path)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        # http.server's own errors (bad request line, URI too long) answer JSON like every other error
        self.close_connection = True
        body = json.dumps({"error": message or explain or f"HTTP {code}", "problems": []}).encode()
        try:
            self.send_response(code, message)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD" and code >= 200 and code not in (204, 304):
                self.wfile.write(body)
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:
        log.info("%s %s", self.address_string(), format % args)


def _error(status: int, message: str) -> Response:
    return Response.json({"error": message, "problems": []}, status)


def make_server(rules_dir: str | Path, host: str = "127.0.0.1", port: int = 8000, *, allow_edit: bool = False,
                max_body_bytes: int = MAX_BODY_BYTES) -> TuneplanServer:
    """A server over ``rules_dir``, bound and ready for ``serve_forever()`` (port 0 picks a free one)."""
    return TuneplanServer((host, port), WebApp(rules_dir, allow_edit=allow_edit), max_body_bytes=max_body_bytes)
