"""The HTTP providers' transport: one keep-alive ``http.client`` connection per worker thread.

``requests`` costs about 1 ms of CPU per call (it re-reads proxy settings and ``~/.netrc`` from the
environment, merges settings and builds several dicts on every request); ``http.client`` on a kept-alive
connection costs about a quarter of that, which is what a run of 10,000 cases is made of. Everything that
does not change between calls is worked out once per endpoint here: the proxy (``HTTP(S)_PROXY`` /
``NO_PROXY``), the TLS context (the CA bundle ``requests`` would use) and the request target.

Each attempt registers its socket with the running ``Attempt`` (``_deadline``), whose watchdog shuts the
socket down when the attempt's total deadline passes or the run is cancelled.
"""

from __future__ import annotations

import base64
import http.client
import os
import re
import select
import socket
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from evalgate import __version__

if TYPE_CHECKING:
    import ssl

    from evalgate.providers._deadline import Attempt

USER_AGENT = f"evalgate/{__version__}"
_DEFAULT_HEADERS = (
    ("User-Agent", USER_AGENT),
    ("Accept", "application/json"),
    ("Accept-Encoding", "identity"),
)
_CHUNK = 65536


class BodyTooLarge(Exception):
    """The response body passed the size cap."""


class Response:
    """A whole response: status, reason, lower-cased headers, body bytes."""

    __slots__ = ("body", "headers", "reason", "status")

    def __init__(self, status: int, reason: str, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body


class _Headers:
    """Response headers without the ``email`` package: ``http.client`` parses every response's headers
    with ``email.feedparser``, which is about a third of the client's CPU per call."""

    __slots__ = ("_by_name", "_pairs")

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self._pairs = pairs
        self._by_name: dict[str, list[str]] = {}
        for name, value in pairs:
            self._by_name.setdefault(name.lower(), []).append(value)

    def get(self, name: str, default: str | None = None) -> str | None:
        values = self._by_name.get(name.lower())
        return values[0] if values else default

    def get_all(self, name: str, default: list[str] | None = None) -> list[str] | None:
        return self._by_name.get(name.lower(), default)

    def items(self) -> list[tuple[str, str]]:
        return list(self._pairs)


def _parse_header_lines(lines: list[bytes]) -> _Headers:
    return _Headers(_header_pairs([raw.decode("iso-8859-1") for raw in lines]))


def _header_pairs(lines: list[str]) -> list[tuple[str, str]]:
    """(name, value) pairs of decoded header lines (line ends optional), folded continuations joined.

    Two ``Content-Length`` headers that disagree are refused (``HTTPException``), as RFC 9112 asks: a
    client that picked one of them could take part of the next answer for this one's body.
    """
    pairs: list[tuple[str, str]] = []
    length: str | None = None
    for text in lines:
        line = text.rstrip("\r\n")
        if not line:
            continue
        if line[0] in " \t" and pairs:  # an obsolete folded continuation of the previous header
            name, value = pairs[-1]
            pairs[-1] = (name, f"{value} {line.strip()}")
            continue
        name, sep, value = line.partition(":")
        if sep:
            name, value = name.strip(), value.strip()
            if len(name) == 14 and name.lower() == "content-length":
                if length is not None and value != length:
                    raise http.client.HTTPException(f"conflicting Content-Length headers: {length}, {value}")
                length = value
            pairs.append((name, value))
    return pairs


class _Response(http.client.HTTPResponse):
    """``HTTPResponse`` with ``begin`` as in CPython 3.11-3.13, headers parsed by ``_parse_header_lines``."""

    def begin(self) -> None:
        if self.headers is not None:
            return
        while True:
            version, status, reason = self._read_status()
            if status != http.client.CONTINUE:
                break
            http.client._read_headers(self.fp)  # skip a 100's headers
        self.code = self.status = status
        self.reason = reason.strip()
        if version in ("HTTP/1.0", "HTTP/0.9"):
            self.version = 10
        elif version.startswith("HTTP/1."):
            self.version = 11
        else:
            raise http.client.UnknownProtocol(version)
        headers = _parse_header_lines(http.client._read_headers(self.fp))
        self.headers = self.msg = headers
        encoding = headers.get("transfer-encoding")
        self.chunked = bool(encoding and encoding.lower() == "chunked")
        self.chunk_left = None
        self.will_close = self._check_close()
        self.length = None
        length = headers.get("content-length")
        if length and not self.chunked:
            try:
                self.length = int(length)
            except ValueError:
                self.length = None
            else:
                if self.length < 0:
                    self.length = None
        if status in (http.client.NO_CONTENT, http.client.NOT_MODIFIED) or 100 <= status < 200:
            self.length = 0
        if self._method == "HEAD":
            self.length = 0
        if not self.will_close and not self.chunked and self.length is None:
            self.will_close = True


class _Endpoint:
    """What both transports work out once per URL: target, Host, proxy, TLS context, the request head."""

    def __init__(self, url: str, env: Mapping[str, str] | None) -> None:
        env = os.environ if env is None else env
        parts = urlsplit(url)
        self.url = url
        self.https = parts.scheme == "https"
        self.host = parts.hostname or ""
        self.port = parts.port or (443 if self.https else 80)
        self.target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._proxy: tuple[str, int, dict[str, str]] | None = _proxy_for(parts.scheme, self.host, env)
        if self._proxy is not None and not self.https:
            self.target = url  # a plain-HTTP proxy wants the absolute URL
        default_port = 443 if self.https else 80
        named = f"[{self.host}]" if ":" in self.host else self.host  # an IPv6 literal
        self._host = named if self.port == default_port else f"{named}:{self.port}"
        self._tls = _tls_context(env) if self.https else None
        self._prefixes: dict[tuple[tuple[str, str], ...], bytes] = {}

    def _head(self, headers: Mapping[str, str], length: int) -> bytes:
        """The request line and headers: Host and the defaults added when absent, proxy credentials."""
        key = tuple(headers.items())
        prefix = self._prefixes.get(key)
        if prefix is None:  # a run sends the same few header sets again and again
            sent = dict(headers)
            if self._proxy is not None and not self.https:
                sent.update(self._proxy[2])  # a plain-HTTP proxy reads its credentials from each request
            given = {name.lower() for name in sent}
            for name, value in (("Host", self._host), *_DEFAULT_HEADERS):
                if name.lower() not in given:
                    sent[name] = value
            prefix = _request_prefix(self.target, sent)
            if len(self._prefixes) >= 64:
                self._prefixes.clear()
            self._prefixes[key] = prefix
        return b"%bContent-Length: %d\r\n\r\n" % (prefix, length)


class Transport(_Endpoint):
    """POSTs to one URL over per-thread keep-alive connections; ``close`` closes them all."""

    def __init__(self, url: str, *, env: Mapping[str, str] | None = None) -> None:
        super().__init__(url, env)
        self._local = threading.local()
        self._open: set[http.client.HTTPConnection] = set()
        self._lock = threading.Lock()

    def post(self, body: bytes, headers: Mapping[str, str], attempt: Attempt, max_bytes: int) -> Response:
        """Send one POST within ``attempt``; connection problems raise ``OSError``/``HTTPException``."""
        head = self._head(headers, len(body))
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        if conn is not None and conn.sock is not None and _dropped(conn.sock):
            self._discard(conn)  # the server closed it while idle
            conn = None
        reused = conn is not None
        response: _Response | None = None
        while True:
            if conn is None:
                conn = self._connection()
            try:
                if conn.sock is None:
                    conn.timeout = attempt.remaining()
                    conn.connect()
                sock = conn.sock
                assert sock is not None
                attempt.watch(sock)
                sock.settimeout(attempt.remaining())
                # written and read here rather than through conn.request/getresponse: http.client's
                # header-by-header request building is half of its CPU per call
                sock.sendall(head + body)
                response = _Response(sock, method="POST")
                response.begin()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self._discard(conn, response)
                conn = response = None
                if not reused or attempt.expired or attempt.cancelled:
                    raise
                reused = False  # a kept-alive connection the server had dropped: once more, fresh
            except BaseException:
                self._discard(conn, response)
                raise
        try:
            data = _read(response, max_bytes)
        except BaseException:
            self._discard(conn, response)
            raise
        if response.will_close:
            self._discard(conn)
        headers_in = {name.lower(): value for name, value in response.getheaders()}
        return Response(response.status, response.reason or "", headers_in, data)

    def close(self) -> None:
        """Close every connection this transport opened, on any thread."""
        with self._lock:
            conns, self._open = self._open, set()
        for conn in conns:
            conn.close()

    def _connection(self) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection
        if self._proxy is None:
            host, port = self.host, self.port
        else:
            host, port, _ = self._proxy
        if self.https:
            conn = http.client.HTTPSConnection(host, port, context=self._tls)
            if self._proxy is not None:
                conn.set_tunnel(self.host, self.port, headers=self._proxy[2])
        else:
            conn = http.client.HTTPConnection(host, port)
        conn.response_class = _Response
        self._local.conn = conn
        with self._lock:
            self._open.add(conn)
        return conn

    def _discard(self, conn: http.client.HTTPConnection, response: _Response | None = None) -> None:
        if response is not None:
            response.close()  # its file object holds the socket open until closed
        conn.close()
        if getattr(self._local, "conn", None) is conn:
            self._local.conn = None
        with self._lock:
            self._open.discard(conn)


# what http.client accepts: a header name without separators, a value without a bare line break
_HEADER_NAME = re.compile(r"[^:\s][^:\r\n]*")
_BAD_VALUE = re.compile(r"\n(?![ \t])|\r(?![ \t\n])")
_BAD_TARGET = re.compile(r"[\x00-\x20\x7f]")


def _request_prefix(target: str, headers: Mapping[str, str]) -> bytes:
    """A POST's request line and headers up to Content-Length, refused (``ValueError``) where they could
    smuggle a header."""
    if _BAD_TARGET.search(target):
        raise ValueError(f"URL can't contain control characters or spaces: {target!r}")
    lines = [f"POST {target} HTTP/1.1"]
    for name, value in headers.items():
        if not _HEADER_NAME.fullmatch(name):
            raise ValueError(f"Invalid header name {name!r}")
        if _BAD_VALUE.search(value):
            raise ValueError(f"Invalid header value {value!r}")
        lines.append(f"{name}: {value}")
    lines.append("")
    return "\r\n".join(lines).encode("latin-1")


def _read(response: http.client.HTTPResponse, max_bytes: int) -> bytes:
    if response.length is not None:  # Content-Length: one read of exactly that much
        if response.length > max_bytes:
            raise BodyTooLarge
        data = response.read()
        if len(data) < response.length:
            raise http.client.IncompleteRead(data, response.length - len(data))
        return data
    chunks: list[bytes] = []
    size = 0
    while chunk := response.read(_CHUNK):
        size += len(chunk)
        if size > max_bytes:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _dropped(sock: socket.socket) -> bool:
    """An idle kept-alive socket that is readable has been closed by the server (or sent junk)."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


def _proxy_for(scheme: str, host: str, env: Mapping[str, str]) -> tuple[str, int, dict[str, str]] | None:
    """The proxy ``requests`` would use: ``<scheme>_proxy`` or ``all_proxy``, unless ``no_proxy`` says not."""
    names = {k.lower(): v for k, v in env.items() if k.lower().endswith("_proxy") and v}
    proxy = names.get(f"{scheme}_proxy") or names.get("all_proxy")
    if not proxy or _bypassed(host, names.get("no_proxy", "")):
        return None
    if "://" not in proxy:
        proxy = f"http://{proxy}"
    parts = urlsplit(proxy)
    headers: dict[str, str] = {}
    if parts.username is not None:
        token = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
        headers["Proxy-Authorization"] = "Basic " + base64.b64encode(token).decode("ascii")
    return parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80), headers


def _bypassed(host: str, no_proxy: str) -> bool:
    host = host.lower()
    for entry in (e.strip().lower() for e in no_proxy.split(",")):
        if not entry:
            continue
        if entry == "*":
            return True
        entry = entry.split(":", 1)[0].lstrip(".")
        if host == entry or host.endswith("." + entry):
            return True
    return False


def _tls_context(env: Mapping[str, str]) -> ssl.SSLContext:
    """Verify against the CA bundle ``requests`` would use: ``REQUESTS_CA_BUNDLE``, then certifi's."""
    import ssl

    cafile = env.get("REQUESTS_CA_BUNDLE") or env.get("CURL_CA_BUNDLE") or None
    if cafile is None and not env.get("SSL_CERT_FILE"):
        try:
            import certifi

            cafile = certifi.where()
        except ImportError:  # pragma: no cover - requests (a dependency) brings certifi
            cafile = None
    return ssl.create_default_context(cafile=cafile)
