#!/usr/bin/env python3
"""Canary calibration: how often the real judge promotes equal versions and catches regressions.

Simulates many rollouts of the 5% stage (and, for equal versions, the 25% stage after it) of the
README-default plan, calling the pure ``evalgate.canary.judge.judge`` at every look with cumulative
synthetic observations. Time is simulated (no clock, no I/O), so a two-hour stage costs milliseconds.

    python bench/canary_calibration.py               # 1000 seeds per scenario, 200 requests/s
    python bench/canary_calibration.py --quick       # 100 seeds
    python bench/canary_calibration.py --rate 50 --json

The plan: stages 5, 25, 100 with ``min_duration 30m``, ``max_duration 2h``, ``look_every 5m`` (24
planned looks, so a per-look alpha of 0.05 / 24); ``eval_pass_rate`` margin 0.03, ``error_rate``
margin 0.01 and guard 0.05, ``latency_p95_ms`` tolerance 0.2 (all critical, the default); ``alpha
0.05``, power 0.8, ``on_inconclusive: rollback``.

The rate: ``--rate`` (total requests/s) if ``plan_report`` says the 5% stage reaches the planned samples
of every metric within ``max_duration`` at it, else the lowest rate at which it does. The scenarios,
``--seeds`` rollouts each: equal versions (5% then 25%), a 5-point and a 20-point drop of the canary's
``eval_pass_rate`` (5% stage) at that rate; and equal versions and the 5-point drop at the lowest
deciding rate, where the 5% stage reaches its planned samples only at ``max_duration``.

The traffic model, per arm and per look window (each stage starts a fresh window, as the controller
does, and the judge sees the cumulative counts since the stage started):

- ``rate * look_every`` requests per look, split by a binomial draw at the stage weight (stable gets
  the rest), so the sample-ratio check sees honest binomial noise;
- every request is scored (``eval_pass_rate``, base 0.90, minus the scenario's drop on the canary) and
  can error (``error_rate``, base 0.01), independently; both proportions count every request;
- latency is lognormal with a 300 ms median (sigma 0.5, so p95 is about 680 ms), the same in both arms.

Approximations, to keep 1000 seeds well within a minute on two cores:

- binomial draws use exact inversion while the expected count of the rarer outcome is below 30 and the
  normal approximation (rounded, clamped to ``0..n``) above it;
- latency uses a fixed subsample per look (``--latency-canary``, default 500, and ``--latency-stable``,
  default 2000, or all requests when fewer arrived) instead of every request, so the latency metric is
  judged on fewer samples than the counts show and may pass a look or two later than on full data
  (with 300/1200 it held about 7% of equal rollouts past ``min_duration``; with 500/2000 none);
- latencies are drawn by inverse CDF from a table of 65,536 lognormal quantiles (discrete at 1/65,536 in
  probability, far below the sampling error of any p95 here).

Rollback causes follow the judge's order of rules: ``srm`` (sample-ratio mismatch), ``guard``,
``regression`` (a critical metric), else ``inconclusive`` (still undecided at ``max_duration``).
The script prints the findings and a Markdown table for the README, and exits 1 when a measured value
misses its target, so it is a real check, not only a report.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import statistics
import sys
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import Any

# Run from a checkout (``python bench/canary_calibration.py``): judge this tree's evalgate, not an install.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from evalgate.canary.judge import SRM_P, Decision, judge, planned_looks
from evalgate.canary.observations import Arm, ArmData, Observation, Proportion, Samples
from evalgate.canary.plan import RolloutPlan, format_duration
from evalgate.canary.planning import plan_report

BASE_PASS_RATE = 0.90
BASE_ERROR_RATE = 0.01
LATENCY_MEDIAN_MS = 300.0
LATENCY_SIGMA = 0.5
LATENCY_TABLE_SIZE = 1 << 16
EXACT_BINOMIAL_BELOW = 30.0  # expected count of the rarer outcome; the normal approximation above it
CAUSES = ("regression", "guard", "srm", "inconclusive")

PLAN_DOC: dict[str, Any] = {
    "target": {"kind": "model", "stable": "gpt-4o-2024-08-06", "candidate": "gpt-4o-2024-11-20"},
    "stages": [
        {"weight": 5, "min_duration": "30m", "max_duration": "2h", "look_every": "5m"},
        {"weight": 25, "min_duration": "30m", "max_duration": "2h", "look_every": "5m"},
        {"weight": 100},
    ],
    "metrics": [
        {"name": "eval_pass_rate", "kind": "proportion", "better": "higher", "margin": 0.03},
        {"name": "error_rate", "kind": "proportion", "better": "lower", "margin": 0.01, "guard": 0.05},
        {"name": "latency_p95_ms", "kind": "quantile", "better": "lower", "tolerance": 0.2},
    ],
    "alpha": 0.05,
    "on_inconclusive": "rollback",
    "router": {"type": "file", "path": "deploy/routing.yaml"},
    "source": {"type": "jsonl", "path": "logs/requests.jsonl"},
}


@cache
def standard_plan() -> RolloutPlan:
    """The README-default plan (built once per process)."""
    return RolloutPlan.model_validate(PLAN_DOC)


# --- sampling ---------------------------------------------------------------------------------


def binomial(rng: random.Random, n: int, p: float) -> int:
    """A Binomial(n, p) draw: exact inversion for small expected counts, the normal approximation else."""
    if n <= 0 or p <= 0.0:
        return 0
    if p >= 1.0:
        return n
    if p > 0.5:
        return n - binomial(rng, n, 1.0 - p)
    mean = n * p
    if mean >= EXACT_BINOMIAL_BELOW:
        x = round(rng.gauss(mean, math.sqrt(mean * (1.0 - p))))
        return min(n, max(0, x))
    # Inversion by sequential search (Kachitvichyanukul & Schmeiser's BINV): O(n p) steps on average.
    q = 1.0 - p
    s = p / q
    a = (n + 1) * s
    r = q**n
    u = rng.random()
    x = 0
    while u > r and x < n:
        u -= r
        x += 1
        r *= a / x - s
    return x


@cache
def _latency_table() -> tuple[float, ...]:
    """Lognormal quantiles at ``(i + 0.5) / LATENCY_TABLE_SIZE``: the inverse CDF, tabulated once."""
    dist = statistics.NormalDist(math.log(LATENCY_MEDIAN_MS), LATENCY_SIGMA)
    return tuple(math.exp(dist.inv_cdf((i + 0.5) / LATENCY_TABLE_SIZE)) for i in range(LATENCY_TABLE_SIZE))


def latencies(rng: random.Random, k: int) -> list[float]:
    """``k`` lognormal latencies (ms) around the median, sorted.

    Inverse-CDF sampling from a table of 65,536 quantiles: several times faster than
    ``rng.lognormvariate``; the distribution is discretised at a resolution of 1/65,536 in probability,
    far below the sampling error of any p95 the judge sees.
    """
    table = _latency_table()
    size = float(len(table))
    rnd = rng.random
    out = [table[int(rnd() * size)] for _ in range(k)]
    out.sort()
    return out


# --- one stage, one rollout -------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    """What a worker needs to simulate: traffic, quality and the latency subsample per look."""

    rate: float  # total requests per second
    pass_drop: float  # canary eval_pass_rate = BASE_PASS_RATE - pass_drop
    stages: tuple[int, ...]  # stage indices to run, in order
    latency_canary: int
    latency_stable: int


@dataclass(frozen=True)
class StageOutcome:
    """How one stage ended: the action, its cause for a rollback, and the look and canary count then."""

    stage: int
    action: str
    cause: str | None
    look: int
    n_canary: int


@dataclass(frozen=True)
class Rollout:
    """One seed: the stage outcomes in order (the last one ended the rollout unless all promoted)."""

    seed: int
    stages: tuple[StageOutcome, ...]

    @property
    def promoted(self) -> bool:
        return all(s.action == "promote" for s in self.stages)


def cause_of(decision: Decision) -> str:
    """Why the judge rolled back, in the judge's own order of rules: SRM, guard, regression, else max."""
    if decision.srm_p is not None and decision.srm_p < SRM_P:
        return "srm"
    if any(m.verdict == "guard" for m in decision.metrics):
        return "guard"
    if any(m.critical and m.verdict == "regression" for m in decision.metrics):
        return "regression"
    return "inconclusive"


def simulate_stage(plan: RolloutPlan, index: int, cfg: Config, rng: random.Random) -> StageOutcome:
    """Run one stage look by look until the judge promotes, rolls back or holds."""
    stage = plan.stages[index]
    share = stage.weight / 100.0
    per_look = round(cfg.rate * stage.look_every)
    canary_pass = BASE_PASS_RATE - cfg.pass_drop
    counts = {"stable": 0, "canary": 0}
    passes = {"stable": 0, "canary": 0}
    errors = {"stable": 0, "canary": 0}
    lat: dict[str, list[float]] = {"stable": [], "canary": []}
    pass_rate = {"stable": BASE_PASS_RATE, "canary": canary_pass}
    lat_k = {"stable": cfg.latency_stable, "canary": cfg.latency_canary}
    arms: tuple[Arm, Arm] = ("stable", "canary")
    look = 0
    while True:
        look += 1
        new_canary = binomial(rng, per_look, share)
        new = {"stable": per_look - new_canary, "canary": new_canary}
        for arm in arms:
            n = new[arm]
            counts[arm] += n
            passes[arm] += binomial(rng, n, pass_rate[arm])
            errors[arm] += binomial(rng, n, BASE_ERROR_RATE)
            values = lat[arm]
            values.extend(latencies(rng, min(n, lat_k[arm])))
            values.sort()  # two sorted runs: timsort merges them in linear time
        metrics: dict[str, dict[Arm, ArmData]] = {
            "eval_pass_rate": {arm: Proportion(passes[arm], counts[arm]) for arm in arms},
            "error_rate": {arm: Proportion(errors[arm], counts[arm]) for arm in arms},
            "latency_p95_ms": {arm: Samples(tuple(lat[arm])) for arm in arms},
        }
        obs = Observation(counts=dict(counts), metrics=metrics, source="simulation")
        decision = judge(plan, index, look, look * stage.look_every, obs)
        if decision.action == "extend":
            continue
        cause = cause_of(decision) if decision.action == "rollback" else None
        return StageOutcome(index, decision.action, cause, look, counts["canary"])


def simulate(seed: int, cfg: Config) -> Rollout:
    """One rollout through ``cfg.stages``, stopping at the first stage that does not promote."""
    plan = standard_plan()
    rng = random.Random(seed)
    outcomes: list[StageOutcome] = []
    for index in cfg.stages:
        outcome = simulate_stage(plan, index, cfg, rng)
        outcomes.append(outcome)
        if outcome.action != "promote":
            break
    return Rollout(seed, tuple(outcomes))


def _simulate_chunk(args: tuple[Sequence[int], Config]) -> list[Rollout]:
    seeds, cfg = args
    return [simulate(seed, cfg) for seed in seeds]


CHUNKS_PER_SCENARIO = 16


def run_all(scenarios: dict[str, Config], seeds: int, first_seed: int, jobs: int) -> dict[str, list[Rollout]]:
    """Every seed of every scenario; with ``jobs > 1`` all chunks go to one pool at once, so no worker idles
    between scenarios. Scenario ``i`` uses seeds ``first_seed + 1_000_000 * i + 0..seeds-1``."""
    work: list[tuple[str, tuple[Sequence[int], Config]]] = []
    for i, (name, cfg) in enumerate(scenarios.items()):
        base = first_seed + 1_000_000 * i
        all_seeds = [base + k for k in range(seeds)]
        work += [(name, (all_seeds[c::CHUNKS_PER_SCENARIO], cfg)) for c in range(CHUNKS_PER_SCENARIO)]
    out: dict[str, list[Rollout]] = {name: [] for name in scenarios}
    if jobs <= 1:
        parts = [_simulate_chunk(args) for _, args in work]
    else:
        with ProcessPoolExecutor(jobs) as pool:
            parts = list(pool.map(_simulate_chunk, [args for _, args in work]))
    for (name, _), part in zip(work, parts, strict=True):
        out[name] += part
    return out


# --- rate selection ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RateChoice:
    """The traffic rate simulated, and what the planner says the 5% stage needs."""

    requested: float
    rate: float
    min_rate: float  # the lowest rate at which every 5% metric reaches its planned samples by max_duration
    planned_samples: dict[str, int]
    planned_seconds: dict[str, float]


def _stage0_feasible(plan: RolloutPlan, rate: float) -> bool:
    return plan_report(plan, rate)[0].feasible


def choose_rate(plan: RolloutPlan, requested: float) -> RateChoice:
    """``requested`` when the 5% stage can decide in time (per ``plan_report``), else the lowest rate
    that can; with that lowest rate either way, for the scenarios run at the planned samples."""
    first = plan_report(plan, requested)[0]
    stage = plan.stages[first.stage]
    share = min(stage.weight, 100 - stage.weight) / 100.0
    need = max(m.samples or 0 for m in first.metrics)
    # The planner rounds up to whole looks, so a rate a hair above samples / (share * max) may still fail.
    low = need / (share * stage.max_duration)
    while not _stage0_feasible(plan, low):
        low *= 1.001
    rate = requested if first.feasible else math.ceil(low * 10) / 10
    final = plan_report(plan, rate)[0]
    return RateChoice(
        requested=requested,
        rate=rate,
        min_rate=low,
        planned_samples={m.name: m.samples or 0 for m in final.metrics},
        planned_seconds={m.name: m.seconds or math.inf for m in final.metrics},
    )


# --- summaries --------------------------------------------------------------------------------


def pct(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..1) of a non-empty sequence."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def spread(values: Sequence[float]) -> dict[str, float | None]:
    """Median, p90 and max; None for no values."""
    if not values:
        return {"median": None, "p90": None, "max": None}
    return {"median": statistics.median(values), "p90": pct(values, 0.9), "max": max(values)}


@dataclass(frozen=True)
class Summary:
    """One scenario's stage outcomes, reduced to rates (fractions of all seeds) and spreads."""

    seeds: int
    decided: int  # seeds whose rollout reached this stage
    promote: float
    rollback: float
    causes: dict[str, float]  # rollback rate per cause; they add up to ``rollback``
    look: dict[str, float | None]  # look of the decision
    n_canary: dict[str, float | None]  # canary requests at the decision
    rollback_look: dict[str, float | None]
    rollback_n_canary: dict[str, float | None]


def summarize(rollouts: Sequence[Rollout], stage_pos: int = 0) -> Summary:
    """Outcomes of the ``stage_pos``-th judged stage (0 = the 5% stage) over all seeds."""
    seeds = len(rollouts)
    outcomes = [r.stages[stage_pos] for r in rollouts if len(r.stages) > stage_pos]
    rollbacks = [o for o in outcomes if o.action == "rollback"]
    causes = Counter(o.cause for o in rollbacks)
    return Summary(
        seeds=seeds,
        decided=len(outcomes),
        promote=sum(o.action == "promote" for o in outcomes) / seeds,
        rollback=len(rollbacks) / seeds,
        causes={cause: causes[cause] / seeds for cause in CAUSES},
        look=spread([o.look for o in outcomes]),
        n_canary=spread([o.n_canary for o in outcomes]),
        rollback_look=spread([o.look for o in rollbacks]),
        rollback_n_canary=spread([o.n_canary for o in rollbacks]),
    )


@dataclass(frozen=True)
class Row:
    """One line of the final table; ``ok`` is None for informational rows without a target."""

    measure: str
    value: str
    target: str = "—"
    ok: bool | None = None


def _pc(x: float) -> str:
    return f"{x * 100:.1f}%"


def _n(x: float | None) -> str:
    return "—" if x is None else f"{x:,.0f}"


def _three(s: dict[str, float | None], fmt: Any = _n) -> str:
    return " / ".join(fmt(s[k]) for k in ("median", "p90", "max"))


def _looks(s: dict[str, float | None]) -> str:
    return _three(s, lambda x: "—" if x is None else f"{x:g}")


def _causes(s: Summary) -> str:
    return " / ".join(_pc(s.causes[c]) for c in CAUSES)


def _at_least(measure: str, value: float, target: float) -> Row:
    return Row(measure, _pc(value), f"≥ {target * 100:g}%", value >= target)


def build_rows(sums: dict[str, Summary], choice: RateChoice, two_stages: bool) -> list[Row]:
    """The table: targets first, then the numbers behind them."""
    equal, drop5, drop20 = sums["equal"], sums["drop5"], sums["drop20"]
    eq_min, d5_min = sums["equal_min_rate"], sums["drop5_min_rate"]
    rate, low = f"{choice.rate:g} req/s", f"{choice.min_rate:.1f} req/s"
    cause_names = " / ".join(CAUSES)
    rows = [_at_least(f"equal versions promoted at 5% ({rate})", equal.promote, 0.98)]
    if two_stages:
        rows.append(_at_least("equal versions promoted through 5% and 25%", sums["equal_25"].promote, 0.98))
    rows += [
        _at_least(f"5-pt drop rolled back as a regression ({rate})", drop5.causes["regression"], 0.95),
        _at_least("5-pt drop rolled back, any cause", drop5.rollback, 0.95),
        _at_least("20-pt drop rolled back, any cause", drop20.rollback, 0.99),
        Row("20-pt drop rolled back as a regression", _pc(drop20.causes["regression"])),
        Row("20-pt drop: look of rollback (median / p90 / max)", _looks(drop20.rollback_look)),
        Row("20-pt drop: canary n at rollback (median / p90 / max)", _three(drop20.rollback_n_canary)),
        Row("equal: canary n to decision at 5% (median / p90)",
            f"{_n(equal.n_canary['median'])} / {_n(equal.n_canary['p90'])}"),
        Row("5-pt drop: canary n to decision (median / p90)",
            f"{_n(drop5.n_canary['median'])} / {_n(drop5.n_canary['p90'])}"),
        Row(f"equal: false rollback at 5% by {cause_names}", _causes(equal)),
    ]  # fmt: skip
    if two_stages:
        rows.append(Row(f"equal: false rollback at 25% by {cause_names}", _causes(sums["equal_25"])))
    rows += [
        Row(f"equal promoted at 5%, at the lowest deciding rate ({low})", _pc(eq_min.promote)),
        Row(f"equal: false rollback at 5% ({low}) by {cause_names}", _causes(eq_min)),
        Row(f"5-pt drop rolled back as a regression ({low})", _pc(d5_min.causes["regression"])),
        Row(f"5-pt drop rolled back, any cause ({low})", _pc(d5_min.rollback)),
    ]
    return rows


def table(rows: Sequence[Row]) -> str:
    """The Markdown table for the README."""
    lines = ["| measure | value | target | result |", "|---|---|---|---|"]
    for row in rows:
        result = "—" if row.ok is None else "PASS" if row.ok else "FAIL"
        lines.append(f"| {row.measure} | {row.value} | {row.target} | {result} |")
    return "\n".join(lines)


# --- main -------------------------------------------------------------------------------------


def _describe(plan: RolloutPlan, choice: RateChoice) -> None:
    stage = plan.stages[0]
    looks = planned_looks(stage)
    print(
        f"plan: stages {'/'.join(str(s.weight) for s in plan.stages)}, "
        f"min {format_duration(stage.min_duration)}, max {format_duration(stage.max_duration)}, "
        f"look every {format_duration(stage.look_every)} "
        f"({looks} looks, per-look alpha {plan.alpha / looks:.5f}), power {plan.power:g}, "
        f"on_inconclusive {plan.on_inconclusive}"
    )
    if choice.rate != choice.requested:
        print(
            f"--rate {choice.requested:g} is too low for the 5% stage to reach its planned samples within "
            f"{format_duration(stage.max_duration)}; simulating {choice.rate:g} requests/s instead"
        )
    planned = ", ".join(
        f"{name} {n:,}/arm by {format_duration(choice.planned_seconds[name])}"
        for name, n in choice.planned_samples.items()
    )
    print(
        f"rate: {choice.rate:g} requests/s (canary ≈ {choice.rate * stage.weight / 100:g}/s at 5%); "
        f"plan_report, 5% stage: {planned}; lowest rate at which it decides within "
        f"{format_duration(stage.max_duration)}: {choice.min_rate:.1f}/s"
    )


def _findings(sums: dict[str, Summary], choice: RateChoice) -> None:
    def causes(s: Summary) -> str:
        return ", ".join(f"{c} {_pc(s.causes[c])}" for c in CAUSES)

    equal, drop5, drop20 = sums["equal"], sums["drop5"], sums["drop20"]
    print(f"equal, 5% stage: promoted {_pc(equal.promote)}; rolled back by {causes(equal)}")
    if "equal_25" in sums:
        e25 = sums["equal_25"]
        print(
            f"equal, 25% stage (after promoting at 5%): promoted {_pc(e25.promote)}; "
            f"rolled back by {causes(e25)}"
        )
    print(
        f"equal: decided at look {_looks(equal.look)} (median / p90 / max), canary n {_three(equal.n_canary)}"
    )
    print(
        f"5-pt drop: rolled back {_pc(drop5.rollback)} ({causes(drop5)}); at look {_looks(drop5.look)}, "
        f"canary n {_three(drop5.n_canary)}"
    )
    print(
        f"20-pt drop: rolled back {_pc(drop20.rollback)} ({causes(drop20)}); at look "
        f"{_looks(drop20.rollback_look)}, canary n {_three(drop20.rollback_n_canary)}"
    )
    eq_min, d5_min = sums["equal_min_rate"], sums["drop5_min_rate"]
    print(
        f"at {choice.min_rate:.1f} req/s (planned samples reached only at max_duration): equal promoted "
        f"{_pc(eq_min.promote)} (rolled back by {causes(eq_min)}); 5-pt drop rolled back "
        f"{_pc(d5_min.rollback)} ({causes(d5_min)}), decided at look {_looks(d5_min.look)}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Simulate the scenarios, print the findings and the table; 1 if a target is missed."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, default=None, help="rollouts per scenario (default 1000)")
    parser.add_argument(
        "--quick", action="store_true", help="100 seeds per scenario, unless --seeds is given"
    )
    parser.add_argument("--rate", type=float, default=200.0, help="total requests/s (default 200)")
    parser.add_argument("--json", action="store_true", help="also print the results as one JSON object")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), help="worker processes")
    parser.add_argument("--latency-canary", type=int, default=500, help="canary latencies kept per look")
    parser.add_argument("--latency-stable", type=int, default=2000, help="stable latencies kept per look")
    parser.add_argument("--seed", type=int, default=0, help="first seed")
    parser.add_argument(
        "--stage5-only",
        action="store_true",
        help="equal versions: judge only the 5%% stage, not 25%% after it",
    )
    args = parser.parse_args(argv)
    seeds = args.seeds if args.seeds is not None else 100 if args.quick else 1000
    if seeds < 1 or args.rate <= 0 or args.latency_canary < 1 or args.latency_stable < 1:
        parser.error("--seeds, --rate and the latency sample sizes must be positive")

    plan = standard_plan()
    choice = choose_rate(plan, args.rate)
    _describe(plan, choice)
    print(f"seeds: {seeds} per scenario, {args.jobs} worker(s)", flush=True)
    started = time.perf_counter()
    two_stages = not args.stage5_only
    lat = {"latency_canary": args.latency_canary, "latency_stable": args.latency_stable}
    scenarios = {
        "equal": Config(choice.rate, 0.0, (0, 1) if two_stages else (0,), **lat),
        "drop5": Config(choice.rate, 0.05, (0,), **lat),
        "drop20": Config(choice.rate, 0.20, (0,), **lat),
        "equal_min_rate": Config(choice.min_rate, 0.0, (0,), **lat),
        "drop5_min_rate": Config(choice.min_rate, 0.05, (0,), **lat),
    }
    results = run_all(scenarios, seeds, args.seed, args.jobs)
    elapsed = time.perf_counter() - started
    sums = {name: summarize(rollouts) for name, rollouts in results.items()}
    if two_stages:
        sums["equal_25"] = summarize(results["equal"], 1)

    print()
    _findings(sums, choice)
    print(f"simulated {seeds * len(scenarios):,} rollouts in {elapsed:.1f} s", flush=True)
    rows = build_rows(sums, choice, two_stages)
    print()
    print(table(rows))
    failed = [row.measure for row in rows if row.ok is False]
    if failed:
        print(f"\nmissed: {'; '.join(failed)}")
    if args.json:
        out = {
            "seeds": seeds,
            "rate": choice.rate,
            "min_rate": choice.min_rate,
            "planned_samples": choice.planned_samples,
            "seconds": elapsed,
            "scenarios": {name: asdict(s) for name, s in sums.items()},
            "rows": [asdict(row) for row in rows],
            "failed": failed,
        }
        print()
        print(json.dumps(out, sort_keys=True))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
