"""promptfoo's ``python`` asserts as evalgate ``python`` checks: one generated module of adapters.

promptfoo runs an inline expression (or, when it spans lines, a function body) over ``output`` and
``context``, or calls ``get_assert(output, context)`` from a ``file://x.py`` (``file://x.py:fn`` names
another function). It returns a bool, a number or ``{pass, score, reason}``. The generated functions
build promptfoo's ``context`` from the check context and turn those returns into evalgate's contract.
"""

from __future__ import annotations

import hashlib
import os
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

MODULE = "promptfoo_python"  # the generated module is MODULE_<hash of where it is written>.py

_HEADER = '''"""Python asserts imported from promptfoo by 'evalgate import promptfoo'; edit freely."""

from __future__ import annotations

import functools
import importlib.util
import json
from pathlib import Path
from typing import Any


def _context(ctx: Any) -> dict[str, Any]:
    variables = dict(ctx.vars)
    return {"vars": variables, "prompt": ctx.prompt, "test": {"vars": variables}}


def _result(value: Any, threshold: float | None, negate: bool = False) -> dict[str, Any]:
    if isinstance(value, bool):
        passed, score, reason = value, float(value), f"returned {value}"
    elif isinstance(value, int | float):
        passed = value >= threshold if threshold is not None else value > 0
        score, reason = min(1.0, max(0.0, float(value))), f"returned {value:g}"
    elif isinstance(value, dict) and "pass" in value:
        passed = bool(value["pass"])
        raw = value.get("score")
        score = min(1.0, max(0.0, float(raw))) if isinstance(raw, int | float) else float(passed)
        reason = str(value.get("reason") or f"returned pass={passed}")
    else:
        kind = type(value).__name__
        raise TypeError(f"return a bool, a number or {{'pass', 'score', 'reason'}}, not {kind}")
    if negate:
        passed, score = not passed, 1.0 - score
    return {"passed": passed, "score": score, "reason": reason}


def _json(output: Any) -> Any:
    # the model answers by a JSON schema: promptfoo hands asserts the parsed object
    try:
        return json.loads(output) if isinstance(output, str) else output
    except ValueError:
        return output


@functools.cache
def _load(relative: str, name: str) -> Any:
    path = (Path(__file__).parent / relative).resolve()
    spec = importlib.util.spec_from_file_location(f"promptfoo_assert_{abs(hash(path))}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, name)
'''


@dataclass
class PythonAsserts:
    """The adapter functions generated so far, for the module written next to the suite."""

    base: Path  # the promptfoo config's folder
    suite_dir: Path
    functions: list[str] = field(default_factory=list)
    json_output: bool = False  # the model answers by a JSON schema: asserts get the parsed object

    @property
    def module_name(self) -> str:
        """The generated module's name, its own for each folder it is written to.

        Python imports a module name once per process; the folder's hash in the name keeps two imported
        projects' adapters apart without relying on pyref loading a shadowed name again.
        """
        digest = hashlib.sha256(str(self.suite_dir.resolve()).encode()).hexdigest()[:8]
        return f"{MODULE}_{digest}"

    def add(self, value: str, threshold: float | None, *, negate: bool) -> str:
        """A new adapter for one assertion; returns the ``module:function`` reference."""
        name = f"assert_{len(self.functions) + 1}"
        code = value.strip()
        if code.startswith("file://"):
            rel, _, function = code.removeprefix("file://").partition(":")
            target = os.path.relpath((self.base / rel).resolve(), self.suite_dir)
            body = f"return _load({target!r}, {function or 'get_assert'!r})(output, context)"
        elif "\n" in code:
            inner = textwrap.indent(code, "    ")
            body = f"def _inner(output: str, context: dict[str, Any]) -> Any:\n{inner}\n\n"
            body += "return _inner(output, context)"
        else:
            body = f"return ({code})"
        self.functions.append(
            f"def {name}(output: Any, ctx: Any) -> dict[str, Any]:\n"
            "    context = _context(ctx)\n"
            + ("    output = _json(output)\n" if self.json_output else "")
            + f"    def _value() -> Any:\n{textwrap.indent(body, '        ')}\n"
            f"    return _result(_value(), {threshold!r}, {negate!r})\n"
        )
        return f"{self.module_name}:{name}"

    def module(self) -> str | None:
        """The module's source, or ``None`` when no python assert was imported."""
        if not self.functions:
            return None
        return _HEADER + "\n\n" + "\n\n".join(self.functions)
