"""A disk cache of completions keyed only by what changes the answer."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from evalgate.fsutil import atomic_write
from evalgate.providers.base import ModelRequest
from evalgate.results import Completion

CACHE_FORMAT = 1
# what is under test for these providers is the user's own code, which can change without changing the
# prompt; caching their answers would hide exactly the regressions the gate exists to catch
UNCACHEABLE_PROVIDERS = frozenset({"python", "command", "replay"})


def cache_key(provider: str, request: ModelRequest, trial: int = 0) -> str:
    """SHA-256 over provider, pinned model, rendered prompt, system prompt and params, nothing else.

    ``trial`` tells the repeats of one case apart (``repeat: 5`` wants five samples, not one answer
    served five times); trial 0 shares its entry with an unrepeated run of the same prompt.
    """
    material = json.dumps(
        {
            "v": CACHE_FORMAT,
            **({"trial": trial} if trial else {}),
            "provider": provider,
            "model": request.model,
            "prompt": request.prompt,
            "system": request.system,
            "params": json.dumps(dict(request.params), sort_keys=True, default=str),
            # only chats with earlier turns add this, so every other entry keeps its key
            **({"history": [list(turn) for turn in request.history]} if request.history else {}),
        },
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


_FIELDS: dict[str, tuple[type, ...]] = {
    "text": (str,),
    "model": (str,),
    "input_tokens": (int, type(None)),
    "output_tokens": (int, type(None)),
    "latency_ms": (int, float),
    "cost_usd": (int, float, type(None)),
    "fallback": (bool,),
    "cached": (bool,),
    "finish_reason": (str, type(None)),
    "refused": (bool,),
    "system_fingerprint": (str, type(None)),
}
# Completion fields added later than this table are accepted as JSON scalars (str, number, bool, null).
_SCALAR = (str, int, float, bool, type(None))
_KNOWN = frozenset(f.name for f in dataclasses.fields(Completion))
_REQUIRED = ("text", "model")


def _completion(data: Any) -> Completion:
    """A ``Completion`` from a cache entry's JSON; ``ValueError`` naming the first bad field."""
    entry = data.get("completion") if isinstance(data, dict) else None
    if not isinstance(entry, dict):
        raise ValueError("no 'completion' object")
    for name in _REQUIRED:
        if name not in entry:
            raise ValueError(f"'{name}' is missing")
    for name, value in entry.items():
        if name not in _KNOWN:
            raise ValueError(f"unknown field '{name}'")
        kinds = _FIELDS.get(name, _SCALAR)
        # bool is an int in Python; a token count of `true` is as wrong as a text of 123
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            raise ValueError(f"'{name}' is {type(value).__name__}, expected {kinds[0].__name__}")
    return Completion(**entry)


class DiskCache:
    """One small JSON file per entry under ``root/ab/abcdef...``; safe for concurrent writers."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.hits = 0
        self.misses = 0

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> Completion | None:
        """The cached completion, marked ``cached``, or ``None``: a missing or damaged entry is a miss.

        The cache directory is under the workspace, so a pull request can put anything there: every
        field is type-checked, and a damaged entry costs one warning line and a fresh model call.
        """
        path = self._path(key)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError:
            self.misses += 1
            return None
        try:
            completion = _completion(json.loads(text))
        except ValueError as exc:
            self.misses += 1
            import logging  # only a damaged entry is logged: logging stays off every run's start-up

            logging.getLogger(__name__).warning(
                "evalgate: ignoring a damaged cache entry %s (%s); calling the model instead", path, exc
            )
            return None
        self.hits += 1
        return replace(completion, cached=True)

    def put(self, key: str, completion: Completion) -> None:
        """Store a completion atomically; a failed write only costs a future cache miss."""
        payload = json.dumps({"v": CACHE_FORMAT, "completion": asdict(replace(completion, cached=False))})
        atomic_write(self._path(key), payload)
