"""``FakeModelServer``: a real HTTP server on 127.0.0.1 speaking the OpenAI chat-completions, the Anthropic
messages and the embeddings wire formats, with fault injection, latency and a provider-style rate limit.

The bodies it sends are built in ``modelwire``; ``FakeProvider`` (in ``provider``) is the in-process fake.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Self

from evalgate.testing.loopback import JsonHandler, Lifecycle, QuietServer, Serving, running
from evalgate.testing.modelwire import (
    ANTHROPIC_PATHS,
    EMBEDDING_PATHS,
    OPENAI_PATHS,
    Answer,
    Responder,
    ToolCaller,
    anthropic_answer,
    anthropic_tool_answer,
    count_tokens,
    echo,
    embeddings_answer,
    error_body,
    openai_answer,
    openai_tool_answer,
    prompt_of,
)


@dataclass(frozen=True)
class ReceivedRequest:
    """One request as the server saw it; header names are lower-case."""

    path: str
    headers: dict[str, str]
    json: Any
    client_port: int


@dataclass(frozen=True)
class Fault:
    """What to do instead of (or before) answering one request.

    ``status=None`` answers normally after ``delay`` (use it to cause client timeouts);
    ``body`` replaces the response body verbatim (use it for malformed JSON);
    ``trickle`` sends the whole response (status line, headers and body) one byte every ``trickle``
    seconds, like a stalled proxy that never quite stops talking.
    """

    status: int | None = 500
    retry_after: float | str | None = None
    retry_after_ms: int | None = None
    delay: float = 0.0
    body: str | None = None
    message: str | None = None
    trickle: float = 0.0
    prompt_contains: str | None = None


class _Server(QuietServer):
    fake: FakeModelServer


class _Handler(JsonHandler):
    server: _Server

    def do_POST(self) -> None:
        self.server.fake._handle(self, self.read_json())

    def send_body(
        self, status: int, body: str, headers: Mapping[str, str] | None = None, *, trickle: float = 0.0
    ) -> None:
        data = body.encode("utf-8")
        if trickle:
            self._trickle(status, data, trickle)
            return
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def _trickle(self, status: int, data: bytes, interval: float) -> None:
        head = (
            f"HTTP/1.1 {status} OK\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n"
        ).encode()
        self.close_connection = True
        for i in range(len(head) + len(data)):
            byte = (head + data)[i : i + 1]
            if self.server.fake._stopping.wait(interval):
                return
            try:
                self.wfile.write(byte)
                self.wfile.flush()
            except OSError:
                return  # the client gave up: that is what the test wants to see


class FakeModelServer(Lifecycle):
    """A loopback OpenAI- and Anthropic-compatible server with fault injection; use as a context manager."""

    def __init__(
        self,
        responder: Responder | None = None,
        *,
        latency: float = 0.0,
        served_models: Mapping[str, str] | None = None,
        api_key: str | None = None,
        tool_caller: ToolCaller | None = None,
    ) -> None:
        self.responder: Responder = responder or echo
        self.latency = latency
        self.served_models = dict(served_models or {})
        self.api_key = api_key
        # returns the tool calls to answer a chat request with (OpenAI format), or None for a text answer
        self.tool_caller = tool_caller
        # the OpenAI answers' system_fingerprint; set it to simulate a provider-side change of the backend
        self.system_fingerprint = "fp_evalgate_fake"
        self._faults: deque[Fault] = deque()
        self._received: list[ReceivedRequest] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._serving: Serving | None = None
        self._counter = 0
        self._rate: tuple[int, float] | None = None
        self._admitted: deque[float] = deque()
        self.rate_limited = 0  # requests answered 429 by ``limit_rate``

    # lifecycle

    def start(self) -> Self:
        """Bind to a free port on 127.0.0.1 and serve in a daemon thread."""
        server = _Server(("127.0.0.1", 0), _Handler)
        server.fake = self
        self._stopping.clear()
        self._serving = Serving(server, "FakeModelServer")
        return self

    def stop(self) -> None:
        """Stop serving and wake any handler that is sleeping on an injected delay."""
        self._stopping.set()
        if self._serving is not None:
            self._serving.stop()
        self._serving = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` — the Anthropic base_url."""
        return running(self._serving, "FakeModelServer").url

    @property
    def openai_base_url(self) -> str:
        """The base_url an OpenAI client expects (ending in ``/v1``)."""
        return f"{self.url}/v1"

    anthropic_base_url = url

    # fault injection and inspection

    def fail_next(
        self,
        status: int | None = 500,
        *,
        times: int = 1,
        retry_after: float | str | None = None,
        retry_after_ms: int | None = None,
        delay: float = 0.0,
        body: str | None = None,
        message: str | None = None,
        trickle: float = 0.0,
        prompt_contains: str | None = None,
    ) -> None:
        """Queue ``times`` faults; each of the next requests consumes one, in order.

        With ``prompt_contains``, only requests whose prompt contains that text consume these faults.
        """
        fault = Fault(status, retry_after, retry_after_ms, delay, body, message, trickle, prompt_contains)
        with self._lock:
            self._faults.extend([fault] * times)

    def trickle_next(self, interval: float, *, body: str | None = None, times: int = 1) -> None:
        """Send the next responses one byte every ``interval`` seconds (an answer unless ``body``)."""
        answer = Answer("slow answer")
        text = body if body is not None else json.dumps(openai_answer(0, "trickled", answer, 1, 1))
        self.fail_next(200, times=times, body=text, trickle=interval)

    def delay_next(self, seconds: float, *, times: int = 1) -> None:
        """Answer the next requests normally, but only after ``seconds``."""
        self.fail_next(None, times=times, delay=seconds)

    def limit_rate(self, requests: int, *, per_s: float = 60.0) -> None:
        """Enforce a provider-style rate limit: a request beyond ``requests`` in any ``per_s`` seconds
        gets 429 with ``Retry-After`` and ``retry-after-ms`` saying when a slot frees up."""
        with self._lock:
            self._rate = (requests, per_s)
            self._admitted.clear()
            self.rate_limited = 0

    @property
    def requests(self) -> list[ReceivedRequest]:
        """A snapshot of every request received so far."""
        with self._lock:
            return list(self._received)

    # request handling

    def _handle(self, handler: _Handler, body: Any) -> None:
        path = handler.path.split("?", 1)[0]
        headers = {k.lower(): v for k, v in handler.headers.items()}
        with self._lock:
            self._received.append(ReceivedRequest(path, headers, body, handler.client_address[1]))
            fault = self._take_fault(body)
            self._counter += 1
            serial = self._counter
            wait = self._over_rate() if fault is None else None
        anthropic = path in ANTHROPIC_PATHS
        if wait is not None:
            told = {"Retry-After": str(math.ceil(wait)), "retry-after-ms": str(math.ceil(wait * 1000))}
            message = "Rate limit reached for requests per minute. Please try again later."
            self._error(handler, 429, message, anthropic=anthropic, headers=told)
            return
        delay = self.latency + (fault.delay if fault else 0.0)
        if delay and self._stopping.wait(delay):
            return
        if fault is not None and fault.body is not None:
            handler.send_body(fault.status or 200, fault.body, trickle=fault.trickle)
            return
        if fault is not None and fault.status is not None:
            extra: dict[str, str] = {}
            if fault.retry_after is not None:
                extra["Retry-After"] = str(fault.retry_after)
            if fault.retry_after_ms is not None:
                extra["retry-after-ms"] = str(fault.retry_after_ms)
            message = fault.message or f"injected failure (HTTP {fault.status})"
            self._error(handler, fault.status, message, anthropic=anthropic, headers=extra)
            return
        problem = self._validate(path, headers, body)
        if problem is not None:
            status, message = problem
            self._error(handler, status, message, anthropic=anthropic)
            return
        assert isinstance(body, dict)
        if path in EMBEDDING_PATHS:
            handler.send_body(200, json.dumps(embeddings_answer(body)))
            return
        calls = self.tool_caller(body) if self.tool_caller is not None else None
        if calls:
            served = self.served_models.get(str(body.get("model")), str(body.get("model")))
            reply = (
                anthropic_tool_answer(serial, served, calls)
                if anthropic
                else openai_tool_answer(serial, served, calls, self.system_fingerprint)
            )
            handler.send_body(200, json.dumps(reply))
            return
        said = self.responder(body)
        answer = said if isinstance(said, Answer) else Answer(said)
        model = str(body.get("model"))
        served = self.served_models.get(model, model)
        prompt_tokens = count_tokens(json.dumps(body.get("messages")) + str(body.get("system") or ""))
        answer_tokens = count_tokens(answer.text or answer.refusal or "")
        payload = (
            anthropic_answer(serial, served, answer, prompt_tokens, answer_tokens)
            if anthropic
            else openai_answer(serial, served, answer, prompt_tokens, answer_tokens, self.system_fingerprint)
        )
        handler.send_body(200, json.dumps(payload))

    def _over_rate(self) -> float | None:
        """Seconds until a slot frees up when this request is over the rate limit, else None (admitted)."""
        if self._rate is None:
            return None
        limit, window = self._rate
        now = time.monotonic()
        while self._admitted and now - self._admitted[0] >= window:
            self._admitted.popleft()
        if len(self._admitted) < limit:
            self._admitted.append(now)
            return None
        self.rate_limited += 1
        return window - (now - self._admitted[0])

    def _take_fault(self, body: Any) -> Fault | None:
        prompt = prompt_of(body) if isinstance(body, dict) else ""
        for fault in self._faults:
            if fault.prompt_contains is None or fault.prompt_contains in prompt:
                self._faults.remove(fault)
                return fault
        return None

    def _validate(self, path: str, headers: Mapping[str, str], body: Any) -> tuple[int, str] | None:
        if path not in OPENAI_PATHS + ANTHROPIC_PATHS + EMBEDDING_PATHS:
            return 404, f"no route for POST {path}"
        if not isinstance(body, dict) or not isinstance(body.get("model"), str):
            return 400, "the request body must be a JSON object with a 'model' string"
        if path in EMBEDDING_PATHS:
            texts = body.get("input")
            if not (isinstance(texts, str) or (isinstance(texts, list) and texts)):
                return 400, "input: a string or a non-empty list of strings is required"
        elif not isinstance(body.get("messages"), list) or not body["messages"]:
            return 400, "messages: at least one message is required"
        if path in ANTHROPIC_PATHS:
            if "anthropic-version" not in headers:
                return 400, "anthropic-version: header is required"
            if not isinstance(body.get("max_tokens"), int):
                return 400, "max_tokens: Field required"
            sent_key = headers.get("x-api-key")
        else:
            auth = headers.get("authorization", "")
            sent_key = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else None
        if self.api_key is not None and sent_key != self.api_key:
            return 401, "invalid x-api-key" if path in ANTHROPIC_PATHS else "Incorrect API key provided."
        return None

    def _error(
        self,
        handler: _Handler,
        status: int,
        message: str,
        *,
        anthropic: bool,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        handler.send_body(status, json.dumps(error_body(status, message, anthropic=anthropic)), headers)
