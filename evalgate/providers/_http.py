"""Plumbing shared by the HTTP providers: pooled sessions, error classification, Retry-After parsing."""

from __future__ import annotations

import email.utils
import ipaddress
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar, Self
from urllib.parse import urlparse

import requests

from evalgate import cancel
from evalgate.errors import ConfigError, ProviderError
from evalgate.providers._deadline import Attempt, DeadlineAdapter
from evalgate.redact import Redactor, redact_completion, redact_error

# Statuses where the same request may succeed later: timeouts, conflicts, rate limits, server trouble.
RETRYABLE_STATUSES = frozenset({408, 409, 429})
MAX_BODY_SHOWN = 300
# A model answer is kilobytes; a server sending more than this is broken or hostile.
MAX_RESPONSE_BYTES = 10_000_000
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
    adapter = DeadlineAdapter(pool_connections=4, pool_maxsize=max(1, concurrency), max_retries=0)
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


def server_message(response: requests.Response | Reply) -> str:
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
        """The body parsed as JSON; ``ValueError`` when it is not."""
        return json.loads(self.text)


def post_json(
    session: requests.Session,
    url: str,
    *,
    body: Any,
    headers: Mapping[str, str],
    timeout_s: float,
    what: str,
) -> tuple[Reply, float]:
    """POST JSON; the whole response and the latency in ms. Transport failures are retryable.

    ``timeout_s`` bounds the whole attempt (connect, send, headers and body), not each socket read.
    """
    started = time.perf_counter()
    with Attempt(timeout_s) as attempt:
        try:
            response = session.post(url, json=body, headers=dict(headers), timeout=timeout_s, stream=True)
            try:
                content = _read_capped(response, what=what)
            finally:
                response.close()
        except requests.Timeout:
            raise _timed_out(what, timeout_s) from None
        except _UNUSABLE_REQUEST as exc:
            raise ProviderError(f"{what}: cannot send the request: {exc}", retryable=False) from None
        except (requests.RequestException, OSError) as exc:
            _raise_if_aborted(attempt, what)
            if isinstance(exc, requests.ConnectionError):
                raise ProviderError(f"{what}: cannot connect to {url}: {exc}", retryable=True) from None
            raise ProviderError(f"{what}: request failed: {exc}", retryable=True) from None
        _raise_if_aborted(attempt, what)
    reply = Reply(response.status_code, response.reason or "", response.headers, content, response.encoding)
    return reply, (time.perf_counter() - started) * 1000.0


def _read_capped(response: requests.Response, *, what: str) -> bytes:
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_content(chunk_size=65536):
        size += len(chunk)
        if size > MAX_RESPONSE_BYTES:
            raise ProviderError(
                f"{what} sent a response body over {MAX_RESPONSE_BYTES // 1_000_000} MB; stopped reading",
                retryable=False,
            )
        chunks.append(chunk)
    return b"".join(chunks)


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


class HTTPProviderBase:
    """Owns the pooled session and the redaction step; subclasses build requests and parse answers.

    ``complete`` is the one way out: every error message and every answer passes ``self._redact``, which
    masks this provider's own secrets (``secrets``) and any credential-shaped value.
    """

    name = "http"

    def __init__(self, *, concurrency: int, secrets: Sequence[str | None] = ()) -> None:
        self._session = make_session(concurrency)
        self._redact = Redactor(tuple(s for s in secrets if s))

    def complete(self, request: ModelRequest) -> Completion:
        """Send one request; what comes back, answer or error, has had its secrets masked."""
        try:
            completion = self._complete(request)
        except ProviderError as exc:
            raise redact_error(exc, self._redact) from None
        return redact_completion(completion, self._redact)

    def _complete(self, request: ModelRequest) -> Completion:
        raise NotImplementedError

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
        secrets: Sequence[str | None] = (),
    ) -> None:
        super().__init__(concurrency=concurrency, secrets=(api_key, *secrets))
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
        )
        if not response.ok:
            raise status_error(response, what=what, hints=self._hints)
        return json_object(response, what=what), latency_ms
