"""Plain ``{{ name }}`` templates are filled without Jinja2, and must come out exactly as Jinja2's."""

from __future__ import annotations

from typing import Any

import jinja2
import jinja2.sandbox
import pytest

from evalgate.templating import Flavour, TemplateFailed, TemplateUndefined, compile_template

PROMPT = Flavour(keep_trailing_newline=False, trim_blocks=True, lstrip_blocks=True)
CHECK = Flavour(keep_trailing_newline=True)

VARIABLES: dict[str, Any] = {
    "name": "Ada",
    "n": 3,
    "x": 1.5,
    "flag": True,
    "nothing": None,
    "items": [1, "two", None],
    "data": {"k": "v", "n": 1},
    "text": "line one\nline two",
    "unicode": "café ☕",
    "braces": "{{ not a template }}",
}

SOURCES = [
    "",
    "\n",
    "plain text, no holes",
    "plain text with a newline\n",
    "two newlines at the end\n\n",
    "Answer briefly: {{ name }}\n",
    "{{name}}",
    "{{\tname\t}}",
    "{{ n }} + {{ x }} = ? {{ flag }} {{ nothing }}",
    "list {{ items }} and dict {{ data }}",
    "windows\r\nline endings {{ name }}\r\n",
    "old mac\rline endings\r",
    "a value with newlines: {{ text }}\n",
    "a value that looks like a template: {{ braces }}",
    "unicode {{ unicode }} in text é",
    "closing braces }} in text {{ name }}}",
    "single { brace and } other",
    "{{ name }}{{ name }}{{ name }}",
    "  indented {{ name }}\n  more\n",
    "{{ true }} {{ none }} {{ False }}",
    "{{ name.upper() }}",
    "{{ name | upper }}",
    "{{- name -}} trimmed",
    "{% if flag %}yes {{ name }}{% endif %}\n",
    "{# a comment #}{{ name }}",
    "{{ data.k }} {{ items[1] }}",
    "{{ name ~ '!' }}",
    "{{\nname\n}}",
    "{ {{ name }} }",
]


def _jinja(source: str, flavour: Flavour, variables: dict[str, Any]) -> str:
    env = jinja2.sandbox.SandboxedEnvironment(
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=flavour.keep_trailing_newline,
        trim_blocks=flavour.trim_blocks,
        lstrip_blocks=flavour.lstrip_blocks,
    )
    return env.from_string(source).render(**variables)


@pytest.mark.parametrize("flavour", [PROMPT, CHECK], ids=["prompt", "check"])
@pytest.mark.parametrize("source", SOURCES)
def test_renders_exactly_as_jinja2(source: str, flavour: Flavour) -> None:
    assert compile_template(source, flavour).render(VARIABLES) == _jinja(source, flavour, VARIABLES)


@pytest.mark.parametrize(
    ("source", "plain"),
    [
        ("Answer briefly: {{ question }}\n", True),
        ("no holes at all", True),
        ("{{a}} and {{ b }}\r\n", True),
        ("{{ true }}", False),  # a literal, not a variable
        ("{{ a.b }}", False),
        ("{{ a | upper }}", False),
        ("{{- a }}", False),
        ("{% if a %}{% endif %}", False),
        ("{# note #}", False),
        ("{{\na\n}}", False),
        ("nul \0 byte {{ a }}", False),
        ("{ {{ a }} }", True),
    ],
)
def test_only_text_and_plain_holes_skip_jinja2(source: str, plain: bool) -> None:
    assert compile_template(source, PROMPT).plain is plain


def test_an_undefined_name_is_worded_by_jinja2() -> None:
    template = compile_template("Hello {{ who }}", PROMPT)
    assert template.plain
    with pytest.raises(TemplateUndefined, match="'who' is undefined"):
        template.render({"name": "Ada"})
    with pytest.raises(TemplateUndefined, match="'who' is undefined"):
        compile_template("{{ who | upper }}", PROMPT).render({})


def test_a_brace_before_a_hole_is_left_to_jinja2() -> None:
    """'{{{ a }}}' is '{{' and then a dict literal to Jinja2 (a syntax error), not '{' and a hole."""
    with pytest.raises(TemplateFailed, match="expected token"):
        compile_template("{{{ a }}}", PROMPT)


def test_syntax_errors_carry_their_line() -> None:
    with pytest.raises(TemplateFailed) as caught:
        compile_template("line one\n{% if %}\n", PROMPT)
    assert caught.value.line == 2
    assert not isinstance(caught.value, TemplateUndefined)


def test_the_sandbox_still_guards_what_goes_to_jinja2() -> None:
    with pytest.raises(TemplateFailed, match="unsafe"):
        compile_template("{{ name.__class__.__mro__[1].__subclasses__() }}", PROMPT).render(VARIABLES)


def test_the_dump_filter_of_promptfoo_templates() -> None:
    assert compile_template("{{ data | dump }}", PROMPT).render(VARIABLES) == '{"k": "v", "n": 1}'


def test_the_load_filter_of_promptfoo_templates_parses_json() -> None:
    variables = {"style": '{"tone": "formal", "length": "brief"}'}
    template = compile_template("Tone: {{ (style | load).tone }}", PROMPT)
    assert template.render(variables) == "Tone: formal"
    with pytest.raises(TemplateFailed, match=r"load: the value is not JSON \(Expecting value at char 0\)"):
        template.render({"style": "formal"})


def test_a_variable_named_self_is_no_crash() -> None:
    """Vars go to Jinja2's render() as one dict: as keywords, ``self`` collided with its own argument
    (a TypeError, an internal error). In a template ``self`` is Jinja2's, so it renders as Jinja2's."""
    for source in ("{{ self }}", "{{ self | upper }}"):
        rendered = compile_template(source, PROMPT).render({"self": "me", "x": 1})
        assert rendered.lower() == "<templatereference none>"
