"""Shared pytest fixtures."""

from __future__ import annotations

# --- retry waits (evalgate.retry) -------------------------------------------------------------
from collections.abc import Iterator

import pytest

from evalgate import retry


@pytest.fixture(autouse=True)
def retry_waits() -> Iterator[list[float]]:
    """Make retry backoff instant in every test; the list records each wait that would have happened."""
    waits: list[float] = []
    previous = retry.set_sleep(waits.append)
    yield waits
    retry.set_sleep(previous)


# --- end retry waits --------------------------------------------------------------------------
