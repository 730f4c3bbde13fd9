"""The fork-safe report stage (``workflow_run``) trusts nothing the fork's run produced: entrypoint.py as a
subprocess over real git, against the loopback GitHub and model fakes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from evalgate.testing import FakeGitHubServer, FakeModelServer, prompt_of
from tests.test_action_entrypoint import (
    CONFIG,
    PR,
    Workspace,
    _git,
    _latest,
    base_files,
    make_workspace,
    run_action,
)

SUITE_NAMING_OS = "cases:\n  - {id: x, input: hi, checks: [{type: python, function: 'os:getcwd'}]}\n"
SUITE_WITH_JS = "cases:\n  - {id: x, input: hi, checks: [{type: javascript, value: 'output.length > 0'}]}\n"
SUITE_WITH_TRANSFORM = (
    "cases:\n  - {id: x, input: hi, transform: 'output.toUpperCase()',"
    " checks: [{type: contains, value: HI}]}\n"
)
SUITE_WITH_TRANSFORM_VARS = (
    "cases:\n  - {id: x, prompt: answer, vars: {q: hours}, transform_vars: '({q: process.env.HOME})',"
    " checks: [{type: contains, value: open}]}\n"
)
MAINTAINER = "needs a maintainer: the PR changes code the eval runs"


def _answer(body: dict[str, Any]) -> str:
    """A model that answers well, unless the prompt tells it to ignore the question."""
    prompt = prompt_of(body)
    if "IGNORE" in prompt:
        return "I will not help with that."
    if "refunds" in prompt:
        return "Refunds are accepted within 30 days."
    if "hours" in prompt:
        return "We are open 9am to 5pm."
    if "hello" in prompt.lower():
        return "Hello there!"
    return '{"ok": true}'


@pytest.fixture
def models() -> Iterator[FakeModelServer]:
    with FakeModelServer(_answer) as server:
        yield server


@pytest.fixture
def github() -> Iterator[FakeGitHubServer]:
    with FakeGitHubServer("octo/repo", token="test-token") as server:
        yield server


def live_files(models: FakeModelServer, **over: str | None) -> dict[str, str | None]:
    config = (
        CONFIG.format(model="gpt-4o-2024-08-06")
        .replace("  provider: replay\n", f"  provider: openai\n  base_url: {models.openai_base_url}\n")
        .replace("  responses: recordings.yaml\n", "")
    )
    return base_files(**{"evalgate.yaml": config, **over})


BAD_PROMPT = {"prompts/answer.md": "IGNORE the customer's question about {{ q }}.\n"}


def _stage2(ws: Workspace, gh: FakeGitHubServer, **inputs: str) -> Any:
    return run_action(ws, gh, event="workflow_run", **inputs)


def test_forged_fork_results_are_never_published(
    tmp_path: Path, github: FakeGitHubServer, models: FakeModelServer
) -> None:
    # attack 1: stage 2 used to copy gate.passed and pass_rate from the uploaded results JSON
    ws = make_workspace(tmp_path, live_files(models), BAD_PROMPT)
    github.add_pull(PR, ws.head, ws.base, ["prompts/answer.md"], head_repo="fork/repo")
    forged = tmp_path / "results.json"
    first = run_action(ws, None, comment="false", github_token="", baseline="none")
    data = json.loads((ws.repo / first.outputs["report"]).read_text())
    assert first.code == 1  # the fork's own run fails: 2 of 4 cases
    # what stage 2 used to copy: gate.passed and pass_rate (the cases still say they failed)
    data["gate"] = {"passed": True, "reasons": []}
    data["pass_rate"] = 1.0
    forged.write_text(json.dumps(data))
    result = _stage2(
        ws, github, results=str(forged), event_file=str(ws.event()), event_name="pull_request", commit=ws.head
    )
    assert result.code == 1, result.stdout + result.stderr
    status = _latest(github, ws.head, "ai-eval-gate/eval")
    assert status["state"] == "failure"
    assert status["description"].startswith("50.0% (2/4) < 75%")
    assert "ignoring the input(s) results, event-file, event-name" in result.stdout
    body = github.comments(PR)[0]["body"]
    assert "base commit's code and config" in body


def test_forged_event_cannot_redirect_the_comment_or_hide_a_mixed_change(
    tmp_path: Path, github: FakeGitHubServer, models: FakeModelServer
) -> None:
    # attack 2: the uploaded event file named another PR and claimed base == head
    head = {
        "prompts/answer.md": "Answer briefly the customer question about {{ q }}.\n",
        "config.yaml": "ai:\n  model: gpt-4o-2024-11-20  # production pin\n  temperature: 0\n",
    }
    ws = make_workspace(tmp_path, live_files(models), head)
    github.add_pull(PR, ws.head, ws.base, ["prompts/answer.md", "config.yaml"], head_repo="fork/repo")
    github.add_pull(99, "e" * 40, ws.base, ["README.md"])
    forged = tmp_path / "forged-event.json"
    pull = {"number": 99, "head": {"sha": ws.head}, "base": {"sha": ws.head}}
    forged.write_text(json.dumps({"pull_request": pull}))
    result = _stage2(ws, github, event_file=str(forged), event_name="pull_request", commit=ws.head)
    assert github.comments(99) == []
    assert len(github.comments(PR)) == 1
    policy = _latest(github, ws.head, "ai-eval-gate/policy")
    assert policy["state"] == "failure"
    assert policy["description"].startswith("mixed:")
    assert result.code == 1


def test_report_stage_evaluates_a_data_only_pr_without_any_artifact(
    tmp_path: Path, github: FakeGitHubServer, models: FakeModelServer
) -> None:
    new_case = "  - id: late\n    input: 'Say hello late'\n    checks: [{type: icontains, value: hello}]\n"
    suite = base_files()["evals/support.yaml"]
    assert suite is not None
    ws = make_workspace(tmp_path, live_files(models), {"evals/support.yaml": suite + new_case})
    github.add_pull(PR, ws.head, ws.base, ["evals/support.yaml"], head_repo="fork/repo")
    result = _stage2(ws, github)
    assert result.code == 0, result.stdout + result.stderr
    assert _latest(github, ws.head, "ai-eval-gate/eval")["description"].startswith("100.0% (5/5)")
    # a PR for another commit, or one whose head moved on, gets nothing
    github.set_head(PR, "d" * 40)
    again = _stage2(ws, github)
    assert again.code == 2
    assert "no open pull request has" in again.stdout


@pytest.mark.parametrize(
    ("changed", "why"),
    [
        ({"evalgate.yaml": None}, "the eval config"),
        ({"checks_extra.py": "def ok(response):\n    return True\n"}, "repository code"),
        ({"evals/support.yaml": SUITE_NAMING_OS}, "python check os:getcwd"),
        ({"evals/support.yaml": SUITE_WITH_JS}, "javascript check output.length"),
        ({"evals/support.yaml": SUITE_WITH_TRANSFORM}, "transform output.toUpperCase()"),
        ({"evals/support.yaml": SUITE_WITH_TRANSFORM_VARS}, "transform\\_vars ({q: process.env.HOME})"),
        ({"evals/support.yaml": "cases: ['file:///proc/self/environ']\n"}, "outside the repository"),
    ],
)
def test_code_changes_need_a_maintainer_until_the_trusted_label(
    tmp_path: Path,
    github: FakeGitHubServer,
    models: FakeModelServer,
    changed: dict[str, str | None],
    why: str,
) -> None:
    files = live_files(models)
    if "checks_extra.py" in changed:
        # a repository whose suites already run its own Python code
        suite = files["evals/support.yaml"]
        assert suite is not None
        files["evals/support.yaml"] = (
            suite + "  - {id: py, input: hi, checks: [{type: python, function: 'mychecks:ok'}]}\n"
        )
        files["evals/mychecks.py"] = "def ok(response):\n    return True\n"
    if changed.get("evalgate.yaml", "") is None:
        config = files["evalgate.yaml"]
        assert config is not None
        changed = {"evalgate.yaml": config.replace("threshold: 0.75", "threshold: 0.5")}
    ws = make_workspace(tmp_path, files, changed)
    github.add_pull(PR, ws.head, ws.base, list(changed), head_repo="fork/repo")
    github.add_run(ws.head, at="2026-01-01T10:00:00Z")  # the push of the head
    before = len(models.requests)
    result = _stage2(ws, github)
    assert result.code == 1, result.stdout + result.stderr
    assert len(models.requests) == before  # nothing was evaluated with the secrets
    for context in ("ai-eval-gate/eval", "ai-eval-gate/policy"):
        status = _latest(github, ws.head, context)
        assert (status["state"], status["description"]) == ("failure", MAINTAINER)
    body = github.comments(PR)[0]["body"]
    assert MAINTAINER in body
    assert why in body
    assert "evalgate:trusted" in body
    github.add_labels(PR, "evalgate:trusted", at="2026-01-01T11:00:00Z")
    trusted = _stage2(ws, github)
    assert "carries 'evalgate:trusted'" in trusted.stdout
    if why != "outside the repository":  # (that suite itself is refused when it loads)
        # evaluated in full: the base's and the head's worktrees each load their own modules of one name
        assert trusted.code in (0, 1), trusted.stdout + trusted.stderr
    assert _latest(github, ws.head, "ai-eval-gate/eval")["description"] != MAINTAINER
    assert len(github.comments(PR)) == 1


def test_a_prompt_template_cannot_reach_python(
    tmp_path: Path, github: FakeGitHubServer, models: FakeModelServer
) -> None:
    evil = {"prompts/answer.md": "{{ ''.__class__.__mro__[1].__subclasses__() }} {{ q }}\n"}
    ws = make_workspace(tmp_path, live_files(models), evil)
    github.add_pull(PR, ws.head, ws.base, ["prompts/answer.md"], head_repo="fork/repo")
    result = _stage2(ws, github)
    assert result.code == 2
    assert "unsafe" in result.stdout or "access to attribute" in result.stdout
    assert not any(
        "subclasses" in prompt_of(r.json) or "<class" in prompt_of(r.json) for r in models.requests
    )


def test_the_trusted_label_vouches_only_for_commits_pushed_before_it(
    tmp_path: Path, github: FakeGitHubServer, models: FakeModelServer
) -> None:
    config = live_files(models)["evalgate.yaml"]
    assert config is not None
    ws = make_workspace(tmp_path, live_files(models), {"evalgate.yaml": config.replace("0.75", "0.7")})
    github.add_pull(PR, ws.head, ws.base, ["evalgate.yaml"], head_repo="fork/repo")
    github.add_run(ws.head, at="2026-01-01T10:00:00Z")
    github.add_labels(PR, "evalgate:trusted", at="2026-01-01T11:00:00Z")  # a maintainer read this commit
    assert _latest_description(github, ws, _stage2(ws, github)) != MAINTAINER
    # the fork pushes again after the label: the label is still on the PR, but vouches for nothing new
    (ws.repo / "evalgate.yaml").write_text(config.replace("0.75", "0.0"))
    _git(ws.repo, "commit", "-qam", "after the label")
    ws.head = _git(ws.repo, "rev-parse", "HEAD")
    github.set_head(PR, ws.head)
    github.add_run(ws.head, at="2026-01-01T12:00:00Z")
    later = _stage2(ws, github)
    assert _latest_description(github, ws, later) == MAINTAINER
    assert "was added before" in github.comments(PR)[0]["body"]
    github.add_labels(PR, "evalgate:trusted", at="2026-01-01T13:00:00Z")  # read again, labelled again
    assert _latest_description(github, ws, _stage2(ws, github)) != MAINTAINER
    github.add_event(PR, "head_ref_force_pushed", at="2026-01-01T14:00:00Z")
    assert _latest_description(github, ws, _stage2(ws, github)) == MAINTAINER


def _latest_description(github: FakeGitHubServer, ws: Workspace, result: Any) -> str:
    assert result.code in (0, 1), result.stdout + result.stderr
    return str(_latest(github, ws.head, "ai-eval-gate/eval")["description"])
