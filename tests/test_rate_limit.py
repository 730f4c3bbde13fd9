"""A run against a loopback server that enforces a requests-per-minute limit, like a real provider."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evalgate.cli import main
from evalgate.testing import FakeModelServer

CASES = 30


def _project(root: Path, base_url: str, runner: str) -> Path:
    (root / "evals").mkdir(parents=True, exist_ok=True)
    (root / "evalgate.yaml").write_text(
        f"""\
model: {{provider: openai, name: gpt-4o-2024-11-20, base_url: '{base_url}', max_attempts: 5, timeout_s: 5}}
suites: ["evals/*.yaml"]
runner: {runner}
"""
    )
    (root / "evals" / "main.yaml").write_text(
        "cases:\n"
        + "".join(
            f"  - {{id: c{i}, input: 'n{i}', checks: [{{type: contains, value: 'n{i}'}}]}}\n"
            for i in range(CASES)
        )
    )
    return root / "evalgate.yaml"


def _run(config: Path, report: Path) -> tuple[int, dict[str, object]]:
    code = main(["run", "--config", str(config), "--json", str(report), "--no-cache", "--quiet"])
    return code, json.loads(report.read_text())


@pytest.fixture
def limited() -> FakeModelServer:
    server = FakeModelServer()
    server.start()
    # 10 requests in any one second: 600 RPM, enforced over a second the way providers cut a minute up
    server.limit_rate(10, per_s=1.0)
    yield server  # type: ignore[misc]
    server.stop()


def test_a_rate_limited_run_stays_under_the_limit_and_loses_no_case(
    limited: FakeModelServer, tmp_path: Path
) -> None:
    config = _project(
        tmp_path, limited.openai_base_url, "{concurrency: 8, rate_limit: {requests_per_minute: 540}}"
    )
    code, report = _run(config, tmp_path / "r.json")
    sent = len(limited.requests)
    assert code == 0
    assert [c["status"] for c in report["cases"]] == ["passed"] * CASES  # type: ignore[index]
    assert limited.rate_limited <= 0.05 * sent, f"{limited.rate_limited} of {sent} requests were answered 429"


def test_without_a_rate_limit_the_same_server_pushes_back_and_429s_are_counted(
    limited: FakeModelServer, tmp_path: Path
) -> None:
    config = _project(tmp_path, limited.openai_base_url, "{concurrency: 8}")
    code, report = _run(config, tmp_path / "r.json")
    sent = len(limited.requests)
    # the server really enforces its limit: an unpaced run meets it (the run still ends, by backing off)
    assert limited.rate_limited > 0.05 * sent
    assert report["retries"]["429"] == limited.rate_limited  # type: ignore[index]
    assert code in (0, 1)


def test_rate_limit_needs_at_least_one_limit(tmp_path: Path) -> None:
    config = _project(tmp_path, "http://127.0.0.1:9/v1", "{rate_limit: {}}")
    assert main(["validate", "--config", str(config)]) == 2
