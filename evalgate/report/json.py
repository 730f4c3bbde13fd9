"""The versioned JSON report: what a run wrote, and reading it back for shard merges and baselines."""

from __future__ import annotations

import gc
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any, cast

import pydantic_core

from evalgate import __version__
from evalgate.errors import ConfigError
from evalgate.gate import Comparison, as_metric, pass_rate, totals
from evalgate.report.rebuild import read_case, rebuild
from evalgate.report.schemacheck import Check, Unsupported, compile_schema
from evalgate.results import CaseResult, CheckResult, GateVerdict, RunResult, Trial

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator

SCHEMA_VERSION = 1
_MESSAGE_CHARS = 200


def to_json_dict(
    run: RunResult,
    verdict: GateVerdict,
    comparison: Comparison | None = None,
    readiness: Sequence[Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """The report as plain JSON-ready data (schema version 1, see ``schemas/report.schema.json``)."""
    return {**_head(run, verdict, comparison, readiness), "cases": [_case(c) for c in run.cases]}


def _head(
    run: RunResult,
    verdict: GateVerdict,
    comparison: Comparison | None,
    readiness: Sequence[Mapping[str, Any]] | None,
) -> dict[str, Any]:
    """Everything but the cases, which come last."""
    metric = as_metric(verdict.metric)
    _, passed, total = pass_rate(run.cases, metric)
    sums = totals(run.cases)
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "evalgate", "version": __version__},
        "provider": run.provider,
        "model": run.model,
        "config": run.config_path,
        "started_at": run.started_at,
        "duration_s": run.duration_s,
        "pass_rate": verdict.value,
        "passed": passed,
        "total": total,
        "metric": verdict.metric,
        "threshold": verdict.threshold,
        "gate": {"passed": verdict.passed, "reasons": list(verdict.reasons)},
        "totals": {
            "cost_usd": sums.cost_usd,
            "latency_p50_ms": sums.latency_p50_ms,
            "latency_p95_ms": sums.latency_p95_ms,
            "errors": sums.errors,
            "fallback_cases": sums.fallback_cases,
        },
        "notes": list(run.notes),
        **({} if run.retries is None else {"retries": dict(run.retries)}),
        **({"incomplete": True, "planned_cases": run.planned} if run.incomplete else {}),
        "comparison": None if comparison is None else _comparison(comparison),
        **({} if readiness is None else {"readiness": [dict(item) for item in readiness]}),
    }


def render_json(
    run: RunResult,
    verdict: GateVerdict,
    comparison: Comparison | None = None,
    readiness: Sequence[Mapping[str, Any]] | None = None,
    encoded: EncodedCases | None = None,
) -> str:
    """The report as compact JSON text (ASCII-only, so any byte-oriented writer can store it).

    ``encoded`` holds cases already encoded as they finished (``EncodedCases``); the rest are encoded here.
    """
    return "".join(json_parts(run, verdict, comparison, readiness, encoded))


def json_parts(
    run: RunResult,
    verdict: GateVerdict,
    comparison: Comparison | None = None,
    readiness: Sequence[Mapping[str, Any]] | None = None,
    encoded: EncodedCases | None = None,
) -> Iterator[str]:
    """``render_json``'s text in pieces, for a writer that need not hold a 10,000-case report at once."""
    # Cases are encoded one at a time, so a 10,000-case report never exists as one tree of dicts.
    head = _encode({**_head(run, verdict, comparison, readiness), "cases": []})
    yield head[:-2]  # head ends with '[]}': the empty case list, then the object
    encode = encoded.text if encoded is not None else _case_text
    for number, case in enumerate(run.cases):
        yield f",{encode(case)}" if number else encode(case)
    yield "]}\n"


def _case_text(case: CaseResult) -> str:
    return _encode(_case(case, share=True))


class EncodedCases:
    """Each case's JSON, encoded when the case finishes: a run's event loop mostly waits on the network,
    so the encoding happens then instead of after the last answer, when the report is written.

    A case's JSON depends on nothing but the case (results are immutable); ``text`` uses the stored text
    only for the very object it was made from.
    """

    def __init__(self) -> None:
        self._done: dict[int, tuple[CaseResult, str]] = {}

    def __call__(self, case: CaseResult) -> None:
        self._done[id(case)] = (case, _case_text(case))

    def text(self, case: CaseResult) -> str:
        """The case's JSON, as stored or encoded now."""
        hit = self._done.get(id(case))
        return hit[1] if hit is not None and hit[0] is case else _case_text(case)


_NON_ASCII = re.compile(r"[^\x00-\x7f]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    code -= 0x10000  # beyond the BMP: a UTF-16 surrogate pair, as JSON spells it
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def _encode(value: Any) -> str:
    """Compact ASCII JSON of plain data.

    pydantic-core's encoder is about three times faster than ``json``'s; text it cannot encode (a lone
    surrogate from a model's answer) goes through ``json``, which escapes it. Non-ASCII characters can
    only stand inside strings, so escaping them afterwards keeps the JSON valid and equal.
    """
    try:
        text = pydantic_core.to_json(value).decode("utf-8")
    except (pydantic_core.PydanticSerializationError, UnicodeDecodeError):
        return json.dumps(value, separators=(",", ":"), allow_nan=True)
    return text if text.isascii() else _NON_ASCII.sub(_escape, text)


def _parse(text: str) -> Any:
    """JSON text to plain data: pydantic-core's parser (faster), ``json``'s for anything it refuses.

    ``json`` then either reads it (e.g. an escaped lone surrogate) or raises the error the caller words.
    """
    try:
        return pydantic_core.from_json(text)
    except ValueError:
        return json.loads(text)


def from_json_dict(data: Any, *, source: str | None = None) -> tuple[RunResult, GateVerdict]:
    """Rebuild the run and verdict a report was rendered from; ``ConfigError`` if it is not a v1 report."""
    if not isinstance(data, dict):
        raise ConfigError(
            f"expected a JSON object, got {type(data).__name__}",
            file=source,
            fix="pass a report written by 'evalgate run --json'",
        )
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        raise ConfigError(
            f"unsupported report schema_version {version!r}; this evalgate ({__version__}) reads version "
            f"{SCHEMA_VERSION}",
            file=source,
            where="schema_version",
            fix="re-run the baseline with this evalgate version, or install the version that wrote it",
        )
    with _no_gc():
        rebuilt = _read_valid(data)
        if rebuilt is None:
            _explain_invalid(data, source)
            return rebuild(data)
        return rebuilt


def _read_valid(data: dict[str, Any]) -> tuple[RunResult, GateVerdict] | None:
    """The run and verdict of a valid report, or None if it is not valid.

    Each case is checked and rebuilt in turn, so its parsed JSON is read the second time while it is still
    in the CPU's caches rather than after the whole report was checked: a few per cent less time for a
    10,000-case report, about 6% in a process whose memory earlier reports have scattered.
    """
    checks = _checks_by_case()
    if checks is None:
        return rebuild(data) if _fast_check()(data) else None
    head, case = checks
    if not head(data):
        return None
    read = []
    for item in data["cases"]:
        if not case(item):
            return None
        read.append(read_case(item))
    return rebuild(data, tuple(read))


def _explain_invalid(data: dict[str, Any], source: str | None) -> None:
    """Raise the ``jsonschema`` explanation of why ``data`` is not a valid report."""
    from jsonschema.exceptions import best_match  # imported on use: only an invalid report needs it

    error = best_match(_validator().iter_errors(data))
    if error is not None:
        message = error.message
        if len(message) > _MESSAGE_CHARS:
            message = message[: _MESSAGE_CHARS - 1] + "…"
        raise ConfigError(
            f"not a valid evalgate report: {message}",
            file=source,
            where=_path(error.absolute_path) or None,
        )


@contextmanager
def _no_gc() -> Iterator[None]:
    """Pause the cyclic collector while building many small objects that hold no cycles.

    Each pass would walk the whole parsed report again: tens of them for a 10,000-case report.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def load_json(text: str, *, source: str | None = None) -> tuple[RunResult, GateVerdict]:
    """Parse report text and rebuild it; malformed JSON is a ``ConfigError`` with its line."""
    with _no_gc():
        try:
            data = _parse(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(
                f"not valid JSON: {exc.msg} (column {exc.colno})", file=source, line=exc.lineno
            ) from None
        except RecursionError:  # pydantic-core refused it, and json ran out of stack: not a report
            raise ConfigError("not a report: JSON nested too deeply to read", file=source) from None
        rebuilt = from_json_dict(data, source=source)
        # Freed while the collector is still paused: its first pass afterwards walks every tracked
        # object made since the last one, and the parsed tree is more than half of them (about 30 ms
        # of a 10,000-case report).
        del data
    return rebuilt


@cache
def report_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) every rendered report validates against."""
    text = resources.files("evalgate").joinpath("schemas/report.schema.json").read_text(encoding="utf-8")
    return cast(dict[str, Any], json.loads(text))


@cache
def _fast_check() -> Check:
    """The report schema compiled to a predicate; ``jsonschema`` itself if the schema outgrew the compiler."""
    try:
        return compile_schema(report_schema())
    except Unsupported:
        return lambda data: _validator().is_valid(data)


@cache
def _checks_by_case() -> tuple[Check, Check] | None:
    return _split_by_case(report_schema())


def _split_by_case(schema: dict[str, Any]) -> tuple[Check, Check] | None:
    """Compiled checks of a report but for the items of its ``cases``, and of one case; None when the
    schema's cases are not simply an array of ``$defs/case`` or the compiler does not cover the schema.

    A report is valid exactly when both hold (the first for the report, the second for each case): the
    schema's keywords never relate one property to another.
    """
    cases = {"type": "array", "items": {"$ref": "#/$defs/case"}}
    if not isinstance(schema.get("properties"), dict) or schema["properties"].get("cases") != cases:
        return None
    head = {**schema, "properties": {**schema["properties"], "cases": {"type": "array"}}}
    try:
        return compile_schema(head), compile_schema({"$defs": schema.get("$defs"), "$ref": "#/$defs/case"})
    except Unsupported:
        return None


@cache
def _validator() -> Draft202012Validator:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(report_schema())


def _path(parts: Any) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _comparison(c: Comparison) -> dict[str, Any]:
    return {
        "metric": c.metric,
        "base_pass_rate": c.base_value,
        "base_passed": c.base_passed,
        "base_total": c.base_total,
        "base_cost_usd": c.base_cost_usd,
        "base_latency_p95_ms": c.base_latency_p95_ms,
        "newly_failing": list(c.newly_failing),
        "flaky": list(c.flaky),
        "fixed": list(c.fixed),
        "still_failing": list(c.still_failing),
        "unchanged_passing": list(c.unchanged_passing),
        "new": list(c.new),
        "removed": list(c.removed),
        "base_cases": [
            {"id": b.id, "status": b.status, "response": b.response, "checks": [_check(k) for k in b.checks]}
            for b in c.base_cases
        ],
    }


def _check(c: CheckResult) -> dict[str, Any]:
    out: dict[str, Any] = {"type": c.type, "passed": c.passed, "score": c.score, "reason": c.reason}
    if c.weight != 1.0:
        out["weight"] = c.weight
    if c.error is not None:
        out["error"] = c.error
    return out


def _trial(t: Trial) -> dict[str, Any]:
    done = t.completion
    completion = None
    if done is not None:
        completion = {
            "text": done.text,
            "model": done.model,
            "input_tokens": done.input_tokens,
            "output_tokens": done.output_tokens,
            "latency_ms": done.latency_ms,
            "cost_usd": done.cost_usd,
            "fallback": done.fallback,
            "cached": done.cached,
            "finish_reason": done.finish_reason,
            "refused": done.refused,
        }
        if done.system_fingerprint is not None:  # optional: only vendors that send one
            completion["system_fingerprint"] = done.system_fingerprint
    out: dict[str, Any] = {
        "completion": completion,
        "checks": [_check(c) for c in t.checks],
        "error": t.error,
    }
    if t.threshold is not None:
        out["threshold"] = t.threshold
    return out


def _case(c: CaseResult, *, share: bool = False) -> dict[str, Any]:
    rep = c.representative
    answered = [t.completion for t in c.trials if t.completion is not None]
    trials = [_trial(t) for t in c.trials]
    checks = None
    if share:  # only encoded, never handed out: the summary may reuse its representative trial's dicts
        checks = next((d["checks"] for t, d in zip(c.trials, trials, strict=True) if t is rep), None)
    return {
        "id": c.id,
        "suite": c.suite,
        "line": c.line,
        "tags": list(c.tags),
        "required": c.required,
        "min_pass": c.min_pass,
        "status": c.status,
        "passed": c.passed,
        "error": c.error,
        "response": c.response,
        "latency_ms": c.latency_ms,
        "cost_usd": c.cost_usd,
        "model": rep.completion.model if rep is not None and rep.completion is not None else None,
        "fallback": c.fallback,
        "cached": bool(answered) and all(a.cached for a in answered),
        "finish_reason": c.finish_reason,
        "refused": c.refused,
        "trials": len(c.trials),
        "trials_passed": c.trials_passed,
        "checks": checks if checks is not None else [_check(k) for k in c.checks],
        "trial_results": trials,
        "prompt": c.prompt,
        "vars": None if c.vars is None else dict(c.vars),
    }
