"""``.github/workflows/model-upgrade.yml``'s own script, run as written against the fakes."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import yaml
from test_upgrade import BAD_CANDIDATE, GOOD_CANDIDATE, repo  # noqa: F401 - repo is a fixture

from evalgate.testing import FakeGitHubServer, FakeModelServer

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "model-upgrade.yml"


def dispatch(
    root: Path, tmp: Path, github: FakeGitHubServer, candidate: str
) -> subprocess.CompletedProcess[str]:
    """The job's main step with the env a dispatch without PR_TOKEN gives it."""
    (step,) = [
        s
        for s in yaml.safe_load(WORKFLOW.read_text())["jobs"]["upgrade"]["steps"]
        if s.get("id") == "upgrade"
    ]
    shim = tmp / "bin" / "evalgate"
    shim.parent.mkdir(exist_ok=True)
    shim.write_text(f'#!/bin/sh\nPYTHONPATH="{ROOT}" exec "{sys.executable}" -m evalgate "$@"\n')
    shim.chmod(shim.stat().st_mode | stat.S_IEXEC)
    assert set(step["env"]) == {
        "CANDIDATE", "CONFIG", "BASE", "PR_TOKEN", "HAS_PR_TOKEN", "OPENAI_API_KEY", "ANTHROPIC_API_KEY"
    }  # fmt: skip
    env = {
        "PATH": f"{shim.parent}:{os.environ['PATH']}",
        "HOME": str(tmp / "home"),
        "CANDIDATE": candidate,
        "CONFIG": "evalgate.yaml",
        "BASE": "",
        "PR_TOKEN": github.token,  # secrets.PR_TOKEN || github.token, with no PR_TOKEN secret
        "HAS_PR_TOKEN": "false",
        "OPENAI_API_KEY": "k",
        "ANTHROPIC_API_KEY": "",
        "GITHUB_OUTPUT": str(tmp / "output"),
        "GITHUB_STEP_SUMMARY": str(tmp / "summary.md"),
        "GITHUB_API_URL": github.url,
        "GITHUB_REPOSITORY": "octo/bot",
        "GITHUB_SERVER_URL": "https://github.example",
        "GITHUB_RUN_ID": "77",
        "GITHUB_REF_NAME": "main",
        "GITHUB_REF_TYPE": "branch",
    }
    return subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", step["run"]],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_dispatch_opens_the_pr_and_warns_that_its_checks_need_a_pr_token(
    repo: tuple[Path, FakeModelServer, FakeGitHubServer],  # noqa: F811
    tmp_path: Path,
) -> None:
    root, _, github = repo
    proc = dispatch(root, tmp_path, github, GOOD_CANDIDATE)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "::warning title=evalgate upgrade::opened with GITHUB_TOKEN" in proc.stdout
    [pull] = github.created_pulls()
    assert "[this run](https://github.example/octo/bot/actions/runs/77)" in pull["body"]


def test_a_dispatch_with_a_failing_candidate_fails_without_a_pr(
    repo: tuple[Path, FakeModelServer, FakeGitHubServer],  # noqa: F811
    tmp_path: Path,
) -> None:
    root, _, github = repo
    proc = dispatch(root, tmp_path, github, BAD_CANDIDATE)
    assert proc.returncode == 1
    assert "::error title=evalgate upgrade::the candidate fails the gate: no pull request" in proc.stdout
    assert github.created_pulls() == []
    assert "Candidate vs current pin" in (tmp_path / "summary.md").read_text()
