"""Smoke test of ``bench/canary_calibration.py``: the script runs the real judge and prints its table.

Three seeds say nothing about calibration (the README has the 1,000-seed run), so the exit code may be
0 or 1; a crash (any other code), a missing scenario or a result that contradicts the exit code fails.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "bench" / "canary_calibration.py"

pytest.importorskip("numpy", reason="the calibration bench needs numpy (pip install -e '.[dev]')")


def test_canary_calibration_script_runs_every_scenario_and_prints_the_table() -> None:
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--seeds", "3", "--jobs", "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode in (0, 1), proc.stderr
    out = proc.stdout
    assert "| scenario | required | measured | result |" in out
    for scenario in (
        "equal versions, per-request routing",
        "equal versions, sticky routing, bursts of 20, no `unit`",
        "routing lag 30 s at every weight change",
        "traffic stops 10 min into the 25% stage",
        "zero canary traffic",
        "time-of-day drift",
        "20-point drop",
    ):
        assert f"| {scenario}" in out
    assert ("| FAIL |" in out) == (proc.returncode == 1)
    assert "| traffic stops 10 min into the 5% stage | promoted 0% | 0.0% | PASS | no_data 3 |" in out
