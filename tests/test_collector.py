"""The cyclic collector's thresholds: rare while the command line starts, every 7,000 during a run."""

from __future__ import annotations

import gc
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from evalgate.evaluation import fewer_collections

ROOT = Path(__file__).resolve().parents[1]


def _printed(probe: str) -> list[str]:
    """The words ``probe`` prints, run in a fresh interpreter on this checkout."""
    done = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


@pytest.fixture
def threshold() -> Iterator[None]:
    saved = gc.get_threshold()
    yield
    gc.set_threshold(*saved)


@pytest.mark.parametrize("before", [700, 70_000])
def test_a_run_collects_every_7000_allocations_and_restores_the_threshold(
    threshold: None, before: int
) -> None:
    gc.set_threshold(before, 10, 10)
    with fewer_collections():
        assert gc.get_threshold() == (7_000, 10, 10)
        with fewer_collections():  # nested: the outer one's setting stands
            assert gc.get_threshold() == (7_000, 10, 10)
        assert gc.get_threshold() == (7_000, 10, 10)
    assert gc.get_threshold() == (before, 10, 10)


def test_the_command_line_starts_with_rare_collections_and_freezes_at_exit() -> None:
    """``console`` raises the threshold before ``main`` imports anything heavy, and freezes at the end."""
    probe = (
        "import gc, sys\n"
        "from evalgate import cli\n"
        "def main():\n"
        "    print(gc.get_threshold()[0], 'pydantic' in sys.modules, flush=True)\n"
        "    return 0\n"
        "cli.main = main\n"
        "import atexit\n"
        "atexit.register(lambda: print(gc.get_freeze_count() > 0, flush=True))\n"
        "cli.console()\n"
    )
    assert _printed(probe) == ["70000", "False", "True"]


def test_the_action_starts_with_rare_collections_too() -> None:
    probe = (
        "import gc, runpy, sys, types\n"
        "def main():\n"
        "    print(gc.get_threshold()[0], flush=True)\n"
        "    return 0\n"
        "sys.modules['evalgate.action'] = types.SimpleNamespace(main=main)\n"
        f"runpy.run_path({str(ROOT / 'entrypoint.py')!r}, run_name='__main__')\n"
    )
    assert _printed(probe) == ["70000"]
