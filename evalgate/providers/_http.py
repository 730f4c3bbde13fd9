"""Plumbing shared by the HTTP providers: pooled sessions, error classification, Retry-After parsing."""

from __future__ import annotations

import email.utils
import ipaddress
import json
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar, Self
from urllib.parse import urlparse

import requests
from requests.adapters import HTTPAdapter

from evalgate.errors import ConfigError, ProviderError

# Statuses where the same request may succeed later: timeouts, conflicts, rate limits, server trouble.
RETRYABLE_STATUSES = frozenset({408, 409, 429})
MAX_BODY_SHOWN = 300
# Problems with the request itself; sending it again cannot help.
_UNUSABLE_REQUEST = (
    requests.exceptions.InvalidURL,
    requests.exceptions.InvalidSchema,
    requests.exceptions.MissingSchema,
    requests.exceptions.InvalidHeader,
    requests.exceptions.InvalidJSONError,
)

if TYPE_CHECKING:
    from evalgate.providers.base import ModelRequest
    from evalgate.results import Completion


def make_session(concurrency: int) -> requests.Session:
    """One session whose pool holds a connection per worker thread, so keep-alive works under load."""
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=max(1, concurrency), max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def check_url(url: str, *, what: str) -> str:
    """Reject URLs requests cannot use, before the first call rather than on every case."""
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
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def redact(text: str, secret: str | None) -> str:
    """Remove a secret from text that may end up in logs or reports."""
    if secret and len(secret) >= 4:
        return text.replace(secret, "***")
    return text


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
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def server_message(response: requests.Response) -> str:
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


def status_error(
    response: requests.Response, *, what: str, secret: str | None, hints: Mapping[int, str] | None = None
) -> ProviderError:
    """A ``ProviderError`` for a non-2xx response, retryable when another attempt may help."""
    status = response.status_code
    message = f"{what} returned HTTP {status}: {server_message(response)}"
    hint = (hints or {}).get(status)
    if hint:
        message += f" ({hint})"
    message = redact(message, secret)
    if status in RETRYABLE_STATUSES or status >= 500:
        error = ProviderError(message, retryable=True, retry_after=parse_retry_after(response.headers))
    else:
        error = ProviderError(message, retryable=False)
    error.status = status  # counted by kind (429, 5xx) in the run's retry line
    return error


def post_json(
    session: requests.Session,
    url: str,
    *,
    body: Any,
    headers: Mapping[str, str],
    timeout_s: float,
    what: str,
    secret: str | None,
) -> tuple[requests.Response, float]:
    """POST JSON; returns the response and the latency in ms. Transport failures are retryable."""
    started = time.perf_counter()
    try:
        response = session.post(url, json=body, headers=dict(headers), timeout=timeout_s)
    except requests.Timeout:
        raise ProviderError(f"{what} timed out after {timeout_s:g}s", retryable=True) from None
    except requests.ConnectionError as exc:
        detail = redact(str(exc), secret)
        raise ProviderError(f"{what}: cannot connect to {url}: {detail}", retryable=True) from None
    except _UNUSABLE_REQUEST as exc:
        detail = redact(str(exc), secret)
        raise ProviderError(f"{what}: cannot send the request: {detail}", retryable=False) from None
    except requests.RequestException as exc:
        detail = redact(str(exc), secret)
        raise ProviderError(f"{what}: request failed: {detail}", retryable=True) from None
    return response, (time.perf_counter() - started) * 1000.0


def json_object(response: requests.Response, *, what: str) -> dict[str, Any]:
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


class HTTPProviderBase:
    """Owns the pooled session; subclasses build requests and parse answers."""

    name = "http"

    def __init__(self, *, concurrency: int) -> None:
        self._session = make_session(concurrency)

    def close(self) -> None:
        """Close pooled connections."""
        self._session.close()

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
    ) -> None:
        super().__init__(concurrency=concurrency)
        key_env = key_env or self.default_key_env
        self.base_url = check_url(base_url or self.default_base_url, what=f"{self.vendor} base_url")
        self._url = f"{self.base_url}{self.path}"
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

    def complete(self, request: ModelRequest) -> Completion:
        """Send one request to the vendor's API; each subclass speaks its own wire format."""
        raise NotImplementedError

    def _post(
        self, body: dict[str, Any], headers: dict[str, str], *, what: str
    ) -> tuple[dict[str, Any], float]:
        """POST to the endpoint; the JSON answer and the latency, or the classified ``ProviderError``."""
        response, latency_ms = post_json(
            self._session,
            self._url,
            body=body,
            headers=headers,
            timeout_s=self._timeout_s,
            what=what,
            secret=self._api_key,
        )
        if not response.ok:
            raise status_error(response, what=what, secret=self._api_key, hints=self._hints)
        return json_object(response, what=what), latency_ms
