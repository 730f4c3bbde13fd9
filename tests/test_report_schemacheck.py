"""The compiled schema check gives jsonschema's answer for every form it writes out inline.

Each form is checked as a property of an object (where the generated code inlines it), against values
of every JSON kind, valid and invalid: wrong item types, null where it is not allowed, integral floats,
values out of bounds, missing, extra and unknown keys.
"""

from __future__ import annotations

from typing import Any

import pytest
from jsonschema import Draft202012Validator

from evalgate.report.schemacheck import compile_schema

_OBJ = {
    "type": "object",
    "required": ["a"],
    "additionalProperties": False,
    "properties": {"a": {"type": "integer", "minimum": 0}, "b": {"type": ["string", "null"]}},
}
_DEFS = {
    "obj": _OBJ,
    "unit": {"type": "number", "minimum": 0, "maximum": 1},
    "nullable": {"type": ["integer", "null"]},
    "to-obj": {"$ref": "#/$defs/obj"},
}

FORMS: dict[str, Any] = {
    "string": {"type": "string"},
    "integer-at-least-0": {"type": "integer", "minimum": 0},
    "number-or-null-in-0-1": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
    "boolean-or-integer-bounded": {"type": ["boolean", "integer"], "minimum": 1},
    "object-or-null": {"type": ["object", "null"]},
    "any-array": {"type": "array"},
    "array-of-strings": {"type": "array", "items": {"type": "string"}},
    "array-of-bounded-integers": {"type": "array", "items": {"type": "integer", "minimum": 0}},
    "array-of-arrays-of-numbers": {"type": "array", "items": {"type": "array", "items": {"type": "number"}}},
    "array-of-refs": {"type": "array", "items": {"$ref": "#/$defs/obj"}},
    "array-of-objects": {"type": "array", "items": _OBJ},
    "array-of-string-enums": {"type": "array", "items": {"enum": ["x", "y"]}},
    "items-without-type": {"items": {"type": "string"}},
    "string-enum": {"enum": ["passed", "failed"]},
    "mixed-enum": {"enum": ["passed", 1, None]},
    "const": {"const": 1},
    "null-or-ref": {"oneOf": [{"type": "null"}, {"$ref": "#/$defs/obj"}]},
    "ref-or-null": {"oneOf": [{"$ref": "#/$defs/unit"}, {"type": "null"}]},
    "null-or-leaf": {"oneOf": [{"type": "null"}, {"type": "integer", "minimum": 0}]},
    "null-or-nullable": {"oneOf": [{"type": "null"}, {"type": ["integer", "null"]}]},
    "null-or-anything": {"oneOf": [{"type": "null"}, {}]},
    "null-or-array": {"oneOf": [{"type": "null"}, {"type": "array", "items": {"type": "string"}}]},
    "null-or-object": {"oneOf": [{"type": "null"}, _OBJ]},
    "null-or-enum": {"oneOf": [{"type": "null"}, {"enum": ["x"]}]},
    "null-or-ref-to-nullable": {"oneOf": [{"type": "null"}, {"$ref": "#/$defs/nullable"}]},
    "null-or-ref-to-ref": {"oneOf": [{"type": "null"}, {"$ref": "#/$defs/to-obj"}]},
    "object": _OBJ,
    "two-nulls": {"oneOf": [{"type": "null"}, {"type": "null"}]},
    "ref": {"$ref": "#/$defs/unit"},
    "ref-to-ref": {"$ref": "#/$defs/to-obj"},
}

VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    1,
    2,
    1.0,
    1.5,
    -0.5,
    "passed",
    "x",
    "",
    [],
    ["x"],
    ["x", "y"],
    ["x", 1],
    [None],
    [0, 1],
    [0, -1],
    [1.0],
    [2.5],
    [True],
    [[1, 2.5], []],
    [[1], ["x"]],
    [{"a": 1}],
    [{"a": 1}, {"a": -1}],
    [{"a": 1, "b": None}],
    [{"a": 1, "b": 2}],
    [{"b": "x"}],
    [{"a": 1, "z": 1}],
    {},
    {"a": 1},
    {"a": 1.0, "b": "x"},
    {"a": None},
]


def _disagreements(schema: dict[str, Any], docs: list[Any]) -> list[tuple[Any, bool]]:
    check = compile_schema(schema)
    validator = Draft202012Validator(schema)
    return [(doc, validator.is_valid(doc)) for doc in docs if check(doc) != validator.is_valid(doc)]


@pytest.mark.parametrize("form", list(FORMS.values()), ids=list(FORMS))
def test_an_inlined_property_agrees_with_jsonschema(form: Any) -> None:
    closed = {
        "$defs": _DEFS,
        "type": "object",
        "required": ["p"],
        "additionalProperties": False,
        "properties": {"p": form, "q": form},
    }
    docs = [doc for v in VALUES for doc in ({"p": v}, {"p": v, "q": v}, {"q": v}, {"p": v, "z": v})]
    assert _disagreements(closed, docs) == []
    open_ = {**closed, "additionalProperties": form}  # the extra keys' schema is inlined too
    assert _disagreements(open_, docs) == []
    assert _disagreements({**closed, "additionalProperties": True}, docs) == []


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "object", "required": ["a", "x"], "properties": {"a": {"type": "integer"}}},
        {"type": "object", "required": ["a", "x"], "additionalProperties": False, "properties": {"a": {}}},
        {"type": "object", "additionalProperties": False, "properties": {"a": {}, "b": {"type": "string"}}},
        {"type": "object", "required": ["a"], "properties": {"a": {}, "b": {"type": "string"}}},
        {"required": ["a"], "properties": {"a": {"type": "integer"}}},
        {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0}},
    ],
    ids=[
        "required-not-listed",
        "closed-required-not-listed",
        "closed-all-optional",
        "open",
        "untyped",
        "map",
    ],
)
def test_object_key_rules_agree_with_jsonschema(schema: dict[str, Any]) -> None:
    docs: list[Any] = [
        None,
        [],
        "a",
        {},
        {"a": 1},
        {"a": 1.0},
        {"a": "1"},
        {"x": 1},
        {"a": 1, "x": 1},
        {"a": 1, "b": "s"},
        {"a": 1, "b": 2},
        {"b": "s"},
        {"a": 1, "b": "s", "x": -1},
        {"a": 1, "z": 2},
    ]
    assert _disagreements(schema, docs) == []


def test_a_recursive_schema_calls_itself_where_it_cannot_be_written_out() -> None:
    schema = {
        "$defs": {
            "node": {
                "type": "object",
                "required": ["v"],
                "additionalProperties": False,
                "properties": {
                    "v": {"type": "integer"},
                    "next": {"oneOf": [{"type": "null"}, {"$ref": "#/$defs/node"}]},
                    "kids": {"type": "array", "items": {"$ref": "#/$defs/node"}},
                },
            }
        },
        "$ref": "#/$defs/node",
    }
    deep: dict[str, Any] = {"v": 0}
    for i in range(1, 30):
        deep = {"v": i, "next": deep, "kids": [{"v": -i}, {"v": i, "next": None}]}
    docs: list[Any] = [
        deep,
        {"v": 1, "next": {"v": 2, "next": {"v": "3"}}},
        {"v": 1, "kids": [{"v": 1, "x": 1}]},
    ]
    docs += [{"v": 1, "next": {"v": 2, "kids": [{"next": None}]}}, {"v": 1, "next": {}}, None, {"v": None}]
    assert _disagreements(schema, docs) == []
    assert compile_schema(schema)(deep) is True
