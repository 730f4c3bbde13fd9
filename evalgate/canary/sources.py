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
from pathlib import Path
from typing import Annotated, Any, Literal, Protocol

from pydantic import Field, model_validator

from evalgate.canary.observations import Observation, RequestRecord
from evalgate.canary.requestlog import LineParser, parse_record

# re-exported: sources and tests import the summary's names from here
from evalgate.canary.summary import ERROR_RATE as ERROR_RATE
from evalgate.canary.summary import EVAL_PASS_RATE as EVAL_PASS_RATE
from evalgate.canary.summary import TEXT_ONLY_CHECKS as TEXT_ONLY_CHECKS
from evalgate.canary.summary import MetricDef as MetricDef
from evalgate.canary.summary import SimpleMetric as SimpleMetric
from evalgate.canary.summary import summarize as summarize
from evalgate.canary.transport import Seconds, http_request, parse_spec, resolve_program, run_argv
from evalgate.checks import CheckSpec
from evalgate.errors import ConfigError, InfrastructureError
from evalgate.providers.http import expand_env
from evalgate.strict import Strict

READ_CHUNK = 8 << 20
DEFAULT_BATCH_S = 30.0


class MetricSource(Protocol):
    """Observes live traffic between ``since`` and ``until`` (unix seconds)."""

    name: str

    def observe(self, since: float, until: float) -> Observation: ...


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
    # sub-window width for the sample-ratio test and the fresh-data test of a one-shot judge;
    # ``canary run`` sets it to a tenth of the stage's look_every
    batch_s: float | None = DEFAULT_BATCH_S

    def __init__(
        self, metrics: Sequence[MetricDef], live_checks: Sequence[CheckSpec], base_dir: Path
    ) -> None:
        self._metrics, self._checks, self._base_dir = list(metrics), list(live_checks), base_dir

    def _observe(
        self, records: Iterable[RequestRecord], since: float, until: float, notes: Iterable[str]
    ) -> Observation:
        seen = summarize(
            records,
            self._metrics,
            self._checks,
            base_dir=self._base_dir,
            window=(since, until),
            batch_s=self.batch_s,
        )
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
            # Read up to the size at the start: an app appending faster than we parse (a busy machine)
            # must not keep one look reading forever; the rest is the next look's.
            end = os.fstat(fh.fileno()).st_size
            while self._offset < end and (chunk := fh.read(min(READ_CHUNK, end - self._offset))):
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
