"""Suite files: the cases to run, loaded with their file and line so every message can point at them."""

from __future__ import annotations

import glob
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, model_validator

from evalgate.checks import CheckSpec
from evalgate.errors import ConfigError
from evalgate.strict import Strict
from evalgate.yamlsrc import load_yaml_file, validate

CASE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\-]*$")


class CaseSpec(Strict):
    """One case as written in a suite file."""

    id: Annotated[str, Field(min_length=1, max_length=200)]
    input: str | None = None
    prompt: str | None = None
    vars: dict[str, Any] = Field(default_factory=dict)
    system: str | None = None
    tags: list[str] = Field(default_factory=list)
    checks: Annotated[list[CheckSpec], Field(min_length=1)]
    required: bool = False
    repeat: Annotated[int, Field(ge=1, le=100)] = 1
    min_pass: Annotated[int, Field(ge=1)] | None = None
    description: str | None = None

    @model_validator(mode="after")
    def _shape(self) -> CaseSpec:
        if not CASE_ID.match(self.id):
            raise ValueError(
                f"case id '{self.id}' may hold only letters, digits, '_', '-', '.', ':' and must not start "
                "with a symbol"
            )
        if (self.input is None) == (self.prompt is None):
            raise ValueError(
                "a case needs exactly one of 'input' (literal text) or 'prompt' (a template name)"
            )
        if self.vars and self.prompt is None:
            raise ValueError(
                "'vars' only makes sense with 'prompt'; with 'input' the text is sent as written"
            )
        if self.min_pass is not None and self.min_pass > self.repeat:
            raise ValueError(f"min_pass ({self.min_pass}) cannot exceed repeat ({self.repeat})")
        return self


class SuiteDefaults(Strict):
    """Values every case of a suite file inherits (its own values come first)."""

    tags: list[str] = Field(default_factory=list)
    checks: list[CheckSpec] = Field(default_factory=list)
    prompt: str | None = None


class SuiteFile(Strict):
    """A whole suite file."""

    description: str | None = None
    defaults: SuiteDefaults = Field(default_factory=SuiteDefaults)
    cases: Annotated[list[Any], Field(min_length=1)]


@dataclass(frozen=True, slots=True)
class Case:
    """A validated case and where it was written."""

    spec: CaseSpec
    suite: str
    line: int

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def min_pass(self) -> int:
        return self.spec.min_pass if self.spec.min_pass is not None else self.spec.repeat


def _merge_defaults(raw: dict[str, Any], defaults: SuiteDefaults) -> dict[str, Any]:
    if not (defaults.tags or defaults.checks or defaults.prompt):
        return raw
    merged = dict(raw)
    if defaults.tags:
        merged["tags"] = list(dict.fromkeys([*defaults.tags, *raw.get("tags", [])]))
    if defaults.checks:
        merged["checks"] = [c.model_dump(exclude_none=True) for c in defaults.checks] + list(
            raw.get("checks", [])
        )
    if defaults.prompt and "input" not in raw and "prompt" not in raw:
        merged["prompt"] = defaults.prompt
    return merged


def load_suite(path: Path, *, display: str | None = None, cache_dir: Path | None = None) -> list[Case]:
    """Load one suite file; every problem is a ``ConfigError`` with file and line."""
    shown = display or str(path)
    doc = load_yaml_file(path, cache_dir=cache_dir)
    doc.file = shown
    suite = validate(SuiteFile, doc, file=shown, expect="a mapping with a 'cases:' list")
    cases: list[Case] = []
    for index, raw in enumerate(suite.cases):
        loc: tuple[int | str, ...] = ("cases", index)
        data = _merge_defaults(raw, suite.defaults) if isinstance(raw, dict) else raw
        spec = validate(
            CaseSpec, doc, file=shown, data=data, prefix=loc, expect="a case mapping with 'id' and 'checks'"
        )
        cases.append(Case(spec=spec, suite=shown, line=doc.line_of(loc) or 1))
    return cases


def discover(patterns: list[str], root: Path) -> list[Path]:
    """Expand suite globs relative to ``root``, sorted, each file once."""
    found: dict[Path, None] = {}
    for pattern in patterns:
        matches = sorted(glob.glob(str(root / pattern), recursive=True))
        if not matches:
            raise ConfigError(
                f"suite pattern '{pattern}' matches no files under {root}",
                where="suites",
                fix="check the path, or create the file (evalgate init makes an example)",
            )
        for m in matches:
            p = Path(m)
            if p.is_file():
                found.setdefault(p.resolve(), None)
    return list(found)


def load_suites(patterns: list[str], root: Path, *, cache_dir: Path | None = None) -> list[Case]:
    """Load every suite; duplicate case ids across files are an error naming both places."""
    cases: list[Case] = []
    seen: dict[str, Case] = {}
    for path in discover(patterns, root):
        try:
            display = str(path.relative_to(root.resolve()))
        except ValueError:
            display = str(path)
        for case in load_suite(path, display=display, cache_dir=cache_dir):
            if case.id in seen:
                first = seen[case.id]
                raise ConfigError(
                    f"duplicate case id '{case.id}' (first defined at {first.suite}:{first.line})",
                    file=case.suite,
                    line=case.line,
                    fix="case ids must be unique across all suites; rename one",
                )
            seen[case.id] = case
            cases.append(case)
    return cases
