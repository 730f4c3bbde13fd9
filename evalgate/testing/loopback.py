"""What every shipped fake server shares: a quiet threaded HTTP server on 127.0.0.1, run in a thread."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self


class QuietServer(ThreadingHTTPServer):
    """Daemon handler threads, no waiting for keep-alive clients on close, no tracebacks for hang-ups."""

    daemon_threads = True
    block_on_close = False  # keep-alive clients would otherwise make stop() wait for them
    request_queue_size = 128

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that time out hang up mid-response: that is the point of those tests


class JsonHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive, no request log lines, and the request body read as JSON."""

    protocol_version = "HTTP/1.1"
    # headers and body go out in separate writes; with Nagle on, keep-alive requests stall ~40 ms each
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def read_json(self, *, keep_text: bool = False) -> Any:
        """The body parsed as JSON; ``None`` when empty, or unparseable (its text with ``keep_text``)."""
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            return raw.decode("utf-8", "replace") if keep_text else None


class Serving:
    """A server running in a daemon thread until ``stop``."""

    def __init__(self, server: ThreadingHTTPServer, name: str) -> None:
        self.server = server
        # a short poll interval keeps stop(), and so every test that uses a fake, fast
        self.thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.02}, name=name, daemon=True
        )
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


class Lifecycle:
    """``with fake:`` starts it and stops it; subclasses define ``start`` and ``stop``."""

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def running(serving: Serving | None, what: str) -> Serving:
    """``serving``, or a clear error when the fake was used before ``start``."""
    if serving is None:
        raise RuntimeError(f"{what} is not running; use it as a context manager")
    return serving
