"""Terminal output: a rich table for people, plain lines for CI logs."""

from __future__ import annotations

import io

from rich.console import Console

from evalgate.gate import GateConfig, decide
from evalgate.report.terminal import render_plain, render_terminal
from evalgate.results import CaseResult, CheckResult, Completion, GateVerdict, RunResult, Trial


def make_case(case_id: str, status: str = "passed", reason: str = "missing 'refund'") -> CaseResult:
    if status == "error":
        return CaseResult(case_id, "evals/a.yaml", 2, (Trial(None, (), error=reason),))
    check = CheckResult("contains", status == "passed", 1.0, "ok" if status == "passed" else reason)
    return CaseResult(case_id, "evals/a.yaml", 2, (Trial(Completion("x", "m", latency_ms=1234.0), (check,)),))


def make_run(cases: list[CaseResult]) -> tuple[RunResult, GateVerdict]:
    run = RunResult(tuple(cases), "openai", "gpt-x", "evalgate.yaml", "2024-05-01T12:00:00Z", 1.0)
    return run, decide(run.cases, GateConfig(threshold=0.85, max_cost_usd=None))


def to_text(run: RunResult, verdict: GateVerdict, **kwargs: bool) -> str:
    buffer = io.StringIO()
    Console(file=buffer, width=200, color_system=None).print(render_terminal(run, verdict, **kwargs))
    return buffer.getvalue()


def test_terminal_table_lists_every_case_id_with_status() -> None:
    run, verdict = make_run(
        [make_case("tc_001"), make_case("tc_002", "failed"), make_case("tc_003", "error")]
    )
    out = to_text(run, verdict)
    assert "gate failed" in out
    assert "33.3% (1/3) · threshold 85%" in out
    for case_id in ("tc_001", "tc_002", "tc_003"):
        assert case_id in out
    assert out.index("tc_002") < out.index("tc_001")
    assert "1,234 ms" in out
    assert "missing 'refund'" in out


def test_terminal_can_hide_passing_cases() -> None:
    run, verdict = make_run([make_case("tc_001"), make_case("tc_002", "failed")])
    out = to_text(run, verdict, show_passing=False)
    assert "tc_002" in out
    assert "tc_001" not in out


def test_model_output_is_not_read_as_rich_markup() -> None:
    run, verdict = make_run([make_case("tc_001", "failed", reason="[bold red]fake[/bold red] \x1b[2J")])
    out = to_text(run, verdict)
    assert "[bold red]fake[/bold red]" in out
    assert "\x1b" not in out


def test_plain_output_has_one_line_per_failing_case_and_a_summary() -> None:
    cases = [
        make_case("tc_001"),
        make_case("tc_002", "failed"),
        make_case("tc_003", "error", reason="timeout"),
    ]
    run, verdict = make_run(cases)
    lines = render_plain(run, verdict).splitlines()
    assert lines[0] == "FAILED tc_002 (evals/a.yaml:2): missing 'refund'"
    assert lines[1] == "ERROR  tc_003 (evals/a.yaml:2): timeout"
    assert lines[2].startswith(
        "evalgate: gate FAILED · 33.3% (1/3) · threshold 85% · 3 cases, 1 failed, 1 errors"
    )
    assert lines[3] == "  - pass rate 33.3% (1/3) is below the threshold 85.0%"


def test_plain_output_cannot_inject_workflow_commands() -> None:
    run, verdict = make_run([make_case("tc_001", "failed", reason="ok\n::error::pwned")])
    out = render_plain(run, verdict)
    assert not any(line.startswith("::") for line in out.splitlines())
    assert "::error::" not in out
