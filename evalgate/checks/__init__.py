"""Checks: what a response must satisfy, as validated specs and pure evaluators.

Decisions that users see:

- ``contains``/``icontains``/``not_*`` take one string or a list (all must (not) appear); the score is
  the fraction satisfied. ``icontains`` compares case-folded text. Char positions in reasons are 0-based.
- ``max_chars`` ignores surrounding whitespace; ``starts_with`` ignores leading whitespace.
- ``python`` checks return bool, ``(passed, reason)``, a dict or a ``CheckResult`` (see ``pyfunc``).
- ``cost_usd`` fails with "cost unknown ..." when the provider reported no cost: a cost gate that cannot
  see the cost must not pass.
- ``llm_judge`` raises ``JudgeError`` (a non-retryable ``ProviderError``) on an unreadable reply, and
  ``ConfigError`` when no judge model is configured, so the runner reports the case as an error.
- ``CheckResult.type`` is the check's ``name`` when it has one, else its type.
- ``live_safe`` is False for checks that assert an expected answer (contains, icontains, equals,
  starts_with); the canary scores live traffic with the rest.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from evalgate.checks.base import CheckContext, Judge
from evalgate.checks.judge import JudgeError, judge_prompt, parse_verdict
from evalgate.checks.registry import (
    CHECKS,
    IN_MEMORY_CHECKS,
    Evaluator,
    prepare_checks,
    run_check,
    run_checks,
)
from evalgate.checks.specs import (
    CheckSpec,
    ContainsCheck,
    EqualsCheck,
    IContainsCheck,
    MaxCharsCheck,
    MaxWordsCheck,
    NotContainsCheck,
    NotIContainsCheck,
    RegexCheck,
    StartsWithCheck,
    live_safe,
)

if TYPE_CHECKING:
    from evalgate.checks.specs_other import (
        CostCheck,
        IsJsonCheck,
        JsonSchemaCheck,
        LatencyCheck,
        LlmJudgeCheck,
        PythonCheck,
        RefusalCheck,
    )

# their models are created when first used (by a suite, or by importing them from here)
_LOADED_ON_USE = frozenset(
    {
        "CostCheck",
        "IsJsonCheck",
        "JsonSchemaCheck",
        "LatencyCheck",
        "LlmJudgeCheck",
        "PythonCheck",
        "RefusalCheck",
    }
)


def __getattr__(name: str) -> Any:
    if name in _LOADED_ON_USE:
        return getattr(importlib.import_module("evalgate.checks.specs_other"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "CHECKS",
    "IN_MEMORY_CHECKS",
    "CheckContext",
    "CheckSpec",
    "ContainsCheck",
    "CostCheck",
    "EqualsCheck",
    "Evaluator",
    "IContainsCheck",
    "IsJsonCheck",
    "JsonSchemaCheck",
    "Judge",
    "JudgeError",
    "LatencyCheck",
    "LlmJudgeCheck",
    "MaxCharsCheck",
    "MaxWordsCheck",
    "NotContainsCheck",
    "NotIContainsCheck",
    "PythonCheck",
    "RefusalCheck",
    "RegexCheck",
    "StartsWithCheck",
    "judge_prompt",
    "live_safe",
    "parse_verdict",
    "prepare_checks",
    "run_check",
    "run_checks",
]
