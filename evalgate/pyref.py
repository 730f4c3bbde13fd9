"""Resolve ``package.module:function`` references from users' repos."""

from __future__ import annotations

import importlib
import importlib.machinery
import os
import sys
import threading
from collections.abc import Callable, Iterable
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
        _refuse_shadowed(module_name.partition(".")[0], root, what, ref)
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


def _places(paths: Iterable[str | None]) -> set[str]:
    return {os.path.realpath(p) for p in paths if p}


def _refuse_shadowed(top: str, root: str, what: str, ref: str) -> None:
    """A ``ConfigError`` when ``root`` has its own ``top`` module but another one of that name is loaded.

    Python imports a module name once per process: a second suite folder with its own ``checks.py`` (or
    a second imported promptfoo project's ``promptfoo_python.py``) would silently get the first one's
    functions, and decide with the wrong code.
    """
    loaded = sys.modules.get(top)
    if loaded is None:
        return
    here = importlib.machinery.PathFinder.find_spec(top, [root])
    if here is None:
        return
    mine = _places([here.origin, *(here.submodule_search_locations or [])])
    theirs = _places([getattr(loaded, "__file__", None), *getattr(loaded, "__path__", [])])
    if mine & theirs:
        return
    shown = next(iter(sorted(theirs)), "a built-in module")
    raise ConfigError(
        f"{what} '{ref}': {root} has its own module '{top}', but another '{top}' is already loaded "
        f"({shown}); Python imports a module name once per run",
        fix=f"rename one of the two '{top}' modules so each suite folder's name is its own",
    )
