"""The check specs users write under ``checks:`` in a suite, validated when the suite loads."""

from __future__ import annotations

import functools
import importlib
import json
import re
import threading
import typing
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, TypeAlias

from pydantic import (
    Field,
    PlainValidator,
    TypeAdapter,
    field_validator,
)

from evalgate.checks.base import clip, quote

if TYPE_CHECKING:
    from jsonschema.protocols import Validator

    from evalgate.checks.specs_more import (
        ContainsAllCheck,
        ContainsAnyCheck,
        FinishReasonCheck,
        IContainsAllCheck,
        IContainsAnyCheck,
        JavascriptCheck,
        LevenshteinCheck,
        MinCharsCheck,
        MinWordsCheck,
        SimilarCheck,
        ToolCallCheck,
    )
    from evalgate.checks.specs_other import (
        CostCheck,
        IsJsonCheck,
        JsonSchemaCheck,
        LatencyCheck,
        LlmJudgeCheck,
        PythonCheck,
        RefusalCheck,
    )

from evalgate.checks.specbase import NEGATABLE, Limit, Weight, _as_text, _CheckBase, _Needles  # noqa: F401


class ContainsCheck(_Needles):
    """Every value appears in the response (case-sensitive)."""

    type: Literal["contains"]


class IContainsCheck(_Needles):
    """Every value appears in the response, ignoring case."""

    type: Literal["icontains"]


class NotContainsCheck(_Needles):
    """No value appears in the response (case-sensitive)."""

    type: Literal["not_contains"]


class NotIContainsCheck(_Needles):
    """No value appears in the response, ignoring case."""

    type: Literal["not_icontains"]


class _Text(_CheckBase):
    value: str
    _empty_ok: ClassVar[bool] = False

    @field_validator("value", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        return _as_text(value, allow_empty=cls._empty_ok)


class EqualsCheck(_Text):
    """The response is exactly ``value`` (after stripping whitespace, by default)."""

    type: Literal["equals"]
    _empty_ok = True  # an empty answer can be the expected one
    strip: bool = True
    ignore_case: bool = False


class StartsWithCheck(_Text):
    """The response, ignoring leading whitespace, starts with ``value``."""

    type: Literal["starts_with"]


_FLAGS = {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL}


@functools.lru_cache(maxsize=4096)
def compile_pattern(pattern: str, flags: int = 0) -> re.Pattern[str]:
    """Compile once per (pattern, flags) for the whole run."""
    return re.compile(pattern, flags)


class RegexCheck(_CheckBase):
    """The response matches ``pattern`` (``re.search`` by default, or the whole text with fullmatch)."""

    type: Literal["regex"]
    pattern: str
    flags: list[Literal["i", "m", "s"]] = Field(default_factory=lambda: [])
    match: Literal["search", "fullmatch"] = "search"

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str) -> str:
        try:
            compile_pattern(pattern)
        except re.error as exc:
            raise ValueError(f"invalid regular expression {quote(pattern)} ({exc})") from None
        return pattern

    def compiled(self) -> re.Pattern[str]:
        """The compiled pattern with its flags, from ``compile_pattern``'s cache.

        (Not kept on the model: a private attribute costs every case's check a pydantic hook when the
        suite loads, and each read goes through ``__getattr__``; the cache lookup is cheaper than both.)
        """
        flags = 0
        for flag in self.flags:
            flags |= _FLAGS[flag]
        return compile_pattern(self.pattern, flags)


class MaxWordsCheck(_CheckBase):
    """The response has at most ``value`` whitespace-separated words."""

    type: Literal["max_words"]
    value: Annotated[int, Field(ge=0)]


class MaxCharsCheck(_CheckBase):
    """The response, without surrounding whitespace, has at most ``value`` characters."""

    type: Literal["max_chars"]
    value: Annotated[int, Field(ge=0)]


_validator_lock = threading.Lock()
_validators: dict[str, Validator] = {}


def check_schema(schema: dict[str, Any]) -> None:
    """Raise ``ValueError`` naming the problem when ``schema`` is not a valid JSON Schema."""
    try:
        from jsonschema.exceptions import SchemaError  # imported on use: jsonschema is slow to import
        from jsonschema.validators import validator_for

        validator_for(schema).check_schema(schema)
    except SchemaError as exc:
        raise ValueError(
            f"invalid JSON Schema at {exc.json_path}: {clip(exc.message)}; see https://json-schema.org"
        ) from None


def schema_validator(schema: dict[str, Any]) -> Validator:
    """Check ``schema`` and build its validator, once per distinct schema; formats are asserted too."""
    # Checking a schema against its metaschema costs far more than validating a response, and big
    # suites repeat the same schema on every case, so both happen once per distinct schema text.
    key = json.dumps(schema, sort_keys=True, default=str)
    with _validator_lock:
        found = _validators.get(key)
    if found is None:
        check_schema(schema)
        from jsonschema.validators import validator_for

        cls = validator_for(schema)
        found = cls(schema, format_checker=cls.FORMAT_CHECKER)
        with _validator_lock:
            _validators[key] = found
    return found


def negated_form(value: Any) -> Any:
    """``{type: not_regex, ...}`` is ``{type: regex, negate: true, ...}`` for every negatable type."""
    if isinstance(value, dict):
        kind = value.get("type")
        if isinstance(kind, str) and kind.startswith("not_") and kind[4:] in NEGATABLE:
            return {**value, "type": kind[4:], "negate": True}
    return value


if TYPE_CHECKING:
    AnyCheck: TypeAlias = (
        ContainsCheck
        | IContainsCheck
        | NotContainsCheck
        | NotIContainsCheck
        | EqualsCheck
        | RegexCheck
        | StartsWithCheck
        | MaxWordsCheck
        | MaxCharsCheck
        | IsJsonCheck
        | JsonSchemaCheck
        | LlmJudgeCheck
        | PythonCheck
        | LatencyCheck
        | CostCheck
        | ContainsAnyCheck
        | IContainsAnyCheck
        | ContainsAllCheck
        | IContainsAllCheck
        | MinWordsCheck
        | MinCharsCheck
        | LevenshteinCheck
        | SimilarCheck
        | FinishReasonCheck
        | ToolCallCheck
        | JavascriptCheck
        | RefusalCheck
    )
    """Every check model; ``CheckSpec`` validates to one of them."""

MODELS: tuple[type[_CheckBase], ...] = (
    ContainsCheck,
    IContainsCheck,
    NotContainsCheck,
    NotIContainsCheck,
    EqualsCheck,
    RegexCheck,
    StartsWithCheck,
    MaxWordsCheck,
    MaxCharsCheck,
)
"""The check models of this module: the common text checks."""

# The module that defines each check type's model, in the order of ``AnyCheck``. A module loads, and its
# models are created, when a suite first uses one of its types: a run of text checks creates nine
# check models, not twenty-seven (start-up time).
_TEXT, _OTHER, _MORE = __name__, "evalgate.checks.specs_other", "evalgate.checks.specs_more"
HOMES: dict[str, str] = {
    "contains": _TEXT,
    "icontains": _TEXT,
    "not_contains": _TEXT,
    "not_icontains": _TEXT,
    "equals": _TEXT,
    "regex": _TEXT,
    "starts_with": _TEXT,
    "max_words": _TEXT,
    "max_chars": _TEXT,
    "is_json": _OTHER,
    "json_schema": _OTHER,
    "llm_judge": _OTHER,
    "python": _OTHER,
    "latency_ms": _OTHER,
    "cost_usd": _OTHER,
    "contains_any": _MORE,
    "icontains_any": _MORE,
    "contains_all": _MORE,
    "icontains_all": _MORE,
    "min_words": _MORE,
    "min_chars": _MORE,
    "levenshtein": _MORE,
    "similar": _MORE,
    "finish_reason": _MORE,
    "is_valid_tool_call": _MORE,
    "javascript": _MORE,
    "refusal": _OTHER,
}

_by_type: dict[str, type[_CheckBase]] = {}


def type_of(model: type[_CheckBase]) -> str:
    """The ``type`` a check model accepts, e.g. ``'regex'``."""
    kind: str = typing.get_args(model.model_fields["type"].annotation)[0]
    return kind


def _model_for(kind: str) -> type[_CheckBase] | None:
    model = _by_type.get(kind)
    if model is None and kind in HOMES:
        for candidate in importlib.import_module(HOMES[kind]).MODELS:
            _by_type[type_of(candidate)] = candidate
        model = _by_type[kind]
    return model


def all_check_models() -> tuple[type[_CheckBase], ...]:
    """Every check model, in the order of ``AnyCheck`` (loading the modules that define them)."""
    return tuple(model for model in map(_model_for, HOMES) if model is not None)


@functools.cache
def _any_check() -> TypeAdapter[Any]:
    """The discriminated union of every check model, built only to word a missing or unknown type."""
    union: Any = typing.Union[all_check_models()]  # noqa: UP007 - a union of classes known at run time
    return TypeAdapter(Annotated[union, Field(discriminator="type")])


def validate_check(value: Any) -> Any:
    """One ``checks:`` entry as its model, picked by ``type`` (``not_<type>`` is ``negate: true``).

    Only the picked model is built and asked: a union of all thirty would have pydantic build every
    check model when evalgate starts. An entry whose type is missing or unknown goes to the union,
    whose error names the valid types.
    """
    if isinstance(value, _CheckBase):
        return value
    value = negated_form(value)
    kind = value.get("type") if isinstance(value, dict) else None
    model = _model_for(kind) if isinstance(kind, str) else None
    if model is None:
        return _any_check().validate_python(value)
    return model.model_validate(value)


if TYPE_CHECKING:
    CheckSpec: TypeAlias = AnyCheck
else:
    CheckSpec = Annotated[Any, PlainValidator(validate_check)]
"""One entry under ``checks:``; the ``type`` key picks the model (``validate_check``)."""

# Checks that assert a specific expected answer make no sense on live traffic, where every request is
# different; everything else (format, forbidden terms, size, schema, rubric, code, latency, cost) does.
_NEEDS_EXPECTED_ANSWER = frozenset(
    {"contains", "icontains", "equals", "starts_with", "contains_any", "icontains_any", "contains_all"}
    | {"icontains_all", "levenshtein", "similar"}
)


def live_safe(spec: CheckSpec) -> bool:
    """True when the check can score live traffic: it needs no per-case expected answer."""
    if spec.type == "refusal":
        # "must not refuse" holds for any request; "must refuse" only for some
        return not spec.expect
    return spec.type not in _NEEDS_EXPECTED_ANSWER
