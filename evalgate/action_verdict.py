"""The Action's verdict on a pull request, all by the base's bar: the saved or re-run base results it is
compared with, the change policy, the gate changes, readiness and the gate itself; then publish.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from evalgate.action_publish import Outcome, publish
from evalgate.action_session import State, workspace_path
from evalgate.errors import UsageError
from evalgate.gate import Comparison, decide
from evalgate.gatechange import GateChanges
from evalgate.pullrequest import classify_change, pr_changes
from evalgate.report.escape import md
from evalgate.results import GateVerdict, RunResult

if TYPE_CHECKING:
    from evalgate.action_env import ActionInputs, PullRequest
    from evalgate.action_session import Session
    from evalgate.changes import ChangedFile
    from evalgate.evaluation import Project
    from evalgate.gateowners import GateChangeVerdict
    from evalgate.gitlocal import LocalGit
    from evalgate.policy import PolicyVerdict
    from evalgate.prsides import Sides
    from evalgate.readiness import Item as ReadinessItem
    from evalgate.results import CaseResult


def saved_baseline(
    choice: str, workspace: Path, git: LocalGit | None, pr: PullRequest | None
) -> tuple[tuple[CaseResult, ...], str]:
    """A saved baseline report, and where it was read from.

    A file the workflow made during this run (e.g. merged base shards) is read from disk. A file that is
    committed in the checked-out tree belongs to the pull request on a PR, so the base commit's version
    is read instead: a PR must not bring the baseline its own verdict is compared with.
    """
    from evalgate.merge import MAX_ACTION_REPORT_BYTES, read_report
    from evalgate.report import load_json

    path = Path(choice)
    full = path if path.is_absolute() else workspace / path
    try:
        rel = full.resolve().relative_to(workspace.resolve()).as_posix()
    except ValueError:
        rel = None  # outside the workspace: the workflow put it there, not the PR's tree
    if pr is not None and git is not None and rel is not None and git.show("HEAD", rel) is not None:
        text = git.show(pr.base_sha, rel)
        if text is None:
            raise UsageError(
                f"baseline '{rel}' is committed in this pull request but does not exist on the base commit "
                f"{pr.base_sha[:12]}: a pull request cannot supply the baseline it is compared with",
                fix="commit the baseline report on the base branch first, or use baseline: auto",
            )
        if len(text.encode("utf-8")) > MAX_ACTION_REPORT_BYTES:
            raise UsageError(
                f"baseline '{rel}' at {pr.base_sha[:12]} is over the "
                f"{MAX_ACTION_REPORT_BYTES // 2**20} MB limit of the reports the Action reads",
                fix="judge a report this large with the evalgate CLI (evalgate compare)",
            )
        run, _ = load_json(text, source=f"{rel} at {pr.base_sha[:12]}")
        return run.cases, f"{rel} as committed on the base ({pr.base_sha[:12]})"
    run, _ = read_report(full, max_bytes=MAX_ACTION_REPORT_BYTES)
    return run.cases, choice


def judge_and_publish(
    session: Session,
    git: LocalGit | None,
    project: Project,
    run: RunResult,
    base_cases: tuple[CaseResult, ...] | None,
    sides: Sides | None,
    notes: tuple[str, ...],
) -> int:
    """The change policy, the gate changes and the verdict, all by the base's bar; then publish."""
    from evalgate.prsides import gate_verdict, stale_review

    inputs, pr, log = session.inputs, session.pr, session.log
    bar = project.loaded.config  # already the base's bar on a pull request
    policy = gate = None
    if pr is not None:
        allow = {a.model: a.reason for a in bar.pins.allow}
        changed = pr_changes(git, session.gh, pr)
        policy = classify_change(bar.policy, changed, allow)
        planted = cache_files(changed[0], [project, *([sides.base] if sides and sides.base else [])], session)
        if planted:
            shown = ", ".join(md(name, 120) for name in planted[:20])
            more = f" and {len(planted) - 20} more" if len(planted) > 20 else ""
            notes = (
                *notes,
                f"Ignored: this pull request adds or changes {len(planted)} cache file(s) ({shown}{more}). "
                "The Action's caches live outside the workspace, so nothing the PR commits stands in for "
                "a model answer.",
            )
        base = sides.base if sides is not None else None
        changes = sides.changes if sides is not None else GateChanges()
        gate = gate_verdict(changes, base, policy, session.gh, pr, log.warn)
        state, description = policy_status(policy, gate)
        session.statuses.set("policy", state, description)
        log.info(f"evalgate: change policy: {description}")
    comparison = None
    if base_cases is not None:
        from evalgate.compare import base_comparison  # the same code as `evalgate compare`

        comparison, line = base_comparison(run.cases, base_cases, bar.gate)
        notes = (*notes, line) if line else notes
    verdict = decide(run.cases, bar.gate, threshold_override=inputs.threshold, baseline=base_cases)
    verdict = _apply_policy(verdict, policy, inputs)
    if gate is not None and not gate.passed:
        verdict = replace(verdict, passed=False, reasons=(*verdict.reasons, *gate.reasons))
    warning = stale_review(sides.base if sides is not None else None)
    if warning:
        log.warn(warning)
    items = _readiness(session, project, run, verdict, comparison)
    verdict = _require(verdict, items)
    outcome = Outcome(run, verdict, comparison, policy, notes, gate, warning, tuple(items))
    code = publish(outcome, session)
    if bar.gate.notify:  # the base's webhooks on a pull request, like the rest of the bar
        from evalgate.notify import gate_event, gate_record, notify_gate

        record = gate_record(
            verdict.passed, verdict.metric, verdict.value, verdict.threshold, verdict.reasons
        )
        event = gate_event(verdict.passed, infrastructure=run.all_errors)
        notify_gate(bar.gate.notify, event, record, os.environ, log.warn)
    return code


def _apply_policy(verdict: GateVerdict, policy: PolicyVerdict | None, inputs: ActionInputs) -> GateVerdict:
    if policy is None or policy.passed or not inputs.fail_on_mixed_change:
        return verdict
    return replace(verdict, passed=False, reasons=(*verdict.reasons, *policy.reasons))


def cache_files(files: Sequence[ChangedFile], projects: Sequence[Project], session: Session) -> list[str]:
    """The PR's changed files that lie in a config's cache folder or under ``.evalgate/``."""
    prefixes = {".evalgate/"}
    for project in projects:
        runner = project.loaded.config.runner
        folder = session.workdir / Path(session.inputs.config).parent / runner.cache_dir
        prefixes.add(workspace_path(folder, session.ctx).rstrip("/") + "/")
    names = [f.filename for f in files] + [f.previous_filename for f in files if f.previous_filename]
    return sorted({name for name in names if any(name.startswith(p) for p in prefixes)})


def _readiness(
    session: Session, project: Project, run: RunResult, verdict: GateVerdict, comparison: Comparison | None
) -> list[ReadinessItem]:
    from evalgate.readiness import assess
    from evalgate.readiness_facts import gather

    facts = gather(
        project,
        gh=session.gh if session.pr is not None else None,
        sha=session.sha,
        status_context=session.inputs.status_context,
        run_url=session.ctx.run_url,
        warn=session.log.warn,
    )
    return assess(run, verdict, comparison, facts)


def _require(verdict: GateVerdict, items: list[ReadinessItem]) -> GateVerdict:
    """Readiness items listed in ``gate.require`` fail the gate when they do not pass."""
    from evalgate.readiness import failures

    reasons = failures(items)
    if not reasons:
        return verdict
    kept = verdict.reasons if not verdict.passed else ()
    return replace(verdict, passed=False, reasons=(*kept, *reasons))


def policy_status(policy: PolicyVerdict, gate: GateChangeVerdict) -> tuple[State, str]:
    """The ``<ctx>/policy`` status: the prompt/pin policy's verdict, then the gate changes'."""
    if not policy.passed:
        return "failure", policy.description()
    if not gate.passed:
        return "failure", gate.description()
    if gate.changes:
        return "success", gate.description()
    return "success", policy.description()
