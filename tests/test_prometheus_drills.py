"""Rollout drills against a real Prometheus server (the Debian ``prometheus`` binary) scraping a simulated
app's per-arm counters and latency histogram every second; the canary reads them with realistic PromQL.

The server runs on a free loopback port with a temporary data directory and is always stopped. Where the
binary is missing the tests are skipped with a loud reason; ``.ci/run`` installs it with apt-get."""

from __future__ import annotations

import json
import math
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from evalgate.cli import main
from evalgate.testing import ArmBehaviour, SimulatedApp

pytestmark = pytest.mark.slow

AppMetrics = pytest.importorskip(
    "evalgate.testing.appmetrics", reason="prometheus_client is not installed"
).AppMetrics

PROMETHEUS = shutil.which("prometheus")
MISSING = (
    "PROMETHEUS IS NOT INSTALLED: the real-Prometheus drills did NOT run. "
    "Install it with `apt-get install prometheus` (.ci/run does this in CI)."
)
GOOD = ArmBehaviour(quality=0.95, error_rate=0.005, latency_ms=200, latency_spread=0.25)
RATE = 4_000


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Prometheus:
    """A real Prometheus scraping ``target`` every second, on a free loopback port."""

    def __init__(self, root: Path, target: str) -> None:
        if PROMETHEUS is None:
            pytest.skip(MISSING)
        self.root = root
        self.config = root / "prometheus.yml"
        self.config.write_text(
            yaml.safe_dump(
                {
                    "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                    "scrape_configs": [
                        {
                            "job_name": "support-bot",
                            "scrape_interval": "1s",
                            "scrape_timeout": "900ms",
                            "static_configs": [{"targets": [target]}],
                        }
                    ],
                }
            )
        )
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""

    def start(self) -> None:
        assert PROMETHEUS is not None
        for _ in range(3):  # another process may take the free port between our check and the bind
            port = _free_port()
            self.url = f"http://127.0.0.1:{port}"
            log = (self.root / "prometheus.log").open("ab")
            self.proc = subprocess.Popen(
                [
                    PROMETHEUS,
                    f"--config.file={self.config}",
                    f"--storage.tsdb.path={self.root / 'data'}",
                    f"--web.listen-address=127.0.0.1:{port}",
                    "--log.level=warn",
                ],
                stdout=log,
                stderr=log,
            )
            log.close()
            if self._ready(timeout_s=30):
                return
            self.stop()
        raise RuntimeError(f"prometheus did not start: {(self.root / 'prometheus.log').read_text()[-2000:]}")

    def _ready(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as response:
                    if response.status == 200:
                        return True
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        return False

    def wait_for_samples(self, query: str, timeout_s: float = 15) -> None:
        """Block until ``query`` returns a series (the first scrapes have landed)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with urllib.request.urlopen(
                f"{self.url}/api/v1/query?query={urllib.request.quote(query)}", timeout=2
            ) as response:
                if json.load(response)["data"]["result"]:
                    return
            time.sleep(0.2)
        raise RuntimeError(f"no samples for {query} after {timeout_s} s")

    def samples(self, selector: str, at: float, range_s: float) -> list[list[tuple[float, float]]]:
        """The raw samples of each series of ``selector`` scraped in ``(at - range_s, at]``."""
        window = f"{selector}[{round(range_s * 1000)}ms]"
        query = urllib.parse.urlencode({"query": window, "time": f"{at:.3f}"})
        with urllib.request.urlopen(f"{self.url}/api/v1/query?{query}", timeout=5) as response:
            result = json.load(response)["data"]["result"]
        return [[(float(ts), float(v)) for ts, v in series["values"]] for series in result]

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def _arm(metric: str, arm: str, extra: str = "") -> str:
    return f'sum(increase({metric}{{app="support-bot",arm="{arm}"{extra}}}[{{window}}]))'


def _latency(arm: str) -> str:
    return (
        "1000 * histogram_quantile(0.95, sum by (le) "
        f'(rate(llm_request_duration_seconds_bucket{{app="support-bot",arm="{arm}"}}[{{window}}])))'
    )


def _plan(root: Path, prometheus_url: str) -> Path:
    arms = ("stable", "canary")
    source = {
        "type": "prometheus",
        "url": prometheus_url,
        "timeout_s": 2,
        "sub_window": 2.5,  # a few 1 s scrapes: what a one-shot judge counts fresh requests in
        "requests": {a: _arm("llm_requests_total", a) for a in arms},
        "queries": {
            "eval_pass_rate": {
                "hits": {a: _arm("eval_checks_total", a, ',result="pass"') for a in arms},
                "total": {a: _arm("eval_checks_total", a) for a in arms},
            },
            "error_rate": {
                "hits": {a: _arm("llm_requests_total", a, ',status="error"') for a in arms},
                "total": {a: _arm("llm_requests_total", a) for a in arms},
            },
            "latency_p95_ms": {a: _latency(a) for a in arms},
        },
    }
    stage = {"min_duration": "4s", "max_duration": "20s", "look_every": "2s", "min_samples": 100}
    plan = {
        "canary": {
            "target": {"kind": "model", "stable": "gpt-4o-2024-08-06", "candidate": "gpt-4o-2024-11-20"},
            "stages": [{"weight": 5, **stage}, {"weight": 25, **stage}, {"weight": 100}],
            "metrics": [
                {"name": "eval_pass_rate", "kind": "proportion", "better": "higher", "margin": 0.03},
                {
                    "name": "error_rate",
                    "kind": "proportion",
                    "better": "lower",
                    "margin": 0.01,
                    "guard": 0.05,
                },
                {"name": "latency_p95_ms", "kind": "quantile", "better": "lower", "critical": False},
            ],
            "on_inconclusive": "rollback",
            "router": {"type": "file", "path": "routing.yaml"},
            "source": source,
        }
    }
    path = root / "evalgate.yaml"
    path.write_text(yaml.safe_dump(plan, sort_keys=False))
    return path


class Stack:
    """One Prometheus for the module (its first scrape comes ~6 s after start: target discovery is
    throttled to 5 s), scraping one /metrics endpoint that follows each test's simulated app."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.metrics = AppMetrics(root / "none.jsonl").start()
        self.prometheus = Prometheus(root, self.metrics.target)
        self.app: SimulatedApp | None = None

    def ensure_running(self) -> Prometheus:
        proc = self.prometheus.proc
        if proc is None or proc.poll() is not None:
            self.prometheus.start()
            self.prometheus.wait_for_samples('llm_requests_total{arm="stable"}')
        return self.prometheus

    def setup(self, tmp_path: Path, canary: ArmBehaviour = GOOD, weight: int = 0) -> Prometheus:
        """Start this test's app at ``weight`` and write its plan; returns the running Prometheus."""
        prometheus = self.ensure_running()
        routing = tmp_path / "routing.yaml"
        if weight:
            routing.write_text(f"stable: stable\ncanary: canary\ncanary_weight: {weight}\n")
        log = tmp_path / "requests.jsonl"
        self.app = SimulatedApp(log, rate=RATE, seed=21, routing_path=routing)
        self.app.set_behaviour("stable", GOOD)
        self.app.set_behaviour("canary", canary)
        self.metrics.follow(log)
        self.app.start()
        _plan(tmp_path, prometheus.url)
        return prometheus

    def stop_app(self) -> None:
        if self.app is not None:
            self.app.stop()
        self.app = None

    def stop(self) -> None:
        self.stop_app()
        self.prometheus.stop()
        self.metrics.stop()


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    if PROMETHEUS is None:
        pytest.skip(MISSING)
    stack = Stack(tmp_path_factory.mktemp("prometheus"))
    try:
        yield stack
    finally:
        stack.stop()


@pytest.fixture
def stack(shared: Stack) -> Iterator[Stack]:
    yield shared
    shared.stop_app()


def _run(root: Path) -> int:
    return main(["canary", "run", "--config", str(root / "evalgate.yaml"), "--log", str(root / "log.jsonl")])


def _records(root: Path, kind: str) -> list[dict[str, Any]]:
    path = root / "log.jsonl"
    if not path.exists():
        return []
    return [r for r in map(json.loads, path.read_text().splitlines()) if r["kind"] == kind]


def _weight(root: Path) -> int:
    return int(yaml.safe_load((root / "routing.yaml").read_text())["canary_weight"])


def _reasons(root: Path) -> str:
    return "\n".join(f"{r['action']}: {r['reason']}" for r in _records(root, "decision"))


def test_equal_versions_are_promoted(tmp_path: Path, stack: Stack) -> None:
    stack.setup(tmp_path)
    assert _run(tmp_path) == 0, _reasons(tmp_path)
    assert _weight(tmp_path) == 100
    assert [r["weight"] for r in _records(tmp_path, "weight")] == [5, 25, 100]
    decisions = _records(tmp_path, "decision")
    assert {d["action"] for d in decisions} <= {"extend", "promote"}
    last = decisions[-1]
    pass_rate = next(m for m in last["metrics"] if m["name"] == "eval_pass_rate")
    assert pass_rate["verdict"] == "pass"
    assert pass_rate["n_canary"] >= 100  # counted by Prometheus, not read from the request log
    latency = next(m for m in last["metrics"] if m["name"] == "latency_p95_ms")
    assert 150 < latency["canary"] < 600  # histogram_quantile over the real buckets, in ms


def test_a_twenty_point_drop_is_rolled_back(tmp_path: Path, stack: Stack) -> None:
    bad = ArmBehaviour(quality=0.75, error_rate=0.005, latency_ms=200, latency_spread=0.25)
    stack.setup(tmp_path, canary=bad)
    assert _run(tmp_path) == 1, _reasons(tmp_path)
    assert _weight(tmp_path) == 0
    decisions = _records(tmp_path, "decision")
    assert "promote" not in {d["action"] for d in decisions}
    assert decisions[-1]["action"] == "rollback"
    assert decisions[-1]["weight"] == 5
    assert decisions[-1]["reason"].startswith("eval_pass_rate fell")


SETTLE_S, SUB_WINDOW_S = 1.0, 2.5  # the plan's default settle and its source.sub_window
REQUESTS = 'llm_requests_total{app="support-bot"}'
SCRAPE_WAIT_S = 60  # generous: a starved machine delays scrapes by seconds, never by a minute


def _sub_window_ends(since: float, now: float) -> list[float]:
    """Where a judge run at ``now`` ends its sub-windows (``request_batches`` from ``since`` + settle)."""
    start = since + SETTLE_S
    count = math.floor((now - start) / SUB_WINDOW_S + 1e-9)
    return [start + k * SUB_WINDOW_S for k in range(1, count + 1)]


def _wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + SCRAPE_WAIT_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"after {SCRAPE_WAIT_S} s Prometheus still has not {what}")
        time.sleep(0.2)


def _fresh_canary_traffic_scraped(prometheus: Prometheus, since: float) -> bool:
    """The last two sub-windows a judge run now would count each hold canary scrapes that grew."""
    now = time.time()
    ends = _sub_window_ends(since, now)
    if now < since + 8 or len(ends) < 2:  # the 1 s settle, the 4 s minimum, two sub-windows and room
        return False
    if ends[-1] + SUB_WINDOW_S - now < 0.5:  # a judge started now could count one more sub-window
        return False
    for end in ends[-2:]:
        series = prometheus.samples(REQUESTS.replace("}", ',arm="canary"}'), end, SUB_WINDOW_S)
        if not any(len(s) >= 2 and s[-1][1] > s[0][1] for s in series):
            return False
    return True


def _two_silent_sub_windows_scraped(prometheus: Prometheus, since: float) -> bool:
    """Every request counter stopped changing before the last two sub-windows a judge run now would
    count, and Prometheus has scraped through them (so they hold samples, all equal)."""
    now = time.time()
    ends = _sub_window_ends(since, now)
    if len(ends) < 2:
        return False
    quiet_from = ends[-2] - SUB_WINDOW_S  # where the last two sub-windows begin
    # the series still exported (one of an earlier test's app may have ended), scraped through the end
    live = [s for s in prometheus.samples(REQUESTS, now, now - since) if s[-1][0] >= ends[-1] - 1.5]
    for series in live:
        changed = [t for (t, v), (_, before) in zip(series[1:], series, strict=False) if v != before]
        if max(changed, default=series[0][0]) > quiet_from:
            return False
    return bool(live)


def test_canary_judge_reads_prometheus_and_never_promotes_on_old_counts(tmp_path: Path, stack: Stack) -> None:
    prometheus = stack.setup(tmp_path, weight=25)  # Prometheus is scraping once this returns
    since = time.time()
    # waits on the scrapes themselves, not a fixed time: a starved machine scrapes late
    _wait_until(lambda: _fresh_canary_traffic_scraped(prometheus, since), "scraped fresh canary traffic")
    out = tmp_path / "decision.json"
    argv = ["canary", "judge", "--config", str(tmp_path / "evalgate.yaml"), "--weight", "25"]
    assert main([*argv, "--since", str(since), "--json", str(out)]) == 0
    record = json.loads(out.read_text())
    assert (record["action"], record["exit_code"]) == ("promote", 0)
    # The app stops serving. The window still holds seconds of good counts, but the sub-window counts
    # (a range query) end in silence: no promotion on old data.
    stack.stop_app()
    _wait_until(
        lambda: _two_silent_sub_windows_scraped(prometheus, since),
        "scraped two silent sub-windows after the app stopped",
    )
    assert main([*argv, "--since", str(since), "--json", str(out)]) == 1
    record = json.loads(out.read_text())
    assert (record["action"], record["cause"]) == ("rollback", "no_data"), record["reason"]


def test_prometheus_stopped_mid_stage_is_never_promoted(
    tmp_path: Path, stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    # Runs last in this module: it stops the shared server (a later test would start it again).
    prometheus = stack.setup(tmp_path)

    def stop_after_first_look() -> None:
        deadline = time.monotonic() + 30
        while not _records(tmp_path, "decision") and time.monotonic() < deadline:
            time.sleep(0.05)
        prometheus.stop()

    stopper = threading.Thread(target=stop_after_first_look)
    stopper.start()
    code = _run(tmp_path)
    stopper.join()
    assert code == 3
    assert _weight(tmp_path) == 0
    decisions = _records(tmp_path, "decision")
    assert decisions, "the first look happened while Prometheus was up"
    assert "promote" not in {d["action"] for d in decisions}
    assert 100 not in [r["weight"] for r in _records(tmp_path, "weight")]
    assert "metric source failed" in capsys.readouterr().out
    # and the one-shot judge says "source unreachable" rather than anything a rollout engine could act on
    argv = ["canary", "judge", "--config", str(tmp_path / "evalgate.yaml"), "--weight", "5"]
    assert main([*argv, "--since", str(time.time() - 3)]) == 3
    assert "gave up after 3 attempts" in capsys.readouterr().err
