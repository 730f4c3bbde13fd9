"""The ``evalgate`` command line: the only place (with the Action entrypoint) that prints and exits."""

from __future__ import annotations

import argparse
import gc
import os
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, TextIO

from evalgate import __version__
from evalgate.cancel import exit_code_for, signals_stop_the_run
from evalgate.errors import (
    EXIT_GATE_FAILED,
    EXIT_INFRA,
    EXIT_PASSED,
    EXIT_USAGE,
    EvalgateError,
    UsageError,
)
from evalgate.progress import CaseProgress

if TYPE_CHECKING:
    from evalgate.config import LoadedConfig
    from evalgate.evaluation import Project, Selection
    from evalgate.results import GateVerdict, RunResult

DEFAULT_CONFIG = "evalgate.yaml"


def _threshold(text: str) -> float:
    from evalgate.gate import parse_fraction

    try:
        return parse_fraction(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"'{text}' {exc}") from None


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"'{text}' must be at least 1")
    return value


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of exiting, so usage errors share the exit-code path."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message, fix=f"see '{self.prog} --help'")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    parser = _Parser(prog="evalgate", description="Eval gates for LLM features.")
    parser.add_argument("--version", action="version", version=f"evalgate {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def with_config(p: argparse.ArgumentParser) -> None:
        p.add_argument("--config", "-c", default=DEFAULT_CONFIG, help="path to evalgate.yaml")

    def with_selection(p: argparse.ArgumentParser) -> None:
        p.add_argument("--tag", action="append", default=[], help="run only cases with this tag (repeatable)")
        p.add_argument("--case", action="append", default=[], help="run only this case id (repeatable)")
        p.add_argument("--shard", help="run shard I of N, e.g. 2/4")
        p.add_argument("--concurrency", type=_positive_int, help="parallel model calls")
        p.add_argument("--no-cache", action="store_true", help="ignore and do not write the response cache")

    run = sub.add_parser("run", help="run the eval suites and apply the gate")
    with_config(run)
    with_selection(run)
    run.add_argument("--threshold", type=_threshold, help="override gate.threshold (0.85 or 85%%)")
    run.add_argument("--json", dest="json_path", help="write the JSON report here")
    run.add_argument("--junit", dest="junit_path", help="write JUnit XML here")
    run.add_argument("--markdown", dest="markdown_path", help="write the Markdown report here")
    run.add_argument("--quiet", "-q", action="store_true", help="print only the verdict line")
    run.add_argument("--all", dest="show_all", action="store_true", help="list passing cases too")

    run.add_argument(
        "--model", help="for a promptfoo config: the pinned model, e.g. openai:gpt-4o-2024-11-20"
    )
    run.add_argument("--judge", help="for a promptfoo config: the pinned grader model (PROVIDER:NAME)")
    run.add_argument(
        "--allow-unpinned",
        action="store_true",
        help="accept model aliases, with a warning (local exploration)",
    )

    validate = sub.add_parser("validate", help="check config, suites and prompt rendering; no model calls")
    with_config(validate)
    validate.add_argument("--allow-unpinned", action="store_true", help="report unpinned models as warnings")
    validate.add_argument("--model", help="for a promptfoo config: the pinned model (PROVIDER:NAME)")
    validate.add_argument("--judge", help="for a promptfoo config: the pinned grader model (PROVIDER:NAME)")

    importer = sub.add_parser("import", help="convert another tool's config into an evalgate project")
    kinds = importer.add_subparsers(dest="kind", required=True, parser_class=_Parser)
    promptfoo = kinds.add_parser("promptfoo", help="a promptfooconfig.yaml")
    promptfoo.add_argument("source", help="the promptfoo config file")
    promptfoo.add_argument("--model", help="the pinned model to run, e.g. openai:gpt-4o-2024-11-20")
    promptfoo.add_argument("--judge", help="the pinned grader model (PROVIDER:NAME)")
    promptfoo.add_argument("--output", "-o", help="folder to write the project to (default: the config's)")
    promptfoo.add_argument("--force", action="store_true", help="overwrite existing files")

    lint = sub.add_parser("lint", help="reject unpinned model names")
    with_config(lint)

    record = sub.add_parser("record", help="run the live model and save its answers for the replay provider")
    with_config(record)
    with_selection(record)
    record.add_argument("--output", "-o", required=True, help="responses file to write (YAML)")

    merge = sub.add_parser("merge", help="combine shard JSON reports into one report and one verdict")
    merge.add_argument(
        "reports", nargs="+", help="shard reports written by 'evalgate run --shard I/N --json F'"
    )
    merge.add_argument("--config", "-c", default=DEFAULT_CONFIG, help="evalgate.yaml whose gate to apply")
    merge.add_argument("--threshold", type=_threshold, help="override gate.threshold (0.85 or 85%%)")
    merge.add_argument("--json", dest="json_path", help="write the merged JSON report here")
    merge.add_argument("--junit", dest="junit_path", help="write JUnit XML here")
    merge.add_argument("--markdown", dest="markdown_path", help="write the Markdown report here")
    merge.add_argument("--quiet", "-q", action="store_true", help="print only the verdict line")
    merge.add_argument("--all", dest="show_all", action="store_true", help="list passing cases too")

    view = sub.add_parser("view", help="write a self-contained HTML report to browse a JSON report")
    view.add_argument("report", help="a JSON report written by 'evalgate run --json' or the Action")
    view.add_argument("--output", "-o", help="HTML file to write (default: the report's name with .html)")

    from evalgate.canary.cli import add_parser as add_canary

    add_canary(sub, with_config)

    from evalgate.watchcli import add_parsers as add_watch

    add_watch(sub, with_config)

    init = sub.add_parser("init", help="scaffold evalgate.yaml, a prompt and a suite")
    init.add_argument("directory", nargs="?", default=".", help="where to create the files")
    init.add_argument("--force", action="store_true", help="overwrite existing files")
    return parser


def _selection(args: argparse.Namespace) -> Selection:
    from evalgate.evaluation import Selection, parse_shard

    return Selection(
        tags=tuple(args.tag),
        case_ids=tuple(args.case),
        shard=parse_shard(args.shard) if args.shard else None,
    )


class Output:
    """Plain text to stdout/stderr; rich is imported only when there is a terminal to draw on."""

    def __init__(self, stdout: TextIO | None = None, stderr: TextIO | None = None) -> None:
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr

    @property
    def is_terminal(self) -> bool:
        return self.stdout.isatty()

    def say(self, text: str) -> None:
        self.stdout.write(text + "\n")
        self.stdout.flush()

    def write(self, text: str) -> None:
        self.stdout.write(text)
        self.stdout.flush()

    def warn(self, text: str) -> None:
        self.stderr.write(text + "\n")
        self.stderr.flush()

    def draw(self, renderable: object) -> None:
        from rich.console import Console

        Console(file=self.stdout, highlight=False, soft_wrap=True).print(renderable)


def _write(path: str, text: str) -> None:
    target = Path(path)
    try:
        if target.parent and not target.parent.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write report '{path}': {exc.strerror}") from None


def _write_reports(args: argparse.Namespace, run: RunResult, verdict: GateVerdict) -> None:
    from evalgate.report import render_json, render_junit, render_markdown

    if args.json_path:
        _write(args.json_path, render_json(run, verdict))
    if args.junit_path:
        _write(args.junit_path, render_junit(run, verdict))
    if args.markdown_path:
        _write(args.markdown_path, render_markdown(run, verdict))


def _print_result(args: argparse.Namespace, out: Output, run: RunResult, verdict: GateVerdict) -> None:
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
    from evalgate.promptfoo.inmemory import native_config

    # loading, the run and its reports allocate much and make no cycles
    with (
        native_config(args.config, model=args.model, judge=args.judge, say=out.warn) as config,
        fewer_collections(),
    ):
        project = load_project(config)
        if args.allow_unpinned:
            _warn_unpinned(project.loaded, out)
        return _run(args, out, project)


def _warn_unpinned(loaded: LoadedConfig, out: Output) -> None:
    from evalgate.evaluation import lint_pins

    for finding in lint_pins(loaded):
        out.warn(
            f"warning: {finding.render()}; running anyway (--allow-unpinned): these results are not "
            "reproducible and the Action never accepts them"
        )


def _run(args: argparse.Namespace, out: Output, project: Project) -> int:
    from evalgate.evaluation import InterruptedRun, RunOptions, execute, select

    cases = select(project.cases, _selection(args))
    if not cases:
        raise UsageError("no cases selected (the shard is empty?)", fix="check --tag/--case/--shard")
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
                    on_case=progress,
                    allow_unpinned=args.allow_unpinned,
                ),
            )
    except InterruptedRun as stopped:
        # what finished is kept: the reports are written, marked incomplete, and the gate fails
        _write_reports(args, stopped.run, stopped.verdict)
        out.warn(f"evalgate: interrupted: {stopped.verdict.reasons[0]}")
        return stopped.exit_code
    _write_reports(args, run, verdict)
    infra = bool(run.cases) and all(c.status == "error" for c in run.cases)
    if infra:
        first = next((c.error for c in run.cases if c.error), "unknown error")
        answered = any(t.completion is not None for c in run.cases for t in c.trials)
        # when the model answered and only a check's model call (the judge) failed, say so
        what = "ended in an error" if answered else "failed to get a model answer"
        out.say(f"evalgate: every case {what}; first error: {first}")
    _print_result(args, out, run, verdict)  # the verdict stays the last line
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


def cmd_validate(args: argparse.Namespace, out: Output) -> int:
    """Everything but the model calls; every error in every file in one run."""
    from evalgate.promptfoo.inmemory import native_config

    with native_config(args.config, model=args.model, judge=args.judge, say=out.warn) as config:
        return _validate(config, args.allow_unpinned, out)


def cmd_import(args: argparse.Namespace, out: Output) -> int:
    """``evalgate import promptfoo CONFIG``: write a native project and list what did not carry over."""
    from evalgate.promptfoo.importer import convert, write_project

    source = Path(args.source)
    if not source.is_file():
        raise UsageError(f"{args.source} not found", fix="pass the path of a promptfooconfig.yaml")
    output = Path(args.output) if args.output else source.parent
    imported = convert(source, output=output, model=args.model, judge=args.judge)
    for path in write_project(imported, output, force=args.force):
        out.say(f"wrote {path}")
    out.say(f"imported {imported.cases} cases and {imported.prompts} prompts from {source}")
    if imported.dropped:
        out.say(f"not carried over ({len(imported.dropped)}):")
        for line in imported.render_dropped():
            out.say(f"  {line}")
    out.say(f"next: evalgate run --config {output / 'evalgate.yaml'}")
    return EXIT_PASSED


def _validate(config: str, allow_unpinned: bool, out: Output) -> int:
    from evalgate.validation import find_problems, render_problems

    findings = find_problems(config, allow_unpinned=allow_unpinned)
    for warning in findings.warnings:
        out.warn(f"warning: {warning} (--allow-unpinned)")
    project = findings.project
    if findings.errors or project is None:
        for line in render_problems(findings.errors):
            out.warn(line)
        return EXIT_USAGE
    canary = ""
    if project.loaded.config.canary is not None:
        from evalgate.canary.plan import load_plan

        rollout = load_plan(project.loaded.path)
        canary = f", canary plan with {len(rollout.stages)} stages"
    suites = len({c.suite for c in project.cases})
    out.say(
        f"ok: {project.loaded.file}: {len(project.cases)} cases in {suites} suite files, "
        f"{len(project.prompts.names)} prompts render{canary}"
    )
    return EXIT_PASSED


def cmd_lint(args: argparse.Namespace, out: Output) -> int:
    """Model pins only."""
    from evalgate.config import load_config
    from evalgate.evaluation import lint_pins

    loaded = load_config(args.config)
    findings = lint_pins(loaded)
    for finding in findings:
        out.warn(f"error: {finding.render()}")
    if not findings:
        out.say(f"ok: every model in {loaded.file} is pinned")
    return EXIT_USAGE if findings else EXIT_PASSED


def cmd_record(args: argparse.Namespace, out: Output) -> int:
    """Run the live model and save its answers for ``provider: replay``."""
    from evalgate.evaluation import RunOptions, execute, load_project, select
    from evalgate.providers.replay import write_recording

    project = load_project(args.config)
    if project.loaded.config.model.provider == "replay":
        raise UsageError(
            "record needs a live provider, but this config uses 'replay'",
            fix="point --config at a config with provider openai, anthropic, http, command or python",
        )
    cases = select(project.cases, _selection(args))
    with CaseProgress(len(cases)) as progress:
        run, _ = execute(
            project,
            cases,
            RunOptions(use_cache=not args.no_cache, concurrency=args.concurrency, on_case=progress),
        )
    answers: dict[str, str] = {}
    errors = []
    for case in run.cases:
        trial = case.trials[0] if case.trials else None
        if trial is not None and trial.completion is not None:
            answers[case.id] = trial.completion.text
        else:
            errors.append(f"{case.id}: {case.error}")
    write_recording(Path(args.output), answers)
    out.say(f"recorded {len(answers)} responses to {args.output}")
    for line in errors:
        out.say(f"not recorded: {line}")
    return EXIT_INFRA if errors else EXIT_PASSED


def cmd_merge(args: argparse.Namespace, out: Output) -> int:
    """Merge shard reports and decide the gate once over all of them."""
    from evalgate.config import load_config
    from evalgate.gate import GateConfig, decide
    from evalgate.merge import merge_runs, read_report

    loaded = [(path, read_report(Path(path))) for path in args.reports]
    run = merge_runs([(path, r) for path, (r, _) in loaded])
    if Path(args.config).is_file():
        gate = load_config(args.config).config.gate
    else:
        # without the config, judge with the metric and threshold the shards were judged with
        first = loaded[0][1][1]
        gate = GateConfig(threshold=first.threshold, metric="checks" if first.metric == "checks" else "cases")
        out.warn(f"evalgate: {args.config} not found; applying the shards' metric and threshold only")
    verdict = decide(run.cases, gate, threshold_override=args.threshold)
    if run.incomplete:
        reason = f"a shard's run was interrupted: {len(run.cases)} of {run.planned} cases ran"
        verdict = replace(verdict, passed=False, reasons=(reason, *verdict.reasons))
    _write_reports(args, run, verdict)
    _print_result(args, out, run, verdict)
    return EXIT_PASSED if verdict.passed else EXIT_GATE_FAILED


def cmd_view(args: argparse.Namespace, out: Output) -> int:
    """Render a JSON report as one HTML file that works from file:// (no server, no CDN)."""
    import json

    from evalgate.merge import read_report
    from evalgate.report.html import render_html

    source = Path(args.report)
    read_report(source)  # a clear error, with the file and the field, for anything that is not a v1 report
    target = Path(args.output) if args.output else source.with_suffix(".html")
    _write(str(target), render_html(json.loads(source.read_text(encoding="utf-8"))))
    out.say(f"wrote {target} (open file://{target.resolve().as_posix()})")
    return EXIT_PASSED


def cmd_canary(args: argparse.Namespace, out: Output) -> int:
    """``evalgate canary ...``."""
    from evalgate.canary.cli import dispatch

    return dispatch(args, out)


def cmd_watch(args: argparse.Namespace, out: Output) -> int:
    """``evalgate pin|compare|drift|upgrade ...``."""
    from evalgate.watchcli import dispatch

    return dispatch(args, out)


def cmd_init(args: argparse.Namespace, out: Output) -> int:
    """Scaffold a working project."""
    from evalgate.scaffold import scaffold

    created = scaffold(Path(args.directory), force=args.force)
    for path in created:
        out.say(f"created {path}")
    out.say("next: evalgate run   (replays the recorded answers; see evalgate.yaml to go live)")
    return EXIT_PASSED


COMMANDS = {
    "run": cmd_run,
    "merge": cmd_merge,
    "view": cmd_view,
    "canary": cmd_canary,
    "validate": cmd_validate,
    "lint": cmd_lint,
    "record": cmd_record,
    "init": cmd_init,
    "import": cmd_import,
    "pin": cmd_watch,
    "compare": cmd_watch,
    "drift": cmd_watch,
    "upgrade": cmd_watch,
}


def console() -> NoReturn:
    """The ``evalgate`` command and ``python -m evalgate``: ``main``, then a quick exit.

    Everything still alive is frozen first, so the interpreter's last collection at shutdown skips it:
    after a run that is the loaded suites, the results and every imported module, and walking them made
    exiting take 40-150 ms. (``main`` itself leaves the collector alone: tests call it in-process.)
    """
    code = main()
    gc.freeze()
    sys.exit(code)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    out = Output()
    try:
        args = build_parser().parse_args(argv)
        with signals_stop_the_run():  # SIGINT and SIGTERM stop retries and in-flight calls at once
            return COMMANDS[args.command](args, out)
    except KeyboardInterrupt as exc:
        out.warn("evalgate: interrupted")
        return exit_code_for(exc)
    except EvalgateError as exc:
        prefix = "error" if exc.exit_code == EXIT_USAGE else "evalgate failed"
        out.warn(f"{prefix}: {exc}")
        return exc.exit_code
    except SystemExit as exc:  # --help and --version
        return int(exc.code or 0) if isinstance(exc.code, int) else EXIT_PASSED
    except Exception as exc:  # a bug: say so plainly, keep the traceback available
        if os.environ.get("EVALGATE_DEBUG"):
            raise
        out.warn(
            f"evalgate: internal error: {type(exc).__name__}: {exc} (set EVALGATE_DEBUG=1 for a traceback)"
        )
        return EXIT_INFRA


if __name__ == "__main__":
    sys.exit(main())
