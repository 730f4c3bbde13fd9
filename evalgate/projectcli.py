"""The project commands: validate, lint, import, record, merge, view and init."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from evalgate.errors import EXIT_GATE_FAILED, EXIT_INFRA, EXIT_PASSED, EXIT_USAGE, UsageError
from evalgate.output import Output
from evalgate.progress import CaseProgress
from evalgate.runcli import print_result, selection, write_report, write_reports


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
    cases = select(project.cases, selection(args))
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
        reason = f"a shard's run stopped early: {len(run.cases)} of {run.planned} cases ran"
        verdict = replace(verdict, passed=False, reasons=(reason, *verdict.reasons))
    write_reports(args, run, verdict)
    print_result(args, out, run, verdict)
    return EXIT_PASSED if verdict.passed else EXIT_GATE_FAILED


def cmd_view(args: argparse.Namespace, out: Output) -> int:
    """Render a JSON report as one HTML file that works from file:// (no server, no CDN)."""
    import json

    from evalgate.merge import read_report
    from evalgate.report.html import render_html

    source = Path(args.report)
    read_report(source)  # a clear error, with the file and the field, for anything that is not a v1 report
    target = Path(args.output) if args.output else source.with_suffix(".html")
    write_report(str(target), render_html(json.loads(source.read_text(encoding="utf-8"))))
    out.say(f"wrote {target} (open file://{target.resolve().as_posix()})")
    return EXIT_PASSED


def cmd_init(args: argparse.Namespace, out: Output) -> int:
    """Scaffold a working project."""
    from evalgate.scaffold import scaffold

    created = scaffold(Path(args.directory), force=args.force)
    for path in created:
        out.say(f"created {path}")
    out.say("next: evalgate run   (replays the recorded answers; see evalgate.yaml to go live)")
    return EXIT_PASSED
