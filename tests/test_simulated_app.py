"""The simulated app: traffic split by the router's weight, per-arm behaviour, its admin endpoint."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import requests
from pydantic import TypeAdapter

from evalgate.canary.observations import Proportion, Samples
from evalgate.canary.requestlog import parse_record
from evalgate.canary.routers import build_router
from evalgate.canary.sources import SimpleMetric, build_source, summarize
from evalgate.checks import CheckSpec
from evalgate.testing import ArmBehaviour, FakeRouter, SimulatedApp

METRICS = [
    SimpleMetric("error_rate"),
    SimpleMetric("eval_pass_rate"),
    SimpleMetric("latency_p50_ms", "quantile", 0.5),
]
CHECKS = TypeAdapter(list[CheckSpec]).validate_python(
    [{"type": "is_json"}, {"type": "not_icontains", "value": "as an ai language model"}]
)


def records(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_a_quarter_of_requests_go_to_the_canary_at_25_percent(tmp_path: Path) -> None:
    app = SimulatedApp(tmp_path / "log.jsonl", router=FakeRouter(25), seed=7)
    again = SimulatedApp(tmp_path / "again.jsonl", router=FakeRouter(25), seed=7)

    app.emit(4000)
    again.emit(4000)

    assert app.records_written == 4000
    assert 0.22 < app.arm_counts["canary"] / 4000 < 0.28
    assert app.arm_counts == again.arm_counts  # the same seed splits the same way
    assert app.weight_seen == 25


def test_per_arm_behaviour_shows_up_in_the_summary(tmp_path: Path) -> None:
    log = tmp_path / "log.jsonl"
    app = SimulatedApp(
        log,
        router=FakeRouter(50),
        stable=ArmBehaviour(quality=1.0, error_rate=0.0, latency_ms=100.0, latency_spread=0.0),
        canary=ArmBehaviour(quality=0.5, error_rate=0.2, latency_ms=400.0, latency_spread=0.3),
    )
    app.emit(2000)

    seen = summarize([parse_record(line) for line in records(log)], METRICS, CHECKS, base_dir=tmp_path)

    stable_errors, canary_errors = seen.metrics["error_rate"]["stable"], seen.metrics["error_rate"]["canary"]
    assert isinstance(stable_errors, Proportion)
    assert isinstance(canary_errors, Proportion)
    assert stable_errors.hits == 0
    assert 0.15 < (canary_errors.rate or 0) < 0.25
    passes = seen.metrics["eval_pass_rate"]
    assert passes["stable"] == Proportion(seen.counts["stable"], seen.counts["stable"])
    assert 0.4 < (getattr(passes["canary"], "rate", 0) or 0) < 0.6
    stable_latency, canary_latency = (
        seen.metrics["latency_p50_ms"]["stable"],
        seen.metrics["latency_p50_ms"]["canary"],
    )
    assert isinstance(stable_latency, Samples)
    assert isinstance(canary_latency, Samples)
    assert set(stable_latency.values) == {100.0}
    assert 300 < sorted(canary_latency.values)[len(canary_latency.values) // 2] < 500


def test_background_traffic_is_fresh_and_follows_the_file_router(tmp_path: Path) -> None:
    log, routing = tmp_path / "log.jsonl", tmp_path / "routing.yaml"
    router = build_router(
        {"type": "file", "path": "routing.yaml"}, base_dir=tmp_path, env={}, stable="a", candidate="b"
    )
    source = build_source(
        {"type": "jsonl", "path": "log.jsonl"}, base_dir=tmp_path, env={}, metrics=METRICS, live_checks=CHECKS
    )
    started = time.time()
    with SimulatedApp(log, rate=4000, routing_path=routing) as app:
        time.sleep(0.15)  # no routing file yet: all stable
        assert app.weight_seen == 0
        router.set_weight(100)
        time.sleep(0.2)
        switched = time.time()
        time.sleep(0.15)
    ended = time.time()

    assert app.records_written == len(records(log)) > 0
    seen_before = source.observe(started, switched - 0.1)
    seen_after = source.observe(switched, ended + 1)
    assert seen_before.counts["stable"] > 0
    assert seen_after.counts == {"stable": 0, "canary": seen_after.counts["canary"]}
    assert seen_after.counts["canary"] > 0
    timestamps = [parse_record(line).ts for line in records(log)]
    assert started <= min(timestamps) <= max(timestamps) <= ended


def test_behaviour_can_change_while_running(tmp_path: Path) -> None:
    log = tmp_path / "log.jsonl"
    with SimulatedApp(log, rate=3000, router=FakeRouter(100)) as app:
        time.sleep(0.12)
        app.set_behaviour("canary", ArmBehaviour(error_rate=1.0))
        changed = time.time()
        time.sleep(0.12)
    late = [parse_record(line) for line in records(log) if parse_record(line).ts >= changed + 0.06]
    assert late
    assert all(r.error for r in late)


def test_rate_zero_means_no_traffic(tmp_path: Path) -> None:
    with SimulatedApp(tmp_path / "log.jsonl", rate=0, router=FakeRouter(50)) as app:
        time.sleep(0.15)
    assert app.records_written == 0
    assert records(tmp_path / "log.jsonl") == []


def test_admin_endpoint_sets_and_reports_the_routing(tmp_path: Path) -> None:
    with SimulatedApp(tmp_path / "log.jsonl", rate=0, admin=True) as app:
        put = requests.put(app.admin_url, json={"canary_weight": 25, "canary": "v2"}, timeout=5)
        got = requests.get(app.admin_url, timeout=5)
        bad = requests.put(app.admin_url, json={"canary_weight": 101}, timeout=5)
        missing = requests.get(app.admin_url.replace("routing", "other"), timeout=5)
        app.emit(400)

    assert put.status_code == 200
    assert got.json() == {"stable": "stable", "canary": "v2", "canary_weight": 25}
    assert (bad.status_code, missing.status_code) == (400, 404)
    assert app.weight_seen == 25
    assert 50 < app.arm_counts["canary"] < 150


def test_sustains_twenty_thousand_requests_a_second(tmp_path: Path) -> None:
    app = SimulatedApp(tmp_path / "log.jsonl", router=FakeRouter(25))
    started = time.perf_counter()
    app.emit(20_000)
    assert time.perf_counter() - started < 1.0  # about 0.05 s on a laptop


def test_behaviour_is_validated() -> None:
    with pytest.raises(ValueError, match="quality must be a probability"):
        ArmBehaviour(quality=1.5)


def test_sticky_bursts_route_whole_users_and_name_them(tmp_path: Path) -> None:
    app = SimulatedApp(tmp_path / "log.jsonl", router=FakeRouter(25), seed=3, burst=20)
    app.emit(4000)
    parsed = [parse_record(line) for line in records(tmp_path / "log.jsonl")]
    arms: dict[str, set[str]] = {}
    for record in parsed:
        assert record.unit is not None
        arms.setdefault(record.unit, set()).add(record.arm)
    assert len(arms) == 200  # 4,000 requests in bursts of 20
    assert all(len(seen) == 1 for seen in arms.values())  # a user never switches arm
    canary_users = sum(seen == {"canary"} for seen in arms.values())
    assert 25 <= canary_users <= 75  # ~50 of 200
    seen = summarize(parsed, METRICS, CHECKS, base_dir=tmp_path)
    assert seen.units == {"canary": canary_users, "stable": 200 - canary_users}


def test_sticky_bursts_without_unit_logging(tmp_path: Path) -> None:
    app = SimulatedApp(tmp_path / "log.jsonl", router=FakeRouter(25), seed=3, burst=20, log_units=False)
    app.emit(100)
    assert all(parse_record(line).unit is None for line in records(tmp_path / "log.jsonl"))


def test_a_lagging_app_applies_a_new_weight_only_after_the_lag(tmp_path: Path) -> None:
    router = FakeRouter(0)
    app = SimulatedApp(tmp_path / "log.jsonl", router=router, seed=3, lag_s=0.5)
    app.emit(100)
    router.weight = 100
    app.emit(100)  # read just now: still the old weight
    assert app.arm_counts == {"stable": 200, "canary": 0}
    time.sleep(0.6)
    app.emit(100)
    assert app.arm_counts == {"stable": 200, "canary": 100}
