"""``evalgate canary judge``: one look at one stage from the real jsonl source, as an exit code.

Records are written with exact timestamps in the past (``SimulatedApp.emit``), so nothing waits."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from evalgate.canary.judge import judge
from evalgate.canary.oneshot import look_number, parse_since
from evalgate.canary.plan import load_plan
from evalgate.canary.sources import build_source
from evalgate.cli import main
from evalgate.errors import UsageError
from evalgate.testing import ArmBehaviour, FakeRouter, SimulatedApp

PLAN = """\
canary:
  target: {{kind: model, stable: gpt-4o-2024-08-06, candidate: gpt-4o-2024-11-20}}
  stages:
    - {{weight: 5, min_duration: 30s, max_duration: 2m, look_every: 10s, min_samples: 200}}
    - {{weight: 25, min_duration: 30s, max_duration: 2m, look_every: 10s, min_samples: 200}}
    - {{weight: 100}}
  metrics:
    - {{name: eval_pass_rate, kind: proportion, better: higher, margin: 0.03, critical: true}}
    - {{name: error_rate, kind: proportion, better: lower, margin: 0.01, guard: 0.05}}
  live_checks: [{{type: is_json}}]
  on_inconclusive: {on_inconclusive}
  on_no_data: {on_inconclusive}
  router: {{type: file, path: routing.yaml}}
  source: {source}
"""
GOOD = ArmBehaviour(quality=0.95, error_rate=0.002, latency_ms=200)


def _config(root: Path, *, source: str = "{type: jsonl, path: requests.jsonl}", hold: bool = False) -> Path:
    path = root / "evalgate.yaml"
    path.write_text(PLAN.format(source=source, on_inconclusive="hold" if hold else "rollback"))
    return path


def _traffic(
    root: Path, *, weight: int, count: int, start: float, end: float, canary: ArmBehaviour = GOOD
) -> None:
    app = SimulatedApp(
        root / "requests.jsonl", seed=11, router=FakeRouter(weight), stable=GOOD, canary=canary
    )
    app.emit(count, start=start, end=end)


def _judge(root: Path, *extra: str) -> int:
    return main(["canary", "judge", "--config", str(root / "evalgate.yaml"), *extra])


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def _read(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def test_equal_versions_pass_with_exit_0_and_the_decision_as_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _config(tmp_path)
    now = time.time()
    since = int(now) - 70
    _traffic(tmp_path, weight=25, count=40_000, start=since, end=now - 1)
    out = tmp_path / "out" / "decision.json"
    assert _judge(tmp_path, "--weight", "25", "--since", _iso(since), "--json", str(out)) == 0
    record = _read(out)
    assert (record["kind"], record["action"], record["weight"], record["exit_code"]) == (
        "decision",
        "promote",
        25,
        0,
    )
    assert record["look"] == 6  # 62.5 s after the 7.5 s settle, looked at every 10 s
    printed = capsys.readouterr().out.strip()
    assert printed == f"evalgate canary: promote: {record['reason']}"
    assert "promoting from 25% to 100%" in record["reason"]


def test_a_twenty_point_drop_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _config(tmp_path)
    now = time.time()
    bad = ArmBehaviour(quality=0.75, error_rate=0.002, latency_ms=200)
    _traffic(tmp_path, weight=5, count=40_000, start=now - 20, end=now - 1, canary=bad)
    assert _judge(tmp_path, "--weight", "5", "--since", str(now - 20)) == 1
    out = capsys.readouterr().out
    assert out.startswith("evalgate canary: rollback: eval_pass_rate fell")


def test_a_breached_guard_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _config(tmp_path)
    now = time.time()
    erring = ArmBehaviour(quality=0.95, error_rate=0.25, latency_ms=200)
    _traffic(tmp_path, weight=25, count=8_000, start=now - 20, end=now - 1, canary=erring)
    assert _judge(tmp_path, "--weight", "25", "--since", str(now - 20)) == 1
    assert "error_rate is above its 5.0% guard" in capsys.readouterr().out


def test_too_few_samples_exit_4_inconclusive(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _config(tmp_path)
    now = time.time()
    _traffic(tmp_path, weight=5, count=500, start=now - 15, end=now - 1)
    out_json = tmp_path / "d.json"
    assert _judge(tmp_path, "--weight", "5", "--since", str(now - 15), "--json", str(out_json)) == 4
    assert _read(out_json)["action"] == "extend"
    assert "too few samples" in capsys.readouterr().out


def test_no_data_past_max_duration_rolls_back_or_holds_as_the_plan_says(tmp_path: Path) -> None:
    _config(tmp_path)
    since = time.time() - 600
    assert _judge(tmp_path, "--weight", "5", "--since", str(since)) == 1
    _config(tmp_path, hold=True)
    assert _judge(tmp_path, "--weight", "5", "--since", str(since)) == 4


def test_records_before_since_are_not_judged(tmp_path: Path) -> None:
    # A drop at the previous stage's weight, before this stage began, must not count against it.
    _config(tmp_path)
    now = time.time()
    bad = ArmBehaviour(quality=0.5, error_rate=0.002, latency_ms=200)
    _traffic(tmp_path, weight=5, count=20_000, start=now - 300, end=now - 120, canary=bad)
    # (an empty window past max_silence would be no_data: the stage gets good traffic of its own)
    _traffic(tmp_path, weight=25, count=4_000, start=now - 60, end=now - 1)
    assert _judge(tmp_path, "--weight", "25", "--since", str(now - 60)) in (0, 4)


def test_the_settle_after_the_weight_change_is_not_judged(tmp_path: Path) -> None:
    # settle defaults to a quarter of min_duration (7.5 s): what the canary served while routing was
    # still moving does not count, as in `canary run`
    _config(tmp_path)
    now = time.time()
    since = now - 60
    bad = ArmBehaviour(quality=0.5, error_rate=0.002, latency_ms=200)
    _traffic(tmp_path, weight=25, count=4_000, start=since, end=since + 7, canary=bad)
    _traffic(tmp_path, weight=25, count=40_000, start=since + 8, end=now - 1)
    assert _judge(tmp_path, "--weight", "25", "--since", str(since)) == 0


def test_the_json_is_the_decision_the_controllers_judge_makes(tmp_path: Path) -> None:
    config = _config(tmp_path)
    now = time.time()
    since = now - 45
    _traffic(tmp_path, weight=25, count=20_000, start=since, end=now - 1)
    out = tmp_path / "d.json"
    code = _judge(tmp_path, "--weight", "25", "--since", str(since), "--json", str(out))
    record = _read(out)
    plan = load_plan(config)
    source = build_source(
        dict(plan.source.model_dump()),
        base_dir=tmp_path,
        env={},
        metrics=plan.metrics,
        live_checks=plan.live_checks,
    )
    elapsed = record["elapsed_s"]
    start = since + plan.stages[1].settle_s
    obs = source.observe(start, start + elapsed)
    direct = judge(plan, 1, look_number(plan, 1, elapsed), elapsed, obs)
    assert code == 0
    expected = direct.to_dict()
    assert {k: v for k, v in record.items() if k not in ("ts", "kind", "exit_code")} == expected


def test_log_gets_the_decision_for_canary_status(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _config(tmp_path)
    log = tmp_path / "decisions.jsonl"
    assert _judge(tmp_path, "--weight", "5", "--since", str(time.time() - 5), "--log", str(log)) == 4
    capsys.readouterr()
    assert main(["canary", "status", "--config", str(tmp_path / "evalgate.yaml"), "--log", str(log)]) == 0
    assert "last decision: extend by judge" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--weight", "100", "--since", "2026-11-30T10:00:00Z"], "--weight 100 is the promotion itself"),
        (["--weight", "50", "--since", "2026-11-30T10:00:00Z"], "--weight 50 is not a stage of the plan"),
        (["--weight", "5", "--since", "yesterday"], "--since 'yesterday' is not a time"),
        (["--weight", "5", "--since", "2026-11-30T10:00:00"], "has no time zone"),
        (["--weight", "5", "--since", "2999-01-01T00:00:00Z"], "in the future"),
        (["--since", "2026-11-30T10:00:00Z"], "--weight"),
    ],
)
def test_bad_usage_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    _config(tmp_path)
    assert _judge(tmp_path, *argv) == 2
    assert message in capsys.readouterr().err


def test_a_bad_plan_exits_2_with_its_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _config(tmp_path)
    config.write_text(config.read_text().replace("margin: 0.03", "margn: 0.03"))
    assert _judge(tmp_path, "--weight", "5", "--since", str(time.time())) == 2
    assert "evalgate.yaml:8" in capsys.readouterr().err


def test_an_unreachable_source_exits_3_after_retries(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], retry_waits: list[float]
) -> None:
    with socket.socket() as sock:  # a loopback port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    _config(tmp_path, source=f"{{type: jsonl, url: 'http://127.0.0.1:{port}/requests.jsonl', timeout_s: 2}}")
    assert _judge(tmp_path, "--weight", "5", "--since", str(time.time() - 30)) == 3
    err = capsys.readouterr().err
    assert "gave up after 3 attempts" in err
    assert len(retry_waits) == 2


def test_since_accepts_iso_with_an_offset_and_unix_seconds() -> None:
    assert parse_since("2026-11-30T10:00:00Z") == parse_since("2026-11-30T12:00:00+02:00")
    assert parse_since("1764496800") == 1764496800.0
    with pytest.raises(UsageError):
        parse_since("-5")


def test_a_one_shot_judge_never_promotes_on_stale_data(tmp_path: Path) -> None:
    # Good traffic for the first 40 s of the stage, then nothing: the window still holds 40 s of
    # passing records at 60 s, but the looks rebuilt from the source's sub-windows end in silence.
    _config(tmp_path)
    now = time.time()
    since = now - 95
    _traffic(tmp_path, weight=25, count=40_000, start=since, end=since + 40)
    out = tmp_path / "d.json"
    code = _judge(tmp_path, "--weight", "25", "--since", str(since), "--json", str(out))
    record = _read(out)
    assert (code, record["action"], record["cause"]) == (1, "rollback", "no_data")
    assert "no requests from either arm since" in record["reason"]


def test_prometheus_sub_windows_need_request_queries_and_room_for_two() -> None:
    from evalgate.canary.prometheus import PrometheusSource, PrometheusSpec
    from evalgate.canary.sources import SimpleMetric

    metric = SimpleMetric("error_rate")
    query = {"hits": {"stable": "a", "canary": "b"}, "total": {"stable": "c", "canary": "d"}}
    base = {"url": "http://127.0.0.1:9", "queries": {"error_rate": query}, "sub_window": 10}
    without = PrometheusSource(PrometheusSpec.model_validate(base), {}, [metric])
    assert without.request_batches(0.0, 600.0) == ((), 10.0)  # no requests queries: nothing asked
    narrow = PrometheusSource(
        PrometheusSpec.model_validate({**base, "requests": {"stable": "a", "canary": "b"}}), {}, [metric]
    )
    assert narrow.request_batches(0.0, 19.0) == ((), 10.0)  # one sub-window fits: nothing asked
