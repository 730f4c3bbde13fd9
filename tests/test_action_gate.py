"""The bar comes from the base commit: attacks that weaken the gate in the PR itself, owners' approval and
the review date, through entrypoint.py as a subprocess over real git against the loopback GitHub fake."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from evalgate.evaluation import RunOptions, execute, load_project
from evalgate.testing import FakeGitHubServer, FakeModelServer
from tests.test_action_entrypoint import (
    CONFIG,
    GOOD,
    PR,
    SUITE,
    Workspace,
    _latest,
    _recordings,
    base_files,
    make_workspace,
    run_action,
)

BAD = {k: "I do not know." for k in GOOD}
OWNED = CONFIG.format(model="gpt-4o-2024-08-06").replace(
    "  threshold: 0.75\n", "  threshold: 0.75\n  owners: [alice, carol]\n"
)


@pytest.fixture
def github() -> Iterator[FakeGitHubServer]:
    with FakeGitHubServer("octo/repo", token="test-token") as server:
        yield server


def _pr(gh: FakeGitHubServer, ws: Workspace, *files: str) -> None:
    gh.add_pull(PR, ws.head, ws.base, list(files))


def test_a_lowered_threshold_in_the_pr_is_not_the_bar(tmp_path: Path, github: FakeGitHubServer) -> None:
    # attack 3a: the PR set threshold: 0.0 and passed with 0.0% (0/4) ≥ 0%
    head = {
        "evalgate.yaml": CONFIG.format(model="gpt-4o-2024-08-06").replace("0.75", "0.0"),
        "recordings.yaml": _recordings(BAD),
    }
    ws = make_workspace(tmp_path, base_files(), head)
    _pr(github, ws, "evalgate.yaml", "recordings.yaml")
    result = run_action(ws, github, baseline="none")
    assert result.code == 1, result.stdout
    assert _latest(github, ws.head, "ai-eval-gate/eval")["description"].startswith("0.0% (0/4) < 75%")
    policy = _latest(github, ws.head, "ai-eval-gate/policy")
    assert policy["state"] == "failure"
    assert policy["description"].startswith("gate change (1 item) needs an owner's approval")
    body = github.comments(PR)[0]["body"]
    assert "Gate changes: ❌ needs an owner's approval" in body
    assert "| `gate.threshold` | `0.75` | `0.0` |" in body


def test_emptied_policy_does_not_hide_a_mixed_change_to_an_unpinned_model(
    tmp_path: Path, github: FakeGitHubServer
) -> None:
    # attack 3b: the PR emptied policy.prompt_paths and model_pins while changing a prompt and the pin
    config = CONFIG.format(model="gpt-4o-2024-08-06")
    config = config.replace('  prompt_paths: ["prompts/**"]\n', "  prompt_paths: []\n")
    config = config.replace(
        '  model_pins: ["evalgate.yaml#model.name", "config.yaml#ai.model"]\n', "  model_pins: []\n"
    )
    head = {
        "evalgate.yaml": config,
        "prompts/answer.md": "Answer briefly the customer question about {{ q }}.\n",
        "config.yaml": "ai:\n  model: gpt-4o\n  temperature: 0\n",
    }
    ws = make_workspace(tmp_path, base_files(), head)
    _pr(github, ws, *head)
    result = run_action(ws, github, baseline="none")
    assert result.code == 1
    policy = _latest(github, ws.head, "ai-eval-gate/policy")
    assert policy["state"] == "failure"
    assert policy["description"].startswith("mixed:")
    body = github.comments(PR)[0]["body"]
    assert "`policy.prompt_paths`" in body
    assert "without a version" in body
    assert result.outputs["changed-prompts"] == "prompts/answer.md"


def test_deleting_a_failing_required_case_is_a_gate_change(tmp_path: Path, github: FakeGitHubServer) -> None:
    # attack 3c: the PR deleted a failing `required: true` case and the comment only said "1 removed"
    suite = SUITE.replace("    vars: {q: refunds}\n", "    vars: {q: refunds}\n    required: true\n")
    base = base_files(
        **{"evals/support.yaml": suite, "recordings.yaml": _recordings({**GOOD, "refund": "No."})}
    )
    without_refund = "cases:\n" + suite.split("  - id: hours\n", 1)[1]
    ws = make_workspace(
        tmp_path, base, {"evals/support.yaml": "cases:\n  - id: hours\n" + without_refund[7:]}
    )
    _pr(github, ws, "evals/support.yaml")
    result = run_action(ws, github, baseline="none")
    assert result.code == 1, result.stdout
    assert _latest(github, ws.head, "ai-eval-gate/policy")["state"] == "failure"
    eval_status = _latest(github, ws.head, "ai-eval-gate/eval")
    assert eval_status["state"] == "failure"
    assert eval_status["description"].endswith("· unapproved gate change")
    body = github.comments(PR)[0]["body"]
    assert (
        f"case [refund](https://github.example/octo/repo/blob/{ws.base}/evals/support.yaml#L2) — deleted"
        in body
    )
    assert "`required case`" in body


def test_a_loosened_check_is_listed_and_the_base_check_still_applies(
    tmp_path: Path, github: FakeGitHubServer
) -> None:
    suite = SUITE.replace('{type: icontains, value: "9am"}', "{type: max_words, value: 3}")
    ws = make_workspace(
        tmp_path,
        base_files(**{"evals/support.yaml": suite}),
        {"evals/support.yaml": suite.replace("value: 3}", "value: 50}")},
    )
    _pr(github, ws, "evals/support.yaml")
    result = run_action(ws, github, baseline="none")
    body = github.comments(PR)[0]["body"]
    assert "case [hours]" in body
    assert "— loosened" in body
    assert '| `{"type": "max_words", "value": 3}` | `{"type": "max_words", "value": 50}` |' in body
    # "We are open 9am to 5pm." has 6 words: the base's max_words 3 still fails it
    assert _latest(github, ws.head, "ai-eval-gate/eval")["description"].startswith("75.0% (3/4)")
    assert result.code == 1


def test_an_owner_approval_on_the_head_accepts_a_gate_change_shipped_alone(
    tmp_path: Path, github: FakeGitHubServer
) -> None:
    base = base_files(**{"evalgate.yaml": OWNED})
    ws = make_workspace(tmp_path, base, {"evalgate.yaml": OWNED.replace("0.75", "0.7")})
    _pr(github, ws, "evalgate.yaml")

    def policy() -> tuple[str, str]:
        # a submitted review re-runs the gate (the example workflows trigger on pull_request_review)
        result = run_action(ws, github, baseline="none", event="pull_request_review")
        status = _latest(github, ws.head, "ai-eval-gate/policy")
        assert (result.code == 0) == (status["state"] == "success")
        return status["state"], status["description"]

    assert policy() == ("failure", "gate change (1 item) needs an owner's approval: alice, carol")
    github.add_review(PR, "mallory", "APPROVED", ws.head)  # not an owner
    github.add_review(PR, "alice", "APPROVED", ws.base)  # an owner, on another commit
    assert policy()[0] == "failure"
    github.add_review(PR, "carol", "APPROVED", ws.head)
    assert policy() == ("success", "gate change (1 item) approved by carol")
    assert "Gate changes: ✅ approved by `carol`" in github.comments(PR)[0]["body"]
    github.add_review(PR, "carol", "CHANGES_REQUESTED", ws.head)
    assert policy()[0] == "failure"


def test_an_approved_gate_change_with_a_prompt_change_still_fails(
    tmp_path: Path, github: FakeGitHubServer
) -> None:
    head = {
        "evalgate.yaml": OWNED.replace("0.75", "0.7"),
        "prompts/answer.md": "Answer the customer's question about {{ q }}.\n",
    }
    ws = make_workspace(tmp_path, base_files(**{"evalgate.yaml": OWNED}), head)
    _pr(github, ws, *head)
    github.add_review(PR, "alice", "APPROVED", ws.head)
    result = run_action(ws, github, baseline="none")
    assert result.code == 1
    policy = _latest(github, ws.head, "ai-eval-gate/policy")
    assert (
        policy["description"]
        == "gate change (1 item) approved by alice, but shipped with prompt or pin changes"
    )
    assert "Gate changes: ❌ not shipped alone" in github.comments(PR)[0]["body"]


@pytest.mark.parametrize(("age_days", "warned"), [(400, True), (30, False)])
def test_a_stale_gate_review_date_warns_but_never_fails(
    tmp_path: Path, github: FakeGitHubServer, age_days: int, warned: bool
) -> None:
    reviewed = datetime.datetime.now(datetime.UTC).date() - datetime.timedelta(days=age_days)
    config = OWNED.replace("  owners:", f"  reviewed: {reviewed.isoformat()}\n  owners:")
    ws = make_workspace(tmp_path, base_files(**{"evalgate.yaml": config}), {"README.md": "docs\n"})
    _pr(github, ws, "README.md")
    result = run_action(ws, github, baseline="none")
    assert result.code == 0
    body = github.comments(PR)[0]["body"]
    assert (f"threshold last reviewed {age_days} days ago by alice, carol" in body) is warned


def test_a_pr_that_adds_the_config_introduces_the_gate(tmp_path: Path, github: FakeGitHubServer) -> None:
    files = base_files()
    ws = make_workspace(tmp_path, {"README.md": "hi\n"}, files)
    _pr(github, ws, *files)
    # adding prompts and pins at once is a mixed change of its own; the gate itself is not in question
    result = run_action(ws, github, fail_on_mixed_change="false")
    assert result.code == 0, result.stdout
    assert "Gate: introduced by this pull request" in github.comments(PR)[0]["body"]


def test_cache_files_the_pr_commits_never_stand_in_for_answers(
    tmp_path: Path, github: FakeGitHubServer
) -> None:
    # attack 4: answer files under .evalgate/cache/ made the gate pass with zero model calls
    answers = {"good": True}

    def model(body: dict[str, Any]) -> str:
        return "Refunds within 30 days; open 9am; hello; {}" if answers["good"] else "I cannot help."

    with FakeModelServer(model) as models:
        files = base_files(**{"evalgate.yaml": _live(models)})
        # what the PR commits: the cache a good model would have left, made with evalgate itself
        scratch = tmp_path / "scratch"
        for rel, text in files.items():
            assert text is not None
            (scratch / rel).parent.mkdir(parents=True, exist_ok=True)
            (scratch / rel).write_text(text)
        project = load_project(scratch / "evalgate.yaml")
        execute(project, project.cases, RunOptions())
        planted = {
            p.relative_to(scratch).as_posix(): p.read_text() for p in (scratch / ".evalgate").rglob("*.json")
        }
        assert planted
        answers["good"] = False
        before = len(models.requests)
        ws = make_workspace(tmp_path, files, dict(planted))
        _pr(github, ws, *planted)
        result = run_action(ws, github, baseline="none")
        assert len(models.requests) - before == 4  # every case asked the live model
    assert result.code == 1
    assert _latest(github, ws.head, "ai-eval-gate/eval")["description"].startswith("0.0% (0/4)")
    body = github.comments(PR)[0]["body"]
    assert f"Ignored: this pull request adds or changes {len(planted)} cache file(s)" in body


def test_a_cache_dir_inside_the_workspace_is_refused(tmp_path: Path, github: FakeGitHubServer) -> None:
    ws = make_workspace(tmp_path, base_files(), {"README.md": "x\n"})
    _pr(github, ws, "README.md")
    result = run_action(ws, github, cache_dir=".evalgate/cache")
    assert result.code == 2
    assert "lies inside the workspace" in result.stdout


def _live(models: FakeModelServer) -> str:
    return (
        CONFIG.format(model="gpt-4o-2024-08-06")
        .replace("  provider: replay\n", f"  provider: openai\n  base_url: {models.openai_base_url}\n")
        .replace("  responses: recordings.yaml\n", "")
    )


def test_a_human_comment_with_the_marker_is_never_edited(tmp_path: Path, github: FakeGitHubServer) -> None:
    # attack 5: a comment starting with the hidden marker was edited as if it were the bot's
    ws = make_workspace(tmp_path, base_files(), {"README.md": "x\n"})
    _pr(github, ws, "README.md")
    (planted,) = github.add_comments(
        PR, ["<!-- ai-eval-gate:evalgate.yaml -->\nlooks good to me"], user="mallory"
    )
    for _ in range(2):
        assert run_action(ws, github, baseline="none").code == 0
    comments = github.comments(PR)
    assert [c["user"]["login"] for c in comments] == ["mallory", "github-actions[bot]"]
    assert comments[0]["id"] == planted
    assert comments[0]["body"].endswith("looks good to me")
    assert "AI eval gate" in comments[1]["body"]


def test_a_personal_token_finds_its_own_comment_by_its_login(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path, base_files(), {"README.md": "x\n"})
    with FakeGitHubServer("octo/repo", token="test-token", token_login="eval-bot") as gh:
        _pr(gh, ws, "README.md")
        gh.add_comments(PR, ["<!-- ai-eval-gate:evalgate.yaml -->\nold bot run"], user="github-actions[bot]")
        for _ in range(2):
            assert run_action(ws, gh, baseline="none").code == 0
        logins = [c["user"]["login"] for c in gh.comments(PR)]
    assert logins == ["github-actions[bot]", "eval-bot"]


def _saved_report(tmp: Path, answers: dict[str, str]) -> str:
    """A real JSON report of the suite in ``base_files()`` answered with ``answers``."""
    from evalgate.report import render_json

    folder = tmp / f"report-{len(list(tmp.glob('report-*')))}"
    for rel, text in base_files(**{"recordings.yaml": _recordings(answers)}).items():
        assert text is not None
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(text)
    project = load_project(folder / "evalgate.yaml")
    run, verdict = execute(project, project.cases, RunOptions())
    return render_json(run, verdict)


NO_NEW = CONFIG.format(model="gpt-4o-2024-08-06").replace(
    "  threshold: 0.75\n", "  threshold: 0.75\n  no_new_failures: true\n"
)


def test_a_baseline_the_pr_commits_is_not_the_baseline(tmp_path: Path, github: FakeGitHubServer) -> None:
    # a PR rewrote the committed baseline so that its new failure already "failed on the base"
    one_bad = {**GOOD, "refund": "I do not know."}
    base = base_files(**{"evalgate.yaml": NO_NEW, "saved/base.json": _saved_report(tmp_path, GOOD)})
    head = {"saved/base.json": _saved_report(tmp_path, one_bad), "recordings.yaml": _recordings(one_bad)}
    ws = make_workspace(tmp_path, base, head)
    _pr(github, ws, *head)
    result = run_action(ws, github, baseline="saved/base.json")
    assert result.code == 1, result.stdout + result.stderr
    assert _latest(github, ws.head, "ai-eval-gate/eval")["state"] == "failure"
    body = github.comments(PR)[0]["body"]
    assert "as committed on the base" in body
    assert "refund" in body


def test_a_baseline_only_the_pr_has_is_refused(tmp_path: Path, github: FakeGitHubServer) -> None:
    head = {"saved/base.json": _saved_report(tmp_path, BAD)}
    ws = make_workspace(tmp_path, base_files(), head)
    _pr(github, ws, *head)
    result = run_action(ws, github, baseline="saved/base.json")
    assert result.code == 2, result.stdout + result.stderr
    assert "cannot supply the baseline it is compared with" in result.stdout + result.stderr


def test_a_baseline_the_workflow_made_is_read_from_disk(tmp_path: Path, github: FakeGitHubServer) -> None:
    # e.g. merged base shards written during the run: not in the PR's tree, so read as it is
    ws = make_workspace(tmp_path, base_files(), {"README.md": "docs\n"})
    (ws.repo / "shards").mkdir()
    (ws.repo / "shards" / "base-report.json").write_text(_saved_report(tmp_path, GOOD))
    _pr(github, ws, "README.md")
    result = run_action(ws, github, baseline="shards/base-report.json")
    assert result.code == 0, result.stdout + result.stderr
    assert "baseline: shards/base-report.json" in github.comments(PR)[0]["body"]
