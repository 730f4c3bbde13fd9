"""Request records summarized per arm: the pure part of the request-log sources (jsonl, command).

Counts, error rate, live eval pass rate and latency samples per arm; sub-window counts for the
dispersion-adjusted sample-ratio test; and, when records name their routing unit, unit counts by first
arm and the per-unit sums of cluster-robust intervals.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from evalgate.canary.observations import (
    ARMS,
    Arm,
    ArmData,
    Clusters,
    Observation,
    Proportion,
    RequestRecord,
    Samples,
)
from evalgate.checks import CheckContext, CheckSpec, run_check
from evalgate.results import Completion

ERROR_RATE = "error_rate"
EVAL_PASS_RATE = "eval_pass_rate"
TEXT_ONLY_CHECKS = frozenset(
    {"contains", "icontains", "not_contains", "not_icontains", "equals", "starts_with", "regex"}
    | {"max_words", "max_chars", "is_json", "json_schema"}
)


class MetricDef(Protocol):
    """What a source needs of a plan metric."""

    @property
    def name(self) -> str: ...

    @property
    def kind(self) -> str: ...  # "proportion" | "quantile"

    @property
    def q(self) -> float | None: ...


@dataclass(frozen=True)
class SimpleMetric:
    """A ``MetricDef`` for tests and scripts that have no plan."""

    name: str
    kind: Literal["proportion", "quantile"] = "proportion"
    q: float | None = None


def summarize(
    records: Iterable[RequestRecord],
    metrics: Sequence[MetricDef],
    live_checks: Sequence[CheckSpec],
    *,
    base_dir: Path,
    window: tuple[float, float] | None = None,
    batch_s: float | None = None,
) -> Observation:
    """Per-arm counts, error rate, live eval pass rate and latency samples of ``records``.

    With ``window`` and ``batch_s`` the observation also has per-sub-window arm counts; when any record
    names its ``unit``, units per arm (by first record) and per-unit sums for cluster-robust intervals
    (a record without a unit is a unit of its own).
    """
    rows = list(records)
    counts: dict[Arm, int] = {"stable": 0, "canary": 0}
    errors: dict[Arm, int] = {"stable": 0, "canary": 0}
    scored: dict[Arm, int] = {"stable": 0, "canary": 0}
    passed: dict[Arm, int] = {"stable": 0, "canary": 0}
    latencies: dict[Arm, list[float]] = {"stable": [], "canary": []}
    units = _Units() if any(r.unit is not None for r in rows) else None
    score = bool(live_checks) and any(m.name == EVAL_PASS_RATE for m in metrics)
    # Checks that read only the text give the same verdict for the same text: score each text once.
    verdicts: dict[str, bool] | None = {} if all(c.type in TEXT_ONLY_CHECKS for c in live_checks) else None
    for i, record in enumerate(rows):
        arm = record.arm
        counts[arm] += 1
        unit = record.unit if record.unit is not None else f"\0{i}"
        if units is not None:
            units.first(unit, arm)
            units.add(ERROR_RATE, arm, unit, record.error)
        if record.error:
            errors[arm] += 1
            continue
        if record.latency_ms is not None:
            latencies[arm].append(record.latency_ms)
            if units is not None:
                units.latency(arm, unit)
        if score and record.output is not None:
            scored[arm] += 1
            verdict = verdicts.get(record.output) if verdicts is not None else None
            if verdict is None:
                completion = Completion(text=record.output, model="live", latency_ms=record.latency_ms or 0.0)
                ctx = CheckContext(completion, prompt=record.input or "", base_dir=base_dir)
                verdict = all(run_check(spec, ctx).passed for spec in live_checks)
                if verdicts is not None:
                    verdicts[record.output] = verdict
            passed[arm] += verdict
            if units is not None:
                units.add(EVAL_PASS_RATE, arm, unit, verdict)
    data: dict[str, dict[Arm, ArmData]] = {}
    notes: list[str] = []
    for metric in metrics:
        if metric.name == ERROR_RATE:
            data[metric.name] = {
                a: Proportion(errors[a], counts[a], _clusters(units, ERROR_RATE, a))
                for a in ARMS
                if counts[a]
            }
        elif metric.name == EVAL_PASS_RATE:
            data[metric.name] = {
                a: Proportion(passed[a], scored[a], _clusters(units, EVAL_PASS_RATE, a))
                for a in ARMS
                if scored[a]
            }
            if not live_checks:
                notes.append(f"{EVAL_PASS_RATE}: no live checks configured, so nothing was scored")
        elif metric.kind == "quantile":
            data[metric.name] = {
                a: Samples(tuple(latencies[a]), None if units is None else tuple(units.latency_units[a]))
                for a in ARMS
                if latencies[a]
            }
        else:
            data[metric.name] = {}
            notes.append(
                f"{metric.name}: not computable from request records "
                f"(known: {ERROR_RATE}, {EVAL_PASS_RATE}, quantile metrics of latency_ms)"
            )
    return Observation(
        counts=counts,
        metrics=data,
        notes=tuple(notes),
        batches=_batches(rows, window, batch_s),
        batch_s=batch_s if window is not None else None,
        units=None if units is None else units.by_first_arm(),
    )


class _Units:
    """Per-unit accumulators: the first arm of each unit and, per metric and arm, (hits, total) per unit."""

    def __init__(self) -> None:
        self.first_arm: dict[str, Arm] = {}
        self.sums: dict[tuple[str, Arm], dict[str, list[int]]] = {}
        self.index: dict[str, int] = {}
        self.latency_units: dict[Arm, list[int]] = {"stable": [], "canary": []}

    def first(self, unit: str, arm: Arm) -> None:
        self.first_arm.setdefault(unit, arm)

    def add(self, metric: str, arm: Arm, unit: str, hit: bool) -> None:
        acc = self.sums.setdefault((metric, arm), {}).setdefault(unit, [0, 0])
        acc[0] += hit
        acc[1] += 1

    def latency(self, arm: Arm, unit: str) -> None:
        self.latency_units[arm].append(self.index.setdefault(unit, len(self.index)))

    def by_first_arm(self) -> dict[Arm, int]:
        out: dict[Arm, int] = {"stable": 0, "canary": 0}
        for arm in self.first_arm.values():
            out[arm] += 1
        return out


def _clusters(units: _Units | None, metric: str, arm: Arm) -> Clusters | None:
    if units is None:
        return None
    per_unit = units.sums.get((metric, arm), {}).values()
    return Clusters(
        units=len(per_unit),
        sum_y2=float(sum(y * y for y, _ in per_unit)),
        sum_yn=float(sum(y * n for y, n in per_unit)),
        sum_n2=float(sum(n * n for _, n in per_unit)),
    )


def _batches(
    rows: Sequence[RequestRecord], window: tuple[float, float] | None, batch_s: float | None
) -> tuple[tuple[int, int], ...]:
    if window is None or not batch_s or batch_s <= 0:
        return ()
    since, until = window
    size = max(1, math.ceil((until - since) / batch_s - 1e-9))
    bins = [[0, 0] for _ in range(size)]
    for r in rows:
        i = int((r.ts - since) // batch_s)
        if 0 <= i < size:
            bins[i][r.arm == "canary"] += 1
    return tuple((s, c) for s, c in bins)
