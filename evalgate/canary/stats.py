"""Interval statistics for the canary judge and planner: pure Python, exact where it is cheap.

All intervals are two-sided at level ``1 - alpha``. Proportions use Wilson score intervals and Newcombe's
hybrid score interval for a difference (method 10 of Newcombe 1998); quantiles use distribution-free
order-statistic intervals, so no latency distribution is assumed.

When requests are routed by unit (user, session, tenant) they are not independent. Intervals then use a
design effect from the per-unit sums (the delta method for a ratio estimator, Kish's effective sample
size), never below 1. The sample-ratio tests count units when the records name them, and otherwise
estimate the dispersion of the split from sub-window counts (a quasi-binomial F test).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from math import ceil, erfc, exp, floor, isfinite, lgamma, log, log1p, pi, sqrt
from typing import Literal

# Exact binomial sums up to this many samples; the normal approximation is within one order statistic
# beyond it and avoids an O(n) loop of lgamma calls on big latency windows.
EXACT_QUANTILE_CI_MAX_N = 1000

# Acklam's rational approximation of the inverse normal CDF (relative error < 1.15e-9), refined below.
_A = (-39.69683028665376, 220.9460984245205, -275.9285104469687, 138.3577518672690, -30.66479806614716)
_A6 = 2.506628277459239
_B = (-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572)
_C = (-0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968)
_C6 = 2.938163982698783
_D = (0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416)
_P_LOW = 0.02425


def _horner(coefficients: tuple[float, ...], x: float, last: float) -> float:
    acc = 0.0
    for c in coefficients:
        acc = acc * x + c
    return acc * x + last


def normal_ppf(p: float) -> float:
    """The standard normal quantile: ``x`` with ``P(Z <= x) = p`` (Acklam + one Halley step, ~1e-15)."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"normal_ppf needs 0 < p < 1, got {p!r}")
    if p > 0.5:
        # Work in the lower tail and mirror: 1 - p is exact there, the Halley step is not near 1.
        return -normal_ppf(1.0 - p)
    if p < _P_LOW:
        t = sqrt(-2.0 * log(p))
        x = _horner(_C, t, _C6) / _horner(_D, t, 1.0)
    else:
        t = p - 0.5
        r = t * t
        x = _horner(_A, r, _A6) * t / _horner(_B, r, 1.0)
    # One Halley step on Phi(x) - p brings the 1e-9 approximation to full double precision.
    e = 0.5 * erfc(-x / sqrt(2.0)) - p
    u = e * sqrt(2.0 * pi) * exp(x * x / 2.0)
    return x - u / (1.0 + x * u / 2.0)


def _z(alpha: float) -> float:
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    return normal_ppf(1.0 - alpha / 2.0)


def wilson_interval(hits: float, n: float, alpha: float) -> tuple[float, float]:
    """Wilson score interval for ``hits / n`` (fractional, effective counts allowed); (0, 1) when n is 0."""
    if n < 0 or not 0 <= hits <= max(n, 0):
        raise ValueError(f"need 0 <= hits <= n, got hits={hits}, n={n}")
    if n == 0:
        return (0.0, 1.0)
    z = _z(alpha)
    p = hits / n
    z2n = z * z / n
    center = (p + z2n / 2.0) / (1.0 + z2n)
    half = z * sqrt(p * (1.0 - p) / n + z2n / (4.0 * n)) / (1.0 + z2n)
    # The closed form leaves 1e-17 residue at the edges; 0/n and n/n have exact bounds.
    lo = 0.0 if hits == 0 else max(0.0, center - half)
    hi = 1.0 if hits == n else min(1.0, center + half)
    return (lo, hi)


def newcombe_diff_interval(h1: float, n1: float, h2: float, n2: float, alpha: float) -> tuple[float, float]:
    """Newcombe's hybrid score interval (method 10) for ``p2 - p1`` built from the two Wilson intervals."""
    if n1 == 0 or n2 == 0:
        return (-1.0, 1.0)
    p1, p2 = h1 / n1, h2 / n2
    l1, u1 = wilson_interval(h1, n1, alpha)
    l2, u2 = wilson_interval(h2, n2, alpha)
    d = p2 - p1
    lo = d - sqrt((p2 - l2) ** 2 + (u1 - p1) ** 2)
    hi = d + sqrt((u2 - p2) ** 2 + (p1 - l1) ** 2)
    return (max(-1.0, lo), min(1.0, hi))


def quantile(values_sorted: tuple[float, ...] | list[float], q: float) -> float:
    """The ``q`` quantile by linear interpolation between order statistics (numpy's default, type 7)."""
    n = len(values_sorted)
    if n == 0:
        raise ValueError("quantile of no values")
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"q must be in [0, 1], got {q!r}")
    pos = (n - 1) * q
    i = floor(pos)
    if i >= n - 1:
        return float(values_sorted[-1])
    frac = pos - i
    return float(values_sorted[i] + (values_sorted[i + 1] - values_sorted[i]) * frac)


def _order_stat_ranks(n: int, q: float, alpha: float) -> tuple[int, int] | None:
    """1-based ranks ``(l, u)`` with ``P(X_(l) <= xi_q <= X_(u)) >= 1 - alpha``, equal tails."""
    tail = alpha / 2.0
    if n <= EXACT_QUANTILE_CI_MAX_N:
        # B = number of samples below the true quantile ~ Binomial(n, q).
        # X_(l) > xi_q  <=>  B <= l - 1;  X_(u) < xi_q  <=>  B >= u.
        log_q, log_1q, log_nf = log(q), log1p(-q), lgamma(n + 1)
        cdf = 0.0
        lower = upper = None
        for k in range(n):
            cdf += exp(log_nf - lgamma(k + 1) - lgamma(n - k + 1) + k * log_q + (n - k) * log_1q)
            if cdf <= tail * (1 + 1e-12):
                lower = k + 1
            if upper is None and cdf >= (1.0 - tail) * (1 - 1e-12):
                upper = k + 1
                break
        if lower is None or upper is None:
            return None
        return (lower, upper)
    # Normal approximation with continuity correction to the same two binomial tails.
    mu, sd = n * q, sqrt(n * q * (1.0 - q))
    z = normal_ppf(1.0 - tail)
    lower_rank = floor(mu - z * sd + 0.5)
    upper_rank = ceil(mu + z * sd + 0.5)
    if lower_rank < 1 or upper_rank > n:
        return None
    return (lower_rank, upper_rank)


def quantile_ci(
    values_sorted: tuple[float, ...] | list[float], q: float, alpha: float, *, deff: float = 1.0
) -> tuple[float, float] | None:
    """Distribution-free interval for the ``q`` quantile from order statistics; ``None`` if too few values.

    With a design effect ``deff > 1`` the ranks come from the effective sample ``n / deff`` and are
    scaled back to the ``n`` values (Woodruff's idea: the interval of the CDF at the quantile is what
    clustering widens), so the interval widens as clustering warrants.
    """
    if not 0.0 < q < 1.0:
        raise ValueError(f"q must be in (0, 1), got {q!r}")
    _z(alpha)  # validates alpha
    n = len(values_sorted)
    n_eff = n if deff <= 1.0 else max(1, floor(n / deff))
    ranks = _order_stat_ranks(n_eff, q, alpha)
    if ranks is None:
        return None
    lo, hi = ranks
    if n_eff < n:
        lo, hi = max(1, floor(lo * n / n_eff)), min(n, ceil(hi * n / n_eff))
    return (float(values_sorted[lo - 1]), float(values_sorted[hi - 1]))


def min_samples_for_quantile_ci(q: float, alpha: float) -> int:
    """The smallest n for which ``quantile_ci`` can give an interval at all (both tails need a rank)."""
    # Ranks exist once P(B = 0) and P(B = n) both fall below alpha / 2.
    worst = max(q, 1.0 - q)
    n = max(1, ceil(log(alpha / 2.0) / log(worst)))
    while _order_stat_ranks(n, q, alpha) is None:  # the bound is tight; this loop runs a step or two
        n += 1
    return n


def srm_p_value(n_stable: int, n_canary: int, canary_weight_pct: float) -> float:
    """Chi-square goodness-of-fit p-value (1 df) of the arm counts against the configured canary weight."""
    total = n_stable + n_canary
    if total == 0:
        return 1.0
    share = canary_weight_pct / 100.0
    expected = ((1.0 - share) * total, share * total)
    chi2 = 0.0
    for observed, exp_count in zip((n_stable, n_canary), expected, strict=True):
        if exp_count == 0:
            if observed:
                return 0.0  # traffic where the configuration allows none
            continue
        chi2 += (observed - exp_count) ** 2 / exp_count
    # For 1 df, P(chi2 > x) = P(|Z| > sqrt(x)) = erfc(sqrt(x / 2)).
    return erfc(sqrt(chi2 / 2.0))


def samples_for_difference(
    p_base: float,
    margin: float,
    alpha: float,
    power: float,
    *,
    better: Literal["higher", "lower"] = "higher",
) -> int:
    """Per-arm n for a one-sided two-proportion z test to detect a change of ``margin`` for the worse.

    ``better="higher"`` looks for a drop from ``p_base`` (pass rates), ``"lower"`` for a rise (error
    rates). Fleiss' formula without continuity correction. The judge's pass side (a canary as good as
    stable clearing the margin) needs about the same n, and no more when the bad direction moves the
    rate toward 50%, as it does for pass rates above 50% and error rates below it.
    """
    if margin <= 0:
        raise ValueError("a margin of 0 cannot be detected with any finite sample; give a margin > 0")
    p_alt = p_base - margin if better == "higher" else p_base + margin
    if not (0.0 < p_base < 1.0 and 0.0 < p_alt < 1.0):
        raise ValueError(f"base rate {p_base:g} moved by {margin:g} leaves (0, 1); check the base rate")
    z_a, z_b = normal_ppf(1.0 - alpha), normal_ppf(power)
    p_bar = (p_base + p_alt) / 2.0
    numerator = z_a * sqrt(2.0 * p_bar * (1.0 - p_bar)) + z_b * sqrt(
        p_base * (1.0 - p_base) + p_alt * (1.0 - p_alt)
    )
    n = (numerator / margin) ** 2
    return max(1, ceil(n - 1e-9))


def looks_alpha(alpha: float, planned_looks: int) -> float:
    """Per-look alpha: Bonferroni split of ``alpha`` over the planned looks of a stage.

    Conservative: looks at cumulative data are strongly positively correlated, so the chance that any
    look errs is well below ``alpha``. Group-sequential spending (O'Brien-Fleming) would be tighter, but
    needs each look's information fraction, which depends on traffic nobody knows in advance.
    """
    if not isfinite(alpha) or not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    return alpha / max(1, planned_looks)


# --- clustered data and the sample-ratio tests --------------------------------------------------


def design_effect(y: float, n: float, units: int, sum_y2: float, sum_yn: float, sum_n2: float) -> float:
    """Kish's design effect of the ratio ``y / n`` over ``units`` clusters: robust / binomial variance, >= 1.

    The robust variance is the delta method's ``K/(K-1) * Σ(y_u - p n_u)² / n²``. One unit is one
    observation however many requests it sent (design effect ``n``); a rate of 0 or 1 has no variance to
    compare, so 1.
    """
    if n <= 0:
        return 1.0
    if units < 2:
        return max(1.0, n)
    p = y / n
    if p <= 0.0 or p >= 1.0:
        return 1.0
    squares = max(0.0, sum_y2 - 2.0 * p * sum_yn + p * p * sum_n2)
    robust = units / (units - 1) * squares / (n * n)
    return max(1.0, robust / (p * (1.0 - p) / n))


def _betacf(a: float, b: float, x: float) -> float:
    # Continued fraction of the incomplete beta function (modified Lentz), as in Numerical Recipes.
    tiny, eps = 1e-300, 3e-16
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 500):
        m2 = 2 * m
        for aa in (
            m * (b - m) * x / ((qam + m2) * (a + m2)),
            -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2)),
        ):
            d = 1.0 + aa * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + aa / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < eps:
            break
    return h


def betainc(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta function ``I_x(a, b)``."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    front = exp(lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def f1_sf(f: float, df: int) -> float:
    """``P(F(1, df) > f)``: the two-sided p-value of Student's t with ``df`` degrees of freedom at √f."""
    if f <= 0.0:
        return 1.0
    if not isfinite(f):
        return 0.0
    return betainc(df / 2.0, 0.5, df / (df + f))


@dataclass(frozen=True)
class SplitTest:
    """A sample-ratio test: its p-value, which test it was, and the numbers the reason quotes."""

    p: float
    test: str  # "units", "sub-windows" or "looks"
    share: float  # observed canary share
    n_canary: int  # units or requests, as the test counted them
    n_stable: int
    dispersion: float = 1.0
    batches: int = 0


def srm_units(units_stable: int, units_canary: int, weight_pct: float) -> SplitTest:
    """Chi-square on routing units by the arm of their first record (units are routed independently)."""
    total = units_stable + units_canary
    return SplitTest(
        srm_p_value(units_stable, units_canary, weight_pct),
        "units",
        units_canary / total if total else 0.0,
        units_canary,
        units_stable,
    )


def srm_batches(
    batches: Sequence[tuple[int, int]], weight_pct: float, *, test: str = "sub-windows"
) -> SplitTest | None:
    """Quasi-binomial test of the canary share against the weight, dispersion estimated from sub-windows.

    Pearson's dispersion of the sub-windows' canary counts around the observed share (never below 1,
    the binomial) scales the chi-square statistic, which is then referred to ``F(1, K - 1)``. Requests
    that arrive in bursts from one routed unit inflate the dispersion and so the threshold; ``None``
    when fewer than two sub-windows have traffic or one arm has none (that is the zero-traffic check).
    """
    used = [(s, c) for s, c in batches if s + c > 0]
    n_s, n_c = sum(s for s, _ in used), sum(c for _, c in used)
    total = n_s + n_c
    if len(used) < 2 or n_s == 0 or n_c == 0:
        return None
    share, w = n_c / total, weight_pct / 100.0
    pearson = sum((c - share * (s + c)) ** 2 / ((s + c) * share * (1.0 - share)) for s, c in used)
    phi = max(1.0, pearson / (len(used) - 1))
    if w <= 0.0 or w >= 1.0:
        return SplitTest(0.0, test, share, n_c, n_s, phi, len(used))
    chi2 = (n_c - w * total) ** 2 / (total * w * (1.0 - w))
    return SplitTest(f1_sf(chi2 / phi, len(used) - 1), test, share, n_c, n_s, phi, len(used))


def arrival_dispersion(totals: Sequence[int]) -> float:
    """Variance over mean of the requests per sub-window (1 for independent arrivals, ~m for bursts of m)."""
    used = list(totals)
    if len(used) < 2:
        return 1.0
    mean = sum(used) / len(used)
    if mean <= 0:
        return 1.0
    var = sum((t - mean) ** 2 for t in used) / (len(used) - 1)
    return max(1.0, var / mean)


def p_no_arm_traffic(n_other: float, weight_pct: float, arm_is_canary: bool) -> float:
    """Chance that ``n_other`` independent routings put none on an arm the weight gives a share of."""
    share = weight_pct / 100.0 if arm_is_canary else 1.0 - weight_pct / 100.0
    if share <= 0.0:
        return 1.0
    if share >= 1.0:
        return 0.0 if n_other > 0 else 1.0
    # n_other counts the *other* arm; all n_other + 0 routings went there: (1 - share)^n_other.
    return exp(n_other * log1p(-share))
