"""promptfoo test options through import and run: transformVars, var expansion, defaultTest's asserts,
serial runs, Python transforms and what is listed, against the loopback model."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from evalgate.cli import main
from evalgate.testing import FakeModelServer, prompt_of
from tests.test_promptfoo_import import MODEL, _copy, run_converted, server, vendor_env

__all__ = ["server", "vendor_env"]  # the loopback model and its environment, shared with the corpus tests


def test_transform_vars_carry_over_and_shape_the_prompts_the_model_is_sent(
    tmp_path: Path, vendor_env: FakeModelServer, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _copy("transform-vars", tmp_path)
    assert main(["import", "promptfoo", str(source), "--model", MODEL]) == 0
    assert "not carried over" not in capsys.readouterr().out
    suite = yaml.safe_load((source.parent / "evals" / "promptfooconfig.yaml").read_text())
    assert suite["defaults"]["transform_vars"] == "file://../transformVars.js:customTransformVars"
    run = run_converted(source, vendor_env, capsys)
    sent = sorted(prompt_of(r.json) for r in run.sent)
    assert sent == [
        "For engineers, write 14 formal words on CLIMATE CHANGE: This is some text about climate change "
        "that needs processing.",
        "For engineers, write 5 formal words on TIDES: sea. the pulls moon The",
        "Summarize the following text in 14 words: This is some text about climate change that needs "
        "processing.",
        "Summarize the following text in 5 words: sea. the pulls moon The",
    ]
    statuses = {c["id"]: c["status"] for c in run.report["cases"]}
    assert set(statuses.values()) == {"passed"}, statuses


def test_test_options_that_map_are_converted_and_the_others_listed_with_their_reason(
    tmp_path: Path, vendor_env: FakeModelServer, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _copy("test-options", tmp_path)
    assert main(["import", "promptfoo", str(source), "--model", MODEL]) == 0
    out = capsys.readouterr().out
    assert "imported 5 cases" in out
    assert (
        "not carried over (1):\n  promptfooconfig.yaml:23: test option 'storeOutputAs' (one test's output as "
        "a later test's var) is not carried over"
    ) in out
    config = yaml.safe_load((source.parent / "evalgate.yaml").read_text())
    assert config["runner"] == {"concurrency": 1}  # defaultTest's runSerially
    suite = yaml.safe_load((source.parent / "evals" / "promptfooconfig.yaml").read_text())
    assert "checks" not in suite["defaults"]  # a test opts out of them: they moved onto the other cases
    cases = {c["id"]: c for c in suite["cases"]}
    assert cases["the_whole_list_in_one_case"]["vars"]["items"] == ["boots", "scarf", "gloves"]
    assert [c["type"] for c in cases["one_case_per_city_no_packing_list-2"]["checks"]] == ["not_contains"]
    assert [c["value"] for c in cases["items_expand_one_per_case-2"]["checks"]] == ["with:", "cairo"]
    run = run_converted(source, vendor_env, capsys)
    assert sorted(prompt_of(r.json) for r in run.sent) == [
        "Pack for a trip to Cairo with: hat, sunscreen",
        "Pack for a trip to Cairo with: water",
        "Pack for a trip to Lima",
        "Pack for a trip to Oslo with: boots, scarf, gloves",
        "Pack for a trip to Rome",
    ]


def test_options_without_an_evalgate_equivalent_are_listed_with_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "promptfooconfig.yaml"
    source.write_text(
        """\
prompts: ['Is {{claim}} true?']
providers: [openai:gpt-4o-mini]
defaultTest:
  options:
    factuality: {subset: 0}
    somethingNew: 1
tests:
  - vars: {claim: the sky is blue}
    options:
      runSerially: true
      disableConversationVar: true
"""
    )
    assert main(["import", "promptfoo", str(source), "--model", MODEL]) == 0
    out = capsys.readouterr().out
    assert "promptfooconfig.yaml:4: defaultTest option 'factuality' (scores per factuality category)" in out
    assert "promptfooconfig.yaml:4: defaultTest option 'somethingNew' is not carried over" in out
    assert (
        "promptfooconfig.yaml:8: test option 'runSerially' is not carried over for one test: evalgate runs "
        "cases concurrently"
    ) in out
    assert "disableConversationVar" not in out  # evalgate has no _conversation var to disable


def test_python_transforms_and_transform_vars_run_in_process(
    tmp_path: Path, vendor_env: FakeModelServer, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "shape.py").write_text(
        "def get_transform(output, context):\n    return output.upper()\n\n\n"
        "def strip_echo(output, context):\n    return output.removeprefix('echo: ')\n"
    )
    (tmp_path / "twice.py").write_text(
        "def get_transform(vars, context):\n"
        "    return {'word': vars['word'] * 2, 'id': len(context['uuid'])}\n"
    )
    source = tmp_path / "promptfooconfig.yaml"
    source.write_text(
        """\
prompts: ['Say {{word}}']
providers: [openai:gpt-4o-mini]
defaultTest:
  options: {transformVars: file://twice.py}
tests:
  - vars: {word: hi}
    options: {transform: 'file://shape.py:strip_echo'}
    assert:
      - {type: equals, value: SAY HIHI, transform: file://shape.py}
      - {type: equals, value: Say hihi}
      - {type: javascript, value: 'context.vars.id === 36'}
"""
    )
    run = run_converted(source, vendor_env, capsys)
    assert "0 things not carried over" in run.err
    assert [prompt_of(r.json) for r in run.sent] == ["Say hihi"]
    (case,) = run.report["cases"]
    assert [c["passed"] for c in case["checks"]] == [True, True, True]
