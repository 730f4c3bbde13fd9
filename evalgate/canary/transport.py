"""How routers and metric sources reach the outside: user specs, HTTP calls and programs.

Every failure comes out as ``InfrastructureError`` (``retryable`` when another attempt may help) or as
``ConfigError`` when the user's spec cannot work; nothing here retries, the controller does.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, TypeVar

import requests
from pydantic import Field, ValidationError

from evalgate.errors import ConfigError, InfrastructureError
from evalgate.fielderrors import describe, dotted
from evalgate.providers._wire import parse_retry_after, server_message
from evalgate.providers.command import find_executable, kill_group
from evalgate.strict import Strict

M = TypeVar("M", bound=Strict)
Seconds = Annotated[float, Field(gt=0, le=3600)]
"""A timeout in a user spec."""
TAIL_CHARS = 1000


def parse_spec(model: type[M], spec: Mapping[str, Any], *, where: str) -> M:
    """Validate a user mapping; the first problem becomes a ``ConfigError`` at ``where.<field>``."""
    try:
        return model.model_validate(dict(spec))
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        message, fix = describe(model, error)
        inner = dotted(tuple(error["loc"]))
        raise ConfigError(message, where=f"{where}.{inner}" if inner else where, fix=fix) from None


def http_request(
    method: str, url: str, *, what: str, headers: Mapping[str, str], timeout_s: float, **kwargs: Any
) -> requests.Response:
    """One HTTP call; non-2xx and transport failures raise ``InfrastructureError`` (5xx/408/429 retryable)."""
    try:
        response = requests.request(method, url, headers=dict(headers), timeout=timeout_s, **kwargs)
    except requests.Timeout:
        raise InfrastructureError(f"{what}: timed out after {timeout_s:g}s", retryable=True) from None
    except requests.ConnectionError as exc:
        raise InfrastructureError(f"{what}: cannot connect: {exc}", retryable=True) from None
    except requests.RequestException as exc:
        raise InfrastructureError(f"{what}: cannot send the request: {exc}") from None
    status = response.status_code
    if status >= 300:
        retryable = status >= 500 or status in (408, 429)
        raise InfrastructureError(
            f"{what}: HTTP {status}: {server_message(response)}",
            retryable=retryable,
            retry_after=parse_retry_after(response.headers) if retryable else None,
        )
    return response


def run_argv(argv: Sequence[str], *, what: str, cwd: Path, env: Mapping[str, str], timeout_s: float) -> str:
    """Run a program without a shell and return its stdout; failures are retryable ``InfrastructureError``."""
    try:
        # A new session lets a timeout kill grandchildren too, which would otherwise hold the pipes open.
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=cwd,
            env=dict(env),
            text=True,
            encoding="utf-8",
            errors="replace",
            start_new_session=os.name == "posix",
        )
    except OSError as exc:
        raise ConfigError(f"{what}: cannot run '{argv[0]}': {exc.strerror or exc}") from None
    try:
        stdout, stderr = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        kill_group(proc)
        proc.communicate()
        raise InfrastructureError(
            f"{what}: timed out after {timeout_s:g}s and was killed", retryable=True
        ) from None
    if proc.returncode != 0:
        status = f"killed by signal {-proc.returncode}" if proc.returncode < 0 else f"exit {proc.returncode}"
        tail = stderr.strip()[-TAIL_CHARS:] or "(no stderr)"
        raise InfrastructureError(f"{what}: {status}: {tail}", retryable=True)
    return stdout


def resolve_program(argv0: str, base_dir: Path, env: Mapping[str, str], where: str) -> str:
    """The program's path, found like a shell would (relative paths from ``base_dir``)."""
    try:
        return find_executable(argv0, base_dir, env)
    except ConfigError as exc:
        fix = (
            "install it, or give its path relative to the plan's folder" if "PATH" in exc.message else exc.fix
        )
        raise ConfigError(exc.message, where=f"{where}[0]", fix=fix) from None
