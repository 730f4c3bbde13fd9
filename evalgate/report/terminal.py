"""Console output: a rich table for people at a terminal, plain lines for CI logs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from evalgate.gate import (
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
    from rich.text import Text

_STYLE = {"passed": "green", "failed": "red", "error": "yellow"}
_REASON_CHARS = 120
_PLAIN_CHARS = 200


def render_terminal(run: RunResult, verdict: GateVerdict, *, show_passing: bool = True) -> RenderableType:
    """A headline, the gate's reasons and a table of cases (failing first); untrusted text is never markup."""
    # rich is imported here: CI logs use render_plain, and rich costs start-up time
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    table = Table(show_edge=False, pad_edge=False, expand=False)
    table.add_column("case", no_wrap=True, overflow="fold")
    table.add_column("status", no_wrap=True)
    table.add_column("checks", justify="right", no_wrap=True)
    table.add_column("latency", justify="right", no_wrap=True)
    table.add_column("reason", overflow="fold")
    for case in _ordered(run.cases, show_passing):
        ok, total = check_counts(case)
        latency = "–" if case.latency_ms is None else fmt_ms(case.latency_ms)
        reason = "" if case.passed else clean(case_detail(case), _REASON_CHARS)
        table.add_row(
            Text(clean(case.id)),
            Text(case.status, style=_STYLE[case.status]),
            f"{ok}/{total}",
            latency,
            Text(reason),
        )
    parts: list[RenderableType] = [_headline(run, verdict)]
    parts += [Text(f"  • {clean(r)}", style="dim" if verdict.passed else "") for r in verdict.reasons]
    if table.row_count:
        parts += [Text(""), table]
    return Group(*parts)


def render_plain(run: RunResult, verdict: GateVerdict) -> str:
    """Compact log text: one line per failing case, a summary line, then the gate's reasons."""
    lines = []
    for case in run.cases:
        if not case.passed:
            where = log_safe(f"{case.suite}:{case.line}")
            detail = log_safe(case_detail(case), _PLAIN_CHARS)
            lines.append(f"{case.status.upper():<6} {log_safe(case.id)} ({where}): {detail}")
    lines.append(render_summary(run, verdict))
    lines += [f"  - {log_safe(r)}" for r in verdict.reasons]
    return "\n".join(lines) + "\n"


def _ordered(cases: tuple[CaseResult, ...], show_passing: bool) -> list[CaseResult]:
    failing = [c for c in cases if not c.passed]
    return failing + [c for c in cases if c.passed] if show_passing else failing


def _headline(run: RunResult, verdict: GateVerdict) -> Text:
    from rich.text import Text

    text = Text()
    if verdict.passed:
        text.append("✔ gate passed", style="bold green")
    else:
        text.append("✘ gate failed", style="bold red")
    text.append(f"  {_score(run, verdict)}")
    return text


def _score(run: RunResult, verdict: GateVerdict) -> str:
    metric = as_metric(verdict.metric)
    _, passed, total = pass_rate(run.cases, metric)
    shown = counted(passed, total, metric)
    return f"{fmt_pct(verdict.value)} ({shown}) · threshold {fmt_pct_short(verdict.threshold)}"


def render_summary(run: RunResult, verdict: GateVerdict) -> str:
    """The one-line verdict: gate, score, counts, cost and p95 latency."""
    sums = totals(run.cases)
    statuses = [c.status for c in run.cases]
    parts = [
        f"evalgate: gate {'passed' if verdict.passed else 'FAILED'}",
        _score(run, verdict),
        f"{len(statuses)} cases, {statuses.count('failed')} failed, {statuses.count('error')} errors",
    ]
    if sums.cost_usd is not None:
        parts.append(f"cost {fmt_usd(sums.cost_usd)}")
    if sums.latency_p95_ms is not None:
        parts.append(f"p95 {fmt_ms(sums.latency_p95_ms)}")
    return " · ".join(parts)
