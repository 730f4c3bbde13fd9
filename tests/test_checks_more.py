"""The check types suites from promptfoo need: any/all, minimum sizes, negation, edit distance,
embedding similarity, finish reasons, tool calls and JavaScript (a real Node.js worker)."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from evalgate.checks import CheckContext, CheckSpec, run_check
from evalgate.checks.javascript import worker
from evalgate.checks.similarity import bounded_levenshtein
from evalgate.cli import main
from evalgate.results import CheckResult, Completion
from evalgate.testing import FakeModelServer

ADAPTER: TypeAdapter[CheckSpec] = TypeAdapter(CheckSpec)
NODE = shutil.which("node")
needs_node = pytest.mark.skipif(
    NODE is None,
    reason="NODE.JS IS NOT INSTALLED: javascript checks cannot be tested (apt-get install nodejs)",
)


def check(data: dict[str, Any], text: str, *, base_dir: Path | None = None, **kw: Any) -> CheckResult:
    completion = Completion(text=text, model="m", finish_reason=kw.pop("finish_reason", None))
    ctx = CheckContext(
        completion=completion, prompt="p", vars=kw.pop("vars", {}), base_dir=base_dir or Path()
    )
    return run_check(ADAPTER.validate_python(data), ctx)


def test_contains_any_and_all() -> None:
    assert check({"type": "contains_any", "value": ["cat", "dog"]}, "a dog").reason == "contains 'dog'"
    miss = check({"type": "contains_any", "value": ["cat", "dog"]}, "a bird")
    assert not miss.passed
    assert miss.reason == "contains none of 'cat', 'dog'"
    assert check({"type": "icontains_any", "value": ["DOG"]}, "a dog").passed
    some = check({"type": "contains_all", "value": ["a", "b", "z"]}, "a b")
    assert (some.passed, round(some.score, 2), some.reason) == (False, 0.67, "missing 'z' (2 of 3)")
    assert check({"type": "icontains_all", "value": ["A", "B"]}, "a b").passed


def test_min_words_and_chars() -> None:
    assert check({"type": "min_words", "value": 3}, "one two three").passed
    short = check({"type": "min_chars", "value": 10}, "  hello  ")
    assert (short.passed, short.score, short.reason) == (False, 0.5, "5 chars < 10")


@pytest.mark.parametrize(
    ("data", "text", "passed"),
    [
        ({"type": "not_regex", "pattern": r"\d"}, "no digits", True),
        ({"type": "not_regex", "pattern": r"\d"}, "4 digits", False),
        ({"type": "not_equals", "value": "x"}, "y", True),
        ({"type": "not_starts_with", "value": "Sorry"}, "Sorry, no", False),
        ({"type": "not_contains_any", "value": ["bad", "worse"]}, "fine", True),
        ({"type": "not_is_json"}, "{}", False),
        ({"type": "regex", "pattern": "a", "negate": True}, "b", True),
    ],
)
def test_not_forms_flip_the_verdict_and_keep_the_reason(
    data: dict[str, Any], text: str, passed: bool
) -> None:
    outcome = check(data, text)
    assert outcome.passed is passed
    assert outcome.type == data["type"] if data["type"].startswith("not_") else "not_regex"


def test_negation_is_refused_where_it_has_no_meaning() -> None:
    with pytest.raises(ValidationError, match="'latency_ms' has no negated form"):
        ADAPTER.validate_python({"type": "latency_ms", "max": 5, "negate": True})


def _full_levenshtein(a: str, b: str) -> int:
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ca != cb))
    return row[len(b)]


def test_bounded_levenshtein_agrees_with_the_full_table() -> None:
    rng = random.Random(7)
    for _ in range(400):
        a = "".join(rng.choice("abc") for _ in range(rng.randint(0, 12)))
        b = "".join(rng.choice("abc") for _ in range(rng.randint(0, 12)))
        limit = rng.randint(0, 6)
        full = _full_levenshtein(a, b)
        assert bounded_levenshtein(a, b, limit) == (full if full <= limit else limit + 1), (a, b, limit)


def test_levenshtein_check() -> None:
    near = check({"type": "levenshtein", "value": "kitten", "max": 3}, " sitting ")
    assert (near.passed, near.reason) == (True, "3 edits from 'kitten' <= 3")
    assert not check({"type": "levenshtein", "value": "kitten", "max": 2}, "sitting").passed


@pytest.mark.parametrize(
    ("reason", "want", "passed"),
    [
        ("stop", "stop", True),
        ("end_turn", "stop", True),
        ("max_tokens", "length", True),
        ("length", "stop", False),
    ],
)
def test_finish_reason_is_normalised_across_vendors(reason: str, want: str, passed: bool) -> None:
    assert check({"type": "finish_reason", "value": want}, "x", finish_reason=reason).passed is passed


def test_finish_reason_unknown_fails() -> None:
    assert (
        check({"type": "finish_reason", "value": "stop"}, "x").reason
        == "the provider reported no finish reason"
    )


WEATHER = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]


def _call(name: str, args: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"id": "c1", "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}]


def test_tool_calls_validate_against_declared_tools(tmp_path: Path) -> None:
    spec = {"type": "is_valid_tool_call", "tools": WEATHER}
    assert check(spec, json.dumps(_call("get_weather", {"city": "Oslo"}))).passed
    bad = check(spec, json.dumps(_call("get_weather", {"town": "Oslo"})))
    assert bad.reason == "get_weather: $: 'city' is a required property"
    other = check(spec, json.dumps(_call("book_flight", {})))
    assert other.reason == "call to undeclared tool 'book_flight' (declared: get_weather)"
    assert check(spec, "It is sunny.").reason == "the response holds no tool calls"
    (tmp_path / "tools.yaml").write_text(json.dumps(WEATHER))
    from_file = {"type": "is_valid_tool_call", "tools_file": "tools.yaml"}
    assert check(from_file, json.dumps(_call("get_weather", {"city": "Oslo"})), base_dir=tmp_path).passed


def _project(root: Path, server: FakeModelServer, suite: str, *, judge: str = "") -> Path:
    (root / "evals").mkdir(parents=True, exist_ok=True)
    (root / "evals" / "s.yaml").write_text(suite)
    (root / "evalgate.yaml").write_text(
        f"model: {{provider: openai, name: gpt-4o-2024-11-20, base_url: {server.openai_base_url}}}\n"
        f"{judge}suites: [evals/*.yaml]\n"
    )
    return root / "evalgate.yaml"


def _cases(path: Path) -> dict[str, Any]:
    return {c["id"]: c for c in json.loads(path.read_text())["cases"]}


def test_tool_calls_from_the_loopback_model(tmp_path: Path) -> None:
    def tools(body: dict[str, Any]) -> list[dict[str, Any]] | None:
        return _call("get_weather", {"city": "Oslo"}) if body.get("tools") else None

    suite = f"""\
cases:
  - id: weather
    input: weather in Oslo?
    checks:
      - {{type: is_valid_tool_call, tools: {json.dumps(WEATHER)}}}
      - {{type: finish_reason, value: tool_calls}}
"""
    with FakeModelServer(tool_caller=tools) as server:
        config = _project(tmp_path, server, suite)
        text = config.read_text().replace("base_url:", f"params: {{tools: {json.dumps(WEATHER)}}}, base_url:")
        config.write_text(text)
        code = main(["run", "-c", str(config), "--json", str(tmp_path / "r.json"), "-q"])
    case = _cases(tmp_path / "r.json")["weather"]
    assert code == 0, case
    assert case["checks"][0]["reason"] == "1 valid tool calls (get_weather)"


JUDGE = (
    "judge: {{provider: openai, name: gpt-4o-2024-11-20, base_url: {url}, "
    "embeddings: text-embedding-3-small}}\n"
)


def test_similar_uses_the_judge_embeddings_and_caches_them(tmp_path: Path) -> None:
    suite = """\
cases:
  - id: close
    input: the cat sat on the mat
    checks: [{type: similar, value: "echo: the cat sat on a mat", threshold: 0.8}]
  - id: far
    input: quantum chromodynamics
    checks: [{type: similar, value: [a recipe for bread, a poem about rivers], threshold: 0.5}]
"""
    with FakeModelServer() as server:
        config = _project(tmp_path, server, suite, judge=JUDGE.format(url=server.openai_base_url))
        code = main(["run", "-c", str(config), "--json", str(tmp_path / "r.json"), "-q"])
        first = [r for r in server.requests if r.path.endswith("/embeddings")]
        main(["run", "-c", str(config), "--json", str(tmp_path / "r2.json"), "-q"])
        second = [r for r in server.requests if r.path.endswith("/embeddings")]
    cases = _cases(tmp_path / "r.json")
    assert code == 1
    assert cases["close"]["status"] == "passed"
    assert cases["close"]["checks"][0]["reason"].startswith("similarity 0.839 >= 0.8")
    assert cases["far"]["status"] == "failed"
    assert first
    assert first[0].json["model"] == "text-embedding-3-small"
    assert len(second) == len(first)  # every vector came from the cache the second time
    assert _cases(tmp_path / "r2.json")["close"]["checks"] == cases["close"]["checks"]


def test_similar_without_an_embedding_model_is_a_config_error(tmp_path: Path) -> None:
    suite = "cases: [{id: a, input: x, checks: [{type: similar, value: x}]}]\n"
    with FakeModelServer() as server:
        judge = JUDGE.format(url=server.openai_base_url).replace(", embeddings: text-embedding-3-small", "")
        config = _project(tmp_path, server, suite, judge=judge)
        assert main(["run", "-c", str(config), "-q"]) == 2


@needs_node
@pytest.mark.parametrize(
    ("code", "text", "passed", "score"),
    [
        ("output.length < 10", "short", True, 1.0),
        ("output.includes(context.vars.word)", "has hello", True, 1.0),
        ("const n = output.split(' ').length;\nreturn n / 4;", "one two three", True, 0.75),
        ("({pass: false, score: 0.25, reason: 'too vague'})", "x", False, 0.25),
        ("Promise.resolve(true)", "x", True, 1.0),
        ("0", "x", False, 0.0),
    ],
)
def test_javascript_inline(code: str, text: str, passed: bool, score: float) -> None:
    outcome = check({"type": "javascript", "value": code}, text, vars={"word": "hello"})
    assert (outcome.passed, outcome.score) == (passed, score), outcome.reason


@needs_node
def test_javascript_threshold_and_bad_returns() -> None:
    assert not check({"type": "javascript", "value": "0.5", "threshold": 0.6}, "x").passed
    assert check({"type": "javascript", "value": "0.5", "threshold": 0.5}, "x").passed
    thrown = check({"type": "javascript", "value": "output.nope.deeper"}, "x")
    assert not thrown.passed
    assert thrown.reason.startswith("javascript threw: Cannot read properties of undefined")
    assert "return a boolean" in check({"type": "javascript", "value": "'text'"}, "x").reason


@needs_node
def test_javascript_files_and_named_exports(tmp_path: Path) -> None:
    (tmp_path / "checks.js").write_text(
        "module.exports = (output, context) => output.startsWith(context.vars.prefix);\n"
        "module.exports.longEnough = (output) => ({pass: output.length > 3, score: 0.9, reason: 'len'});\n"
    )
    assert check(
        {"type": "javascript", "value": "file://checks.js"}, "ab", base_dir=tmp_path, vars={"prefix": "a"}
    ).passed
    named = check({"type": "javascript", "value": "file://checks.js:longEnough"}, "abcd", base_dir=tmp_path)
    assert (named.passed, named.score, named.reason) == (True, 0.9, "len")


@needs_node
def test_javascript_timeout_restarts_the_worker() -> None:
    stuck = check({"type": "javascript", "value": "while (true) {}\nreturn true", "timeout_s": 0.5}, "x")
    assert not stuck.passed
    assert stuck.reason == "javascript timed out after 0.5 s (the worker was restarted)"
    assert check({"type": "javascript", "value": "true"}, "x").passed
    worker().close()


@needs_node
def test_what_javascript_prints_never_reaches_the_worker_s_answers(tmp_path: Path) -> None:
    # promptfoo's own example asserts log their context; a stray line must not be read as an answer
    (tmp_path / "noisy.js").write_text(
        "module.exports = (output, context) => {\n"
        "  console.log('Prompt:', context.prompt);\n"
        '  process.stdout.write(\'{"ok": true, "value": false, "id": 1}\\n\');\n'
        "  return {pass: output.includes('banana'), score: 0.75, reason: 'looked'};\n"
        "};\n"
    )
    spec = {"type": "javascript", "value": "file://noisy.js"}
    first = check(spec, "a banana", base_dir=tmp_path)
    assert (first.passed, first.score, first.reason) == (True, 0.75, "looked")
    assert not check(spec, "an apple", base_dir=tmp_path).passed
    assert check(
        {"type": "javascript", "value": "console.log('x'); return true".replace("; ", ";\n")}, "x"
    ).passed


@needs_node
def test_a_check_transform_changes_what_that_check_sees() -> None:
    upper = check({"type": "contains", "value": "HI", "transform": "output.toUpperCase()"}, "hi")
    assert upper.passed
    assert not check({"type": "contains", "value": "HI"}, "hi").passed
    parsed = check({"type": "equals", "value": '{"a":1}', "transform": "JSON.parse(output)"}, '{ "a": 1 }')
    assert parsed.passed
    broken = check({"type": "contains", "value": "x", "transform": "JSON.parse(output)"}, "not json")
    assert not broken.passed
    assert broken.reason.startswith("transform threw: Unexpected token")


@needs_node
def test_a_case_transform_applies_to_every_check_and_an_error_fails_the_case(tmp_path: Path) -> None:
    suite = """\
defaults:
  transform: "output.replace('echo: ', '')"
cases:
  - id: stripped
    input: hello
    checks: [{type: equals, value: hello}, {type: starts_with, value: hell}]
  - id: broken
    input: hello
    transform: JSON.parse(output)
    checks: [{type: is_json}]
"""
    with FakeModelServer() as server:
        config = _project(tmp_path, server, suite)
        main(["run", "-c", str(config), "--json", str(tmp_path / "r.json"), "-q"])
    cases = _cases(tmp_path / "r.json")
    assert cases["stripped"]["status"] == "passed"
    assert cases["stripped"]["response"] == "echo: hello"  # the report keeps the model's own answer
    assert cases["broken"]["status"] == "error"
    assert cases["broken"]["error"].startswith("transform threw: Unexpected token")


def test_anthropic_tool_use_answers_are_checked_too(tmp_path: Path) -> None:
    def tools(body: dict[str, Any]) -> list[dict[str, Any]] | None:
        return _call("get_weather", {"city": "Oslo"}) if body.get("tools") else None

    anthropic_tools = [{"name": "get_weather", "input_schema": WEATHER[0]["function"]["parameters"]}]
    suite = f"""\
cases:
  - id: weather
    input: weather in Oslo?
    checks:
      - {{type: is_valid_tool_call, tools: {json.dumps(anthropic_tools)}}}
      - {{type: finish_reason, value: tool_calls}}
      - {{type: contains, value: '"city": "Oslo"'}}
"""
    with FakeModelServer(tool_caller=tools) as server:
        (tmp_path / "evals").mkdir()
        (tmp_path / "evals" / "s.yaml").write_text(suite)
        (tmp_path / "evalgate.yaml").write_text(
            "model: {provider: anthropic, name: claude-3-5-sonnet-20241022, base_url: "
            f"{server.url}, params: {{max_tokens: 100, tools: {json.dumps(anthropic_tools)}}}}}\n"
            "suites: [evals/*.yaml]\n"
        )
        code = main(["run", "-c", str(tmp_path / "evalgate.yaml"), "--json", str(tmp_path / "r.json"), "-q"])
    case = _cases(tmp_path / "r.json")["weather"]
    assert code == 0, case
    assert case["checks"][0]["reason"] == "1 valid tool calls (get_weather)"
