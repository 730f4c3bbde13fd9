"""``bench/bench_instructions.py`` still runs: the quick sizes under cachegrind, both clients and start-up."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(
    shutil.which("valgrind") is None,
    reason="!! valgrind is not installed (.ci/run installs it): the instruction-count bench is NOT checked",
)
def test_the_instruction_bench_counts_both_clients_and_start_up() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "bench_instructions.py"), "--quick"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    rows = dict(
        re.findall(r"^\| (bare http.client|evalgate run[^|]*) \|.*\| ([\d,]+) k \|$", done.stdout, re.M)
    )
    assert set(rows) == {"bare http.client", "evalgate run (warm parse cache)"}, done.stdout
    assert all(int(v.replace(",", "")) > 0 for v in rows.values())
    startup = re.findall(r"^start-up, (.+): ([\d,]+) M instructions$", done.stdout, re.M)
    assert [name for name, _ in startup] == [
        "python -c pass",
        "floor (bench/floor_startup.py), to its request",
        "evalgate run (cold parse cache), to its first request",
    ]
    python, floor, evalgate = (int(v.replace(",", "")) for _, v in startup)
    assert evalgate > floor > python > 0
