"""A disk cache of completions keyed only by what changes the answer."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, replace
from pathlib import Path

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
        },
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


class DiskCache:
    """One small JSON file per entry under ``root/ab/abcdef...``; safe for concurrent writers."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.hits = 0
        self.misses = 0

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> Completion | None:
        """The cached completion, marked ``cached``, or ``None``."""
        try:
            data = json.loads(self._path(key).read_text(encoding="utf-8"))
            completion = Completion(**data["completion"])
            _check_types(completion)
        except (OSError, ValueError, KeyError, TypeError):
            self.misses += 1
            return None
        self.hits += 1
        return replace(completion, cached=True)

    def put(self, key: str, completion: Completion) -> None:
        """Store a completion atomically; a failed write only costs a future cache miss."""
        payload = json.dumps({"v": CACHE_FORMAT, "completion": asdict(replace(completion, cached=False))})
        atomic_write(self._path(key), payload)


def _check_types(completion: Completion) -> None:
    """Raise ``TypeError`` unless every field has its type: a mistyped entry is a miss, never an answer."""
    numbers = (completion.latency_ms, completion.cost_usd, completion.input_tokens, completion.output_tokens)
    ok = (
        isinstance(completion.text, str)
        and isinstance(completion.model, str)
        and all(n is None or (isinstance(n, int | float) and not isinstance(n, bool)) for n in numbers)
        and isinstance(completion.fallback, bool)
        and isinstance(completion.refused, bool)
        and all(
            s is None or isinstance(s, str) for s in (completion.finish_reason, completion.system_fingerprint)
        )
    )
    if not ok:
        raise TypeError("cache entry with mistyped fields")
