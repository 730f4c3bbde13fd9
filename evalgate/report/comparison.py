"""``RunComparison`` as plain text, Markdown (PR bodies, drift issues, job summaries) and JSON."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from evalgate.compare import CONFIDENCE, RunComparison, identity_summary
from evalgate.gate import counted, fmt_ms, fmt_pct, fmt_usd
from evalgate.report.escape import clean, code_literal, md

_IDS_SHOWN = 20
_IDENTITY_ROWS = 10


def code(text: str, limit: int = 200) -> str:
    """A code span GitHub shows literally, whatever backticks the text holds."""
    return code_literal(text, limit)


def pt(delta: float) -> str:
    """A signed difference of fractions in percentage points: ``-0.075`` -> ``−7.5 pt``."""
    text = f"{delta * 100:+.1f} pt"
    return text.replace("-", "−") if delta < 0 else text


def _interval(c: RunComparison) -> str:
    s = c.score
    if s is None:
        return "no shared cases"
    return f"{pt(s.delta)} [{s.low * 100:+.1f}, {s.high * 100:+.1f}]".replace("-", "−")


def _money(base: float | None, head: float | None) -> tuple[str, str, str]:
    b = fmt_usd(base) if base is not None else "—"
    h = fmt_usd(head) if head is not None else "—"
    if base is None or head is None:
        return b, h, "—"
    diff = head - base
    rel = f" ({diff / base * 100:+.0f}%)".replace("-", "−") if base else ""
    sign = "+" if diff >= 0 else "−"
    return b, h, f"{sign}{fmt_usd(abs(diff))}{rel}"


def _latency(base: float | None, head: float | None) -> tuple[str, str, str]:
    b = fmt_ms(base) if base is not None else "—"
    h = fmt_ms(head) if head is not None else "—"
    if base is None and head is None:
        return b, h, "not measured (replayed answers, or no answer)"
    if base is None or head is None:
        return b, h, "—"
    diff = head - base
    rel = f" ({diff / base * 100:+.0f}%)".replace("-", "−") if base else ""
    return b, h, f"{'+' if diff >= 0 else '−'}{fmt_ms(abs(diff))}{rel}"


def verdict_line(c: RunComparison) -> str:
    """One sentence: regression (with the first reason) or not."""
    if c.regressed:
        return "regression: " + "; ".join(c.reasons)
    return "no significant regression"


def render_comparison_text(c: RunComparison, base_label: str = "base", head_label: str = "head") -> str:
    """Plain lines for a terminal or a CI log (untrusted ids are cleaned)."""
    br, hr = c.base_rate, c.head_rate
    lines = [
        f"pass rate  {fmt_pct(br[0])} ({counted(br[1], br[2], c.metric)}) → "
        f"{fmt_pct(hr[0])} ({counted(hr[1], hr[2], c.metric)})  {pt(c.rate_delta)}",
    ]
    if c.score is not None:
        s = c.score
        lines.append(
            f"score Δ    {_interval(c)} ({int(CONFIDENCE * 100)}% CI, {s.cases} paired cases, "
            f"{s.base_trials} → {s.head_trials} trials)"
        )
    cost = _money(c.base_cost_usd, c.head_cost_usd)
    lat = _latency(c.base_p95_ms, c.head_p95_ms)
    lines.append(f"cost       {cost[0]} → {cost[1]}  {cost[2]}")
    lines.append(f"p95        {lat[0]} → {lat[1]}  {lat[2]}")
    lines.append(f"model      {clean(c.base_model, 80)} → {clean(c.head_model, 80)}")
    for b, h, n in identity_summary(c.identity_changes)[:_IDENTITY_ROWS]:
        lines.append(f"identity   {clean(b, 100)} → {clean(h, 100)} on {n} case{'s' if n != 1 else ''}")
    for title, ids in _moves(c):
        shown = ", ".join(clean(i, 80) for i in ids[:_IDS_SHOWN])
        more = f" and {len(ids) - _IDS_SHOWN} more" if len(ids) > _IDS_SHOWN else ""
        lines.append(f"{title.lower()} ({len(ids)}): {shown}{more}")
    lines.append(f"{head_label} vs {base_label}: {verdict_line(c)}")
    return "\n".join(lines)


def _moves(c: RunComparison) -> list[tuple[str, Sequence[str]]]:
    m = c.cases
    pairs: list[tuple[str, Sequence[str]]] = [
        ("Newly failing", m.newly_failing),
        ("Flaky (failing now, not beyond chance)", m.flaky),
        ("Fixed", m.fixed),
        ("Only in the new report", m.new),
        ("Only in the old report", m.removed),
    ]
    return [(title, ids) for title, ids in pairs if ids]


def render_comparison_markdown(
    c: RunComparison,
    base_label: str = "base",
    head_label: str = "head",
    *,
    title: str | None = None,
    reasons: dict[str, str] | None = None,
) -> str:
    """A Markdown section: the numbers table, the verdict, moved cases and identity changes.

    ``reasons`` maps case ids to why they fail now (shown next to newly failing cases).
    """
    br, hr = c.base_rate, c.head_rate
    icon = "❌" if c.regressed else "✅"
    out = [f"### {md(title or f'{head_label} vs {base_label}', 200)}", ""]
    out.append(f"| | {md(base_label, 80)} | {md(head_label, 80)} | Δ |")
    out.append("|---|---|---|---|")
    out.append(
        f"| pass rate | {fmt_pct(br[0])} ({counted(br[1], br[2], c.metric)}) | "
        f"{fmt_pct(hr[0])} ({counted(hr[1], hr[2], c.metric)}) | {pt(c.rate_delta)} |"
    )
    if c.score is not None:
        s = c.score
        out.append(
            f"| score, paired ({s.cases} cases, {s.base_trials} → {s.head_trials} trials) | "
            f"{fmt_pct(s.base)} | {fmt_pct(s.head)} | {_interval(c)} ({int(CONFIDENCE * 100)}% CI) |"
        )
    cost = _money(c.base_cost_usd, c.head_cost_usd)
    lat = _latency(c.base_p95_ms, c.head_p95_ms)
    out.append(f"| cost | {cost[0]} | {cost[1]} | {cost[2]} |")
    out.append(f"| p95 latency | {lat[0]} | {lat[1]} | {lat[2]} |")
    moved = len(c.identity_changes)
    model_delta = f"identity changed on {moved} case{'s' if moved != 1 else ''}" if moved else "same"
    out.append(f"| model | {md(c.base_model, 80)} | {md(c.head_model, 80)} | {model_delta} |")
    out += ["", f"**{icon} {md(verdict_line(c), 1000)}**", ""]
    reasons = reasons or {}
    for heading, ids in _moves(c):
        out.append(f"**{heading} ({len(ids)})**")
        for case_id in ids[:_IDS_SHOWN]:
            why = reasons.get(case_id)
            out.append(f"- {md(case_id, 100)}" + (f" — {md(why, 200)}" if why else ""))
        if len(ids) > _IDS_SHOWN:
            out.append(f"- … and {len(ids) - _IDS_SHOWN} more")
        out.append("")
    if c.identity_changes:
        out += ["**Model identity changes** (model id reported by the server, `system_fingerprint`)", ""]
        out += ["| cases | before | after |", "|---|---|---|"]
        for b, h, n in identity_summary(c.identity_changes)[:_IDENTITY_ROWS]:
            out.append(f"| {n} | {md(b, 120)} | {md(h, 120)} |")
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def comparison_to_json(c: RunComparison) -> dict[str, Any]:
    """JSON-ready data (``evalgate compare --json``)."""
    s = c.score
    m = c.cases
    return {
        "regression": c.regressed,
        "reasons": list(c.reasons),
        "metric": c.metric,
        "base": {"pass_rate": c.base_rate[0], "passed": c.base_rate[1], "total": c.base_rate[2]},
        "head": {"pass_rate": c.head_rate[0], "passed": c.head_rate[1], "total": c.head_rate[2]},
        "pass_rate_delta": c.rate_delta,
        "score": None
        if s is None
        else {
            "base": s.base,
            "head": s.head,
            "delta": s.delta,
            "low": s.low,
            "high": s.high,
            "confidence": CONFIDENCE,
            "cases": s.cases,
            "base_trials": s.base_trials,
            "head_trials": s.head_trials,
        },
        "cost_usd": {"base": c.base_cost_usd, "head": c.head_cost_usd},
        "latency_p95_ms": {"base": c.base_p95_ms, "head": c.head_p95_ms},
        "model": {"base": c.base_model, "head": c.head_model},
        "newly_failing": list(m.newly_failing),
        "flaky": list(m.flaky),
        "fixed": list(m.fixed),
        "only_base": list(m.removed),
        "only_head": list(m.new),
        "identity_changes": [
            {
                "case": ch.case_id,
                "base": {"models": list(ch.base.models), "fingerprints": list(ch.base.fingerprints)},
                "head": {"models": list(ch.head.models), "fingerprints": list(ch.head.fingerprints)},
            }
            for ch in c.identity_changes
        ],
    }
