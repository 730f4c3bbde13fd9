"""``bench/bench_runner.py`` still runs: the quick sizes, one run each, every row and target printed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_runner_bench_runs_end_to_end() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "bench_runner.py"), "--quick", "--repeat", "1"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    rows = (
        "| bare http.client | 1,000, 10 ms, C=32 |",
        "| evalgate (cold parse cache) |",
        "| evalgate |",
        "| start-up floor: pydantic, PyYAML, `asyncio`, one request |",
    )
    for row in rows:
        assert row in out
    assert "its dependencies alone (bench/floor_startup.py)" in out
    verdicts = [line for line in out.splitlines() if line.startswith(("PASS", "FAIL"))]
    assert len(verdicts) == 11
    # exit 0 also says the cached rerun never reached the model server: the bench stops if it did
