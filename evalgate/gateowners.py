"""Who may change the bar: a gate change passes only alone and with an owner's approval on the head commit.

Pure: callers pass the base config's owners, the PR's reviews (oldest first) and today's date.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass

from evalgate.changes import Review
from evalgate.gatechange import GateChanges

REVIEW_MAX_AGE_DAYS = 90
# a later review by the same person replaces an earlier verdict; a plain comment does not
_VERDICT_STATES = ("APPROVED", "CHANGES_REQUESTED", "DISMISSED")
NOT_ALONE = (
    "The bar changes in the same pull request as prompts or model pins: ship the gate change on its own, "
    "so the new bar is not set by the change it judges."
)


@dataclass(frozen=True)
class GateChangeVerdict:
    """Whether the PR's gate changes are acceptable, who approved them, and who could."""

    changes: GateChanges
    owners: tuple[str, ...]
    approved_by: str | None
    passed: bool
    reasons: tuple[str, ...] = ()
    head_sha: str = ""

    def description(self) -> str:
        """At most 140 characters for the policy commit status."""
        n = len(self.changes.changes)
        what = f"gate change ({n} item{'s' if n != 1 else ''})"
        if self.passed:
            return f"{what} approved by {self.approved_by}"[:140]
        if self.approved_by is not None:
            return f"{what} approved by {self.approved_by}, but shipped with prompt or pin changes"[:140]
        who = ", ".join(self.owners) if self.owners else "no gate.owners on the base"
        return f"{what} needs an owner's approval: {who}"[:140]


def approved_by(reviews: Sequence[Review], owners: Sequence[str], head_sha: str) -> str | None:
    """The first owner whose latest verdict is APPROVED on ``head_sha``; ``None`` when there is none."""
    latest: dict[str, Review] = {}
    for review in reviews:
        if review.state.upper() in _VERDICT_STATES:
            latest[review.login.lower()] = review
    for owner in owners:
        last = latest.get(owner.lower())
        if last is not None and last.state.upper() == "APPROVED" and last.commit_id == head_sha:
            return last.login
    return None


def judge_gate_change(
    changes: GateChanges,
    owners: Sequence[str],
    reviews: Sequence[Review],
    head_sha: str,
    *,
    alone: bool,
) -> GateChangeVerdict:
    """A gate change passes when it ships alone and an owner approved the PR's current head."""
    if not changes:
        return GateChangeVerdict(changes, tuple(owners), None, True, (), head_sha)
    approver = approved_by(reviews, owners, head_sha)
    reasons = []
    if not alone:
        reasons.append(NOT_ALONE)
    if approver is None:
        if owners:
            reasons.append(
                f"The pull request changes the bar; it needs an APPROVED review on {head_sha[:12]} by one "
                f"of the gate owners ({', '.join(owners)})."
            )
        else:
            reasons.append(
                "The pull request changes the bar, and the base config names no gate.owners who could "
                "approve it: add gate.owners in a pull request of its own first."
            )
    return GateChangeVerdict(changes, tuple(owners), approver, not reasons, tuple(reasons), head_sha)


def review_warning(reviewed: datetime.date | None, owners: Sequence[str], today: datetime.date) -> str | None:
    """``threshold last reviewed N days ago by …`` when ``gate.reviewed`` is older than 90 days."""
    if reviewed is None:
        return None
    days = (today - reviewed).days
    if days <= REVIEW_MAX_AGE_DAYS:
        return None
    who = ", ".join(owners) if owners else "(no gate.owners named)"
    return (
        f"threshold last reviewed {days} days ago by {who} (gate.reviewed: {reviewed.isoformat()}): "
        "check that it still reflects the quality you need, then update gate.reviewed"
    )
