"""A simulated LLM app serving live traffic split by the canary weight, and an in-memory router.

``SimulatedApp`` reads the weight the way a real app would (the file router's YAML, or its own loopback
``/admin/routing`` endpoint for the http router, or a ``FakeRouter`` in the same process), splits
requests between the arms with a seeded RNG and appends request records (the jsonl source format) to a
log in batches every ~50 ms, with real timestamps. Tests and demos set each arm's quality, error rate and
latency, and change them while it runs.
"""

from __future__ import annotations

import json
import math
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import yaml

from evalgate.canary.observations import ARMS, Arm, Observation
from evalgate.errors import InfrastructureError
from evalgate.testing.loopback import JsonHandler, Lifecycle, QuietServer, Serving

# Outputs that pass / fail typical live checks (is_json, not_icontains "as an ai language model").
PASSING = ('{"answer": "Paris", "confidence": 0.92}', '{"answer": "42", "sources": ["faq#3"]}')
FAILING = ("As an AI language model, I cannot help with that.", "Sorry, something went wrong: {answer")
_PASSING_JSON = tuple(json.dumps(text) for text in PASSING)
_FAILING_JSON = tuple(json.dumps(text) for text in FAILING)


@dataclass(frozen=True)
class ArmBehaviour:
    """How one arm behaves: P(output passes live checks), P(error), median latency and its log spread."""

    quality: float = 0.95
    error_rate: float = 0.01
    latency_ms: float = 300.0
    latency_spread: float = 0.25  # sigma of the log-normal; 0 gives a constant latency

    def __post_init__(self) -> None:
        for name in ("quality", "error_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be a probability in [0, 1], got {getattr(self, name)!r}")
        if self.latency_ms <= 0 or self.latency_spread < 0:
            raise ValueError("latency_ms must be > 0 and latency_spread >= 0")


class FakeRouter:
    """An in-memory ``Router``: ``fail_next(n)`` injects retryable failures, ``stuck`` ignores writes."""

    name = "fake"

    def __init__(self, weight: int = 0, *, stuck: bool = False) -> None:
        self.weight = weight
        self.stuck = stuck  # set_weight silently does nothing, so verify() must catch it
        self.calls: list[int] = []  # every set_weight attempt, failed ones included
        self._failures = 0
        self._lock = threading.Lock()

    def fail_next(self, n: int = 1) -> None:
        """Make the next ``n`` ``set_weight`` calls raise a retryable ``InfrastructureError``."""
        with self._lock:
            self._failures += n

    def set_weight(self, weight: int) -> None:
        """Record the call, then fail, ignore it (stuck) or apply it."""
        with self._lock:
            self.calls.append(weight)
            if self._failures:
                self._failures -= 1
                raise InfrastructureError(f"fake router: injected failure setting {weight}%", retryable=True)
            if not self.stuck:
                self.weight = weight

    def get_weight(self) -> int:
        """The weight traffic is actually split by."""
        with self._lock:
            return self.weight


@dataclass(frozen=True)
class AdminRequest:
    """One request to the admin endpoint; header names are lower-case."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any


class _AdminServer(QuietServer):
    app: SimulatedApp


class _AdminHandler(JsonHandler):
    server: _AdminServer

    def _any(self) -> None:
        body = self.read_json(keep_text=True)
        status, payload = self.server.app._admin(self.command, self.path, dict(self.headers), body)
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_PUT = do_POST = _any


class SimulatedApp(Lifecycle):
    """Loopback traffic for canary tests and demos; use as a context manager (``start()``/``stop()``).

    The weight comes from ``router`` (a ``FakeRouter``) if given, else from the YAML at
    ``routing_path`` (missing = 0), else from the admin endpoint (``admin=True``, starting at ``weight``).
    ``emit(n)`` writes ``n`` records synchronously, for tests that want exact counts.

    Real routing, on demand: ``burst=20`` sends requests in bursts of 20 from one user, routed as a
    whole (sticky, like a feature-flag or gateway router bucketing users), each record naming its user
    in ``unit`` unless ``log_units=False``; ``lag_s=5`` applies every weight change 5 s after it is
    written, like a router that propagates slowly.
    """

    def __init__(
        self,
        log_path: Path,
        *,
        rate: float = 200.0,
        seed: int = 0,
        routing_path: Path | None = None,
        admin: bool = False,
        router: FakeRouter | None = None,
        weight: int = 0,
        stable: ArmBehaviour | None = None,
        canary: ArmBehaviour | None = None,
        batch_s: float = 0.05,
        burst: int = 1,
        log_units: bool = True,
        lag_s: float = 0.0,
    ) -> None:
        if burst < 1 or lag_s < 0:
            raise ValueError("burst must be >= 1 and lag_s >= 0")
        self.burst, self.log_units, self.lag_s = burst, log_units, lag_s
        self._user, self._user_left = 0, 0
        self._user_arm: Arm = "stable"
        # (when the app read it, weight), for the lag; the starting weight applies from the start
        self._weights: list[tuple[float, int]] = [(-math.inf, weight)]
        self.log_path = log_path
        self.rate = rate  # requests per second; 0 means no traffic
        self.routing_path = routing_path
        self.router = router
        self.batch_s = batch_s
        self.records_written = 0
        self.arm_counts: dict[Arm, int] = {"stable": 0, "canary": 0}
        self.weight_seen = weight
        self.admin_requests: list[AdminRequest] = []
        self._routing: dict[str, Any] = {"stable": "stable", "canary": "canary", "canary_weight": weight}
        self._behaviour: dict[Arm, ArmBehaviour] = {
            "stable": stable or ArmBehaviour(),
            "canary": canary or ArmBehaviour(),
        }
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._admin_faults: list[int] = []
        self._want_admin = admin
        self._serving: Serving | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._due = 0.0
        self._seq = 0

    # control

    def set_behaviour(self, arm: Arm, behaviour: ArmBehaviour) -> None:
        """Change how ``arm`` behaves from the next batch on."""
        if arm not in ARMS:
            raise ValueError(f"arm must be one of {ARMS}, got {arm!r}")
        with self._lock:
            self._behaviour[arm] = behaviour

    def fail_admin(self, status: int = 500, *, times: int = 1) -> None:
        """Answer the next ``times`` admin requests with ``status``."""
        with self._lock:
            self._admin_faults += [status] * times

    @property
    def admin_url(self) -> str:
        """``http://127.0.0.1:<port>/admin/routing`` while running with ``admin=True``."""
        if self._serving is None:
            raise RuntimeError("the admin endpoint is not running; pass admin=True and start() the app")
        return f"{self._serving.url}/admin/routing"

    def start(self) -> Self:
        """Serve the admin endpoint (if asked) and start generating traffic in a background thread."""
        self._stop.clear()
        if self._want_admin:
            server = _AdminServer(("127.0.0.1", 0), _AdminHandler)
            server.app = self
            self._serving = Serving(server, "simulated-app-admin")
        self._thread = threading.Thread(target=self._loop, daemon=True, name="simulated-app")
        self._thread.start()
        return self

    def stop(self) -> None:
        """Write the last batch and stop serving."""
        self._stop.set()
        if self._serving is not None:
            self._serving.stop()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._serving, self._thread = None, None

    # traffic

    def emit(self, count: int, *, start: float | None = None, end: float | None = None) -> int:
        """Write ``count`` requests at once, timestamps spread over ``start..end`` (default: now)."""
        now = time.time()
        self._write(count, now if start is None else start, now if end is None else end)
        return count

    def _loop(self) -> None:
        last = time.time()
        while True:
            stopping = self._stop.wait(self.batch_s)
            now = time.time()
            self._due += max(0.0, self.rate) * (now - last)
            count, self._due = int(self._due), self._due - int(self._due)
            self._write(count, last, now)
            last = now
            if stopping:
                return

    def _write(self, count: int, start: float, end: float) -> None:
        with self._lock:
            weight = self.weight_seen = self._applied(self._current_weight(), time.time())
            if count <= 0:
                return
            lines = self._records(count, start, (end - start) / count, weight / 100.0)
            with open(self.log_path, "a", encoding="utf-8") as fh:
                fh.write("".join(lines))  # one write per batch, so readers rarely see a partial line
            self.records_written += count

    def _records(self, count: int, start: float, step: float, p_canary: float) -> list[str]:
        rnd, gauss, out = self._rng.random, self._rng.gauss, []
        for i in range(count):
            if self.burst > 1:
                if not self._user_left:  # a new user: routed as a whole, by the weight it arrives at
                    self._user += 1
                    self._user_arm = "canary" if rnd() < p_canary else "stable"
                    self._user_left = self.burst
                self._user_left -= 1
                arm: Arm = self._user_arm
            else:
                arm = "canary" if rnd() < p_canary else "stable"
            self.arm_counts[arm] += 1
            b = self._behaviour[arm]
            self._seq += 1
            latency = (
                b.latency_ms * math.exp(b.latency_spread * gauss(0.0, 1.0))
                if b.latency_spread
                else b.latency_ms
            )
            unit = f'"unit": "user-{self._user}", ' if self.burst > 1 and self.log_units else ""
            ts = start + (i + 0.5) * step
            head = f'{{"ts": {ts:.6f}, "arm": "{arm}", {unit}"input": "question {self._seq}", '
            if rnd() < b.error_rate:
                out.append(f'{head}"output": null, "latency_ms": {latency:.2f}, "error": true}}\n')
                continue
            pool = _PASSING_JSON if rnd() < b.quality else _FAILING_JSON
            output = pool[self._seq % len(pool)]
            out.append(f'{head}"output": {output}, "latency_ms": {latency:.2f}, "error": false}}\n')
        return out

    def _applied(self, weight: int, now: float) -> int:
        """The weight the app serves: the latest one it read at least ``lag_s`` ago."""
        if not self._weights or self._weights[-1][1] != weight:
            self._weights.append((now, weight))
        due = [i for i, (seen, _) in enumerate(self._weights) if seen + self.lag_s <= now]
        if not due:
            return self._weights[0][1] if self._weights[0][0] == -math.inf else 0
        self._weights = self._weights[due[-1] :]  # older changes are superseded
        return self._weights[0][1]

    def _current_weight(self) -> int:
        if self.router is not None:
            return self.router.get_weight()
        if self.routing_path is not None:
            try:
                data = yaml.safe_load(self.routing_path.read_text(encoding="utf-8"))
                return int(data["canary_weight"])
            except FileNotFoundError:
                return 0  # no routing file yet: everything goes to stable
            except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError):
                return self.weight_seen  # unreadable: keep routing as before, like a careful app
        return int(self._routing["canary_weight"])

    # the admin endpoint (called from the server's threads)

    def _admin(self, method: str, target: str, headers: dict[str, str], body: Any) -> tuple[int, Any]:
        with self._lock:
            self.admin_requests.append(
                AdminRequest(method, target, {k.lower(): v for k, v in headers.items()}, body)
            )
            if self._admin_faults:
                return self._admin_faults.pop(0), {"error": "injected failure"}
            if target.split("?")[0] != "/admin/routing":
                return 404, {"error": f"no route {target}"}
            if method == "GET":
                return 200, dict(self._routing)
            weight = body.get("canary_weight") if isinstance(body, dict) else None
            if isinstance(weight, bool) or not isinstance(weight, int) or not 0 <= weight <= 100:
                return 400, {"error": "body must be JSON with canary_weight: an integer 0..100"}
            self._routing.update({k: body[k] for k in ("stable", "canary") if isinstance(body.get(k), str)})
            self._routing["canary_weight"] = weight
            return 200, dict(self._routing)


class FakeMetricSource:
    """An in-memory ``MetricSource``: answers each look from a function of the window, or fails on demand."""

    name = "fake"

    def __init__(self, observe: Callable[[float, float], Observation]) -> None:
        self._observe = observe
        self._failures = 0
        self.calls: list[tuple[float, float]] = []

    def fail_next(self, n: int = 1) -> None:
        """Make the next ``n`` looks fail like an unreachable metrics backend (retryable)."""
        self._failures += n

    def observe(self, since: float, until: float) -> Observation:
        """The observation for ``[since, until)``, or a retryable ``InfrastructureError``."""
        self.calls.append((since, until))
        if self._failures:
            self._failures -= 1
            raise InfrastructureError("fake metric source: injected failure", retryable=True)
        return self._observe(since, until)
