"""One HTTP/1.1 connection on the event loop: an ``asyncio`` protocol that sends a request and parses the
response from the bytes as they arrive, for ``AsyncTransport``'s pool.

The parse is incremental and resolves one future per response, so a response that arrives in one read (the
usual case) costs one wake-up of the waiting coroutine. Failures are the exceptions ``http.client`` raises
for the same trouble, with its limits (a line over 65,536 bytes, more than 100 headers).
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import socket

from evalgate.providers._transport import BodyTooLarge, Response, _header_pairs

_MAXLINE = 65536  # http.client's limits
_MAXHEADERS = 100
READ_SIZE = 65536
# where the parser is in the current response
_HEAD, _LENGTH, _SIZE, _CHUNK, _CHUNK_END, _TRAILER, _UNTIL_EOF = range(7)


class Connection(asyncio.BufferedProtocol):
    """One kept-alive connection: sends a request, then parses its response as the bytes arrive.

    Reads go into ``view``, which the connections of one transport share (each read is copied out before
    the loop reads again): a plain ``Protocol`` gets each read as a fresh 256 KiB ``recv`` buffer, whose
    allocation costs more than the rest of the parsing together.
    """

    __slots__ = (
        "body",
        "headers",
        "max_bytes",
        "need",
        "pending",
        "reason",
        "seen",
        "state",
        "status",
        "transport",
        "tunnel",
        "usable",
        "view",
        "waiter",
    )

    transport: asyncio.Transport

    def __init__(self, view: memoryview | None = None) -> None:
        self.view = memoryview(bytearray(READ_SIZE)) if view is None else view
        self.waiter: asyncio.Future[Response] | None = None
        self.usable = True  # False once closed by either side, after Connection: close, or after stray bytes
        self.seen = False  # a byte of the current response arrived
        self.tunnel = False  # reading the answer to CONNECT: a head without a body
        self.state = _HEAD
        self.pending = b""  # the unfinished head or line that the next read continues
        self.body = bytearray()
        self.need = 0
        self.max_bytes = 0
        self.status = 0
        self.reason = ""
        self.headers: dict[str, str] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def request(
        self, data: bytes, waiter: asyncio.Future[Response], max_bytes: int, tunnel: bool = False
    ) -> None:
        """Send ``data``; ``waiter`` gets the response or the error."""
        self.waiter = waiter
        self.max_bytes = max_bytes
        self.tunnel = tunnel
        self.seen = False
        self.transport.write(data)

    def abort(self) -> None:
        """Close at once; a request still waiting fails with ``ConnectionAbortedError``."""
        self.usable = False
        waiter, self.waiter = self.waiter, None
        try:
            if waiter is not None and not waiter.done():
                waiter.set_exception(ConnectionAbortedError("the transport was closed"))
            self.transport.abort()
        except RuntimeError:  # its loop has been closed, so nothing will close the socket: at least end it
            sock = self.transport.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.view

    def buffer_updated(self, nbytes: int) -> None:
        self.data_received(self.view[:nbytes].tobytes())

    def data_received(self, data: bytes) -> None:
        waiter = self.waiter
        if waiter is None or waiter.done():  # bytes nobody asked for: the connection is out of step
            self.usable = False
            self.transport.abort()
            return
        self.seen = True
        if self.pending:
            data = self.pending + data
            self.pending = b""
        try:
            self._feed(data)
        except Exception as exc:  # a protocol error: answer with it, never reuse the connection
            self.usable = False
            self.waiter = None
            waiter.set_exception(exc)

    def eof_received(self) -> bool:
        self.usable = False
        self._ended(None)
        return False  # the transport closes itself

    def connection_lost(self, exc: Exception | None) -> None:
        self.usable = False
        self._ended(exc)

    def _ended(self, exc: Exception | None) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is None or waiter.done():
            return
        error: Exception
        if exc is not None:
            error = exc if isinstance(exc, OSError) else ConnectionError(str(exc) or type(exc).__name__)
        elif self.state == _UNTIL_EOF:  # the close is the end of the body
            waiter.set_result(Response(self.status, self.reason, self.headers, bytes(self.body)))
            return
        elif not self.seen:
            error = http.client.RemoteDisconnected("Remote end closed connection without response")
        elif self.state == _HEAD:
            error = http.client.IncompleteRead(self.pending)
        else:
            error = http.client.IncompleteRead(bytes(self.body), self.need if self.state == _LENGTH else None)
        waiter.set_exception(error)

    def _feed(self, data: bytes) -> None:
        pos = 0
        end = len(data)
        while self.waiter is not None:
            state = self.state
            if state == _HEAD:
                pos = self._head(data, pos)
                if pos < 0:
                    return
            elif state in (_LENGTH, _CHUNK, _CHUNK_END):
                need = self.need
                if end - pos < need:
                    if state != _CHUNK_END:
                        self.body += memoryview(data)[pos:]
                    self.need = need - (end - pos)
                    return
                if state == _LENGTH:
                    if self.body:
                        self.body += memoryview(data)[pos : pos + need]
                        self._done(bytes(self.body))
                    else:
                        self._done(data[pos : pos + need])
                    pos += need
                    continue
                if state == _CHUNK:
                    self.body += memoryview(data)[pos : pos + need]
                    self.need = 2  # the line end after the chunk's data
                    self.state = _CHUNK_END
                else:
                    self.state = _SIZE
                pos += need
            elif state == _UNTIL_EOF:
                if len(self.body) + end - pos > self.max_bytes:
                    raise BodyTooLarge
                self.body += memoryview(data)[pos:]
                return
            else:  # a line: a chunk's size or a trailer
                nl = data.find(b"\n", pos)
                if nl < 0 or nl - pos >= _MAXLINE:
                    if end - pos >= _MAXLINE:
                        raise http.client.LineTooLong("chunk size" if state == _SIZE else "trailer line")
                    self.pending = data[pos:]
                    return
                line = data[pos:nl]
                pos = nl + 1
                if state == _TRAILER:
                    if line in (b"", b"\r"):
                        self._done(bytes(self.body))
                    continue
                try:
                    size = int(line.split(b";", 1)[0], 16)
                except ValueError:
                    raise http.client.IncompleteRead(bytes(self.body)) from None
                if size < 0:
                    raise http.client.IncompleteRead(bytes(self.body))
                if size == 0:
                    self.state = _TRAILER
                elif len(self.body) + size > self.max_bytes:
                    raise BodyTooLarge
                else:
                    self.need = size
                    self.state = _CHUNK
        if pos < end:  # bytes after the response: not a connection to send another request on
            self.usable = False

    def _head(self, data: bytes, pos: int) -> int:
        """Parse a status line and headers at ``pos``; where the body starts, or -1 until the head is in."""
        crlf = data.find(b"\n\r\n", pos)
        lf = data.find(b"\n\n", pos, None if crlf < 0 else crlf + 2)  # a bare-LF blank line first?
        if lf >= 0:
            stop, start = lf + 1, lf + 2
        elif crlf >= 0:
            stop, start = crlf + 1, crlf + 3
        else:
            _check_unfinished(data, pos)
            self.pending = data[pos:] if pos else data
            return -1
        lines = data[pos:stop].decode("iso-8859-1").split("\n")
        if stop - pos > _MAXLINE and max(map(len, lines)) >= _MAXLINE:
            raise http.client.LineTooLong("status line" if len(lines[0]) >= _MAXLINE else "header line")
        if len(lines) - 2 > _MAXHEADERS:
            raise http.client.HTTPException(f"got more than {_MAXHEADERS} headers")
        status_line = lines[0]
        parts = status_line.split(None, 2)
        version = parts[0] if len(parts) > 1 else ""
        if not version.startswith("HTTP/"):
            raise http.client.BadStatusLine(status_line)
        try:
            status = int(parts[1])
        except ValueError:
            raise http.client.BadStatusLine(status_line) from None
        if not 100 <= status <= 999:
            raise http.client.BadStatusLine(status_line)
        if status < 200 and not self.tunnel:  # an interim answer (100 Continue, 103 Early Hints)
            return start
        if version in ("HTTP/1.0", "HTTP/0.9"):
            closes = True
        elif version.startswith("HTTP/1."):
            closes = False
        else:
            raise http.client.UnknownProtocol(version)
        headers = {name.lower(): value for name, value in _header_pairs(lines[1:])}
        self.status = status
        self.reason = parts[2].strip() if len(parts) > 2 else ""
        self.headers = headers
        if self.tunnel or status == 204 or status == 304:
            self._done(b"")
            return start
        connection = headers.get("connection")
        if closes or (connection and "close" in connection.lower()):
            self.usable = False
        encoding = headers.get("transfer-encoding")
        if encoding and encoding.lower() == "chunked":
            self.state = _SIZE
            return start
        length: int | None = None
        if "content-length" in headers:
            try:
                length = int(headers["content-length"])
            except ValueError:
                length = None
        if length is None or length < 0:  # the body ends when the server closes the connection
            self.usable = False
            self.state = _UNTIL_EOF
        elif length > self.max_bytes:
            raise BodyTooLarge
        elif length == 0:
            self._done(b"")
        else:
            self.need = length
            self.state = _LENGTH
        return start

    def _done(self, body: bytes) -> None:
        waiter, self.waiter = self.waiter, None
        self.state = _HEAD
        self.body.clear()
        if waiter is not None:
            waiter.set_result(Response(self.status, self.reason, self.headers, body))


def _check_unfinished(data: bytes, pos: int) -> None:
    """http.client's limits on a head that is not complete yet: a line or the header count already over."""
    if len(data) - pos < _MAXLINE:
        return
    if len(data) - pos > (_MAXHEADERS + 2) * _MAXLINE:  # so some line is already too long
        raise http.client.LineTooLong("header line")
    last = data.rfind(b"\n", pos)
    if len(data) - (last + 1 if last >= 0 else pos) >= _MAXLINE:
        raise http.client.LineTooLong("status line" if last < 0 else "header line")
    if data.count(b"\n", pos) - 1 > _MAXHEADERS:
        raise http.client.HTTPException(f"got more than {_MAXHEADERS} headers")
