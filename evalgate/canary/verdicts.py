"""One metric at one look: canary vs stable, as ``pass``, ``regression``, ``inconclusive`` or ``guard``.

Proportions: Newcombe's interval on canary - stable, in absolute points. Quantiles: an interval on
canary / stable - 1 from the two order-statistic intervals, each at half the alpha so the combination
keeps the level (union bound): ``[c_lo / s_hi - 1, c_hi / s_lo - 1]``. The whole interval worse than the
margin (tolerance) -> ``regression``; its bad-side bound within the margin -> ``pass``; else
``inconclusive``. A guard bounds the canary's own value. When the records name their routing unit, each
arm's interval uses its design effect (per-unit aggregation, the delta method): the counts shrink to the
effective sample size, so clustered outcomes cannot make a noisy difference look certain.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, fields
from itertools import compress
from typing import Any, Literal

from evalgate.canary.observations import Observation, Proportion, Samples
from evalgate.canary.plan import Metric, Stage
from evalgate.canary.stats import (
    design_effect,
    newcombe_diff_interval,
    quantile,
    quantile_ci,
    wilson_interval,
)

Verdict = Literal["pass", "regression", "inconclusive", "guard"]


@dataclass(frozen=True)
class MetricResult:
    """One metric at one look; ``delta`` and ``ci`` are canary - stable (proportions, absolute) or
    canary / stable - 1 (quantiles, relative). ``deff`` is the (stable, canary) design effect when the
    records named their routing units."""

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
    deff: tuple[float, float] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, stable keys (the field order); infinities become null."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        for key in ("stable", "canary", "delta"):
            out[key] = finite(out[key])
        out["ci"] = None if self.ci is None else [finite(self.ci[0]), finite(self.ci[1])]
        out["deff"] = None if self.deff is None else [round(d, 3) for d in self.deff]
        return out


def finite(x: float | None) -> float | None:
    """``x``, or ``None`` for a missing or infinite value (JSON has no infinity)."""
    return x if x is not None and math.isfinite(x) else None


# --- formatting -------------------------------------------------------------------------------


def signed(x: float, digits: int = 1) -> str:
    """``+1.5`` / ``−1.5`` with a real minus sign."""
    return f"{x:+.{digits}f}".replace("-", "−")


def level(alpha: float, deff: tuple[float, float] | None = None) -> str:
    """``99.8% CI``, ``cluster-robust`` when design effects were applied."""
    text = f"{(1 - alpha) * 100:.3g}% CI"
    if deff is not None:
        text += f", cluster-robust (design effect {deff[1]:.1f}/{deff[0]:.1f})"
    return text


def n_pair(n_canary: int, n_stable: int) -> str:
    """Sample sizes as everywhere in evalgate: ``n=canary/stable``."""
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


def judge_metric(metric: Metric, obs: Observation, stage: Stage, alpha: float) -> MetricResult:
    """The verdict on one metric at per-look ``alpha``."""
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
            deff=numbers.get("deff"),
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
    return f"has too few samples ({n_pair(n_c, n_s)}, {need:,} needed per arm)"


def _proportion_deff(data: Proportion) -> float:
    c = data.clusters
    if c is None:
        return 1.0
    return design_effect(data.hits, data.total, c.units, c.sum_y2, c.sum_yn, c.sum_n2)


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
    c_deff = _proportion_deff(canary) if canary is not None else 1.0
    if canary is not None and n_c >= need and metric.guard is not None:
        lo, hi = wilson_interval(canary.hits / c_deff, canary.total / c_deff, alpha)
        side = _beyond_guard(metric.better, lo, hi, metric.guard)
        if side:
            return result(
                "guard",
                f"is {side} its {metric.guard * 100:.1f}% guard with confidence (canary "
                f"{(c_rate or 0) * 100:.1f}%, {level(alpha)} [{lo * 100:.1f}%, {hi * 100:.1f}%], "
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
    s_deff = _proportion_deff(stable)
    clustered = stable.clusters is not None or canary.clusters is not None
    deff = (s_deff, c_deff) if clustered else None
    lo, hi = newcombe_diff_interval(
        stable.hits / s_deff, stable.total / s_deff, canary.hits / c_deff, canary.total / c_deff, alpha
    )
    verdict = _classify(metric.better, lo, hi, metric.margin)
    reason = (
        f"{_moved(delta, f'{abs(delta) * 100:.1f} pt')} (canary {c_rate * 100:.1f}% vs stable "
        f"{s_rate * 100:.1f}%, {level(alpha, deff)} [{signed(lo * 100)}, {signed(hi * 100)}] pt, "
        f"{n_pair(n_c, n_s)}), {_WHERE[verdict]} {_bound_text(metric)}"
    )
    return result(verdict, reason, stable=s_rate, canary=c_rate, delta=delta, ci=(lo, hi), deff=deff)


def _ratio(a: float, b: float) -> float:
    if b > 0:
        return a / b - 1.0
    return math.inf if a > 0 else 0.0


def _quantile_deff(data: Samples, point: float) -> float:
    """Design effect of the share of values at or below ``point``, aggregated per unit."""
    if data.units is None or len(data.units) != len(data.values):
        return 1.0
    n_u = Counter(data.units)
    if len(n_u) == len(data.values):
        return 1.0  # one value per unit: nothing is clustered
    y_u = Counter(compress(data.units, [v <= point for v in data.values]))
    return design_effect(
        sum(y_u.values()),
        len(data.values),
        len(n_u),
        float(sum(y * y for y in y_u.values())),
        float(sum(y * n_u[u] for u, y in y_u.items())),
        float(sum(n * n for n in n_u.values())),
    )


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
    c_deff = _quantile_deff(canary, c_point) if canary is not None and c_point is not None else 1.0
    if c_point is not None and n_c >= need and metric.guard is not None:
        own = quantile_ci(c_sorted, q, alpha, deff=c_deff)
        if own is not None:
            lo, hi = own
            side = _beyond_guard(metric.better, lo, hi, metric.guard)
            if side:
                return result(
                    "guard",
                    f"is {side} its {_value(metric, metric.guard)} guard with confidence (canary "
                    f"{label} {_value(metric, c_point)}, {level(alpha)} [{_value(metric, lo)}, "
                    f"{_value(metric, hi)}], n={n_c:,})",
                    canary=c_point,
                    ci=(lo, hi),
                )
    if stable is None or canary is None or n_s < need or n_c < need:
        return result("inconclusive", _too_few(n_s, n_c, need), canary=c_point)
    s_sorted = sorted(stable.values)
    s_point = quantile(s_sorted, q)
    assert c_point is not None
    s_deff = _quantile_deff(stable, s_point)
    clustered = stable.units is not None or canary.units is not None
    deff = (s_deff, c_deff) if clustered else None
    delta = _ratio(c_point, s_point)
    c_ci = quantile_ci(c_sorted, q, alpha / 2, deff=c_deff)
    s_ci = quantile_ci(s_sorted, q, alpha / 2, deff=s_deff)
    if c_ci is None or s_ci is None:
        return result(
            "inconclusive",
            f"has too few samples for a {label} interval ({n_pair(n_c, n_s)})",
            stable=s_point,
            canary=c_point,
            delta=delta,
        )
    lo, hi = _ratio(c_ci[0], s_ci[1]), _ratio(c_ci[1], s_ci[0])
    verdict = _classify(metric.better, lo, hi, metric.tolerance)
    reason = (
        f"{_moved(delta, f'{abs(delta) * 100:.1f}%')} (canary {_value(metric, c_point)} vs stable "
        f"{_value(metric, s_point)}, {level(alpha, deff)} [{signed(lo * 100)}%, {signed(hi * 100)}%], "
        f"{n_pair(n_c, n_s)}), {_WHERE[verdict]} {_bound_text(metric)}"
    )
    return result(verdict, reason, stable=s_point, canary=c_point, delta=delta, ci=(lo, hi), deff=deff)
