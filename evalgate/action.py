"""The GitHub Action: run the suite on a PR, compare with the base, apply the change policy, report.

The entrypoint calls ``main()``. Every REST write goes through ``evalgate.github``; a fork's read-only
token turns writes into warnings, while the step summary, the outputs and the exit code still carry
the result.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from evalgate.action_env import (
    ActionInputs,
    PullRequest,
    RunnerContext,
    cache_root,
    read_context,
    read_inputs,
)
from evalgate.cancel import exit_code_for, signals_stop_the_run
from evalgate.errors import (
    EXIT_GATE_FAILED,
    EXIT_INFRA,
    EXIT_PASSED,
    ConfigError,
    EvalgateError,
    GitHubError,
    GitHubPermissionError,
    UsageError,
)
from evalgate.gate import Comparison, decide, fmt_pct, fmt_pct_short
from evalgate.gatechange import GateChanges
from evalgate.ghactions import (
    ANNOTATIONS_SHOWN,
    DEFAULT_TOKEN_LOGIN,
    annotation,
    append_summary,
    untrusted_block,
    write_outputs,
)
from evalgate.pullrequest import classify_change, pr_changes
from evalgate.report.escape import fenced, md
from evalgate.results import GateVerdict, RunResult

if TYPE_CHECKING:
    from evalgate.changes import ChangedFile
    from evalgate.evaluation import Project
    from evalgate.gatechange import GateChange
    from evalgate.gateowners import GateChangeVerdict
    from evalgate.github import GitHubClient
    from evalgate.gitlocal import LocalGit
    from evalgate.policy import PolicyVerdict
    from evalgate.prsides import Sides
    from evalgate.readiness import Item as ReadinessItem
    from evalgate.results import CaseResult

State = Literal["pending", "success", "failure", "error"]
REPORT_PATH = ".evalgate/report.json"
HTML_REPORT_PATH = ".evalgate/report.html"  # next to the JSON: one upload-artifact step takes both


@dataclass
class Log:
    """Lines for the job log; warnings become ``::warning`` annotations."""

    warnings: list[str] = field(default_factory=list)

    def info(self, text: str) -> None:
        print(text, flush=True)

    def warn(self, text: str) -> None:
        self.warnings.append(text)
        print(annotation("warning", text), flush=True)


@dataclass
class Statuses:
    """Commit statuses on the PR head; a missing token or a read-only one degrades to warnings."""

    gh: GitHubClient | None
    sha: str
    context: str
    target_url: str | None
    log: Log
    disabled: bool = False

    def set(self, suffix: str, state: State, description: str) -> None:
        if self.gh is None or self.disabled or not self.sha:
            return
        try:
            self.gh.set_status(
                self.sha,
                state=state,
                context=f"{self.context}/{suffix}",
                description=description,
                target_url=self.target_url,
            )
        except GitHubPermissionError as exc:
            self.disabled = True
            self.log.warn(f"cannot set commit statuses with this token (a fork PR?): {exc}")
        except GitHubError as exc:
            self.log.warn(f"could not set the {self.context}/{suffix} status: {exc}")


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


def _github(inputs: ActionInputs, ctx: RunnerContext, log: Log) -> GitHubClient | None:
    if not inputs.github_token:
        log.warn("no github-token: skipping the PR comment and commit statuses")
        return None
    if not ctx.repository:
        log.warn("GITHUB_REPOSITORY is not set: skipping the PR comment and commit statuses")
        return None
    from evalgate.github import GitHubClient

    return GitHubClient(inputs.github_token, api_url=ctx.api_url, repository=ctx.repository)


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


def _apply_policy(verdict: GateVerdict, policy: PolicyVerdict | None, inputs: ActionInputs) -> GateVerdict:
    if policy is None or policy.passed or not inputs.fail_on_mixed_change:
        return verdict
    return replace(verdict, passed=False, reasons=(*verdict.reasons, *policy.reasons))


def _comment_body(outcome: Outcome, ctx: RunnerContext, marker: str | None, sha: str, root: Path) -> str:
    from evalgate.report import render_markdown

    def suite_url(suite: str, line: int) -> str | None:
        return ctx.blob_url(sha, _workspace_path(root / suite, ctx), line)

    from evalgate.report.gatechanges import gate_changes_markdown, review_markdown

    def change_url(change: GateChange) -> str | None:
        if change.suite is None:
            return None
        at = outcome.gate.changes.base_sha if outcome.gate is not None and change.on_base else sha
        return ctx.blob_url(at, _workspace_path(root / change.suite, ctx), change.line)

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


def _relative(path: Path) -> Path:
    """``path`` relative to the current directory when it lies below it, so messages name short paths."""
    try:
        return path.resolve().relative_to(Path.cwd())
    except ValueError:
        return path


def _workspace_path(path: Path, ctx: RunnerContext) -> str:
    try:
        return path.resolve().relative_to(ctx.workspace).as_posix()
    except ValueError:
        return path.as_posix()


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
                file=_workspace_path(root / case.suite, ctx),
                line=case.line,
                title=f"evalgate: case {case.id} {case.status}",
            )
        )
    if len(failing) > ANNOTATIONS_SHOWN:
        lines.append(
            f"evalgate: {len(failing) - ANNOTATIONS_SHOWN} more failing cases are in the step summary"
        )
    return lines


@dataclass(frozen=True)
class Session:
    """One action run's inputs, context and edges, passed around as one value."""

    inputs: ActionInputs
    ctx: RunnerContext
    workdir: Path
    pr: PullRequest | None
    sha: str
    gh: GitHubClient | None
    statuses: Statuses
    log: Log
    stage2: bool = False  # the fork-safe report stage (workflow_run)
    cache: Path | None = None  # the response and parse caches, outside the workspace


def run_action(env: Mapping[str, str], log: Log) -> int:
    """The whole action; returns the exit code. Raises ``EvalgateError`` for fatal problems."""
    inputs = read_inputs(env)
    ctx = read_context(env, inputs)
    workdir = (ctx.workspace / inputs.working_directory).resolve()
    cache = cache_root(inputs, env, ctx.workspace, log.warn)
    gh = _github(inputs, ctx, log)
    stage2 = ctx.event_name == "workflow_run"
    if stage2:
        # the fork-safe report stage: the PR's run wrote the artifact, so its results, event file and
        # event name are the PR author's words; GitHub says which PR and which commits this is about
        ignored = [
            name
            for name, value in (
                ("results", inputs.results),
                ("event-file", inputs.event_file),
                ("event-name", inputs.event_name),
            )
            if value
        ]
        if ignored:
            log.warn(
                f"report stage: ignoring the input(s) {', '.join(ignored)}: the PR's own run produced them; "
                "the PR is re-evaluated from the base's code and config instead"
            )
        from evalgate.forkstage import pull_from_github

        pr: PullRequest | None = pull_from_github(ctx.event, gh, ctx.repository, inputs.commit)
        assert pr is not None
        sha = pr.head_sha
    else:
        pr = ctx.pull_request
        if inputs.event_file and inputs.commit and pr is not None and pr.head_sha != inputs.commit:
            raise UsageError(
                f"the event file's pull_request.head.sha ({pr.head_sha[:12]}) is not the commit input "
                f"({inputs.commit[:12]})",
                fix="pass commit: ${{ github.event.workflow_run.head_sha }} and that run's event file",
            )
        sha = inputs.commit or (pr.head_sha if pr else ctx.sha)
    statuses = Statuses(gh, sha, inputs.status_context, ctx.run_url, log)
    statuses.set("eval", "pending", "running the eval suite")
    try:
        return _run(Session(inputs, ctx, workdir, pr, sha, gh, statuses, log, stage2, cache))
    except KeyboardInterrupt as exc:  # SIGTERM (the job was cancelled) or SIGINT
        _keep_partial_report(exc, workdir)
        statuses.set("eval", "error", "cancelled")
        raise
    except BaseException as exc:
        state: State = "failure" if isinstance(exc, ConfigError) else "error"
        statuses.set("eval", state, f"evalgate could not run: {str(exc).splitlines()[0][:100]}")
        raise


def _keep_partial_report(exc: BaseException, workdir: Path) -> None:
    """Write what an interrupted run finished as the report, marked incomplete."""
    from evalgate.evaluation import InterruptedRun
    from evalgate.fsutil import atomic_write
    from evalgate.report import render_json

    if isinstance(exc, InterruptedRun):
        with contextlib.suppress(OSError):
            atomic_write(workdir / REPORT_PATH, render_json(exc.run, exc.verdict))


def _run(session: Session) -> int:
    from evalgate.gitlocal import LocalGit

    ctx = session.ctx
    git: LocalGit | None = None
    if (ctx.workspace / ".git").exists():
        git = LocalGit(ctx.workspace)
        git.ensure_safe_directory()
    if session.stage2:
        from evalgate.stage2action import run_stage2

        return run_stage2(session, git)
    return _run_here(session, git)


def _run_here(session: Session, git: LocalGit | None) -> int:
    """Evaluate the checked-out workspace (a PR's merge commit, or a push) against the base's bar."""
    from evalgate.evaluation import RunOptions, execute, load_project
    from evalgate.merge import MAX_ACTION_REPORT_BYTES, read_report
    from evalgate.progress import CaseProgress
    from evalgate.prsides import pr_sides

    inputs, ctx, workdir, pr, log = session.inputs, session.ctx, session.workdir, session.pr, session.log
    head = load_project(_relative(workdir / inputs.config), cache_dir=session.cache)
    options = RunOptions(cache_dir=session.cache)
    project, sides, notes = head, None, []
    if pr is not None:
        sides = pr_sides(
            git,
            pr,
            ctx.workspace,
            head,
            run_base=inputs.baseline == "auto" and not inputs.results,
            options=options,
            say=log.info,
        )
        project = sides.project
        if sides.note:
            notes.append(sides.note)
    if inputs.results:
        # saved results (e.g. merged shards) are judged here, by the bar this run trusts
        path = Path(inputs.results)
        run, _ = read_report(
            path if path.is_absolute() else ctx.workspace / path, max_bytes=MAX_ACTION_REPORT_BYTES
        )
    else:
        with CaseProgress(len(project.cases), interactive=False) as progress:
            run, _ = execute(
                project, project.cases, replace(options, threshold=inputs.threshold, on_case=progress)
            )
    base_cases = sides.base_cases if sides is not None else None
    if base_cases is None and inputs.baseline not in ("auto", "none"):
        base_cases, origin = _saved_baseline(inputs.baseline, ctx.workspace, git, pr)
        notes.append(f"baseline: {origin}")
    return judge_and_publish(session, git, project, run, base_cases, sides, tuple(notes))


def _saved_baseline(
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
        notify_gate(bar.gate.notify, gate_event(verdict.passed), record, os.environ, log.warn)
    return code


def cache_files(files: Sequence[ChangedFile], projects: Sequence[Project], session: Session) -> list[str]:
    """The PR's changed files that lie in a config's cache folder or under ``.evalgate/``."""
    prefixes = {".evalgate/"}
    for project in projects:
        runner = project.loaded.config.runner
        folder = session.workdir / Path(session.inputs.config).parent / runner.cache_dir
        prefixes.add(_workspace_path(folder, session.ctx).rstrip("/") + "/")
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

    state: State = "success" if outcome.verdict.passed else "failure"
    session.statuses.set("eval", state, status_description(outcome))

    append_summary(ctx.summary, _comment_body(outcome, ctx, None, sha, root))
    policy = outcome.policy
    write_outputs(
        ctx.output,
        {
            "pass-rate": f"{outcome.verdict.value:.4f}",
            "gate": "passed" if outcome.verdict.passed else "failed",
            "report": _workspace_path(report, ctx),
            "html-report": _workspace_path(html_report, ctx),
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
    return EXIT_PASSED if outcome.verdict.passed else EXIT_GATE_FAILED


def comment_marker(session: Session) -> str:
    """The hidden first line that marks our sticky comment, one per config file."""
    return f"<!-- ai-eval-gate:{_workspace_path(session.workdir / session.inputs.config, session.ctx)} -->"


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


def _fatal(exc: BaseException, ctx_summary: str | None, code: int) -> int:
    message = str(exc) or type(exc).__name__
    if isinstance(exc, ConfigError) and exc.file:
        # also pin the error on the file and line, so it shows in the PR's diff view
        print(annotation("error", exc.render(), file=exc.file, line=exc.line, title="evalgate"), flush=True)
    print(annotation("error", f"evalgate: {message}"), flush=True)
    if ctx_summary:
        with contextlib.suppress(OSError):
            append_summary(Path(ctx_summary), f"### ❌ AI eval gate could not run\n\n{fenced(message)}\n")
    return code


def main(env: Mapping[str, str] | None = None) -> int:
    """Entry point of the Docker action; returns the exit code (0/1/2/3/130 like the CLI)."""
    environ = dict(os.environ if env is None else env)
    summary = environ.get("GITHUB_STEP_SUMMARY")
    log = Log()
    try:
        with signals_stop_the_run():  # the runner sends SIGTERM when the job is cancelled
            return run_action(environ, log)
    except KeyboardInterrupt as exc:
        return _fatal(KeyboardInterrupt("cancelled: the run was interrupted"), summary, exit_code_for(exc))
    except EvalgateError as exc:
        return _fatal(exc, summary, exc.exit_code)
    except Exception as exc:  # a bug: report it as an infrastructure failure, with the type
        if environ.get("EVALGATE_DEBUG"):
            raise
        return _fatal(RuntimeError(f"internal error: {type(exc).__name__}: {exc}"), summary, EXIT_INFRA)


if __name__ == "__main__":
    sys.exit(main())
