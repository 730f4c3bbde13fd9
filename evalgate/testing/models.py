"""Fakes that ship with evalgate, for our tests and for users' tests.

``FakeModelServer`` is a real HTTP server on 127.0.0.1 speaking the OpenAI chat-completions and the
Anthropic messages wire formats, with fault injection. ``FakeProvider`` is an in-process ``Provider``.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Self

from evalgate.errors import ProviderError
from evalgate.providers.base import ModelRequest
from evalgate.results import Completion
from evalgate.testing.loopback import JsonHandler, Lifecycle, QuietServer, Serving, running


@dataclass(frozen=True)
class Answer:
    """A responder's answer with more than text: why the model stopped, or a refusal.

    ``reason`` is sent verbatim as OpenAI ``finish_reason`` or Anthropic ``stop_reason`` (``length``,
    ``content_filter``, ``max_tokens``, ``tool_use``, ``refusal``...). ``refusal`` fills OpenAI's
    ``message.refusal`` (with ``content: null``); ``text=None`` sends no text at all.
    """

    text: str | None
    reason: str | None = None
    refusal: str | None = None


Responder = Callable[[dict[str, Any]], str | Answer]

_OPENAI_PATHS = ("/v1/chat/completions", "/chat/completions")
_ANTHROPIC_PATHS = ("/v1/messages",)
_EMBEDDING_PATHS = ("/v1/embeddings", "/embeddings")
EMBEDDING_SIZE = 64
ToolCaller = Callable[[dict[str, Any]], list[dict[str, Any]] | None]
_OPENAI_ERROR_TYPES = {401: "invalid_request_error", 429: "requests", 500: "server_error"}
_ANTHROPIC_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


def count_tokens(text: str) -> int:
    """A deterministic stand-in for a tokenizer: about four characters per token, at least one."""
    return max(1, (len(text) + 3) // 4)


def prompt_of(body: Mapping[str, Any]) -> str:
    """The text of the last user message in an OpenAI or Anthropic request body."""
    for message in reversed(body.get("messages") or []):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return "".join(b.get("text", "") for b in content if isinstance(b, dict))
    return ""


def echo(body: dict[str, Any]) -> str:
    """The default responder: a deterministic answer derived from the prompt."""
    return f"echo: {prompt_of(body)}"


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
        text = body if body is not None else json.dumps(_openai_answer(0, "trickled", answer, 1, 1))
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
        anthropic = path in _ANTHROPIC_PATHS
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
        if path in _EMBEDDING_PATHS:
            handler.send_body(200, json.dumps(_embeddings_answer(body)))
            return
        calls = self.tool_caller(body) if self.tool_caller is not None else None
        if calls and anthropic:
            served = self.served_models.get(str(body.get("model")), str(body.get("model")))
            reply = _anthropic_answer(serial, served, Answer(""), 1, 1)
            reply["content"] = [
                {
                    "type": "tool_use",
                    "id": f"toolu_{i}",
                    "name": c["function"]["name"],
                    "input": json.loads(c["function"].get("arguments") or "{}"),
                }
                for i, c in enumerate(calls)
            ]
            reply["stop_reason"] = "tool_use"
            handler.send_body(200, json.dumps(reply))
            return
        if calls:
            served = self.served_models.get(str(body.get("model")), str(body.get("model")))
            payload = _openai_answer(serial, served, Answer(""), 1, 1, self.system_fingerprint)
            choice = payload["choices"][0]
            choice["message"]["content"] = None
            choice["message"]["tool_calls"] = calls
            choice["finish_reason"] = "tool_calls"
            handler.send_body(200, json.dumps(payload))
            return
        said = self.responder(body)
        answer = said if isinstance(said, Answer) else Answer(said)
        model = str(body.get("model"))
        served = self.served_models.get(model, model)
        prompt_tokens = count_tokens(json.dumps(body.get("messages")) + str(body.get("system") or ""))
        answer_tokens = count_tokens(answer.text or answer.refusal or "")
        payload = (
            _anthropic_answer(serial, served, answer, prompt_tokens, answer_tokens)
            if anthropic
            else _openai_answer(serial, served, answer, prompt_tokens, answer_tokens, self.system_fingerprint)
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
        if path not in _OPENAI_PATHS + _ANTHROPIC_PATHS + _EMBEDDING_PATHS:
            return 404, f"no route for POST {path}"
        if not isinstance(body, dict) or not isinstance(body.get("model"), str):
            return 400, "the request body must be a JSON object with a 'model' string"
        if path in _EMBEDDING_PATHS:
            texts = body.get("input")
            if not (isinstance(texts, str) or (isinstance(texts, list) and texts)):
                return 400, "input: a string or a non-empty list of strings is required"
        elif not isinstance(body.get("messages"), list) or not body["messages"]:
            return 400, "messages: at least one message is required"
        if path in _ANTHROPIC_PATHS:
            if "anthropic-version" not in headers:
                return 400, "anthropic-version: header is required"
            if not isinstance(body.get("max_tokens"), int):
                return 400, "max_tokens: Field required"
            sent_key = headers.get("x-api-key")
        else:
            auth = headers.get("authorization", "")
            sent_key = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else None
        if self.api_key is not None and sent_key != self.api_key:
            return 401, "invalid x-api-key" if path in _ANTHROPIC_PATHS else "Incorrect API key provided."
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
        if anthropic:
            kind = _ANTHROPIC_ERROR_TYPES.get(
                status, "api_error" if status >= 500 else "invalid_request_error"
            )
            payload: dict[str, Any] = {"type": "error", "error": {"type": kind, "message": message}}
        else:
            kind = _OPENAI_ERROR_TYPES.get(
                status, "server_error" if status >= 500 else "invalid_request_error"
            )
            code = {401: "invalid_api_key", 429: "rate_limit_exceeded", 404: "model_not_found"}.get(status)
            payload = {"error": {"message": message, "type": kind, "param": None, "code": code}}
        handler.send_body(status, json.dumps(payload), headers)


def _openai_answer(
    serial: int,
    model: str,
    answer: Answer,
    prompt_tokens: int,
    answer_tokens: int,
    fingerprint: str = "fp_evalgate_fake",
) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-fake{serial:06d}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": answer.text, "refusal": answer.refusal},
                "logprobs": None,
                "finish_reason": answer.reason or "stop",
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": answer_tokens,
            "total_tokens": prompt_tokens + answer_tokens,
        },
        "system_fingerprint": fingerprint,
    }


def embed_text(text: str) -> list[float]:
    """A deterministic stand-in for an embedding model: hashed, case-folded word counts.

    Texts that share words point the same way, so cosine similarity behaves like a (crude) real one.
    """
    import hashlib

    vector = [0.0] * EMBEDDING_SIZE
    for word in "".join(c if c.isalnum() else " " for c in text.casefold()).split():
        digest = hashlib.sha256(word.encode("utf-8")).digest()
        vector[digest[0] % EMBEDDING_SIZE] += 1.0 if digest[1] % 2 else 0.5
    return vector


def _embeddings_answer(body: dict[str, Any]) -> dict[str, Any]:
    raw = body["input"]
    texts = [raw] if isinstance(raw, str) else [str(t) for t in raw]
    return {
        "object": "list",
        "data": [
            {"object": "embedding", "index": i, "embedding": embed_text(t)} for i, t in enumerate(texts)
        ],
        "model": body["model"],
        "usage": {"prompt_tokens": sum(count_tokens(t) for t in texts), "total_tokens": 0},
    }


def _anthropic_answer(
    serial: int, model: str, answer: Answer, prompt_tokens: int, answer_tokens: int
) -> dict[str, Any]:
    return {
        "id": f"msg_fake{serial:06d}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [] if answer.text is None else [{"type": "text", "text": answer.text}],
        "stop_reason": answer.reason or "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": prompt_tokens, "output_tokens": answer_tokens},
    }


class FakeProvider:
    """An in-process ``Provider``: answers from a dict (by case id) or a function, or raises queued errors."""

    name = "fake"

    def __init__(
        self,
        answers: Mapping[str, str] | Callable[[ModelRequest], str | Completion] | None = None,
        *,
        default: str | None = None,
        errors: Mapping[str, ProviderError | Sequence[ProviderError]] | None = None,
        served_model: str | None = None,
        latency_ms: float = 1.0,
    ) -> None:
        self._answers = answers
        self._default = default
        self._served = served_model
        self._latency_ms = latency_ms
        self._lock = threading.Lock()
        self._queued: deque[ProviderError] = deque()
        self._per_case: dict[str, deque[ProviderError]] = {
            case_id: deque([errs] if isinstance(errs, ProviderError) else errs)
            for case_id, errs in (errors or {}).items()
        }
        self.requests: list[ModelRequest] = []
        self.closed = False

    def fail_next(self, error: ProviderError, *, times: int = 1) -> None:
        """Raise ``error`` for the next ``times`` calls, whatever the case."""
        with self._lock:
            self._queued.extend([error] * times)

    def complete(self, request: ModelRequest) -> Completion:
        """Answer one request, or raise the next queued error for it."""
        with self._lock:
            self.requests.append(request)
            pending = self._per_case.get(request.case_id)
            error = self._queued.popleft() if self._queued else (pending.popleft() if pending else None)
        if error is not None:
            raise error
        answer = self._answer(request)
        if isinstance(answer, Completion):
            return answer
        return Completion(
            text=answer,
            model=self._served or request.model,
            input_tokens=count_tokens(request.prompt + (request.system or "")),
            output_tokens=count_tokens(answer),
            latency_ms=self._latency_ms,
        )

    def _answer(self, request: ModelRequest) -> str | Completion:
        if self._answers is None:
            return f"echo: {request.prompt}"
        if callable(self._answers):
            return self._answers(request)
        if request.case_id in self._answers:
            return self._answers[request.case_id]
        if self._default is not None:
            return self._default
        raise ProviderError(f"FakeProvider has no answer for case '{request.case_id}'", retryable=False)

    def close(self) -> None:
        """Remember that the runner closed us, so tests can assert it."""
        self.closed = True
