from __future__ import annotations

import math
import random
import statistics

import pytest

from evalgate.canary.stats import (
    EXACT_QUANTILE_CI_MAX_N,
    looks_alpha,
    min_samples_for_quantile_ci,
    newcombe_diff_interval,
    normal_ppf,
    quantile,
    quantile_ci,
    samples_for_difference,
    srm_p_value,
    wilson_interval,
)


@pytest.mark.parametrize(
    ("hits", "n", "expected"),
    [
        (0, 10, (0.0, 0.2775)),
        (5, 10, (0.2366, 0.7634)),
        (10, 10, (0.7225, 1.0)),
        (81, 263, (0.2553, 0.3662)),  # Newcombe 1998, Table I example
    ],
)
def test_wilson_interval_matches_published_values(hits: int, n: int, expected: tuple[float, float]) -> None:
    lo, hi = wilson_interval(hits, n, 0.05)
    assert (round(lo, 4), round(hi, 4)) == expected


def test_wilson_interval_is_exactly_0_and_1_at_the_edges_and_uninformative_without_data() -> None:
    assert wilson_interval(0, 7, 0.01)[0] == 0.0
    assert wilson_interval(7, 7, 0.01)[1] == 1.0
    assert wilson_interval(0, 0, 0.05) == (0.0, 1.0)
    with pytest.raises(ValueError, match="hits"):
        wilson_interval(11, 10, 0.05)


@pytest.mark.parametrize(
    ("h1", "n1", "h2", "n2", "expected"),
    [
        # Newcombe 1998, Table II, method 10; the argument order gives p2 - p1.
        (48, 80, 56, 70, (0.0524, 0.3339)),
        (3, 10, 9, 10, (0.1705, 0.8090)),
        (0, 29, 5, 56, (-0.0381, 0.1926)),
        (0, 20, 0, 10, (-0.1611, 0.2775)),
    ],
)
def test_newcombe_interval_matches_newcombe_1998(
    h1: int, n1: int, h2: int, n2: int, expected: tuple[float, float]
) -> None:
    lo, hi = newcombe_diff_interval(h1, n1, h2, n2, 0.05)
    assert (round(lo, 4), round(hi, 4)) == expected


def test_newcombe_interval_without_data_in_an_arm_is_the_whole_range() -> None:
    assert newcombe_diff_interval(0, 0, 5, 10, 0.05) == (-1.0, 1.0)


def test_normal_ppf_known_values_and_symmetry() -> None:
    assert normal_ppf(0.975) == pytest.approx(1.959963985, abs=1e-9)
    assert normal_ppf(0.5) == pytest.approx(0.0, abs=1e-15)
    assert normal_ppf(0.05) == pytest.approx(-1.644853627, abs=1e-9)
    assert normal_ppf(0.2) == pytest.approx(-normal_ppf(0.8), abs=1e-14)


def test_normal_ppf_agrees_with_the_standard_library_to_1e_12() -> None:
    oracle = statistics.NormalDist()
    for p in [1e-300, 1e-20, 1e-9, 0.001, 0.02425, 0.1, 0.3, 0.5, 0.7, 0.97575, 0.999, 1 - 1e-12]:
        assert normal_ppf(p) == pytest.approx(oracle.inv_cdf(p), rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("p", [0.0, 1.0, -0.1, math.nan])
def test_normal_ppf_rejects_probabilities_outside_0_1(p: float) -> None:
    with pytest.raises(ValueError, match="0 < p < 1"):
        normal_ppf(p)


def test_quantile_interpolates_like_the_standard_library_inclusive_method() -> None:
    rng = random.Random(3)
    values = sorted(rng.uniform(0, 100) for _ in range(57))
    cuts = statistics.quantiles(values, n=20, method="inclusive")
    for i, cut in enumerate(cuts, 1):
        assert quantile(values, i / 20) == pytest.approx(cut)
    assert quantile([4.0], 0.95) == 4.0
    with pytest.raises(ValueError, match="no values"):
        quantile([], 0.5)


def test_quantile_ci_for_a_median_of_10_is_the_2nd_and_9th_value() -> None:
    # The textbook case: P(2 <= B <= 8) for B ~ Binomial(10, 0.5) is 0.979 >= 0.95.
    assert quantile_ci([float(i) for i in range(1, 11)], 0.5, 0.05) == (2.0, 9.0)


def test_quantile_ci_contains_the_true_median_of_a_uniform_sample() -> None:
    rng = random.Random(7)
    values = sorted(rng.random() for _ in range(300))
    interval = quantile_ci(values, 0.5, 0.05)
    assert interval is not None
    assert interval[0] <= 0.5 <= interval[1]
    assert interval[1] - interval[0] < 0.2


def test_quantile_ci_covers_the_median_95_percent_of_the_time() -> None:
    covered = 0
    for seed in range(2000):
        rng = random.Random(seed)
        values = sorted(rng.random() for _ in range(200))
        interval = quantile_ci(values, 0.5, 0.05)
        assert interval is not None
        covered += interval[0] <= 0.5 <= interval[1]
    assert 0.93 <= covered / 2000 <= 0.97


def test_quantile_ci_is_none_when_no_order_statistic_reaches_the_tail() -> None:
    values = [float(i) for i in range(50)]
    assert quantile_ci(values, 0.99, 0.05) is None  # 0.99**50 = 0.6: the top value is no upper bound
    n = min_samples_for_quantile_ci(0.95, 0.01)
    assert quantile_ci([float(i) for i in range(n)], 0.95, 0.01) is not None
    assert quantile_ci([float(i) for i in range(n - 1)], 0.95, 0.01) is None


def test_quantile_ci_normal_approximation_continues_the_exact_ranks() -> None:
    n = EXACT_QUANTILE_CI_MAX_N
    exact = quantile_ci([float(i) for i in range(1, n + 1)], 0.95, 0.01)
    approx = quantile_ci([float(i) for i in range(1, n + 2)], 0.95, 0.01)
    assert exact is not None
    assert approx is not None
    assert abs(exact[0] - approx[0]) <= 2
    assert abs(exact[1] - approx[1]) <= 2


def test_srm_p_value_chi_square_with_one_degree_of_freedom() -> None:
    assert srm_p_value(9500, 500, 5) == pytest.approx(1.0)
    # 550/450 at 50%: chi2 = 2 * 50**2 / 500 = 10, p = erfc(sqrt(5)).
    assert srm_p_value(450, 550, 50) == pytest.approx(math.erfc(math.sqrt(5)))
    assert srm_p_value(450, 550, 50) == pytest.approx(0.001565, abs=1e-6)
    assert srm_p_value(9000, 1000, 5) < 1e-100
    assert srm_p_value(0, 0, 5) == 1.0
    assert srm_p_value(1, 99, 100) == 0.0  # stable traffic where the configuration allows none


def test_samples_for_difference_matches_a_hand_computation() -> None:
    # 0.90 -> 0.87, one-sided alpha 0.05 (z 1.6449), power 0.8 (z 0.8416):
    # (1.6449 * sqrt(2 * .885 * .115) + 0.8416 * sqrt(.09 + .1131))^2 / .03^2 = 1397.3 -> 1398
    assert samples_for_difference(0.9, 0.03, 0.05, 0.8) == 1398
    # error rate 0.01 -> 0.02: (1.6449 * sqrt(2 * .015 * .985) + 0.8416 * sqrt(.0099 + .0196))^2 / .01^2
    assert samples_for_difference(0.01, 0.01, 0.05, 0.8, better="lower") == 1826
    assert samples_for_difference(0.9, 0.03, 0.01, 0.9) > samples_for_difference(0.9, 0.03, 0.05, 0.8)


@pytest.mark.parametrize(("p", "margin", "match"), [(0.9, 0.0, "margin of 0"), (0.02, 0.05, "leaves")])
def test_samples_for_difference_rejects_impossible_targets(p: float, margin: float, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        samples_for_difference(p, margin, 0.05, 0.8)


def test_looks_alpha_splits_alpha_evenly_over_the_looks() -> None:
    assert looks_alpha(0.05, 5) == pytest.approx(0.01)
    assert looks_alpha(0.05, 0) == 0.05


def test_design_effect_is_one_for_independent_units_and_the_unit_size_for_identical_ones() -> None:
    from evalgate.canary.stats import design_effect

    # 1,000 single-request units: the binomial variance, up to K/(K-1)
    assert design_effect(900, 1000, 1000, 900.0, 900.0, 1000.0) == pytest.approx(1.0, abs=0.002)
    # 50 units of 20 identical outcomes: every request of a unit counts once
    assert design_effect(900, 1000, 50, 45 * 400.0, 45 * 400.0, 50 * 400.0) == pytest.approx(20.4, rel=0.01)
    assert design_effect(5, 10, 1, 25.0, 50.0, 100.0) == 10.0  # one unit is one observation


def test_f1_sf_matches_students_t() -> None:
    from evalgate.canary.stats import betainc, f1_sf

    assert f1_sf(2.228**2, 10) == pytest.approx(0.05, abs=2e-4)  # t(10) two-sided 5% point
    assert f1_sf(1.96**2, 100_000) == pytest.approx(0.05, abs=2e-4)  # ~ normal
    assert f1_sf(0.0, 5) == 1.0
    assert betainc(3.0, 3.0, 0.5) == pytest.approx(0.5)


def test_a_quantile_interval_widens_with_the_design_effect() -> None:
    rng = random.Random(3)
    values = sorted(rng.lognormvariate(0, 0.5) for _ in range(5_000))
    plain = quantile_ci(values, 0.95, 0.01)
    wide = quantile_ci(values, 0.95, 0.01, deff=10.0)
    assert plain is not None
    assert wide is not None
    assert wide[0] < plain[0] < plain[1] < wide[1]


def test_the_dispersion_adjusted_split_test_tolerates_bursts_but_not_a_wrong_weight() -> None:
    from evalgate.canary.stats import srm_batches

    rng = random.Random(5)
    bursts = [(3000 - c, c) for c in (20 * sum(rng.random() < 0.05 for _ in range(150)) for _ in range(100))]
    test = srm_batches(bursts, 5)
    assert test is not None
    assert test.dispersion > 10
    assert test.p > 0.001
    wrong = srm_batches([(2760, 240)] * 50 + [(2740, 260)] * 50, 5)
    assert wrong is not None
    assert wrong.p < 1e-10
    assert srm_batches([(100, 0), (90, 0)], 5) is None  # zero canary traffic is its own check
