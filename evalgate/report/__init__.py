"""Pure renderers: a run and its verdict in, text (or a rich renderable) out."""

from __future__ import annotations

from evalgate.report.json import from_json_dict, load_json, render_json, report_schema, to_json_dict
from evalgate.report.junit import render_junit
from evalgate.report.markdown import render_markdown
from evalgate.report.terminal import render_plain, render_summary, render_terminal

__all__ = [
    "from_json_dict",
    "load_json",
    "render_json",
    "render_junit",
    "render_markdown",
    "render_plain",
    "render_summary",
    "render_terminal",
    "report_schema",
    "to_json_dict",
]
