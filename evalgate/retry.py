"""The one retry policy for model calls: exponential backoff with jitter, honouring ``Retry-After``."""

from __future__ import annotations

import copy
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

from evalgate import cancel
from evalgate.errors import EvalgateError

if TYPE_CHECKING:
    from tenacity import RetryCallState

T = TypeVar("T")

BACKOFF_BASE_S = 0.5
BACKOFF_CAP_S = 30.0
RETRY_AFTER_CAP_S = 60.0

log = logging.getLogger(__name__)

# Looked up on every wait (not bound at import), so a test fixture can swap it at any time.
_sleep: Callable[[float], None] = time.sleep


def set_sleep(fn: Callable[[float], None] | None) -> Callable[[float], None]:
    """Replace the default sleep (``None`` restores ``time.sleep``); returns the previous one."""
    global _sleep
    previous = _sleep
    _sleep = time.sleep if fn is None else fn
    return previous


def _is_retryable(exc: BaseException) -> bool:
    return isinstance(exc, EvalgateError) and exc.retryable


def _wait_seconds(state: RetryCallState) -> float:
    exc = state.outcome.exception() if state.outcome is not None else None
    if isinstance(exc, EvalgateError) and exc.retry_after is not None:
        # The server knows its own rate window better than our backoff curve does.
        return max(0.0, min(exc.retry_after, RETRY_AFTER_CAP_S))
    # Written out rather than tenacity's wait_exponential_jitter, whose arguments changed across versions.
    exponent = min(state.attempt_number - 1, 16)
    return min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2.0**exponent + random.uniform(0, BACKOFF_BASE_S))


def retry_kind(exc: BaseException) -> str:
    """What a retried error was, for the run's retry line: 429, 5xx, timeout, connection or other."""
    status = getattr(exc, "status", 0)
    if status == 429:
        return "429"
    if isinstance(status, int) and status >= 500:
        return "5xx"
    text = str(exc)
    if "timed out" in text:
        return "timeout"
    if "cannot connect" in text:
        return "connection"
    return "other"


def _log_retry(
    describe: str, on_retry: Callable[[BaseException], None] | None
) -> Callable[[RetryCallState], None]:
    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome is not None else None
        wait = state.next_action.sleep if state.next_action is not None else 0.0
        log.info("%s: attempt %d failed (%s); retrying in %.2fs", describe, state.attempt_number, exc, wait)
        if on_retry is not None and exc is not None:
            on_retry(exc)

    return before_sleep


def call_with_retries(
    fn: Callable[[], T],
    *,
    max_attempts: int,
    describe: str,
    sleep: Callable[[float], None] | None = None,
    on_retry: Callable[[BaseException], None] | None = None,
    cancellable: bool = False,
) -> T:
    """Call ``fn``, retrying errors marked ``retryable``; gives up with the same error type, not retryable.

    ``on_retry`` hears of every failed attempt that is about to be retried (to count them).
    ``cancellable`` (model calls): after SIGINT/SIGTERM (``evalgate.cancel``) no new attempt starts and a
    backoff wait ends at once, with ``Cancelled``.
    """
    if max_attempts < 1:
        raise ValueError(f"max_attempts must be at least 1, got {max_attempts}")
    # The first attempt runs bare: almost every call succeeds at once, and building the tenacity
    # machinery costs more CPU than a loopback HTTP call. Only a retryable failure brings the policy in,
    # with that failure replayed as its first attempt, so counting, waits and messages are unchanged.

    def attempt() -> T:
        if cancellable:
            cancel.check()  # after SIGINT/SIGTERM no new attempt starts
        return fn()

    try:
        return attempt()
    except EvalgateError as exc:
        if not exc.retryable:
            raise
        first: EvalgateError | None = exc
    calls = attempt

    def replay_then_call() -> T:
        nonlocal first
        if first is not None:
            failed, first = first, None
            raise failed
        return calls()

    def do_sleep(seconds: float) -> None:
        chosen = sleep or _sleep
        if cancellable and chosen is time.sleep:
            cancel.sleep(seconds)  # the same wait, but a signal ends it
        else:
            chosen(seconds)

    retrying = _policy(max_attempts, describe, on_retry, sleep=do_sleep, asynchronous=False)
    try:
        return cast("T", retrying(replay_then_call))
    except EvalgateError as exc:
        if not exc.retryable:
            raise
        raise _given_up(exc, retrying, describe, max_attempts) from exc


async def acall_with_retries(
    fn: Callable[[], Awaitable[T]],
    *,
    max_attempts: int,
    describe: str,
    sleep: Callable[[float], None] | None = None,
    on_retry: Callable[[BaseException], None] | None = None,
) -> T:
    """``call_with_retries`` for a coroutine on the run's event loop; always cancellable.

    The same policy, messages and counting. A stop (SIGINT/SIGTERM) cancels the task, which ends a
    backoff wait at once; no new attempt starts after it.
    """
    if max_attempts < 1:
        raise ValueError(f"max_attempts must be at least 1, got {max_attempts}")
    cancel.check()
    try:
        return await fn()
    except EvalgateError as exc:
        if not exc.retryable:
            raise
        first: EvalgateError | None = exc

    async def replay_then_call() -> T:
        nonlocal first
        if first is not None:
            failed, first = first, None
            raise failed
        cancel.check()
        return await fn()

    async def do_sleep(seconds: float) -> None:
        chosen = sleep or _sleep
        if chosen is time.sleep:
            import asyncio

            await asyncio.sleep(seconds)  # a stop cancels the task, and the wait with it
            cancel.check()
        else:
            chosen(seconds)  # a test's stand-in

    retrying = _policy(max_attempts, describe, on_retry, sleep=do_sleep, asynchronous=True)
    try:
        return cast("T", await retrying(replay_then_call))
    except EvalgateError as exc:
        if not exc.retryable:
            raise
        raise _given_up(exc, retrying, describe, max_attempts) from exc


def _policy(
    max_attempts: int,
    describe: str,
    on_retry: Callable[[BaseException], None] | None,
    *,
    sleep: Callable[[float], Any],
    asynchronous: bool,
) -> Any:
    """tenacity's retrying object for the policy; imported here, since a run whose calls all succeed
    at once never needs tenacity (start-up time)."""
    from tenacity import AsyncRetrying, Retrying, retry_if_exception, stop_after_attempt

    cls = AsyncRetrying if asynchronous else Retrying
    return cls(
        stop=stop_after_attempt(max_attempts),
        wait=_wait_seconds,
        retry=retry_if_exception(_is_retryable),
        sleep=sleep,
        before_sleep=_log_retry(describe, on_retry),
        reraise=True,
    )


def _given_up(exc: EvalgateError, retrying: Any, describe: str, max_attempts: int) -> EvalgateError:
    """The last retryable error, saying how many attempts were made."""
    attempts = retrying.statistics.get("attempt_number", max_attempts)
    noun = "attempt" if attempts == 1 else "attempts"
    final = copy.copy(exc)
    final.args = (f"{describe}: gave up after {attempts} {noun}: {exc}",)
    # Marked non-retryable so an outer loop (e.g. a fallback model) does not retry it again.
    final.retryable = False
    final.gave_up = True
    return final
