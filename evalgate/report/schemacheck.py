"""A JSON Schema subset compiled to plain Python predicates, for reading big reports back quickly.

``jsonschema`` walks the schema for every value it checks: about 1 ms per case of a report, so 10 s for
10,000 cases that every baseline comparison and shard merge reads. The report schema only uses a small,
strict subset of JSON Schema (types, required, properties, closed objects, items, enum/const, minimum,
maximum, oneOf, local ``$ref``), and that subset compiles to predicates that answer "valid or not" about
two hundred times faster. Only the yes/no answer comes from here: when a report is invalid, the caller
asks ``jsonschema`` for the message, so errors read exactly as before.

Each object schema becomes one generated function. Its properties' usual forms are written out in it
(a type with bounds, a string enum, an object, an array checked item by item in a loop, "null or X", a
local ``$ref`` unless the schema refers to itself), so a whole report costs few Python calls; any other
form is a call to its compiled closure.

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

    def resolve(pointer: str) -> Any:
        if not pointer.startswith("#/"):
            raise Unsupported(f"$ref {pointer!r} is not local")
        target: Any = schema
        for part in pointer[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(target, Mapping) or part not in target:
                raise Unsupported(f"$ref {pointer!r} points nowhere")
            target = target[part]
        return target

    def ref(pointer: str) -> Check:
        if pointer not in compiled:
            target = resolve(pointer)
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
            checks.append(_object(node, _Source(build, resolve), must_be_object=kinds == ["object"]))
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
_ARRAY_KEYWORDS = frozenset({"type", "items"}) | _ANNOTATIONS
_NULL = {"type": "null"}


def _leaf(node: Any) -> tuple[frozenset[type], bool, Any, Any] | None:
    """A property schema that is only a type (and bounds), checked inline rather than by a call."""
    if not isinstance(node, Mapping) or "type" not in node or not node.keys() <= _LEAF_KEYWORDS:
        return None
    kind = node["type"]
    kinds = [kind] if isinstance(kind, str) else list(kind)
    if not kinds or any(k not in _PY_TYPES and k != "integer" for k in kinds):
        return None
    exact = frozenset(t for k in kinds if k != "integer" for t in _PY_TYPES[k])
    integral_float = "integer" in kinds and float not in exact
    if "integer" in kinds:
        exact |= {int}
    return exact, integral_float, node.get("minimum"), node.get("maximum")


class _Source:
    """The body of one generated function: lines, and the values its names stand for."""

    def __init__(self, build: Callable[[Any], Check], resolve: Callable[[str], Any]) -> None:
        self.build = build
        self.resolve = resolve
        self.names: dict[str, Any] = {"MISSING": object(), "NUMBERS": _NUMBERS}
        self.lines: list[str] = []
        self.depth = 0  # nesting of loops and objects: each level has variables of its own
        self.inlined: list[str] = []  # the $refs being written out, which a recursive schema calls

    def name(self, prefix: str, value: Any) -> str:
        name = f"{prefix}{len(self.names)}"
        self.names[name] = value
        return name

    def add(self, indent: str, *lines: str) -> None:
        self.lines += [indent + line for line in lines]

    def value(self, node: Any, var: str, indent: str) -> None:
        """Lines that return False unless ``var`` holds a value valid against ``node``.

        The common forms are written out: a type with bounds, a string enum, an object, an array (its
        items checked in a loop), "null or X" and a ``$ref`` to any of these; anything else is a call
        to the compiled node.
        """
        leaf = _leaf(node)
        if leaf is not None:
            self.leaf(leaf, var, indent)
        elif _is_string_enum(node):
            options = self.name("E", frozenset(node["enum"]))
            self.add(indent, f"if type({var}) is not str or {var} not in {options}:", "    return False")
        elif _is_object(node):
            self.object(node, var, indent, must_be_object=True)
        elif _is_array(node):
            self.add(indent, f"if type({var}) is not list:", "    return False")
            self.depth += 1
            item = f"y{self.depth}"
            self.add(indent, f"for {item} in {var}:")
            self.value(node["items"], item, indent + "    ")
            self.depth -= 1
        elif _is_null_or(node):
            # null: exactly one option must hold, so X must reject null (asked at run time, null is rare)
            other = next(o for o in node["oneOf"] if o != _NULL)
            self.add(indent, f"if {var} is not None:")
            self.value(other, var, indent + "    ")
            if not self.rejects_null(other):
                self.add(indent, f"elif {self.name('C', self.build(other))}({var}):", "    return False")
        elif _is_ref(node) and node["$ref"] not in self.inlined:
            self.inlined.append(node["$ref"])
            self.value(self.resolve(node["$ref"]), var, indent)
            self.inlined.pop()
        else:
            call = self.name("C", self.build(node))
            self.add(indent, f"if not {call}({var}):", "    return False")

    def rejects_null(self, node: Any) -> bool:
        """True when ``node`` is a form written out here that null fails; False when it may pass."""
        if _is_ref(node):
            node = self.resolve(node["$ref"])
        leaf = _leaf(node)
        if leaf is not None:
            return type(None) not in leaf[0]
        return _is_object(node) or _is_array(node) or _is_string_enum(node)

    def leaf(self, leaf: tuple[frozenset[type], bool, Any, Any], var: str, indent: str) -> None:
        types, integral_float, low, high = leaf
        if len(types) == 1:
            test = f"type({var}) is not {self.name('T', next(iter(types)))}"
        else:
            test = f"type({var}) not in {self.name('T', types)}"
        if integral_float:
            test += f" and not (type({var}) is float and {var}.is_integer())"
        self.add(indent, f"if {test}:", "    return False")
        # bounds hold only for numbers; past the type test, the value's type is one of ``types``
        others = types - _NUMBERS
        if not others:
            number = ""
        elif others == {type(None)}:
            number = f"{var} is not None and "
        else:
            number = f"type({var}) in NUMBERS and "
        for bound, op in ((low, "<"), (high, ">")):
            if bound is not None:
                self.add(indent, f"if {number}{var} {op} {self.name('B', bound)}:", "    return False")

    def object(self, node: Mapping[str, Any], v: str, indent: str, *, must_be_object: bool) -> None:
        """Each property checked in place, required ones fetched first: a missing one ends the check
        at its ``KeyError``. A closed object then has no other keys exactly when its size is the count
        of required and optional properties found, so no set of keys is built or compared."""
        properties = dict(node.get("properties") or {})
        required = [name for name in properties if name in frozenset(node.get("required") or ())]
        unlisted = frozenset(node.get("required") or ()) - properties.keys()
        extra = node.get("additionalProperties", True)
        self.depth += 1
        a, k, n, x = (f"{letter}{self.depth}" for letter in "aknx")
        self.add(indent, f"if type({v}) is not dict:", f"    return {not must_be_object}")
        if unlisted:
            self.add(indent, f"if not {self.name('R', unlisted)} <= {v}.keys():", "    return False")
        if required:
            self.add(indent, "try:")
            self.add(
                indent + "    ", *(f"{a}_{i} = {v}[{self.name('K', k)}]" for i, k in enumerate(required))
            )
            self.add(indent, "except KeyError:", "    return False")
        if extra is not False and extra is not True:
            listed = self.name("P", frozenset(properties))
            self.add(indent, f"for {k} in {v}.keys() - {listed}:", f"    {x} = {v}[{k}]")
            self.value(extra, x, indent + "    ")
        for i, name in enumerate(required):
            self.value(properties[name], f"{a}_{i}", indent)
        closed = extra is False
        optional = [name for name in properties if name not in required]
        if optional:
            # every required property is there: any other key means an optional one (or an unknown one)
            self.add(indent, f"if len({v}) > {len(required)}:")
            if closed:
                self.add(indent, f"    {n} = {len(required)}")
            for name in optional:
                found = [f"if {x} is not MISSING:", *[f"    {n} += 1"] * closed]
                self.add(indent + "    ", f"{x} = {v}.get({self.name('K', name)}, MISSING)", *found)
                self.value(properties[name], x, indent + "        ")
            if closed:
                self.add(indent, f"    if len({v}) != {n}:", "        return False")
        elif closed:
            self.add(indent, f"if len({v}) != {len(required)}:", "    return False")
        self.depth -= 1


_OBJECT_KEYWORDS = frozenset({"type", "properties", "required", "additionalProperties"}) | _ANNOTATIONS


def _is_object(node: Any) -> bool:
    return isinstance(node, Mapping) and node.get("type") == "object" and node.keys() <= _OBJECT_KEYWORDS


def _is_ref(node: Any) -> bool:
    return isinstance(node, Mapping) and "$ref" in node and node.keys() <= {"$ref"} | _ANNOTATIONS


def _is_array(node: Any) -> bool:
    return (
        isinstance(node, Mapping)
        and node.get("type") == "array"
        and "items" in node
        and node.keys() <= _ARRAY_KEYWORDS
    )


def _is_string_enum(node: Any) -> bool:
    return (
        isinstance(node, Mapping)
        and "enum" in node
        and node.keys() <= {"enum"} | _ANNOTATIONS
        and all(type(o) is str for o in node["enum"])
    )


def _is_null_or(node: Any) -> bool:
    if not isinstance(node, Mapping) or not node.keys() <= {"oneOf"} | _ANNOTATIONS or "oneOf" not in node:
        return False
    options = node["oneOf"]
    return isinstance(options, list) and len(options) == 2 and sum(o == _NULL for o in options) == 1


def _object(node: Mapping[str, Any], src: _Source, *, must_be_object: bool) -> Check:
    """One generated function per object schema, the usual forms of its properties written out in it.

    (The loop over keys with a closure per property was most of the cost: a report holds tens of
    thousands of small objects.)
    """
    src.add("", "def check(v):")
    src.object(node, "v", "    ", must_be_object=must_be_object)
    src.add("    ", "return True")
    # the source holds only generated names; every schema value is passed in through ``names``
    exec("\n".join(src.lines), src.names)
    check: Check = src.names["check"]
    return check
