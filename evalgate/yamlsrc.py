"""YAML that remembers where things are, and pydantic errors turned into ``file:line`` messages.

``fielderrors`` words each pydantic error (message, fix, dotted path); this module adds the file and line.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from evalgate.errors import ConfigError
from evalgate.fielderrors import describe, dotted
from evalgate.yamlevents import load_plain

try:  # the C loader is several times faster on big suites
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

M = TypeVar("M", bound=BaseModel)
MAX_ERRORS_SHOWN = 5
# A YAML file bigger than this is not a config or a suite anyone wrote; refuse it before parsing.
MAX_FILE_BYTES = 50_000_000
# Aliases may add at most this many nodes to a document: a "billion laughs" file of a few hundred bytes
# would otherwise expand to 10^9 values in the walks below, in pydantic and in the parse cache.
MAX_ALIAS_NODES = 100_000


class _Yaml12Loader(_Loader):
    """PyYAML's safe loader with YAML 1.2 core-schema scalars instead of YAML 1.1's.

    ``Yes``, ``off``, ``y`` stay strings (1.1 made them booleans), ``0123`` stays a string (1.1 read
    it as octal 83; 1.2's core schema as 123: either way the zero a prompt needs is gone), ``1:30`` is
    not sexagesimal and dates stay strings. Only ``true``/``false``, ``null``/``~``, plain decimal
    integers without leading zeros, ``0o``/``0x`` integers and floats with a dot or an exponent resolve.
    Merge keys (``<<``) still work.
    """


_CORE_SCALARS: tuple[tuple[str, str, str], ...] = (
    ("bool", r"true|True|TRUE|false|False|FALSE", "tTfF"),
    ("null", r"~|null|Null|NULL|", "~nN"),
    ("int", r"[-+]?(?:0|[1-9][0-9]*)|0o[0-7]+|0x[0-9a-fA-F]+", "-+0123456789"),
    (
        "float",
        r"[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*|[0-9]+(?:\.[0-9]*)?[eE][-+]?[0-9]+)"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)",
        "-+0123456789.",
    ),
    ("merge", r"<<", "<"),
)
_Yaml12Loader.yaml_implicit_resolvers = {}
for _kind, _pattern, _first in _CORE_SCALARS:
    # an empty plain scalar is null: the resolver table keys it under ""
    _starts = [*_first, ""] if _kind == "null" else list(_first)
    _Yaml12Loader.add_implicit_resolver(
        f"tag:yaml.org,2002:{_kind}", re.compile(f"^(?:{_pattern})$"), _starts
    )


def _construct_int(loader: _Yaml12Loader, node: yaml.ScalarNode) -> int:
    return int(str(loader.construct_scalar(node)), 0)  # decimal, 0o and 0x; never 1.1's octal or 1:30


_Yaml12Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)

# The one loader class: the node path (``parse_yaml``) and the event path (``yamlevents``) both use it,
# so they resolve and construct scalars the same way.
YAML_LOADER = _Yaml12Loader


class YamlDoc:
    """Parsed data plus what is needed to find each value's line.

    The node tree is built lazily from the text when a doc came from the parse cache: a valid file
    only needs the few lines in ``known_lines``; an error message pays for the full parse.
    """

    def __init__(
        self,
        data: Any,
        node: yaml.Node | None,
        file: str,
        *,
        text: str | None = None,
        known_lines: dict[tuple[int | str, ...], int] | None = None,
    ) -> None:
        self.data = data
        self.file = file
        self._node = node
        self._text = text
        self._known = known_lines or {}

    @property
    def node(self) -> yaml.Node | None:
        if self._node is None and self._text is not None:
            self._node = parse_yaml(self._text, self.file).node
            self._text = None
        return self._node

    def line_of(self, loc: tuple[int | str, ...]) -> int | None:
        """The 1-based line of the deepest node the pydantic ``loc`` reaches."""
        known = self._known.get(tuple(loc))
        if known is not None:
            return known
        node = self.node
        if node is None:
            return None
        line = node.start_mark.line + 1
        for part in loc:
            child = _child(node, part)
            if child is None:
                continue  # a union tag or a model-level error: stay where we are
            node = child
            line = node.start_mark.line + 1
        return line

    def clean_loc(self, loc: tuple[int | str, ...]) -> tuple[int | str, ...]:
        """``loc`` without the discriminated-union tags pydantic inserts (``checks[0].regex.pattern``)."""
        out: list[int | str] = []
        current: Any = self.data
        for part in loc:
            if isinstance(current, dict):
                if part in current:
                    current = current[part]
                elif current.get("type") == part:
                    continue
                else:
                    current = None
            elif isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current):
                current = current[part]
            else:
                current = None
            out.append(part)
        return tuple(out)


def _child(node: yaml.Node, part: int | str) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == str(part):
                found: yaml.Node = value
                return found
    elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
        child: yaml.Node = node.value[part]
        return child
    return None


def _check_duplicate_keys(node: yaml.Node, file: str) -> None:
    stack = [node]
    seen_nodes: set[int] = set()
    while stack:
        current = stack.pop()
        if id(current) in seen_nodes:
            continue  # an alias to a node already checked
        seen_nodes.add(id(current))
        if isinstance(current, yaml.MappingNode):
            seen: dict[str, int] = {}
            for key, value in current.value:
                if isinstance(key, yaml.ScalarNode):
                    if key.value in seen and key.value != "<<":
                        raise ConfigError(
                            f"duplicate key '{key.value}' (first defined on line {seen[key.value]})",
                            file=file,
                            line=key.start_mark.line + 1,
                            fix="YAML keeps only the last value silently; remove or rename one of them",
                        )
                    seen[key.value] = key.start_mark.line + 1
                stack.append(value)
        elif isinstance(current, yaml.SequenceNode):
            stack.extend(current.value)


def _check_expansion(root: yaml.Node, file: str) -> None:
    """Refuse documents whose aliases expand to too many nodes, or refer to themselves.

    Sizes are memoized per node, so this is linear in the nodes written, however far they expand.
    """
    size: dict[int, int] = {}
    distinct = 0
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            on_path.discard(key)
            total = 1 + sum(size[id(c)] for c in _children(node))
            size[key] = total
            if total > distinct + MAX_ALIAS_NODES:
                raise _alias_error(node, file, f"they expand it past {MAX_ALIAS_NODES:,} extra values")
            continue
        if key in size:
            continue
        if key in on_path:
            raise _alias_error(node, file, "an alias refers to the node that contains it")
        distinct += 1
        on_path.add(key)
        stack.append((node, True))
        stack.extend((c, False) for c in _children(node) if id(c) not in size)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _alias_error(node: yaml.Node, file: str, why: str) -> ConfigError:
    return ConfigError(
        f"too many aliases: {why}",
        file=file,
        line=node.start_mark.line + 1,
        fix="write the values out, or use fewer nested aliases ('*name')",
    )


def parse_yaml(text: str, file: str) -> YamlDoc:
    """Parse YAML text (YAML 1.2 core scalars); syntax errors become ``ConfigError`` with the line."""
    loader = YAML_LOADER(text)
    try:
        node: yaml.Node | None = loader.get_single_node()
        if node is not None:
            _check_expansion(node, file)
            _check_duplicate_keys(node, file)
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        raise ConfigError(
            f"invalid YAML: {problem}",
            file=file,
            line=mark.line + 1 if mark else None,
            fix="check indentation, quoting and that every 'key: value' has a space after the colon",
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML: {exc}", file=file) from None
    finally:
        loader.dispose()
    return YamlDoc(data=data, node=node, file=file)


def _shallow_lines(node: yaml.Node | None) -> dict[tuple[int | str, ...], int]:
    """Lines of the top-level keys and of their items (``("cases", 3)``): all a valid file needs."""
    lines: dict[tuple[int | str, ...], int] = {}
    if not isinstance(node, yaml.MappingNode):
        return lines
    lines[()] = node.start_mark.line + 1
    for key, value in node.value:
        if not isinstance(key, yaml.ScalarNode):
            continue
        lines[(key.value,)] = value.start_mark.line + 1
        if isinstance(value, yaml.SequenceNode):
            for i, item in enumerate(value.value):
                lines[(key.value, i)] = item.start_mark.line + 1
    return lines


def first_parse(text: str, file: str) -> tuple[YamlDoc, dict[tuple[int | str, ...], int]]:
    """A first parse and its shallow lines: straight from parser events when the file allows, else nodes.

    An event-built doc keeps its text, so an error message that needs a deep line parses it again.
    """
    plain = load_plain(text, YAML_LOADER)
    if plain is None:
        doc = parse_yaml(text, file)
        return doc, _shallow_lines(doc.node)
    data, lines = plain
    return YamlDoc(data, None, file, text=text, known_lines=lines), lines


def load_yaml_file(path: Path, *, cache_dir: Path | None = None) -> YamlDoc:
    """Read and parse a YAML (or JSON, which is YAML) file, reusing an earlier parse of the same bytes."""
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise ConfigError(
                f"file is {path.stat().st_size:,} bytes; the limit is {MAX_FILE_BYTES:,}",
                file=str(path),
                fix="split it into several files",
            )
        raw = path.read_bytes()
        text = raw.decode("utf-8")
    except FileNotFoundError:
        raise ConfigError("file not found", file=str(path)) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text ({exc.reason})", file=str(path), fix="save it as UTF-8") from None
    except OSError as exc:
        raise ConfigError(f"cannot read file: {exc.strerror}", file=str(path)) from None
    from evalgate.parsecache import cached_parse  # a module of its own; it imports this one

    return cached_parse(raw, path, text, cache_dir)


def validate(
    model: type[M],
    doc: YamlDoc,
    *,
    file: str | None = None,
    expect: str = "a mapping",
    data: Any = None,
    prefix: tuple[int | str, ...] = (),
) -> M:
    """Validate parsed YAML (or ``data`` found at ``prefix`` inside it) against a pydantic model.

    Failures become one ``ConfigError`` that names the file, the line and the path inside the file.
    """
    where_file = file or doc.file
    value = doc.data if data is None else data
    if not isinstance(value, dict):
        kind = "empty" if value is None else f"a {type(value).__name__}"
        raise ConfigError(
            f"expected {expect}, found {kind}",
            file=where_file,
            line=doc.line_of(prefix) or 1,
            where=dotted(prefix) or None,
        )
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        raise validation_error(model, exc, doc, where_file, prefix=prefix) from None


def validation_error(
    model: type[BaseModel],
    exc: ValidationError,
    doc: YamlDoc,
    file: str,
    *,
    prefix: tuple[int | str, ...] = (),
) -> ConfigError:
    """Turn a pydantic ``ValidationError`` into one ``ConfigError`` listing the first few problems."""

    def line(e: ErrorDetails) -> int | None:
        return doc.line_of((*prefix, *e["loc"]))

    def one(e: ErrorDetails) -> ConfigError:
        message, fix = describe(model, e)
        return ConfigError(
            message,
            file=file,
            line=line(e),
            where=dotted(doc.clean_loc((*prefix, *e["loc"]))) or None,
            fix=fix,
        )

    errors = sorted(exc.errors(include_url=False), key=lambda e: line(e) or 0)
    headline = one(errors[0])
    extra = [one(e).render() for e in errors[1:MAX_ERRORS_SHOWN]]
    if len(errors) > MAX_ERRORS_SHOWN:
        extra.append(f"... and {len(errors) - MAX_ERRORS_SHOWN} more problems")
    if extra:
        headline.args = (headline.render() + "\n" + "\n".join(extra),)
    return headline
