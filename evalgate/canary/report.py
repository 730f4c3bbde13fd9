"""The decision log as Markdown, for the job summary."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from evalgate.report.escape import md


def decision_table(records: Sequence[dict[str, Any]], headline: str) -> str:
    """A table of every weight change and decision, newest last."""
    lines = [
        "### Canary rollout",
        "",
        md(headline, 500),
        "",
        "| time | kind | weight | action | reason |",
        "|---|---|---|---|---|",
    ]
    for r in records:
        lines.append(
            f"| {md(str(r.get('ts', '')), 40)} | {md(str(r.get('kind', '')), 20)} | "
            f"{md(str(r.get('weight', '')), 20)} | {md(str(r.get('action', '')), 20)} | "
            f"{md(str(r.get('reason', '')), 300)} |"
        )
    return "\n".join(lines) + "\n"
