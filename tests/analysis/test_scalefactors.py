"""Scale factors: closure, a known efficiency loss, toy checks of the uncertainty, edge cases."""

import json

import hist
import numpy as np
import pytest

from boostjet.analysis.roc import tagger_performance
from boostjet.analysis.scalefactors import scale_factor, scale_factors
from boostjet.errors import HistogramError

PT_EDGES = [300, 400, 500, 650, 1000]
THRESHOLD = 0.6


def score_histogram(
    pt_edges=PT_EDGES, n_score: int = 100, datasets=("ttbar", "qcd", "data")
) -> hist.Hist:
    return hist.Hist(
        hist.axis.StrCategory(list(datasets), name="dataset", growth=True),
        hist.axis.StrCategory(["top", "w", "qcd", "other", "data"], name="truth", growth=True),
        hist.axis.Variable(pt_edges, name="pt"),
        hist.axis.Regular(n_score, 0, 1, name="score"),
        storage=hist.storage.Weight(),
    )


def jets(rng: np.random.Generator, kind: str, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(pt, score) of toy jets: top peaks high, 'other' in the middle, QCD low."""
    pt = rng.uniform(300, 1000, n)
    shape = {"top": (6, 2), "other": (3, 3), "qcd": (1.5, 5)}[kind]
    return pt, rng.beta(*shape, n)


METADATA = {
    "ttbar": {"is_data": False, "weight": 0.5, "signal": "top"},
    "qcd": {"is_data": False, "weight": 2.0, "signal": "top"},
    "data": {"is_data": True, "weight": 1.0, "signal": "top"},
}


def simulation(rng: np.random.Generator) -> hist.Hist:
    """ttbar with 2× the data statistics (weight 0.5), QCD with half (weight 2)."""
    h = score_histogram()
    for truth, n in (("top", 40_000), ("other", 10_000)):
        pt, score = jets(rng, truth, n)
        h.fill(dataset="ttbar", truth=truth, pt=pt, score=score)
    pt, score = jets(rng, "qcd", 15_000)
    h.fill(dataset="qcd", truth="qcd", pt=pt, score=score)
    return h


def fill_data(h: hist.Hist, rng: np.random.Generator, moved_fraction: float = 0.0) -> None:
    """Pseudo-data as expected from simulation; ``moved_fraction`` of passing top jets fail."""
    for truth, n in (("top", 20_000), ("other", 5_000), ("qcd", 30_000)):
        pt, score = jets(rng, truth, n)
        if truth == "top":
            move = (score >= THRESHOLD) & (rng.random(n) < moved_fraction)
            score = np.where(move, 0.05, score)
        h.fill(dataset="data", truth="data", pt=pt, score=score)


def test_simulation_against_itself_gives_exactly_one():
    h = simulation(np.random.default_rng(3))
    simulated = simulation(np.random.default_rng(3))  # the same jets again, now as data
    for dataset in ("ttbar", "qcd"):
        spectrum = simulated[{"dataset": dataset}].project("pt", "score")
        h[{"dataset": "data", "truth": "data"}] += spectrum.view(flow=True)
    metadata = {k: {**v, "weight": 1.0} for k, v in METADATA.items()}
    sf = scale_factor({"score_dnn": h}, "dnn", THRESHOLD, metadata)
    np.testing.assert_allclose(sf.value, 1.0, rtol=1e-12)
    assert sf.valid.all() and (sf.error > 0).all()
    assert sf.background_subtracted and sorted(sf.background_classes) == ["other", "qcd", "w"]
    background = sum(
        h[{"dataset": d, "truth": t}].project("pt").values()
        for d, t in (("ttbar", "other"), ("qcd", "qcd"))
    )
    np.testing.assert_allclose(sf.subtracted_total, background)


def test_closure_on_independent_pseudo_data():
    rng = np.random.default_rng(11)
    h = simulation(rng)
    fill_data(h, rng)
    sf = scale_factor({"score_dnn": h}, "dnn", THRESHOLD, METADATA)
    pulls = (sf.value - 1) / sf.error
    assert np.all(np.abs(pulls) < 3), pulls
    assert sf.eff_data.n_effective.sum() < sf.eff_data.total.sum()  # subtraction costs statistics


@pytest.mark.parametrize("moved_fraction", [0.1, 0.3])
def test_known_efficiency_loss_is_recovered(moved_fraction):
    rng = np.random.default_rng(5)
    h = simulation(rng)
    fill_data(h, rng, moved_fraction)
    sf = scale_factor({"score_dnn": h}, "dnn", THRESHOLD, METADATA)
    pulls = (sf.value - (1 - moved_fraction)) / sf.error
    assert np.all(np.abs(pulls) < 3), (sf.value, sf.error)
    without = scale_factor({"score_dnn": h}, "dnn", THRESHOLD, METADATA, subtract_background=False)
    assert not without.background_subtracted and not without.subtracted_total.any()
    assert np.all(without.value < sf.value)  # QCD and 'other' pass less often than top


def binomial_toys(n_toys: int, counts: dict[tuple[str, str], np.ndarray]) -> hist.Hist:
    """One toy per pT bin; counts[(dataset, truth)] = (failing, passing) unit-weight counts."""
    h = score_histogram(pt_edges=np.arange(n_toys + 1), n_score=2)
    view = h.view()
    for (dataset, truth), (failing, passing) in counts.items():
        d, t = h.axes["dataset"].index(dataset), h.axes["truth"].index(truth)
        for score_bin, values in enumerate((failing, passing)):
            view.value[d, t, :, score_bin] = values
            view.variance[d, t, :, score_bin] = values
    return h


def test_propagated_error_matches_binomial_toys():
    rng = np.random.default_rng(2)
    n_toys, n_mc, n_data = 2000, 400, 150
    k_mc = rng.binomial(n_mc, 0.6, n_toys)
    k_data = rng.binomial(n_data, 0.45, n_toys)
    h = binomial_toys(
        n_toys,
        {
            ("ttbar", "top"): (n_mc - k_mc, k_mc),
            ("data", "data"): (n_data - k_data, k_data),
        },
    )
    metadata = {k: {**v, "weight": 1.0} for k, v in METADATA.items()}
    sf = scale_factor({"score_x": h}, "x", 0.5, metadata)
    assert np.std(sf.value) == pytest.approx(np.median(sf.error), rel=0.2)
    assert np.mean(sf.value) == pytest.approx(0.75, rel=0.01)


def test_propagated_error_matches_toys_with_background_subtraction():
    """Poisson data = signal + background; weighted simulated background also fluctuates."""
    rng = np.random.default_rng(4)
    n_toys = 2000
    signal = rng.poisson([150, 150], (n_toys, 2)).T  # fail, pass
    background = rng.poisson([180, 20], (n_toys, 2)).T
    mc_background = rng.poisson([90, 10], (n_toys, 2)).T  # × weight 2 = the same expectation
    mc_signal = rng.poisson([500, 500], (n_toys, 2)).T
    h = binomial_toys(
        n_toys,
        {
            ("ttbar", "top"): mc_signal,
            ("qcd", "qcd"): mc_background,  # scaled by its metadata weight 2
            ("data", "data"): signal + background,
        },
    )
    metadata = {**METADATA, "ttbar": {**METADATA["ttbar"], "weight": 1.0}}
    sf = scale_factor({"score_x": h}, "x", 0.5, metadata)
    assert sf.background_subtracted and sf.background_classes == ["w", "qcd", "other"]
    assert np.std(sf.value) == pytest.approx(np.median(sf.error), rel=0.2)
    assert np.mean(sf.value) == pytest.approx(1.0, abs=0.01)


def test_working_points_from_roc_feed_scale_factors():
    rng = np.random.default_rng(8)
    h = simulation(rng)
    fill_data(h, rng)
    perf = tagger_performance({"score_dnn": h}, "dnn", metadata=METADATA)
    sfs = scale_factors({"score_dnn": h}, "dnn", perf.working_points, METADATA)
    assert [sf.working_point for sf in sfs] == ["eS30", "eS50", "eS70"]
    for wp, sf in zip(perf.working_points, sfs, strict=True):
        assert sf.threshold == wp.threshold
        assert sf.warnings == []
    json.dumps([sf.to_dict() for sf in sfs], allow_nan=False)


@pytest.mark.parametrize("datasets", [("ttbar", "qcd", "data"), ("ttbar", "qcd")])
def test_no_data_sample_gives_flagged_nan(datasets):
    """Either an empty data dataset or none at all."""
    h = score_histogram(datasets=datasets)
    h.fill(dataset="ttbar", truth="top", pt=[350, 450, 550, 700], score=[0.9, 0.1, 0.7, 0.8])
    sf = scale_factor({"score_dnn": h}, "dnn", THRESHOLD, METADATA)
    assert not sf.valid.any() and np.isnan(sf.value).all()
    assert np.isfinite(sf.eff_mc.value).all()
    assert not sf.background_subtracted
    assert any("no data jets for signal 'top'" in w for w in sf.warnings)
    json.dumps(sf.to_dict(), allow_nan=False)


def test_zero_and_empty_bins_are_flagged():
    h = score_histogram()
    pt_mc, score_mc = [350, 350, 450, 450, 700], [0.9, 0.1, 0.1, 0.2, 0.9]
    h.fill(dataset="ttbar", truth="top", pt=pt_mc, score=score_mc)
    h.fill(dataset="data", truth="data", pt=[350, 350, 450, 700], score=[0.9, 0.9, 0.1, 0.1])
    metadata = {k: {**v, "weight": 1.0} for k, v in METADATA.items()}
    sf = scale_factor({"score_dnn": h}, "dnn", THRESHOLD, metadata)
    assert sf.valid.tolist() == [True, False, False, True]
    assert sf.value[0] == pytest.approx(2.0)
    assert np.isnan(sf.value[1]) and np.isnan(sf.error[2])
    assert sf.value[3] == 0 and sf.error[3] > 0  # ε_data = 0 is a defined SF of zero
    assert any("ε_MC = 0" in w for w in sf.warnings)  # bin 1: no MC jet passes
    assert any("ε_data" in w and "bins [2]" in w for w in sf.warnings)  # bin 2: empty


def test_threshold_between_edges_is_snapped_with_a_warning():
    h = simulation(np.random.default_rng(1))
    sf = scale_factor({"score_dnn": h}, "dnn", 0.6049, METADATA)
    assert sf.threshold == pytest.approx(0.6)
    assert any("not a score edge" in w for w in sf.warnings)


def test_missing_metadata_or_histogram_raises():
    h = simulation(np.random.default_rng(1))
    with pytest.raises(HistogramError, match="Dataset 'qcd' of histogram 'score_dnn'"):
        scale_factor({"score_dnn": h}, "dnn", 0.5, {"ttbar": METADATA["ttbar"]})
    with pytest.raises(HistogramError, match="'score_lola' is missing"):
        scale_factor({"score_dnn": h}, "lola", 0.5, METADATA)
