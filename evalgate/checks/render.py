"""``{{ var }}`` inside check values, rubrics and patterns, filled in with the case's vars at load time."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from evalgate.errors import ConfigError
from evalgate.templating import Flavour, Template, TemplateFailed, TemplateUndefined, compile_template

# Only text that plainly uses a template ('{{ name', '{%') is rendered, so a regex like '\{{2}' or a
# JSON example with '{{' followed by a quote stays as written.
_TEMPLATE = re.compile(r"\{\{\s*[A-Za-z_]|\{%")
_RAW_KEYS = {"type", "judge_prompt"}
_CHECK_TEXT = Flavour(keep_trailing_newline=True)


@lru_cache(maxsize=4096)
def _compiled(text: str) -> Template:
    return compile_template(text, _CHECK_TEXT)  # the same check text recurs across a suite's cases


def render_text(text: str, variables: dict[str, Any]) -> str:
    """``text`` with its template expressions filled in; ``TemplateFailed`` propagates."""
    if "{" not in text or not _TEMPLATE.search(text):
        return text
    return _compiled(text).render(variables)


def _render(value: Any, variables: dict[str, Any]) -> Any:
    if isinstance(value, str):
        return render_text(value, variables)
    if isinstance(value, list):
        return [_render(v, variables) for v in value]
    if isinstance(value, dict):
        # judge_prompt is filled in when the judge is asked ({{ output }} is only known then)
        return {k: (v if k in _RAW_KEYS else _render(v, variables)) for k, v in value.items()}
    return value


def _templated(value: Any) -> bool:
    """Whether any text in ``value`` (outside the raw keys) is a template; a quick scan, nothing built."""
    kind = type(value)
    if kind is str:
        return "{" in value and _TEMPLATE.search(value) is not None
    if kind is list:
        return any(_templated(v) for v in value)
    if kind is dict:
        return any(_templated(v) for k, v in value.items() if k not in _RAW_KEYS)
    return False


def render_check_vars(case: dict[str, Any], *, file: str, line: int) -> dict[str, Any]:
    """A copy of a raw case mapping whose checks have ``{{ var }}`` filled from its vars."""
    checks = case.get("checks")
    if not isinstance(checks, list) or not checks or not _templated(checks):
        return case  # almost every case: no template in its checks
    variables = case.get("vars") if isinstance(case.get("vars"), dict) else {}
    assert isinstance(variables, dict)
    try:
        rendered = _render(checks, {str(k): v for k, v in variables.items()})
    except TemplateUndefined as exc:
        raise ConfigError(
            f"a check uses a variable the case does not define: {exc.message}",
            file=file,
            line=line,
            where=f"case {case.get('id')}",
            fix="add it under the case's 'vars:' (or the suite's defaults.vars)",
        ) from None
    except TemplateFailed as exc:
        raise ConfigError(
            f"template error in a check: {exc}",
            file=file,
            line=line,
            where=f"case {case.get('id')}",
            fix="write {% raw %}{{{% endraw %} for a literal '{{'",
        ) from None
    return {**case, "checks": rendered}
