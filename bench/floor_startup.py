#!/usr/bin/env python3
"""The start-up floor: what any tool built on evalgate's dependencies pays before its first request.

It does none of evalgate's own work and all of what the dependencies cost: imports pydantic and builds
one small model (pydantic loads most of itself with the first model), reads the suite through libyaml's
events as evalgate's loader does (PyYAML builds a Python event for each of them), imports ``asyncio``
and ``http.client``, then sends one chat-completion request and reads the answer. The benchmark runs it
beside ``evalgate run`` on the same server in the same run, so ``evalgate``'s first-request time can be
read against it: the difference is evalgate's own start-up (its modules, its models, validating and
planning the cases).

    python bench/floor_startup.py --url http://127.0.0.1:PORT/v1 --suite evals/bench.yaml
"""

from __future__ import annotations

import argparse
import sys


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--suite", required=True)
    args = parser.parse_args()

    import pydantic

    class Request(pydantic.BaseModel):
        model: str
        content: str

    import yaml

    with open(args.suite, encoding="utf-8") as f:
        loader = yaml.CSafeLoader(f.read())
    events = 0
    try:
        while loader.check_event():
            loader.get_event()
            events += 1
    finally:
        loader.dispose()

    import asyncio  # noqa: F401 - what evalgate's HTTP calls run on
    import http.client
    import json
    from urllib.parse import urlparse

    request = Request(model="gpt-4o-2024-11-20", content="Answer briefly: item 0")
    url = urlparse(args.url)
    conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port or 80, timeout=30)
    body = {"model": request.model, "messages": [{"role": "user", "content": request.content}]}
    conn.request(
        "POST",
        f"{url.path.rstrip('/')}/chat/completions",
        json.dumps(body),
        {"Content-Type": "application/json", "Authorization": "Bearer bench"},
    )
    response = conn.getresponse()
    answer = json.loads(response.read())
    if response.status != 200 or not events:
        print(f"floor_startup: HTTP {response.status}, {events} YAML events: {answer}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
