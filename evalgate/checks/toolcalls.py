"""Checks on how the model ended its turn: the finish reason, and tool calls against declared tools."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from evalgate.checks.base import CheckContext, clip, quote, result
from evalgate.checks.specs import schema_validator
from evalgate.checks.structured import NotJson, parse_json
from evalgate.errors import ConfigError
from evalgate.results import CheckResult

if TYPE_CHECKING:  # spec models load with the suites that use them
    from evalgate.checks.specs_more import FinishReasonCheck, ToolCallCheck

# vendor spellings -> promptfoo's normalised names, so one suite fits OpenAI and Anthropic
_FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "function_call": "tool_calls",
}


def normalise_finish(reason: str) -> str:
    """``end_turn`` -> ``stop``, ``max_tokens`` -> ``length``, ``tool_use`` -> ``tool_calls``."""
    low = reason.strip().lower()
    return _FINISH.get(low, low)


def check_finish_reason(spec: FinishReasonCheck, ctx: CheckContext) -> CheckResult:
    """The provider's finish reason, normalised, equals ``value``; an unknown reason fails."""
    got = ctx.completion.finish_reason
    want = normalise_finish(spec.value)
    if got is None:
        return result(spec.label, False, 0.0, "the provider reported no finish reason")
    if normalise_finish(got) == want:
        return result(spec.label, True, 1.0, f"finish reason {quote(got)}")
    return result(spec.label, False, 0.0, f"finish reason {quote(got)}, expected {quote(spec.value)}")


_lock = threading.Lock()
_tool_files: dict[Path, list[dict[str, Any]]] = {}


def load_tools_file(ref: str, base_dir: Path) -> list[dict[str, Any]]:
    """Tool definitions from a JSON/YAML file relative to ``base_dir``, read once per run."""
    path = (base_dir / ref.removeprefix("file://")).resolve()
    with _lock:
        if path in _tool_files:
            return _tool_files[path]
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            "tools_file not found", file=str(base_dir / ref), fix="paths are relative to the suite"
        ) from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read tools_file: {clip(str(exc))}", file=str(base_dir / ref)) from None
    if not isinstance(data, list) or not all(isinstance(t, dict) for t in data):
        raise ConfigError("tools_file must hold a list of tool definitions", file=str(base_dir / ref))
    with _lock:
        _tool_files[path] = data
    return data


def _schemas(tools: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for tool in tools:
        inner = tool.get("function")
        fn: dict[str, Any] = inner if isinstance(inner, dict) else tool
        name = fn.get("name")
        schema = fn.get("parameters") or fn.get("input_schema") or {"type": "object"}
        if isinstance(name, str):
            out[name] = schema if isinstance(schema, dict) else {"type": "object"}
    return out


def _calls(value: Any) -> list[tuple[str, Any]]:
    """``(name, arguments)`` of every call in OpenAI (tool_calls / function_call) or Anthropic shape."""
    items = value if isinstance(value, list) else [value]
    calls: list[tuple[str, Any]] = []
    for item in items:
        if not isinstance(item, dict):
            raise ValueError(f"a tool call must be an object, found {clip(json.dumps(item), 60)}")
        inner = item.get("function")
        fn: dict[str, Any] = inner if isinstance(inner, dict) else item
        name = fn.get("name")
        args = fn.get("arguments", fn.get("input", {}))
        if isinstance(args, str):
            try:
                args = json.loads(args) if args.strip() else {}
            except json.JSONDecodeError as exc:
                raise ValueError(f"tool call {name!r} has arguments that are not JSON: {exc.msg}") from None
        if not isinstance(name, str):
            raise ValueError("a tool call has no function name")
        calls.append((name, args))
    return calls


def check_tool_calls(spec: ToolCallCheck, ctx: CheckContext) -> CheckResult:
    """Every tool call names a declared tool and its arguments validate against that tool's schema."""
    tools = spec.tools if spec.tools is not None else load_tools_file(spec.tools_file or "", ctx.base_dir)
    schemas = _schemas(tools)
    try:
        calls = _calls(parse_json(ctx.response, extract=True))
    except NotJson:
        return result(spec.label, False, 0.0, "the response holds no tool calls")
    except ValueError as exc:
        return result(spec.label, False, 0.0, str(exc))
    if not calls:
        return result(spec.label, False, 0.0, "the response holds no tool calls")
    for name, args in calls:
        schema = schemas.get(name)
        if schema is None:
            known = ", ".join(sorted(schemas)) or "none"
            return result(
                spec.label, False, 0.0, f"call to undeclared tool {quote(name)} (declared: {known})"
            )
        errors = sorted(schema_validator(schema).iter_errors(args), key=lambda e: e.path)
        if errors:
            first = errors[0]
            return result(spec.label, False, 0.0, f"{name}: {first.json_path}: {clip(first.message)}")
    names = ", ".join(dict.fromkeys(n for n, _ in calls))
    return result(spec.label, True, 1.0, f"{len(calls)} valid tool calls ({names})")
