"""``evalgate upgrade CANDIDATE``: the suite with the current pin and the candidate side by side, then a
pull request that changes only the pin — or, when the candidate fails the gate, no pull request.

Both runs use one temporary git worktree of ``HEAD``: first as committed, then with the pin edits of
``evalgate pin set`` applied, so the candidate run sees exactly the tree the pull request proposes (same
cases, same prompts, same judge unless the judge's own pin held the same value). The pull request is made
through the API from that same commit: a branch, one contents commit per edited file, the PR.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from evalgate.compare import Rules, RunComparison, compare_runs
from evalgate.errors import ConfigError, InfrastructureError
from evalgate.gate import decide, fmt_pct
from evalgate.pinfiles import PinEdit, plan_set, read_pins, repo_root, write_edit
from evalgate.report.comparison import code, render_comparison_markdown
from evalgate.report.escape import md
from evalgate.results import GateVerdict, RunResult

if TYPE_CHECKING:
    from evalgate.githubwatch import WatchClient

MARKER = "<!-- evalgate-upgrade -->"


@dataclass(frozen=True)
class UpgradeResult:
    """Both runs, their comparison, the candidate's gate verdict and the pin edit."""

    commit: str
    edit: PinEdit
    current: RunResult
    candidate: RunResult
    comparison: RunComparison
    verdict: GateVerdict


def run_side_by_side(
    config: Path, candidate: str, *, use_cache: bool = False, say: Callable[[str], None] = print
) -> UpgradeResult:
    """Run the suite at ``HEAD`` with the current pin, then with ``candidate``; judge the candidate."""
    from evalgate.config import load_config
    from evalgate.evaluation import RunOptions, execute, load_project
    from evalgate.gitlocal import LocalGit

    config = config.resolve()
    root = repo_root(config.parent)
    git = LocalGit(root)
    commit = _head(root)
    try:
        config_rel = config.relative_to(root)
    except ValueError:
        raise ConfigError("the config is not inside the git checkout", file=str(config)) from None
    with git.worktree(commit) as tree:
        tree_config = tree / config_rel
        if not tree_config.is_file():
            raise ConfigError(
                f"{config_rel} is not committed at HEAD",
                fix="commit the config; the upgrade runs what HEAD holds",
            )
        loaded = load_config(tree_config)
        allow = {entry.model: entry.reason for entry in loaded.config.pins.allow}
        edit = plan_set(read_pins(loaded, root=tree), candidate, allow)
        options = RunOptions(use_cache=use_cache)
        say(f"evalgate: running the suite with the current pin {edit.old} at {commit[:12]}")
        project = load_project(tree_config)
        current, _ = execute(project, project.cases, options)
        write_edit(tree, edit)
        say(f"evalgate: running the suite with the candidate pin {candidate}")
        candidate_project = load_project(tree_config)
        ran, _ = execute(candidate_project, candidate_project.cases, options)
    gate = candidate_project.loaded.config.gate
    verdict = decide(ran.cases, gate, baseline=current.cases)
    rules = Rules(max_drop=gate.max_drop, no_new_failures=gate.no_new_failures)
    comparison = compare_runs(current, ran, metric=gate.metric, rules=rules)
    return UpgradeResult(commit, edit, current, ran, comparison, verdict)


def _head(root: Path) -> str:
    import subprocess

    proc = subprocess.run(
        ["git", "-C", str(root), "rev-parse", "--verify", "HEAD^{commit}"],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    if proc.returncode != 0:
        raise InfrastructureError(
            f"cannot read HEAD of {root}: {proc.stderr.strip() or 'not a git checkout'}"
        )
    return proc.stdout.strip()


def branch_name(candidate: str) -> str:
    """``evalgate/model-upgrade/gpt-4o-2025-03-12``: a git-safe branch per candidate."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", candidate).strip("-.") or "candidate"
    return f"evalgate/model-upgrade/{safe}"


def title(result: UpgradeResult) -> str:
    """The pull request's title."""
    return f"Model upgrade: {result.edit.old} → {result.edit.new}"


def body(result: UpgradeResult, run_url: str | None = None) -> str:
    """The pull request body (or the job summary when the candidate fails): what changes and the evidence."""
    edit, verdict = result.edit, result.verdict
    icon = "✅ passes" if verdict.passed else "❌ fails"
    out = [
        MARKER,
        f"## Model upgrade: {md(edit.old, 120)} → {md(edit.new, 120)}",
        "",
        "This pull request changes **only the model pin**, at every `policy.model_pins` location that held "
        "the current pin:",
        "",
    ]
    out += [f"- {code(location)}" for location in edit.moved]
    if edit.kept:
        kept = ", ".join(f"{code(str(k.spec))} ({code(k.value.short(), 80)})" for k in edit.kept)
        out += ["", f"Kept as they are: {kept}"]
    # a judge pinned to the same model at a listed location moves with it: say so rather than "same judge"
    judge = "the judge's pin moved too" if any("#judge." in loc for loc in edit.moved) else "same judge"
    out += [
        "",
        f"The suite ran with both pins on commit {md(result.commit[:12], 12)} (same cases, same prompts, "
        f"{judge}){f' in [this run]({run_url})' if run_url else ''}. The candidate **{icon}** the gate: "
        + "; ".join(md(r, 300) for r in verdict.reasons),
        "",
        render_comparison_markdown(
            result.comparison,
            f"current ({edit.old})",
            f"candidate ({edit.new})",
            title="Candidate vs current pin",
        ),
        "### Before and after merging",
        "",
        "1. This pull request gets its own eval gate run (a pin-only change under the change policy).",
        "2. After merging, roll the model out through the canary ("
        + code(f"canary.target: {{kind: model, stable: {edit.old}, candidate: {edit.new}}}", 300)
        + "), not to all traffic at once.",
        f"3. The drift watch compares against the new pin from its next good run; pass rate now "
        f"{fmt_pct(result.comparison.head_rate[0])}.",
    ]
    return "\n".join(out).rstrip() + "\n"


def open_pull(result: UpgradeResult, client: WatchClient, *, base: str | None, text: str) -> tuple[str, bool]:
    """Push the pin edit to a branch made from the tested commit and open the PR; (url, newly opened)."""
    branch = branch_name(result.edit.new)
    base = base or client.default_branch()
    if client.branch_sha(branch) is None:
        client.create_branch(branch, result.commit)
    for path, content in result.edit.files.items():
        client.write_file(
            path, content, message=f"Pin {result.edit.new} (was {result.edit.old}) at {path}", branch=branch
        )
    existing = client.open_pull(branch)
    if existing is not None:
        return existing, False
    return client.create_pull(title=title(result), body=text, head=branch, base=base), True
