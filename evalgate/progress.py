"""Progress while cases run: a bar on a terminal, a few compact lines in CI logs."""

from __future__ import annotations

import sys
import threading
import time
from types import TracebackType
from typing import TYPE_CHECKING, TextIO

from evalgate.results import CaseResult

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID


class CaseProgress:
    """Counts finished cases; thread-safe, since runner workers report as they finish."""

    def __init__(
        self,
        total: int,
        *,
        stream: TextIO | None = None,
        interactive: bool | None = None,
        enabled: bool = True,
    ) -> None:
        self.total = total
        self.enabled = enabled
        self.stream = stream if stream is not None else sys.stderr
        self.interactive = self.stream.isatty() if interactive is None else interactive
        self.done = self.failed = self.errors = 0
        self._lock = threading.Lock()
        self._next_report = 0.25
        self._last_line = 0.0
        self._progress: Progress | None = None
        self._task: TaskID | None = None

    def __enter__(self) -> CaseProgress:
        if self.enabled and self.interactive and self.total:
            # imported here: CI logs never draw a bar, and rich costs start-up time
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._progress = Progress(
                TextColumn("[bold]evalgate"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[status]}"),
                TimeElapsedColumn(),
                console=Console(file=self.stream),
                transient=True,
            )
            self._progress.start()
            self._task = self._progress.add_task("cases", total=self.total, status="")
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._progress is not None:
            self._progress.stop()

    def __call__(self, result: CaseResult) -> None:
        with self._lock:
            self.done += 1
            if result.status == "failed":
                self.failed += 1
            elif result.status == "error":
                self.errors += 1
            status = f"{self.failed} failed, {self.errors} errors"
            if not self.enabled:
                return
            if self._progress is not None and self._task is not None:
                self._progress.update(self._task, completed=self.done, status=status)
                return
            # CI logs: a line at every quarter or every 10 seconds, whichever comes first, and at the end
            now = time.monotonic()
            fraction = self.done / self.total if self.total else 1.0
            if fraction >= self._next_report or now - self._last_line >= 10 or self.done == self.total:
                while self._next_report <= fraction:
                    self._next_report += 0.25
                self._last_line = now
                self.stream.write(f"evalgate: {self.done}/{self.total} cases done ({status})\n")
                self.stream.flush()
