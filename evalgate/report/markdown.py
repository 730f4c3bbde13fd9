"""The Markdown body of the PR comment, in the order a reviewer reads it.

Verdict → what changed vs base → failing cases (a table, then each case's details) → the caller's sections
(gate changes, change policy, notes) → readiness → passing cases collapsed. It never exceeds ``max_chars``:
details shrink, then stop, then the table and the passing list are cut, and the comment says so with a link
to the full report. Every step renders at most about ``max_chars`` characters, so 10,000 cases cost no
more than 100.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from evalgate import __version__
from evalgate.gate import (
    Comparison,
    as_metric,
    check_counts,
    counted,
    fmt_ms,
    fmt_pct,
    fmt_pct_short,
    fmt_usd,
    pass_rate,
    totals,
)
from evalgate.report.escape import md, safe_url
from evalgate.report.mdblocks import (
    LEVELS,
    Level,
    SuiteUrl,
    case_cell,
    details,
    failing_reasons,
    inline,
    table_row,
)
from evalgate.report.terminal import retry_text
from evalgate.results import CaseResult, GateVerdict, RunResult

__all__ = ["MIN_CHARS", "SuiteUrl", "render_markdown", "render_readiness"]

MIN_CHARS = 1_000
_REASONS_SHOWN = 20
_IDS_SHOWN = 50
_NAMED_WITH_REASON = 10
_TABLE_HEAD = ["| Case | Why | Answer (first line) |", "| --- | --- | --- |"]


def render_markdown(
    run: RunResult,
    verdict: GateVerdict,
    *,
    comparison: Comparison | None = None,
    title: str = "AI eval gate",
    run_url: str | None = None,
    suite_url: SuiteUrl | None = None,
    marker: str | None = None,
    max_chars: int = 65_536,
    sections: Sequence[str] = (),
    readiness: str | None = None,
    report_url: str | None = None,
) -> str:
    """The PR comment body, never longer than ``max_chars``; untrusted text is inert throughout.

    ``sections`` are Markdown blocks made (and escaped) by the caller — gate changes, the change policy,
    notes — placed after the failing cases; ``readiness`` follows them. ``report_url`` is where the full
    report is (the run's artifacts): the comment links it when anything had to be left out.
    """
    if max_chars < MIN_CHARS:
        raise ValueError(f"max_chars must be at least {MIN_CHARS}, got {max_chars}")
    newly = set(comparison.newly_failing) if comparison else set()
    flaky = set(comparison.flaky) if comparison else set()
    failing = [c for c in run.cases if c.failing]
    failing.sort(key=lambda c: (not c.required, c.id not in newly))
    passing = [c for c in run.cases if not c.failing]  # passed, or unchecked (nothing asserted)
    by_id = {c.id: c for c in failing}

    def marks(case: CaseResult) -> str:
        shown = ["⚠️"] if case.status == "error" else []
        shown += ["🆕"] if case.id in newly else (["🎲"] if case.id in flaky else [])
        return " ".join(shown)

    top = _head(run, verdict, comparison, title, marker)
    if comparison is not None:
        top += _changes(comparison, by_id)
    middle = [*(s.rstrip("\n") + "\n" for s in sections)]
    if readiness:
        middle.append(readiness.rstrip("\n") + "\n")
    fixed = "\n".join([*top, *middle, *_footer(run, run_url, None)])
    budget = max_chars - len(fixed) - 2

    rows = (table_row(c, suite_url, marks(c)) for c in failing)
    # 1. everything, if it fits
    blocks, shown = _details(failing, LEVELS[0], budget)
    passing_full = _passing_table(passing, suite_url, not run.replayed, budget)
    if shown == len(failing) and passing_full is not None:
        table, complete = _table(rows, len(failing), budget)
        text = _assemble(top, table, blocks, middle, passing_full, run, run_url, None)
        if complete and len(text) <= max_chars:
            return text
        rows = (table_row(c, suite_url, marks(c)) for c in failing)
    # 2. something must give: reserve room for the note saying so, then fill in order of importance
    note = _cut_note(report_url or run_url)
    passing_short = _passing_line(len(passing))
    budget -= len(note) + _size(passing_short) + 40
    table, _ = _table(rows, len(failing), budget)
    budget -= _size(table)
    for level in LEVELS:
        blocks, shown = _details(failing, level, budget)
        if shown == len(failing):
            break
    if shown < len(failing):
        blocks += [f"*Details of {len(failing) - shown} more failing cases are in the full report.*", ""]
    budget -= _size(blocks)
    # the passing list is all or nothing, so the first attempt's rendering is reused when it still fits
    fits = passing_full is not None and _size(passing_full) <= budget
    passing_part = passing_full if fits and passing_full is not None else passing_short
    text = _assemble(top, table, blocks, middle, passing_part, run, run_url, note)
    return _fit(text, marker, max_chars, note)


def _size(lines: list[str]) -> int:
    return sum(len(line) + 1 for line in lines)


def _table(rows: Iterator[str], total: int, budget: int) -> tuple[list[str], bool]:
    """The failing-cases table with as many rows as fit ``budget``, and '… and N more' for the rest.

    Rows are rendered only while they fit, so a run with 10,000 failing cases renders a few hundred.
    """
    if not total:
        return [], True
    used, kept = _size(_TABLE_HEAD) + 100, []
    for row in rows:
        used += len(row) + 1
        if used > budget:
            break
        kept.append(row)
    more = []
    if len(kept) < total:
        more = [f"| … and {total - len(kept)} more failing cases (see the full report) | | |"]
    return [f"#### ❌ Failing cases ({total})", "", *_TABLE_HEAD, *kept, *more, ""], not more


def _details(cases: list[CaseResult], level: Level, budget: int) -> tuple[list[str], int]:
    """Each case's details block while they fit ``budget``; stops at the first that does not."""
    lines: list[str] = []
    used = 0
    for count, case in enumerate(cases):
        block = details(case, level)
        used += _size(block)
        if used > budget:
            return lines, count
        lines += block
    return lines, len(cases)


def _assemble(
    top: list[str],
    table: list[str],
    blocks: list[str],
    middle: list[str],
    passing: list[str],
    run: RunResult,
    run_url: str | None,
    note: str | None,
) -> str:
    return "\n".join([*top, *table, *blocks, *middle, *passing, *_footer(run, run_url, note)])


def _head(
    run: RunResult, verdict: GateVerdict, comparison: Comparison | None, title: str, marker: str | None
) -> list[str]:
    metric = as_metric(verdict.metric)
    _, passed, total = pass_rate(run.cases, metric)
    shown = counted(passed, total, metric)
    score = f"**{fmt_pct(verdict.value)}** ({shown}) · threshold {fmt_pct_short(verdict.threshold)}"
    if comparison is not None and comparison.base_value is not None and comparison.metric == metric:
        score += f" · {(verdict.value - comparison.base_value) * 100:+.1f} pt vs base"
    word = "passed" if verdict.passed else "failed"
    lines = [marker] if marker else []
    lines += [f"### {'✅' if verdict.passed else '❌'} {md(title, 100)}: {word}", "", score, ""]
    lines += [f"- {inline(r, 300)}" for r in verdict.reasons[:_REASONS_SHOWN]]
    if len(verdict.reasons) > _REASONS_SHOWN:
        lines.append(f"- … and {len(verdict.reasons) - _REASONS_SHOWN} more reasons")
    lines += ["", _totals_line(run, comparison), ""]
    return lines


def _changes(comparison: Comparison, failing: dict[str, CaseResult]) -> list[str]:
    head = "#### Changes vs base"
    if comparison.base_value is not None:
        base = counted(comparison.base_passed, comparison.base_total, comparison.metric)
        head += f" (base {fmt_pct(comparison.base_value)}, {base})"
    lines = [head, ""]
    newly = comparison.newly_failing
    if newly:
        listed = len(newly) <= _NAMED_WITH_REASON  # few: one per line with why; many: one line of ids
        lines.append(f"- 🆕 **Newly failing ({len(newly)}):**" + ("" if listed else " " + _ids(newly)))
        if listed:
            for case_id in newly:
                case = failing.get(case_id)
                why = f" — {inline(failing_reasons(case)[0], 160)}" if case is not None else ""
                lines.append(f"  - {inline(case_id, 100)}{why}")
    if comparison.fixed:
        lines.append(f"- ✅ **Fixed ({len(comparison.fixed)}):** {_ids(comparison.fixed)}")
    if comparison.flaky:
        lines.append(
            f"- 🎲 **Flaky ({len(comparison.flaky)}):** {_ids(comparison.flaky)} — failed now, but not "
            "beyond chance over their repeats"
        )
    if not newly and not comparison.fixed and not comparison.flaky:
        lines.append("- No case changed status vs base.")
    counts = [
        f"{len(comparison.still_failing)} still failing",
        f"{len(comparison.new)} new",
        f"{len(comparison.removed)} removed",
    ]
    return [*lines, f"- {' · '.join(counts)}", ""]


def _ids(ids: Sequence[str]) -> str:
    shown = ", ".join(inline(i, 100) for i in ids[:_IDS_SHOWN])
    return shown + (f" and {len(ids) - _IDS_SHOWN} more" if len(ids) > _IDS_SHOWN else "")


def _passing_table(
    passing: list[CaseResult], suite_url: SuiteUrl | None, measured: bool, budget: int
) -> list[str] | None:
    """The collapsed passing cases, or None when they do not fit ``budget``."""
    if not passing:
        return []
    head = ["| Case | Checks | Latency |", "| --- | --- | --- |"]
    if not measured:
        head = ["| Case | Checks |", "| --- | --- |"]
    unchecked = sum(1 for c in passing if c.status == "unchecked")
    title = f"✅ {len(passing) - unchecked} passing cases" + (
        f", ➖ {unchecked} unchecked" if unchecked else ""
    )
    lines = [f"<details><summary>{title}</summary>", "", *head]
    used = _size(lines) + 20
    for case in passing:
        ok, total = check_counts(case)
        mark = "➖ " if case.status == "unchecked" else ""
        row = f"| {mark}{case_cell(case, suite_url)} | {ok}/{total} |"
        if measured:
            row += f" {'–' if case.latency_ms is None else fmt_ms(case.latency_ms)} |"
        used += len(row) + 1
        if used > budget:
            return None
        lines.append(row)
    return [*lines, "", "</details>", ""]


def _passing_line(count: int) -> list[str]:
    return [f"✅ {count} passing cases (listed in the full report)", ""] if count else []


def _vs_base(now: float | None, base: float | None) -> str:
    if now is None or base is None or base == 0:
        return ""
    return f" ({(now - base) / base * 100:+.0f}% vs base)"


def _totals_line(run: RunResult, comparison: Comparison | None = None) -> str:
    sums = totals(run.cases)
    cost = "n/a" if sums.cost_usd is None else fmt_usd(sums.cost_usd)
    if comparison is not None:
        cost += _vs_base(sums.cost_usd, comparison.base_cost_usd)
    parts = [f"**Cost** {cost}"]
    if not run.replayed:  # a recording's latencies measure nothing
        p50 = "n/a" if sums.latency_p50_ms is None else fmt_ms(sums.latency_p50_ms)
        p95 = "n/a" if sums.latency_p95_ms is None else fmt_ms(sums.latency_p95_ms)
        if comparison is not None:
            p95 += _vs_base(sums.latency_p95_ms, comparison.base_latency_p95_ms)
        parts.append(f"**Latency** p50 {p50}, p95 {p95}")
    parts += [f"**Errors** {sums.errors}", f"**Fallback** {sums.fallback_cases}"]
    retries = retry_text(run.retries)
    if retries:
        parts.append(f"**Retries** {retries.removeprefix('retries: ')}")
    return " · ".join(parts)


def _cut_note(url: str | None) -> str:
    safe = safe_url(url) if url else None
    where = (
        f"the HTML report among [this run's artifacts]({safe})"
        if safe
        else "the HTML report (`evalgate view` on the JSON report)"
    )
    return f"> ✂️ Cut to fit GitHub's comment limit: every case, prompt and answer is in {where}."


def _footer(run: RunResult, run_url: str | None, note: str | None) -> list[str]:
    parts = [f"evalgate {__version__}", f"{md(run.provider, 40)} {md(run.model, 100)}"]
    safe = safe_url(run_url) if run_url else None
    if safe:
        parts.append(f"[run log]({safe})")
    lines = [note, ""] if note else []
    return [*lines, f"<sub>{' · '.join(parts)}</sub>"]


def _fit(text: str, marker: str | None, max_chars: int, note: str) -> str:
    """Last resort when even the fixed parts overflow: cut at a line break, keeping the marker first."""
    if len(text) <= max_chars:
        return text
    tail = f"\n\n{note}"
    cut = text.rfind("\n", 0, max_chars - len(tail))
    body = text[: cut if cut > (len(marker) if marker else 0) else max_chars - len(tail)]
    return body + tail


_READINESS_ICON = {"pass": "✅", "fail": "❌", "not_configured": "⚪", "pending": "⏳"}


def render_readiness(items: Sequence[Mapping[str, Any]]) -> str:
    """The readiness table as a comment section; ⚪ rows are hints unless ``gate.require`` lists them."""
    if not items:
        return ""
    lines = ["#### Deployment readiness", "", "| | Item | Evidence |", "| --- | --- | --- |"]
    for item in items:
        state = str(item["state"])
        icon = _READINESS_ICON.get(state, "⚪")
        label = md(str(item["item"]), 60) + (" **required**" if item.get("required") else "")
        evidence = inline(str(item["evidence"]), 300, table=True)
        if state == "not_configured":
            evidence = f"not configured: {evidence}"
        elif state == "pending":
            evidence = f"running: {evidence}"
        lines.append(f"| {icon} | {label} | {evidence} |")
    return "\n".join([*lines, ""])
