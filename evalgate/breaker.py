"""Stop calling a provider that is down: a run-wide count of model calls that failed in a row.

Each call already retries with backoff, so a call that still fails has spent about ten seconds on it.
Without a limit, a dead endpoint costs that for every case: 200 cases at concurrency 16 took almost
two minutes, 10,000 cases most of an hour and a half. After ``limit`` calls in a row fail for a reason
that no other case would escape (no connection, timeouts, 5xx, 429 after every retry, a refused key, an
unknown model), the breaker opens: no call is sent any more, and the run stops with what finished.

A case's own trouble (a 400 for its prompt, a refusal, a bad answer) neither counts nor resets the count:
only an answer does that.
"""

from __future__ import annotations

import copy
import threading

from evalgate.errors import ProviderDown, ProviderError

# answers that say the key or the model is unusable, for every case alike (not retried, so counted here)
_REFUSED = frozenset({401, 403, 404})


def provider_wide(exc: ProviderError) -> bool:
    """Whether a failed call says nothing about its case and everything about the provider: retried to
    the end (no connection, timeouts, 5xx, 429), or a refused key or unknown model."""
    return exc.gave_up or exc.status in _REFUSED


class Breaker:
    """Counts calls that failed in a row for one model config; open after ``limit`` of them (0: never)."""

    def __init__(self, limit: int, describe: str) -> None:
        self.limit = limit
        self.describe = describe
        self._in_a_row = 0
        self._open: ProviderDown | None = None
        self._lock = threading.Lock()

    @property
    def opened(self) -> ProviderDown | None:
        """The error every call gets once the breaker is open; ``None`` while it is closed."""
        return self._open

    def check(self) -> None:
        """Raise ``ProviderDown`` instead of sending a call once the breaker is open."""
        if self._open is not None:
            raise copy.copy(self._open)  # a copy each: calls on other threads and tasks raise it too

    def succeeded(self) -> None:
        with self._lock:
            self._in_a_row = 0

    def failed(self, exc: ProviderError, *also: ProviderError) -> None:
        """Count a call that failed for good: ``exc``, after its retries (and ``also``, its fallback's
        errors: the call counts only if every model it tried failed for a provider-wide reason)."""
        errors = (exc, *also)
        if not self.limit or not all(provider_wide(e) for e in errors):
            return
        with self._lock:
            self._in_a_row += 1
            if self._in_a_row >= self.limit and self._open is None:
                summary = f"{self.describe} failed {self._in_a_row} calls in a row"
                down = ProviderDown(f"{summary} (the last: {errors[-1]}); no more calls were sent")
                down.summary = summary
                self._open = down
