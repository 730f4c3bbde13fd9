from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from evalgate.canary.plan import RolloutPlan, Stage, format_duration, load_plan, parse_duration
from evalgate.errors import ConfigError, UsageError

# Line numbers matter: the bad-plan cases below replace one line and expect the error on it.
PLAN = """\
canary:
  target: {kind: model, stable: gpt-4o-2024-08-06, candidate: gpt-4o-2024-11-20}
  stages:
    - {weight: 5,  min_duration: 30m, max_duration: 2h, look_every: 5m}
    - {weight: 25, min_duration: 30m, max_duration: 2h, look_every: 5m}
    - {weight: 100}
  metrics:
    - {name: eval_pass_rate, kind: proportion, better: higher, margin: 0.03, critical: true}
    - {name: error_rate, kind: proportion, better: lower, margin: 0.01, guard: 0.05}
    - {name: latency_p95_ms, kind: quantile, q: 0.95, better: lower, tolerance: 0.2}
  live_checks:
    - {type: not_icontains, value: "as an ai language model"}
    - {type: is_json}
  alpha: 0.05
  on_inconclusive: rollback
  router: {type: file, path: deploy/routing.yaml}
  source: {type: jsonl, path: logs/requests.jsonl}
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "evalgate.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _replace_line(line: int, new: str) -> str:
    lines = PLAN.splitlines()
    lines[line - 1] = new
    return "\n".join(lines) + "\n"


def test_a_valid_plan_loads_with_durations_in_seconds(tmp_path: Path) -> None:
    plan = load_plan(_write(tmp_path, PLAN))
    assert [s.weight for s in plan.stages] == [5, 25, 100]
    assert plan.stages[0].min_duration == 1800
    assert plan.stages[0].max_duration == 7200
    assert plan.stages[0].look_every == 300
    assert plan.stages[0].min_samples == 100
    assert [m.name for m in plan.metrics] == ["eval_pass_rate", "error_rate", "latency_p95_ms"]
    assert plan.metrics[1].critical is True  # critical is the default
    assert plan.metrics[2].q == 0.95
    assert [c.type for c in plan.live_checks] == ["not_icontains", "is_json"]
    assert plan.router.type == "file"
    assert plan.router.model_dump()["path"] == "deploy/routing.yaml"
    assert plan.source.model_dump() == {"type": "jsonl", "path": "logs/requests.jsonl"}


def test_a_plan_round_trips_through_its_dump(tmp_path: Path) -> None:
    plan = load_plan(_write(tmp_path, PLAN))
    assert RolloutPlan.model_validate(plan.model_dump()) == plan
    assert RolloutPlan.model_validate_json(plan.model_dump_json()) == plan
    assert plan.model_dump()["stages"][-1] == {"weight": 100}


def test_defaults_fill_stages_q_and_the_rest() -> None:
    plan = RolloutPlan.model_validate(
        {
            "target": {"kind": "prompt", "stable": "v1", "candidate": "v2"},
            "metrics": [{"name": "latency_p99_ms", "kind": "quantile", "better": "lower"}],
            "router": {"type": "command", "set": "echo"},
            "source": {"type": "prometheus", "url": "http://x"},
        }
    )
    assert [s.weight for s in plan.stages] == [5, 25, 100]
    assert plan.metrics[0].q == 0.99
    assert plan.metrics[0].tolerance == 0.1
    assert (plan.alpha, plan.power, plan.on_inconclusive) == (0.05, 0.8, "rollback")


def test_candidate_and_stage_overrides_apply_before_validation(tmp_path: Path) -> None:
    plan = load_plan(
        _write(tmp_path, PLAN),
        candidate="gpt-4o-2025",
        stage_overrides={"min_duration": "1m", "look_every": 10},
    )
    assert plan.target.candidate == "gpt-4o-2025"
    assert [(s.min_duration, s.look_every) for s in plan.stages[:2]] == [(60, 10), (60, 10)]
    with pytest.raises(UsageError, match="weight"):
        load_plan(_write(tmp_path, PLAN), stage_overrides={"weight": 50})


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30m", 1800), ("2h", 7200), ("1h30m", 5400), ("45s", 45), ("1.5h", 5400), ("2m30s", 150), (90, 90),
     ("90", 90), (0.5, 0.5)],
)  # fmt: skip
def test_durations_parse_to_seconds(text: Any, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["5 minutes", "1m1h", "", "h", "-5", "30 m", True, None, [30]])
def test_bad_durations_say_how_to_write_one(text: Any) -> None:
    with pytest.raises(ValueError, match=r"30m, 2h, 1h30m"):
        parse_duration(text)


def test_format_duration_is_the_inverse_for_whole_seconds() -> None:
    assert [format_duration(s) for s in (5400, 1800, 45, 0, 3661)] == ["1h30m", "30m", "45s", "0s", "1h1m1s"]
    assert [format_duration(s) for s in (0.25, 1.6, 2.02, 45.4)] == ["0.25s", "1.6s", "2s", "45s"]


@pytest.mark.parametrize(
    ("line", "new", "message"),
    [
        (5, "    - {weight: 5}", "stages[1].weight 5 is not above stages[0].weight 5"),
        (6, "    - {weight: 50}", "the last stage has weight 50; end with {weight: 100}"),
        (4, "    - {weight: 5, min_duration: 3h}", "max_duration 2h is shorter than min_duration 3h"),
        (4, "    - {weight: 5, look_every: 3h}", "look_every 3h is longer than max_duration 2h"),
        (4, "    - {weight: 0}", "greater than or equal to 1"),
        (6, "    - {weight: 100, min_duration: 1h}", "the 100% stage is the promotion itself"),
        (8, "    - {name: eval_pass_rate, kind: mean, better: higher}", "'proportion' or 'quantile'"),
        (4, "    - {weight: 5, min_duration: 5 minutes}", "'5 minutes' is not a duration"),
        (12, "    - {type: equals, value: yes please}", "'equals' compares against an expected answer"),
        (12, "    - {type: contains, value: refund}", "'contains' compares against an expected answer"),
        (10, "    - {name: latency, kind: quantile, better: lower}", "needs q (e.g. q: 0.95)"),
        (10, "    - {name: latency_p95_ms, kind: quantile, better: lower, margin: 0.1}", "use tolerance"),
        (8, "    - {name: eval_pass_rate, kind: proportion, better: higher, margin: 3}", "3 points is 0.03"),
        (9, "    - {name: error_rate, kind: proportion, better: lower, q: 0.5}", "use margin"),
        (9, "    - {name: error_rate, kind: proportion, better: lower, guard: 5}", "within 0..1"),
        (9, "    - {name: eval_pass_rate, kind: proportion, better: higher}", "listed twice"),
        (5, "    - {weight: 25, rollback_to: 25}", "rollback_to 25 is not below the stage's weight 25"),
        (6, "    - {weight: 100, rollback_to: 5}", "the 100% stage is the promotion itself"),
        (4, "    - {weight: 5, settle: soon}", "'soon' is not a duration"),
        (4, "    - {weight: 5, min_new_samples: 0}", "greater than or equal to 1"),
        (14, "  alpha: 0.5", "less than 0.5"),
        (15, "  on_inconclusive: wait", "'rollback' or 'hold'"),
        (16, "  router: {type: carrier-pigeon}", "'file', 'http' or 'command'"),
        (2, "  target: {kind: model, stable: a, candidate: a}", "nothing to roll out"),
        (2, "  target: {kind: prompt, stable: 1.10, candidate: '1.11'}", "put the version in quotes"),
    ],
)
def test_bad_plans_name_file_line_and_fix(tmp_path: Path, line: int, new: str, message: str) -> None:
    path = _write(tmp_path, _replace_line(line, new))
    with pytest.raises(ConfigError) as info:
        load_plan(path)
    text = str(info.value)
    assert message in text
    reported = int(text.split(":")[1])
    # cross-stage and cross-metric checks point at the list, the rest at the line itself
    assert reported == line or (reported in (4, 8) and line > reported), text
    assert text.startswith(f"{path}:")
    assert "canary." in text


def test_no_critical_metric_is_rejected(tmp_path: Path) -> None:
    text = PLAN.replace("critical: true}", "critical: false}").replace(
        "guard: 0.05}", "guard: 0.05, critical: no}"
    )
    text = text.replace("tolerance: 0.2}", "tolerance: 0.2, critical: false}")
    with pytest.raises(ConfigError, match="no critical metric"):
        load_plan(_write(tmp_path, text))


def test_a_file_without_a_canary_section_says_how_to_add_one(tmp_path: Path) -> None:
    path = _write(tmp_path, "model: {provider: openai, name: gpt-4o}\n")
    with pytest.raises(ConfigError) as info:
        load_plan(path)
    assert str(info.value).startswith(f"{path}:1: no 'canary:' section (add a top-level 'canary:' mapping")


def test_an_empty_canary_section_points_at_its_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "model: {provider: openai, name: gpt-4o}\ncanary:\n")
    with pytest.raises(ConfigError, match=r":2: canary: 'canary:' holds nothing, not a mapping"):
        load_plan(path)


def test_stage_defaults_apply_only_to_judged_stages() -> None:
    assert Stage(weight=5).min_duration == 1800
    with pytest.raises(ValueError, match="never judged"):
        Stage(weight=100, look_every=60)


def test_llm_judge_live_checks_are_refused_with_a_reason() -> None:
    from pydantic import TypeAdapter, ValidationError

    from evalgate.canary.plan import LiveCheck

    with pytest.raises(ValidationError, match="not supported in live_checks yet"):
        TypeAdapter(LiveCheck).validate_python({"type": "llm_judge", "rubric": "polite?"})


def test_fresh_data_settle_and_rollback_defaults() -> None:
    stage = Stage(weight=25, min_duration="30m", max_duration="2h", look_every="5m")
    assert (stage.looks, stage.settle_s, stage.min_new, stage.max_silence_s, stage.rollback_to) == (
        24,
        60.0,
        5,
        600.0,
        0,
    )
    short = Stage(weight=5, min_duration="2s", max_duration="6s", look_every="1s", min_samples=200)
    assert short.settle_s == 0.5  # a quarter of min_duration, so seconds-long drill stages still work
    assert short.min_new == 34
    given = Stage(weight=25, settle="10s", min_new_samples=3, max_silence="15m", rollback_to=5)
    assert (given.settle_s, given.min_new, given.max_silence_s, given.rollback_to) == (10.0, 3, 900.0, 5)


def test_the_readme_plan_rolls_back_from_25_to_5_and_round_trips() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    block = readme.split("```yaml\ncanary:", 1)[1].split("```", 1)[0]
    import yaml

    plan = RolloutPlan.model_validate(yaml.safe_load("canary:" + block)["canary"])
    assert [(s.weight, s.rollback_to) for s in plan.stages] == [(5, 0), (25, 5), (100, 0)]
    assert plan.on_no_data == "rollback"
    assert RolloutPlan.model_validate(plan.model_dump()) == plan
