"""Histogram quantiles, resolution errors and the σ/E fit against unbinned routes and toys."""

import json

import hist
import numpy as np
import pytest

from boostjet.analysis.resolution import (
    P16,
    P84,
    energy_resolution,
    fit_energy_resolution,
    histogram_quantiles,
    pull_table,
    relative_energy_resolution,
    resolution_table,
)
from boostjet.errors import HistogramError

BIN_WIDTH = 2 / 400


def response_histogram(pt_edges=(200, 400, 800), abseta_edges=(0, 1.3, 2.5)) -> hist.Hist:
    return hist.Hist(
        hist.axis.StrCategory([], name="dataset", growth=True),
        hist.axis.Variable(pt_edges, name="pt"),
        hist.axis.Variable(abseta_edges, name="abseta"),
        hist.axis.Regular(400, 0, 2, name="response"),
        storage=hist.storage.Weight(),
    )


def energy_histogram(energy_edges) -> hist.Hist:
    return hist.Hist(
        hist.axis.StrCategory([], name="dataset", growth=True),
        hist.axis.Variable(energy_edges, name="energy_true"),
        hist.axis.Regular(400, 0, 2, name="response"),
        storage=hist.storage.Weight(),
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_quantiles_match_numpy_within_one_bin(seed):
    rng = np.random.default_rng(seed)
    response = rng.lognormal(mean=-0.05, sigma=0.15 + 0.1 * seed, size=20_000)
    h = hist.Hist(hist.axis.Regular(400, 0, 2), storage=hist.storage.Weight())
    h.fill(response)
    probabilities = [0.05, P16, 0.5, P84, 0.95]
    binned = histogram_quantiles(h.values(flow=True), h.axes[0].edges, probabilities)
    unbinned = np.quantile(response, probabilities)
    np.testing.assert_array_less(np.abs(binned - unbinned), BIN_WIDTH)


def test_quantile_in_overflow_is_nan():
    counts = np.r_[0.0, np.ones(10), 5.0]  # one third of the entries in the overflow
    edges = np.linspace(0, 1, 11)
    q = histogram_quantiles(counts, edges, [0.5, 0.7])
    assert q[0] == pytest.approx(0.75) and np.isnan(q[1])


def test_scale_and_resolution_of_gaussians_and_their_errors_match_toys():
    """400 toys of 3000 jets, one per pT bin: spread of the estimates vs the quoted errors."""
    rng = np.random.default_rng(4)
    n_toys, n_jets, mean, sigma = 400, 3000, 0.98, 0.12
    h = response_histogram(pt_edges=np.arange(n_toys + 1), abseta_edges=(0, 2.5))
    pt = np.repeat(np.arange(n_toys) + 0.5, n_jets)
    h.fill(dataset="tt", pt=pt, abseta=1.0, response=rng.normal(mean, sigma, pt.size))
    table = resolution_table({"response_mass_iml": h}, "mass_iml")
    assert table.valid.all() and table.warnings == []
    scale, resolution = table.scale[:, 0], table.resolution[:, 0]
    assert np.mean(scale) == pytest.approx(mean, abs=1e-3)
    assert np.mean(resolution) == pytest.approx(sigma / mean, rel=0.01)
    assert np.std(scale) == pytest.approx(np.median(table.scale_error), rel=0.2)
    assert np.std(resolution) == pytest.approx(np.median(table.resolution_error), rel=0.2)


def test_table_bins_weights_and_merging():
    rng = np.random.default_rng(5)
    h = response_histogram()
    widths = {(300, 0.5): 0.20, (300, 2.0): 0.30, (600, 0.5): 0.10, (600, 2.0): 0.15}
    for (pt, eta), width in widths.items():
        h.fill(dataset="qcd", pt=pt, abseta=eta, response=rng.normal(1, width, 20_000))
    h.fill(dataset="data", pt=300, abseta=0.5, response=np.full(1000, 1.8))  # must be ignored
    metadata = {"qcd": {"is_data": False, "weight": 0.3}, "data": {"is_data": True}}
    table = resolution_table({"response_x": h}, "x", metadata=metadata)
    expected = np.array([[0.20, 0.30], [0.10, 0.15]])
    np.testing.assert_allclose(table.resolution, expected, rtol=0.03)
    assert table.n_effective[0, 0] == pytest.approx(20_000)  # a common weight drops out
    merged = resolution_table({"response_x": h}, "x", metadata=metadata, merge_abseta=True)
    assert merged.resolution.shape == (2, 1)
    assert merged.abseta_edges.tolist() == [0, 2.5]
    assert table.resolution[0, 0] < merged.resolution[0, 0] < table.resolution[0, 1]
    json.dumps(merged.to_dict(), allow_nan=False)


def pull_histogram() -> hist.Hist:
    return hist.Hist(
        hist.axis.StrCategory([], name="dataset", growth=True),
        hist.axis.Variable((200, 400, 800), name="pt"),
        hist.axis.Regular(100, -5, 5, name="pull"),
        storage=hist.storage.Weight(),
    )


def test_pull_table_against_hand_computed_values_and_unbinned_quantiles():
    h = pull_histogram()
    # 10 jets at -0.55, 80 in the bin [0, 0.1), 10 at 1.55: the median, q16 and q84 all lie in
    # [0, 0.1), where the CDF rises from 0.1 to 0.9, so q = 0.1 · (p − 0.1) / 0.8
    h.fill(
        dataset="a", pt=300, pull=np.r_[np.full(10, -0.55), np.full(80, 0.05), np.full(10, 1.55)]
    )
    rng = np.random.default_rng(3)
    wide = rng.normal(0.2, 2.0, 50_000)
    h.fill(dataset="a", pt=600, pull=wide)
    table = pull_table({"pull_e": h}, "e")
    assert table.median[0] == pytest.approx(0.1 * 0.4 / 0.8)
    assert table.width[0] == pytest.approx(0.1 * (P84 - P16) / 0.8 / 2)
    assert table.within_one[0] == pytest.approx(0.9)
    q16, q50, q84 = np.quantile(wide, [P16, 0.5, P84])
    assert table.median[1] == pytest.approx(q50, abs=0.02)
    assert table.width[1] == pytest.approx((q84 - q16) / 2, rel=0.02)
    assert table.within_one[1] == pytest.approx(np.mean(np.abs(wide) <= 1), abs=0.005)
    assert table.n_effective.tolist() == [100, 50_000, 50_100]  # the last entry: all pT
    json.dumps(table.to_dict(), allow_nan=False)


def test_empty_sparse_and_overflowing_bins_are_flagged():
    h = response_histogram()
    h.fill(dataset="tt", pt=300, abseta=0.5, response=np.full(5, 1.0))
    h.fill(dataset="tt", pt=600, abseta=0.5, response=np.linspace(0.9, 1.1, 100))
    h.fill(dataset="tt", pt=600, abseta=2.0, response=np.r_[np.full(50, 1.0), np.full(50, 3.0)])
    table = resolution_table({"response_x": h}, "x")
    assert table.valid.tolist() == [[False, False], [True, False]]
    assert np.isnan(table.resolution[~table.valid]).all()
    text = "\n".join(table.warnings)
    assert "pT 200–400 GeV, |η| 0–1.3: only 5 effective jets" in text
    assert "pT 200–400 GeV, |η| 1.3–2.5: no jets" in text
    assert "pT 400–800 GeV, |η| 1.3–2.5: a quantile lies in the under/overflow" in text
    json.dumps(table.to_dict(), allow_nan=False)


def test_energy_resolution_fit_recovers_known_terms():
    a, b, c = 0.9, 0.04, 6.0
    edges = np.geomspace(40, 3000, 13)
    centres = 0.5 * (edges[1:] + edges[:-1])
    rng = np.random.default_rng(6)
    h = energy_histogram(edges)
    for energy in centres:
        width = relative_energy_resolution(energy, a, b, c)
        h.fill(dataset="tt", energy_true=energy, response=rng.normal(1, width, 40_000))
    curve = energy_resolution({"energy_response_energy_dnn": h}, "energy_dnn")
    fit = fit_energy_resolution(curve)
    assert fit.valid and fit.ndf == len(centres) - 3
    for value, error, truth in (
        (fit.a, fit.a_error, a),
        (fit.b, fit.b_error, b),
        (fit.c, fit.c_error, c),
    ):
        assert abs(value - truth) < 3 * error, (value, error, truth)
        assert value == pytest.approx(truth, rel=0.15)
    assert fit.chi2 / fit.ndf < 3
    np.testing.assert_allclose(
        fit(centres), relative_energy_resolution(centres, a, b, c), rtol=0.03
    )
    json.dumps(fit.to_dict(), allow_nan=False)


def test_fit_with_too_few_points_is_flagged():
    h = energy_histogram([50, 100, 200, 400])
    h.fill(dataset="tt", energy_true=75, response=np.random.default_rng(0).normal(1, 0.1, 1000))
    curve = energy_resolution({"energy_response_e": h}, "e")
    assert curve.valid.tolist() == [True, False, False]
    fit = fit_energy_resolution(curve)
    assert not fit.valid and np.isnan(fit.a)
    assert any("only 1 valid energy points" in w for w in fit.warnings)


def test_missing_histogram_or_axis_raises():
    with pytest.raises(HistogramError, match="'response_mass_iml' is missing"):
        resolution_table({"response_other": response_histogram()}, "mass_iml")
    wrong = hist.Hist(
        hist.axis.StrCategory([], name="dataset", growth=True),
        hist.axis.Regular(4, 0, 2, name="response"),
    )
    with pytest.raises(HistogramError, match="'response_x' lacks the axis 'pt'"):
        resolution_table({"response_x": wrong}, "x")
    with pytest.raises(HistogramError, match="no simulation dataset"):
        resolution_table({"response_x": response_histogram()}, "x")
