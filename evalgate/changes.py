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
