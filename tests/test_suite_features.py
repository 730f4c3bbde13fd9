"""Suite features promptfoo users rely on: unchecked cases, defaults, vars in checks, cases x prompts,
chat prompt files, CSV/JSONL case files, case thresholds and weights — run against the loopback model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from evalgate.cli import main
from evalgate.gate import GateConfig, decide
from evalgate.results import CaseResult, CheckResult, Completion, Trial
from evalgate.suite import load_suite
from evalgate.testing import FakeModelServer, prompt_of


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def _config(base_url: str, extra: str = "", prompts: str = "") -> str:
    return f"""\
model: {{provider: openai, name: gpt-4o-2024-11-20, base_url: {base_url}, max_attempts: 2, timeout_s: 5}}
suites: ["evals/*"]
runner: {{cache: false}}
{prompts}
{extra}
"""


def _run(root: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    report = root / "out.json"
    code = main(["run", "--config", str(root / "evalgate.yaml"), "--json", str(report), "--quiet", *extra])
    return code, json.loads(report.read_text())


def _by_id(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["id"]: c for c in report["cases"]}


def test_a_case_without_checks_is_unchecked_and_counts_in_no_rate(tmp_path: Path) -> None:
    with FakeModelServer() as server:
        _write(
            tmp_path,
            {
                "evalgate.yaml": _config(server.openai_base_url),
                "evals/a.yaml": """\
cases:
  - {id: collected, input: just collect this}
  - {id: checked, input: hello, checks: [{type: contains, value: hello}]}
""",
            },
        )
        code, report = _run(tmp_path)
    cases = _by_id(report)
    assert code == 0
    assert cases["collected"]["status"] == "unchecked"
    assert cases["collected"]["response"] == "echo: just collect this"
    assert (report["passed"], report["total"]) == (1, 1)


def test_max_unchecked_fails_the_gate_and_names_the_cases() -> None:
    answered = Trial(completion=Completion(text="x", model="m"))
    checked = Trial(
        completion=Completion(text="x", model="m"), checks=(CheckResult("contains", True, 1.0, "ok"),)
    )
    cases = [
        CaseResult(id="a", suite="s", line=1, trials=(answered,)),
        CaseResult(id="b", suite="s", line=2, trials=(checked,)),
    ]
    assert decide(cases, GateConfig()).passed
    verdict = decide(cases, GateConfig(max_unchecked=0))
    assert not verdict.passed
    assert "1 cases have no checks (a), more than gate.max_unchecked 0" in verdict.reasons


def test_only_unchecked_cases_cannot_pass_the_gate() -> None:
    answered = Trial(completion=Completion(text="x", model="m"))
    verdict = decide([CaseResult(id="a", suite="s", line=1, trials=(answered,))], GateConfig())
    assert not verdict.passed
    assert verdict.value == 0.0
    # says why in words, not as "0.0% (0/0) is below the threshold"
    assert verdict.reasons == (
        "nothing was checked: none of the 1 cases has a check, so there is no pass rate to hold to the "
        "threshold 85.0%; add checks to the cases or the suite's defaults",
    )


def test_weighted_score_passes_a_case_with_a_threshold() -> None:
    done = Completion(text="x", model="m")
    checks = (CheckResult("a", True, 1.0, "", weight=3.0), CheckResult("b", False, 0.0, ""))
    assert Trial(completion=done, checks=checks, threshold=0.75).passed
    assert not Trial(completion=done, checks=checks, threshold=0.8).passed
    assert not Trial(completion=done, checks=checks).passed
    assert Trial(completion=done, checks=checks).score == 0.75


def test_defaults_vars_in_checks_and_cases_times_prompts(tmp_path: Path) -> None:
    with FakeModelServer() as server:
        _write(
            tmp_path,
            {
                "evalgate.yaml": _config(
                    server.openai_base_url,
                    prompts="prompts: {short: prompts/short.txt, long: prompts/long.txt}",
                ),
                "prompts/short.txt": "Capital of {{ country }}?",
                "prompts/long.txt": "Tell me, what is the capital city of {{ country }}?",
                "evals/a.yaml": """\
defaults:
  vars: {country: France}
  checks: [{type: icontains, value: "{{ country }}", weight: 2}]
  threshold: 0.6
cases:
  - id: france
    checks: [{type: contains, value: "capital of {{ country }}"}]
  - id: spain
    vars: {country: Spain}
""",
            },
        )
        code, report = _run(tmp_path)
        sent = sorted(prompt_of(r.json) for r in server.requests)
    cases = _by_id(report)
    assert sorted(cases) == ["france:long", "france:short", "spain:long", "spain:short"]
    assert sent == [
        "Capital of France?",
        "Capital of Spain?",
        "Tell me, what is the capital city of France?",
        "Tell me, what is the capital city of Spain?",
    ]
    # 'long' says "capital city of France": the contains check fails, the weighted score 2/3 >= 0.6 passes
    long = cases["france:long"]
    assert [c["passed"] for c in long["checks"]] == [True, False]
    assert long["status"] == "passed"
    assert cases["spain:short"]["checks"][0]["reason"] == "contains 'Spain'"
    assert code == 0


def test_chat_prompt_file_sends_the_system_message(tmp_path: Path) -> None:
    with FakeModelServer() as server:
        _write(
            tmp_path,
            {
                "evalgate.yaml": _config(
                    server.openai_base_url, prompts="prompts: {chat: prompts/chat.json}"
                ),
                "prompts/chat.json": json.dumps(
                    [
                        {"role": "system", "content": "You answer about {{ topic }} only."},
                        {"role": "user", "content": "Explain {{ topic }}."},
                    ]
                ),
                "evals/a.yaml": "defaults: {checks: [{type: contains, value: x}]}\n"
                "cases: [{id: t, vars: {topic: x}}]\n",
            },
        )
        code, _ = _run(tmp_path)
        body = server.requests[0].json
    assert code == 0
    assert body["messages"] == [
        {"role": "system", "content": "You answer about x only."},
        {"role": "user", "content": "Explain x."},
    ]


def test_csv_suite_with_expected_shorthand(tmp_path: Path) -> None:
    with FakeModelServer() as server:
        _write(
            tmp_path,
            {
                "evalgate.yaml": _config(server.openai_base_url, prompts="prompts: {ask: prompts/ask.txt}"),
                "prompts/ask.txt": "Q: {{ question }}",
                "evals/qa.csv": (
                    "question,__expected1,__expected2,__metric\n"
                    '"Paris, France",contains:Paris,icontains:q: paris,geo\n'
                    "Madrid,echo: Q: Madrid,,\n"
                    "Rome,not-contains:Rome,,\n"
                ),
            },
        )
        code, report = _run(tmp_path)
    cases = _by_id(report)
    assert sorted(cases) == ["qa-1", "qa-2", "qa-3"]
    assert cases["qa-1"]["tags"] == ["geo"]
    assert cases["qa-1"]["status"] == "passed"
    assert cases["qa-2"]["checks"][0]["type"] == "equals"
    assert cases["qa-2"]["status"] == "passed"
    assert cases["qa-3"]["status"] == "failed"
    assert (cases["qa-3"]["suite"], cases["qa-3"]["line"]) == ("evals/qa.csv", 4)
    assert code == 1


def test_cases_from_files_and_globs(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "evals/s.yaml": "defaults: {prompt: ask}\ncases:\n  - file://data/*.jsonl\n  - data/more.yaml\n",
            "evals/data/a.jsonl": '{"vars": {"q": "one"}}\n\n{"id": "named", "vars": {"q": "two"}}\n',
            "evals/data/more.yaml": "- {id: m, vars: {q: three}, checks: [{type: equals, value: '{{q}}'}]}\n",
        },
    )
    cases = load_suite(tmp_path / "evals" / "s.yaml", display="evals/s.yaml")
    assert [(c.id, c.suite, c.line) for c in cases] == [
        ("a-1", "evals/data/a.jsonl", 1),
        ("named", "evals/data/a.jsonl", 3),
        ("m", "evals/data/more.yaml", 1),
    ]
    assert cases[2].spec.checks[0].model_dump()["value"] == "three"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("cases: [file://missing.csv]\n", "cases file 'file://missing.csv' not found"),
        ("cases: ['nothing/*.jsonl']\n", "'nothing/*.jsonl' matches no files"),
    ],
)
def test_missing_case_files_are_located_errors(tmp_path: Path, text: str, says: str) -> None:
    _write(tmp_path, {"s.yaml": text})
    with pytest.raises(Exception, match=r"s\.yaml:1") as info:
        load_suite(tmp_path / "s.yaml", display="s.yaml")
    assert says in str(info.value)


def test_bad_jsonl_line_names_its_line(tmp_path: Path) -> None:
    _write(tmp_path, {"s.jsonl": '{"input": "a"}\n{"input": \n'})
    with pytest.raises(Exception, match=r"s.jsonl:2: invalid JSON"):
        load_suite(tmp_path / "s.jsonl", display="s.jsonl")


def test_check_templates_are_sandboxed(tmp_path: Path) -> None:
    escape = "{{ cycler.__init__.__globals__.os }}"
    _write(
        tmp_path,
        {"s.yaml": f'cases:\n  - {{id: a, input: x, checks: [{{type: contains, value: "{escape}"}}]}}\n'},
    )
    with pytest.raises(Exception, match="template error in a check") as info:
        load_suite(tmp_path / "s.yaml", display="s.yaml")
    assert "unsafe" in str(info.value)


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_a_few_shot_chat_prompt_sends_its_turns_in_order(tmp_path: Path, provider: str) -> None:
    chat = [
        {"role": "system", "content": "Classify sentiment."},
        {"role": "user", "content": "I love it"},
        {"role": "assistant", "content": "positive"},
        {"role": "user", "content": "{{ review }}"},
    ]
    with FakeModelServer() as server:
        base = server.openai_base_url if provider == "openai" else server.url
        _write(
            tmp_path,
            {
                "evalgate.yaml": _config(base, prompts="prompts: {chat: prompts/chat.json}").replace(
                    "provider: openai", f"provider: {provider}"
                ),
                "prompts/chat.json": json.dumps(chat),
                "evals/a.yaml": "cases: [{id: r, vars: {review: broke}}]\n",
            },
        )
        _run(tmp_path)
        body = server.requests[0].json
    turns = [{"role": "user", "content": "I love it"}, {"role": "assistant", "content": "positive"}]
    if provider == "openai":
        assert body["messages"] == [
            {"role": "system", "content": "Classify sentiment."},
            *turns,
            {"role": "user", "content": "broke"},
        ]
    else:
        assert body["system"] == "Classify sentiment."
        assert body["messages"] == [*turns, {"role": "user", "content": "broke"}]
