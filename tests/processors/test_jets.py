"""Truth labels from a hand-made generator record, generator-jet matching and selection."""

from __future__ import annotations

import awkward as ak
import numpy as np

from boostjet.config import Selection
from boostjet.histograms import TRUTH_CLASSES
from boostjet.processors.jets import (
    heavy_resonances,
    match_generator_jets,
    select_fat_jets,
    truth_labels,
)


def particle(pid, eta, phi, d1=-1, d2=-1):
    return {"PID": pid, "Eta": eta, "Phi": phi, "D1": d1, "D2": d2}


def top_event(b_eta=0.2, q_eta=0.1):
    """t (two recoil copies) → b W+(copy) → u d̄, at η≈0, φ≈0, and an unrelated gluon."""
    return [
        particle(6, 0.0, 0.0, 1, 1),  # 0 top
        particle(6, 0.0, 0.0, 2, 3),  # 1 top, last copy
        particle(5, b_eta, 0.2),  # 2 b
        particle(24, -0.1, -0.1, 4, 4),  # 3 W
        particle(24, -0.1, -0.1, 5, 6),  # 4 W, last copy
        particle(2, q_eta, -0.3),  # 5 u
        particle(-1, -0.3, 0.1),  # 6 d̄
        particle(21, 2.0, 2.0),  # 7 gluon
    ]


def labels(event, jets_eta_phi, radius=0.8):
    particles = ak.Array([event])
    jets = ak.Array([[{"eta": e, "phi": p} for e, p in jets_eta_phi]])
    label = truth_labels(jets, heavy_resonances(particles), radius)
    return [TRUTH_CLASSES[i] for i in ak.to_list(label)[0]]


def test_fully_contained_top_is_top_and_far_jet_is_qcd():
    assert labels(top_event(), [(0.0, 0.0), (2.0, 2.0)]) == ["top", "qcd"]


def test_top_with_b_outside_is_a_w_jet():
    assert labels(top_event(b_eta=1.5), [(-0.1, -0.1)]) == ["w"]


def test_partially_contained_top_is_other():
    assert labels(top_event(b_eta=0.2, q_eta=1.5), [(0.0, 0.0)]) == ["other"]


def test_leptonic_w_is_other_not_w():
    event = [particle(24, 0.0, 0.0, 1, 2), particle(11, 0.1, 0.0), particle(-12, -0.1, 0.0)]
    assert labels(event, [(0.0, 0.0)]) == ["other"]


def test_hadronic_z_with_both_quarks_is_w_class():
    event = [particle(23, 0.0, 0.0, 1, 2), particle(5, 0.3, 0.0), particle(-5, -0.3, 0.0)]
    assert labels(event, [(0.0, 0.0), (0.0, 2.0)]) == ["w", "qcd"]


def test_generator_jet_matching_takes_the_nearest_within_radius():
    jets = ak.Array([[{"eta": 0.0, "phi": 0.0}, {"eta": 1.0, "phi": 1.0}]])
    gen = ak.Array([[{"eta": 0.3, "phi": 0.0, "m": 1.0}, {"eta": 0.1, "phi": 0.0, "m": 2.0}]])
    matched = match_generator_jets(jets, gen, radius=0.4)
    assert ak.to_list(matched.m) == [[2.0, None]]


def test_selection_orders_by_pt_and_keeps_the_leading_jets():
    jets = ak.Array(
        [[{"pt": p, "eta": e} for p, e in [(350.0, 0.0), (900.0, 1.0), (500.0, 3.0), (600, 0.5)]]]
    )
    kept = select_fat_jets(jets, Selection(pt_min=300, abs_eta_max=2.4, max_jets_per_event=2))
    assert ak.to_list(kept.pt) == [[900.0, 600.0]]
    assert np.all(np.abs(ak.to_numpy(ak.flatten(kept.eta))) < 2.4)
