"""``evalgate canary plan``: the samples each stage needs to reach a decision, and how long that takes.

Sample sizes use the per-look alpha the judge uses (``alpha / planned_looks``). The judge's two-sided
interval makes each of its calls (regression, pass) a one-sided test at half that, so the planner asks
``samples_for_difference`` for that one-sided level. Without ``base_rates`` it assumes 0.9 for
``eval_pass_rate``, 0.01 for ``error_rate`` and 0.5 (the worst case) for other proportions. Quantile
metrics get the smallest sample for which an order-statistic interval exists at all; a narrow one
needs more, depending on the latency distribution.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from evalgate.canary.judge import planned_looks
from evalgate.canary.plan import Metric, RolloutPlan, Stage, format_duration
from evalgate.canary.stats import looks_alpha, min_samples_for_quantile_ci, samples_for_difference

TYPICAL_BASE_RATES: dict[str, float] = {"eval_pass_rate": 0.9, "error_rate": 0.01}
UNKNOWN_BASE_RATE = 0.5  # p(1 - p) is largest here, so the sample size is an upper bound
TOO_SLOW = "this stage cannot reach a decision before max_duration at this traffic"


@dataclass(frozen=True)
class MetricPlan:
    """What one metric needs in one stage; ``samples``/``seconds`` are None when no sample suffices."""

    name: str
    kind: str
    base_rate: float | None
    samples: int | None  # per arm
    seconds: float | None  # until both arms have ``samples``, rounded up to the next look
    feasible: bool
    note: str = ""


@dataclass(frozen=True)
class StagePlan:
    """One judged stage: its looks, per-look alpha and what each metric needs."""

    stage: int
    weight: int
    min_duration: float
    max_duration: float
    look_every: float
    planned_looks: int
    alpha_look: float
    metrics: tuple[MetricPlan, ...]

    @property
    def feasible(self) -> bool:
        """Every critical-or-not metric can reach a decision before ``max_duration``."""
        return all(m.feasible for m in self.metrics)


def _arm_rate(request_rate_per_s: float, weight: int) -> float:
    # The smaller arm fills last: the canary up to 50%, stable above.
    share = min(weight, 100 - weight) / 100.0
    return request_rate_per_s * share


def _metric_plan(
    plan: RolloutPlan, stage: Stage, metric: Metric, alpha_look: float, rate: float, base: Mapping[str, float]
) -> MetricPlan:
    need = metric.min_samples or stage.min_samples
    base_rate: float | None = None
    note = ""
    if metric.kind == "proportion":
        base_rate = base.get(metric.name, TYPICAL_BASE_RATES.get(metric.name, UNKNOWN_BASE_RATE))
        if metric.margin == 0:
            return MetricPlan(
                metric.name,
                metric.kind,
                base_rate,
                None,
                None,
                False,
                "margin 0 can never be shown to hold; give the largest drop you accept",
            )
        try:
            samples = samples_for_difference(
                base_rate, metric.margin, alpha_look / 2, plan.power, better=metric.better
            )
        except ValueError as exc:
            return MetricPlan(metric.name, metric.kind, base_rate, None, None, False, str(exc))
    else:
        samples = min_samples_for_quantile_ci(metric.q_value, alpha_look / 2)
        note = "at least; a narrow interval needs more"
    samples = max(samples, need)
    arm_rate = _arm_rate(rate, stage.weight)
    raw = samples / arm_rate if arm_rate > 0 else math.inf
    # Decisions happen at looks, and promotion waits for min_duration anyway.
    seconds = max(math.ceil(raw / stage.look_every - 1e-9) * stage.look_every, stage.min_duration)
    feasible = seconds <= stage.max_duration
    if not feasible:
        note = TOO_SLOW
    return MetricPlan(metric.name, metric.kind, base_rate, samples, seconds, feasible, note)


def plan_report(
    plan: RolloutPlan, request_rate_per_s: float, base_rates: Mapping[str, float] | None = None
) -> list[StagePlan]:
    """Per judged stage and metric: samples per arm for the plan's margins and power, and the time needed."""
    if not request_rate_per_s > 0:
        raise ValueError(f"request rate must be positive, got {request_rate_per_s!r}")
    base = dict(base_rates or {})
    out: list[StagePlan] = []
    for index, stage in enumerate(plan.stages):
        if stage.final:
            continue
        looks = planned_looks(stage)
        alpha_look = looks_alpha(plan.alpha, looks)
        rows = tuple(_metric_plan(plan, stage, m, alpha_look, request_rate_per_s, base) for m in plan.metrics)
        out.append(
            StagePlan(
                stage=index,
                weight=stage.weight,
                min_duration=stage.min_duration,
                max_duration=stage.max_duration,
                look_every=stage.look_every,
                planned_looks=looks,
                alpha_look=alpha_look,
                metrics=rows,
            )
        )
    return out


def _threshold(metric: Metric) -> str:
    if metric.kind == "proportion":
        return f"{metric.margin * 100:.1f} pt"
    return f"{metric.tolerance * 100:.0f}%"


def render_plan_report(plan: RolloutPlan, report: Sequence[StagePlan]) -> str:
    """The report as a plain-text table, one row per stage and metric, problems flagged with ``!``."""
    metrics = {m.name: m for m in plan.metrics}
    header = ("stage", "metric", "base", "margin", "n/arm", "time", "max", "")
    rows: list[tuple[str, ...]] = [header]
    notes: list[str] = []
    for sp in report:
        for mp in sp.metrics:
            metric = metrics[mp.name]
            rows.append(
                (
                    f"{sp.weight}%",
                    mp.name + ("" if metric.critical else " (non-critical)"),
                    "-" if mp.base_rate is None else f"{mp.base_rate * 100:g}%",
                    _threshold(metric),
                    "-" if mp.samples is None else f"{'≥' if mp.kind == 'quantile' else ''}{mp.samples:,}",
                    "-" if mp.seconds is None or math.isinf(mp.seconds) else format_duration(mp.seconds),
                    format_duration(sp.max_duration),
                    "ok" if mp.feasible else "!",
                )
            )
            if not mp.feasible:
                notes.append(f"! {sp.weight}% {mp.name}: {mp.note}")
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = [
        f"canary plan: {plan.target.kind} {plan.target.stable} → {plan.target.candidate}, "
        f"alpha {plan.alpha:g} split over each stage's looks, power {plan.power:g}",
        "",
    ]
    lines += ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines += ["", *_stage_rules(plan)]
    if notes:
        lines += ["", *notes]
    return "\n".join(lines) + "\n"


def _stage_rules(plan: RolloutPlan) -> list[str]:
    """Per judged stage, the traffic rules the judge applies: settle, fresh data, silence, rollback."""
    out = []
    for stage in plan.stages:
        if stage.final:
            continue
        out.append(
            f"{stage.weight}%: settle {format_duration(stage.settle_s)}, then a look every "
            f"{format_duration(stage.look_every)}; a look counts toward min_duration with "
            f"≥ {stage.min_new:,} new records per arm; no data for "
            f"{format_duration(stage.max_silence_s)} → {plan.on_no_data}; a regression rolls back to "
            f"{stage.rollback_to}%"
        )
    return out
