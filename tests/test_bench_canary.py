"""Smoke test of ``bench/canary_calibration.py``: the script runs the real judge and prints its table.

Thirty seeds say nothing about calibration (one unlucky seed is 3%), so the exit code may be 0 or 1;
only a crash (any other code) or a missing table fails the test.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "bench" / "canary_calibration.py"


def test_canary_calibration_script_runs_and_prints_the_table() -> None:
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--seeds", "30"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode in (0, 1), proc.stderr
    out = proc.stdout
    assert "| measure | value | target | result |" in out
    assert "equal versions promoted at 5%" in out
    assert "5-pt drop rolled back as a regression" in out
    assert "20-pt drop: look of rollback (median / p90 / max)" in out
    assert ("FAIL" in out) == (proc.returncode == 1)
