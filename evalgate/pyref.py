"""Resolve ``package.module:function`` references from users' repos."""

from __future__ import annotations

import importlib
import importlib.machinery
import os
import sys
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from types import ModuleType
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
        top = module_name.partition(".")[0]
        try:
            if _shadowed(top, root):
                module = _import_own(module_name, top, root)
            else:
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


def _shadowed(top: str, root: str) -> bool:
    """Whether ``root`` has its own ``top`` module while another module of that name is loaded."""
    loaded = sys.modules.get(top)
    if loaded is None:
        return False
    here = importlib.machinery.PathFinder.find_spec(top, [root])
    if here is None:
        return False
    mine = _places([here.origin, *(here.submodule_search_locations or [])])
    theirs = _places([getattr(loaded, "__file__", None), *getattr(loaded, "__path__", [])])
    return not mine & theirs


def _import_own(module_name: str, top: str, root: str) -> ModuleType:
    """``module_name`` as ``root`` has it, leaving the already loaded one of that name in place.

    Python imports a module name once per process, so a second folder's ``checks.py`` (the base and
    the head worktree of a pull request, or two teams' suite folders) would otherwise get the first
    one's functions and decide with the wrong code.
    """

    def family(name: str) -> bool:
        return name == top or name.startswith(f"{top}.")

    saved = {name: module for name, module in sys.modules.items() if family(name)}
    for name in saved:
        del sys.modules[name]
    sys.path.insert(0, root)
    try:
        return importlib.import_module(module_name)
    finally:
        sys.path.remove(root)  # the first occurrence: the one just put there
        for name in [name for name in sys.modules if family(name)]:
            del sys.modules[name]
        sys.modules.update(saved)
