"""Calls one model config: the cache, the throttle, retries, then the fallback model, with cost filled in.

The run's workers call ``complete`` from threads; a run on an event loop awaits ``acomplete``. Both go
through the same steps (``_call`` before, ``_failed``/``_succeeded`` around each attempt, ``_finish``
after), so the cache keys, redaction, retry counting and rate limiting cannot drift apart.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from evalgate.breaker import Breaker
from evalgate.cache import UNCACHEABLE_PROVIDERS, DiskCache, cache_key
from evalgate.config import ModelConfig, Price
from evalgate.errors import ProviderError
from evalgate.pricing import cost_usd
from evalgate.providers.base import ModelRequest, Provider
from evalgate.redact import Redactor, redact_completion, redact_error
from evalgate.results import Completion
from evalgate.retry import acall_with_retries, call_with_retries, retry_kind
from evalgate.throttle import Throttle, Ticket, estimate_tokens


@dataclass
class ModelCaller:
    """Calls one model config: cache, retries, then the fallback model, with cost filled in."""

    config: ModelConfig
    provider: Provider
    prices: Mapping[str, Price] = field(default_factory=dict)
    cache: DiskCache | None = None
    sleep: Callable[[float], None] | None = None
    # masks credentials (the environment's tokens and keys) in every answer and error of any provider
    redact: Redactor = field(default_factory=Redactor)
    calls: int = 0
    retries: Counter[str] = field(default_factory=Counter)  # retried attempts by kind, and fallbacks
    # paces attempts to the rate limits and backs off on 429s; shared by every worker of the run
    throttle: Throttle | None = None
    # stops sending calls after too many fail in a row (``runner.max_consecutive_failures``)
    breaker: Breaker | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def complete(
        self,
        case_id: str,
        prompt: str,
        system: str | None,
        trial: int = 0,
        history: tuple[tuple[str, str], ...] = (),
    ) -> Completion:
        """The answer of the pinned model, or of the fallback after the primary gave up."""
        try:
            return self._one(self._call(case_id, prompt, system, self.config.name, trial, False, history))
        except ProviderError as primary:
            if not self.config.fallback:
                raise self._gave_up(primary) from None
            self._count_fallback()
            try:
                return self._one(
                    self._call(case_id, prompt, system, self.config.fallback, trial, True, history)
                )
            except ProviderError as secondary:
                raise self._gave_up(primary, secondary) from None

    @property
    def on_event_loop(self) -> bool:
        """Whether ``acomplete`` can call this provider without a thread (the HTTP providers)."""
        return hasattr(self.provider, "acomplete")

    async def acomplete(
        self,
        case_id: str,
        prompt: str,
        system: str | None,
        trial: int = 0,
        history: tuple[tuple[str, str], ...] = (),
    ) -> Completion:
        """``complete`` as a coroutine on the run's event loop (``on_event_loop`` providers only)."""
        try:
            return await self._aone(
                self._call(case_id, prompt, system, self.config.name, trial, False, history)
            )
        except ProviderError as primary:
            if not self.config.fallback:
                raise self._gave_up(primary) from None
            self._count_fallback()
            try:
                return await self._aone(
                    self._call(case_id, prompt, system, self.config.fallback, trial, True, history)
                )
            except ProviderError as secondary:
                raise self._gave_up(primary, secondary) from None

    def _count_fallback(self) -> None:
        with self._lock:
            self.retries["fallback"] += 1

    def _gave_up(self, primary: ProviderError, secondary: ProviderError | None = None) -> ProviderError:
        """The error of a call that failed for good (the breaker counts it), with its fallback's."""
        if self.breaker is not None:
            self.breaker.failed(primary, *([] if secondary is None else [secondary]))
        if secondary is None:
            return primary
        return ProviderError(f"{primary}; fallback {self.config.fallback}: {secondary}")

    def _count_retry(self, exc: BaseException) -> None:
        with self._lock:
            self.retries[retry_kind(exc)] += 1

    def _request(
        self,
        case_id: str,
        prompt: str,
        system: str | None,
        model: str,
        history: tuple[tuple[str, str], ...] = (),
    ) -> ModelRequest:
        return ModelRequest(
            case_id=case_id,
            prompt=prompt,
            model=model,
            params=self.config.params,
            system=system,
            history=history,
        )

    def _cache(self) -> DiskCache | None:
        return self.cache if self.config.provider not in UNCACHEABLE_PROVIDERS else None

    def cached(
        self,
        case_id: str,
        prompt: str,
        system: str | None,
        trial: int = 0,
        history: tuple[tuple[str, str], ...] = (),
    ) -> Completion | None:
        """The pinned model's cached answer, if any, without calling anything."""
        cache = self._cache()
        if cache is None:
            return None
        request = self._request(case_id, prompt, system, self.config.name, history)
        return cache.get(cache_key(self.config.provider, request, trial))

    def _one(self, call: _Call) -> Completion:
        if call.hit is not None:
            return call.hit
        throttle, breaker = self.throttle, self.breaker

        def attempt() -> Completion:
            if breaker is not None:
                breaker.check()  # an open breaker also ends the retries of calls in flight
            ticket = throttle.acquire(call.tokens) if throttle is not None else None
            try:
                answer = self.provider.complete(call.request)
            except ProviderError as exc:
                raise self._failed(ticket, exc) from None
            except BaseException:
                self._release(ticket)
                raise
            self._succeeded(ticket, answer)
            return answer

        answer = call_with_retries(
            attempt,
            max_attempts=self.config.max_attempts,
            describe=call.describe,
            sleep=self.sleep,
            on_retry=self._count_retry,
            cancellable=True,
        )
        return self._finish(call, answer)

    async def _aone(self, call: _Call) -> Completion:
        if call.hit is not None:
            return call.hit
        throttle, breaker = self.throttle, self.breaker
        acomplete = self.provider.acomplete  # type: ignore[attr-defined]

        async def attempt() -> Completion:
            if breaker is not None:
                breaker.check()
            ticket = await throttle.aacquire(call.tokens) if throttle is not None else None
            try:
                answer: Completion = await acomplete(call.request)
            except ProviderError as exc:
                raise self._failed(ticket, exc) from None
            except BaseException:  # a stop (CancelledError) included
                self._release(ticket)
                raise
            self._succeeded(ticket, answer)
            return answer

        answer = await acall_with_retries(
            attempt,
            max_attempts=self.config.max_attempts,
            describe=call.describe,
            sleep=self.sleep,
            on_retry=self._count_retry,
        )
        return self._finish(call, answer)

    def _call(
        self,
        case_id: str,
        prompt: str,
        system: str | None,
        model: str,
        trial: int,
        fallback: bool,
        history: tuple[tuple[str, str], ...],
    ) -> _Call:
        """What one call sends and caches, with the cached answer when there is one."""
        request = self._request(case_id, prompt, system, model, history)
        cache = self._cache()
        key = cache_key(self.config.provider, request, trial) if cache is not None else ""
        hit = cache.get(key) if cache is not None else None
        if hit is None:
            with self._lock:
                self.calls += 1
        params = request.params
        tokens = estimate_tokens(
            prompt, system, params.get("max_tokens", params.get("max_completion_tokens"))
        )
        describe = f"{self.config.provider} {model} (case {case_id})"
        return _Call(
            request,
            cache,
            key,
            replace(hit, fallback=fallback) if hit is not None else None,
            tokens,
            describe,
            fallback,
        )

    def _failed(self, ticket: Ticket | None, exc: ProviderError) -> ProviderError:
        """Hand the throttle its slot back, saying whether the server rate-limited; the error to raise."""
        self._release(ticket, rate_limited=exc.status == 429, retry_after=exc.retry_after)
        return redact_error(exc, self.redact)

    def _release(self, ticket: Ticket | None, **outcome: Any) -> None:
        if self.throttle is not None and ticket is not None:
            self.throttle.release(ticket, **outcome)

    def _succeeded(self, ticket: Ticket | None, answer: Completion) -> None:
        if self.breaker is not None:
            self.breaker.succeeded()
        used = None
        if answer.input_tokens is not None and answer.output_tokens is not None:
            used = answer.input_tokens + answer.output_tokens
        self._release(ticket, used_tokens=used)

    def _finish(self, call: _Call, answer: Completion) -> Completion:
        """Redact, fill in the cost and the fallback flag, and cache the answer."""
        completion = redact_completion(answer, self.redact)
        changes: dict[str, Any] = {}
        if completion.cost_usd is None and self.prices:
            tokens_in, tokens_out = completion.input_tokens, completion.output_tokens
            changes["cost_usd"] = cost_usd(self.prices, call.request.model, tokens_in, tokens_out)
        if completion.fallback != call.fallback:
            changes["fallback"] = call.fallback
        if changes:  # one copy at most: dataclasses.replace is not cheap at 10,000 calls
            completion = replace(completion, **changes)
        if call.cache is not None:
            call.cache.put(call.key, completion)
        return completion


@dataclass(frozen=True, slots=True)
class _Call:
    request: ModelRequest
    cache: DiskCache | None
    key: str
    hit: Completion | None
    tokens: int
    describe: str
    fallback: bool
