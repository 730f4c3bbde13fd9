"""``validate`` knows each vendor's documented request fields and ranges; ``params_passthrough`` opts out."""

from __future__ import annotations

from pathlib import Path

import pytest

from evalgate.cli import main
from evalgate.vendorparams import check_params


def _project(root: Path, model: str, judge: str = "") -> Path:
    (root / "evals").mkdir(parents=True, exist_ok=True)
    (root / "evals" / "s.yaml").write_text(
        "cases:\n  - {id: c, input: hi, checks: [{type: contains, value: hi}]}\n"
    )
    config = root / "evalgate.yaml"
    config.write_text(f"{model}suites: [evals/*.yaml]\n{judge}")
    return config


ANTHROPIC = "model:\n  provider: anthropic\n  name: claude-3-5-sonnet-20241022\n  params:\n"


@pytest.mark.parametrize(
    ("params", "line", "message"),
    [
        ("    temperature: 1.5\n", 5, "'temperature' is 1.5, outside the documented range 0 to 1"),
        ("    max_tokens: 200\n    seed: 7\n", 6, "Anthropic's messages API has no request field 'seed'"),
        ("    response_format: {type: json_object}\n", 5, "has no request field 'response_format'"),
        ("    top_k: fast\n", 5, "'top_k' is a string, expected an integer"),
        ("    stream: true\n", 5, "'stream' cannot be a param"),
    ],
)
def test_validate_rejects_params_anthropic_would_reject(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], params: str, line: int, message: str
) -> None:
    config = _project(tmp_path, ANTHROPIC + params)
    assert main(["validate", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert f"evalgate.yaml:{line}: model.params." in err
    assert message in err
    assert "params_passthrough: true" in err or "cannot be a param" in err


def test_openai_params_are_checked_too_and_every_problem_is_listed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = (
        "model:\n  provider: openai\n  name: gpt-4o-2024-11-20\n"
        "  params: {temperature: 2.5, repetition_penalty: 1.1, seed: 7, reasoning_effort: extreme}\n"
    )
    assert main(["validate", "--config", str(_project(tmp_path, model))]) == 2
    err = capsys.readouterr().err
    assert "'temperature' is 2.5, outside the documented range 0 to 2" in err
    assert "has no request field 'repetition_penalty'" in err
    assert "'reasoning_effort' is 'extreme', expected one of: minimal, low, medium, high" in err
    assert "model.params.seed" not in err  # OpenAI documents seed


def test_the_judge_section_is_checked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = "model: {provider: openai, name: gpt-4o-2024-11-20, params: {temperature: 0}}\n"
    judge = "judge:\n  provider: anthropic\n  name: claude-3-5-sonnet-20241022\n  params: {seed: 1}\n"
    assert main(["validate", "--config", str(_project(tmp_path, model, judge))]) == 2
    assert "evalgate.yaml:6: judge.params.seed" in capsys.readouterr().err


def test_params_passthrough_opts_out_for_compatible_servers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = (
        "model:\n  provider: openai\n  name: gpt-4o-2024-11-20\n  base_url: http://127.0.0.1:9/v1\n"
        "  params_passthrough: true\n  params: {top_k: 40, repetition_penalty: 1.1, temperature: 0}\n"
    )
    assert main(["validate", "--config", str(_project(tmp_path, model))]) == 0
    assert capsys.readouterr().out.startswith("ok:")


def test_documented_params_pass() -> None:
    assert (
        check_params("anthropic", {"max_tokens": 512, "temperature": 1, "top_k": 5, "stop_sequences": ["x"]})
        == []
    )
    assert (
        check_params("openai", {"temperature": 0, "seed": 7, "response_format": {"type": "json_object"}})
        == []
    )
    assert check_params("http", {"anything": "goes"}) == []  # the user's own endpoint, the user's contract
