"""GitHub Actions workflow commands: outputs, the step summary, annotations, and safe logging.

Everything here writes to the files or the log the runner reads; nothing talks to the REST API.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from pathlib import Path

# the login the default GITHUB_TOKEN writes as (GET /user is refused to it)
DEFAULT_TOKEN_LOGIN = "github-actions[bot]"

ANNOTATIONS_SHOWN = 10  # GitHub shows at most 10 errors and 10 warnings per step
SUMMARY_LIMIT = 1024 * 1024  # bytes per step


def escape_data(text: str) -> str:
    """Escape a workflow command's message."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """Escape a workflow command's property value (file, title, ...)."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def annotation(
    level: str, message: str, *, file: str | None = None, line: int | None = None, title: str | None = None
) -> str:
    """One ``::error file=F,line=L,title=T::message`` line."""
    props = []
    if file:
        props.append(f"file={escape_property(file)}")
    if line:
        props.append(f"line={line}")
    if title:
        props.append(f"title={escape_property(title)}")
    head = f"::{level} {','.join(props)}" if props else f"::{level}"
    return f"{head}::{escape_data(message)}"


def untrusted_block(text: str) -> tuple[str, str, str]:
    """Lines that print ``text`` with workflow commands disabled: start marker, text, end marker."""
    token = secrets.token_hex(16)
    return f"::stop-commands::{token}", text, f"::{token}::"


def _delimiter(value: str) -> str:
    while True:
        delimiter = f"EVALGATE_{secrets.token_hex(12)}"
        if delimiter not in value:
            return delimiter


def write_outputs(path: Path | None, outputs: Mapping[str, str]) -> None:
    """Append outputs to ``$GITHUB_OUTPUT``, using heredoc delimiters that cannot occur in the values."""
    if path is None:
        return
    with path.open("a", encoding="utf-8") as fh:
        for name, value in outputs.items():
            delimiter = _delimiter(value)
            fh.write(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")


def append_summary(path: Path | None, markdown: str) -> None:
    """Append Markdown to ``$GITHUB_STEP_SUMMARY``, cut to stay under the 1 MiB step limit."""
    if path is None:
        return
    data = markdown.encode("utf-8")
    if len(data) > SUMMARY_LIMIT - 1024:
        cut = data[: SUMMARY_LIMIT - 1024].decode("utf-8", errors="ignore")
        markdown = cut + "\n\n… (summary truncated to GitHub's 1 MiB limit; see the JSON report)\n"
    with path.open("a", encoding="utf-8") as fh:
        fh.write(markdown.rstrip("\n") + "\n")
