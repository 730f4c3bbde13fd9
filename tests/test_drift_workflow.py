"""Three scheduled nights of ``.github/workflows/drift.yml``: its own scripts, run as written.

Each step's ``run:`` script runs in bash with the env the runner would give it (``${{ }}`` resolved from
the inputs, secrets and earlier step outputs), ``evalgate`` on PATH from this checkout, the model behind
``FakeModelServer`` and GitHub behind ``FakeGitHubServer``. ``actions/upload-artifact`` is played by
storing the file as an artifact in the fake when the step's ``if:`` holds.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from evalgate.testing import FakeGitHubServer, FakeModelServer

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "drift.yml"
INPUTS = {"config": "evalgate.yaml", "labels": "ai-drift", "assignees": "alice", "max-drop": ""}
INPUTS |= {"artifact-name": "", "baseline-branch": "", "retention-days": "90", "fail-on-drift": "true"}


def _job() -> dict[str, Any]:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    job: dict[str, Any] = workflow["jobs"]["drift"]
    return job


def _outputs(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    lines = path.read_text().splitlines() if path.exists() else []
    i = 0
    while i < len(lines):
        if "<<" in lines[i]:
            name, delim = lines[i].split("<<", 1)
            end = lines.index(delim, i + 1)
            out[name] = "\n".join(lines[i + 1 : end])
            i = end + 1
        else:
            name, _, value = lines[i].partition("=")
            out[name] = value
            i += 1
    return out


class Runner:
    """Runs the drift job's steps in order, like the runner would for one scheduled run."""

    def __init__(self, tmp: Path, repo: Path, github: FakeGitHubServer) -> None:
        self.tmp, self.repo, self.github = tmp, repo, github
        shim = tmp / "bin" / "evalgate"
        shim.parent.mkdir(exist_ok=True)
        shim.write_text(f'#!/bin/sh\nPYTHONPATH="{ROOT}" exec "{sys.executable}" -m evalgate "$@"\n')
        shim.chmod(shim.stat().st_mode | stat.S_IEXEC)
        self.path = f"{shim.parent}:{os.environ['PATH']}"

    def night(self, run_id: int) -> dict[str, dict[str, str]]:
        """One run of the job; the outputs of each step by id, and ``failed`` naming the failing step."""
        steps: dict[str, dict[str, str]] = {}
        for index, step in enumerate(_job()["steps"]):
            if "uses" in step:
                self._action(step, steps, run_id)
                continue
            if "if" in step and not self._condition(step["if"], steps):
                continue
            if step["name"] == "Install evalgate":
                continue  # no network here: the evalgate on PATH runs this checkout
            output = self.tmp / f"output-{run_id}-{index}"
            output.write_text("")
            env = {k: self._resolve(str(v), steps) for k, v in (step.get("env") or {}).items()}
            env |= {
                "PATH": self.path,
                "HOME": str(self.tmp / "home"),
                "GITHUB_OUTPUT": str(output),
                "GITHUB_STEP_SUMMARY": str(self.tmp / "summary.md"),
                "GITHUB_API_URL": self.github.url,
                "GITHUB_SERVER_URL": "https://github.example",
                "GITHUB_REPOSITORY": "octo/bot",
                "GITHUB_RUN_ID": str(run_id),
                "GITHUB_SHA": "5" * 40,
            }
            proc = subprocess.run(
                ["bash", "-e", "-o", "pipefail", "-c", step["run"]],
                cwd=self.repo,
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            steps[step.get("id", f"step{index}")] = _outputs(output)
            if proc.returncode != 0:
                steps["failed"] = {
                    "name": step["name"],
                    "code": str(proc.returncode),
                    "log": proc.stdout + proc.stderr,
                }
                break
        return steps

    def _action(self, step: Mapping[str, Any], steps: dict[str, dict[str, str]], run_id: int) -> None:
        if not step["uses"].startswith("actions/upload-artifact@") or not self._condition(step["if"], steps):
            return  # checkout, setup-python: the test's checkout and interpreter stand in for them
        name = self._resolve(step["with"]["name"], steps)
        report = (self.repo / step["with"]["path"]).read_text()
        self.github.add_artifact(
            name, {"report.json": report}, head_sha="5" * 40, created_at=f"2026-11-0{run_id}T05:20:00Z"
        )
        steps.setdefault("uploaded", {})["name"] = name

    def _resolve(self, text: str, steps: Mapping[str, Mapping[str, str]]) -> str:
        def value(match: re.Match[str]) -> str:
            expr = match.group(1).strip()
            if expr == "github.token":
                return self.github.token
            kind, _, rest = expr.partition(".")
            if kind == "inputs":
                return INPUTS[rest]
            if kind == "secrets":
                return ""
            if kind == "steps":
                step, _, output = rest.partition(".outputs.")
                return steps.get(step, {}).get(output, "")
            raise AssertionError(f"unexpected expression {expr}")

        return re.sub(r"\$\{\{(.*?)\}\}", value, text)

    def _condition(self, condition: str, steps: Mapping[str, Mapping[str, str]]) -> bool:
        # the job's conditions are conjunctions of `a == 'b'` and boolean inputs
        for part in condition.split("&&"):
            part = part.strip()
            if "==" in part:
                left, right = (p.strip() for p in part.split("=="))
                value = self._resolve("${{ " + left + " }}", steps)
                if value != right.strip("'"):
                    return False
            elif self._resolve("${{ " + part + " }}", steps) != "true":
                return False
        return True


@pytest.fixture
def night(tmp_path: Path) -> Iterator[tuple[Runner, FakeModelServer, FakeGitHubServer]]:
    answers = {"text": "Revenue grew to $4.2M."}
    with FakeModelServer(lambda body: answers["text"]) as models, FakeGitHubServer("octo/bot") as github:
        repo = tmp_path / "repo"
        (repo / "evals").mkdir(parents=True)
        (repo / "evalgate.yaml").write_text(
            "model:\n  provider: openai\n  name: gpt-4o-2024-11-20\n"
            f"  base_url: {models.openai_base_url}\n  api_key_env: NO_KEY_NEEDED\n"
            "gate: {threshold: 0.5}\n"
        )
        check = "    checks: [{type: contains, value: 4.2M}]\n"
        cases = "".join(f"  - id: case_{i}\n    input: Summarize report {i}\n{check}" for i in range(12))
        (repo / "evals" / "s.yaml").write_text("cases:\n" + cases)
        models.answers = answers  # type: ignore[attr-defined]
        yield Runner(tmp_path, repo, github), models, github


def test_three_nights_of_the_drift_workflow(night: tuple[Runner, FakeModelServer, FakeGitHubServer]) -> None:
    runner, models, github = night
    answers = models.answers  # type: ignore[attr-defined]

    # night 1: no baseline yet; the run is good and becomes the baseline artifact
    first = runner.night(1)
    assert "failed" not in first, first.get("failed")
    assert first["drift"]["status"] == "first"
    assert first["uploaded"]["name"] == "evalgate-drift-evalgate.yaml"
    assert github.issues() == []

    # night 2: the provider changed the backend and the answers got worse; the job fails, one issue opens
    models.system_fingerprint = "fp_new_backend"
    answers["text"] = "Revenue grew."
    second = runner.night(2)
    assert second["failed"]["name"] == "Fail when quality dropped", second["failed"]
    assert "::error title=evalgate drift::quality dropped" in second["failed"]["log"]
    assert "uploaded" not in second  # a dropped run never becomes the baseline
    [issue] = github.issues()
    assert issue["title"] == "Eval drift: evalgate.yaml dropped −100.0 pt on gpt-4o-2024-11-20"
    assert [label["name"] for label in issue["labels"]] == ["ai-drift"]
    assert "Both ran commit 555555555555" in issue["body"]
    assert "(fp\\_evalgate\\_fake) | gpt-4o-2024-11-20 (fp\\_new\\_backend) |" in issue["body"]
    assert "[drop](https://github.example/octo/bot/actions/runs/2)" in issue["body"]

    # night 3: the answers are back: the issue is closed with a comment, the run is the new baseline
    answers["text"] = "Revenue grew to $4.2M."
    third = runner.night(3)
    assert "failed" not in third, third.get("failed")
    assert third["drift"]["issue-action"] == "closed"
    assert third["uploaded"]["name"] == "evalgate-drift-evalgate.yaml"
    [issue] = github.issues()
    assert issue["state"] == "closed"
    assert issue["comments"][0].startswith("✅ Back within the margin: pass rate 100.0%, +0.0 pt")
    assert "(fp\\_new\\_backend) on 12 cases); quality held." in issue["comments"][0]
