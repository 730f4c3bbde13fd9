"""``evalgate canary judge``: one look at one stage, judged and turned into an exit code. No router, no loop.

This is the judge as a step of a rollout engine that already shifts traffic (an Argo Rollouts
AnalysisTemplate's ``job`` provider, a Flagger webhook job, a CI step): the engine set the weight at
``--since``; this command reads the plan's metric source from then plus the stage's ``settle`` to now (as
``canary run`` does), asks the same pure judge, prints the same sentence and exits

    0 pass (promote-worthy) · 1 regression, guard breach or inconclusive past max_duration with
    ``on_inconclusive: rollback`` · 4 inconclusive (look again later) · 2 bad config · 3 source unreachable.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import time
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from evalgate.errors import EXIT_GATE_FAILED, EXIT_PASSED, UsageError

if TYPE_CHECKING:
    from evalgate.canary.judge import Decision
    from evalgate.canary.observations import Observation
    from evalgate.canary.plan import RolloutPlan

EXIT_INCONCLUSIVE = 4
SOURCE_ATTEMPTS = 3
CLOCK_SKEW_S = 5.0  # a --since this far ahead of our clock is a pod clock that runs a little behind


class Printer(Protocol):
    def say(self, text: str) -> None: ...

    def warn(self, text: str) -> None: ...


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The flags of ``canary judge`` (``--config``, ``--candidate`` and ``--log`` come from the caller)."""
    p.add_argument("--weight", type=int, required=True, help="the stage to judge, by its weight (e.g. 25)")
    p.add_argument(
        "--since",
        required=True,
        help="when traffic reached this weight: ISO 8601 with a zone (2026-11-30T10:00:00Z) or unix seconds",
    )
    p.add_argument("--json", dest="json_path", help="write the decision record (JSON) here")


def parse_since(text: str) -> float:
    """Unix seconds from ``2026-11-30T10:00:00Z``, ``...+02:00`` or ``1764496800``; else ``UsageError``."""
    value = text.strip()
    fix = "give an ISO 8601 time with a zone, e.g. 2026-11-30T10:00:00Z, or unix seconds"
    try:
        seconds = float(value)
    except ValueError:
        try:
            moment = datetime.fromisoformat(value.replace("z", "Z"))
        except ValueError:
            raise UsageError(f"--since '{text}' is not a time", fix=fix) from None
        if moment.tzinfo is None:
            raise UsageError(
                f"--since '{text}' has no time zone, so it could mean any of 24 hours", fix=fix
            ) from None
        return moment.timestamp()
    if not math.isfinite(seconds) or seconds <= 0:
        raise UsageError(f"--since '{text}' is not a time", fix=fix)
    return seconds


def stage_index(plan: RolloutPlan, weight: int) -> int:
    """The index of the judged stage with ``weight``; the 100% stage and unknown weights are usage errors."""
    judged = [s.weight for s in plan.stages if not s.final]
    for index, stage in enumerate(plan.stages):
        if stage.weight == weight and not stage.final:
            return index
    if weight == 100:
        raise UsageError(
            "--weight 100 is the promotion itself, which is never judged",
            fix=f"judge the stage before it: one of {judged}",
        )
    raise UsageError(f"--weight {weight} is not a stage of the plan", fix=f"use one of {judged}")


def look_number(plan: RolloutPlan, index: int, elapsed_s: float) -> int:
    """Which look of the stage this is, from the time since the weight was set (1 at the earliest)."""
    from evalgate.canary.judge import planned_looks

    stage = plan.stages[index]
    return max(1, min(planned_looks(stage), math.floor(elapsed_s / stage.look_every + 1e-9)))


def exit_code(decision: Decision) -> int:
    """0 promote-worthy, 1 roll back, 4 not yet decided (extend, or hold at the maximum)."""
    if decision.action == "promote":
        return EXIT_PASSED
    if decision.action == "rollback":
        return EXIT_GATE_FAILED
    return EXIT_INCONCLUSIVE


def judged_from(plan: RolloutPlan, weight: int, since: float, now: float) -> float:
    """Where judging starts: the weight change plus the stage's ``settle`` (as ``canary run`` does)."""
    return min(now, since + plan.stages[stage_index(plan, weight)].settle_s)


def judge_once(plan: RolloutPlan, weight: int, start: float, now: float, obs: Observation) -> Decision:
    """The decision for the stage with ``weight`` on ``obs`` of ``[start, now)``; pure."""
    from evalgate.canary.judge import judge

    index = stage_index(plan, weight)
    elapsed = max(0.0, now - start)
    return judge(plan, index, look_number(plan, index, elapsed), elapsed, obs)


def decision_record(decision: Decision, now: float) -> dict[str, Any]:
    """The JSON line ``canary run`` logs for a decision, plus the exit code this command returns."""
    from evalgate.canary.decisionlog import iso

    return {"ts": iso(now), "kind": "decision", **decision.to_dict(), "exit_code": exit_code(decision)}


def cmd_judge(
    args: argparse.Namespace, out: Printer, env: Mapping[str, str] | None = None, now: float | None = None
) -> int:
    """Judge one stage once; print the reason, write the JSON, return the exit code."""
    from evalgate.canary.decisionlog import DecisionLog
    from evalgate.canary.plan import load_plan
    from evalgate.canary.sources import build_source
    from evalgate.retry import call_with_retries

    environ = os.environ if env is None else env
    plan = load_plan(Path(args.config), candidate=args.candidate)
    since = parse_since(args.since)
    stage_index(plan, args.weight)  # a bad --weight fails before the source is asked anything
    until = time.time() if now is None else now
    if since > until + CLOCK_SKEW_S:
        raise UsageError(
            f"--since {args.since} is {since - until:.0f} s in the future",
            fix="pass the moment traffic reached the weight: $(date -u +%Y-%m-%dT%H:%M:%SZ) at the start",
        )
    source = build_source(
        dict(plan.source.model_dump()),
        base_dir=Path(args.config).resolve().parent,
        env=environ,
        metrics=plan.metrics,
        live_checks=plan.live_checks,
    )
    start = judged_from(plan, args.weight, min(since, until), until)
    obs = call_with_retries(
        lambda: source.observe(start, until),
        max_attempts=SOURCE_ATTEMPTS,
        describe=f"metric source {source.name}",
    )
    request_batches = getattr(source, "request_batches", None)
    if not obs.batches and request_batches is not None:
        # counters over the whole window cannot tell fresh traffic from old: count it per sub-window
        found, width = call_with_retries(
            lambda: request_batches(start, until),
            max_attempts=SOURCE_ATTEMPTS,
            describe=f"metric source {source.name}",
        )
        if found:
            obs = dataclasses.replace(obs, batches=found, batch_s=width)
    decision = judge_once(plan, args.weight, start, until, obs)
    record = decision_record(decision, until)
    out.say(f"evalgate canary: {decision.action}: {decision.reason}")
    if plan.notify:
        from evalgate.notify import canary_alerts

        canary_alerts(plan.notify, plan.target.model_dump(), environ, out.warn).decision(record)
    if args.json_path:
        _write_json(Path(args.json_path), record)
    if args.log:
        DecisionLog(Path(args.log)).append({k: v for k, v in record.items() if k != "ts"}, now=until)
    return exit_code(decision)


def _write_json(path: Path, record: dict[str, Any]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write --json '{path}': {exc.strerror}") from None
