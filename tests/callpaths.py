"""A provider's answer as a run's worker thread asks for it, and as a task on a run's event loop does.

HTTP providers serve both paths (``complete`` and ``acomplete``); tests that pin a behaviour of theirs
take the ``complete`` fixture (from conftest) and so run once per path.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from evalgate.providers.base import ModelRequest
from evalgate.results import Completion

Complete = Callable[[Any, ModelRequest], Completion]
PATHS = ("thread", "event loop")


def on_thread(provider: Any, request: ModelRequest) -> Completion:
    completion: Completion = provider.complete(request)
    return completion


def on_loop(provider: Any, request: ModelRequest) -> Completion:
    """One call on a fresh event loop; the loop's connections are closed before it ends."""

    async def call() -> Completion:
        try:
            completion: Completion = await provider.acomplete(request)
            return completion
        finally:
            await provider.aclose()

    return asyncio.run(call())


def by_name(path: str) -> Complete:
    return on_thread if path == "thread" else on_loop
