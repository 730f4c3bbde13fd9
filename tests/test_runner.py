"""The runner's worker pool: order, bounds, caching on the submitting thread, errors that stop the run."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from evalgate.cache import DiskCache
from evalgate.caller import ModelCaller
from evalgate.config import ModelConfig
from evalgate.errors import ConfigError, ProviderError
from evalgate.providers.base import ModelRequest
from evalgate.runner import PlannedCase, Runner
from evalgate.suite import Case, CaseSpec
from evalgate.testing import FakeProvider


def _planned(
    i: int, *, repeat: int = 1, checks: list[dict[str, Any]] | None = None, base_dir: Path = Path(".")
) -> PlannedCase:
    spec = CaseSpec.model_validate(
        {
            "id": f"c{i}",
            "input": f"n{i}",
            "repeat": repeat,
            "checks": checks or [{"type": "contains", "value": f"n{i}"}],
        }
    )
    return PlannedCase(
        case=Case(spec=spec, suite="evals/s.yaml", line=i + 1),
        prompt=f"n{i}",
        system=None,
        base_dir=base_dir,
    )


def _caller(provider: FakeProvider, cache: DiskCache | None = None) -> ModelCaller:
    config = ModelConfig(provider="openai", name="gpt-4o-2024-11-20", max_attempts=2)
    return ModelCaller(config=config, provider=provider, cache=cache)


def test_results_come_back_in_plan_order_whatever_order_they_finish_in() -> None:
    def answer(request: ModelRequest) -> str:
        time.sleep(0.001 * (hash(request.case_id) % 5))
        return request.prompt

    plan = [_planned(i, repeat=1 + i % 3) for i in range(300)]
    seen: list[str] = []
    results = Runner(
        caller=_caller(FakeProvider(answer)), concurrency=16, on_case=lambda r: seen.append(r.id)
    ).run(plan)
    assert [r.id for r in results] == [p.case.id for p in plan]
    assert [len(r.trials) for r in results] == [1 + i % 3 for i in range(300)]
    assert all(r.passed for r in results)
    assert sorted(seen) == sorted(p.case.id for p in plan)  # the progress hook heard of every case once


def test_no_more_calls_in_flight_than_the_concurrency() -> None:
    active = {"now": 0, "max": 0}
    lock = threading.Lock()

    def answer(request: ModelRequest) -> str:
        with lock:
            active["now"] += 1
            active["max"] = max(active["max"], active["now"])
        time.sleep(0.01)
        with lock:
            active["now"] -= 1
        return request.prompt

    Runner(caller=_caller(FakeProvider(answer)), concurrency=5).run([_planned(i) for i in range(40)])
    assert active["max"] == 5


def test_a_provider_failure_is_an_error_case_and_the_run_goes_on() -> None:
    provider = FakeProvider(errors={"c3": [ProviderError("HTTP 400: bad request", retryable=False)]})
    results = Runner(caller=_caller(provider), concurrency=4).run([_planned(i) for i in range(8)])
    assert [r.status for r in results] == ["passed"] * 3 + ["error"] + ["passed"] * 4
    assert results[3].error is not None
    assert "bad request" in results[3].error


def test_a_config_error_raised_by_a_check_stops_the_run_and_leaves_no_worker_behind(tmp_path: Path) -> None:
    before = {t.name for t in threading.enumerate()}
    bad = {"type": "json_schema", "schema_file": str(tmp_path / "missing.json")}
    plan = (
        [_planned(i) for i in range(20)] + [_planned(20, checks=[bad])] + [_planned(i) for i in range(21, 60)]
    )
    with pytest.raises(ConfigError):
        Runner(caller=_caller(FakeProvider()), concurrency=4).run(plan)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        left = {t.name for t in threading.enumerate() if t.name.startswith("evalgate-")} - before
        if not left:
            break
        time.sleep(0.01)
    assert not left


def test_a_run_answered_from_the_cache_starts_no_worker(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path / "cache")
    plan = [_planned(i) for i in range(10)]
    Runner(caller=_caller(FakeProvider(), cache), concurrency=4).run(plan)

    provider = FakeProvider()
    started: list[str] = []
    original = threading.Thread.start

    def spy(self: threading.Thread) -> None:
        started.append(self.name)
        original(self)

    threading.Thread.start = spy  # type: ignore[method-assign]
    try:
        results = Runner(caller=_caller(provider, cache), concurrency=4).run(plan)
    finally:
        threading.Thread.start = original  # type: ignore[method-assign]
    assert all(r.passed for r in results)
    assert not provider.requests
    assert not [name for name in started if name.startswith("evalgate-")]
