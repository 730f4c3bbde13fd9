"""``canary.notify`` and ``gate.notify``: webhooks to a real loopback receiver. Alerts never block or change
a decision, are retried with the one policy, and never write the webhook URL (a credential) to a log."""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from evalgate.cli import main
from evalgate.notify import CanaryWebhook, Notifier, canary_body, slack_message
from evalgate.testing import ArmBehaviour, FakeModelServer, FakeRouter, SimulatedApp
from evalgate.testing.webhooks import FakeWebhookReceiver

GOOD = ArmBehaviour(quality=0.95, error_rate=0.002, latency_ms=200)
BAD = ArmBehaviour(quality=0.70, error_rate=0.002, latency_ms=200)

PLAN = """\
canary:
  target: {{kind: model, stable: gpt-4o-2024-08-06, candidate: gpt-4o-2024-11-20}}
  stages:
    - {{weight: 5, min_duration: 2s, max_duration: 6s, look_every: 1s, min_samples: 200}}
    - {{weight: 100}}
  metrics:
    - {{name: eval_pass_rate, kind: proportion, better: higher, margin: 0.03}}
  live_checks: [{{type: is_json}}]
  router: {{type: file, path: routing.yaml}}
  source: {{type: jsonl, path: requests.jsonl}}
  notify:
{notify}
"""
SLACK = "    - {url: '${SLACK_WEBHOOK_URL}', format: slack}"
JSON_ALL = (
    "    - {url: '${NOTIFY_WEBHOOK}', format: json, on: [start, promote, extend, hold, rollback, no_data]}"
)


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeWebhookReceiver]:
    with FakeWebhookReceiver() as hook:
        monkeypatch.setenv("SLACK_WEBHOOK_URL", hook.url)
        monkeypatch.setenv("NOTIFY_WEBHOOK", hook.url)
        monkeypatch.setenv("GITHUB_SERVER_URL", "https://github.example")
        monkeypatch.setenv("GITHUB_REPOSITORY", "acme/bot")
        monkeypatch.setenv("GITHUB_RUN_ID", "42")
        yield hook


def _config(root: Path, *hooks: str) -> Path:
    path = root / "evalgate.yaml"
    path.write_text(PLAN.format(notify="\n".join(hooks)))
    return path


def _run(root: Path) -> int:
    return main(["canary", "run", "--config", str(root / "evalgate.yaml"), "--log", str(root / "log.jsonl")])


def _rollout(root: Path, canary: ArmBehaviour = BAD) -> int:
    with SimulatedApp(root / "requests.jsonl", rate=5_000, seed=3, routing_path=root / "routing.yaml") as app:
        app.set_behaviour("stable", GOOD)
        app.set_behaviour("canary", canary)
        return _run(root)


def _judge(root: Path) -> int:
    """``canary judge`` on 20 s of traffic already logged at 5% with a 25-point drop: a rollback, exit 1."""
    now = time.time()
    app = SimulatedApp(root / "requests.jsonl", seed=4, router=FakeRouter(5), stable=GOOD, canary=BAD)
    app.emit(20_000, start=now - 20, end=now - 1)
    argv = ["canary", "judge", "--config", str(root / "evalgate.yaml"), "--weight", "5"]
    return main([*argv, "--since", str(now - 20), "--log", str(root / "log.jsonl")])


def _decisions(root: Path) -> list[dict[str, Any]]:
    lines = (root / "log.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["kind"] == "decision"]


def _weight(root: Path) -> int:
    return int(yaml.safe_load((root / "routing.yaml").read_text())["canary_weight"])


def _no_secret(hook: FakeWebhookReceiver, *texts: str) -> None:
    for text in texts:
        assert hook.secret not in text
        assert hook.url not in text


# --- canary run -----------------------------------------------------------------------------------


def test_a_rollback_reaches_slack_and_json_webhooks(tmp_path: Path, receiver: FakeWebhookReceiver) -> None:
    _config(tmp_path, SLACK, JSON_ALL)
    assert _rollout(tmp_path) == 1
    bodies = receiver.received
    json_bodies = [b for b in bodies if "event" in b]
    slack = [b for b in bodies if "blocks" in b]
    assert json_bodies[0]["event"] == "start"
    assert json_bodies[-1]["event"] == "rollback"
    last = _decisions(tmp_path)[-1]
    assert json_bodies[-1]["decision"] == {k: v for k, v in last.items() if k != "ts"}
    assert json_bodies[-1]["target"]["candidate"] == "gpt-4o-2024-11-20"
    assert json_bodies[-1]["run_url"] == "https://github.example/acme/bot/actions/runs/42"
    # slack listens for rollback, hold and no_data only (the default): one message, the rollback
    assert len(slack) == 1
    assert slack[0]["text"].startswith("evalgate canary: rollback at 5%: eval_pass_rate fell")
    section = slack[0]["blocks"][0]["text"]["text"]
    assert ":rotating_light: *evalgate canary: rollback at 5%*" in section
    context = slack[0]["blocks"][1]["elements"][0]["text"]
    assert "model gpt-4o-2024-08-06 → gpt-4o-2024-11-20" in context
    assert "<https://github.example/acme/bot/actions/runs/42|run>" in context


def test_a_failing_webhook_is_retried_logged_and_changes_nothing(
    tmp_path: Path,
    receiver: FakeWebhookReceiver,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    retry_waits: list[float],
) -> None:
    caplog.set_level(logging.DEBUG)
    _config(tmp_path, SLACK)
    receiver.fail_next(503, times=100)
    assert _judge(tmp_path) == 1
    assert _decisions(tmp_path)[-1]["action"] == "rollback"
    assert [d.status for d in receiver.deliveries] == [503, 503, 503]
    out, err = capsys.readouterr()
    assert "notify SLACK_WEBHOOK_URL (slack, rollback): gave up after 3 attempts" in err
    assert "HTTP 503" in err
    assert "the decision stands" in err
    _no_secret(receiver, out, err, caplog.text)


def test_a_webhook_that_recovers_gets_the_message_once(
    tmp_path: Path, receiver: FakeWebhookReceiver, capsys: pytest.CaptureFixture[str]
) -> None:
    _config(tmp_path, SLACK)
    receiver.fail_next(502, times=1)
    assert _judge(tmp_path) == 1
    assert [d.status for d in receiver.deliveries] == [502, 200]
    assert "notify" not in capsys.readouterr().err


def test_an_unreachable_or_unset_webhook_never_blocks(
    tmp_path: Path,
    receiver: FakeWebhookReceiver,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.delenv("NOTIFY_WEBHOOK")
    _config(tmp_path, SLACK, JSON_ALL)
    url = receiver.url
    receiver.stop()  # connection refused from now on
    assert _judge(tmp_path) == 1
    out, err = capsys.readouterr()
    assert "notify SLACK_WEBHOOK_URL (slack, rollback): gave up after 3 attempts: " in err
    assert "ConnectionRefusedError" in err
    assert "notify NOTIFY_WEBHOOK: the environment variable is not set or empty" in err
    assert url not in out + err + caplog.text
    assert receiver.secret not in out + err + caplog.text


def test_on_filters_events(tmp_path: Path, receiver: FakeWebhookReceiver) -> None:
    _config(tmp_path, "    - {url: '${NOTIFY_WEBHOOK}', on: [promote]}")
    assert _judge(tmp_path) == 1
    assert receiver.deliveries == []


# --- canary judge ---------------------------------------------------------------------------------


def test_canary_judge_sends_its_decision(tmp_path: Path, receiver: FakeWebhookReceiver) -> None:
    _config(tmp_path, JSON_ALL)
    assert _judge(tmp_path) == 1
    (body,) = receiver.received
    assert (body["event"], body["decision"]["action"], body["decision"]["exit_code"]) == (
        "rollback",
        "rollback",
        1,
    )


# --- configuration --------------------------------------------------------------------------------


def test_a_literal_url_is_refused_with_its_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _config(tmp_path, "    - {url: 'https://hooks.slack.com/services/T0/B0/secret', format: slack}")
    assert main(["canary", "plan", "--config", str(tmp_path / "evalgate.yaml")]) == 2
    err = capsys.readouterr().err
    assert "evalgate.yaml:12" in err
    assert "must be an environment variable" in err


@pytest.mark.parametrize(
    ("hook", "message"),
    [
        ("{url: '${X}', on: [rolback]}", "rolback"),
        ("{url: '${X}', format: teams}", "format"),
        ("{url: '${X}', on: []}", "on"),
    ],
)
def test_bad_webhook_fields_are_config_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], hook: str, message: str
) -> None:
    _config(tmp_path, f"    - {hook}")
    assert main(["canary", "plan", "--config", str(tmp_path / "evalgate.yaml")]) == 2
    assert message in capsys.readouterr().err


def test_slack_text_is_escaped() -> None:
    body = slack_message("a <b> & c", "rollback", "x < y", "ctx", None)
    assert body["text"] == "a &lt;b&gt; &amp; c: x &lt; y"
    assert "run>" not in json.dumps(body)


def test_a_body_that_cannot_be_built_is_a_warning_not_a_crash() -> None:
    warnings: list[str] = []
    spec = CanaryWebhook(url="${HOOK}")
    notifier = Notifier([spec], {"HOOK": "http://127.0.0.1:9/x"}, warn=warnings.append)

    def broken(_: Any) -> dict[str, Any]:
        raise KeyError("weight")

    notifier.send("rollback", broken)
    assert notifier.failed == [("HOOK", "rollback")]
    assert warnings == ["evalgate: notify HOOK (json, rollback): KeyError; the decision stands"]
    assert canary_body(spec, "start", {"weight": 5, "reason": "go"}, {}, None)["event"] == "start"


# --- the PR gate ------------------------------------------------------------------------------------

GATE_PROJECT = """\
model:
  provider: openai
  name: gpt-4o-2024-11-20
  base_url: {base_url}
  api_key_env: FAKE_KEY
  max_attempts: 1
prompts: {{greet: prompts/greet.md}}
suites: ["evals/*.yaml"]
gate:
  threshold: 0.75
  notify:
    - {{url: '${{SLACK_WEBHOOK_URL}}', format: slack}}
    - {{url: '${{NOTIFY_WEBHOOK}}', format: json, on: [fail, pass, error]}}
"""


def _gate_project(root: Path, base_url: str) -> Path:
    (root / "evals").mkdir()
    (root / "prompts").mkdir()
    (root / "prompts" / "greet.md").write_text("Greet {{ name }} politely.\n")
    (root / "evals" / "main.yaml").write_text(
        "cases:\n"
        "  - {id: ann, prompt: greet, vars: {name: Ann}, checks: [{type: contains, value: Ann}]}\n"
        "  - {id: bob, prompt: greet, vars: {name: Bob}, checks: [{type: contains, value: Bob}]}\n"
    )
    config = root / "evalgate.yaml"
    config.write_text(GATE_PROJECT.format(base_url=base_url))
    return config


@pytest.mark.parametrize(
    ("reply", "code", "events"), [("Hello Ann and Bob", 0, ["pass"]), ("Hi", 1, ["fail", "fail"])]
)
def test_the_gate_notifies_on_failure(
    tmp_path: Path,
    receiver: FakeWebhookReceiver,
    monkeypatch: pytest.MonkeyPatch,
    reply: str,
    code: int,
    events: list[str],
) -> None:
    monkeypatch.setenv("FAKE_KEY", "k")
    with FakeModelServer(lambda _: reply) as server:
        config = _gate_project(tmp_path, server.url)
        assert main(["run", "--config", str(config), "--no-cache"]) == code
    bodies = receiver.received
    assert [b.get("event", "fail" if "blocks" in b else "?") for b in bodies] == events
    if code == 1:
        slack = next(b for b in bodies if "blocks" in b)
        assert slack["text"].startswith("evalgate: gate failed: ")
        assert "pass rate 0.0% (threshold 75.0%)" in slack["blocks"][1]["elements"][0]["text"]
        record = next(b for b in bodies if "event" in b)["gate"]
        assert (record["passed"], record["threshold"]) == (False, 0.75)


def test_a_manual_rollback_is_announced(tmp_path: Path, receiver: FakeWebhookReceiver) -> None:
    _config(tmp_path, SLACK)
    argv = ["canary", "rollback", "--config", str(tmp_path / "evalgate.yaml"), "--log", str(tmp_path / "l")]
    assert main([*argv, "--actor", "bob", "--reason", "pager alert"]) == 0
    (body,) = receiver.received
    assert body["text"] == "evalgate canary: rollback at 0%: manual rollback by bob: pager alert"


def test_the_reusable_canary_workflow_passes_the_webhook_to_every_job_that_decides() -> None:
    workflow = yaml.safe_load((Path(__file__).parents[1] / ".github/workflows/canary.yml").read_text())
    assert "NOTIFY_WEBHOOK" in workflow[True]["workflow_call"]["secrets"]  # `on:` is YAML 1.1's true
    steps = [s for job in workflow["jobs"].values() for s in job["steps"] if "evalgate" in s.get("run", "")]
    deciding = [
        s
        for s in steps
        if any(v in s["run"] for v in ("evalgate canary run", "(canary promote", "(canary rollback"))
    ]
    assert len(deciding) == 3
    for step in deciding:
        assert step["env"]["NOTIFY_WEBHOOK"] == "${{ secrets.NOTIFY_WEBHOOK }}", step["name"]


def test_the_action_notifies_a_failed_gate(
    tmp_path: Path, receiver: FakeWebhookReceiver, capsys: pytest.CaptureFixture[str]
) -> None:
    # The Docker action in-process on a push: the base-less bar is the checked-out config.
    from evalgate import action
    from evalgate.testing import FakeGitHubServer

    ws = tmp_path / "ws"
    (ws / "evals").mkdir(parents=True)
    (ws / "evalgate.yaml").write_text(
        "model: {provider: replay, name: gpt-4o-2024-11-20, responses: recordings.yaml}\n"
        'suites: ["evals/*.yaml"]\n'
        "gate:\n  threshold: 0.75\n  notify:\n    - {url: '${SLACK_WEBHOOK_URL}', format: slack}\n"
    )
    (ws / "evals" / "s.yaml").write_text(
        "cases:\n"
        "  - {id: a, input: 'Say hello', checks: [{type: icontains, value: hello}]}\n"
        "  - {id: b, input: 'Say bye', checks: [{type: icontains, value: bye}]}\n"
    )
    (ws / "recordings.yaml").write_text("a: 'Hello!'\nb: 'See you'\n")
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"after": "a" * 40}))
    with FakeGitHubServer("octo/repo", token="t") as gh:
        env = {
            "PATH": os.environ["PATH"],
            "HOME": str(tmp_path / "home"),
            "GITHUB_ACTIONS": "true",
            "GITHUB_WORKSPACE": str(ws),
            "RUNNER_TEMP": str(tmp_path / "runner"),
            "GITHUB_EVENT_NAME": "push",
            "GITHUB_EVENT_PATH": str(event),
            "GITHUB_SHA": "a" * 40,
            "GITHUB_REPOSITORY": "octo/repo",
            "GITHUB_API_URL": gh.url,
            "GITHUB_OUTPUT": str(tmp_path / "out.txt"),
            "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
            "INPUT_CONFIG": "evalgate.yaml",
            "INPUT_GITHUB-TOKEN": "t",
            "INPUT_COMMENT": "true",
            "INPUT_STATUS-CONTEXT": "ai-eval-gate",
            "INPUT_BASELINE": "none",
            "INPUT_FAIL-ON-MIXED-CHANGE": "true",
            "INPUT_WORKING-DIRECTORY": ".",
        }
        code = action.main(env)
    out = capsys.readouterr()
    assert code == 1, out
    (body,) = receiver.received
    assert body["text"].startswith("evalgate: gate failed: ")
    assert "<https://github.example/acme/bot/actions/runs/42|run>" in body["blocks"][1]["elements"][0]["text"]
    _no_secret(receiver, out.out, out.err)
