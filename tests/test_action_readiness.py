"""The readiness table in the Action: other checks from GitHub, our own excluded, gate.require enforced."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from test_action_entrypoint import CONFIG, PR, _latest, base_files, make_workspace, run_action

from evalgate.testing import FakeGitHubServer

OUR_RUN = "https://github.example/octo/repo/actions/runs/4242"  # the run_action helper's GITHUB_RUN_ID


@pytest.fixture
def github() -> Any:
    with FakeGitHubServer("octo/repo", token="test-token") as server:
        yield server


def _config(require: str) -> str:
    return CONFIG.format(model="gpt-4o-2024-08-06").replace(
        "gate:\n  threshold: 0.75\n", f"gate:\n  threshold: 0.75\n  require: [{require}]\n"
    )


def test_code_tests_come_from_other_checks_and_a_required_failing_one_fails_the_gate(
    tmp_path: Path, github: FakeGitHubServer
) -> None:
    files = base_files(**{"evalgate.yaml": _config("code_tests")})
    ws = make_workspace(tmp_path, files, {"README.md": "docs\n"})
    github.add_pull(PR, ws.head, ws.base, files=["README.md"])
    github.add_check_run(ws.head, "unit-tests")
    github.add_check_run(ws.head, "lint", conclusion="failure")
    # this very workflow run's job is still in progress: not an "other" check
    github.add_check_run(ws.head, "eval-gate", status="in_progress", details_url=f"{OUR_RUN}/job/1")
    github.add_check_run("0" * 40, "elsewhere", conclusion="failure")  # another commit
    result = run_action(ws, github)

    assert result.code == 1, result.stdout + result.stderr
    body = github.comments(PR)[0]["body"]
    assert "#### Deployment readiness" in body
    assert "| ❌ | Code tests **required** | 1 of 2 failed: lint |" in body
    assert "| ✅ | Eval pass rate | 100.0% (4/4) vs threshold 75.0% |" in body
    assert "| ⚪ | Rollback plan | not configured: no canary: section" in body
    assert body.index("#### Deployment readiness") < body.index("passing cases</summary>")
    assert "readiness: code tests is required by gate.require but failed: 1 of 2 failed: lint" in body
    assert _latest(github, ws.head, "ai-eval-gate/eval")["state"] == "failure"
    report = json.loads((ws.repo / result.outputs["report"]).read_text())
    rows = {row["key"]: row for row in report["readiness"]}
    assert rows["code_tests"]["state"] == "fail"
    assert rows["code_tests"]["required"] is True
    assert "Deployment readiness" in (ws.repo / result.outputs["html-report"]).read_text()


def test_our_own_statuses_do_not_count_and_unrequired_items_are_only_hints(
    tmp_path: Path, github: FakeGitHubServer
) -> None:
    ws = make_workspace(tmp_path, base_files(), {"README.md": "docs\n"})
    github.add_pull(PR, ws.head, ws.base, files=["README.md"])
    github.add_check_run(ws.head, "lint", conclusion="failure")
    result = run_action(ws, github)
    assert result.code == 0  # failing code tests are a hint here: gate.require does not list them
    body = github.comments(PR)[0]["body"]
    assert "| ❌ | Code tests | 1 of 1 failed: lint |" in body
    assert "ai-eval-gate/eval" not in body.split("#### Deployment readiness", 1)[1].split("\n\n", 1)[0]
