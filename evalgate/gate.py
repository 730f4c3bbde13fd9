"""The gate: a pure function from case results and a gate config to a verdict with reasons."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from evalgate.strict import Strict

Fraction = Annotated[float, Field(ge=0, le=1)]


class GateConfig(Strict):
    """How a run is judged. Rates are fractions in [0, 1]."""

    threshold: Fraction = 0.85
    metric: Literal["cases", "checks"] = "cases"
    tags: dict[str, Fraction] = Field(default_factory=dict)
    max_error_rate: Fraction | None = None
    max_cost_usd: Annotated[float, Field(ge=0)] | None = None
    max_p95_latency_ms: Annotated[float, Field(gt=0)] | None = None
    no_new_failures: bool = False
    max_drop: Fraction | None = None
