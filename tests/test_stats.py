from __future__ import annotations

import pytest

from evalgate.gate import compare
from evalgate.results import CaseResult, CheckResult, Completion, Trial
from evalgate.stats import paired_regression, sign_test_p


def test_sign_test_matches_the_binomial_tail() -> None:
    assert sign_test_p(5, 0) == pytest.approx(1 / 32)
    assert sign_test_p(3, 0) == pytest.approx(1 / 8)
    assert sign_test_p(0, 0) == 1.0
    assert sign_test_p(4, 1) == pytest.approx(6 / 32)


@pytest.mark.parametrize(
    ("base", "head", "regression"),
    [
        ([True], [False], True),  # single runs: a pass turning into a fail is a regression
        ([True] * 5, [False] * 5, True),  # 5 of 5 pairs worse: p = 1/32
        ([True] * 5, [False, False, False, True, True], False),  # 3 of 3 discordant: p = 1/8
        ([True, False, True, True, True], [False, True, False, False, True], False),
    ],
)
def test_paired_regression(base: list[bool], head: list[bool], regression: bool) -> None:
    assert paired_regression(base, head) is regression


def _case(cid: str, outcomes: list[bool], min_pass: int) -> CaseResult:
    trials = tuple(
        Trial(completion=Completion(text="x", model="m"), checks=(CheckResult("contains", True, 1.0, "ok"),))
        if ok
        else Trial(completion=None, error="e")
        for ok in outcomes
    )
    return CaseResult(id=cid, suite="s.yaml", line=1, trials=trials, min_pass=min_pass)


def test_compare_reports_flaky_repeats_instead_of_regressions() -> None:
    base = [_case("flaky", [True] * 5, 5), _case("broken", [True] * 5, 5)]
    head = [_case("flaky", [True, True, False, True, False], 5), _case("broken", [False] * 5, 5)]
    result = compare(head, base)
    assert result.newly_failing == ("broken",)
    assert result.flaky == ("flaky",)
