"""Console output: what broke (file:line, reasons, the first lines of the answer), a summary, the verdict.

One layout, two skins: rich text for people at a terminal, plain lines for CI logs. The verdict is always the
last line, so the end of a long run's output says what happened.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from evalgate.gate import (
    answer_note,
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
from evalgate.report.escape import clean, log_safe
from evalgate.results import CaseResult, GateVerdict, RunResult

if TYPE_CHECKING:
    from rich.console import RenderableType

ANSWER_LINES = 3  # the first lines of a failing answer
_LINE_CHARS = 160
_REASONS_SHOWN = 5
_ICON = {"passed": "✔", "failed": "✘", "error": "⚠", "unchecked": "–"}
_STYLE = {"passed": "green", "failed": "red", "error": "yellow", "unchecked": "dim"}
RETRY_LABELS = (("429", "429"), ("5xx", "5xx"), ("timeout", "timeouts"), ("connection", "connection"))


@dataclass(frozen=True, slots=True)
class Line:
    """One output line as trusted and untrusted parts: ``(text, style, untrusted)``."""

    parts: tuple[tuple[str, str, bool], ...]

    def plain(self) -> str:
        return "".join(log_safe(t) if untrusted else t for t, _, untrusted in self.parts)


def _line(*parts: tuple[str, str, bool] | str) -> Line:
    return Line(tuple((p, "", False) if isinstance(p, str) else p for p in parts))


def layout(run: RunResult, verdict: GateVerdict, *, show_all: bool = False) -> list[Line]:
    """Every line ``evalgate run`` prints, in order: cases, summary, retries, reasons, verdict last."""
    lines: list[Line] = []
    measured = not run.replayed
    for case in run.cases:
        if not case.failing and not show_all:
            continue
        lines += list(_case_lines(case, measured, detailed=case.failing))
    if lines:
        lines.append(_line(""))
    lines.append(_line(summary_text(run)))
    retries = retry_text(run.retries)
    if retries:
        lines.append(_line(retries))
    if not verdict.passed:
        lines += [_line("  • ", (r, "", True)) for r in verdict.reasons]
    lines.append(_verdict_line(run, verdict))
    return lines


def _case_lines(case: CaseResult, measured: bool, *, detailed: bool) -> Iterator[Line]:
    status = case.status
    head: list[tuple[str, str, bool] | str] = [
        (f"{_ICON[status]} {status:<6} ", _STYLE[status], False),
        (case.id, "bold", True),
        "  ",
        (f"{case.suite}:{case.line}", "cyan", True),
    ]
    note = answer_note(case)
    if note:
        head.append((f"  [{note}]", "yellow", False))
    if case.required:
        head.append(("  required", "bold", False))
    if len(case.trials) > 1:
        head.append(f"  {case.trials_passed}/{len(case.trials)} trials passed, {case.min_pass} needed")
    if not detailed:
        ok, total = check_counts(case)
        head.append(f"  {ok}/{total} checks")
        if measured and case.latency_ms is not None:
            head.append(f"  {fmt_ms(case.latency_ms)}")
    yield _line(*head)
    if not detailed:
        return
    for reason in _reasons(case):
        yield _line("    ", (clean(reason, _LINE_CHARS), "", True))
    answer = case.response
    if answer:
        shown = [ln for ln in answer.splitlines() if ln.strip()]
        for text in shown[:ANSWER_LINES]:
            yield _line(("    │ ", "dim", False), (clean(text, _LINE_CHARS), "dim", True))
        if len(shown) > ANSWER_LINES:
            yield _line((f"    │ … {len(shown) - ANSWER_LINES} more lines", "dim", False))


def _reasons(case: CaseResult) -> list[str]:
    if case.status == "error":
        return [case_detail(case)]
    failing = [f"{c.type}: {c.reason or 'failed'}" for c in case.checks if not c.passed]
    if not failing:
        return [case_detail(case)]
    if len(failing) > _REASONS_SHOWN:
        failing[_REASONS_SHOWN:] = [f"… and {len(failing) - _REASONS_SHOWN} more failing checks"]
    return failing


def summary_text(run: RunResult) -> str:
    """``40 cases: 35 passed, 3 failed, 2 errors · cost $0.12 · p95 1,234 ms`` (no latency for replays)."""
    statuses = [c.status for c in run.cases]
    parts = [
        f"{len(statuses)} cases: {statuses.count('passed')} passed, {statuses.count('failed')} failed, "
        f"{statuses.count('error')} errors"
    ]
    if "unchecked" in statuses:
        parts[0] += f", {statuses.count('unchecked')} unchecked"
    sums = totals(run.cases)
    if sums.cost_usd is not None:
        parts.append(f"cost {fmt_usd(sums.cost_usd)}")
    if not run.replayed and sums.latency_p95_ms is not None:
        parts.append(f"p95 {fmt_ms(sums.latency_p95_ms)}")
    return " · ".join(parts)


def retry_text(retries: Mapping[str, int] | None) -> str:
    """``retries: 429 ×49 · 5xx ×3 · timeouts ×0 · fallback ×0``, or '' when nothing was retried."""
    if not retries or not any(retries.values()):
        return ""
    parts = [f"{label} ×{retries.get(kind, 0)}" for kind, label in RETRY_LABELS]
    if retries.get("other"):
        parts.append(f"other ×{retries['other']}")
    parts.append(f"fallback ×{retries.get('fallback', 0)}")
    return "retries: " + " · ".join(parts)


def _score(run: RunResult, verdict: GateVerdict) -> str:
    metric = as_metric(verdict.metric)
    _, passed, total = pass_rate(run.cases, metric)
    shown = counted(passed, total, metric)
    return f"{fmt_pct(verdict.value)} ({shown}) · threshold {fmt_pct_short(verdict.threshold)}"


def _verdict_line(run: RunResult, verdict: GateVerdict) -> Line:
    if verdict.passed:
        return _line(("✔ gate passed", "bold green", False), f" · {_score(run, verdict)}")
    return _line(("✘ gate FAILED", "bold red", False), f" · {_score(run, verdict)}")


def render_summary(run: RunResult, verdict: GateVerdict) -> str:
    """The verdict line alone (``-q``): ``✘ gate FAILED · 87.5% (35/40) · threshold 90%``."""
    return _verdict_line(run, verdict).plain()


def render_plain(run: RunResult, verdict: GateVerdict, *, show_all: bool = False) -> str:
    """The layout as plain log text: no ANSI, and no ``::`` a runner could read as a command."""
    return "\n".join(line.plain() for line in layout(run, verdict, show_all=show_all)) + "\n"


def render_terminal(run: RunResult, verdict: GateVerdict, *, show_all: bool = False) -> RenderableType:
    """The layout as rich text; untrusted text is cleaned of controls and never read as markup."""
    # rich is imported here: CI logs use render_plain, and rich costs start-up time
    from rich.console import Group
    from rich.text import Text

    out = []
    for line in layout(run, verdict, show_all=show_all):
        text = Text()
        for part, style, untrusted in line.parts:
            text.append(clean(part) if untrusted else part, style=style or None)
        out.append(text)
    return Group(*out)
