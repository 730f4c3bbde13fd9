"""The HTTP providers' base classes: transports per URL, redaction of every answer and error, and the
two ways out (``complete`` on a worker thread, ``acomplete`` on the run's event loop)."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar, Self

from evalgate.errors import ProviderError
from evalgate.providers._transport import Transport
from evalgate.providers._wire import (
    Reply,
    apost_json,
    check_url,
    json_object,
    post_json,
    status_error,
)
from evalgate.redact import Redactor, redact_completion, redact_error

if TYPE_CHECKING:
    from evalgate.providers._async_transport import AsyncTransport
    from evalgate.providers.base import ModelRequest
    from evalgate.results import Completion


class HTTPProviderBase:
    """Owns the transports and the redaction step; subclasses build requests and parse answers.

    ``complete`` (a worker thread) and ``acomplete`` (a task on the run's event loop) are the ways out:
    every error message and every answer passes ``self._redact``, which masks this provider's own
    secrets (``secrets``) and any credential-shaped value. Subclasses give ``_outgoing`` (what to send)
    and ``_answer`` (the ``Completion`` in a 2xx JSON body); both paths share them.
    """

    name = "http"
    _timeout_s = 60.0
    _hints: Mapping[int, str] = {}

    def __init__(self, *, url: str, secrets: Sequence[str | None] = ()) -> None:
        self._transport = Transport(url)
        self._async_transport: AsyncTransport | None = None  # made on the event loop that uses it
        self._others: dict[str, Transport] = {}
        self._others_lock = threading.Lock()
        self._redact = Redactor(tuple(s for s in secrets if s))

    def _transport_for(self, url: str) -> Transport:
        """The transport of another endpoint of the same API (e.g. embeddings), made on first use."""
        with self._others_lock:
            transport = self._others.get(url)
            if transport is None:
                transport = self._others[url] = Transport(url)
            return transport

    def complete(self, request: ModelRequest) -> Completion:
        """Send one request; what comes back, answer or error, has had its secrets masked."""
        try:
            completion = self._complete(request)
        except ProviderError as exc:
            raise redact_error(exc, self._redact) from None
        return redact_completion(completion, self._redact)

    async def acomplete(self, request: ModelRequest) -> Completion:
        """``complete`` as a coroutine on the run's event loop, over kept-alive non-blocking connections."""
        try:
            completion = await self._acomplete(request)
        except ProviderError as exc:
            raise redact_error(exc, self._redact) from None
        return redact_completion(completion, self._redact)

    def _complete(self, request: ModelRequest) -> Completion:
        body, headers, what = self._outgoing(request)
        response, latency_ms = post_json(
            self._transport, body=body, headers=headers, timeout_s=self._timeout_s, what=what
        )
        return self._answered(response, request, latency_ms, what)

    async def _acomplete(self, request: ModelRequest) -> Completion:
        transport = self._async_transport
        if transport is None:
            from evalgate.providers._async_transport import AsyncTransport

            transport = self._async_transport = AsyncTransport(self._transport.url)
        body, headers, what = self._outgoing(request)
        response, latency_ms = await apost_json(
            transport, body=body, headers=headers, timeout_s=self._timeout_s, what=what
        )
        return self._answered(response, request, latency_ms, what)

    def _answered(self, response: Reply, request: ModelRequest, latency_ms: float, what: str) -> Completion:
        if not response.ok:
            raise status_error(response, what=what, hints=self._hints)
        return self._answer(json_object(response, what=what), request, latency_ms, what)

    def _outgoing(self, request: ModelRequest) -> tuple[dict[str, Any], Mapping[str, str], str]:
        """The JSON body and headers of ``request``, and how errors name the endpoint."""
        raise NotImplementedError

    def _answer(
        self, data: dict[str, Any], request: ModelRequest, latency_ms: float, what: str
    ) -> Completion:
        """The ``Completion`` in a 2xx JSON body; a ``ProviderError`` naming what is missing."""
        raise NotImplementedError

    async def aclose(self) -> None:
        """Close the event loop's connections while it still runs (the threads' stay open)."""
        transport, self._async_transport = self._async_transport, None
        if transport is not None:
            transport.close()
            import asyncio

            await asyncio.sleep(0)  # let the loop finish closing the sockets

    def close(self) -> None:
        """Close the kept-alive connections."""
        self._transport.close()
        on_loop, self._async_transport = self._async_transport, None
        if on_loop is not None:
            on_loop.close()
        with self._others_lock:
            others, self._others = list(self._others.values()), {}
        for transport in others:
            transport.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class VendorProvider(HTTPProviderBase):
    """The shared set-up of the vendor APIs (OpenAI, Anthropic): endpoint, key, params, hints.

    Subclasses set ``vendor``, ``default_base_url``, ``path``, ``default_key_env`` and may add fixed headers.
    """

    vendor = "vendor"
    default_base_url = ""
    path = ""
    default_key_env = ""
    fixed_headers: ClassVar[Mapping[str, str]] = {}
    forbidden_hint = "may not have access to this model"

    def __init__(
        self,
        *,
        api_key: str | None,
        base_url: str | None = None,
        key_env: str | None = None,
        timeout_s: float = 60.0,
        concurrency: int = 8,
        params: Mapping[str, Any] | None = None,
        system: str | None = None,
        headers: Mapping[str, str] | None = None,
        secrets: Sequence[str | None] = (),
    ) -> None:
        key_env = key_env or self.default_key_env
        self.base_url = check_url(base_url or self.default_base_url, what=f"{self.vendor} base_url")
        self._url = f"{self.base_url}{self.path}"
        super().__init__(url=self._url, secrets=(api_key, *secrets))
        self._api_key = api_key
        self._timeout_s = timeout_s
        self._params = dict(params or {})
        self._system = system
        self._headers = {**self.fixed_headers, **(headers or {})}
        self._hints = {
            401: f"check the API key in the environment variable {key_env}",
            403: f"the key in {key_env} {self.forbidden_hint}",
            404: "check the model name and base_url",
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r})"
