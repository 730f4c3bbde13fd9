"""The provider seam: one request in, one completion out, ``ProviderError`` on failure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from evalgate.results import Completion


@dataclass(frozen=True, slots=True)
class ModelRequest:
    """A rendered prompt for one case, sent to one pinned model."""

    case_id: str
    prompt: str
    model: str
    params: Mapping[str, Any] = field(default_factory=dict)
    system: str | None = None
    # earlier turns of a chat prompt, ((role, text), ...), sent before ``prompt`` (the last user turn)
    history: tuple[tuple[str, str], ...] = ()


class Provider(Protocol):
    """Anything that turns a ``ModelRequest`` into a ``Completion``.

    Implementations raise ``evalgate.errors.ProviderError`` with ``retryable=True`` (and ``retry_after``
    when the server said so) for failures another attempt may fix: 429, 5xx, connection errors, timeouts.
    They never retry themselves; the runner owns the retry policy. ``complete`` must be thread-safe.
    """

    name: str

    def complete(self, request: ModelRequest) -> Completion: ...

    def close(self) -> None: ...
