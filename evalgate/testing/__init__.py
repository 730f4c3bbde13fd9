"""Fakes that ship with evalgate, one per external system, for our tests and for users' tests.

- ``FakeModelServer`` / ``FakeProvider``: model APIs (OpenAI chat completions, Anthropic messages).
"""

from __future__ import annotations

from evalgate.testing.models import (
    FakeModelServer,
    FakeProvider,
    Fault,
    ReceivedRequest,
    count_tokens,
    echo,
    prompt_of,
)

__all__ = [
    "FakeModelServer",
    "FakeProvider",
    "Fault",
    "ReceivedRequest",
    "count_tokens",
    "echo",
    "prompt_of",
]
