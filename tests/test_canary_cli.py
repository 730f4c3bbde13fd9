"""``evalgate canary`` commands: plan, status, bad plans, and GitHub deployment statuses at every look."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from evalgate.cli import main
from evalgate.testing import ArmBehaviour, FakeGitHubServer, SimulatedApp

PLAN = """\
canary:
  target: {kind: model, stable: gpt-4o-2024-08-06, candidate: gpt-4o-2024-11-20}
  stages:
    - {weight: 5, min_duration: 1s, max_duration: 4s, look_every: 1s, min_samples: 200}
    - {weight: 100}
  metrics:
    - {name: eval_pass_rate, kind: proportion, better: higher, margin: 0.03, critical: true}
    - {name: error_rate, kind: proportion, better: lower, margin: 0.01, guard: 0.05}
  live_checks: [{type: is_json}]
  router: {type: file, path: routing.yaml}
  source: {type: jsonl, path: requests.jsonl}
"""


def _write(root: Path, text: str = PLAN) -> Path:
    path = root / "evalgate.yaml"
    path.write_text(text)
    return path


def test_plan_prints_samples_and_time_per_stage(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _write(tmp_path)
    (tmp_path / "requests.jsonl").write_text("")
    (tmp_path / "routing.yaml").write_text("stable: a\ncanary: b\ncanary_weight: 5\n")
    assert main(["canary", "plan", "--config", str(config), "--rate", "100"]) == 0
    out = capsys.readouterr().out
    assert "eval_pass_rate" in out
    assert "5%" in out
    assert "source jsonl " in out
    assert "0/0 records (canary/stable) in the last 1s: is the app logging?" in out
    assert "reads the current weight, 5%" in out
    assert (
        "5%: settle 0.25s, then a look every 1s; a look counts toward min_duration with ≥ 50 new records per "
        "arm; no data for 2s → rollback; a regression rolls back to 0%"
    ) in out


def test_plan_fails_fast_when_the_request_log_is_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _write(tmp_path)
    assert main(["canary", "plan", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "evalgate.yaml:11: canary.source.path: the request log" in err
    assert "does not exist" in err
    assert main(["canary", "plan", "--config", str(config), "--no-probe"]) == 0


def test_plan_fails_fast_with_exit_3_when_the_source_url_does_not_answer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = _write(
        tmp_path,
        PLAN.replace(
            "{type: jsonl, path: requests.jsonl}", f"{{type: jsonl, url: 'http://127.0.0.1:{port}/log'}}"
        ),
    )
    assert main(["canary", "plan", "--config", str(config)]) == 3
    assert f"127.0.0.1:{port}" in capsys.readouterr().err


def test_plan_fails_fast_with_exit_3_when_the_router_cannot_read_the_weight(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json
    import sys

    (tmp_path / "requests.jsonl").write_text("")
    (tmp_path / "router.py").write_text("import sys\nsys.exit('flag service: 503')\n")
    py, script = json.dumps(sys.executable), tmp_path / "router.py"
    router = f'{{type: command, set: [{py}, "{script}", "{{weight}}"], get: [{py}, "{script}"]}}'
    config = _write(tmp_path, PLAN.replace("{type: file, path: routing.yaml}", router))
    assert main(["canary", "plan", "--config", str(config)]) == 3
    assert "flag service: 503" in capsys.readouterr().err


def test_a_bad_plan_exits_2_with_file_and_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _write(tmp_path, PLAN.replace("look_every: 1s", "look_every: 1 second"))
    assert main(["canary", "plan", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "evalgate.yaml:4" in err
    assert "look_every" in err


def test_a_config_without_a_plan_says_how_to_add_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _write(tmp_path, "model: {provider: openai, name: gpt-4o-2024-11-20}\n")
    assert main(["canary", "status", "--config", str(config)]) == 2
    assert "canary" in capsys.readouterr().err


def test_until_must_be_a_stage_weight(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _write(tmp_path)
    assert main(["canary", "run", "--config", str(config), "--until", "50"]) == 2
    assert "--until 50 is not a stage weight" in capsys.readouterr().err


def test_status_shows_weight_and_last_decision(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _write(tmp_path)
    log = str(tmp_path / "log.jsonl")
    main(["canary", "rollback", "--config", str(config), "--log", log, "--actor", "bob", "--reason", "drill"])
    capsys.readouterr()
    assert main(["canary", "status", "--config", str(config), "--log", log]) == 0
    out = capsys.readouterr().out
    assert "canary weight: 0%" in out
    assert "rollback by bob" in out


def test_run_posts_a_deployment_status_at_every_look(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _write(tmp_path)
    output, summary = tmp_path / "out.txt", tmp_path / "summary.md"
    with (
        FakeGitHubServer("octo/repo", token="t") as gh,
        SimulatedApp(
            tmp_path / "requests.jsonl", rate=20_000, seed=3, routing_path=tmp_path / "routing.yaml"
        ) as app,
    ):
        good = ArmBehaviour(quality=0.95, error_rate=0.002)
        app.set_behaviour("stable", good)
        app.set_behaviour("canary", good)
        for key, value in {
            "GITHUB_TOKEN": "t",
            "GITHUB_REPOSITORY": "octo/repo",
            "GITHUB_API_URL": gh.url,
            "GITHUB_SHA": "a" * 40,
            "GITHUB_RUN_ID": "9",
            "GITHUB_SERVER_URL": "https://github.example",
            "GITHUB_OUTPUT": str(output),
            "GITHUB_STEP_SUMMARY": str(summary),
        }.items():
            monkeypatch.setenv(key, value)
        code = main(
            [
                "canary",
                "run",
                "--config",
                str(config),
                "--log",
                str(tmp_path / "log.jsonl"),
                "--github-deployment",
                "new",
                "--environment",
                "canary",
            ]
        )
        deployments = gh.deployments()
    assert code == 0
    assert len(deployments) == 1
    states = [s["state"] for s in deployments[0]["statuses"]]
    assert states[0] == "in_progress"
    assert states[-1] == "success"
    first = deployments[0]["statuses"][0]
    assert first["description"].startswith("5% · look 1/")
    assert len(first["description"]) <= 140
    outputs = output.read_text()
    assert "decision<<" in outputs
    assert "promoted" in outputs
    assert "Canary rollout" in summary.read_text()
    lines = capsys.readouterr().out.splitlines()
    stamp = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ "
    assert all(re.match(stamp, line) for line in lines), lines
    assert re.search(r"Z weight 5%: stage 1: 5%$", lines[0])
    assert "stage 5% · settle 0.25s after setting 5%: observed split " in lines[1]
    look = next(line for line in lines if " · look 1/4 · " in line)
    assert re.search(r"Z stage 5% · look 1/4 · (extend|promote) · n=[\d,]+/[\d,]+ \(canary/stable\): ", look)
    assert lines[-1].endswith("promoted at 100%: " + lines[-1].split("promoted at 100%: ")[1])
