"""The PR comment body: verdict first, failing cases next, hostile text inert, always within the size cap."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
from markdown_it import MarkdownIt

from evalgate.gate import GateConfig, compare, decide
from evalgate.report.escape import clean, code_literal, escape_markdown, log_safe, md, safe_url, xml_safe
from evalgate.report.markdown import render_markdown
from evalgate.results import CaseResult, CheckResult, Completion, GateVerdict, RunResult, Trial

MARKER = "<!-- evalgate:gate -->"
HOSTILE = [
    "| pipe",
    "\n\n# heading",
    "</details>",
    "<!-- evalgate:gate -->",
    "-->",
    "@here @octocat",
    "<img src=x onerror=alert(1)>",
    "```",
    "::error::x",
    "[click](https://evil.example)",
    "\u202etxt.exe",
]


def make_case(
    case_id: str, status: str = "passed", response: str = "fine", reason: str = "missing"
) -> CaseResult:
    if status == "error":
        return CaseResult(case_id, "evals/a.yaml", 4, (Trial(None, (), error=reason),))
    check = CheckResult("contains", status == "passed", 1.0, "ok" if status == "passed" else reason)
    done = Completion(response, "m", latency_ms=250.0, cost_usd=0.002)
    return CaseResult(case_id, "evals/a.yaml", 4, (Trial(done, (check,)),))


def make_run(cases: list[CaseResult]) -> tuple[RunResult, GateVerdict]:
    run = RunResult(tuple(cases), "openai", "gpt-x", "evalgate.yaml", "2024-05-01T12:00:00Z", 1.0)
    return run, decide(run.cases, GateConfig(threshold=0.85))


@pytest.mark.parametrize("text", HOSTILE)
def test_escaped_text_is_inert_markdown(text: str) -> None:
    out = md(text)
    assert "\n" not in out
    assert "|" not in out
    assert "<" not in out
    assert ">" not in out
    assert "`" not in out
    assert re.search(r"@\w", out) is None
    assert "](" not in out.replace("\\](", "")
    assert "\u202e" not in out


def test_escaping_keeps_text_readable() -> None:
    assert md("| pipe") == "&#124; pipe"
    assert md("\n\n# heading") == "\\# heading"
    assert md("<!-- evalgate -->") == "&lt;!-- evalgate --&gt;"
    assert md("@here @octocat") == "@\u200bhere @\u200boctocat"
    assert md("<img src=x onerror=alert(1)>") == "&lt;img src=x onerror=alert(1)&gt;"
    assert md("```") == "&#96;&#96;&#96;"
    assert md("naïve 日本語 🙂 & co") == "naïve 日本語 🙂 &amp; co"


def test_clean_cuts_very_long_lines_with_an_ellipsis() -> None:
    out = clean("x" * 1_000_000, 200)
    assert len(out) == 200
    assert out.endswith("…")
    assert clean("short", 200) == "short"
    assert clean("anything", 0) == ""


def test_escape_markdown_handles_entities_already_in_the_text() -> None:
    assert escape_markdown("&lt;b&gt;") == "&amp;lt;b&amp;gt;"


def test_log_safe_breaks_workflow_commands_and_ansi_codes() -> None:
    out = log_safe("::error::x\n::set-output name=a::b \x1b[31mred")
    assert "::" not in out
    assert "\x1b" not in out
    assert "\n" not in out


def test_safe_url_accepts_only_http_and_encodes_link_breakers() -> None:
    assert safe_url("javascript:alert(1)") is None
    assert safe_url("https://x.test/a b(c)") == "https://x.test/a%20b%28c%29"


def test_xml_safe_drops_control_characters_but_keeps_whitespace() -> None:
    assert xml_safe("a\x00b\x1bc\td\ne") == "abc\td\ne"


def gfm(text: str) -> str:
    """HTML as a GitHub-flavoured renderer makes it, raw HTML allowed as GitHub allows some."""
    return MarkdownIt("gfm-like", {"html": True}).render(text)


def outside_code(html: str) -> str:
    """The rendered HTML without code spans and blocks (where GitHub links no mention or issue)."""
    return re.sub(r"<code[^>]*>.*?</code>", "", html, flags=re.DOTALL)


def test_hostile_responses_cannot_break_the_table_or_the_comment() -> None:
    cases = [make_case(f"bad_{i}", "failed", response=t, reason=t) for i, t in enumerate(HOSTILE)]
    run, verdict = make_run([*cases, make_case("ok")])
    out = render_markdown(run, verdict, marker=MARKER)
    assert out.startswith(MARKER + "\n")
    rows = [line for line in out.splitlines() if line.startswith("| bad\\_")]
    assert len(rows) == len(HOSTILE)
    assert all(re.sub(r"\\\|", "", line).count("|") == 4 for line in rows)
    html = gfm(out)
    assert html.count("<!--") == 1  # quoted markers sit inside code, where they are text
    assert "@octocat" not in outside_code(html)
    assert "<img" not in html
    assert "<h1>" not in html
    assert 'href="https://evil.example"' not in html
    assert html.count("<details>") == len(HOSTILE) + 1  # one per failing case, one for the passing list
    assert html.count("</details>") == len(HOSTILE) + 1
    # failing table (head + a row each), a checks table per case (head + one check), passing (head + one)
    assert html.count("<tr>") == (1 + len(HOSTILE)) + 2 * len(HOSTILE) + 2


def test_answers_are_shown_whole_and_as_written_in_a_fence_no_backtick_run_can_close() -> None:
    answer = (
        "Here:\n````python\nprint('x')\n````\n| a | b |\n|---|---|\nsee https://x.example/a_b_c and C:\\path"
    )
    run, verdict = make_run([make_case("code", "failed", response=answer)])
    out = render_markdown(run, verdict)
    assert "`````text\n" + answer + "\n`````" in out
    html = gfm(out)
    assert "https://x.example/a_b_c" in html
    assert "a\\_b" not in html
    # the whole answer is one code block: nothing in it became a table or a link
    assert html.count("<table>") == 2  # the failing table and the checks table
    assert '<a href="https://x.example' not in html


def test_table_shows_the_answers_first_line_and_details_show_prompt_vars_and_every_check() -> None:
    checks = (
        CheckResult("regex", False, 0.0, r"no match for '\b(refund|return)\b'"),
        CheckResult("max_words", True, 1.0, "12 words <= 50"),
    )
    done = Completion("First line.\nSecond line.", "gpt-x-served", latency_ms=812.0)
    case = CaseResult(
        "refund", "evals/a.yaml", 9, (Trial(done, checks),), prompt="Answer: refunds?", vars={"q": "refunds?"}
    )
    run, verdict = make_run([case])
    out = render_markdown(run, verdict)
    assert "| refund | regex: no match for '\\\\b(refund&#124;return)\\\\b' | `First line. …` |" in out
    assert "<summary>❌ <code>refund</code> · evals/a.yaml:9 · 1 of 2 checks failed</summary>" in out
    assert "**Prompt**\n\n```text\nAnswer: refunds?\n```" in out
    assert '```json\n{\n  "q": "refunds?"\n}\n```' in out
    assert "**Answer** · `gpt-x-served` · 812 ms" in out
    assert "| ❌ regex | 0.00 |" in out
    assert "| ✅ max\\_words | 1.00 | 12 words &lt;= 50 |" in out
    html = gfm(out)
    assert r"no match for '\b(refund|return)\b'" in html  # the regex as written
    assert "First line.\nSecond line." in html


def test_headline_shows_score_threshold_and_reasons() -> None:
    run, verdict = make_run(
        [make_case(f"p{i}") for i in range(33)] + [make_case(f"f{i}", "failed") for i in range(7)]
    )
    out = render_markdown(run, verdict)
    assert out.startswith("### ❌ AI eval gate: failed\n")
    assert "**82.5%** (33/40) · threshold 85%" in out
    assert "- pass rate 82.5% (33/40) is below the threshold 85.0%" in out


def test_order_is_verdict_changes_failing_sections_readiness_passing() -> None:
    base = [make_case("pass_1"), make_case("fail_1"), make_case("err_1", "failed"), make_case("pass_2")]
    cases = [
        make_case("pass_1"),
        make_case("fail_1", "failed"),
        make_case("pass_2"),
        make_case("err_1", "error"),
    ]
    run, verdict = make_run(cases)
    out = render_markdown(
        run,
        verdict,
        comparison=compare(cases, base),
        sections=["#### 🟢 Change policy: prompt-only"],
        readiness="#### Readiness",
    )
    order = [
        "AI eval gate: failed",
        "#### Changes vs base",
        "#### ❌ Failing cases (2)",
        "| 🆕 fail\\_1 | contains: missing |",
        "| ⚠️ err\\_1 | missing |  |",
        "<summary>❌ <code>fail_1</code>",
        "#### 🟢 Change policy",
        "#### Readiness",
        "<details><summary>✅ 2 passing cases</summary>",
        "pass\\_1",
    ]
    positions = [out.index(marker) for marker in order]
    assert positions == sorted(positions)
    assert "❌ failed" not in out  # no status column repeating what the table's title says


def test_case_ids_link_to_their_suite_line() -> None:
    run, verdict = make_run([make_case("tc_017", "failed")])
    out = render_markdown(
        run, verdict, suite_url=lambda suite, line: f"https://gh.test/blob/sha/{suite}#L{line}"
    )
    assert "| [tc\\_017](https://gh.test/blob/sha/evals/a.yaml#L4) | contains: missing |" in out


def test_comparison_lists_newly_failing_with_why_and_fixed_with_the_delta() -> None:
    base = [make_case("a"), make_case("b"), make_case("c", "failed"), make_case("d", "failed")]
    now = [make_case("a"), make_case("b", "failed", reason="missing 'x'"), make_case("c"), make_case("d")]
    run, verdict = make_run(now)
    out = render_markdown(run, verdict, comparison=compare(now, base), run_url="https://gh.test/run/1")
    assert "**75.0%** (3/4) · threshold 85% · +25.0 pt vs base" in out
    assert "#### Changes vs base (base 50.0%, 2/4)" in out
    assert "- 🆕 **Newly failing (1):**\n  - b — contains: missing 'x'" in out
    assert "- ✅ **Fixed (2):** c, d" in out
    assert "[run log](https://gh.test/run/1)" in out


def test_totals_line_shows_cost_latency_and_retries_but_no_latency_for_replays() -> None:
    run, verdict = make_run([make_case("a"), make_case("b", "error")])
    out = render_markdown(run, verdict)
    assert "**Cost** $0.0020 · **Latency** p50 250 ms, p95 250 ms · **Errors** 1 · **Fallback** 0" in out
    replayed = replace(run, provider="replay", retries={"429": 3, "fallback": 1})
    out = render_markdown(replayed, verdict)
    assert "**Latency**" not in out
    assert "**Retries** 429 ×3 · 5xx ×0 · timeouts ×0 · connection ×0 · fallback ×1" in out


def test_details_shrink_then_stop_and_the_cut_comment_links_the_full_report() -> None:
    cases = [make_case(f"f{i}", "failed", response="r" * 3000) for i in range(15)]
    run, verdict = make_run(cases + [make_case(f"p{i}") for i in range(50)])
    full = render_markdown(run, verdict)
    assert "r" * 3000 in full
    assert "✂️" not in full
    out = render_markdown(run, verdict, max_chars=30_000, report_url="https://gh.test/run/1#artifacts")
    assert len(out) <= 30_000
    assert "r" * 1200 in out
    assert "r" * 1201 not in out
    assert "more characters in the full report" in out
    assert "the HTML report among [this run's artifacts](https://gh.test/run/1#artifacts)" in out
    out = render_markdown(run, verdict, max_chars=8_000, report_url="https://gh.test/run/1#artifacts")
    assert len(out) <= 8_000
    assert out.count("| f") == 15  # every table row still fits
    assert "more failing cases are in the full report" in out


@pytest.mark.parametrize("response", ["", "short", "x" * 150, "x\n" * 1000])
def test_output_that_fits_exactly_is_not_degraded(response: str) -> None:
    cases = [make_case(f"f{i}", "failed", response=response) for i in range(20)]
    run, verdict = make_run([*cases, *(make_case(f"p{i}") for i in range(20))])
    full = render_markdown(run, verdict)
    assert render_markdown(run, verdict, max_chars=len(full)) == full
    assert render_markdown(run, verdict, max_chars=len(full) - 1) != full


def test_huge_hostile_run_stays_under_the_comment_limit() -> None:
    payload = ("| @octocat <!-- x --> ```\n# h " * 400)[:10_000]
    cases = [make_case(f"tc_{i:05}", "failed", response=payload, reason=payload) for i in range(4_000)]
    cases += [make_case(f"ok_{i:05}", response=payload) for i in range(1_000)]
    run, verdict = make_run(cases)
    out = render_markdown(run, verdict, marker=MARKER, suite_url=lambda s, n: f"https://gh.test/{s}#L{n}")
    assert len(out) <= 65_536
    assert out.split("\n", 1)[0] == MARKER
    assert "### ❌ AI eval gate: failed" in out
    assert re.search(r"\n\| … and \d+ more failing cases \(see the full report\) \| \| \|\n", out)
    assert "✂️ Cut to fit" in out
    html = gfm(out)
    assert "@octocat" not in outside_code(html)
    assert "<h1>" not in html
    assert html.count("<details>") == html.count("</details>")


def test_small_limit_falls_back_to_a_hard_cut_that_keeps_the_marker() -> None:
    reasons = tuple("r" * 300 for _ in range(20))
    run, _ = make_run([make_case("a")])
    verdict = GateVerdict(False, "cases", 0.0, 0.85, reasons)
    out = render_markdown(run, verdict, marker=MARKER, max_chars=1_000)
    assert len(out) <= 1_000
    assert out.startswith(MARKER + "\n")
    assert out.endswith("is in the HTML report (`evalgate view` on the JSON report).")


def test_max_chars_below_the_minimum_is_rejected() -> None:
    run, verdict = make_run([make_case("a")])
    with pytest.raises(ValueError, match="max_chars"):
        render_markdown(run, verdict, max_chars=10)


def test_cost_and_latency_are_compared_with_the_base() -> None:
    base_case = CaseResult(
        "a",
        "evals/a.yaml",
        4,
        (
            Trial(
                Completion("x", "m", latency_ms=200.0, cost_usd=0.002),
                (CheckResult("contains", True, 1.0, "ok"),),
            ),
        ),
    )
    now_case = CaseResult(
        "a",
        "evals/a.yaml",
        4,
        (
            Trial(
                Completion("x", "m", latency_ms=300.0, cost_usd=0.003),
                (CheckResult("contains", True, 1.0, "ok"),),
            ),
        ),
    )
    run, verdict = make_run([now_case])
    text = render_markdown(run, verdict, comparison=compare([now_case], [base_case]))
    assert text.count("(+50% vs base)") == 2  # cost and p95 latency
    assert "p95 300 ms (+50% vs base)" in text


def test_details_say_when_the_model_refused_or_was_cut_off() -> None:
    check = (CheckResult("contains", False, 0.0, "missing 'x'"),)
    refused = CaseResult("r", "evals/a.yaml", 1, (Trial(Completion("No.", "m", refused=True), check),))
    cut = CaseResult("c", "evals/a.yaml", 2, (Trial(Completion("Half", "m", finish_reason="length"), check),))
    run, verdict = make_run([refused, cut])
    out = render_markdown(run, verdict)
    assert "**Answer** · `m` · 🚫 the model refused" in out
    assert "**Answer** · `m` · ✂️ cut off (length)" in out


@pytest.mark.parametrize(
    ("text", "table", "expected"),
    [
        ("gpt-4o", False, "`gpt-4o`"),
        ("a `tick` inside", False, "``a `tick` inside``"),
        ("`starts and ends`", False, "`` `starts and ends` ``"),
        ("a | b", True, "`a \\| b`"),
        ("a | b", False, "`a | b`"),
        ("<!-- hidden -->", False, "`<\u200b!-- hidden -->`"),
        ("", False, "*(empty)*"),
        ("two\nlines", False, "`two lines`"),
    ],
)
def test_code_literal_is_one_literal_span(text: str, table: bool, expected: str) -> None:
    """The one code-span helper the gate-change list, the policy and the comparison share."""
    assert code_literal(text, table=table) == expected
