"""Jinja2 templates, with plain ``{{ name }}`` substitution done without Jinja2.

Nearly every prompt file and templated check value is text with a few ``{{ name }}`` holes. Compiling
and rendering those through Jinja2 costs an import of about 25 ms at start-up and tens of microseconds
per case; ``compile_template`` recognises them and fills the holes itself, exactly as Jinja2 would
(``str`` of the value, line endings read as ``\\n``, the one trailing newline dropped unless kept).
Anything else (filters, attributes, blocks, comments, whitespace control, a name the case does not
define) goes to Jinja2's sandbox, which also words every error.

Errors come out as ``TemplateUndefined`` (a name the vars do not define) or ``TemplateFailed`` (any other
Jinja2 error), so callers need not import Jinja2 to catch them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import jinja2


class TemplateFailed(Exception):
    """A template failed to compile or render; ``line`` is its line when Jinja2 knew it."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


class TemplateUndefined(TemplateFailed):
    """The template uses a variable the vars do not define."""


@dataclass(frozen=True)
class Flavour:
    """How a family of templates is read: prompts trim blocks, check values keep their last newline."""

    keep_trailing_newline: bool = False
    trim_blocks: bool = False
    lstrip_blocks: bool = False


# Names Jinja2 reads as literals or operators, or binds itself (``self``), never as a plain variable
# lookup: left to Jinja2.
_NOT_NAMES = frozenset(
    {"true", "false", "none", "True", "False", "None", "and", "or", "not", "in", "is", "if", "else", "self"}
)
_HOLE = re.compile(r"\{\{[ \t]*([A-Za-z_][A-Za-z0-9_]*)[ \t]*\}\}")
_NEWLINES = re.compile(r"\r\n|\r|\n")
_OPENERS = ("{{", "{%", "{#")


class Template:
    """A compiled template; ``render`` fills it from a mapping of variables."""

    __slots__ = ("_flavour", "_jinja", "_parts", "_source")

    def __init__(self, source: str, flavour: Flavour) -> None:
        self._source = source
        self._flavour = flavour
        self._parts = _plain_parts(source, flavour)
        self._jinja: jinja2.Template | None = None
        if self._parts is None:
            self._jinja = _compile(source, flavour)

    @property
    def plain(self) -> bool:
        """True when the template is text and ``{{ name }}`` holes only (rendered without Jinja2)."""
        return self._parts is not None

    def render(self, variables: Mapping[str, Any]) -> str:
        parts = self._parts
        if parts is not None:
            try:
                # even indexes are text, odd ones are the names of the holes between them
                return "".join([p if i % 2 == 0 else str(variables[p]) for i, p in enumerate(parts)])
            except KeyError:
                pass  # an undefined name: Jinja2 words the error
        return _render(self._jinja_template(), variables)

    def _jinja_template(self) -> jinja2.Template:
        if self._jinja is None:
            self._jinja = _compile(self._source, self._flavour)
        return self._jinja


def _plain_parts(source: str, flavour: Flavour) -> tuple[str, ...] | None:
    """Text and hole names alternating, or None when the source needs Jinja2."""
    if "{" not in source:
        holes: list[str] = [source]
    else:
        holes = _HOLE.split(source)
        for i, piece in enumerate(holes):
            if i % 2 == 1:
                if piece in _NOT_NAMES:
                    return None
            elif any(opener in piece for opener in _OPENERS) or (i < len(holes) - 1 and piece[-1:] == "{"):
                return None  # a tag, or a brace that makes '{{{' with the hole after it
    # Jinja2 reads every line ending as '\n' and drops the template's last one unless told to keep it
    lines = _NEWLINES.split("\0".join(holes))
    if not flavour.keep_trailing_newline and len(lines) > 1 and lines[-1] == "":
        lines.pop()
    return tuple("\n".join(lines).split("\0")) if "\0" not in source else None


def compile_template(source: str, flavour: Flavour) -> Template:
    """``source`` compiled; ``TemplateFailed`` (with its line) when Jinja2 cannot parse it."""
    return Template(source, flavour)


def _environment(flavour: Flavour) -> jinja2.Environment:
    import jinja2
    import jinja2.sandbox

    # sandboxed: templates are text a pull request may write, and a plain Environment lets
    # {{ ''.__class__.__mro__ }} reach arbitrary Python, with the job's secrets in reach
    env = jinja2.sandbox.SandboxedEnvironment(
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # prompts are plain text, not HTML
        keep_trailing_newline=flavour.keep_trailing_newline,
        trim_blocks=flavour.trim_blocks,
        lstrip_blocks=flavour.lstrip_blocks,
    )
    env.filters["dump"] = _dump  # promptfoo's Nunjucks 'dump' filter, so imported templates render the same
    env.filters["load"] = _load  # and its 'load' filter (JSON.parse)
    return env


_ENVIRONMENTS: dict[Flavour, jinja2.Environment] = {}


def _compile(source: str, flavour: Flavour) -> jinja2.Template:
    import jinja2

    env = _ENVIRONMENTS.get(flavour)
    if env is None:
        env = _ENVIRONMENTS.setdefault(flavour, _environment(flavour))
    try:
        return env.from_string(source)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateFailed(exc.message or str(exc), exc.lineno) from None


def _render(template: jinja2.Template, variables: Mapping[str, Any]) -> str:
    import jinja2

    try:
        return template.render(dict(variables))  # a dict, not keywords: a var may be named "self"
    except jinja2.UndefinedError as exc:
        raise TemplateUndefined(exc.message or str(exc)) from None
    except jinja2.TemplateError as exc:
        raise TemplateFailed(str(exc), getattr(exc, "lineno", None)) from None


def _dump(value: Any, indent: int | None = None) -> str:
    return json.dumps(value, indent=indent, ensure_ascii=False, default=str)


def _load(text: Any) -> Any:
    import jinja2

    try:
        return json.loads(text) if isinstance(text, str | bytes) else text
    except json.JSONDecodeError as exc:
        raise jinja2.TemplateRuntimeError(
            f"load: the value is not JSON ({exc.msg} at char {exc.pos})"
        ) from None
