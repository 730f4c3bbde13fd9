"""The runner on an event loop: HTTP providers' calls are tasks on one loop in the calling thread.

Every test here goes over real HTTP to the loopback FakeModelServer; the thread-pool path keeps its own
tests (test_runner.py), with the in-process FakeProvider.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from evalgate import cancel
from evalgate.caller import ModelCaller
from evalgate.config import ModelConfig
from evalgate.errors import ConfigError
from evalgate.providers.openai import OpenAIProvider
from evalgate.runner import RunInterrupted, Runner
from evalgate.testing import FakeModelServer
from tests.test_runner import _planned

MODEL = "gpt-4o-2024-11-20"


@pytest.fixture
def stop_flag() -> Iterator[None]:
    cancel.reset()
    yield
    cancel.reset()


def _runner(server: FakeModelServer, concurrency: int, **kwargs: Any) -> tuple[Runner, OpenAIProvider]:
    provider = OpenAIProvider(api_key="sk-test", base_url=server.openai_base_url)
    config = ModelConfig(provider="openai", name=MODEL, max_attempts=2)
    caller = ModelCaller(config=config, provider=provider)
    assert caller.on_event_loop
    return Runner(caller=caller, concurrency=concurrency, **kwargs), provider


class InFlight:
    """Counts the requests the server is answering at once (its handlers run on threads)."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.now = 0
        self.max = 0
        self._lock = threading.Lock()

    def __call__(self, body: Any) -> str:
        with self._lock:
            self.now += 1
            self.max = max(self.max, self.now)
        time.sleep(self.delay)
        with self._lock:
            self.now -= 1
        return f"echo: {body['messages'][-1]['content']}"


def test_calls_run_as_tasks_in_plan_order_within_the_concurrency_and_start_no_worker_thread() -> None:
    in_flight = InFlight(0.01)
    started: list[str] = []
    original = threading.Thread.start

    def spy(self: threading.Thread) -> None:
        started.append(self.name)
        original(self)

    plan = [_planned(i, repeat=1 + i % 3) for i in range(60)]
    with FakeModelServer(in_flight) as server:
        runner, provider = _runner(server, 6)
        threading.Thread.start = spy  # type: ignore[method-assign]
        try:
            results = runner.run(plan)
        finally:
            threading.Thread.start = original  # type: ignore[method-assign]
            provider.close()
        ports = {r.client_port for r in server.requests}
    assert [r.id for r in results] == [p.case.id for p in plan]
    assert [len(r.trials) for r in results] == [1 + i % 3 for i in range(60)]
    assert all(r.passed for r in results)
    assert in_flight.max == 6  # the concurrency is used, and never passed
    assert len(ports) <= 6  # kept-alive connections, one per task at most
    assert not [name for name in started if name.startswith("evalgate-")]


def test_a_check_that_may_block_runs_beside_the_loop_and_the_others_on_it(tmp_path: Path) -> None:
    (tmp_path / "where.py").write_text(
        "import threading\n"
        "SEEN = []\n"
        "def check(response):\n"
        "    SEEN.append(threading.current_thread().name)\n"
        "    return True\n"
        "def thread_name(output, context):\n"
        "    return threading.current_thread().name\n",
        encoding="utf-8",
    )
    python_check = [{"type": "python", "function": "where:check"}]
    # an in-memory check type, but with a transform: the transform is the user's code, off the loop too
    transformed = [
        {"type": "starts_with", "value": "evalgate-checks", "transform": "file://where.py:thread_name"}
    ]
    plan = [_planned(i, checks=python_check, base_dir=tmp_path) for i in range(4)] + [
        _planned(5, checks=transformed, base_dir=tmp_path),
        _planned(4),
    ]
    seen_by_hook: list[str] = []
    with FakeModelServer() as server:
        runner, provider = _runner(
            server, 4, on_case=lambda r: seen_by_hook.append(threading.current_thread().name)
        )
        try:
            results = runner.run(plan)
        finally:
            provider.close()
    import where  # type: ignore[import-not-found]  # the module the check imported from tmp_path

    assert all(r.passed for r in results)
    assert len(where.SEEN) == 4
    assert all(name.startswith("evalgate-checks") for name in where.SEEN)
    assert threading.current_thread().name in seen_by_hook  # the in-memory check ran on the loop's thread
    assert not [t for t in threading.enumerate() if t.name.startswith("evalgate-checks")]


def test_a_stop_from_another_thread_ends_the_run_at_once_with_the_finished_cases(stop_flag: None) -> None:
    release = threading.Event()

    def answer(body: Any) -> str:
        prompt = body["messages"][-1]["content"]
        if int(prompt[1:]) >= 8:
            release.wait(30)  # from the ninth case on, the model hangs
        return f"echo: {prompt}"

    plan = [_planned(i) for i in range(40)]
    with FakeModelServer(answer) as server:
        runner, provider = _runner(server, 4)
        timer = threading.Timer(0.3, cancel.cancel)
        started = time.monotonic()
        timer.start()
        try:
            with pytest.raises(RunInterrupted) as info:
                runner.run(plan)
        finally:
            timer.cancel()
            provider.close()
            release.set()
        elapsed = time.monotonic() - started
    assert elapsed < 2.0, f"the run took {elapsed:.1f}s to stop"
    assert info.value.planned == 40
    assert [r.id for r in info.value.results] == [f"c{i}" for i in range(8)]
    assert all(r.passed for r in info.value.results)


def test_a_config_error_from_a_check_stops_the_run_on_the_loop(tmp_path: Path) -> None:
    bad = {"type": "json_schema", "schema_file": str(tmp_path / "missing.json")}
    plan = (
        [_planned(i) for i in range(10)] + [_planned(10, checks=[bad])] + [_planned(i) for i in range(11, 40)]
    )
    with FakeModelServer() as server:
        runner, provider = _runner(server, 4)
        try:
            with pytest.raises(ConfigError, match=r"missing\.json"):
                runner.run(plan)
        finally:
            provider.close()
        sent = len(server.requests)
    assert sent < 40  # the other tasks were cancelled, not run to the end


def test_called_from_code_already_running_an_event_loop_the_run_uses_worker_threads() -> None:
    # a notebook, or an async application calling the library: a second loop cannot run in this thread
    import asyncio

    plan = [_planned(i) for i in range(12)]
    with FakeModelServer() as server:
        runner, provider = _runner(server, 4)

        async def inside() -> list[str]:
            return [r.status for r in runner.run(plan)]

        try:
            statuses = asyncio.run(inside())
        finally:
            provider.close()
        sent = len(server.requests)
    assert statuses == ["passed"] * 12
    assert sent == 12
