from __future__ import annotations

from typing import Any

import pytest

from evalgate.canary.plan import RolloutPlan
from evalgate.canary.planning import TOO_SLOW, plan_report, render_plan_report
from evalgate.canary.stats import looks_alpha, min_samples_for_quantile_ci, samples_for_difference


def _plan(**changes: Any) -> RolloutPlan:
    doc: dict[str, Any] = {
        "target": {"kind": "model", "stable": "gpt-4o-2024-08-06", "candidate": "gpt-4o-2024-11-20"},
        "stages": [
            {"weight": 5, "min_duration": "30m", "max_duration": "2h", "look_every": "5m"},
            {"weight": 25, "min_duration": "30m", "max_duration": "2h", "look_every": "5m"},
            {"weight": 100},
        ],
        "metrics": [
            {"name": "eval_pass_rate", "kind": "proportion", "better": "higher", "margin": 0.03},
            {"name": "error_rate", "kind": "proportion", "better": "lower", "margin": 0.01, "guard": 0.05},
            {"name": "latency_p95_ms", "kind": "quantile", "better": "lower", "tolerance": 0.2},
        ],
        "router": {"type": "file", "path": "deploy/routing.yaml"},
        "source": {"type": "jsonl", "path": "logs/requests.jsonl"},
    }
    doc.update(changes)
    return RolloutPlan.model_validate(doc)


def test_every_judged_stage_gets_a_row_per_metric_and_the_final_stage_none() -> None:
    report = plan_report(_plan(), 10.0)
    assert [s.weight for s in report] == [5, 25]
    assert [m.name for m in report[0].metrics] == ["eval_pass_rate", "error_rate", "latency_p95_ms"]
    assert report[0].planned_looks == 24
    assert report[0].alpha_look == pytest.approx(0.05 / 24)


def test_sample_sizes_use_the_one_sided_half_of_the_per_look_alpha_and_typical_base_rates() -> None:
    stage = plan_report(_plan(), 10.0)[0]
    alpha = looks_alpha(0.05, 24) / 2
    pass_rate, error_rate, latency = stage.metrics
    assert pass_rate.base_rate == 0.9
    assert pass_rate.samples == samples_for_difference(0.9, 0.03, alpha, 0.8)
    assert error_rate.base_rate == 0.01
    assert error_rate.samples == samples_for_difference(0.01, 0.01, alpha, 0.8, better="lower")
    assert latency.base_rate is None
    assert latency.samples == max(100, min_samples_for_quantile_ci(0.95, alpha))


def test_time_is_samples_over_the_smaller_arms_rate_rounded_up_to_a_look() -> None:
    # 5% of 10 req/s = 0.5 req/s on the canary: 3,474 samples take 6,948 s, decided at the 2h look.
    pass_rate = plan_report(_plan(), 10.0)[0].metrics[0]
    assert pass_rate.samples == 3474
    assert pass_rate.seconds == 7200
    assert pass_rate.feasible
    # 25%: 2.5 req/s -> 1,390 s, but promotion waits for the 30m minimum anyway
    assert plan_report(_plan(), 10.0)[1].metrics[0].seconds == 1800


def test_a_stage_that_cannot_decide_before_max_duration_is_flagged() -> None:
    report = plan_report(_plan(), 1.0)
    slow = report[0].metrics[0]
    assert not slow.feasible
    assert slow.note == TOO_SLOW
    assert not report[0].feasible
    text = render_plan_report(_plan(), report)
    assert f"! 5% eval_pass_rate: {TOO_SLOW}" in text


def test_given_base_rates_replace_the_typical_ones() -> None:
    given = plan_report(_plan(), 10.0, {"eval_pass_rate": 0.5})[0].metrics[0]
    typical = plan_report(_plan(), 10.0)[0].metrics[0]
    assert given.base_rate == 0.5
    assert given.samples is not None
    assert typical.samples is not None
    assert given.samples > typical.samples  # p(1 - p) is largest at 0.5


def test_a_zero_margin_can_never_be_planned_for() -> None:
    metrics = [{"name": "eval_pass_rate", "kind": "proportion", "better": "higher"}]
    row = plan_report(_plan(metrics=metrics), 100.0)[0].metrics[0]
    assert row.samples is None
    assert not row.feasible
    assert "margin 0" in row.note


def test_the_rendered_table_lists_stages_metrics_and_needs() -> None:
    text = render_plan_report(_plan(), plan_report(_plan(), 10.0))
    lines = text.splitlines()
    assert lines[0].startswith("canary plan: model gpt-4o-2024-08-06 → gpt-4o-2024-11-20")
    assert lines[2].split() == ["stage", "metric", "base", "margin", "n/arm", "time", "max"]
    assert lines[3].split() == ["5%", "eval_pass_rate", "90%", "3.0", "pt", "3,474", "2h", "2h", "ok"]
    assert any(line.split()[:2] == ["25%", "latency_p95_ms"] and "≥" in line for line in lines)


def test_a_non_positive_rate_is_rejected() -> None:
    with pytest.raises(ValueError, match="positive"):
        plan_report(_plan(), 0.0)
