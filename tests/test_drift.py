"""``evalgate drift``: the scheduled run against the last good one, the one issue per config, the baseline."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from evalgate.cli import main
from evalgate.drift import marker, read_history
from evalgate.gate import GateConfig, decide
from evalgate.report import render_json
from evalgate.results import CaseResult, CheckResult, Completion, RunResult, Trial
from evalgate.testing import FakeGitHubServer

MODEL = "gpt-4o-2024-11-20"


def report(
    passes: Sequence[bool], *, fp: str = "fp_a", when: str = "2026-11-01T06:00:00Z", error: bool = False
) -> str:
    cases = []
    for i, ok in enumerate(passes):
        if error:
            trial = Trial(None, (), "OpenAI: HTTP 503 after 5 attempts")
        else:
            done = Completion(f"answer {i}", MODEL, 10, 5, 120.0, 0.001, system_fingerprint=fp)
            trial = Trial(done, (CheckResult("contains", ok, float(ok), "ok" if ok else "missing '4.2M'"),))
        cases.append(CaseResult(f"case_{i:02d}", "evals/support.yaml", 3 + i, (trial,)))
    run = RunResult(tuple(cases), "openai", MODEL, "evalgate.yaml", when, 3.0)
    return render_json(run, decide(run.cases, GateConfig(threshold=0.7)))


GOOD = [True] * 40
DROPPED = [i >= 10 for i in range(40)]  # 10 of 40 now fail: 100% -> 75%


@pytest.fixture
def github(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGitHubServer]:
    with FakeGitHubServer("octo/bot") as server:
        monkeypatch.setenv("GITHUB_TOKEN", server.token)
        monkeypatch.setenv("GITHUB_REPOSITORY", "octo/bot")
        monkeypatch.setenv("GITHUB_API_URL", server.url)
        monkeypatch.setenv("GITHUB_SERVER_URL", "https://github.example")
        monkeypatch.setenv("GITHUB_OUTPUT", str(tmp_path / "output"))
        monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "summary.md"))
        monkeypatch.chdir(tmp_path)
        yield server


def drift(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, run_id: int, *extra: str) -> int:
    (tmp_path / "now.json").write_text(text)
    (tmp_path / "output").write_text("")
    monkeypatch.setenv("GITHUB_RUN_ID", str(run_id))
    monkeypatch.setenv("GITHUB_SHA", "c0ffee" * 6 + "beef")
    args = ["drift", "--report", "now.json", "--baseline-artifact", "evalgate-drift", "--issue"]
    args += ["--label", "ai-drift,p1", "--assignee", "alice", "--save-baseline", "good/report.json", *extra]
    return main([*args, "--config", "evalgate.yaml"])


def outputs(tmp_path: Path) -> dict[str, str]:
    lines = (tmp_path / "output").read_text().splitlines()
    return {lines[i].split("<<")[0]: lines[i + 1] for i in range(0, len(lines), 3)}


def test_a_drop_opens_one_issue_updates_it_and_closes_it_when_back(
    github: FakeGitHubServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # first run: no artifact yet, so no baseline; a passing run becomes the baseline
    assert drift(tmp_path, monkeypatch, report(GOOD), 100) == 0
    assert outputs(tmp_path) == {"status": "first", "good": "true", "issue-url": "", "issue-action": "none"}
    assert (tmp_path / "good" / "report.json").read_text() == report(GOOD)
    github.add_artifact("evalgate-drift", {"report.json": report(GOOD)}, head_sha="c0ffee" * 6 + "beef")

    # the provider changed something: 10 cases fail now
    assert drift(tmp_path, monkeypatch, report(DROPPED, when="2026-11-02T06:00:00Z"), 101) == 1
    assert outputs(tmp_path)["good"] == "false"
    [issue] = github.issues()
    assert issue["title"] == f"Eval drift: evalgate.yaml dropped −25.0 pt on {MODEL}"
    assert issue["body"].startswith(marker("evalgate.yaml"))
    assert [label["name"] for label in issue["labels"]] == ["ai-drift", "p1"]
    assert [user["login"] for user in issue["assignees"]] == ["alice"]
    assert "- case\\_00 — missing '4.2M'" in issue["body"]
    assert "[drop](https://github.example/octo/bot/actions/runs/101)" in issue["body"]
    assert "Both ran commit c0ffeec0ffee: nothing in this repository changed" in issue["body"]
    assert "DRIFT: quality dropped" in capsys.readouterr().out
    assert "Newly failing (10)" in (tmp_path / "summary.md").read_text()

    # still dropped: the same issue gains a row, nothing new is opened
    assert drift(tmp_path, monkeypatch, report(DROPPED, when="2026-11-03T06:00:00Z"), 102) == 1
    [issue] = github.issues()
    rows = read_history(issue["body"])
    assert [(r.date, r.kind, r.url) for r in rows] == [
        ("2026-11-03 06:00", "drop", "https://github.example/octo/bot/actions/runs/102"),
        ("2026-11-02 06:00", "drop", "https://github.example/octo/bot/actions/runs/101"),
    ]
    assert "| 2026-11-03 06:00 | 75.0% (30/40) | −25.0 pt |" in issue["body"]

    # back within the margin: a closing comment, closed, and the run becomes the baseline
    assert drift(tmp_path, monkeypatch, report(GOOD, when="2026-11-04T06:00:00Z"), 103) == 0
    [issue] = github.issues()
    assert issue["state"] == "closed"
    assert issue["state_reason"] == "completed"
    assert issue["comments"][0].startswith("✅ Back within the margin: pass rate 100.0%, +0.0 pt")
    assert "Closing after 3 recorded runs (2 with a drop)" in issue["comments"][0]
    assert outputs(tmp_path)["issue-action"] == "closed"
    assert outputs(tmp_path)["good"] == "true"


def test_a_new_fingerprint_with_the_same_quality_opens_an_identity_issue(
    github: FakeGitHubServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    github.add_artifact("evalgate-drift", {"report.json": report(GOOD)})
    assert drift(tmp_path, monkeypatch, report(GOOD, fp="fp_new"), 200) == 0
    [issue] = github.issues()
    assert issue["title"] == f"Model identity changed behind {MODEL} (evalgate.yaml)"
    assert f"| 40 | {MODEL} (fp\\_a) | {MODEL} (fp\\_new) |" in issue["body"]
    assert outputs(tmp_path)["good"] == "true"  # quality held: this run is the next baseline
    github.add_artifact("evalgate-drift", {"report.json": report(GOOD, fp="fp_new")})
    assert drift(tmp_path, monkeypatch, report(GOOD, fp="fp_new"), 201) == 0
    assert github.issues()[0]["state"] == "closed"
    capsys.readouterr()


def test_only_this_repositorys_unexpired_artifacts_from_the_branch_count(
    github: FakeGitHubServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    github.add_artifact("evalgate-drift", {"report.json": report(DROPPED)}, created_at="2026-10-01T00:00:00Z")
    github.add_artifact("evalgate-drift", {"report.json": report(GOOD)}, created_at="2026-10-02T00:00:00Z")
    # newer, but from a fork's pull request, another branch, an expired one, another name
    github.add_artifact("evalgate-drift", {"report.json": report(DROPPED)}, fork=True)
    github.add_artifact("evalgate-drift", {"report.json": report(DROPPED)}, branch="feature")
    github.add_artifact("evalgate-drift", {"report.json": report(DROPPED)}, expired=True)
    github.add_artifact("other", {"report.json": report(DROPPED)})
    assert drift(tmp_path, monkeypatch, report(DROPPED), 300) == 1  # compared with the GOOD one
    assert "of 2026-10-02 00:00 (UTC)" in github.issues()[0]["body"]
    assert "look at what was merged as well as at the provider" in github.issues()[0]["body"]
    capsys.readouterr()


def test_an_issue_with_the_marker_by_someone_else_is_not_ours(
    github: FakeGitHubServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    github.add_issue("fake", marker("evalgate.yaml") + "\nplease close me")
    github.add_artifact("evalgate-drift", {"report.json": report(GOOD)})
    assert drift(tmp_path, monkeypatch, report(DROPPED), 400) == 1
    ours = [i for i in github.issues() if i["user"]["login"] == "github-actions[bot]"]
    assert len(ours) == 1
    assert github.issues()[0]["body"].endswith("please close me")
    capsys.readouterr()


def test_a_baseline_branch_is_created_read_and_updated(
    github: FakeGitHubServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    github.add_branch("main", "a" * 40, {"README.md": "hi"})
    (tmp_path / "now.json").write_text(report(GOOD))
    args = [
        "drift",
        "--report",
        "now.json",
        "--baseline-branch",
        "evalgate-baselines",
        "--config",
        "evalgate.yaml",
    ]
    assert main(args) == 0
    stored = github.branch_files("evalgate-baselines")
    assert stored["evalgate-drift/evalgate.yaml.json"] == report(GOOD)
    (tmp_path / "now.json").write_text(report(DROPPED))
    assert main(args) == 1  # read back from the branch; a dropped run does not replace it
    assert github.branch_files("evalgate-baselines")["evalgate-drift/evalgate.yaml.json"] == report(GOOD)
    (tmp_path / "now.json").write_text(report(GOOD, fp="fp_b"))
    assert main(args) == 0
    assert "fp_b" in github.branch_files("evalgate-baselines")["evalgate-drift/evalgate.yaml.json"]
    capsys.readouterr()


def test_an_outage_is_not_drift(
    github: FakeGitHubServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    github.add_artifact("evalgate-drift", {"report.json": report(GOOD)})
    assert drift(tmp_path, monkeypatch, report(GOOD, error=True), 500) == 3
    assert "that is an outage, not drift" in capsys.readouterr().err
    assert github.issues() == []
    assert not (tmp_path / "good").exists()


def test_local_files_need_no_github(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    (tmp_path / "last.json").write_text(report(GOOD))
    (tmp_path / "now.json").write_text(report(DROPPED))
    assert main(["drift", "--baseline", "last.json", "--report", "now.json", "--markdown", "d.md"]) == 1
    assert "score, paired (40 cases, 40 → 40 trials)" in (tmp_path / "d.md").read_text()
    assert main(["drift", "--baseline", "last.json", "--report", "now.json", "--issue"]) == 2
    assert "needs GITHUB_TOKEN and GITHUB_REPOSITORY" in capsys.readouterr().err
    (tmp_path / "other.json").write_text(report(GOOD).replace("case_", "other_"))
    assert main(["drift", "--baseline", "last.json", "--report", "other.json"]) == 2
    assert "not comparable" in capsys.readouterr().err


def test_a_first_run_that_fails_its_gate_opens_an_issue(
    github: FakeGitHubServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert drift(tmp_path, monkeypatch, report([i >= 20 for i in range(40)]), 600) == 1
    [issue] = github.issues()
    assert issue["title"] == f"Eval drift: evalgate.yaml fails its gate on {MODEL}"
    assert "the suite fails its gate: pass rate 50.0% (20/40) is below the threshold 70.0%" in issue["body"]
    assert json.loads(json.dumps(outputs(tmp_path)))["good"] == "false"
    capsys.readouterr()


def test_a_create_whose_answer_is_lost_is_not_repeated(
    github: FakeGitHubServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    github.add_artifact("evalgate-drift", {"report.json": report(GOOD)})
    # the gateway times out after GitHub created the issue: the retry must find it, not open another
    github.fail_next("POST", "/issues", 502, committed=True)
    github.fail_next("PATCH", "/issues/", 500)
    assert drift(tmp_path, monkeypatch, report(DROPPED), 700) == 1
    assert len(github.issues()) == 1
    assert drift(tmp_path, monkeypatch, report(DROPPED), 701) == 1  # the edit is retried too
    assert len(read_history(github.issues()[0]["body"])) == 2
    capsys.readouterr()


def test_without_pygithub_the_github_part_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "evalgate.githubwatch", None)  # what a missing PyGithub looks like
    monkeypatch.chdir(tmp_path)
    (tmp_path / "now.json").write_text(report(GOOD))
    assert main(["drift", "--report", "now.json", "--issue"]) == 2
    assert "pip install 'evalgate[github]'" in capsys.readouterr().err


def test_the_baseline_branch_is_written_with_its_own_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """GITHUB_TOKEN may be read-only for contents; --baseline-token-env names the token that writes."""
    with FakeGitHubServer("octo/bot", read_only=True, write_token="baseline-pat") as server:
        monkeypatch.setenv("GITHUB_TOKEN", server.token)
        monkeypatch.setenv("GITHUB_REPOSITORY", "octo/bot")
        monkeypatch.setenv("GITHUB_API_URL", server.url)
        monkeypatch.chdir(tmp_path)
        server.add_branch("main", "a" * 40, {"README.md": "hi"})
        (tmp_path / "now.json").write_text(report(GOOD))
        args = ["drift", "--report", "now.json", "--baseline-branch", "evalgate-baselines"]
        args += ["--config", "evalgate.yaml"]

        # with only the read-only GITHUB_TOKEN, writing the baseline fails loudly
        assert main(args) == 3
        assert server.branch_files("evalgate-baselines") == {}
        assert "grant `contents: write` in the workflow's `permissions:`" in capsys.readouterr().err

        monkeypatch.setenv("BASELINE_TOKEN", "baseline-pat")
        before = len(server.requests)
        assert main([*args, "--baseline-token-env", "BASELINE_TOKEN"]) == 0
        stored = server.branch_files("evalgate-baselines")
        assert stored["evalgate-drift/evalgate.yaml.json"] == report(GOOD)
        writes = [r for r in server.requests[before:] if r.method != "GET"]
        assert writes
        assert all(r.headers["authorization"].endswith("baseline-pat") for r in writes)
    capsys.readouterr()
