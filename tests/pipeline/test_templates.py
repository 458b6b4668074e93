"""The template histograms in a run: frozen thresholds as score edges, nominal always, the
shower variations for files whose WeightNames string announces them."""

from __future__ import annotations

import awkward as ak
import hist
import numpy as np
import pytest
import uproot

from boostjet.generation.writer import write_flat
from boostjet.histograms import (
    NOMINAL,
    SHOWER_VARIATIONS,
    WEIGHT_NAMES_KEY,
    score_key,
    template_key,
)
from boostjet.pipeline.routes import run

#: Per-event Weight entries: nominal 2, isr_up 4, isr_down 1, fsr_up 2, fsr_down 2.
WEIGHTS = (2.0, 4.0, 1.0, 2.0, 2.0)
RATIOS = dict(zip(SHOWER_VARIATIONS, np.array(WEIGHTS[1:]) / WEIGHTS[0], strict=True))


def _with_shower_weights(source, target):
    """A copy of a flat toy file with a Weight collection (WEIGHTS per event) and WeightNames."""
    with uproot.open(source) as file:
        tree = file["Delphes"]
        names = {k.removesuffix("_size") for k in tree.keys() if k.endswith("_size")}
        collections = {
            name: ak.zip(
                {
                    k.split(".", 1)[1]: tree[k].array()
                    for k in tree.keys()
                    if k.startswith(f"{name}.")
                }
            )
            for name in names
        }
    n_events = len(collections["FatJet"])
    collections["Weight"] = ak.zip({"Weight": ak.Array([list(WEIGHTS)] * n_events)})
    write_flat(target, collections)
    with uproot.update(target) as file:
        file[WEIGHT_NAMES_KEY] = " ".join([NOMINAL, *SHOWER_VARIATIONS])
    return target


@pytest.fixture(scope="module")
def template_run(flat_files, tmp_path_factory):
    from boostjet.config import RunConfig

    folder = tmp_path_factory.mktemp("templates")
    weighted = _with_shower_weights(flat_files["signal"], folder / "weighted.root")
    config = RunConfig.model_validate(
        {
            "datasets": {
                "sig": {"files": [str(weighted)], "signal": "top"},
                "bkg": {"files": [str(flat_files["background"])]},
            },
            "histograms": {"score_bins": 50, "response_bins": 40},
            "executor": {"type": "iterative", "chunksize": 40, "retries": 0},
            "cut_based": {"thresholds": {"cut_based_top": {"eS30": 0.6, "eS50": 0.4, "eS70": 0.2}}},
            "scale_factors": {"observable": {"bins": 10, "low": 0.0, "high": 1000.0}},
        }
    )
    return run(config).histograms


def test_score_edges_are_the_frozen_thresholds(template_run):
    h = template_run[template_key("cut_based_top")]
    assert list(h.axes["score"].edges) == [0.0, 0.2, 0.4, 0.6, 1.0]
    assert h.axes["sd_mass"].edges[-1] == 1000.0


def test_nominal_templates_hold_every_selected_jet_once(template_run):
    for tagger in ("cut_based_top", "cut_based_w"):
        nominal = template_run[template_key(tagger)][{"systematic": hist.loc(NOMINAL)}]
        scores = template_run[score_key(tagger)]
        for dataset in ("sig", "bkg"):
            jets = scores[{"dataset": hist.loc(dataset)}].sum(flow=True).value
            assert nominal[{"dataset": hist.loc(dataset)}].sum(flow=True).value == jets > 0


def test_shower_variations_are_weight_ratios_and_only_where_announced(template_run):
    h = template_run[template_key("cut_based_top")]
    assert list(h.axes["systematic"]) == [NOMINAL, *SHOWER_VARIATIONS]
    nominal = h[{"dataset": hist.loc("sig"), "systematic": hist.loc(NOMINAL)}].values(flow=True)
    for name, ratio in RATIOS.items():
        varied = h[{"dataset": hist.loc("sig"), "systematic": hist.loc(name)}].values(flow=True)
        np.testing.assert_allclose(varied, ratio * nominal)
        unweighted = h[{"dataset": hist.loc("bkg"), "systematic": hist.loc(name)}]
        assert unweighted.sum(flow=True).value == 0  # no WeightNames in that file
