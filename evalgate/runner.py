"""Runs a planned suite against a provider with bounded concurrency, retries, fallback and a cache."""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from queue import SimpleQueue
from typing import TYPE_CHECKING

from evalgate import cancel
from evalgate.caller import ModelCaller
from evalgate.checks import IN_MEMORY_CHECKS, CheckContext, run_checks
from evalgate.config import Config
from evalgate.errors import ConfigError, EvalgateError, ProviderDown, ProviderError
from evalgate.results import CaseResult, CheckResult, Completion, RunResult, Trial
from evalgate.suite import Case

if TYPE_CHECKING:
    import asyncio

ProgressHook = Callable[[CaseResult], None]
TRUNCATION_CHECK = "truncation"


class RunInterrupted(KeyboardInterrupt):
    """SIGINT/SIGTERM stopped a run: the cases that finished, for a partial report, and the exit code."""

    def __init__(self, results: list[CaseResult], planned: int, exit_code: int) -> None:
        self.results = results
        self.planned = planned
        self.exit_code = exit_code
        super().__init__(f"interrupted after {len(results)} of {planned} cases")


class RunStopped(Exception):
    """The model (or judge) provider went down (``ProviderDown``): the cases that finished, for a partial
    report, and why no more calls were sent."""

    def __init__(self, results: list[CaseResult], planned: int, reason: ProviderDown) -> None:
        self.results = results
        self.planned = planned
        self.reason = reason
        super().__init__(str(reason))


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
class Runner:
    """Runs planned cases; every case ends as passed, failed or error, never silently dropped."""

    caller: ModelCaller
    judge: ModelCaller | None = None
    concurrency: int = 8
    on_case: ProgressHook | None = None
    # gate.fail_on_truncation: an answer the model did not finish fails its case
    fail_on_truncation: bool = True
    # on an event-loop run, the threads for checks that may block (made on first use)
    _check_pool: ThreadPoolExecutor | None = field(default=None, init=False, repr=False)

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
        except EvalgateError as exc:
            return _no_answer(exc)
        return self._checked(planned, completion)

    async def _atrial(self, planned: PlannedCase, trial: int) -> Trial:
        case = planned.case
        try:
            completion = await self.caller.acomplete(
                case.id, planned.prompt, planned.system, trial, planned.history
            )
        except EvalgateError as exc:
            return _no_answer(exc)
        spec = case.spec
        if spec.transform is None and all(
            check.type in IN_MEMORY_CHECKS and check.transform is None for check in spec.checks
        ):
            return self._checked(planned, completion)
        import asyncio

        pool = self._check_pool
        if pool is None:
            pool = self._check_pool = ThreadPoolExecutor(self.concurrency, "evalgate-checks")
        return await asyncio.get_running_loop().run_in_executor(pool, self._checked, planned, completion)

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
        if self.caller.on_event_loop and not _inside_event_loop():
            return self._run_on_loop(plan)
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
            if isinstance(failures[0], ProviderDown):
                raise RunStopped(book.results(), len(plan), failures[0])
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

    def _run_on_loop(self, plan: Sequence[PlannedCase]) -> list[CaseResult]:
        """The run with every model call a task on one event loop in this thread.

        Thirty-two threads each blocking on a socket cost about 200 µs of CPU per call in thread
        switches and GIL hand-offs; tasks on one loop cost a quarter of that. Checks that may block run
        on a thread pool beside the loop. A stop (SIGINT/SIGTERM, or ``cancel.cancel`` from any thread)
        cancels the tasks, which aborts their connections and backoff waits.
        """
        import asyncio

        book = _Book(plan, self.on_case)
        loop = asyncio.new_event_loop()
        main = loop.create_task(self._arun(plan, book))
        finished = False

        def stop() -> None:
            loop.call_soon_threadsafe(main.cancel)

        handle = cancel.on_cancel(stop)
        try:
            loop.run_until_complete(main)
            finished = True
        except (KeyboardInterrupt, cancel.Cancelled, asyncio.CancelledError) as exc:
            cancel.cancel()
            main.cancel()
            with contextlib.suppress(BaseException):  # let every task abort its connection
                loop.run_until_complete(main)
            raise RunInterrupted(book.results(), len(plan), cancel.exit_code_for(exc)) from exc
        except ProviderDown as exc:  # the other calls in flight were cancelled with their connections
            raise RunStopped(book.results(), len(plan), exc) from exc
        finally:
            cancel.forget(handle)
            _close(loop)
            pool, self._check_pool = self._check_pool, None
            if pool is not None:  # a stopped run does not wait for a check stuck in a user's code
                pool.shutdown(wait=finished, cancel_futures=True)
        return book.results()

    async def _arun(self, plan: Sequence[PlannedCase], book: _Book) -> None:
        import asyncio

        work = self._work_on_loop(plan, book)

        async def worker() -> None:
            for index, trial_no, planned in work:
                book.record(index, trial_no, await self._atrial(planned, trial_no))

        tasks = [asyncio.ensure_future(worker()) for _ in range(max(1, self.concurrency))]
        try:
            await asyncio.gather(*tasks)
        except BaseException:
            for task in tasks:  # one failed (e.g. a ConfigError from a check) or the run was stopped
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        finally:
            aclose = getattr(self.caller.provider, "aclose", None)
            if aclose is not None:
                await aclose()

    def _work_on_loop(self, plan: Sequence[PlannedCase], book: _Book) -> Iterator[_Work]:
        """The trials to call, in plan order, shared by the loop's workers; cache hits are answered here."""
        for index, planned in enumerate(plan):
            for trial_no in range(planned.case.spec.repeat):
                hit = self._from_cache(planned, trial_no)
                if hit is None:
                    yield index, trial_no, planned
                else:
                    book.record(index, trial_no, hit)


def _inside_event_loop() -> bool:
    """Whether this thread is already running an event loop (evalgate called from async code, or from a
    notebook): a second loop cannot run here, so the run uses worker threads instead."""
    if "asyncio" not in sys.modules:
        return False  # nothing imported asyncio, so no loop can be running
    import asyncio

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _no_answer(exc: EvalgateError) -> Trial:
    """A trial without an answer: the provider's error is the case's; a config error, a stop or a provider
    that is down (no call was sent) is not."""
    if isinstance(exc, ProviderError) or not isinstance(exc, ConfigError | cancel.Cancelled | ProviderDown):
        return Trial(completion=None, error=str(exc))
    raise exc


def _close(loop: asyncio.AbstractEventLoop) -> None:
    """Close the run's loop after its async generators and default executor."""
    try:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(loop.shutdown_default_executor())
    finally:
        loop.close()


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
