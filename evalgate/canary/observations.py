"""What one look at live traffic saw, per arm: counts for proportions, samples for quantiles.

These are the values the judge works on; metric sources produce them, the judge never fetches anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Arm = Literal["stable", "canary"]
ARMS: tuple[Arm, Arm] = ("stable", "canary")


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One served request as the app logged it (the jsonl source format, one JSON object a line)."""

    ts: float  # unix seconds
    arm: Arm
    input: str | None = None
    output: str | None = None
    latency_ms: float | None = None
    error: bool = False


@dataclass(frozen=True, slots=True)
class Proportion:
    """``hits`` of ``total`` (errors of requests, eval passes of scored responses)."""

    hits: int
    total: int

    @property
    def rate(self) -> float | None:
        return self.hits / self.total if self.total else None


@dataclass(frozen=True, slots=True)
class Samples:
    """Raw values (latencies in ms) for quantile metrics."""

    values: tuple[float, ...]


ArmData = Proportion | Samples


@dataclass(frozen=True)
class Observation:
    """Per-arm request counts (for the sample-ratio check) and per-metric, per-arm data."""

    counts: dict[Arm, int]
    metrics: dict[str, dict[Arm, ArmData]]
    source: str = ""
    window: tuple[float, float] | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)
