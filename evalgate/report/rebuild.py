"""The run and verdict rebuilt from a report's parsed JSON (already checked against the report schema)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from typing import Any, TypeVar

from evalgate.results import CaseResult, CheckResult, Completion, GateVerdict, RunResult, Trial

T = TypeVar("T")


def _maker(cls: type[T]) -> Callable[..., T]:
    """A function that makes a frozen, slotted dataclass from its fields in order, as ``cls(...)`` would.

    A frozen dataclass's ``__init__`` stores each field through ``object.__setattr__``, which looks the
    name up again every time; the bench's 10,000-case report holds 60,000 such objects and 420,000 fields.
    The made function stores them through the slots' own descriptors and then runs ``__post_init__``, so
    the object is the one the constructor would give.
    """
    init = cls.__init__.__code__
    names = [f.name for f in fields(cls) if f.init]  # type: ignore[arg-type]
    if list(init.co_varnames[1 : init.co_argcount]) != names or not hasattr(cls, "__slots__"):
        raise TypeError(f"{cls.__name__}: not a slotted dataclass whose __init__ takes just its fields")
    scope: dict[str, Any] = {"new": object.__new__, "cls": cls}
    args = ", ".join(f"a{i}" for i in range(len(names)))
    lines = [f"def make({args}):", "    o = new(cls)"]
    for i, name in enumerate(names):
        scope[f"S{i}"] = cls.__dict__[name].__set__
        lines.append(f"    S{i}(o, a{i})")
    if hasattr(cls, "__post_init__"):
        scope["post"] = cls.__post_init__  # type: ignore[attr-defined]
        lines.append("    post(o)")
    lines.append("    return o")
    exec("\n".join(lines), scope)  # the source holds only generated names
    make: Callable[..., T] = scope["make"]
    return make


_check = _maker(CheckResult)
_completion = _maker(Completion)
_trial = _maker(Trial)
_case = _maker(CaseResult)


def rebuild(
    data: dict[str, Any], cases: tuple[CaseResult, ...] | None = None
) -> tuple[RunResult, GateVerdict]:
    """The run and verdict of a report that validates against the report schema (with ``cases`` read
    already, if given)."""
    run = RunResult(
        cases=tuple([read_case(c) for c in data["cases"]]) if cases is None else cases,
        provider=data["provider"],
        model=data["model"],
        config_path=data["config"],
        started_at=data["started_at"],
        duration_s=data["duration_s"],
        notes=tuple(data["notes"]),
        retries=data.get("retries"),
        incomplete=bool(data.get("incomplete", False)),
        planned=data.get("planned_cases"),
    )
    gate = data["gate"]
    verdict = GateVerdict(
        passed=gate["passed"],
        metric=data["metric"],
        value=data["pass_rate"],
        threshold=data["threshold"],
        reasons=tuple(gate["reasons"]),
    )
    return run, verdict


# The makers take their fields by position, in field order (see the classes in ``evalgate.results``).


def _read_check(d: dict[str, Any]) -> CheckResult:
    return _check(d["type"], d["passed"], d["score"], d["reason"], d.get("weight", 1.0), d.get("error"))


def _read_trial(d: dict[str, Any]) -> Trial:
    done = d["completion"]
    completion = None
    if done is not None:
        completion = _completion(
            done["text"],
            done["model"],
            done["input_tokens"],
            done["output_tokens"],
            done["latency_ms"],
            done["cost_usd"],
            done["fallback"],
            done["cached"],
            done.get("finish_reason"),
            done.get("refused", False),
            done.get("system_fingerprint"),
        )
    return _trial(completion, tuple([_read_check(c) for c in d["checks"]]), d["error"], d.get("threshold"))


def read_case(d: dict[str, Any]) -> CaseResult:
    """One case of a report, valid against the schema's ``$defs/case``."""
    # Summary fields (status, response, ...) are derived from the trials, so only the trials are read.
    return _case(
        d["id"],
        d["suite"],
        d["line"],
        tuple([_read_trial(t) for t in d["trial_results"]]),
        tuple(d["tags"]),
        d["required"],
        d["min_pass"],
        d.get("prompt"),
        d.get("vars"),
    )
