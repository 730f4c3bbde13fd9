"""Contracts of the drift watch and model-upgrade workflows (their logic is tested through the CLI)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]


def load(rel: str) -> dict[str, Any]:
    data = yaml.safe_load((ROOT / rel).read_text(encoding="utf-8"))
    data["on"] = data.pop(True)  # YAML 1.1 reads the key `on` as a boolean
    return data


def step_runs(job: dict[str, Any]) -> str:
    return "\n".join(step.get("run", "") for step in job["steps"])


def test_drift_workflow_runs_fresh_and_keeps_only_good_baselines() -> None:
    workflow = load(".github/workflows/drift.yml")
    job = workflow["jobs"]["drift"]
    # a called workflow may not ask for more than its caller grants: the branch gets its own token
    assert job["permissions"] == {"contents": "read", "issues": "write", "actions": "read"}
    assert job["concurrency"]["cancel-in-progress"] is False
    runs = step_runs(job)
    assert 'evalgate run --config "$CONFIG" --no-cache --json drift-report.json' in runs
    assert "--baseline-token-env BASELINE_TOKEN" in runs
    assert 'ARTIFACT="evalgate-drift-${safe}"' in runs  # one baseline artifact per config
    upload = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/upload-artifact@"))
    assert upload["if"] == "steps.drift.outputs.good == 'true' && inputs.baseline-branch == ''"
    assert set(workflow["on"]["workflow_call"]["secrets"]) == {
        "OPENAI_API_KEY",
        "ANTHROPIC_API_KEY",
        "BASELINE_TOKEN",
    }


def test_model_upgrade_workflow_opens_the_pr_only_through_the_cli() -> None:
    workflow = load(".github/workflows/model-upgrade.yml")
    inputs = workflow["on"]["workflow_call"]["inputs"]
    assert inputs["candidate"]["required"] is True
    assert workflow["on"]["workflow_dispatch"]["inputs"]["candidate"]["required"] is True
    job = workflow["jobs"]["upgrade"]
    assert job["permissions"] == {"contents": "write", "pull-requests": "write"}
    assert 'upgrade "$CANDIDATE" --config "$CONFIG" --pr --token-env PR_TOKEN' in step_runs(job)


def test_examples_call_them_on_a_schedule_and_by_dispatch() -> None:
    drift = load("examples/workflows/drift-watch.yml")
    assert drift["on"]["schedule"][0]["cron"]
    assert drift["permissions"] == {"contents": "read", "issues": "write", "actions": "read"}
    assert drift["jobs"]["drift"]["uses"] == "org/ai-eval-gate/.github/workflows/drift.yml@v1"
    upgrade = load("examples/workflows/model-upgrade.yml")
    assert upgrade["on"]["workflow_dispatch"]["inputs"]["candidate"]["required"] is True
    assert upgrade["jobs"]["upgrade"]["uses"] == "org/ai-eval-gate/.github/workflows/model-upgrade.yml@v1"


def test_both_install_the_github_extra() -> None:
    for rel, job in (
        (".github/workflows/drift.yml", "drift"),
        (".github/workflows/model-upgrade.yml", "upgrade"),
    ):
        runs = step_runs(load(rel)["jobs"][job])
        assert '"evalgate[github] @ git+${GITHUB_SERVER_URL}/org/ai-eval-gate@${EVALGATE_REF}"' in runs
