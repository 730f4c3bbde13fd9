"""``evalgate import promptfoo`` and ``run --config promptfooconfig.yaml`` over a corpus of promptfoo-shaped
configs (tests/data/promptfoo/*), each imported and run against the loopback model."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from evalgate.cli import main
from evalgate.testing import FakeModelServer, ReceivedRequest, prompt_of

CORPUS_ROOT = Path(__file__).parent / "data" / "promptfoo"
CORPUS = sorted(p for p in CORPUS_ROOT.iterdir() if (p / "promptfooconfig.yaml").is_file())
MODEL = "openai:gpt-4o-2024-11-20"


def _answer(body: dict[str, Any]) -> str:
    prompt = prompt_of(body)
    if "Reply with ONLY a JSON object" in prompt:  # the judge (its own prompt or a rubricPrompt)
        return json.dumps({"score": 0.9, "reason": "meets the rubric"})
    return f"echo: {prompt}"


def _tool_calls(body: dict[str, Any]) -> list[dict[str, Any]] | None:
    if not body.get("tools"):
        return None
    call = {"name": "get_weather", "arguments": json.dumps({"city": "Oslo"})}
    return [{"id": "call_1", "type": "function", "function": call}]


@pytest.fixture(scope="module")
def server() -> Iterator[FakeModelServer]:
    with FakeModelServer(_answer, tool_caller=_tool_calls) as fake:
        yield fake


@pytest.fixture
def vendor_env(server: FakeModelServer, monkeypatch: pytest.MonkeyPatch) -> FakeModelServer:
    monkeypatch.setenv("OPENAI_BASE_URL", server.openai_base_url)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    return server


def _copy(name: str, tmp_path: Path) -> Path:
    target = tmp_path / name
    shutil.copytree(CORPUS_ROOT / name, target)
    return target / "promptfooconfig.yaml"


@dataclass
class Converted:
    """What one in-memory run of a promptfoo config did."""

    sent: list[ReceivedRequest]  # the requests the model server received, in order
    report: dict[str, Any]  # the JSON report
    err: str  # what it printed to stderr


def run_converted(source: Path, server: FakeModelServer, capsys: pytest.CaptureFixture[str]) -> Converted:
    """``evalgate run --config <promptfoo config> --model MODEL``, uncached and quiet; it must exit 0."""
    before = len(server.requests)
    report = source.parent / "run-report.json"
    code = main(["run", "--config", str(source), "--model", MODEL, "--no-cache", "-q", "--json", str(report)])
    err = capsys.readouterr().err
    assert code == 0, err
    return Converted(server.requests[before:], json.loads(report.read_text()), err)


def test_the_corpus_is_large_and_covers_every_construct_of_the_survey() -> None:
    assert len(CORPUS) >= 30
    texts = {p.name: (p / "promptfooconfig.yaml").read_text() for p in CORPUS}
    configs = {name: yaml.safe_load(text) for name, text in texts.items()}

    def some(predicate: Any) -> bool:
        return any(predicate(c, t) for c, t in zip(configs.values(), texts.values(), strict=True))

    rows = {
        "inline tests list": lambda c, t: isinstance(c.get("tests"), list),
        "inline prompt strings": lambda c, t: any(
            isinstance(p, str) and "file://" not in p for p in c["prompts"]
        ),
        "more than one provider": lambda c, t: len(c.get("providers") or []) > 1,
        "tests with no assert": lambda c, t: any(
            "assert" not in x for x in c.get("tests") or [] if isinstance(x, dict)
        ),
        "llm-rubric": lambda c, t: "llm-rubric" in t,
        "defaultTest.assert": lambda c, t: "assert" in (c.get("defaultTest") or {}),
        "contains": lambda c, t: "type: contains\n" in t,
        "more than one prompt": lambda c, t: isinstance(c["prompts"], list) and len(c["prompts"]) > 1,
        "file:// txt prompts with ---": lambda c, t: "file://prompts.txt" in t,
        "file:// json chat prompt": lambda c, t: "file://chat.json" in t,
        "file:// yaml prompt": lambda c, t: "file://chat.yaml" in t,
        "file:// py prompt": lambda c, t: ".py:" in t,
        "javascript inline": lambda c, t: "type: javascript\n        value: output" in t,
        "javascript file": lambda c, t: "file://checks.js" in t,
        "assert threshold": lambda c, t: "        threshold:" in t,
        "contains-any": lambda c, t: "contains-any" in t,
        "tools in provider config": lambda c, t: "tools:" in t,
        "transform": lambda c, t: "transform:" in t,
        "$ref assertion templates": lambda c, t: "$ref" in t,
        "transformVars": lambda c, t: "transformVars" in t,
        "rubricPrompt": lambda c, t: "rubricPrompt" in t,
        "prefix/suffix": lambda c, t: "prefix:" in t and "suffix:" in t,
        "chat-format prompts": lambda c, t: '"role"' in t or "chat." in t,
        "grader override": lambda c, t: "provider" in ((c.get("defaultTest") or {}).get("options") or {}),
        "similar": lambda c, t: "type: similar" in t,
        "icontains": lambda c, t: "icontains" in t,
        "vars from file://": lambda c, t: "input: file://" in t or "profile: file://" in t,
        "{{var}} in assert values": lambda c, t: "value: '{{language}}'" in t,
        "not-contains": lambda c, t: "not-contains" in t,
        "is-json": lambda c, t: "is-json" in t,
        "cost": lambda c, t: "type: cost" in t,
        "latency": lambda c, t: "type: latency" in t,
        "equals": lambda c, t: "type: equals" in t,
        "python": lambda c, t: "type: python" in t,
        "metric": lambda c, t: "metric:" in t,
        "tests from CSV": lambda c, t: "tests.csv" in t,
        "tests from JSON": lambda c, t: "tests.json" in t,
        "tests from JSONL": lambda c, t: ".jsonl" in t,
        "tests from YAML glob": lambda c, t: "tests/*.yaml" in t,
    }
    missing = [row for row, predicate in rows.items() if not some(predicate)]
    assert missing == []


@pytest.mark.parametrize("entry", CORPUS, ids=[p.name for p in CORPUS])
def test_every_corpus_config_imports_and_runs(
    entry: Path, tmp_path: Path, vendor_env: FakeModelServer, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _copy(entry.name, tmp_path)
    out = tmp_path / "native"
    assert main(["import", "promptfoo", str(source), "--model", MODEL, "--output", str(out)]) == 0
    capsys.readouterr()
    code = main(
        [
            "run",
            "--config",
            str(out / "evalgate.yaml"),
            "--no-cache",
            "-q",
            "--json",
            str(tmp_path / "r.json"),
        ]
    )
    err = capsys.readouterr().err
    assert code in (0, 1), err
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["cases"]
    assert not [c["id"] for c in report["cases"] if c["status"] == "error"], err


def test_import_lists_what_it_could_not_carry_over_with_the_promptfoo_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _copy("transforms", tmp_path)
    assert main(["import", "promptfoo", str(source), "--model", MODEL]) == 0
    out = capsys.readouterr().out
    assert "imported 3 cases and 1 prompts" in out
    assert (
        "not carried over (1):\n  promptfooconfig.yaml:26: a per-test provider is not carried over; the case "
        "uses the config's model"
    ) in out
    suite = yaml.safe_load((source.parent / "evals" / "promptfooconfig.yaml").read_text())
    assert suite["defaults"]["transform"] == "output.trim()"
    assert suite["cases"][0]["transform"] == "output.replace('echo: ', '')"
    assert suite["cases"][0]["checks"][1]["transform"] == "output.toUpperCase()"
    assert suite["cases"][1]["transform_vars"] == "{ ...vars, mood: vars.mood.toUpperCase() }"
    assert (source.parent / "evalgate.yaml").is_file()
    # a second import does not overwrite the first
    assert main(["import", "promptfoo", str(source), "--model", MODEL]) == 2
    assert "already exists" in capsys.readouterr().err


def test_imported_suite_is_native_evalgate(tmp_path: Path) -> None:
    source = _copy("translate", tmp_path)
    out = tmp_path / "native"
    assert main(["import", "promptfoo", str(source), "--model", MODEL, "--output", str(out)]) == 0
    config = yaml.safe_load((out / "evalgate.yaml").read_text())
    assert config["model"] == {"provider": "openai", "name": "gpt-4o-2024-11-20"}
    assert config["prompts"] == {
        "prompt1": "prompts/prompt1.txt",
        "prompts_1": "prompts/prompts_1.txt",
        "prompts_2": "prompts/prompts_2.txt",
    }
    assert (
        out / "prompts" / "prompts_2.txt"
    ).read_text() == 'Please translate "{{input}}" into {{language}}.'
    suite = yaml.safe_load((out / "evals" / "promptfooconfig.yaml").read_text())
    assert [c["id"] for c in suite["cases"]] == ["French_greeting", "test2", "test2-2", "test3"]
    assert [c["vars"]["language"] for c in suite["cases"][1:3]] == ["German", "Spanish"]
    assert suite["defaults"]["checks"][0]["type"] == "llm_judge"
    assert suite["cases"][3]["vars"]["input"].startswith("The quick brown fox")
    assert main(["validate", "--config", str(out / "evalgate.yaml")]) == 0


def test_run_converts_a_promptfoo_config_in_memory_and_says_so(
    tmp_path: Path, vendor_env: FakeModelServer, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _copy("javascript-file", tmp_path)
    before = sorted(p.name for p in source.parent.iterdir())
    assert main(["run", "--config", str(source), "--model", MODEL, "--no-cache", "-q"]) == 0
    err = capsys.readouterr().err
    said = [line for line in err.splitlines() if "converted in memory" in line]
    assert said == [
        "evalgate: promptfooconfig.yaml is a promptfoo config; running it converted in memory (2 cases, "
        f"0 things not carried over; 'evalgate import promptfoo {source}' lists them and writes the native "
        "project)"
    ]
    # nothing is written next to the promptfoo config but evalgate's own cache folder
    assert sorted(p.name for p in source.parent.iterdir() if p.name != ".evalgate") == before


def test_without_model_the_first_supported_provider_runs(
    tmp_path: Path, vendor_env: FakeModelServer, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _copy("anthropic-pinned", tmp_path)
    assert main(["run", "--config", str(source), "--no-cache", "-q"]) == 0
    assert vendor_env.requests[-1].path == "/v1/messages"
    # an alias is refused, as in any evalgate config...
    source = _copy("translate", tmp_path)
    assert main(["run", "--config", str(source), "--no-cache", "-q"]) == 2
    assert "gpt-4o-mini" in capsys.readouterr().err
    # ...unless --allow-unpinned, which warns on every run
    assert main(["run", "--config", str(source), "--no-cache", "-q", "--allow-unpinned"]) == 0
    err = capsys.readouterr().err
    assert "warning: " in err
    assert "--allow-unpinned" in err
    assert main(["validate", "--config", str(source), "--allow-unpinned"]) == 0


def test_a_red_team_config_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "promptfooconfig.yaml"
    config.write_text("redteam:\n  purpose: test\n  plugins: [harmful]\nproviders: [openai:gpt-4o-mini]\n")
    assert main(["import", "promptfoo", str(config), "--model", MODEL]) == 2
    assert "red-team config" in capsys.readouterr().err


def test_a_broken_tests_file_is_a_located_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "t.yaml").write_text("- vars: {q: x}\n  assert: [\n")
    config = tmp_path / "promptfooconfig.yaml"
    config.write_text("prompts: ['{{q}}']\nproviders: [openai:gpt-4o-mini]\ntests: file://t.yaml\n")
    assert main(["import", "promptfoo", str(config), "--model", MODEL]) == 2
    assert "t.yaml:3: invalid YAML" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("base_url", "env"),
    [
        (None, {"OPENAI_API_BASE": "{v1}"}),
        ("${FAKE_GATEWAY}/v1", {"FAKE_GATEWAY": "{root}"}),
    ],
)
def test_base_url_from_the_environment(
    base_url: str | None,
    env: dict[str, str],
    tmp_path: Path,
    server: FakeModelServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value.format(v1=server.openai_base_url, root=server.url))
    line = f", base_url: '{base_url}'" if base_url else ""
    (tmp_path / "evalgate.yaml").write_text(
        f"model: {{provider: openai, name: gpt-4o-2024-11-20{line}}}\nsuites: [s.yaml]\n"
    )
    (tmp_path / "s.yaml").write_text("cases: [{id: a, input: hi, checks: [{type: contains, value: hi}]}]\n")
    before = len(server.requests)
    assert main(["run", "--config", str(tmp_path / "evalgate.yaml"), "--no-cache", "-q"]) == 0
    assert len(server.requests) == before + 1


def test_python_asserts_run_through_the_generated_adapters(
    tmp_path: Path, vendor_env: FakeModelServer, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _copy("python-assert", tmp_path)
    out = tmp_path / "native"
    assert main(["import", "promptfoo", str(source), "--model", MODEL, "--output", str(out)]) == 0
    assert [p.name for p in (out / "evals").glob("promptfoo_python_*.py")]
    report = tmp_path / "r.json"
    assert (
        main(["run", "--config", str(out / "evalgate.yaml"), "--no-cache", "-q", "--json", str(report)]) == 0
    )
    checks = {c["id"]: c["checks"] for c in json.loads(report.read_text())["cases"]}
    assert [(c["type"], c["reason"]) for c in checks["test1"]] == [
        ("python", "returned True"),
        ("python", "returned 0.984"),
        ("python", "returned True"),
        ("no-five", "looked for 5"),
    ]
    assert checks["test2"][0]["reason"] == "4 words"


def test_tools_from_a_file_are_reshaped_for_the_model_that_runs(tmp_path: Path) -> None:
    source = _copy("tools-file", tmp_path)
    out = tmp_path / "native"
    assert main(["import", "promptfoo", str(source), "--model", MODEL, "--output", str(out)]) == 0
    tools = yaml.safe_load((out / "evalgate.yaml").read_text())["model"]["params"]["tools"]
    assert tools == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": {
                    "type": "object",
                    "properties": {"city": {"type": "string"}},
                    "required": ["city"],
                },
                "description": "Current weather for a city",
            },
        }
    ]
    suite = yaml.safe_load((out / "evals" / "promptfooconfig.yaml").read_text())
    assert suite["cases"][0]["checks"] == [{"type": "is_valid_tool_call", "tools_file": "../tools.json"}]


def test_glob_vars_expand_to_one_case_per_file(tmp_path: Path) -> None:
    source = _copy("glob-vars", tmp_path)
    out = tmp_path / "native"
    assert main(["import", "promptfoo", str(source), "--model", MODEL, "--output", str(out)]) == 0
    suite = yaml.safe_load((out / "evals" / "promptfooconfig.yaml").read_text())
    assert [c["vars"]["article"].strip() for c in suite["cases"]] == [
        "Local council approves new bike lanes downtown.",
        "Researchers find coral reefs recovering in the Pacific.",
    ]


def test_one_judge_grades_when_assertions_name_several(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "promptfooconfig.yaml"
    config.write_text(
        """\
prompts: ["{{q}}"]
providers: [openai:gpt-4o-mini]
tests:
  - vars: {q: hi}
    assert:
      - {type: llm-rubric, value: polite, provider: openai:gpt-4o-2024-08-06}
      - {type: llm-rubric, value: short, provider: anthropic:messages:claude-3-5-sonnet-20241022}
      - {type: equals, value: '{{ q | dump }}'}
"""
    )
    assert main(["import", "promptfoo", str(config), "--model", MODEL]) == 0
    assert "2 different graders: evalgate has one judge, the first one grades all" in capsys.readouterr().out
    judge = yaml.safe_load((tmp_path / "evalgate.yaml").read_text())["judge"]
    assert judge == {"provider": "openai", "name": "gpt-4o-2024-08-06"}
    from evalgate.suite import load_suite

    cases = load_suite(tmp_path / "evals" / "promptfooconfig.yaml")
    assert cases[0].spec.checks[2].model_dump()["value"] == '"hi"'


def test_rubric_prompt_becomes_the_judge_prompt_and_still_fences_the_answer(
    tmp_path: Path, vendor_env: FakeModelServer, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _copy("rubric-prompt", tmp_path)
    assert main(["import", "promptfoo", str(source), "--model", MODEL, "--judge", MODEL]) == 0
    assert "rubricPrompt" not in capsys.readouterr().out  # nothing about it was left behind
    suite = yaml.safe_load((source.parent / "evals" / "promptfooconfig.yaml").read_text())
    first, second = (case["checks"][0]["judge_prompt"] for case in suite["cases"])
    assert first.startswith("You grade geography answers strictly.")  # the assertion's own wins
    assert second.startswith("You are a lenient teacher.")  # defaultTest's, read from its file
    before = len(vendor_env.requests)
    code = main(["run", "--config", str(source.parent / "evalgate.yaml"), "--no-cache", "-q"])
    assert code == 0, capsys.readouterr().err
    asked = [prompt_of(r.json) for r in vendor_env.requests[before:]]
    graded = [p for p in asked if "Reply with ONLY a JSON object" in p]
    assert len(graded) == 2
    strict = next(p for p in graded if "strictly" in p)
    assert "Criterion: the response meets this rubric: names Paris" in strict
    assert "{{" not in strict
    tag = strict.split("<response-", 1)[1].split(">", 1)[0]
    assert f"<response-{tag}>\necho: Answer briefly: Capital of France?\n</response-{tag}>" in strict
    lenient = next(p for p in graded if "lenient" in p)
    assert 'rubric: names Rome"?' in lenient
    assert "echo: Answer briefly: Capital of Italy?" in lenient


def test_two_imported_projects_python_adapters_do_not_shadow_each_other(
    tmp_path: Path, vendor_env: FakeModelServer, capsys: pytest.CaptureFixture[str]
) -> None:
    # two folders, each with its own generated adapters: Python would import the first one's for both
    for name, threshold in (("a", "0.1"), ("b", "0.99")):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "promptfooconfig.yaml").write_text(
            "prompts: ['Say {{w}}']\nproviders: [openai:gpt-4o-mini]\n"
            "tests: [{vars: {w: hi}, assert: [{type: python, value: 'len(output) / 100', "
            f"threshold: {threshold}}}]}}]\n"
        )
        assert main(["import", "promptfoo", str(folder / "promptfooconfig.yaml"), "--model", MODEL]) == 0
    modules = sorted(p.name for p in tmp_path.glob("*/evals/promptfoo_python_*.py"))
    assert len(set(modules)) == 2
    capsys.readouterr()
    for name, status in (("a", "passed"), ("b", "failed")):
        report = tmp_path / f"{name}.json"
        main(
            [
                "run",
                "--config",
                str(tmp_path / name / "evalgate.yaml"),
                "--no-cache",
                "-q",
                "--json",
                str(report),
            ]
        )
        (case,) = json.loads(report.read_text())["cases"]
        assert case["status"] == status, capsys.readouterr().err
