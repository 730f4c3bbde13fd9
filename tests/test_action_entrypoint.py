"""The container contract: ``entrypoint.py`` run as a subprocess with the runner's env, event file and a
real git workspace, against the loopback fake GitHub REST server (and the loopback model server)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from markdown_it import MarkdownIt

from evalgate.changes import ChangedFile
from evalgate.testing import FakeGitHubServer, FakeModelServer

ROOT = Path(__file__).resolve().parents[1]
ENTRYPOINT = ROOT / "entrypoint.py"
PR = 7

CONFIG = """\
model:
  provider: replay
  name: {model}
  responses: recordings.yaml
prompts:
  answer: prompts/answer.md
suites: ["evals/*.yaml"]
gate:
  threshold: 0.75
policy:
  prompt_paths: ["prompts/**"]
  model_pins: ["evalgate.yaml#model.name", "config.yaml#ai.model"]
"""

SUITE = """\
cases:
  - id: refund
    prompt: answer
    vars: {q: refunds}
    checks: [{type: icontains, value: "30 days"}]
  - id: hours
    prompt: answer
    vars: {q: hours}
    checks: [{type: icontains, value: "9am"}]
  - id: greeting
    input: "Say hello"
    checks: [{type: icontains, value: hello}]
  - id: json_out
    input: "Return JSON"
    checks: [{type: is_json}]
"""

GOOD = {
    "refund": "Refunds are accepted within 30 days.",
    "hours": "We are open 9am to 5pm.",
    "greeting": "Hello there!",
    "json_out": '{"ok": true}',
}


def _recordings(answers: Mapping[str, str]) -> str:
    return "".join(f"{k}: {json.dumps(v)}\n" for k, v in answers.items())


def _git(repo: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
        "GIT_CONFIG_GLOBAL": os.devnull,
    }
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True, env=env
    ).stdout.strip()


def _write(repo: Path, files: Mapping[str, str | None]) -> None:
    for rel, text in files.items():
        path = repo / rel
        if text is None:
            path.unlink()
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def base_files(**over: str | None) -> dict[str, str | None]:
    files: dict[str, str | None] = {
        "evalgate.yaml": CONFIG.format(model="gpt-4o-2024-08-06"),
        "config.yaml": "ai:\n  model: gpt-4o-2024-08-06  # production pin\n  temperature: 0\n",
        "prompts/answer.md": "Answer the customer question about {{ q }}.\n",
        "evals/support.yaml": SUITE,
        "recordings.yaml": _recordings(GOOD),
    }
    files.update(over)
    return files


@dataclass
class Workspace:
    repo: Path
    base: str
    head: str
    tmp: Path

    def event(self, name: str = "pull_request") -> Path:
        path = self.tmp / f"event-{name}.json"
        repo = {"full_name": "octo/repo"}
        payload: dict[str, Any] = {
            "pull_request": {
                "number": PR,
                "head": {"sha": self.head, "repo": repo},
                "base": {"sha": self.base, "repo": repo},
            }
        }
        if name == "push":
            payload = {"after": self.head}
        if name == "workflow_run":
            # what GitHub writes for the report stage: its own facts, with no pull request for a fork
            run = {"head_sha": self.head, "event": "pull_request", "conclusion": "success"}
            payload = {
                "workflow_run": run | {"pull_requests": [], "head_repository": {"full_name": "fork/repo"}}
            }
        path.write_text(json.dumps(payload))
        return path


def make_workspace(tmp: Path, base: Mapping[str, str | None], head: Mapping[str, str | None]) -> Workspace:
    repo = tmp / "workspace"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    _write(repo, base)
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "base")
    base_sha = _git(repo, "rev-parse", "HEAD")
    _write(repo, head)
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "head")
    return Workspace(repo, base_sha, _git(repo, "rev-parse", "HEAD"), tmp)


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str
    outputs: dict[str, str]
    summary: str


def _outputs(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    lines = path.read_text().splitlines() if path.exists() else []
    i = 0
    while i < len(lines):
        name, delim = lines[i].split("<<", 1)
        end = lines.index(delim, i + 1)
        out[name] = "\n".join(lines[i + 1 : end])
        i = end + 1
    return out


def run_action(
    ws: Workspace,
    gh: FakeGitHubServer | None,
    *,
    event: str = "pull_request",
    env_extra: Mapping[str, str] | None = None,
    **inputs: str,
) -> Result:
    output, summary = ws.tmp / "output.txt", ws.tmp / "summary.md"
    output.write_text("")
    summary.write_text("")
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(ws.tmp / "home"),
        "GIT_CONFIG_GLOBAL": str(ws.tmp / "gitconfig"),
        "GITHUB_ACTIONS": "true",
        "GITHUB_WORKSPACE": str(ws.repo),
        "RUNNER_TEMP": str(ws.tmp / "runner-temp"),  # where the Action keeps its caches
        "GITHUB_EVENT_NAME": event,
        "GITHUB_EVENT_PATH": str(ws.event(event)),
        "GITHUB_SHA": "f" * 40,  # the test merge commit: statuses must never target it
        "GITHUB_REPOSITORY": "octo/repo",
        "GITHUB_SERVER_URL": "https://github.example",
        "GITHUB_API_URL": gh.url if gh else "http://127.0.0.1:9",
        "GITHUB_RUN_ID": "4242",
        "GITHUB_OUTPUT": str(output),
        "GITHUB_STEP_SUMMARY": str(summary),
        "INPUT_CONFIG": "evalgate.yaml",
        "INPUT_GITHUB-TOKEN": "test-token",
        "INPUT_COMMENT": "true",
        "INPUT_STATUS-CONTEXT": "ai-eval-gate",
        "INPUT_BASELINE": "auto",
        "INPUT_FAIL-ON-MIXED-CHANGE": "true",
        "INPUT_WORKING-DIRECTORY": ".",
        "PYTHONPATH": str(ROOT),
    }
    for key, value in inputs.items():
        env[f"INPUT_{key.upper().replace('_', '-')}"] = value
    env.update(env_extra or {})
    proc = subprocess.run(
        [sys.executable, str(ENTRYPOINT)], cwd=ws.repo, env=env, capture_output=True, text=True, timeout=120
    )
    return Result(proc.returncode, proc.stdout, proc.stderr, _outputs(output), summary.read_text())


@pytest.fixture
def github() -> Iterator[FakeGitHubServer]:
    with FakeGitHubServer("octo/repo", token="test-token") as server:
        yield server


def _pull(gh: FakeGitHubServer, ws: Workspace, files: list[ChangedFile | str]) -> None:
    gh.add_pull(PR, ws.head, ws.base, files=files)


def _latest(gh: FakeGitHubServer, sha: str, context: str) -> dict[str, Any]:
    matching = [s for s in gh.statuses(sha) if s["context"] == context]
    assert matching, f"no {context} status on {sha}: {gh.statuses(sha)}"
    return matching[-1]


def test_first_run_posts_one_comment_and_statuses_on_the_head_sha(
    tmp_path: Path, github: FakeGitHubServer
) -> None:
    ws = make_workspace(tmp_path, base_files(), {"README.md": "docs only\n"})
    _pull(github, ws, ["README.md"])
    result = run_action(ws, github)
    assert result.code == 0, result.stdout + result.stderr
    comments = github.comments(PR)
    assert len(comments) == 1
    assert comments[0]["body"].startswith("<!-- ai-eval-gate:evalgate.yaml -->")
    assert "100.0%" in comments[0]["body"]
    assert github.statuses("f" * 40) == []
    contexts = [s["context"] for s in github.statuses(ws.head)]
    assert contexts[0] == "ai-eval-gate/eval"
    assert github.statuses(ws.head)[0]["state"] == "pending"
    final = _latest(github, ws.head, "ai-eval-gate/eval")
    assert final["state"] == "success"
    assert final["description"].startswith("100.0% (4/4) ≥ 85%") or final["description"].startswith(
        "100.0% (4/4)"
    )
    assert len(final["description"]) <= 140
    assert final["target_url"] == "https://github.example/octo/repo/actions/runs/4242"
    assert _latest(github, ws.head, "ai-eval-gate/policy")["state"] == "success"
    assert result.outputs["gate"] == "passed"
    assert result.outputs["pass-rate"] == "1.0000"
    assert result.outputs["comment-url"].startswith("http")
    assert (ws.repo / result.outputs["report"]).is_file()
    assert "AI eval gate" in result.summary


def test_reruns_edit_the_same_comment(tmp_path: Path, github: FakeGitHubServer) -> None:
    ws = make_workspace(tmp_path, base_files(), {"README.md": "x\n"})
    _pull(github, ws, ["README.md"])
    for _ in range(3):
        assert run_action(ws, github).code == 0
    assert len(github.comments(PR)) == 1


def test_finds_its_comment_among_150_others(tmp_path: Path, github: FakeGitHubServer) -> None:
    ws = make_workspace(tmp_path, base_files(), {"README.md": "x\n"})
    _pull(github, ws, ["README.md"])
    github.add_comments(PR, [f"review note {i}" for i in range(70)], user="reviewer")
    run_action(ws, github)
    github.add_comments(PR, [f"later note {i}" for i in range(80)], user="reviewer")
    run_action(ws, github)
    ours = [c for c in github.comments(PR) if c["body"].startswith("<!-- ai-eval-gate:")]
    assert len(ours) == 1
    assert len(github.comments(PR)) == 151


def test_fork_token_degrades_to_warnings_but_keeps_the_result(tmp_path: Path) -> None:
    failing = _recordings({**GOOD, "refund": "No refunds.", "hours": "Unknown."})
    ws = make_workspace(tmp_path, base_files(), {"recordings.yaml": failing})
    with FakeGitHubServer("octo/repo", token="test-token", read_only=True) as gh:
        _pull(gh, ws, ["recordings.yaml"])
        result = run_action(ws, gh)
        assert gh.comments(PR) == []
    assert result.code == 1
    assert "::warning::" in result.stdout
    assert "Resource not accessible by integration" in result.stdout
    assert result.outputs["gate"] == "failed"
    assert "refund" in result.summary


def test_mixed_prompt_and_pin_change_fails_the_policy_and_the_gate(
    tmp_path: Path, github: FakeGitHubServer
) -> None:
    head = {
        "prompts/answer.md": "Answer briefly the question about {{ q }}.\n",
        "config.yaml": "ai:\n  model: gpt-4o-2024-11-20  # production pin\n  temperature: 0\n",
    }
    ws = make_workspace(tmp_path, base_files(), head)
    _pull(github, ws, ["prompts/answer.md", "config.yaml"])
    result = run_action(ws, github)
    assert result.code == 1
    policy = _latest(github, ws.head, "ai-eval-gate/policy")
    assert policy["state"] == "failure"
    assert "gpt-4o-2024-08-06 → gpt-4o-2024-11-20" in policy["description"]
    assert _latest(github, ws.head, "ai-eval-gate/eval")["state"] == "failure"
    body = github.comments(PR)[0]["body"]
    assert "prompts/answer.md" in body
    assert "ai.model" in body
    assert result.outputs["changed-prompts"] == "prompts/answer.md"
    assert "config.yaml#ai.model: gpt-4o-2024-08-06 → gpt-4o-2024-11-20" in result.outputs["changed-pins"]


def test_mixed_change_is_reported_but_not_fatal_when_allowed(
    tmp_path: Path, github: FakeGitHubServer
) -> None:
    head = {
        "prompts/answer.md": "Answer briefly the question about {{ q }}.\n",
        "config.yaml": "ai:\n  model: gpt-4o-2024-11-20\n  temperature: 0\n",
    }
    ws = make_workspace(tmp_path, base_files(), head)
    _pull(github, ws, ["prompts/answer.md", "config.yaml"])
    result = run_action(ws, github, fail_on_mixed_change="false")
    assert result.code == 0
    assert _latest(github, ws.head, "ai-eval-gate/policy")["state"] == "failure"


def test_pin_only_change(tmp_path: Path, github: FakeGitHubServer) -> None:
    ws = make_workspace(
        tmp_path, base_files(), {"config.yaml": "ai:\n  model: gpt-4o-2024-11-20\n  temperature: 0\n"}
    )
    _pull(github, ws, ["config.yaml"])
    result = run_action(ws, github)
    assert result.code == 0
    policy = _latest(github, ws.head, "ai-eval-gate/policy")
    assert (policy["state"], policy["description"].split(":")[0]) == ("success", "pin-only")


def test_reformatting_the_pin_file_is_not_a_pin_change(tmp_path: Path, github: FakeGitHubServer) -> None:
    head = {
        "config.yaml": "# deployment config\nai: {temperature: 0, model: gpt-4o-2024-08-06}\n",
        "prompts/answer.md": "Answer the customer's question about {{ q }}.\n",
    }
    ws = make_workspace(tmp_path, base_files(), head)
    _pull(github, ws, ["config.yaml", "prompts/answer.md"])
    result = run_action(ws, github)
    assert result.code == 0
    assert _latest(github, ws.head, "ai-eval-gate/policy")["description"].startswith("prompt-only")


def test_rename_into_prompts_counts_as_a_prompt_change(tmp_path: Path, github: FakeGitHubServer) -> None:
    text = "A long shared system preamble that is moved, not rewritten.\n" * 5
    ws = make_workspace(
        tmp_path,
        base_files(**{"drafts/preamble.md": text}),
        {"drafts/preamble.md": None, "prompts/preamble.md": text},
    )
    _pull(github, ws, [ChangedFile("prompts/preamble.md", "renamed", "drafts/preamble.md")])
    result = run_action(ws, github)
    assert result.code == 0
    assert "drafts/preamble.md → prompts/preamble.md" in result.outputs["changed-prompts"]


def test_hostile_model_output_is_escaped_in_the_comment(tmp_path: Path, github: FakeGitHubServer) -> None:
    hostile = (
        "<!-- ai-eval-gate:evalgate.yaml --> | @octocat </details> <img src=x onerror=alert(1)> "
        "::error::pwned\n# H"
    )
    ws = make_workspace(tmp_path, base_files(), {"recordings.yaml": _recordings({**GOOD, "refund": hostile})})
    _pull(github, ws, ["recordings.yaml"])
    result = run_action(ws, github)
    body = github.comments(PR)[0]["body"]
    assert body.startswith("<!-- ai-eval-gate:evalgate.yaml -->\n")
    # the answer is shown as written, inside code, where GitHub renders it as text
    html = MarkdownIt("gfm-like", {"html": True}).render(body)
    assert html.count("<!--") == 1
    assert "<img" not in html
    assert "@octocat" not in re.sub(r"<code[^>]*>.*?</code>", "", html, flags=re.DOTALL)
    assert "::error::pwned" not in result.stdout  # never a live workflow command in the log


def test_huge_failing_output_keeps_the_comment_under_the_limit(
    tmp_path: Path, github: FakeGitHubServer
) -> None:
    cases = "cases:\n" + "".join(
        f"  - {{id: big_{i:03d}, input: 'q{i}', checks: [{{type: contains, value: nope}}]}}\n"
        for i in range(400)
    )
    answers = {f"big_{i:03d}": "x" * 300 for i in range(400)}
    ws = make_workspace(
        tmp_path, base_files(), {"evals/support.yaml": cases, "recordings.yaml": _recordings(answers)}
    )
    _pull(github, ws, ["evals/support.yaml", "recordings.yaml"])
    result = run_action(ws, github, baseline="none")
    assert result.code == 1
    body = github.comments(PR)[0]["body"]
    assert len(body) <= 65_536
    assert "more failing cases" in body


def test_flaky_github_writes_are_retried(tmp_path: Path, github: FakeGitHubServer) -> None:
    ws = make_workspace(tmp_path, base_files(), {"README.md": "x\n"})
    _pull(github, ws, ["README.md"])
    github.fail_next("POST", "/statuses/", 502)
    github.fail_next("POST", "/comments", 502)
    result = run_action(ws, github)
    assert result.code == 0
    assert len(github.comments(PR)) == 1
    assert _latest(github, ws.head, "ai-eval-gate/eval")["state"] == "success"


def test_new_failures_vs_base_are_named(tmp_path: Path, github: FakeGitHubServer) -> None:
    head = {"recordings.yaml": _recordings({**GOOD, "hours": "Call us."})}
    ws = make_workspace(tmp_path, base_files(), head)
    _pull(github, ws, ["recordings.yaml"])
    result = run_action(ws, github)
    assert result.code == 0  # 3/4 meets 75%
    final = _latest(github, ws.head, "ai-eval-gate/eval")
    assert "1 new failure vs base" in final["description"]
    assert "Newly failing" in github.comments(PR)[0]["body"]
    # the HTML report sits next to the JSON one, with the base's answer beside the new one
    assert result.outputs["html-report"] == ".evalgate/report.html"
    page = (ws.repo / result.outputs["html-report"]).read_text()
    assert "Call us." in page
    assert "On the base <span class=muted>· passed</span>" in page


def test_push_sets_a_status_without_commenting(tmp_path: Path, github: FakeGitHubServer) -> None:
    ws = make_workspace(tmp_path, base_files(), {"README.md": "x\n"})
    result = run_action(ws, github, event="push")
    assert result.code == 0
    assert github.comments(PR) == []
    assert _latest(github, "f" * 40, "ai-eval-gate/eval")["state"] == "success"


def test_bad_config_exits_2_with_an_error_annotation(tmp_path: Path, github: FakeGitHubServer) -> None:
    ws = make_workspace(tmp_path, base_files(), {"evalgate.yaml": "model: {provider: replay}\n"})
    _pull(github, ws, ["evalgate.yaml"])
    result = run_action(ws, github)
    assert result.code == 2
    assert "::error::evalgate: evalgate.yaml:1" in result.stdout
    assert _latest(github, ws.head, "ai-eval-gate/eval")["state"] in ("failure", "error")
    assert "could not run" in result.summary


def _dead_provider_config() -> str:
    dead = CONFIG.format(model="gpt-4o-2024-08-06").replace(
        "  provider: replay\n", "  provider: openai\n  base_url: http://127.0.0.1:9/v1\n  max_attempts: 1\n"
    )
    dead = dead.replace("  responses: recordings.yaml\n", "")
    return dead + "runner: {max_consecutive_failures: 2, concurrency: 1}\n"


def test_a_provider_that_is_down_stops_the_run_and_says_so_in_the_status(
    tmp_path: Path, github: FakeGitHubServer
) -> None:
    ws = make_workspace(
        tmp_path, base_files(**{"evalgate.yaml": _dead_provider_config()}), {"README.md": "x\n"}
    )
    result = run_action(ws, github, event="push", env_extra={"OPENAI_API_KEY": "k"})
    assert result.code == 3, result.stdout + result.stderr
    status = _latest(github, "f" * 40, "ai-eval-gate/eval")
    assert status["state"] == "error"
    assert status["description"] == "evalgate could not run: openai gpt-4o-2024-08-06 failed 2 calls in a row"
    report = json.loads((ws.repo / ".evalgate" / "report.json").read_text())
    assert report["incomplete"] is True
    assert report["planned_cases"] == 4
    assert len(report["cases"]) < 4
    assert report["gate"]["passed"] is False


def test_every_case_in_error_is_an_error_status_and_exit_3_not_a_failed_gate(
    tmp_path: Path, github: FakeGitHubServer
) -> None:
    """Four cases at concurrency 8 all fail together, under the breaker's limit: a broken setup still."""
    config = (
        _dead_provider_config()
        .replace("concurrency: 1}", "concurrency: 8}")
        .replace("max_consecutive_failures: 2", "max_consecutive_failures: 10")
    )
    ws = make_workspace(tmp_path, base_files(**{"evalgate.yaml": config}), {"README.md": "x\n"})
    result = run_action(ws, github, event="push", env_extra={"OPENAI_API_KEY": "k"})
    assert result.code == 3, result.stdout + result.stderr
    status = _latest(github, "f" * 40, "ai-eval-gate/eval")
    assert status["state"] == "error"
    assert status["description"].startswith("no case got a model answer; first: openai gpt-4o-2024-08-06")
    assert len(status["description"]) <= 140
    report = json.loads((ws.repo / ".evalgate" / "report.json").read_text())
    assert not report.get("incomplete")
    assert [c["status"] for c in report["cases"]] == ["error"] * 4
    assert result.outputs["gate"] == "failed"


def test_a_baseline_run_stopped_by_its_provider_leaves_no_report_as_the_pr_s(
    tmp_path: Path, github: FakeGitHubServer
) -> None:
    ws = make_workspace(
        tmp_path, base_files(**{"evalgate.yaml": _dead_provider_config()}), {"README.md": "x\n"}
    )
    _pull(github, ws, ["README.md"])
    result = run_action(ws, github, env_extra={"OPENAI_API_KEY": "k"})
    assert result.code == 3, result.stdout + result.stderr
    assert "the baseline run of the base commit" in result.stdout
    status = _latest(github, ws.head, "ai-eval-gate/eval")
    assert status["state"] == "error"
    assert status["description"] == "evalgate could not run: openai gpt-4o-2024-08-06 failed 2 calls in a row"
    assert not (ws.repo / ".evalgate" / "report.json").exists()  # the base's partial run is not this PR's


def test_bad_boolean_input_is_a_usage_error(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path, base_files(), {"README.md": "x\n"})
    result = run_action(ws, None, comment="yes")
    assert result.code == 2
    assert "input 'comment' must be true or false" in result.stdout


def test_fork_safe_second_stage_publishes_saved_results(tmp_path: Path, github: FakeGitHubServer) -> None:
    ws = make_workspace(tmp_path, base_files(), {"README.md": "x\n"})
    _pull(github, ws, ["README.md"])
    first = run_action(ws, None, comment="false", github_token="")  # stage 1: no token at all
    saved = tmp_path / "results.json"
    saved.write_text((ws.repo / first.outputs["report"]).read_text())
    event = ws.event()
    result = run_action(
        ws,
        github,
        event="workflow_run",
        results=str(saved),
        event_file=str(event),
        event_name="pull_request",
        commit=ws.head,
        baseline="none",
    )
    assert result.code == 0
    assert len(github.comments(PR)) == 1
    assert _latest(github, ws.head, "ai-eval-gate/eval")["state"] == "success"


def test_baseline_run_shares_the_response_cache(tmp_path: Path, github: FakeGitHubServer) -> None:
    with FakeModelServer(lambda body: 'Refunds within 30 days; open 9am; hello; {"ok": 1}') as models:
        live = (
            CONFIG.format(model="gpt-4o-2024-08-06")
            .replace("  provider: replay\n", f"  provider: openai\n  base_url: {models.openai_base_url}\n")
            .replace("  responses: recordings.yaml\n", "")
        )
        ws = make_workspace(tmp_path, base_files(**{"evalgate.yaml": live}), {"README.md": "x\n"})
        _pull(github, ws, ["README.md"])
        result = run_action(ws, github)
        assert result.code == 0, result.stdout
        # head and base render the same prompts: the base run is answered from the cache
        assert len(models.requests) == 4


def test_second_stage_refuses_an_event_for_another_commit(tmp_path: Path, github: FakeGitHubServer) -> None:
    ws = make_workspace(tmp_path, base_files(), {"README.md": "x\n"})
    _pull(github, ws, ["README.md"])
    first = run_action(ws, None, comment="false", github_token="")
    result = run_action(
        ws,
        github,
        event="workflow_run",
        results=str(ws.repo / first.outputs["report"]),
        event_file=str(ws.event()),
        event_name="pull_request",
        commit=ws.base,
        baseline="none",
    )
    assert result.code == 2
    assert "is not the workflow run's head" in result.stdout
    assert github.comments(PR) == []


def test_the_base_comparison_names_a_model_identity_change(tmp_path: Path, github: FakeGitHubServer) -> None:
    # a pin-only PR: the same answers from another model; the comment says who answers now
    head = {"evalgate.yaml": CONFIG.format(model="gpt-4o-2024-11-20")}
    ws = make_workspace(tmp_path, base_files(), head)
    _pull(github, ws, ["evalgate.yaml"])
    result = run_action(ws, github)
    assert result.code == 0
    body = github.comments(PR)[0]["body"]
    assert "score vs base +0.0 pt [+0.0, +0.0] (95% CI, 4 paired cases)" in body
    assert "model identity changed on 4 cases: gpt-4o-2024-08-06 → gpt-4o-2024-11-20" in body
