"""The ``python`` check: a function from the user's repo decides.

The function is called as ``fn(response)`` or, when it accepts a second positional argument,
``fn(response, ctx)`` with the ``CheckContext`` (prompt, vars, completion). It returns one of:

- ``bool``: passed or not (score 1 or 0);
- ``(passed: bool, reason: str)``;
- a dict ``{"passed": bool, "score": float in [0, 1] (optional), "reason": str (optional)}``;
- a ``CheckResult`` (its ``type`` is replaced by the check's label).

A bare number is refused: whether 0.6 passes is the check's decision, so return it with ``passed``.
An exception inside the function fails the check with the exception in the reason; it does not stop the run.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evalgate.checks.base import CheckContext, clip, result
from evalgate.pyref import resolve_function
from evalgate.results import CheckResult

if TYPE_CHECKING:  # spec models load with the suites that use them
    from evalgate.checks.specs_other import PythonCheck

_lock = threading.Lock()
_resolved: dict[tuple[str, Path], tuple[Callable[..., Any], bool]] = {}

_CONTRACT = "return a bool, (passed, reason), {'passed': ..., 'score': ..., 'reason': ...} or a CheckResult"


def _takes_ctx(fn: Callable[..., Any]) -> bool:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):  # some builtins and C callables have no signature
        return False
    positional = 0
    for p in params:
        if p.kind is p.VAR_POSITIONAL:
            return True
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            positional += 1
    return positional >= 2


def resolve_check_function(ref: str, base_dir: Path) -> tuple[Callable[..., Any], bool]:
    """``(function, takes_ctx)`` for a ``module:function`` reference, imported once per run."""
    key = (ref, base_dir)
    with _lock:
        found = _resolved.get(key)
    if found is None:
        fn = resolve_function(ref, base_dir, what="python check")
        found = (fn, _takes_ctx(fn))
        with _lock:
            _resolved[key] = found
    return found


def _bad_return(label: str, ref: str, value: Any, why: str) -> CheckResult:
    shown = clip(repr(value), 80)
    return result(label, False, 0.0, f"python check {ref} returned {type(value).__name__} {shown}: {why}")


def _from_return(label: str, ref: str, value: Any) -> CheckResult:
    if isinstance(value, bool):
        return result(label, value, float(value), f"{ref} returned {value}")
    if isinstance(value, CheckResult):
        value = {"passed": value.passed, "score": value.score, "reason": value.reason}
    elif isinstance(value, tuple):
        if len(value) != 2 or not isinstance(value[0], bool) or not isinstance(value[1], str):
            return _bad_return(label, ref, value, f"a tuple must be (passed: bool, reason: str); {_CONTRACT}")
        return result(label, value[0], float(value[0]), clip(value[1]) or f"{ref} returned {value[0]}")
    if not isinstance(value, dict):
        return _bad_return(label, ref, value, _CONTRACT)
    unknown = set(value) - {"passed", "score", "reason"}
    passed, score, reason = value.get("passed"), value.get("score"), value.get("reason")
    if unknown or not isinstance(passed, bool):
        return _bad_return(
            label, ref, value, "a dict needs 'passed' (bool) and may have only 'score', 'reason'"
        )
    if score is None:
        score = float(passed)
    if isinstance(score, bool) or not isinstance(score, int | float) or not 0 <= score <= 1:
        return _bad_return(label, ref, value, "'score' must be a number from 0 to 1")
    if reason is not None and not isinstance(reason, str):
        return _bad_return(label, ref, value, "'reason' must be a string")
    return result(label, passed, float(score), clip(reason or f"{ref} returned passed={passed}"))


def check_python(spec: PythonCheck, ctx: CheckContext) -> CheckResult:
    """Call the user's function; exceptions and wrong return types fail the check with a clear reason."""
    fn, takes_ctx = resolve_check_function(spec.function, ctx.base_dir)
    try:
        value = fn(ctx.response, ctx) if takes_ctx else fn(ctx.response)
    except Exception as exc:  # the user's code: report it on this case, keep the run going
        detail = clip(f"{type(exc).__name__}: {exc}")
        return result(spec.label, False, 0.0, f"python check {spec.function} raised {detail}")
    return _from_return(spec.label, spec.function, value)
