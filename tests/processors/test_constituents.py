"""Reference resolution, ΔR association and padded constituent arrays on hand-made events."""

from __future__ import annotations

import awkward as ak
import numpy as np

from boostjet.processors.constituents import (
    CONSTITUENT_FEATURES,
    associate_by_delta_r,
    delta_phi,
    padded_constituents,
    resolve_references,
)

PROCESS_BITS = 1 << 24  # ROOT's TProcessID number sits in the top byte of fUniqueID


def candidates(per_event):
    """Candidates from lists of (uid, pt, eta, phi) per event, massless photons (kind 1)."""
    records = [
        [
            {"uid": uid, "pt": pt, "eta": eta, "phi": phi, "E": pt * np.cosh(eta)}
            | {"px": pt * np.cos(phi), "py": pt * np.sin(phi), "pz": pt * np.sinh(eta)}
            | {"charge": 0.0, "kind": 1, "d0": 0.0, "dz": 0.0, "d0_error": 0.0, "dz_error": 0.0}
            for uid, pt, eta, phi in event
        ]
        for event in per_event
    ]
    return ak.Array(records)


def test_references_pick_exactly_the_referenced_objects_per_event():
    cands = candidates(
        [
            [(PROCESS_BITS + 5, 10.0, 0.0, 0.0), (PROCESS_BITS + 7, 20.0, 0.1, 0.1)],
            [(PROCESS_BITS + 5, 30.0, 1.0, 1.0)],  # same number, other event
        ]
    )
    refs = ak.Array([[[7, 5], [5]], [[5, 99]]])  # 99 does not exist
    resolved = resolve_references(refs, cands)
    assert resolved.unresolved == 1
    assert ak.to_list(resolved.constituents.pt) == [[[20.0, 10.0], [10.0]], [[30.0]]]


def test_no_references_and_no_candidates():
    cands = candidates([[], [(1, 5.0, 0.0, 0.0)]])
    refs = ak.Array([[], [[]]])
    resolved = resolve_references(refs, cands)
    assert resolved.unresolved == 0
    assert ak.to_list(ak.num(resolved.constituents, axis=2)) == [[], [0]]


def test_delta_r_association_gives_each_candidate_to_the_nearest_jet_only():
    jets = ak.Array([[{"eta": 0.0, "phi": 0.0}, {"eta": 0.0, "phi": 1.0}]])
    cands = candidates([[(1, 5.0, 0.0, 0.45), (2, 5.0, 0.0, 0.7), (3, 5.0, 0.0, 2.5)]])
    taken = associate_by_delta_r(jets, cands, radius=0.8)
    # 0.45 is nearer the first jet, 0.7 the second, 2.5 is outside both
    assert ak.to_list(taken.uid) == [[[1], [2]]]


def test_delta_phi_wraps_around_pi():
    np.testing.assert_allclose(delta_phi(np.pi - 0.1, -np.pi + 0.1), -0.2, atol=1e-12)
    np.testing.assert_allclose(delta_phi(0.3, 0.1), 0.2, atol=1e-12)


def test_padded_constituents_are_pt_ordered_truncated_and_masked():
    jets = ak.Array([{"eta": 0.5, "phi": 3.0}, {"eta": -1.0, "phi": 0.0}])
    cands = candidates([[(1, 1.0, 0.6, 3.1), (2, 3.0, 0.4, -3.1), (3, 2.0, 0.5, 3.0)], []])
    features, mask = padded_constituents(jets, cands, n_constituents=2)
    assert features.shape == (2, 2, len(CONSTITUENT_FEATURES)) and features.dtype == np.float32
    assert mask.tolist() == [[True, True], [False, False]]
    pt = features[:, :, CONSTITUENT_FEATURES.index("pt")]
    assert pt.tolist() == [[3.0, 2.0], [0.0, 0.0]]
    dphi = features[0, 0, CONSTITUENT_FEATURES.index("dphi")]
    np.testing.assert_allclose(dphi, 2 * np.pi - 6.1, rtol=1e-5)  # −3.1 − 3.0 wrapped
    deta = features[0, :, CONSTITUENT_FEATURES.index("deta")]
    np.testing.assert_allclose(deta, [-0.1, 0.0], atol=1e-6)
    assert not features[1].any()
    is_photon = features[:, :, CONSTITUENT_FEATURES.index("is_photon")]
    assert is_photon.tolist() == [[1.0, 1.0], [0.0, 0.0]]
    assert not features[:, :, CONSTITUENT_FEATURES.index("is_neutral_hadron")].any()
