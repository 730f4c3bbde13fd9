"""Runs a rollout in real time: set the weight, look at live metrics, let the judge decide, act.

The judge is pure; this module owns the clock, the router, the metric source and the decision log. A
router that keeps failing never leaves traffic at an unknown weight silently: the controller rolls back
to stable, or says loudly that it could not.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

from evalgate.canary.decisionlog import DecisionLog
from evalgate.errors import EvalgateError, InfrastructureError
from evalgate.retry import call_with_retries

if TYPE_CHECKING:
    from evalgate.canary.judge import Decision
    from evalgate.canary.plan import RolloutPlan
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
        """Move traffic and record it; on failure, fall back to stable or raise a loud error."""
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
        self.log.append(
            {"kind": "weight", "weight": weight, "stage": stage, "reason": reason, "actor": "controller"},
            now=self.clock.now(),
        )

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

    def _observe(self, since: float) -> Any:
        return call_with_retries(
            lambda: self.source.observe(since, self.clock.now()),
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
        from evalgate.canary.judge import judge

        last_reason = "no stage ran"
        for index, stage in enumerate(self.plan.stages):
            if self.until is not None and stage.weight > self.until:
                return Outcome(
                    "passed_until", self.plan.stages[index - 1].weight if index else 0, last_reason
                )
            try:
                self.set_weight(stage.weight, f"stage {index + 1}: {stage.weight}%", stage=index)
            except TrafficUnknown as exc:
                return Outcome("infrastructure", None, str(exc))
            except InfrastructureError as exc:
                return Outcome("infrastructure", 0, str(exc))
            if stage.weight >= 100:
                return Outcome("promoted", 100, f"promoted: {last_reason}")
            stage_start = self.clock.now()
            look = 0
            while True:
                self._wait_until(stage_start + (look + 1) * stage.look_every)
                look += 1
                try:
                    obs = self._observe(stage_start)
                except EvalgateError as exc:
                    return self._infrastructure(f"metric source failed: {exc}")
                decision = judge(self.plan, index, look, self.clock.now() - stage_start, obs)
                self._record(decision)
                last_reason = decision.reason
                if decision.action == "rollback":
                    return self._end_with_rollback(decision.reason)
                if decision.action == "hold":
                    return Outcome("held", stage.weight, decision.reason)
                if decision.action == "promote":
                    break
        return Outcome("promoted", 100, last_reason)

    def _end_with_rollback(self, reason: str) -> Outcome:
        try:
            self.rollback(reason)
        except InfrastructureError as exc:
            return Outcome("infrastructure", None, str(exc))
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
