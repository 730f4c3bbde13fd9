"""Check specs added for suites coming from promptfoo: any/all of several texts, minimum sizes, edit
distance, embedding similarity, finish reasons, tool calls and JavaScript."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from evalgate.checks.specbase import _as_text, _CheckBase

Fraction = Annotated[float, Field(ge=0, le=1)]


class _Listed(_CheckBase):
    value: Annotated[list[str], Field(min_length=1)]

    @field_validator("value", mode="before")
    @classmethod
    def _texts(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not value:
            raise ValueError(f"value must be a list of texts, found {value!r}")
        for item in value:
            if isinstance(item, list | dict) or item is None:
                raise ValueError(f"list items must be texts, found {item!r}")
            _as_text(item)
        return value


class ContainsAnyCheck(_Listed):
    """At least one value appears in the response (case-sensitive)."""

    type: Literal["contains_any"]


class IContainsAnyCheck(_Listed):
    """At least one value appears in the response, ignoring case."""

    type: Literal["icontains_any"]


class ContainsAllCheck(_Listed):
    """Every value appears in the response (case-sensitive)."""

    type: Literal["contains_all"]


class IContainsAllCheck(_Listed):
    """Every value appears in the response, ignoring case."""

    type: Literal["icontains_all"]


class MinWordsCheck(_CheckBase):
    """At least ``value`` whitespace-separated words."""

    type: Literal["min_words"]
    value: Annotated[int, Field(ge=1)]


class MinCharsCheck(_CheckBase):
    """At least ``value`` characters, not counting surrounding whitespace."""

    type: Literal["min_chars"]
    value: Annotated[int, Field(ge=1)]


class LevenshteinCheck(_CheckBase):
    """The response (stripped) is at most ``max`` single-character edits away from ``value``."""

    type: Literal["levenshtein"]
    value: str
    max: Annotated[int, Field(ge=0)] = 5

    @field_validator("value", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        return _as_text(value, allow_empty=True)


class SimilarCheck(_CheckBase):
    """The cosine similarity of the response's and ``value``'s embeddings reaches ``threshold``.

    With a list, the closest value counts. Embeddings come from the judge model's provider
    (``judge.embeddings`` names the embedding model) and are cached like answers.
    """

    type: Literal["similar"]
    value: str | Annotated[list[str], Field(min_length=1)]
    threshold: Fraction = 0.75

    @property
    def references(self) -> tuple[str, ...]:
        """The values to compare with, as a tuple."""
        return (self.value,) if isinstance(self.value, str) else tuple(self.value)


class FinishReasonCheck(_CheckBase):
    """The model stopped for this reason: ``stop``, ``length``, ``content_filter`` or ``tool_calls``.

    Vendor spellings are normalised (Anthropic ``end_turn`` is ``stop``, ``max_tokens`` is ``length``,
    ``tool_use`` is ``tool_calls``), so one suite works against either vendor.
    """

    type: Literal["finish_reason"]
    value: Annotated[str, Field(min_length=1)]


class ToolCallCheck(_CheckBase):
    """The response holds tool calls, each naming a declared tool with arguments valid for its schema.

    Tools are OpenAI-style definitions (``{type: function, function: {name, parameters}}``) or Anthropic
    ones (``{name, input_schema}``), inline under ``tools`` or in ``tools_file`` (JSON/YAML, relative to
    the suite's folder).
    """

    type: Literal["is_valid_tool_call"]
    tools: list[dict[str, Any]] | None = None
    tools_file: Annotated[str, Field(min_length=1)] | None = None

    @model_validator(mode="after")
    def _one_source(self) -> ToolCallCheck:
        if (self.tools is None) == (self.tools_file is None):
            raise ValueError(
                "is_valid_tool_call needs exactly one of 'tools' (the definitions inline) or 'tools_file'"
            )
        return self


class JavascriptCheck(_CheckBase):
    """JavaScript decides, as in promptfoo: an expression or function body over ``output`` and ``context``,
    or ``file://path.js`` (``file://path.js:name`` for a named export) called as ``fn(output, context)``.

    It returns a boolean, a number (a score; passes at ``>= threshold``, or ``> 0`` without one) or
    ``{pass, score, reason}``. Run by Node.js in one long-lived worker; ``timeout_s`` bounds each call.
    """

    type: Literal["javascript"]
    value: Annotated[str, Field(min_length=1)]
    threshold: float | None = None
    timeout_s: Annotated[float, Field(gt=0, le=300)] = 10.0


MODELS: tuple[type[_CheckBase], ...] = (
    ContainsAnyCheck,
    IContainsAnyCheck,
    ContainsAllCheck,
    IContainsAllCheck,
    MinWordsCheck,
    MinCharsCheck,
    LevenshteinCheck,
    SimilarCheck,
    FinishReasonCheck,
    ToolCallCheck,
    JavascriptCheck,
)
