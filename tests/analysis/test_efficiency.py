"""Clopper–Pearson intervals and weighted efficiencies against tables, scipy and toys."""

import json

import numpy as np
import pytest
from scipy import stats

from boostjet.analysis.efficiency import ONE_SIGMA, clopper_pearson, efficiency, to_jsonable


@pytest.mark.parametrize(
    ("k", "n", "lower", "upper"),
    [(0, 10, 0.0, 0.3085), (5, 10, 0.1871, 0.8129), (10, 10, 0.6915, 1.0)],
)
def test_clopper_pearson_matches_tabulated_95_percent(k, n, lower, upper):
    low, high = clopper_pearson(k, n, coverage=0.95)
    assert low == pytest.approx(lower, abs=1e-4)
    assert high == pytest.approx(upper, abs=1e-4)


def test_clopper_pearson_matches_beta_quantiles():
    n = np.array([1, 7, 20, 20, 150, 1000])
    k = np.array([1, 3, 0, 19, 75, 13])
    alpha = 1 - ONE_SIGMA
    low, high = clopper_pearson(k, n)
    expected_low = np.where(k > 0, stats.beta.ppf(alpha / 2, np.maximum(k, 1), n - k + 1), 0.0)
    expected_high = np.where(k < n, stats.beta.ppf(1 - alpha / 2, k + 1, np.maximum(n - k, 1)), 1.0)
    np.testing.assert_allclose(low, expected_low, rtol=1e-10)
    np.testing.assert_allclose(high, expected_high, rtol=1e-10)


def test_unit_weights_give_the_plain_binomial_interval():
    eff = efficiency(np.array([3.0, 40.0]), np.array([10.0, 50.0]))
    low, high = clopper_pearson(np.array([3, 40]), np.array([10, 50]))
    np.testing.assert_allclose(eff.value, [0.3, 0.8])
    np.testing.assert_allclose(eff.n_effective, [10, 50])
    np.testing.assert_allclose(eff.lower, low)
    np.testing.assert_allclose(eff.upper, high)
    np.testing.assert_allclose(eff.error, (high - low) / 2)
    assert eff.warnings == []


def test_uniform_weights_keep_the_number_of_entries():
    w = 0.37
    eff = efficiency(np.array([w * 30]), np.array([w * 100]), [w**2 * 30], [w**2 * 100])
    low, high = clopper_pearson(30, 100)
    assert eff.n_effective[0] == pytest.approx(100)
    assert eff.lower[0] == pytest.approx(low)
    assert eff.upper[0] == pytest.approx(high)


def test_weighted_efficiency_error_matches_toys():
    """Jets with random weights pass with probability 0.3: toy spread vs the interval."""
    rng = np.random.default_rng(1)
    weights = rng.exponential(1.0, size=400)
    passes = rng.random((3000, weights.size)) < 0.3
    passed = (passes * weights).sum(axis=1)
    toy_spread = np.std(passed / weights.sum())
    eff = efficiency(
        passed,
        np.full(passed.size, weights.sum()),
        (passes * weights**2).sum(axis=1),
        np.full(passed.size, (weights**2).sum()),
    )
    assert np.median(eff.error) == pytest.approx(toy_spread, rel=0.1)


def test_empty_and_zero_efficiency_bins_are_defined_and_flagged():
    eff = efficiency(np.array([0.0, 0.0, 4.0]), np.array([0.0, 12.0, 4.0]))
    assert not eff.valid[0] and np.isnan(eff.value[0]) and np.isnan(eff.error[0])
    assert any("bins [0]" in w for w in eff.warnings)
    assert eff.valid[1] and eff.value[1] == 0 and eff.lower[1] == 0
    assert eff.upper[1] == pytest.approx(clopper_pearson(0, 12)[1])
    assert eff.valid[2] and eff.upper[2] == 1 and 0 < eff.lower[2] < 1


def test_over_subtracted_bin_is_flagged():
    eff = efficiency(np.array([-2.0]), np.array([10.0]), [5.0], [20.0])
    assert eff.valid[0] and eff.value[0] == pytest.approx(-0.2)
    assert any("outside [0, 1]" in w for w in eff.warnings)
    assert np.isfinite(eff.lower[0]) and np.isfinite(eff.upper[0])


def test_json_has_no_nan():
    eff = efficiency(np.array([0.0, 1.0]), np.array([0.0, 2.0]))
    text = json.dumps(to_jsonable(eff), allow_nan=False)
    assert json.loads(text)["value"] == [None, 0.5]
