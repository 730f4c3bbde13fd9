"""``validate`` reports every problem in every file in one run; unknown names get promptfoo-aware hints."""

from __future__ import annotations

from pathlib import Path

import pytest

from evalgate.cli import main
from evalgate.errors import ConfigError
from evalgate.validation import render_problems


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


CONFIG = """\
model: {provider: openai, name: gpt-4o-2024-11-20}
prompts: {ask: prompts/ask.txt, broken: prompts/broken.txt}
suites: ["evals/*.yaml", "evals/*.csv"]
"""


def test_every_error_in_every_file_in_one_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _write(
        tmp_path,
        {
            "evalgate.yaml": CONFIG,
            "prompts/ask.txt": "Q: {{ q }}",
            "prompts/broken.txt": "{% if %}",
            "evals/a.yaml": """\
cases:
  - {id: ok, prompt: ask, vars: {q: x}, checks: [{type: contains, value: x}]}
  - {id: bad_type, input: x, checks: [{type: not-contains, value: x}]}
  - {id: bad_var, prompt: ask, vars: {}, checks: [{type: contains, value: x}]}
""",
            "evals/b.yaml": """\
cases:
  - {id: rubric, input: x, checks: [{type: llm-rubric, value: polite}]}
  - {id: ok, input: x, assert: []}
""",
            "evals/c.yaml": "cases:\n  - {id: uses_broken, prompt: broken}\n  - [not, a, case]\n",
            "evals/d.csv": "q,__expected\nhi,perplexity:5\n",
        },
    )
    monkeypatch.chdir(tmp_path)
    assert main(["validate"]) == 2
    err = capsys.readouterr().err.splitlines()
    located = [line.split(": ", 2)[1] for line in err if line.startswith("error: ")]
    assert located == [
        "evals/a.yaml:3",
        "evals/a.yaml:4",
        "evals/b.yaml:2",
        "evals/b.yaml:3",
        "evals/c.yaml:3",
        "evals/d.csv:2",
        "prompts/broken.txt:1",
    ]
    text = "\n".join(err)
    assert "did you mean 'not_contains'?; promptfoo's 'not-contains' is 'not_contains' here" in text
    assert "promptfoo's 'llm-rubric' is 'llm_judge' here" in text
    assert "promptfoo's 'assert' is checks here" in text
    assert "needs a variable the case does not provide: 'q' is undefined" in text
    assert "'perplexity' is not supported" in text
    assert err[-1] == "7 errors in 5 files"


def test_output_is_capped_at_fifty_lines() -> None:
    errors = tuple(ConfigError(f"problem {i}", file=f"f{i % 3}.yaml", line=i) for i in range(80))
    lines = render_problems(errors)
    assert len(lines) <= 51
    assert lines[0] == "error: f0.yaml:0: problem 0"
    assert lines[-2] == "... and 31 more errors (fix these and run validate again)"
    assert lines[-1] == "80 errors in 3 files"


def test_a_promptfoo_config_given_to_validate_says_how_to_import(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _write(
        tmp_path, {"evalgate.yaml": "model: {provider: openai, name: gpt-4o-2024-11-20}\nproviders: [x]\n"}
    )
    monkeypatch.chdir(tmp_path)
    assert main(["validate"]) == 2
    assert "run 'evalgate import promptfoo FILE'" in capsys.readouterr().err
