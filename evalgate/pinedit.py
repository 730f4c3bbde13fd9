"""Value-level edits of model pins: replace one value in a YAML, JSON or TOML file and keep the rest.

Pure text in, text out. A pin file is hand-written config: its comments, key order, quoting and
indentation belong to its owner, so an upgrade must change exactly the bytes of the value and nothing
else. Every edit is verified by parsing the result: the edited key holds the new value and every other
pin location in the file still holds what it held before; otherwise the edit is refused.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

import yaml

from evalgate.errors import ConfigError
from evalgate.policy import PinSpec, PinValue, pin_value


@dataclass(frozen=True, slots=True)
class PinLocation:
    """One ``policy.model_pins`` entry and the value its file holds there."""

    spec: PinSpec
    value: PinValue


def locate(spec: PinSpec, text: str | None) -> PinLocation:
    """The value at ``spec`` in a file's ``text`` (``None``: the file does not exist)."""
    return PinLocation(spec, pin_value(text, spec.file, spec.key))


def replace_value(text: str, filename: str, key: str, new: str) -> str:
    """``text`` with the string at dotted ``key`` replaced by ``new``; ``ConfigError`` if it cannot be."""
    lower = filename.lower()
    if lower.endswith(".toml"):
        edited = _toml_replace(text, filename, key, new)
    else:  # YAML, and JSON (which PyYAML reads as YAML with the same character positions)
        edited = _yaml_replace(text, filename, key, new, as_json=lower.endswith(".json"))
    after = pin_value(edited, filename, key)
    if after.state != "set" or after.value != new:
        raise _refuse(filename, key, f"the edited file reads back as {after.short()!r}, not {new!r}")
    return edited


def apply(text: str, filename: str, keys: Sequence[str], new: str, others: Sequence[str] = ()) -> str:
    """Replace the value at every key in ``keys``; the values at ``others`` must come out unchanged."""
    before = {k: pin_value(text, filename, k) for k in others if k not in keys}
    for key in keys:
        text = replace_value(text, filename, key, new)
    for key, value in before.items():
        after = pin_value(text, filename, key)
        if not after.same_as(value):
            raise _refuse(filename, key, f"the edit would change it from {value.short()} to {after.short()}")
    return text


def _refuse(filename: str, key: str, why: str) -> ConfigError:
    return ConfigError(
        f"cannot edit the pin at '{key}': {why}",
        file=filename,
        fix="edit this pin by hand, or list a simpler location in policy.model_pins",
    )


# --- YAML and JSON -------------------------------------------------------------------------------------


def _yaml_replace(text: str, filename: str, key: str, new: str, *, as_json: bool) -> str:
    bom = "\ufeff" if text.startswith("\ufeff") else ""
    body = text[len(bom) :]
    try:
        # the pure-Python loader: its marks count characters, which is what slicing needs
        root = yaml.compose(body, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise ConfigError(f"does not parse: {exc}", file=filename) from None
    node = root
    for part in key.split("."):
        node = _child(node, part) if node is not None else None
        if node is None:
            raise _refuse(filename, key, "the key is not in the file")
    if not isinstance(node, yaml.ScalarNode):
        raise _refuse(filename, key, "it holds a mapping or a list, not a model name")
    if node.style in ("|", ">"):
        raise _refuse(filename, key, "it is a block scalar")
    start, end = node.start_mark.index, node.end_mark.index
    if body[start : start + 1] in ("&", "*", "!"):
        # an anchored value can be shared through aliases with keys that are not this pin
        raise _refuse(filename, key, "it is a YAML anchor or alias (other keys may share the value)")
    if as_json or node.style == '"':
        rendered = json.dumps(new, ensure_ascii=False)  # a JSON string is a valid YAML double-quoted one
    elif node.style == "'":
        rendered = "'" + new.replace("'", "''") + "'"
    else:
        rendered = new if _plain_ok(new) else "'" + new.replace("'", "''") + "'"
    return bom + body[:start] + rendered + body[end:]


def _child(node: yaml.Node, part: str) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode) and k.value == part:
                found: yaml.Node = v
                return found
        return None
    if isinstance(node, yaml.SequenceNode) and part.isascii() and part.isdigit():
        index = int(part)
        if index < len(node.value):
            item: yaml.Node = node.value[index]
            return item
    return None


_PLAIN_UNSAFE = re.compile(r"[\s:#,\[\]{}&*!|>'\"%@`]|^[-?]")


def _plain_ok(value: str) -> bool:
    """Whether ``value`` can stand unquoted and still read back as this string."""
    if not value or _PLAIN_UNSAFE.search(value):
        return False
    try:
        loaded: object = yaml.safe_load(f"k: {value}")
        return loaded == {"k": value}  # rules out 1.5, true, null, dates
    except yaml.YAMLError:
        return False


# --- TOML ------------------------------------------------------------------------------------------------

_TABLE = re.compile(r"^\s*\[\s*([^\[\]]+?)\s*\]\s*(#.*)?$")
_ARRAY_TABLE = re.compile(r"^\s*\[\[")
_NOT_MULTILINE = "(?!\"\"\"|''')"  # multi-line strings are left to a human
_STRING = r"(\"(?:[^\"\\\n]|\\.)*\"|'[^'\n]*')"


def _toml_replace(text: str, filename: str, key: str, new: str) -> str:
    """Replace a basic or literal string at a dotted key set directly under its table header."""
    import tomllib

    parts = key.split(".")
    lines = text.splitlines(keepends=True)
    table: list[str] = []
    for i, line in enumerate(lines):
        header = _TABLE.match(line)
        if _ARRAY_TABLE.match(line):
            table = ["\0"]  # arrays of tables are not addressed by dotted keys; skip their bodies
            continue
        if header:
            table = [p.strip().strip("\"'") for p in header.group(1).split(".")]
            continue
        if parts[: len(table)] != table or len(parts) <= len(table):
            continue
        rest = parts[len(table) :]
        dotted = r"\s*\.\s*".join(re.escape(p) for p in rest)
        match = re.match(rf"^(\s*{dotted}\s*=\s*)" + _NOT_MULTILINE + _STRING, line)
        if match is None:
            continue
        old = match.group(2)
        rendered = json.dumps(new, ensure_ascii=False) if old.startswith('"') else f"'{new}'"
        if old.startswith("'") and ("'" in new or "\n" in new):
            rendered = json.dumps(new, ensure_ascii=False)
        lines[i] = line[: match.start(2)] + rendered + line[match.end(2) :]
        edited = "".join(lines)
        try:
            tomllib.loads(edited)
        except tomllib.TOMLDecodeError as exc:
            raise _refuse(filename, key, f"the result would not parse ({exc})") from None
        return edited
    raise _refuse(filename, key, "no 'key = \"string\"' line for it was found under its table")
