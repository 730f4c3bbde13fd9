"""What one look at live traffic saw, per arm: counts for proportions, samples for quantiles.

These are the values the judge works on; metric sources produce them, the judge never fetches anything.
Records may carry a routing ``unit`` (user, session or tenant id). Routers that assign whole units to an
arm make requests of one unit share an arm and often an outcome, so the observation then also carries
what cluster-robust statistics need: unit counts per arm and per-unit sums (``Clusters``).
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
    unit: str | None = None  # the routing unit (user, session, tenant), if the app logs it


@dataclass(frozen=True, slots=True)
class Clusters:
    """Per-unit sums of a ratio ``sum(y_u) / sum(n_u)`` over ``units`` units: what the delta method needs.

    ``sum_y2 = Σ y_u²``, ``sum_yn = Σ y_u n_u``, ``sum_n2 = Σ n_u²``; they add up over disjoint units.
    """

    units: int
    sum_y2: float
    sum_yn: float
    sum_n2: float


@dataclass(frozen=True, slots=True)
class Proportion:
    """``hits`` of ``total`` (errors of requests, eval passes of scored responses)."""

    hits: int
    total: int
    clusters: Clusters | None = None  # set when the records name their routing unit

    @property
    def rate(self) -> float | None:
        return self.hits / self.total if self.total else None


@dataclass(frozen=True, slots=True)
class Samples:
    """Raw values (latencies in ms) for quantile metrics; ``units[i]`` is the unit of ``values[i]``."""

    values: tuple[float, ...]
    units: tuple[int, ...] | None = None


ArmData = Proportion | Samples


@dataclass(frozen=True, slots=True)
class LookCounts:
    """Records that arrived during one look (``start``..``end``, unix seconds), per arm."""

    stable: int
    canary: int
    start: float
    end: float

    @property
    def seconds(self) -> float:
        return max(0.0, self.end - self.start)

    def of(self, arm: Arm) -> int:
        return self.canary if arm == "canary" else self.stable


@dataclass(frozen=True)
class Observation:
    """Per-arm request counts (for the sample-ratio check) and per-metric, per-arm data.

    ``batches`` are (stable, canary) request counts in consecutive sub-windows of the window, for a
    sample-ratio test that estimates the dispersion of the split from the data; ``units`` counts the
    routing units by the arm of their first record, when the records name them.
    """

    counts: dict[Arm, int]
    metrics: dict[str, dict[Arm, ArmData]]
    source: str = ""
    window: tuple[float, float] | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)
    batches: tuple[tuple[int, int], ...] = ()
    units: dict[Arm, int] | None = None
    batch_s: float | None = None  # the width of the sub-windows, from the start of ``window``
