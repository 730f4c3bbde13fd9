"""Metric sources: per-arm counts and samples for a window of live traffic (jsonl, Prometheus, command).

A source never returns a bare number and never invents a zero: an arm with nothing in the window is left
out of that metric, and the judge calls it inconclusive. Prometheus quantiles are one precomputed number
per arm (``Samples`` of length one), so no interval is possible for them; request logs give raw samples.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Protocol

from pydantic import Field, model_validator

from evalgate.canary.observations import ARMS, Arm, ArmData, Observation, Proportion, RequestRecord, Samples
from evalgate.canary.requestlog import LineParser, parse_record
from evalgate.canary.transport import Seconds, http_request, parse_spec, resolve_program, run_argv
from evalgate.checks import CheckContext, CheckSpec, run_check
from evalgate.errors import ConfigError, InfrastructureError
from evalgate.providers.http import expand_env
from evalgate.results import Completion
from evalgate.strict import Strict

ERROR_RATE = "error_rate"
EVAL_PASS_RATE = "eval_pass_rate"
TEXT_ONLY_CHECKS = frozenset(
    {"contains", "icontains", "not_contains", "not_icontains", "equals", "starts_with", "regex"}
    | {"max_words", "max_chars", "is_json", "json_schema"}
)
READ_CHUNK = 8 << 20


class MetricDef(Protocol):
    """What a source needs of a plan metric."""

    @property
    def name(self) -> str: ...

    @property
    def kind(self) -> str: ...  # "proportion" | "quantile"

    @property
    def q(self) -> float | None: ...


@dataclass(frozen=True)
class SimpleMetric:
    """A ``MetricDef`` for tests and scripts that have no plan."""

    name: str
    kind: Literal["proportion", "quantile"] = "proportion"
    q: float | None = None


class MetricSource(Protocol):
    """Observes live traffic between ``since`` and ``until`` (unix seconds)."""

    name: str

    def observe(self, since: float, until: float) -> Observation: ...


# the pure part ----------------------------------------------------------------------------------


def summarize(
    records: Iterable[RequestRecord],
    metrics: Sequence[MetricDef],
    live_checks: Sequence[CheckSpec],
    *,
    base_dir: Path,
) -> Observation:
    """Per-arm counts, error rate, live eval pass rate and latency samples of ``records``."""
    counts: dict[Arm, int] = {"stable": 0, "canary": 0}
    errors: dict[Arm, int] = {"stable": 0, "canary": 0}
    scored: dict[Arm, int] = {"stable": 0, "canary": 0}
    passed: dict[Arm, int] = {"stable": 0, "canary": 0}
    latencies: dict[Arm, list[float]] = {"stable": [], "canary": []}
    score = bool(live_checks) and any(m.name == EVAL_PASS_RATE for m in metrics)
    # Checks that read only the text give the same verdict for the same text: score each text once.
    verdicts: dict[str, bool] | None = {} if all(c.type in TEXT_ONLY_CHECKS for c in live_checks) else None
    for record in records:
        arm = record.arm
        counts[arm] += 1
        if record.error:
            errors[arm] += 1
            continue
        if record.latency_ms is not None:
            latencies[arm].append(record.latency_ms)
        if score and record.output is not None:
            scored[arm] += 1
            verdict = verdicts.get(record.output) if verdicts is not None else None
            if verdict is None:
                completion = Completion(text=record.output, model="live", latency_ms=record.latency_ms or 0.0)
                ctx = CheckContext(completion, prompt=record.input or "", base_dir=base_dir)
                verdict = all(run_check(spec, ctx).passed for spec in live_checks)
                if verdicts is not None:
                    verdicts[record.output] = verdict
            passed[arm] += verdict
    data: dict[str, dict[Arm, ArmData]] = {}
    notes: list[str] = []
    for metric in metrics:
        if metric.name == ERROR_RATE:
            data[metric.name] = {a: Proportion(errors[a], counts[a]) for a in ARMS if counts[a]}
        elif metric.name == EVAL_PASS_RATE:
            data[metric.name] = {a: Proportion(passed[a], scored[a]) for a in ARMS if scored[a]}
            if not live_checks:
                notes.append(f"{EVAL_PASS_RATE}: no live checks configured, so nothing was scored")
        elif metric.kind == "quantile":
            data[metric.name] = {a: Samples(tuple(latencies[a])) for a in ARMS if latencies[a]}
        else:
            data[metric.name] = {}
            notes.append(
                f"{metric.name}: not computable from request records "
                f"(known: {ERROR_RATE}, {EVAL_PASS_RATE}, quantile metrics of latency_ms)"
            )
    return Observation(counts=counts, metrics=data, notes=tuple(notes))


def _in(since: float, until: float) -> Callable[[RequestRecord], bool]:
    return lambda r: since <= r.ts < until


# jsonl ------------------------------------------------------------------------------------------


class JsonlSpec(Strict):
    """``source: {type: jsonl, path: logs/requests.jsonl}`` or ``{type: jsonl, url: https://...}``."""

    type: Literal["jsonl"] = "jsonl"
    path: Annotated[str, Field(min_length=1)] | None = None
    url: Annotated[str, Field(pattern=r"^https?://")] | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    timeout_s: Seconds = 30.0

    @model_validator(mode="after")
    def _one_place(self) -> JsonlSpec:
        if (self.path is None) == (self.url is None):
            raise ValueError("give exactly one of 'path' (a file) or 'url' (an http(s) feed)")
        return self


class _Summarizer:
    name = "summarizer"

    def __init__(
        self, metrics: Sequence[MetricDef], live_checks: Sequence[CheckSpec], base_dir: Path
    ) -> None:
        self._metrics, self._checks, self._base_dir = list(metrics), list(live_checks), base_dir

    def _observe(
        self, records: Iterable[RequestRecord], since: float, until: float, notes: Iterable[str]
    ) -> Observation:
        seen = summarize(records, self._metrics, self._checks, base_dir=self._base_dir)
        return dataclasses.replace(seen, source=self.name, window=(since, until), notes=(*seen.notes, *notes))


class JsonlFileSource(_Summarizer):
    """Tails an append-only jsonl file: each look reads only the bytes appended since the last one."""

    def __init__(
        self, path: Path, metrics: Sequence[MetricDef], live_checks: Sequence[CheckSpec], base_dir: Path
    ) -> None:
        super().__init__(metrics, live_checks, base_dir)
        self.path, self.name = path, f"jsonl {path}"
        self._restart()

    def _restart(self) -> None:
        self._offset, self._inode, self._pending = 0, -1, b""
        self._records: list[RequestRecord] = []
        self._kept_from = -math.inf  # records before this were dropped
        self._lines = LineParser(str(self.path))

    def observe(self, since: float, until: float) -> Observation:
        """Read what was appended, then summarize the records with ``since <= ts < until``."""
        if since < self._kept_from:
            self._restart()  # asked for older records than we kept
        notes: list[str] = []
        try:
            stat = os.stat(self.path)
            if stat.st_ino != self._inode or stat.st_size < self._offset:
                if self._inode != -1:
                    notes.append(
                        f"{self.name}: the file was truncated or replaced; read it again from the start"
                    )
                self._restart()
                self._inode = stat.st_ino
            self._read(since)
        except FileNotFoundError:
            notes.append(f"{self.name}: file not found (yet)")
        except OSError as exc:
            raise InfrastructureError(f"{self.name}: cannot read: {exc}", retryable=True) from None
        # The controller's windows only move forward: older records will never be asked for again.
        self._records = [r for r in self._records if r.ts >= since]
        self._kept_from = since
        window = [r for r in self._records if r.ts < until]
        return self._observe(window, since, until, (*notes, *self._lines.notes()))

    def _read(self, since: float) -> None:
        keep: Callable[[RequestRecord], bool] = lambda r: r.ts >= since  # noqa: E731
        with open(self.path, "rb") as fh:
            fh.seek(self._offset)
            while chunk := fh.read(READ_CHUNK):
                self._offset += len(chunk)
                lines = (self._pending + chunk).split(b"\n")
                self._pending = lines.pop()  # an unterminated last line may still be being written
                self._records += self._lines.feed(lines, keep)
        if self._pending.strip():
            try:  # a complete record without the final newline (a cut-off line is never valid JSON)
                parse_record(self._pending.decode("utf-8", "replace"))
            except ValueError:
                return  # still being written; the next look reads the rest
            self._records += self._lines.feed([self._pending], keep)
            self._pending = b""


class JsonlUrlSource(_Summarizer):
    """GETs a whole jsonl feed every look."""

    def __init__(
        self,
        spec: JsonlSpec,
        env: Mapping[str, str],
        metrics: Sequence[MetricDef],
        live_checks: Sequence[CheckSpec],
        base_dir: Path,
    ) -> None:
        super().__init__(metrics, live_checks, base_dir)
        self.url = expand_env(spec.url or "", env, where="source.url")
        self._headers = {k: expand_env(v, env, where=f"source.headers.{k}") for k, v in spec.headers.items()}
        self._timeout_s, self.name = spec.timeout_s, f"jsonl {spec.url}"

    def observe(self, since: float, until: float) -> Observation:
        """Fetch the feed and summarize the records with ``since <= ts < until``."""
        response = http_request(
            "GET", self.url, what=f"{self.name}: GET", headers=self._headers, timeout_s=self._timeout_s
        )
        lines = LineParser(self.name)
        records = lines.feed(response.text.splitlines(), _in(since, until))
        return self._observe(records, since, until, lines.notes())


# command ----------------------------------------------------------------------------------------


class CommandSourceSpec(Strict):
    """``source: {type: command, command: [./export-logs, "{since}", "{until}"]}``; stdout is jsonl."""

    type: Literal["command"] = "command"
    command: Annotated[list[str], Field(min_length=1)]
    timeout_s: Seconds = 60.0


class CommandSource(_Summarizer):
    """Runs a program (no shell) with ``{since}``/``{until}`` filled in; its stdout is request jsonl."""

    def __init__(
        self,
        spec: CommandSourceSpec,
        env: Mapping[str, str],
        metrics: Sequence[MetricDef],
        live_checks: Sequence[CheckSpec],
        base_dir: Path,
    ) -> None:
        super().__init__(metrics, live_checks, base_dir)
        self._argv = [resolve_program(spec.command[0], base_dir, env, "source.command"), *spec.command[1:]]
        self._env, self._timeout_s, self.name = dict(env), spec.timeout_s, f"command {spec.command[0]}"

    def observe(self, since: float, until: float) -> Observation:
        """Run the command and summarize the records it printed with ``since <= ts < until``."""
        values = {"{since}": f"{since:.3f}", "{until}": f"{until:.3f}"}
        argv = []
        for arg in self._argv:
            for key, value in values.items():
                arg = arg.replace(key, value)
            argv.append(arg)
        out = run_argv(argv, what=self.name, cwd=self._base_dir, env=self._env, timeout_s=self._timeout_s)
        lines = LineParser(self.name)
        records = lines.feed(out.splitlines(), _in(since, until))
        return self._observe(records, since, until, lines.notes())


# registry ---------------------------------------------------------------------------------------

SourceFactory = Callable[
    [Mapping[str, Any], Path, Mapping[str, str], Sequence[MetricDef], Sequence[CheckSpec]], MetricSource
]


def _jsonl(
    spec: Mapping[str, Any],
    base_dir: Path,
    env: Mapping[str, str],
    metrics: Sequence[MetricDef],
    checks: Sequence[CheckSpec],
) -> MetricSource:
    parsed = parse_spec(JsonlSpec, spec, where="source")
    if parsed.path is not None:
        return JsonlFileSource(base_dir / parsed.path, metrics, checks, base_dir)
    return JsonlUrlSource(parsed, env, metrics, checks, base_dir)


def _prometheus(
    spec: Mapping[str, Any],
    base_dir: Path,
    env: Mapping[str, str],
    metrics: Sequence[MetricDef],
    checks: Sequence[CheckSpec],
) -> MetricSource:
    from evalgate.canary.prometheus import PrometheusSource, PrometheusSpec

    return PrometheusSource(parse_spec(PrometheusSpec, spec, where="source"), env, metrics)


def _command(
    spec: Mapping[str, Any],
    base_dir: Path,
    env: Mapping[str, str],
    metrics: Sequence[MetricDef],
    checks: Sequence[CheckSpec],
) -> MetricSource:
    return CommandSource(parse_spec(CommandSourceSpec, spec, where="source"), env, metrics, checks, base_dir)


SOURCES: dict[str, SourceFactory] = {"jsonl": _jsonl, "prometheus": _prometheus, "command": _command}
"""Source type (the ``type:`` key under ``source:``) -> factory."""


def build_source(
    spec: Mapping[str, Any],
    *,
    base_dir: Path,
    env: Mapping[str, str],
    metrics: Sequence[MetricDef],
    live_checks: Sequence[CheckSpec],
) -> MetricSource:
    """The metric source the plan's ``source:`` mapping describes; ``ConfigError`` naming the field."""
    kind = spec.get("type")
    if kind not in SOURCES:
        found = "missing" if kind is None else f"unknown type {kind!r}"
        raise ConfigError(
            f"source type {found}", where="source.type", fix=f"use one of: {', '.join(SOURCES)}"
        )
    return SOURCES[str(kind)](spec, base_dir, env, metrics, live_checks)
