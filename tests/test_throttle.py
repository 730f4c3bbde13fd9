"""The throttle: request and token pacing, AIMD concurrency on 429s, a global Retry-After pause."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from evalgate.throttle import Throttle, estimate_tokens


class Clock:
    """A clock that only moves when someone sleeps on it."""

    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 6))
        self.now += seconds


def throttle(concurrency: int = 4, **limits: float) -> tuple[Throttle, Clock]:
    clock = Clock()
    return Throttle(concurrency, clock=clock, sleep=clock.sleep, **limits), clock  # type: ignore[arg-type]


def test_requests_are_paced_to_the_requests_per_minute() -> None:
    gate, clock = throttle(requests_per_minute=120)  # one every 0.5 s
    starts = []
    for _ in range(5):
        gate.release(gate.acquire())
        starts.append(clock.now)
    assert starts == [100.0, 100.5, 101.0, 101.5, 102.0]


def test_tokens_are_paced_by_estimate_then_settled_by_the_real_usage() -> None:
    gate, clock = throttle(tokens_per_minute=6000)  # 100 tokens a second
    ticket = gate.acquire(tokens=100)
    assert clock.now == 100.0
    gate.release(ticket, used_tokens=300)  # the answer was long: 200 more tokens than estimated
    gate.release(gate.acquire(tokens=100))
    assert clock.now == pytest.approx(103.0)  # 300 tokens at 100/s


def test_without_limits_nothing_waits() -> None:
    gate, clock = throttle()
    for _ in range(100):
        gate.release(gate.acquire(tokens=10_000))
    assert clock.slept == []


def test_a_burst_of_429s_halves_the_concurrency_once() -> None:
    gate, _ = throttle(concurrency=8)
    tickets = [gate.acquire() for _ in range(8)]
    for ticket in tickets:  # all eight were sent before the server pushed back: one congestion event
        gate.release(ticket, rate_limited=True)
    assert gate.limit == 4
    assert gate.rate_limited == 8
    gate.release(gate.acquire(), rate_limited=True)  # a 429 of a call sent after the cut: halve again
    assert gate.limit == 2


def test_successes_add_one_slot_per_window_but_never_past_the_configured_concurrency() -> None:
    gate, _ = throttle(concurrency=4)
    gate.release(gate.acquire(), rate_limited=True)
    gate.release(gate.acquire(), rate_limited=True)
    assert gate.limit == 1
    seen = []
    for _ in range(40):
        gate.release(gate.acquire())
        seen.append(gate.limit)
    assert seen[0] == 2  # a window of one success
    assert seen[2] == 3  # then a window of two
    assert max(seen) == 4
    assert seen[-1] == 4


def test_a_retry_after_pauses_every_worker() -> None:
    gate, clock = throttle(concurrency=4)
    first, second = gate.acquire(), gate.acquire()
    gate.release(first, rate_limited=True, retry_after=2.5)
    gate.release(second)
    gate.release(gate.acquire())  # another worker: waits out the pause too
    assert clock.slept == [2.5]


def test_calls_in_flight_never_exceed_the_lowered_limit() -> None:
    gate = Throttle(8)
    gate.release(gate.acquire(), rate_limited=True)
    gate.release(gate.acquire(), rate_limited=True)
    assert gate.limit == 2
    active = {"now": 0, "max": 0}
    lock = threading.Lock()
    hold = threading.Event()

    def work() -> None:
        ticket = gate.acquire()
        with lock:
            active["now"] += 1
            active["max"] = max(active["max"], active["now"])
        hold.wait(0.05)
        with lock:
            active["now"] -= 1
        gate.release(ticket)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # 2 slots, a third after two successes, a fourth after three more: never the 8 threads at once
    assert 2 <= active["max"] <= 4


def test_token_estimate_counts_the_prompt_and_the_answer_cap() -> None:
    assert estimate_tokens("x" * 400, "y" * 40, 50) == 160
    assert estimate_tokens("hi", None, None) == 1
    assert estimate_tokens("x" * 40, None, True) == 10  # a bool is not a max_tokens


def test_on_the_loop_tasks_wait_for_a_slot_without_blocking_the_loop() -> None:
    gate = Throttle(8)
    gate.release(gate.acquire(), rate_limited=True)
    gate.release(gate.acquire(), rate_limited=True)
    assert gate.limit == 2
    active = {"now": 0, "max": 0}
    ticks: list[int] = []

    async def work() -> None:
        ticket = await gate.aacquire()
        active["now"] += 1
        active["max"] = max(active["max"], active["now"])
        await asyncio.sleep(0.02)
        active["now"] -= 1
        gate.release(ticket)

    async def ticker() -> None:  # the loop keeps running while tasks wait for slots
        for _ in range(5):
            ticks.append(1)
            await asyncio.sleep(0.01)

    async def main() -> None:
        await asyncio.gather(ticker(), *(work() for _ in range(8)))

    asyncio.run(main())
    assert 2 <= active["max"] <= 4  # as with threads: never the 8 at once
    assert len(ticks) == 5
    assert gate._in_flight == 0


def test_on_the_loop_a_cancelled_waiter_passes_its_turn_on() -> None:
    gate = Throttle(1)

    async def main() -> list[str]:
        order: list[str] = []
        first = await gate.aacquire()

        async def wait(name: str) -> None:
            ticket = await gate.aacquire()
            order.append(name)
            gate.release(ticket)

        doomed = asyncio.ensure_future(wait("doomed"))
        patient = asyncio.ensure_future(wait("patient"))
        await asyncio.sleep(0.01)
        gate.release(first)  # wakes "doomed" first ...
        doomed.cancel()  # ... which leaves before it runs: "patient" must get the slot
        await asyncio.wait_for(patient, timeout=2)
        return order

    assert asyncio.run(main()) == ["patient"]
    assert gate._in_flight == 0


def test_on_the_loop_requests_are_paced_to_the_requests_per_minute() -> None:
    gate = Throttle(4, requests_per_minute=1200)  # one every 50 ms

    async def main() -> float:
        started = time.monotonic()
        for _ in range(4):
            gate.release(await gate.aacquire())
        return time.monotonic() - started

    assert asyncio.run(main()) >= 0.14  # three gaps of 50 ms after the first
