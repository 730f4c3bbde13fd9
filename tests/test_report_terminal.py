"""Terminal output: failing cases with file:line, reasons and the answer's first lines; the verdict last."""

from __future__ import annotations

import io

from rich.console import Console

from evalgate.gate import GateConfig, decide
from evalgate.report.terminal import render_plain, render_summary, render_terminal, retry_text
from evalgate.results import CaseResult, CheckResult, Completion, GateVerdict, RunResult, Trial


def make_case(
    case_id: str,
    status: str = "passed",
    reason: str = "missing 'refund'",
    *,
    answer: str = "x",
    line: int = 2,
) -> CaseResult:
    if status == "error":
        return CaseResult(case_id, "evals/a.yaml", line, (Trial(None, (), error=reason),))
    checks = (
        CheckResult("contains", status == "passed", 1.0, "ok" if status == "passed" else reason),
        CheckResult("max_words", status == "passed", 0.0, "ok" if status == "passed" else "52 words > 50"),
    )
    completion = Completion(answer, "m", latency_ms=1234.0)
    return CaseResult(case_id, "evals/a.yaml", line, (Trial(completion, checks),), required=case_id == "req")


def make_run(
    cases: list[CaseResult], provider: str = "openai", retries: dict[str, int] | None = None
) -> tuple[RunResult, GateVerdict]:
    run = RunResult(
        tuple(cases), provider, "gpt-x", "evalgate.yaml", "2024-05-01T12:00:00Z", 1.0, retries=retries
    )
    return run, decide(run.cases, GateConfig(threshold=0.85, max_cost_usd=None))


def to_text(run: RunResult, verdict: GateVerdict, **kwargs: bool) -> str:
    buffer = io.StringIO()
    Console(file=buffer, width=200, color_system=None).print(render_terminal(run, verdict, **kwargs))
    return buffer.getvalue()


def test_verdict_is_the_last_line_after_failing_cases_and_the_summary() -> None:
    run, verdict = make_run(
        [make_case("tc_001"), make_case("tc_002", "failed"), make_case("tc_003", "error")]
    )
    for out in (to_text(run, verdict), render_plain(run, verdict)):
        lines = out.rstrip("\n").splitlines()
        assert lines[-1] == "✘ gate FAILED · 33.3% (1/3) · threshold 85%"
        assert "3 cases: 1 passed, 1 failed, 1 errors · p95 1,234 ms" in lines
        assert "  • pass rate 33.3% (1/3) is below the threshold 85.0%" in lines
        assert out.index("tc_002") < out.index("3 cases:") < out.index("gate FAILED")


def test_only_failing_and_error_cases_are_listed_unless_all() -> None:
    run, verdict = make_run([make_case("tc_001"), make_case("tc_002", "failed")])
    assert "tc_001" not in render_plain(run, verdict)
    assert "tc_001" not in to_text(run, verdict)
    every = render_plain(run, verdict, show_all=True)
    assert "✔ passed tc_001  evals/a.yaml:2  2/2 checks  1,234 ms" in every
    assert "tc_002" in every


def test_a_failing_case_shows_file_line_every_failing_reason_and_the_answer_start() -> None:
    answer = "Line one of the answer\n\nline two\nline three\nline four\nline five"
    run, verdict = make_run([make_case("tc_9", "failed", answer=answer, line=14)])
    lines = render_plain(run, verdict).splitlines()
    assert lines[0] == "✘ failed tc_9  evals/a.yaml:14"
    assert lines[1] == "    contains: missing 'refund'"
    assert lines[2] == "    max_words: 52 words > 50"
    assert lines[3:7] == [
        "    │ Line one of the answer",
        "    │ line two",
        "    │ line three",
        "    │ … 2 more lines",
    ]


def test_an_error_case_shows_its_error() -> None:
    run, verdict = make_run([make_case("tc_3", "error", reason="openai: gave up after 5 attempts: HTTP 429")])
    lines = render_plain(run, verdict).splitlines()
    assert lines[0] == "⚠ error  tc_3  evals/a.yaml:2"
    assert lines[1] == "    openai: gave up after 5 attempts: HTTP 429"


def test_required_and_repeated_cases_say_so() -> None:
    case = make_case("req", "failed")
    repeated = CaseResult("rep", "evals/a.yaml", 5, case.trials * 3, min_pass=2)
    run, verdict = make_run([case, repeated])
    out = render_plain(run, verdict)
    assert "✘ failed req  evals/a.yaml:2  required" in out
    assert "✘ failed rep  evals/a.yaml:5  0/3 trials passed, 2 needed" in out


def test_retries_line_counts_each_kind_and_is_omitted_when_nothing_was_retried() -> None:
    retries = {"429": 49, "5xx": 3, "timeout": 0, "connection": 0, "other": 0, "fallback": 0}
    run, verdict = make_run([make_case("tc_001")], retries=retries)
    expected = "retries: 429 ×49 · 5xx ×3 · timeouts ×0 · connection ×0 · fallback ×0"
    assert expected in render_plain(run, verdict).splitlines()
    assert expected in to_text(run, verdict)
    assert retry_text({k: 0 for k in retries}) == ""
    assert retry_text(None) == ""
    quiet_run, quiet_verdict = make_run([make_case("tc_001")], retries={k: 0 for k in retries})
    assert "retries" not in render_plain(quiet_run, quiet_verdict)


def test_replayed_answers_show_no_latency() -> None:
    run, verdict = make_run([make_case("tc_001"), make_case("tc_002", "failed")], provider="replay")
    out = render_plain(run, verdict, show_all=True)
    assert "ms" not in out
    assert "2 cases: 1 passed, 1 failed, 0 errors" in out


def test_quiet_summary_is_only_the_verdict_line() -> None:
    run, verdict = make_run([make_case("tc_001")])
    assert render_summary(run, verdict) == "✔ gate passed · 100.0% (1/1) · threshold 85%"


def test_model_output_is_not_read_as_rich_markup() -> None:
    run, verdict = make_run(
        [make_case("tc_001", "failed", reason="[bold red]fake[/bold red] \x1b[2J", answer="[blink]a[/blink]")]
    )
    out = to_text(run, verdict)
    assert "[bold red]fake[/bold red]" in out
    assert "[blink]a[/blink]" in out
    assert "\x1b" not in out


def test_plain_output_cannot_inject_workflow_commands() -> None:
    run, verdict = make_run(
        [make_case("tc_001", "failed", reason="ok\n::error::pwned", answer="::warning::x\n::error::y")]
    )
    out = render_plain(run, verdict)
    assert not any(line.startswith("::") for line in out.splitlines())
    assert "::error::" not in out
    assert "::warning::" not in out
