"""Prompt templates: Jinja2 files rendered strictly (and sandboxed) with each case's vars.

A ``.txt`` (or any other) file is one template. A ``.json``/``.yaml``/``.yml`` file is a chat: a list of
``{role, content}`` messages, each content a template. ``system`` messages become the system prompt; the
last ``user`` message is the prompt, and the user/assistant turns before it are sent before it (few-shot).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from evalgate.config import LoadedConfig
from evalgate.errors import ConfigError
from evalgate.suite import Case
from evalgate.templating import Flavour, Template, TemplateFailed, TemplateUndefined, compile_template

CHAT_SUFFIXES = (".json", ".yaml", ".yml")
# prompt files end with a newline the model should not get; blocks do not leave blank lines behind
PROMPT_TEXT = Flavour(keep_trailing_newline=False, trim_blocks=True, lstrip_blocks=True)


class PromptLibrary:
    """The named templates of one config, compiled once."""

    def __init__(self, loaded: LoadedConfig, errors: list[ConfigError] | None = None) -> None:
        self._templates: dict[str, Template] = {}
        self._systems: dict[str, Template] = {}
        self._histories: dict[str, list[tuple[str, Template]]] = {}
        self._files: dict[str, str] = {}
        self.broken: set[str] = set()  # prompts that failed to load (only when collecting errors)
        for name, rel in loaded.config.prompts.items():
            path = loaded.resolve(rel)
            self._files[name] = rel
            try:
                self._templates[name] = self._compile(loaded, name, rel, path)
            except ConfigError as exc:
                if errors is None:
                    raise
                errors.append(exc)
                self.broken.add(name)

    def _compile(self, loaded: LoadedConfig, name: str, rel: str, path: Path) -> Template:
        try:
            source = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise loaded.error(
                f"prompt file '{rel}' not found", ("prompts", name), fix=f"create {rel} or fix the path"
            ) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise loaded.error(f"cannot read prompt file '{rel}': {exc}", ("prompts", name)) from None
        if path.suffix in CHAT_SUFFIXES:
            user, system, history = self._chat(loaded, name, rel, source)
            if system is not None:
                self._systems[name] = self._template(system, rel)
            if history:
                self._histories[name] = [(role, self._template(text, rel)) for role, text in history]
            return self._template(user, rel)
        return self._template(source, rel)

    def _chat(
        self, loaded: LoadedConfig, name: str, rel: str, source: str
    ) -> tuple[str, str | None, list[tuple[str, str]]]:
        """``(last user message, system text, earlier user/assistant turns)`` of a chat prompt file."""
        import yaml  # only chat prompt files need it

        try:
            messages = yaml.safe_load(source)
        except yaml.YAMLError as exc:
            raise ConfigError(f"chat prompt is not valid JSON/YAML: {exc}", file=rel) from None
        shape = "a list of {role: system|user|assistant, content: text} messages ending with a user message"
        if not isinstance(messages, list) or not messages:
            raise ConfigError(f"a .json/.yaml prompt must be {shape}", file=rel, fix="or use a .txt template")
        systems: list[str] = []
        turns: list[tuple[str, str]] = []
        for index, message in enumerate(messages):
            if not isinstance(message, dict) or not isinstance(message.get("content"), str):
                raise ConfigError(f"message {index + 1} is not {{role, content: text}}", file=rel, fix=shape)
            role = message.get("role")
            if role == "system":
                systems.append(message["content"])
            elif role in ("user", "assistant"):
                turns.append((str(role), message["content"]))
            else:
                raise ConfigError(f"message {index + 1} has role {role!r}", file=rel, fix=shape)
        if not turns or turns[-1][0] != "user":
            raise ConfigError("a chat prompt must end with a user message", file=rel, fix=shape)
        return turns[-1][1], ("\n\n".join(systems) if systems else None), turns[:-1]

    def _template(self, source: str, rel: str) -> Template:
        try:
            return compile_template(source, PROMPT_TEXT)
        except TemplateFailed as exc:
            raise ConfigError(
                f"template syntax error: {exc.message}",
                file=rel,
                line=exc.line,
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
        return self._render(case, spec.prompt, self._templates.get(spec.prompt))

    def render_history(self, case: Case) -> tuple[tuple[str, str], ...]:
        """The earlier user/assistant turns a chat prompt file gives this case (rendered), if any."""
        spec = case.spec
        if spec.prompt is None or spec.prompt not in self._histories:
            return ()
        return tuple((role, self._render(case, spec.prompt, t)) for role, t in self._histories[spec.prompt])

    def render_system(self, case: Case) -> str | None:
        """The system prompt a chat prompt file gives this case, if any."""
        spec = case.spec
        if spec.prompt is None or spec.prompt not in self._systems:
            return None
        return self._render(case, spec.prompt, self._systems[spec.prompt])

    def _render(self, case: Case, name: str, template: Template | None) -> str:
        spec = case.spec
        if template is None:
            known = ", ".join(sorted(self._templates)) or "none are defined"
            raise ConfigError(
                f"unknown prompt '{spec.prompt}'",
                file=case.suite,
                line=case.line,
                where=f"case {case.id}",
                fix=f"add it under 'prompts:' in evalgate.yaml; known prompts: {known}",
            )
        assert spec.prompt is not None
        try:
            return template.render(_vars(spec.vars))
        except TemplateUndefined as exc:
            raise ConfigError(
                f"prompt '{spec.prompt}' ({self._files[spec.prompt]}) needs a variable the case does not "
                f"provide: {exc.message}",
                file=case.suite,
                line=case.line,
                where=f"case {case.id}",
                fix="add it under the case's 'vars:'",
            ) from None
        except TemplateFailed as exc:
            raise ConfigError(
                f"rendering prompt '{spec.prompt}' failed: {exc}", file=case.suite, line=case.line
            ) from None


def _vars(values: dict[str, Any]) -> dict[str, Any]:
    return {str(k): v for k, v in values.items()}
