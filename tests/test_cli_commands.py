"""The CLI's other commands: init, validate, lint, record, and the shipped offline demo."""

from __future__ import annotations

import datetime
import json
import shutil
from pathlib import Path

import pytest

from evalgate.cli import main
from evalgate.testing import FakeModelServer, prompt_of

DEMO = Path(__file__).resolve().parents[1] / "examples" / "support-bot"


def test_init_scaffolds_a_project_that_runs_offline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["init", str(tmp_path)]) == 0
    monkeypatch.chdir(tmp_path)
    assert main(["validate"]) == 0
    assert main(["lint"]) == 0
    assert main(["run", "--json", "r.json"]) == 0
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["total"] == 3
    assert report["gate"]["passed"] is True
    capsys.readouterr()


def test_init_names_the_gate_owners_and_the_review_date(tmp_path: Path) -> None:
    from evalgate.config import load_config

    assert main(["init", str(tmp_path)]) == 0
    gate = load_config(tmp_path / "evalgate.yaml").config.gate
    assert gate.owners == ["your-github-login"]
    assert gate.reviewed == datetime.datetime.now(datetime.UTC).date()


def test_init_refuses_to_overwrite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["init", str(tmp_path)])
    assert main(["init", str(tmp_path)]) == 2
    assert "refusing to overwrite" in capsys.readouterr().err
    assert main(["init", str(tmp_path), "--force"]) == 0


def test_validate_reports_counts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["init", str(tmp_path)])
    capsys.readouterr()
    assert main(["validate", "--config", str(tmp_path / "evalgate.yaml")]) == 0
    assert "3 cases in 1 suite files, 1 prompts render" in capsys.readouterr().out


def test_record_then_replay_reproduces_the_live_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["init", str(tmp_path)])
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OPENAI_API_KEY", "k")
    with FakeModelServer(lambda body: f"Summary: {prompt_of(body)[-80:]} 4.2M 32% 3.1% 2.4%") as server:
        live = (tmp_path / "evalgate.yaml").read_text()
        live = live.replace(
            "  provider: replay\n", f"  provider: openai\n  base_url: {server.openai_base_url}\n"
        )
        live = live.replace("  responses: recordings/gpt-4o-2024-11-20.yaml\n", "")
        (tmp_path / "live.yaml").write_text(live)
        assert main(["record", "--config", "live.yaml", "--output", "recordings/new.yaml"]) == 0
        assert main(["run", "--config", "live.yaml", "--json", "live.json", "--no-cache"]) in (0, 1)
    replay = (tmp_path / "evalgate.yaml").read_text().replace("gpt-4o-2024-11-20.yaml", "new.yaml")
    (tmp_path / "replay.yaml").write_text(replay)
    assert main(["run", "--config", "replay.yaml", "--json", "replay.json"]) in (0, 1)
    live_cases = {
        c["id"]: (c["response"], c["passed"]) for c in json.loads(Path("live.json").read_text())["cases"]
    }
    replayed = {
        c["id"]: (c["response"], c["passed"]) for c in json.loads(Path("replay.json").read_text())["cases"]
    }
    assert live_cases == replayed
    capsys.readouterr()


def test_record_refuses_the_replay_provider(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["init", str(tmp_path)])
    code = main(["record", "--config", str(tmp_path / "evalgate.yaml"), "--output", str(tmp_path / "x.yaml")])
    assert code == 2
    assert "live provider" in capsys.readouterr().err


def test_offline_demo_passes_for_current_and_blocks_the_candidate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    demo = tmp_path / "support-bot"
    shutil.copytree(DEMO, demo, ignore=shutil.ignore_patterns(".evalgate"))
    monkeypatch.chdir(demo)
    assert main(["run", "--json", "current.json"]) == 0
    assert main(["run", "--config", "evalgate.candidate.yaml", "--json", "candidate.json"]) == 1
    current = json.loads(Path("current.json").read_text())
    candidate = json.loads(Path("candidate.json").read_text())
    assert current["total"] >= 40
    assert current["pass_rate"] >= 0.85 > candidate["pass_rate"]
    assert any("required case" in r for r in candidate["gate"]["reasons"])
    assert main(["lint"]) == 0
    capsys.readouterr()


def test_validate_checks_the_canary_plan_and_lint_its_model_pins(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["init", str(tmp_path)])
    config = tmp_path / "evalgate.yaml"
    base = config.read_text()
    config.write_text(
        base + "canary:\n"
        "  target: {kind: model, stable: gpt-4o-2024-08-06, candidate: gpt-4o}\n"
        "  stages: [{weight: 5}, {weight: 100}]\n"
        "  metrics: [{name: eval_pass_rate, kind: proportion, better: higher, margin: 0.03}]\n"
        "  router: {type: file, path: routing.yaml}\n"
        "  source: {type: jsonl, path: requests.jsonl}\n"
    )
    capsys.readouterr()
    assert main(["lint", "--config", str(config)]) == 2
    assert "canary.target.candidate" in capsys.readouterr().err
    config.write_text(config.read_text().replace("candidate: gpt-4o}", "candidate: gpt-4o-2024-11-20}"))
    assert main(["validate", "--config", str(config)]) == 0
    assert "canary plan with 2 stages" in capsys.readouterr().out
    config.write_text(config.read_text().replace("{weight: 5}", "{weight: 500}"))
    assert main(["validate", "--config", str(config)]) == 2
    assert "weight" in capsys.readouterr().err
