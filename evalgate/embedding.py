"""Embeddings for ``similar`` checks: the judge provider's embeddings endpoint, retried and cached."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from evalgate.cache import cache_key
from evalgate.caller import ModelCaller
from evalgate.errors import ConfigError, ProviderError
from evalgate.providers.base import ModelRequest
from evalgate.redact import redact_error
from evalgate.results import Completion
from evalgate.retry import call_with_retries


@runtime_checkable
class EmbeddingProvider(Protocol):
    """A provider that can also embed texts (the OpenAI-compatible ones)."""

    def embed(self, model: str, texts: Sequence[str]) -> list[list[float]]: ...


@dataclass
class Embedder:
    """Embeds texts with ``caller``'s provider and ``caller.config.embeddings``; one cache entry per text."""

    caller: ModelCaller

    def __call__(self, texts: list[str]) -> list[list[float]]:
        config = self.caller.config
        provider = self.caller.provider
        model = config.embeddings
        if model is None or not isinstance(provider, EmbeddingProvider):
            raise ConfigError(
                "similar checks need the judge's embedding model: set judge.embeddings "
                f"(provider '{config.provider}' must have an embeddings endpoint, e.g. openai)",
                fix="e.g. judge: {provider: openai, name: gpt-4o-2024-08-06, "
                "embeddings: text-embedding-3-small}",
            )
        cache = self.caller.cache
        keys = [
            cache_key(
                config.provider, ModelRequest(case_id="", prompt=t, model=model, params={"embeddings": 1})
            )
            for t in texts
        ]
        found: dict[int, list[float]] = {}
        if cache is not None:
            for i, key in enumerate(keys):
                hit = cache.get(key)
                if hit is not None:
                    found[i] = json.loads(hit.text)
        missing = [i for i in range(len(texts)) if i not in found]
        if missing:
            breaker = self.caller.breaker  # the judge's: its embeddings endpoint is the same provider

            def attempt() -> list[list[float]]:
                if breaker is not None:
                    breaker.check()
                try:
                    answer = provider.embed(model, [texts[i] for i in missing])
                except ProviderError as exc:
                    raise redact_error(exc, self.caller.redact) from None
                if breaker is not None:
                    breaker.succeeded()
                return answer

            try:
                vectors = call_with_retries(
                    attempt,
                    max_attempts=config.max_attempts,
                    describe=f"{config.provider} embeddings {model}",
                    sleep=self.caller.sleep,
                )
            except ProviderError as exc:
                if breaker is not None:
                    breaker.failed(exc)
                raise
            for i, vector in zip(missing, vectors, strict=True):
                found[i] = vector
                if cache is not None:
                    cache.put(keys[i], Completion(text=json.dumps(vector), model=model))
        return [found[i] for i in range(len(texts))]
