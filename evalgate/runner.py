"""Runs a planned suite against a provider with bounded concurrency, retries, fallback and a cache."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from queue import SimpleQueue
from typing import Any

from evalgate import cancel
from evalgate.cache import UNCACHEABLE_PROVIDERS, DiskCache, cache_key
from evalgate.checks import CheckContext, run_checks
from evalgate.config import Config, ModelConfig, Price
from evalgate.errors import ConfigError, EvalgateError, ProviderError
from evalgate.pricing import cost_usd
from evalgate.providers.base import ModelRequest, Provider
from evalgate.redact import Redactor, redact_completion, redact_error
from evalgate.results import CaseResult, CheckResult, Completion, RunResult, Trial
from evalgate.retry import call_with_retries, retry_kind
from evalgate.suite import Case
from evalgate.throttle import Throttle, estimate_tokens

ProgressHook = Callable[[CaseResult], None]
TRUNCATION_CHECK = "truncation"


class RunInterrupted(KeyboardInterrupt):
    """SIGINT/SIGTERM stopped a run: the cases that finished, for a partial report, and the exit code."""

    def __init__(self, results: list[CaseResult], planned: int, exit_code: int) -> None:
        self.results = results
        self.planned = planned
        self.exit_code = exit_code
        super().__init__(f"interrupted after {len(results)} of {planned} cases")


@dataclass(frozen=True, slots=True)
class PlannedCase:
    """A case with its prompt already rendered, ready to send."""

    case: Case
    prompt: str
    system: str | None
    base_dir: Path
    history: tuple[tuple[str, str], ...] = ()  # earlier turns of a chat prompt
    error: str | None = None  # planning failed for this case alone (its transform_vars threw): no call


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
            return self._one(
                case_id, prompt, system, self.config.name, trial, fallback=False, history=history
            )
        except ProviderError as primary:
            if not self.config.fallback:
                raise
            with self._lock:
                self.retries["fallback"] += 1
            try:
                return self._one(
                    case_id, prompt, system, self.config.fallback, trial, fallback=True, history=history
                )
            except ProviderError as secondary:
                raise ProviderError(f"{primary}; fallback {self.config.fallback}: {secondary}") from None

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

    def _one(
        self,
        case_id: str,
        prompt: str,
        system: str | None,
        model: str,
        trial: int,
        *,
        fallback: bool,
        history: tuple[tuple[str, str], ...] = (),
    ) -> Completion:
        request = self._request(case_id, prompt, system, model, history)
        cache = self._cache()
        key = cache_key(self.config.provider, request, trial) if cache is not None else ""
        if cache is not None:
            hit = cache.get(key)
            if hit is not None:
                return replace(hit, fallback=fallback)
        with self._lock:
            self.calls += 1

        throttle = self.throttle
        params = request.params
        tokens = estimate_tokens(
            prompt, system, params.get("max_tokens", params.get("max_completion_tokens"))
        )

        def attempt() -> Completion:
            ticket = throttle.acquire(tokens) if throttle is not None else None
            try:
                answer = self.provider.complete(request)
            except ProviderError as exc:
                if throttle is not None and ticket is not None:
                    throttle.release(ticket, rate_limited=exc.status == 429, retry_after=exc.retry_after)
                raise redact_error(exc, self.redact) from None
            except BaseException:
                if throttle is not None and ticket is not None:
                    throttle.release(ticket)
                raise
            if throttle is not None and ticket is not None:
                used = None
                if answer.input_tokens is not None and answer.output_tokens is not None:
                    used = answer.input_tokens + answer.output_tokens
                throttle.release(ticket, used_tokens=used)
            return answer

        completion = redact_completion(
            call_with_retries(
                attempt,
                max_attempts=self.config.max_attempts,
                describe=f"{self.config.provider} {model} (case {case_id})",
                sleep=self.sleep,
                on_retry=self._count_retry,
                cancellable=True,
            ),
            self.redact,
        )
        changes: dict[str, Any] = {}
        if completion.cost_usd is None and self.prices:
            tokens_in, tokens_out = completion.input_tokens, completion.output_tokens
            changes["cost_usd"] = cost_usd(self.prices, model, tokens_in, tokens_out)
        if completion.fallback != fallback:
            changes["fallback"] = fallback
        if changes:  # one copy at most: dataclasses.replace is not cheap at 10,000 calls
            completion = replace(completion, **changes)
        if cache is not None:
            cache.put(key, completion)
        return completion


@dataclass
class Runner:
    """Runs planned cases; every case ends as passed, failed or error, never silently dropped."""

    caller: ModelCaller
    judge: ModelCaller | None = None
    concurrency: int = 8
    on_case: ProgressHook | None = None
    # gate.fail_on_truncation: an answer the model did not finish fails its case
    fail_on_truncation: bool = True

    def _judge_fn(self, case_id: str) -> Callable[[str], str] | None:
        judge = self.judge
        if judge is None:
            return None

        def ask(prompt: str) -> str:
            try:
                return judge.complete(f"{case_id}#judge", prompt, None).text
            except ProviderError as exc:  # name the judge: the model under test answered fine
                raise ProviderError(f"judge model {judge.config.name} failed: {exc}") from None

        return ask

    def _embed_fn(self) -> Callable[[list[str]], list[list[float]]] | None:
        if self.judge is None:
            return None
        from evalgate.embedding import Embedder

        return Embedder(self.judge)

    def _trial(self, planned: PlannedCase, trial: int = 0) -> Trial:
        case = planned.case
        try:
            completion = self.caller.complete(case.id, planned.prompt, planned.system, trial, planned.history)
        except ProviderError as exc:
            return Trial(completion=None, error=str(exc))
        except (ConfigError, cancel.Cancelled):
            raise
        except EvalgateError as exc:
            return Trial(completion=None, error=str(exc))
        return self._checked(planned, completion)

    def _checked(self, planned: PlannedCase, completion: Completion) -> Trial:
        case = planned.case
        ctx = CheckContext(
            completion=completion,
            prompt=planned.prompt,
            vars=case.spec.vars,
            base_dir=planned.base_dir,
            judge=self._judge_fn(case.id),
            embed=self._embed_fn(),
        )
        if case.spec.transform is not None:
            from evalgate.checks.transforms import TransformError, transform

            try:
                ctx = transform(case.spec.transform, ctx)
            except TransformError as exc:
                return Trial(completion=completion, error=str(exc))
        checks = run_checks(case.spec.checks, ctx)  # a failed judge call is its check's error
        if self.fail_on_truncation and completion.truncated:
            cut = CheckResult(
                TRUNCATION_CHECK, False, 0.0, f"answer cut off (finish_reason {completion.finish_reason})"
            )
            checks = (cut, *checks)
        return Trial(completion=completion, checks=checks, threshold=case.spec.threshold)

    def run(self, plan: Sequence[PlannedCase]) -> list[CaseResult]:
        """Run every trial of every case; results come back in plan order.

        Workers take trials from one queue and record what they finish themselves, under the book's
        lock. Handing each result back to this thread instead would wake it, and move the GIL to it,
        once per call: a third more context switches than the calls themselves need. This thread only
        queues the work (answering cache hits itself) and waits for the workers at the end.
        """
        book = _Book(plan, self.on_case)
        todo: SimpleQueue[_Work | None] = SimpleQueue()
        stop = threading.Event()
        failures: list[BaseException] = []
        workers: list[threading.Thread] = []
        queued = 0
        try:
            for index, planned in enumerate(plan):
                if stop.is_set():
                    break  # a worker failed: stop queueing, its error is raised below
                for trial_no in range(planned.case.spec.repeat):
                    hit = self._from_cache(planned, trial_no)
                    if hit is not None:
                        book.record(index, trial_no, hit)
                        continue
                    todo.put((index, trial_no, planned))
                    queued += 1
                    if len(workers) < min(self.concurrency, queued):
                        # started on demand, so a run answered from the cache starts no thread at all
                        worker = threading.Thread(
                            target=self._work,
                            args=(todo, book, stop, failures),
                            name=f"evalgate-{len(workers)}",
                            daemon=True,
                        )
                        worker.start()
                        workers.append(worker)
            for _ in workers:
                todo.put(None)
            for worker in workers:
                worker.join()
        except (KeyboardInterrupt, cancel.Cancelled) as exc:
            # stop every in-flight call and retry wait now; keep what finished for the partial report
            cancel.cancel()
            stop.set()
            for _ in workers:
                todo.put(None)
            raise RunInterrupted(book.results(), len(plan), cancel.exit_code_for(exc)) from exc
        except BaseException:
            stop.set()  # workers finish the call in hand and take no more
            for _ in workers:
                todo.put(None)
            raise
        if failures:
            if isinstance(failures[0], cancel.Cancelled):  # stopped while this thread was not waiting
                raise RunInterrupted(book.results(), len(plan), cancel.exit_code_for(failures[0]))
            raise failures[0]  # e.g. a ConfigError from a check
        return book.results()

    def _work(
        self,
        todo: SimpleQueue[_Work | None],
        book: _Book,
        stop: threading.Event,
        failures: list[BaseException],
    ) -> None:
        while (item := todo.get()) is not None:
            if stop.is_set():
                return
            index, trial_no, planned = item
            try:
                book.record(index, trial_no, self._trial(planned, trial_no))
            except BaseException as exc:
                failures.append(exc)
                stop.set()
                return

    def _from_cache(self, planned: PlannedCase, trial_no: int) -> Trial | None:
        """A cached answer is checked on this thread: handing it to a worker would only add overhead."""
        if planned.error is not None:
            return Trial(completion=None, error=planned.error)
        if any(check.type in ("llm_judge", "similar") for check in planned.case.spec.checks):
            return None  # the judge may have to call a model; keep that on the workers
        case = planned.case
        hit = self.caller.cached(case.id, planned.prompt, planned.system, trial_no, planned.history)
        return self._checked(planned, hit) if hit is not None else None


_Work = tuple[int, int, PlannedCase]


class _Book:
    """Collects trials as they finish and closes each case when its last trial is in."""

    def __init__(self, plan: Sequence[PlannedCase], on_case: ProgressHook | None) -> None:
        self.plan = plan
        self.on_case = on_case
        self.trials: dict[int, list[Trial | None]] = {
            i: [None] * p.case.spec.repeat for i, p in enumerate(plan)
        }
        self.remaining = {i: p.case.spec.repeat for i, p in enumerate(plan)}
        self.done: list[CaseResult | None] = [None] * len(plan)
        self._lock = threading.Lock()

    def record(self, index: int, trial_no: int, trial: Trial) -> None:
        """Note a finished trial; the case closes (and the hook hears of it) with its last trial."""
        with self._lock:
            self.trials[index][trial_no] = trial
            self.remaining[index] -= 1
            if self.remaining[index]:
                return
            self._close(index)

    def _close(self, index: int) -> None:
        case = self.plan[index].case
        result = CaseResult(
            id=case.id,
            suite=case.suite,
            line=case.line,
            trials=tuple(t for t in self.trials.pop(index) if t is not None),
            tags=tuple(case.spec.tags),
            required=case.spec.required,
            min_pass=case.min_pass,
            prompt=self.plan[index].prompt if self.plan[index].error is None else None,
            vars=case.spec.vars or None,
        )
        self.done[index] = result
        if self.on_case is not None:
            self.on_case(result)

    def results(self) -> list[CaseResult]:
        return [r for r in self.done if r is not None]


def now_iso() -> str:
    """The current UTC time for reports."""
    return datetime.now(UTC).isoformat(timespec="seconds")


RETRY_KINDS = ("429", "5xx", "timeout", "connection", "other", "fallback")


def build_run_result(
    cases: Sequence[CaseResult],
    *,
    config: Config,
    config_path: str,
    started: float,
    started_at: str,
    retries: Mapping[str, int] | None = None,
    planned: int | None = None,
) -> RunResult:
    """Wrap case results with the run's metadata; ``planned`` marks a run that stopped early."""
    return RunResult(
        incomplete=planned is not None,
        planned=planned,
        retries=None if retries is None else {k: int(retries.get(k, 0)) for k in RETRY_KINDS},
        cases=tuple(cases),
        provider=config.model.provider,
        model=config.model.name,
        config_path=config_path,
        started_at=started_at,
        duration_s=round(time.monotonic() - started, 3),
    )
