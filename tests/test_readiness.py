"""The readiness table: a row per seed item with its evidence; only gate.require makes a row fail the gate."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from evalgate.gate import GateConfig, compare, decide
from evalgate.readiness import CodeCheck, Facts, Item, assess, failures
from evalgate.report.markdown import render_readiness
from evalgate.results import CaseResult, CheckResult, Completion, RunResult, Trial


def case(
    case_id: str, ok: bool, *, tags: tuple[str, ...] = (), cost: float = 0.01, ms: float = 100.0
) -> CaseResult:
    check = CheckResult("my label", ok, float(ok), "ok" if ok else "bad")
    done = Completion("{}", "m", latency_ms=ms, cost_usd=cost)
    return CaseResult(case_id, "evals/a.yaml", 1, (Trial(done, (check,)),), tags=tags, prompt="p")


def run_of(cases: list[CaseResult], provider: str = "openai") -> RunResult:
    return RunResult(tuple(cases), provider, "m", "evalgate.yaml", "2026-01-01T00:00:00Z", 1.0)


def facts(**over: object) -> Facts:
    base: dict[str, object] = {"check_kinds": {}, "tag_thresholds": {}}
    base.update(over)
    return Facts(**base)  # type: ignore[arg-type]


def rows(items: list[Item]) -> dict[str, tuple[str, str]]:
    return {i.key: (i.state, i.evidence) for i in items}


def test_every_seed_item_has_a_row_in_order_and_unconfigured_ones_are_hints() -> None:
    run = run_of([case("a", True), case("b", True)])
    verdict = decide(run.cases, GateConfig(threshold=0.5))
    items = assess(run, verdict, None, facts())
    assert [i.label for i in items] == [
        "Code tests",
        "Prompt rendering",
        "Schema validation",
        "Eval pass rate",
        "Security suite",
        "Cost regression",
        "Latency regression",
        "Rollback plan",
        "Observability",
    ]
    got = rows(items)
    assert got["prompt_rendering"] == ("pass", "all 2 prompts rendered before any model call")
    assert got["eval_pass_rate"] == ("pass", "100.0% (2/2) vs threshold 50.0%")
    for key in ("code_tests", "schema_validation", "security_suite", "cost_regression", "rollback_plan"):
        assert got[key][0] == "not_configured", key
    assert failures(items) == []


def test_code_tests_fail_on_any_failing_check_and_wait_for_running_ones() -> None:
    run = run_of([case("a", True)])
    verdict = decide(run.cases, GateConfig())
    ok = [CodeCheck("unit", "success"), CodeCheck("ci/build", "success")]
    assert rows(assess(run, verdict, None, facts(code_checks=ok)))["code_tests"] == (
        "pass",
        "2 other checks passed: unit, ci/build",
    )
    failing = [*ok, CodeCheck("lint", "failure"), CodeCheck("e2e", "pending")]
    assert rows(assess(run, verdict, None, facts(code_checks=failing)))["code_tests"] == (
        "fail",
        "1 of 4 failed: lint",
    )
    running = [*ok, CodeCheck("e2e", "pending")]
    assert rows(assess(run, verdict, None, facts(code_checks=running)))["code_tests"][0] == "pending"


def test_schema_security_and_regressions_read_the_run_and_the_base() -> None:
    now = [
        case("j1", True, cost=0.02, ms=300.0),
        case("j2", False, cost=0.02, ms=300.0),
        case("s1", True, tags=("security",)),
        case("s2", False, tags=("security",)),
    ]
    base = [case("j1", True), case("j2", True), case("s1", True), case("s2", True)]
    run = run_of(now)
    verdict = decide(run.cases, GateConfig())
    kinds = {"j1": ["json_schema"], "j2": ["is_json"], "s1": ["contains"], "s2": ["contains"]}
    got = rows(
        assess(run, verdict, compare(now, base), facts(check_kinds=kinds, tag_thresholds={"security": 0.5}))
    )
    assert got["schema_validation"] == ("fail", "1/2 json_schema / is_json checks passed")
    assert got["security_suite"] == ("pass", "1/2 'security' cases pass (50.0%) vs gate.tags.security 50.0%")
    assert got["cost_regression"][0] == "fail"
    assert "+50%, limit +10%" in got["cost_regression"][1]
    assert got["latency_regression"] == ("fail", "p95 300 ms vs 100 ms on the base (+200%, limit +20%)")
    no_bar = rows(assess(run, verdict, None, facts()))["security_suite"]
    assert no_bar[0] == "fail"
    assert "100% (set gate.tags.security for another bar)" in no_bar[1]


def test_replayed_runs_have_no_latency_to_compare() -> None:
    run = run_of([case("a", True)], provider="replay")
    verdict = decide(run.cases, GateConfig())
    got = rows(assess(run, verdict, compare(run.cases, run.cases), facts()))
    assert got["latency_regression"][0] == "not_configured"
    assert got["cost_regression"][0] == "pass"


def test_canary_plan_and_source_decide_rollback_and_observability() -> None:
    run = run_of([case("a", True)])
    verdict = decide(run.cases, GateConfig())
    got = rows(assess(run, verdict, None, facts(rollback="", observability="")))
    assert got["rollback_plan"][0] == got["observability"][0] == "pass"
    problem = "did not answer: connection refused"
    got = rows(assess(run, verdict, None, facts(rollback="canary.router: missing", observability=problem)))
    assert got["rollback_plan"] == ("fail", "the canary plan is invalid: canary.router: missing")
    assert got["observability"] == ("fail", "the canary source did not answer: connection refused")


def test_required_items_that_do_not_pass_become_gate_reasons() -> None:
    run = run_of([case("a", True)])
    verdict = decide(run.cases, GateConfig())
    items = assess(
        run,
        verdict,
        None,
        facts(require=("rollback_plan", "code_tests"), code_checks=[CodeCheck("e2e", "pending")]),
    )
    assert failures(items) == [
        "readiness: rollback plan is required by gate.require but is not configured: "
        "no canary: section (stages, router, automatic rollback)"
    ]  # pending code tests neither pass nor fail


def test_markdown_table_marks_states_and_escapes_evidence() -> None:
    items = [
        Item("code_tests", "fail", "1 of 2 failed: <b>|lint|</b> @octocat", required=True),
        Item("rollback_plan", "not_configured", "no canary: section"),
        Item("code_tests", "pending", "1 of 1 still running: e2e"),
    ]
    text = render_readiness([i.to_dict() for i in items])
    assert (
        "| ❌ | Code tests **required** | 1 of 2 failed: &lt;b&gt;&#124;lint&#124;&lt;/b&gt; @\u200boctocat |"
        in text
    )
    assert "| ⚪ | Rollback plan | not configured: no canary: section |" in text
    assert "| ⏳ | Code tests | running: 1 of 1 still running: e2e |" in text


CANARY = """\
model: {provider: replay, name: gpt-4o-2024-08-06, responses: answers.yaml}
suites: ["evals/*.yaml"]
canary:
  target: {kind: model, stable: gpt-4o-2024-08-06, candidate: gpt-4o-2024-11-20}
  stages:
    - {weight: 5, min_duration: 30m, max_duration: 2h, look_every: 5m}
    - {weight: 100}
  metrics:
    - {name: eval_pass_rate, kind: proportion, better: higher, margin: 0.03}
  router: {type: file, path: deploy/routing.yaml}
  source: {type: jsonl, path: logs/requests.jsonl}
"""


def _project(tmp_path: Path, config: str) -> Any:
    from evalgate.evaluation import load_project

    (tmp_path / "evals").mkdir(exist_ok=True)
    (tmp_path / "evals" / "a.yaml").write_text(
        "cases:\n  - {id: a, input: hi, tags: [security], checks: [{type: is_json}]}\n"
    )
    (tmp_path / "answers.yaml").write_text('a: "{}"\n')
    (tmp_path / "evalgate.yaml").write_text(config)
    return load_project(tmp_path / "evalgate.yaml")


def test_gathered_facts_read_the_canary_plan_and_probe_its_source(tmp_path: Path) -> None:
    from evalgate.readiness_facts import gather

    project = _project(tmp_path, CANARY)
    empty = gather(project, gh=None, sha=None, status_context="ai-eval-gate", run_url=None, warn=print)
    assert empty.observability == "answered with no requests in the last 1 h"  # no log yet
    (tmp_path / "logs").mkdir()
    now = time.time()
    lines = [
        {"ts": now - 60, "arm": arm, "input": "q", "output": "{}", "latency_ms": 100, "error": False}
        for arm in ("stable", "canary")
    ]
    (tmp_path / "logs" / "requests.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    found = gather(project, gh=None, sha=None, status_context="ai-eval-gate", run_url=None, warn=print)
    assert (found.rollback, found.observability) == ("", "")
    assert found.check_kinds == {"a": ["is_json"]}
    assert found.code_checks is None  # not asked without a token

    broken = _project(tmp_path, CANARY.replace("  router: {type: file, path: deploy/routing.yaml}\n", ""))
    facts_broken = gather(broken, gh=None, sha=None, status_context="ai-eval-gate", run_url=None, warn=print)
    assert "router" in (facts_broken.rollback or "")
    assert facts_broken.observability == "cannot be asked: the canary plan does not load"

    none = _project(tmp_path, CANARY.split("canary:")[0])
    plain = gather(none, gh=None, sha=None, status_context="ai-eval-gate", run_url=None, warn=print)
    assert (plain.rollback, plain.observability) == (None, None)


def test_a_case_whose_prompt_did_not_render_fails_prompt_rendering() -> None:
    unrendered = CaseResult("z", "evals/a.yaml", 3, (Trial(None, error="transform_vars threw: boom"),))
    run = run_of([case("a", True), unrendered])
    items = assess(run, decide(run.cases, GateConfig()), None, facts())
    assert rows(items)["prompt_rendering"] == ("fail", "1 of 2 prompts did not render: z")
    old = run_of([CaseResult("a", "s", 1, (Trial(Completion("{}", "m"), ()),))])  # no prompts recorded
    items = assess(old, decide(old.cases, GateConfig()), None, facts())
    assert rows(items)["prompt_rendering"] == ("pass", "1 cases ran, so every prompt rendered")
