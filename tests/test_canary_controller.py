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


# --- fresh data, settle, zero traffic, stepwise rollback -----------------------------------------


def _traffic(
    router: FakeRouter,
    *,
    stops_at: float | None = None,
    canary_share: float | None = None,
    canary_rate: float = 0.9,
    lag_s: float = 0.0,
) -> FakeMetricSource:
    """20 requests/s until ``stops_at`` (seconds after the first look at the source), split by the router's
    weight (or ``canary_share``); the weight takes ``lag_s`` to apply after each change."""
    changes: list[tuple[float, int]] = []
    first: list[float] = []

    def weight_at(t: float) -> int:
        applied = [w for at, w in changes if at + lag_s <= t]
        return applied[-1] if applied else 0

    def observe(since: float, until: float) -> Observation:
        if not changes or changes[-1][1] != router.weight:
            changes.append((since, router.weight))
        first.append(since)
        end = until if stops_at is None else min(until, first[0] + stops_at)
        n_s = n_c = 0
        t = since
        while t < end:  # one-second steps keep the split honest across a lagging weight change
            total = 20
            share = canary_share if canary_share is not None else weight_at(t) / 100
            c = round(total * share)
            n_c, n_s = n_c + c, n_s + total - c
            t += 1.0
        data = {
            "stable": Proportion(round(0.9 * n_s), n_s),
            "canary": Proportion(round(canary_rate * n_c), n_c),
        }
        return Observation(
            counts={"stable": n_s, "canary": n_c},
            metrics={"eval_pass_rate": {a: d for a, d in data.items() if d.total}},
        )

    return FakeMetricSource(observe)


def _records(tmp_path: Path, kind: str) -> list[dict[str, Any]]:
    return [r for r in DecisionLog(tmp_path / "log.jsonl").read_all() if r["kind"] == kind]


def test_traffic_that_stops_mid_stage_is_no_data_and_never_promoted(tmp_path: Path) -> None:
    router = FakeRouter()
    outcome = _controller(tmp_path, router, _traffic(router, stops_at=400.0)).run()
    assert (outcome.result, router.weight, outcome.exit_code) == ("rolled_back", 0, 1)
    assert router.calls == [5, 0]
    last = _records(tmp_path, "decision")[-1]
    assert (last["action"], last["cause"]) == ("rollback", "no_data")
    assert "no requests from either arm since" in last["reason"]
    assert "(on_no_data: rollback)" in last["reason"]


def test_on_no_data_hold_leaves_the_weight_and_exits_4(tmp_path: Path) -> None:
    router = FakeRouter()
    plan = _plan().model_copy(update={"on_no_data": "hold"})
    controller = _controller(tmp_path, router, _traffic(router, stops_at=400.0))
    controller.plan = plan
    outcome = controller.run()
    assert (outcome.result, outcome.weight, outcome.exit_code) == ("held", 5, 4)
    assert "holding at 5% (on_no_data: hold)" in outcome.reason


def test_zero_canary_traffic_rolls_back_at_the_first_look(tmp_path: Path) -> None:
    router = FakeRouter()
    outcome = _controller(tmp_path, router, _traffic(router, canary_share=0.0)).run()
    assert (outcome.result, router.weight) == ("rolled_back", 0)
    decisions = _records(tmp_path, "decision")
    assert len(decisions) == 1
    assert decisions[0]["cause"] == "no_traffic"
    assert "no canary traffic: routing is not applying the weight" in decisions[0]["reason"]


def test_zero_stable_traffic_is_the_mirror_case(tmp_path: Path) -> None:
    router = FakeRouter()
    outcome = _controller(tmp_path, router, _traffic(router, canary_share=1.0)).run()
    assert outcome.result == "rolled_back"
    assert "no stable traffic: routing is not applying the weight" in outcome.reason


def test_the_settle_is_logged_with_its_split_and_not_judged(tmp_path: Path) -> None:
    router = FakeRouter()
    source = _traffic(router, lag_s=30.0)  # the app applies each weight 30 s late
    outcome = _controller(tmp_path, router, source).run()
    assert outcome.result == "promoted"
    settles = _records(tmp_path, "settle")
    assert [s["weight"] for s in settles] == [5, 25]
    assert settles[0]["seconds"] == 60.0
    # half the settle still ran at the old weight: the observed split shows the lag
    assert 0 < settles[1]["share"] < 25
    assert "observed split" in settles[1]["reason"]
    judged = [since for since, until in source.calls if until - since > 60]
    assert all(since >= 1_000_060.0 for since in judged)


def test_a_rollback_to_a_lower_stage_leaves_the_weight_there(tmp_path: Path) -> None:
    router = FakeRouter()
    stages = [
        {"weight": 5, "min_duration": "10m", "max_duration": "30m", "look_every": "5m"},
        {"weight": 25, "min_duration": "10m", "max_duration": "30m", "look_every": "5m", "rollback_to": 5},
        {"weight": 100},
    ]
    plan = RolloutPlan.model_validate({**_plan().model_dump(), "stages": stages})
    quality = {"canary": 0.9}
    source = _traffic(router)
    observe = source._observe

    def degrade_at_25(since: float, until: float) -> Observation:
        obs = observe(since, until)
        if router.weight == 25:  # the canary drops 20 points once it gets 25%
            n_c = obs.counts["canary"]
            arms = dict(obs.metrics["eval_pass_rate"])
            arms["canary"] = Proportion(round((quality["canary"] - 0.2) * n_c), n_c)
            return Observation(counts=obs.counts, metrics={"eval_pass_rate": arms})
        return obs

    source._observe = degrade_at_25
    controller = _controller(tmp_path, router, source)
    controller.plan = plan
    outcome = controller.run()
    assert (outcome.result, outcome.weight, outcome.exit_code, router.weight) == ("rolled_back", 5, 1, 5)
    assert router.calls == [5, 25, 5]
    assert "the weight stays at 5%, `evalgate canary rollback` takes it to 0" in outcome.reason
    last_weight = _records(tmp_path, "weight")[-1]
    assert last_weight["weight"] == 5
    assert last_weight["reason"].startswith("rollback to 5% (the stage's rollback_to)")


def test_until_stops_with_a_message_and_never_says_promoting_to_100(tmp_path: Path) -> None:
    router = FakeRouter()
    outcome = _controller(tmp_path, router, _traffic(router), until=25).run()
    assert (outcome.result, outcome.weight, outcome.exit_code) == ("passed_until", 25, 0)
    assert outcome.reason.startswith(
        "stopped at 25% as asked (`--until 25`); promote with `evalgate canary promote`"
    )
    reasons = [d["reason"] for d in _records(tmp_path, "decision")]
    assert not any("to 100%" in r for r in reasons)
    assert reasons[-1].endswith("stage passed; stopping at 25% as asked (--until 25)")


def test_a_manual_rollback_during_the_last_look_is_not_overwritten_by_the_promotion(tmp_path: Path) -> None:
    # the human's `canary rollback` lands while the stage's last look is being judged: the promotion that
    # judgement asks for must not move traffic to the next weight over the human's 0
    from evalgate.canary.controller import manual

    router = FakeRouter()
    log = DecisionLog(tmp_path / "log.jsonl")
    equal = _arms(router, 0.9)
    done: list[bool] = []

    def observe(since: float, until: float) -> Observation:
        if router.weight == 25 and until - since >= 600 and not done:
            done.append(True)
            manual(
                "rollback",
                router=router,
                log=DecisionLog(tmp_path / "log.jsonl"),
                actor="sre",
                reason="pager",
            )
        return equal.observe(since, until)

    controller = Controller(
        plan=_plan(), router=router, source=FakeMetricSource(observe), log=log, clock=JumpClock()
    )
    outcome = controller.run()
    assert done, "the look that promotes the 25% stage never came"
    assert (outcome.result, outcome.weight, router.weight) == ("rolled_back", 0, 0)
    assert 100 not in router.calls
    assert "manual rollback by sre" in outcome.reason


class _HumanRacesTheController(FakeRouter):
    """A router on which a human's rollback lands just before the controller's own write of 100%."""

    def __init__(self, log_path: Path) -> None:
        super().__init__()
        self.log_path = log_path
        self.raced = False

    def set_weight(self, weight: int) -> None:
        from evalgate.canary.controller import manual

        if weight == 100 and not self.raced:
            self.raced = True
            manual("rollback", router=self, log=DecisionLog(self.log_path), actor="sre", reason="pager")
        super().set_weight(weight)


def test_a_manual_rollback_that_races_a_controller_write_is_put_back(tmp_path: Path) -> None:
    router = _HumanRacesTheController(tmp_path / "log.jsonl")
    outcome = _controller(tmp_path, router, _arms(router, 0.9)).run()
    assert router.raced
    assert (outcome.result, outcome.weight, router.weight) == ("rolled_back", 0, 0)
    assert "manual rollback by sre" in outcome.reason
