"""``evalgate import promptfoo``: a promptfoo config as a native evalgate project, and what did not fit.

The conversion is pure apart from reading the promptfoo files: it returns the files to write and the
list of things it could not carry over, each with the promptfoo line. ``write_project`` writes them;
``evalgate run --config promptfooconfig.yaml`` writes them to a temporary folder instead.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from evalgate.errors import ConfigError, UsageError
from evalgate.pins import check_pin
from evalgate.promptfoo.detect import is_promptfoo_config as is_promptfoo_config
from evalgate.promptfoo.options import note_unsupported, split_default_checks
from evalgate.promptfoo.params import carry_params, prompt_params
from evalgate.promptfoo.prompts import convert_prompts
from evalgate.promptfoo.providers import (
    UnsupportedProvider,
    convert_provider,
    parse_model_flag,
    tools_for,
)
from evalgate.promptfoo.pyshim import PythonAsserts
from evalgate.promptfoo.tests import Converter
from evalgate.promptfoo.wrap import wrap_cases
from evalgate.yamlsrc import YamlDoc, load_yaml_file

EMBEDDING_MODEL = "text-embedding-3-large"  # what promptfoo's 'similar' uses by default
_KNOWN = {"description", "prompts", "providers", "tests", "defaultTest", "evaluateOptions", "metadata"}
_KNOWN |= {"assertionTemplates"}
_WHY = {
    "scenarios": "scenarios (vars x tests matrices) are not carried over; list the combinations as cases",
    "redteam": "red-team generation is not an evaluation suite and is not carried over",
    "env": "env values are not carried over; export them in the environment",
    "outputPath": "outputPath is not carried over; use --json/--junit/--markdown",
    "nunjucksFilters": "custom Nunjucks filters are not carried over",
    "derivedMetrics": "derived metrics are not carried over",
    "extensions": "extension hooks are not carried over",
}
_GRADED = {"llm_judge", "similar"}


@dataclass(frozen=True)
class Dropped:
    """One thing that did not carry over, with the promptfoo line it came from."""

    line: int | None
    what: str


@dataclass
class Imported:
    """The files of the native project and what was left behind."""

    source: str
    files: dict[str, str] = field(default_factory=dict)
    dropped: list[Dropped] = field(default_factory=list)
    cases: int = 0
    prompts: int = 0

    def render_dropped(self) -> list[str]:
        """``promptfooconfig.yaml:12: not carried over: ...`` lines, in line order."""
        ordered = sorted(self.dropped, key=lambda d: d.line or 0)
        return [
            f"{self.source}:{d.line}: {d.what}" if d.line else f"{self.source}: {d.what}" for d in ordered
        ]


def _model(
    doc: YamlDoc, flag: str | None, result: Imported, base: Path
) -> tuple[dict[str, Any], list[Any] | None]:
    raw = doc.data.get("providers")
    items = raw if isinstance(raw, list) else [raw] if raw is not None else []
    if isinstance(raw, dict):
        items = [{k: v} for k, v in raw.items()]
    chosen: dict[str, Any] | None = parse_model_flag(flag) if flag else None
    tools: list[Any] | None = None
    carried: tuple[str, dict[str, Any]] | None = None  # with --model: whose params it runs with
    for index, item in enumerate(items):
        line = doc.line_of(("providers", index)) if isinstance(raw, list) else doc.line_of(("providers",))
        try:
            model = convert_provider(item, base)
        except UnsupportedProvider as exc:
            if not flag:  # --model replaces every provider; nothing of theirs is lost but their tools
                result.dropped.append(Dropped(line, f"provider {exc}"))
            continue
        if chosen is None:
            chosen, tools = model.section, model.tools
            result.dropped += [Dropped(line, d) for d in model.dropped]
        elif flag:
            # --model replaces the model, not the settings and tools the suite was written for
            if tools is None and model.tools:
                tools = model.tools
                chosen.setdefault("params", {})["tools"] = tools_for(chosen["provider"], model.tools)
            params = {k: v for k, v in model.section.get("params", {}).items() if k != "tools"}
            name = model.section["name"]
            here: list[str] = []
            if carried is None:
                carried = (name, params)
                carry_params(chosen, params, here.append, f"provider '{name}'")
            elif params != carried[1]:
                keys = ", ".join(sorted(params)) or "none"
                here.append(
                    f"provider '{name}': its params ({keys}) are not carried over; --model runs with those "
                    f"of '{carried[0]}'"
                )
            result.dropped += [Dropped(line, what) for what in here]
        else:
            name = item if isinstance(item, str) else model.section["name"]
            result.dropped.append(
                Dropped(
                    line, f"provider {name}: evalgate runs one model per config (make one config per model)"
                )
            )
    if chosen is None:
        raise UsageError(
            "no provider in this promptfoo config is one evalgate can call",
            fix="pass --model PROVIDER:NAME, e.g. --model openai:gpt-4o-2024-11-20",
        )
    return chosen, tools


def _judge(model: dict[str, Any], graders: list[Any], flag: str | None, result: Imported) -> dict[str, Any]:
    if flag:
        return parse_model_flag(flag)
    distinct = list(dict.fromkeys(json.dumps(g, sort_keys=True) for g in graders))
    if len(distinct) > 1:
        result.dropped.append(
            Dropped(
                None, f"{len(distinct)} different graders: evalgate has one judge, the first one grades all"
            )
        )
    for grader in graders:
        try:
            section = convert_provider(grader).section
        except UnsupportedProvider as exc:
            result.dropped.append(Dropped(None, f"grader {exc}; the model under test grades instead"))
            break
        if check_pin(section["name"], {}) is None:
            return section
        result.dropped.append(
            Dropped(
                None,
                f"grader '{section['name']}' is not a pinned version; the model under test grades "
                "instead (pass --judge PROVIDER:NAME)",
            )
        )
        break
    else:
        result.dropped.append(
            Dropped(None, "promptfoo's default grader is replaced by the model under test (pass --judge)")
        )
    return {k: v for k, v in model.items() if k != "params"}


def convert(path: Path, *, output: Path, model: str | None = None, judge: str | None = None) -> Imported:
    """The native project for the promptfoo config at ``path``, to be written under ``output``."""
    doc = load_yaml_file(path)
    if not isinstance(doc.data, dict):
        raise ConfigError("a promptfoo config must be a mapping", file=str(path), line=1)
    result = Imported(source=path.name)
    data: dict[str, Any] = _resolve_refs(doc.data, doc.data, result)
    for key in data:
        if key not in _KNOWN:
            result.dropped.append(Dropped(doc.line_of((key,)), _WHY.get(key, f"'{key}' is not carried over")))
    if "tests" not in data and "redteam" in data:
        raise UsageError(
            "this is a promptfoo red-team config, not an evaluation suite", fix="nothing to import"
        )
    base = path.parent.resolve()
    suite_name = re.sub(r"[^A-Za-z0-9_-]+", "-", path.stem).strip("-") or "promptfoo"
    model_section, tools = _model(doc, model, result, base)

    def note_prompt(what: str) -> None:
        result.dropped.append(Dropped(doc.line_of(("prompts",)), what))

    prompts = convert_prompts(data.get("prompts"), base, note_prompt)
    if not prompts:
        prompts = convert_prompts("{{prompt}}", base, note_prompt)
        result.dropped.append(Dropped(None, "no prompts: cases send their 'prompt' var as written"))
    prompt_params(prompts, model_section, note_prompt)
    conv = Converter(
        base=base,
        suite_dir=(output / "evals").resolve(),
        note=lambda line, what: result.dropped.append(Dropped(line, what)),
        tools_ref="../tools.json" if tools else None,
        python=PythonAsserts(base, (output / "evals").resolve()),
    )
    conv.prompts = prompts
    response_format = model_section.get("params", {}).get("response_format")
    conv.json_output = isinstance(response_format, dict) and response_format.get("type") == "json_schema"
    if conv.python is not None:
        conv.python.json_output = conv.json_output
    defaults = _defaults(conv, data.get("defaultTest"), doc)
    cases: list[dict[str, Any]] = []
    for number, source in enumerate(conv.load_tests(data.get("tests"), doc.line_of), 1):
        cases += conv.case(source, number)
    if not cases:
        why = "; ".join(d.what for d in result.dropped if "test" in d.what)
        raise UsageError(
            f"{path.name} has no tests to import" + (f" ({why})" if why else ""),
            fix="add tests:, or check the tests files",
        )
    cases, wrapped = wrap_cases(cases, prompts)
    defaults, cases = split_default_checks(defaults, cases)
    suite: dict[str, Any] = {}
    if isinstance(data.get("description"), str):
        suite["description"] = data["description"]
    suite["defaults"] = {**defaults, "prompts": [p.name for p in prompts]}
    suite["cases"] = cases
    config: dict[str, Any] = {"model": model_section}
    every = [c for case in cases for c in case.get("checks", [])] + defaults.get("checks", [])
    kinds = {str(c.get("type", "")).removeprefix("not_") for c in every}
    if kinds & _GRADED:
        config["judge"] = _judge(model_section, conv.graders, judge, result)
        if "similar" in kinds:
            if config["judge"]["provider"] == "openai":
                config["judge"]["embeddings"] = EMBEDDING_MODEL
            else:
                result.dropped.append(
                    Dropped(None, "similar checks need an OpenAI-compatible judge for embeddings")
                )
    config["prompts"] = {p.name: p.path for p in prompts + wrapped}
    config["suites"] = ["evals/*.yaml"]
    config["gate"] = {"threshold": 1.0}  # promptfoo fails the run when any test fails
    concurrency = (data.get("evaluateOptions") or {}).get("maxConcurrency")
    if isinstance(concurrency, int) and concurrency > 0:
        config["runner"] = {"concurrency": min(concurrency, 256)}
    if conv.default_options.get("runSerially") is True:  # every test one at a time
        config["runner"] = {"concurrency": 1}
    header = f"# imported from {path.name} by 'evalgate import promptfoo'\n"
    result.files["evalgate.yaml"] = header + _dump(config)
    result.files[f"evals/{suite_name}.yaml"] = header + _dump(suite)
    for prompt in prompts + wrapped:
        result.files[prompt.path] = prompt.content
    if tools:
        result.files["tools.json"] = json.dumps(tools, indent=2) + "\n"
    shim = conv.python.module() if conv.python is not None else None
    if shim is not None and conv.python is not None:
        result.files[f"evals/{conv.python.module_name}.py"] = shim
    result.cases, result.prompts = len(cases), len(prompts)
    return result


def _resolve_refs(value: Any, root: dict[str, Any], result: Imported, depth: int = 0) -> Any:
    """``{$ref: '#/assertionTemplates/x'}`` replaced by what it points at inside the same config."""
    if depth > 20:
        raise ConfigError("$ref nesting deeper than 20 levels (a cycle?)")
    if isinstance(value, list):
        return [_resolve_refs(v, root, result, depth) for v in value]
    if not isinstance(value, dict):
        return value
    ref = value.get("$ref")
    if isinstance(ref, str):
        target: Any = root
        if ref.startswith("#/"):
            for part in ref[2:].split("/"):
                part = part.replace("~1", "/").replace("~0", "~")
                target = target.get(part) if isinstance(target, dict) else None
        else:
            target = None
        if target is None:
            result.dropped.append(Dropped(None, f"$ref '{ref}' points outside the config or at nothing"))
            return {}
        return _resolve_refs(target, root, result, depth + 1)
    return {k: _resolve_refs(v, root, result, depth) for k, v in value.items()}


def _defaults(conv: Converter, raw: Any, doc: YamlDoc) -> dict[str, Any]:
    line = doc.line_of(("defaultTest",))
    if isinstance(raw, str) and raw.startswith("file://"):
        raw = yaml.safe_load((conv.base / raw.removeprefix("file://")).read_text(encoding="utf-8"))
    if not isinstance(raw, dict):
        return {}
    out: dict[str, Any] = {}
    raw_options = raw.get("options")
    options: dict[str, Any] = raw_options if isinstance(raw_options, dict) else {}
    conv.default_options = dict(options)
    expand = options.get("disableVarExpansion") is not True
    variables = conv.vars(raw.get("vars"), line, "defaultTest: ", expand=expand)
    if variables and variables[0]:
        out["vars"] = variables[0]
    checks, tags = conv.checks(raw.get("assert"), line, "defaultTest: ")
    if checks:
        out["checks"] = checks
    if tags:
        out["tags"] = list(dict.fromkeys(tags))
    if isinstance(raw.get("threshold"), int | float):
        out["threshold"] = float(raw["threshold"])
    if options.get("provider") is not None:
        conv.graders.insert(0, options["provider"])
    code = conv.transform(options, line, "defaultTest: ")
    if code is not None:
        out["transform"] = code
    vars_code = conv.transform_vars(options, line, "defaultTest: ")
    if vars_code is not None:
        out["transform_vars"] = vars_code
    if options.get("rubricPrompt") is not None:
        conv.default_judge_prompt = conv.rubric_prompt(options["rubricPrompt"], line, "defaultTest: ")
        conv.with_judge_prompt(out.get("checks", []), conv.default_judge_prompt)
    note_unsupported(options, lambda what: conv.note(line, what), "", default_test=True)
    return out


class _Dumper(yaml.SafeDumper):
    """Writes shared values out in full: a reader should not have to follow YAML anchors."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _dump(data: Any) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=110)


def write_project(imported: Imported, output: Path, *, force: bool = False) -> list[Path]:
    """Write the files; refuses to overwrite an existing file unless ``force``."""
    targets = [output / rel for rel in imported.files]
    existing = [t for t in targets if t.exists()]
    if existing and not force:
        raise UsageError(
            f"{existing[0]} already exists"
            + (f" (and {len(existing) - 1} more files)" if len(existing) > 1 else ""),
            fix="pass --output DIR for a new folder, or --force to overwrite",
        )
    for target, text in zip(targets, imported.files.values(), strict=True):
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    return targets
