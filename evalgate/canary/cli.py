"""``evalgate canary plan|run|judge|status|promote|rollback``."""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from evalgate.canary.decisionlog import DecisionLog
from evalgate.errors import UsageError

if TYPE_CHECKING:
    from evalgate.canary.controller import Outcome
    from evalgate.canary.judge import Decision
    from evalgate.canary.plan import RolloutPlan
    from evalgate.canary.routers import Router
    from evalgate.github import DeploymentState, GitHubClient
    from evalgate.notify import CanaryAlerts

EXIT_HELD = 4
DEFAULT_LOG = ".evalgate/canary-decisions.jsonl"


class Printer(Protocol):
    def say(self, text: str) -> None: ...

    def warn(self, text: str) -> None: ...


def add_arguments(
    canary: argparse.ArgumentParser, with_config: Callable[[argparse.ArgumentParser], None]
) -> None:
    """The verbs of ``evalgate canary ...`` (the command itself is registered by ``evalgate.cli``)."""
    verbs = canary.add_subparsers(dest="canary_command", required=True, parser_class=type(canary))

    def common(p: argparse.ArgumentParser) -> None:
        with_config(p)
        p.add_argument("--candidate", help="override canary.target.candidate")
        p.add_argument("--log", default=DEFAULT_LOG, help=f"decision log, JSON lines (default {DEFAULT_LOG})")

    plan = verbs.add_parser("plan", help="samples and time each stage needs to detect the margins")
    common(plan)
    plan.add_argument("--rate", type=float, default=10.0, help="total requests per second (default 10)")
    plan.add_argument(
        "--no-probe", action="store_true", help="only print sample sizes; do not ask the source and router"
    )

    run = verbs.add_parser("run", help="run every stage in real time; promote or roll back")
    common(run)
    run.add_argument("--until", type=int, help="stop after the stage with this weight passed (e.g. 25)")
    run.add_argument("--github-deployment", help="'new' to create a GitHub Deployment, or an existing id")
    run.add_argument("--environment", default="canary", help="GitHub environment of a new deployment")

    judge = verbs.add_parser("judge", help="judge one stage once and exit (an Argo Rollouts analysis step)")
    with_config(judge)
    judge.add_argument("--candidate", help="override canary.target.candidate")
    judge.add_argument("--log", help="also append the decision to this decision log")
    from evalgate.canary.oneshot import add_arguments as add_judge_arguments

    add_judge_arguments(judge)

    status = verbs.add_parser("status", help="the router's weight and the last decision")
    common(status)

    for verb in ("promote", "rollback"):
        p = verbs.add_parser(verb, help=f"manual {verb}, recorded as a decision by a named actor")
        common(p)
        p.add_argument("--actor", required=True, help="who decided (e.g. ${{ github.actor }})")
        p.add_argument("--reason", default="", help="why")
        p.add_argument("--github-deployment", help="deployment id to mark success/failure")


def _plan(args: argparse.Namespace) -> RolloutPlan:
    from evalgate.canary.plan import load_plan

    return load_plan(Path(args.config), candidate=args.candidate)


def _router(plan: RolloutPlan, args: argparse.Namespace, env: Mapping[str, str]) -> Router:
    from evalgate.canary.routers import build_router

    return build_router(
        dict(plan.router.model_dump()),
        base_dir=Path(args.config).resolve().parent,
        env=env,
        stable=plan.target.stable,
        candidate=plan.target.candidate,
    )


def _log(args: argparse.Namespace) -> DecisionLog:
    return DecisionLog(Path(args.log))


def _github(env: Mapping[str, str]) -> GitHubClient:
    from evalgate.github import GitHubClient

    token, repo = env.get("GITHUB_TOKEN"), env.get("GITHUB_REPOSITORY")
    if not token or not repo:
        raise UsageError(
            "--github-deployment needs GITHUB_TOKEN and GITHUB_REPOSITORY in the environment",
            fix="in a workflow set env GITHUB_TOKEN: ${{ github.token }} and permissions deployments: write",
        )
    return GitHubClient(token, api_url=env.get("GITHUB_API_URL", "https://api.github.com"), repository=repo)


def _run_url(env: Mapping[str, str]) -> str | None:
    if env.get("GITHUB_REPOSITORY") and env.get("GITHUB_RUN_ID"):
        server = env.get("GITHUB_SERVER_URL", "https://github.com")
        return f"{server}/{env['GITHUB_REPOSITORY']}/actions/runs/{env['GITHUB_RUN_ID']}"
    return None


def cmd_plan(args: argparse.Namespace, out: Printer) -> int:
    """Print what each stage needs to reach a decision."""
    from evalgate.canary.planning import plan_report, render_plan_report

    plan = _plan(args)
    if args.rate <= 0:
        raise UsageError("--rate must be a positive number of requests per second")
    checked: list[str] = []
    if not args.no_probe:
        from evalgate.canary.probe import probe

        # fail fast (exit 2 or 3) on a source or router that does not answer, before anyone waits
        checked = probe(plan, config=Path(args.config), env=os.environ)
    out.say(render_plan_report(plan, plan_report(plan, args.rate)))
    for line in checked:
        out.say(line)
    return 0


def cmd_run(args: argparse.Namespace, out: Printer, env: Mapping[str, str] | None = None) -> int:
    """Run the rollout; exit 0 promoted, 1 rolled back, 3 infrastructure, 4 held."""
    from evalgate.canary.console import decision_line, event_line, outcome_line
    from evalgate.canary.controller import Controller
    from evalgate.canary.judge import format_status
    from evalgate.canary.sources import build_source

    environ = os.environ if env is None else env
    plan = _plan(args)
    if args.until is not None and args.until not in [s.weight for s in plan.stages]:
        raise UsageError(
            f"--until {args.until} is not a stage weight", fix=f"use one of {[s.weight for s in plan.stages]}"
        )
    router = _router(plan, args, environ)
    source = build_source(
        dict(plan.source.model_dump()),
        base_dir=Path(args.config).resolve().parent,
        env=environ,
        metrics=plan.metrics,
        live_checks=plan.live_checks,
    )
    log = _log(args)
    gh, deployment = None, None
    if args.github_deployment:
        gh = _github(environ)
        if args.github_deployment == "new":
            ref = environ.get("GITHUB_SHA") or "HEAD"
            deployment = gh.create_deployment(
                ref, environment=args.environment, description=f"canary {plan.target.candidate}"
            )
        else:
            deployment = int(args.github_deployment)

    alerts = _alerts(plan, environ, out)

    def publish(decision: Decision) -> None:
        line = format_status(decision)
        out.say(decision_line(decision, time.time()))
        alerts.decision({"kind": "decision", **decision.to_dict()})
        if gh is not None and deployment is not None:
            gh.deployment_status(deployment, state="in_progress", description=line, log_url=_run_url(environ))

    controller = Controller(
        plan=plan,
        router=router,
        source=source,
        log=log,
        until=args.until,
        publish=publish,
        on_event=lambda record: out.say(event_line(record, time.time())),
    )
    first = plan.stages[0].weight if args.until is None or plan.stages[0].weight <= args.until else 0
    alerts.start(first, f"rolling out {plan.target.candidate} in stages {[s.weight for s in plan.stages]}")
    outcome = controller.run()
    if outcome.result == "infrastructure":
        alerts.ended(outcome.result, outcome.weight, outcome.reason)
    out.say(outcome_line(outcome, time.time()))
    if gh is not None and deployment is not None:
        _finish_deployment(gh, deployment, outcome, environ)
    _write_github_files(environ, outcome, deployment, log)
    return outcome.exit_code


def _alerts(plan: RolloutPlan, env: Mapping[str, str], out: Printer) -> CanaryAlerts:
    from evalgate.notify import canary_alerts

    return canary_alerts(plan.notify, plan.target.model_dump(), env, out.warn)


def _finish_deployment(gh: GitHubClient, deployment: int, outcome: Outcome, env: Mapping[str, str]) -> None:
    states: dict[str, DeploymentState] = {
        "promoted": "success",
        "passed_until": "in_progress",
        "rolled_back": "failure",
        "held": "queued",
        "infrastructure": "error",
    }
    state = states[outcome.result]
    gh.deployment_status(deployment, state=state, description=outcome.reason[:140], log_url=_run_url(env))


def _write_github_files(
    env: Mapping[str, str], outcome: Outcome, deployment: int | None, log: DecisionLog
) -> None:
    from evalgate.canary.report import decision_table
    from evalgate.ghactions import append_summary, write_outputs

    output, summary = env.get("GITHUB_OUTPUT"), env.get("GITHUB_STEP_SUMMARY")
    write_outputs(
        Path(output) if output else None,
        {
            "decision": outcome.result,
            "weight": "" if outcome.weight is None else str(outcome.weight),
            "deployment-id": "" if deployment is None else str(deployment),
        },
    )
    append_summary(Path(summary) if summary else None, decision_table(log.read_all(), outcome.reason))


def cmd_status(args: argparse.Namespace, out: Printer) -> int:
    """The router's weight now and the last recorded decision."""
    plan = _plan(args)
    weight = _router(plan, args, os.environ).get_weight()
    records = _log(args).read_all()
    last = next((r for r in reversed(records) if r.get("kind") in ("decision", "manual")), None)
    out.say(f"target: {plan.target.kind} {plan.target.stable} → {plan.target.candidate}")
    out.say(f"canary weight: {weight}%")
    if last is None:
        out.say("no decision recorded yet")
    else:
        who = last.get("actor", "judge")
        out.say(f"last decision: {last.get('action')} by {who} at {last.get('ts')}: {last.get('reason', '')}")
    return 0


def cmd_manual(args: argparse.Namespace, out: Printer, env: Mapping[str, str] | None = None) -> int:
    """``promote`` or ``rollback`` by a named actor."""
    from evalgate.canary.controller import manual

    environ = os.environ if env is None else env
    plan = _plan(args)
    action = args.canary_command
    weight = manual(
        action, router=_router(plan, args, environ), log=_log(args), actor=args.actor, reason=args.reason
    )
    out.say(f"evalgate canary: manual {action} by {args.actor}: traffic at {weight}%")
    _alerts(plan, environ, out).decision(
        {"kind": "manual", "action": action, "weight": weight, "actor": args.actor,
         "reason": f"manual {action} by {args.actor}" + (f": {args.reason}" if args.reason else "")}
    )  # fmt: skip
    if args.github_deployment:
        gh = _github(environ)
        state: DeploymentState = "success" if action == "promote" else "failure"
        description = f"manual {action} by {args.actor}" + (f": {args.reason}" if args.reason else "")
        gh.deployment_status(
            int(args.github_deployment), state=state, description=description[:140], log_url=_run_url(environ)
        )
    return 0  # the command did what it was asked; `canary run` is what exits 1 on a rollback


def dispatch(args: argparse.Namespace, out: Printer) -> int:
    """Run the chosen canary subcommand."""
    verb = args.canary_command
    if verb == "plan":
        return cmd_plan(args, out)
    if verb == "run":
        return cmd_run(args, out)
    if verb == "judge":
        from evalgate.canary.oneshot import cmd_judge

        return cmd_judge(args, out)
    if verb == "status":
        return cmd_status(args, out)
    return cmd_manual(args, out)
