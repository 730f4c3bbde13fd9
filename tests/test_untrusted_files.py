"""Text and files a pull request controls: error text in the step summary, oversized results and events."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from evalgate.action import main as action_main
from evalgate.action_env import MAX_EVENT_BYTES, read_context, read_inputs
from evalgate.errors import UsageError
from evalgate.merge import MAX_ACTION_REPORT_BYTES, read_report
from evalgate.report.escape import fence_lines, fenced
from evalgate.report.mdblocks import LEVELS, details
from evalgate.results import CaseResult, Completion, Trial

HOSTILE = (
    "```\n![tracker](https://evil.example/pixel.png) @octo/team <img src=x> [link](https://evil.example)"
)


def _outside_fences(markdown: str) -> str:
    """The Markdown with every fenced code block removed (a block closes only on its own fence)."""
    out, fence = [], None
    for line in markdown.splitlines():
        if fence is None:
            opening = re.match(r"^(`{3,})", line)
            if opening:
                fence = opening.group(1)
                continue
            out.append(line)
        elif re.fullmatch(rf"{fence}`*\s*", line):
            fence = None
    assert fence is None, "a code block was never closed"
    return "\n".join(out)


def test_fenced_text_cannot_close_its_fence() -> None:
    block = fenced(HOSTILE + "\n`````")
    assert block.startswith("``````text\n")
    assert block.endswith("\n``````")
    assert _outside_fences(block) == ""


@pytest.mark.parametrize(
    "text",
    [
        HOSTILE,
        "line one\r\nline two\rthree",
        "a\x85b\u2028c",  # NEL, then a Unicode line separator (kept: GitHub does not break lines on it)
        "bidi \u202eevil\u202c and \x1b[31mred\x1b[0m",
        "``````` seven ticks\n````",
        "",
    ],
)
def test_the_step_summary_and_the_comment_fence_text_with_the_same_rule(text: str) -> None:
    # the Action's error summary and the PR comment's details used to carry two copies of the fence rule
    # that disagreed on NEL (U+0085): one dropped it, one let it through
    lines = fence_lines(text)
    assert fenced(text) == "\n".join(lines)
    assert _outside_fences("\n".join(lines)) == ""
    assert not any(ch in "\x85\x1b\r\u202e\u202c" for ch in "".join(lines))
    answer = CaseResult("c", "evals/a.yaml", 3, (Trial(Completion(text, "m"), ()),))
    block = "\n".join(details(answer, LEVELS[0]))
    assert "\n".join(fence_lines(text)) in block


def test_a_config_error_in_the_step_summary_renders_nothing_live(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    key = json.dumps(HOSTILE)  # a YAML key with a fence, an image, a mention and HTML in it
    (workspace / "evalgate.yaml").write_text(
        f"model: {{provider: replay, name: m-1.0.0, responses: r.yaml}}\n{key}: 1\n"
    )
    summary = tmp_path / "summary.md"
    summary.write_text("")
    event = tmp_path / "event.json"
    event.write_text("{}")
    env = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_WORKSPACE": str(workspace),
        "GITHUB_EVENT_NAME": "push",
        "GITHUB_EVENT_PATH": str(event),
        "GITHUB_SHA": "b" * 40,
        "GITHUB_STEP_SUMMARY": str(summary),
        "INPUT_CONFIG": "evalgate.yaml",
        "INPUT_BASELINE": "none",
        "INPUT_WORKING-DIRECTORY": ".",
    }
    assert action_main(env) == 2
    text = summary.read_text()
    assert "unknown key" in text
    assert "pixel.png" in text  # the message is there, quoted...
    outside = _outside_fences(text)
    for live in ("![", "@octo", "<img", "](https://"):  # ...but only inside a fence nothing can close
        assert live not in outside, f"{live!r} would render in:\n{text}"


def test_an_oversized_results_file_is_refused_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    path.write_bytes(b"{" + b" " * MAX_ACTION_REPORT_BYTES)  # what the Action allows a results file
    with pytest.raises(UsageError, match=r"over the 10(\.0)? MB limit"):
        read_report(path, max_bytes=MAX_ACTION_REPORT_BYTES)


def test_an_oversized_event_file_is_refused_before_parsing(tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    event.write_bytes(b"[" * (MAX_EVENT_BYTES + 1))  # would also nest too deep for json to parse
    env = {"GITHUB_EVENT_PATH": str(event), "GITHUB_WORKSPACE": str(tmp_path)}
    with pytest.raises(UsageError, match="larger than 10 MB"):
        read_context(env, read_inputs(env))
