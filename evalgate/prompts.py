"""Prompt templates: Jinja2 files rendered strictly with each case's vars."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2

from evalgate.config import LoadedConfig
from evalgate.errors import ConfigError
from evalgate.suite import Case


class PromptLibrary:
    """The named templates of one config, compiled once."""

    def __init__(self, loaded: LoadedConfig) -> None:
        self._env = jinja2.Environment(
            undefined=jinja2.StrictUndefined,
            autoescape=False,  # prompts are plain text, not HTML
            keep_trailing_newline=False,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self._templates: dict[str, jinja2.Template] = {}
        self._files: dict[str, str] = {}
        for name, rel in loaded.config.prompts.items():
            path = loaded.resolve(rel)
            self._files[name] = rel
            self._templates[name] = self._compile(loaded, name, rel, path)

    def _compile(self, loaded: LoadedConfig, name: str, rel: str, path: Path) -> jinja2.Template:
        try:
            source = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise loaded.error(
                f"prompt file '{rel}' not found", ("prompts", name), fix=f"create {rel} or fix the path"
            ) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise loaded.error(f"cannot read prompt file '{rel}': {exc}", ("prompts", name)) from None
        try:
            return self._env.from_string(source)
        except jinja2.TemplateSyntaxError as exc:
            raise ConfigError(
                f"template syntax error: {exc.message}",
                file=rel,
                line=exc.lineno,
                fix="Jinja2 syntax: {{ var }} for values, {% if %}...{% endif %} for logic",
            ) from None

    @property
    def names(self) -> list[str]:
        return list(self._templates)

    def render(self, case: Case) -> str:
        """The text sent to the model for this case."""
        spec = case.spec
        if spec.input is not None:
            return spec.input
        assert spec.prompt is not None  # CaseSpec guarantees input xor prompt
        template = self._templates.get(spec.prompt)
        if template is None:
            known = ", ".join(sorted(self._templates)) or "none are defined"
            raise ConfigError(
                f"unknown prompt '{spec.prompt}'",
                file=case.suite,
                line=case.line,
                where=f"case {case.id}",
                fix=f"add it under 'prompts:' in evalgate.yaml; known prompts: {known}",
            )
        try:
            return template.render(**_vars(spec.vars))
        except jinja2.UndefinedError as exc:
            raise ConfigError(
                f"prompt '{spec.prompt}' ({self._files[spec.prompt]}) needs a variable the case does not "
                f"provide: {exc.message}",
                file=case.suite,
                line=case.line,
                where=f"case {case.id}",
                fix="add it under the case's 'vars:'",
            ) from None
        except jinja2.TemplateError as exc:
            raise ConfigError(
                f"rendering prompt '{spec.prompt}' failed: {exc}", file=case.suite, line=case.line
            ) from None


def _vars(values: dict[str, Any]) -> dict[str, Any]:
    return {str(k): v for k, v in values.items()}
