"""N-subjettiness ratios and the cut-based tagger score against hand-computed values."""

from __future__ import annotations

import awkward as ak
import numpy as np

from boostjet.processors.features import cut_based_score, energy_fractions, ratio


def test_ratio_with_vanishing_denominator_is_one():
    np.testing.assert_allclose(ratio(np.array([0.2, 0.1]), np.array([0.4, 0.0])), [0.5, 1.0])


def test_cut_based_score_inside_and_outside_the_mass_window():
    score = cut_based_score(
        np.array([170.0, 90.0, 104.9, 210.0]), np.array([0.4, 0.4, 0.1, 0.2]), (105.0, 210.0)
    )
    np.testing.assert_allclose(score, [0.6, 0.0, 0.0, 0.0], rtol=1e-6)
    assert score.dtype == np.float32


def test_energy_fractions_by_constituent_kind():
    # jet 0: a 30 GeV track, a 10 GeV photon and a 60 GeV neutral hadron; jet 1: empty;
    # jet 2: one 5 GeV tower (kind 3), which is none of the three kinds
    constituents = ak.Array(
        [
            [{"E": 30.0, "kind": 0}, {"E": 10.0, "kind": 1}, {"E": 60.0, "kind": 2}],
            [],
            [{"E": 5.0, "kind": 3}],
        ]
    )
    flat = ak.flatten(constituents)
    counts = ak.to_numpy(ak.num(constituents))
    fractions = energy_fractions(ak.to_numpy(flat.E), ak.to_numpy(flat.kind), counts)
    np.testing.assert_allclose(fractions["charged_energy_fraction"], [0.3, 0.0, 0.0])
    np.testing.assert_allclose(fractions["photon_energy_fraction"], [0.1, 0.0, 0.0])
    np.testing.assert_allclose(fractions["neutral_hadron_energy_fraction"], [0.6, 0.0, 0.0])
