"""End to end: the CLI against a real loopback model server speaking the OpenAI and Anthropic formats."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from evalgate.cli import main
from evalgate.testing import FakeModelServer, prompt_of


def _project(
    root: Path, base_url: str, *, provider: str = "openai", extra: str = "", cases: str = ""
) -> Path:
    (root / "evals").mkdir(parents=True, exist_ok=True)
    (root / "prompts").mkdir(exist_ok=True)
    (root / "prompts" / "greet.md").write_text("Greet {{ name }} politely.\n")
    (root / "evalgate.yaml").write_text(
        f"""\
model:
  provider: {provider}
  name: gpt-4o-2024-11-20
  base_url: {base_url}
  api_key_env: FAKE_KEY
  max_attempts: 3
  timeout_s: 2
prompts:
  greet: prompts/greet.md
suites: ["evals/*.yaml"]
gate:
  threshold: 0.75
runner:
  concurrency: 4
prices:
  gpt-4o-2024-11-20: {{input: 2.5, output: 10}}
{extra}"""
    )
    (root / "evals" / "main.yaml").write_text(
        cases
        or """\
cases:
  - id: hello_ann
    prompt: greet
    vars: {name: Ann}
    checks: [{type: contains, value: Ann}]
  - id: hello_bob
    prompt: greet
    vars: {name: Bob}
    checks: [{type: contains, value: Bob}]
  - id: literal
    input: "Say OK"
    checks: [{type: icontains, value: "say ok"}, {type: max_words, value: 10}]
  - id: wants_json
    input: "Return JSON"
    checks: [{type: is_json}]
"""
    )
    return root / "evalgate.yaml"


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_KEY", "sk-test-secret-123")


def _report(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def test_run_passes_gate_and_writes_all_reports(tmp_path: Path, env: None) -> None:
    with FakeModelServer(api_key="sk-test-secret-123") as server:
        config = _project(tmp_path, server.openai_base_url)
        out = tmp_path / "out"
        code = main(
            [
                "run",
                "--config",
                str(config),
                "--json",
                str(out / "r.json"),
                "--junit",
                str(out / "r.xml"),
                "--markdown",
                str(out / "r.md"),
            ]
        )
    assert code == 0  # 3 of 4 pass (the echo is not JSON) and the threshold is 75%
    report = _report(out / "r.json")
    assert report["schema_version"] == 1
    assert report["pass_rate"] == 0.75
    assert report["gate"]["passed"] is True
    by_id = {c["id"]: c for c in report["cases"]}
    assert by_id["hello_ann"]["response"] == "echo: Greet Ann politely."
    assert by_id["wants_json"]["passed"] is False
    assert by_id["wants_json"]["checks"][0]["type"] == "is_json"
    assert by_id["hello_ann"]["cost_usd"] > 0
    assert by_id["hello_ann"]["latency_ms"] > 0
    assert "<testcase" in (out / "r.xml").read_text()
    assert "wants\\_json" in (out / "r.md").read_text()  # Markdown-escaped id


def test_retries_are_counted_by_kind_in_the_output_and_the_report(
    tmp_path: Path, env: None, retry_waits: list[float], capsys: pytest.CaptureFixture[str]
) -> None:
    with FakeModelServer() as server:
        server.fail_next(429, retry_after=1, times=1)
        server.fail_next(503, times=1)  # max_attempts is 3: the third attempt answers
        config = _project(tmp_path, server.openai_base_url)
        code = main(
            ["run", "--config", str(config), "--json", str(tmp_path / "r.json"), "--concurrency", "1"]
        )
    assert code == 0
    out = capsys.readouterr().out.splitlines()
    assert "retries: 429 ×1 · 5xx ×1 · timeouts ×0 · connection ×0 · fallback ×0" in out
    assert out[-1].startswith("✔ gate passed · 75.0% (3/4)")
    report = _report(tmp_path / "r.json")
    assert report["retries"] == {"429": 1, "5xx": 1, "timeout": 0, "connection": 0, "other": 0, "fallback": 0}
    by_id = {c["id"]: c for c in report["cases"]}
    # what was sent is stored: the rendered prompt, and the template vars
    assert by_id["hello_ann"]["prompt"] == "Greet Ann politely."
    assert by_id["hello_ann"]["vars"] == {"name": "Ann"}
    assert by_id["literal"]["prompt"] == "Say OK"
    assert by_id["literal"]["vars"] is None


def test_quiet_prints_only_the_verdict_line(
    tmp_path: Path, env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    with FakeModelServer() as server:
        config = _project(tmp_path, server.openai_base_url)
        assert main(["run", "--config", str(config), "-q", "--threshold", "0.9"]) == 1
    captured = capsys.readouterr()
    assert captured.out == "✘ gate FAILED · 75.0% (3/4) · threshold 90%\n"
    assert captured.err == ""  # no progress lines either


def test_gate_failure_exits_1(tmp_path: Path, env: None) -> None:
    with FakeModelServer() as server:
        config = _project(tmp_path, server.openai_base_url)
        assert main(["run", "--config", str(config), "--threshold", "0.9"]) == 1


def test_rate_limit_is_retried_honouring_retry_after(
    tmp_path: Path, env: None, retry_waits: list[float]
) -> None:
    with FakeModelServer() as server:
        server.fail_next(429, retry_after=7, times=2)
        config = _project(tmp_path, server.openai_base_url)
        code = main(
            ["run", "--config", str(config), "--json", str(tmp_path / "r.json"), "--concurrency", "1"]
        )
        assert len(server.requests) == 6
    assert code == 0
    assert retry_waits[:2] == [7.0, 7.0]
    assert all(c["error"] is None for c in _report(tmp_path / "r.json")["cases"])


def test_calls_that_keep_failing_are_errors_not_passes(tmp_path: Path, env: None) -> None:
    with FakeModelServer() as server:
        server.fail_next(500, times=3)  # exactly one case exhausts its three attempts
        config = _project(tmp_path, server.openai_base_url)
        code = main(
            ["run", "--config", str(config), "--json", str(tmp_path / "r.json"), "--concurrency", "1"]
        )
    report = _report(tmp_path / "r.json")
    errors = [c for c in report["cases"] if c["status"] == "error"]
    assert len(errors) == 1
    assert "gave up after 3 attempts" in errors[0]["error"]
    assert errors[0]["passed"] is False
    assert code == 1  # 2 of 4 pass: below 75%


def test_every_call_failing_is_an_infrastructure_error(
    tmp_path: Path, env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    with FakeModelServer() as server:
        server.fail_next(503, times=100)
        config = _project(tmp_path, server.openai_base_url)
        code = main(["run", "--config", str(config)])
    assert code == 3
    assert "every case failed" in capsys.readouterr().out


def test_api_key_never_reaches_output_or_reports(
    tmp_path: Path, env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    with FakeModelServer(api_key="a-different-key") as server:
        config = _project(tmp_path, server.openai_base_url)
        main(["run", "--config", str(config), "--json", str(tmp_path / "r.json")])
    out, err = capsys.readouterr()
    blob = out + err + (tmp_path / "r.json").read_text()
    assert "401" in blob or "API key" in blob
    assert "sk-test-secret-123" not in blob


def test_second_run_is_served_from_cache_and_no_cache_bypasses_it(tmp_path: Path, env: None) -> None:
    with FakeModelServer() as server:
        config = _project(tmp_path, server.openai_base_url)
        main(["run", "--config", str(config)])
        first = len(server.requests)
        main(["run", "--config", str(config), "--json", str(tmp_path / "r.json")])
        assert len(server.requests) == first
        assert all(c["cached"] for c in _report(tmp_path / "r.json")["cases"])
        main(["run", "--config", str(config), "--no-cache"])
        assert len(server.requests) == 2 * first


def test_fallback_answers_after_primary_gives_up_and_is_flagged(tmp_path: Path, env: None) -> None:
    cases = "cases:\n  - {id: only, input: hi, checks: [{type: contains, value: hi}]}\n"
    with FakeModelServer() as server:
        server.fail_next(500, times=3)
        config = _project(tmp_path, server.openai_base_url, cases=cases)
        text = config.read_text().replace(
            "  max_attempts: 3", "  max_attempts: 3\n  fallback: gpt-4o-mini-2024-07-18"
        )
        config.write_text(text)
        code = main(["run", "--config", str(config), "--json", str(tmp_path / "r.json")])
        models = [r.json["model"] for r in server.requests]
    assert code == 0
    assert models == ["gpt-4o-2024-11-20"] * 3 + ["gpt-4o-mini-2024-07-18"]
    case = _report(tmp_path / "r.json")["cases"][0]
    assert case["fallback"] is True
    assert case["model"] == "gpt-4o-mini-2024-07-18"


def test_repeat_with_min_pass_counts_trials(tmp_path: Path, env: None) -> None:
    calls = {"n": 0}
    lock = threading.Lock()

    def flaky(body: dict[str, Any]) -> str:
        with lock:
            calls["n"] += 1
            return "yes" if calls["n"] % 2 else "no"

    cases = "cases:\n  - {id: f, input: q, repeat: 4, min_pass: 2, checks: [{type: equals, value: 'yes'}]}\n"
    with FakeModelServer(flaky) as server:
        config = _project(tmp_path, server.openai_base_url, cases=cases)
        code = main(["run", "--config", str(config), "--no-cache", "--json", str(tmp_path / "r.json")])
    case = _report(tmp_path / "r.json")["cases"][0]
    assert (case["trials"], case["trials_passed"], code) == (4, 2, 0)


def test_concurrency_is_bounded(tmp_path: Path, env: None) -> None:
    active = {"now": 0, "max": 0}
    lock = threading.Lock()

    def slow(body: dict[str, Any]) -> str:
        with lock:
            active["now"] += 1
            active["max"] = max(active["max"], active["now"])
        time.sleep(0.05)
        with lock:
            active["now"] -= 1
        return prompt_of(body)

    cases = "cases:\n" + "".join(
        f"  - {{id: c{i}, input: 'n{i}', checks: [{{type: contains, value: 'n{i}'}}]}}\n" for i in range(24)
    )
    with FakeModelServer(slow) as server:
        config = _project(tmp_path, server.openai_base_url, cases=cases)
        assert main(["run", "--config", str(config), "--concurrency", "3", "--no-cache"]) == 0
    assert active["max"] == 3


def test_anthropic_provider_end_to_end(tmp_path: Path, env: None) -> None:
    with FakeModelServer() as server:
        config = _project(tmp_path, server.url, provider="anthropic")
        config.write_text(config.read_text().replace("gpt-4o-2024-11-20", "claude-3-5-sonnet-20241022"))
        code = main(["run", "--config", str(config), "--json", str(tmp_path / "r.json")])
        assert all(r.path == "/v1/messages" for r in server.requests)
    assert code == 0
    assert _report(tmp_path / "r.json")["model"] == "claude-3-5-sonnet-20241022"


def _cli(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "evalgate", *args],
        cwd=cwd,
        # the checkout under test, whatever copy of evalgate happens to be installed
        env={
            **os.environ,
            "FAKE_KEY": "k",
            "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
            **(env or {}),
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_console_script_reports_bad_config_without_traceback(tmp_path: Path) -> None:
    (tmp_path / "evalgate.yaml").write_text("model: [\n")
    proc = _cli("validate", cwd=tmp_path)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert "evalgate.yaml:2" in err or "evalgate.yaml:1" in err
    assert "Traceback" not in err


def test_interrupt_exits_130(tmp_path: Path) -> None:
    with FakeModelServer(latency=30) as server:
        config = _project(tmp_path, server.openai_base_url)
        proc = _cli("run", "--config", str(config), cwd=tmp_path)
        deadline = time.monotonic() + 30
        while not server.requests and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert "interrupted" in err


def test_shards_cover_every_case_once_and_merge_into_one_verdict(tmp_path: Path, env: None) -> None:
    cases = (
        "cases:\n"
        + "".join(
            f"  - {{id: c{i}, input: 'n{i}', checks: [{{type: contains, value: 'n{i}'}}]}}\n"
            for i in range(30)
        )
        + "  - {id: bad, input: x, checks: [{type: contains, value: 'never'}]}\n"
    )
    with FakeModelServer() as server:
        config = _project(tmp_path, server.openai_base_url, cases=cases)
        shards = []
        for i in (1, 2, 3):
            path = tmp_path / f"shard-{i}.json"
            main(["run", "--config", str(config), "--shard", f"{i}/3", "--json", str(path)])
            shards.append(str(path))
    ids = [c["id"] for s in shards for c in _report(Path(s))["cases"]]
    assert sorted(ids) == sorted([f"c{i}" for i in range(30)] + ["bad"])
    code = main(
        [
            "merge",
            *shards,
            "--config",
            str(config),
            "--json",
            str(tmp_path / "all.json"),
            "--threshold",
            "0.99",
        ]
    )
    merged = _report(tmp_path / "all.json")
    assert (code, merged["total"], merged["passed"]) == (1, 31, 30)
    assert main(["merge", *shards, "--config", str(config)]) == 0


def test_merge_rejects_overlapping_shards(
    tmp_path: Path, env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    with FakeModelServer() as server:
        config = _project(tmp_path, server.openai_base_url)
        main(["run", "--config", str(config), "--json", str(tmp_path / "a.json")])
    code = main(["merge", str(tmp_path / "a.json"), str(tmp_path / "a.json"), "--config", str(config)])
    assert code == 2
    assert "is also in" in capsys.readouterr().err


def test_llm_judge_grades_through_the_pinned_judge_model(tmp_path: Path, env: None) -> None:
    def answer(body: dict[str, Any]) -> str:
        if body["model"] == "gpt-4o-mini-2024-07-18":  # the judge
            polite = "please" in prompt_of(body)
            return json.dumps({"score": 0.9 if polite else 0.2, "reason": "tone"})
        return "Sure, please find the refund form attached." if "refund" in prompt_of(body) else "No."

    check = "[{type: llm_judge, rubric: 'Is it polite?', threshold: 0.7}]"
    cases = (
        f"cases:\n  - {{id: polite, input: 'refund?', checks: {check}}}\n"
        f"  - {{id: curt, input: 'hours?', checks: {check}}}\n"
    )
    judge = (
        "judge:\n  provider: openai\n  name: gpt-4o-mini-2024-07-18\n"
        "  base_url: {url}\n  api_key_env: FAKE_KEY\n"
    )
    with FakeModelServer(answer) as server:
        config = _project(
            tmp_path, server.openai_base_url, cases=cases, extra=judge.format(url=server.openai_base_url)
        )
        code = main(
            ["run", "--config", str(config), "--json", str(tmp_path / "r.json"), "--threshold", "0.5"]
        )
        judged = [r for r in server.requests if r.json["model"] == "gpt-4o-mini-2024-07-18"]
    by_id = {c["id"]: c for c in _report(tmp_path / "r.json")["cases"]}
    assert code == 0
    assert len(judged) == 2
    assert by_id["polite"]["passed"] is True
    assert by_id["curt"]["passed"] is False
    assert "0.20" in by_id["curt"]["checks"][0]["reason"]


def test_unparseable_judge_reply_is_an_error_not_a_pass(tmp_path: Path, env: None) -> None:
    def answer(body: dict[str, Any]) -> str:
        return "I think it is fine" if body["model"] == "gpt-4o-mini-2024-07-18" else "hello"

    cases = "cases:\n  - {id: j, input: 'hi', checks: [{type: llm_judge, rubric: 'Polite?'}]}\n"
    judge = (
        "judge:\n  provider: openai\n  name: gpt-4o-mini-2024-07-18\n"
        "  base_url: {url}\n  api_key_env: FAKE_KEY\n"
    )
    with FakeModelServer(answer) as server:
        config = _project(
            tmp_path, server.openai_base_url, cases=cases, extra=judge.format(url=server.openai_base_url)
        )
        main(["run", "--config", str(config), "--json", str(tmp_path / "r.json")])
    case = _report(tmp_path / "r.json")["cases"][0]
    assert case["status"] == "error"
    assert "llm_judge" in case["error"]


def test_repeats_are_cached_per_trial_not_served_one_answer_five_times(tmp_path: Path, env: None) -> None:
    counter = {"n": 0}
    lock = threading.Lock()

    def numbered(body: dict[str, Any]) -> str:
        with lock:
            counter["n"] += 1
            return f"answer {counter['n']}"

    cases = (
        "cases:\n  - {id: r, input: q, repeat: 3, min_pass: 1, checks: [{type: contains, value: answer}]}\n"
    )
    with FakeModelServer(numbered) as server:
        config = _project(tmp_path, server.openai_base_url, cases=cases)
        main(["run", "--config", str(config), "--json", str(tmp_path / "a.json")])
        main(["run", "--config", str(config), "--json", str(tmp_path / "b.json")])
        assert len(server.requests) == 3  # the second run is all cache hits
    first = [t["completion"]["text"] for t in _report(tmp_path / "a.json")["cases"][0]["trial_results"]]
    second = [t["completion"]["text"] for t in _report(tmp_path / "b.json")["cases"][0]["trial_results"]]
    assert sorted(first) == ["answer 1", "answer 2", "answer 3"]
    assert second == first
