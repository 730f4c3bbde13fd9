"""The controller with every edge faked: a clock that jumps, an in-memory router and metric source."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from evalgate.canary.controller import Controller
from evalgate.canary.decisionlog import DecisionLog
from evalgate.canary.observations import Observation, Proportion
from evalgate.canary.plan import RolloutPlan
from evalgate.testing import FakeMetricSource, FakeRouter


class JumpClock:
    """Time passes only when the controller sleeps."""

    def __init__(self) -> None:
        self.t = 1_000_000.0

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds


def _plan() -> RolloutPlan:
    return RolloutPlan.model_validate(
        {
            "target": {"kind": "model", "stable": "gpt-4o-2024-08-06", "candidate": "gpt-4o-2024-11-20"},
            "stages": [
                {"weight": 5, "min_duration": "10m", "max_duration": "30m", "look_every": "5m"},
                {"weight": 25, "min_duration": "10m", "max_duration": "30m", "look_every": "5m"},
                {"weight": 100},
            ],
            "metrics": [{"name": "eval_pass_rate", "kind": "proportion", "better": "higher", "margin": 0.03}],
            "router": {"type": "file", "path": "routing.yaml"},
            "source": {"type": "jsonl", "path": "requests.jsonl"},
        }
    )


def _arms(router: FakeRouter, canary_rate: float) -> FakeMetricSource:
    def observe(since: float, until: float) -> Observation:
        total = int((until - since) * 20)  # 20 requests a second
        n_c = total * router.weight // 100
        n_s = total - n_c
        data = {
            "stable": Proportion(round(0.9 * n_s), n_s),
            "canary": Proportion(round(canary_rate * n_c), n_c),
        }
        return Observation(counts={"stable": n_s, "canary": n_c}, metrics={"eval_pass_rate": data})

    return FakeMetricSource(observe)


def _controller(tmp_path: Path, router: FakeRouter, source: FakeMetricSource, **kw: Any) -> Controller:
    return Controller(
        plan=_plan(),
        router=router,
        source=source,
        log=DecisionLog(tmp_path / "log.jsonl"),
        clock=JumpClock(),
        **kw,
    )


def test_equal_arms_walk_every_stage_to_100(tmp_path: Path) -> None:
    router = FakeRouter()
    outcome = _controller(tmp_path, router, _arms(router, 0.9)).run()
    assert (outcome.result, outcome.weight, outcome.exit_code) == ("promoted", 100, 0)
    assert router.calls == [5, 25, 100]


def test_a_drop_rolls_back_and_says_why(tmp_path: Path) -> None:
    router = FakeRouter()
    outcome = _controller(tmp_path, router, _arms(router, 0.7)).run()
    assert (outcome.result, router.weight, outcome.exit_code) == ("rolled_back", 0, 1)
    assert "eval_pass_rate" in outcome.reason


def test_until_leaves_traffic_at_that_stage(tmp_path: Path) -> None:
    router = FakeRouter()
    outcome = _controller(tmp_path, router, _arms(router, 0.9), until=25).run()
    assert (outcome.result, router.weight, outcome.exit_code) == ("passed_until", 25, 0)


def test_a_flaky_router_is_retried(tmp_path: Path) -> None:
    router = FakeRouter()
    router.fail_next(2)
    assert _controller(tmp_path, router, _arms(router, 0.9)).run().result == "promoted"


def test_a_metric_source_that_stays_down_puts_traffic_back_on_stable(tmp_path: Path) -> None:
    router = FakeRouter()
    source = _arms(router, 0.9)
    source.fail_next(100)
    outcome = _controller(tmp_path, router, source).run()
    assert (outcome.result, outcome.exit_code, router.weight) == ("infrastructure", 3, 0)
    assert "traffic is back on stable" in outcome.reason


def test_a_router_that_ignores_a_change_is_caught_and_traffic_goes_back(tmp_path: Path) -> None:
    router = FakeRouter(stuck=True)  # stuck at 0: the 5% never takes effect, and 0% is where it stays
    outcome = _controller(tmp_path, router, _arms(router, 0.9)).run()
    assert (outcome.exit_code, router.weight) == (3, 0)
    assert "reads back 0%" in outcome.reason


def test_a_router_stuck_on_the_canary_is_a_loud_failure(tmp_path: Path) -> None:
    router = FakeRouter(weight=5, stuck=True)  # 5% reads back fine; 25% and the rollback to 0% never apply
    outcome = _controller(tmp_path, router, _arms(router, 0.9)).run()
    assert (outcome.exit_code, outcome.weight) == (3, None)
    assert "TRAFFIC MAY STILL BE ON THE CANARY" in outcome.reason
