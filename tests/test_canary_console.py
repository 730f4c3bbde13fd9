"""What ``canary run`` prints: UTC timestamps, ``stage 25% · look 3/24``, ``n=canary/stable``, the ending."""

from __future__ import annotations

from evalgate.canary.console import decision_line, event_line, outcome_line
from evalgate.canary.controller import Outcome
from evalgate.canary.judge import Decision

NOW = 1_780_000_000.0  # 2026-05-28T20:26:40Z


def _decision(**changes: object) -> Decision:
    fields: dict[str, object] = {
        "action": "extend",
        "stage": 1,
        "weight": 25,
        "look": 3,
        "reason": "all critical metrics pass but only 15m of fresh data of the 30m minimum has been seen",
        "metrics": (),
        "srm_p": None,
        "elapsed_s": 900.0,
        "planned_looks": 24,
        "counts": (9_012, 26_988),
        **changes,
    }
    return Decision(**fields)  # type: ignore[arg-type]


def test_a_look_line_has_the_time_the_stage_the_look_and_labelled_sizes() -> None:
    assert decision_line(_decision(), NOW) == (
        "2026-05-28T20:26:40Z stage 25% · look 3/24 · extend · n=9,012/26,988 (canary/stable): "
        "all critical metrics pass but only 15m of fresh data of the 30m minimum has been seen"
    )


def test_a_stepwise_rollback_says_where_the_weight_goes() -> None:
    line = decision_line(_decision(action="rollback", rollback_to=5, reason="eval_pass_rate fell"), NOW)
    assert " · rollback to 5% · " in line


def test_weight_and_settle_events() -> None:
    assert event_line({"kind": "weight", "weight": 25, "reason": "stage 2: 25%"}, NOW) == (
        "2026-05-28T20:26:40Z weight 25%: stage 2: 25%"
    )
    settle = {"kind": "settle", "weight": 25, "reason": "settle 1m after setting 25%: observed split ..."}
    assert event_line(settle, NOW).startswith("2026-05-28T20:26:40Z stage 25% · settle 1m after setting 25%")


def test_until_ends_with_the_stop_never_with_promoting_to_100() -> None:
    until = Outcome(
        "passed_until", 25, "stopped at 25% as asked (`--until 25`); promote with `evalgate canary promote`"
    )
    line = outcome_line(until, NOW)
    assert line == (
        "2026-05-28T20:26:40Z evalgate canary: stopped at 25% as asked (`--until 25`); promote with "
        "`evalgate canary promote`"
    )
    assert "100%" not in line
    assert outcome_line(Outcome("rolled_back", 5, "eval_pass_rate fell"), NOW).endswith(
        "evalgate canary: rolled back at 5%: eval_pass_rate fell"
    )
    assert "at ?:" in outcome_line(Outcome("infrastructure", None, "TRAFFIC MAY STILL BE ON THE CANARY"), NOW)
