"""Drift watch: judge a scheduled run against the last good one, and write the one issue per config.

Pure: a comparison and the open issue's body in, a finding and the issue's new title and body out.

- **drop**: the suite regressed against the last good report (``compare`` rules), or fails its own gate.
- **identity**: the model id or ``system_fingerprint`` behind the pin changed; quality held.
- **ok**: neither. A run that is ok or identity-only is *good*: it becomes the next baseline. A dropped
  run is not, so later runs keep comparing with the state before the drop.

The issue is opened on drop or identity, updated on every run while open (a table of runs, newest
first), and closed with a comment on the first run that is ok again. Its body carries the run history as
hidden JSON, so the table survives between runs without any other storage. The history is display only:
nothing read back from an issue (which people can edit) changes a verdict.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Literal

from evalgate.compare import CONFIDENCE, RunComparison, identity_of, identity_summary
from evalgate.gate import case_detail, counted, fmt_pct
from evalgate.report.comparison import pt, render_comparison_markdown
from evalgate.report.escape import clean, md, safe_url
from evalgate.results import GateVerdict, RunResult

Kind = Literal["ok", "drop", "identity", "first"]
MAX_ROWS = 60
MAX_BODY = 60_000  # GitHub allows 65,536; leave room for the marker and the history block
_HISTORY = re.compile(r"<!-- evalgate-drift-history\n(.*?)\n-->", re.DOTALL)


def marker(config: str) -> str:
    """The hidden first line that finds this config's drift issue."""
    return f"<!-- evalgate-drift: {clean(config, 200).replace('--', '-')} -->"


@dataclass(frozen=True, slots=True)
class Finding:
    """What a scheduled run shows: its kind, whether it may become the baseline, and why."""

    kind: Kind
    good: bool
    reasons: tuple[str, ...]


def assess(comparison: RunComparison | None, verdict: GateVerdict) -> Finding:
    """Judge this run (``comparison`` is ``None`` without a baseline)."""
    gate = () if verdict.passed else tuple(f"the suite fails its gate: {r}" for r in verdict.reasons)
    if comparison is None:
        # the first run: a passing one becomes the baseline; a failing one is worth an issue already
        return Finding("drop" if gate else "first", not gate, gate)
    identity: tuple[str, ...] = ()
    if comparison.identity_changes:
        first = identity_summary(comparison.identity_changes)[0]
        n = len(comparison.identity_changes)
        identity = (f"model identity changed on {n} case{'s' if n != 1 else ''}: {first[0]} → {first[1]}",)
    if comparison.regressed or gate:
        return Finding("drop", False, (*comparison.reasons, *gate, *identity))
    if identity:
        return Finding("identity", True, identity)
    return Finding("ok", True, ())


@dataclass(frozen=True, slots=True)
class RunRow:
    """One line of the issue's table of runs."""

    date: str
    pass_rate: float
    passed: int
    total: int
    delta: float | None
    low: float | None
    high: float | None
    fingerprint: str
    kind: str
    url: str | None


def row_for(
    run: RunResult, verdict: GateVerdict, comparison: RunComparison | None, finding: Finding, url: str | None
) -> RunRow:
    """This run as a table row."""
    from evalgate.gate import as_metric, pass_rate

    rate, passed, total = pass_rate(run.cases, as_metric(verdict.metric))
    prints: dict[str, None] = {}
    for case in run.cases:
        for fp in identity_of(case).fingerprints:
            prints[fp] = None
    score = comparison.score if comparison is not None else None
    return RunRow(
        date=run.started_at[:16].replace("T", " "),
        pass_rate=rate,
        passed=passed,
        total=total,
        delta=comparison.rate_delta if comparison is not None else None,
        low=score.low if score is not None else None,
        high=score.high if score is not None else None,
        fingerprint=", ".join(list(prints)[:3]) + (" …" if len(prints) > 3 else ""),
        kind=finding.kind,
        url=url,
    )


def read_history(body: str) -> list[RunRow]:
    """The runs recorded in an issue body (newest first); anything unreadable is dropped."""
    match = _HISTORY.search(body)
    if match is None:
        return []
    try:
        raw = json.loads(match.group(1))
        return [RunRow(**{k: item[k] for k in RunRow.__dataclass_fields__}) for item in raw][:MAX_ROWS]
    except (ValueError, TypeError, KeyError):
        return []


def issue_title(config: str, model: str, finding: Finding, comparison: RunComparison | None) -> str:
    """The title an issue is opened with."""
    if finding.kind == "identity":
        return f"Model identity changed behind {clean(model, 80)} ({clean(config, 80)})"
    if comparison is not None and comparison.rate_delta < 0:
        return f"Eval drift: {clean(config, 80)} dropped {pt(comparison.rate_delta)} on {clean(model, 80)}"
    return f"Eval drift: {clean(config, 80)} fails its gate on {clean(model, 80)}"


def issue_body(
    config: str,
    run: RunResult,
    comparison: RunComparison | None,
    finding: Finding,
    rows: Sequence[RunRow],
    *,
    baseline: str,
    reasons: Mapping[str, str] | None = None,
    commits: tuple[str | None, str | None] = (None, None),
) -> str:
    """The issue body: status, the comparison with the last good run, the table of runs, the history."""
    status = "🔻 quality dropped" if finding.kind == "drop" else "🔀 model identity changed"
    out = [
        marker(config),
        f"## {status}: {md(config, 120)} on {md(run.model, 120)}",
        "",
        f"The scheduled eval run differs from the last good run ({md(baseline, 200)}). {_cause(commits)}",
        "",
    ]
    out += [f"- {md(r, 500)}" for r in finding.reasons]
    out.append("")
    if comparison is not None:
        out.append(
            render_comparison_markdown(
                comparison,
                "last good",
                "this run",
                title="This run vs the last good run",
                reasons=dict(reasons or {}),
            )
        )
    out += [
        "### Runs",
        "",
        "| date (UTC) | pass rate | Δ vs last good | score Δ, 95% CI | fingerprint | run |",
    ]
    out.append("|---|---|---|---|---|---|")
    for row in rows[:MAX_ROWS]:
        delta = pt(row.delta) if row.delta is not None else "—"
        interval = (
            f"[{row.low * 100:+.1f}, {row.high * 100:+.1f}]".replace("-", "−")
            if row.low is not None and row.high is not None
            else "—"
        )
        url = safe_url(row.url) if row.url else None
        link = f"[{_kind_label(row.kind)}]({url})" if url else _kind_label(row.kind)
        out.append(
            f"| {md(row.date, 20)} | {fmt_pct(row.pass_rate)} ({counted(row.passed, row.total, 'cases')}) | "
            f"{delta} | {interval} | {md(row.fingerprint, 80) or '—'} | {link} |"
        )
    out.append("")
    out.append(
        f"This issue is updated by every scheduled run while it is open and closed by the first run "
        f"back within the margin ({int(CONFIDENCE * 100)}% intervals; see the README, *Drift and upgrades*)."
    )
    text = "\n".join(out)
    if len(text) > MAX_BODY:
        text = text[: MAX_BODY - 40].rsplit("\n", 1)[0] + "\n\n… (cut to fit GitHub's limit)"
    history = json.dumps([asdict(r) for r in rows[:MAX_ROWS]], separators=(",", ":")).replace(
        "--", "-\\u002d"
    )
    return f"{text}\n\n<!-- evalgate-drift-history\n{history}\n-->\n"


def _cause(commits: tuple[str | None, str | None]) -> str:
    base, head = commits
    if base and head and base == head:
        return (
            f"Both ran commit {md(head[:12], 12)}: nothing in this repository changed, so the provider "
            "(what is behind the pin) or the data did."
        )
    if base and head:
        return (
            f"The branch moved from {md(base[:12], 12)} to {md(head[:12], 12)} since then: look at what was "
            "merged as well as at the provider."
        )
    return "Look at what was merged since then as well as at the provider."


def _kind_label(kind: str) -> str:
    return {"drop": "drop", "identity": "identity", "ok": "ok", "first": "first run"}.get(kind, kind)


def closing_comment(
    run: RunResult, comparison: RunComparison | None, rows: Sequence[RunRow], url: str | None
) -> str:
    """The comment a closing run leaves."""
    link = f" ([run]({safe_url(url)}))" if url and safe_url(url) else ""
    bad = sum(1 for r in rows if r.kind == "drop")
    delta = f", {pt(comparison.rate_delta)} vs the last good run" if comparison is not None else ""
    identity = ""
    if comparison is not None and comparison.identity_changes:
        b, h, n = identity_summary(comparison.identity_changes)[0]
        identity = (
            f" The model behind the pin is not the last good run's ({md(b, 120)} → {md(h, 120)} on {n} "
            "cases); quality held."
        )
    rate = fmt_pct(rows[0].pass_rate) if rows else "?"
    return (
        f"✅ Back within the margin: pass rate {rate}{delta}{link}.{identity} "
        f"Closing after {len(rows)} recorded run{'s' if len(rows) != 1 else ''} ({bad} with a drop). "
        "This run is the new baseline; a new issue opens if it drifts again."
    )


def failing_reasons(run: RunResult, ids: Sequence[str]) -> dict[str, str]:
    """Why each of ``ids`` fails in ``run`` (its error, or its first failing check)."""
    by_id = {c.id: c for c in run.cases}
    return {i: case_detail(by_id[i]) for i in ids if i in by_id}
