"""The bar a pull request is held to comes from its base commit; changes to that bar are gate changes.

Pure: callers pass the base and head configs and cases; nothing here reads files or talks to GitHub.

- ``trusted_config``: the head's config with the sections that define the bar (``BAR_SECTIONS``) taken
  from the base. The head's suites and prompts are what is evaluated.
- ``gate_changes``: every difference in those sections, every case the head deletes, and every case flag or
  check the head removes or loosens (``required``, ``threshold``, ``min_pass``/``repeat``, a tag with its
  own threshold, a check dropped or changed in a way not provably stricter).
- ``stricter_cases``: the head's cases judged by the stricter of the two definitions: a case the PR
  weakened keeps the base's checks, threshold and repeats, and stays required if either side requires it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from evalgate.config import Config
    from evalgate.suite import Case

# Sections of evalgate.yaml that decide what passes rather than what is evaluated. The judge, its
# embeddings and the prices grade answers and measure budgets, so a PR must not pick them either.
BAR_SECTIONS = ("gate", "policy", "pins", "judge", "prices")
Kind = Literal["config", "removed", "unrequired", "loosened", "check removed", "check changed"]

# for checks of one type that differ in one number only: which way is looser
_LOOSER_WHEN_HIGHER = {
    ("max_words", "value"),
    ("max_chars", "value"),
    ("latency_ms", "max"),
    ("cost_usd", "max"),
    ("levenshtein", "max"),
}
_LOOSER_WHEN_LOWER = {("min_words", "value"), ("min_chars", "value")}
_VALUE_CHARS = 80


@dataclass(frozen=True, slots=True)
class GateChange:
    """One way the PR moves the bar: where, what kind, and the old and new values as short text."""

    kind: Kind
    where: str  # a dotted config key (gate.threshold) or a case id
    old: str
    new: str
    suite: str | None = None  # for cases: the suite file and line (the head's, the base's when deleted)
    line: int | None = None
    on_base: bool = False  # the location is on the base commit (the case is gone at head)

    def text(self) -> str:
        """One line of plain text for logs and outputs."""
        return f"{self.where}: {self.old} → {self.new}"


@dataclass(frozen=True)
class GateChanges:
    """The PR's gate changes; ``introduced`` when the base has no config, so the PR brings the gate."""

    changes: tuple[GateChange, ...] = ()
    introduced: bool = False
    base_sha: str = ""  # the commit the bar was read from

    def __bool__(self) -> bool:
        return bool(self.changes)


def trusted_config(base: Config | None, head: Config) -> Config:
    """The head's config with the bar from the base; the head's own when the PR introduces the config."""
    if base is None:
        return head
    return head.model_copy(update={name: getattr(base, name) for name in BAR_SECTIONS})


def _short(value: Any) -> str:
    if value is None:
        return "(unset)"
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= _VALUE_CHARS else text[: _VALUE_CHARS - 1] + "…"


def _flatten(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, Mapping) and value:
        for key, item in value.items():
            _flatten(f"{prefix}.{key}", item, out)
    else:
        out[prefix] = value


def config_changes(base: Config, head: Config) -> list[GateChange]:
    """Every key of the bar's sections whose value differs, as ``section.key: old → new``."""
    out: list[GateChange] = []
    for name in BAR_SECTIONS:
        old: dict[str, Any] = {}
        new: dict[str, Any] = {}
        _flatten(name, _dump(getattr(base, name)), old)
        _flatten(name, _dump(getattr(head, name)), new)
        for key in sorted(set(old) | set(new)):
            before, after = old.get(key), new.get(key)
            if before != after:
                out.append(GateChange("config", key, _short(before), _short(after)))
    return out


def _dump(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if isinstance(value, Mapping):
        return {k: _dump(v) for k, v in value.items()}
    return value


def _check_key(check: Any) -> str:
    return json.dumps(_check_dump(check), sort_keys=True)


def _stricter_or_same(old: Any, new: Any) -> bool | None:
    """For one check replaced by another of its type: True when provably at least as strict, False when
    provably looser, ``None`` when the change is of another kind (a different text, a new rubric)."""
    if old.type != new.type:
        return None
    a, b = _check_dump(old), _check_dump(new)
    differing = [k for k in set(a) | set(b) if a.get(k) != b.get(k)]
    if len(differing) != 1:
        return None
    field = differing[0]
    x, y = a.get(field), b.get(field)
    if not isinstance(x, int | float) or not isinstance(y, int | float):
        return None
    if (old.type, field) in _LOOSER_WHEN_HIGHER:
        return y <= x
    if (old.type, field) in _LOOSER_WHEN_LOWER or field == "threshold":
        return y >= x
    return None


def _check_changes(base: Case, head: Case) -> list[GateChange]:
    head_keys = {_check_key(c) for c in head.spec.checks}
    base_keys = {_check_key(c) for c in base.spec.checks}
    gone = [c for c in base.spec.checks if _check_key(c) not in head_keys]
    added = [c for c in head.spec.checks if _check_key(c) not in base_keys]
    out = []
    for old in gone:
        partner = next((new for new in added if new.type == old.type), None)
        if partner is None:
            out.append(_case_change("check removed", head, _short(_check_dump(old)), "(removed)"))
            continue
        added.remove(partner)
        verdict = _stricter_or_same(old, partner)
        if verdict is True:
            continue
        kind: Kind = "loosened" if verdict is False else "check changed"
        out.append(_case_change(kind, head, _short(_check_dump(old)), _short(_check_dump(partner))))
    return out


def _check_dump(check: Any) -> Any:
    """A check as written, without the fields left at their defaults (``weight: 1.0``)."""
    return {"type": check.type, **check.model_dump(mode="json", exclude_defaults=True)}


def _case_change(kind: Kind, case: Case, old: str, new: str, *, on_base: bool = False) -> GateChange:
    return GateChange(kind, case.id, old, new, case.suite, case.line, on_base)


def _pass_share(case: Case) -> float:
    return case.min_pass / case.spec.repeat


def case_changes(
    base_cases: Sequence[Case], head_cases: Sequence[Case], tag_limits: Iterable[str] = ()
) -> list[GateChange]:
    """Deleted cases, and every case flag or check the head loosens, matched by case id."""
    head_by_id = {c.id: c for c in head_cases}
    limited = set(tag_limits)
    out: list[GateChange] = []
    for base in base_cases:
        head = head_by_id.get(base.id)
        if head is None:
            what = "required case" if base.spec.required else "case"
            out.append(_case_change("removed", base, what, "(deleted)", on_base=True))
            continue
        b, h = base.spec, head.spec
        if b.required and not h.required:
            out.append(_case_change("unrequired", head, "required: true", "required: false"))
        if b.threshold is not None and (h.threshold is None or h.threshold < b.threshold):
            new = _short(h.threshold)
            out.append(_case_change("loosened", head, f"threshold: {b.threshold}", f"threshold: {new}"))
        if _pass_share(head) < _pass_share(base):
            old = f"min_pass {base.min_pass} of {b.repeat}"
            out.append(_case_change("loosened", head, old, f"min_pass {head.min_pass} of {h.repeat}"))
        dropped = sorted((set(b.tags) - set(h.tags)) & limited)
        if dropped:
            out.append(
                _case_change("loosened", head, f"tags {', '.join(dropped)}", "(removed from the case)")
            )
        out.extend(_check_changes(base, head))
    return out


def gate_changes(
    base: Config | None,
    head: Config,
    base_cases: Sequence[Case],
    head_cases: Sequence[Case],
) -> GateChanges:
    """Everything the PR changes about the bar; nothing when it introduces the config."""
    if base is None:
        return GateChanges(introduced=True)
    changes = config_changes(base, head)
    changes += case_changes(base_cases, head_cases, base.gate.tags)
    return GateChanges(tuple(changes))


def stricter_cases(
    base_cases: Sequence[Case], head_cases: Sequence[Case], tag_limits: Iterable[str] = ()
) -> tuple[Case, ...]:
    """The head's cases, each judged by the stricter of its base and head definitions."""
    limited = tuple(tag_limits)
    base_by_id = {c.id: c for c in base_cases}
    out = []
    for head in head_cases:
        base = base_by_id.get(head.id)
        if base is None:
            out.append(head)
            continue
        weakened = [c for c in case_changes([base], [head], limited) if c.kind != "unrequired"]
        update: dict[str, Any] = {"required": head.spec.required or base.spec.required}
        if weakened:
            update |= {
                "checks": base.spec.checks,
                "threshold": base.spec.threshold,
                "repeat": base.spec.repeat,
                "min_pass": base.spec.min_pass,
                "tags": list(dict.fromkeys([*head.spec.tags, *base.spec.tags])),
            }
        out.append(replace(head, spec=head.spec.model_copy(update=update)))
    return tuple(out)
