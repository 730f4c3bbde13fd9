"""A pull request's changed files, from local git or the REST API, and the change policy's verdict on them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from evalgate.errors import InfrastructureError

if TYPE_CHECKING:
    from evalgate.action_env import PullRequest
    from evalgate.changes import ChangedFile
    from evalgate.config import PolicyConfig
    from evalgate.github import GitHubClient
    from evalgate.gitlocal import LocalGit
    from evalgate.policy import PolicyVerdict

Changes = tuple[list["ChangedFile"], Callable[[str], str | None], Callable[[str], str | None]]


def pr_changes(git: LocalGit | None, gh: GitHubClient | None, pr: PullRequest) -> Changes:
    """Changed files and readers for both sides: local git when it has both commits, else the API."""
    if git is not None and git.has_commit(pr.base_sha) and git.has_commit(pr.head_sha):
        # a PR shows the change since the merge base, not since the base branch's current tip
        base = git.merge_base(pr.base_sha, pr.head_sha) or pr.base_sha
        head = pr.head_sha
        return git.changed_files(base, head), lambda p: git.show(base, p), lambda p: git.show(head, p)
    if gh is not None:
        files = gh.pull_files(pr.number)
        return files, lambda p: gh.file_at(p, pr.base_sha), lambda p: gh.file_at(p, pr.head_sha)
    raise InfrastructureError(
        "cannot see the PR's changes: the workspace lacks the base or head commit and there is no token",
        retryable=False,
    )


def classify_change(policy: PolicyConfig, changes: Changes, allow: Mapping[str, str]) -> PolicyVerdict:
    """The change policy's verdict on the PR's files."""
    from evalgate.policy import classify

    files, read_base, read_head = changes
    return classify(files, policy, read_base, read_head, allow)
