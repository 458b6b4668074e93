"""Histograms written as UHI JSON read back equal, and reading one never runs code."""

from __future__ import annotations

import gzip
import json

import hist
import numpy as np
import pytest

from boostjet import histograms as booking
from boostjet.errors import HistogramError
from boostjet.histogram_io import (
    decode,
    encode,
    from_bytes,
    read_histograms,
    to_bytes,
    write_histograms,
)
from boostjet.rundir import HISTOGRAMS, HISTOGRAMS_PICKLE, load_histograms


@pytest.fixture
def booked(run_config) -> dict[str, hist.Hist]:
    """Every kind of histogram the processor books, filled with weights, over- and underflow,
    and a dataset category grown after booking."""
    histograms = booking.book(
        run_config(),
        taggers=["cut_based_top", "dnn_w"],
        regressors={"mass_sd": "mass", "energy_dnn": "energy"},
        dataset="ttbar",
        with_sigma=("energy_dnn",),
    )
    rng = np.random.default_rng(7)
    for histogram in histograms.values():
        n = 500
        fills = {}
        for axis in histogram.axes:
            if isinstance(axis, hist.axis.StrCategory):
                fills[axis.name] = rng.choice([*axis, "grown"], n)
            else:
                low, high = axis.edges[0], axis.edges[-1]
                width = high - low
                fills[axis.name] = rng.uniform(low - 0.1 * width, high + 0.1 * width, n)
        histogram.fill(**fills, weight=rng.uniform(0.1, 2.0, n))
    return histograms


def test_every_booked_histogram_reads_back_equal(booked, tmp_path):
    path = tmp_path / "h.json.gz"
    write_histograms(path, booked)
    loaded = read_histograms(path)
    assert loaded.keys() == booked.keys()
    assert {"score_dnn_w", "response_mass_sd", "energy_response_energy_dnn"} <= loaded.keys()
    assert {"pull_energy_dnn", "control_sd_mass"} <= loaded.keys()
    for name, original in booked.items():
        copy = loaded[name]
        assert isinstance(copy, hist.Hist)
        assert copy.storage_type is hist.storage.Weight
        np.testing.assert_array_equal(copy.values(flow=True), original.values(flow=True))
        np.testing.assert_array_equal(copy.variances(flow=True), original.variances(flow=True))
        assert copy.axes == original.axes  # types, edges, categories, traits (growth, flow)
        assert copy.axes.name == original.axes.name
        assert copy.axes.label == original.axes.label
        assert [type(a) for a in copy.axes] == [type(a) for a in original.axes]
        assert [a.traits for a in copy.axes] == [a.traits for a in original.axes]
        assert "grown" in copy.axes["dataset"]
        assert copy.values(flow=True)[..., 0].sum() > 0  # underflow of the last axis filled
        assert copy == original


def test_a_category_axis_without_growth_keeps_its_overflow_bin():
    h = hist.Hist(
        hist.axis.StrCategory(["top", "qcd"], name="truth"),
        hist.axis.Variable([300, 500, 1200], name="pt", label="pT"),
        storage=hist.storage.Weight(),
    )
    h.fill(truth=["top", "elsewhere", "qcd"], pt=[350, 2000, 100], weight=[1.5, 2.0, 0.25])
    (copy,) = decode(from_bytes(to_bytes(encode({"h": h})))).values()
    assert copy == h and copy.axes[0].traits.overflow
    assert copy.values(flow=True)[2].sum() == 2.0  # the "elsewhere" jet in the overflow bin


def test_merging_read_back_histograms_equals_merging_the_originals(booked):
    """What --resume does with checkpoints: add histograms read back to new ones."""
    loaded = decode(from_bytes(to_bytes(encode(booked))))
    for name, original in booked.items():
        assert loaded[name] + original == original + original


def test_a_pickle_in_place_of_the_histogram_file_is_refused_and_runs_nothing(
    tmp_path, crafted_pickle
):
    data, marker = crafted_pickle
    (tmp_path / HISTOGRAMS).write_bytes(data)
    with pytest.raises(HistogramError, match=rf"{HISTOGRAMS} is not a readable UHI histogram"):
        load_histograms(tmp_path)
    assert not marker.exists()


@pytest.mark.parametrize(
    "document",
    [["a list"], {"h": {"uhi_schema": 1, "axes": "nonsense", "storage": {}}}, {"h": 3}],
)
def test_a_malformed_histogram_file_is_one_sentence(tmp_path, document):
    (tmp_path / HISTOGRAMS).write_bytes(gzip.compress(json.dumps(document).encode()))
    with pytest.raises(HistogramError, match=rf"{HISTOGRAMS} is not a readable UHI histogram"):
        load_histograms(tmp_path)


def test_an_old_run_directory_with_only_a_pickle_is_not_unpickled_unless_trusted(
    tmp_path, crafted_pickle
):
    data, marker = crafted_pickle
    (tmp_path / HISTOGRAMS_PICKLE).write_bytes(data)
    with pytest.raises(HistogramError, match=r"has histograms\.pkl but no .*--trust-pickle"):
        load_histograms(tmp_path)
    assert not marker.exists()
    with pytest.raises(HistogramError, match=r"does not hold a dictionary of hist\.Hist"):
        load_histograms(tmp_path, trust_pickle=True)
    assert marker.exists()  # what trust_pickle means: the pickle's code ran


def test_a_directory_without_histograms_says_so(tmp_path):
    with pytest.raises(HistogramError, match=rf"has no {HISTOGRAMS}; is it the output"):
        load_histograms(tmp_path)
