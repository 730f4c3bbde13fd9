"""The canary judge: one look at live traffic in, one decision out. Pure: no clock, no I/O.

The controller passes the observation of the stage's judged window (from the end of the settle to now)
and the look history: how many records each arm got in each look. Rules, in this order, at every look
of a non-final stage:

a. No data: no new record from either arm for ``max_silence`` -> ``no_data``, handled by
   ``on_no_data`` (rollback to 0, the default, or hold). Silence is not evidence: a stage never
   promotes on the records of looks long past.
b. No traffic on one arm: an arm got nothing for at least one look while the other served so many
   requests (discounted by their burstiness) that the weight cannot explain it (p below the SRM
   threshold) -> rollback to 0, "routing is not applying the weight".
c. Sample-ratio mismatch: once both arms have ``min_samples`` (units or requests), the split is tested
   against the weight: on routing units (by the arm of their first record) when records name them,
   else a dispersion-adjusted chi-square over the source's sub-windows (or the looks), which stays
   valid when routers assign whole users. The threshold is ``SRM_P`` (0.001) split over the planned
   looks, like alpha -> rollback to 0; the reason names the test.
d. A guard breached with confidence -> rollback to the stage's ``rollback_to``.
e. Per metric, an interval at the per-look alpha (``alpha / planned_looks``; see ``verdicts``). Any
   critical regression -> rollback to ``rollback_to``. All critical metrics pass -> promote once
   ``min_duration`` of *counted* looks (each arm got ``min_new_samples`` new records) has passed and the
   current look counted; extend before. Otherwise extend until ``max_duration``, then
   ``on_inconclusive`` (rollback to ``rollback_to``, or hold). Non-critical metrics are reported but
   neither roll back nor hold the stage.

The final 100% stage is the promotion itself: the judge is not called there (it raises).
Reasons are one sentence with the numbers; sample sizes read ``n=canary/stable``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any, Literal

from evalgate.canary.observations import LookCounts, Observation
from evalgate.canary.plan import RolloutPlan, Stage, format_duration
from evalgate.canary.split import (
    counted,
    counted_seconds,
    describe_test,
    looks_from_batches,
    no_traffic,
    silence,
    split_test,
    utc,
)
from evalgate.canary.stats import SplitTest, looks_alpha
from evalgate.canary.verdicts import MetricResult, finite, judge_metric, n_pair, signed

__all__ = ["SRM_P", "Decision", "MetricResult", "format_status", "judge", "planned_looks", "srm_threshold"]

Action = Literal["promote", "extend", "hold", "rollback"]  # promote = advance to the next stage
Cause = Literal["no_data", "no_traffic", "srm", "guard", "regression", "inconclusive"]
SRM_P = 0.001
STATUS_MAX_CHARS = 140


@dataclass(frozen=True)
class Decision:
    """What to do after one look, with one sentence of reason and the numbers behind it.

    ``cause`` says why a stage rolls back or holds; ``rollback_to`` is the weight a rollback leaves;
    ``counted_s`` the time of looks with fresh data in both arms; ``srm_test`` the split test used.
    """

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
    cause: Cause | None = None
    rollback_to: int | None = None
    counted_s: float = 0.0
    srm_test: str | None = None
    new: tuple[int, int] | None = None  # (canary, stable) records this look brought
    counts: tuple[int, int] | None = None  # (canary, stable) records in the judged window so far

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, stable keys (the field order)."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["srm_p"] = finite(self.srm_p)
        out["metrics"] = [m.to_dict() for m in self.metrics]
        out["new"] = None if self.new is None else list(self.new)
        out["counts"] = None if self.counts is None else list(self.counts)
        return out


def planned_looks(stage: Stage) -> int:
    """How many looks a stage gets before ``max_duration``: ``ceil(max_duration / look_every)``."""
    return stage.looks


def srm_threshold(stage: Stage) -> float:
    """The p-value below which a look calls the routing broken: ``SRM_P`` split over the planned looks."""
    return SRM_P / max(1, planned_looks(stage))


def judge(
    plan: RolloutPlan,
    stage: int,
    look: int,
    elapsed_s: float,
    obs: Observation,
    *,
    history: Sequence[LookCounts] | None = None,
    until: int | None = None,
) -> Decision:
    """Decide what to do after one look at stage ``stage`` (an index into ``plan.stages``).

    ``history`` holds the records per arm of every look so far, this one last; without it the looks are
    rebuilt from the source's sub-windows, or else the whole observation counts as one look. ``until``
    (``--until``) turns the promotion past that weight into a stop.
    """
    current = plan.stages[stage]
    if current.final:
        raise ValueError("the 100% stage is the promotion itself and is not judged")
    n_s, n_c = obs.counts.get("stable", 0), obs.counts.get("canary", 0)
    looks_seen = (
        tuple(history)
        if history
        else looks_from_batches(obs, current) or (LookCounts(n_s, n_c, -elapsed_s, 0.0),)
    )
    looks = planned_looks(current)
    alpha = looks_alpha(plan.alpha, looks)
    results = tuple(judge_metric(m, obs, current, alpha) for m in plan.metrics)
    test = split_test(obs, looks_seen, current)
    ctx = _Context(plan, stage, current, elapsed_s, obs, looks_seen, results, test, until)
    action, cause, reason = ctx.decide()
    last = looks_seen[-1]
    return Decision(
        action=action,
        stage=stage,
        weight=current.weight,
        look=look,
        reason=reason,
        metrics=results,
        srm_p=None if test is None else test.p,
        elapsed_s=elapsed_s,
        planned_looks=looks,
        cause=cause,
        rollback_to=ctx.target(cause) if action == "rollback" else None,
        counted_s=counted_seconds(looks_seen, current.min_new),
        srm_test=None if test is None else test.test,
        new=(last.canary, last.stable),
        counts=(n_c, n_s),
    )


def _p(p: float) -> str:
    return f"p={p:.1e}" if p > 0 else "p<1e-300"


def _more(items: list[MetricResult], what: str) -> str:
    extra = len(items) - 1
    if not extra:
        return ""
    noun, be = ("metric", "is") if extra == 1 else ("metrics", "are")
    return f", and {extra} more {noun} {what.format(be=be)}"


_Result = tuple[Action, "Cause | None", str]


@dataclass(frozen=True)
class _Context:
    plan: RolloutPlan
    index: int
    stage: Stage
    elapsed_s: float
    obs: Observation
    history: tuple[LookCounts, ...]
    results: tuple[MetricResult, ...]
    test: SplitTest | None
    until: int | None

    def target(self, cause: Cause | None) -> int:
        # Broken routing and missing data leave nothing to trust at any weight: back to stable.
        return 0 if cause in ("no_data", "no_traffic", "srm") else self.stage.rollback_to

    def rolling_back(self, cause: Cause) -> str:
        to = self.target(cause)
        return f"rolling back to {to}%" if to else "rolling back"

    def decide(self) -> _Result:
        for check in (self._no_data, self._no_traffic, self._mismatch, self._metrics):
            decided = check()
            if decided is not None:
                return decided
        raise AssertionError("unreachable: _metrics always decides")

    def _no_data(self) -> _Result | None:
        quiet = silence(self.history, None)
        if quiet is None or quiet.seconds < self.stage.max_silence_s - 1e-6:
            return None
        since = utc(quiet.since) if quiet.since > 0 else "the stage began"
        head = (
            f"no requests from either arm since {since} ({format_duration(quiet.seconds)}, max_silence "
            f"{format_duration(self.stage.max_silence_s)}): the source or the app is silent and stale data "
            "is not judged"
        )
        if self.plan.on_no_data == "hold":
            return "hold", "no_data", f"{head}; holding at {self.stage.weight}% (on_no_data: hold)"
        return "rollback", "no_data", f"{head}; {self.rolling_back('no_data')} (on_no_data: rollback)"

    def _no_traffic(self) -> _Result | None:
        found = no_traffic(self.obs, self.history, self.stage, srm_threshold(self.stage))
        if found is None:
            return None
        quiet, p = found
        arm = quiet.arm or "canary"
        other = "stable" if arm == "canary" else "canary"
        since = utc(quiet.since) if quiet.since > 0 else "the stage began"
        return (
            "rollback",
            "no_traffic",
            (
                f"no {arm} traffic: routing is not applying the weight (0 {arm} requests since {since} while "
                f"{other} served {quiet.other:,}; at {self.stage.weight}% that has {_p(p)}), "
                f"{self.rolling_back('no_traffic')}"
            ),
        )

    def _mismatch(self) -> _Result | None:
        test = self.test
        if test is None or test.p >= srm_threshold(self.stage):
            return None
        return (
            "rollback",
            "srm",
            (
                f"traffic split is {test.share * 100:.1f}% canary, configured {self.stage.weight}%: the "
                f"rollout mechanics are broken (sample-ratio mismatch {_p(test.p)}, {describe_test(test)}), "
                f"{self.rolling_back('srm')}"
            ),
        )

    def _metrics(self) -> _Result:
        w = self.stage.weight
        guards = [r for r in self.results if r.verdict == "guard"]
        if guards:
            return (
                "rollback",
                "guard",
                (
                    f"{guards[0].name} {guards[0].reason}{_more(guards, 'breached a guard')}: "
                    f"{self.rolling_back('guard')}"
                ),
            )
        critical = [r for r in self.results if r.critical]
        regressions = [r for r in critical if r.verdict == "regression"]
        if regressions:
            first = regressions[0]
            return (
                "rollback",
                "regression",
                (
                    f"{first.name} {first.reason}{_more(regressions, 'regressed')}: "
                    f"{self.rolling_back('regression')}"
                ),
            )
        side = [r for r in self.results if not r.critical and r.verdict == "regression"]
        side_note = f"; non-critical {', '.join(r.name for r in side)} regressed" if side else ""
        pending = [r for r in critical if r.verdict != "pass"]
        if not pending:
            return self._all_pass(critical[0], side_note)
        first = pending[0]
        what = f"{first.name} {first.reason}{_more(pending, '{be} inconclusive')}"
        elapsed = format_duration(self.elapsed_s)
        if self.elapsed_s < self.stage.max_duration:
            limit = format_duration(self.stage.max_duration)
            return "extend", None, f"{what}{side_note}: extending at {w}% ({elapsed} of at most {limit})"
        if self.plan.on_inconclusive == "hold":
            return (
                "hold",
                "inconclusive",
                (f"{what} after {elapsed}{side_note}: holding at {w}% (on_inconclusive: hold)"),
            )
        return (
            "rollback",
            "inconclusive",
            (
                f"{what} after {elapsed}{side_note}: {self.rolling_back('inconclusive')} "
                "(on_inconclusive: rollback)"
            ),
        )

    def _all_pass(self, head: MetricResult, side_note: str) -> _Result:
        w, need = self.stage.weight, self.stage.min_new
        last = self.history[-1]
        fresh = format_duration(counted_seconds(self.history, need))
        minimum = format_duration(self.stage.min_duration)
        if not counted(last, need):
            return (
                "extend",
                None,
                (
                    "all critical metrics pass, but this look brought only "
                    f"{n_pair(last.canary, last.stable)} new records ({need:,} needed per arm), so it "
                    f"does not count and nothing is promoted on stale data{side_note}: extending at {w}% "
                    f"({fresh} of fresh data of the {minimum} minimum)"
                ),
            )
        if counted_seconds(self.history, need) < self.stage.min_duration - 1e-6:
            return (
                "extend",
                None,
                (
                    f"all critical metrics pass but only {fresh} of fresh data of the {minimum} minimum has "
                    f"been seen{side_note}: extending at {w}%"
                ),
            )
        nxt = self.plan.stages[self.index + 1].weight
        if self.until is not None and nxt > self.until:
            ending = f"stage passed; stopping at {w}% as asked (--until {self.until})"
        else:
            ending = f"promoting from {w}% to {nxt}%"
        return (
            "promote",
            None,
            (
                f"all critical metrics pass after {fresh} of fresh data, and {head.name} {head.reason}"
                f"{side_note}: {ending}"
            ),
        )


# --- status line ------------------------------------------------------------------------------


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
    text = f"{name}Δ {signed(head.delta * 100)}{unit}"
    return text + (f" [{signed(ci[0] * 100)}, {signed(ci[1] * 100)}]" if ci else "")


_CAUSE_STATUS = {
    "no_data": "no data",
    "no_traffic": "no traffic on one arm",
    "srm": "traffic split mismatch",
}


def format_status(decision: Decision) -> str:
    """A GitHub deployment status line (<= 140 chars): ``25% · look 3/6 · Δ −0.4 pt [−1.9, +1.1] · n=812``."""
    looks = f"/{decision.planned_looks}" if decision.planned_looks else ""
    parts = [f"{decision.weight}%", f"look {decision.look}{looks}"]
    if decision.cause in _CAUSE_STATUS:
        text = _CAUSE_STATUS[decision.cause]
        if decision.cause == "srm" and decision.srm_p is not None:
            text += f" ({_p(decision.srm_p)})"
        parts.append(text)
    else:
        head, named = _primary(decision.metrics)
        if head is not None:
            parts += [_metric_status(head, named), f"n={head.n_canary:,}"]
    parts.append(
        decision.action if decision.rollback_to in (None, 0) else f"rollback to {decision.rollback_to}%"
    )
    status = " · ".join(parts)
    return status if len(status) <= STATUS_MAX_CHARS else status[: STATUS_MAX_CHARS - 1] + "…"
