"""The event-built YAML path gives exactly what the node tree gives, or steps aside."""

from __future__ import annotations

import pytest

from evalgate.yamlevents import load_plain
from evalgate.yamlsrc import YAML_LOADER, _shallow_lines, parse_yaml

SAME = [
    "",
    "# only a comment\n",
    "just text\n",
    "- a\n- 1\n- {b: c}\n",
    "model: {provider: openai, name: gpt-4o-2024-11-20, timeout_s: 30, params: {temperature: 0.2}}\n",
    "cases:\n  - id: a\n    input: 'x: y'\n    checks: [{type: contains, value: 'x'}]\n"
    '  - {id: b, input: "q"}\n',
    "values: [yes, no, on, off, y, n, true, False, null, ~, '', 0123, 0o17, 0x1F, 1_000, 1e3, .inf, -.nan]\n",
    "dates: [2024-05-01, 2024-05-01T12:00:00Z, 12:30, '2024-05-01']\n",
    "unicode: ünïcødé 🙂\nmultiline: |\n  line one\n  line two\nfolded: >\n  a\n  b\n",
    "1: int key\n2.5: float key\ntrue: bool key\nnull: null key\n",
    "nested:\n  deeper:\n    - - [1, 2]\n      - {x: [a, {y: z}]}\n",
    "top: 1\nlist:\n  - scalar\n  -\n  - [inner]\n  - {k: v}\nlast: {}\n",
    "---\nexplicit: start\n...\n",
    "! 123\n",
    "quoted: !  x\n",
]


@pytest.mark.parametrize("text", SAME)
def test_the_event_path_gives_the_node_paths_data_and_lines(text: str) -> None:
    fast = load_plain(text, YAML_LOADER)
    assert fast is not None
    doc = parse_yaml(text, "f.yaml")
    data, lines = fast
    assert repr(data) == repr(doc.data)  # repr: nan != nan, and 1 == True must not pass for equal
    assert lines == _shallow_lines(doc.node)


@pytest.mark.parametrize(
    "text",
    [
        "a: &x 1\nb: *x\n",
        "base: &b {k: v}\nother:\n  <<: *b\n",
        "tagged: !!str 12\n",
        "custom: !thing x\n",
        "a: 1\na: 2\n",
        "? [complex, key]\n: value\n",
        "one: 1\n---\ntwo: 2\n",
        "key: [unclosed\n",
        "set: !!set {a, b}\n",
    ],
)
def test_anything_unusual_is_left_to_the_node_path(text: str) -> None:
    assert load_plain(text, YAML_LOADER) is None
