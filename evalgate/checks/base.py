"""What every check evaluator receives, and small helpers for bounded, readable reasons."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evalgate.results import CheckResult, Completion

Judge = Callable[[str], str]
"""Takes a complete judge prompt and returns the judge model's raw reply (the runner adds retries)."""

Embed = Callable[[list[str]], list[list[float]]]
"""Takes texts and returns one embedding vector per text (the runner adds retries and the cache)."""

QUOTE_LIMIT = 80
TEXT_LIMIT = 200


@dataclass(frozen=True)
class CheckContext:
    """One response and what it was a response to; ``base_dir`` is the suite's folder."""

    completion: Completion
    prompt: str
    vars: Mapping[str, Any] = field(default_factory=dict)
    base_dir: Path = field(default_factory=Path)
    judge: Judge | None = None
    embed: Embed | None = None

    @property
    def response(self) -> str:
        """The response text being checked."""
        return self.completion.text


def clip(text: str, limit: int = TEXT_LIMIT) -> str:
    """``text`` on one line and at most ``limit`` characters, marking the cut with '...'."""
    one_line = " ".join(text.split())
    return one_line if len(one_line) <= limit else one_line[: limit - 3] + "..."


def quote(text: str, limit: int = QUOTE_LIMIT) -> str:
    """``text`` quoted like Python's repr, escaped to one line and cut to about ``limit`` characters."""
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return repr(text)


def result(label: str, passed: bool, score: float, reason: str) -> CheckResult:
    """A ``CheckResult`` with the score clamped into [0, 1]."""
    return CheckResult(type=label, passed=passed, score=min(1.0, max(0.0, score)), reason=reason)
