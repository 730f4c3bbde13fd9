"""Transforms: code over the answer (``transform``) or over a case's vars (``transform_vars``).

JavaScript (inline, or ``file://x.js[:fn]``) runs in the Node.js worker of the ``javascript`` check;
``file://x.py[:fn]`` is Python, called in-process (promptfoo's two forms). Whatever goes wrong inside the
code is a ``TransformError``: the check fails, or the case is an error, never a pass.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from evalgate.checks import pytransform
from evalgate.checks.base import CheckContext, clip
from evalgate.checks.javascript import JavaScriptError, node_path, output_of, request_for, source_of, worker


class TransformError(Exception):
    """A transform threw, timed out or returned nothing usable; ``str()`` is the reason."""


def _python(code: str, value: Any, context: dict[str, Any], base_dir: Path, what: str) -> Any:
    try:
        return pytransform.call(code, value, context, base_dir)
    except Exception as exc:  # the user's code: this check or case fails, the run goes on
        raise TransformError(f"{what} raised {type(exc).__name__}: {clip(str(exc))}") from None


def transform(code: str, ctx: CheckContext, timeout_s: float = 10.0) -> CheckContext:
    """``ctx`` with its response replaced by what ``code`` returns (JSON for non-text)."""
    if pytransform.is_python(code):
        context = {"vars": dict(ctx.vars), "prompt": ctx.prompt}
        value = _python(code, output_of(ctx), context, ctx.base_dir, "transform")
    else:
        try:
            answer = worker().call(request_for(code, ctx), timeout_s)
        except JavaScriptError as exc:
            raise TransformError(f"transform {exc}") from None
        if not answer.get("ok"):
            raise TransformError(f"transform threw: {clip(str(answer.get('error')))}")
        value = answer.get("value")
    try:
        text = (
            value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        )
    except (TypeError, ValueError):
        kind = type(value).__name__
        raise TransformError(f"transform returned {kind}, which is not text or JSON") from None
    return replace(ctx, completion=replace(ctx.completion, text=text, finish_reason=None))


def transform_vars(
    code: str, variables: dict[str, Any], base_dir: Path, timeout_s: float = 10.0
) -> dict[str, Any]:
    """What promptfoo's ``transformVars`` gives: ``variables`` with the object ``code`` returns laid over.

    ``code`` is called with ``(vars, context)``; ``context`` holds an empty ``prompt`` and a fresh
    ``uuid``, as in promptfoo, since it runs before any prompt is rendered.
    """
    import uuid  # only vars transforms need it; kept off every run's start-up

    context = {"prompt": {}, "uuid": str(uuid.uuid4())}
    if pytransform.is_python(code):
        value = _python(code, dict(variables), context, base_dir, "transform_vars")
    else:
        request = {**source_of(code, base_dir), "vars": variables, "context": context}
        try:
            answer = worker().call(request, timeout_s)
        except JavaScriptError as exc:
            raise TransformError(f"transform_vars {exc}") from None
        if not answer.get("ok"):
            raise TransformError(f"transform_vars threw: {clip(str(answer.get('error')))}")
        value = answer.get("value")
    if not isinstance(value, dict):
        try:
            shown = clip(json.dumps(value), 60)
        except (TypeError, ValueError):
            shown = type(value).__name__
        raise TransformError(
            f"transform_vars returned {shown}; return an object of vars, e.g. {{...vars, x: 1}}"
        )
    return {**variables, **value}


def prepare_transform(code: str, base_dir: Path) -> None:
    """Fail early when a transform's file (or function) is missing, or Node.js for a JavaScript one."""
    if pytransform.is_python(code):
        pytransform.load(code, base_dir)
        return
    node_path()
    source_of(code, base_dir)
