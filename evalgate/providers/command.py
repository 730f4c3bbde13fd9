"""Run a local program per case: the prompt goes to stdin, the answer comes from stdout."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from evalgate import cancel
from evalgate.errors import ConfigError, ProviderError
from evalgate.providers.base import ModelRequest
from evalgate.results import Completion

STDERR_LINES_SHOWN = 10
STDERR_CHARS_SHOWN = 2000


def find_executable(argv0: str, base_dir: Path, env: Mapping[str, str]) -> str:
    """Resolve the program like a shell would, with relative paths taken from the config's folder."""
    if os.sep in argv0 or (os.altsep and os.altsep in argv0):
        candidate = Path(argv0) if Path(argv0).is_absolute() else base_dir / argv0
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
        reason = "is not executable" if candidate.is_file() else "does not exist"
        raise ConfigError(
            f"command '{argv0}' {reason} ({candidate})",
            where="model.command",
            fix=f"chmod +x {candidate}"
            if candidate.is_file()
            else "check the path (relative to evalgate.yaml)",
        )
    found = shutil.which(argv0, path=env.get("PATH", os.defpath))
    if found is None:
        raise ConfigError(
            f"command '{argv0}' was not found on PATH",
            where="model.command",
            fix="install it, or give its path relative to evalgate.yaml, e.g. ['./bin/answer']",
        )
    return found


def _tail(text: str) -> str:
    lines = text.strip().splitlines()[-STDERR_LINES_SHOWN:]
    tail = "\n".join(lines)
    return tail[-STDERR_CHARS_SHOWN:] if tail else "(no stderr)"


def _strip_one_newline(text: str) -> str:
    if text.endswith("\r\n"):
        return text[:-2]
    return text[:-1] if text.endswith("\n") else text


class CommandProvider:
    """Runs ``argv`` without a shell for each request; thread-safe because each call is its own process."""

    name = "command"

    def __init__(
        self,
        *,
        argv: Sequence[str],
        base_dir: Path,
        env: Mapping[str, str] | None = None,
        timeout_s: float = 60.0,
    ) -> None:
        if not argv:
            raise ConfigError("model.command is empty", where="model.command", fix="e.g. [python, app.py]")
        self._env = dict(os.environ if env is None else env)
        self._base_dir = base_dir
        self._argv = [find_executable(argv[0], base_dir, self._env), *argv[1:]]
        self._display = argv[0]
        self._timeout_s = timeout_s

    def __repr__(self) -> str:
        return f"CommandProvider(argv={self._argv!r})"

    def complete(self, request: ModelRequest) -> Completion:
        """Run the command once with the prompt on stdin."""
        env = {**self._env, "EVALGATE_MODEL": request.model, "EVALGATE_CASE_ID": request.case_id}
        started = time.perf_counter()
        try:
            # A new session lets a timeout kill grandchildren too, which could otherwise hold the pipes open.
            proc = subprocess.Popen(
                self._argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=self._base_dir,
                env=env,
                text=True,
                encoding="utf-8",
                errors="replace",
                start_new_session=os.name == "posix",
            )
        except OSError as exc:
            raise ConfigError(
                f"cannot run command '{self._display}': {exc.strerror or exc}",
                where="model.command",
                fix="check that the program exists and is executable",
            ) from None
        # SIGINT/SIGTERM: the program runs in its own session, so the terminal's signal never reaches it
        handle = cancel.on_cancel(lambda: kill_group(proc))
        try:
            stdout, stderr = proc.communicate(request.prompt, timeout=self._timeout_s)
        except subprocess.TimeoutExpired:
            kill_group(proc)
            proc.communicate()
            raise ProviderError(
                f"command '{self._display}' timed out after {self._timeout_s:g}s and was killed",
                retryable=True,
            ) from None
        finally:
            cancel.forget(handle)
        cancel.check()  # killed because the run was stopped: not an answer, not a failure
        latency_ms = (time.perf_counter() - started) * 1000.0
        if proc.returncode != 0:
            status = (
                f"was killed by signal {-proc.returncode}"
                if proc.returncode < 0
                else f"exited with status {proc.returncode}"
            )
            raise ProviderError(f"command '{self._display}' {status}: {_tail(stderr)}", retryable=False)
        return Completion(text=_strip_one_newline(stdout), model=request.model, latency_ms=latency_ms)

    def close(self) -> None:
        """Nothing is held between calls."""


def kill_group(proc: subprocess.Popen[str]) -> None:
    """Kill a timed-out program and its children (it was started in a process group of its own)."""
    if os.name == "posix":
        try:
            os.killpg(proc.pid, signal.SIGKILL)
            return
        except (ProcessLookupError, PermissionError):
            pass
    proc.kill()
