"""Python functions named by suites: two folders with a module of the same name are refused, not mixed up."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from evalgate.cli import main
from evalgate.testing import FakeModelServer


def test_two_suite_folders_with_the_same_module_name_are_refused_with_both_places(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    module = f"verdicts_{tmp_path.name.replace('-', '_')}"  # a name no other test in this process loads
    for team, passed in (("team_a", "True"), ("team_b", "False")):
        (tmp_path / team / "evals").mkdir(parents=True)
        (tmp_path / team / "evals" / f"{module}.py").write_text(
            f"def decide(response):\n    return {passed}\n"
        )
        (tmp_path / team / "evals" / "cases.yaml").write_text(
            f"cases:\n  - {{id: {team}, input: hi,\n"
            f"     checks: [{{type: python, function: '{module}:decide'}}]}}\n"
        )
    with FakeModelServer() as server:
        (tmp_path / "evalgate.yaml").write_text(
            f"model: {{provider: openai, name: gpt-4o-2024-11-20, base_url: {server.openai_base_url}}}\n"
            "suites: ['team_*/evals/*.yaml']\nrunner: {cache: false}\n"
        )
        try:
            code = main(["run", "--config", str(tmp_path / "evalgate.yaml"), "-q"])
        finally:
            sys.modules.pop(module, None)
    assert code == 2
    err = capsys.readouterr().err
    assert f"team_b/evals has its own module '{module}', but another '{module}' is already loaded" in err
    assert f"team_a/evals/{module}.py" in err
