"""The gate is pure: case results in, a verdict with reasons out."""

from __future__ import annotations

import re

import pytest

from evalgate.gate import GateConfig, compare, decide, parse_fraction, pass_rate, percentile, totals
from evalgate.results import CaseResult, CheckResult, Completion, Trial


def make_case(
    case_id: str,
    status: str = "passed",
    *,
    reason: str = "missing 'refund'",
    checks: tuple[bool, ...] | None = None,
    latency: float = 100.0,
    cost: float | None = 0.01,
    tags: tuple[str, ...] = (),
    required: bool = False,
) -> CaseResult:
    """A one-trial case with the given status; ``checks`` lists each check's pass/fail."""
    if status == "error":
        return CaseResult(case_id, "evals/a.yaml", 1, (Trial(None, (), error=reason),), tags, required)
    flags = checks if checks is not None else (status == "passed",)
    results = tuple(CheckResult("contains", ok, 1.0 if ok else 0.0, "ok" if ok else reason) for ok in flags)
    done = Completion("answer", "model-1", latency_ms=latency, cost_usd=cost)
    return CaseResult(case_id, "evals/a.yaml", 1, (Trial(done, results),), tags, required)


def make_run(passed: int, failed: int = 0, errors: int = 0) -> list[CaseResult]:
    cases = [make_case(f"p{i}") for i in range(passed)]
    cases += [make_case(f"f{i}", "failed") for i in range(failed)]
    return cases + [make_case(f"e{i}", "error", reason="timeout") for i in range(errors)]


def test_pass_rate_counts_errors_as_not_passed() -> None:
    assert pass_rate(make_run(3, failed=1, errors=1), "cases") == (0.6, 3, 5)


def test_pass_rate_by_checks_counts_each_check_and_an_error_as_one_failed_check() -> None:
    cases = [
        make_case("a", "failed", checks=(True, True, False)),
        make_case("b", checks=(True, True)),
        make_case("c", "error"),
    ]
    assert pass_rate(cases, "checks") == (4 / 6, 4, 6)


def test_gate_passes_when_rate_exactly_equals_threshold() -> None:
    verdict = decide(make_run(17, failed=3), GateConfig(threshold=0.85))
    assert verdict.passed
    assert verdict.reasons == ("pass rate 85.0% (17/20) meets the threshold 85.0%",)


def test_gate_passes_at_threshold_computed_with_rounding_error() -> None:
    threshold = 0.1 * 3  # 0.30000000000000004, one ulp above 3/10
    assert decide(make_run(3, failed=7), GateConfig(threshold=threshold)).passed


def test_gate_fails_below_threshold_with_reason() -> None:
    verdict = decide(make_run(33, failed=7), GateConfig(threshold=0.85))
    assert not verdict.passed
    assert verdict.value == pytest.approx(0.825)
    assert verdict.reasons == ("pass rate 82.5% (33/40) is below the threshold 85.0%",)


def test_gate_reason_never_prints_a_rate_just_below_the_threshold_as_equal() -> None:
    verdict = decide(make_run(8499, failed=1501), GateConfig(threshold=0.85))
    assert verdict.reasons == ("pass rate 84.99% (8499/10000) is below the threshold 85.00%",)


def test_gate_fails_when_no_cases_were_run() -> None:
    verdict = decide([], GateConfig(threshold=0))
    assert not verdict.passed
    assert verdict.reasons == ("no cases were run",)


def test_errors_count_against_the_gate() -> None:
    verdict = decide(make_run(8, errors=2), GateConfig(threshold=0.9))
    assert not verdict.passed
    assert verdict.value == pytest.approx(0.8)


def test_gate_fails_when_required_case_fails() -> None:
    cases = [*make_run(39), make_case("tc_017", "failed", required=True)]
    verdict = decide(cases, GateConfig(threshold=0.5))
    assert not verdict.passed
    assert verdict.reasons == ("required case tc_017 failed: missing 'refund'",)


def test_required_case_error_is_reported_on_one_line() -> None:
    cases = [make_case("tc_001", "error", reason="timeout\nafter   60 s", required=True)]
    verdict = decide([*make_run(9), *cases], GateConfig(threshold=0.5))
    assert verdict.reasons == ("required case tc_001 errored: timeout after 60 s",)


def test_metric_checks_can_pass_where_metric_cases_fails() -> None:
    cases = [make_case(f"c{i}", "failed", checks=(True,) * 9 + (False,)) for i in range(5)]
    assert not decide(cases, GateConfig(threshold=0.85, metric="cases")).passed
    verdict = decide(cases, GateConfig(threshold=0.85, metric="checks"))
    assert verdict.passed
    assert verdict.metric == "checks"
    assert verdict.reasons == ("pass rate 90.0% (45/50 checks) meets the threshold 85.0%",)


def test_gate_fails_when_a_tag_is_below_its_threshold() -> None:
    cases = [*make_run(40)]
    cases += [make_case(f"inj{i}", tags=("injection",)) for i in range(3)]
    cases += [make_case(f"injf{i}", "failed", tags=("injection",)) for i in range(2)]
    verdict = decide(cases, GateConfig(threshold=0.8, tags={"injection": 0.9}))
    assert verdict.reasons == ("tag 'injection' pass rate 60.0% (3/5) is below its threshold 90.0%",)


def test_gate_fails_closed_when_a_tag_threshold_has_no_cases() -> None:
    verdict = decide(make_run(10), GateConfig(tags={"pii": 0.9}))
    assert not verdict.passed
    assert "tag 'pii' has no cases" in verdict.reasons[0]


def test_gate_fails_when_error_rate_exceeds_maximum() -> None:
    verdict = decide(make_run(37, errors=3), GateConfig(threshold=0.9, max_error_rate=0.05))
    assert verdict.reasons == ("error rate 7.5% (3/40) exceeds the maximum 5.0%",)


def test_error_rate_at_maximum_passes() -> None:
    assert decide(make_run(19, errors=1), GateConfig(threshold=0.9, max_error_rate=0.05)).passed


def test_gate_fails_when_cost_exceeds_budget() -> None:
    cases = [make_case("a", cost=1.0), make_case("b", cost=0.23)]
    verdict = decide(cases, GateConfig(max_cost_usd=1.0))
    assert verdict.reasons == ("total cost $1.23 exceeds the budget $1.00",)


def test_cost_just_over_budget_prints_enough_digits() -> None:
    verdict = decide([make_case("a", cost=1.001)], GateConfig(max_cost_usd=1.0))
    assert verdict.reasons == ("total cost $1.001 exceeds the budget $1.000",)


def test_gate_fails_closed_when_cost_is_unknown() -> None:
    verdict = decide([make_case("a", cost=None)], GateConfig(max_cost_usd=1.0))
    assert not verdict.passed
    assert "total cost is unknown" in verdict.reasons[0]


def test_gate_fails_when_p95_latency_exceeds_budget() -> None:
    cases = [make_case(f"c{i}", latency=1000.0) for i in range(19)] + [make_case("slow", latency=2340.0)]
    assert decide(cases, GateConfig(max_p95_latency_ms=2000)).passed  # p95 of 20 is the 19th value
    cases.append(make_case("slower", latency=2340.0))
    verdict = decide(cases, GateConfig(max_p95_latency_ms=2000))
    assert verdict.reasons == ("p95 latency 2,340 ms exceeds the budget 2,000 ms",)


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 21)]
    assert percentile(values, 95) == 19.0
    assert percentile(values, 50) == 10.0
    assert percentile([5.0], 95) == 5.0
    assert percentile([], 95) is None


def test_totals_sum_cost_and_count_errors() -> None:
    sums = totals([make_case("a", cost=0.5), make_case("b", cost=None), make_case("c", "error")])
    assert sums.cost_usd == 0.5
    assert sums.errors == 1
    assert sums.latency_p50_ms == 100.0


def test_threshold_override_replaces_the_configured_threshold() -> None:
    cases = make_run(8, failed=2)
    assert not decide(cases, GateConfig(threshold=0.9)).passed
    verdict = decide(cases, GateConfig(threshold=0.9), threshold_override=0.8)
    assert verdict.passed
    assert verdict.threshold == 0.8


def test_threshold_override_outside_zero_to_one_is_rejected() -> None:
    with pytest.raises(ValueError, match="threshold"):
        decide(make_run(1), GateConfig(), threshold_override=85)


def test_no_new_failures_fails_when_a_case_passing_on_base_now_fails() -> None:
    base = make_run(10)
    now = [*make_run(9), make_case("p9", "error")]
    config = GateConfig(threshold=0.5, no_new_failures=True)
    verdict = decide(now, config, baseline=base)
    assert verdict.reasons == ("case p9 passed on the base but fails now",)
    assert decide(now, config).passed  # without a baseline the rule does not apply


def test_no_new_failures_ignores_new_and_still_failing_cases() -> None:
    base = [make_case("a"), make_case("b", "failed")]
    now = [make_case("a"), make_case("b", "failed"), make_case("c", "failed")]
    verdict = decide(now, GateConfig(threshold=0.3, no_new_failures=True), baseline=base)
    assert verdict.passed
    assert "no case that passed on the base fails now" in verdict.reasons


def test_no_new_failures_lists_many_cases_in_one_sentence() -> None:
    base = make_run(12)
    now = [make_case(f"p{i}", "failed") for i in range(12)]
    verdict = decide(now, GateConfig(threshold=0, no_new_failures=True), baseline=base)
    assert verdict.reasons == (
        "12 cases that passed on the base fail now: p0, p1, p2, p3, p4, p5, p6, p7, p8, p9 and 2 more",
    )


def test_max_drop_fails_when_pass_rate_fell_too_far() -> None:
    base = make_run(37, failed=3)
    now = make_run(35, failed=5)
    verdict = decide(now, GateConfig(threshold=0.8, max_drop=0.02), baseline=base)
    assert verdict.reasons == (
        "pass rate dropped 5.0 pt from 92.5% on the base to 87.5%, more than the allowed 2.0 pt",
    )
    assert decide(now, GateConfig(threshold=0.8, max_drop=0.05), baseline=base).passed


def test_min_pass_decides_status_over_repeats() -> None:
    ok = Trial(Completion("x", "m"), (CheckResult("contains", True, 1.0, "ok"),))
    bad = Trial(Completion("y", "m"), (CheckResult("contains", False, 0.0, "missing 'x'"),))
    flaky = CaseResult("flaky", "evals/a.yaml", 3, (ok, bad, ok), min_pass=2)
    strict = CaseResult("strict", "evals/a.yaml", 4, (ok, bad, ok), min_pass=3, required=True)
    verdict = decide([flaky, strict], GateConfig(threshold=0.5))
    assert verdict.reasons == ("required case strict failed: missing 'x'",)


def test_compare_classifies_every_case_id() -> None:
    base = [make_case("same"), make_case("broke"), make_case("fixed", "failed"), make_case("still", "error")]
    base.append(make_case("gone"))
    now = [make_case("same"), make_case("broke", "error"), make_case("fixed"), make_case("still", "failed")]
    now.append(make_case("brand_new", "failed"))
    result = compare(now, base)
    assert result.newly_failing == ("broke",)
    assert result.fixed == ("fixed",)
    assert result.still_failing == ("still",)
    assert result.unchanged_passing == ("same",)
    assert result.new == ("brand_new",)
    assert result.removed == ("gone",)
    assert (result.base_value, result.base_passed, result.base_total) == (0.6, 3, 5)


def test_compare_with_empty_baseline_has_no_base_rate() -> None:
    result = compare([make_case("a")], [])
    assert result.new == ("a",)
    assert result.base_value is None


@pytest.mark.parametrize(("text", "value"), [("0.85", 0.85), ("85%", 0.85), ("0", 0.0), ("100%", 1.0)])
def test_parse_fraction_reads_a_fraction_or_a_percentage(text: str, value: float) -> None:
    assert parse_fraction(text) == pytest.approx(value)


@pytest.mark.parametrize(
    ("text", "message"),
    [("high", "is not a number like 0.85 or 85%"), ("85", "must be between 0 and 1 (or 0% and 100%)"),
     ("-1%", "must be between 0 and 1 (or 0% and 100%)")],
)  # fmt: skip
def test_parse_fraction_says_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_fraction(text)
