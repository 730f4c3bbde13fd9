"""Large reports: local commands read them, the Action keeps its 10 MB cap on what a pull request supplies."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from test_action_entrypoint import base_files, make_workspace, run_action

from evalgate.cli import main
from evalgate.errors import UsageError
from evalgate.gate import GateConfig, decide
from evalgate.merge import MAX_ACTION_REPORT_BYTES, MAX_REPORT_BYTES, read_report
from evalgate.report import render_json
from evalgate.results import CaseResult, CheckResult, Completion, RunResult, Trial
from evalgate.testing import FakeGitHubServer

ANSWER = (
    "The full answer, kept in the report so a reviewer can read it. " * 8_000
)  # 0.5 MB, held twice (response, trial)


def _big_report(
    path: Path, prefix: str, cases: int = 11, *, answer: str = ANSWER, check_size: bool = True
) -> Path:
    """A report just over 10 MB: a few cases with long answers, as full answers make them."""
    results = []
    for i in range(cases):
        completion = Completion(answer, "gpt-4o-2024-11-20", 10, 250_000, 100.0, 0.01)
        check = CheckResult("contains", True, 1.0, "found 'answer'")
        results.append(
            CaseResult(f"{prefix}{i}", "evals/s.yaml", 1, (Trial(completion, (check,)),), min_pass=1)
        )
    run = RunResult(
        tuple(results), "openai", "gpt-4o-2024-11-20", "evalgate.yaml", "2026-01-01T00:00:00Z", 1.0
    )
    path.write_text(render_json(run, decide(run.cases, GateConfig(threshold=0.0))), encoding="utf-8")
    size = path.stat().st_size
    assert not check_size or MAX_ACTION_REPORT_BYTES < size < MAX_ACTION_REPORT_BYTES + 2 * 2**20
    return path


def _small_report(path: Path) -> Path:
    return _big_report(path, "c", cases=1, answer="short", check_size=False)


def test_local_commands_read_a_report_over_10_mb(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = str(_big_report(tmp_path / "base.json", "c"))
    head = str(_big_report(tmp_path / "head.json", "c"))
    other = str(_big_report(tmp_path / "other.json", "x"))
    cfg = ["--config", str(tmp_path / "missing.yaml")]
    assert main(["compare", base, head, *cfg]) == 0
    assert capsys.readouterr().out.rstrip().endswith("no significant regression")
    assert main(["merge", base, other, *cfg, "--json", str(tmp_path / "merged.json")]) == 0
    merged, verdict = read_report(tmp_path / "merged.json")
    assert len(merged.cases) == 22
    assert verdict.passed


def test_read_report_refuses_a_file_over_its_cap_with_the_size(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    path.write_text("x" * 2048)
    with pytest.raises(UsageError) as caught:
        read_report(path, max_bytes=1024)
    assert caught.value.message == f"report {path} is 2,048 bytes, over the 1,024 bytes limit"


@pytest.mark.parametrize("input_name", ["results", "baseline"])
def test_the_action_refuses_a_report_over_10_mb(tmp_path: Path, input_name: str) -> None:
    ws = make_workspace(tmp_path, base_files(), {"README.md": "docs\n"})
    _big_report(ws.repo / "big.json", "c")
    with FakeGitHubServer("octo/repo", token="test-token") as github:
        result = run_action(ws, github, event="push", **{input_name: "big.json"})
    assert result.code == 2, result.stdout + result.stderr
    assert re.search(r"big\.json is 10\.\d MB, over the 10\.0 MB limit", result.stdout), result.stdout
    assert "the Action caps the reports it reads" in result.summary


@pytest.mark.parametrize("command", ["compare", "merge", "drift", "view"])
def test_local_commands_refuse_a_report_over_1_gib_without_reading_it(
    tmp_path: Path, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    small = str(_small_report(tmp_path / "small.json"))
    huge = tmp_path / "huge.json"
    with huge.open("wb") as fh:
        fh.truncate(MAX_REPORT_BYTES + 1)  # sparse: the size is on record, nothing is written
    args = {
        "compare": ["compare", small, str(huge)],
        "merge": ["merge", small, str(huge)],
        "drift": ["drift", "--baseline", small, "--report", str(huge)],
        "view": ["view", str(huge)],
    }[command]
    assert main([*args, *(["--config", str(tmp_path / "missing.yaml")] if command != "view" else [])]) == 2
    err = capsys.readouterr().err
    assert f"report {huge} is 1.0 GiB, over the 1.0 GiB limit" in err
    assert "check that the file is an evalgate JSON report" in err


def test_a_missing_report_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    small = str(_small_report(tmp_path / "small.json"))
    assert main(["drift", "--baseline", small, "--report", str(tmp_path / "gone.json")]) == 2
    assert f"report {tmp_path / 'gone.json'} not found" in capsys.readouterr().err
