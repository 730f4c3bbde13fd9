"""promptfoo's ``tests:`` and ``defaultTest`` as evalgate cases and suite defaults."""

from __future__ import annotations

import csv
import glob
import io
import itertools
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from evalgate.errors import ConfigError
from evalgate.promptfoo.asserts import Unsupported, convert_assert, parsed_output_js, shorthand
from evalgate.promptfoo.options import NO_DEFAULT_CHECKS, note_unsupported, option
from evalgate.promptfoo.prompts import Prompt, matches, slug
from evalgate.promptfoo.pyshim import PythonAsserts
from evalgate.promptfoo.wrap import WRAP, wrap_of
from evalgate.yamlsrc import load_yaml_file

Note = Callable[[int | None, str], None]
_FILE_KEYS = {"schema_file", "tools_file"}


@dataclass
class Source:
    """A test and where it came from (a line in the config, or a row of a tests file)."""

    test: dict[str, Any]
    line: int | None
    where: str = ""


@dataclass
class Converter:
    """Turns promptfoo tests into evalgate case mappings, noting what does not carry over."""

    base: Path  # the promptfoo config's folder
    suite_dir: Path  # where the evalgate suite will live (file references are made relative to it)
    note: Note
    prompts: list[Prompt] = field(default_factory=list)  # the converted prompts, for a test's filter
    graders: list[Any] = field(default_factory=list)
    python: PythonAsserts | None = None
    tools_ref: str | None = None
    default_options: dict[str, Any] = field(default_factory=dict)  # defaultTest's options
    default_judge_prompt: str | None = None  # defaultTest's rubricPrompt, for every test's llm_judge
    json_output: bool = False  # the model answers by a JSON schema: promptfoo hands scripts the parsed object
    _ids: set[str] = field(default_factory=set)

    # files

    def rel(self, ref: str) -> str:
        """A path relative to the promptfoo config, re-expressed relative to the evalgate suite."""
        return os.path.relpath((self.base / ref.removeprefix("file://")).resolve(), self.suite_dir)

    def js_ref(self, code: str) -> str:
        """JavaScript code as written, or a ``file://`` reference re-expressed relative to the suite."""
        return "file://" + self.rel(code) if code.startswith("file://") else code

    def script(self, code: Any, what: str, line: int | None, where: str) -> str | None:
        """A transform as written (JavaScript, ``file://x.js`` or ``.py``), else noted and ``None``."""
        if code is None:
            return None
        if not isinstance(code, str) or not code.strip():
            self.note(line, f"{where}{what} {code!r} is not JavaScript text or a file:// reference")
            return None
        return self.js_ref(code.strip())

    def transform(self, options: dict[str, Any], line: int | None, where: str) -> str | None:
        """The output transform of a test's (or defaultTest's) options, if any."""
        return self.script(options.get("transform", options.get("postprocess")), "transform", line, where)

    def transform_vars(self, options: dict[str, Any], line: int | None, where: str) -> str | None:
        """The ``transformVars`` of a test's (or defaultTest's) options, if it can run here (JavaScript)."""
        return self.script(options.get("transformVars"), "transformVars", line, where)

    def rubric_prompt(self, raw: Any, line: int | None, where: str) -> str | None:
        """promptfoo's ``rubricPrompt`` as an llm_judge ``judge_prompt``: text, or a ``file://`` text file."""
        if isinstance(raw, str) and raw.startswith("file://"):
            path = self.base / raw.removeprefix("file://")
            if path.suffix in (".js", ".py", ".ts") or not path.is_file():
                self.note(
                    line, f"{where}rubricPrompt '{raw}' (a script or a missing file) is not carried over"
                )
                return None
            raw = path.read_text(encoding="utf-8")
        if not isinstance(raw, str) or not raw.strip() or raw.lstrip().startswith("["):
            self.note(line, f"{where}rubricPrompt as chat messages is not carried over; write it as one text")
            return None
        return raw.strip()

    def with_judge_prompt(self, checks: list[dict[str, Any]], text: str | None) -> None:
        """``judge_prompt`` on the llm_judge checks that do not have their own."""
        if text is not None:
            for check in checks:
                if check["type"] == "llm_judge":
                    check.setdefault("judge_prompt", text)

    def load_tests(self, raw: Any, line_of: Callable[[tuple[int | str, ...]], int | None]) -> list[Source]:
        """Every test: inline mappings, and the rows of ``file://`` CSV/JSON/JSONL/YAML files and globs."""
        items = raw if isinstance(raw, list) else [raw] if raw is not None else []
        out: list[Source] = []
        for index, item in enumerate(items):
            line = line_of(("tests", index)) if isinstance(raw, list) else line_of(("tests",))
            if isinstance(item, dict):
                out.append(Source(item, line))
            elif isinstance(item, str):
                out += self._from_files(item, line)
            else:
                self.note(line, f"test {item!r} is not a mapping or a file:// reference")
        return out

    def _from_files(self, ref: str, line: int | None) -> list[Source]:
        rel = ref.removeprefix("file://")
        if rel.startswith(("http://", "https://")) or rel.endswith((".py", ".js", ".ts")) or ":" in rel:
            self.note(line, f"tests from '{ref}' (a URL or a generator) are not carried over")
            return []
        pattern = str(self.base / rel)
        paths = sorted(glob.glob(pattern, recursive=True)) if glob.has_magic(rel) else [pattern]
        found = [Path(p) for p in paths if Path(p).is_file()]
        if not found:
            self.note(line, f"tests file '{ref}' not found")
        out: list[Source] = []
        for path in found:
            out += self._file_rows(path, line)
        return out

    def _file_rows(self, path: Path, line: int | None) -> list[Source]:
        try:
            return self._parse_rows(path, line)
        except (json.JSONDecodeError, yaml.YAMLError, csv.Error, UnicodeDecodeError, ValueError) as exc:
            mark = getattr(exc, "problem_mark", None)
            where = mark.line + 1 if mark is not None else getattr(exc, "lineno", None)
            raise ConfigError(
                f"cannot read tests file: {' '.join(str(exc).split())[:200]}", file=str(path), line=where
            ) from None

    def _parse_rows(self, path: Path, line: int | None) -> list[Source]:
        text = path.read_text(encoding="utf-8")
        name = path.name
        if path.suffix == ".csv":
            rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"), newline="")))
            return [Source(_csv_test(row), line, f"{name} row {i + 2}") for i, row in enumerate(rows)]
        if path.suffix == ".jsonl":
            lines = [x for x in text.splitlines() if x.strip()]
            return [Source(json.loads(x), line, f"{name} line {i + 1}") for i, x in enumerate(lines)]
        data = load_yaml_file(path).data  # JSON is YAML; errors name the file and line
        items = data if isinstance(data, list) else [data]
        return [Source(t, line, f"{name} item {i + 1}") for i, t in enumerate(items) if isinstance(t, dict)]

    # vars

    def _var(self, value: Any, line: int | None, where: str) -> Any:
        if not (isinstance(value, str) and value.startswith("file://")):
            return value
        rel = value.removeprefix("file://")
        if glob.has_magic(rel):  # one value per file: promptfoo runs the test once for each
            found = sorted(p for p in glob.glob(str(self.base / rel), recursive=True) if Path(p).is_file())
            if found:
                return [self._var("file://" + os.path.relpath(p, self.base), line, where) for p in found]
        path = self.base / rel
        if path.suffix in (".py", ".js", ".ts") or not path.is_file():
            self.note(line, f"{where}var '{value}' (a script or a missing file) is kept as literal text")
            return value
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".json":
            return json.loads(text)
        if path.suffix in (".yaml", ".yml"):
            return yaml.safe_load(text)
        return text

    def vars(
        self, raw: Any, line: int | None, where: str = "", *, expand: bool = True
    ) -> list[dict[str, Any]]:
        """The vars of a test; a list value expands into one set per item, as promptfoo does.

        ``expand=False`` (promptfoo's ``disableVarExpansion``) keeps a list as one value.
        """
        if not isinstance(raw, dict):
            if raw is not None:
                self.note(line, f"{where}vars from '{raw}' are not carried over")
            return [{}]
        loaded = {str(k): self._var(v, line, where) for k, v in raw.items()}
        keys = [
            k
            for k, v in loaded.items()
            if isinstance(v, list) and v and all(not isinstance(x, dict) for x in v)
        ]
        if not keys or not expand:
            return [loaded]
        combos = itertools.product(*(loaded[k] for k in keys))
        return [{**loaded, **dict(zip(keys, combo, strict=True))} for combo in combos]

    # asserts

    def checks(self, raw: Any, line: int | None, where: str = "") -> tuple[list[dict[str, Any]], list[str]]:
        """Checks and tags from an ``assert`` list; unsupported assertions are noted and skipped."""
        checks: list[dict[str, Any]] = []
        tags: list[str] = []
        for item in raw if isinstance(raw, list) else []:
            if not isinstance(item, dict):
                self.note(line, f"{where}assertion {item!r} is not a mapping")
                continue
            kind = str(item.get("type", ""))
            if (
                kind in ("python", "not-python")
                and isinstance(item.get("value"), str)
                and self.python is not None
            ):
                threshold = item.get("threshold")
                ref = self.python.add(
                    item["value"],
                    float(threshold) if isinstance(threshold, int | float) else None,
                    negate=kind.startswith("not-"),
                )
                checks.append({"type": "python", "function": ref, **_weight_and_name(item)})
                if isinstance(item.get("metric"), str):
                    tags.append(item["metric"])
                continue
            try:
                converted = convert_assert(item)
            except Unsupported as exc:
                self.note(line, f"{where}{exc}")
                continue
            except (TypeError, ValueError) as exc:
                self.note(line, f"{where}assertion '{item.get('type')}': {exc}")
                continue
            for dropped in converted.dropped:
                self.note(line, f"{where}{dropped}")
            if converted.grader is not None:
                self.graders.append(converted.grader)
            if converted.rubric_prompt is not None:
                text = self.rubric_prompt(converted.rubric_prompt, line, where)
                self.with_judge_prompt(converted.checks, text)
            for check in converted.checks:
                if "transform" in check:
                    code = self.script(
                        check["transform"], f"assertion '{check['type']}' transform", line, where
                    )
                    if code is None:  # the check would judge the untransformed answer
                        continue
                    check["transform"] = code
                for key in _FILE_KEYS & set(check):
                    check[key] = self.rel(str(check[key]))
                if check["type"] in ("javascript", "not_javascript"):
                    check["value"] = self._javascript(str(check.get("value", "")), line, where)
                if check["type"] in ("is_valid_tool_call", "not_is_valid_tool_call"):
                    if self.tools_ref is None:
                        self.note(line, f"{where}is_valid_tool_call: the provider declares no tools")
                        continue
                    check["tools_file"] = self.tools_ref
                checks.append(check)
            tags += converted.tags
        return checks, tags

    def _javascript(self, code: str, line: int | None, where: str) -> str:
        if code.startswith("file://"):
            if self.json_output:
                self.note(
                    line,
                    f"{where}javascript '{code}' gets the answer as text (promptfoo parses a json_schema "
                    "answer first): add JSON.parse(output) to it",
                )
            return "file://" + self.rel(code)
        return parsed_output_js(code) if self.json_output else code

    # cases

    def _id(self, description: Any, fallback: str) -> str:
        base = slug(str(description), fallback) if isinstance(description, str) and description else fallback
        base = base if base[0].isalnum() else f"t{base}"
        name, n = base, 2
        while name in self._ids:
            name, n = f"{base}-{n}", n + 1
        self._ids.add(name)
        return name

    def case(self, source: Source, number: int) -> list[dict[str, Any]]:
        """One promptfoo test as evalgate cases (several when list vars expand or prompts are picked)."""
        test, line = source.test, source.line
        where = f"{source.where}: " if source.where else ""
        checks, tags = self.checks(test.get("assert"), line, where)
        raw_options = test.get("options")
        options: dict[str, Any] = raw_options if isinstance(raw_options, dict) else {}
        if "prefix" in test or "suffix" in test:  # promptfoo reads them from options only
            self.note(line, f"{where}prefix/suffix outside 'options:' are ignored by promptfoo too")
        note_unsupported(options, lambda what: self.note(line, what), where)
        if "transformVars" in test:  # promptfoo reads it from options only
            self.note(line, f"{where}transformVars outside 'options:' is ignored by promptfoo too")
        vars_code = self.transform_vars(options, line, where)
        if options.get("rubricPrompt") is not None:
            self.with_judge_prompt(checks, self.rubric_prompt(options["rubricPrompt"], line, where))
        self.with_judge_prompt(checks, self.default_judge_prompt)
        code = self.transform(options, line, where)
        if isinstance(options.get("provider"), str | dict):
            self.graders.append(options["provider"])
        if "provider" in test or "providerOutput" in test:
            self.note(
                line, f"{where}a per-test provider is not carried over; the case uses the config's model"
            )
        base: dict[str, Any] = {}
        if isinstance(test.get("description"), str):
            base["description"] = test["description"]
        if isinstance(test.get("threshold"), int | float):
            base["threshold"] = float(test["threshold"])
        if tags:
            base["tags"] = list(dict.fromkeys(tags))
        if checks:
            base["checks"] = checks
        if code is not None:
            base["transform"] = code
        if vars_code is not None:
            base["transform_vars"] = vars_code
        if option("disableDefaultAsserts", options, self.default_options) is True:
            base[NO_DEFAULT_CHECKS] = True
        wrap = wrap_of(options, self.default_options)
        if wrap is not None:
            base[WRAP] = wrap
        prompts = self._prompt_filter(test.get("prompts"), line, where)
        cases = []
        expand = option("disableVarExpansion", options, self.default_options) is not True
        for variables in self.vars(test.get("vars"), line, where, expand=expand):
            for prompt in prompts:
                case = {"id": "", **base}
                if variables:
                    case["vars"] = variables
                if prompt is not None:
                    case["prompt"] = prompt
                cases.append(case)
        fallback = f"test{number}"
        for case in cases:
            case["id"] = self._id(test.get("description"), fallback)
        return cases

    def _prompt_filter(self, raw: Any, line: int | None, where: str) -> list[str | None]:
        """The prompts a test's ``prompts:`` names (label, id, raw text, file, ``*`` wildcards)."""
        refs = [raw] if isinstance(raw, str) else raw
        if not isinstance(refs, list) or not refs:
            return [None]
        found = {str(ref): [p.name for p in self.prompts if matches(str(ref), p)] for ref in refs}
        missing = [ref for ref, names in found.items() if not names]
        if missing:
            self.note(line, f"{where}test prompts {missing} name no prompt that was carried over")
        picked = {name for names in found.values() for name in names}
        return [p.name for p in self.prompts if p.name in picked] or [None]


def _csv_test(row: dict[str, str]) -> dict[str, Any]:
    test: dict[str, Any] = {"vars": {}, "assert": []}
    metric = row.get("__metric")
    for key, value in row.items():
        if key is None:
            continue
        if key.startswith("__expected"):
            if value and value.strip():
                item = shorthand(value)
                if metric:
                    item["metric"] = metric
                test["assert"].append(item)
        elif key == "__description":
            test["description"] = value
        elif key == "__threshold" and value:
            test["threshold"] = float(value)
        elif key in ("__prefix", "__suffix"):
            if value:
                test.setdefault("options", {})[key[2:]] = value
        elif key in ("__metric", "__providerOutput", "__metadata"):
            continue
        elif not key.startswith("__"):
            test["vars"][key] = value
    return test


def _weight_and_name(item: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    weight = item.get("weight")
    if isinstance(weight, int | float) and not isinstance(weight, bool) and weight != 1:
        out["weight"] = float(weight)
    if isinstance(item.get("metric"), str) and item["metric"].strip():
        out["name"] = item["metric"].strip()
    return out
