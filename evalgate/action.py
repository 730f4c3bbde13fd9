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
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from evalgate.action_env import ActionInputs, PullRequest, RunnerContext, read_context, read_inputs
from evalgate.errors import (
    EXIT_GATE_FAILED,
    EXIT_INFRA,
    EXIT_INTERRUPTED,
    EXIT_PASSED,
    ConfigError,
    EvalgateError,
    GitHubError,
    GitHubPermissionError,
    UsageError,
)
from evalgate.gate import Comparison, compare, decide, fmt_pct, fmt_pct_short
from evalgate.ghactions import ANNOTATIONS_SHOWN, annotation, append_summary, untrusted_block, write_outputs
from evalgate.pullrequest import baseline_cases, classify_change, pr_changes
from evalgate.results import GateVerdict, RunResult

if TYPE_CHECKING:
    from evalgate.evaluation import Project
    from evalgate.github import GitHubClient
    from evalgate.gitlocal import LocalGit
    from evalgate.policy import PolicyVerdict

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

    sections = [outcome.policy.markdown()] if outcome.policy is not None else []
    sections += [f"> {note}" for note in outcome.notes]
    return render_markdown(
        outcome.run,
        outcome.verdict,
        comparison=outcome.comparison,
        run_url=ctx.run_url,
        suite_url=suite_url,
        marker=marker,
        sections=sections,
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


def _evaluate(
    inputs: ActionInputs, ctx: RunnerContext, workdir: Path, log: Log
) -> tuple[Project | None, RunResult, GateVerdict]:
    from evalgate.evaluation import RunOptions, execute, load_project
    from evalgate.merge import read_report
    from evalgate.progress import CaseProgress

    if inputs.results:
        # the fork-safe second stage publishes what the first stage measured; it never runs PR code
        path = Path(inputs.results)
        run, verdict = read_report(path if path.is_absolute() else ctx.workspace / path)
        return None, run, verdict
    project = load_project(_relative(workdir / inputs.config))
    with CaseProgress(len(project.cases), interactive=False) as progress:
        run, verdict = execute(
            project, project.cases, RunOptions(threshold=inputs.threshold, on_case=progress)
        )
    return project, run, verdict


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


def run_action(env: Mapping[str, str], log: Log) -> int:
    """The whole action; returns the exit code. Raises ``EvalgateError`` for fatal problems."""
    inputs = read_inputs(env)
    ctx = read_context(env, inputs)
    workdir = (ctx.workspace / inputs.working_directory).resolve()
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
        return _run(Session(inputs, ctx, workdir, pr, sha, gh, statuses, log, stage2))
    except BaseException as exc:
        state: State = "failure" if isinstance(exc, ConfigError) else "error"
        statuses.set("eval", state, f"evalgate could not run: {str(exc).splitlines()[0][:100]}")
        raise


def _run(session: Session) -> int:
    from evalgate.config import PolicyConfig, load_config
    from evalgate.gitlocal import LocalGit

    inputs, ctx, workdir, pr, log = session.inputs, session.ctx, session.workdir, session.pr, session.log

    git: LocalGit | None = None
    if (ctx.workspace / ".git").exists():
        git = LocalGit(ctx.workspace)
        git.ensure_safe_directory()
    if session.stage2:
        from evalgate.stage2action import run_stage2

        return run_stage2(session, git)

    project, run, verdict = _evaluate(inputs, ctx, workdir, log)
    config_path = workdir / inputs.config
    loaded = (
        project.loaded
        if project is not None
        else (load_config(config_path) if config_path.is_file() else None)
    )

    policy = None
    if pr is not None:
        policy_cfg = loaded.config.policy if loaded is not None else PolicyConfig()
        allow = {a.model: a.reason for a in loaded.config.pins.allow} if loaded is not None else {}
        policy = classify_change(policy_cfg, pr_changes(git, session.gh, pr), allow)
        session.statuses.set("policy", "success" if policy.passed else "failure", policy.description())
        log.info(f"evalgate: change policy: {policy.description()}")

    notes: list[str] = []
    comparison = None
    if project is not None:
        base_cases, note = baseline_cases(
            inputs.baseline, ctx.workspace, git, pr, project, say=log.info, warn=log.warn
        )
        if note:
            notes.append(note)
        if base_cases is not None:
            comparison = compare(run.cases, base_cases, metric=project.loaded.config.gate.metric)
            verdict = decide(
                run.cases,
                project.loaded.config.gate,
                threshold_override=inputs.threshold,
                baseline=base_cases,
            )
    verdict = _apply_policy(verdict, policy, inputs)
    outcome = Outcome(run=run, verdict=verdict, comparison=comparison, policy=policy, notes=tuple(notes))
    return publish(outcome, session)


def publish(outcome: Outcome, session: Session) -> int:
    from evalgate.fsutil import atomic_write
    from evalgate.report import render_json, render_plain
    from evalgate.report.html import render_html

    inputs, ctx, workdir, sha, log = session.inputs, session.ctx, session.workdir, session.sha, session.log

    root = workdir / Path(inputs.config).parent
    report = workdir / REPORT_PATH
    report_text = render_json(outcome.run, outcome.verdict, outcome.comparison)
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
        url = gh.upsert_comment(pr.number, body, marker=marker)
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
            append_summary(Path(ctx_summary), f"### ❌ AI eval gate could not run\n\n```\n{message}\n```\n")
    return code


def main(env: Mapping[str, str] | None = None) -> int:
    """Entry point of the Docker action; returns the exit code (0/1/2/3/130 like the CLI)."""
    environ = dict(os.environ if env is None else env)
    summary = environ.get("GITHUB_STEP_SUMMARY")
    log = Log()
    try:
        return run_action(environ, log)
    except KeyboardInterrupt:
        return _fatal(KeyboardInterrupt("interrupted"), summary, EXIT_INTERRUPTED)
    except EvalgateError as exc:
        return _fatal(exc, summary, exc.exit_code)
    except Exception as exc:  # a bug: report it as an infrastructure failure, with the type
        if environ.get("EVALGATE_DEBUG"):
            raise
        return _fatal(RuntimeError(f"internal error: {type(exc).__name__}: {exc}"), summary, EXIT_INFRA)


if __name__ == "__main__":
    sys.exit(main())
