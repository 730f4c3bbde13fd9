"""``evalgate upgrade``: the current and the candidate pin side by side, then a pin-only pull request."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from evalgate.cli import main
from evalgate.testing import FakeGitHubServer, FakeModelServer

CURRENT, GOOD_CANDIDATE, BAD_CANDIDATE = "gpt-4o-2024-11-20", "gpt-4o-2025-03-12", "gpt-4o-mini-2024-07-18"


def answer(body: dict[str, Any]) -> str:
    # the bad candidate forgets the figure in half of the cases
    prompt = str(body["messages"][-1]["content"])
    if body["model"] == BAD_CANDIDATE and int(prompt.split()[-1]) % 2:
        return "Revenue grew."
    return "Revenue grew to $4.2M."


@pytest.fixture
def repo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Path, FakeModelServer, FakeGitHubServer]]:
    with FakeModelServer(answer) as models, FakeGitHubServer("octo/bot") as github:
        root = tmp_path / "repo"
        (root / "evals").mkdir(parents=True)
        (root / "evalgate.yaml").write_text(
            "# the gate\n"
            "model:\n"
            "  provider: openai\n"
            f"  name: {CURRENT}   # pinned\n"
            f"  fallback: {BAD_CANDIDATE}\n"
            f"  base_url: {models.openai_base_url}\n"
            "gate: {threshold: 0.8}\n"
        )
        check = "    checks: [{type: contains, value: 4.2M}]\n"
        cases = "".join(f"  - id: case_{i}\n    input: Summarize report {i}\n{check}" for i in range(12))
        (root / "evals" / "s.yaml").write_text("cases:\n" + cases)
        git = ["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@example.com"]
        subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
        subprocess.run([*git, "add", "-A"], check=True)
        subprocess.run([*git, "commit", "-q", "-m", "init"], check=True)
        sha = subprocess.run(
            [*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True
        ).stdout.strip()
        github.add_branch("main", sha, {"evalgate.yaml": (root / "evalgate.yaml").read_text()})
        for name, value in {
            "OPENAI_API_KEY": "k",
            "GITHUB_TOKEN": github.token,
            "GITHUB_REPOSITORY": "octo/bot",
            "GITHUB_API_URL": github.url,
            "GITHUB_OUTPUT": str(tmp_path / "output"),
            "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
        }.items():
            monkeypatch.setenv(name, value)
        monkeypatch.chdir(root)
        yield root, models, github


def test_a_passing_candidate_gets_a_pull_request_changing_only_the_pin(
    repo: tuple[Path, FakeModelServer, FakeGitHubServer], capsys: pytest.CaptureFixture[str]
) -> None:
    root, models, github = repo
    before = (root / "evalgate.yaml").read_text()
    assert main(["upgrade", GOOD_CANDIDATE, "--pr"]) == 0
    [pull] = github.created_pulls()
    assert pull["title"] == f"Model upgrade: {CURRENT} → {GOOD_CANDIDATE}"
    assert pull["head"]["ref"] == f"evalgate/model-upgrade/{GOOD_CANDIDATE}"
    assert pull["base"]["ref"] == "main"  # the default branch, outside a workflow run
    # the branch holds the tested commit's file with only the pin's value changed; the fallback stays
    branch = github.branch_files(pull["head"]["ref"])
    assert branch["evalgate.yaml"] == before.replace(
        f"name: {CURRENT}   # pinned", f"name: {GOOD_CANDIDATE}   # pinned"
    )
    assert (root / "evalgate.yaml").read_text() == before  # the checkout itself is untouched
    assert "- `evalgate.yaml#model.name`" in pull["body"]
    assert f"Kept as they are: `evalgate.yaml#model.fallback` (`{BAD_CANDIDATE}`)" in pull["body"]
    assert "(same cases, same prompts, same judge)" in pull["body"]
    assert "The candidate **✅ passes** the gate" in pull["body"]
    # both pins really ran, every case fresh (no cache)
    models_seen = [r.json["model"] for r in models.requests]
    assert models_seen.count(CURRENT) == 12
    assert models_seen.count(GOOD_CANDIDATE) == 12
    out = capsys.readouterr().out
    assert "pull request opened" in out
    # a second dispatch finds the open pull request instead of opening another
    assert main(["upgrade", GOOD_CANDIDATE, "--pr"]) == 0
    assert len(github.created_pulls()) == 1
    assert "pull request already open" in capsys.readouterr().out


def test_a_failing_candidate_gets_no_pull_request_but_the_comparison_in_the_summary(
    repo: tuple[Path, FakeModelServer, FakeGitHubServer], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, _, github = repo
    assert main(["upgrade", BAD_CANDIDATE, "--pr", "--markdown", str(tmp_path / "body.md")]) == 1
    assert github.created_pulls() == []
    assert github.branch_files(f"evalgate/model-upgrade/{BAD_CANDIDATE}") == {}
    summary = (tmp_path / "summary.md").read_text()
    assert (
        "The candidate **❌ fails** the gate: pass rate 50.0% (6/12) is below the threshold 80.0%" in summary
    )
    assert "| pass rate | 100.0% (12/12) | 50.0% (6/12) | −50.0 pt |" in summary
    assert "Newly failing (6)" in summary
    assert summary == (tmp_path / "body.md").read_text()
    assert "gate<<" in (tmp_path / "output").read_text()
    assert "no pull request: the candidate fails the gate" in capsys.readouterr().out


def test_an_unpinned_candidate_is_refused_before_any_model_call(
    repo: tuple[Path, FakeModelServer, FakeGitHubServer], capsys: pytest.CaptureFixture[str]
) -> None:
    _, models, github = repo
    assert main(["upgrade", "gpt-4o", "--pr"]) == 2
    assert "bare OpenAI model family" in capsys.readouterr().err
    assert models.requests == []
    assert github.created_pulls() == []


def test_without_a_token_the_pr_mode_fails_before_running(
    repo: tuple[Path, FakeModelServer, FakeGitHubServer],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, models, _ = repo
    monkeypatch.delenv("GITHUB_TOKEN")
    assert main(["upgrade", GOOD_CANDIDATE, "--pr"]) == 2
    assert "needs GITHUB_TOKEN" in capsys.readouterr().err
    assert models.requests == []


def test_the_pull_request_goes_back_into_the_dispatched_branch(
    repo: tuple[Path, FakeModelServer, FakeGitHubServer],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, _, github = repo
    github.add_branch("release-2", "b" * 40)
    monkeypatch.setenv("GITHUB_REF_NAME", "release-2")
    monkeypatch.setenv("GITHUB_REF_TYPE", "branch")
    assert main(["upgrade", GOOD_CANDIDATE, "--pr"]) == 0
    assert github.created_pulls()[0]["base"]["ref"] == "release-2"
    capsys.readouterr()


def test_the_body_says_when_the_judge_moves_with_the_pin() -> None:
    from evalgate.compare import compare_runs
    from evalgate.gate import GateConfig, decide
    from evalgate.pinfiles import PinEdit
    from evalgate.results import CaseResult, Completion, RunResult, Trial
    from evalgate.upgrade import UpgradeResult, body

    def run(model: str) -> RunResult:
        case = CaseResult("c", "evals/s.yaml", 1, (Trial(Completion("ok", model)),))
        return RunResult((case,), "openai", model, "evalgate.yaml", "2026-11-30T09:00:00Z", 1.0)

    current, candidate = run(CURRENT), run(GOOD_CANDIDATE)
    moved = ("evalgate.yaml#model.name", "evalgate.yaml#judge.name")
    edit = PinEdit(CURRENT, GOOD_CANDIDATE, {}, moved, ())
    verdict = decide(candidate.cases, GateConfig(threshold=0.5))
    result = UpgradeResult("a" * 40, edit, current, candidate, compare_runs(current, candidate), verdict)
    text = body(result)
    assert "(same cases, same prompts, the judge's pin moved too)" in text
    assert "- `evalgate.yaml#judge.name`" in text
