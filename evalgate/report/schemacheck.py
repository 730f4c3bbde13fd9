"""A JSON Schema subset compiled to plain Python predicates, for reading big reports back quickly.

``jsonschema`` walks the schema for every value it checks: about 1 ms per case of a report, so 10 s for
10,000 cases that every baseline comparison and shard merge reads. The report schema only uses a small,
strict subset of JSON Schema (types, required, properties, closed objects, items, enum/const, minimum,
maximum, oneOf, local ``$ref``), and that subset compiles to nested closures that answer "valid or not"
about a hundred times faster. Only the yes/no answer comes from here: when a report is invalid, the
caller asks ``jsonschema`` for the message, so errors read exactly as before.

A schema using anything outside the subset raises ``Unsupported`` at compile time (the caller then uses
``jsonschema`` for everything); a test keeps the shipped schema inside the subset and checks the two agree.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

Check = Callable[[Any], bool]

# Keywords that only describe; they never change what is valid.
_ANNOTATIONS = frozenset(
    {"$schema", "$id", "$defs", "title", "description", "$comment", "examples", "default"}
)
_SUPPORTED = frozenset(
    {
        "type",
        "const",
        "enum",
        "required",
        "properties",
        "additionalProperties",
        "items",
        "minimum",
        "maximum",
        "oneOf",
        "$ref",
    }
)


class Unsupported(Exception):
    """The schema uses a keyword or form this compiler does not implement."""


_PY_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "boolean": (bool,),
    "null": (type(None),),
    "object": (dict,),
    "array": (list,),
    "number": (int, float),  # exact types: bool is an int subclass but not a JSON number
}
_NUMBERS = frozenset({int, float})


def _type_check(kinds: list[str]) -> Check:
    exact = frozenset(t for k in kinds if k != "integer" for t in _PY_TYPES[k])
    if "integer" in kinds and float not in exact:
        # JSON Schema: a number with no fractional part (1.0 counts); booleans are not numbers
        with_int = exact | {int}
        return lambda v: type(v) in with_int or (type(v) is float and v.is_integer())
    if len(exact) == 1:
        (only,) = exact
        return lambda v: type(v) is only
    return lambda v: type(v) in exact


def _json_equal(a: Any, b: Any) -> bool:
    if type(a) is bool or type(b) is bool:
        return type(a) is type(b) and a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    return bool(a == b)


def compile_schema(schema: Mapping[str, Any]) -> Check:
    """A predicate equivalent to validating against ``schema`` (the root of a document, for ``$ref``)."""
    compiled: dict[str, Check] = {}

    def ref(pointer: str) -> Check:
        if not pointer.startswith("#/"):
            raise Unsupported(f"$ref {pointer!r} is not local")
        if pointer not in compiled:
            target: Any = schema
            for part in pointer[2:].split("/"):
                part = part.replace("~1", "/").replace("~0", "~")
                if not isinstance(target, Mapping) or part not in target:
                    raise Unsupported(f"$ref {pointer!r} points nowhere")
                target = target[part]
            slot: list[Check] = []
            compiled[pointer] = lambda v: slot[0](v)  # recursion-safe placeholder
            slot.append(build(target))
            compiled[pointer] = slot[0]
        return compiled[pointer]

    def build(node: Any) -> Check:
        if node is True or node == {}:
            return lambda v: True
        if node is False:
            return lambda v: False
        if not isinstance(node, Mapping):
            raise Unsupported(f"schema {node!r} is not an object")
        unknown = set(node) - _SUPPORTED - _ANNOTATIONS
        if unknown:
            raise Unsupported(f"keywords {sorted(unknown)}")
        checks: list[Check] = []
        if "$ref" in node:
            checks.append(ref(node["$ref"]))
        kind = node.get("type")
        kinds = [] if kind is None else [kind] if isinstance(kind, str) else list(kind)
        if any(k not in _PY_TYPES and k != "integer" for k in kinds):
            raise Unsupported(f"type {kind!r}")
        is_object = {"properties", "required", "additionalProperties"} & node.keys()
        if kinds and not (is_object and kinds == ["object"]):  # the object check tests the type itself
            checks.append(_type_check(kinds))
        if "const" in node:
            const = node["const"]
            checks.append(lambda v: _json_equal(v, const))
        if "enum" in node:
            options = list(node["enum"])
            if all(type(o) is str for o in options):
                allowed = frozenset(options)
                checks.append(lambda v: type(v) is str and v in allowed)
            else:
                checks.append(lambda v: any(_json_equal(v, o) for o in options))
        if "minimum" in node:
            low = node["minimum"]
            checks.append(lambda v: type(v) not in _NUMBERS or v >= low)
        if "maximum" in node:
            high = node["maximum"]
            checks.append(lambda v: type(v) not in _NUMBERS or v <= high)
        if is_object:
            checks.append(_object(node, build, must_be_object=kinds == ["object"]))
        if "items" in node:
            item = build(node["items"])
            checks.append(lambda v: type(v) is not list or all(map(item, v)))
        if "oneOf" in node:
            checks.append(_one_of(node["oneOf"], build))
        if not checks:
            return lambda v: True
        if len(checks) == 1:
            return checks[0]
        if len(checks) == 2:
            first, second = checks
            return lambda v: first(v) and second(v)
        return lambda v: all(c(v) for c in checks)

    return build(schema)


def _one_of(options: list[Any], build: Callable[[Any], Check]) -> Check:
    """Exactly one option holds. The report's usual form is "null or X": a value that is not null
    fails every ``{"type": "null"}`` option, so only the others are asked."""
    compiled = [build(o) for o in options]
    others = [c for o, c in zip(options, compiled, strict=True) if o != {"type": "null"}]
    if len(others) == len(compiled):
        return lambda v: sum(1 for o in compiled if o(v)) == 1
    if len(others) == 1:
        (other,) = others
        # null: the null options hold, so there must be exactly one of them and X must fail
        nulls = len(compiled) - 1
        return lambda v: other(v) if v is not None else (nulls == 1 and not other(v))
    return lambda v: (
        sum(1 for o in others if o(v)) == 1 if v is not None else sum(1 for o in compiled if o(v)) == 1
    )


_LEAF_KEYWORDS = frozenset({"type", "minimum", "maximum"}) | _ANNOTATIONS


def _leaf(node: Any) -> tuple[frozenset[type], bool, Any, Any] | None:
    """A property schema that is only a type (and bounds), checked inline rather than by a call."""
    if not isinstance(node, Mapping) or "type" not in node or not node.keys() <= _LEAF_KEYWORDS:
        return None
    kind = node["type"]
    kinds = [kind] if isinstance(kind, str) else list(kind)
    if any(k not in _PY_TYPES and k != "integer" for k in kinds) or "object" in kinds or "array" in kinds:
        return None
    exact = frozenset(t for k in kinds if k != "integer" for t in _PY_TYPES[k])
    integral_float = "integer" in kinds and float not in exact
    if "integer" in kinds:
        exact |= {int}
    return exact, integral_float, node.get("minimum"), node.get("maximum")


def _object(node: Mapping[str, Any], build: Callable[[Any], Check], *, must_be_object: bool) -> Check:
    """One generated function per object schema: each property checked inline, no loop, no lookups.

    (The loop over keys with a closure per property was most of the cost: a report holds tens of
    thousands of small objects.)
    """
    properties = dict(node.get("properties") or {})
    required = frozenset(node.get("required") or ())
    extra = node.get("additionalProperties", True)
    closed = extra is False
    names: dict[str, Any] = {"MISSING": object(), "NUMBERS": _NUMBERS, "REQUIRED": required}
    names["ALLOWED"] = frozenset(properties)
    lines = [
        "def check(v):",
        "    if type(v) is not dict:",
        f"        return {not must_be_object}",
        "    keys = v.keys()",
        "    if not REQUIRED <= keys:",
        "        return False",
    ]
    if closed:
        lines += ["    if not keys <= ALLOWED:", "        return False"]
    elif extra is not True:
        names["EXTRA"] = build(extra)
        lines += [
            "    for key in keys - ALLOWED:",
            "        if not EXTRA(v[key]):",
            "            return False",
        ]
    for i, (name, sub) in enumerate(properties.items()):
        names[f"K{i}"] = name
        if name in required:
            lines.append(f"    x = v[K{i}]")
            indent = "    "
        else:
            lines += [f"    x = v.get(K{i}, MISSING)", "    if x is not MISSING:"]
            indent = "        "
        leaf = _leaf(sub)
        if leaf is None:
            names[f"C{i}"] = build(sub)
            lines += [f"{indent}if not C{i}(x):", f"{indent}    return False"]
            continue
        types, integral_float, low, high = leaf
        names[f"T{i}"] = types
        if len(types) == 1:
            names[f"T{i}"] = next(iter(types))
            test = f"type(x) is not T{i}"
        else:
            test = f"type(x) not in T{i}"
        if integral_float:
            test += " and not (type(x) is float and x.is_integer())"
        lines += [f"{indent}if {test}:", f"{indent}    return False"]
        for word, bound, op in (("L", low, "<"), ("H", high, ">")):
            if bound is not None:
                names[f"{word}{i}"] = bound
                lines += [f"{indent}if type(x) in NUMBERS and x {op} {word}{i}:", f"{indent}    return False"]
    lines.append("    return True")
    # the source holds only generated names; every schema value is passed in through ``names``
    exec("\n".join(lines), names)
    check: Check = names["check"]
    return check
