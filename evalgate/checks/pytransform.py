"""Transforms written in Python (promptfoo's ``file://x.py`` form), called in-process.

A ``transform`` or ``transform_vars`` of ``file://x.py`` calls ``get_transform(value, context)`` from that
file (``file://x.py:fn`` names another function), with the answer (or the vars) and promptfoo's context.
The file is loaded by its path, relative to the suite's folder, once (again when it changes).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from evalgate.errors import ConfigError

_REF = re.compile(r"^file://(.+?\.py)(?::([A-Za-z_]\w*))?$")
_lock = threading.Lock()
_loaded: dict[tuple[Path, str, int], Callable[..., Any]] = {}


def is_python(code: str) -> bool:
    """Whether a transform names a Python file."""
    return _REF.match(code.strip()) is not None


def load(code: str, base_dir: Path) -> Callable[..., Any]:
    """The function a ``file://x.py[:fn]`` transform names; ``ConfigError`` when it is not there."""
    import importlib.util  # only a Python transform needs it; kept off every run's start-up

    found = _REF.match(code.strip())
    assert found is not None, code
    path = (base_dir / found.group(1)).resolve()
    name = found.group(2) or "get_transform"
    try:
        key = (path, name, path.stat().st_mtime_ns)  # an edited file is loaded again
    except OSError:
        key = (path, name, -1)
    with _lock:
        fn = _loaded.get(key)
        if fn is not None:
            return fn
        if not path.is_file():
            raise ConfigError(
                f"python transform file '{found.group(1)}' not found",
                fix="paths are relative to the suite's folder",
            )
        spec = importlib.util.spec_from_file_location(f"evalgate_transform_{len(_loaded)}", path)
        if spec is None or spec.loader is None:
            raise ConfigError(f"cannot load python transform file '{found.group(1)}'")
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except Exception as exc:  # the user's file raised while loading
            raise ConfigError(
                f"loading python transform '{found.group(1)}' raised {type(exc).__name__}: {exc}"
            ) from None
        target: Callable[..., Any] | None = getattr(module, name, None)
        if target is None or not callable(target):
            raise ConfigError(
                f"python transform file '{found.group(1)}' has no function '{name}'",
                fix="define get_transform(value, context), or name the function: file://x.py:fn",
            )
        _loaded[key] = target
        return target


def call(code: str, value: Any, context: dict[str, Any], base_dir: Path) -> Any:
    """What the named function returns for ``value``; its exceptions propagate to the caller."""
    return load(code, base_dir)(value, context)
