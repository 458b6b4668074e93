"""ROC, AUC, rejection and working points from histograms against unbinned numpy routes."""

import json

import hist
import numpy as np
import pytest
from scipy import stats

from boostjet.analysis.efficiency import clopper_pearson
from boostjet.analysis.roc import tagger_performance
from boostjet.errors import HistogramError

PT_EDGES = [300, 450, 600, 1000]


def score_histogram() -> hist.Hist:
    return hist.Hist(
        hist.axis.StrCategory([], name="dataset", growth=True),
        hist.axis.StrCategory(["top", "w", "qcd", "other"], name="truth", growth=True),
        hist.axis.Variable(PT_EDGES, name="pt", label="Jet $p_T$ [GeV]"),
        hist.axis.Regular(1000, 0, 1, name="score"),
        storage=hist.storage.Weight(),
    )


@pytest.fixture(scope="module")
def toy():
    """Top jets score like Beta(5, 2), QCD like Beta(1.2, 6), the separation improving with pT."""
    rng = np.random.default_rng(7)
    n_sig, n_bkg = 60_000, 120_000
    pt_sig = rng.uniform(300, 1000, n_sig)
    pt_bkg = rng.uniform(300, 1000, n_bkg)
    s_sig = rng.beta(3 + pt_sig / 250, 2)
    s_bkg = rng.beta(1.2, 4 + pt_bkg / 250)
    h = score_histogram()
    h.fill(dataset="ttbar", truth="top", pt=pt_sig, score=s_sig)
    h.fill(dataset="qcd", truth="qcd", pt=pt_bkg, score=s_bkg)
    h.fill(dataset="data", truth="data", pt=pt_bkg[:500], score=s_sig[:500])
    metadata = {
        "ttbar": {"is_data": False, "weight": 1.0, "signal": "top"},
        "qcd": {"is_data": False, "weight": 1.0, "signal": "top"},
        "data": {"is_data": True, "weight": 1.0, "signal": "top"},
    }
    perf = tagger_performance({"score_dnn": h}, "dnn", metadata=metadata)
    return perf, (pt_sig, s_sig), (pt_bkg, s_bkg)


def mann_whitney_auc(signal: np.ndarray, background: np.ndarray) -> float:
    """AUC = U / (n_S n_B) from the rank sum of the signal scores."""
    ranks = stats.rankdata(np.concatenate([signal, background]))
    u = ranks[: signal.size].sum() - signal.size * (signal.size + 1) / 2
    return u / (signal.size * background.size)


def unbinned_roc(signal: np.ndarray, background: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(ε_S, ε_B) for a cut just below every score, from one sort of all scores."""
    scores = np.concatenate([signal, background])
    is_signal = np.r_[np.ones(signal.size), np.zeros(background.size)]
    order = np.argsort(-scores)
    eff_s = np.cumsum(is_signal[order]) / signal.size
    eff_b = np.cumsum(1 - is_signal[order]) / background.size
    return eff_s, eff_b


def test_auc_matches_mann_whitney_inclusive_and_per_pt(toy):
    perf, (pt_sig, s_sig), (pt_bkg, s_bkg) = toy
    assert perf.inclusive.auc == pytest.approx(mann_whitney_auc(s_sig, s_bkg), abs=2e-4)
    for i, curve in enumerate(perf.per_pt):
        in_sig = (pt_sig >= PT_EDGES[i]) & (pt_sig < PT_EDGES[i + 1])
        in_bkg = (pt_bkg >= PT_EDGES[i]) & (pt_bkg < PT_EDGES[i + 1])
        expected = mann_whitney_auc(s_sig[in_sig], s_bkg[in_bkg])
        assert curve.auc == pytest.approx(expected, abs=2e-4)
    assert perf.per_pt[0].auc < perf.per_pt[-1].auc  # better separation at high pT


def test_efficiencies_at_edges_match_direct_counts(toy):
    perf, (_, s_sig), (_, s_bkg) = toy
    curve = perf.inclusive
    for index in (0, 137, 500, 901, 1000):
        t = curve.thresholds[index]
        assert curve.eff_signal[index] == pytest.approx(np.mean(s_sig >= t), abs=1e-12)
        assert curve.eff_background[index] == pytest.approx(np.mean(s_bkg >= t), abs=1e-12)


def test_rejection_matches_unbinned_roc_within_statistics(toy):
    perf, (_, s_sig), (_, s_bkg) = toy
    eff_s, eff_b = unbinned_roc(s_sig, s_bkg)
    for target in (0.3, 0.5):
        rejection = perf.inclusive.rejection_at(target)
        unbinned = 1 / eff_b[np.searchsorted(eff_s, target)]
        assert rejection.lower < rejection.value < rejection.upper
        half_width = (rejection.upper - rejection.lower) / 2
        assert rejection.value == pytest.approx(unbinned, abs=0.5 * half_width)
        assert np.mean(s_sig >= rejection.threshold) == pytest.approx(target, abs=2e-3)


def test_rejection_interval_is_clopper_pearson_on_background_efficiency(toy):
    perf, _, (_, s_bkg) = toy
    rejection = perf.inclusive.rejection_at(0.5)
    k = rejection.eff_background * s_bkg.size
    low, high = clopper_pearson(k, s_bkg.size)
    assert rejection.lower == pytest.approx(1 / high)
    assert rejection.upper == pytest.approx(1 / low)


def test_balanced_accuracy_matches_unbinned_best_cut(toy):
    perf, (_, s_sig), (_, s_bkg) = toy
    eff_s, eff_b = unbinned_roc(s_sig, s_bkg)
    best = np.max(0.5 * (eff_s + 1 - eff_b))
    assert perf.inclusive.accuracy == pytest.approx(best, abs=2e-3)
    t = perf.inclusive.accuracy_threshold
    at_threshold = 0.5 * (np.mean(s_sig >= t) + np.mean(s_bkg < t))
    assert perf.inclusive.accuracy == pytest.approx(at_threshold, abs=1e-12)


def test_working_points_are_edges_near_their_targets(toy):
    perf, (_, s_sig), _ = toy
    edges = np.linspace(0, 1, 1001)
    assert [wp.name for wp in perf.working_points] == ["eS30", "eS50", "eS70"]
    for wp in perf.working_points:
        assert np.min(np.abs(edges - wp.threshold)) < 1e-12
        assert wp.eff_signal == pytest.approx(np.mean(s_sig >= wp.threshold), abs=1e-12)
        assert wp.eff_signal == pytest.approx(wp.target_eff_signal, abs=3e-3)
    thresholds = [wp.threshold for wp in perf.working_points]
    assert thresholds == sorted(thresholds, reverse=True)


def test_dataset_weights_and_data_exclusion():
    """Two QCD slices with different metadata weights: ε_B is their weighted mixture."""
    h = score_histogram()
    h.fill(dataset="top", truth="top", pt=500, score=np.full(100, 0.9))
    h.fill(dataset="qcd_low", truth="qcd", pt=500, score=np.full(100, 0.1))
    h.fill(dataset="qcd_high", truth="qcd", pt=500, score=np.full(100, 0.95))
    h.fill(dataset="data", truth="top", pt=500, score=np.full(1000, 0.1))  # must be ignored
    metadata = {
        "top": {"is_data": False, "weight": 1.0},
        "qcd_low": {"is_data": False, "weight": 3.0},
        "qcd_high": {"is_data": False, "weight": 1.0},
        "data": {"is_data": True, "weight": 1.0},
    }
    curve = tagger_performance({"score_x": h}, "x", metadata=metadata).inclusive
    index = 500  # threshold 0.5
    assert curve.eff_signal[index] == pytest.approx(1.0)
    assert curve.eff_background[index] == pytest.approx(0.25)
    assert curve.background_yield == pytest.approx(400)


def test_score_overflow_always_passes():
    h = score_histogram()
    h.fill(dataset="tt", truth="top", pt=500, score=[1.0, 1.0, 0.5, -0.1])
    h.fill(dataset="qcd", truth="qcd", pt=500, score=[0.2, 0.2, 0.2, 0.2])
    curve = tagger_performance({"score_x": h}, "x").inclusive
    assert curve.eff_signal[-1] == pytest.approx(0.5)  # threshold 1.0: the two scores of 1.0
    assert curve.eff_signal[0] == pytest.approx(0.75)  # the underflow never passes


def test_empty_pt_bin_and_unreachable_efficiency_are_flagged():
    h = score_histogram()
    h.fill(dataset="tt", truth="top", pt=[350] * 10, score=[0.2] * 10)
    h.fill(dataset="qcd", truth="qcd", pt=[350, 700], score=[0.1, 0.3])
    perf = tagger_performance({"score_x": h}, "x")
    assert perf.inclusive.valid
    empty = perf.per_pt[2]
    assert not empty.valid and np.isnan(empty.auc)
    assert any("pT 600–1000 GeV: no signal jets" in w for w in perf.warnings)
    # no background jet with score ≥ 0.2's interpolation point: 1/ε_B infinite, lower bound finite
    rejection = perf.per_pt[0].rejection_at(0.3)
    assert rejection.eff_background == 0 and rejection.value == np.inf
    assert np.isfinite(rejection.lower) and rejection.lower > 1
    assert any("1/ε_B is infinite" in w for w in perf.warnings)
    json.dumps(perf.to_dict(), allow_nan=False)


def test_missing_content_raises_histogram_error():
    h = score_histogram()
    h.fill(dataset="tt", truth="top", pt=500, score=0.5)
    with pytest.raises(HistogramError, match="score_cnn"):
        tagger_performance({"score_x": h}, "cnn")
    top_only = hist.Hist(
        h.axes["dataset"], hist.axis.StrCategory(["top"], name="truth"), *h.axes[2:]
    )
    with pytest.raises(HistogramError, match="no truth class 'qcd'"):
        tagger_performance({"score_x": top_only}, "x")
    with pytest.raises(HistogramError, match="no entry in the metadata"):
        tagger_performance({"score_x": h}, "x", metadata={"other": {"is_data": False}})
    flat = hist.Hist(hist.axis.Regular(10, 0, 1, name="score"))
    with pytest.raises(HistogramError, match="lacks the axis 'dataset'"):
        tagger_performance({"score_x": flat}, "x")
