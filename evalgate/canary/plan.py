"""The rollout plan users write under ``canary:`` (in evalgate.yaml or a file of its own), validated.

Decisions that users see:

- Durations are ``45s``, ``30m``, ``2h``, ``1h30m`` (units in that order, decimals allowed) or a bare
  number of seconds.
- Stage weights rise strictly and the last is 100. Non-final stages default to ``min_duration: 30m``,
  ``max_duration: 2h``, ``look_every: 5m``, ``min_samples: 100`` (per arm). The 100% stage is the
  promotion itself: it is never judged, so it takes no durations. Default stages: 5, 25, 100.
- Fresh data: a look counts toward ``min_duration`` only if each arm got ``min_new_samples`` new records
  in it (default ``ceil(min_samples / planned looks)``, at least 1); no new record from either arm for
  ``max_silence`` (default two looks) is a ``no_data`` decision, handled by ``on_no_data`` (rollback,
  the default, or hold).
- ``settle`` (default 60s, capped at a quarter of ``min_duration``): records from the weight change
  until then are not judged, because routers take a while to apply a weight; durations and looks
  count from the end of the settle.
- ``rollback_to`` (default 0): where a regression, guard breach or inconclusive end of this stage
  leaves the weight; broken routing and no data always go to 0.
- Metric names are free, but the jsonl source produces ``eval_pass_rate`` and ``error_rate``
  (proportions) and ``latency_p50_ms``, ``latency_p95_ms``, ``latency_p99_ms`` (quantiles; ``q`` defaults
  from a ``latency_pNN_ms`` name). ``margin`` (proportions, absolute: 0.03 = 3 points) and ``tolerance``
  (quantiles, relative: 0.2 = 20%) are how much worse the canary may be. A margin of 0 tolerates no
  drop at all, which no sample can show, so such a metric can regress but never pass.
- ``guard`` is an absolute bound on the canary's own value (a rate for proportions, the metric's unit
  for quantiles); breaching it with confidence always rolls back, critical or not.
- ``critical`` defaults to true. A non-critical metric is judged and reported in every decision but
  neither rolls back nor holds a stage. A plan needs at least one critical metric.
- ``live_checks`` may only use checks that need no expected answer (see ``evalgate.checks.live_safe``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)

from evalgate.checks import CheckSpec, live_safe
from evalgate.errors import ConfigError, UsageError
from evalgate.notify import CanaryWebhook
from evalgate.strict import Strict
from evalgate.yamlsrc import load_yaml_file, validate

BUILTIN_METRICS: dict[str, Literal["proportion", "quantile"]] = {
    "eval_pass_rate": "proportion",
    "error_rate": "proportion",
    "latency_p50_ms": "quantile",
    "latency_p95_ms": "quantile",
    "latency_p99_ms": "quantile",
}
STAGE_DEFAULTS = {"min_duration": 1800.0, "max_duration": 7200.0, "look_every": 300.0, "min_samples": 100}
STAGE_OPTIONAL = ("settle", "min_new_samples", "max_silence", "rollback_to")
DEFAULT_SETTLE_S = 60.0

_NUM = r"(\d+(?:\.\d*)?|\.\d+)"
_DURATION = re.compile(rf"(?:{_NUM}h)?(?:{_NUM}m)?(?:{_NUM}s)?")
_LATENCY_NAME = re.compile(r"latency_p(\d+)_ms")


def parse_duration(value: Any) -> float:
    """Seconds from ``90``, ``"45s"``, ``"30m"``, ``"2h"`` or ``"1h30m"``; ``ValueError`` with a fix."""
    fix = "write a number with a unit s, m or h (45s, 30m, 2h, 1h30m) or a number of seconds"
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"{value!r} is not a duration; {fix}")
    if isinstance(value, str):
        text = value.strip().lower()
        match = _DURATION.fullmatch(text)
        if text and match and any(match.groups()):
            h, m, s = (float(g) if g else 0.0 for g in match.groups())
            seconds = h * 3600 + m * 60 + s
        else:
            try:
                seconds = float(text)
            except ValueError:
                raise ValueError(f"'{value}' is not a duration; {fix}") from None
    else:
        seconds = float(value)
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"{value!r} is not a duration; durations are positive, {fix}")
    return seconds


def format_duration(seconds: float) -> str:
    """``5400`` -> ``1h30m``; the inverse of ``parse_duration`` for whole seconds (``1.6s`` below ten)."""
    if 0 < seconds < 1:
        return f"{seconds:.2g}s"
    if seconds < 10 and abs(seconds - round(seconds)) >= 0.05:
        return f"{seconds:.1f}s"  # seconds-long stages: "1.6s of the 2s minimum", not "2s of the 2s"
    total = round(seconds)
    h, rest = divmod(total, 3600)
    m, s = divmod(rest, 60)
    text = (f"{h}h" if h else "") + (f"{m}m" if m else "") + (f"{s}s" if s else "")
    return text or "0s"


Duration = Annotated[float, BeforeValidator(parse_duration)]


def _text(value: Any) -> Any:
    # A version like 1.10 read as a YAML number would silently become 1.1.
    if isinstance(value, bool | int | float):
        raise ValueError(f"{value!r} is a YAML number or boolean; put the version in quotes, e.g. '{value}'")
    return value


Ref = Annotated[str, BeforeValidator(_text), Field(min_length=1)]


class Target(Strict):
    """What is rolled out: a model or a prompt, from the ``stable`` version to the ``candidate``."""

    kind: Literal["model", "prompt"]
    stable: Ref
    candidate: Ref

    @model_validator(mode="after")
    def _different(self) -> Target:
        if self.stable == self.candidate:
            raise ValueError(
                f"candidate is the same as stable ('{self.stable}'), so there is nothing to roll out; "
                "point candidate at the new version"
            )
        return self


class Stage(Strict):
    """One step of the rollout: the canary's share of traffic and how long to watch it."""

    weight: Annotated[int, Field(ge=1, le=100)]
    min_duration: Annotated[Duration, Field(ge=0)] = STAGE_DEFAULTS["min_duration"]
    max_duration: Annotated[Duration, Field(gt=0)] = STAGE_DEFAULTS["max_duration"]
    look_every: Annotated[Duration, Field(gt=0)] = STAGE_DEFAULTS["look_every"]
    min_samples: Annotated[int, Field(ge=1)] = int(STAGE_DEFAULTS["min_samples"])
    settle: Annotated[Duration, Field(ge=0)] | None = None
    min_new_samples: Annotated[int, Field(ge=1)] | None = None
    max_silence: Annotated[Duration, Field(gt=0)] | None = None
    rollback_to: Annotated[int, Field(ge=0, le=99)] = 0

    @property
    def final(self) -> bool:
        """The 100% stage: the promotion itself, never judged."""
        return self.weight == 100

    @property
    def looks(self) -> int:
        """Planned looks: ``ceil(max_duration / look_every)`` (0 for the 100% stage)."""
        if self.final:
            return 0
        return max(1, math.ceil(self.max_duration / self.look_every - 1e-9))

    @property
    def settle_s(self) -> float:
        """Seconds after the weight change that are not judged: ``settle``, or 60 s capped at min/4."""
        if self.settle is not None:
            return self.settle
        return min(DEFAULT_SETTLE_S, self.min_duration / 4)

    @property
    def min_new(self) -> int:
        """New records per arm a look needs to count toward ``min_duration``."""
        if self.min_new_samples is not None:
            return self.min_new_samples
        return max(1, math.ceil(self.min_samples / max(1, self.looks)))

    @property
    def max_silence_s(self) -> float:
        """Seconds without a new record from either arm before the stage is a ``no_data`` decision."""
        return self.max_silence if self.max_silence is not None else 2 * self.look_every

    @model_validator(mode="after")
    def _durations(self) -> Stage:
        if self.final:
            given = sorted(self.model_fields_set & {*STAGE_DEFAULTS, *STAGE_OPTIONAL})
            if given:
                raise ValueError(
                    f"the 100% stage is the promotion itself and is never judged; remove {', '.join(given)} "
                    "(give durations to the stage before it)"
                )
            return self
        if self.max_duration < self.min_duration:
            raise ValueError(
                f"max_duration {format_duration(self.max_duration)} is shorter than min_duration "
                f"{format_duration(self.min_duration)}; raise max_duration or lower min_duration"
            )
        if self.rollback_to >= self.weight:
            raise ValueError(
                f"rollback_to {self.rollback_to} is not below the stage's weight {self.weight}; "
                "a rollback must lower the canary's share, e.g. rollback_to: 5 for a 25% stage"
            )
        if self.look_every > self.max_duration:
            raise ValueError(
                f"look_every {format_duration(self.look_every)} is longer than max_duration "
                f"{format_duration(self.max_duration)}, so the stage would end before its first look; "
                "look more often"
            )
        return self

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        out: dict[str, Any] = handler(self)
        # The 100% stage carries unused defaults; dumping them would make the dump fail to load again.
        return {"weight": self.weight} if self.final else out


class Metric(Strict):
    """One live metric compared between the canary and stable arms."""

    name: Annotated[str, Field(min_length=1)]
    kind: Literal["proportion", "quantile"]
    better: Literal["higher", "lower"]
    margin: Annotated[float, Field(ge=0)] = 0.0
    guard: float | None = None
    q: Annotated[float, Field(gt=0, lt=1)] | None = None
    tolerance: Annotated[float, Field(ge=0)] = 0.1
    critical: bool = True
    min_samples: Annotated[int, Field(ge=1)] | None = None

    @model_validator(mode="before")
    @classmethod
    def _q_from_name(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("kind") == "quantile" and data.get("q") is None:
            match = _LATENCY_NAME.fullmatch(str(data.get("name", "")))
            if match:  # p95 -> 0.95, p999 -> 0.999
                data = {**data, "q": float("0." + match.group(1))}
        return data

    @field_validator("margin")
    @classmethod
    def _margin_is_a_fraction(cls, margin: float) -> float:
        if margin >= 1:
            raise ValueError(
                f"margin {margin:g} is not below 1; it is absolute on a 0..1 rate, so 3 points is 0.03"
            )
        return margin

    @model_validator(mode="after")
    def _fields_fit_kind(self) -> Metric:
        given = self.model_fields_set
        if self.kind == "proportion":
            wrong = sorted(given & {"q", "tolerance"})
            if wrong:
                raise ValueError(
                    f"{' and '.join(wrong)} apply to quantile metrics; '{self.name}' is a proportion, "
                    "so use margin (absolute, 0.03 = 3 points)"
                )
            if self.guard is not None and not 0 <= self.guard <= 1:
                raise ValueError(f"guard {self.guard:g} is a rate and must be within 0..1, e.g. 0.05 for 5%")
        else:
            if "margin" in given:
                raise ValueError(
                    f"margin applies to proportion metrics; '{self.name}' is a quantile, "
                    "so use tolerance (relative, 0.2 = 20% slower allowed)"
                )
            if self.q is None:
                raise ValueError(
                    f"quantile metric '{self.name}' needs q (e.g. q: 0.95), or a name like latency_p95_ms"
                )
        return self

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        out: dict[str, Any] = handler(self)
        # Fields of the other kind hold unused defaults that would be rejected when the dump is loaded.
        for key in ("q", "tolerance") if self.kind == "proportion" else ("margin",):
            out.pop(key, None)
        return out

    @property
    def q_value(self) -> float:
        """``q`` for quantile metrics (validated present)."""
        if self.q is None:
            raise ValueError(f"metric '{self.name}' is not a quantile")
        return self.q


def _live(spec: CheckSpec) -> CheckSpec:
    if not live_safe(spec):
        raise ValueError(
            f"'{spec.type}' compares against an expected answer, which live traffic does not have; "
            "use checks that need none, e.g. regex, not_icontains, is_json or json_schema"
        )
    if spec.type == "llm_judge":
        # every look re-scores the stage's records; a judge model there needs sampling and a score
        # store first, so refuse it plainly rather than fail at the first look
        raise ValueError(
            "'llm_judge' is not supported in live_checks yet: grading every live response with a judge "
            "model needs sampling; use deterministic checks here and llm_judge in the PR suite"
        )
    return spec


LiveCheck = Annotated[CheckSpec, AfterValidator(_live)]


class RouterSpec(BaseModel):
    """Which traffic router sets the weights; the router module validates its own fields."""

    model_config = ConfigDict(extra="allow", frozen=True)

    type: Literal["file", "http", "command"]


class SourceSpec(BaseModel):
    """Where per-arm observations come from; the source module validates its own fields."""

    model_config = ConfigDict(extra="allow", frozen=True)

    type: Literal["jsonl", "prometheus", "command"]


def _default_stages() -> tuple[Stage, ...]:
    return (Stage(weight=5), Stage(weight=25), Stage(weight=100))


class RolloutPlan(Strict):
    """A whole ``canary:`` section."""

    target: Target
    stages: tuple[Stage, ...] = Field(default_factory=_default_stages)
    metrics: Annotated[tuple[Metric, ...], Field(min_length=1)]
    live_checks: tuple[LiveCheck, ...] = ()
    alpha: Annotated[float, Field(gt=0, lt=0.5)] = 0.05
    power: Annotated[float, Field(gt=0, lt=1)] = 0.8
    on_inconclusive: Literal["rollback", "hold"] = "rollback"
    on_no_data: Literal["rollback", "hold"] = "rollback"
    router: RouterSpec
    source: SourceSpec
    notify: tuple[CanaryWebhook, ...] = ()

    @field_validator("stages")
    @classmethod
    def _rising_to_100(cls, stages: tuple[Stage, ...]) -> tuple[Stage, ...]:
        if not stages:
            raise ValueError("no stages; list at least the final one, e.g. [{weight: 5}, {weight: 100}]")
        for i in range(1, len(stages)):
            if stages[i].weight <= stages[i - 1].weight:
                raise ValueError(
                    f"stages[{i}].weight {stages[i].weight} is not above stages[{i - 1}].weight "
                    f"{stages[i - 1].weight}; weights must rise strictly, e.g. 5, 25, 100"
                )
        if not stages[-1].final:
            raise ValueError(
                f"the last stage has weight {stages[-1].weight}; end with {{weight: 100}}, "
                "the promotion to all traffic"
            )
        return stages

    @field_validator("metrics")
    @classmethod
    def _named_once_one_critical(cls, metrics: tuple[Metric, ...]) -> tuple[Metric, ...]:
        seen: set[str] = set()
        for metric in metrics:
            if metric.name in seen:
                raise ValueError(f"metric '{metric.name}' is listed twice; keep one")
            seen.add(metric.name)
        if not any(m.critical for m in metrics):
            raise ValueError(
                "no critical metric, so nothing could ever roll the canary back; "
                "make at least one critical (critical: true), e.g. eval_pass_rate"
            )
        return metrics


_OVERRIDABLE = frozenset(STAGE_DEFAULTS)


def load_plan(
    path: Path,
    *,
    candidate: str | None = None,
    stage_overrides: Mapping[str, Any] | None = None,
) -> RolloutPlan:
    """Read the ``canary:`` section of a YAML file; errors name the file and line.

    ``candidate`` replaces ``target.candidate`` (``--candidate``). ``stage_overrides`` sets stage fields
    (min_duration, max_duration, look_every, min_samples) on every stage but the 100% one.
    """
    file = str(path)
    doc = load_yaml_file(path)
    if not isinstance(doc.data, dict) or "canary" not in doc.data:
        raise ConfigError(
            "no 'canary:' section",
            file=file,
            line=1,
            fix="add a top-level 'canary:' mapping with target, stages, metrics, router and source, "
            "in evalgate.yaml or a file of its own",
        )
    section = doc.data["canary"]
    if not isinstance(section, dict):
        found = "nothing" if section is None else f"a {type(section).__name__}"
        raise ConfigError(
            f"'canary:' holds {found}, not a mapping",
            file=file,
            line=doc.line_of(("canary",)),
            where="canary",
            fix="indent target, stages, metrics, router and source under it",
        )
    data = dict(section)
    if candidate is not None and isinstance(data.get("target"), dict):
        data["target"] = {**data["target"], "candidate": candidate}
    if stage_overrides:
        unknown = sorted(set(stage_overrides) - _OVERRIDABLE)
        if unknown:
            raise UsageError(
                f"cannot override stage field(s) {', '.join(unknown)}",
                fix=f"overridable: {', '.join(sorted(_OVERRIDABLE))}",
            )
        stages = data.get("stages", [{"weight": s.weight} for s in _default_stages()])
        if isinstance(stages, list):
            data["stages"] = [
                {**s, **stage_overrides} if isinstance(s, dict) and s.get("weight") != 100 else s
                for s in stages
            ]
    return validate(RolloutPlan, doc, file=file, data=data, prefix=("canary",), expect="a mapping")
