"""The Action's fork-safe report stage (``workflow_run``): re-evaluate, publish, or ask for a maintainer."""

from __future__ import annotations

from typing import TYPE_CHECKING

from evalgate.action_publish import comment_marker, post_comment
from evalgate.action_session import Session
from evalgate.action_verdict import judge_and_publish
from evalgate.errors import EXIT_GATE_FAILED, UsageError
from evalgate.forkstage import NEEDS_MAINTAINER, Stage2, evaluate, maintainer_markdown, vouched
from evalgate.ghactions import append_summary, write_outputs
from evalgate.report.escape import md

if TYPE_CHECKING:
    from evalgate.gitlocal import LocalGit

_FILES_SHOWN = 20


def run_stage2(session: Session, git: LocalGit | None) -> int:
    """Stage 2 of the fork-safe setup; returns the exit code."""
    from evalgate.evaluation import RunOptions
    from evalgate.prsides import Sides

    inputs, ctx, pr, log = session.inputs, session.ctx, session.pr, session.log
    assert pr is not None
    if git is None:
        raise UsageError(
            "the report stage needs a git checkout of the repository",
            fix="add actions/checkout with fetch-depth: 0 before this step",
        )
    if inputs.baseline not in ("auto", "none"):
        log.warn(f"report stage: ignoring baseline '{inputs.baseline}': a saved report is not trusted here")
    config_rel = (session.workdir / inputs.config).resolve().relative_to(ctx.workspace).as_posix()
    trusted, stale = False, ""
    if inputs.trusted_label in pr.labels and session.gh is not None:
        gh = session.gh
        events, first_run = gh.issue_events(pr.number), gh.first_run_at(pr.head_sha)
        trusted, stale = vouched(pr, inputs.trusted_label, events, first_run)
        if stale:
            log.warn(f"report stage: the '{inputs.trusted_label}' label does not count: {stale}")
    result = evaluate(
        git,
        pr,
        config_rel,
        trusted_label=inputs.trusted_label,
        trusted=trusted,
        baseline=inputs.baseline == "auto",
        options=RunOptions(threshold=inputs.threshold, cache_dir=session.cache),
        say=log.info,
    )
    if result.blocked:
        return _needs_maintainer(result, session, stale)
    assert result.project is not None
    assert result.run is not None
    sides = Sides(result.project, result.base, result.changes, result.base_cases, None)
    return judge_and_publish(
        session, git, result.project, result.run, result.base_cases, sides, _notes(result)
    )


def _notes(result: Stage2) -> tuple[str, ...]:
    if result.trusted:
        return ("Report stage: the PR carries the trusted label, so its head commit was evaluated in full.",)
    data = ", ".join(md(name, 120) for name in result.sort.data[:_FILES_SHOWN]) or "none"
    notes = [
        "Report stage: evaluated with the base commit's code and config; from the PR only its suites and "
        f"prompts were used ({data})."
    ]
    if result.sort.unused:
        unused = ", ".join(md(name, 120) for name in result.sort.unused[:_FILES_SHOWN])
        more = len(result.sort.unused) - _FILES_SHOWN
        notes.append(
            "Not read by the evaluation (the base version was used): "
            + unused
            + (f" and {more} more" if more > 0 else "")
        )
    return tuple(notes)


def _needs_maintainer(result: Stage2, session: Session, stale: str) -> int:
    ctx, log = session.ctx, session.log
    marker = comment_marker(session)
    body = f"{marker}\n## AI eval gate\n\n{maintainer_markdown(result, session.inputs.trusted_label, stale)}"
    comment_url = post_comment(session, body, marker)
    for suffix in ("eval", "policy"):
        session.statuses.set(suffix, "failure", NEEDS_MAINTAINER)
    log.warn(f"evalgate: {NEEDS_MAINTAINER} ({', '.join(name for name, _ in result.blocked[:5])})")
    append_summary(ctx.summary, body.split("\n", 1)[1])
    write_outputs(
        ctx.output,
        {"pass-rate": "", "gate": "failed", "report": "", "comment-url": comment_url},
    )
    return EXIT_GATE_FAILED
