from __future__ import annotations

import functools
import json
import random
import re
from typing import Any

import pytest

from evalgate.canary.judge import Decision, MetricResult, format_status, judge, planned_looks
from evalgate.canary.observations import Arm, ArmData, Observation, Proportion, Samples
from evalgate.canary.plan import RolloutPlan, Stage

MIN, MAX = 1800.0, 7200.0  # the stage's min and max duration (30m, 2h)
EARLY, LATE, END = 600.0, 3600.0, 7200.0


def _plan(**changes: Any) -> RolloutPlan:
    doc: dict[str, Any] = {
        "target": {"kind": "model", "stable": "gpt-4o-2024-08-06", "candidate": "gpt-4o-2024-11-20"},
        "stages": [
            {"weight": 5, "min_duration": "30m", "max_duration": "2h", "look_every": "5m"},
            {"weight": 25},
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


@functools.cache  # Samples are immutable; the big arms are built once for the whole module
def _latencies(n: int, median_ms: float, seed: int) -> Samples:
    rng = random.Random(seed)
    return Samples(tuple(median_ms * rng.lognormvariate(0, 0.5) for _ in range(n)))


def _obs(
    n_stable: int,
    n_canary: int,
    *,
    pass_rate: tuple[float, float] = (0.9, 0.9),
    error_rate: tuple[float, float] = (0.01, 0.01),
    latency_ms: tuple[float, float] | None = (1000.0, 1000.0),
    counts: tuple[int, int] | None = None,
) -> Observation:
    """Synthetic arms: ``pass_rate``/``error_rate``/``latency_ms`` are (stable, canary)."""
    n = {"stable": n_stable, "canary": n_canary}

    def prop(rates: tuple[float, float]) -> dict[Arm, ArmData]:
        return {"stable": Proportion(round(rates[0] * n_stable), n_stable),
                "canary": Proportion(round(rates[1] * n_canary), n_canary)}  # fmt: skip

    metrics: dict[str, dict[Arm, ArmData]] = {
        "eval_pass_rate": prop(pass_rate),
        "error_rate": prop(error_rate),
    }
    if latency_ms is not None:
        metrics["latency_p95_ms"] = {
            "stable": _latencies(n_stable, latency_ms[0], 1),
            "canary": _latencies(n_canary, latency_ms[1], 2),
        }
    stable_count, canary_count = counts or (n["stable"], n["canary"])
    return Observation(
        counts={"stable": stable_count, "canary": canary_count}, metrics=metrics, source="test"
    )


def _verdicts(decision: Decision) -> dict[str, str]:
    return {m.name: m.verdict for m in decision.metrics}


def _one_sentence(reason: str) -> None:
    assert "\n" not in reason
    assert not re.search(r"[.!?]\s", reason), reason  # no sentence boundary inside
    assert not reason.endswith(".")


@pytest.mark.parametrize(("elapsed", "action"), [(EARLY, "extend"), (MIN, "promote"), (END, "promote")])
def test_equal_arms_with_big_samples_pass_and_promote_once_min_duration_elapsed(
    elapsed: float, action: str
) -> None:
    decision = judge(_plan(), 0, 3, elapsed, _obs(95_000, 5_000))
    assert _verdicts(decision) == {"eval_pass_rate": "pass", "error_rate": "pass", "latency_p95_ms": "pass"}
    assert decision.action == action
    if action == "promote":
        assert decision.reason.endswith("promoting from 5% to 25%")
    else:
        assert "only 10m of the 30m minimum" in decision.reason


@pytest.mark.parametrize("elapsed", [EARLY, LATE, END])
def test_a_5_point_drop_with_big_samples_rolls_back(elapsed: float) -> None:
    decision = judge(_plan(), 0, 3, elapsed, _obs(95_000, 5_000, pass_rate=(0.9, 0.85)))
    assert decision.action == "rollback"
    assert _verdicts(decision)["eval_pass_rate"] == "regression"
    assert decision.reason.startswith("eval_pass_rate fell 5.0 pt (canary 85.0% vs stable 90.0%")
    assert "n=5,000/95,000), beyond the 3.0 pt margin: rolling back" in decision.reason


def test_a_20_point_drop_rolls_back_at_the_first_look() -> None:
    decision = judge(_plan(), 0, 1, 300.0, _obs(1_900, 100, pass_rate=(0.9, 0.7), latency_ms=None))
    assert decision.action == "rollback"
    result = decision.metrics[0]
    assert result.verdict == "regression"
    assert result.delta == pytest.approx(-0.2)
    assert result.ci is not None
    assert result.ci[1] < -0.03


@pytest.mark.parametrize("pass_rate", [(0.9, 0.9), (0.9, 0.5), (0.5, 1.0)])
@pytest.mark.parametrize("elapsed", [EARLY, LATE])
def test_tiny_samples_are_inconclusive_and_extend_never_pass_or_fail(
    pass_rate: tuple[float, float], elapsed: float
) -> None:
    decision = judge(_plan(), 0, 2, elapsed, _obs(190, 10, pass_rate=pass_rate, error_rate=(0.0, 0.9)))
    assert set(_verdicts(decision).values()) == {"inconclusive"}
    assert decision.action == "extend"
    assert decision.srm_p is None  # too few requests for a sample-ratio verdict either
    assert "has too few samples (n=10/190, 100 needed per arm)" in decision.reason


def test_no_data_is_inconclusive() -> None:
    decision = judge(_plan(), 0, 1, EARLY, Observation(counts={}, metrics={}))
    assert set(_verdicts(decision).values()) == {"inconclusive"}
    assert decision.action == "extend"
    assert decision.reason.startswith("eval_pass_rate has no data from the source yet, and 2 more metrics")
    assert all(m.delta is None and m.ci is None for m in decision.metrics)


@pytest.mark.parametrize("policy", ["rollback", "hold"])
def test_still_inconclusive_at_max_duration_follows_on_inconclusive(policy: str) -> None:
    # 1 point down on 2,000 canary samples: the interval straddles the 3 point margin.
    obs = _obs(38_000, 2_000, pass_rate=(0.9, 0.89), latency_ms=None)
    plan = _plan(on_inconclusive=policy)
    assert judge(plan, 0, 12, LATE, obs).action == "extend"
    decision = judge(plan, 0, 24, END, obs)
    assert _verdicts(decision)["eval_pass_rate"] == "inconclusive"
    assert decision.action == policy
    assert f"(on_inconclusive: {policy})" in decision.reason
    assert "an interval that still straddles the 3.0 pt margin" in decision.reason


def test_a_sample_ratio_mismatch_rolls_back_even_when_metrics_pass() -> None:
    decision = judge(_plan(), 0, 3, LATE, _obs(95_000, 5_000, counts=(90_000, 10_000)))
    assert decision.action == "rollback"
    assert decision.srm_p is not None
    assert decision.srm_p < 1e-10
    assert decision.reason.startswith(
        "traffic split is 10.0% canary, configured 5%: the rollout mechanics are broken"
    )


def test_a_split_close_to_the_weight_is_no_mismatch() -> None:
    decision = judge(_plan(), 0, 3, LATE, _obs(95_000, 5_000, counts=(95_050, 4_950)))
    assert decision.srm_p is not None
    assert decision.srm_p > 0.001
    assert decision.action == "promote"


def test_an_error_guard_breached_with_confidence_rolls_back_even_when_the_diff_is_inconclusive() -> None:
    # Stable's error rate is already high, so canary - stable stays inside the margin's reach; but the
    # canary's own 12% is above the 5% guard beyond doubt.
    obs = _obs(7_600, 400, error_rate=(0.10, 0.12), latency_ms=None)
    decision = judge(_plan(), 0, 2, EARLY, obs)
    guard = decision.metrics[1]
    assert guard.verdict == "guard"
    assert guard.ci is not None
    assert guard.ci[0] > 0.05
    assert decision.action == "rollback"
    assert decision.reason.startswith("error_rate is above its 5.0% guard with confidence (canary 12.0%")
    # without the guard the same data is only inconclusive
    no_guard = _plan(
        metrics=[{"name": "error_rate", "kind": "proportion", "better": "lower", "margin": 0.01}]
    )
    assert judge(no_guard, 0, 2, EARLY, obs).metrics[0].verdict == "inconclusive"


def test_a_guard_needs_confidence_not_just_a_high_point_estimate() -> None:
    # 6% of 200 is above the 5% guard, but the interval reaches well below it.
    decision = judge(_plan(), 0, 2, EARLY, _obs(3_800, 200, error_rate=(0.06, 0.06), latency_ms=None))
    assert decision.metrics[1].verdict != "guard"


def test_latency_p95_up_50_percent_rolls_back() -> None:
    decision = judge(_plan(), 0, 3, LATE, _obs(19_000, 1_000, latency_ms=(1000.0, 1500.0)))
    latency = decision.metrics[2]
    assert latency.verdict == "regression"
    assert latency.delta == pytest.approx(0.5, abs=0.1)
    assert latency.ci is not None
    assert latency.ci[0] > 0.2
    assert decision.action == "rollback"
    assert decision.reason.startswith("latency_p95_ms rose ")
    assert "beyond the 20% tolerance: rolling back" in decision.reason


def test_a_non_critical_regression_is_reported_but_does_not_roll_back() -> None:
    metrics = [
        {"name": "eval_pass_rate", "kind": "proportion", "better": "higher", "margin": 0.03},
        {"name": "latency_p95_ms", "kind": "quantile", "better": "lower", "critical": False},
    ]
    decision = judge(_plan(metrics=metrics), 0, 3, LATE, _obs(95_000, 5_000, latency_ms=(1000.0, 1500.0)))
    assert _verdicts(decision) == {"eval_pass_rate": "pass", "latency_p95_ms": "regression"}
    assert decision.action == "promote"
    assert "non-critical latency_p95_ms regressed" in decision.reason


def test_wrong_kind_of_data_is_inconclusive_not_a_crash() -> None:
    obs = Observation(
        counts={"stable": 1900, "canary": 100},
        metrics={"eval_pass_rate": {"stable": Samples((1.0,)), "canary": Samples((1.0,))}},
    )
    result = judge(_plan(), 0, 1, EARLY, obs).metrics[0]
    assert result.verdict == "inconclusive"
    assert "Samples data" in result.reason


@pytest.mark.parametrize(
    "obs",
    [
        _obs(19_000, 1_000),
        _obs(95_000, 5_000, pass_rate=(0.9, 0.85)),
        _obs(190, 10),
        _obs(95_000, 5_000, counts=(90_000, 10_000)),
        _obs(7_600, 400, error_rate=(0.10, 0.12)),
        _obs(19_000, 1_000, latency_ms=(1000.0, 1500.0)),
        _obs(38_000, 2_000, pass_rate=(0.9, 0.89)),
        Observation(counts={}, metrics={}),
    ],
)
@pytest.mark.parametrize("elapsed", [EARLY, END])
def test_every_reason_is_one_sentence_with_numbers_and_to_dict_is_json(
    obs: Observation, elapsed: float
) -> None:
    decision = judge(_plan(), 0, 4, elapsed, obs)
    _one_sentence(decision.reason)
    assert re.search(r"\d", decision.reason)
    data = json.loads(json.dumps(decision.to_dict(), allow_nan=False))
    assert list(data) == [
        "action", "stage", "weight", "look", "reason", "metrics", "srm_p", "elapsed_s", "actor",
        "planned_looks",
    ]  # fmt: skip
    assert data["actor"] == "judge"
    assert data["planned_looks"] == 24
    assert [m["name"] for m in data["metrics"]] == ["eval_pass_rate", "error_rate", "latency_p95_ms"]
    assert set(data["metrics"][0]) >= {"verdict", "stable", "canary", "delta", "ci", "n_stable", "n_canary"}
    status = format_status(decision)
    assert len(status) <= 140
    assert status.startswith("5% · look 4/24 · ")


def test_format_status_shows_the_primary_metric_delta_and_interval() -> None:
    decision = judge(_plan(), 0, 3, LATE, _obs(38_000, 2_000, pass_rate=(0.9, 0.89), latency_ms=None))
    assert format_status(decision) == "5% · look 3/24 · Δ −1.0 pt [−3.4, +1.0] · n=2,000 · extend"


@pytest.mark.parametrize(
    ("obs", "status"),
    [
        (_obs(95_000, 5_000, pass_rate=(0.9, 0.85)), "eval_pass_rate Δ −5.0 pt [−6.6, −3.5] · n=5,000"),
        (_obs(95_000, 5_000, latency_ms=(1000.0, 1500.0)), "latency_p95_ms Δ +46.8% [+38.2, +56.9]"),
        (_obs(7_600, 400, error_rate=(0.10, 0.12)), "error_rate guard breached 12.0% · n=400"),
        (_obs(95_000, 5_000, counts=(90_000, 10_000)), "traffic split mismatch (p<1e-300)"),
    ],
)
def test_format_status_names_the_metric_that_caused_a_rollback(obs: Observation, status: str) -> None:
    line = format_status(judge(_plan(), 0, 3, LATE, obs))
    assert line.startswith("5% · look 3/24 · " + status)
    assert line.endswith(" · rollback")


def test_format_status_never_exceeds_140_characters() -> None:
    long = MetricResult("x" * 300, "guard", None, 0.5, None, None, 0, 10, True, "r")
    decision = Decision("rollback", 0, 5, 1, "r", (long,), None, 1.0, planned_looks=2)
    assert len(format_status(decision)) <= 140


def test_the_final_stage_is_not_judged_and_has_no_looks() -> None:
    with pytest.raises(ValueError, match="not judged"):
        judge(_plan(), 2, 1, LATE, _obs(0, 0))
    assert planned_looks(Stage(weight=100)) == 0
    assert planned_looks(Stage(weight=5, max_duration=7200, look_every=300)) == 24
    assert planned_looks(Stage(weight=5, max_duration=7000, look_every=300)) == 24  # a partial look counts
