"""Small exact statistics used by the gate and the canary judge; pure functions, no dependencies."""

from __future__ import annotations

from math import comb

REGRESSION_ALPHA = 0.05


def sign_test_p(worse: int, better: int) -> float:
    """One-sided exact p-value that ``worse`` of ``worse + better`` discordant pairs happened by chance.

    This is the exact McNemar test: under "no change", each discordant pair is a fair coin.
    """
    n = worse + better
    if n == 0:
        return 1.0
    return float(sum(comb(n, k) for k in range(worse, n + 1))) / float(2**n)


def paired_regression(
    base_trials: list[bool], head_trials: list[bool], alpha: float = REGRESSION_ALPHA
) -> bool:
    """True when trials paired by position show head worse than base beyond chance.

    A case run once on each side has no spread to test: a pass turning into a fail is a regression.
    """
    if len(base_trials) <= 1 or len(head_trials) <= 1:
        return any(base_trials) and not all(head_trials)
    pairs = list(zip(base_trials, head_trials, strict=False))
    worse = sum(1 for b, h in pairs if b and not h)
    better = sum(1 for b, h in pairs if h and not b)
    return sign_test_p(worse, better) < alpha
