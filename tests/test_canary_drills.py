"""Rollout drills in real time: the CLI drives a file router and reads the jsonl log of a simulated app
whose arms' quality, errors and latency each test sets. Looks are a second apart."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from evalgate.cli import main
from evalgate.testing import ArmBehaviour, SimulatedApp

pytestmark = pytest.mark.slow

GOOD = ArmBehaviour(quality=0.95, error_rate=0.002, latency_ms=200, latency_spread=0.25)
RATE = 20_000  # simulated requests per second: enough for a 5% arm to decide within seconds
# no data for 4 s (not the default two 1 s looks): a busy CI machine can starve the app's writer thread
# for a second or two, and that must not read as an app that died
QUIET = "max_silence: 4s"

PLAN = """\
canary:
  target: {{kind: model, stable: gpt-4o-2024-08-06, candidate: gpt-4o-2024-11-20}}
  stages:
    - {{weight: 5, min_duration: 2s, max_duration: {max}, look_every: 1s, min_samples: 200{extra}}}
    - {{weight: 25, min_duration: 2s, max_duration: {max}, look_every: 1s, min_samples: 200{extra}{extra25}}}
    - {{weight: 100}}
  metrics:
    - {{name: eval_pass_rate, kind: proportion, better: higher, margin: 0.03, critical: true}}
    - {{name: error_rate, kind: proportion, better: lower, margin: 0.01, guard: 0.05}}
    - {{name: latency_p95_ms, kind: quantile, q: 0.95, better: lower, tolerance: 0.2}}
  live_checks:
    - {{type: is_json}}
    - {{type: not_icontains, value: "as an ai language model"}}
  alpha: 0.05
  on_inconclusive: rollback
  router: {router}
  source: {{type: jsonl, path: requests.jsonl}}
"""


def _plan(
    root: Path,
    *,
    max_duration: str = "6s",
    router: str = "{type: file, path: routing.yaml}",
    extra: str = "",
    extra25: str = "",
) -> Path:
    """The drill plan; ``extra`` adds stage fields to both judged stages, ``extra25`` to the 25% one."""
    path = root / "evalgate.yaml"
    extra = f", {QUIET}{extra}"
    path.write_text(PLAN.format(max=max_duration, router=router, extra=extra, extra25=extra25))
    return path


@pytest.fixture
def app(tmp_path: Path) -> Iterator[SimulatedApp]:
    with SimulatedApp(
        tmp_path / "requests.jsonl", rate=RATE, seed=7, routing_path=tmp_path / "routing.yaml"
    ) as sim:
        sim.set_behaviour("stable", GOOD)
        sim.set_behaviour("canary", GOOD)
        yield sim


def _run(root: Path, *extra: str) -> int:
    return main(
        ["canary", "run", "--config", str(root / "evalgate.yaml"), "--log", str(root / "log.jsonl"), *extra]
    )


def _log(root: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (root / "log.jsonl").read_text().splitlines()]


def _weight(root: Path) -> int:
    return int(yaml.safe_load((root / "routing.yaml").read_text())["canary_weight"])


def _has_weight_record(root: Path, weight: int) -> bool:
    path = root / "log.jsonl"
    for line in path.read_text().splitlines() if path.exists() else []:
        try:
            record = json.loads(line)
        except ValueError:  # the line the controller is appending right now
            continue
        if record.get("kind") == "weight" and record.get("weight") == weight:
            return True
    return False


def _decisions(root: Path) -> list[dict[str, Any]]:
    return [r for r in _log(root) if r["kind"] == "decision"]


def test_equal_versions_are_promoted(tmp_path: Path, app: SimulatedApp) -> None:
    _plan(tmp_path)
    assert _run(tmp_path) == 0
    assert _weight(tmp_path) == 100
    weights = [r["weight"] for r in _log(tmp_path) if r["kind"] == "weight"]
    assert weights == [5, 25, 100]
    assert {d["action"] for d in _decisions(tmp_path)} <= {"extend", "promote"}
    assert app.records_written > 0


def test_five_point_drop_is_rolled_back(tmp_path: Path, app: SimulatedApp) -> None:
    app.set_behaviour(
        "canary", ArmBehaviour(quality=0.90, error_rate=0.002, latency_ms=200, latency_spread=0.25)
    )
    _plan(tmp_path, max_duration="10s")
    assert _run(tmp_path) == 1
    assert _weight(tmp_path) == 0
    last = _decisions(tmp_path)[-1]
    assert last["action"] == "rollback"
    assert "eval_pass_rate" in last["reason"]


def test_twenty_point_drop_is_caught_at_the_first_look(tmp_path: Path, app: SimulatedApp) -> None:
    app.set_behaviour(
        "canary", ArmBehaviour(quality=0.75, error_rate=0.002, latency_ms=200, latency_spread=0.25)
    )
    _plan(tmp_path)
    assert _run(tmp_path) == 1
    decisions = _decisions(tmp_path)
    assert len(decisions) == 1
    assert (decisions[0]["weight"], decisions[0]["look"], decisions[0]["action"]) == (5, 1, "rollback")


def test_no_traffic_is_never_promoted(tmp_path: Path) -> None:
    with SimulatedApp(tmp_path / "requests.jsonl", rate=0, routing_path=tmp_path / "routing.yaml"):
        _plan(tmp_path, max_duration="3s")
        code = _run(tmp_path)
    assert code == 1
    assert _weight(tmp_path) == 0
    actions = [d["action"] for d in _decisions(tmp_path)]
    assert "promote" not in actions
    assert actions[-1] == "rollback"
    assert all(m["verdict"] == "inconclusive" for d in _decisions(tmp_path) for m in d["metrics"])


def test_error_guard_breach_rolls_back(tmp_path: Path, app: SimulatedApp) -> None:
    app.set_behaviour(
        "canary", ArmBehaviour(quality=0.95, error_rate=0.20, latency_ms=200, latency_spread=0.25)
    )
    _plan(tmp_path)
    assert _run(tmp_path) == 1
    last = _decisions(tmp_path)[-1]
    assert "error_rate" in last["reason"]
    assert _weight(tmp_path) == 0


def test_latency_p95_up_half_rolls_back(tmp_path: Path, app: SimulatedApp) -> None:
    app.set_behaviour(
        "canary", ArmBehaviour(quality=0.95, error_rate=0.002, latency_ms=300, latency_spread=0.25)
    )
    _plan(tmp_path)
    assert _run(tmp_path) == 1
    assert "latency_p95_ms" in _decisions(tmp_path)[-1]["reason"]


def _router_script(root: Path, fail_at: set[int]) -> str:
    script = root / "router.py"
    script.write_text(
        "import sys, pathlib\n"
        f"state = pathlib.Path({str(root / 'routing.yaml')!r})\n"
        "if sys.argv[1] == 'get':\n"
        "    import yaml\n"
        "    data = yaml.safe_load(state.read_text()) if state.exists() else None\n"
        "    print((data or {}).get('canary_weight', 0))\n"
        "    sys.exit(0)\n"
        "weight = int(sys.argv[2])\n"
        f"if weight in {sorted(fail_at)!r}:\n"
        "    sys.exit('admin API: 503 upstream unavailable')\n"
        "state.write_text(f'stable: a\\ncanary: b\\ncanary_weight: {weight}\\n')\n"
    )
    py = json.dumps(sys.executable)
    return f'{{type: command, set: [{py}, "{script}", set, "{{weight}}"], get: [{py}, "{script}", get]}}'


def test_router_failure_rolls_back_to_stable(
    tmp_path: Path, app: SimulatedApp, capsys: pytest.CaptureFixture[str]
) -> None:
    _plan(tmp_path, router=_router_script(tmp_path, {25}))
    assert _run(tmp_path) == 3
    assert _weight(tmp_path) == 0
    assert "rolled back to stable" in capsys.readouterr().out


def test_router_that_cannot_even_roll_back_fails_loudly(
    tmp_path: Path, app: SimulatedApp, capsys: pytest.CaptureFixture[str]
) -> None:
    _plan(tmp_path, router=_router_script(tmp_path, {25, 0}))
    assert _run(tmp_path) == 3
    assert "TRAFFIC MAY STILL BE ON THE CANARY" in capsys.readouterr().out
    assert any(r["kind"] == "router_error" for r in _log(tmp_path))


def test_manual_rollback_mid_stage(tmp_path: Path, app: SimulatedApp) -> None:
    _plan(tmp_path, max_duration="30s")
    (tmp_path / "evalgate.yaml").write_text(
        (tmp_path / "evalgate.yaml").read_text().replace("min_duration: 2s", "min_duration: 20s")
    )
    result: dict[str, int] = {}
    runner = threading.Thread(target=lambda: result.setdefault("code", _run(tmp_path)))
    runner.start()
    # mid-stage means the controller has set 5% and recorded it; a fixed wait raced a starved controller
    # (a rollback between its set and its read-back fails that set, and the run ends as exit 3)
    deadline = time.monotonic() + 60
    while not _has_weight_record(tmp_path, 5):
        assert time.monotonic() < deadline, "the run never recorded its 5% stage"
        time.sleep(0.05)
    code = main(
        [
            "canary",
            "rollback",
            "--config",
            str(tmp_path / "evalgate.yaml"),
            "--log",
            str(tmp_path / "log.jsonl"),
            "--actor",
            "alice",
            "--reason",
            "pager alert",
        ]
    )
    runner.join(timeout=60)
    assert code == 0
    assert result.get("code") == 1, "the run did not obey the manual rollback"
    assert _weight(tmp_path) == 0
    manual = [r for r in _log(tmp_path) if r["kind"] == "manual"]
    assert manual[0]["actor"] == "alice"
    assert manual[0]["reason"] == "pager alert"


def test_until_stops_before_the_final_stage_and_promote_finishes(tmp_path: Path, app: SimulatedApp) -> None:
    _plan(tmp_path)
    assert _run(tmp_path, "--until", "25") == 0
    assert _weight(tmp_path) == 25
    code = main(
        [
            "canary",
            "promote",
            "--config",
            str(tmp_path / "evalgate.yaml"),
            "--log",
            str(tmp_path / "log.jsonl"),
            "--actor",
            "release-manager",
        ]
    )
    assert code == 0
    assert _weight(tmp_path) == 100


# --- real routing: an app that dies, lags, routes users; stepwise rollback ----------------------


def _when_weight(root: Path, weight: int, action: Callable[[], None]) -> threading.Thread:
    """Run ``action`` once the routing file says ``weight`` (a watcher thread, like an on-call event)."""

    def watch() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if _weight(root) == weight:
                    action()
                    return
            except (OSError, TypeError, KeyError, yaml.YAMLError):
                pass
            time.sleep(0.02)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def test_an_app_killed_mid_stage_is_never_promoted(tmp_path: Path, app: SimulatedApp) -> None:
    _plan(tmp_path, max_duration="10s")
    watcher = _when_weight(tmp_path, 25, app.stop)  # the app dies as the 25% stage begins
    code = _run(tmp_path)
    watcher.join(timeout=5)
    assert code == 1
    assert _weight(tmp_path) == 0
    assert [r["weight"] for r in _log(tmp_path) if r["kind"] == "weight"] == [5, 25, 0]
    last = _decisions(tmp_path)[-1]
    assert (last["weight"], last["action"], last["cause"]) == (25, "rollback", "no_data")
    assert "no requests from either arm since" in last["reason"]


def test_a_router_that_applies_weights_5s_late_is_promoted_with_a_10s_settle(tmp_path: Path) -> None:
    # a lighter rate: each 10 s settle is read in full, and the looks still decide within seconds
    with SimulatedApp(
        tmp_path / "requests.jsonl", rate=8_000, seed=5, routing_path=tmp_path / "routing.yaml", lag_s=5.0
    ) as app:
        app.set_behaviour("stable", GOOD)
        app.set_behaviour("canary", GOOD)
        _plan(tmp_path, max_duration="8s", extra=", settle: 10s")
        code = _run(tmp_path)
    assert code == 0
    assert _weight(tmp_path) == 100
    settles = [r for r in _log(tmp_path) if r["kind"] == "settle"]
    assert [s["weight"] for s in settles] == [5, 25]
    # half of each settle still ran at the old weight: the log shows the split the app really served
    assert 0 < settles[0]["share"] < 4.5
    assert 5 < settles[1]["share"] < 22
    assert all(d["cause"] is None for d in _decisions(tmp_path))


def test_sticky_routing_with_units_is_promoted(tmp_path: Path) -> None:
    with SimulatedApp(
        tmp_path / "requests.jsonl", rate=RATE, seed=9, routing_path=tmp_path / "routing.yaml", burst=20
    ) as app:
        app.set_behaviour("stable", GOOD)
        app.set_behaviour("canary", GOOD)
        _plan(tmp_path, max_duration="10s")
        code = _run(tmp_path)
    assert code == 0
    assert _weight(tmp_path) == 100
    decisions = _decisions(tmp_path)
    assert {d["action"] for d in decisions} <= {"extend", "promote"}
    assert {d["srm_test"] for d in decisions} <= {"units", None}
    assert "units" in {d["srm_test"] for d in decisions}
    assert any(m["deff"] is not None for d in decisions for m in d["metrics"])  # cluster-robust intervals


def test_a_regression_at_25_rolls_back_to_5_and_canary_rollback_takes_it_to_0(
    tmp_path: Path, app: SimulatedApp
) -> None:
    _plan(tmp_path, max_duration="10s", extra25=", rollback_to: 5")
    worse = ArmBehaviour(quality=0.75, error_rate=0.002, latency_ms=200, latency_spread=0.25)
    watcher = _when_weight(tmp_path, 25, lambda: app.set_behaviour("canary", worse))
    code = _run(tmp_path)
    watcher.join(timeout=5)
    assert code == 1
    assert _weight(tmp_path) == 5
    weights = [r for r in _log(tmp_path) if r["kind"] == "weight"]
    assert [w["weight"] for w in weights] == [5, 25, 5]
    assert weights[-1]["reason"].startswith("rollback to 5% (the stage's rollback_to)")
    last = _decisions(tmp_path)[-1]
    assert (last["weight"], last["cause"], last["rollback_to"]) == (25, "regression", 5)
    config, log = str(tmp_path / "evalgate.yaml"), str(tmp_path / "log.jsonl")
    assert main(["canary", "rollback", "--config", config, "--log", log, "--actor", "oncall"]) == 0
    assert _weight(tmp_path) == 0
