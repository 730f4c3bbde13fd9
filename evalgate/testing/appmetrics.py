"""A Prometheus ``/metrics`` endpoint for a ``SimulatedApp``: the per-arm series a real app would export.

``AppMetrics`` tails the request log the simulated app writes (every ~50 ms) and counts each request the
way an instrumented app does with ``prometheus_client``, served on a loopback port for a real Prometheus
to scrape:

- ``llm_requests_total{app, arm, status}``: requests served, ``status`` ``ok`` or ``error``;
- ``eval_checks_total{app, arm, result}``: answered requests scored by the live checks, ``result``
  ``pass`` (every check passed) or ``fail``;
- ``llm_request_duration_seconds{app, arm}``: a latency histogram (answered requests).

Every label combination exists from the start at 0, so ``increase()`` counts the first requests too.
Needs ``prometheus_client`` (a test dependency: ``pip install prometheus_client``).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from evalgate.testing.loopback import Lifecycle, QuietServer, Serving, running

if TYPE_CHECKING:
    from evalgate.checks import CheckSpec

ARMS = ("stable", "canary")
BUCKETS_S = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1.0, 2.0, 5.0)
DEFAULT_CHECKS: tuple[dict[str, Any], ...] = (
    {"type": "is_json"},
    {"type": "not_icontains", "value": "as an ai language model"},
)


class _Server(QuietServer):
    owner: AppMetrics


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        if self.path.split("?")[0] != "/metrics":
            self.send_error(404)
            return
        owner = self.server.owner
        owner.poll()  # a scrape sees everything logged up to now
        body = generate_latest(owner.registry)
        self.send_response(200)
        self.send_header("Content-Type", CONTENT_TYPE_LATEST)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class AppMetrics(Lifecycle):
    """Counts the requests in ``log_path`` into Prometheus series labelled ``app`` and ``arm``."""

    def __init__(
        self,
        log_path: Path,
        *,
        app: str = "support-bot",
        live_checks: Sequence[CheckSpec] | None = None,
        base_dir: Path | None = None,
    ) -> None:
        try:
            from prometheus_client import CollectorRegistry, Counter, Histogram
        except ImportError:  # pragma: no cover - depends on the environment
            raise ImportError(
                "evalgate.testing.appmetrics needs prometheus_client: pip install prometheus_client"
            ) from None
        from pydantic import TypeAdapter

        from evalgate.checks import CheckSpec

        self.log_path, self.app = log_path, app
        self._checks: list[CheckSpec] = (
            list(live_checks)
            if live_checks is not None
            else [TypeAdapter(CheckSpec).validate_python(c) for c in DEFAULT_CHECKS]
        )
        self._base_dir = base_dir or log_path.parent
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "llm_requests", "Requests served", ["app", "arm", "status"], registry=self.registry
        )
        self.checks = Counter(
            "eval_checks",
            "Answers scored by the live checks",
            ["app", "arm", "result"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "llm_request_duration_seconds",
            "Time to answer",
            ["app", "arm"],
            buckets=BUCKETS_S,
            registry=self.registry,
        )
        for arm in ARMS:
            for status in ("ok", "error"):
                self.requests.labels(app, arm, status)
            for result in ("pass", "fail"):
                self.checks.labels(app, arm, result)
            self.latency.labels(app, arm)
        self._offset = 0
        self._pending = b""
        self._verdicts: dict[str, bool] = {}
        self._lock = threading.Lock()
        self._serving: Serving | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>`` while running; the series are at ``/metrics``."""
        return running(self._serving, "AppMetrics").url

    @property
    def target(self) -> str:
        """``127.0.0.1:<port>``, as a Prometheus ``static_configs`` target."""
        return self.url.removeprefix("http://")

    def start(self) -> Self:
        """Serve ``/metrics`` on a free loopback port."""
        server = _Server(("127.0.0.1", 0), _Handler)
        server.owner = self
        self._serving = Serving(server, "app-metrics")
        return self

    def stop(self) -> None:
        """Stop serving."""
        if self._serving is not None:
            self._serving.stop()
        self._serving = None

    def follow(self, log_path: Path) -> None:
        """Count another app's log from its start on; the series keep rising (no counter reset)."""
        with self._lock:
            self.log_path, self._offset, self._pending = log_path, 0, b""

    def poll(self) -> int:
        """Count the requests appended to the log since the last call; returns how many."""
        with self._lock:
            try:
                with open(self.log_path, "rb") as fh:
                    fh.seek(self._offset)
                    data = fh.read()
            except FileNotFoundError:
                return 0
            self._offset += len(data)
            lines = (self._pending + data).split(b"\n")
            self._pending = lines.pop()
            for line in lines:
                if line.strip():
                    self._count(json.loads(line))
            return len(lines)

    def _count(self, record: dict[str, Any]) -> None:
        arm = record["arm"]
        if record.get("error"):
            self.requests.labels(self.app, arm, "error").inc()
            return
        self.requests.labels(self.app, arm, "ok").inc()
        if record.get("latency_ms") is not None:
            self.latency.labels(self.app, arm).observe(record["latency_ms"] / 1000.0)
        output = record.get("output")
        if output is not None:
            result = "pass" if self._passes(output, record.get("input") or "") else "fail"
            self.checks.labels(self.app, arm, result).inc()

    def _passes(self, output: str, prompt: str) -> bool:
        verdict = self._verdicts.get(output)
        if verdict is None:
            from evalgate.checks import CheckContext, run_check
            from evalgate.results import Completion

            ctx = CheckContext(Completion(text=output, model="live"), prompt=prompt, base_dir=self._base_dir)
            verdict = all(run_check(spec, ctx).passed for spec in self._checks)
            self._verdicts[output] = verdict  # the simulated app repeats a few texts; score each once
        return verdict
