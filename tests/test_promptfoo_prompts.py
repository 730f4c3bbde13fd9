"""promptfoo prompt shapes through import and run: prefix/suffix, a test's prompts: filter, bare prompt
files, Nunjucks filters and a prompt's own config, against the loopback model."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from evalgate.checks import CheckContext
from evalgate.cli import main
from evalgate.promptfoo.pyshim import PythonAsserts
from evalgate.results import Completion
from evalgate.testing import FakeModelServer, prompt_of
from tests.test_promptfoo_import import MODEL, _copy, run_converted, server, vendor_env

__all__ = ["server", "vendor_env"]  # the loopback model and its environment, shared with the corpus tests


def test_prefix_and_suffix_wrap_the_prompts_the_model_is_sent(
    tmp_path: Path, vendor_env: FakeModelServer, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _copy("prefix-suffix", tmp_path)
    assert main(["import", "promptfoo", str(source), "--model", MODEL]) == 0
    assert "not carried over" not in capsys.readouterr().out
    before = len(vendor_env.requests)
    code = main(["run", "--config", str(source.parent / "evalgate.yaml"), "--no-cache", "-q"])
    assert code == 0, capsys.readouterr().err
    sent = sorted(prompt_of(r.json) for r in vendor_env.requests[before:])
    assert sent == [
        "Be brief. French please: cheese Reply in one line.",  # the CSV's __prefix, defaultTest's suffix
        "Be brief. Translate to French: cheese Reply in one line.",
        "French please: thank you Reply in one line.",  # only the prompt the test picks
        "You are a careful translator. French please: good morning Reply in one line.",
        "You are a careful translator. Translate to French: good morning Reply in one line.",
    ]


def test_prefix_and_suffix_on_a_chat_prompt_wrap_its_last_user_message(
    tmp_path: Path, vendor_env: FakeModelServer, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _copy("prefix-suffix-chat", tmp_path)
    run = run_converted(source, vendor_env, capsys)
    assert "0 things not carried over" in run.err
    sent = sorted((r.json["messages"] for r in run.sent), key=json.dumps)
    few_shot = [
        {"role": "system", "content": "You answer geography questions."},
        {"role": "user", "content": "Capital of Italy?"},
        {"role": "assistant", "content": "Rome"},
    ]
    expected = [
        [{"role": "user", "content": "Quiz time. Plain: Capital of France?\nAnswer in one word."}],
        [{"role": "user", "content": "Plain: Capital of Peru?\nAnswer in one word."}],
        [*few_shot, {"role": "user", "content": "Capital of Peru?\nAnswer in one word."}],
        [*few_shot, {"role": "user", "content": "Quiz time. Capital of France?\nAnswer in one word."}],
    ]
    assert sent == sorted(expected, key=json.dumps)


def test_a_test_s_prompts_filter_names_prompts_by_raw_text_file_wildcard_and_label(
    tmp_path: Path, vendor_env: FakeModelServer, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _copy("prompt-filter", tmp_path)
    assert main(["import", "promptfoo", str(source), "--model", MODEL]) == 0
    out = capsys.readouterr().out
    assert (
        "promptfooconfig.yaml:25: test prompts ['missing-prompt'] name no prompt that was carried over" in out
    )
    before = len(vendor_env.requests)
    code = main(["run", "--config", str(source.parent / "evalgate.yaml"), "--no-cache", "-q"])
    assert code == 0, capsys.readouterr().err
    assert sorted(prompt_of(r.json) for r in vendor_env.requests[before:]) == [
        "As a haiku: glaciers",  # 'styles.txt: As a haiku: {{text}}', promptfoo's label for that part
        "As a haiku: rivers",  # file://styles.txt: every part of the file
        "As a limerick: rivers",
        "Chat about glaciers",  # the label of a file prompt
        "Summarize for a child: deserts",  # the name that matches nothing is listed, the other runs
        "Summarize for a child: volcanoes",  # 'Summarize*'
        "Summarize in one line: tides",  # the raw text of an unlabelled prompt
        "Summarize in one line: volcanoes",
    ]


def test_older_shapes_bare_prompt_files_the_load_filter_numbers_and_a_chatty_js_assert(
    tmp_path: Path, vendor_env: FakeModelServer, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _copy("legacy-shapes", tmp_path)
    run = run_converted(source, vendor_env, capsys)
    assert "0 things not carried over" in run.err
    assert sorted(prompt_of(r.json) for r in run.sent) == [
        "Good night, in German, warm please",
        "Hello world, in French, formal please",
        'Tone: formal. Say "Hello world" in French.',
        'Tone: warm. Say "Good night" in German.',
    ]
    systems = sorted(r.json["messages"][0]["content"] for r in run.sent)
    assert systems[:2] == ["Keep it 42.", "Keep it brief."]
    checks = [c for case in run.report["cases"] for c in case["checks"]]
    assert {c["reason"] for c in checks if c["type"] == "javascript"} == {"mentions the text"}


def test_a_config_every_prompt_shares_becomes_model_params_and_differing_ones_are_listed(
    tmp_path: Path, vendor_env: FakeModelServer, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "promptfooconfig.yaml"
    source.write_text(
        """\
prompts:
  - label: structured
    raw: 'Solve {{problem}}'
    config: {response_format: {type: json_object}, temperature: 0, seed: 7}
providers: [{id: openai:gpt-4o-mini, config: {temperature: 1, max_tokens: 50}}]
tests: [{vars: {problem: 1+1}, assert: [{type: contains, value: Solve}]}]
"""
    )
    assert main(["import", "promptfoo", str(source)]) == 0
    assert "not carried over" not in capsys.readouterr().out
    config = yaml.safe_load((tmp_path / "evalgate.yaml").read_text())
    # promptfoo lays the prompt's config over the provider's
    assert config["model"]["params"] == {
        "temperature": 0,
        "max_tokens": 50,
        "response_format": {"type": "json_object"},
        "seed": 7,
    }
    before = len(vendor_env.requests)
    assert main(["run", "--config", str(source), "--model", MODEL, "--no-cache", "-q"]) == 0
    sent = vendor_env.requests[before].json
    assert (sent["response_format"], sent["temperature"], sent["seed"]) == ({"type": "json_object"}, 0, 7)
    capsys.readouterr()

    source.write_text(
        source.read_text().replace(
            "providers:", "  - {raw: 'Just {{problem}}', label: plain, config: {temperature: 1}}\nproviders:"
        )
    )
    assert main(["import", "promptfoo", str(source), "--output", str(tmp_path / "two")]) == 0
    out = capsys.readouterr().out
    assert (
        "promptfooconfig.yaml:2: prompt 'structured': its config (response_format, seed, temperature) "
        "differs from the other prompts' and is not carried over"
    ) in out
    assert "prompt 'plain': its config (temperature) differs" in out


def test_javascript_asserts_see_a_json_schema_answer_parsed_as_promptfoo_hands_it_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "promptfooconfig.yaml"
    source.write_text(
        """\
prompts:
  - label: sentiment
    raw: 'Classify: {{text}}'
    config:
      response_format:
        type: json_schema
        json_schema: {name: s, schema: {type: object, properties: {sentiment: {type: string}}}}
providers: [openai:gpt-4o-mini]
defaultTest:
  assert:
    - type: is-json
    - type: javascript
      value: output.sentiment === context.vars.sentiment
    - type: javascript
      value: file://check.js
tests:
  - vars: {text: 'A warm, funny film.', sentiment: positive}
  - vars: {text: 'Dull.', sentiment: negative}
"""
    )
    (tmp_path / "check.js").write_text(
        "module.exports = (output) => JSON.parse(output).sentiment.length > 0;\n"
    )

    def answer(body: dict[str, Any]) -> str:
        return json.dumps({"sentiment": "positive" if "warm" in prompt_of(body) else "negative"})

    with FakeModelServer(answer) as models:
        monkeypatch.setenv("OPENAI_BASE_URL", models.openai_base_url)
        monkeypatch.delenv("OPENAI_API_KEY", raising=False)
        assert main(["import", "promptfoo", str(source), "--model", MODEL]) == 0
        out = capsys.readouterr().out
        assert "javascript 'file://check.js' gets the answer as text (promptfoo parses a json_schema" in out
        report = tmp_path / "r.json"
        code = main(
            ["run", "--config", str(tmp_path / "evalgate.yaml"), "--no-cache", "-q", "--json", str(report)]
        )
        assert code == 0, capsys.readouterr().err
        assert models.requests[0].json["response_format"]["type"] == "json_schema"
    assert {c["status"] for c in json.loads(report.read_text())["cases"]} == {"passed"}


def test_model_flag_keeps_the_first_provider_s_params_that_its_api_takes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "promptfooconfig.yaml"
    source.write_text(
        """\
prompts:
  - raw: 'Solve {{problem}}'
    config: {response_format: {type: json_object}}
providers:
  - id: openai:gpt-4o
    config: {temperature: 0, max_tokens: 128, seed: 7}
  - id: openai:gpt-4o-mini
    config: {temperature: 1}
tests: [{vars: {problem: 1+1}}]
"""
    )
    assert main(["import", "promptfoo", str(source), "--model", MODEL, "--output", str(tmp_path / "o")]) == 0
    out = capsys.readouterr().out
    params = yaml.safe_load((tmp_path / "o" / "evalgate.yaml").read_text())["model"]["params"]
    assert params == {
        "temperature": 0,
        "max_tokens": 128,
        "seed": 7,
        "response_format": {"type": "json_object"},
    }
    assert (
        "promptfooconfig.yaml:7: provider 'gpt-4o-mini': its params (temperature) are not carried over; "
        "--model runs with those of 'gpt-4o'"
    ) in out

    claude = "anthropic:claude-3-5-sonnet-20241022"
    assert main(["import", "promptfoo", str(source), "--model", claude, "--output", str(tmp_path / "a")]) == 0
    out = capsys.readouterr().out
    params = yaml.safe_load((tmp_path / "a" / "evalgate.yaml").read_text())["model"]["params"]
    assert params == {"temperature": 0, "max_tokens": 128}  # what Anthropic's API takes
    assert (
        "promptfooconfig.yaml:5: provider 'gpt-4o': param 'seed' is not carried over: Anthropic's messages "
        "API has no request field 'seed'"
    ) in out
    assert "prompt config: param 'response_format' is not carried over" in out
    assert main(["validate", "--config", str(tmp_path / "a" / "evalgate.yaml")]) == 0


def test_python_asserts_see_a_json_schema_answer_parsed(tmp_path: Path) -> None:
    # the generated adapters, loaded under their own name: a second 'promptfoo_python' in this process
    # would be served from the import cache
    shim = PythonAsserts(tmp_path, tmp_path, json_output=True)
    ref = shim.add("output['sentiment'] == context['vars']['sentiment']", None, negate=False)
    source = shim.module()
    assert source is not None
    (tmp_path / "adapters.py").write_text(source)
    spec = importlib.util.spec_from_file_location("adapters_under_test", tmp_path / "adapters.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    adapter = getattr(module, ref.partition(":")[2])
    ctx = CheckContext(
        completion=Completion(text='{"sentiment": "positive"}', model="m"),
        prompt="p",
        vars={"sentiment": "positive"},
        base_dir=tmp_path,
    )
    assert adapter(ctx.response, ctx) == {"passed": True, "score": 1.0, "reason": "returned True"}
    with pytest.raises(TypeError, match="string indices"):  # not JSON: the assert sees the text as it came
        adapter("not json", ctx)
