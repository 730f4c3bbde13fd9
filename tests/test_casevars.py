"""``transform_vars``: JavaScript over a case's vars (promptfoo's transformVars), run by the real Node.js
worker before the prompt renders, against the loopback model."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from evalgate.checks.transforms import TransformError, transform_vars
from evalgate.cli import main
from evalgate.forkstage import references, runs_repo_code
from evalgate.suite import load_suite
from evalgate.testing import FakeModelServer, prompt_of

pytestmark = pytest.mark.skipif(
    shutil.which("node") is None,
    reason="NODE.JS IS NOT INSTALLED: transform_vars cannot be tested (apt-get install nodejs)",
)

SUITE = """\
defaults:
  transform_vars: "{ ...vars, city: vars.city.toUpperCase() }"
cases:
  - id: shout
    prompt: ask
    vars: {city: oslo}
    checks:
      - {type: contains, value: "{{ city }}"}
      - {type: javascript, value: "context.vars.city === 'OSLO'"}
  - id: body
    prompt: ask
    vars: {city: "  bergen "}
    transform_vars: |
      const city = vars.city.trim();
      return {city, n: city.length};
    checks: [{type: contains, value: "bergen (6)"}]
  - id: from-file
    prompt: ask
    vars: {city: rome}
    transform_vars: file://vars.js:addCountry
    checks: [{type: contains, value: "rome, Italy"}]
  - id: plain
    input: no vars here
"""
VARS_JS = (
    "module.exports = {addCountry: (vars, context) => ({city: `${vars.city}, Italy`, uuid: context.uuid})};\n"
)


def _project(root: Path, base_url: str, suite: str, *, cache: bool = False) -> Path:
    files = {
        "evalgate.yaml": f"""\
model: {{provider: openai, name: gpt-4o-2024-11-20, base_url: {base_url}, max_attempts: 1, timeout_s: 5}}
prompts: {{ask: prompts/ask.txt}}
suites: ["evals/*.yaml"]
runner: {{cache: {str(cache).lower()}}}
""",
        "prompts/ask.txt": "Weather in {{ city }}{% if n is defined %} ({{ n }}){% endif %}?",
        "evals/cases.yaml": suite,
        "evals/vars.js": VARS_JS,
    }
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    return root / "evalgate.yaml"


def _run(config: Path, *extra: str) -> tuple[int, dict[str, dict[str, Any]]]:
    report = config.parent / "r.json"
    code = main(["run", "-c", str(config), "--json", str(report), "-q", *extra])
    return code, {c["id"]: c for c in json.loads(report.read_text())["cases"]}


def test_transform_vars_feeds_the_prompt_the_checks_and_the_javascript_context(tmp_path: Path) -> None:
    with FakeModelServer() as server:
        code, cases = _run(_project(tmp_path, server.openai_base_url, SUITE))
        sent = sorted(prompt_of(r.json) for r in server.requests)
    assert code == 0, cases
    assert sent == ["Weather in OSLO?", "Weather in bergen (6)?", "Weather in rome, Italy?", "no vars here"]
    assert {k: c["status"] for k, c in cases.items()} == dict.fromkeys(cases, "passed") | {
        "plain": "unchecked"
    }
    assert cases["shout"]["vars"] == {
        "city": "OSLO"
    }  # the report shows the vars the prompt was rendered with
    assert cases["body"]["vars"] == {"city": "bergen", "n": 6}
    assert len(cases["from-file"]["vars"]["uuid"]) == 36  # promptfoo's context.uuid


@pytest.mark.parametrize(
    ("transform", "reason"),
    [
        ("vars.nope.toUpperCase()", "transform_vars threw: Cannot read properties of undefined"),
        ("'just text'", 'transform_vars returned "just text"; return an object of vars'),
        ("[1, 2]", "transform_vars returned [1, 2]; return an object of vars"),
    ],
)
def test_a_transform_vars_that_fails_is_that_case_s_error_never_a_pass(
    tmp_path: Path, transform: str, reason: str
) -> None:
    suite = f"""\
cases:
  - {{id: broken, prompt: ask, vars: {{city: oslo}}, transform_vars: {json.dumps(transform)},
     checks: [{{type: contains, value: x}}]}}
  - {{id: fine, prompt: ask, vars: {{city: oslo}}, checks: [{{type: contains, value: oslo}}]}}
"""
    with FakeModelServer() as server:
        code, cases = _run(_project(tmp_path, server.openai_base_url, suite))
        sent = [prompt_of(r.json) for r in server.requests]
    assert code == 1
    assert cases["broken"]["status"] == "error"
    assert cases["broken"]["error"].startswith(reason)
    assert cases["fine"]["status"] == "passed"
    assert sent == ["Weather in oslo?"]  # the broken case never reached the model


def test_a_transform_vars_that_never_returns_times_out_and_the_worker_recovers(tmp_path: Path) -> None:
    with pytest.raises(TransformError, match=r"^transform_vars timed out after 0.5 s"):
        transform_vars("while (true) {}\nreturn vars", {}, tmp_path, timeout_s=0.5)
    assert transform_vars("({b: vars.a + 1})", {"a": 1}, tmp_path) == {"a": 1, "b": 2}


def test_a_changed_transform_is_not_answered_from_the_cache(tmp_path: Path) -> None:
    suite = "cases:\n  - {id: a, prompt: ask, vars: {city: oslo}, transform_vars: '{city: \"Oslo\"}'}\n"
    with FakeModelServer() as server:
        config = _project(tmp_path, server.openai_base_url, suite, cache=True)
        _run(config)
        _run(config)
        assert len(server.requests) == 1  # the same transform: the second run is a cache hit
        (tmp_path / "evals/cases.yaml").write_text(suite.replace('"Oslo"', '"Tromso"'))
        _, cases = _run(config)
        assert [prompt_of(r.json) for r in server.requests] == ["Weather in Oslo?", "Weather in Tromso?"]
    assert cases["a"]["response"] == "echo: Weather in Tromso?"


def test_transform_vars_errors_name_the_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = """\
cases:
  - {id: ok, prompt: ask, vars: {city: a}}
  - {id: literal, input: hi, transform_vars: 'vars'}
  - {id: missing, prompt: ask, vars: {city: a}, transform_vars: 'file://nope.js'}
  - {id: throws, prompt: ask, vars: {city: a}, transform_vars: 'null.x'}
  - {id: unrendered, prompt: ask, vars: {city: a}, transform_vars: '{}',
     checks: [{type: contains, value: '{{ zip }}'}]}
"""
    config = _project(tmp_path, "http://127.0.0.1:9/v1", bad)
    assert main(["validate", "-c", str(config)]) == 2
    err = capsys.readouterr().err
    assert "evals/cases.yaml:3: cases[1]: 'transform_vars' only makes sense with 'prompt'" in err
    assert "evals/cases.yaml:4: case missing: javascript file 'nope.js' not found" in err
    assert "evals/cases.yaml:5: case throws: transform_vars threw: Cannot read properties of null" in err
    assert "evals/cases.yaml:6: case unrendered: a check uses a variable the case does not define" in err


def test_transform_vars_is_code_a_pull_request_controls(tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text(
        "cases:\n  - {id: a, prompt: ask, transform_vars: '{x: process.env.SECRET}'}\n"
        "  - {id: b, input: hi}\n"
    )
    cases = load_suite(tmp_path / "s.yaml", display="evals/s.yaml")
    assert references(cases) == {"transform_vars {x: process.env.SECRET}"}
    assert not references(cases[1:])
    from evalgate.config import load_config

    config = _project(tmp_path / "p", "http://127.0.0.1:9/v1", "cases: [{id: z, input: hi}]\n")
    loaded = load_config(config)
    assert runs_repo_code(loaded, cases)
    assert not runs_repo_code(loaded, cases[1:])


def test_python_transforms_run_in_process_and_their_errors_are_the_case_s(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    suite = """\
cases:
  - {id: py-vars, prompt: ask, vars: {city: oslo}, transform_vars: 'file://shape.py:capital',
     transform: file://shape.py, checks: [{type: equals, value: 'ECHO: WEATHER IN OSLO (4)?'}]}
  - {id: py-raises, prompt: ask, vars: {town: oslo}, transform_vars: 'file://shape.py:capital'}
"""
    with FakeModelServer() as server:
        config = _project(tmp_path, server.openai_base_url, suite)
        (tmp_path / "evals/shape.py").write_text(
            "def capital(vars, context):\n"
            "    return {'city': vars['city'].title(), 'n': len(vars['city'])}\n\n\n"
            "def get_transform(output, context):\n    return output.upper()\n"
        )
        code, cases = _run(config)
        assert [prompt_of(r.json) for r in server.requests] == ["Weather in Oslo (4)?"]
    assert code == 1
    assert cases["py-vars"]["status"] == "passed"
    assert cases["py-raises"]["status"] == "error"
    assert cases["py-raises"]["error"] == "transform_vars raised KeyError: 'city'"
    (tmp_path / "evals/shape.py").write_text("def other(vars, context):\n    return vars\n")
    assert main(["validate", "-c", str(config)]) == 2
    err = capsys.readouterr().err
    assert (
        "evals/cases.yaml:2: case py-vars: python transform file 'shape.py' has no function 'capital'" in err
    )
