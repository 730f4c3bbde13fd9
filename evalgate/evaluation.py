"""One evaluation from config to verdict: load, select, render, lint pins, run, decide."""

from __future__ import annotations

import gc
import hashlib
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from evalgate import cancel
from evalgate.breaker import Breaker
from evalgate.cache import DiskCache
from evalgate.caller import ModelCaller
from evalgate.checks import prepare_checks
from evalgate.config import LoadedConfig, ModelConfig, RunnerConfig, load_config
from evalgate.errors import ConfigError, ProviderDown, UsageError
from evalgate.pins import check_pin
from evalgate.prompts import PromptLibrary
from evalgate.providers import build_provider
from evalgate.redact import redactor_for
from evalgate.results import CaseResult, GateVerdict, RunResult
from evalgate.runner import (
    PlannedCase,
    ProgressHook,
    RunInterrupted,
    Runner,
    RunStopped,
    build_run_result,
    now_iso,
)
from evalgate.suite import Case, load_suites
from evalgate.throttle import Throttle


@dataclass(frozen=True)
class Selection:
    """Which cases to run: by tag, by id, and which shard of the rest."""

    tags: tuple[str, ...] = ()
    case_ids: tuple[str, ...] = ()
    shard: tuple[int, int] | None = None


@dataclass(frozen=True)
class Project:
    """A loaded config with its cases and compiled prompts."""

    loaded: LoadedConfig
    cases: tuple[Case, ...]
    prompts: PromptLibrary


@dataclass(frozen=True)
class PinFinding:
    """An unpinned model name and where it was written."""

    file: str
    line: int | None
    where: str
    message: str
    fix: str

    def render(self) -> str:
        location = f"{self.file}:{self.line}" if self.line else self.file
        return f"{location}: {self.where}: {self.message} ({self.fix})"


def load_project(config_path: str | os.PathLike[str], *, cache_dir: Path | None = None) -> Project:
    """Load and validate the config, every suite and every prompt template.

    ``cache_dir`` replaces ``runner.cache_dir`` for the parse cache (the Action keeps its caches outside
    the workspace, where a pull request cannot plant entries).
    """
    loaded = load_config(config_path)
    runner = loaded.config.runner
    cache_dir = (cache_dir or loaded.resolve(runner.cache_dir)) if runner.cache else None
    cases = load_suites(
        loaded.config.suites, loaded.root, cache_dir=cache_dir, prompts=list(loaded.config.prompts)
    )
    prompts = PromptLibrary(loaded)
    return Project(loaded=loaded, cases=tuple(cases), prompts=prompts)


def parse_shard(text: str) -> tuple[int, int]:
    """``'2/4'`` -> ``(2, 4)``; 1-based."""
    index, sep, total = text.partition("/")
    try:
        i, n = int(index), int(total)
    except ValueError:
        i, n = 0, 0
    if not sep or n < 1 or not 1 <= i <= n:
        raise UsageError(f"--shard '{text}' is not I/N with 1 <= I <= N", fix="e.g. --shard 1/4")
    return i, n


def in_shard(case_id: str, shard: tuple[int, int]) -> bool:
    """Stable membership by a hash of the id, so adding a case never reshuffles the others."""
    index, total = shard
    digest = hashlib.sha256(case_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % total == index - 1


def select(cases: Sequence[Case], selection: Selection) -> list[Case]:
    """Filter cases; a tag or id that matches nothing is a usage error, not an empty green run."""
    chosen = list(cases)
    if selection.tags:
        known = {t for c in cases for t in c.spec.tags}
        unknown = [t for t in selection.tags if t not in known]
        if unknown:
            raise UsageError(
                f"--tag {', '.join(unknown)} matches no case",
                fix=f"known tags: {', '.join(sorted(known)) or 'none'}",
            )
        wanted = set(selection.tags)
        chosen = [c for c in chosen if wanted.intersection(c.spec.tags)]
    if selection.case_ids:
        ids = {c.id for c in cases}
        unknown = [i for i in selection.case_ids if i not in ids]
        if unknown:
            raise UsageError(f"--case {', '.join(unknown)} is not a case id in the suites")
        wanted_ids = set(selection.case_ids)
        chosen = [c for c in chosen if c.id in wanted_ids]
    if selection.shard is not None:
        shard = selection.shard
        chosen = [c for c in chosen if in_shard(c.id, shard)]
    return chosen


def plan(project: Project, cases: Sequence[Case]) -> list[PlannedCase]:
    """Render every prompt and prepare every check up front, so bad input fails before any model call."""
    system = project.loaded.config.model.system
    planned: list[PlannedCase] = []
    for case in cases:
        base_dir = (project.loaded.root / case.suite).parent
        if case.spec.transform_vars is not None:
            from evalgate.casevars import TransformError, transformed

            try:
                case = transformed(case, base_dir)
            except TransformError as exc:  # the case errors; the others still run
                prepare_checks(case.spec.checks, base_dir)
                planned.append(
                    PlannedCase(case=case, prompt="", system=None, base_dir=base_dir, error=str(exc))
                )
                continue
        prepare_checks(case.spec.checks, base_dir)
        if case.spec.transform is not None:
            from evalgate.checks.transforms import prepare_transform

            prepare_transform(case.spec.transform, base_dir)
        history = project.prompts.render_history(case)
        if history and project.loaded.config.model.provider not in ("openai", "anthropic"):
            raise ConfigError(
                f"prompt '{case.spec.prompt}' has earlier chat turns, which only the openai and anthropic "
                f"providers can send (this model uses '{project.loaded.config.model.provider}')",
                file=case.suite,
                line=case.line,
                fix="keep one user message in the prompt file, or use an openai/anthropic model",
            )
        planned.append(
            PlannedCase(
                case=case,
                prompt=project.prompts.render(case),
                system=_system(case, project.prompts.render_system(case), system),
                base_dir=base_dir,
                history=history,
            )
        )
    return planned


def _system(case: Case, from_prompt: str | None, from_model: str | None) -> str | None:
    # the case's own system prompt wins, then the chat prompt's system message, then the model's
    if case.spec.system is not None:
        return case.spec.system
    return from_prompt if from_prompt is not None else from_model


def lint_pins(loaded: LoadedConfig) -> list[PinFinding]:
    """Every unpinned model name in the config (model, fallback, judge)."""
    allow = {entry.model: entry.reason for entry in loaded.config.pins.allow}
    findings = []
    places: list[tuple[tuple[str, ...], str | None]] = [
        (("model", "name"), loaded.config.model.name),
        (("model", "fallback"), loaded.config.model.fallback),
    ]
    if loaded.config.judge is not None:
        places += [
            (("judge", "name"), loaded.config.judge.name),
            (("judge", "fallback"), loaded.config.judge.fallback),
        ]
    target = (loaded.config.canary or {}).get("target")
    if isinstance(target, dict) and target.get("kind") == "model":
        # a model canary rolls out a pin change: both ends must be pinned versions too
        places += [
            (("canary", "target", "stable"), _text(target.get("stable"))),
            (("canary", "target", "candidate"), _text(target.get("candidate"))),
        ]
    for loc, name in places:
        if name is None:
            continue
        problem = check_pin(name, allow)
        if problem is not None:
            findings.append(
                PinFinding(
                    file=loaded.file,
                    line=loaded.doc.line_of(loc),
                    where=".".join(loc),
                    message=problem.reason,
                    fix=problem.fix,
                )
            )
    return findings


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def require_pins(loaded: LoadedConfig) -> None:
    """Raise ``ConfigError`` for the first unpinned model name."""
    findings = lint_pins(loaded)
    if findings:
        first = findings[0]
        raise ConfigError(first.message, file=first.file, line=first.line, where=first.where, fix=first.fix)


@dataclass(frozen=True)
class RunOptions:
    """Knobs of one run that do not change any answer."""

    concurrency: int | None = None
    use_cache: bool = True
    allow_unpinned: bool = False  # local exploration only; the CLI warns, the Action never sets it
    threshold: float | None = None
    env: Mapping[str, str] | None = None
    sleep: Callable[[float], None] | None = None
    on_case: ProgressHook | None = None
    cache_dir: Path | None = None  # share one response cache between a head and a base run


def _caller(
    cfg: ModelConfig, loaded: LoadedConfig, options: RunOptions, concurrency: int, section: str = "model"
) -> ModelCaller:
    runner_cfg = loaded.config.runner
    cache = None
    if options.use_cache and runner_cfg.cache:
        cache = DiskCache(options.cache_dir or loaded.resolve(runner_cfg.cache_dir))
    env = os.environ if options.env is None else options.env
    try:
        provider = build_provider(cfg, base_dir=loaded.root, concurrency=concurrency, env=env)
    except ConfigError as exc:
        if exc.file is None:  # point at the model section that asked for it
            exc.file = loaded.file
            exc.line = loaded.doc.line_of((section, "api_key_env")) or loaded.doc.line_of((section,))
            exc.args = (exc.render(),)
        raise
    return ModelCaller(
        config=cfg,
        provider=provider,
        prices=loaded.config.prices,
        cache=cache,
        sleep=options.sleep,
        redact=redactor_for(env),
        throttle=_throttle(runner_cfg, concurrency),
        breaker=Breaker(runner_cfg.max_consecutive_failures, f"{cfg.provider} {cfg.name}"),
    )


def _throttle(runner_cfg: RunnerConfig, concurrency: int) -> Throttle:
    """Each model config gets its own: provider limits are per model."""
    limit = runner_cfg.rate_limit
    return Throttle(
        concurrency,
        requests_per_minute=limit.requests_per_minute if limit else None,
        tokens_per_minute=limit.tokens_per_minute if limit else None,
        sleep=cancel.sleep,
    )


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Keep the cyclic collector off the loaded project and out of the per-case path.

    A run allocates a few small objects per case and makes almost no cycles, but every collection of
    the oldest generation walks everything alive, the loaded suites and plan included: about a sixth of
    the CPU of a 10,000-case run. Objects alive now are frozen (never walked), and young collections
    happen every 7,000 allocations (Python's default is 700; the command line starts at 70,000, see
    ``cli.console``); both are undone on the way out.
    """
    global _collections_tuned
    if _collections_tuned:  # nested: freeze what was loaded since; the outermost one undoes it all
        gc.freeze()
        yield
        return
    _collections_tuned = True
    threshold = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(_RUN_COLLECTION_THRESHOLD, *threshold[1:])
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        gc.unfreeze()
        _collections_tuned = False


_collections_tuned = False
_RUN_COLLECTION_THRESHOLD = 7_000


def execute(project: Project, cases: Sequence[Case], options: RunOptions) -> tuple[RunResult, GateVerdict]:
    """Run the selected cases and decide the gate."""
    loaded = project.loaded
    if not options.allow_unpinned:
        require_pins(loaded)
    planned = plan(project, cases)
    concurrency = options.concurrency or loaded.config.runner.concurrency
    caller = _caller(loaded.config.model, loaded, options, concurrency)
    judge = (
        _caller(loaded.config.judge, loaded, options, concurrency, "judge") if loaded.config.judge else None
    )
    started, started_at = time.monotonic(), now_iso()
    stopped: RunInterrupted | None = None
    down: ProviderDown | None = None
    try:
        with fewer_collections():
            results: list[CaseResult] = Runner(
                caller=caller,
                judge=judge,
                concurrency=concurrency,
                on_case=options.on_case,
                fail_on_truncation=loaded.config.gate.fail_on_truncation,
            ).run(planned)
    except RunInterrupted as exc:
        stopped, results = exc, exc.results
    except RunStopped as exc:
        down, results = exc.reason, exc.results
    finally:
        caller.provider.close()
        if judge is not None:
            judge.provider.close()
    retries = caller.retries + (judge.retries if judge is not None else Counter())
    run = build_run_result(
        results,
        config=loaded.config,
        config_path=loaded.file,
        started=started,
        started_at=started_at,
        retries=retries,
        planned=None if stopped is None and down is None else len(planned),
    )
    from evalgate.gate import decide  # judging loads after the run, off the way to the first request

    verdict = decide(run.cases, loaded.config.gate, threshold_override=options.threshold)
    if stopped is not None:
        raise InterruptedRun(run, interrupted_verdict(verdict, run), stopped.exit_code) from stopped
    if down is not None:
        reason = (
            f"the run stopped after {len(run.cases)} of {run.planned} cases: {down}; "
            "this partial report is not a verdict"
        )
        raise StoppedRun(run, replace(verdict, passed=False, reasons=(reason, *verdict.reasons)), down)
    return run, verdict


class StoppedRun(ProviderDown):
    """A run that stopped sending calls to a provider that is down (``runner.max_consecutive_failures``):
    its partial result and failed verdict, for the reports. Exit code 3: an outage, not a verdict."""

    def __init__(self, run: RunResult, verdict: GateVerdict, down: ProviderDown) -> None:
        self.run = run
        self.verdict = verdict
        super().__init__(verdict.reasons[0])
        self.summary = down.summary


class InterruptedRun(KeyboardInterrupt):
    """A run stopped by SIGINT/SIGTERM, with its partial result and failed verdict for the reports."""

    def __init__(self, run: RunResult, verdict: GateVerdict, exit_code: int) -> None:
        self.run = run
        self.verdict = verdict
        self.exit_code = exit_code
        super().__init__(verdict.reasons[0])


def interrupted_verdict(verdict: GateVerdict, run: RunResult) -> GateVerdict:
    """A partial run never passes: the gate fails, saying how far the run got."""
    how = "SIGTERM" if cancel.exit_code_for() == cancel.EXIT_TERMINATED else "SIGINT"
    reason = (
        f"the run was interrupted ({how}) after {len(run.cases)} of {run.planned} cases; "
        "this partial report is not a verdict"
    )
    return replace(verdict, passed=False, reasons=(reason, *verdict.reasons))
