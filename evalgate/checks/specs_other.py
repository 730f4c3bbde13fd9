"""Check specs beyond matching text: JSON and JSON Schema, the judge model, Python functions, latency,
cost and refusals. Loaded (and their models created) when a suite first uses one of these types."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import ConfigDict, Field, PrivateAttr, field_validator, model_validator

from evalgate.checks.base import quote
from evalgate.checks.specbase import Limit, _CheckBase
from evalgate.checks.specs import schema_validator

if TYPE_CHECKING:
    from jsonschema.protocols import Validator


class IsJsonCheck(_CheckBase):
    """The response is JSON, or with ``extract`` contains a JSON object or array."""

    type: Literal["is_json"]
    extract: bool = False


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


MODELS: tuple[type[_CheckBase], ...] = (
    IsJsonCheck,
    JsonSchemaCheck,
    LlmJudgeCheck,
    PythonCheck,
    LatencyCheck,
    CostCheck,
    RefusalCheck,
)
