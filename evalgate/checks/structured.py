"""Checks on structured output: the response is JSON, and valid against a JSON Schema."""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from evalgate.checks.base import CheckContext, clip, result
from evalgate.checks.specs import schema_validator
from evalgate.errors import ConfigError
from evalgate.results import CheckResult

if TYPE_CHECKING:
    from jsonschema.protocols import Validator

    from evalgate.checks.specs_other import IsJsonCheck, JsonSchemaCheck

_FENCE = re.compile(r"```[ \t]*(?:json|JSON)?[ \t]*\r?\n(.*?)```", re.DOTALL)
_OPENERS = re.compile(r"[\[{]")
_MAX_STARTS = 50  # bounds the work on long prose full of brackets
_decoder = json.JSONDecoder()


class NotJson(Exception):
    """The response holds no JSON where the check looked; ``str()`` is the reason to show."""


def _error(exc: json.JSONDecodeError) -> str:
    return f"{exc.msg} at line {exc.lineno} column {exc.colno}"


def parse_json(text: str, *, extract: bool) -> Any:
    """The JSON value in ``text``; with ``extract`` also a ```json block or the first {...}/[...] span."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        if not extract:
            raise NotJson(f"not valid JSON: {_error(exc)}") from None
        whole = exc
    fence = _FENCE.search(text)
    if fence:
        try:
            return json.loads(fence.group(1))
        except json.JSONDecodeError as exc:
            raise NotJson(f"not valid JSON in the ```json block: {_error(exc)}") from None
    first: json.JSONDecodeError | None = None
    for n, opener in enumerate(_OPENERS.finditer(text)):
        if n == _MAX_STARTS:
            break
        try:
            value, _ = _decoder.raw_decode(text, opener.start())
            return value
        except json.JSONDecodeError as exc:
            first = first or exc
    if first is None:
        raise NotJson(f"no JSON found: not valid JSON ({_error(whole)}) and no {{...}} or [...] in it")
    raise NotJson(f"no valid JSON object or array found; the first one fails: {_error(first)}")


def check_is_json(spec: IsJsonCheck, ctx: CheckContext) -> CheckResult:
    """The response parses as JSON (with ``extract``, JSON inside it does)."""
    try:
        value = parse_json(ctx.response, extract=spec.extract)
    except NotJson as exc:
        return result(spec.label, False, 0.0, str(exc))
    return result(
        spec.label, True, 1.0, f"valid JSON {type(value).__name__ if value is not None else 'null'}"
    )


_file_lock = threading.Lock()
_file_validators: dict[Path, Validator] = {}


def load_schema_file(ref: str, base_dir: Path) -> Validator:
    """The validator for a schema file (JSON or YAML) relative to ``base_dir``, loaded once per run."""
    path = (base_dir / ref).resolve()
    with _file_lock:
        cached = _file_validators.get(path)
    if cached is not None:
        return cached
    shown = str(base_dir / ref)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            "schema_file not found", file=shown, fix="schema_file paths are relative to the suite's folder"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read schema_file: {exc}", file=shown) from None
    try:
        schema = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"schema_file is not valid JSON/YAML: {clip(str(exc))}", file=shown) from None
    if not isinstance(schema, dict):
        raise ConfigError(
            f"schema_file must hold a JSON Schema object, found {type(schema).__name__}", file=shown
        )
    try:
        validator = schema_validator(schema)
    except ValueError as exc:
        raise ConfigError(str(exc), file=shown) from None
    with _file_lock:
        _file_validators[path] = validator
    return validator


def check_json_schema(spec: JsonSchemaCheck, ctx: CheckContext) -> CheckResult:
    """The response's JSON is valid against the schema; the reason names the first failing path."""
    validator = spec.inline_validator()
    if validator is None:
        assert spec.schema_file is not None  # the spec's validator requires one of the two
        validator = load_schema_file(spec.schema_file, ctx.base_dir)
    try:
        value = parse_json(ctx.response, extract=spec.extract)
    except NotJson as exc:
        return result(spec.label, False, 0.0, str(exc))
    errors = list(validator.iter_errors(value))
    if not errors:
        return result(spec.label, True, 1.0, "matches the schema")
    from jsonschema.exceptions import best_match

    worst = best_match(errors)
    more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
    return result(spec.label, False, 0.0, f"{worst.json_path}: {clip(worst.message)}{more}")
