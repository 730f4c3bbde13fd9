"""A loopback webhook receiver (Slack incoming webhooks, generic JSON hooks) for notify tests.

``FakeWebhookReceiver`` records every POST body it gets at its secret path and can answer with injected
failures (``fail_next(503, times=2)``) or stop answering (``stop()``) to test the retries.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass
from typing import Any, Self

from evalgate.testing.loopback import JsonHandler, Lifecycle, QuietServer, Serving, running


@dataclass(frozen=True)
class Delivery:
    """One POST the receiver accepted or refused."""

    path: str
    status: int
    body: Any


class _Server(QuietServer):
    receiver: FakeWebhookReceiver


class _Handler(JsonHandler):
    server: _Server

    def do_POST(self) -> None:
        body = self.read_json(keep_text=True)
        status = self.server.receiver._answer(self.path, body)
        payload = b"ok" if status == 200 else b"no"
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class FakeWebhookReceiver(Lifecycle):
    """Accepts POSTs at ``/hooks/<random secret>`` (``url``); anything else is a 404."""

    def __init__(self) -> None:
        self.secret = secrets.token_hex(8)
        self.deliveries: list[Delivery] = []
        self._faults: list[int] = []
        self._lock = threading.Lock()
        self._serving: Serving | None = None

    @property
    def url(self) -> str:
        """The webhook URL, with its secret path (what must never appear in a log)."""
        return f"{running(self._serving, 'FakeWebhookReceiver').url}/hooks/{self.secret}"

    @property
    def received(self) -> list[Any]:
        """Bodies of the accepted POSTs, in order."""
        with self._lock:
            return [d.body for d in self.deliveries if d.status == 200]

    def fail_next(self, status: int = 503, *, times: int = 1) -> None:
        """Answer the next ``times`` POSTs with ``status``."""
        with self._lock:
            self._faults += [status] * times

    def start(self) -> Self:
        """Listen on a free loopback port."""
        server = _Server(("127.0.0.1", 0), _Handler)
        server.receiver = self
        self._serving = Serving(server, "fake-webhook")
        return self

    def stop(self) -> None:
        """Stop listening (later POSTs get connection refused)."""
        if self._serving is not None:
            self._serving.stop()
        self._serving = None

    def _answer(self, path: str, body: Any) -> int:
        with self._lock:
            if path != f"/hooks/{self.secret}":
                status = 404
            elif self._faults:
                status = self._faults.pop(0)
            else:
                status = 200
            self.deliveries.append(Delivery(path, status, body))
            return status
