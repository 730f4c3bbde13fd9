"""``gate:`` in ``evalgate.yaml``: how a run is judged (the schema; ``evalgate.gate`` does the judging).

A module of its own so that loading a config does not load the gate's arithmetic and reports helpers,
which a run needs only once its cases are done.
"""

from __future__ import annotations

import datetime
from typing import Annotated, Literal

from pydantic import Field

from evalgate.notify import GateWebhook
from evalgate.strict import Strict

# what a deployment-readiness row checks (evalgate.readiness); gate.require names the ones that must pass
ReadinessKey = Literal[
    "code_tests",
    "prompt_rendering",
    "schema_validation",
    "eval_pass_rate",
    "security_suite",
    "cost_regression",
    "latency_regression",
    "rollback_plan",
    "observability",
]

Fraction = Annotated[float, Field(ge=0, le=1)]
Metric = Literal["cases", "checks"]


class GateConfig(Strict):
    """How a run is judged. Rates are fractions in [0, 1]."""

    threshold: Fraction = 0.85
    metric: Literal["cases", "checks"] = "cases"
    tags: dict[str, Fraction] = Field(default_factory=lambda: {})
    max_error_rate: Fraction | None = None
    max_cost_usd: Annotated[float, Field(ge=0)] | None = None
    max_p95_latency_ms: Annotated[float, Field(gt=0)] | None = None
    no_new_failures: bool = False
    max_drop: Fraction | None = None
    max_unchecked: Annotated[int, Field(ge=0)] | None = None
    # readiness items that must pass, not just be shown (the Action enforces them; see evalgate.readiness)
    require: list[ReadinessKey] = Field(default_factory=lambda: [])
    # who may approve a change to the bar (GitHub logins), and when they last reviewed it; both are read
    # from the PR's base commit by the Action (see evalgate.gatechange)
    owners: list[
        Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9-]+(\[bot\])?$")]
    ] = Field(default_factory=lambda: [])
    reviewed: datetime.date | None = None
    notify: tuple[GateWebhook, ...] = ()
    # an answer cut off by the token limit or a content filter fails its case, whatever the checks say
    fail_on_truncation: bool = True
