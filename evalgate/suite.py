"""Suite files: the cases to run, loaded with their file and line so every message can point at them."""

from __future__ import annotations

import glob
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, model_validator

from evalgate.casefiles import DATA_SUFFIXES, expand_ref, read_rows, stem_id
from evalgate.checks import CheckSpec
from evalgate.checks.render import render_check_vars
from evalgate.errors import ConfigError
from evalgate.strict import Strict
from evalgate.yamlsrc import YamlDoc, load_yaml_file, validate

CASE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\-]*$")
# More cases than this in one file is a generated file gone wrong (or an attack on the loader).
MAX_CASES_PER_FILE = 100_000


class CaseSpec(Strict):
    """One case as written in a suite file."""

    id: Annotated[str, Field(min_length=1, max_length=200)]
    input: str | None = None
    prompt: str | None = None
    vars: dict[str, Any] = Field(default_factory=lambda: {})
    system: str | None = None
    tags: list[str] = Field(default_factory=lambda: [])
    checks: list[CheckSpec] = Field(default_factory=lambda: [])
    threshold: Annotated[float, Field(ge=0, le=1)] | None = None
    transform: Annotated[str, Field(min_length=1)] | None = None
    # JavaScript run over the vars before the prompt is rendered (promptfoo's transformVars)
    transform_vars: Annotated[str, Field(min_length=1)] | None = None
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
        if self.input is not None and self.prompt is not None:
            raise ValueError("a case takes 'input' (literal text) or 'prompt' (a template name), not both")
        if self.input is None and self.prompt is None:
            raise ValueError(
                "a case needs 'input' (literal text) or 'prompt' (a template name); without either it runs "
                "against every prompt the suite's defaults.prompts (or evalgate.yaml's prompts:) list"
            )
        if self.vars and self.prompt is None:
            raise ValueError(
                "'vars' only makes sense with 'prompt'; with 'input' the text is sent as written"
            )
        if self.transform_vars is not None and self.prompt is None:
            raise ValueError(
                "'transform_vars' only makes sense with 'prompt'; with 'input' the text is sent as written"
            )
        if self.min_pass is not None and self.min_pass > self.repeat:
            raise ValueError(f"min_pass ({self.min_pass}) cannot exceed repeat ({self.repeat})")
        return self


class SuiteDefaults(Strict):
    """Values every case of a suite file inherits (its own values come first)."""

    tags: list[str] = Field(default_factory=lambda: [])
    checks: list[CheckSpec] = Field(default_factory=lambda: [])
    vars: dict[str, Any] = Field(default_factory=lambda: {})
    prompt: str | None = None
    prompts: list[str] | None = None
    threshold: Annotated[float, Field(ge=0, le=1)] | None = None
    transform: Annotated[str, Field(min_length=1)] | None = None
    transform_vars: Annotated[str, Field(min_length=1)] | None = None  # for cases that use a prompt


class SuiteFile(Strict):
    """A whole suite file."""

    description: str | None = None
    defaults: SuiteDefaults = Field(default_factory=SuiteDefaults)
    cases: Annotated[list[Any], Field(min_length=1)]
    """Case mappings, or ``file://`` references (CSV, JSONL, JSON/YAML lists, globs) to load cases from."""


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
    merged = dict(raw)
    if defaults.tags:
        merged["tags"] = list(dict.fromkeys([*defaults.tags, *raw.get("tags", [])]))
    if defaults.checks:
        merged["checks"] = [c.model_dump(exclude_none=True) for c in defaults.checks] + list(
            raw.get("checks", [])
        )
    if defaults.prompt and "input" not in raw and "prompt" not in raw:
        merged["prompt"] = defaults.prompt
    if defaults.vars and "input" not in raw and isinstance(raw.get("vars", {}), dict):
        merged["vars"] = {**defaults.vars, **raw.get("vars", {})}
    if defaults.threshold is not None and "threshold" not in raw:
        merged["threshold"] = defaults.threshold
    if defaults.transform is not None and "transform" not in raw:
        merged["transform"] = defaults.transform
    if defaults.transform_vars is not None and "input" not in raw and "transform_vars" not in raw:
        merged["transform_vars"] = defaults.transform_vars
    return merged


def _per_prompt(data: dict[str, Any], prompts: Sequence[str]) -> list[dict[str, Any]]:
    """A case naming neither input nor prompt runs once per prompt; ids get ``:<prompt>`` when several."""
    if "input" in data or "prompt" in data or not prompts:
        return [data]
    if len(prompts) == 1:
        return [{**data, "prompt": prompts[0]}]
    return [{**data, "prompt": p, "id": f"{data.get('id')}:{p}"} for p in prompts]


@dataclass(frozen=True)
class _Source:
    """Where a list of raw cases came from."""

    doc: YamlDoc
    rows: list[Any]
    path: Path
    file: str


def _sources(path: Path, shown: str, cache_dir: Path | None) -> tuple[SuiteDefaults, list[_Source]]:
    if path.suffix in DATA_SUFFIXES:
        doc, rows = read_rows(path, shown)
        return SuiteDefaults(), [_Source(doc, rows, path, shown)]
    doc = load_yaml_file(path, cache_dir=cache_dir)
    doc.file = shown
    if isinstance(doc.data, list):
        doc, rows = read_rows(path, shown, cache_dir=cache_dir)
        return SuiteDefaults(), [_Source(doc, rows, path, shown)]
    suite = validate(SuiteFile, doc, file=shown, expect="a mapping with a 'cases:' list")
    sources = [_Source(doc, [], path, shown)]
    for index, raw in enumerate(suite.cases):
        if not isinstance(raw, str):
            sources[0].rows.append(raw)
            continue
        line = doc.line_of(("cases", index)) or 1
        for found in expand_ref(raw, path.parent, file=shown, line=line):
            display = str(Path(shown).parent / found.relative_to(path.parent))
            sub_doc, sub_rows = read_rows(found, display, cache_dir=cache_dir)
            sources.append(_Source(sub_doc, sub_rows, found, display))
    return suite.defaults, sources


def load_suite(
    path: Path,
    *,
    display: str | None = None,
    cache_dir: Path | None = None,
    prompts: Sequence[str] = (),
    errors: list[ConfigError] | None = None,
) -> list[Case]:
    """Load one suite file; every problem is a ``ConfigError`` with file and line.

    ``prompts`` are the config's prompt names: a case with neither ``input`` nor ``prompt`` runs against
    each of them (or against the suite's ``defaults.prompts``). With ``errors``, a bad case is added to
    it and loading goes on with the next one (``validate`` reports every problem in one run).
    """
    shown = display or str(path)
    defaults, sources = _sources(path, shown, cache_dir)
    targets = defaults.prompts if defaults.prompts is not None else list(prompts)
    cases: list[Case] = []
    for source in sources:
        if len(source.rows) > MAX_CASES_PER_FILE:
            raise ConfigError(
                f"{len(source.rows):,} cases in one file; the limit is {MAX_CASES_PER_FILE:,}",
                file=source.file,
                line=source.doc.line_of(("cases",)),
                where="cases",
                fix="split the suite into several files (suites: takes globs)",
            )
        data_file = source.path.suffix in DATA_SUFFIXES or source.doc is not sources[0].doc
        for index, raw in enumerate(source.rows):
            loc: tuple[int | str, ...] = ("cases", index)
            line = source.doc.line_of(loc) or 1
            data = raw
            if isinstance(raw, dict):
                data = _merge_defaults(raw, defaults)
                if data_file and "id" not in data:
                    data["id"] = f"{stem_id(source.path)}-{index + 1}"
            for one in _per_prompt(data, targets) if isinstance(data, dict) else [data]:
                try:
                    if isinstance(one, dict) and not one.get("transform_vars"):
                        # with transform_vars, checks are rendered with the vars it returns (at plan time)
                        one = render_check_vars(one, file=source.file, line=line)
                    spec = validate(
                        CaseSpec,
                        source.doc,
                        file=source.file,
                        data=one,
                        prefix=loc,
                        expect="a case mapping with 'id' and 'checks'",
                    )
                except ConfigError as exc:
                    if errors is None:
                        raise
                    errors.append(exc)
                    continue
                cases.append(Case(spec=spec, suite=source.file, line=line))
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


def load_suites(
    patterns: list[str],
    root: Path,
    *,
    cache_dir: Path | None = None,
    prompts: Sequence[str] = (),
    errors: list[ConfigError] | None = None,
) -> list[Case]:
    """Load every suite; duplicate case ids across files are an error naming both places.

    With ``errors``, every problem in every file is added to it instead of stopping at the first.
    """

    def fail(exc: ConfigError) -> None:
        if errors is None:
            raise exc
        errors.append(exc)

    paths: dict[Path, None] = {}
    for pattern in patterns:
        try:
            paths.update(dict.fromkeys(discover([pattern], root)))
        except ConfigError as exc:
            fail(exc)
    cases: list[Case] = []
    seen: dict[str, Case] = {}
    for path in paths:
        try:
            display = str(path.relative_to(root.resolve()))
        except ValueError:
            display = str(path)
        try:
            loaded = load_suite(path, display=display, cache_dir=cache_dir, prompts=prompts, errors=errors)
        except ConfigError as exc:
            fail(exc)
            continue
        for case in loaded:
            if case.id in seen:
                first = seen[case.id]
                fail(
                    ConfigError(
                        f"duplicate case id '{case.id}' (first defined at {first.suite}:{first.line})",
                        file=case.suite,
                        line=case.line,
                        fix="case ids must be unique across all suites; rename one",
                    )
                )
                continue
            seen[case.id] = case
            cases.append(case)
    return cases
