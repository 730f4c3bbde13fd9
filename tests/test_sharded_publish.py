"""Sharded runs publish like a single job: the reusable workflow's own scripts, then the action on the merge.

The shard and merge steps of ``.github/workflows/eval-gate.yml`` run here as written (bash, with the env the
runner would give them and ``evalgate`` on PATH from this checkout); the publish step is the action's
entrypoint with that step's inputs, against ``FakeGitHubServer``.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_action_entrypoint import (
    GOOD,
    PR,
    ROOT,
    Result,
    Workspace,
    _latest,
    _recordings,
    base_files,
    make_workspace,
    run_action,
)

from evalgate.testing import FakeGitHubServer

WORKFLOW = ROOT / ".github" / "workflows" / "eval-gate.yml"
SHARDS = 2


def _step(job: str, name: str) -> dict[str, Any]:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    (step,) = [s for s in workflow["jobs"][job]["steps"] if s.get("name") == name]
    return dict(step)


def _bin(tmp: Path) -> Path:
    """An ``evalgate`` command that runs this checkout, as the workflow's pip install would provide."""
    folder = tmp / "bin"
    folder.mkdir()
    shim = folder / "evalgate"
    shim.write_text(f'#!/bin/sh\nPYTHONPATH="{ROOT}" exec "{sys.executable}" -m evalgate "$@"\n')
    shim.chmod(shim.stat().st_mode | stat.S_IEXEC)
    return folder


def _bash(script: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", script],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _shards(ws: Workspace, tmp: Path) -> None:
    """Run every shard (head and base) in its own checkout; their reports land in shards/ (the download)."""
    path = f"{_bin(tmp)}:{os.environ['PATH']}"
    git_env = {"GIT_CONFIG_GLOBAL": str(tmp / "gitconfig"), "HOME": str(tmp / "home")}
    merge_dir = ws.repo / "shards"
    merge_dir.mkdir()
    for shard in range(1, SHARDS + 1):
        checkout = tmp / f"shard-{shard}"
        subprocess.run(
            ["git", "clone", "-q", str(ws.repo), str(checkout)], check=True, env={**os.environ, **git_env}
        )
        subprocess.run(["git", "-C", str(checkout), "checkout", "-q", ws.head], check=True)
        (tmp / f"runner-temp-{shard}").mkdir()
        env = {
            "PATH": path,
            **git_env,
            "CONFIG": "evalgate.yaml",
            "SHARD": str(shard),
            "SHARDS": str(SHARDS),
            "BASE_SHA": ws.base,
            "HEAD_SHA": ws.head,
            "RUNNER_TEMP": str(tmp / f"runner-temp-{shard}"),
        }
        for name in ("Run the shard", "Run the shard on the merge base"):
            proc = _bash(_step("shard", name)["run"], checkout, env)
            assert proc.returncode == 0, f"{name}: {proc.stdout}{proc.stderr}"
        for report in (f"shard-{shard}.json", f"base-shard-{shard}.json"):
            (merge_dir / report).write_bytes((checkout / report).read_bytes())


def _merge(ws: Workspace, tmp: Path, threshold: str = "") -> str:
    """The merge step as written; returns the baseline it hands the publish step."""
    output = tmp / "merge-output.txt"
    output.write_text("")
    env = {
        "PATH": f"{tmp / 'bin'}:{os.environ['PATH']}",
        "CONFIG": "evalgate.yaml",
        "SHARDS": str(SHARDS),
        "THRESHOLD": threshold,
        "GITHUB_OUTPUT": str(output),
    }
    proc = _bash(_step("merge", "Merge the shard reports")["run"], ws.repo, env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (line,) = output.read_text().splitlines()
    return line.removeprefix("baseline=")


@pytest.fixture(scope="module")
def sharded(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """A PR whose answer to 'hours' broke, run in two shards, each also at the merge base."""
    tmp = tmp_path_factory.mktemp("sharded")
    ws = make_workspace(tmp, base_files(), {"recordings.yaml": _recordings({**GOOD, "hours": "Call us."})})
    _shards(ws, tmp)
    return ws


def _publish(ws: Workspace, github: FakeGitHubServer, baseline: str, threshold: str = "") -> Result:
    """The publish step: the action's entrypoint with the inputs that step gives it."""
    publish = _step("merge", "Publish")
    assert publish["with"]["results"] == "shards/report.json"
    assert publish["with"]["threshold"] == "${{ inputs.threshold }}"
    inputs = {"results": publish["with"]["results"], "baseline": baseline}
    if threshold:
        inputs["threshold"] = threshold
    return run_action(ws, github, **inputs)


@pytest.fixture
def github() -> Any:
    with FakeGitHubServer("octo/repo", token="test-token") as server:
        yield server


def test_sharded_run_publishes_comment_statuses_and_the_base_comparison(
    sharded: Workspace, github: FakeGitHubServer
) -> None:
    ws = sharded
    github.add_pull(PR, ws.head, ws.base, files=["recordings.yaml"])
    baseline = _merge(ws, ws.tmp)
    assert baseline == "shards/base-report.json"
    result = _publish(ws, github, baseline)

    assert result.code == 0, result.stdout + result.stderr  # 3/4 meets the 75% threshold
    (comment,) = github.comments(PR)
    body = comment["body"]
    assert body.startswith("<!-- ai-eval-gate:evalgate.yaml -->")
    assert "#### Changes vs base (base 100.0%, 4/4)" in body
    assert "- 🆕 **Newly failing (1):**\n  - hours — icontains: missing '9am'" in body
    assert "**75.0%** (3/4) · threshold 75% · -25.0 pt vs base" in body
    eval_status = _latest(github, ws.head, "ai-eval-gate/eval")
    assert eval_status["state"] == "success"
    assert "1 new failure vs base" in eval_status["description"]
    assert _latest(github, ws.head, "ai-eval-gate/policy")["state"] == "success"
    assert result.outputs["gate"] == "passed"
    assert (ws.repo / result.outputs["html-report"]).is_file()


def test_a_failing_merged_run_fails_the_status_and_the_job(
    sharded: Workspace, github: FakeGitHubServer
) -> None:
    ws = sharded
    github.add_pull(PR, ws.head, ws.base, files=["recordings.yaml"])
    result = _publish(ws, github, _merge(ws, ws.tmp, threshold="90%"), threshold="90%")
    assert result.code == 1
    assert _latest(github, ws.head, "ai-eval-gate/eval")["state"] == "failure"
    assert result.outputs["gate"] == "failed"
    assert "Newly failing (1)" in github.comments(PR)[0]["body"]


def test_a_missing_base_shard_means_no_comparison_not_a_wrong_one(
    sharded: Workspace, github: FakeGitHubServer
) -> None:
    ws = sharded
    github.add_pull(PR, ws.head, ws.base, files=["recordings.yaml"])
    missing = ws.repo / "shards" / "base-shard-2.json"
    kept = missing.read_bytes()
    missing.unlink()
    try:
        (ws.repo / "shards" / "base-report.json").unlink(missing_ok=True)
        assert _merge(ws, ws.tmp) == "none"
        result = _publish(ws, github, "none")
    finally:
        missing.write_bytes(kept)
    assert result.code == 0
    assert "Changes vs base" not in github.comments(PR)[0]["body"]
    assert _latest(github, ws.head, "ai-eval-gate/eval")["state"] == "success"
