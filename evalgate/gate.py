"""The gate: a pure function from case results and a gate config to a verdict with reasons."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

# the schema lives in gateconfig (loading a config needs nothing else from here); its names stay importable
from evalgate.gateconfig import Fraction as Fraction
from evalgate.gateconfig import GateConfig as GateConfig
from evalgate.gateconfig import Metric as Metric
from evalgate.gateconfig import ReadinessKey as ReadinessKey
from evalgate.results import CaseResult, GateVerdict
from evalgate.stats import paired_regression

# Rates like 17/20 and a threshold of 0.85 are the same double, but a threshold computed elsewhere
# (85 / 100, 1 - 0.15) may be one ulp off; "exactly equal passes" must survive that.
_EPS = 1e-9
_DETAIL_CHARS = 160
_IDS_SHOWN = 10


@dataclass(frozen=True, slots=True)
class Totals:
    """Run-wide sums: cost (None if no case reported one), latency percentiles, errors, fallbacks."""

    cost_usd: float | None
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    errors: int
    fallback_cases: int


@dataclass(frozen=True, slots=True)
class Comparison:
    """How each case id moved between a baseline run and the current one (ids in current-run order)."""

    newly_failing: tuple[str, ...] = ()
    flaky: tuple[str, ...] = ()
    fixed: tuple[str, ...] = ()
    still_failing: tuple[str, ...] = ()
    unchanged_passing: tuple[str, ...] = ()
    new: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    metric: Metric = "cases"
    base_value: float | None = None
    base_passed: int = 0
    base_total: int = 0
    base_cost_usd: float | None = None
    base_latency_p95_ms: float | None = None
    # the base's results of the cases whose status changed, for side-by-side views
    base_cases: tuple[CaseResult, ...] = ()


def parse_fraction(text: str, example: str = "0.85 or 85%") -> float:
    """``0.85`` or ``85%`` as a fraction in [0, 1]; else ``ValueError`` saying what is wrong."""
    try:
        value = float(text.rstrip("%")) / (100 if text.endswith("%") else 1)
    except ValueError:
        raise ValueError(f"is not a number like {example}") from None
    if not 0 <= value <= 1:
        raise ValueError("must be between 0 and 1 (or 0% and 100%)")
    return value


def fmt_pct(rate: float, digits: int = 1) -> str:
    """A fraction as a percentage: ``0.825`` -> ``82.5%``."""
    return f"{rate * 100:.{digits}f}%"


def fmt_pct_short(rate: float) -> str:
    """A percentage without a trailing ``.0``: ``0.85`` -> ``85%``, ``0.875`` -> ``87.5%``."""
    return fmt_pct(rate).replace(".0%", "%")


def fmt_usd(amount: float, digits: int = 2) -> str:
    """Dollars with thousands separators; sub-cent amounts keep four decimals."""
    if 0 < amount < 0.01:
        digits = max(digits, 4)
    return f"${amount:,.{digits}f}"


def fmt_ms(ms: float) -> str:
    """Milliseconds rounded, with thousands separators: ``2340.2`` -> ``2,340 ms``."""
    return f"{ms:,.0f} ms"


def percentile(values: Iterable[float], q: float) -> float | None:
    """Nearest-rank ``q``-th percentile (0 < q <= 100): the smallest value with q% of values <= it."""
    ordered = sorted(values)
    if not ordered:
        return None
    rank = max(1, math.ceil(q * len(ordered) / 100))
    return ordered[rank - 1]


def totals(cases: Sequence[CaseResult]) -> Totals:
    """Cost, p50/p95 case latency (nearest rank), error and fallback counts of a run."""
    costs = [c for c in (case.cost_usd for case in cases) if c is not None]
    latencies = [v for v in (case.latency_ms for case in cases) if v is not None]
    return Totals(
        cost_usd=sum(costs) if costs else None,
        latency_p50_ms=percentile(latencies, 50),
        latency_p95_ms=percentile(latencies, 95),
        errors=sum(1 for case in cases if case.status == "error"),
        fallback_cases=sum(1 for case in cases if case.fallback),
    )


def check_counts(case: CaseResult) -> tuple[int, int]:
    """Checks passed and counted for one case; an error counts as one check, an unchecked case as none."""
    checks = case.checks
    if case.status == "unchecked":
        return 0, 0
    if case.status == "error":
        return 0, max(len(checks), 1)
    if not checks:
        return (1 if case.passed else 0), 1
    return sum(1 for c in checks if c.passed), len(checks)


def pass_rate(cases: Sequence[CaseResult], metric: Metric = "cases") -> tuple[float, int, int]:
    """The pass rate with its passed and total counts under ``metric``; 0.0 when nothing was counted.

    Unchecked cases (outputs collected, nothing asserted) count in neither the passed nor the total.
    """
    if metric == "cases":
        counted_cases = [c for c in cases if c.status != "unchecked"]
        passed, total = sum(1 for c in counted_cases if c.passed), len(counted_cases)
    else:
        passed = total = 0
        for case in cases:
            p, t = check_counts(case)
            passed += p
            total += t
    return (passed / total if total else 0.0), passed, total


def decide(
    cases: Sequence[CaseResult],
    config: GateConfig,
    *,
    threshold_override: float | None = None,
    baseline: Sequence[CaseResult] | None = None,
) -> GateVerdict:
    """Judge a run: a failing verdict lists every broken rule, a passing one says why it passed.

    A budget that cannot be checked (no cost reported, no latency measured, a tag with no cases) fails the
    gate rather than passing silently. ``no_new_failures`` and ``max_drop`` apply only with a baseline.
    """
    threshold = config.threshold if threshold_override is None else threshold_override
    if not 0 <= threshold <= 1:
        raise ValueError(f"threshold must be a fraction in [0, 1], got {threshold!r}")
    value, passed, total = pass_rate(cases, config.metric)
    if not cases:
        return GateVerdict(False, config.metric, 0.0, threshold, ("no cases were run",))

    reasons: list[str] = []
    shown = counted(passed, total, config.metric)
    if not total:  # every case is unchecked: there is no pass rate, and a gate that asserts nothing fails
        reasons.append(
            f"nothing was checked: none of the {len(cases)} cases has a check, so there is no pass rate "
            f"to hold to the threshold {fmt_pct(threshold)}; add checks to the cases or the suite's defaults"
        )
    elif value + _EPS < threshold:
        v, t = _pcts(value, threshold)
        reasons.append(f"pass rate {v} ({shown}) is below the threshold {t}")
    reasons.extend(_required_reasons(cases))
    reasons.extend(_unchecked_reasons(cases, config))
    reasons.extend(_tag_reasons(cases, config))
    reasons.extend(_budget_reasons(cases, config))
    if baseline is not None:
        reasons.extend(_baseline_reasons(cases, baseline, config, value))
    if reasons:
        return GateVerdict(False, config.metric, value, threshold, tuple(reasons))
    ok = [f"pass rate {fmt_pct(value)} ({shown}) meets the threshold {fmt_pct(threshold)}"]
    if baseline is not None and config.no_new_failures:
        ok.append("no case that passed on the base fails now")
    return GateVerdict(True, config.metric, value, threshold, tuple(ok))


def compare(
    current: Sequence[CaseResult], baseline: Sequence[CaseResult], *, metric: Metric = "cases"
) -> Comparison:
    """Classify every case id by how its status moved from ``baseline`` to ``current`` (matched by id).

    With repeats, a case that passed on the base and fails now is ``newly_failing`` only when a paired
    exact test on its trials says the drop is beyond chance; otherwise it is ``flaky``.
    """
    # unchecked cases assert nothing, so they can neither regress nor be fixed
    baseline = [c for c in baseline if c.status != "unchecked"]
    current = [c for c in current if c.status != "unchecked"]
    base = {c.id: c for c in baseline}
    now_ids = {c.id for c in current}
    buckets: dict[str, list[str]] = {
        k: [] for k in ("newly_failing", "flaky", "fixed", "still", "same", "new")
    }
    for case in current:
        before = base.get(case.id)
        if before is None:
            key = "new"
        elif before.passed:
            if case.passed:
                key = "same"
            elif paired_regression([t.passed for t in before.trials], [t.passed for t in case.trials]):
                key = "newly_failing"
            else:
                key = "flaky"
        else:
            key = "fixed" if case.passed else "still"
        buckets[key].append(case.id)
    base_value, base_passed, base_total = pass_rate(baseline, metric)
    base_totals = totals(baseline)
    return Comparison(
        newly_failing=tuple(buckets["newly_failing"]),
        flaky=tuple(buckets["flaky"]),
        fixed=tuple(buckets["fixed"]),
        still_failing=tuple(buckets["still"]),
        unchanged_passing=tuple(buckets["same"]),
        new=tuple(buckets["new"]),
        removed=tuple(dict.fromkeys(c.id for c in baseline if c.id not in now_ids)),
        metric=metric,
        base_value=base_value if baseline else None,
        base_passed=base_passed,
        base_total=base_total,
        base_cost_usd=base_totals.cost_usd,
        base_latency_p95_ms=base_totals.latency_p95_ms,
        base_cases=tuple(
            base[i] for key in ("newly_failing", "flaky", "fixed") for i in buckets[key] if i in base
        ),
    )


def case_detail(case: CaseResult) -> str:
    """Why a case did not pass: its error, or its first failing check's reason."""
    if case.status == "error":
        return case.error or "error"
    if case.status == "unchecked":
        return "no checks: the output was collected, nothing was asserted"
    for check in case.checks:
        if not check.passed:
            return check.reason or f"check '{check.type}' failed"
    return f"{case.trials_passed} of {len(case.trials)} trials passed, {case.min_pass} needed"


# finish/stop reasons of an answer the model completed normally: nothing worth showing
_NORMAL_FINISH = frozenset({"stop", "end_turn", "stop_sequence"})


def answer_note(case: CaseResult) -> str:
    """``refused``, ``cut off (finish_reason length)`` or ``finish_reason tool_use``; '' for a normal stop."""
    if case.refused:
        return "refused"
    reason = case.finish_reason
    if reason is None or reason in _NORMAL_FINISH:
        return ""
    rep = case.representative
    if rep is not None and rep.completion is not None and rep.completion.truncated:
        return f"cut off (finish_reason {reason})"
    return f"finish_reason {reason}"


def _required_reasons(cases: Sequence[CaseResult]) -> list[str]:
    out = []
    for case in cases:
        if case.required and not case.passed:
            verb = "errored" if case.status == "error" else "failed"
            out.append(f"required case {case.id} {verb}: {_one_line(case_detail(case))}")
    return out


def _unchecked_reasons(cases: Sequence[CaseResult], config: GateConfig) -> list[str]:
    unchecked = [c.id for c in cases if c.status == "unchecked"]
    if config.max_unchecked is None or len(unchecked) <= config.max_unchecked:
        return []
    return [
        f"{len(unchecked)} cases have no checks ({_id_list(unchecked)}), more than gate.max_unchecked "
        f"{config.max_unchecked}"
    ]


def _tag_reasons(cases: Sequence[CaseResult], config: GateConfig) -> list[str]:
    out = []
    for tag, limit in config.tags.items():
        tagged = [c for c in cases if tag in c.tags]
        if not tagged:
            out.append(f"tag '{tag}' has no cases, so its threshold {fmt_pct(limit)} cannot be checked")
            continue
        value, passed, total = pass_rate(tagged, config.metric)
        if value + _EPS < limit:
            v, t = _pcts(value, limit)
            shown = counted(passed, total, config.metric)
            out.append(f"tag '{tag}' pass rate {v} ({shown}) is below its threshold {t}")
    return out


def _budget_reasons(cases: Sequence[CaseResult], config: GateConfig) -> list[str]:
    out = []
    sums = totals(cases)
    if config.max_error_rate is not None:
        rate = sums.errors / len(cases)
        if rate > config.max_error_rate + _EPS:
            v, t = _pcts(rate, config.max_error_rate)
            out.append(f"error rate {v} ({sums.errors}/{len(cases)}) exceeds the maximum {t}")
    if config.max_cost_usd is not None:
        budget = fmt_usd(config.max_cost_usd)
        if sums.cost_usd is None:
            out.append(f"total cost is unknown (no case reported one), so the budget {budget} is unchecked")
        elif sums.cost_usd > config.max_cost_usd:
            cost, budget = _distinct(fmt_usd, sums.cost_usd, config.max_cost_usd, 2)
            out.append(f"total cost {cost} exceeds the budget {budget}")
    if config.max_p95_latency_ms is not None:
        budget = fmt_ms(config.max_p95_latency_ms)
        if sums.latency_p95_ms is None:
            out.append(f"p95 latency is unknown (no case answered), so the budget {budget} is unchecked")
        elif sums.latency_p95_ms > config.max_p95_latency_ms:
            out.append(f"p95 latency {fmt_ms(sums.latency_p95_ms)} exceeds the budget {budget}")
    return out


def _baseline_reasons(
    cases: Sequence[CaseResult], baseline: Sequence[CaseResult], config: GateConfig, value: float
) -> list[str]:
    broken = compare(cases, baseline).newly_failing if config.no_new_failures else ()
    base_value = pass_rate(baseline, config.metric)[0] if baseline else None
    return base_rule_reasons(
        broken, base_value, value, max_drop=config.max_drop, no_new_failures=config.no_new_failures
    )


def base_rule_reasons(
    newly_failing: Sequence[str],
    base_value: float | None,
    value: float,
    *,
    max_drop: float | None,
    no_new_failures: bool,
) -> list[str]:
    """The base-comparison rules, one sentence per broken rule (also ``evalgate compare``'s rules)."""
    out = []
    if no_new_failures:
        if len(newly_failing) == 1:
            out.append(f"case {newly_failing[0]} passed on the base but fails now")
        elif newly_failing:
            out.append(
                f"{len(newly_failing)} cases that passed on the base fail now: {_id_list(newly_failing)}"
            )
    if max_drop is not None and base_value is not None:
        drop = base_value - value
        if drop > max_drop + _EPS:
            out.append(
                f"pass rate dropped {drop * 100:.1f} pt from {fmt_pct(base_value)} on the base to "
                f"{fmt_pct(value)}, more than the allowed {max_drop * 100:.1f} pt"
            )
    return out


def as_metric(name: str) -> Metric:
    """A verdict's metric name as a ``Metric`` (anything but ``checks`` means cases)."""
    return "checks" if name == "checks" else "cases"


def counted(passed: int, total: int, metric: Metric) -> str:
    """``33/40`` for cases, ``33/40 checks`` for checks."""
    return f"{passed}/{total}" if metric == "cases" else f"{passed}/{total} checks"


def _pcts(value: float, limit: float) -> tuple[str, str]:
    """Both as percentages, with enough digits that a value just under its limit does not print equal."""
    return _distinct(fmt_pct, value, limit, 1)


def _distinct(fmt: Callable[[float, int], str], a: float, b: float, digits: int) -> tuple[str, str]:
    for d in range(digits, digits + 4):
        if fmt(a, d) != fmt(b, d):
            return fmt(a, d), fmt(b, d)
    return fmt(a, digits), fmt(b, digits)


_SPACE = re.compile(r"\s+")


def _one_line(text: str) -> str:
    flat = _SPACE.sub(" ", text[: _DETAIL_CHARS * 4]).strip()
    return flat if len(flat) <= _DETAIL_CHARS else flat[: _DETAIL_CHARS - 1].rstrip() + "…"


def _id_list(ids: Sequence[str]) -> str:
    shown = ", ".join(ids[:_IDS_SHOWN])
    return shown if len(ids) <= _IDS_SHOWN else f"{shown} and {len(ids) - _IDS_SHOWN} more"
