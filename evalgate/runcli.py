"""``evalgate run``: select the cases, run them, write the reports, print the verdict, alert."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING

from evalgate.errors import EXIT_GATE_FAILED, EXIT_INFRA, EXIT_PASSED, UsageError
from evalgate.output import Output
from evalgate.progress import CaseProgress

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from evalgate.config import LoadedConfig
    from evalgate.evaluation import Project, Selection
    from evalgate.report.json import EncodedCases
    from evalgate.results import CaseResult, GateVerdict, RunResult


def selection(args: argparse.Namespace) -> Selection:
    from evalgate.evaluation import Selection, parse_shard

    return Selection(
        tags=tuple(args.tag),
        case_ids=tuple(args.case),
        shard=parse_shard(args.shard) if args.shard else None,
    )


def write_report(path: str, text: str | Iterable[str]) -> None:
    """Write a report file (its text, or the text in pieces), making its folder; a ``UsageError``
    naming the path when that fails."""
    target = Path(path)
    try:
        if target.parent and not target.parent.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, str):
            target.write_text(text, encoding="utf-8")
            return
        with target.open("w", encoding="utf-8") as out:
            out.writelines(text)
    except OSError as exc:
        raise UsageError(f"cannot write report '{path}': {exc.strerror}") from None


def write_reports(
    args: argparse.Namespace, run: RunResult, verdict: GateVerdict, encoded: EncodedCases | None = None
) -> None:
    from evalgate.report import render_junit, render_markdown
    from evalgate.report.json import json_parts

    if args.json_path:  # in pieces: a 10,000-case report is never held as one text
        write_report(args.json_path, json_parts(run, verdict, encoded=encoded))
    if args.junit_path:
        write_report(args.junit_path, render_junit(run, verdict))
    if args.markdown_path:
        write_report(args.markdown_path, render_markdown(run, verdict))


def print_result(args: argparse.Namespace, out: Output, run: RunResult, verdict: GateVerdict) -> None:
    from evalgate.report import render_plain, render_summary, render_terminal

    if args.quiet:
        out.say(render_summary(run, verdict))
    elif out.is_terminal:
        out.draw(render_terminal(run, verdict, show_all=args.show_all))
    else:
        out.write(render_plain(run, verdict, show_all=args.show_all))


def cmd_run(args: argparse.Namespace, out: Output) -> int:
    """Run, report, decide."""
    from evalgate.evaluation import fewer_collections, load_project
    from evalgate.parsecache import parse_cache_writes_deferred
    from evalgate.promptfoo.inmemory import native_config

    # loading, the run and its reports allocate much and make no cycles; the parse cache is written after
    # the run, so the first model call does not wait for it
    with (
        native_config(args.config, model=args.model, judge=args.judge, say=out.warn) as config,
        fewer_collections(),
        parse_cache_writes_deferred(),
    ):
        project = load_project(config)
        if args.allow_unpinned:
            _warn_unpinned(project.loaded, out)
        return _run(args, out, project)


class _EncodeAsTheyFinish:
    """The JSON report's case entries, encoded as cases finish (see ``EncodedCases``).

    The report module loads with the first finished case, after the first request has gone out.
    """

    def __init__(self) -> None:
        self.cases: EncodedCases | None = None

    def after(self, progress: CaseProgress) -> Callable[[CaseResult], None]:
        def on_case(case: CaseResult) -> None:
            progress(case)
            if self.cases is None:
                from evalgate.report.json import EncodedCases

                self.cases = EncodedCases()
            self.cases(case)

        return on_case


def _warn_unpinned(loaded: LoadedConfig, out: Output) -> None:
    from evalgate.evaluation import lint_pins

    for finding in lint_pins(loaded):
        out.warn(
            f"warning: {finding.render()}; running anyway (--allow-unpinned): these results are not "
            "reproducible and the Action never accepts them"
        )


def _run(args: argparse.Namespace, out: Output, project: Project) -> int:
    from evalgate.evaluation import InterruptedRun, RunOptions, StoppedRun, execute, select

    cases = select(project.cases, selection(args))
    if not cases:
        raise UsageError("no cases selected (the shard is empty?)", fix="check --tag/--case/--shard")
    encoding = _EncodeAsTheyFinish() if args.json_path else None
    down: StoppedRun | None = None
    # -q prints the verdict line and nothing else, progress included
    try:
        with CaseProgress(len(cases), enabled=not args.quiet) as progress:
            run, verdict = execute(
                project,
                cases,
                RunOptions(
                    concurrency=args.concurrency,
                    use_cache=not args.no_cache,
                    threshold=args.threshold,
                    on_case=progress if encoding is None else encoding.after(progress),
                    allow_unpinned=args.allow_unpinned,
                ),
            )
    except InterruptedRun as stopped:
        # what finished is kept: the reports are written, marked incomplete, and the gate fails
        write_reports(args, stopped.run, stopped.verdict, encoding.cases if encoding else None)
        out.warn(f"evalgate: interrupted: {stopped.verdict.reasons[0]}")
        return stopped.exit_code
    except StoppedRun as stopped:  # the provider went down: a partial report, an outage, not a verdict
        run, verdict, down = stopped.run, stopped.verdict, stopped
    write_reports(args, run, verdict, encoding.cases if encoding else None)
    infra = down is not None or run.all_errors
    if down is not None:
        out.say(f"evalgate: stopped early: {down.summary}, so no more calls were sent")
    elif infra:
        first = next((c.error for c in run.cases if c.error), "unknown error")
        answered = any(t.completion is not None for c in run.cases for t in c.trials)
        # when the model answered and only a check's model call (the judge) failed, say so
        what = "ended in an error" if answered else "failed to get a model answer"
        out.say(f"evalgate: every case {what}; first error: {first}")
    print_result(args, out, run, verdict)  # the verdict stays the last line
    if project.loaded.config.gate.notify:  # alerts go to stderr, after the verdict
        from evalgate.notify import gate_event, gate_record, notify_gate

        record = gate_record(
            verdict.passed, verdict.metric, verdict.value, verdict.threshold, verdict.reasons
        )
        event = gate_event(verdict.passed, infrastructure=infra)
        notify_gate(project.loaded.config.gate.notify, event, record, os.environ, out.warn)
    if infra:
        return EXIT_INFRA
    return EXIT_PASSED if verdict.passed else EXIT_GATE_FAILED
