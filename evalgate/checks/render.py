"""``{{ var }}`` inside check values, rubrics and patterns, filled in with the case's vars at load time."""

from __future__ import annotations

import functools
import json
import re
from typing import Any

import jinja2
import jinja2.sandbox

from evalgate.errors import ConfigError

# Only text that plainly uses a template ('{{ name', '{%') is rendered, so a regex like '\{{2}' or a
# JSON example with '{{' followed by a quote stays as written.
_TEMPLATE = re.compile(r"\{\{\s*[A-Za-z_]|\{%")
_RAW_KEYS = {"type", "judge_prompt"}


@functools.cache
def _env() -> jinja2.Environment:
    # sandboxed: check values are text a pull request may write; a plain Environment would let
    # {{ ''.__class__.__mro__ }} reach arbitrary Python
    env = jinja2.sandbox.SandboxedEnvironment(
        undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True
    )
    env.filters["dump"] = lambda value, indent=None: json.dumps(value, indent=indent, ensure_ascii=False)
    return env


def render_text(text: str, variables: dict[str, Any]) -> str:
    """``text`` with its template expressions filled in; jinja2 errors propagate."""
    if not _TEMPLATE.search(text):
        return text
    return _env().from_string(text).render(**variables)


def _render(value: Any, variables: dict[str, Any]) -> Any:
    if isinstance(value, str):
        return render_text(value, variables)
    if isinstance(value, list):
        return [_render(v, variables) for v in value]
    if isinstance(value, dict):
        # judge_prompt is filled in when the judge is asked ({{ output }} is only known then)
        return {k: (v if k in _RAW_KEYS else _render(v, variables)) for k, v in value.items()}
    return value


def render_check_vars(case: dict[str, Any], *, file: str, line: int) -> dict[str, Any]:
    """A copy of a raw case mapping whose checks have ``{{ var }}`` filled from its vars."""
    checks = case.get("checks")
    if not isinstance(checks, list) or not checks:
        return case
    variables = case.get("vars") if isinstance(case.get("vars"), dict) else {}
    assert isinstance(variables, dict)
    try:
        rendered = _render(checks, {str(k): v for k, v in variables.items()})
    except jinja2.UndefinedError as exc:
        raise ConfigError(
            f"a check uses a variable the case does not define: {exc.message}",
            file=file,
            line=line,
            where=f"case {case.get('id')}",
            fix="add it under the case's 'vars:' (or the suite's defaults.vars)",
        ) from None
    except jinja2.TemplateError as exc:
        raise ConfigError(
            f"template error in a check: {exc}",
            file=file,
            line=line,
            where=f"case {case.get('id')}",
            fix="write {% raw %}{{{% endraw %} for a literal '{{'",
        ) from None
    return {**case, "checks": rendered}
