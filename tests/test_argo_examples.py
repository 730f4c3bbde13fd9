"""examples/argo-rollouts: every manifest is valid against the OpenAPI v3 schema inside the Argo Rollouts CRD
(tests/data/argo-crds, copied unchanged from argoproj/argo-rollouts), agrees with the evalgate plan it
mounts, and the judge Job's script behaves as documented when run with the real ``evalgate``."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from evalgate.canary.plan import RolloutPlan, load_plan
from evalgate.testing import ArmBehaviour, FakeRouter, SimulatedApp

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "argo-rollouts"
CRDS = Path(__file__).parent / "data" / "argo-crds"
LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _strict(node: Any) -> Any:
    """A Kubernetes structural schema as JSON Schema, with the API server's strict field validation:
    unknown fields are errors unless the schema preserves them."""
    if isinstance(node, list):
        return [_strict(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _strict(v) for k, v in node.items() if not k.startswith("x-kubernetes-") and k != "nullable"}
    if node.get("x-kubernetes-int-or-string") and "anyOf" not in node:
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if node.get("nullable") and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    preserve = node.get("x-kubernetes-preserve-unknown-fields")
    if node.get("type") == "object" and "properties" in node and "additionalProperties" not in node | out:
        out["additionalProperties"] = bool(preserve)
    return out


@cache
def _schemas() -> dict[str, dict[str, Any]]:
    found = {}
    for path in sorted(CRDS.glob("*.yaml")):
        crd = yaml.load(path.read_text(encoding="utf-8"), Loader=LOADER)
        version = next(v for v in crd["spec"]["versions"] if v.get("served", True))
        kind = crd["spec"]["names"]["kind"]
        found[kind] = {
            "apiVersion": f"{crd['spec']['group']}/{version['name']}",
            "schema": _strict(version["schema"]["openAPIV3Schema"]),
        }
    return found


def _errors(doc: dict[str, Any]) -> list[str]:
    entry = _schemas().get(doc.get("kind", ""))
    if entry is None:
        return [f"no CRD for kind {doc.get('kind')!r} in {CRDS}"]
    problems = (
        [] if doc.get("apiVersion") == entry["apiVersion"] else [f"apiVersion is {doc.get('apiVersion')}"]
    )
    validator = jsonschema.Draft7Validator(entry["schema"])
    for error in sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path)):
        where = ".".join(str(p) for p in error.absolute_path) or "(top)"
        problems.append(f"{where}: {error.message}")
    return problems


def _documents() -> Iterator[tuple[str, dict[str, Any]]]:
    for path in sorted(EXAMPLES.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if doc:
                yield path.name, doc


def _one(kind: str) -> dict[str, Any]:
    docs = [doc for _, doc in _documents() if doc["kind"] == kind]
    assert len(docs) == 1, f"expected one {kind} in {EXAMPLES}"
    return docs[0]


def _plan(tmp_path: Path) -> RolloutPlan:
    config = tmp_path / "evalgate.yaml"
    config.write_text(_one("ConfigMap")["data"]["evalgate.yaml"])
    return load_plan(config)


def _job_container(template: dict[str, Any]) -> dict[str, Any]:
    metric = template["spec"]["metrics"][0]
    container: dict[str, Any] = metric["provider"]["job"]["spec"]["template"]["spec"]["containers"][0]
    return container


def _env(container: dict[str, Any], name: str) -> str:
    value: str = next(e["value"] for e in container["env"] if e["name"] == name)
    return value


# --- the schemas ------------------------------------------------------------------------------


def test_the_crds_give_schemas_for_rollout_and_analysis_template() -> None:
    assert {"Rollout", "AnalysisTemplate"} <= set(_schemas())


@pytest.mark.parametrize(
    ("name", "doc"), [d for d in _documents() if d[1]["apiVersion"].startswith("argoproj")]
)
def test_every_argo_manifest_is_valid_against_its_crd(name: str, doc: dict[str, Any]) -> None:
    assert _errors(doc) == [], name


def test_the_upstream_examples_pass_the_same_conversion() -> None:
    # The converted schema accepts Argo's own examples, so it is not stricter than the API server.
    checked = 0
    for path in sorted((CRDS / "upstream-examples").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if doc:
                assert _errors(doc) == [], path.name
                checked += 1
    assert checked == 3


@pytest.mark.parametrize(
    ("kind", "mutate", "expected"),
    [
        (
            "AnalysisTemplate",
            lambda d: d["spec"]["metrics"][0].update(failureLimt=0),
            "'failureLimt' was unexpected",
        ),
        (
            "AnalysisTemplate",
            lambda d: _job_container(d).update(imagePullPolicey="Always"),
            "'imagePullPolicey' was unexpected",
        ),
        ("Rollout", lambda d: d["spec"]["strategy"]["canary"]["steps"][0].update(setWieght=5), "'setWieght'"),
        ("Rollout", lambda d: d["spec"].update(replicas="ten"), "'ten' is not of type 'integer'"),
        ("Rollout", lambda d: d.pop("spec"), "'spec' is a required property"),
    ],
)
def test_a_typo_or_a_wrong_type_fails_validation(kind: str, mutate: Any, expected: str) -> None:
    doc = copy.deepcopy(_one(kind))
    mutate(doc)
    problems = _errors(doc)
    assert any(expected in p for p in problems), problems


# --- the manifests agree with the plan ----------------------------------------------------------


def test_the_rollout_steps_are_the_plans_stages_each_judged_at_its_weight(tmp_path: Path) -> None:
    plan = _plan(tmp_path)
    rollout, template = _one("Rollout"), _one("AnalysisTemplate")
    steps = rollout["spec"]["strategy"]["canary"]["steps"]
    assert [s["setWeight"] for s in steps if "setWeight" in s] == [s.weight for s in plan.stages]
    judged = [s.weight for s in plan.stages if not s.final]
    analyses = [(i, s["analysis"]) for i, s in enumerate(steps) if "analysis" in s]
    assert len(analyses) == len(judged)
    declared = {a["name"] for a in template["spec"]["args"]}
    for (index, analysis), weight in zip(analyses, judged, strict=True):
        assert steps[index - 1] == {"setWeight": weight}, "each analysis follows the setWeight it judges"
        assert [t["templateName"] for t in analysis["templates"]] == [template["metadata"]["name"]]
        args = {a["name"]: a["value"] for a in analysis["args"]}
        assert args == {"weight": str(weight)}
        assert set(args) <= declared


def test_the_judge_job_looks_as_often_as_the_plan_and_outlives_max_duration(tmp_path: Path) -> None:
    plan = _plan(tmp_path)
    template = _one("AnalysisTemplate")
    metric = template["spec"]["metrics"][0]
    assert (metric["count"], metric["failureLimit"]) == (1, 0)
    container = _job_container(template)
    judged = [s for s in plan.stages if not s.final]
    assert {s.look_every for s in judged} == {float(_env(container, "LOOK_EVERY"))}
    deadline = metric["provider"]["job"]["spec"]["activeDeadlineSeconds"]
    assert deadline > max(s.max_duration for s in judged)
    configmap = _one("ConfigMap")
    volume = metric["provider"]["job"]["spec"]["template"]["spec"]["volumes"][0]
    assert volume["configMap"]["name"] == configmap["metadata"]["name"]
    mount = container["volumeMounts"][0]["mountPath"]
    default_config = next(a["value"] for a in template["spec"]["args"] if a["name"] == "config")
    assert default_config == f"{mount}/evalgate.yaml"


# --- the Job's script, run with the real evalgate ------------------------------------------------

JUDGE_PLAN = """\
canary:
  target: {kind: model, stable: a-2024-01-01, candidate: b-2024-02-01}
  stages:
    - {weight: 25, min_duration: 1s, max_duration: 30s, look_every: 1s, min_samples: 200}
    - {weight: 100}
  metrics:
    - {name: eval_pass_rate, kind: proportion, better: higher, margin: 0.05}
  live_checks: [{type: is_json}]
  router: {type: file, path: routing.yaml}
  source: %s
"""


def _run_job_script(
    tmp_path: Path, source: str, evalgate: str | None = None
) -> subprocess.CompletedProcess[str]:
    (tmp_path / "evalgate.yaml").write_text(JUDGE_PLAN % source)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "evalgate"  # the image's console script, for the checkout under test
    shim.write_text(evalgate or f'#!/bin/sh\nexec "{sys.executable}" -m evalgate "$@"\n')
    shim.chmod(0o755)
    container = _job_container(_one("AnalysisTemplate"))
    script = container["args"][0]
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": str(ROOT),
        "WEIGHT": "25",
        "CONFIG": str(tmp_path / "evalgate.yaml"),
        "LOOK_EVERY": "0.2",
    }
    return subprocess.run(
        [*container["command"], script], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )


@pytest.mark.slow
@pytest.mark.parametrize(("quality", "code", "said"), [(0.95, 0, "promote"), (0.6, 1, "rollback")])
def test_the_job_script_ends_with_the_judges_exit_code(
    tmp_path: Path, quality: float, code: int, said: str
) -> None:
    good = ArmBehaviour(quality=0.95, error_rate=0.0)
    with SimulatedApp(
        tmp_path / "requests.jsonl",
        rate=5_000,
        seed=5,
        router=FakeRouter(25),
        stable=good,
        canary=ArmBehaviour(quality=quality, error_rate=0.0),
    ):
        started = time.monotonic()
        proc = _run_job_script(tmp_path, "{type: jsonl, path: requests.jsonl}")
    assert proc.returncode == code, proc.stdout + proc.stderr
    assert f"evalgate canary: {said}:" in proc.stdout
    assert time.monotonic() - started < 30


def test_the_job_script_fails_after_three_looks_in_a_row_without_the_source(tmp_path: Path) -> None:
    # The real exit 3 (source unreachable after retries) is tested in test_canary_oneshot; here a stand-in
    # answers inconclusive, then unreachable twice, inconclusive, then unreachable three times in a row.
    calls = tmp_path / "calls"
    answers = "4 3 3 4 3 3 3 0"
    stand_in = (
        "#!/bin/sh\n"
        f'echo "$@" >> "{calls}"\n'
        f'n=$(wc -l < "{calls}")\n'
        f"set -- {answers}\n"
        "shift $((n - 1))\n"
        'exit "$1"\n'
    )
    proc = _run_job_script(tmp_path, "{type: jsonl, path: requests.jsonl}", evalgate=stand_in)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    lines = calls.read_text().splitlines()
    assert len(lines) == 7
    since = lines[0].split("--since ")[1].split()[0]
    assert all(f"--since {since} " in line for line in lines), "every look judges since the Job started"
    assert "--weight 25 " in lines[0]


def test_the_copied_crds_match_the_shared_reference_when_it_is_there() -> None:
    shared = ROOT.parent / "shared" / "argo-rollouts"
    if not shared.is_dir():
        pytest.skip(f"no reference copy at {shared}; the CRDs in {CRDS} are used as they are")
    for name in ("rollout-crd.yaml", "analysis-template-crd.yaml"):
        assert (CRDS / name).read_bytes() == (shared / name).read_bytes(), name
    for name in ("analysis-templates.yaml", "rollout-analysis-step.yaml"):
        assert (CRDS / "upstream-examples" / name).read_bytes() == (shared / name).read_bytes(), name
