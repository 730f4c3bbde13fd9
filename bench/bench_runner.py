#!/usr/bin/env python3
"""Runner benchmark: ``evalgate run`` side by side with a bare ``http.client`` floor on one fast server.

Starts ``bench/loopback_openai.py`` (an asyncio raw-protocol OpenAI-compatible server that is not the
bottleneck) in its own process, then in the same run and on the same server measures:

- the floor (``bench/floor_client.py``) and ``evalgate run --no-cache`` for 10,000 cases at 10 ms, C=32,
  with a cold parse cache and again with a warm one: wall, CPU per case, peak RSS;
- the floor and ``evalgate run`` for 200 cases at 100 ms, C=16, and evalgate's start-up to its first request
  beside the start-up floor (``bench/floor_startup.py``: evalgate's dependencies alone, one request);
- reading the 10,000-case JSON report back (``load_json``) and rendering its Markdown comment;

and prints PASS/FAIL per target plus a Markdown table for the README. Nothing leaves 127.0.0.1.
Every process is measured on its own (``wait4``), so CPU and peak RSS are that process's alone. Each
client runs ``--repeat`` times (3), interleaved with the others; the table shows the median of each timing
and the largest peak RSS. Every cold run starts with an empty parse cache. The checkout is byte-compiled
first, as ``pip install`` does, so no run compiles evalgate's modules from source.

    python bench/bench_runner.py              # the README scenarios (about a minute and a half)
    python bench/bench_runner.py --quick      # small sizes, a smoke test of the script itself
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent


class Server:
    """The loopback server process, with its control endpoints."""

    def __init__(self, latency: float, rpm: int | None = None) -> None:
        cmd = [sys.executable, str(BENCH / "loopback_openai.py"), "--latency", str(latency)]
        if rpm:
            cmd += ["--rpm", str(rpm)]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        self.port = int(self.proc.stdout.readline())
        self.latency = latency
        self.base_url = f"http://127.0.0.1:{self.port}/v1"

    def _call(self, method: str, path: str) -> dict[str, Any]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        conn.request(method, path, body=b"" if method == "POST" else None)
        data: dict[str, Any] = json.loads(conn.getresponse().read())
        conn.close()
        return data

    def reset(self) -> None:
        self._call("POST", "/_reset")

    def stats(self) -> dict[str, Any]:
        return self._call("GET", "/_stats")

    def cpu_s(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=10)


@dataclass
class Measurement:
    name: str
    cases: int
    concurrency: int
    latency_s: float
    wall_s: float
    cpu_s: float
    peak_mb: float
    to_first_request_s: float | None
    server_cpu_s: float

    @property
    def ideal_s(self) -> float:
        return self.cases * self.latency_s / self.concurrency

    @property
    def cpu_us_per_case(self) -> float:
        return self.cpu_s / self.cases * 1e6


def measure(
    name: str, cmd: Sequence[str], server: Server, cases: int, concurrency: int, cwd: Path
) -> Measurement:
    """Run one client process against the server; its own wall, CPU, peak RSS and first-request delay."""
    server.reset()
    server_cpu = server.cpu_s()
    env = {**os.environ, "OPENAI_API_KEY": "bench", "PYTHONPATH": str(ROOT)}
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, cwd=cwd)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.monotonic() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode not in (0, 1):
            err.seek(0)
            raise SystemExit(f"{name}: exited {proc.returncode}: {err.read().decode()[-3000:]}")
    stats = server.stats()
    if stats["served"] < cases:
        raise SystemExit(f"{name}: the server answered {stats['served']} of {cases} requests")
    first = stats["first"]
    return Measurement(
        name=name,
        cases=cases,
        concurrency=concurrency,
        latency_s=server.latency,
        wall_s=wall,
        cpu_s=usage.ru_utime + usage.ru_stime,
        peak_mb=usage.ru_maxrss / 1024,  # KiB on Linux
        to_first_request_s=None if first is None else first - started,
        server_cpu_s=server.cpu_s() - server_cpu,
    )


def floor(server: Server, cases: int, concurrency: int, cwd: Path) -> Measurement:
    cmd = [
        sys.executable,
        str(BENCH / "floor_client.py"),
        "--url",
        server.base_url,
        "--cases",
        str(cases),
        "--concurrency",
        str(concurrency),
    ]
    return measure(f"bare http.client, {cases:,} cases", cmd, server, cases, concurrency, cwd)


def startup_floor(server: Server, project: Path) -> Measurement:
    """``bench/floor_startup.py``: evalgate's dependencies' start-up and one request, none of its own work."""
    cmd = [
        sys.executable,
        str(BENCH / "floor_startup.py"),
        "--url",
        server.base_url,
        "--suite",
        str(project / "evals" / "bench.yaml"),
    ]
    return measure("start-up floor, 1 case", cmd, server, 1, 1, project)


def evalgate(
    name: str, server: Server, project: Path, cases: int, concurrency: int, *, use_cache: bool = False
) -> Measurement:
    cmd = [
        sys.executable,
        "-m",
        "evalgate",
        "run",
        "--config",
        str(project / "evalgate.yaml"),
        "--json",
        str(project / "report.json"),
        "--quiet",
        *([] if use_cache else ["--no-cache"]),
    ]
    m = measure(name, cmd, server, 0 if use_cache else cases, concurrency, project)
    # counted in a child: parsing a big report here would grow this process, and a child forked from
    # a big parent starts with its peak RSS, which would spoil the next measurement
    count = (
        "import json, sys; r = json.load(open(sys.argv[1])); "
        "print(len(r['cases']), sum(1 for c in r['cases'] if c['error']))"
    )
    out = subprocess.run(
        [sys.executable, "-c", count, str(project / "report.json")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    total, errors = map(int, out.split())
    if errors or total != cases:
        raise SystemExit(f"{name}: {errors} errors in {total} cases; the bench needs a clean run")
    return m


def write_project(root: Path, cases: int, base_url: str, concurrency: int) -> Path:
    """A project like a real one: a prompt template, vars, tags and three checks per case."""
    (root / "evals").mkdir(parents=True, exist_ok=True)
    (root / "prompts").mkdir(exist_ok=True)
    (root / "prompts" / "q.md").write_text("Answer briefly: {{ question }}\n")
    (root / "evalgate.yaml").write_text(
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
    return root


def time_report(path: Path) -> tuple[tuple[float, float], tuple[float, float]]:
    """Reading a report back and rendering its Markdown, timed in a child so this process stays small.

    (A child forked from a big parent inherits its peak RSS, which would spoil the next measurement.)
    """
    out = subprocess.run(
        [sys.executable, __file__, "--time-report", str(path)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    ).stdout
    read_s, markdown_s = json.loads(out)
    return (float(read_s[0]), float(read_s[1])), (float(markdown_s[0]), float(markdown_s[1]))


def _time_report(path: Path) -> int:
    sys.path.insert(0, str(ROOT))  # measure this checkout, not whatever evalgate is installed
    from evalgate.report import load_json, render_markdown

    text = path.read_text()
    read_s = best_of(lambda: load_json(text))
    run, verdict = load_json(text)
    markdown_s = best_of(lambda: render_markdown(run, verdict))
    print(json.dumps([read_s, markdown_s]))
    return 0


def best_of(fn: Any, repeats: int = 3) -> tuple[float, float]:
    """The best wall time and the best CPU time of a few calls.

    What a call returns is kept until its time is taken: freeing it (a 10,000-case report is about
    100,000 objects) is not part of reading it.
    """
    wall = cpu = float("inf")
    for _ in range(repeats):
        started, used = time.perf_counter(), time.process_time()
        result = fn()
        wall = min(wall, time.perf_counter() - started)
        cpu = min(cpu, time.process_time() - used)
        del result
    return wall, cpu


def median(runs: Sequence[Measurement]) -> Measurement:
    """One row from repeated runs: the median of each timing, the largest peak RSS."""
    firsts = [m.to_first_request_s for m in runs if m.to_first_request_s is not None]
    return replace(
        runs[0],
        wall_s=statistics.median(m.wall_s for m in runs),
        cpu_s=statistics.median(m.cpu_s for m in runs),
        peak_mb=max(m.peak_mb for m in runs),
        to_first_request_s=statistics.median(firsts) if firsts else None,
        server_cpu_s=statistics.median(m.server_cpu_s for m in runs),
    )


def compile_checkout() -> None:
    """Byte-compile the checkout under test, as ``pip install`` does for the package it installs.

    The clients import evalgate from this checkout (``PYTHONPATH``). Without up-to-date ``.pyc`` files
    (a fresh clone, or ``PYTHONDONTWRITEBYTECODE`` set, as on the development machine) every start
    compiled the modules it imports from source: 60-70 ms before the first request that an installed
    evalgate never pays, and more or less of it from one run to the next as stray ``.pyc`` files came
    and went. ``__pycache__`` is ignored by git.
    """
    import compileall

    if not compileall.compile_dir(ROOT / "evalgate", quiet=1):
        raise SystemExit("could not byte-compile the evalgate checkout")


def python_start_up() -> tuple[float, float]:
    """Median wall time of ``python -c pass`` with and without ``site`` (its ``.pth`` files), in seconds.

    Printed beside the first-request time: part of that time is the interpreter's own start-up, which
    on a machine with an editable install or other ``.pth`` hooks is not what a user's install pays.
    """

    def median_of(cmd: list[str]) -> float:
        times = []
        for _ in range(9):
            started = time.perf_counter()
            subprocess.run(cmd, check=True)
            times.append(time.perf_counter() - started)
        return statistics.median(times)

    return median_of([sys.executable, "-c", "pass"]), median_of([sys.executable, "-S", "-c", "pass"])


def forget_parses(project: Path) -> None:
    """Empty the project's parse cache, so the next run parses its suite from scratch."""
    shutil.rmtree(project / ".evalgate" / "cache" / "parsed", ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes, to check the script works")
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="runs of each client, interleaved; the table shows each timing's median (default 3)",
    )
    parser.add_argument("--time-report", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.time_report:
        return _time_report(args.time_report)
    big, small, cached_n = (1_000, 50, 200) if args.quick else (10_000, 200, 2_000)
    compile_checkout()

    rows: list[Measurement] = []
    with tempfile.TemporaryDirectory(prefix="evalgate-bench-") as tmp:
        tmp_path = Path(tmp)
        fast = Server(0.01)
        try:
            project = write_project(tmp_path / "big", big, fast.base_url, 32)
            runs: dict[str, list[Measurement]] = {"floor": [], "cold": [], "warm": []}
            for _ in range(args.repeat):  # interleaved, so a busy moment spreads over all three
                runs["floor"].append(floor(fast, big, 32, project))
                forget_parses(project)
                runs["cold"].append(
                    evalgate(f"evalgate, {big:,} cases, cold parse cache", fast, project, big, 32)
                )
                runs["warm"].append(
                    evalgate(f"evalgate, {big:,} cases, warm parse cache", fast, project, big, 32)
                )
            big_floor, cold, warm = (median(runs[k]) for k in ("floor", "cold", "warm"))
            rows += [big_floor, cold, warm]
            cached_project = write_project(tmp_path / "cached", cached_n, fast.base_url, 32)
            evalgate(
                f"{cached_n:,} cases, filling the cache", fast, cached_project, cached_n, 32, use_cache=True
            )
            rerun = evalgate(
                f"evalgate, {cached_n:,} cases, cached rerun",
                fast,
                cached_project,
                cached_n,
                32,
                use_cache=True,
            )
            if fast.stats()["served"]:
                raise SystemExit("the cached rerun called the model server; the cache is not working")
        finally:
            fast.close()
        for m in rows:
            print(_line(m), flush=True)

        read_s, markdown_s = time_report(project / "report.json")
        print(
            f"load_json of {big:,} cases: {read_s[0] * 1000:.0f} ms wall, {read_s[1] * 1000:.0f} ms CPU; "
            f"Markdown comment: {markdown_s[0] * 1000:.0f} ms wall, {markdown_s[1] * 1000:.0f} ms CPU"
        )

        slow = Server(0.1)
        try:
            project = write_project(tmp_path / "small", small, slow.base_url, 16)
            small_runs: dict[str, list[Measurement]] = {"floor": [], "evalgate": [], "start-up": []}
            for _ in range(args.repeat):
                small_runs["floor"].append(floor(slow, small, 16, project))
                small_runs["start-up"].append(startup_floor(slow, project))
                forget_parses(project)  # start-up as on a fresh CI runner: nothing parsed yet
                small_runs["evalgate"].append(evalgate(f"evalgate, {small} cases", slow, project, small, 16))
            small_floor, small_run = median(small_runs["floor"]), median(small_runs["evalgate"])
            start_floor = median(small_runs["start-up"])
        finally:
            slow.close()
        shutil.rmtree(tmp_path / "big", ignore_errors=True)
    for m in (small_floor, small_run, start_floor):
        print(_line(m), flush=True)
    rows += [small_floor, small_run]

    print(
        "\n| client | cases, latency, C | ideal N·latency/C | wall | CPU | CPU per case | peak RSS "
        "| first request |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for m in rows:
        first = "—" if m.to_first_request_s is None else f"{m.to_first_request_s:.2f} s"
        print(
            f"| {m.name.split(',')[0]}{_suffix(m.name)} | {m.cases:,}, {m.latency_s * 1000:.0f} ms, "
            f"C={m.concurrency} | {m.ideal_s:.2f} s | {m.wall_s:.2f} s | {m.cpu_s:.2f} s | "
            f"{m.cpu_us_per_case:,.0f} µs | {m.peak_mb:.0f} MB | {first} |"
        )
    print(
        "| start-up floor: pydantic, PyYAML, `asyncio`, one request | 1, 100 ms | "
        f"| {start_floor.wall_s:.2f} s | {start_floor.cpu_s:.2f} s | | {start_floor.peak_mb:.0f} MB "
        f"| {start_floor.to_first_request_s or 0:.2f} s |"
    )
    print(f"| evalgate, cached rerun | {cached_n:,} | | {rerun.wall_s:.2f} s | {rerun.cpu_s:.2f} s | | | |")
    print(
        f"| read back the {big:,}-case JSON report (`load_json`) | | | {read_s[0]:.3f} s "
        f"| {read_s[1]:.3f} s | | | |"
    )
    print(f"| Markdown comment for {big:,} cases | | | {markdown_s[0]:.3f} s | {markdown_s[1]:.3f} s | | | |")

    targets = [
        (
            f"server not the bottleneck: floor {big_floor.wall_s:.2f} s "
            f"<= 1.2 x ideal {big_floor.ideal_s:.2f} s",
            big_floor.wall_s <= 1.2 * big_floor.ideal_s,
        ),
        (
            f"{big:,} cases wall {cold.wall_s:.2f} s (cold) <= 1.3 x floor {big_floor.wall_s:.2f} s",
            cold.wall_s <= 1.3 * big_floor.wall_s,
        ),
        (
            f"{big:,} cases wall {warm.wall_s:.2f} s (warm) <= 1.3 x floor {big_floor.wall_s:.2f} s",
            warm.wall_s <= 1.3 * big_floor.wall_s,
        ),
        (f"CPU per case cold {cold.cpu_us_per_case:.0f} µs <= 450 µs", cold.cpu_us_per_case <= 450),
        (
            f"CPU per case warm parse cache {warm.cpu_us_per_case:.0f} µs <= 300 µs",
            warm.cpu_us_per_case <= 300,
        ),
        (
            f"peak RSS {max(cold.peak_mb, warm.peak_mb):.0f} MB <= 150 MB",
            max(cold.peak_mb, warm.peak_mb) <= 150,
        ),
        (
            f"{small} cases wall {small_run.wall_s:.2f} s <= floor {small_floor.wall_s:.2f} s + 0.25 s",
            small_run.wall_s <= small_floor.wall_s + 0.25,
        ),
        (
            f"start-up to the first request {small_run.to_first_request_s or 0:.3f} s <= 0.2 s",
            small_run.to_first_request_s is not None and small_run.to_first_request_s <= 0.2,
        ),
        # single-threaded work: its CPU time is what the wall time is on an idle core
        (f"read back {big:,} cases {read_s[1]:.3f} s CPU <= 0.3 s", read_s[1] <= 0.3),
        (f"cached rerun of {cached_n:,} cases {rerun.cpu_s:.2f} s CPU < 1 s", rerun.cpu_s < 1.0),
        (f"Markdown for {big:,} cases {markdown_s[1]:.3f} s CPU <= 0.2 s", markdown_s[1] <= 0.2),
    ]
    if small_run.to_first_request_s is not None and start_floor.to_first_request_s is not None:
        own = small_run.to_first_request_s - start_floor.to_first_request_s
        print(
            f"\nstart-up to the first request: evalgate {small_run.to_first_request_s:.3f} s, its "
            f"dependencies alone (bench/floor_startup.py) {start_floor.to_first_request_s:.3f} s: "
            f"evalgate's own {own * 1000:.0f} ms"
        )
    with_site, without_site = python_start_up()
    print(
        f"\nPython's own start-up: python -c pass {with_site * 1000:.0f} ms, "
        f"without site (.pth files) {without_site * 1000:.0f} ms"
    )
    load = os.getloadavg()
    print(f"\nload average: {load[0]:.1f} (1 min), {load[1]:.1f} (5 min) on {os.cpu_count()} CPUs")
    for label, ok in targets:
        print(f"{'PASS' if ok else 'FAIL'}  {label}")
    if args.quick:
        return 0
    return 0 if all(ok for _, ok in targets) else 1


def _suffix(name: str) -> str:
    parts = name.split(", ")
    return f" ({parts[2]})" if len(parts) > 2 else ""


def _line(m: Measurement) -> str:
    first = "" if m.to_first_request_s is None else f", first request after {m.to_first_request_s:.3f} s"
    return (
        f"{m.name} at {m.latency_s * 1000:.0f} ms, C={m.concurrency}: wall {m.wall_s:.2f} s "
        f"(ideal {m.ideal_s:.2f} s), CPU {m.cpu_s:.2f} s = {m.cpu_us_per_case:.0f} µs/case, "
        f"peak {m.peak_mb:.0f} MB{first}; server CPU {m.server_cpu_s:.2f} s"
    )


if __name__ == "__main__":
    sys.exit(main())
