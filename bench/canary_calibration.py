#!/usr/bin/env python3
"""Canary calibration: how often the real judge promotes equal versions and catches regressions.

Simulates many rollouts of the 5% stage (and, for equal versions, the 25% stage after it) of the
README-default plan, calling the pure ``evalgate.canary.judge.judge`` at every look with cumulative
synthetic observations. Time is simulated (no clock, no I/O), so a two-hour stage costs milliseconds.

    python bench/canary_calibration.py               # 1000 seeds per scenario, 200 requests/s
    python bench/canary_calibration.py --quick       # 100 seeds
    python bench/canary_calibration.py --rate 50 --json

The plan: stages 5, 25, 100 with ``min_duration 30m``, ``max_duration 2h``, ``look_every 5m`` (24
planned looks, so a per-look alpha of 0.05 / 24); ``eval_pass_rate`` margin 0.03 (critical),
``error_rate`` margin 0.01 and guard 0.05, ``latency_p95_ms`` tolerance 0.2; ``alpha 0.05``, power 0.8,
``on_inconclusive: rollback``.

The traffic model, per arm and per look window (each stage starts a fresh window, as the controller
does, and the judge sees the cumulative counts since the stage started):

- ``rate * look_every`` requests per look, split by a binomial draw at the stage weight (stable gets
  the rest), so the sample-ratio check sees honest binomial noise;
- every request is scored (``eval_pass_rate``, base 0.90, minus the scenario's drop on the canary) and
  can error (``error_rate``, base 0.01), independently;
- latency is lognormal with a 300 ms median (sigma 0.5, so p95 is about 680 ms), the same in both arms.

Approximations, to keep 1000 seeds within a minute on two cores:

- binomial draws use exact inversion while the expected count of the rarer outcome is below 30 and the
  normal approximation (rounded, clamped to ``0..n``) above it;
- latency uses a fixed subsample per look (``--latency-canary`` canary and ``--latency-stable`` stable
  values, or all requests when fewer arrived) instead of every request; the latency metric therefore
  passes later than it would on full data, and it is judged on fewer samples than the counts show.

The script exits 1 when a measured value misses its target, so it is a real check, not only a report.
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
from typing import Any

from pathlib import Path

# Run from a checkout (``python bench/canary_calibration.py``): judge this tree's evalgate, not an install.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from evalgate.canary.judge import SRM_P, Decision, judge, planned_looks  # noqa: E402
from evalgate.canary.observations import Arm, ArmData, Observation, Proportion, Samples  # noqa: E402
from evalgate.canary.plan import RolloutPlan, format_duration  # noqa: E402
from evalgate.canary.planning import plan_report  # noqa: E402

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
        {"name": "eval_pass_rate", "kind": "proportion", "better": "higher", "margin": 0.03, "critical": True},
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

    Inverse-CDF sampling with linear interpolation in a fine table: several times faster than
    ``rng.lognormvariate`` and the same distribution except beyond the table's outermost quantiles.
    """
    table = _latency_table()
    top = len(table) - 1
    rnd = rng.random
    out = []
    for _ in range(k):
        x = rnd() * top
        i = int(x)
        lo = table[i]
        out.append(lo + (table[i + 1] - lo) * (x - i))
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
    regressed: tuple[str, ...] = ()


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
        regressed = tuple(m.name for m in decision.metrics if m.verdict == "regression")
        cause = cause_of(decision) if decision.action == "rollback" else None
        return StageOutcome(index, decision.action, cause, look, counts["canary"], regressed)


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


def run(cfg: Config, seeds: int, base_seed: int, pool: ProcessPoolExecutor | None) -> list[Rollout]:
    """All seeds of one scenario, spread over the pool's workers in a few chunks."""
    all_seeds = [base_seed + i for i in range(seeds)]
    if pool is None:
        return _simulate_chunk((all_seeds, cfg))
    chunks = [(all_seeds[i::8], cfg) for i in range(8)]
    return [r for part in pool.map(_simulate_chunk, chunks) for r in part]


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
    """``requested`` when the 5% stage can decide in time (per ``plan_report``), else the lowest rate that can."""
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


def share(count: int, total: int) -> float:
    """``count / total`` as a fraction, 0 for no seeds."""
    return count / total if total else 0.0


def first_stage(rollouts: Sequence[Rollout]) -> list[StageOutcome]:
    """The 5% stage outcome of every rollout."""
    return [r.stages[0] for r in rollouts]


def cause_breakdown(outcomes: Sequence[StageOutcome]) -> dict[str, float]:
    """Rollback rate per cause over all seeds (so the causes add up to the rollback rate)."""
    causes = Counter(o.cause for o in outcomes if o.action == "rollback")
    return {cause: share(causes[cause], len(outcomes)) for cause in CAUSES}


def spread(values: Sequence[float]) -> dict[str, float]:
    """Median, p90 and max."""
    if not values:
        return {"median": math.nan, "p90": math.nan, "max": math.nan}
    return {"median": statistics.median(values), "p90": pct(values, 0.9), "max": max(values)}


@dataclass
class Row:
    """One line of the final table; ``ok`` is None for informational rows without a target."""

    measure: str
    value: str
    target: str
    ok: bool | None


def _rate(x: float) -> str:
    return f"{x * 100:.1f}%"


def _n(x: float) -> str:
    return "—" if math.isnan(x) else f"{x:,.0f}"


def table(rows: Sequence[Row]) -> str:
    """The Markdown table for the README."""
    lines = ["| measure | value | target | result |", "|---|---|---|---|"]
    for row in rows:
        result = "—" if row.ok is None else "PASS" if row.ok else "FAIL"
        lines.append(f"| {row.measure} | {row.value} | {row.target} | {result} |")
    return "\n".join(lines)


def _jsonable(value: Any) -> Any:
    """NaN (an empty spread) becomes null, so the output is strict JSON."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


# --- main -------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Simulate the scenarios, print the findings and the table; 1 if a target is missed."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=None, help="rollouts per scenario (default 1000)")
    parser.add_argument("--quick", action="store_true", help="100 seeds per scenario, unless --seeds is given")
    parser.add_argument("--rate", type=float, default=200.0, help="total requests/s (default 200)")
    parser.add_argument("--json", action="store_true", help="also print the results as one JSON object")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), help="worker processes")
    parser.add_argument("--latency-canary", type=int, default=300, help="canary latencies kept per look")
    parser.add_argument("--latency-stable", type=int, default=1200, help="stable latencies kept per look")
    parser.add_argument("--seed", type=int, default=0, help="first seed")
    parser.add_argument(
        "--stage5-only", action="store_true", help="equal versions: judge only the 5%% stage, not 25%% too"
    )
    args = parser.parse_args(argv)
    seeds = args.seeds if args.seeds is not None else 100 if args.quick else 1000
    if seeds < 1 or args.rate <= 0:
        parser.error("--seeds and --rate must be positive")

    plan = standard_plan()
    stage5 = plan.stages[0]
    looks = planned_looks(stage5)
    choice = choose_rate(plan, args.rate)
    started = time.perf_counter()
    print(
        f"plan: stages {'/'.join(str(s.weight) for s in plan.stages)}, "
        f"min {format_duration(stage5.min_duration)}, max {format_duration(stage5.max_duration)}, "
        f"look every {format_duration(stage5.look_every)} ({looks} looks, per-look alpha "
        f"{plan.alpha / looks:.5f}), power {plan.power:g}, on_inconclusive {plan.on_inconclusive}"
    )
    if choice.rate != choice.requested:
        print(
            f"--rate {choice.requested:g} is too low for the 5% stage to reach its planned samples in "
            f"{format_duration(stage5.max_duration)}; using {choice.rate:g} requests/s instead"
        )
    planned = ", ".join(
        f"{name} {n:,}/arm by {format_duration(choice.planned_seconds[name])}"
        for name, n in choice.planned_samples.items()
    )
    print(
        f"rate: {choice.rate:g} requests/s (canary ≈ {choice.rate * stage5.weight / 100:g}/s at 5%); "
        f"plan_report for the 5% stage: {planned}; lowest rate that decides within "
        f"{format_duration(stage5.max_duration)}: {choice.min_rate:.1f}/s"
    )
    print(f"seeds: {seeds} per scenario, {args.jobs} worker(s)", flush=True)

    stages = (0,) if args.stage5_only else (0, 1)
    lat = {"latency_canary": args.latency_canary, "latency_stable": args.latency_stable}
    scenarios = {
        "equal": Config(choice.rate, 0.0, stages, **lat),
        "drop5": Config(choice.rate, 0.05, (0,), **lat),
        "drop20": Config(choice.rate, 0.20, (0,), **lat),
        "equal_min_rate": Config(choice.min_rate, 0.0, (0,), **lat),
        "drop5_min_rate": Config(choice.min_rate, 0.05, (0,), **lat),
    }
    pool = ProcessPoolExecutor(args.jobs) if args.jobs > 1 else None
    try:
        results = {
            name: run(cfg, seeds, args.seed + 1_000_000 * i, pool)
            for i, (name, cfg) in enumerate(scenarios.items())
        }
    finally:
        if pool is not None:
            pool.shutdown()
    elapsed = time.perf_counter() - started

    equal5 = first_stage(results["equal"])
    drop5 = first_stage(results["drop5"])
    drop20 = first_stage(results["drop20"])
    eq_min = first_stage(results["equal_min_rate"])
    d5_min = first_stage(results["drop5_min_rate"])

    promote5 = share(sum(o.action == "promote" for o in equal5), seeds)
    promote_all = share(sum(r.promoted for r in results["equal"]), seeds)
    false_rb = cause_breakdown(equal5)
    rb5 = share(sum(o.action == "rollback" for o in drop5), seeds)
    rb5_reg = share(sum(o.cause == "regression" for o in drop5), seeds)
    rb5_causes = cause_breakdown(drop5)
    rb20_outcomes = [o for o in drop20 if o.action == "rollback"]
    rb20 = share(len(rb20_outcomes), seeds)
    rb20_reg = share(sum(o.cause == "regression" for o in drop20), seeds)
    look20 = spread([o.look for o in rb20_outcomes])
    n20 = spread([o.n_canary for o in rb20_outcomes])
    n_equal = spread([o.n_canary for o in equal5])
    look_equal = spread([o.look for o in equal5])
    n_drop5 = spread([o.n_canary for o in drop5])
    look_drop5 = spread([o.look for o in drop5])
    eq_min_promote = share(sum(o.action == "promote" for o in eq_min), seeds)
    eq_min_causes = cause_breakdown(eq_min)
    d5_min_reg = share(sum(o.cause == "regression" for o in d5_min), seeds)
    d5_min_rb = share(sum(o.action == "rollback" for o in d5_min), seeds)
    late_latency = share(sum(o.action == "promote" and o.look > 6 for o in equal5), seeds)

    print()
    print(f"equal versions, 5% stage: promoted {_rate(promote5)}; rolled back by cause: "
          + ", ".join(f"{c} {_rate(v)}" for c, v in false_rb.items()))  # fmt: skip
    if len(stages) > 1:
        second = [r.stages[1] for r in results["equal"] if len(r.stages) > 1]
        print(
            f"equal versions, 5% then 25%: promoted to 100% {_rate(promote_all)}; 25% stage rolled back "
            f"by cause: " + ", ".join(f"{c} {_rate(v * len(second) / seeds)}"
                                      for c, v in cause_breakdown(second).items())
        )  # fmt: skip
    print(
        f"equal versions: decided at look median {look_equal['median']:g} (p90 {look_equal['p90']:g}), "
        f"canary n median {_n(n_equal['median'])} (p90 {_n(n_equal['p90'])}); "
        f"promoted after look 6 (min_duration) {_rate(late_latency)}"
    )
    print(
        f"5-pt drop: rolled back {_rate(rb5)} (as a regression {_rate(rb5_reg)}, causes "
        + ", ".join(f"{c} {_rate(v)}" for c, v in rb5_causes.items())
        + f"); look median {look_drop5['median']:g} (p90 {look_drop5['p90']:g}, max {look_drop5['max']:g}), "
        f"canary n median {_n(n_drop5['median'])} (p90 {_n(n_drop5['p90'])})"
    )
    print(
        f"20-pt drop: rolled back {_rate(rb20)} (as a regression {_rate(rb20_reg)}) at look median "
        f"{look20['median']:g}, p90 {look20['p90']:g}, max {look20['max']:g}; canary n median "
        f"{_n(n20['median'])}, p90 {_n(n20['p90'])}, max {_n(n20['max'])}"
    )
    print(
        f"at the lowest deciding rate {choice.min_rate:.1f}/s (planned samples reached only at max_duration): "
        f"equal promoted {_rate(eq_min_promote)} (rolled back: "
        + ", ".join(f"{c} {_rate(v)}" for c, v in eq_min_causes.items())
        + f"); 5-pt drop rolled back {_rate(d5_min_rb)}, as a regression {_rate(d5_min_reg)}"
    )
    print(f"simulation time: {elapsed:.1f} s for {seeds * len(scenarios):,} rollouts", flush=True)

    rows = [
        Row(f"equal versions promoted at 5% ({choice.rate:g} req/s)", _rate(promote5), "≥ 98%",
            promote5 >= 0.98),
        Row("equal versions promoted through 5% and 25%", _rate(promote_all) if len(stages) > 1 else "—",
            "≥ 98%" if len(stages) > 1 else "—", promote_all >= 0.98 if len(stages) > 1 else None),
        Row("5-pt eval_pass_rate drop rolled back as a regression", _rate(rb5_reg), "≥ 95%", rb5_reg >= 0.95),
        Row("5-pt drop rolled back (any cause)", _rate(rb5), "≥ 95%", rb5 >= 0.95),
        Row("20-pt drop rolled back as a regression", _rate(rb20_reg), "≥ 99%", rb20_reg >= 0.99),
        Row("20-pt drop: look of rollback (median / p90 / max)",
            f"{look20['median']:g} / {look20['p90']:g} / {look20['max']:g}", "—", None),
        Row("20-pt drop: canary n at rollback (median / p90 / max)",
            f"{_n(n20['median'])} / {_n(n20['p90'])} / {_n(n20['max'])}", "—", None),
        Row("equal: canary n to decision (median / p90)", f"{_n(n_equal['median'])} / {_n(n_equal['p90'])}",
            "—", None),
        Row("5-pt drop: canary n to decision (median / p90)",
            f"{_n(n_drop5['median'])} / {_n(n_drop5['p90'])}", "—", None),
        *(
            Row(f"equal: false rollback by {cause}", _rate(false_rb[cause]), "≤ 2%" if cause == "srm" else "—",
                false_rb[cause] <= 0.02 if cause == "srm" else None)
            for cause in CAUSES
        ),
        Row(f"equal promoted at the lowest deciding rate ({choice.min_rate:.1f} req/s)", _rate(eq_min_promote),
            "—", None),
        Row(f"5-pt drop as a regression at {choice.min_rate:.1f} req/s", _rate(d5_min_reg), "—", None),
    ]  # fmt: skip
    print()
    print(table(rows))
    failed = [row.measure for row in rows if row.ok is False]
    if args.json:
        out = {
            "seeds": seeds,
            "rate": choice.rate,
            "min_rate": choice.min_rate,
            "planned_samples": choice.planned_samples,
            "seconds": elapsed,
            "equal": {"promote_5": promote5, "promote_all": promote_all, "false_rollback": false_rb,
                      "n_canary": n_equal, "look": look_equal},
            "drop5": {"rollback": rb5, "rollback_regression": rb5_reg, "causes": rb5_causes,
                      "n_canary": n_drop5, "look": look_drop5},
            "drop20": {"rollback": rb20, "rollback_regression": rb20_reg, "look": look20, "n_canary": n20},
            "at_min_rate": {"equal_promote": eq_min_promote, "equal_causes": eq_min_causes,
                         "drop5_rollback": d5_min_rb, "drop5_regression": d5_min_reg},
            "rows": [asdict(row) for row in rows],
            "failed": failed,
        }  # fmt: skip
        print()
        print(json.dumps(_jsonable(out), sort_keys=True))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
