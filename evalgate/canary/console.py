"""What ``canary run`` prints: one line per weight change, settle and look, each with a UTC timestamp.

``2026-11-30T08:31:05Z stage 25% · look 3/24 · extend · n=812/2,431 (canary/stable): <reason>``
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from evalgate.canary.controller import Outcome
    from evalgate.canary.judge import Decision


def stamp(ts: float) -> str:
    """``2026-11-30T08:31:05Z``."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _n(canary: int, stable: int) -> str:
    return f"n={canary:,}/{stable:,} (canary/stable)"


def decision_line(decision: Decision, now: float) -> str:
    """One look: where, which look of how many, the action, the sample sizes and the reason."""
    looks = f"/{decision.planned_looks}" if decision.planned_looks else ""
    action: str = decision.action
    if action == "rollback" and decision.rollback_to:
        action = f"rollback to {decision.rollback_to}%"
    parts = [f"stage {decision.weight}%", f"look {decision.look}{looks}", action]
    if decision.counts is not None:
        parts.append(_n(*decision.counts))
    return f"{stamp(now)} {' · '.join(parts)}: {decision.reason}"


def event_line(record: dict[str, Any], now: float) -> str:
    """A weight change or the end of a settle, as the controller logged it."""
    kind = record.get("kind")
    if kind == "weight":
        return f"{stamp(now)} weight {record.get('weight')}%: {record.get('reason', '')}"
    if kind == "settle":
        return f"{stamp(now)} stage {record.get('weight')}% · {record.get('reason', '')}"
    return f"{stamp(now)} {kind}: {record.get('reason', '')}"


def outcome_line(outcome: Outcome, now: float) -> str:
    """How the run ended; ``--until`` says it stopped as asked, never that it promoted to 100%."""
    weight = "?" if outcome.weight is None else f"{outcome.weight}%"
    if outcome.result == "passed_until":
        return f"{stamp(now)} evalgate canary: {outcome.reason}"
    return f"{stamp(now)} evalgate canary: {outcome.result.replace('_', ' ')} at {weight}: {outcome.reason}"
