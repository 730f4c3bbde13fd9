"""The check specs users write under ``checks:`` in a suite, validated when the suite loads."""

from __future__ import annotations

import functools
import json
import re
import threading
import typing
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import (
    ConfigDict,
    Field,
    PlainValidator,
    PrivateAttr,
    TypeAdapter,
    field_validator,
    model_validator,
)

from evalgate.checks.base import clip, quote

if TYPE_CHECKING:
    from jsonschema.protocols import Validator

from evalgate.checks.specbase import NEGATABLE, Limit, Weight, _as_text, _CheckBase, _Needles  # noqa: F401
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
    flags: list[Literal["i", "m", "s"]] = Field(default_factory=list)
    match: Literal["search", "fullmatch"] = "search"
    _compiled: re.Pattern[str] | None = PrivateAttr(default=None)

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str) -> str:
        try:
            compile_pattern(pattern)
        except re.error as exc:
            raise ValueError(f"invalid regular expression {quote(pattern)} ({exc})") from None
        return pattern

    def model_post_init(self, context: Any, /) -> None:
        flags = 0
        for flag in self.flags:
            flags |= _FLAGS[flag]
        self._compiled = compile_pattern(self.pattern, flags)

    def compiled(self) -> re.Pattern[str]:
        """The compiled pattern with its flags."""
        assert self._compiled is not None  # set by model_post_init
        return self._compiled


class MaxWordsCheck(_CheckBase):
    """The response has at most ``value`` whitespace-separated words."""

    type: Literal["max_words"]
    value: Annotated[int, Field(ge=0)]


class MaxCharsCheck(_CheckBase):
    """The response, without surrounding whitespace, has at most ``value`` characters."""

    type: Literal["max_chars"]
    value: Annotated[int, Field(ge=0)]


class IsJsonCheck(_CheckBase):
    """The response is JSON, or with ``extract`` contains a JSON object or array."""

    type: Literal["is_json"]
    extract: bool = False


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


class JsonSchemaCheck(_CheckBase):
    """The response is JSON valid against ``schema`` (inline) or ``schema_file`` (relative to the suite)."""

    model_config = ConfigDict(serialize_by_alias=True)

    type: Literal["json_schema"]
    # 'schema' would shadow BaseModel.schema(), so the attribute is schema_ and the YAML key is schema.
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    schema_file: Annotated[str, Field(min_length=1)] | None = None
    extract: bool = False
    _validator: Any = PrivateAttr(default=None)

    @field_validator("schema_")
    @classmethod
    def _valid_schema(cls, schema: dict[str, Any] | None) -> dict[str, Any] | None:
        if schema is not None:
            schema_validator(schema)
        return schema

    @model_validator(mode="after")
    def _one_source(self) -> JsonSchemaCheck:
        if (self.schema_ is None) == (self.schema_file is None):
            raise ValueError(
                "json_schema needs exactly one of 'schema' (the schema inline) or "
                "'schema_file' (a .json or .yaml file, relative to the suite's folder)"
            )
        return self

    def model_post_init(self, context: Any, /) -> None:
        if self.schema_ is not None:
            self._validator = schema_validator(self.schema_)

    def inline_validator(self) -> Validator | None:
        """The validator for an inline schema; ``None`` when the schema lives in ``schema_file``."""
        validator: Validator | None = self._validator
        return validator


class LlmJudgeCheck(_CheckBase):
    """The judge model scores the response against ``rubric``; passes at ``score >= threshold``."""

    type: Literal["llm_judge"]
    rubric: Annotated[str, Field(min_length=1)]
    threshold: float = 0.7
    # the grading instructions instead of the built-in ones: {{ rubric }}, {{ output }}, {{ input }}
    judge_prompt: Annotated[str, Field(min_length=1)] | None = None

    @field_validator("threshold")
    @classmethod
    def _fraction(cls, threshold: float) -> float:
        if not 0 <= threshold <= 1:
            raise ValueError(f"threshold {threshold:g} is outside 0..1; judge scores are fractions, e.g. 0.7")
        return threshold


class PythonCheck(_CheckBase):
    """``function(response)`` or ``function(response, ctx)`` decides; see ``evalgate.checks.pyfunc``."""

    type: Literal["python"]
    function: str

    @field_validator("function")
    @classmethod
    def _reference(cls, ref: str) -> str:
        module, sep, attr = ref.partition(":")
        if not sep or not module.strip() or not attr.strip():
            raise ValueError(
                f"function {quote(ref)} must look like 'package.module:function', "
                "e.g. 'evals.checks:is_polite', importable from the suite's folder"
            )
        return ref


class LatencyCheck(_CheckBase):
    """The model answered within ``max`` milliseconds."""

    type: Literal["latency_ms"]
    max: Limit


class CostCheck(_CheckBase):
    """The call cost at most ``max`` US dollars; an unknown cost fails (see ``evalgate.checks``)."""

    type: Literal["cost_usd"]
    max: Limit


class RefusalCheck(_CheckBase):
    """The model refused to answer (``expect: true``, the default) or did not (``expect: false``)."""

    type: Literal["refusal"]
    expect: bool = True


def negated_form(value: Any) -> Any:
    """``{type: not_regex, ...}`` is ``{type: regex, negate: true, ...}`` for every negatable type."""
    if isinstance(value, dict):
        kind = value.get("type")
        if isinstance(kind, str) and kind.startswith("not_") and kind[4:] in NEGATABLE:
            return {**value, "type": kind[4:], "negate": True}
    return value


AnyCheck = (
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
CHECK_MODELS: tuple[type[_CheckBase], ...] = typing.get_args(AnyCheck)
_BY_TYPE: dict[str, type[_CheckBase]] = {
    typing.get_args(model.model_fields["type"].annotation)[0]: model for model in CHECK_MODELS
}


@functools.cache
def _any_check() -> TypeAdapter[Any]:
    """The discriminated union of every check model, built only to word a missing or unknown type."""
    return TypeAdapter(Annotated[AnyCheck, Field(discriminator="type")])


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
    model = _BY_TYPE.get(kind) if isinstance(kind, str) else None
    if model is None:
        return _any_check().validate_python(value)
    return model.model_validate(value)


if TYPE_CHECKING:
    CheckSpec = AnyCheck
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
    if isinstance(spec, RefusalCheck):
        return not spec.expect  # "must not refuse" holds for any request; "must refuse" only for some
    return spec.type not in _NEEDS_EXPECTED_ANSWER
