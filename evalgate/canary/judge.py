"""The canary judge: one look at live traffic in, one decision out. Pure: no clock, no I/O.

Rules, applied in this order at every look of a non-final stage:

a. A metric with no data, or fewer than ``min_samples`` in an arm, is ``inconclusive``: never pass,
   never fail. (A guard needs only the canary arm's samples: it bounds the canary's own value.)
b. Sample-ratio mismatch: when both arms have ``min_samples`` requests and the chi-square p-value of
   the split against the configured weight is below ``SRM_P`` (0.001) split over the stage's planned
   looks, like alpha: the looks see cumulative, correlated data, and an unsplit 0.001 at every look
   rolled back 0.3-0.7% of healthy stages in bench/canary_calibration.py; real routing bugs give
   p-values orders of magnitude below either threshold) -> rollback.
c. A guard breached with confidence (the canary's own interval entirely beyond the guard) -> rollback,
   whether or not the metric is critical.
d. Per metric, an interval on canary vs stable at the per-look alpha (``alpha / planned_looks``,
   Bonferroni; see ``stats.looks_alpha``). Proportions: Newcombe's interval on canary - stable, in
   absolute points. Quantiles: an interval on canary / stable - 1 from the two order-statistic
   intervals, each at half that alpha so the combination keeps the level (union bound):
   ``[c_lo / s_hi - 1, c_hi / s_lo - 1]``. The whole interval worse than the margin (tolerance) ->
   ``regression``; its bad-side bound within the margin -> ``pass``; else ``inconclusive``. So a
   quantile passes only when even the canary's upper bound is within tolerance of the stable's lower
   bound: sound when both arms are noisy, close to "canary upper <= stable point" when stable is big.
e. Any critical regression -> rollback. All critical metrics pass -> promote once ``min_duration`` has
   elapsed, extend before. Otherwise extend until ``max_duration``, then ``plan.on_inconclusive``.
   Non-critical metrics are reported but neither roll back nor hold the stage.

The final 100% stage is the promotion itself: the judge is not called there (it raises).
Reasons are one sentence with the numbers; sample sizes read ``n=canary/stable``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any, Literal

from evalgate.canary.observations import Observation, Proportion, Samples
from evalgate.canary.plan import Metric, RolloutPlan, Stage, format_duration
from evalgate.canary.stats import (
    looks_alpha,
    newcombe_diff_interval,
    quantile,
    quantile_ci,
    srm_p_value,
    wilson_interval,
)

Action = Literal["promote", "extend", "hold", "rollback"]  # promote = advance to the next stage
Verdict = Literal["pass", "regression", "inconclusive", "guard"]
SRM_P = 0.001
STATUS_MAX_CHARS = 140


@dataclass(frozen=True)
class MetricResult:
    """One metric at one look; ``delta`` and ``ci`` are canary - stable (proportions, absolute) or
    canary / stable - 1 (quantiles, relative)."""

    name: str
    verdict: Verdict
    stable: float | None
    canary: float | None
    delta: float | None
    ci: tuple[float, float] | None
    n_stable: int
    n_canary: int
    critical: bool
    reason: str  # a clause that follows the metric's name: "fell 5.2 pt (...), beyond the 3.0 pt margin"
    kind: Literal["proportion", "quantile"] = "proportion"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, stable keys (the field order); infinities become null."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        for key in ("stable", "canary", "delta"):
            out[key] = _finite(out[key])
        out["ci"] = None if self.ci is None else [_finite(self.ci[0]), _finite(self.ci[1])]
        return out


@dataclass(frozen=True)
class Decision:
    """What to do after one look, with one sentence of reason and the numbers behind it."""

    action: Action
    stage: int
    weight: int
    look: int
    reason: str
    metrics: tuple[MetricResult, ...]
    srm_p: float | None
    elapsed_s: float
    actor: str = "judge"
    planned_looks: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, stable keys (the field order)."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["srm_p"] = _finite(self.srm_p)
        out["metrics"] = [m.to_dict() for m in self.metrics]
        return out


def _finite(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) else None


def planned_looks(stage: Stage) -> int:
    """How many looks a stage gets before ``max_duration``: ``ceil(max_duration / look_every)``."""
    if stage.final:
        return 0
    return max(1, math.ceil(stage.max_duration / stage.look_every - 1e-9))


# --- formatting -------------------------------------------------------------------------------


def _signed(x: float, digits: int = 1) -> str:
    return f"{x:+.{digits}f}".replace("-", "−")


def _level(alpha: float) -> str:
    return f"{(1 - alpha) * 100:.3g}% CI"


def _n(n_canary: int, n_stable: int) -> str:
    return f"n={n_canary:,}/{n_stable:,}"


def _value(metric: Metric, v: float) -> str:
    return f"{v:,.0f} ms" if metric.name.endswith("_ms") else f"{v:,.4g}"


def _moved(delta: float, amount: str) -> str:
    return "held steady" if delta == 0 else f"{'rose' if delta > 0 else 'fell'} {amount}"


def _bound_text(metric: Metric) -> str:
    if metric.kind == "proportion":
        text = f"the {metric.margin * 100:.1f} pt margin"
        # A zero margin asks the data to prove "no drop at all", which no sample can do.
        return text + " (a margin of 0 can never be shown; set one)" if metric.margin == 0 else text
    return f"the {metric.tolerance * 100:.0f}% tolerance"


# --- per metric -------------------------------------------------------------------------------


def _arm_size(data: Proportion | Samples | None) -> int:
    if isinstance(data, Proportion):
        return data.total
    if isinstance(data, Samples):
        return len(data.values)
    return 0


def _judge_metric(metric: Metric, obs: Observation, stage: Stage, alpha: float) -> MetricResult:
    need = metric.min_samples or stage.min_samples
    arms = obs.metrics.get(metric.name, {})
    stable, canary = arms.get("stable"), arms.get("canary")
    n_s, n_c = _arm_size(stable), _arm_size(canary)
    expected = Proportion if metric.kind == "proportion" else Samples

    def result(verdict: Verdict, reason: str, **numbers: Any) -> MetricResult:
        return MetricResult(
            name=metric.name,
            verdict=verdict,
            stable=numbers.get("stable"),
            canary=numbers.get("canary"),
            delta=numbers.get("delta"),
            ci=numbers.get("ci"),
            n_stable=n_s,
            n_canary=n_c,
            critical=metric.critical,
            reason=reason,
            kind=metric.kind,
        )

    for arm, data in (("stable", stable), ("canary", canary)):
        if data is not None and not isinstance(data, expected):
            return result(
                "inconclusive", f"has {type(data).__name__} data in the {arm} arm, not {metric.kind}"
            )
    if n_s == 0 and n_c == 0:
        return result("inconclusive", "has no data from the source yet")
    if metric.kind == "proportion":
        assert canary is None or isinstance(canary, Proportion)
        assert stable is None or isinstance(stable, Proportion)
        return _proportion(metric, stable, canary, need, alpha, result)
    assert canary is None or isinstance(canary, Samples)
    assert stable is None or isinstance(stable, Samples)
    return _quantile(metric, stable, canary, need, alpha, result)


_Make = Callable[..., MetricResult]


_WHERE = {"regression": "beyond", "pass": "within", "inconclusive": "an interval that still straddles"}


def _classify(better: str, lo: float, hi: float, bound: float) -> Verdict:
    # The interval is on canary - stable (or canary / stable - 1); "bad" is down when higher is better.
    if better == "higher":
        return "regression" if hi < -bound else "pass" if lo >= -bound else "inconclusive"
    return "regression" if lo > bound else "pass" if hi <= bound else "inconclusive"


def _beyond_guard(better: str, lo: float, hi: float, guard: float) -> str | None:
    if better == "lower" and lo > guard:
        return "above"
    if better == "higher" and hi < guard:
        return "below"
    return None


def _too_few(n_s: int, n_c: int, need: int) -> str:
    return f"has too few samples ({_n(n_c, n_s)}, {need:,} needed per arm)"


def _proportion(
    metric: Metric,
    stable: Proportion | None,
    canary: Proportion | None,
    need: int,
    alpha: float,
    result: _Make,
) -> MetricResult:
    n_s, n_c = _arm_size(stable), _arm_size(canary)
    c_rate = canary.rate if canary else None
    if canary is not None and n_c >= need and metric.guard is not None:
        lo, hi = wilson_interval(canary.hits, canary.total, alpha)
        side = _beyond_guard(metric.better, lo, hi, metric.guard)
        if side:
            return result(
                "guard",
                f"is {side} its {metric.guard * 100:.1f}% guard with confidence (canary "
                f"{(c_rate or 0) * 100:.1f}%, {_level(alpha)} [{lo * 100:.1f}%, {hi * 100:.1f}%], "
                f"n={n_c:,})",
                canary=c_rate,
                ci=(lo, hi),
            )
    if stable is None or canary is None or n_s < need or n_c < need:
        return result(
            "inconclusive", _too_few(n_s, n_c, need), canary=c_rate, stable=stable.rate if stable else None
        )
    s_rate, c_rate = stable.hits / stable.total, canary.hits / canary.total
    delta = c_rate - s_rate
    lo, hi = newcombe_diff_interval(stable.hits, stable.total, canary.hits, canary.total, alpha)
    verdict = _classify(metric.better, lo, hi, metric.margin)
    reason = (
        f"{_moved(delta, f'{abs(delta) * 100:.1f} pt')} (canary {c_rate * 100:.1f}% vs stable "
        f"{s_rate * 100:.1f}%, {_level(alpha)} [{_signed(lo * 100)}, {_signed(hi * 100)}] pt, "
        f"{_n(n_c, n_s)}), {_WHERE[verdict]} {_bound_text(metric)}"
    )
    return result(verdict, reason, stable=s_rate, canary=c_rate, delta=delta, ci=(lo, hi))


def _ratio(a: float, b: float) -> float:
    if b > 0:
        return a / b - 1.0
    return math.inf if a > 0 else 0.0


def _quantile(
    metric: Metric,
    stable: Samples | None,
    canary: Samples | None,
    need: int,
    alpha: float,
    result: _Make,
) -> MetricResult:
    q = metric.q_value
    label = f"p{q * 100:g}"
    n_s, n_c = _arm_size(stable), _arm_size(canary)
    c_sorted = sorted(canary.values) if canary else []
    c_point = quantile(c_sorted, q) if c_sorted else None
    if c_point is not None and n_c >= need and metric.guard is not None:
        own = quantile_ci(c_sorted, q, alpha)
        if own is not None:
            lo, hi = own
            side = _beyond_guard(metric.better, lo, hi, metric.guard)
            if side:
                return result(
                    "guard",
                    f"is {side} its {_value(metric, metric.guard)} guard with confidence (canary "
                    f"{label} {_value(metric, c_point)}, {_level(alpha)} [{_value(metric, lo)}, "
                    f"{_value(metric, hi)}], n={n_c:,})",
                    canary=c_point,
                    ci=(lo, hi),
                )
    if stable is None or canary is None or n_s < need or n_c < need:
        return result("inconclusive", _too_few(n_s, n_c, need), canary=c_point)
    s_sorted = sorted(stable.values)
    s_point = quantile(s_sorted, q)
    assert c_point is not None
    delta = _ratio(c_point, s_point)
    c_ci, s_ci = quantile_ci(c_sorted, q, alpha / 2), quantile_ci(s_sorted, q, alpha / 2)
    if c_ci is None or s_ci is None:
        return result(
            "inconclusive",
            f"has too few samples for a {label} interval ({_n(n_c, n_s)})",
            stable=s_point,
            canary=c_point,
            delta=delta,
        )
    lo, hi = _ratio(c_ci[0], s_ci[1]), _ratio(c_ci[1], s_ci[0])
    verdict = _classify(metric.better, lo, hi, metric.tolerance)
    reason = (
        f"{_moved(delta, f'{abs(delta) * 100:.1f}%')} (canary {_value(metric, c_point)} vs stable "
        f"{_value(metric, s_point)}, {_level(alpha)} [{_signed(lo * 100)}%, {_signed(hi * 100)}%], "
        f"{_n(n_c, n_s)}), {_WHERE[verdict]} {_bound_text(metric)}"
    )
    return result(verdict, reason, stable=s_point, canary=c_point, delta=delta, ci=(lo, hi))


# --- the decision -----------------------------------------------------------------------------


def judge(plan: RolloutPlan, stage: int, look: int, elapsed_s: float, obs: Observation) -> Decision:
    """Decide what to do after one look at stage ``stage`` (an index into ``plan.stages``)."""
    current = plan.stages[stage]
    if current.final:
        raise ValueError("the 100% stage is the promotion itself and is not judged")
    looks = planned_looks(current)
    alpha = looks_alpha(plan.alpha, looks)
    results = tuple(_judge_metric(m, obs, current, alpha) for m in plan.metrics)
    n_s, n_c = obs.counts.get("stable", 0), obs.counts.get("canary", 0)
    srm_p = None
    if min(n_s, n_c) >= current.min_samples:
        srm_p = srm_p_value(n_s, n_c, current.weight)
    action, reason = _decide(plan, stage, elapsed_s, results, srm_p, (n_s, n_c))
    return Decision(
        action=action,
        stage=stage,
        weight=current.weight,
        look=look,
        reason=reason,
        metrics=results,
        srm_p=srm_p,
        elapsed_s=elapsed_s,
        planned_looks=looks,
    )


def _p(p: float) -> str:
    return f"p={p:.1e}" if p > 0 else "p<1e-300"


def _more(items: list[MetricResult], what: str) -> str:
    extra = len(items) - 1
    if not extra:
        return ""
    noun, be = ("metric", "is") if extra == 1 else ("metrics", "are")
    return f", and {extra} more {noun} {what.format(be=be)}"


def _decide(
    plan: RolloutPlan,
    stage: int,
    elapsed_s: float,
    results: tuple[MetricResult, ...],
    srm_p: float | None,
    counts: tuple[int, int],
) -> tuple[Action, str]:
    current = plan.stages[stage]
    w = current.weight
    if srm_p is not None and srm_p < srm_threshold(current):
        n_s, n_c = counts
        share = n_c / (n_s + n_c) * 100
        return "rollback", (
            f"traffic split is {share:.1f}% canary, configured {w}%: the rollout mechanics are broken "
            f"(sample-ratio mismatch {_p(srm_p)}, {_n(n_c, n_s)}), rolling back"
        )
    guards = [r for r in results if r.verdict == "guard"]
    if guards:
        return (
            "rollback",
            f"{guards[0].name} {guards[0].reason}{_more(guards, 'breached a guard')}: rolling back",
        )
    critical = [r for r in results if r.critical]
    regressions = [r for r in critical if r.verdict == "regression"]
    if regressions:
        first = regressions[0]
        return "rollback", f"{first.name} {first.reason}{_more(regressions, 'regressed')}: rolling back"
    side = [r for r in results if not r.critical and r.verdict == "regression"]
    side_note = f"; non-critical {', '.join(r.name for r in side)} regressed" if side else ""
    elapsed = format_duration(elapsed_s)
    pending = [r for r in critical if r.verdict != "pass"]
    if not pending:
        if elapsed_s < current.min_duration:
            return "extend", (
                f"all critical metrics pass but only {elapsed} of the "
                f"{format_duration(current.min_duration)} minimum has elapsed{side_note}: extending at {w}%"
            )
        nxt = plan.stages[stage + 1].weight
        head = critical[0]
        return "promote", (
            f"all critical metrics pass after {elapsed}, and {head.name} {head.reason}{side_note}: "
            f"promoting from {w}% to {nxt}%"
        )
    first = pending[0]
    what = f"{first.name} {first.reason}{_more(pending, '{be} inconclusive')}"
    if elapsed_s < current.max_duration:
        limit = format_duration(current.max_duration)
        return "extend", f"{what}{side_note}: extending at {w}% ({elapsed} of at most {limit})"
    if plan.on_inconclusive == "hold":
        return "hold", f"{what} after {elapsed}{side_note}: holding at {w}% (on_inconclusive: hold)"
    return "rollback", f"{what} after {elapsed}{side_note}: rolling back (on_inconclusive: rollback)"


def _primary(metrics: tuple[MetricResult, ...]) -> tuple[MetricResult | None, bool]:
    """The metric a status line shows, and whether it is the cause of the decision (then it is named)."""
    for r in metrics:
        if r.verdict == "guard" or (r.critical and r.verdict == "regression"):
            return r, True
    for pick in (
        lambda r: r.critical and r.kind == "proportion",
        lambda r: r.critical,
        lambda r: True,
    ):
        for r in metrics:
            if pick(r):
                return r, False
    return None, False


def _metric_status(head: MetricResult, named: bool) -> str:
    name = f"{head.name} " if named else ""
    ci = head.ci if head.ci is not None and all(math.isfinite(b) for b in head.ci) else None
    if head.verdict == "guard":
        # The interval of a guard is on the canary's own value, not on a difference.
        own = "" if head.canary is None else f" {head.canary * 100:.1f}%" if head.kind == "proportion" else ""
        return f"{name}guard breached{own}"
    if head.delta is None or not math.isfinite(head.delta):
        return f"{name}Δ n/a"
    unit = " pt" if head.kind == "proportion" else "%"
    text = f"{name}Δ {_signed(head.delta * 100)}{unit}"
    return text + (f" [{_signed(ci[0] * 100)}, {_signed(ci[1] * 100)}]" if ci else "")


def srm_threshold(stage: Stage) -> float:
    """The sample-ratio p-value below which a look rolls back: ``SRM_P`` split over the planned looks."""
    return SRM_P / max(1, planned_looks(stage))


def format_status(decision: Decision) -> str:
    """A GitHub deployment status line (<= 140 chars): ``25% · look 3/6 · Δ −0.4 pt [−1.9, +1.1] · n=812``."""
    looks = f"/{decision.planned_looks}" if decision.planned_looks else ""
    parts = [f"{decision.weight}%", f"look {decision.look}{looks}"]
    if decision.srm_p is not None and decision.srm_p < SRM_P / max(1, decision.planned_looks or 1):
        parts.append(f"traffic split mismatch ({_p(decision.srm_p)})")
    else:
        head, named = _primary(decision.metrics)
        if head is not None:
            parts += [_metric_status(head, named), f"n={head.n_canary:,}"]
    parts.append(decision.action)
    status = " · ".join(parts)
    return status if len(status) <= STATUS_MAX_CHARS else status[: STATUS_MAX_CHARS - 1] + "…"
