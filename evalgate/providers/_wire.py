"""HTTP on the wire for the model providers: POSTing JSON within a deadline, reading the answer,
classifying what went wrong (retryable or not, Retry-After), on a thread or on the event loop."""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlparse

import pydantic_core

from evalgate import cancel
from evalgate.errors import ConfigError, ProviderError
from evalgate.providers._deadline import Attempt
from evalgate.providers._transport import BodyTooLarge, Response, Transport

# Statuses where the same request may succeed later: timeouts, conflicts, rate limits, server trouble.
RETRYABLE_STATUSES = frozenset({408, 409, 429})
MAX_BODY_SHOWN = 300
# A model answer is kilobytes; a server sending more than this is broken or hostile.
MAX_RESPONSE_BYTES = 10_000_000
if TYPE_CHECKING:
    from evalgate.providers._async_transport import AsyncTransport


def check_url(url: str, *, what: str) -> str:
    """Reject URLs the transport cannot use, before the first call rather than on every case."""
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ConfigError(
            f"{what} '{url}' is not an http(s) URL",
            where="model.base_url",
            fix="write it like 'https://api.example.com/v1'",
        )
    return url.rstrip("/")


def is_loopback(url: str | None) -> bool:
    """True for URLs on this machine, where a local model server usually needs no key."""
    if not url:
        return False
    host = (urlparse(url).hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    import ipaddress  # only asked when a provider has no key

    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``Retry-After`` (delta-seconds or an HTTP-date)."""
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    import email.utils  # only an HTTP-date Retry-After needs it

    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


class _Body(Protocol):
    """What ``server_message`` reads: a ``Reply`` here, a ``requests.Response`` elsewhere."""

    @property
    def text(self) -> str: ...

    @property
    def reason(self) -> str | None: ...

    def json(self) -> Any: ...


def server_message(response: _Body) -> str:
    """The human part of an error body: ``error.message`` (OpenAI, Anthropic) or a snippet."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict) and isinstance(err.get("message"), str):
            return str(err["message"])
        for key in ("error", "message", "detail"):
            if isinstance(body.get(key), str):
                return str(body[key])
    text = response.text.strip()
    if not text:
        return response.reason or "no error message"
    return text[:MAX_BODY_SHOWN] + ("..." if len(text) > MAX_BODY_SHOWN else "")


def status_error(response: Reply, *, what: str, hints: Mapping[int, str] | None = None) -> ProviderError:
    """A ``ProviderError`` for a non-2xx response, retryable when another attempt may help."""
    status = response.status_code
    message = f"{what} returned HTTP {status}: {server_message(response)}"
    hint = (hints or {}).get(status)
    if hint:
        message += f" ({hint})"
    if status in RETRYABLE_STATUSES or status >= 500:
        error = ProviderError(message, retryable=True, retry_after=parse_retry_after(response.headers))
    else:
        error = ProviderError(message, retryable=False)
    error.status = status  # counted by kind (429, 5xx) in the run's retry line
    return error


@dataclass(frozen=True)
class Reply:
    """A whole HTTP response, read within the attempt's deadline and size cap."""

    status_code: int
    reason: str
    headers: Mapping[str, str]
    content: bytes
    encoding: str | None = None

    @property
    def ok(self) -> bool:
        return self.status_code < 400

    @property
    def text(self) -> str:
        return self.content.decode(self.encoding or "utf-8", errors="replace")

    def json(self) -> Any:
        """The body parsed as JSON; ``ValueError`` when it is not.

        pydantic-core's parser reads UTF-8 bytes directly, about three times faster than ``json``;
        ``json`` parses the text when the body is in another charset or pydantic-core refuses it (invalid
        UTF-8, which the text replaces, or an escaped lone surrogate), and words the error. A body nested
        deeper than Python's recursion limit is a ``ValueError`` too, not a crash.
        """
        if self.encoding is None or self.encoding.lower() in ("utf-8", "utf8"):
            try:
                return pydantic_core.from_json(self.content)
            except ValueError:
                pass
        try:
            return json.loads(self.text)
        except RecursionError:
            raise ValueError("JSON nested too deeply to read") from None


def post_json(
    transport: Transport,
    *,
    body: Any,
    headers: Mapping[str, str],
    timeout_s: float,
    what: str,
) -> tuple[Reply, float]:
    """POST JSON; the whole response and the latency in ms. Transport failures are retryable.

    ``timeout_s`` bounds the whole attempt (connect, send, headers and body), not each socket read.
    """
    data = _encoded(body, what)
    sent = {"Content-Type": "application/json", **headers}
    started = time.perf_counter()
    with Attempt(timeout_s) as attempt:
        try:
            response = transport.post(data, sent, attempt, MAX_RESPONSE_BYTES)
        except TimeoutError:
            _raise_if_aborted(attempt, what)
            raise _timed_out(what, timeout_s) from None
        except (BodyTooLarge, ValueError, OSError, http.client.HTTPException) as exc:
            _raise_if_aborted(attempt, what)
            raise _failure(exc, what, transport.url) from None
        _raise_if_aborted(attempt, what)
    return _reply(response), (time.perf_counter() - started) * 1000.0


async def apost_json(
    transport: AsyncTransport,
    *,
    body: Any,
    headers: Mapping[str, str],
    timeout_s: float,
    what: str,
) -> tuple[Reply, float]:
    """``post_json`` as a coroutine on the run's event loop, with the same errors.

    ``timeout_s`` bounds the whole attempt; a stop (SIGINT/SIGTERM) cancels the task, which aborts the
    connection in use.
    """
    import asyncio

    data = _encoded(body, what)
    sent = {"Content-Type": "application/json", **headers}
    started = time.perf_counter()
    try:
        async with asyncio.timeout(timeout_s):
            response = await transport.post(data, sent, MAX_RESPONSE_BYTES)
    except TimeoutError:
        raise _timed_out(what, timeout_s) from None
    except (BodyTooLarge, ValueError, OSError, http.client.HTTPException) as exc:
        raise _failure(exc, what, transport.url) from None
    return _reply(response), (time.perf_counter() - started) * 1000.0


def _encoded(body: Any, what: str) -> bytes:
    """The request body as compact JSON.

    pydantic-core's encoder is about six times faster than ``json``'s. Whatever it might spell differently
    goes through ``json``: a non-finite number (``json`` refuses to send NaN, which is not JSON; any
    "NaN" or "Infinity" in the output, even inside a string, takes that path) and anything pydantic-core
    cannot encode (a lone surrogate, an unknown type).
    """
    try:
        data = pydantic_core.to_json(body)
    except (pydantic_core.PydanticSerializationError, ValueError):
        data = b"NaN"  # let json decide, and word the error
    if b"NaN" not in data and b"Infinity" not in data:
        return data
    try:
        return json.dumps(body, allow_nan=False, separators=(",", ":")).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise ProviderError(f"{what}: cannot send the request: {exc}", retryable=False) from None


def _failure(exc: BaseException, what: str, url: str) -> ProviderError:
    """The ``ProviderError`` for what a transport raised: only an oversized body or a bad header is final."""
    if isinstance(exc, BodyTooLarge):
        return ProviderError(
            f"{what} sent a response body over {MAX_RESPONSE_BYTES // 1_000_000} MB; stopped reading",
            retryable=False,
        )
    if isinstance(exc, ValueError):  # a header value with a line break is refused, not sent
        return ProviderError(f"{what}: cannot send the request: {exc}", retryable=False)
    if isinstance(exc, http.client.HTTPException) and not isinstance(exc, ConnectionError):
        return ProviderError(f"{what}: request failed: {_describe(exc)}", retryable=True)
    return ProviderError(f"{what}: cannot connect to {url}: {_describe(exc)}", retryable=True)


def _reply(response: Response) -> Reply:
    headers = response.headers
    return Reply(response.status, response.reason, headers, response.body, _charset(headers))


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _charset(headers: Mapping[str, str]) -> str | None:
    """The body's encoding as ``requests`` would guess it: the charset, else Latin-1 for ``text/*``."""
    content_type = headers.get("content-type", "")
    kind, _, params = content_type.partition(";")
    for param in params.split(";"):
        name, _, value = param.strip().partition("=")
        if name.lower() == "charset" and value:
            return value.strip("'\" ")
    return "ISO-8859-1" if kind.strip().lower().startswith("text/") else None


def _timed_out(what: str, timeout_s: float) -> ProviderError:
    return ProviderError(f"{what} timed out after {timeout_s:g}s", retryable=True)


def _raise_if_aborted(attempt: Attempt, what: str) -> None:
    if attempt.cancelled:
        cancel.check()
        raise cancel.Cancelled(f"{what}: cancelled")
    if attempt.expired:
        raise _timed_out(what, attempt.timeout_s) from None


def json_object(response: Reply, *, what: str) -> dict[str, Any]:
    """The JSON object body of a 2xx response, or a non-retryable error saying what came instead."""
    try:
        body = response.json()
    except ValueError:
        snippet = response.text.strip()[:MAX_BODY_SHOWN] or "an empty body"
        raise ProviderError(f"{what} returned a body that is not JSON: {snippet}", retryable=False) from None
    if not isinstance(body, dict):
        snippet = json.dumps(body)[:MAX_BODY_SHOWN]
        raise ProviderError(
            f"{what} returned JSON {type(body).__name__}, expected an object: {snippet}", retryable=False
        )
    return body


def int_or_none(value: Any) -> int | None:
    """Token counts arrive as ints; anything else is treated as unknown."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None
