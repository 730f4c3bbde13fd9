#!/usr/bin/env python3
"""A fast loopback OpenAI-compatible server for the benchmarks: asyncio, raw protocol, one process.

``ThreadingHTTPServer`` (and ``evalgate.testing.FakeModelServer``, which is built on it) saturates near
600 requests/s on two cores, so it would measure itself rather than the client. This server parses
HTTP/1.1 by hand on an ``asyncio.Protocol``, keeps connections alive and answers each
``POST .../chat/completions`` after a fixed latency with ``loop.call_later`` (no thread, no task per
request), so a few thousand requests/s cost it a fraction of one core.

    python bench/loopback_openai.py --latency 0.01        # prints the port, serves until stdin closes

Control endpoints for the benchmark: ``GET /_stats`` (requests served, 429s sent, monotonic time of the
first request since the last reset) and ``POST /_reset``. With ``--rpm N`` it enforces a requests-per-minute
limit like a real provider: a request over the limit gets 429 with ``Retry-After``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import deque

_ANSWER_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "


class Stats:
    """What the benchmark reads back between scenarios."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.served = 0
        self.limited = 0
        self.first: float | None = None


class Limiter:
    """A sliding one-minute window of accepted requests (what most providers' RPM limits amount to)."""

    def __init__(self, rpm: int, window_s: float = 60.0) -> None:
        self.rpm = rpm
        self.window_s = window_s
        self.accepted: deque[float] = deque()

    def admit(self, now: float) -> float | None:
        """None when the request is admitted, else the seconds until a slot frees up."""
        while self.accepted and now - self.accepted[0] >= self.window_s:
            self.accepted.popleft()
        if len(self.accepted) < self.rpm:
            self.accepted.append(now)
            return None
        return self.window_s - (now - self.accepted[0])


class ChatProtocol(asyncio.Protocol):
    """One keep-alive connection: requests are parsed from a byte buffer and answered after a delay."""

    def __init__(self, latency: float, stats: Stats, limiter: Limiter | None) -> None:
        self.latency = latency
        self.stats = stats
        self.limiter = limiter
        self.buffer = b""
        self.transport: asyncio.Transport | None = None
        self.loop = asyncio.get_running_loop()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].decode("latin-1")
            length = 0
            for line in head.split("\r\n")[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
            if len(self.buffer) < end + 4 + length:
                return
            body = self.buffer[end + 4 : end + 4 + length]
            self.buffer = self.buffer[end + 4 + length :]
            method, path = head.split(" ", 2)[:2]
            self.handle(method, path, body)

    def handle(self, method: str, path: str, body: bytes) -> None:
        if path == "/_stats":
            data = {"served": self.stats.served, "limited": self.stats.limited, "first": self.stats.first}
            self.send(200, json.dumps(data).encode())
            return
        if path == "/_reset":
            self.stats.reset()
            self.send(200, b"{}")
            return
        if method != "POST" or not path.endswith("/chat/completions"):
            self.send(404, b'{"error": {"message": "no route"}}')
            return
        now = time.monotonic()
        if self.stats.first is None:
            self.stats.first = now
        if self.limiter is not None:
            wait = self.limiter.admit(now)
            if wait is not None:
                self.stats.limited += 1
                message = b'{"error": {"message": "Rate limit reached for requests"}}'
                self.send(429, message, f"Retry-After: {max(1, round(wait))}\r\n")
                return
        request = json.loads(body)
        prompt = request["messages"][-1]["content"]
        question = prompt.rsplit(": ", 1)[-1].strip()
        text = f"The answer to {question} is 42."
        answer = {
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "model": request["model"],
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": len(prompt) // 4 + 1, "completion_tokens": len(text) // 4 + 1},
        }
        payload = json.dumps(answer).encode()
        self.loop.call_later(self.latency, self.send, 200, payload)
        self.stats.served += 1

    def send(self, status: int, payload: bytes, extra: str = "") -> None:
        if self.transport is None or self.transport.is_closing():
            return
        if status == 200:
            head = _ANSWER_HEAD + str(len(payload)).encode() + b"\r\n\r\n"
        else:
            reason = {404: "Not Found", 429: "Too Many Requests"}.get(status, "Error")
            head = (
                f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n{extra}"
                f"Content-Length: {len(payload)}\r\n\r\n"
            ).encode()
        self.transport.write(head + payload)


async def serve(latency: float, rpm: int | None, port: int) -> None:
    stats = Stats()
    limiter = Limiter(rpm) if rpm else None
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: ChatProtocol(latency, stats, limiter), "127.0.0.1", port, backlog=1024
    )
    bound = server.sockets[0].getsockname()[1]
    print(bound, flush=True)
    # serve until the parent closes our stdin (or dies)
    await loop.run_in_executor(None, sys.stdin.read)
    server.close()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--latency", type=float, default=0.01, help="seconds before each answer")
    parser.add_argument("--rpm", type=int, default=None, help="enforce this many requests per minute")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    asyncio.run(serve(args.latency, args.rpm, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
