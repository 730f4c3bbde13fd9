"""What the Action publishes: the JSON and HTML reports, the sticky PR comment, the commit status, the step
summary, the outputs and the annotations.

A fork's read-only token turns the comment and status writes into warnings; the summary, the outputs and
the exit code still carry the result.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from evalgate.action_session import State, workspace_path
from evalgate.errors import EXIT_GATE_FAILED, EXIT_INFRA, EXIT_PASSED, GitHubError, GitHubPermissionError
from evalgate.gate import Comparison, fmt_pct, fmt_pct_short
from evalgate.ghactions import (
    ANNOTATIONS_SHOWN,
    DEFAULT_TOKEN_LOGIN,
    annotation,
    append_summary,
    untrusted_block,
    write_outputs,
)
from evalgate.results import GateVerdict, RunResult

if TYPE_CHECKING:
    from evalgate.action_env import RunnerContext
    from evalgate.action_session import Session
    from evalgate.gatechange import GateChange
    from evalgate.gateowners import GateChangeVerdict
    from evalgate.policy import PolicyVerdict
    from evalgate.readiness import Item as ReadinessItem

REPORT_PATH = ".evalgate/report.json"
HTML_REPORT_PATH = ".evalgate/report.html"  # next to the JSON: one upload-artifact step takes both


@dataclass(frozen=True)
class Outcome:
    """Everything one action run decided, for the comment, the summary and the outputs."""

    run: RunResult
    verdict: GateVerdict
    comparison: Comparison | None
    policy: PolicyVerdict | None
    notes: tuple[str, ...] = ()
    gate: GateChangeVerdict | None = None
    review_warning: str | None = None
    readiness: tuple[ReadinessItem, ...] = ()


def status_description(outcome: Outcome) -> str:
    """``87.5% (35/40) ≥ 85% · 2 new failures vs base`` — at most 140 characters."""
    v = outcome.verdict
    passed = sum(1 for c in outcome.run.cases if c.passed)
    sign = "≥" if v.value + 1e-9 >= v.threshold else "<"
    parts = [f"{fmt_pct(v.value)} ({passed}/{len(outcome.run.cases)}) {sign} {fmt_pct_short(v.threshold)}"]
    if outcome.comparison is not None:
        n = len(outcome.comparison.newly_failing)
        parts.append(f"{n} new failure{'s' if n != 1 else ''} vs base")
    errors = sum(1 for c in outcome.run.cases if c.status == "error")
    if errors:
        parts.append(f"{errors} error{'s' if errors != 1 else ''}")
    if outcome.policy is not None and outcome.policy.kind == "mixed":
        parts.append("prompt + pin change")
    if outcome.gate is not None and not outcome.gate.passed:
        parts.append("unapproved gate change")
    text = " · ".join(parts)
    return text if len(text) <= 140 else text[:139] + "…"


def _comment_body(outcome: Outcome, ctx: RunnerContext, marker: str | None, sha: str, root: Path) -> str:
    from evalgate.report import render_markdown

    def suite_url(suite: str, line: int) -> str | None:
        return ctx.blob_url(sha, workspace_path(root / suite, ctx), line)

    from evalgate.report.gatechanges import gate_changes_markdown, review_markdown

    def change_url(change: GateChange) -> str | None:
        if change.suite is None:
            return None
        at = outcome.gate.changes.base_sha if outcome.gate is not None and change.on_base else sha
        return ctx.blob_url(at, workspace_path(root / change.suite, ctx), change.line)

    sections = []
    if outcome.gate is not None:
        sections.append(gate_changes_markdown(outcome.gate, change_url))
    sections.append(review_markdown(outcome.review_warning))
    sections += [outcome.policy.markdown()] if outcome.policy is not None else []
    sections += [f"> {note}" for note in outcome.notes]
    sections = [section for section in sections if section]
    from evalgate.report.markdown import render_readiness

    return render_markdown(
        outcome.run,
        outcome.verdict,
        comparison=outcome.comparison,
        run_url=ctx.run_url,
        suite_url=suite_url,
        marker=marker,
        sections=sections,
        readiness=render_readiness([item.to_dict() for item in outcome.readiness]) or None,
    )


def _annotations(outcome: Outcome, root: Path, ctx: RunnerContext) -> list[str]:
    from evalgate.gate import case_detail

    failing = [c for c in outcome.run.cases if not c.passed]
    lines = []
    # a gate that passed despite some failing cases warns about them rather than erroring
    level = "warning" if outcome.verdict.passed else "error"
    for case in failing[:ANNOTATIONS_SHOWN]:
        lines.append(
            annotation(
                level,
                case_detail(case)[:500],
                file=workspace_path(root / case.suite, ctx),
                line=case.line,
                title=f"evalgate: case {case.id} {case.status}",
            )
        )
    if len(failing) > ANNOTATIONS_SHOWN:
        lines.append(
            f"evalgate: {len(failing) - ANNOTATIONS_SHOWN} more failing cases are in the step summary"
        )
    return lines


def publish(outcome: Outcome, session: Session) -> int:
    from evalgate.fsutil import atomic_write
    from evalgate.report import render_json, render_plain
    from evalgate.report.html import render_html

    inputs, ctx, workdir, sha, log = session.inputs, session.ctx, session.workdir, session.sha, session.log

    root = workdir / Path(inputs.config).parent
    report = workdir / REPORT_PATH
    readiness = [item.to_dict() for item in outcome.readiness] or None
    report_text = render_json(outcome.run, outcome.verdict, outcome.comparison, readiness)
    atomic_write(report, report_text)
    html_report = workdir / HTML_REPORT_PATH
    atomic_write(html_report, render_html(json.loads(report_text)))

    marker = comment_marker(session)
    comment_url = post_comment(session, _comment_body(outcome, ctx, marker, sha, root), marker)

    # every case ended in an error: an outage or a broken key, so "error" (re-run it), not "failure"
    infra = outcome.run.all_errors
    state: State = "error" if infra else "success" if outcome.verdict.passed else "failure"
    session.statuses.set("eval", state, _infra_description(outcome) if infra else status_description(outcome))

    append_summary(ctx.summary, _comment_body(outcome, ctx, None, sha, root))
    policy = outcome.policy
    write_outputs(
        ctx.output,
        {
            "pass-rate": f"{outcome.verdict.value:.4f}",
            "gate": "passed" if outcome.verdict.passed else "failed",
            "report": workspace_path(report, ctx),
            "html-report": workspace_path(html_report, ctx),
            "comment-url": comment_url,
            "changed-prompts": "\n".join(policy.prompt_files) if policy else "",
            "changed-pins": "\n".join(
                f"{p.file}#{p.key}: {p.before.short()} → {p.after.short()}" for p in policy.pin_changes
            )
            if policy
            else "",
        },
    )
    start, text, end = untrusted_block(render_plain(outcome.run, outcome.verdict))
    for line in (start, text.rstrip("\n"), end):
        log.info(line)
    for line in _annotations(outcome, root, ctx):
        log.info(line)
    if infra:
        return EXIT_INFRA
    return EXIT_PASSED if outcome.verdict.passed else EXIT_GATE_FAILED


def _infra_description(outcome: Outcome) -> str:
    """``every case ended in an error; first: …`` — at most 140 characters."""
    answered = any(t.completion is not None for c in outcome.run.cases for t in c.trials)
    what = "every case ended in an error" if answered else "no case got a model answer"
    first = next((c.error for c in outcome.run.cases if c.error), None) or "unknown error"
    text = f"{what}; first: {first}"
    return text if len(text) <= 140 else text[:139] + "…"


def comment_marker(session: Session) -> str:
    """The hidden first line that marks our sticky comment, one per config file."""
    return f"<!-- ai-eval-gate:{workspace_path(session.workdir / session.inputs.config, session.ctx)} -->"


def post_comment(session: Session, body: str, marker: str) -> str:
    """Create or edit the sticky comment; its URL, or "" when there is none (no PR, no token, no right)."""
    pr, gh, log = session.pr, session.gh, session.log
    if pr is None or not session.inputs.comment or gh is None:
        return ""
    try:
        # ours is found by the marker AND our author: a human comment that starts with the marker must
        # never be edited, or its author would own "the report" from then on
        author = gh.token_login() or DEFAULT_TOKEN_LOGIN
        url = gh.upsert_comment(pr.number, body, marker=marker, author=author)
    except GitHubPermissionError as exc:
        log.warn(f"cannot comment on the PR with this token (a fork PR?): {exc}")
        return ""
    except GitHubError as exc:
        log.warn(f"could not post the PR comment: {exc}")
        return ""
    log.info(f"evalgate: PR comment {url}")
    return url
