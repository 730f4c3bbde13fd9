"""The parse cache: a YAML file's data and top-level lines, stored under its bytes' SHA-256.

A suite read again with the same bytes skips the YAML parser: its entry holds the data (JSON) and the
lines a valid file's messages need; anything deeper is parsed from the text when an error asks for it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pydantic_core

from evalgate.fsutil import atomic_write
from evalgate.yamlsrc import YamlDoc, first_parse

PARSE_CACHE_FORMAT = 2

# parse-cache entries waiting for the end of a ``parse_cache_writes_deferred`` block
_deferred: list[tuple[Path, bytes, Any, dict[tuple[int | str, ...], int]]] | None = None


@contextmanager
def parse_cache_writes_deferred() -> Iterator[None]:
    """Parse-cache entries of files parsed inside the block are written when it ends.

    ``evalgate run`` loads its suites inside one, so checking and writing the entries (about 10
    microseconds per case) comes after its model calls instead of before the first. An entry is still
    written only if its data survives a JSON round trip unchanged, now checked when it is written.
    """
    global _deferred
    if _deferred is not None:  # nested: the outermost block writes
        yield
        return
    _deferred = []
    try:
        yield
    finally:
        pending, _deferred = _deferred, None
        for entry in pending:
            _write_entry(*entry)


def _write_entry(
    entry_path: Path, encoded: bytes, data: Any, shallow: dict[tuple[int | str, ...], int]
) -> None:
    try:
        faithful = pydantic_core.from_json(encoded) == data  # int keys, NaN etc. would not survive
    except ValueError:
        faithful = False
    if faithful:
        lines = json.dumps([[list(k), v] for k, v in shallow.items()], ensure_ascii=False)
        atomic_write(entry_path, f'{{"data": {encoded.decode("utf-8")}, "lines": {lines}}}')


def cached_parse(raw: bytes, path: Path, text: str, cache_dir: Path | None) -> YamlDoc:
    """A file's parse: from the cache under ``cache_dir`` when it holds these bytes, else parsed now.

    A new parse is stored for the next time, at once or at the end of ``parse_cache_writes_deferred``.
    """
    if cache_dir is None:
        return first_parse(text, str(path))[0]
    from evalgate import __version__

    digest = hashlib.sha256(f"{PARSE_CACHE_FORMAT}:{__version__}:".encode() + raw).hexdigest()
    entry_path = cache_dir / "parsed" / digest[:2] / f"{digest}.json"
    # pydantic-core's JSON reads and writes the entry about twice as fast as the json module
    try:
        entry = pydantic_core.from_json(entry_path.read_bytes())
        known = {tuple(k): int(v) for k, v in entry["lines"]}
        return YamlDoc(entry["data"], None, str(path), text=text, known_lines=known)
    except (OSError, ValueError, KeyError, TypeError):
        pass  # no entry, or one that is not ours: a miss
    doc, shallow = first_parse(text, str(path))
    try:
        encoded = pydantic_core.to_json(doc.data, inf_nan_mode="null")  # the data as parsed, now
    except ValueError:  # pydantic-core's serialization error (a lone surrogate, a set) is one
        return doc
    if _deferred is not None:
        _deferred.append((entry_path, encoded, doc.data, shallow))
    else:
        _write_entry(entry_path, encoded, doc.data, shallow)
    return doc
