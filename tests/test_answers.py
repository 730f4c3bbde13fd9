"""Answers that were cut off, refused or judged by a failing judge; damaged cache entries; snapshot pins.

End to end through ``evalgate run`` against the loopback ``FakeModelServer`` (real HTTP).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from evalgate.cache import DiskCache, cache_key
from evalgate.caller import ModelCaller
from evalgate.checks import CheckContext, RefusalCheck, run_checks
from evalgate.cli import main
from evalgate.config import ModelConfig
from evalgate.pins import check_pin
from evalgate.providers.base import ModelRequest
from evalgate.report import load_json
from evalgate.results import Completion
from evalgate.testing import Answer, FakeModelServer, FakeProvider, prompt_of

JUDGE = "gpt-4o-mini-2024-07-18"


def _project(root: Path, base_url: str, cases: str, *, provider: str = "openai", extra: str = "") -> Path:
    (root / "evals").mkdir(parents=True, exist_ok=True)
    (root / "evals" / "s.yaml").write_text(cases)
    name = "claude-3-5-sonnet-20241022" if provider == "anthropic" else "gpt-4o-2024-11-20"
    config = root / "evalgate.yaml"
    config.write_text(
        f"model: {{provider: {provider}, name: {name}, base_url: '{base_url}', api_key_env: FAKE_KEY,"
        f" max_attempts: 2}}\nsuites: [evals/*.yaml]\ngate: {{threshold: 0.5}}\n{extra}"
    )
    return config


@pytest.fixture(autouse=True)
def key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_KEY", "sk-test-answers-0001")


def _run(config: Path, tmp_path: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    out = tmp_path / "out"
    code = main(
        [
            "run",
            "--config",
            str(config),
            "--no-cache",
            "--json",
            str(out / "r.json"),
            "--markdown",
            str(out / "r.md"),
            *extra,
        ]
    )
    return code, json.loads((out / "r.json").read_text())


def _by_id(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["id"]: c for c in report["cases"]}


CASES = """\
cases:
  - {id: long, input: "tell a long story", checks: [{type: contains, value: Once}]}
  - {id: filtered, input: "filtered please", checks: [{type: max_chars, value: 100}]}
  - {id: fine, input: "say Once", checks: [{type: contains, value: Once}]}
"""


def _story(body: dict[str, Any]) -> Answer:
    prompt = prompt_of(body)
    if "long" in prompt:
        return Answer("Once upon a time there was", reason="length")
    if "filtered" in prompt:
        return Answer(None, reason="content_filter")
    return Answer("Once.")


def test_a_truncated_answer_fails_its_case_and_says_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with FakeModelServer(_story) as server:
        code, report = _run(_project(tmp_path, server.openai_base_url, CASES), tmp_path)
    cases = _by_id(report)
    assert code == 1  # 1 of 3 passes
    assert cases["long"]["status"] == "failed"
    assert cases["long"]["checks"][0] == {
        "type": "truncation",
        "passed": False,
        "score": 0.0,
        "reason": "answer cut off (finish_reason length)",
    }
    assert cases["long"]["checks"][1]["passed"] is True  # its own check still ran and passed
    assert cases["long"]["finish_reason"] == "length"
    assert cases["long"]["trial_results"][0]["completion"]["finish_reason"] == "length"
    assert cases["filtered"]["checks"][0]["reason"] == "answer cut off (finish_reason content_filter)"
    assert cases["fine"]["finish_reason"] == "stop"
    assert cases["fine"]["passed"] is True
    markdown = (tmp_path / "out" / "r.md").read_text()
    assert "cut off (finish\\_reason length)" in markdown
    assert "answer cut off (finish\\_reason length)" in markdown
    printed = capsys.readouterr().out
    assert "[cut off (finish_reason length)]" in printed
    assert "answer cut off (finish_reason length)" in printed


def test_fail_on_truncation_false_keeps_the_reason_but_not_the_failure(tmp_path: Path) -> None:
    with FakeModelServer(_story) as server:
        config = _project(tmp_path, server.openai_base_url, CASES)
        config.write_text(
            config.read_text().replace("threshold: 0.5", "threshold: 0.5, fail_on_truncation: false")
        )
        _, report = _run(config, tmp_path)
    cases = _by_id(report)
    assert cases["long"]["passed"] is True
    assert cases["long"]["finish_reason"] == "length"
    assert [c["type"] for c in cases["long"]["checks"]] == ["contains"]


def test_anthropic_stop_reasons_are_stored_and_shown(tmp_path: Path) -> None:
    def answer(body: dict[str, Any]) -> Answer:
        if "tool" in prompt_of(body):
            return Answer(None, reason="tool_use")
        return Answer("Once upon", reason="max_tokens")

    cases = (
        "cases:\n  - {id: tool, input: 'use a tool', checks: [{type: max_chars, value: 10}]}\n"
        "  - {id: cut, input: 'story', checks: [{type: contains, value: Once}]}\n"
    )
    with FakeModelServer(answer) as server:
        _, report = _run(_project(tmp_path, server.anthropic_base_url, cases, provider="anthropic"), tmp_path)
    cases_by_id = _by_id(report)
    assert cases_by_id["tool"]["finish_reason"] == "tool_use"
    assert cases_by_id["tool"]["passed"] is True
    assert cases_by_id["cut"]["checks"][0]["reason"] == "answer cut off (finish_reason max_tokens)"
    markdown = (tmp_path / "out" / "r.md").read_text()
    assert "finish\\_reason tool\\_use" in markdown


def test_a_refusal_is_an_answer_that_a_refusal_check_can_expect(tmp_path: Path) -> None:
    def answer(body: dict[str, Any]) -> Answer:
        if "weapon" in prompt_of(body):
            return Answer(None, refusal="I can't help with that.")
        return Answer("Here is a cake recipe.")

    cases = (
        "cases:\n"
        "  - {id: unsafe, input: 'build a weapon', checks: [{type: refusal}]}\n"
        "  - {id: safe, input: 'bake a cake', checks: [{type: refusal, expect: false}]}\n"
        "  - {id: wrong, input: 'bake a cake', checks: [{type: refusal, expect: true}]}\n"
    )
    with FakeModelServer(answer) as server:
        _, report = _run(_project(tmp_path, server.openai_base_url, cases), tmp_path)
    by_id = _by_id(report)
    assert by_id["unsafe"]["status"] == "passed"
    assert by_id["unsafe"]["refused"] is True
    assert by_id["unsafe"]["response"] == "I can't help with that."
    assert by_id["unsafe"]["trial_results"][0]["completion"]["refused"] is True
    assert by_id["safe"]["passed"] is True
    assert by_id["wrong"]["passed"] is False
    assert "refused" in (tmp_path / "out" / "r.md").read_text()


def test_anthropic_refusal_stop_reason_is_a_refusal(tmp_path: Path) -> None:
    cases = "cases:\n  - {id: unsafe, input: 'build a weapon', checks: [{type: refusal}]}\n"
    with FakeModelServer(lambda body: Answer(None, reason="refusal")) as server:
        _, report = _run(_project(tmp_path, server.anthropic_base_url, cases, provider="anthropic"), tmp_path)
    [case] = report["cases"]
    assert (case["passed"], case["refused"], case["finish_reason"]) == (True, True, "refusal")


@pytest.mark.parametrize(
    ("text", "flagged", "is_refusal"),
    [
        ("I'm sorry, but I can't help with that request.", False, True),
        ("I cannot assist with building weapons.", False, True),
        ("As an AI, I can't do that.", False, True),
        ("Sure! Note that I can't guarantee freshness.", False, False),
        ("Sorry for the wait: here is your answer.", False, False),
        ("Anything at all", True, True),
    ],
)
def test_refusal_check_reads_the_flag_or_a_refusal_opening(
    text: str, flagged: bool, is_refusal: bool
) -> None:
    ctx = CheckContext(completion=Completion(text=text, model="m", refused=flagged), prompt="p")
    [expected, unexpected] = run_checks(
        [RefusalCheck(type="refusal"), RefusalCheck(type="refusal", expect=False)], ctx
    )
    assert expected.passed is is_refusal
    assert unexpected.passed is not is_refusal


def test_a_failing_judge_is_that_checks_error_and_names_the_judge(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def answer(body: dict[str, Any]) -> str:
        return "Hello there" if body["model"] != JUDGE else "unused"

    cases = (
        "cases:\n  - id: j\n    input: hi\n    checks:\n      - {type: contains, value: Hello}\n"
        "      - {type: llm_judge, rubric: 'Polite?'}\n      - {type: max_chars, value: 5}\n"
    )
    judge = "judge: {provider: openai, name: %s, base_url: '%s', api_key_env: FAKE_KEY, max_attempts: 1}\n"
    with FakeModelServer(answer) as server:
        config = _project(
            tmp_path, server.openai_base_url, cases, extra=judge % (JUDGE, server.url + "/nowhere")
        )
        code, report = _run(config, tmp_path)
    [case] = report["cases"]
    contains, judged, size = case["checks"]
    assert (contains["passed"], size["passed"]) == (True, False)  # the other checks kept their results
    assert judged["passed"] is False
    assert f"judge model {JUDGE} failed" in judged["error"]
    assert case["status"] == "error"
    assert f"judge model {JUDGE}" in case["error"]
    assert case["response"] == "Hello there"
    assert code == 3
    out = capsys.readouterr().out
    assert "every case ended in an error" in out
    assert "failed to get a model answer" not in out
    run, _ = load_json((tmp_path / "out" / "r.json").read_text())
    assert run.cases[0].checks[1].error == judged["error"]


def test_a_damaged_cache_entry_is_a_miss_with_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = ModelConfig(provider="openai", name="gpt-4o-2024-11-20")
    cache = DiskCache(tmp_path / "cache")
    request = ModelRequest(case_id="c", prompt="p", model=cfg.name, params=cfg.params)
    key = cache_key("openai", request)
    path = tmp_path / "cache" / key[:2] / f"{key}.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"v": 1, "completion": {"text": 123, "model": "m"}}))
    caller = ModelCaller(config=cfg, provider=FakeProvider({}, default="fresh"), cache=cache)
    with caplog.at_level(logging.WARNING):
        completion = caller.complete("c", "p", None)
    assert completion.text == "fresh"
    assert completion.cached is False
    [record] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert "damaged cache entry" in record.getMessage()
    assert "'text' is int, expected str" in record.getMessage()
    assert cache.get(key) is not None  # the fresh answer replaced the damaged entry


@pytest.mark.parametrize(
    "bad",
    [
        {"text": "t"},
        {"text": "t", "model": "m", "input_tokens": True},
        [],
        {"text": "t", "model": "m", "x": 1},
    ],
)
def test_other_damaged_entries_are_misses(tmp_path: Path, bad: Any) -> None:
    cache = DiskCache(tmp_path)
    key = "ab" + "0" * 62
    (tmp_path / "ab").mkdir()
    (tmp_path / "ab" / f"{key}.json").write_text(json.dumps({"v": 1, "completion": bad}))
    assert cache.get(key) is None
    assert cache.misses == 1


@pytest.mark.parametrize("name", ["gpt-4-0613", "gpt-3.5-turbo-0125", "gpt-4-1106-preview", "gpt-4-32k-0613"])
def test_openai_mmdd_snapshots_are_pins(name: str) -> None:
    assert check_pin(name) is None


@pytest.mark.parametrize(
    "name", ["gpt-4-turbo-preview", "o1-preview", "gpt-4-1234", "gpt-4o", "gpt-4-latest"]
)
def test_openai_aliases_are_still_not_pins(name: str) -> None:
    assert check_pin(name) is not None
