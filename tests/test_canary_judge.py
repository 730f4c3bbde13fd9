from __future__ import annotations

import functools
import json
import random
import re
from dataclasses import replace as dataclasses_replace
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
        counts={"stable": stable_count, "canary": canary_count},
        metrics=metrics,
        source="test",
        batches=_even(stable_count, canary_count, 20),
    )


def _even(n_stable: int, n_canary: int, parts: int) -> tuple[tuple[int, int], ...]:
    """The counts spread over ``parts`` sub-windows as evenly as integers allow."""
    return tuple(
        (
            n_stable * (i + 1) // parts - n_stable * i // parts,
            n_canary * (i + 1) // parts - n_canary * i // parts,
        )
        for i in range(parts)
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
        assert "only 10m of fresh data of the 30m minimum" in decision.reason


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
    decision = judge(_plan(), 0, 1, 300.0, Observation(counts={}, metrics={}))
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
        Observation(counts={"stable": 5_000, "canary": 0}, metrics={}),
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
        "planned_looks", "cause", "rollback_to", "counted_s", "srm_test", "new", "counts",
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
        (_obs(95_000, 5_000, counts=(90_000, 10_000)), "traffic split mismatch (p=1.1e-24)"),
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


# --- fresh data, silence, traffic on each arm, sticky routing, clusters -------------------------

from evalgate.canary.observations import Clusters, LookCounts  # noqa: E402
from evalgate.canary.stats import srm_p_value  # noqa: E402

T0 = 1_780_000_000.0


def _history(*per_look: tuple[int, int]) -> tuple[LookCounts, ...]:
    """Looks of 5 minutes; each item is (stable, canary) new records."""
    return tuple(LookCounts(s, c, T0 + 300 * i, T0 + 300 * (i + 1)) for i, (s, c) in enumerate(per_look))


def test_a_stage_never_promotes_on_stale_data() -> None:
    # Plenty of data, all passing, min_duration long past: but the last look brought nothing new.
    looks = _history(*[(9_500, 500)] * 9, (0, 0))
    decision = judge(_plan(), 0, 10, 3000.0, _obs(85_500, 4_500), history=looks)
    assert decision.action == "extend"
    assert "does not count and nothing is promoted on stale data" in decision.reason
    assert decision.counted_s == 2700.0


def test_only_looks_with_fresh_data_in_both_arms_count_toward_min_duration() -> None:
    # 7 looks (35 min) but the canary got nothing in 2 of them: 25 min of fresh data < 30 min
    looks = _history(
        (9_500, 500), (9_500, 0), (9_500, 500), (9_500, 500), (9_500, 3), (9_500, 500), (9_500, 500)
    )
    decision = judge(_plan(), 0, 7, 2100.0, _obs(57_000, 3_000), history=looks)
    assert decision.action == "extend"
    assert decision.counted_s == 1500.0
    assert "only 25m of fresh data of the 30m minimum" in decision.reason


@pytest.mark.parametrize("policy", ["rollback", "hold"])
def test_silence_for_max_silence_is_no_data(policy: str) -> None:
    looks = _history((9_500, 500), (9_500, 500), (0, 0), (0, 0))
    decision = judge(_plan(on_no_data=policy), 0, 4, 1200.0, _obs(19_000, 1_000), history=looks)
    assert (decision.action, decision.cause) == (policy, "no_data")
    assert "no requests from either arm since 20:36:40 UTC (10m, max_silence 10m)" in decision.reason
    assert decision.rollback_to == (0 if policy == "rollback" else None)
    one_quiet_look = judge(_plan(), 0, 3, 900.0, _obs(19_000, 1_000), history=looks[:3])
    assert one_quiet_look.action == "extend"


def test_no_canary_traffic_is_a_routing_failure_at_the_first_look() -> None:
    obs = Observation(counts={"stable": 6_000, "canary": 0}, metrics={}, batches=_even(6_000, 0, 10))
    decision = judge(_plan(), 0, 1, 300.0, obs, history=_history((6_000, 0)))
    assert (decision.action, decision.cause, decision.rollback_to) == ("rollback", "no_traffic", 0)
    assert decision.reason.startswith("no canary traffic: routing is not applying the weight")
    assert "while stable served 6,000" in decision.reason


def test_no_canary_traffic_on_little_bursty_traffic_is_not_yet_evidence() -> None:
    # 200 stable requests in bursts of ~20 are ~10 routing decisions: 5% routing sends none 60% of the time
    bursty = tuple((20 * (i % 3 == 0) * 3, 0) for i in range(10))
    obs = Observation(counts={"stable": sum(s for s, _ in bursty), "canary": 0}, metrics={}, batches=bursty)
    decision = judge(_plan(), 0, 1, 300.0, obs, history=_history((obs.counts["stable"], 0)))
    assert decision.cause is None
    assert decision.action == "extend"


def _sticky_batches(
    seed: int, weight: float, n_batches: int = 120, units: int = 150, burst: int = 20
) -> tuple[tuple[int, int], ...]:
    rng = random.Random(seed)
    out = []
    for _ in range(n_batches):
        c = sum(burst for _ in range(units) if rng.random() < weight)
        out.append((units * burst - c, c))
    return tuple(out)


def test_sticky_routing_at_the_right_weight_is_no_mismatch_where_a_binomial_test_would_cry_wolf() -> None:
    threshold = 0.001 / 24
    binomial_alarms = 0
    for seed in range(20):
        batches = _sticky_batches(seed, 0.05)
        n_s, n_c = sum(s for s, _ in batches), sum(c for _, c in batches)
        binomial_alarms += srm_p_value(n_s, n_c, 5) < threshold
        obs = dataclasses_replace(_obs(n_s, n_c, latency_ms=None), batches=batches)
        decision = judge(_plan(), 0, 6, LATE, obs)
        assert decision.cause != "srm", decision.reason
        assert decision.srm_test == "sub-windows"
    assert binomial_alarms >= 3  # the request-count chi-square misreads bursts of 20 as broken routing


def test_sticky_routing_at_the_wrong_weight_is_a_mismatch_that_names_its_test() -> None:
    batches = _sticky_batches(1, 0.08)
    n_s, n_c = sum(s for s, _ in batches), sum(c for _, c in batches)
    decision = judge(
        _plan(), 0, 6, LATE, dataclasses_replace(_obs(n_s, n_c, latency_ms=None), batches=batches)
    )
    assert (decision.action, decision.cause, decision.rollback_to) == ("rollback", "srm", 0)
    assert "dispersion-adjusted chi-square over 120 sub-windows, dispersion" in decision.reason


def test_with_units_the_split_is_tested_on_units() -> None:
    obs = dataclasses_replace(_obs(95_000, 5_000), units={"stable": 4_700, "canary": 300})
    decision = judge(_plan(), 0, 6, LATE, obs)
    assert decision.srm_test == "units"
    assert decision.cause != "srm"
    off = dataclasses_replace(_obs(95_000, 5_000), units={"stable": 4_500, "canary": 500})
    decision = judge(_plan(), 0, 6, LATE, off)
    assert decision.cause == "srm"
    assert "chi-square on routing units, n=500/4,500 units" in decision.reason


def _clustered(hits: int, total: int, units: int) -> Proportion:
    """``units`` equal units, each all-pass or all-fail: the most clustered a proportion can be."""
    size = total // units
    passing = hits // size
    return Proportion(
        hits,
        total,
        Clusters(
            units, float(passing * size * size), float(passing * size * size), float(units * size * size)
        ),
    )


def test_clustered_outcomes_widen_the_interval() -> None:
    plain = _obs(95_000, 5_000, latency_ms=None)
    decision = judge(_plan(), 0, 6, LATE, plain)
    assert _verdicts(decision)["eval_pass_rate"] == "pass"
    arms = {"stable": _clustered(85_500, 95_000, 4_750), "canary": _clustered(4_500, 5_000, 250)}
    clustered = dataclasses_replace(plain, metrics={**plain.metrics, "eval_pass_rate": arms})
    result = judge(_plan(), 0, 6, LATE, clustered).metrics[0]
    assert result.verdict == "inconclusive"
    assert result.deff is not None
    assert result.deff[1] == pytest.approx(20.0, rel=0.01)
    assert "cluster-robust (design effect 20.1/20.0)" in result.reason


def test_a_regression_rolls_back_to_the_stage_rollback_to() -> None:
    stages = [
        {"weight": 5, "min_duration": "30m", "max_duration": "2h", "look_every": "5m"},
        {"weight": 25, "min_duration": "30m", "max_duration": "2h", "look_every": "5m", "rollback_to": 5},
        {"weight": 100},
    ]
    decision = judge(_plan(stages=stages), 1, 3, LATE, _obs(75_000, 25_000, pass_rate=(0.9, 0.8)))
    assert (decision.action, decision.cause, decision.rollback_to) == ("rollback", "regression", 5)
    assert decision.reason.endswith("rolling back to 5%")
    assert format_status(decision).endswith("rollback to 5%")


def test_latency_clustered_by_unit_gets_a_wider_interval() -> None:
    rng = random.Random(11)
    # 250 users of 20 requests; each user's latency level is its own (slow users stay slow)
    levels = [rng.lognormvariate(0, 0.5) for _ in range(250)]
    values = tuple(1000.0 * level * rng.lognormvariate(0, 0.05) for level in levels for _ in range(20))
    units = tuple(u for u in range(250) for _ in range(20))
    stable = _latencies(95_000, 1000.0, 1)
    plain = dataclasses_replace(
        _obs(95_000, 5_000), metrics={"latency_p95_ms": {"stable": stable, "canary": Samples(values)}}
    )
    clustered = dataclasses_replace(
        plain, metrics={"latency_p95_ms": {"stable": stable, "canary": Samples(values, units)}}
    )
    narrow = judge(_plan(), 0, 6, LATE, plain).metrics[2]
    wide = judge(_plan(), 0, 6, LATE, clustered).metrics[2]
    assert narrow.ci is not None
    assert wide.ci is not None
    assert wide.deff is not None
    assert wide.deff[1] > 5
    assert wide.ci[0] < narrow.ci[0]
    assert wide.ci[1] > narrow.ci[1]


def test_without_a_history_the_looks_are_rebuilt_from_sub_windows() -> None:
    # 40 minutes of 30 s sub-windows: 25 minutes of traffic, then 15 minutes of nothing
    busy, quiet = _even(47_500, 2_500, 50), ((0, 0),) * 30
    obs = dataclasses_replace(
        _obs(47_500, 2_500, latency_ms=None), batches=busy + quiet, window=(T0, T0 + 2400.0), batch_s=30.0
    )
    decision = judge(_plan(), 0, 8, 2400.0, obs)
    assert (decision.action, decision.cause) == ("rollback", "no_data")
    assert decision.counted_s == 1500.0
    fresh = dataclasses_replace(obs, batches=_even(47_500, 2_500, 80))
    proportions = _plan().metrics[:2]
    assert (
        judge(_plan(metrics=[m.model_dump() for m in proportions]), 0, 8, 2400.0, fresh).action == "promote"
    )
