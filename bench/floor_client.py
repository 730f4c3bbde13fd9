#!/usr/bin/env python3
"""The bare-client floor: N chat-completion requests over ``http.client``, nothing else.

One keep-alive connection per worker thread, a shared counter hands out the cases, each answer is parsed
with ``json.loads`` and its text kept. This is the least a Python client can do per case; the benchmark
runs it on the same server in the same run as ``evalgate run`` and reports both.

    python bench/floor_client.py --url http://127.0.0.1:PORT/v1 --cases 10000 --concurrency 32
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import sys
import threading
from urllib.parse import urlparse


def run(url: str, cases: int, concurrency: int) -> int:
    parsed = urlparse(url)
    host, port = parsed.hostname or "127.0.0.1", parsed.port or 80
    path = f"{parsed.path.rstrip('/')}/chat/completions"
    counter = itertools.count()
    answers: list[str | None] = [None] * cases
    headers = {"Content-Type": "application/json", "Authorization": "Bearer bench"}

    def worker() -> None:
        conn = http.client.HTTPConnection(host, port, timeout=30)
        while (i := next(counter)) < cases:
            body = {
                "model": "gpt-4o-2024-11-20",
                "messages": [{"role": "user", "content": f"Answer briefly: item {i}"}],
            }
            conn.request("POST", path, json.dumps(body), headers)
            response = conn.getresponse()
            data = json.loads(response.read())
            if response.status != 200:
                raise SystemExit(f"HTTP {response.status}: {data}")
            answers[i] = data["choices"][0]["message"]["content"]
        conn.close()

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(1 for a in answers if a is not None)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", required=True, help="the base_url, e.g. http://127.0.0.1:8000/v1")
    parser.add_argument("--cases", type=int, required=True)
    parser.add_argument("--concurrency", type=int, required=True)
    args = parser.parse_args()
    done = run(args.url, args.cases, args.concurrency)
    if done != args.cases:
        print(f"only {done} of {args.cases} answered", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
