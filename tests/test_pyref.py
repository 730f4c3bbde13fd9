"""Python functions named by suites: two folders with a module of the same name each get their own."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from evalgate.cli import main
from evalgate.testing import FakeModelServer


def test_two_suite_folders_with_a_module_of_the_same_name_each_run_their_own(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # the base and head worktrees of a pull request look like this: same names, other folders
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
    report = tmp_path / "r.json"
    with FakeModelServer() as server:
        (tmp_path / "evalgate.yaml").write_text(
            f"model: {{provider: openai, name: gpt-4o-2024-11-20, base_url: {server.openai_base_url}}}\n"
            "suites: ['team_*/evals/*.yaml']\nrunner: {cache: false}\n"
        )
        try:
            code = main(["run", "--config", str(tmp_path / "evalgate.yaml"), "-q", "--json", str(report)])
        finally:
            sys.modules.pop(module, None)
    assert code == 1, capsys.readouterr().err
    statuses = {c["id"]: c["status"] for c in json.loads(report.read_text())["cases"]}
    assert statuses == {"team_a": "passed", "team_b": "failed"}
    assert sys.path.count(str((tmp_path / "team_b" / "evals").resolve())) == 1  # put there once, not twice
