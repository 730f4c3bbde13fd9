"""Shared pytest fixtures."""

from __future__ import annotations

# --- retry waits (evalgate.retry) -------------------------------------------------------------
from collections.abc import Iterator

import pytest

from evalgate import retry
from tests.callpaths import PATHS, Complete, by_name


@pytest.fixture(autouse=True)
def retry_waits() -> Iterator[list[float]]:
    """Make retry backoff instant in every test; the list records each wait that would have happened."""
    waits: list[float] = []
    previous = retry.set_sleep(waits.append)
    yield waits
    retry.set_sleep(previous)


# --- end retry waits --------------------------------------------------------------------------


@pytest.fixture(params=PATHS)
def complete(request: pytest.FixtureRequest) -> Complete:
    """Call an HTTP provider through a worker thread's path, then through the event loop's."""
    return by_name(request.param)
