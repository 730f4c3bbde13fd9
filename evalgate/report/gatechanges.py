"""The PR comment's gate-change section: every change to the bar, old → new, and who must approve it."""

from __future__ import annotations

from collections.abc import Callable

from evalgate.gatechange import GateChange
from evalgate.gateowners import GateChangeVerdict
from evalgate.report.escape import code_literal, md, safe_url

Link = Callable[[GateChange], str | None]
_SHOWN = 60
_KIND_TEXT = {
    "removed": "deleted",
    "unrequired": "no longer required",
    "loosened": "loosened",
    "check removed": "check removed",
    "check changed": "check changed",
}


def _code(text: str) -> str:
    return code_literal(text, 120, table=True)


def _where(change: GateChange, link: Link | None) -> str:
    if change.kind == "config":
        return _code(change.where)
    name = md(change.where, 120)
    url = safe_url(link(change) or "") if link is not None else None
    case = f"[{name}]({url})" if url else name
    return f"case {case} — {_KIND_TEXT[change.kind]}"


def gate_changes_markdown(verdict: GateChangeVerdict, link: Link | None = None) -> str:
    """The section; empty when the PR changes nothing about the bar and does not introduce it."""
    changes = verdict.changes
    if changes.introduced:
        return (
            "### Gate: introduced by this pull request\n\n"
            "The base commit has no eval config, so this pull request brings the gate and its bar; from "
            "the next pull request on, the bar is read from the base branch.\n"
        )
    if not changes:
        return ""
    if verdict.passed:
        head = f"✅ approved by {_code(verdict.approved_by or '')}"
    else:
        head = "❌ needs an owner's approval" if verdict.approved_by is None else "❌ not shipped alone"
    lines = [
        f"### Gate changes: {head}",
        "",
        "This pull request changes the bar. It is evaluated against the base branch's bar (the stricter "
        "one); the change is accepted only when it ships without prompt or model-pin changes and one of "
        "the owners in the base's `gate.owners` approves the current head commit "
        f"({_code(verdict.head_sha[:12])}).",
        "",
    ]
    owners = ", ".join(_code(o) for o in verdict.owners) if verdict.owners else "*none named*"
    lines += [f"**Owners:** {owners}", ""]
    for reason in verdict.reasons:
        lines.append(f"- {md(reason, 400)}")
    if verdict.reasons:
        lines.append("")
    lines += ["| change | old | new |", "|---|---|---|"]
    for change in changes.changes[:_SHOWN]:
        lines.append(f"| {_where(change, link)} | {_code(change.old)} | {_code(change.new)} |")
    if len(changes.changes) > _SHOWN:
        lines.append(f"| … and {len(changes.changes) - _SHOWN} more | | |")
    return "\n".join(lines) + "\n"


def review_markdown(warning: str | None) -> str:
    """A quoted warning line for a stale ``gate.reviewed``; empty when there is none."""
    return f"> ⚠️ {md(warning, 400)}\n" if warning else ""
