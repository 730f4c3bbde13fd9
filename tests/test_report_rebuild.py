"""Results rebuilt from a report are the objects the constructors would make, derived fields included."""

from __future__ import annotations

from dataclasses import InitVar, dataclass, field, fields

import pytest

from evalgate.gate import GateConfig, decide
from evalgate.report.json import load_json, render_json
from evalgate.report.rebuild import _maker
from evalgate.results import CaseResult, CheckResult, Completion, RunResult, Trial


def _every_field_set() -> RunResult:
    """Cases whose results use every field with a value other than its default."""
    weighted = CheckResult("judge", False, 0.5, "half right", 2.0, None)
    undecided = CheckResult("judge", False, 0.0, "judge failed", 1.0, "HTTP 500")
    ok = CheckResult("contains", True, 1.0, "found it")
    done = Completion("an answer", "gpt-x", 3, 4, 12.5, 0.002, True, True, "length", True, "fp_1")
    plain = Completion("plain", "gpt-y")
    cases = (
        CaseResult(
            "a",
            "s.yaml",
            4,
            (Trial(done, (weighted, ok), None, 0.6), Trial(plain, (ok,)), Trial(None, (), "timeout")),
            ("x", "y"),
            True,
            2,
            "Greet Ann",
            {"name": "Ann"},
        ),
        CaseResult("b", "s.yaml", 9, (Trial(plain, (undecided,)),)),
        CaseResult("c", "s.yaml", 11, (Trial(plain, ()),)),
        CaseResult("d", "s.yaml", 12, ()),
    )
    return RunResult(cases, "openai", "gpt-x", "c.yaml", "2024-05-01T12:00:00Z", 2.0, ("n",), {"429": 1})


def test_a_report_read_back_has_the_same_derived_fields_and_reprs() -> None:
    run = _every_field_set()
    back, _ = load_json(render_json(run, decide(run.cases, GateConfig(threshold=0.5))))
    assert back == run
    for old, new in zip(run.cases, back.cases, strict=True):
        assert repr(new) == repr(old)
        assert (new.status, new.trials_passed) == (old.status, old.trials_passed)
        assert [(t.passed, t.score) for t in new.trials] == [(t.passed, t.score) for t in old.trials]
        assert [type(t) for t in new.trials] == [Trial] * len(old.trials)
    assert [c.status for c in back.cases] == ["passed", "error", "unchecked", "error"]


@pytest.mark.parametrize("cls", [CheckResult, Completion, Trial, CaseResult])
def test_a_made_result_equals_the_constructed_one_in_every_slot(cls: type) -> None:
    run = _every_field_set()
    sample = {
        CheckResult: run.cases[0].trials[0].checks[0],
        Completion: run.cases[0].trials[0].completion,
        Trial: run.cases[0].trials[0],
        CaseResult: run.cases[0],
    }[cls]
    args = [getattr(sample, f.name) for f in fields(cls) if f.init]
    made, built = _maker(cls)(*args), cls(*args)
    assert type(made) is cls
    assert [getattr(made, s) for s in cls.__slots__] == [getattr(built, s) for s in cls.__slots__]


@dataclass(frozen=True)
class _NoSlots:
    a: int


@dataclass(frozen=True, slots=True)
class _WithInitVar:
    a: int
    b: InitVar[int]
    c: int = field(init=False, default=0)

    def __post_init__(self, b: int) -> None:
        object.__setattr__(self, "c", self.a + b)


@pytest.mark.parametrize("cls", [_NoSlots, _WithInitVar])
def test_the_maker_refuses_a_class_it_could_not_build_like_its_constructor(cls: type) -> None:
    with pytest.raises(TypeError, match="not a slotted dataclass"):
        _maker(cls)
