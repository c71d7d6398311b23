"""The HTTP shell of `tuneplan serve`: the standard library's threading server, with the guards a
local editing server needs (body size limit, JSON-only POSTs, Host and Origin checks against DNS
rebinding and cross-site requests, and a token on every POST when it listens beyond this machine) in
front of ``WebApp.handle``."""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import json
import logging
import re
import secrets
import socket
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from engine.web.api import WebApp
from engine.web.http import Request, Response

log = logging.getLogger("engine.web")

MAX_BODY_BYTES = 1024 * 1024
MAX_DRAIN_BYTES = 8 * MAX_BODY_BYTES   # read and drop an oversized body up to this, so the client sees the 413
SOCKET_TIMEOUT_S = 30
TOKEN_HEADER = "X-Tuneplan-Token"
_LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
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


def _wildcard(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_unspecified
    except ValueError:
        return False


def _own_names(host: str, allowed: tuple[str, ...]) -> frozenset[str]:
    """The Host names this server answers to: loopback names, the address it was given, for a wildcard
    bind (0.0.0.0, ::) this machine's names and addresses, and the ``allowed`` extra names."""
    names = set(_LOOPBACK_NAMES) | {host.strip("[]").lower()} | {a.strip("[]").lower() for a in allowed}
    if _wildcard(host):
        hostname = socket.gethostname()
        names |= {hostname.lower(), socket.getfqdn().lower()}
        with contextlib.suppress(OSError):   # a host name that does not resolve: its name still counts
            names |= {str(info[4][0]).lower() for info in socket.getaddrinfo(hostname, None)}
    return frozenset(names)


class TuneplanServer(ThreadingHTTPServer):
    """A threading HTTP server that carries the app and its limits. Bound beyond loopback, it makes a
    token (``token``) that every POST must carry in the ``X-Tuneplan-Token`` header."""

    daemon_threads = True
    request_queue_size = 128   # the standard library's 5 resets connections under a burst of clients

    def handle_error(self, request: Any, client_address: Any) -> None:
        # socketserver prints tracebacks to stderr; the library logs instead (the CLI decides where to)
        log.exception("error while serving %s", client_address)

    def __init__(self, address: tuple[str, int], app: WebApp, *, max_body_bytes: int = MAX_BODY_BYTES,
                 token: str | None = None, allowed_hosts: tuple[str, ...] = (),
                 socket_timeout_s: float = SOCKET_TIMEOUT_S) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.socket_timeout_s = socket_timeout_s
        self.loopback_only = is_loopback(address[0])
        # under DNS rebinding another site's page is same-origin with this server, so Origin checks prove
        # nothing: beyond loopback, a secret only the person who started the server has must come along
        self.token = None if self.loopback_only else (token or secrets.token_urlsafe(24))
        self.own_names = _own_names(address[0], allowed_hosts)
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)

    @property
    def url(self) -> str:
        """The base URL the server answers on."""
        name = self.bound_host
        shown = f"[{name}]" if ":" in name else name
        return f"http://{shown}:{self.server_address[1]}"

    @property
    def bound_host(self) -> str:
        """The address the server listens on, as text."""
        host = self.server_address[0]
        return bytes(host).decode() if isinstance(host, bytes | bytearray) else str(host)

    @property
    def start_url(self) -> str:
        """The URL to open: with the token in its fragment (never sent to the server, kept by the page); for
        a wildcard bind (0.0.0.0, ::), by this machine's host name, which other machines can reach."""
        url = self.url
        if _wildcard(self.bound_host):
            url = f"http://{socket.gethostname()}:{self.server_address[1]}"
        return f"{url}/#token={self.token}" if self.token else f"{url}/"


class _Handler(BaseHTTPRequestHandler):
    server: TuneplanServer
    server_version = "tuneplan"
    sys_version = ""
    protocol_version = "HTTP/1.1"
    timeout = SOCKET_TIMEOUT_S
    disable_nagle_algorithm = True   # with delayed ACKs, Nagle stalls every keep-alive answer by ~40 ms
    wbufsize = 64 * 1024             # headers and body leave in one send (flushed after each request)

    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(self.server.socket_timeout_s)

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
            refusal = self._refuse_cross_site() or self._refuse_without_token()
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
        # DNS rebinding: a page of another site that resolves its name to this machine sends its own Host
        host = (self.headers.get("Host") or "").strip()
        match = _HOST.fullmatch(host)
        port = str(self.server.server_address[1])
        if match is None or match.group("name").strip("[]").lower() not in self.server.own_names or (
                match.group("port") is not None and match.group("port") != port):
            shown = repr(host[:100]) if host else "(none)"
            if self.server.loopback_only:
                return _error(403, f"Host {shown} refused: this server answers on localhost only "
                                   f"(Host must be localhost, 127.0.0.1 or [::1], with port {port} if any)")
            return _error(403, f"Host {shown} refused: this server answers to "
                               f"{', '.join(sorted(self.server.own_names))} (port {port}); start it with "
                               "--allow-host NAME for another name")
        return None

    def _refuse_without_token(self) -> Response | None:
        expected = self.server.token
        if expected is None:
            return None
        given = self.headers.get(TOKEN_HEADER) or ""
        if not hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode()):
            return _error(403, f"this server listens beyond this machine, so a POST needs the token printed "
                               f"when it started (header {TOKEN_HEADER}); open the URL it printed, which "
                               "hands the token to the page")
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
        if length < 0 or len(raw_length) > 20:
            self.close_connection = True
            return _error(400, f"bad Content-Length {raw_length[:40]!r}")
        if length > self.server.max_body_bytes:
            self.close_connection = True
            self._drain(length)
            return _error(413, f"the body is {length} bytes; the limit is {self.server.max_body_bytes} bytes")
        try:
            body = self.rfile.read(length)
        except TimeoutError:
            self.close_connection = True
            return _error(408, f"the body did not arrive within {self.server.socket_timeout_s:g} s")
        if len(body) < length:
            self.close_connection = True
            return _error(400, f"the body ended after {len(body)} of the {length} bytes Content-Length promised")
        return body

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
            self.wfile.flush()
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
                max_body_bytes: int = MAX_BODY_BYTES, token: str | None = None,
                allowed_hosts: tuple[str, ...] = (), socket_timeout_s: float = SOCKET_TIMEOUT_S) -> TuneplanServer:
    """A server over ``rules_dir``, bound and ready for ``serve_forever()`` (port 0 picks a free one)."""
    return TuneplanServer((host, port), WebApp(rules_dir, allow_edit=allow_edit), max_body_bytes=max_body_bytes,
                          token=token, allowed_hosts=allowed_hosts, socket_timeout_s=socket_timeout_s)
