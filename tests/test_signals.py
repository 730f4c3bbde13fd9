"""SIGINT and SIGTERM stop a run at once: retries and in-flight calls end, a partial report is written.

Real processes, real signals, the loopback model and GitHub fakes. Each test waits until calls are in
flight (a model answer that takes 30 s, a retry that waits 20 s), sends the signal and times the exit.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from evalgate.cache import DiskCache
from evalgate.testing import FakeGitHubServer, FakeModelServer, prompt_of

ROOT = Path(__file__).resolve().parents[1]
FAST = [f"fast{i}" for i in range(4)]
SHA = "a" * 40


def _slow_for(release: threading.Event) -> Callable[[dict[str, Any]], str]:
    def answer(body: dict[str, Any]) -> str:
        prompt = prompt_of(body)
        if "slow" in prompt:
            release.wait(30)  # an answer that would take 30 s
        return f"ok {prompt}"

    return answer


def _project(root: Path, base_url: str) -> Path:
    (root / "evals").mkdir(parents=True)
    cases = [*FAST, "slow", "retried"]
    (root / "evals" / "s.yaml").write_text(
        "cases:\n"
        + "".join(f"  - {{id: {c}, input: '{c}', checks: [{{type: contains, value: ok}}]}}\n" for c in cases)
    )
    config = root / "evalgate.yaml"
    config.write_text(
        f"model: {{provider: openai, name: gpt-4o-2024-11-20, base_url: '{base_url}', api_key_env: FAKE_KEY,"
        " max_attempts: 5, timeout_s: 60}\n"
        "suites: [evals/*.yaml]\nrunner: {concurrency: 2, cache_dir: .cache}\n"
    )
    return config


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _in_flight(server: FakeModelServer) -> Callable[[], bool]:
    """True once every case has been asked (so 'retried' got its 503 and 'slow' is in flight)."""

    def check() -> bool:
        prompts = [prompt_of(r.json) for r in server.requests if isinstance(r.json, dict)]
        return {*FAST, "slow", "retried"} <= set(prompts)

    return check


def _retry_first(server: FakeModelServer) -> None:
    # the 'retried' case gets a 503 asking for 20 s, then waits them out in the retry loop
    server.fail_next(503, retry_after=20, prompt_contains="retried")


def test_sigint_stops_retries_and_calls_and_writes_a_partial_report(tmp_path: Path) -> None:
    release = threading.Event()
    with FakeModelServer(_slow_for(release)) as server:
        config = _project(tmp_path, server.openai_base_url)
        _retry_first(server)
        proc = subprocess.Popen(
            [sys.executable, "-m", "evalgate", "run", "--config", str(config), "--json", "r.json"],
            cwd=tmp_path,
            env={**os.environ, "FAKE_KEY": "k", "PYTHONPATH": str(ROOT)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            _wait_for(_in_flight(server), "every case to be asked")
            time.sleep(0.3)  # let the fast answers arrive
            sent = time.monotonic()
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=30)
            elapsed = time.monotonic() - sent
        finally:
            release.set()
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 130, err
    assert elapsed < 2.0, f"exit took {elapsed:.1f}s after SIGINT"
    assert "interrupted" in err
    assert "Traceback" not in err
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["incomplete"] is True
    assert report["planned_cases"] == 6
    assert report["gate"]["passed"] is False
    assert "interrupted (SIGINT)" in report["gate"]["reasons"][0]
    done = {c["id"] for c in report["cases"]}
    assert done == set(FAST)  # 'slow' was in flight and 'retried' waiting out Retry-After: 20
    assert all(c["status"] == "passed" for c in report["cases"])
    _assert_cache_consistent(tmp_path / ".cache", expected=len(done))


def _assert_cache_consistent(root: Path, *, expected: int) -> None:
    entries = [p for p in root.rglob("*.json") if "parsed" not in p.parts]
    assert not [p for p in root.rglob(".tmp-*")], "a half-written cache file was left behind"
    cache = DiskCache(root)
    for path in entries:
        assert cache.get(path.stem) is not None, f"damaged cache entry {path}"
    assert len(entries) == expected


def _action_env(tmp_path: Path, gh: FakeGitHubServer, workspace: Path) -> dict[str, str]:
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"after": SHA}))
    (tmp_path / "summary.md").write_text("")
    (tmp_path / "output.txt").write_text("")
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path / "home"),
        "GITHUB_ACTIONS": "true",
        "RUNNER_TEMP": str(tmp_path / "runner-temp"),  # the Action's response cache lives here
        "GITHUB_WORKSPACE": str(workspace),
        "GITHUB_EVENT_NAME": "push",
        "GITHUB_EVENT_PATH": str(event),
        "GITHUB_SHA": SHA,
        "GITHUB_REPOSITORY": "octo/repo",
        "GITHUB_SERVER_URL": "https://github.example",
        "GITHUB_API_URL": gh.url,
        "GITHUB_RUN_ID": "4242",
        "GITHUB_OUTPUT": str(tmp_path / "output.txt"),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
        "INPUT_CONFIG": "evalgate.yaml",
        "INPUT_GITHUB-TOKEN": "test-token",
        "INPUT_COMMENT": "true",
        "INPUT_STATUS-CONTEXT": "ai-eval-gate",
        "INPUT_BASELINE": "none",
        "INPUT_WORKING-DIRECTORY": ".",
        "FAKE_KEY": "k",
        "PYTHONPATH": str(ROOT),
    }


def test_sigterm_to_the_entrypoint_sets_the_status_to_cancelled_and_exits_143(tmp_path: Path) -> None:
    workspace = tmp_path / "workspace"
    release = threading.Event()
    with (
        FakeGitHubServer("octo/repo", token="test-token") as gh,
        FakeModelServer(_slow_for(release)) as server,
    ):
        _project(workspace, server.openai_base_url)
        _retry_first(server)
        proc = subprocess.Popen(
            [sys.executable, str(ROOT / "entrypoint.py")],
            cwd=workspace,
            env=_action_env(tmp_path, gh, workspace),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            _wait_for(_in_flight(server), "every case to be asked")
            time.sleep(0.3)
            sent = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=30)
            elapsed = time.monotonic() - sent
        finally:
            release.set()
            if proc.poll() is None:
                proc.kill()
        statuses = [s for s in gh.statuses(SHA) if s["context"] == "ai-eval-gate/eval"]
    assert proc.returncode == 143, out + err
    assert elapsed < 2.0, f"exit took {elapsed:.1f}s after SIGTERM"
    assert [s["state"] for s in statuses] == ["pending", "error"]
    assert statuses[-1]["description"] == "cancelled"
    report = json.loads((workspace / ".evalgate" / "report.json").read_text())
    assert report["incomplete"] is True
    assert report["gate"]["passed"] is False
    assert "interrupted (SIGTERM)" in report["gate"]["reasons"][0]
    assert "::error" in out


def test_sigterm_during_the_baseline_run_leaves_no_report_as_the_pull_request_s(tmp_path: Path) -> None:
    """A pull request's base commit is evaluated first: a stop then has nothing of the PR's to report, and
    the base's partial run must not be written as the PR's report."""
    from tests.test_action_entrypoint import make_workspace

    release = threading.Event()
    with (
        FakeGitHubServer("octo/repo", token="test-token") as gh,
        FakeModelServer(_slow_for(release)) as server,
    ):
        scratch = tmp_path / "scratch"
        config = _project(scratch, server.openai_base_url)
        files: dict[str, str | None] = {
            "evalgate.yaml": config.read_text(),
            "evals/s.yaml": (scratch / "evals" / "s.yaml").read_text(),
        }
        ws = make_workspace(tmp_path, files, {"README.md": "docs\n"})
        gh.add_pull(7, ws.head, ws.base, files=["README.md"])
        env = _action_env(tmp_path, gh, ws.repo) | {
            "GITHUB_EVENT_NAME": "pull_request",
            "GITHUB_EVENT_PATH": str(ws.event("pull_request")),
            "INPUT_BASELINE": "auto",
            "GIT_CONFIG_GLOBAL": str(tmp_path / "gitconfig"),
        }
        proc = subprocess.Popen(
            [sys.executable, str(ROOT / "entrypoint.py")],
            cwd=ws.repo,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            _wait_for(
                lambda: any("slow" in prompt_of(r.json) for r in server.requests), "the base run's call"
            )
            time.sleep(0.3)
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=30)
        finally:
            release.set()
            if proc.poll() is None:
                proc.kill()
        statuses = [s for s in gh.statuses(ws.head) if s["context"] == "ai-eval-gate/eval"]
    assert proc.returncode == 143, out + err
    assert "evaluating the base commit" in out
    assert statuses[-1]["state"] == "error"
    assert statuses[-1]["description"] == "cancelled"
    assert not (ws.repo / ".evalgate" / "report.json").exists()
