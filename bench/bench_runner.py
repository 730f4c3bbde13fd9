#!/usr/bin/env python3
"""Runner benchmark: wall time vs the ideal N·latency/C, start-up, CPU, peak memory, cache and report speed.

Starts a loopback OpenAI-compatible server with a fixed latency in this process, runs the real
``evalgate run`` CLI as a subprocess against it, and prints one line per scenario plus a Markdown table
for the README. Nothing leaves 127.0.0.1.

    python bench/bench_runner.py              # the README scenarios (about three minutes)
    python bench/bench_runner.py --quick      # small sizes, a smoke test of the script itself
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evalgate.report import load_json, render_markdown
from evalgate.testing import FakeModelServer, prompt_of


class Arrivals:
    """The answering function of the loopback server; it also notes when each request arrived."""

    def __init__(self, latency_s: float) -> None:
        self.latency_s = latency_s
        self.times: list[float] = []
        self._lock = threading.Lock()

    def __call__(self, body: dict[str, Any]) -> str:
        # the fake server calls its responder after sleeping the fixed latency
        with self._lock:
            self.times.append(time.perf_counter() - self.latency_s)
        return f"The answer to {prompt_of(body).split(': ', 1)[-1].strip()} is 42."

    def first_after(self, moment: float) -> float | None:
        with self._lock:
            later = [t for t in self.times if t >= moment]
        return min(later) - moment if later else None


@dataclass
class Measurement:
    name: str
    cases: int
    concurrency: int
    latency_ms: float
    wall_s: float
    run_s: float
    cpu_s: float
    peak_mb: float
    to_first_request_s: float | None = None

    @property
    def wall_ratio(self) -> float:
        return self.wall_s / self.ideal_s if self.ideal_s else 0.0

    @property
    def ideal_s(self) -> float:
        return self.cases * self.latency_ms / 1000 / self.concurrency

    @property
    def ratio(self) -> float:
        return self.run_s / self.ideal_s if self.ideal_s else 0.0


def write_project(root: Path, cases: int, base_url: str, concurrency: int) -> Path:
    (root / "evals").mkdir(parents=True, exist_ok=True)
    (root / "prompts").mkdir(exist_ok=True)
    (root / "prompts" / "q.md").write_text("Answer briefly: {{ question }}\n")
    config = root / "evalgate.yaml"
    config.write_text(
        f"model: {{provider: openai, name: gpt-4o-2024-11-20, base_url: '{base_url}', timeout_s: 30}}\n"
        "prompts: {q: prompts/q.md}\n"
        'suites: ["evals/*.yaml"]\n'
        f"runner: {{concurrency: {concurrency}}}\n"
        "prices: {gpt-4o-2024-11-20: {input: 2.5, output: 10}}\n"
    )
    lines = ["cases:"]
    for i in range(cases):
        lines.append(
            f"  - {{id: c{i:05d}, prompt: q, vars: {{question: 'item {i}'}}, tags: [t{i % 7}], checks: "
            f"[{{type: icontains, value: 'item {i}'}}, {{type: max_words, value: 40}}, "
            f"{{type: regex, pattern: '\\d+'}}]}}"
        )
    (root / "evals" / "bench.yaml").write_text("\n".join(lines) + "\n")
    return config


def run_cli(
    name: str,
    config: Path,
    cases: int,
    concurrency: int,
    latency_ms: float,
    *extra: str,
    arrivals: Arrivals | None = None,
) -> Measurement:
    report = config.parent / f"{name}.json"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "evalgate",
            "run",
            "--config",
            str(config),
            "--json",
            str(report),
            "--quiet",
            *extra,
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "OPENAI_API_KEY": "bench"},
        check=False,
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{name}: evalgate exited {proc.returncode}: {proc.stderr[-2000:]}")
    data = json.loads(report.read_text())
    errors = sum(1 for c in data["cases"] if c["error"])
    if errors:
        raise SystemExit(f"{name}: {errors} cases errored; the benchmark needs a clean run")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Measurement(
        name=name,
        cases=cases,
        concurrency=concurrency,
        latency_ms=latency_ms,
        wall_s=wall,
        run_s=float(data["duration_s"]),
        cpu_s=cpu,
        peak_mb=after.ru_maxrss / 1024,  # Linux reports KiB; this is the largest child so far
        to_first_request_s=arrivals.first_after(started) if arrivals else None,
    )


def markdown_timing(report: Path, repeats: int = 5) -> tuple[int, float, int]:
    run, verdict = load_json(report.read_text())
    best = float("inf")
    size = 0
    for _ in range(repeats):
        started = time.perf_counter()
        text = render_markdown(run, verdict)
        best = min(best, time.perf_counter() - started)
        size = len(text)
    return len(run.cases), best, size


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes, to check the script works")
    parser.add_argument("--skip-large", action="store_true", help="skip the 20,000-case scenario")
    args = parser.parse_args()

    small, large, cached = (40, 200, 100) if args.quick else (200, 20_000, 2_000)
    latency = 0.02 if args.quick else 0.1
    concurrency = 16
    arrivals = Arrivals(latency)
    results: list[Measurement] = []
    with (
        tempfile.TemporaryDirectory(prefix="evalgate-bench-") as tmp,
        FakeModelServer(arrivals, latency=latency) as server,
    ):
        root = Path(tmp)
        cfg = write_project(root / "small", small, server.openai_base_url, concurrency)
        first = run_cli(
            f"{small} cases", cfg, small, concurrency, latency * 1000, "--no-cache", arrivals=arrivals
        )
        results.append(first)
        print(_line(first), flush=True)

        if not args.skip_large:
            cfg = write_project(root / "large", large, server.openai_base_url, concurrency)
            results.append(run_cli(f"{large} cases", cfg, large, concurrency, latency * 1000, "--no-cache"))
            print(_line(results[-1]), flush=True)

        cfg = write_project(root / "cached", cached, server.openai_base_url, concurrency)
        run_cli("warm-up", cfg, cached, concurrency, latency * 1000)
        served = len(server.requests)
        rerun = run_cli(f"{cached} cases, cached rerun", cfg, cached, concurrency, latency * 1000)
        if len(server.requests) != served:
            raise SystemExit("the cached rerun called the model server; the cache is not working")
        print(f"{rerun.name}: {rerun.wall_s:.2f} s wall for the whole command", flush=True)

        n, seconds, size = markdown_timing(cfg.parent / "warm-up.json")
        print(f"markdown report of {n} cases: {seconds * 1000:.1f} ms, {size:,} characters", flush=True)

    print("\n| scenario | ideal N·latency/C | whole command | ratio | to first request | CPU | peak RSS |")
    print("|---|---|---|---|---|---|---|")
    for m in results:
        first_req = "—" if m.to_first_request_s is None else f"{m.to_first_request_s:.2f} s"
        print(
            f"| {m.name}, {m.latency_ms:.0f} ms, C={m.concurrency} | {m.ideal_s:.2f} s | {m.wall_s:.2f} s | "
            f"{m.wall_ratio:.2f}× | {first_req} | {m.cpu_s:.1f} s | {m.peak_mb:.0f} MB |"
        )
    print(
        # peak RSS is left out: getrusage reports the largest child so far, not this one
        f"| {rerun.name} | — | {rerun.wall_s:.2f} s | — | — | {rerun.cpu_s:.1f} s | — |"
    )
    print(f"| Markdown report, {n} cases | — | {seconds * 1000:.0f} ms | — | — | — | — |")

    if args.quick:
        return 0
    checks = [
        (f"{small} cases within 1.3× ideal + 0.5 s", first.wall_s <= 1.3 * first.ideal_s + 0.5),
        (f"{small} cases: first request within 0.5 s", (first.to_first_request_s or 9) < 0.5),
        (f"{cached} cases cached rerun under 1 s", rerun.wall_s < 1.0),
        (f"Markdown of {n} cases under 0.2 s", seconds < 0.2),
    ]
    if not args.skip_large:
        big = results[-1]
        checks += [
            (f"{large} cases within 1.3× ideal", big.wall_s <= 1.3 * big.ideal_s),
            (f"{large} cases under 1 GB", big.peak_mb < 1024),
        ]
    print()
    for label, ok in checks:
        print(f"{'PASS' if ok else 'FAIL'}  {label}")
    return 0 if all(ok for _, ok in checks) else 1


def _line(m: Measurement) -> str:
    return (
        f"{m.name} at {m.latency_ms:.0f} ms, C={m.concurrency}: run {m.run_s:.2f} s "
        f"vs ideal {m.ideal_s:.2f} s ({m.ratio:.2f}×), whole command {m.wall_s:.2f} s, "
        f"CPU {m.cpu_s:.1f} s, peak {m.peak_mb:.0f} MB"
    )


if __name__ == "__main__":
    sys.exit(main())
