"""``evalgate view``: a self-contained HTML report, checked as text and in a real headless Chromium."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from evalgate.cli import main
from evalgate.gate import GateConfig, compare, decide
from evalgate.report.html import render_html
from evalgate.report.json import to_json_dict
from evalgate.results import CaseResult, CheckResult, Completion, RunResult, Trial

HOSTILE = '<script>alert(1)</script><img src=x onerror=alert(2)> </pre></details> "quoted" & more'


def case(
    case_id: str,
    passed: bool,
    answer: str,
    reason: str = "ok",
    *,
    tags: tuple[str, ...] = (),
    suite: str = "evals/a.yaml",
) -> CaseResult:
    check = CheckResult("icontains", passed, 1.0 if passed else 0.0, reason)
    done = Completion(answer, "gpt-x-2024-01-01", latency_ms=120.0, input_tokens=10, output_tokens=5)
    return CaseResult(
        case_id,
        suite,
        3,
        (Trial(done, (check,)),),
        tags=tags,
        prompt=f"Prompt of {case_id}",
        vars={"q": case_id},
    )


def report(base: list[CaseResult] | None = None) -> dict[str, Any]:
    cases = [
        case("refund_policy", False, "We never give refunds.", "missing '30 days'", tags=("policy",)),
        case("inj_leak", False, "The code is ACME-50.", "found forbidden 'ACME-50'", tags=("security",)),
        case("greeting", True, "Hello Ann!", tags=("support",), suite="evals/b.yaml"),
        case("hours", True, "We are open 9-5.", tags=("support",), suite="evals/b.yaml"),
        case("hostile", True, HOSTILE, tags=("support",)),
    ]
    run = RunResult(tuple(cases), "openai", "gpt-x-2024-01-01", "evalgate.yaml", "2026-01-01T00:00:00Z", 2.5)
    verdict = decide(run.cases, GateConfig(threshold=0.9))
    comparison = compare(run.cases, base) if base is not None else None
    return to_json_dict(run, verdict, comparison)


BASE = [
    case("refund_policy", True, "Refunds within 30 days.", "contains '30 days'"),
    case("inj_leak", False, "ACME-50", "found forbidden 'ACME-50'"),
    case("greeting", True, "Hello Ann!"),
    case("hours", True, "9-5"),
    case("hostile", True, "x"),
]


def test_the_page_is_self_contained_and_escapes_every_text() -> None:
    page = render_html(report())
    assert "<script>alert(1)</script>" not in page
    assert "<img" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;" in page
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)  # nothing loads from anywhere
    assert page.count("<script>") == 1


def test_the_csp_allows_only_the_inline_style_and_script_it_carries() -> None:
    page = render_html(report())
    script = page.split("<script>", 1)[1].split("</script>", 1)[0]
    style = page.split("<style>", 1)[1].split("</style>", 1)[0]

    def digest(text: str) -> str:
        return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"

    csp = re.search(r'Content-Security-Policy" content="([^"]+)"', page)
    assert csp is not None
    assert "default-src 'none'" in csp.group(1)
    assert f"script-src {digest(script)}" in csp.group(1)
    assert f"style-src {digest(style)}" in csp.group(1)


def test_each_case_shows_prompt_vars_answer_and_every_check() -> None:
    page = render_html(report())
    assert "Prompt of refund_policy" in page
    assert "&quot;q&quot;: &quot;refund_policy&quot;" in page
    assert "We never give refunds." in page
    assert "missing &#x27;30 days&#x27;" in page
    assert "<code>gpt-x-2024-01-01</code> · 120 ms · 10 → 5 tokens" in page
    # failing cases first and open; passing ones closed
    assert page.index('data-id="refund_policy"') < page.index('data-id="greeting"')
    assert re.search(r'data-id="refund_policy"[^>]* open>', page)
    assert not re.search(r'data-id="greeting"[^>]* open>', page)


def test_base_answers_are_shown_side_by_side_for_changed_cases() -> None:
    page = render_html(report(BASE))
    assert "Changes vs base" in page
    assert 'Newly failing (1): <a href="#case=refund_policy">refund_policy</a>' in page
    block = page.split('data-id="refund_policy"', 1)[1].split("</details>", 1)[0]
    assert "<div class=cols>" in block
    assert "On the base <span class=muted>· passed</span>" in block
    assert "Refunds within 30 days." in block
    assert "<div class=cols>" not in page.split('data-id="inj_leak"', 1)[1].split("</details>", 1)[0]


def test_view_command_writes_the_html_next_to_the_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "out" / "report.json"
    source.parent.mkdir()
    source.write_text(json.dumps(report()))
    assert main(["view", str(source)]) == 0
    assert (tmp_path / "out" / "report.html").read_text().startswith("<!doctype html>")
    assert "file://" in capsys.readouterr().out
    assert main(["view", str(source), "--output", str(tmp_path / "x.html")]) == 0
    assert (tmp_path / "x.html").is_file()


def test_view_rejects_what_is_not_a_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema_version": 1, "cases": 3}')
    assert main(["view", str(bad)]) == 2
    assert "bad.json" in capsys.readouterr().err
    assert main(["view", str(tmp_path / "missing.json")]) == 2
    assert not (tmp_path / "bad.html").exists()


# --- in a real browser --------------------------------------------------------------------------------


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    pytest.skip(
        "!!! NO CHROMIUM: the HTML report's filters were NOT tested in a browser. "
        "Install it (apt-get install chromium; .ci/run does) to run these tests."
    )


class _Cases(HTMLParser):
    """The case elements of a dumped DOM: id -> (hidden, open, text inside)."""

    def __init__(self) -> None:
        super().__init__()
        self.cases: dict[str, dict[str, Any]] = {}
        self.shown = ""
        self._current: str | None = None
        self._depth = 0
        self._in_shown = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "details" and "case" in (a.get("class") or "").split():
            self._current = a["data-id"] or ""
            self._depth = 0
            self.cases[self._current] = {"hidden": "hidden" in a, "open": "open" in a, "text": ""}
        elif tag == "details" and self._current is not None:
            self._depth += 1
        if a.get("id") == "shown":
            self._in_shown = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "details" and self._current is not None:
            if self._depth == 0:
                self._current = None
            else:
                self._depth -= 1
        if tag == "span":
            self._in_shown = False

    def handle_data(self, data: str) -> None:
        if self._current is not None:
            self.cases[self._current]["text"] += data
        if self._in_shown:
            self.shown += data


def _open(browser: str, page: Path, fragment: str, tmp_path: Path) -> _Cases:
    """Load the page from a file:// URL in headless Chromium and parse the DOM after its script ran."""
    url = page.resolve().as_uri() + fragment
    profile = tmp_path / "profile"
    proc = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            f"--user-data-dir={profile}",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    parsed = _Cases()
    parsed.feed(proc.stdout)
    assert parsed.cases, f"no cases in the dumped DOM: {proc.stdout[:500]}"
    return parsed


def _visible(parsed: _Cases) -> set[str]:
    return {k for k, v in parsed.cases.items() if not v["hidden"]}


def test_in_chromium_filters_by_status_new_tag_suite_and_search(tmp_path: Path) -> None:
    browser = _chromium()
    page = tmp_path / "report.html"
    page.write_text(render_html(report(BASE)))

    everything = _open(browser, page, "", tmp_path)
    assert _visible(everything) == {"refund_policy", "inj_leak", "greeting", "hours", "hostile"}
    assert everything.shown == "5 cases shown"  # written by the script, so it ran

    failing = _open(browser, page, "#status=failing", tmp_path)
    assert _visible(failing) == {"refund_policy", "inj_leak"}
    assert failing.shown == "2 of 5 cases shown"
    shown = failing.cases["refund_policy"]
    assert shown["open"]  # its body is displayed, not just its summary
    assert "We never give refunds." in shown["text"]
    assert "missing '30 days'" in shown["text"]

    assert _visible(_open(browser, page, "#status=new", tmp_path)) == {"refund_policy"}
    assert _visible(_open(browser, page, "#tag=security", tmp_path)) == {"inj_leak"}
    assert _visible(_open(browser, page, "#suite=evals%2Fb.yaml", tmp_path)) == {"greeting", "hours"}
    assert _visible(_open(browser, page, "#q=open%209-5", tmp_path)) == {"hours"}
    assert _visible(_open(browser, page, "#status=passing&tag=support&q=ann", tmp_path)) == {"greeting"}


def test_in_chromium_hostile_answers_stay_text(tmp_path: Path) -> None:
    browser = _chromium()
    page = tmp_path / "report.html"
    page.write_text(render_html(report()))
    parsed = _open(browser, page, "#case=hostile", tmp_path)
    hostile = parsed.cases["hostile"]
    assert hostile["open"]  # opened by the #case= link
    assert "<script>alert(1)</script><img src=x onerror=alert(2)>" in hostile["text"]
    assert len(parsed.cases) == 5  # the answer's </details> closed nothing
