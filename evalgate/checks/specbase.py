"""What every check spec shares: name, weight, negation, and text values that must really be text."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import ConfigDict, Field, field_validator, model_validator

from evalgate.strict import Strict

# check types that have a ``not_<type>`` form (written as that type, or as the type with ``negate: true``);
# contains and icontains have their own not_ checks with list semantics
NEGATABLE = frozenset(
    {
        "equals",
        "regex",
        "starts_with",
        "contains_any",
        "icontains_any",
        "contains_all",
        "icontains_all",
        "is_json",
        "json_schema",
        "min_words",
        "max_words",
        "min_chars",
        "max_chars",
        "levenshtein",
        "similar",
        "javascript",
        "finish_reason",
        "is_valid_tool_call",
    }
)


Weight = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Limit = Annotated[float, Field(gt=0, allow_inf_nan=False)]


def _as_text(value: Any, *, allow_empty: bool = False) -> Any:
    # YAML turns `42`, `4.20` and `yes` into numbers and booleans; matching their str() would silently
    # compare against '4.2' or 'True', so ask for quotes instead.
    if isinstance(value, bool | int | float):
        kind = "boolean" if isinstance(value, bool) else "number"
        raise ValueError(
            f"{value!r} is a YAML {kind}, not text; put it in quotes exactly as the response "
            f"should show it, e.g. '{value}'"
        )
    if isinstance(value, str) and not value and not allow_empty:
        raise ValueError("empty text matches every response; give the text to look for")
    return value


class _CheckBase(Strict):
    # built on first use: a run needs the few check types its suites use, not all thirty (start-up time)
    model_config = ConfigDict(defer_build=True)

    name: Annotated[str, Field(min_length=1)] | None = None
    weight: Weight = 1.0
    negate: bool = False
    # JavaScript over the response (promptfoo's assertion transform); the check sees what it returns
    transform: Annotated[str, Field(min_length=1)] | None = None

    @model_validator(mode="after")
    def _negatable(self) -> _CheckBase:
        kind = str(getattr(self, "type", ""))
        if self.negate and kind not in NEGATABLE:
            known = ", ".join(sorted(NEGATABLE))
            raise ValueError(f"'{kind}' has no negated form; 'negate' works on: {known}")
        return self

    @property
    def label(self) -> str:
        """What reports call this check: its ``name``, else its type (``not_<type>`` when negated)."""
        kind = str(getattr(self, "type", "check"))
        return self.name or (f"not_{kind}" if self.negate else kind)


class _Needles(_CheckBase):
    value: str | Annotated[list[str], Field(min_length=1)]

    @field_validator("value", mode="before")
    @classmethod
    def _text_or_texts(cls, value: Any) -> Any:
        # Checked here so a wrong value gets one message instead of one per union member.
        if isinstance(value, list):
            if not value:
                raise ValueError("the list is empty; give at least one text to look for")
            for item in value:
                if isinstance(item, list | dict) or item is None:
                    raise ValueError(f"list items must be texts, found {item!r}")
                _as_text(item)
            return value
        if isinstance(value, dict) or value is None:
            raise ValueError(f"value must be a text or a list of texts, found {value!r}")
        return _as_text(value)

    @property
    def needles(self) -> tuple[str, ...]:
        """The values as a tuple, whether one string or a list was written."""
        return (self.value,) if isinstance(self.value, str) else tuple(self.value)
