"""How close the response is to a reference: edit distance, and cosine similarity of embeddings."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from evalgate.checks.base import CheckContext, quote, result
from evalgate.errors import ConfigError, ProviderError
from evalgate.results import CheckResult

if TYPE_CHECKING:  # spec models load with the suites that use them
    from evalgate.checks.specs_more import LevenshteinCheck, SimilarCheck


def bounded_levenshtein(a: str, b: str, limit: int) -> int:
    """The edit distance of ``a`` and ``b``, or ``limit + 1`` as soon as it is known to exceed ``limit``.

    Only a band of width ``2 * limit + 1`` around the diagonal is computed, so a long response costs
    O(len * limit), not O(len²).
    """
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    if len(a) < len(b):
        a, b = b, a
    over = limit + 1
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, 1):
        low, high = max(1, i - limit), min(len(b), i + limit)
        current = [over] * (len(b) + 1)
        current[0] = i if i <= limit else over
        for j in range(low, high + 1):
            cost = 0 if char_a == b[j - 1] else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost, over)
        if min(current[max(0, low - 1) : high + 1]) > limit:
            return over
        previous = current
    return min(previous[len(b)], over)


def check_levenshtein(spec: LevenshteinCheck, ctx: CheckContext) -> CheckResult:
    """The stripped response is at most ``max`` edits from ``value``; score falls with the distance."""
    distance = bounded_levenshtein(ctx.response.strip(), spec.value.strip(), spec.max)
    if distance <= spec.max:
        score = 1.0 - distance / (spec.max + 1)
        return result(spec.label, True, score, f"{distance} edits from {quote(spec.value)} <= {spec.max}")
    return result(spec.label, False, 0.0, f"more than {spec.max} edits from {quote(spec.value)}")


def cosine(a: list[float], b: list[float]) -> float:
    """Cosine similarity; 0 for a zero vector or vectors of different lengths."""
    if len(a) != len(b):
        raise ProviderError(f"embeddings of different sizes ({len(a)} and {len(b)})", retryable=False)
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norm if norm else 0.0


def check_similar(spec: SimilarCheck, ctx: CheckContext) -> CheckResult:
    """The best cosine similarity to any reference reaches ``threshold``."""
    if ctx.embed is None:
        raise ConfigError(
            "similar checks need a 'judge:' model whose provider has an embeddings endpoint",
            fix="add e.g. 'judge: {provider: openai, name: gpt-4o-2024-08-06, "
            "embeddings: text-embedding-3-small}'",
        )
    references = spec.references
    vectors = ctx.embed([ctx.response, *references])
    if len(vectors) != len(references) + 1:
        raise ProviderError(
            f"asked for {len(references) + 1} embeddings, got {len(vectors)}", retryable=False
        )
    scores = [cosine(vectors[0], v) for v in vectors[1:]]
    best = max(range(len(scores)), key=scores.__getitem__)
    score = scores[best]
    passed = score >= spec.threshold
    verdict = ">=" if passed else "<"
    reason = f"similarity {score:.3f} {verdict} {spec.threshold:g} to {quote(references[best])}"
    return result(spec.label, passed, max(0.0, score), reason)
