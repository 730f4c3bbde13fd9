#!/usr/bin/env python3
"""Instructions, not seconds: the runner bench's clients counted under valgrind's cachegrind.

On a shared two-core machine, CPU time per case moves by 15-30% from one minute to the next, so a change
worth a few percent is lost in ``bench_runner.py``'s noise. The number of user-space instructions a run
executes hardly moves at all (0.01% between runs here), so this script measures a change exactly:

- per case: the slope between a small and a big warm run of the same project, which leaves out start-up,
  for the bare ``http.client`` floor and for ``evalgate run``;
- start-up: instructions from launch to the first model request (the process exits there) with a cold
  parse cache, next to ``python -c pass`` and the start-up floor (``bench/floor_startup.py``: evalgate's
  dependencies alone).

Instructions are not time: system calls (a loopback send costs tens of microseconds in the kernel) and
cache misses are not in them. The targets stay in seconds, in ``bench_runner.py``; this is the ruler for
deciding whether a change made evalgate's own work smaller.

    python bench/bench_instructions.py            # 200 and 2,000 cases, about three minutes
    python bench/bench_instructions.py --quick    # 20 and 120 cases, a smoke test

Needs ``valgrind`` (Debian package ``valgrind``).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from bench_runner import ROOT, Server, compile_checkout, forget_parses, write_project  # noqa: E402

# runs a script (``.py``) or a module (``-m`` style) and exits at its first connection to the model server,
# so what is counted is start-up and nothing after
_TO_FIRST_REQUEST = """
import os, runpy, sys

def hook(event, args):
    if event == "socket.connect":
        os._exit(0)

sys.addaudithook(hook)
target = sys.argv.pop(1)
sys.argv[0] = target
if target.endswith(".py"):
    runpy.run_path(target, run_name="__main__")
else:  # as python -m runs it: evalgate's __main__ calls cli.console, as the evalgate command does
    runpy.run_module(target, run_name="__main__", alter_sys=True)
"""
_REFS = re.compile(r"I\s+refs:\s+([\d,]+)")


def instructions(cmd: list[str], cwd: Path) -> int:
    """User-space instructions ``cmd`` executed, counted by cachegrind (no cache simulation)."""
    env = {**os.environ, "OPENAI_API_KEY": "bench", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null", *cmd],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if done.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(cmd)} exited {done.returncode}: {done.stderr[-2000:]}")
    found = _REFS.search(done.stderr)
    if found is None:
        raise SystemExit(f"no instruction count in valgrind's output: {done.stderr[-2000:]}")
    return int(found.group(1).replace(",", ""))


def run_args(project: Path) -> list[str]:
    return ["run", "--config", str(project / "evalgate.yaml"), "--quiet", "--no-cache"]


def floor_cmd(base_url: str, cases: int) -> list[str]:
    return [
        sys.executable,
        str(BENCH / "floor_client.py"),
        "--url",
        base_url,
        "--cases",
        str(cases),
        "--concurrency",
        "32",
    ]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="20 and 120 cases, to check the script works")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        print("valgrind is not installed: apt-get install valgrind", file=sys.stderr)
        return 2
    small, big = (20, 120) if args.quick else (200, 2_000)
    compile_checkout()
    server = Server(0.01)  # as in bench_runner.py: how many answers one loop turn handles depends on it
    try:
        with tempfile.TemporaryDirectory(prefix="evalgate-instr-") as tmp:
            projects = {n: write_project(Path(tmp) / str(n), n, server.base_url, 32) for n in (small, big)}
            evalgate = [sys.executable, "-m", "evalgate"]
            for project in projects.values():  # warm the parse caches: the slope is the run, not the parse
                subprocess.run(
                    [*evalgate, *run_args(project)],
                    cwd=project,
                    env={**os.environ, "OPENAI_API_KEY": "bench", "PYTHONPATH": str(ROOT)},
                    capture_output=True,
                    check=False,
                )
            counts = {
                ("evalgate", n): instructions([*evalgate, *run_args(p)], p) for n, p in projects.items()
            }
            for n, p in projects.items():
                counts[("floor", n)] = instructions(floor_cmd(server.base_url, n), p)
            first = projects[small]
            probe = [sys.executable, "-c", _TO_FIRST_REQUEST]
            forget_parses(first)  # start-up as in bench_runner.py: a cold parse cache, as on a fresh runner
            startup = {
                "python -c pass": instructions([sys.executable, "-c", "pass"], first),
                "floor (bench/floor_startup.py), to its request": instructions(
                    [
                        *probe,
                        str(BENCH / "floor_startup.py"),
                        "--url",
                        server.base_url,
                        "--suite",
                        str(first / "evals" / "bench.yaml"),
                    ],
                    first,
                ),
                "evalgate run (cold parse cache), to its first request": instructions(
                    [*probe, "evalgate", *run_args(first)], first
                ),
            }
    finally:
        server.close()

    def per_case(client: str) -> float:
        return (counts[(client, big)] - counts[(client, small)]) / (big - small)

    print(f"| client | {small:,} cases | {big:,} cases | per case (slope) |")
    print("|---|---|---|---|")
    for client in ("floor", "evalgate"):
        name = "bare http.client" if client == "floor" else "evalgate run (warm parse cache)"
        print(
            f"| {name} | {counts[(client, small)] / 1e6:,.0f} M | {counts[(client, big)] / 1e6:,.0f} M "
            f"| {per_case(client) / 1e3:,.0f} k |"
        )
    print()
    for what, count in startup.items():
        print(f"start-up, {what}: {count / 1e6:,.0f} M instructions")
    return 0


if __name__ == "__main__":
    sys.exit(main())
