"""Fakes that ship with evalgate, one per external system, for our tests and for users' tests.

- ``FakeModelServer`` / ``FakeProvider``: model APIs (OpenAI chat completions, Anthropic messages).
- ``FakeGitHubServer``: GitHub's REST API (PR files, sticky comments, commit statuses, contents, deployments).
"""

from __future__ import annotations

from evalgate.testing.github import FakeGitHubServer
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
    "FakeGitHubServer",
    "FakeModelServer",
    "FakeProvider",
    "Fault",
    "ReceivedRequest",
    "count_tokens",
    "echo",
    "prompt_of",
]
