"""``evalgate validate``: every problem in the config, every suite and every prompt, found in one run."""

from __future__ import annotations

import os
from dataclasses import dataclass

from evalgate.config import LoadedConfig, load_config
from evalgate.errors import ConfigError
from evalgate.evaluation import Project, lint_pins, plan
from evalgate.prompts import PromptLibrary
from evalgate.suite import load_suites

MAX_LINES = 50


@dataclass(frozen=True)
class Findings:
    """What ``validate`` found: the project when the config itself loaded, and every error."""

    project: Project | None
    errors: tuple[ConfigError, ...]
    warnings: tuple[str, ...] = ()


def _collect_project(loaded: LoadedConfig, errors: list[ConfigError]) -> Project:
    runner = loaded.config.runner
    cache_dir = loaded.resolve(runner.cache_dir) if runner.cache else None
    cases = load_suites(
        loaded.config.suites,
        loaded.root,
        cache_dir=cache_dir,
        prompts=list(loaded.config.prompts),
        errors=errors,
    )
    prompts = PromptLibrary(loaded, errors=errors)
    project = Project(loaded=loaded, cases=tuple(cases), prompts=prompts)
    for case in cases:
        if case.spec.prompt in prompts.broken:
            continue  # its prompt file's own error is already reported
        try:
            planned = plan(project, [case])
            if planned and planned[0].error is not None:  # its transform_vars threw: nothing rendered
                raise ConfigError(planned[0].error, file=case.suite, line=case.line, where=f"case {case.id}")
        except ConfigError as exc:
            if exc.file is None:
                exc.file, exc.line = case.suite, case.line
                exc.args = (exc.render(),)
            errors.append(exc)
    return project


def find_problems(config_path: str | os.PathLike[str], *, allow_unpinned: bool = False) -> Findings:
    """Load everything, collecting errors instead of stopping at the first.

    With ``allow_unpinned``, unpinned model names are warnings instead of errors.
    """
    try:
        loaded = load_config(config_path)
    except ConfigError as exc:
        return Findings(None, (exc,))
    errors: list[ConfigError] = []
    project = _collect_project(loaded, errors)
    warnings = [f.render() for f in lint_pins(loaded)] if allow_unpinned else []
    for finding in [] if allow_unpinned else lint_pins(loaded):
        errors.append(
            ConfigError(
                finding.message, file=finding.file, line=finding.line, where=finding.where, fix=finding.fix
            )
        )
    if loaded.config.canary is not None:
        from evalgate.canary.plan import load_plan

        try:
            load_plan(loaded.path)
        except ConfigError as exc:
            errors.append(exc)
    return Findings(project, tuple(errors), tuple(warnings))


def render_problems(errors: tuple[ConfigError, ...], limit: int = MAX_LINES) -> list[str]:
    """One ``error: file:line: ...`` block per problem, sorted by file and line, at most ``limit`` lines."""
    ordered = sorted(errors, key=lambda e: (e.file or "", e.line or 0))
    lines: list[str] = []
    for index, exc in enumerate(ordered):
        block = f"error: {exc}".splitlines()
        if len(lines) + len(block) > limit - 1 and index < len(ordered) - 1:
            lines.append(f"... and {len(ordered) - index} more errors (fix these and run validate again)")
            break
        lines += block
    files = len({e.file for e in errors})
    lines.append(
        f"{len(errors)} error{'s' if len(errors) != 1 else ''} in {files} file{'s' if files != 1 else ''}"
    )
    return lines
