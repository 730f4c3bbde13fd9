"""A provider that is down stops the run (``runner.max_consecutive_failures``), against real loopback servers.

Without the breaker, every case spends its whole retry schedule on a dead endpoint: 200 cases at
concurrency 16 took almost two minutes. With it, the run stops after a handful of calls, keeps what
finished as a partial report and exits 3.
"""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path
from typing import Any

import pytest

from evalgate.breaker import Breaker, provider_wide
from evalgate.cli import main
from evalgate.errors import EXIT_INFRA, ProviderDown, ProviderError
from evalgate.testing import FakeModelServer

MODEL = "gpt-4o-2024-11-20"
JUDGE = "gpt-4o-mini-2024-07-18"


def _error(status: int = 0, *, gave_up: bool = False) -> ProviderError:
    exc = ProviderError(f"HTTP {status}")
    exc.status = status
    exc.gave_up = gave_up
    return exc


# --- the count itself ------------------------------------------------------------------------------


def test_opens_after_the_limit_of_provider_wide_failures_in_a_row() -> None:
    breaker = Breaker(3, f"openai {MODEL}")
    for _ in range(2):
        breaker.failed(_error(503, gave_up=True))
        breaker.check()  # still closed
    breaker.failed(_error(503, gave_up=True))
    with pytest.raises(ProviderDown) as info:
        breaker.check()
    assert info.value.summary == f"openai {MODEL} failed 3 calls in a row"
    assert "the last: HTTP 503" in str(info.value)
    assert not info.value.retryable


def test_an_answer_resets_the_count_and_a_case_s_own_error_does_neither() -> None:
    breaker = Breaker(2, "m")
    breaker.failed(_error(0, gave_up=True))
    breaker.succeeded()
    breaker.failed(_error(0, gave_up=True))
    breaker.failed(_error(400))  # this case's prompt was refused: says nothing about the provider
    breaker.failed(_error(422))
    breaker.check()
    breaker.failed(_error(500, gave_up=True))
    assert breaker.opened is not None


@pytest.mark.parametrize(
    ("error", "wide"),
    [
        (_error(0, gave_up=True), True),  # no connection or a timeout, after every retry
        (_error(429, gave_up=True), True),
        (_error(502, gave_up=True), True),
        (_error(401), True),  # a refused key is never retried, and no case gets past it
        (_error(403), True),
        (_error(404), True),  # an unknown model
        (_error(400), False),
        (_error(0), False),  # e.g. an unreadable judge reply: that case's answer
    ],
)
def test_what_counts_as_the_provider_s_trouble(error: ProviderError, wide: bool) -> None:
    assert provider_wide(error) is wide


def test_a_call_counts_only_when_its_fallback_failed_for_a_provider_wide_reason_too() -> None:
    breaker = Breaker(1, "m")
    breaker.failed(_error(503, gave_up=True), _error(400))
    assert breaker.opened is None
    breaker.failed(_error(503, gave_up=True), _error(0, gave_up=True))
    assert breaker.opened is not None


def test_zero_never_opens() -> None:
    breaker = Breaker(0, "m")
    for _ in range(100):
        breaker.failed(_error(500, gave_up=True))
    breaker.check()


# --- whole runs against loopback servers -----------------------------------------------------------


def _project(
    root: Path,
    base_url: str,
    *,
    cases: int,
    runner: str,
    attempts: int = 2,
    judge_url: str | None = None,
) -> Path:
    (root / "evals").mkdir(parents=True, exist_ok=True)
    judge = ""
    checks = "[{type: contains, value: 'n{i}'}]"
    if judge_url is not None:
        judge = f"judge: {{provider: openai, name: {JUDGE}, base_url: '{judge_url}', max_attempts: 1}}\n"
        checks = "[{type: llm_judge, rubric: 'Is it {i}?'}]"
    (root / "evalgate.yaml").write_text(
        f"model: {{provider: openai, name: {MODEL}, base_url: '{base_url}', max_attempts: {attempts}, "
        "timeout_s: 5}\n"
        'suites: ["evals/*.yaml"]\n'
        f"runner: {runner}\n" + judge
    )
    (root / "evals" / "main.yaml").write_text(
        "cases:\n"
        + "".join(
            f"  - {{id: c{i}, input: 'n{i}', checks: {checks.replace('{i}', str(i))}}}\n"
            for i in range(cases)
        )
    )
    return root / "evalgate.yaml"


def _run(config: Path, report: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    code = main(["run", "--config", str(config), "--json", str(report), "--no-cache", "--quiet", *extra])
    return code, json.loads(report.read_text())


def _closed_port() -> int:
    """A loopback port nothing listens on: every connection is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_dead_endpoint_stops_the_run_after_a_few_calls(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/v1"
    config = _project(tmp_path, url, cases=200, runner="{concurrency: 4, max_consecutive_failures: 5}")
    code, report = _run(config, tmp_path / "r.json")
    assert code == EXIT_INFRA
    assert report["incomplete"] is True
    assert report["planned_cases"] == 200
    # the five that tripped it, and at most the other calls that were in flight with them
    assert 5 <= len(report["cases"]) <= 5 + 4
    assert all(c["status"] == "error" for c in report["cases"])
    assert report["gate"]["passed"] is False
    reason = report["gate"]["reasons"][0]
    assert reason.startswith(f"the run stopped after {len(report['cases'])} of 200 cases: openai {MODEL}")
    assert "this partial report is not a verdict" in reason
    out = capsys.readouterr().out
    assert f"evalgate: stopped early: openai {MODEL} failed 5 calls in a row" in out


def test_a_server_answering_500_to_everything_gets_a_bounded_number_of_requests(tmp_path: Path) -> None:
    with FakeModelServer() as server:
        server.fail_next(500, times=10_000)
        config = _project(
            tmp_path,
            server.openai_base_url,
            cases=100,
            runner="{concurrency: 4, max_consecutive_failures: 3}",
        )
        code, report = _run(config, tmp_path / "r.json")
        sent = len(server.requests)
    assert code == EXIT_INFRA
    assert report["incomplete"] is True
    # two attempts for each call that counted, and for each one in flight when it opened
    assert sent <= 2 * (3 + 4), sent
    assert report["retries"]["5xx"] >= 3


def test_a_refused_key_stops_the_run_without_retries(tmp_path: Path) -> None:
    with FakeModelServer(api_key="the-right-key") as server:
        config = _project(
            tmp_path, server.openai_base_url, cases=50, runner="{concurrency: 1, max_consecutive_failures: 4}"
        )
        code, report = _run(config, tmp_path / "r.json")
        sent = len(server.requests)
    assert code == EXIT_INFRA
    assert sent == 4  # 401 is final for every call: one request each, then no more
    assert len(report["cases"]) == 4


def test_errors_of_the_cases_own_do_not_stop_the_run(tmp_path: Path) -> None:
    with FakeModelServer() as server:
        server.fail_next(400, times=10_000, message="this prompt is not allowed")
        config = _project(
            tmp_path, server.openai_base_url, cases=20, runner="{concurrency: 2, max_consecutive_failures: 3}"
        )
        code, report = _run(config, tmp_path / "r.json")
        sent = len(server.requests)
    assert sent == 20  # every case was tried: a 400 is about its prompt, not the provider
    assert not report.get("incomplete")
    assert len(report["cases"]) == 20
    assert code == EXIT_INFRA  # every case ended in an error


def test_a_provider_that_recovers_between_failures_is_not_stopped(tmp_path: Path) -> None:
    with FakeModelServer() as server:
        # two calls fail for good (two attempts each), then the provider answers again
        server.fail_next(503, times=4)
        config = _project(
            tmp_path, server.openai_base_url, cases=12, runner="{concurrency: 1, max_consecutive_failures: 3}"
        )
        code, report = _run(config, tmp_path / "r.json")
    assert not report.get("incomplete")
    assert [c["status"] for c in report["cases"]][:3] == ["error", "error", "passed"]
    assert code == 1  # two errors in twelve: below the default 85% threshold, a verdict, not an outage


def test_zero_turns_the_breaker_off(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/v1"
    config = _project(tmp_path, url, cases=30, runner="{concurrency: 4, max_consecutive_failures: 0}")
    code, report = _run(config, tmp_path / "r.json")
    assert not report.get("incomplete")
    assert len(report["cases"]) == 30
    assert code == EXIT_INFRA


def test_a_judge_that_is_down_stops_the_run_and_is_named(tmp_path: Path) -> None:
    judge_url = f"http://127.0.0.1:{_closed_port()}/v1"
    with FakeModelServer() as server:
        config = _project(
            tmp_path,
            server.openai_base_url,
            cases=60,
            runner="{concurrency: 2, max_consecutive_failures: 3}",
            judge_url=judge_url,
        )
        code, report = _run(config, tmp_path / "r.json")
        answered = len(server.requests)
    assert code == EXIT_INFRA
    assert report["incomplete"] is True
    assert f"openai {JUDGE} failed 3 calls in a row" in report["gate"]["reasons"][0]
    assert answered < 60


def test_an_embeddings_endpoint_that_is_down_stops_the_run(tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{_closed_port()}/v1"
    with FakeModelServer() as server:
        config = _project(
            tmp_path, server.openai_base_url, cases=40, runner="{concurrency: 2, max_consecutive_failures: 3}"
        )
        text = config.read_text() + (
            f"judge: {{provider: openai, name: {JUDGE}, base_url: '{dead}', max_attempts: 1, "
            "embeddings: text-embedding-3-small}\n"
        )
        config.write_text(text)
        suite = tmp_path / "evals" / "main.yaml"
        suite.write_text(suite.read_text().replace("type: contains", "type: similar"))
        code, report = _run(config, tmp_path / "r.json")
    assert code == EXIT_INFRA
    assert report["incomplete"] is True
    assert f"openai {JUDGE} failed 3 calls in a row" in report["gate"]["reasons"][0]


def test_the_worker_thread_path_stops_too(tmp_path: Path) -> None:
    """A run started inside a running event loop (a notebook) uses worker threads, not the loop."""
    url = f"http://127.0.0.1:{_closed_port()}/v1"
    config = _project(tmp_path, url, cases=100, runner="{concurrency: 3, max_consecutive_failures: 4}")

    async def inside_a_loop() -> tuple[int, dict[str, Any]]:
        return _run(config, tmp_path / "r.json")

    code, report = asyncio.run(inside_a_loop())
    assert code == EXIT_INFRA
    assert report["incomplete"] is True
    assert 4 <= len(report["cases"]) <= 4 + 3


def test_a_negative_limit_is_a_config_error_at_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _project(tmp_path, "http://127.0.0.1:9/v1", cases=1, runner="{max_consecutive_failures: -1}")
    assert main(["validate", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "evalgate.yaml:3" in err
    assert "runner.max_consecutive_failures" in err
