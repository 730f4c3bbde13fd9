"""The deployment-readiness table: one row per item an AI deployment gate should check, with its evidence.

Pure: the run, the comparison, the config and what GitHub said about the head commit's other checks go in;
rows come out. ``not_configured`` rows are hints; an item fails the gate only when ``gate.require`` lists it
and it is not ``pass`` (``pending`` code tests are still running: they neither pass nor fail the gate).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from evalgate.gate import Comparison, fmt_ms, fmt_pct, fmt_usd, pass_rate, totals
from evalgate.results import CaseResult, GateVerdict, RunResult

State = Literal["pass", "fail", "not_configured", "pending"]
LABELS: dict[str, str] = {
    "code_tests": "Code tests",
    "prompt_rendering": "Prompt rendering",
    "schema_validation": "Schema validation",
    "eval_pass_rate": "Eval pass rate",
    "security_suite": "Security suite",
    "cost_regression": "Cost regression",
    "latency_regression": "Latency regression",
    "rollback_plan": "Rollback plan",
    "observability": "Observability",
}
SECURITY_TAG = "security"
COST_TOLERANCE = 0.10  # cost may rise 10% over the base before it counts as a regression
LATENCY_TOLERANCE = 0.20  # p95 latency is noisier: 20%
JSON_CHECKS = frozenset({"json_schema", "is_json"})


@dataclass(frozen=True, slots=True)
class CodeCheck:
    """Another check on the head commit: a check run or a commit status, as GitHub reported it."""

    name: str
    state: Literal["success", "failure", "pending", "neutral"]


@dataclass(frozen=True, slots=True)
class Item:
    """One row: the item, its state, the evidence in one sentence, and whether ``gate.require`` lists it."""

    key: str
    state: State
    evidence: str
    required: bool = False

    @property
    def label(self) -> str:
        return LABELS.get(self.key, self.key)

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "item": self.label,
            "state": self.state,
            "evidence": self.evidence,
            "required": self.required,
        }


@dataclass(frozen=True, slots=True)
class Facts:
    """What readiness needs beyond the run: check kinds per case, the gate's tag thresholds, the canary."""

    check_kinds: Mapping[str, Sequence[str]]  # case id -> the type of each of its checks, in order
    tag_thresholds: Mapping[str, float]
    require: Sequence[str] = ()
    code_checks: Sequence[CodeCheck] | None = None  # None: GitHub was not asked (no token, not a PR)
    rollback: str | None = None  # "" valid plan with a router; text: why the plan is invalid; None: none
    observability: str | None = None  # "" the source answered; text: why not; None: no canary source


def assess(run: RunResult, verdict: GateVerdict, comparison: Comparison | None, facts: Facts) -> list[Item]:
    """Every readiness row, in the seed's order."""
    required = set(facts.require)
    rows = [
        _code_tests(facts.code_checks),
        _prompt_rendering(run.cases),
        _schema(run.cases, facts.check_kinds),
        _eval(run, verdict),
        _security(run.cases, facts.tag_thresholds),
        _cost(run, comparison),
        _latency(run, comparison),
        _rollback(facts.rollback),
        _observability(facts.observability),
    ]
    return [Item(r.key, r.state, r.evidence, r.key in required) for r in rows]


def failures(items: Sequence[Item]) -> list[str]:
    """Gate reasons for required items that did not pass (pending code tests excepted)."""
    return [
        f"readiness: {item.label.lower()} is required by gate.require but "
        f"{'is not configured' if item.state == 'not_configured' else 'failed'}: {item.evidence}"
        for item in items
        if item.required and item.state in ("fail", "not_configured")
    ]


def _code_tests(checks: Sequence[CodeCheck] | None) -> Item:
    key = "code_tests"
    if checks is None:
        return Item(key, "not_configured", "not asked: needs a pull request and a token that can read checks")
    if not checks:
        return Item(key, "not_configured", "no other check runs or statuses on the head commit")
    by_state: dict[str, list[str]] = {}
    for check in checks:
        by_state.setdefault(check.state, []).append(check.name)
    if by_state.get("failure"):
        return Item(
            key, "fail", f"{len(by_state['failure'])} of {len(checks)} failed: {_names(by_state['failure'])}"
        )
    if by_state.get("pending"):
        return Item(
            key,
            "pending",
            f"{len(by_state['pending'])} of {len(checks)} still running: {_names(by_state['pending'])}",
        )
    return Item(key, "pass", f"{len(checks)} other checks passed: {_names([c.name for c in checks])}")


def _names(names: Sequence[str], shown: int = 5) -> str:
    text = ", ".join(names[:shown])
    return text + (f" and {len(names) - shown} more" if len(names) > shown else "")


def _prompt_rendering(cases: Sequence[CaseResult]) -> Item:
    rendered = sum(1 for c in cases if c.prompt is not None)
    if not cases:
        return Item("prompt_rendering", "fail", "no cases were run")
    if not rendered:
        # a report from an older evalgate: the prompts were rendered, but not recorded
        return Item("prompt_rendering", "pass", f"{len(cases)} cases ran, so every prompt rendered")
    if rendered < len(cases):  # a case whose planning failed (its transform_vars threw) has no prompt
        unrendered = [c.id for c in cases if c.prompt is None]
        return Item(
            "prompt_rendering",
            "fail",
            f"{len(unrendered)} of {len(cases)} prompts did not render: {_names(unrendered)}",
        )
    return Item("prompt_rendering", "pass", f"all {rendered} prompts rendered before any model call")


def _schema(cases: Sequence[CaseResult], kinds: Mapping[str, Sequence[str]]) -> Item:
    passed = total = 0
    for case in cases:
        types = kinds.get(case.id, ())
        for kind, check in zip(types, case.checks, strict=False):
            if kind in JSON_CHECKS:
                total += 1
                passed += check.passed
    if not total:
        return Item("schema_validation", "not_configured", "no json_schema or is_json checks in the suites")
    state: State = "pass" if passed == total else "fail"
    return Item("schema_validation", state, f"{passed}/{total} json_schema / is_json checks passed")


def _eval(run: RunResult, verdict: GateVerdict) -> Item:
    state: State = "pass" if verdict.value + 1e-9 >= verdict.threshold else "fail"
    _, passed, total = pass_rate(run.cases, "checks" if verdict.metric == "checks" else "cases")
    return Item(
        "eval_pass_rate",
        state,
        f"{fmt_pct(verdict.value)} ({passed}/{total}) vs threshold {fmt_pct(verdict.threshold)}",
    )


def _security(cases: Sequence[CaseResult], thresholds: Mapping[str, float]) -> Item:
    tagged = [c for c in cases if SECURITY_TAG in c.tags and c.status != "unchecked"]
    if not tagged:
        return Item("security_suite", "not_configured", f"no cases tagged '{SECURITY_TAG}'")
    limit = thresholds.get(SECURITY_TAG)
    value, passed, total = pass_rate(tagged)
    shown = f"{passed}/{total} '{SECURITY_TAG}' cases pass"
    if limit is None:
        # without gate.tags.security nothing holds the suite to a bar; every case must pass to count
        limit, where = 1.0, "100% (set gate.tags.security for another bar)"
    else:
        where = f"gate.tags.security {fmt_pct(limit)}"
    state: State = "pass" if value + 1e-9 >= limit else "fail"
    return Item("security_suite", state, f"{shown} ({fmt_pct(value)}) vs {where}")


def _cost(run: RunResult, comparison: Comparison | None) -> Item:
    now = totals(run.cases).cost_usd
    if comparison is None:
        return Item("cost_regression", "not_configured", "no base run to compare with")
    base = comparison.base_cost_usd
    if now is None or base is None:
        return Item("cost_regression", "not_configured", "no cost reported (add prices: for the models)")
    change = (now - base) / base if base else 0.0
    state: State = "fail" if change > COST_TOLERANCE else "pass"
    return Item(
        "cost_regression",
        state,
        f"{fmt_usd(now)} vs {fmt_usd(base)} on the base ({_change(change, COST_TOLERANCE)})",
    )


def _latency(run: RunResult, comparison: Comparison | None) -> Item:
    if run.replayed:
        return Item("latency_regression", "not_configured", "answers were replayed: no latency to compare")
    if comparison is None:
        return Item("latency_regression", "not_configured", "no base run to compare with")
    now, base = totals(run.cases).latency_p95_ms, comparison.base_latency_p95_ms
    if now is None or base is None:
        return Item("latency_regression", "not_configured", "no latency measured on one side")
    change = (now - base) / base if base else 0.0
    state: State = "fail" if change > LATENCY_TOLERANCE else "pass"
    return Item(
        "latency_regression",
        state,
        f"p95 {fmt_ms(now)} vs {fmt_ms(base)} on the base ({_change(change, LATENCY_TOLERANCE)})",
    )


def _change(change: float, limit: float) -> str:
    return f"{change * 100:+.0f}%, limit +{limit * 100:.0f}%"


def _rollback(problem: str | None) -> Item:
    if problem is None:
        return Item(
            "rollback_plan", "not_configured", "no canary: section (stages, router, automatic rollback)"
        )
    if problem:
        return Item("rollback_plan", "fail", f"the canary plan is invalid: {problem}")
    return Item(
        "rollback_plan", "pass", "a valid canary plan with a router that can send traffic back to stable"
    )


def _observability(problem: str | None) -> Item:
    if problem is None:
        return Item("observability", "not_configured", "no canary source: to read live metrics from")
    if problem:
        return Item("observability", "fail", f"the canary source {problem}")
    return Item("observability", "pass", "the canary source answered")
