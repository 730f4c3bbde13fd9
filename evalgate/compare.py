"""Compare two runs of one suite: paired score delta with a confidence interval, case moves, cost, latency
and model identity. Pure: reports in, a ``RunComparison`` out; no files, no network, no printing.

Used by ``evalgate compare``, ``evalgate drift``, ``evalgate upgrade`` and the Action's base comparison.

- The score of a case is the share of its trials that passed (repeats counted) under the ``cases``
  metric, the share of its checks that passed under ``checks``. The delta is the mean of the per-case
  differences over the cases both runs have, with a paired t interval.
- A regression is what the gate's base comparison calls one: a drop of more than ``max_drop``, a newly
  failing case under ``no_new_failures`` (with repeats, only when a paired exact test says so). With
  neither configured, a drop whose whole confidence interval is below zero.
- Model identity is the model id the server reported and, where the vendor sends one, the
  ``system_fingerprint``, per case. A side without fingerprints (an older report, a vendor that sends
  none) makes no fingerprint claim.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from statistics import NormalDist

from evalgate.gate import (
    Comparison,
    GateConfig,
    Metric,
    base_rule_reasons,
    check_counts,
    compare,
    pass_rate,
    totals,
)
from evalgate.results import CaseResult, RunResult

CONFIDENCE = 0.95
MIN_SHARED = 0.5  # below this share of the union of case ids, two reports are not the same suite
_EPS = 1e-9


@dataclass(frozen=True, slots=True)
class Rules:
    """What counts as a regression (the gate's ``max_drop`` and ``no_new_failures``)."""

    max_drop: float | None = None
    no_new_failures: bool = False


@dataclass(frozen=True, slots=True)
class ScoreDelta:
    """Mean per-case score on each side over the shared cases, and head − base with its interval."""

    base: float
    head: float
    delta: float
    low: float
    high: float
    cases: int
    base_trials: int
    head_trials: int

    @property
    def significant_drop(self) -> bool:
        """The whole interval is below zero."""
        return self.high < -_EPS


@dataclass(frozen=True, slots=True)
class Identity:
    """Who answered one case on one side: model ids and fingerprints seen over its trials."""

    models: tuple[str, ...] = ()
    fingerprints: tuple[str, ...] = ()

    def short(self) -> str:
        """``gpt-4o-2024-11-20 (fp_abc)``."""
        models = ", ".join(self.models) or "(no answer)"
        return f"{models} ({', '.join(self.fingerprints)})" if self.fingerprints else models


@dataclass(frozen=True, slots=True)
class IdentityChange:
    """A case answered by a different model id or backend fingerprint than on the base."""

    case_id: str
    base: Identity
    head: Identity


@dataclass(frozen=True)
class RunComparison:
    """Everything ``evalgate compare`` reports about base → head."""

    metric: Metric
    base_model: str
    head_model: str
    base_rate: tuple[float, int, int]
    head_rate: tuple[float, int, int]
    cases: Comparison
    score: ScoreDelta | None
    base_cost_usd: float | None
    head_cost_usd: float | None
    base_p95_ms: float | None
    head_p95_ms: float | None
    identity_changes: tuple[IdentityChange, ...]
    reasons: tuple[str, ...] = field(default=())

    @property
    def regressed(self) -> bool:
        """Whether any regression rule fired."""
        return bool(self.reasons)

    @property
    def rate_delta(self) -> float:
        """Head pass rate minus base pass rate (all cases of each report)."""
        return self.head_rate[0] - self.base_rate[0]


class NotComparable(ValueError):
    """Two reports of different suites; ``only_base``/``only_head`` name the cases that differ."""

    def __init__(self, message: str, only_base: Sequence[str], only_head: Sequence[str]) -> None:
        super().__init__(message)
        self.only_base = tuple(only_base)
        self.only_head = tuple(only_head)


def comparable(base: Sequence[CaseResult], head: Sequence[CaseResult], *, same_cases: bool = False) -> None:
    """Raise ``NotComparable`` when the two case sets are too different to be the same suite."""
    base_ids = list(dict.fromkeys(c.id for c in base))
    head_ids = list(dict.fromkeys(c.id for c in head))
    head_set, base_set = set(head_ids), set(base_ids)
    only_base = [i for i in base_ids if i not in head_set]
    only_head = [i for i in head_ids if i not in base_set]
    union = len(base_ids) + len(only_head)
    shared = len(base_ids) - len(only_base)
    if not union:
        raise NotComparable("both reports are empty", (), ())
    if same_cases and (only_base or only_head):
        raise NotComparable("the reports do not hold the same cases", only_base, only_head)
    if shared / union < MIN_SHARED:
        raise NotComparable(
            f"the reports share {shared} of {union} case ids: they are not runs of the same suite",
            only_base,
            only_head,
        )


def compare_runs(
    base: RunResult,
    head: RunResult,
    *,
    metric: Metric = "cases",
    rules: Rules | None = None,
    confidence: float = CONFIDENCE,
    same_cases: bool = False,
) -> RunComparison:
    """Compare ``head`` with ``base``; ``NotComparable`` when they are not runs of one suite."""
    result = compare_cases(
        base.cases,
        head.cases,
        base_model=base.model,
        head_model=head.model,
        metric=metric,
        rules=rules,
        confidence=confidence,
        same_cases=same_cases,
    )
    if base.replayed or head.replayed:  # a recording's latencies measure nothing
        result = replace(
            result,
            base_p95_ms=None if base.replayed else result.base_p95_ms,
            head_p95_ms=None if head.replayed else result.head_p95_ms,
        )
    return result


def compare_cases(
    base: Sequence[CaseResult],
    head: Sequence[CaseResult],
    *,
    base_model: str = "",
    head_model: str = "",
    metric: Metric = "cases",
    rules: Rules | None = None,
    confidence: float = CONFIDENCE,
    same_cases: bool = False,
    default_significance: bool = True,
) -> RunComparison:
    """``compare_runs`` for bare case results (the Action's base run); ``default_significance=False``
    applies only the configured rules, as the gate does."""
    comparable(base, head, same_cases=same_cases)
    rules = rules or Rules()
    base_sums, head_sums = totals(base), totals(head)
    result = RunComparison(
        metric=metric,
        base_model=base_model,
        head_model=head_model,
        base_rate=pass_rate(base, metric),
        head_rate=pass_rate(head, metric),
        cases=compare(head, base, metric=metric),
        score=score_delta(base, head, metric, confidence),
        base_cost_usd=base_sums.cost_usd,
        head_cost_usd=head_sums.cost_usd,
        base_p95_ms=base_sums.latency_p95_ms,
        head_p95_ms=head_sums.latency_p95_ms,
        identity_changes=identity_changes(base, head),
    )
    reasons = regression_reasons(result, rules, default_significance=default_significance)
    return replace(result, reasons=tuple(reasons))


def regression_reasons(
    result: RunComparison, rules: Rules, *, default_significance: bool = True
) -> list[str]:
    """The gate's base-comparison rules applied to a comparison; empty when nothing regressed."""
    reasons = base_rule_reasons(
        result.cases.newly_failing,
        result.base_rate[0] if result.base_rate[2] else None,
        result.head_rate[0],
        max_drop=rules.max_drop,
        no_new_failures=rules.no_new_failures,
    )
    score = result.score
    if default_significance and rules.max_drop is None and score is not None and score.significant_drop:
        reasons.append(
            f"score dropped {-score.delta * 100:.1f} pt over {score.cases} shared cases, "
            f"{int(CONFIDENCE * 100)}% interval [{score.low * 100:+.1f}, {score.high * 100:+.1f}] pt "
            "entirely below zero"
        )
    return reasons


def case_score(case: CaseResult, metric: Metric) -> float:
    """Share of trials passed (``cases``) or of checks passed (``checks``) for one case."""
    if metric == "checks":
        passed, total = check_counts(case)
        return passed / total if total else 0.0
    return case.trials_passed / len(case.trials) if case.trials else 0.0


def score_delta(
    base: Sequence[CaseResult], head: Sequence[CaseResult], metric: Metric, confidence: float = CONFIDENCE
) -> ScoreDelta | None:
    """Paired mean delta over shared case ids with a t interval; ``None`` without shared cases."""
    by_id = {c.id: c for c in base}
    pairs = [(by_id[c.id], c) for c in head if c.id in by_id]
    if not pairs:
        return None
    b = [case_score(x, metric) for x, _ in pairs]
    h = [case_score(y, metric) for _, y in pairs]
    diffs = [y - x for x, y in zip(b, h, strict=True)]
    n = len(diffs)
    mean = sum(diffs) / n
    if n > 1:
        var = sum((d - mean) ** 2 for d in diffs) / (n - 1)
        half = t_quantile(1 - (1 - confidence) / 2, n - 1) * math.sqrt(var / n)
    else:
        half = math.inf if diffs[0] else 0.0  # one case: no spread to estimate, no claim either way
    return ScoreDelta(
        base=sum(b) / n,
        head=sum(h) / n,
        delta=mean,
        low=max(-1.0, mean - half),
        high=min(1.0, mean + half),
        cases=n,
        base_trials=sum(len(x.trials) for x, _ in pairs),
        head_trials=sum(len(y.trials) for _, y in pairs),
    )


def t_quantile(p: float, df: int) -> float:
    """Student's t quantile (0.5 < p < 1): bisection on the exact CDF up to 100 degrees of freedom,
    a Cornish-Fisher series (error < 1e-4 there) above."""
    if df <= 100:
        low, high = 0.0, 1.0
        while _t_cdf(high, df) < p:
            high *= 2
        for _ in range(80):
            mid = (low + high) / 2
            low, high = (mid, high) if _t_cdf(mid, df) < p else (low, mid)
        return (low + high) / 2
    z = NormalDist().inv_cdf(p)
    z2 = z * z
    return (
        z
        + z * (z2 + 1) / (4 * df)
        + z * (5 * z2**2 + 16 * z2 + 3) / (96 * df**2)
        + z * (3 * z2**3 + 19 * z2**2 + 17 * z2 - 15) / (384 * df**3)
        + z * (79 * z2**4 + 776 * z2**3 + 1482 * z2**2 - 1920 * z2 - 945) / (92160 * df**4)
    )


def _t_cdf(t: float, df: int) -> float:
    """P(T <= t) for t >= 0 and integer ``df``: the finite trigonometric series (A&S 26.7.3-4)."""
    theta = math.atan(t / math.sqrt(df))
    s, c2 = math.sin(theta), math.cos(theta) ** 2
    if df % 2:
        term, total = math.cos(theta), math.cos(theta) if df > 1 else 0.0
        for k in range(3, df - 1, 2):  # cos(θ) (1 + 2/3 cos²θ + 2·4/(3·5) cos⁴θ + ...)
            term *= c2 * (k - 1) / k
            total += term
        a = 2 / math.pi * (theta + s * total)
    else:
        term, total = 1.0, 1.0
        for k in range(2, df - 1, 2):  # 1 + 1/2 cos²θ + 1·3/(2·4) cos⁴θ + ...
            term *= c2 * (k - 1) / k
            total += term
        a = s * total
    return (1 + a) / 2


def identity_of(case: CaseResult) -> Identity:
    """The model ids and fingerprints over a case's answered trials, in first-seen order."""
    done = [t.completion for t in case.trials if t.completion is not None]
    models = tuple(dict.fromkeys(c.model for c in done))
    prints = tuple(dict.fromkeys(c.system_fingerprint for c in done if c.system_fingerprint))
    return Identity(models, prints)


def identity_changes(base: Sequence[CaseResult], head: Sequence[CaseResult]) -> tuple[IdentityChange, ...]:
    """Shared cases whose answering model id or fingerprint differs (unanswered sides make no claim)."""
    by_id = {c.id: c for c in base}
    out = []
    for case in head:
        before = by_id.get(case.id)
        if before is None:
            continue
        b, h = identity_of(before), identity_of(case)
        if not b.models or not h.models:
            continue
        models_moved = set(b.models) != set(h.models)
        prints_moved = bool(b.fingerprints and h.fingerprints) and set(b.fingerprints) != set(h.fingerprints)
        if models_moved or prints_moved:
            out.append(IdentityChange(case.id, b, h))
    return tuple(out)


def identity_summary(changes: Sequence[IdentityChange]) -> list[tuple[str, str, int]]:
    """Changes grouped as (base identity, head identity, number of cases), most common first."""
    counts: dict[tuple[str, str], int] = {}
    for change in changes:
        key = (change.base.short(), change.head.short())
        counts[key] = counts.get(key, 0) + 1
    return [(b, h, n) for (b, h), n in sorted(counts.items(), key=lambda kv: -kv[1])]


def base_comparison(
    head: Sequence[CaseResult], base: Sequence[CaseResult], gate: GateConfig
) -> tuple[Comparison, str | None]:
    """The Action's comparison with the base run, and one line for the PR comment (paired delta, identity).

    Only the configured rules count here (the gate decides with ``decide(..., baseline=...)``); a base
    that is not a run of the same suite still gets the per-case moves, without a paired delta.
    """
    try:
        result = compare_cases(base, head, metric=gate.metric, default_significance=False)
    except NotComparable as exc:
        return compare(head, base, metric=gate.metric), f"base comparison without a paired delta: {exc}"
    parts = []
    if result.score is not None:
        s = result.score
        delta = f"{s.delta * 100:+.1f} pt [{s.low * 100:+.1f}, {s.high * 100:+.1f}]".replace("-", "−")
        parts.append(f"score vs base {delta} ({int(CONFIDENCE * 100)}% CI, {s.cases} paired cases)")
    moved = identity_summary(result.identity_changes)
    if moved:
        from evalgate.report.escape import md  # the line is Markdown; model ids come from the server

        n = len(result.identity_changes)
        before, after = md(moved[0][0], 120), md(moved[0][1], 120)
        parts.append(f"model identity changed on {n} case{'s' if n != 1 else ''}: {before} → {after}")
    return result.cases, "; ".join(parts) or None
