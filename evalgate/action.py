"""The GitHub Action: run the suite on a PR, compare with the base, apply the change policy, report.

The entrypoint calls ``main()``. This module reads the environment, sets up the session and runs the
checked-out workspace (or hands a ``workflow_run`` to the fork-safe report stage); ``action_verdict``
judges the result by the base's bar and ``action_publish`` writes the reports, the PR comment and the
commit statuses through ``evalgate.github``.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from evalgate.action_env import (
    ActionInputs,
    PullRequest,
    RunnerContext,
    cache_root,
    read_context,
    read_inputs,
)
from evalgate.action_publish import REPORT_PATH
from evalgate.action_session import Log, Session, State, Statuses
from evalgate.action_verdict import judge_and_publish, saved_baseline
from evalgate.cancel import exit_code_for, signals_stop_the_run
from evalgate.errors import EXIT_INFRA, ConfigError, EvalgateError, ProviderDown, UsageError
from evalgate.ghactions import annotation, append_summary
from evalgate.report.escape import fenced

if TYPE_CHECKING:
    from evalgate.github import GitHubClient
    from evalgate.gitlocal import LocalGit


def _github(inputs: ActionInputs, ctx: RunnerContext, log: Log) -> GitHubClient | None:
    if not inputs.github_token:
        log.warn("no github-token: skipping the PR comment and commit statuses")
        return None
    if not ctx.repository:
        log.warn("GITHUB_REPOSITORY is not set: skipping the PR comment and commit statuses")
        return None
    from evalgate.github import GitHubClient

    return GitHubClient(inputs.github_token, api_url=ctx.api_url, repository=ctx.repository)


def _relative(path: Path) -> Path:
    """``path`` relative to the current directory when it lies below it, so messages name short paths."""
    try:
        return path.resolve().relative_to(Path.cwd())
    except ValueError:
        return path


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
        _keep_partial_report(exc, workdir)  # a run stopped by a provider that went down
        state: State = "failure" if isinstance(exc, ConfigError) else "error"
        what = exc.summary if isinstance(exc, ProviderDown) and exc.summary else str(exc).splitlines()[0]
        statuses.set("eval", state, f"evalgate could not run: {what[:100]}")
        raise


def _keep_partial_report(exc: BaseException, workdir: Path) -> None:
    """Write what a stopped run finished (a signal, or its provider went down) as the report, marked
    incomplete."""
    from evalgate.evaluation import InterruptedRun, StoppedRun
    from evalgate.fsutil import atomic_write
    from evalgate.report import render_json

    if isinstance(exc, InterruptedRun | StoppedRun):
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
        base_cases, origin = saved_baseline(inputs.baseline, ctx.workspace, git, pr)
        notes.append(f"baseline: {origin}")
    return judge_and_publish(session, git, project, run, base_cases, sides, tuple(notes))


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
