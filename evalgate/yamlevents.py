"""Python data built straight from libyaml's parser events, for the common shape of configs and suites.

PyYAML's usual way builds a node tree (a node and two position marks per value, each with a dict),
then walks it with a Python constructor: for a 10,000-case suite that is seconds of CPU and over 100 MB
held at once. Most files need none of what the tree is for: they have no anchors, aliases, explicit tags
or merge keys. For those, this module turns the parser's event stream into dicts, lists and scalars in
one pass, resolving each plain scalar with the loader's own resolver (memoized: keys repeat) and
constructing non-string scalars with the loader's own constructors, so the result is the same data.
It also records the shallow lines (top-level keys and the items of top-level lists) a valid file needs.

Anything unusual (an anchor, an alias, a tag, a merge key, a non-scalar or duplicate key, a syntax
error, several documents) returns ``None``: the caller then parses the usual way, which gives the
canonical result or error message. This path never decides that a file is wrong.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import yaml
from yaml.events import (
    DocumentEndEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
    StreamStartEvent,
)

Lines = dict[tuple[int | str, ...], int]

_STR = "tag:yaml.org,2002:str"
_KEY_TYPES = (str, int, float, bool, type(None))


class _Unusual(Exception):
    """The document needs the node tree; parse it the usual way."""


class _Frame:
    __slots__ = ("container", "is_map", "key", "key_text", "seen", "want_key")

    def __init__(self, is_map: bool) -> None:
        self.container: Any = {} if is_map else []
        self.is_map = is_map
        self.want_key = is_map
        self.key: Any = None
        self.key_text = ""
        self.seen: set[str] = set()


def load_plain(text: str, loader_class: Callable[[str], Any]) -> tuple[Any, Lines] | None:
    """The data of a single-document YAML text and its shallow lines, or None to parse the usual way."""
    loader = loader_class(text)
    try:
        return _build(loader)
    except (_Unusual, yaml.YAMLError):
        return None
    finally:
        loader.dispose()


def _build(loader: Any) -> tuple[Any, Lines]:
    get = loader.get_event
    resolve = loader.resolve
    constructors = loader.yaml_constructors
    scalar_node = yaml.ScalarNode
    tags: dict[str, str] = {}  # plain scalar text -> its resolved tag
    if type(get()) is not StreamStartEvent:
        raise _Unusual
    event = get()
    if type(event) is StreamEndEvent:
        return None, {}
    if type(event) is not DocumentStartEvent:
        raise _Unusual
    lines: Lines = {}
    stack: list[_Frame] = []
    root: Any = None
    while True:
        event = get()
        kind = type(event)
        if kind is ScalarEvent:
            if event.anchor is not None or (event.tag is not None and event.tag != "!"):
                raise _Unusual
            value = event.value
            if event.implicit[0]:  # plain: the resolver decides (true, 12, 1.5, null, text)
                tag = tags.get(value)
                if tag is None:
                    tag = tags[value] = resolve(scalar_node, value, event.implicit)
            else:
                tag = _STR
            if tag == _STR:
                obj: Any = value
            else:
                obj = constructors[tag](loader, scalar_node(tag, value, event.start_mark, event.end_mark))
            start = event.start_mark.line + 1
        elif kind is MappingStartEvent or kind is SequenceStartEvent:
            if event.anchor is not None or not event.implicit:
                raise _Unusual
            if stack:
                _note_line(stack, lines, event.start_mark.line + 1)
            elif kind is MappingStartEvent:
                lines[()] = event.start_mark.line + 1
            stack.append(_Frame(kind is MappingStartEvent))
            continue
        elif kind is MappingEndEvent or kind is SequenceEndEvent:
            obj = stack.pop().container
            start = 0
        elif kind is DocumentEndEvent:
            if type(get()) is not StreamEndEvent:
                raise _Unusual  # several documents: the usual way says what is wrong
            return root, lines
        else:  # an alias
            raise _Unusual
        if not stack:
            root = obj
            continue
        frame = stack[-1]
        if not frame.is_map:
            if start:
                _note_line(stack, lines, start)
            frame.container.append(obj)
        elif frame.want_key:
            text = event.value if kind is ScalarEvent else ""
            if kind is not ScalarEvent or type(obj) not in _KEY_TYPES or text == "<<" or text in frame.seen:
                raise _Unusual  # a complex key, a merge key or a duplicate key
            frame.seen.add(text)
            frame.key, frame.key_text, frame.want_key = obj, text, False
        else:
            if start and len(stack) == 1:
                lines[(frame.key_text,)] = start
            frame.container[frame.key] = obj
            frame.want_key = True


def _note_line(stack: list[_Frame], lines: Lines, start: int) -> None:
    """Record where a value starts when it is one the shallow lines keep."""
    depth = len(stack)
    if depth == 1:
        top = stack[0]
        if top.is_map and not top.want_key:
            lines[(top.key_text,)] = start
    elif depth == 2:
        outer, inner = stack
        if outer.is_map and not inner.is_map:
            lines[(outer.key_text, len(inner.container))] = start
