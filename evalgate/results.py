"""Plain result values produced by the runner and consumed by the gate and the reports."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

CaseStatus = Literal["passed", "failed", "error", "unchecked"]

# Finish/stop reasons that mean the answer was cut off before the model finished it (OpenAI: length,
# content_filter; Anthropic: max_tokens, model_context_window_exceeded).
TRUNCATED_REASONS = frozenset({"length", "content_filter", "max_tokens", "model_context_window_exceeded"})


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One check applied to one response: passed, a score in [0, 1] and a readable reason."""

    type: str
    passed: bool
    score: float
    reason: str
    weight: float = 1.0
    # set when the check could not decide (its judge model failed): the case is an error, not a failure
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Completion:
    """What a provider returned for one request, with what it cost and how long it took."""

    text: str
    model: str
    input_tokens: int | None = None
    output_tokens: int | None = None
    latency_ms: float = 0.0
    cost_usd: float | None = None
    fallback: bool = False
    cached: bool = False
    # why the model stopped, as the vendor said it (OpenAI finish_reason, Anthropic stop_reason)
    finish_reason: str | None = None
    # the model declined to answer; ``text`` holds its refusal message
    refused: bool = False
    # what the vendor says about the backend that answered (OpenAI's system_fingerprint); a change under
    # the same model name is how a silent provider-side update shows up
    system_fingerprint: str | None = None

    @property
    def truncated(self) -> bool:
        """True when the model was stopped before it finished its answer."""
        return self.finish_reason in TRUNCATED_REASONS


@dataclass(frozen=True, slots=True)
class Trial:
    """One attempt at a case: a completion and its checks, or an error message.

    ``score`` is the weighted mean of the check scores. The trial passes when every check passes or,
    when the case sets a ``threshold``, when ``score`` reaches it.
    """

    completion: Completion | None
    checks: tuple[CheckResult, ...] = ()
    error: str | None = None
    threshold: float | None = None
    # computed once: reports and the gate ask for it many times per trial
    passed: bool = field(init=False, compare=False, repr=False)
    score: float = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        # one pass over the checks: this runs for every trial of a run and of every report read back
        total = weighted = 0.0
        all_passed = True
        for c in self.checks:
            total += c.weight
            weighted += c.score * c.weight
            all_passed = all_passed and c.passed
        score = weighted / total if total else float(all_passed)
        answered = self.error is None and self.completion is not None
        ok = answered and (all_passed or (self.threshold is not None and score + 1e-9 >= self.threshold))
        _SET_TRIAL_PASSED(self, ok)
        _SET_TRIAL_SCORE(self, score)


@dataclass(frozen=True, slots=True)
class CaseResult:
    """The outcome of one case over its ``repeat`` trials."""

    id: str
    suite: str
    line: int
    trials: tuple[Trial, ...]
    tags: tuple[str, ...] = ()
    required: bool = False
    min_pass: int = 1
    # what was sent: the rendered prompt, and the template's vars when the case used a template
    prompt: str | None = None
    vars: Mapping[str, Any] | None = None
    trials_passed: int = field(init=False, compare=False, repr=False)
    status: CaseStatus = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        # computed once: the gate, every report and the progress line all ask for them
        # one pass over the trials: this runs for every case of a run and of every report read back
        passed = 0
        unchecked = bool(self.trials)  # every trial answered and none had a check
        for t in self.trials:
            if t.passed:
                passed += 1
            if t.error is not None or t.completion is None or t.checks:
                unchecked = False
        status: CaseStatus
        if unchecked:
            status = "unchecked"  # outputs collected, nothing asserted: counts in no rate
        elif self.trials and passed >= self.min_pass:
            status = "passed"
        elif not self.trials or any(
            t.error is not None or any(c.error is not None for c in t.checks) for t in self.trials
        ):
            status = "error"
        else:
            status = "failed"
        _SET_CASE_TRIALS_PASSED(self, passed)
        _SET_CASE_STATUS(self, status)

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    @property
    def failing(self) -> bool:
        """Failed or errored: what reports list and the gate counts against the rate."""
        return self.status in ("failed", "error")

    @property
    def error(self) -> str | None:
        """The first trial error, when the case is an error."""
        if self.status != "error":
            return None
        for t in self.trials:
            if t.error is not None:
                return t.error
            for c in t.checks:
                if c.error is not None:
                    return f"{c.type}: {c.error}"
        return "no trials were run"

    @property
    def representative(self) -> Trial | None:
        """The trial to show: the first failing one when the case did not pass, else the first."""
        if not self.trials:
            return None
        if not self.passed:
            for t in self.trials:
                if not t.passed:
                    return t
        return self.trials[0]

    @property
    def response(self) -> str | None:
        rep = self.representative
        return rep.completion.text if rep is not None and rep.completion is not None else None

    @property
    def checks(self) -> tuple[CheckResult, ...]:
        rep = self.representative
        return rep.checks if rep is not None else ()

    @property
    def finish_reason(self) -> str | None:
        """Why the model stopped in the representative trial (None when unknown or no answer)."""
        rep = self.representative
        return rep.completion.finish_reason if rep is not None and rep.completion is not None else None

    @property
    def refused(self) -> bool:
        """The model refused in the representative trial."""
        rep = self.representative
        return rep is not None and rep.completion is not None and rep.completion.refused

    @property
    def latency_ms(self) -> float | None:
        values = [t.completion.latency_ms for t in self.trials if t.completion is not None]
        return sum(values) / len(values) if values else None

    @property
    def cost_usd(self) -> float | None:
        values = [
            t.completion.cost_usd for t in self.trials if t.completion and t.completion.cost_usd is not None
        ]
        return sum(values) if values else None

    @property
    def fallback(self) -> bool:
        return any(t.completion is not None and t.completion.fallback for t in self.trials)


# The derived fields are stored through their slots' own descriptors: the frozen classes' __setattr__
# refuses them, and object.__setattr__ looks the name up on every call (a 10,000-case report read back
# stores 40,000 of them).
_SET_TRIAL_PASSED = Trial.__dict__["passed"].__set__
_SET_TRIAL_SCORE = Trial.__dict__["score"].__set__
_SET_CASE_TRIALS_PASSED = CaseResult.__dict__["trials_passed"].__set__
_SET_CASE_STATUS = CaseResult.__dict__["status"].__set__


@dataclass(frozen=True, slots=True)
class GateVerdict:
    """The gate's decision with its reasons, one sentence each."""

    passed: bool
    metric: str
    value: float
    threshold: float
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class RunResult:
    """Everything one ``evalgate run`` produced."""

    cases: tuple[CaseResult, ...]
    provider: str
    model: str
    config_path: str
    started_at: str
    duration_s: float
    notes: tuple[str, ...] = field(default_factory=tuple)
    # retried model calls by kind ("429", "5xx", "timeout", "connection", "other") and fallback answers;
    # None when the run did not count them (an old report)
    retries: Mapping[str, int] | None = None
    # the run stopped early (SIGINT/SIGTERM, or its provider went down): ``cases`` holds only those that
    # finished, out of ``planned``
    incomplete: bool = False
    planned: int | None = None

    @property
    def all_errors(self) -> bool:
        """Every case ended in an error: an outage or a broken setup (exit 3), not a verdict on the model."""
        return bool(self.cases) and all(c.status == "error" for c in self.cases)

    @property
    def replayed(self) -> bool:
        """Answers came from a recording, so their latencies measure nothing."""
        return self.provider == "replay"
