"""A total deadline per HTTP attempt, whatever the server does, and aborts on SIGINT/SIGTERM.

A socket timeout applies to each socket operation, so a server that trickles one byte a second keeps a
call alive for as long as it likes. Here the transport registers every socket a request uses with the
attempt running on that thread; one watchdog thread shuts those sockets down when the attempt's deadline
passes or the run is cancelled, which wakes the blocked read at once.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import socket
import threading
import time
from types import TracebackType
from typing import Self

from evalgate import cancel

_local = threading.local()


class Attempt:
    """One HTTP attempt: the sockets it uses are shut down when ``timeout_s`` has passed."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self.deadline = time.monotonic() + timeout_s
        self.expired = False
        self.cancelled = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()

    def remaining(self) -> float:
        """Seconds left, never below a millisecond (a zero timeout means 'block forever' to sockets)."""
        return max(0.001, self.deadline - time.monotonic())

    def watch(self, sock: socket.socket | None) -> None:
        """Shut ``sock`` down with this attempt; at once when the attempt is already over."""
        if sock is None:
            return
        with self._lock:
            over = self.expired or self.cancelled
            if not over:
                self._sockets.append(sock)
        if over:
            _shutdown(sock)

    def fire(self, *, by_cancel: bool = False) -> None:
        """Abort: every watched socket is shut down, so blocked reads and writes return now."""
        with self._lock:
            if by_cancel:
                self.cancelled = True
            else:
                self.expired = True
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            _shutdown(sock)

    def __enter__(self) -> Self:
        _local.attempt = self
        _WATCHDOG.add(self)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        _local.attempt = None
        _WATCHDOG.discard(self)


def _shutdown(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed or never connected: nothing left to wake
        sock.shutdown(socket.SHUT_RDWR)


def current() -> Attempt | None:
    """The attempt running on this thread, if any."""
    attempt: Attempt | None = getattr(_local, "attempt", None)
    return attempt


class _Watchdog:
    """One daemon thread for all attempts: a heap of deadlines, woken when an earlier one arrives."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._heap: list[tuple[float, int, Attempt]] = []
        self._live: set[int] = set()
        self._ids = itertools.count()
        self._thread: threading.Thread | None = None
        self._by_attempt: dict[int, int] = {}
        cancel.on_cancel(self.cancel_all)

    def add(self, attempt: Attempt) -> None:
        with self._lock:
            ident = next(self._ids)
            self._live.add(ident)
            self._by_attempt[id(attempt)] = ident
            earliest = not self._heap or attempt.deadline < self._heap[0][0]
            heapq.heappush(self._heap, (attempt.deadline, ident, attempt))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="evalgate-deadlines", daemon=True)
                self._thread.start()
            if earliest:
                # only a new earliest deadline moves the watchdog's wake-up; waking it for every attempt
                # (all with the same timeout, so each one later than the last) costs a thread switch per call
                self._cond.notify()
        if cancel.cancelled():
            attempt.fire(by_cancel=True)

    def discard(self, attempt: Attempt) -> None:
        with self._lock:
            ident = self._by_attempt.pop(id(attempt), None)
            if ident is not None:
                self._live.discard(ident)
            # finished attempts are dropped lazily; keep the heap from growing with a long run's history
            if len(self._heap) > 4 * len(self._live) + 64:
                self._heap = [entry for entry in self._heap if entry[1] in self._live]
                heapq.heapify(self._heap)

    def cancel_all(self) -> None:
        with self._cond:
            attempts = [a for _, ident, a in self._heap if ident in self._live]
        for attempt in attempts:
            attempt.fire(by_cancel=True)

    def _loop(self) -> None:
        while True:
            with self._cond:
                while self._heap and self._heap[0][1] not in self._live:
                    heapq.heappop(self._heap)  # finished in time: drop it
                if not self._heap:
                    self._cond.wait()
                    continue
                deadline, ident, attempt = self._heap[0]
                wait = deadline - time.monotonic()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                heapq.heappop(self._heap)
                self._live.discard(ident)
            attempt.fire()


_WATCHDOG = _Watchdog()
