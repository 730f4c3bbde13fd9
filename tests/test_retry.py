from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from evalgate import cancel, retry
from evalgate.errors import ProviderError
from evalgate.retry import BACKOFF_CAP_S, RETRY_AFTER_CAP_S, acall_with_retries, call_with_retries

Retries = Callable[..., Any]


@pytest.fixture(params=["thread", "event loop"])
def call(request: pytest.FixtureRequest) -> Retries:
    """The policy as a worker thread calls it, and as a task on a run's event loop awaits it."""
    if request.param == "thread":
        return call_with_retries

    def on_loop(fn: Callable[[], Any], **kwargs: Any) -> Any:
        async def attempt() -> Any:
            return fn()

        return asyncio.run(acall_with_retries(attempt, **kwargs))

    return on_loop


def failing(errors: list[BaseException], result: str = "ok") -> tuple[Callable[[], str], list[int]]:
    """A callable that raises the given errors in order, then returns ``result``; counts its calls."""
    calls: list[int] = []

    def fn() -> str:
        calls.append(1)
        if errors:
            raise errors.pop(0)
        return result

    return fn, calls


def test_returns_first_result_without_waiting(call: Retries) -> None:
    waits: list[float] = []
    fn, calls = failing([])
    assert call(fn, max_attempts=3, describe="case a", sleep=waits.append) == "ok"
    assert len(calls) == 1
    assert waits == []


def test_retries_retryable_error_then_returns(call: Retries) -> None:
    waits: list[float] = []
    fn, calls = failing([ProviderError("busy", retryable=True), ProviderError("busy", retryable=True)])
    assert call(fn, max_attempts=3, describe="case a", sleep=waits.append) == "ok"
    assert len(calls) == 3
    assert len(waits) == 2


def test_does_not_retry_non_retryable_error(call: Retries) -> None:
    error = ProviderError("bad request", retryable=False)
    fn, calls = failing([error])
    with pytest.raises(ProviderError) as info:
        call(fn, max_attempts=5, describe="case a", sleep=lambda _: None)
    assert info.value is error
    assert len(calls) == 1


def test_gives_up_after_max_attempts_with_count_and_last_error(call: Retries) -> None:
    fn, calls = failing([ProviderError(f"HTTP 500 #{i}", retryable=True) for i in range(1, 5)])
    with pytest.raises(ProviderError) as info:
        call(fn, max_attempts=4, describe="openai gpt-4o (case a)", sleep=lambda _: None)
    assert str(info.value) == "openai gpt-4o (case a): gave up after 4 attempts: HTTP 500 #4"
    assert info.value.retryable is False
    assert isinstance(info.value.__cause__, ProviderError)
    assert len(calls) == 4


def test_single_attempt_gives_up_immediately_with_singular_wording(call: Retries) -> None:
    fn, calls = failing([ProviderError("timeout", retryable=True)])
    with pytest.raises(ProviderError, match=r"^x: gave up after 1 attempt: timeout$"):
        call(fn, max_attempts=1, describe="x", sleep=lambda _: None)
    assert len(calls) == 1


def test_honours_retry_after_from_the_error(call: Retries) -> None:
    waits: list[float] = []
    fn, _ = failing([ProviderError("429", retryable=True, retry_after=7.5)])
    call(fn, max_attempts=2, describe="x", sleep=waits.append)
    assert waits == [7.5]


def test_caps_retry_after_at_sixty_seconds(call: Retries) -> None:
    waits: list[float] = []
    fn, _ = failing([ProviderError("429", retryable=True, retry_after=3600)])
    call(fn, max_attempts=2, describe="x", sleep=waits.append)
    assert waits == [RETRY_AFTER_CAP_S]


def test_backoff_grows_with_jitter_and_stays_under_cap(call: Retries) -> None:
    waits: list[float] = []
    fn, _ = failing([ProviderError("500", retryable=True) for _ in range(11)])
    call(fn, max_attempts=12, describe="x", sleep=waits.append)
    assert len(waits) == 11
    assert 0.5 <= waits[0] <= 1.0
    assert 1.0 <= waits[1] <= 1.5
    assert all(w <= BACKOFF_CAP_S for w in waits)
    assert waits[-1] == BACKOFF_CAP_S


def test_other_exceptions_propagate_without_retry(call: Retries) -> None:
    fn, calls = failing([ValueError("bug")])
    with pytest.raises(ValueError, match="bug"):
        call(fn, max_attempts=5, describe="x", sleep=lambda _: None)
    assert len(calls) == 1


def test_module_sleep_hook_is_used_when_none_is_injected(retry_waits: list[float], call: Retries) -> None:
    fn, _ = failing([ProviderError("429", retryable=True, retry_after=2)])
    call(fn, max_attempts=2, describe="x")
    assert retry_waits == [2.0]


def test_set_sleep_returns_previous_and_none_restores_time_sleep() -> None:
    mine: list[float] = []
    previous = retry.set_sleep(mine.append)
    try:
        restored = retry.set_sleep(None)
        assert restored == mine.append
    finally:
        retry.set_sleep(previous)


def test_rejects_max_attempts_below_one(call: Retries) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        call(lambda: "ok", max_attempts=0, describe="x")


@pytest.fixture
def stop_flag() -> Iterator[None]:
    cancel.reset()
    yield
    cancel.reset()


def test_on_the_loop_a_stop_before_a_retry_starts_no_new_attempt(stop_flag: None) -> None:
    calls: list[int] = []

    async def attempt() -> str:
        calls.append(1)
        cancel.cancel()  # the stop arrives while the first attempt is failing
        raise ProviderError("busy", retryable=True)

    with pytest.raises(cancel.Cancelled):
        asyncio.run(acall_with_retries(attempt, max_attempts=5, describe="x", sleep=lambda _: None))
    assert calls == [1]


def test_on_the_loop_cancelling_the_task_ends_a_backoff_wait_at_once(stop_flag: None) -> None:
    previous = retry.set_sleep(time.sleep)  # the real wait: 30 s from Retry-After
    calls: list[int] = []

    async def attempt() -> str:
        calls.append(1)
        raise ProviderError("429", retryable=True, retry_after=30)

    async def main() -> float:
        task = asyncio.ensure_future(acall_with_retries(attempt, max_attempts=3, describe="x"))
        await asyncio.sleep(0.1)
        started = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return time.monotonic() - started

    try:
        assert asyncio.run(main()) < 0.5
    finally:
        retry.set_sleep(previous)
    assert calls == [1]
