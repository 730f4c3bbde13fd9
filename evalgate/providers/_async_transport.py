"""The HTTP providers' transport on the event loop: a pool of kept-alive connections, each one an
``asyncio`` protocol (``_async_connection.Connection``) that parses its responses as the bytes arrive.

A request costs one ``write`` and one future: the protocol resolves the future when the whole response is
in, so a response that arrives in one read (the usual case) wakes the waiting coroutine once. That is about
a quarter of the CPU of a blocking ``http.client`` call on a worker thread, whose cost is mostly thread
wake-ups and GIL hand-offs, and well under ``asyncio.StreamReader`` (a future per read, per line).

Requests are the threaded ``Transport``'s (same head, proxy, TLS context), and failures are the exceptions
``http.client`` raises for the same trouble, so ``post_json`` classifies both transports alike: connection
problems are ``OSError`` (refused, ``ConnectionResetError``, ``RemoteDisconnected`` when the server closed
before answering), protocol garbage is ``http.client.HTTPException`` (``BadStatusLine``, ``LineTooLong``,
``IncompleteRead``, ``UnknownProtocol``), and a body over the cap is ``BodyTooLarge``.

The deadline is the caller's: ``asyncio.timeout`` around ``post`` cancels it, and a cancelled ``post``
aborts the connection it was using, so no connection holding half a response goes back to the pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncGenerator, Mapping

from evalgate.providers._async_connection import READ_SIZE, Connection
from evalgate.providers._transport import Response, _Endpoint

# failures of a reused connection that mean the server had dropped it: the request is sent once more
_STALE = (ConnectionResetError, BrokenPipeError)  # http.client.RemoteDisconnected is a ConnectionResetError


class AsyncTransport(_Endpoint):
    """POSTs to one URL over a pool of kept-alive connections on the running event loop.

    Idle connections are reused last-in first-out; a new one is opened when none is idle (the caller bounds
    the concurrency). One transport serves one loop at a time: on a new loop the old connections are
    dropped. ``asyncio.run`` closes the pool itself before it closes its loop, so a ``close`` afterwards
    (which is safe) has nothing left to do. After a loop closed otherwise, ``close`` can only shut the
    sockets down; asyncio closes their descriptors when it frees its transports (with a ResourceWarning).
    """

    def __init__(self, url: str, *, env: Mapping[str, str] | None = None) -> None:
        super().__init__(url, env)
        self._idle: list[Connection] = []
        view = memoryview(bytearray(READ_SIZE))
        self._new = functools.partial(Connection, view)  # the loop reads each socket into the one buffer
        self._open: set[Connection] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._guard: AsyncGenerator[None, None] | None = None

    async def post(self, body: bytes, headers: Mapping[str, str], max_bytes: int) -> Response:
        """Send one POST; connection problems raise ``OSError``/``HTTPException``, as ``Transport.post``."""
        message = self._head(headers, len(body)) + body
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            await self._bind(loop)
        idle = self._idle
        conn: Connection | None = None
        while idle:
            conn = idle.pop()
            if conn.usable:
                break
            self._drop(conn)  # the server closed it while idle
            conn = None
        reused = conn is not None
        while True:
            if conn is None:
                conn = await self._connect(loop)
            waiter: asyncio.Future[Response] = loop.create_future()
            conn.request(message, waiter, max_bytes)
            try:
                response = await waiter
            except _STALE:
                self._drop(conn)
                if not reused or conn.seen:
                    raise
                reused = False  # a kept-alive connection the server had dropped: once more, fresh
                conn = None
                continue
            except BaseException:  # CancelledError included: never a half-read connection in the pool
                self._drop(conn)
                raise
            if conn.usable:
                idle.append(conn)
            else:
                self._open.discard(conn)
                conn.transport.close()
            return response

    def close(self) -> None:
        """Abort every connection, idle or in use; safe after the loop has ended, and twice."""
        conns, self._open = self._open, set()
        self._idle.clear()
        for conn in conns:
            conn.abort()
        guard, self._guard = self._guard, None
        self._loop = None
        if guard is not None:  # finished here, never left for a closed loop to finalize
            closing = guard.aclose()
            with contextlib.suppress(StopIteration):
                closing.send(None)

    async def _bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self.close()  # an earlier loop's connections are of no use on this one
        self._loop = loop
        guard = self._guard = self._until_loop_ends()
        await guard.__anext__()

    async def _until_loop_ends(self) -> AsyncGenerator[None, None]:
        # An async generator the loop knows of: asyncio.run closes it (shutdown_asyncgens) after cancelling
        # the tasks and before closing the loop, while the loop can still close the sockets.
        try:
            yield
        finally:
            if self._guard is not None:
                self._guard = None
                self.close()

    async def _connect(self, loop: asyncio.AbstractEventLoop) -> Connection:
        proxy = self._proxy
        if proxy is None:
            hostname = self.host if self._tls is not None else None
            _, conn = await loop.create_connection(
                self._new, self.host, self.port, ssl=self._tls, server_hostname=hostname
            )
        elif not self.https:
            _, conn = await loop.create_connection(self._new, proxy[0], proxy[1])
        else:
            conn = await self._tunnel(loop, proxy)
        self._open.add(conn)
        return conn

    async def _tunnel(
        self, loop: asyncio.AbstractEventLoop, proxy: tuple[str, int, dict[str, str]]
    ) -> Connection:
        """A CONNECT tunnel through an HTTP proxy, then TLS with the server over it."""
        raw, conn = await loop.create_connection(self._new, proxy[0], proxy[1])
        try:
            named = f"[{self.host}]" if ":" in self.host else self.host
            lines = [f"CONNECT {named}:{self.port} HTTP/1.1", f"Host: {named}:{self.port}"]
            lines += [f"{name}: {value}" for name, value in proxy[2].items()]
            waiter: asyncio.Future[Response] = loop.create_future()
            conn.request(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"), waiter, 0, tunnel=True)
            answer = await waiter
            if answer.status != 200:
                raise OSError(f"Tunnel connection failed: {answer.status} {answer.reason}")
            assert self._tls is not None
            tls = await loop.start_tls(raw, conn, self._tls, server_hostname=self.host)
            if tls is None:  # pragma: no cover - only when the loop has been closed meanwhile
                raise ConnectionAbortedError("TLS over the proxy tunnel did not start")
        except BaseException:
            raw.abort()
            raise
        conn.transport = tls
        conn.tunnel = False
        return conn

    def _drop(self, conn: Connection) -> None:
        self._open.discard(conn)
        conn.abort()
