"""N-subjettiness ratios and the cut-based tagger score against hand-computed values."""

from __future__ import annotations

import numpy as np

from boostjet.processors.features import cut_based_score, ratio


def test_ratio_with_vanishing_denominator_is_one():
    np.testing.assert_allclose(ratio(np.array([0.2, 0.1]), np.array([0.4, 0.0])), [0.5, 1.0])


def test_cut_based_score_inside_and_outside_the_mass_window():
    score = cut_based_score(
        np.array([170.0, 90.0, 104.9, 210.0]), np.array([0.4, 0.4, 0.1, 0.2]), (105.0, 210.0)
    )
    np.testing.assert_allclose(score, [0.6, 0.0, 0.0, 0.0], rtol=1e-6)
    assert score.dtype == np.float32
