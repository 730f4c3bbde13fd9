"""The judge's checks of the traffic itself, before any metric: fresh data, silence, and the split.

Pure functions of the stage's look history (records per arm per look, from the controller) and the
observation. They answer: did this look bring enough new records to count toward ``min_duration``; has
the source been silent for ``max_silence``; does one arm get no traffic although the other does; and
does the split match the weight (sample-ratio test), with a test that stays valid when routing is sticky.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from evalgate.canary.observations import Arm, LookCounts, Observation
from evalgate.canary.plan import Stage
from evalgate.canary.stats import (
    SplitTest,
    arrival_dispersion,
    p_no_arm_traffic,
    srm_batches,
    srm_units,
)

MIN_LOOK_BATCHES = 4  # looks used as sub-windows: fewer leave the dispersion too uncertain to test


def utc(ts: float) -> str:
    """``08:32:10 UTC`` for a unix time (the date is in the log record's own timestamp)."""
    return datetime.fromtimestamp(ts, UTC).strftime("%H:%M:%S UTC")


def counted(look: LookCounts, min_new: int) -> bool:
    """A look counts toward ``min_duration`` only when each arm got ``min_new`` new records in it."""
    return look.stable >= min_new and look.canary >= min_new


def counted_seconds(history: Sequence[LookCounts], min_new: int) -> float:
    """Time covered by counted looks."""
    return sum(look.seconds for look in history if counted(look, min_new))


@dataclass(frozen=True)
class Silence:
    """The trailing run of looks in which an arm (or both, ``arm=None``) got no new record."""

    arm: Arm | None
    since: float
    seconds: float
    other: int  # records the other arm got meanwhile (0 when both are silent)


def silence(history: Sequence[LookCounts], arm: Arm | None) -> Silence | None:
    """The trailing silent run of ``arm`` (``None``: of both arms), or ``None`` if the last look had data."""
    other_arm: Arm | None = None if arm is None else ("stable" if arm == "canary" else "canary")
    run: list[LookCounts] = []
    for look in reversed(history):
        quiet = look.stable + look.canary == 0 if arm is None else look.of(arm) == 0
        if not quiet:
            break
        run.append(look)
    if not run:
        return None
    other = 0 if other_arm is None else sum(look.of(other_arm) for look in run)
    return Silence(arm, run[-1].start, sum(look.seconds for look in run), other)


def looks_from_batches(obs: Observation, stage: Stage) -> tuple[LookCounts, ...] | None:
    """The look history rebuilt from the source's sub-windows, for a judge called once on a whole window
    (``canary judge``): consecutive sub-windows grouped into looks of ``look_every``."""
    width = obs.batch_s
    if obs.window is None or not obs.batches or width is None or width <= 0:
        return None
    per = max(1, round(stage.look_every / width))  # sub-windows wider than a look are looks themselves
    since, until = obs.window
    looks: list[LookCounts] = []
    for i in range(0, len(obs.batches), per):
        chunk = obs.batches[i : i + per]
        looks.append(
            LookCounts(
                sum(s for s, _ in chunk),
                sum(c for _, c in chunk),
                since + i * width,
                min(until, since + (i + per) * width),
            )
        )
    if len(looks) > 1 and looks[-1].seconds < per * width / 2:
        # a sliver of a look at the end of the window (the judge runs a moment after a look) joins the
        # look before it instead of reading as a look without fresh data
        last, before = looks.pop(), looks.pop()
        looks.append(
            LookCounts(before.stable + last.stable, before.canary + last.canary, before.start, last.end)
        )
    return tuple(looks)


def batches(obs: Observation, history: Sequence[LookCounts]) -> list[tuple[int, int]]:
    """The source's sub-windows when it gave at least two, else the looks themselves."""
    if len(obs.batches) >= 2:
        return list(obs.batches)
    return [(look.stable, look.canary) for look in history]


def no_traffic(
    obs: Observation, history: Sequence[LookCounts], stage: Stage, threshold: float
) -> tuple[Silence, float] | None:
    """An arm silent for at least one look while the other served so much that the weight cannot explain it.

    The other arm's requests are discounted by their arrival dispersion (bursts from one unit are routed
    together), and the chance that the weight routes none of them to the silent arm must fall below
    ``threshold``. Returns the silence and that chance.
    """
    if stage.weight <= 0 or stage.weight >= 100:
        return None
    dispersion = arrival_dispersion([s + c for s, c in batches(obs, history)])
    arms: tuple[Arm, Arm] = ("canary", "stable")
    for arm in arms:
        quiet = silence(history, arm)
        if quiet is None or quiet.other == 0:
            continue
        p = p_no_arm_traffic(quiet.other / dispersion, stage.weight, arm == "canary")
        if p < threshold:
            return quiet, p
    return None


def split_test(obs: Observation, history: Sequence[LookCounts], stage: Stage) -> SplitTest | None:
    """The sample-ratio test the data allows: on units when records name them, else quasi-binomial on
    sub-windows; ``None`` until both arms have ``min_samples`` (units or requests)."""
    if obs.units is not None:
        u_s, u_c = obs.units.get("stable", 0), obs.units.get("canary", 0)
        if min(u_s, u_c) < stage.min_samples:
            return None
        return srm_units(u_s, u_c, stage.weight)
    n_s, n_c = obs.counts.get("stable", 0), obs.counts.get("canary", 0)
    if min(n_s, n_c) < stage.min_samples:
        return None
    if len(obs.batches) >= 2:
        return srm_batches(obs.batches, stage.weight)
    if len(history) < MIN_LOOK_BATCHES:
        return None
    return srm_batches([(look.stable, look.canary) for look in history], stage.weight, test="looks")


def describe_test(test: SplitTest) -> str:
    """Which test was used, for the reason: ``chi-square on 1,204/23,311 units`` or the dispersion one."""
    if test.test == "units":
        return f"chi-square on routing units, n={test.n_canary:,}/{test.n_stable:,} units"
    return (
        f"dispersion-adjusted chi-square over {test.batches} {test.test}, dispersion {test.dispersion:.1f}, "
        f"n={test.n_canary:,}/{test.n_stable:,}"
    )
