"""``FakeProvider``: an in-process ``Provider`` for tests that need no HTTP at all."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence

from evalgate.errors import ProviderError
from evalgate.providers.base import ModelRequest
from evalgate.results import Completion
from evalgate.testing.modelwire import count_tokens


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
