"""Fakes that ship with evalgate, one per external system, for our tests and for users' tests.

- ``FakeModelServer`` / ``FakeProvider``: model APIs (OpenAI chat completions, Anthropic messages).
- ``FakeGitHubServer``: GitHub's REST API (PR files, sticky comments, commit statuses, contents, deployments).
- ``SimulatedApp`` / ``ArmBehaviour`` / ``FakeRouter`` / ``FakeMetricSource``: live traffic split by the
  canary weight, a router, and a metric source.
"""

from __future__ import annotations

from evalgate.testing.github import FakeGitHubServer
from evalgate.testing.models import FakeModelServer, Fault, ReceivedRequest
from evalgate.testing.modelwire import Answer, count_tokens, echo, prompt_of
from evalgate.testing.provider import FakeProvider
from evalgate.testing.traffic import ArmBehaviour, FakeMetricSource, FakeRouter, SimulatedApp

__all__ = [
    "Answer",
    "ArmBehaviour",
    "FakeGitHubServer",
    "FakeMetricSource",
    "FakeModelServer",
    "FakeProvider",
    "FakeRouter",
    "Fault",
    "ReceivedRequest",
    "SimulatedApp",
    "count_tokens",
    "echo",
    "prompt_of",
]
