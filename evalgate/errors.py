"""The one exception tree. Only the CLI and the Action entrypoint turn these into output and exit codes."""

from __future__ import annotations

EXIT_PASSED = 0
EXIT_GATE_FAILED = 1
EXIT_USAGE = 2
EXIT_INFRA = 3
EXIT_INTERRUPTED = 130


class EvalgateError(Exception):
    """Base of every error evalgate raises on purpose; carries the process exit code.

    ``retryable`` and ``retry_after`` tell the one retry policy (``evalgate.retry``) whether another
    attempt may help and how long the far side asked us to wait.
    """

    exit_code = EXIT_INFRA
    retryable = False
    retry_after: float | None = None
    status: int = 0  # the HTTP status behind the error, when there was one (0 otherwise)
    gave_up = False  # the retry policy ran out of attempts on it (it was retryable)


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


class ProviderDown(EvalgateError):
    """No call was sent: the provider failed ``runner.max_consecutive_failures`` calls in a row, so the run
    stops instead of spending every remaining case's retries on an endpoint that is down.

    Not a ``ProviderError``: that is one call's failure, which its case records and a fallback model may
    answer; this stops the run, so no handler of a single call's failure takes it.
    """

    summary = ""  # "<provider> <model> failed N calls in a row": short enough for a commit status


class InfrastructureError(EvalgateError):
    """Something outside the user's config failed (network, GitHub API, router) after retries."""

    exit_code = EXIT_INFRA

    def __init__(self, message: str, *, retryable: bool = False, retry_after: float | None = None) -> None:
        self.retryable = retryable
        self.retry_after = retry_after
        super().__init__(message)


class GitHubError(InfrastructureError):
    """A GitHub REST call failed; ``status`` is the HTTP status (0 when no response arrived)."""

    def __init__(
        self, message: str, *, status: int = 0, retryable: bool = False, retry_after: float | None = None
    ) -> None:
        self.status = status
        super().__init__(message, retryable=retryable, retry_after=retry_after)


class GitHubPermissionError(GitHubError):
    """The token may not write here (a fork's read-only token): degrade to a warning, never crash."""
