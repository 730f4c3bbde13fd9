"""``evalgate pin show|set``, ``evalgate compare``, ``evalgate drift`` and ``evalgate upgrade``.

The commands that watch a model between pull requests. Parsing and printing only; the logic lives in
``pinfiles``/``pinedit``, ``compare``, ``drift`` and ``upgrade``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from evalgate.errors import EXIT_GATE_FAILED, EXIT_PASSED, ConfigError, UsageError

if TYPE_CHECKING:
    from evalgate.compare import Rules, RunComparison
    from evalgate.gate import Metric
    from evalgate.githubwatch import WatchClient
    from evalgate.results import RunResult


class Printer(Protocol):
    def say(self, text: str) -> None: ...

    def warn(self, text: str) -> None: ...


def _pin_arguments(
    pin: argparse.ArgumentParser, with_config: Callable[[argparse.ArgumentParser], None]
) -> None:
    verbs = pin.add_subparsers(dest="pin_command", required=True, parser_class=type(pin))
    show = verbs.add_parser("show", help="list every pin location with its value")
    with_config(show)
    show.add_argument("--root", help="what the locations are relative to (default: the git top level)")
    show.add_argument("--json", action="store_true", help="print JSON")
    pin_set = verbs.add_parser("set", help="replace the primary pin (model.name) wherever it is pinned")
    with_config(pin_set)
    pin_set.add_argument("--root", help="what the locations are relative to (default: the git top level)")
    pin_set.add_argument("name", help="the new pinned model, e.g. gpt-4o-2025-03-12")
    pin_set.add_argument("--dry-run", action="store_true", help="say what would change; write nothing")


def _compare_arguments(
    compare: argparse.ArgumentParser, with_config: Callable[[argparse.ArgumentParser], None]
) -> None:
    compare.add_argument("base", help="the earlier or reference report (evalgate run --json)")
    compare.add_argument("head", help="the later or candidate report")
    add_rules(compare)
    fmt = compare.add_mutually_exclusive_group()
    fmt.add_argument("--markdown", action="store_true", help="print Markdown")
    fmt.add_argument("--json", action="store_true", help="print JSON")
    compare.add_argument("--same-cases", action="store_true", help="not comparable unless the case ids match")


def _drift_arguments(
    drift: argparse.ArgumentParser, with_config: Callable[[argparse.ArgumentParser], None]
) -> None:
    drift.add_argument("--report", required=True, help="this run's report (evalgate run --no-cache --json)")
    source = drift.add_mutually_exclusive_group()
    source.add_argument("--baseline", help="the last good report as a local file (absent: first run)")
    source.add_argument("--baseline-artifact", help="fetch it: newest artifact of this name from a good run")
    source.add_argument("--baseline-branch", help="read and write it as a file on this branch")
    drift.add_argument("--branch", help="whose runs' artifacts count (default: the default branch)")
    drift.add_argument(
        "--baseline-token-env",
        default="GITHUB_TOKEN",
        help="env var with a token that may write the baseline branch (default GITHUB_TOKEN)",
    )
    drift.add_argument("--issue", action="store_true", help="open, update or close the drift issue")
    drift.add_argument("--label", action="append", default=[], help="label of a new issue (repeatable)")
    drift.add_argument("--assignee", action="append", default=[], help="assignee of a new issue (repeatable)")
    drift.add_argument("--name", help="the config's name in the issue marker (default: --config)")
    drift.add_argument("--run-url", help="link for this run (default: from GITHUB_SERVER_URL/..._RUN_ID)")
    drift.add_argument("--commit", help="this run's commit (default: GITHUB_SHA)")
    drift.add_argument("--save-baseline", help="when this run is good, copy its report here (to upload)")
    drift.add_argument("--markdown", help="write the comparison as Markdown here")
    add_rules(drift)


def _upgrade_arguments(
    upgrade: argparse.ArgumentParser, with_config: Callable[[argparse.ArgumentParser], None]
) -> None:
    with_config(upgrade)
    upgrade.add_argument("candidate", help="the candidate pinned model, e.g. gpt-4o-2025-03-12")
    upgrade.add_argument("--pr", action="store_true", help="open a pull request when the candidate passes")
    upgrade.add_argument(
        "--base",
        help="the pull request's base branch (default: the branch of this workflow run, else the default)",
    )
    upgrade.add_argument("--cache", action="store_true", help="reuse cached answers (default: fresh ones)")
    upgrade.add_argument("--markdown", help="write the comparison (the PR body) here")
    upgrade.add_argument("--json", dest="json_path", help="write the comparison as JSON here")
    upgrade.add_argument("--token-env", default="GITHUB_TOKEN", help="env var holding the token for --pr")


def add_arguments(
    command: str, p: argparse.ArgumentParser, with_config: Callable[[argparse.ArgumentParser], None]
) -> None:
    """The arguments of ``command`` (pin, compare, drift or upgrade); ``evalgate.cli`` registers it."""
    _ARGUMENTS[command](p, with_config)


_ARGUMENTS: dict[
    str, Callable[[argparse.ArgumentParser, Callable[[argparse.ArgumentParser], None]], None]
] = {
    "pin": _pin_arguments,
    "compare": _compare_arguments,
    "drift": _drift_arguments,
    "upgrade": _upgrade_arguments,
}


def add_rules(p: argparse.ArgumentParser) -> None:
    """The regression rules: from the config's gate section, overridable on the command line."""
    p.add_argument(
        "--config",
        "-c",
        default="evalgate.yaml",
        help="evalgate.yaml whose gate.max_drop and gate.no_new_failures apply (used when it exists)",
    )
    p.add_argument(
        "--max-drop", type=_fraction, help="regression when the pass rate drops more (0.05 or 5%%)"
    )
    p.add_argument("--no-new-failures", action="store_true", help="regression when a passing case fails")


def _fraction(text: str) -> float:
    from evalgate.gate import parse_fraction

    try:
        return parse_fraction(text, "0.05 or 5%")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"'{text}' {exc}") from None


def rules_and_metric(args: argparse.Namespace) -> tuple[Rules, Metric | None]:
    """The regression rules and metric: the config's gate (if the file exists), then the flags."""
    from evalgate.compare import Rules

    max_drop, no_new, metric = None, False, None
    if Path(args.config).is_file():
        from evalgate.config import load_config

        gate = load_config(args.config).config.gate
        max_drop, no_new, metric = gate.max_drop, gate.no_new_failures, gate.metric
    if args.max_drop is not None:
        max_drop = args.max_drop
    return Rules(max_drop=max_drop, no_new_failures=no_new or args.no_new_failures), metric


def dispatch(args: argparse.Namespace, out: Printer) -> int:
    """Run the parsed command."""
    if args.command == "pin":
        return cmd_pin_show(args, out) if args.pin_command == "show" else cmd_pin_set(args, out)
    if args.command == "compare":
        return cmd_compare(args, out)
    if args.command == "drift":
        return cmd_drift(args, out)
    if args.command == "upgrade":
        return cmd_upgrade(args, out)
    raise AssertionError(f"unknown command {args.command}")  # pragma: no cover - argparse rejects it


def cmd_pin_show(args: argparse.Namespace, out: Printer) -> int:
    """Every ``policy.model_pins`` location with its value; the primary pin's locations are marked."""
    from evalgate.config import load_config
    from evalgate.pinfiles import read_pins

    pins = read_pins(load_config(args.config), Path(args.root).resolve() if args.root else None)
    if args.json:
        rows = [
            {
                "location": str(loc.spec),
                **loc.value.to_dict(),
                "primary": loc.value.state == "set" and loc.value.value == pins.primary,
            }
            for loc in pins.locations
        ]
        out.say(json.dumps({"primary": pins.primary, "root": str(pins.root), "pins": rows}, indent=2))
        return EXIT_PASSED
    width = max((len(str(loc.spec)) for loc in pins.locations), default=0)
    for loc in pins.locations:
        value = loc.value.short(200)
        mark = "  (primary)" if loc.value.state == "set" and loc.value.value == pins.primary else ""
        out.say(f"{loc.spec!s:<{width}}  {value}{mark}")
    return EXIT_PASSED


def cmd_pin_set(args: argparse.Namespace, out: Printer) -> int:
    """Move the primary pin to ``args.name`` at every location holding it, keeping formatting."""
    from evalgate.config import load_config
    from evalgate.pinfiles import plan_set, read_pins, write_edit

    loaded = load_config(args.config)
    pins = read_pins(loaded, Path(args.root).resolve() if args.root else None)
    if args.name == pins.primary:
        out.say(f"already pinned to {args.name}; nothing to change")
        return EXIT_PASSED
    allow = {entry.model: entry.reason for entry in loaded.config.pins.allow}
    edit = plan_set(pins, args.name, allow)
    if not args.dry_run:
        write_edit(pins.root, edit)
    verb = "would change" if args.dry_run else "changed"
    for location in edit.moved:
        out.say(f"{verb} {location}: {edit.old} → {edit.new}")
    for loc in edit.kept:
        out.say(f"kept {loc.spec}: {loc.value.short()}")
    return EXIT_PASSED


def load_pair(
    base_path: str, head_path: str, rules: Rules, metric: Metric | None, *, same_cases: bool = False
) -> tuple[RunResult, RunResult, RunComparison]:
    """Read two reports and compare them; ``ConfigError`` naming the differing cases if they cannot be."""
    from evalgate.compare import NotComparable, compare_runs
    from evalgate.gate import as_metric
    from evalgate.merge import read_report

    base, _ = read_report(Path(base_path))
    head, head_verdict = read_report(Path(head_path))
    chosen = metric or as_metric(head_verdict.metric)
    try:
        return base, head, compare_runs(base, head, metric=chosen, rules=rules, same_cases=same_cases)
    except NotComparable as exc:
        differing = _differing(exc.only_base, exc.only_head)
        raise ConfigError(
            f"{base_path} and {head_path} are not comparable: {exc}{differing}",
            fix="compare two runs of the same suite (same case ids)",
        ) from None


def _differing(only_base: tuple[str, ...], only_head: tuple[str, ...], shown: int = 10) -> str:
    parts = []
    for label, ids in (("only in the base", only_base), ("only in the head", only_head)):
        if ids:
            more = f" and {len(ids) - shown} more" if len(ids) > shown else ""
            parts.append(f"{label} ({len(ids)}): {', '.join(ids[:shown])}{more}")
    return ("; " + "; ".join(parts)) if parts else ""


def cmd_compare(args: argparse.Namespace, out: Printer) -> int:
    """Compare two reports; exit 1 on a regression, 2 when they are not comparable."""
    from evalgate.report.comparison import (
        comparison_to_json,
        render_comparison_markdown,
        render_comparison_text,
    )

    rules, metric = rules_and_metric(args)
    _, _, result = load_pair(args.base, args.head, rules, metric, same_cases=args.same_cases)
    if args.json:
        out.say(json.dumps(comparison_to_json(result), indent=2))
    elif args.markdown:
        out.say(render_comparison_markdown(result, args.base, args.head))
    else:
        out.say(render_comparison_text(result, args.base, args.head))
    return EXIT_GATE_FAILED if result.regressed else EXIT_PASSED


def _csv(values: list[str]) -> tuple[str, ...]:
    return tuple(v.strip() for item in values for v in item.split(",") if v.strip())


def run_url(env: dict[str, str] | None = None) -> str | None:
    """The current workflow run's URL, from the runner's environment."""
    import os

    env = dict(os.environ) if env is None else env
    server, repo, run = env.get("GITHUB_SERVER_URL"), env.get("GITHUB_REPOSITORY"), env.get("GITHUB_RUN_ID")
    return f"{server}/{repo}/actions/runs/{run}" if server and repo and run else None


def cmd_drift(args: argparse.Namespace, out: Printer) -> int:
    """Judge the report; exit 1 on a drop (or a failing gate), 0 when ok or only the identity changed."""
    import os

    from evalgate.driftwatch import DriftOptions, run_drift
    from evalgate.ghactions import append_summary, write_outputs
    from evalgate.report.comparison import render_comparison_markdown, render_comparison_text

    rules, metric = rules_and_metric(args)
    opts = DriftOptions(
        report=Path(args.report),
        config_name=args.name or args.config,
        rules=rules,
        metric=metric,
        baseline=Path(args.baseline) if args.baseline else None,
        baseline_artifact=args.baseline_artifact,
        baseline_branch=args.baseline_branch,
        branch=args.branch,
        issue=args.issue,
        labels=_csv(args.label),
        assignees=_csv(args.assignee),
        run_url=args.run_url or run_url(),
        save_baseline=Path(args.save_baseline) if args.save_baseline else None,
        commit=args.commit or os.environ.get("GITHUB_SHA") or None,
    )
    client = branch_client = None
    if args.issue or args.baseline_artifact or args.baseline_branch:
        client_from_env = _github()

        client = client_from_env()
        if (
            args.baseline_branch
            and os.environ.get(args.baseline_token_env)
            and args.baseline_token_env != "GITHUB_TOKEN"
        ):
            branch_client = client_from_env(token_env=args.baseline_token_env)
    try:
        outcome = run_drift(opts, client, out.say, branch_client=branch_client)
    finally:
        for c in (client, branch_client):
            if c is not None:
                c.close()
    finding, comparison = outcome.finding, outcome.comparison
    if comparison is not None:
        out.say(render_comparison_text(comparison, "last good", "this run"))
    words = {
        "ok": "within the margin",
        "first": "first run: no baseline yet",
        "identity": "model identity changed",
        "drop": "DRIFT: quality dropped",
    }
    out.say(f"drift: {words[finding.kind]}" + "".join(f"\n  - {r}" for r in finding.reasons))
    if outcome.issue_url:
        out.say(f"drift issue {outcome.issue_action}: {outcome.issue_url}")
    for note in outcome.notes:
        out.say(note)
    markdown = (
        render_comparison_markdown(
            comparison, "last good", "this run", title="Drift: this run vs the last good run"
        )
        if comparison is not None
        else f"### Drift\n\n{words[finding.kind]}\n"
    )
    if args.markdown:
        Path(args.markdown).write_text(markdown, encoding="utf-8")
    summary, output = os.environ.get("GITHUB_STEP_SUMMARY"), os.environ.get("GITHUB_OUTPUT")
    append_summary(Path(summary) if summary else None, markdown)
    write_outputs(
        Path(output) if output else None,
        {
            "status": finding.kind,
            "good": "true" if finding.good else "false",
            "issue-url": outcome.issue_url or "",
            "issue-action": outcome.issue_action,
        },
    )
    return EXIT_GATE_FAILED if finding.kind == "drop" else EXIT_PASSED


def cmd_upgrade(args: argparse.Namespace, out: Printer) -> int:
    """Both pins side by side; with ``--pr`` a pin-only pull request when the candidate passes the gate."""
    import os

    from evalgate.ghactions import append_summary, write_outputs
    from evalgate.report.comparison import comparison_to_json, render_comparison_text
    from evalgate.upgrade import body, open_pull, run_side_by_side

    if args.pr:  # fail before the expensive runs when the GitHub part cannot work
        client_from_env = _github()

        client_from_env(token_env=args.token_env).close()
    result = run_side_by_side(Path(args.config), args.candidate, use_cache=args.cache, say=out.say)
    out.say(
        render_comparison_text(result.comparison, f"current {result.edit.old}", f"candidate {args.candidate}")
    )
    gate = "passed" if result.verdict.passed else "failed"
    out.say(f"candidate gate: {gate}" + "".join(f"\n  - {r}" for r in result.verdict.reasons))
    text = body(result, run_url())
    if args.markdown:
        Path(args.markdown).write_text(text, encoding="utf-8")
    if args.json_path:
        data = {
            "gate": gate,
            "reasons": list(result.verdict.reasons),
            **comparison_to_json(result.comparison),
        }
        Path(args.json_path).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    url, opened = "", False
    if args.pr and result.verdict.passed:
        client_from_env = _github()

        with client_from_env(token_env=args.token_env) as client:
            # the branch the workflow was dispatched on is what ran: the PR goes back into it
            dispatched = (
                os.environ.get("GITHUB_REF_NAME") if os.environ.get("GITHUB_REF_TYPE") == "branch" else None
            )
            url, opened = open_pull(result, client, base=args.base or dispatched, text=text)
        out.say(f"pull request {'opened' if opened else 'already open'}: {url}")
    elif args.pr:
        out.say("no pull request: the candidate fails the gate (the comparison is in the job summary)")
    summary, output = os.environ.get("GITHUB_STEP_SUMMARY"), os.environ.get("GITHUB_OUTPUT")
    append_summary(Path(summary) if summary else None, text)
    write_outputs(Path(output) if output else None, {"gate": gate, "pr-url": url})
    return EXIT_PASSED if result.verdict.passed else EXIT_GATE_FAILED


def _github() -> Callable[..., WatchClient]:
    """``client_from_env``, or a usage error naming the extra when PyGithub is not installed."""
    try:
        from evalgate.githubwatch import client_from_env
    except ImportError as exc:
        raise UsageError(
            f"the GitHub part of this command needs PyGithub ({exc})",
            fix="pip install 'evalgate[github]'",
        ) from None
    return client_from_env
