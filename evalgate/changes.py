"""What a pull request changed, as plain values shared by the GitHub client and the path policy."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ChangedFile:
    """One file of a pull request's diff, as GitHub's ``pulls/{n}/files`` lists it.

    ``status`` is GitHub's: added, removed, modified, renamed, copied, changed or unchanged.
    ``previous_filename`` is set for renames (and copies), so a move out of a watched path still counts.
    """

    filename: str
    status: str
    previous_filename: str | None = None


@dataclass(frozen=True, slots=True)
class PullInfo:
    """A pull request as GitHub reports it now: the facts a ``workflow_run`` stage may trust."""

    number: int
    head_sha: str
    base_sha: str
    state: str
    head_repo: str | None
    base_repo: str | None
    labels: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Review:
    """One pull request review: who, what (APPROVED, CHANGES_REQUESTED, ...), and on which commit."""

    login: str
    state: str
    commit_id: str | None
