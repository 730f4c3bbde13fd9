"""The path policy: prompt files and model pins never change in the same pull request.

Pure: callers pass the changed files and two readers (base and head content); nothing here touches git,
the network or the disk. Semantics, chosen so the gate fails closed:

- A pin changes only when the *value* at its key differs between base and head, so a comment, a
  reformat or a reordering of the file is not a pin change. Files outside the change set are not read.
- An absent file, an absent key and an explicit ``null`` are the same value: "absent". A pin that appears
  or disappears is a change; a pin that disappears has no problem of its own.
- A pin file that does not parse is a value of its own ("unparseable"), never equal to anything, so an
  edited file we cannot read counts as a pin change. An unparseable *head* is also a problem (the new
  pin cannot be checked), which fails the gate; an unparseable base that now parses is only a change.
- A renamed pin file compares the base content under its previous name with the head content under its
  new name. A pin file renamed away leaves its old path absent at head.
- Renames count for prompt paths under both names; copies only under the new name (the source is
  untouched). Removed prompt files count.
"""

from __future__ import annotations

import functools
import json
import re
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import yaml

from evalgate.changes import ChangedFile
from evalgate.errors import ConfigError
from evalgate.pins import check_pin
from evalgate.report.escape import clean, code_literal, md

if TYPE_CHECKING:  # only for annotations: the policy needs no config loading machinery
    from evalgate.config import PolicyConfig

try:  # the C loader is several times faster
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

Kind = Literal["none", "prompt-only", "pin-only", "mixed"]
State = Literal["set", "absent", "unparseable"]
Reader = Callable[[str], str | None]

DESCRIPTION_CHARS = 140  # GitHub rejects longer commit-status descriptions with a 422
_FILES_SHOWN = 50
_VALUE_CHARS = 120
MIXED_REASON = (
    "Prompt files and model pins changed in the same pull request: ship them in separate pull requests "
    "so that a change in quality can be traced to the prompt or to the model."
)


@dataclass(frozen=True, slots=True)
class PinSpec:
    """Where a model pin lives: a repo-relative file and a dotted key inside it."""

    file: str
    key: str

    def __str__(self) -> str:
        return f"{self.file}#{self.key}"


def parse_pin_spec(text: str) -> PinSpec:
    """``"config.yaml#ai.model"`` -> ``PinSpec``; ``ConfigError`` with a fix when malformed."""
    fix = "write FILE#KEY: a repo-relative file and a dotted key, e.g. config.yaml#ai.model or models.0.name"
    file, sep, key = text.partition("#")
    file = file.removeprefix("./")
    problem = None
    if not sep or "#" in key:
        problem = "needs exactly one '#' between the file and the key"
    elif not file or not key:
        problem = "needs both a file and a key"
    elif file.startswith("/") or "\\" in file or ".." in file.split("/"):
        problem = "the file must be relative to the repository root, with '/' separators and no '..'"
    elif any(not part.strip() for part in key.split(".")):
        problem = "the key has an empty part (two dots in a row, or a leading or trailing dot)"
    if problem:
        raise ConfigError(f"model pin '{text}' {problem}", where="policy.model_pins", fix=fix) from None
    return PinSpec(file, key)


# --- prompt path globs ----------------------------------------------------------------------------


def matches(path: str, patterns: Sequence[str]) -> bool:
    """Whether repo-relative ``path`` matches any gitignore-like glob (``**`` spans directories)."""
    path = path.removeprefix("./")
    return any(_compile(pattern).fullmatch(path) for pattern in patterns)


@functools.lru_cache(maxsize=512)
def _compile(pattern: str) -> re.Pattern[str]:
    """One glob as an anchored regex; unlike gitignore a slash-less pattern matches only at the root."""
    if not pattern or pattern.startswith("!"):
        raise ConfigError(
            f"prompt path pattern {pattern!r} is empty or a negation",
            where="policy.prompt_paths",
            fix="list globs to watch, e.g. 'prompts/**' or 'src/**/*.prompt.md'; negations are unsupported",
        ) from None
    glob = pattern.lstrip("/").removeprefix("./")
    if glob.endswith("/"):  # a directory means everything below it
        glob += "**"
    parts = glob.split("/")
    out: list[str] = []
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if part == "**":
            # a final '**' is "everything below" (one or more characters); elsewhere zero or more directories
            out.append(".+" if last else "(?:[^/]+/)*")
        else:
            out.append(_segment(part) + ("" if last else "/"))
    try:
        return re.compile("".join(out), re.DOTALL)
    except re.error as exc:  # e.g. a reversed range such as [z-a]
        raise ConfigError(
            f"prompt path pattern {pattern!r} is not a valid glob ({exc})", where="policy.prompt_paths"
        ) from None


def _segment(part: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(part):
        ch = part[i]
        if ch == "*":
            while i + 1 < len(part) and part[i + 1] == "*":
                i += 1  # 'a**b' is an ordinary star, as in gitignore
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "\\" and i + 1 < len(part):
            i += 1
            out.append(re.escape(part[i]))
        elif ch == "[" and (end := part.find("]", i + 2)) != -1:
            body = part[i + 1 : end]
            negate = body[:1] in ("!", "^")
            body = body[1:] if negate else body
            escaped = "".join("-" if c == "-" else re.escape(c) for c in body)
            out.append(f"[^/{escaped}]" if negate else f"(?!/)[{escaped}]")
            i = end
        else:
            out.append(re.escape(ch))
        i += 1
    return "".join(out)


# --- pin values ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PinValue:
    """A pin's value in one version of its file: ``set`` (with ``value``), ``absent`` or ``unparseable``."""

    state: State
    value: str | None = None
    error: str | None = None

    def same_as(self, other: PinValue) -> bool:
        """Equal values; an unparseable file is never provably the same as anything."""
        if self.state == "unparseable" or other.state == "unparseable":
            return False
        return self.state == other.state and self.value == other.value

    def short(self, limit: int = 60) -> str:
        """One line of plain text for a commit status."""
        if self.state == "set":
            return clean(self.value or "", limit) or "''"
        return f"({'unset' if self.state == 'absent' else 'unparseable'})"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form; ``value`` is null unless set, ``error`` unless unparseable."""
        return {"state": self.state, "value": self.value, "error": self.error}


ABSENT = PinValue("absent")
_INT = re.compile(r"-?[0-9]+")


def pin_value(text: str | None, filename: str, key: str) -> PinValue:
    """The value at dotted ``key`` of a YAML/JSON/TOML file's ``text`` (``None``: the file is absent)."""
    if text is None:
        return ABSENT
    text = text.removeprefix("\ufeff")  # editors on Windows add a BOM that json and tomllib reject
    lower = filename.lower()
    try:
        if lower.endswith(".json"):
            data: Any = json.loads(text)
        elif lower.endswith(".toml"):
            data = tomllib.loads(text)
        else:  # .yaml, .yml and anything else: YAML is a superset of JSON and reads plain key: value files
            data = yaml.load(text, Loader=_Loader)
    except Exception as exc:  # any parser failure (syntax, bad dates, deep nesting) means "cannot read"
        return PinValue("unparseable", error=clean(str(exc), 300) or type(exc).__name__)
    for part in key.split("."):
        data = _child(data, part)
        if data is None:
            return ABSENT
    return PinValue("set", _as_text(data))


def _child(data: Any, part: str) -> Any:
    if isinstance(data, dict):
        if part in data:
            return data[part]
        if _INT.fullmatch(part) and int(part) in data:  # YAML reads `1:` as an int key
            return data[int(part)]
        return None
    if isinstance(data, list) and part.isascii() and part.isdigit() and int(part) < len(data):
        return data[int(part)]
    return None


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        # canonical, so reordering keys inside a pinned mapping is not a change
        return json.dumps(value, sort_keys=True, default=str, ensure_ascii=False)
    return str(value)


# --- the verdict -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PinChange:
    """One pin whose value differs between base and head; ``problem`` says why the new value is bad."""

    file: str
    key: str
    before: PinValue
    after: PinValue
    problem: str | None = None

    def short(self) -> str:
        """``ai.model gpt-4o-2024-08-06 → gpt-4o-2024-11-20``."""
        return f"{self.key} {self.before.short()} → {self.after.short()}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "file": self.file,
            "key": self.key,
            "before": self.before.to_dict(),
            "after": self.after.to_dict(),
            "problem": self.problem,
        }


@dataclass(frozen=True, slots=True)
class PolicyVerdict:
    """What a pull request changed (prompts, pins, both or neither) and whether that is allowed."""

    kind: Kind
    passed: bool
    prompt_files: tuple[str, ...]
    pin_changes: tuple[PinChange, ...]
    reasons: tuple[str, ...]

    def description(self) -> str:
        """At most 140 characters for a commit status."""
        n = len(self.prompt_files)
        prompts = f"{n} prompt file{'' if n == 1 else 's'}"
        if self.kind == "none":
            return "no prompt or model-pin changes"
        if self.kind == "prompt-only":
            return f"prompt-only: {prompts}"
        lead = "mixed: " + prompts + " + " if self.kind == "mixed" else "pin-only: "
        bad = [c for c in self.pin_changes if c.problem]
        tail = ""
        if self.kind == "pin-only" and bad:
            tail = (
                " — cannot be checked" if bad[0].after.state == "unparseable" else " — not a pinned version"
            )
        first = self.pin_changes[0].short()
        more = len(self.pin_changes) - 1
        pins = first + (f" (+{more} more)" if more else "")
        text = lead + pins + tail
        if len(text) > DESCRIPTION_CHARS:
            text = lead + f"{len(self.pin_changes)} model pins" + tail
        return clean(text, DESCRIPTION_CHARS)

    def markdown(self) -> str:
        """A short section for the PR comment; file names and values are made inert."""
        icon = "✅" if self.passed else "❌"
        lines = [f"### Prompt and model-pin policy: {icon} {self.kind}", ""]
        if self.kind == "none":
            lines.append("No prompt files or model pins changed.")
        if self.kind == "mixed":
            lines += [MIXED_REASON, ""]
        if self.prompt_files:
            lines.append(f"**Prompt files ({len(self.prompt_files)})**")
            lines += [f"- {_md_path(name)}" for name in self.prompt_files[:_FILES_SHOWN]]
            if len(self.prompt_files) > _FILES_SHOWN:
                lines.append(f"- … and {len(self.prompt_files) - _FILES_SHOWN} more")
            lines.append("")
        if self.pin_changes:
            lines.append(f"**Model pins ({len(self.pin_changes)})**")
            for change in self.pin_changes:
                line = (
                    f"- {_code(change.key)}: {_md_value(change.before)} → {_md_value(change.after)}"
                    f" in {md(change.file, 200)}"
                )
                if change.problem:
                    line += f" — ❌ {md(change.problem, 300)}"
                lines.append(line)
            lines.append("")
        return "\n".join(lines).rstrip() + "\n"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, including the commit-status description."""
        return {
            "kind": self.kind,
            "passed": self.passed,
            "description": self.description(),
            "prompt_files": list(self.prompt_files),
            "pin_changes": [c.to_dict() for c in self.pin_changes],
            "reasons": list(self.reasons),
        }


def _md_path(name: str) -> str:
    old, arrow, new = name.partition(" → ")
    return f"{md(old, 200)} → {md(new, 200)}" if arrow else md(name, 200)


def _md_value(value: PinValue) -> str:
    if value.state == "set":
        return _code(value.value or "")
    return f"*{value.short()}*"


def _code(text: str) -> str:
    return code_literal(text, _VALUE_CHARS)


def classify(
    changed: Sequence[ChangedFile],
    policy: PolicyConfig,
    read_base: Reader,
    read_head: Reader,
    allow: Mapping[str, str] | None = None,
) -> PolicyVerdict:
    """Sort a pull request's changes into none / prompt-only / pin-only / mixed and judge them."""
    specs = list(dict.fromkeys(parse_pin_spec(text) for text in policy.model_pins))
    prompt_files = _prompt_files(changed, policy.prompt_paths)
    pin_changes = _pin_changes(changed, specs, read_base, read_head, allow)

    kinds: dict[tuple[bool, bool], Kind] = {
        (True, True): "mixed",
        (True, False): "prompt-only",
        (False, True): "pin-only",
        (False, False): "none",
    }
    kind = kinds[bool(prompt_files), bool(pin_changes)]
    reasons = [MIXED_REASON] if kind == "mixed" else []
    reasons += [f"{c.file}#{c.key}: {c.problem}" for c in pin_changes if c.problem]
    return PolicyVerdict(
        kind=kind,
        passed=not reasons,
        prompt_files=tuple(prompt_files),
        pin_changes=tuple(pin_changes),
        reasons=tuple(reasons),
    )


def _prompt_files(changed: Sequence[ChangedFile], patterns: Sequence[str]) -> list[str]:
    found: list[tuple[str, str]] = []
    for f in changed:
        if f.status == "unchanged":
            continue
        # a copy leaves its source untouched, so only a rename's old name counts
        old = f.previous_filename if f.status == "renamed" and f.previous_filename != f.filename else None
        if matches(f.filename, patterns) or (old is not None and matches(old, patterns)):
            found.append((f.filename, f"{old} → {f.filename}" if old is not None else f.filename))
    return [shown for _, shown in sorted(found)]  # ordered by the name in head


def _pin_changes(
    changed: Sequence[ChangedFile],
    specs: Sequence[PinSpec],
    read_base: Reader,
    read_head: Reader,
    allow: Mapping[str, str] | None,
) -> list[PinChange]:
    by_name = {f.filename: f for f in changed if f.status != "unchanged"}
    renamed_away: dict[str, ChangedFile] = {
        f.previous_filename: f for f in changed if f.status == "renamed" and f.previous_filename
    }
    out: list[PinChange] = []
    for file in dict.fromkeys(spec.file for spec in specs):
        base_text, head_text = _versions(file, by_name, renamed_away, read_base, read_head)
        if base_text == head_text:
            continue  # untouched, or a pure rename
        for spec in (s for s in specs if s.file == file):
            before = pin_value(base_text, file, spec.key)
            after = pin_value(head_text, file, spec.key)
            if before.same_as(after):
                continue
            out.append(PinChange(file, spec.key, before, after, _problem(after, file, allow)))
    return out


def _versions(
    file: str,
    by_name: Mapping[str, ChangedFile],
    renamed_away: Mapping[str, ChangedFile],
    read_base: Reader,
    read_head: Reader,
) -> tuple[str | None, str | None]:
    """Base and head text of a pin file; ``(None, None)`` when the change set does not touch it."""
    if (f := by_name.get(file)) is not None:
        base_path = f.previous_filename if f.status == "renamed" and f.previous_filename else file
        base = None if f.status in ("added", "copied") else read_base(base_path)
        head = None if f.status == "removed" else read_head(file)
        return base, head
    if file in renamed_away:
        return read_base(file), None  # moved away: the pin at this path is gone
    return None, None


def _problem(after: PinValue, file: str, allow: Mapping[str, str] | None) -> str | None:
    if after.state == "unparseable":
        return f"{file} does not parse ({after.error}), so the new pin cannot be checked; fix the file"
    if after.state == "set":
        problem = check_pin(after.value or "", allow)
        if problem is not None:
            return f"{problem.reason}; {problem.fix}"
    return None
