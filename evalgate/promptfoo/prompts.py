"""promptfoo's ``prompts:`` as evalgate prompt files: inline text, ``file://`` text split on ``---``,
JSON/YAML chat message lists, globs, and labelled prompt objects."""

from __future__ import annotations

import glob
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

_SPLIT = re.compile(r"^---[ \t]*$", re.MULTILINE)
_SLUG = re.compile(r"[^A-Za-z0-9_-]+")
_TEXT_SUFFIXES = {".txt", ".md", ".j2", ".jinja", ".njk", ".tmpl", ".prompt", ""}

Note = Callable[[str], None]


@dataclass(frozen=True)
class Prompt:
    """One prompt file to write: its name in ``prompts:``, its path and its content."""

    name: str
    path: str
    content: str
    # what a promptfoo test's ``prompts:`` filter may call it: label, id, raw text, file reference
    refs: tuple[str, ...] = ()
    config: dict[str, Any] | None = None  # the prompt's own provider config (promptfoo merges it in)


def slug(text: str, fallback: str) -> str:
    """A prompt or case name made of letters, digits, '-' and '_'."""
    cleaned = _SLUG.sub("_", text.strip()).strip("_-")[:60]
    return cleaned or fallback


def _text_of(content: Any) -> str | None:
    """A message's content as text: a string, or a list of ``{type: text, text}`` blocks."""
    if isinstance(content, str):
        return content
    if isinstance(content, list) and all(isinstance(b, dict) and b.get("type") == "text" for b in content):
        return "".join(str(b.get("text", "")) for b in content)
    return None


def _chat(messages: Any) -> list[dict[str, str]] | None:
    if isinstance(messages, dict) and isinstance(messages.get("messages"), list):
        messages = messages["messages"]
    if not isinstance(messages, list) or not messages:
        return None
    out = []
    for m in messages:
        if not (isinstance(m, dict) and isinstance(m.get("role"), str)):
            return None
        text = _text_of(m.get("content"))
        if text is None:
            return None
        out.append({"role": m["role"], "content": text})
    return out


class PromptSet:
    """Collects converted prompts with unique names; unsupported ones go to ``note``."""

    def __init__(self, base: Path, note: Note) -> None:
        self.base = base
        self.note = note
        self.prompts: list[Prompt] = []

    def _name(self, wanted: str) -> str:
        taken = {p.name for p in self.prompts}
        name, n = wanted, 2
        while name in taken:
            name, n = f"{wanted}_{n}", n + 1
        return name

    def add_text(self, text: str, label: str | None, refs: tuple[str, ...] = ()) -> None:
        refs = _unique((*refs, text))
        chat = None
        if text.lstrip().startswith("["):
            try:
                chat = _chat(json.loads(text))
            except json.JSONDecodeError:
                chat = None
        if chat is not None:
            self.add_chat(chat, label, refs)
            return
        name = self._name(slug(label or "", f"prompt{len(self.prompts) + 1}"))
        self.prompts.append(Prompt(name, f"prompts/{name}.txt", text, refs))

    def add_chat(self, messages: list[dict[str, str]], label: str | None, refs: tuple[str, ...] = ()) -> None:
        roles = [m["role"] for m in messages]
        turns = [r for r in roles if r != "system"]
        if not turns or turns[-1] != "user" or any(r not in ("system", "user", "assistant") for r in roles):
            self.note(
                f"prompt {label or len(self.prompts) + 1}: a chat with roles {roles} is not carried over; "
                "evalgate sends system, user and assistant turns ending with a user message"
            )
            return
        name = self._name(slug(label or "", f"prompt{len(self.prompts) + 1}"))
        self.prompts.append(Prompt(name, f"prompts/{name}.json", json.dumps(messages, indent=2) + "\n", refs))

    def add_file(self, ref: str, label: str | None) -> None:
        rel = ref.removeprefix("file://")
        rel, _, function = rel.partition(":") if re.search(r"\.(py|js|ts|cjs|mjs):", rel) else (rel, "", "")
        pattern = str(self.base / rel)
        paths = (
            sorted(Path(p) for p in glob.glob(pattern, recursive=True))
            if glob.has_magic(rel)
            else [Path(pattern)]
        )
        if not paths or not all(p.is_file() for p in paths):
            self.note(f"prompt file '{ref}' not found (relative to the promptfoo config)")
            return
        for path in paths:
            # promptfoo names a file's prompts by the reference as written, and its label when it has one
            shown = path.relative_to(self.base).as_posix() if path.is_relative_to(self.base) else str(path)
            refs = _unique((*([label] if label else []), ref, rel, shown, "file://" + shown))
            self._one_file(path, label if len(paths) == 1 else None, function, refs)

    def _one_file(self, path: Path, label: str | None, function: str, refs: tuple[str, ...] = ()) -> None:
        suffix = path.suffix.lower()
        if suffix in (".py", ".js", ".ts", ".cjs", ".mjs"):
            shown = f"{path.name}:{function}" if function else path.name
            self.note(f"prompt function {shown} is not carried over; render its output into a template")
            return
        text = path.read_text(encoding="utf-8")
        stem = label or path.stem
        if suffix in (".json", ".yaml", ".yml"):
            data = json.loads(text) if suffix == ".json" else yaml.safe_load(text)
            chat = _chat(data)
            if chat is not None:
                self.add_chat(chat, stem, refs)
            elif isinstance(data, list) and all(isinstance(x, str) for x in data):
                for i, item in enumerate(data, 1):
                    self.add_text(item, f"{stem}_{i}", refs)
            else:
                self.note(f"prompt file {path.name} is neither a chat message list nor a list of prompts")
            return
        if suffix == ".jsonl":
            for i, line in enumerate(x for x in text.splitlines() if x.strip()):
                chat = _chat(json.loads(line))
                if chat is not None:
                    self.add_chat(chat, f"{stem}_{i + 1}", refs)
            return
        parts = [p.strip("\n") for p in _SPLIT.split(text)]
        parts = [p for p in parts if p.strip()]
        for i, part in enumerate(parts, 1):
            # promptfoo labels each part of a text file '<file>: <text>' (and '<label>: <file>: <text>')
            part_refs = tuple(f"{r}: {part}" for r in refs)
            self.add_text(part, stem if len(parts) == 1 else f"{stem}_{i}", _unique((*refs, *part_refs)))


def convert_prompts(raw: Any, base: Path, note: Note) -> list[Prompt]:
    """Every prompt of promptfoo's ``prompts:`` value, in order."""
    found = PromptSet(base, note)
    items: list[Any]
    if raw is None:
        items = []
    elif isinstance(raw, str):
        items = [raw]
    elif isinstance(raw, dict):
        items = [{"id": k, "label": v} for k, v in raw.items()]
    else:
        items = list(raw)
    for item in items:
        if isinstance(item, str):
            if item.startswith("file://") or _bare_file(item, base):
                found.add_file(item, None)
            else:
                found.add_text(item, None)
        elif isinstance(item, dict):
            label = item.get("label") if isinstance(item.get("label"), str) else None
            start = len(found.prompts)
            known = tuple(x for x in (label, item.get("id")) if isinstance(x, str))
            if isinstance(item.get("raw"), str):
                found.add_text(item["raw"], label or item.get("id"), known)
            elif isinstance(item.get("id"), str) and (
                item["id"].startswith("file://") or _bare_file(item["id"], base)
            ):
                found.add_file(item["id"], label)
            elif isinstance(item.get("id"), str):
                found.add_text(item["id"], label, known)
            else:
                note(f"prompt {item!r} has neither 'raw' nor a file:// 'id'")
            if isinstance(item.get("config"), dict) and item["config"]:
                found.prompts[start:] = [replace(p, config=item["config"]) for p in found.prompts[start:]]
        else:
            note(f"prompt {item!r} is not text or a prompt object")
    return found.prompts


def _bare_file(text: str, base: Path) -> bool:
    """Whether a prompt written without ``file://`` names a file next to the config, as promptfoo reads it.

    promptfoo guesses from the text's shape (``prompts/x.txt``); here the file must also exist, so a
    one-line prompt that happens to end in ``.txt`` stays text when there is no such file.
    """
    if "\n" in text or "{{" in text or "://" in text:
        return False
    path = re.sub(r"\.(py|js|ts|cjs|mjs):[A-Za-z_$][\w$]*$", r".\1", text.strip())
    if not (Path(path).suffix or "/" in path):
        return False
    if glob.has_magic(path):
        return any(Path(p).is_file() for p in glob.glob(str(base / path), recursive=True))
    try:
        return (base / path).is_file()
    except (OSError, ValueError):  # a prompt too long, or with a NUL, for a path
        return False


def _unique(refs: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(r for r in refs if r))


def matches(ref: str, prompt: Prompt) -> bool:
    """Whether a test's ``prompts:`` entry names ``prompt``, by promptfoo's rules.

    An entry names a prompt by its evalgate name or any promptfoo reference (label, id, raw text, file):
    exactly, by a ``*`` wildcard at the end, or as the ``<group>:`` prefix promptfoo's labels use.
    """
    keys = (prompt.name, *prompt.refs)
    if ref in keys or any(key.startswith(f"{ref}:") for key in keys):
        return True
    return ref.endswith("*") and any(key.startswith(ref[:-1]) for key in keys)
