"""Resolve ``package.module:function`` references from users' repos."""

from __future__ import annotations

import importlib
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from evalgate.errors import ConfigError

_lock = threading.Lock()


def resolve_function(ref: str, base_dir: Path, *, what: str = "function") -> Callable[..., Any]:
    """Import ``module:function`` with ``base_dir`` on ``sys.path``; ``ConfigError`` if it is not there."""
    module_name, sep, attr = ref.partition(":")
    if not sep or not module_name or not attr:
        raise ConfigError(
            f"{what} '{ref}' is not a 'module:function' reference",
            fix="write it as 'package.module:function', e.g. 'app.bot:answer'",
        )
    root = str(base_dir.resolve())
    with _lock:
        if root not in sys.path:
            sys.path.insert(0, root)
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise ConfigError(
                f"cannot import module '{module_name}' for {what} '{ref}': {exc}",
                fix=f"make sure it is importable from {root}",
            ) from None
        except Exception as exc:  # the user's module raised while importing
            raise ConfigError(
                f"importing '{module_name}' for {what} '{ref}' raised {type(exc).__name__}: {exc}"
            ) from None
    target: Any = module
    for part in attr.split("."):
        target = getattr(target, part, None)
        if target is None:
            raise ConfigError(f"module '{module_name}' has no attribute '{attr}' ({what} '{ref}')")
    if not callable(target):
        raise ConfigError(f"{what} '{ref}' is not callable")
    return target  # type: ignore[no-any-return]
