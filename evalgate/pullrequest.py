"""A pull request's two sides: which files changed (local git or the REST API), and the base's results."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from evalgate.errors import ConfigError, InfrastructureError

if TYPE_CHECKING:
    from evalgate.action_env import PullRequest
    from evalgate.changes import ChangedFile
    from evalgate.config import PolicyConfig
    from evalgate.evaluation import Project
    from evalgate.github import GitHubClient
    from evalgate.gitlocal import LocalGit
    from evalgate.policy import PolicyVerdict
    from evalgate.results import CaseResult

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


def baseline_cases(
    choice: str,
    workspace: Path,
    git: LocalGit | None,
    pr: PullRequest | None,
    project: Project,
    say: Callable[[str], None],
    warn: Callable[[str], None],
) -> tuple[tuple[CaseResult, ...] | None, str | None]:
    """Base results: none, a saved report, or a run of the base commit sharing the response cache."""
    from evalgate.evaluation import RunOptions, execute, load_project
    from evalgate.merge import read_report

    if choice == "none":
        return None, None
    if choice != "auto":
        path = Path(choice)
        run, _ = read_report(path if path.is_absolute() else workspace / path)
        return run.cases, f"baseline: {choice}"
    if pr is None:
        return None, None
    if git is None or not git.has_commit(pr.base_sha):
        return None, (
            "baseline skipped: the base commit is not in the workspace "
            "(use actions/checkout with fetch-depth: 0)"
        )
    base = git.merge_base(pr.base_sha, pr.head_sha) or pr.base_sha
    config_rel = project.loaded.path.relative_to(workspace)
    with git.worktree(base) as tree:
        base_config = tree / config_rel
        if not base_config.is_file():
            return None, f"baseline skipped: {config_rel} does not exist on the base commit"
        try:
            base_project = load_project(base_config)
        except ConfigError as exc:
            warn(f"baseline skipped: the base commit's eval config does not load: {exc}")
            return None, "baseline skipped: the base config does not load"
        runner = project.loaded.config.runner
        shared = project.loaded.resolve(runner.cache_dir) if runner.cache else None
        say(f"evalgate: evaluating the base commit {base[:12]} for comparison")
        run, _ = execute(base_project, base_project.cases, RunOptions(cache_dir=shared))
    return run.cases, f"baseline: base commit {base[:12]}"
