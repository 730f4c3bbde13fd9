#!/usr/bin/env python3
"""CPU per request of the two HTTP transports, side by side on one loopback server in one run.

Starts ``bench/loopback_openai.py`` (an asyncio raw-protocol server in its own process, so its CPU is not
counted), then sends the same N chat-completion POSTs at concurrency C through

- ``Transport`` (``http.client`` on kept-alive connections, one per worker thread), each call inside an
  ``Attempt`` deadline as the threaded runner makes it, and
- ``AsyncTransport`` (one event loop, a pool of ``asyncio.Protocol`` connections), each call inside
  ``asyncio.timeout`` as the async runner makes it, and once more without it (what the deadline costs).

Each request body is built with ``json.dumps`` and each answer read with ``json.loads``, as in a run. CPU
is this process's user + system time over the batch (``getrusage``), so it includes thread wake-ups, GIL
hand-offs and the event loop.

    python bench/bench_async_transport.py --cases 10000 --concurrency 32 --latency 0.01 --repeat 3
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import resource
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the checkout's evalgate, whatever is installed

from evalgate.providers._async_transport import AsyncTransport  # noqa: E402
from evalgate.providers._deadline import Attempt  # noqa: E402
from evalgate.providers._transport import Transport  # noqa: E402

HEADERS = {"Content-Type": "application/json", "Authorization": "Bearer bench"}
MAX_BYTES = 10_000_000


def request_body(i: int) -> bytes:
    body = {
        "model": "gpt-4o-2024-11-20",
        "messages": [{"role": "user", "content": f"Answer briefly: item {i}"}],
    }
    return json.dumps(body, separators=(",", ":")).encode()


def answer_text(body: bytes) -> str:
    text: str = json.loads(body)["choices"][0]["message"]["content"]
    return text


def threaded(url: str, cases: int, concurrency: int) -> int:
    transport = Transport(url, env={})
    counter = itertools.count()
    answers: list[str | None] = [None] * cases

    def worker() -> None:
        while (i := next(counter)) < cases:
            with Attempt(30) as attempt:
                response = transport.post(request_body(i), HEADERS, attempt, MAX_BYTES)
            answers[i] = answer_text(response.body)

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    transport.close()
    return sum(a is not None for a in answers)


def event_loop(url: str, cases: int, concurrency: int, *, deadline: bool = True) -> int:
    transport = AsyncTransport(url, env={})
    answers: list[str | None] = [None] * cases

    async def main() -> None:
        todo = iter(range(cases))

        async def worker() -> None:
            for i in todo:
                if deadline:
                    async with asyncio.timeout(30):
                        response = await transport.post(request_body(i), HEADERS, MAX_BYTES)
                else:
                    response = await transport.post(request_body(i), HEADERS, MAX_BYTES)
                answers[i] = answer_text(response.body)

        await asyncio.gather(*(worker() for _ in range(concurrency)))

    asyncio.run(main())
    transport.close()
    return sum(a is not None for a in answers)


def measure(
    client: Callable[[str, int, int], int], url: str, cases: int, concurrency: int
) -> tuple[float, float]:
    """Wall seconds and CPU seconds of one batch."""
    before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    done = client(url, cases, concurrency)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    if done != cases:
        raise SystemExit(f"only {done} of {cases} answered")
    return wall, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--latency", type=float, default=0.01, help="the server's answer delay in seconds")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved runs per transport; medians shown")
    args = parser.parse_args()
    # In a session of its own: the kernel's autogroup scheduler otherwise shares one CPU slice between the
    # server and this process, and the extra switching adds 20-30 µs to every request of either client.
    server = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "loopback_openai.py"), "--latency", str(args.latency)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert server.stdout is not None
    assert server.stdin is not None
    url = f"http://127.0.0.1:{int(server.stdout.readline())}/v1/chat/completions"
    clients = {
        "Transport (threads, Attempt deadline)": threaded,
        "AsyncTransport (event loop, asyncio.timeout)": event_loop,
        "AsyncTransport without a deadline": partial(event_loop, deadline=False),
    }
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in clients}
    try:
        event_loop(url, 200, args.concurrency)  # warm-up: imports, first connections
        for _ in range(args.repeat):
            for name, client in clients.items():
                runs[name].append(measure(client, url, args.cases, args.concurrency))
    finally:
        server.stdin.close()
        server.wait(timeout=10)
    ideal = args.cases * args.latency / args.concurrency
    print(
        f"{args.cases} POSTs, {args.latency * 1000:g} ms latency, C={args.concurrency},"
        f" ideal wall {ideal:.2f} s"
    )
    print(f"median of {args.repeat} interleaved runs")
    print("| transport | wall | CPU | CPU per request |")
    print("|---|---|---|---|")
    for name, results in runs.items():
        wall = statistics.median(r[0] for r in results)
        cpu = statistics.median(r[1] for r in results)
        print(f"| {name} | {wall:.2f} s | {cpu:.2f} s | {cpu / args.cases * 1e6:.0f} µs |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
