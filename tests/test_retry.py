from __future__ import annotations

from collections.abc import Callable

import pytest

from evalgate import retry
from evalgate.errors import ProviderError
from evalgate.retry import BACKOFF_CAP_S, RETRY_AFTER_CAP_S, call_with_retries


def failing(errors: list[BaseException], result: str = "ok") -> tuple[Callable[[], str], list[int]]:
    """A callable that raises the given errors in order, then returns ``result``; counts its calls."""
    calls: list[int] = []

    def fn() -> str:
        calls.append(1)
        if errors:
            raise errors.pop(0)
        return result

    return fn, calls


def test_returns_first_result_without_waiting() -> None:
    waits: list[float] = []
    fn, calls = failing([])
    assert call_with_retries(fn, max_attempts=3, describe="case a", sleep=waits.append) == "ok"
    assert len(calls) == 1
    assert waits == []


def test_retries_retryable_error_then_returns() -> None:
    waits: list[float] = []
    fn, calls = failing([ProviderError("busy", retryable=True), ProviderError("busy", retryable=True)])
    assert call_with_retries(fn, max_attempts=3, describe="case a", sleep=waits.append) == "ok"
    assert len(calls) == 3
    assert len(waits) == 2


def test_does_not_retry_non_retryable_error() -> None:
    error = ProviderError("bad request", retryable=False)
    fn, calls = failing([error])
    with pytest.raises(ProviderError) as info:
        call_with_retries(fn, max_attempts=5, describe="case a", sleep=lambda _: None)
    assert info.value is error
    assert len(calls) == 1


def test_gives_up_after_max_attempts_with_count_and_last_error() -> None:
    fn, calls = failing([ProviderError(f"HTTP 500 #{i}", retryable=True) for i in range(1, 5)])
    with pytest.raises(ProviderError) as info:
        call_with_retries(fn, max_attempts=4, describe="openai gpt-4o (case a)", sleep=lambda _: None)
    assert str(info.value) == "openai gpt-4o (case a): gave up after 4 attempts: HTTP 500 #4"
    assert info.value.retryable is False
    assert isinstance(info.value.__cause__, ProviderError)
    assert len(calls) == 4


def test_single_attempt_gives_up_immediately_with_singular_wording() -> None:
    fn, calls = failing([ProviderError("timeout", retryable=True)])
    with pytest.raises(ProviderError, match=r"^x: gave up after 1 attempt: timeout$"):
        call_with_retries(fn, max_attempts=1, describe="x", sleep=lambda _: None)
    assert len(calls) == 1


def test_honours_retry_after_from_the_error() -> None:
    waits: list[float] = []
    fn, _ = failing([ProviderError("429", retryable=True, retry_after=7.5)])
    call_with_retries(fn, max_attempts=2, describe="x", sleep=waits.append)
    assert waits == [7.5]


def test_caps_retry_after_at_sixty_seconds() -> None:
    waits: list[float] = []
    fn, _ = failing([ProviderError("429", retryable=True, retry_after=3600)])
    call_with_retries(fn, max_attempts=2, describe="x", sleep=waits.append)
    assert waits == [RETRY_AFTER_CAP_S]


def test_backoff_grows_with_jitter_and_stays_under_cap() -> None:
    waits: list[float] = []
    fn, _ = failing([ProviderError("500", retryable=True) for _ in range(11)])
    call_with_retries(fn, max_attempts=12, describe="x", sleep=waits.append)
    assert len(waits) == 11
    assert 0.5 <= waits[0] <= 1.0
    assert 1.0 <= waits[1] <= 1.5
    assert all(w <= BACKOFF_CAP_S for w in waits)
    assert waits[-1] == BACKOFF_CAP_S


def test_other_exceptions_propagate_without_retry() -> None:
    fn, calls = failing([ValueError("bug")])
    with pytest.raises(ValueError, match="bug"):
        call_with_retries(fn, max_attempts=5, describe="x", sleep=lambda _: None)
    assert len(calls) == 1


def test_module_sleep_hook_is_used_when_none_is_injected(retry_waits: list[float]) -> None:
    fn, _ = failing([ProviderError("429", retryable=True, retry_after=2)])
    call_with_retries(fn, max_attempts=2, describe="x")
    assert retry_waits == [2.0]


def test_set_sleep_returns_previous_and_none_restores_time_sleep() -> None:
    mine: list[float] = []
    previous = retry.set_sleep(mine.append)
    try:
        restored = retry.set_sleep(None)
        assert restored == mine.append
    finally:
        retry.set_sleep(previous)


def test_rejects_max_attempts_below_one() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        call_with_retries(lambda: "ok", max_attempts=0, describe="x")
