"""Runs a rollout in real time: set the weight, look at live metrics, let the judge decide, act.

The judge is pure; this module owns the clock, the router, the metric source and the decision log. A
router that keeps failing never leaves traffic at an unknown weight silently: the controller rolls back
to stable, or says loudly that it could not.

Each stage: set the weight; wait ``settle`` and log the split observed meanwhile (routers take a while
to apply a weight, so those records are not judged); then look every ``look_every`` at the window from
the end of the settle to now, passing the judge how many records each arm brought in each look (its
test of fresh data). A rollback leaves the weight at the stage's ``rollback_to`` (0 unless set).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

from evalgate.canary.decisionlog import DecisionLog
from evalgate.canary.plan import format_duration
from evalgate.errors import EvalgateError, InfrastructureError
from evalgate.retry import call_with_retries

if TYPE_CHECKING:
    from evalgate.canary.judge import Decision
    from evalgate.canary.observations import Observation
    from evalgate.canary.plan import RolloutPlan, Stage
    from evalgate.canary.routers import Router
    from evalgate.canary.sources import MetricSource

Result = Literal["promoted", "passed_until", "rolled_back", "held", "infrastructure"]
EXIT_CODES: dict[Result, int] = {
    "promoted": 0,
    "passed_until": 0,
    "rolled_back": 1,
    "held": 4,
    "infrastructure": 3,
}
POLL_S = 0.2  # how often a sleeping controller checks the log for a manual override
BATCHES_PER_LOOK = 10  # sub-windows per look for the sample-ratio test, when the source can split


class Clock(Protocol):
    """Time, injectable so tests can run a rollout without waiting for it."""

    def now(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class RealClock:
    """Wall-clock time."""

    def now(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds))


@dataclass(frozen=True)
class Outcome:
    """How a rollout ended, the weight it left traffic at, and the last decision's reason."""

    result: Result
    weight: int | None
    reason: str

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.result]


class TrafficUnknown(InfrastructureError):
    """Even the rollback to stable failed: nobody knows where traffic is; a human must act."""


class Override(Exception):
    """A manual promote or rollback arrived through the decision log."""

    def __init__(self, record: dict[str, Any]) -> None:
        self.record = record
        super().__init__(str(record.get("reason", "")))


@dataclass
class Controller:
    """One rollout of ``plan`` through ``router``, judged on ``source``."""

    plan: RolloutPlan
    router: Router
    source: MetricSource
    log: DecisionLog
    clock: Clock = field(default_factory=RealClock)
    until: int | None = None
    publish: Callable[[Decision], None] | None = None
    on_event: Callable[[dict[str, Any]], None] | None = None  # weight changes and settles, as logged
    router_attempts: int = 4
    source_attempts: int = 4
    retry_sleep: Callable[[float], None] | None = None
    started: float = 0.0

    # router -------------------------------------------------------------------------------------

    def _set(self, weight: int) -> None:
        from evalgate.canary.routers import verify

        def attempt() -> None:
            self.router.set_weight(weight)
            verify(self.router, weight)

        call_with_retries(
            attempt,
            max_attempts=self.router_attempts,
            describe=f"router {self.router.name}",
            sleep=self.retry_sleep,
        )

    def set_weight(self, weight: int, reason: str, *, stage: int | None = None) -> None:
        """Move traffic and record it; on failure, fall back to stable or raise a loud error.

        A human's promote or rollback wins over this write: one logged before it stops the write, and
        one logged while it ran is obeyed next (``_obey`` puts the router back where the human set it).
        """
        self._check_override()
        try:
            self._set(weight)
        except EvalgateError as exc:
            self.log.append(
                {"kind": "router_error", "weight": weight, "reason": str(exc)}, now=self.clock.now()
            )
            if weight == 0:
                raise TrafficUnknown(
                    f"could not move traffic back to stable: {exc}. TRAFFIC MAY STILL BE ON THE CANARY at an "
                    "unknown weight; set the router by hand now"
                ) from None
            self.rollback(f"router failed to set {weight}%: {exc}")
            raise InfrastructureError(
                f"router failed to set {weight}%, rolled back to stable: {exc}"
            ) from None
        self._event(
            {"kind": "weight", "weight": weight, "stage": stage, "reason": reason, "actor": "controller"}
        )
        self._check_override()

    def _event(self, record: dict[str, Any]) -> None:
        stamped = self.log.append(record, now=self.clock.now())
        if self.on_event is not None:
            self.on_event(stamped)

    def rollback(self, reason: str) -> None:
        """Traffic to stable (weight 0), recorded; raises loudly if even that fails."""
        self.set_weight(0, f"rollback: {reason}")

    # looking ------------------------------------------------------------------------------------

    def _wait_until(self, moment: float) -> None:
        while True:
            self._check_override()
            left = moment - self.clock.now()
            if left <= 0:
                return
            self.clock.sleep(min(POLL_S, left))

    def _check_override(self) -> None:
        for record in self.log.read_new():
            if record.get("kind") == "manual":
                raise Override(record)

    def _observe(self, since: float, until: float | None = None) -> Observation:
        end = self.clock.now() if until is None else until
        return call_with_retries(
            lambda: self.source.observe(since, end),
            max_attempts=self.source_attempts,
            describe=f"metric source {self.source.name}",
            sleep=self.retry_sleep,
        )

    def _record(self, decision: Decision) -> None:
        self.log.append({"kind": "decision", **decision.to_dict()}, now=self.clock.now())
        if self.publish is not None:
            self.publish(decision)

    # the rollout --------------------------------------------------------------------------------

    def run(self) -> Outcome:
        """All stages in real time; returns how it ended (manual overrides included)."""
        self.started = self.clock.now()
        self.log.skip_existing()
        try:
            return self._stages()
        except Override as override:
            return self._obey(override.record)

    def _stages(self) -> Outcome:
        last_reason = "no stage ran"
        for index, stage in enumerate(self.plan.stages):
            if self.until is not None and stage.weight > self.until:
                weight = self.plan.stages[index - 1].weight if index else 0
                return Outcome(
                    "passed_until",
                    weight,
                    f"stopped at {weight}% as asked (`--until {self.until}`); promote with "
                    "`evalgate canary promote`",
                )
            try:
                self.set_weight(stage.weight, f"stage {index + 1}: {stage.weight}%", stage=index)
            except TrafficUnknown as exc:
                return Outcome("infrastructure", None, str(exc))
            except InfrastructureError as exc:
                return Outcome("infrastructure", 0, str(exc))
            if stage.weight >= 100:
                return Outcome("promoted", 100, f"promoted: {last_reason}")
            ended = self._stage(index, stage)
            if isinstance(ended, Outcome):
                return ended
            last_reason = ended
        return Outcome("promoted", 100, last_reason)

    def _settle(self, index: int, stage: Stage) -> float:
        """Wait out the settle, log the split seen meanwhile; returns when judging starts."""
        changed = self.clock.now()
        settle = stage.settle_s
        if settle <= 0:
            return changed
        self._wait_until(changed + settle)
        seen = self._observe(changed, changed + settle)
        n_s, n_c = seen.counts.get("stable", 0), seen.counts.get("canary", 0)
        share = n_c / (n_s + n_c) * 100 if n_s + n_c else None
        split = "no requests" if share is None else f"{share:.1f}% canary, n={n_c:,}/{n_s:,}"
        self._event(
            {
                "kind": "settle",
                "stage": index,
                "weight": stage.weight,
                "seconds": settle,
                "counts": {"canary": n_c, "stable": n_s},
                "share": share,
                "reason": f"settle {format_duration(settle)} after setting {stage.weight}%: observed split "
                f"{split} (not judged)",
            }
        )
        return changed + settle

    def _stage(self, index: int, stage: Stage) -> Outcome | str:
        """Look until the judge decides; the Outcome that ends the run, or the reason of the promotion."""
        from evalgate.canary.judge import judge
        from evalgate.canary.observations import LookCounts

        if hasattr(self.source, "batch_s"):
            # sources that can split a window report sub-windows for the dispersion-adjusted SRM test
            setattr(self.source, "batch_s", stage.look_every / BATCHES_PER_LOOK)  # noqa: B010
        try:
            start = self._settle(index, stage)
        except EvalgateError as exc:
            return self._infrastructure(f"metric source failed: {exc}")
        history: list[LookCounts] = []
        seen = {"stable": 0, "canary": 0}
        look, previous = 0, start
        while True:
            self._wait_until(start + (look + 1) * stage.look_every)
            look += 1
            try:
                obs = self._observe(start)
            except EvalgateError as exc:
                return self._infrastructure(f"metric source failed: {exc}")
            now = self.clock.now()
            counts = {arm: obs.counts.get(arm, 0) for arm in ("stable", "canary")}
            new = {arm: max(0, counts[arm] - seen[arm]) for arm in counts}
            seen = counts
            history.append(LookCounts(new["stable"], new["canary"], previous, now))
            previous = now
            decision = judge(
                self.plan, index, look, now - start, obs, history=tuple(history), until=self.until
            )
            self._record(decision)
            if decision.action == "rollback":
                return self._end_with_rollback(decision.reason, decision.rollback_to or 0)
            if decision.action == "hold":
                return Outcome("held", stage.weight, decision.reason)
            if decision.action == "promote":
                return decision.reason

    def _end_with_rollback(self, reason: str, to: int = 0) -> Outcome:
        try:
            if to:
                self.set_weight(
                    to,
                    f"rollback to {to}% (the stage's rollback_to): {reason}; `evalgate canary rollback` "
                    "takes it to 0",
                )
            else:
                self.rollback(reason)
        except InfrastructureError as exc:
            return Outcome("infrastructure", None if isinstance(exc, TrafficUnknown) else 0, str(exc))
        if to:
            return Outcome(
                "rolled_back",
                to,
                f"{reason}; the weight stays at {to}%, `evalgate canary rollback` takes it to 0",
            )
        return Outcome("rolled_back", 0, reason)

    def _infrastructure(self, reason: str) -> Outcome:
        try:
            self.rollback(reason)
        except InfrastructureError as exc:
            return Outcome("infrastructure", None, f"{reason}; {exc}")
        return Outcome("infrastructure", 0, f"{reason}; traffic is back on stable")

    def _obey(self, record: dict[str, Any]) -> Outcome:
        action = record.get("action")
        reason = f"manual {action} by {record.get('actor', 'someone')}: {record.get('reason', '')}".rstrip(
            ": "
        )
        weight = 100 if action == "promote" else 0
        # the controller may have written its own weight after the human's (a write already under way when
        # the override was logged): the human's weight is put back and verified before the run says so
        try:
            self._set(weight)
        except EvalgateError as exc:
            self.log.append(
                {"kind": "router_error", "weight": weight, "reason": str(exc)}, now=self.clock.now()
            )
            return Outcome(
                "infrastructure",
                None,
                f"{reason}; the router could not be set back to {weight}%: {exc}. TRAFFIC MAY BE AT AN "
                "UNKNOWN WEIGHT; set the router by hand now",
            )
        if action == "promote":
            return Outcome("promoted", 100, reason)
        return Outcome("rolled_back", 0, reason)


def manual(
    action: Literal["promote", "rollback"],
    *,
    router: Router,
    log: DecisionLog,
    actor: str,
    reason: str,
    retry_sleep: Callable[[float], None] | None = None,
) -> int:
    """A human's override: move the router (100 or 0), verify, and record who did it and why."""
    from evalgate.canary.routers import verify

    weight = 100 if action == "promote" else 0

    def attempt() -> None:
        router.set_weight(weight)
        verify(router, weight)

    call_with_retries(attempt, max_attempts=4, describe=f"router {router.name}", sleep=retry_sleep)
    log.append({"kind": "manual", "action": action, "weight": weight, "actor": actor, "reason": reason})
    return weight
