"""Call a Python function from the user's repo as the model (their app's own entry point)."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from evalgate.errors import ConfigError, ProviderError
from evalgate.providers._wire import int_or_none
from evalgate.providers.base import ModelRequest
from evalgate.pyref import resolve_function
from evalgate.results import Completion

OPTIONAL_KWARGS = ("model", "case_id", "params", "system")


def accepted_kwargs(fn: Callable[..., Any], ref: str) -> frozenset[str]:
    """Which of our optional keyword arguments ``fn`` can take, so simple ``f(prompt)`` functions work."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):  # some builtins and C extensions have no signature
        return frozenset()
    params = list(sig.parameters.values())
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return frozenset(OPTIONAL_KWARGS)
    positional = [
        p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)
    ]
    if not positional:
        raise ConfigError(
            f"function '{ref}' takes no positional argument for the prompt",
            where="model.function",
            fix="define it like 'def answer(prompt, *, model=None): ...'",
        )
    return frozenset(
        p.name
        for p in params[1:]
        if p.name in OPTIONAL_KWARGS and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    )


def to_completion(value: Any, request: ModelRequest, latency_ms: float, *, ref: str) -> Completion:
    """Accept a str, or a dict with ``text`` and optional usage fields."""
    if isinstance(value, str):
        return Completion(text=value, model=request.model, latency_ms=latency_ms)
    if isinstance(value, Mapping) and isinstance(value.get("text"), str):
        model = value.get("model")
        cost = value.get("cost_usd")
        return Completion(
            text=value["text"],
            model=model if isinstance(model, str) and model else request.model,
            input_tokens=int_or_none(value.get("input_tokens")),
            output_tokens=int_or_none(value.get("output_tokens")),
            latency_ms=latency_ms,
            cost_usd=float(cost) if isinstance(cost, int | float) and not isinstance(cost, bool) else None,
        )
    got = (
        f"a dict with keys {sorted(map(str, value))}" if isinstance(value, Mapping) else type(value).__name__
    )
    raise ProviderError(
        f"function '{ref}' returned {got}; expected a str or a dict with a 'text' string", retryable=False
    )


class PythonProvider:
    """Imports ``module:function`` once and calls it per request; the function must be thread-safe."""

    name = "python"

    def __init__(
        self,
        *,
        function: str,
        base_dir: Path,
        params: Mapping[str, Any] | None = None,
        system: str | None = None,
    ) -> None:
        self._ref = function
        self._fn = resolve_function(function, base_dir, what="model function")
        self._kwargs = accepted_kwargs(self._fn, function)
        self._is_async = inspect.iscoroutinefunction(self._fn)
        self._params = dict(params or {})
        self._system = system

    def __repr__(self) -> str:
        return f"PythonProvider(function={self._ref!r})"

    def complete(self, request: ModelRequest) -> Completion:
        """Call the function with the prompt and whichever optional arguments it accepts."""
        offered: dict[str, Any] = {
            "model": request.model,
            "case_id": request.case_id,
            "params": {**self._params, **request.params},
            "system": request.system if request.system is not None else self._system,
        }
        kwargs = {k: v for k, v in offered.items() if k in self._kwargs}
        started = time.perf_counter()
        try:
            value = self._fn(request.prompt, **kwargs)
            if self._is_async:
                value = asyncio.run(value)
        except ProviderError:
            raise  # the user's code already said whether a retry may help
        except Exception as exc:
            raise ProviderError(
                f"function '{self._ref}' raised {type(exc).__name__}: {exc}", retryable=False
            ) from exc
        latency_ms = (time.perf_counter() - started) * 1000.0
        return to_completion(value, request, latency_ms, ref=self._ref)

    def close(self) -> None:
        """Nothing is held between calls."""
