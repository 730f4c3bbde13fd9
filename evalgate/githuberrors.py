"""How a failed GitHub REST answer becomes our error: retryable or not, how long to wait first, and which
permission a refused token needs. Pure: a status, headers and a body in, a ``GitHubError`` out.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from evalgate.errors import GitHubError, GitHubPermissionError
from evalgate.retry import RETRY_AFTER_CAP_S

SECONDARY_LIMIT_WAIT_S = 60.0  # GitHub: without retry-after, wait at least a minute
# the permission each kind of write needs, named in the error when the token lacks it
STATUSES, PULL_REQUESTS, CONTENTS = "statuses: write", "pull-requests: write", "contents: write"
DEPLOYMENTS, ISSUES = "deployments: write", "issues: write"


def permission_hint(needs: str | None) -> str:
    """What to grant when a call was refused; ``needs`` is the permission of a write, None for a read."""
    if needs is None:
        return "the token may not read this: check the workflow's `permissions:` (e.g. `contents: read`)"
    hint = f"the token may not write here: grant `{needs}` in the workflow's `permissions:`"
    if needs in (STATUSES, PULL_REQUESTS):
        hint += (
            "; a pull request from a fork only ever gets a read-only GITHUB_TOKEN, so post from a "
            "`workflow_run` workflow instead"
        )
    return hint


def github_error(
    status: int, raw_headers: Mapping[str, Any] | None, data: Any, describe: str, *, needs: str | None
) -> GitHubError:
    """The error for a failed answer (its status, headers and parsed body); ``needs``: the permission a
    write needs (None for a read)."""
    headers = {k.lower(): v for k, v in (raw_headers or {}).items()}
    message = _message_of(data)
    text = f"{describe}: HTTP {status}: {message}"
    lowered = message.lower()
    rate_limited = (
        "rate limit" in lowered or "retry-after" in headers or headers.get("x-ratelimit-remaining") == "0"
    )
    if status == 429 or (status == 403 and rate_limited):
        wait = _rate_limit_wait(headers, secondary="secondary rate limit" in lowered)
        return GitHubError(text, status=status, retryable=True, retry_after=wait)
    if status >= 500:
        return GitHubError(
            text, status=status, retryable=True, retry_after=_seconds(headers.get("retry-after"))
        )
    # A write to a repository the token cannot see comes back 404, not 403.
    if status == 403 or (status == 404 and needs is not None):
        return GitHubPermissionError(f"{text} ({permission_hint(needs)})", status=status)
    return GitHubError(text, status=status)


def _message_of(data: Any) -> str:
    """GitHub's ``message`` plus any validation ``errors``; a short excerpt of anything else."""
    if not isinstance(data, Mapping):
        return str(data)[:200] if data else "(empty response)"
    message = str(data.get("message") or data.get("data") or "(no message)")[:500]
    details = []
    for error in data.get("errors") or []:
        if isinstance(error, Mapping):
            details.append(str(error.get("message") or f"{error.get('field')}: {error.get('code')}"))
        else:
            details.append(str(error))
    return f"{message} ({'; '.join(details)})" if details else message


def _rate_limit_wait(headers: Mapping[str, str], *, secondary: bool) -> float | None:
    """Seconds to wait: ``retry-after``, else until ``x-ratelimit-reset`` when exhausted (both capped)."""
    after = _seconds(headers.get("retry-after"))
    if after is not None:
        return after
    if headers.get("x-ratelimit-remaining") == "0" and headers.get("x-ratelimit-reset", "").isdigit():
        until_reset = float(headers["x-ratelimit-reset"]) - time.time()  # the header is epoch seconds
        return min(max(0.0, until_reset), RETRY_AFTER_CAP_S)
    return SECONDARY_LIMIT_WAIT_S if secondary else None


def _seconds(value: str | None) -> float | None:
    try:
        return min(max(0.0, float(value)), RETRY_AFTER_CAP_S) if value is not None else None
    except ValueError:
        return None  # an HTTP-date; GitHub sends seconds, so let the backoff curve decide
