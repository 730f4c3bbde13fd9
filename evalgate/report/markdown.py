"""The Markdown body of the PR comment: verdict first, then what failed, then everything else folded away."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from evalgate import __version__
from evalgate.gate import (
    Comparison,
    as_metric,
    case_detail,
    check_counts,
    counted,
    fmt_ms,
    fmt_pct,
    fmt_pct_short,
    fmt_usd,
    pass_rate,
    totals,
)
from evalgate.report.escape import clean, escape_markdown, md, safe_url
from evalgate.results import CaseResult, GateVerdict, RunResult

SuiteUrl = Callable[[str, int], str | None]

MIN_CHARS = 1_000
_RESPONSE_STEPS = (200, 100, 40, 0)  # responses shrink first, then vanish
_REASON_CHARS = 200
_ID_CHARS = 100
_REASONS_SHOWN = 20
_IDS_SHOWN = 50
_ICON = {"passed": "✅", "failed": "❌", "error": "⚠️", "unchecked": "➖"}


@dataclass(frozen=True, slots=True)
class _Row:
    """A failing case's table row, split so only the response is re-rendered at each size."""

    head: str
    response: str


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
) -> str:
    """The PR comment body, never longer than ``max_chars``; untrusted text is escaped throughout.

    ``sections`` are extra Markdown blocks (already escaped by their maker, e.g. the change policy)
    placed right after the headline.

    When it would not fit, responses are shortened, then dropped, then the passing-case table is
    folded to one line, then the failing table is cut with a '… and N more' line.
    """
    if max_chars < MIN_CHARS:
        raise ValueError(f"max_chars must be at least {MIN_CHARS}, got {max_chars}")
    newly = set(comparison.newly_failing) if comparison else set()
    passed = [not c.failing for c in run.cases]
    failing = [c for c, ok in zip(run.cases, passed, strict=True) if not ok]
    failing.sort(key=lambda c: (not c.required, c.id not in newly))
    passing = [c for c, ok in zip(run.cases, passed, strict=True) if ok]

    top = _head(run, verdict, comparison, title, marker)
    for section in sections:
        top += [section.rstrip("\n"), ""]
    changes = _changes(comparison) if comparison else []
    bottom = [*changes, _totals_line(run, comparison), ""]
    footer = _footer(run, run_url)
    rows = [_row(c, suite_url) for c in failing]
    passing_full = _passing_table(passing, suite_url) if passing else []
    passing_short = [f"✅ {len(passing)} passing cases (details omitted to fit; see the full report)", ""]
    passing_short = passing_short if passing else []

    def assemble(table: list[str], passing_part: list[str]) -> str:
        return "\n".join([*top, *table, *bottom, *passing_part, *footer])

    # Escaping never shortens text, so a step whose unescaped size already overflows is skipped unrendered.
    heads = sum(len(r.head) + 1 for r in rows)
    steps = [(limit, passing_full) for limit in _RESPONSE_STEPS] + [(0, passing_short)]
    for limit, passing_part in steps:
        floor = heads
        if limit:  # " response |" or " |"
            floor += sum(min(len(r.response), limit) + 3 if r.response else 2 for r in rows)
        if len(assemble(_failing_table([], limit, len(failing)), passing_part)) + floor > max_chars:
            continue
        text = assemble(_failing_table(rows, limit, len(failing)), passing_part)
        if len(text) <= max_chars:
            return text
    if not failing:
        return _fit(assemble([], passing_short), marker, max_chars)

    # Cut the failing table: the header and the "and N more" line are fixed, rows fill what is left.
    more = f"… and {len(failing)} more failing cases (see the full report)"
    budget = max_chars - len(assemble([*_failing_table([], 0, len(failing)), more, ""], passing_short)) - 1
    kept: list[str] = []
    for row in rows:
        line = _render_row(row, 0)
        budget -= len(line) + 1
        if budget < 0:
            break
        kept.append(line)
    table = _failing_table([], 0, len(failing))
    table[-1:-1] = kept  # before the trailing blank line
    more = f"… and {len(failing) - len(kept)} more failing cases (see the full report)"
    return _fit(assemble([*table, more, ""], passing_short), marker, max_chars)


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
    lines += [f"- {md(r, 300)}" for r in verdict.reasons[:_REASONS_SHOWN]]
    if len(verdict.reasons) > _REASONS_SHOWN:
        lines.append(f"- … and {len(verdict.reasons) - _REASONS_SHOWN} more reasons")
    lines.append("")
    return lines


def _row(case: CaseResult, suite_url: SuiteUrl | None) -> _Row:
    # CaseResult's properties are recomputed on each access; read each once.
    status, rep = case.status, case.representative
    cell = _case_cell(case, suite_url)
    if case.required:
        cell += " **required**"
    shown = f"{_ICON[status]} {status}"
    if len(case.trials) > 1:
        shown += f" ({case.trials_passed}/{len(case.trials)})"
    checks = rep.checks if rep is not None else ()
    failing = [c.reason or f"check '{c.type}' failed" for c in checks if not c.passed]
    detail = "; ".join(failing[:5]) if status == "failed" and failing else case_detail(case)
    response = rep.completion.text if rep is not None and rep.completion is not None else ""
    why = md(detail, _REASON_CHARS)
    return _Row(f"| {cell} | {shown} | {why} |", clean(response, _RESPONSE_STEPS[0]))


def _render_row(row: _Row, limit: int) -> str:
    if limit == 0:
        return row.head
    response = escape_markdown(_shorten(row.response, limit))
    return f"{row.head} {response} |" if response else f"{row.head} |"


def _shorten(text: str, limit: int) -> str:
    """Cut already-cleaned text to ``limit`` characters, marking the cut."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _failing_table(rows: list[_Row], limit: int, count: int) -> list[str]:
    if not count:
        return []
    header = ["| Case | Status | Why |", "| --- | --- | --- |"]
    if limit:
        header = ["| Case | Status | Why | Response |", "| --- | --- | --- | --- |"]
    return [f"#### Failing cases ({count})", "", *header, *(_render_row(r, limit) for r in rows), ""]


def _passing_table(passing: list[CaseResult], suite_url: SuiteUrl | None) -> list[str]:
    lines = [
        f"<details><summary>✅ {len(passing)} passing cases</summary>",
        "",
        "| Case | Checks | Latency |",
        "| --- | --- | --- |",
    ]
    for case in passing:
        ok, total = check_counts(case)
        latency = "–" if case.latency_ms is None else fmt_ms(case.latency_ms)
        lines.append(f"| {_case_cell(case, suite_url)} | {ok}/{total} | {latency} |")
    return [*lines, "", "</details>", ""]


def _case_cell(case: CaseResult, suite_url: SuiteUrl | None) -> str:
    name = md(case.id, _ID_CHARS)
    url = suite_url(case.suite, case.line) if suite_url else None
    safe = safe_url(url) if url else None
    return f"[{name}]({safe})" if safe else name


def _changes(comparison: Comparison) -> list[str]:
    lines = ["#### Changes vs base", ""]
    groups = (
        ("Newly failing", comparison.newly_failing),
        ("Flaky (failed now, but not beyond chance over its repeats)", comparison.flaky),
        ("Fixed", comparison.fixed),
    )
    for label, ids in groups:
        if ids:
            shown = ", ".join(md(i, _ID_CHARS) for i in ids[:_IDS_SHOWN])
            if len(ids) > _IDS_SHOWN:
                shown += f" and {len(ids) - _IDS_SHOWN} more"
            lines.append(f"- **{label} ({len(ids)}):** {shown}")
    counts = [
        f"{len(comparison.still_failing)} still failing",
        f"{len(comparison.new)} new",
        f"{len(comparison.removed)} removed",
    ]
    if not comparison.newly_failing and not comparison.fixed and not comparison.flaky:
        lines.append("- No case changed status vs base.")
    lines += [f"- {' · '.join(counts)}", ""]
    return lines


def _vs_base(now: float | None, base: float | None) -> str:
    if now is None or base is None or base == 0:
        return ""
    return f" ({(now - base) / base * 100:+.0f}% vs base)"


def _totals_line(run: RunResult, comparison: Comparison | None = None) -> str:
    sums = totals(run.cases)
    cost = "n/a" if sums.cost_usd is None else fmt_usd(sums.cost_usd)
    p50 = "n/a" if sums.latency_p50_ms is None else fmt_ms(sums.latency_p50_ms)
    p95 = "n/a" if sums.latency_p95_ms is None else fmt_ms(sums.latency_p95_ms)
    if comparison is not None:
        cost += _vs_base(sums.cost_usd, comparison.base_cost_usd)
        p95 += _vs_base(sums.latency_p95_ms, comparison.base_latency_p95_ms)
    return (
        f"**Cost** {cost} · **Latency** p50 {p50}, p95 {p95} · **Errors** {sums.errors} · "
        f"**Fallback** {sums.fallback_cases}"
    )


def _footer(run: RunResult, run_url: str | None) -> list[str]:
    parts = [f"evalgate {__version__}", f"{md(run.provider, 40)} {md(run.model, 100)}"]
    safe = safe_url(run_url) if run_url else None
    if safe:
        parts.append(f"[run log]({safe})")
    return [f"<sub>{' · '.join(parts)}</sub>"]


def _fit(text: str, marker: str | None, max_chars: int) -> str:
    """Last resort when even the fixed parts overflow: cut at a line break, keeping the marker first."""
    if len(text) <= max_chars:
        return text
    note = "\n\n… (truncated; see the full report)"
    cut = text.rfind("\n", 0, max_chars - len(note))
    body = text[: cut if cut > (len(marker) if marker else 0) else max_chars - len(note)]
    return body + note
