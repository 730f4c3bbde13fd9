"""Where the command line's words go: stdout for results, stderr for warnings, rich only on a terminal."""

from __future__ import annotations

import sys
from typing import TextIO


class Output:
    """Plain text to stdout/stderr; rich is imported only when there is a terminal to draw on."""

    def __init__(self, stdout: TextIO | None = None, stderr: TextIO | None = None) -> None:
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr

    @property
    def is_terminal(self) -> bool:
        return self.stdout.isatty()

    def say(self, text: str) -> None:
        self.stdout.write(text + "\n")
        self.stdout.flush()

    def write(self, text: str) -> None:
        self.stdout.write(text)
        self.stdout.flush()

    def warn(self, text: str) -> None:
        self.stderr.write(text + "\n")
        self.stderr.flush()

    def draw(self, renderable: object) -> None:
        from rich.console import Console

        Console(file=self.stdout, highlight=False, soft_wrap=True).print(renderable)
