"""Being polite to a provider's rate limits: request and token pacing, AIMD concurrency, global Retry-After.

One ``Throttle`` is shared by every worker calling one model config. Before each attempt a worker asks
for a slot (``acquire``) and hands it back with what happened (``release``):

- ``requests_per_minute`` / ``tokens_per_minute`` pace the attempts: each one is given the earliest start
  that keeps both rates (a token bucket that holds one request, so no burst can trip a limit enforced over
  a window shorter than a minute). Tokens are estimated from the prompt (four characters a token) plus the
  request's ``max_tokens``; when the server's usage arrives the difference is settled.
- Concurrency is additive-increase, multiplicative-decrease: a 429 halves the number of calls allowed in
  flight (once per congestion event, not once per 429 of the same burst), and every window of that many
  successes adds one back, never above the configured ``concurrency``.
- A 429's ``Retry-After`` pauses every worker, not only the one that got it.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import asyncio

_CHARS_PER_TOKEN = 4


@dataclass(frozen=True, slots=True)
class Ticket:
    """One attempt's slot: when it was granted and what it was charged."""

    epoch: int
    tokens: int


def estimate_tokens(prompt: str, system: str | None, max_tokens: object) -> int:
    """A request's token cost before the server says: the prompt's length plus the answer's cap."""
    text = len(prompt) + len(system or "")
    answer = max_tokens if isinstance(max_tokens, int) and not isinstance(max_tokens, bool) else 0
    return max(1, text // _CHARS_PER_TOKEN) + max(0, answer)


class Throttle:
    """Shared by the workers of one run, threads or event-loop tasks; every method is thread-safe."""

    def __init__(
        self,
        concurrency: int,
        *,
        requests_per_minute: float | None = None,
        tokens_per_minute: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.max_concurrency = concurrency
        self.limit = concurrency
        self._request_gap = 60.0 / requests_per_minute if requests_per_minute else 0.0
        self._token_gap = 60.0 / tokens_per_minute if tokens_per_minute else 0.0
        self._clock = clock
        self._sleep = sleep
        # plain lock for the fast path (a Condition's own ``with`` is a Python-level call), the
        # condition over the same lock only for the rare wait for a slot
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._in_flight = 0
        self._epoch = 0
        self._successes = 0
        self._next_request = 0.0  # the earliest start the request rate allows
        self._next_token = 0.0  # the earliest start the token rate allows
        self._paused_until = 0.0  # a Retry-After, for everyone
        self._waiters: deque[asyncio.Future[None]] = deque()  # tasks of an event-loop run waiting for a slot
        self.rate_limited = 0
        self.decreases = 0

    def acquire(self, tokens: int = 0) -> Ticket:
        """Wait for a free slot and for the pace; returns the ticket to hand back to ``release``."""
        with self._lock:
            while self._in_flight >= self.limit:
                self._cond.wait()
            ticket, wait = self._grant(tokens)
        if wait > 0:
            try:
                self._sleep(wait)
            except BaseException:
                self._give_back()
                raise
        return ticket

    async def aacquire(self, tokens: int = 0) -> Ticket:
        """``acquire`` for a coroutine on the run's event loop: waits without blocking the loop.

        A stop (SIGINT/SIGTERM) cancels the waiting task; its slot, or its turn to get one, is passed on.
        """
        import asyncio

        while True:
            with self._lock:
                if self._in_flight < self.limit:
                    ticket, wait = self._grant(tokens)
                    break
                waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
                self._waiters.append(waiter)
            try:
                await waiter
            except BaseException:
                with self._lock:
                    if waiter in self._waiters:
                        self._waiters.remove(waiter)
                    else:  # woken but leaving: hand the turn to the next waiter
                        self._wake_tasks(1)
                raise
        if wait > 0:
            try:
                await asyncio.sleep(wait)
            except BaseException:
                self._give_back()
                raise
        return ticket

    def _grant(self, tokens: int) -> tuple[Ticket, float]:
        """Take a slot (the lock held, a slot free): the ticket and how long to wait for the pace."""
        self._in_flight += 1
        now = self._clock()
        start = max(now, self._next_request, self._next_token, self._paused_until)
        if self._request_gap:
            self._next_request = start + self._request_gap
        if self._token_gap:
            self._next_token = max(start, self._next_token) + tokens * self._token_gap
        return Ticket(self._epoch, tokens), start - now

    def _wake_tasks(self, count: int) -> None:
        """Wake up to ``count`` waiting tasks (the lock held); each checks for a slot again."""
        while count > 0 and self._waiters:
            waiter = self._waiters.popleft()
            waiter.get_loop().call_soon_threadsafe(_wake, waiter)
            count -= 1

    def release(
        self,
        ticket: Ticket,
        *,
        rate_limited: bool = False,
        retry_after: float | None = None,
        used_tokens: int | None = None,
    ) -> None:
        """Hand a slot back, saying whether the server rate-limited the attempt and what it really used."""
        with self._lock:
            self._in_flight -= 1
            now = self._clock()
            if used_tokens is not None and self._token_gap:
                # settle the estimate: a larger real cost pushes the next start out, a smaller pulls it in
                self._next_token = max(
                    now, self._next_token + (used_tokens - ticket.tokens) * self._token_gap
                )
            if rate_limited:
                self.rate_limited += 1
                if retry_after:
                    self._paused_until = max(self._paused_until, now + retry_after)
                if ticket.epoch == self._epoch:  # the first 429 of this burst; the rest were sent with it
                    self.limit = max(1, self.limit // 2)
                    self._epoch += 1
                    self._successes = 0
                    self.decreases += 1
            else:
                self._successes += 1
                if self._successes >= self.limit and self.limit < self.max_concurrency:
                    self.limit += 1
                    self._successes = 0
            if self._in_flight < self.limit:
                free = self.limit - self._in_flight  # the freed slot, and a new one if any
                self._cond.notify(free)
                if self._waiters:
                    self._wake_tasks(free)

    def _give_back(self) -> None:
        with self._lock:
            self._in_flight -= 1
            self._cond.notify()
            self._wake_tasks(1)


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
