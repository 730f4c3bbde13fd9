"""One pydantic error in our words: the message and the fix (an unknown key with the allowed ones and the
nearest name, a missing key, an unknown type), the dotted path, and the keys a model allows at a path.
"""

from __future__ import annotations

import re
import types
import typing
from typing import Any

from pydantic import BaseModel
from pydantic_core import ErrorDetails


def dotted(loc: tuple[int | str, ...]) -> str:
    """``('cases', 3, 'checks', 0, 'value')`` -> ``cases[3].checks[0].value``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def describe(model: type[BaseModel], error: ErrorDetails) -> tuple[str, str | None]:
    """A readable message and a fix for one pydantic error."""
    kind = error["type"]
    loc = error["loc"]
    msg = error["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    if kind == "extra_forbidden":
        key = str(loc[-1]) if loc else "?"
        allowed = allowed_keys(model, loc[:-1])
        from evalgate.hints import key_hint

        fix = key_hint(key, allowed)
        if allowed:
            listing = "allowed keys: " + ", ".join(sorted(allowed))
            fix = f"{fix} {listing}" if fix else listing
        return f"unknown key '{key}'", fix
    if kind == "missing":
        return f"missing required key '{loc[-1]}'" if loc else "missing required value", None
    if kind == "union_tag_invalid":
        ctx = error.get("ctx") or {}
        from evalgate.hints import type_hint

        expected = re.findall(r"'([^']+)'", str(ctx.get("expected_tags", "")))
        return (
            f"unknown {ctx.get('discriminator', 'type').strip(chr(39))} '{ctx.get('tag')}'",
            type_hint(str(ctx.get("tag")), expected),
        )
    if kind == "union_tag_not_found":
        ctx = error.get("ctx") or {}
        return f"missing '{str(ctx.get('discriminator', 'type')).strip(chr(39))}'", None
    if kind == "literal_error":
        return f"{msg} (got {error.get('input')!r})", None
    return msg, None


def allowed_keys(model: type[BaseModel], loc: tuple[int | str, ...]) -> list[str]:
    """The field names of the model reached by following ``loc`` through field annotations."""
    current: Any = model
    for part in loc:
        current = _step(current, part)
        if current is None:
            return []
    model_cls = _as_model(current)
    if model_cls is None:
        return []
    return [field.alias or name for name, field in model_cls.model_fields.items()]


def _as_model(tp: Any) -> type[BaseModel] | None:
    for candidate in _flatten(tp):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _flatten(tp: Any) -> list[Any]:
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return _flatten(typing.get_args(tp)[0])
    if origin in (typing.Union, types.UnionType):
        out: list[Any] = []
        for arg in typing.get_args(tp):
            out.extend(_flatten(arg))
        return out
    return [tp]


def _step(tp: Any, part: int | str) -> Any:
    for candidate in _flatten(tp):
        origin = typing.get_origin(candidate)
        args = typing.get_args(candidate)
        if isinstance(part, int) and origin in (list, tuple) and args:
            return args[0]
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            if isinstance(part, str) and part in candidate.model_fields:
                return candidate.model_fields[part].annotation
            continue
        if origin is dict and args and isinstance(part, str):
            return args[1]
    # a discriminated-union tag: pick the member whose 'type' literal is this tag
    if isinstance(part, str):
        for candidate in _flatten(tp):
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                field = candidate.model_fields.get("type")
                if field is not None and part in typing.get_args(field.annotation):
                    return candidate
    return None
