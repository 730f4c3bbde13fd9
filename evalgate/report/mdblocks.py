"""Markdown blocks of one failing case: its table row and its ``<details>`` with prompt, answer and checks.

Untrusted text (answers, prompts, reasons that quote them) is shown as written: inside code spans and fenced
blocks, whose fences are longer than any backtick run in the text, so nothing in it is read as Markdown or
HTML; elsewhere it is escaped, with URLs in code spans so GitHub cannot autolink a mangled copy.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable
from dataclasses import dataclass

from evalgate.gate import answer_note, case_detail, fmt_ms
from evalgate.report.escape import clean, escape_markdown, fence_lines, md, safe_url
from evalgate.results import CaseResult

SuiteUrl = Callable[[str, int], str | None]

_ID_CHARS = 100
_WHY_CHARS = 160
_FIRST_LINE_CHARS = 80
_CHECKS_SHOWN = 30
_BACKTICKS = re.compile("`+")
_URL = re.compile(r"https?://[^\s<>`]+")
# controls other than tab and newline, and bidi overrides: they could hide or reorder what a reviewer reads
_INVISIBLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


@dataclass(frozen=True, slots=True)
class Level:
    """How much of each failing case's details to show: characters of answer and prompt."""

    answer: int
    prompt: int


LEVELS = (Level(4_000, 1_500), Level(1_200, 400), Level(300, 0))


def code_span(text: str, *, table: bool = False) -> str:
    """``text`` as an inline code span GitHub shows literally (``|`` escaped inside a table cell)."""
    text = " ".join(_INVISIBLE.sub("", text).split())
    if not text:
        return ""
    longest = max((len(m) for m in _BACKTICKS.findall(text)), default=0)
    ticks = "`" * (longest + 1)
    if text.startswith("`") or text.endswith("`"):
        text = f" {text} "
    if table:
        text = text.replace("|", "\\|")
    return f"{ticks}{text}{ticks}"


def inline(text: str, limit: int | None = None, *, table: bool = False) -> str:
    """One line of untrusted text for a cell or list item: escaped, URLs as written in code spans."""
    flat = clean(text, limit)
    out, pos = [], 0
    for match in _URL.finditer(flat):
        out += [escape_markdown(flat[pos : match.start()]), code_span(match.group(), table=table)]
        pos = match.end()
    out.append(escape_markdown(flat[pos:]))
    return "".join(out)


def html_text(text: str, limit: int | None = None) -> str:
    """Untrusted text inside raw HTML (a ``<summary>``): entities, and no @-mentions."""
    return html.escape(clean(text, limit)).replace("@", "@\u200b")


def case_cell(case: CaseResult, suite_url: SuiteUrl | None, marks: str = "") -> str:
    """The case id, linked to its suite line when there is a URL, with its markers."""
    name = md(case.id, _ID_CHARS)
    url = suite_url(case.suite, case.line) if suite_url else None
    safe = safe_url(url) if url else None
    cell = f"[{name}]({safe})" if safe else name
    extra = []
    note = answer_note(case)  # refused, cut off (finish_reason length), finish_reason tool_use
    if note:
        extra.append(f"_{md(note, _ID_CHARS)}_")
    if case.required:
        extra.append("**required**")
    if len(case.trials) > 1:
        extra.append(f"{case.trials_passed}/{len(case.trials)} trials")
    return " ".join([m for m in (marks, cell) if m] + extra)


def failing_reasons(case: CaseResult) -> list[str]:
    """Why a case did not pass: its error, or each failing check as ``label: reason``."""
    if case.status == "error":
        return [case_detail(case)]
    failing = [f"{c.type}: {c.reason or 'failed'}" for c in case.checks if not c.passed]
    return failing or [case_detail(case)]


def table_row(case: CaseResult, suite_url: SuiteUrl | None, marks: str) -> str:
    """``| case | why | answer's first line |``: a row never spans lines, whatever the answer holds."""
    reasons = failing_reasons(case)
    why = inline(reasons[0], _WHY_CHARS, table=True)
    if len(reasons) > 1:
        why += f" (+{len(reasons) - 1} more)"
    answer = (case.response or "").strip()
    first = answer.split("\n", 1)[0].strip()
    if len(first) > _FIRST_LINE_CHARS:
        first = first[: _FIRST_LINE_CHARS - 1] + "…"
    elif first != answer:
        first += " …"  # more lines follow
    return f"| {case_cell(case, suite_url, marks)} | {why} | {code_span(first, table=True)} |"


def details(case: CaseResult, level: Level) -> list[str]:
    """The collapsible block: the answer as written, every check's reason, then the prompt (or its vars)."""
    rep = case.representative
    checks = rep.checks if rep is not None else ()
    failed = sum(1 for c in checks if not c.passed)
    what = "error" if case.status == "error" else f"{failed} of {len(checks)} checks failed"
    icon = "⚠️" if case.status == "error" else "❌"
    where = html_text(f"{case.suite}:{case.line}", 200)
    summary = (
        f"<details><summary>{icon} <code>{html_text(case.id, _ID_CHARS)}</code> · {where} · {what}</summary>"
    )
    lines = [summary, ""]
    if case.status == "error":
        lines += ["**Error**", "", *_fenced(case.error or "error", level.answer)]
    completion = rep.completion if rep is not None else None
    if completion is not None:
        about = [code_span(completion.model)]
        if completion.latency_ms and not completion.cached:
            about.append(fmt_ms(completion.latency_ms))
        if completion.refused:
            about.append("🚫 the model refused")
        elif completion.truncated:
            about.append(f"✂️ cut off ({inline(completion.finish_reason or '', 40)})")
        if len(case.trials) > 1 and rep is not None:
            about.append(f"trial {case.trials.index(rep) + 1} of {len(case.trials)}")
        lines += [f"**Answer** · {' · '.join(about)}", "", *_fenced(completion.text, level.answer)]
    if checks:
        lines += ["| Check | Score | Reason |", "| --- | --- | --- |"]
        for check in checks[:_CHECKS_SHOWN]:
            icon = "✅" if check.passed else "❌"
            label = inline(check.type, 60, table=True)
            lines.append(f"| {icon} {label} | {check.score:.2f} | {inline(check.reason, 500, table=True)} |")
        if len(checks) > _CHECKS_SHOWN:
            lines.append(f"| … | | {len(checks) - _CHECKS_SHOWN} more checks |")
        lines.append("")
    # what was asked comes after what was answered and why it failed: the answer is what a reviewer reads
    if level.prompt and case.prompt:
        lines += ["**Prompt**", "", *_fenced(case.prompt, level.prompt)]
    if case.vars:
        text = json.dumps(dict(case.vars), ensure_ascii=False, indent=2, default=str)
        lines += ["**Vars**", "", *_fenced(text, max(level.prompt, 300), "json")]
    return [*lines, "</details>", ""]


def _fenced(text: str, limit: int, info: str = "text") -> list[str]:
    """A code block nothing in ``text`` can close (the escaper's one fence rule), cut at ``limit``."""
    if len(text) <= limit:
        return [*fence_lines(text, info), ""]
    more = f"<sub>… {len(text) - limit:,} more characters in the full report</sub>"
    return [*fence_lines(text[:limit], info), more, ""]
