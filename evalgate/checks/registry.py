"""The registry from check type to evaluator, and the functions the runner calls."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evalgate.checks.base import CheckContext, clip, quote, result
from evalgate.checks.judge import check_llm_judge
from evalgate.checks.pyfunc import check_python, resolve_check_function
from evalgate.checks.similarity import check_levenshtein, check_similar
from evalgate.checks.structured import check_is_json, check_json_schema, load_schema_file
from evalgate.checks.text import (
    check_contains,
    check_contains_all,
    check_contains_any,
    check_equals,
    check_icontains,
    check_icontains_all,
    check_icontains_any,
    check_max_chars,
    check_max_words,
    check_min_chars,
    check_min_words,
    check_not_contains,
    check_not_icontains,
    check_regex,
    check_starts_with,
)
from evalgate.checks.toolcalls import check_finish_reason, check_tool_calls, load_tools_file
from evalgate.errors import ProviderError
from evalgate.results import CheckResult

if TYPE_CHECKING:  # the spec models load with the suites that use them (evalgate.checks.specs.HOMES)
    from evalgate.checks.specs import CheckSpec
    from evalgate.checks.specs_more import JavascriptCheck
    from evalgate.checks.specs_other import CostCheck, LatencyCheck, RefusalCheck

# How refusals open when the provider does not flag them (most answers in plain text): checked only at the
# start of the answer, so an answer that merely mentions "I can't" later on is not a refusal.
_REFUSAL_OPENINGS = re.compile(
    r"^\W*(?:(?:i'?m|i am)\s+(?:so\s+|very\s+)?sorry,?\s+(?:but\s+)?)?"
    r"(?:i\s+(?:can(?:'|no)?t|cannot|won'?t|will\s+not|am\s+(?:not\s+able|unable)|'m\s+(?:not\s+able|unable)"
    r"|must\s+(?:decline|refuse))\s+(?:help|assist|provide|comply|do\s+that|answer|share|support|fulfil)"
    r"|as\s+an\s+ai\b[^.]{0,60}\b(?:can(?:'|no)?t|cannot|won'?t|unable))",
    re.IGNORECASE,
)


def refused(ctx: CheckContext) -> tuple[bool, str]:
    """Whether the answer is a refusal, and how we know: the provider's flag, else its opening words."""
    if ctx.completion.refused:
        return True, "the provider flagged the answer as a refusal"
    match = _REFUSAL_OPENINGS.search(ctx.response.replace("\u2019", "'"))
    if match:
        return True, f"the answer opens with a refusal: {quote(match.group(0).strip())}"
    return False, "the model answered (no refusal flag, no refusal opening)"


def check_refusal(spec: RefusalCheck, ctx: CheckContext) -> CheckResult:
    """The answer is (``expect: true``) or is not (``expect: false``) a refusal."""
    is_refusal, how = refused(ctx)
    passed = is_refusal == spec.expect
    return result(spec.label, passed, 1.0 if passed else 0.0, how)


def check_latency(spec: LatencyCheck, ctx: CheckContext) -> CheckResult:
    """The completion's latency is at most ``max`` ms; score is max/latency when over."""
    latency = ctx.completion.latency_ms
    if latency <= spec.max:
        return result(spec.label, True, 1.0, f"latency {latency:.0f} ms <= {spec.max:g} ms")
    return result(spec.label, False, spec.max / latency, f"latency {latency:.0f} ms > {spec.max:g} ms")


def check_cost(spec: CostCheck, ctx: CheckContext) -> CheckResult:
    """The completion cost at most ``max`` USD; an unknown cost fails rather than passing unseen."""
    cost = ctx.completion.cost_usd
    if cost is None:
        model = clip(ctx.completion.model, 60)
        return result(
            spec.label,
            False,
            0.0,
            f"cost unknown for model '{model}': add its price under 'prices:' in evalgate.yaml "
            "(and use a provider that reports token counts), or remove this check",
        )
    if cost <= spec.max:
        return result(spec.label, True, 1.0, f"cost ${cost:.4g} <= ${spec.max:.4g}")
    return result(spec.label, False, spec.max / cost, f"cost ${cost:.4g} > ${spec.max:.4g}")


def check_javascript(spec: JavascriptCheck, ctx: CheckContext) -> CheckResult:
    """The ``javascript`` check, whose module (a Node.js worker, ``subprocess``) loads on first use."""
    from evalgate.checks.javascript import check_javascript as run_javascript

    return run_javascript(spec, ctx)


Evaluator = Callable[[Any, CheckContext], CheckResult]

CHECKS: dict[str, Evaluator] = {
    "contains": check_contains,
    "icontains": check_icontains,
    "not_contains": check_not_contains,
    "not_icontains": check_not_icontains,
    "equals": check_equals,
    "regex": check_regex,
    "starts_with": check_starts_with,
    "max_words": check_max_words,
    "max_chars": check_max_chars,
    "is_json": check_is_json,
    "json_schema": check_json_schema,
    "llm_judge": check_llm_judge,
    "python": check_python,
    "latency_ms": check_latency,
    "cost_usd": check_cost,
    "contains_any": check_contains_any,
    "icontains_any": check_icontains_any,
    "contains_all": check_contains_all,
    "icontains_all": check_icontains_all,
    "min_words": check_min_words,
    "min_chars": check_min_chars,
    "levenshtein": check_levenshtein,
    "similar": check_similar,
    "finish_reason": check_finish_reason,
    "is_valid_tool_call": check_tool_calls,
    "javascript": check_javascript,
    "refusal": check_refusal,
}
"""Check type -> evaluator. A new check type needs a spec model in ``CheckSpec`` and an entry here."""

IN_MEMORY_CHECKS = frozenset(
    {
        "contains",
        "icontains",
        "not_contains",
        "not_icontains",
        "contains_any",
        "icontains_any",
        "contains_all",
        "icontains_all",
        "equals",
        "starts_with",
        "regex",
        "max_words",
        "max_chars",
        "min_words",
        "min_chars",
        "is_json",
        "json_schema",
        "latency_ms",
        "cost_usd",
        "refusal",
        "levenshtein",
        "finish_reason",
        "is_valid_tool_call",
    }
)
"""Check types that only look at the answer in memory: on an event-loop run they run on the loop itself.
The others (a judge or embedding call, a Python function, a JavaScript worker) may block, so they run on a
thread beside it, as does any check with a ``transform``; a new type is among those until listed here."""


def run_check(spec: CheckSpec, ctx: CheckContext) -> CheckResult:
    """Evaluate one check; ``ConfigError`` or ``ProviderError`` (judge) propagate, never a silent pass."""
    if spec.transform is not None:
        # transforms and JavaScript load only for the checks that use them, off every run's start-up
        from evalgate.checks.transforms import TransformError, transform

        try:
            ctx = transform(spec.transform, ctx)
        except TransformError as exc:
            return result(spec.label, False, 0.0, str(exc))
    outcome = CHECKS[spec.type](spec, ctx)
    if spec.negate:
        # the reason states a fact ("matches 'x' at char 3"); negation only flips what it means
        outcome = replace(outcome, type=spec.label, passed=not outcome.passed, score=1.0 - outcome.score)
    if spec.weight != 1.0:
        outcome = replace(outcome, weight=spec.weight)
    return outcome


def run_checks(specs: Iterable[CheckSpec], ctx: CheckContext) -> tuple[CheckResult, ...]:
    """Evaluate checks in order against one response.

    A model call inside a check that fails (the ``llm_judge`` judge) is that check's error: the check
    fails with ``error`` set and the other checks keep their results. ``ConfigError`` still propagates,
    and so does ``ProviderDown`` (not one call's failure: the judge's provider is down and the run stops).
    """
    out = []
    for spec in specs:
        try:
            out.append(run_check(spec, ctx))
        except ProviderError as exc:
            message = str(exc)
            out.append(
                CheckResult(spec.label, False, 0.0, f"error: {clip(message)}", spec.weight, error=message)
            )
    return tuple(out)


def prepare_checks(specs: Iterable[CheckSpec], base_dir: Path) -> None:
    """Import python check functions and load schema files now, so ``validate`` can report them."""
    for spec in specs:
        if spec.transform is not None:
            from evalgate.checks.transforms import prepare_transform

            prepare_transform(spec.transform, base_dir)
        if spec.type == "python":
            resolve_check_function(spec.function, base_dir)
        elif spec.type == "json_schema" and spec.schema_file is not None:
            load_schema_file(spec.schema_file, base_dir)
        elif spec.type == "javascript":
            from evalgate.checks.javascript import prepare_javascript

            prepare_javascript(spec, base_dir)
        elif spec.type == "is_valid_tool_call" and spec.tools_file is not None:
            load_tools_file(spec.tools_file, base_dir)
