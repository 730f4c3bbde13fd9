"""A pull request's two sides for the Action: the bar from the base commit, the cases from the head.

``bar_project`` turns the head's project into the one that is run (the base's bar, the stricter case
definitions) and lists the gate changes; ``pr_sides`` loads the base in a temporary worktree, and runs it
for the baseline comparison when asked; ``gate_verdict`` reads the reviews and judges the gate changes.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from evalgate.errors import ConfigError, GitHubError, ProviderDown, UsageError
from evalgate.gatechange import GateChanges, gate_changes, stricter_cases, trusted_config

if TYPE_CHECKING:
    from evalgate.action_env import PullRequest
    from evalgate.evaluation import Project, RunOptions
    from evalgate.gateowners import GateChangeVerdict
    from evalgate.github import GitHubClient
    from evalgate.gitlocal import LocalGit
    from evalgate.policy import PolicyVerdict
    from evalgate.results import CaseResult


def bar_project(base: Project | None, head: Project) -> tuple[Project, GateChanges]:
    """The project to run — the head's cases and prompts held to the base's bar — and the gate changes."""
    if base is None:
        return head, gate_changes(None, head.loaded.config, (), head.cases)
    base_cfg = base.loaded.config
    changes = gate_changes(base_cfg, head.loaded.config, base.cases, head.cases)
    loaded = head.loaded.model_copy(update={"config": trusted_config(base_cfg, head.loaded.config)})
    cases = stricter_cases(base.cases, head.cases, base_cfg.gate.tags)
    return replace(head, loaded=loaded, cases=cases), changes


@dataclass(frozen=True)
class Sides:
    """The project to run, the base's project (``None`` when the PR adds the config), the gate changes,
    and the base's results when a baseline run was asked for."""

    project: Project
    base: Project | None
    changes: GateChanges
    base_cases: tuple[CaseResult, ...] | None
    note: str | None


def pr_sides(
    git: LocalGit | None,
    pr: PullRequest,
    workspace: Path,
    head: Project,
    *,
    run_base: bool,
    options: RunOptions,
    say: Callable[[str], None],
) -> Sides:
    """Load the base commit's config and suites (the bar) beside the head's; run the base if asked."""
    from evalgate.evaluation import InterruptedRun, StoppedRun, execute, load_project

    if git is None or not git.has_commit(pr.base_sha) or not git.has_commit(pr.head_sha):
        raise UsageError(
            "the PR's base and head commits are not in the workspace, so the bar cannot be read from the "
            "base branch",
            fix="use actions/checkout with fetch-depth: 0",
        )
    base = git.merge_base(pr.base_sha, pr.head_sha) or pr.base_sha
    config_rel = head.loaded.path.relative_to(workspace)
    with git.worktree(base) as tree:
        config_path = tree / config_rel
        base_project = None
        if config_path.is_file():
            try:
                base_project = load_project(config_path, cache_dir=options.cache_dir)
            except ConfigError as exc:
                raise ConfigError(
                    f"the base commit {base[:12]}'s eval config does not load, so the bar this PR is held "
                    f"to is unknown: {exc}",
                    fix="fix the config on the base branch first",
                ) from None
        project, changes = bar_project(base_project, head)
        changes = replace(changes, base_sha=base)
        base_cases = None
        note = None
        if run_base and base_project is not None:
            say(f"evalgate: evaluating the base commit {base[:12]} for comparison")
            try:
                run, _ = execute(base_project, base_project.cases, options)
            except InterruptedRun:  # a stop, without the base's partial run: it is not this PR's report
                raise KeyboardInterrupt from None
            except StoppedRun as stopped:  # the same: the base's partial run is not this PR's report
                down = ProviderDown(f"the baseline run of the base commit {base[:12]} stopped: {stopped}")
                down.summary = stopped.summary
                raise down from None
            base_cases, note = run.cases, f"baseline: base commit {base[:12]}"
        elif run_base:
            note = f"baseline skipped: {config_rel} does not exist on the base commit"
    return Sides(project, base_project, changes, base_cases, note)


def gate_verdict(
    changes: GateChanges,
    base: Project | None,
    policy: PolicyVerdict | None,
    gh: GitHubClient | None,
    pr: PullRequest,
    warn: Callable[[str], None],
) -> GateChangeVerdict:
    """Judge the gate changes: alone (no prompt or pin change) and approved by a base owner on the head."""
    from evalgate.gateowners import judge_gate_change

    owners = base.loaded.config.gate.owners if base is not None else []
    reviews = []
    if changes and gh is not None:
        try:
            reviews = gh.reviews(pr.number)
        except GitHubError as exc:
            warn(f"could not read the PR's reviews, so no approval counts: {exc}")
    alone = policy is None or (not policy.prompt_files and not policy.pin_changes)
    return judge_gate_change(changes, owners, reviews, pr.head_sha, alone=alone)


def stale_review(base: Project | None, today: datetime.date | None = None) -> str | None:
    """The ``gate.reviewed`` warning of the base config (the bar in force), if it is over 90 days old."""
    from evalgate.gateowners import review_warning

    if base is None:
        return None
    gate = base.loaded.config.gate
    return review_warning(gate.reviewed, gate.owners, today or datetime.datetime.now(datetime.UTC).date())
