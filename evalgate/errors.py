"""The one exception tree. Only the CLI and the Action entrypoint turn these into output and exit codes."""

from __future__ import annotations

EXIT_PASSED = 0
EXIT_GATE_FAILED = 1
EXIT_USAGE = 2
EXIT_INFRA = 3
EXIT_INTERRUPTED = 130


class EvalgateError(Exception):
    """Base of every error evalgate raises on purpose; carries the process exit code."""

    exit_code = EXIT_INFRA


class ConfigError(EvalgateError):
    """Bad user input: a config, suite, prompt or plan that cannot be used as written.

    Rendered as ``file:line: where: what (fix)`` so editors and CI logs can jump to it.
    """

    exit_code = EXIT_USAGE

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        where: str | None = None,
        fix: str | None = None,
    ) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.where = where
        self.fix = fix
        super().__init__(self.render())

    def render(self) -> str:
        """The one-line (or few-line) human message."""
        location = ""
        if self.file:
            location = self.file if self.line is None else f"{self.file}:{self.line}"
            location += ": "
        where = f"{self.where}: " if self.where else ""
        fix = f" ({self.fix})" if self.fix else ""
        return f"{location}{where}{self.message}{fix}"


class UsageError(ConfigError):
    """Bad command-line usage (wrong flag values, missing files named on the command line)."""


class ProviderError(EvalgateError):
    """A model call failed. ``retryable`` tells the retry policy whether another attempt may help."""

    exit_code = EXIT_INFRA

    def __init__(self, message: str, *, retryable: bool = False, retry_after: float | None = None) -> None:
        self.retryable = retryable
        self.retry_after = retry_after
        super().__init__(message)


class InfrastructureError(EvalgateError):
    """Something outside the user's config failed (network, GitHub API, router) after retries."""

    exit_code = EXIT_INFRA
