"""The flat-numpy helpers behind the processor equal the awkward formulations they replace."""

from __future__ import annotations

from pathlib import Path

import awkward as ak
import numpy as np
import pytest
from test_delphes import EFLOW, SHARED, load, needs_shared

from boostjet.kinematics import delta_phi
from boostjet.processors.constituents import (
    CONSTITUENT_FEATURES,
    ResolvedConstituents,
    _dense_lookup,
    _sorted_lookup,
    leading_constituents,
    leading_slots,
    padded_constituents,
    resolve_from_sources,
    resolve_references,
)
from boostjet.processors.delphes import (
    candidate_source,
    energy_flow_candidates,
    interleave_positions,
    jet_constituent_refs,
)
from boostjet.processors.jets import match_generator_jets, same_event_pairs

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


def test_same_event_pairs_equal_a_nested_cartesian():
    left = ak.Array([[0, 1], [], [2], [3, 4, 5]])
    right = ak.Array([[10, 11, 12], [13], [], [14]])
    pairs = ak.cartesian([left, right], axis=1, nested=True)
    expected = ak.flatten(ak.flatten(pairs, axis=2), axis=1)
    i, j = same_event_pairs(ak.to_numpy(ak.num(left)), ak.to_numpy(ak.num(right)))
    flat_left, flat_right = ak.to_numpy(ak.flatten(left)), ak.to_numpy(ak.flatten(right))
    assert list(zip(flat_left[i], flat_right[j], strict=True)) == [
        tuple(pair) for pair in ak.to_list(expected)
    ]


@pytest.mark.parametrize("exact_float32", [True, False])
def test_leading_slots_order_by_jet_then_decreasing_pt_stably(exact_float32):
    rng = np.random.default_rng(1)
    counts = np.array([5, 0, 3, 7, 1])
    pt = np.round(rng.uniform(0, 10, counts.sum()), 0)  # many ties
    if not exact_float32:
        pt = pt + 1e-12 * np.arange(len(pt))  # not representable in float32: the lexsort path
    index, jet, slot = leading_slots(counts, pt, n_constituents=4)
    order = np.lexsort((-pt, np.repeat(np.arange(len(counts)), counts)))
    rank = np.concatenate([np.arange(c) for c in counts])
    keep = rank < 4
    np.testing.assert_array_equal(index, order[keep])
    np.testing.assert_array_equal(slot, rank[keep])
    np.testing.assert_array_equal(jet, np.repeat(np.arange(len(counts)), np.minimum(counts, 4)))


def test_leading_constituents_pad_to_the_padded_array():
    jets = ak.Array([{"eta": 0.5, "phi": 3.0}, {"eta": -1.0, "phi": 0.0}])
    cands = ak.Array(
        [
            [
                {f: float(v) for f in ("E", "px", "py", "pz", "eta", "phi", "charge")}
                | dict.fromkeys(("d0", "dz", "d0_error", "dz_error"), 0.0)
                | {"pt": v, "kind": 0}
            ]
            * 2
            for v in (1.0, 2.0)
        ]
    )
    flat = ak.flatten(cands)
    columns = {name: ak.to_numpy(flat[name]) for name in ak.fields(flat)}
    eta, phi = ak.to_numpy(jets.eta), ak.to_numpy(jets.phi)
    lead = leading_constituents(eta, phi, columns, ak.to_numpy(ak.num(cands)), 1)
    assert lead.rows.shape == (2, len(CONSTITUENT_FEATURES)) and lead.counts.tolist() == [2, 2]
    values, mask = padded_constituents(jets, cands, 1)
    np.testing.assert_array_equal(lead.padded()[0], values)
    np.testing.assert_array_equal(lead.padded()[1], mask)


def test_interleave_positions_concatenate_parts_event_by_event():
    a, b = ak.Array([[1, 2], [], [3]]), ak.Array([[10], [11, 12], []])
    positions, total = interleave_positions([ak.to_numpy(ak.num(x)) for x in (a, b)])
    out = np.empty(int(total.sum()), dtype=np.int64)
    for part, where in zip((a, b), positions, strict=True):
        out[where] = ak.to_numpy(ak.flatten(part))
    assert ak.to_list(ak.unflatten(out, total)) == ak.to_list(ak.concatenate([a, b], axis=1))


def test_dense_lookup_equals_the_sorted_lookup_and_declines_repeated_keys():
    cand_event = np.array([0, 0, 0, 1, 1])
    cand_uid = np.array([3, 1, 2, 1, 5]) | (1 << 24)
    ref_event = np.array([0, 0, 1, 1, 1])
    ref_uid = np.array([2, 9, 5, 1, 3])
    dense = _dense_lookup(cand_event, cand_uid, ref_event, ref_uid, 2)
    np.testing.assert_array_equal(dense, [2, -1, 4, 3, -1])
    np.testing.assert_array_equal(dense, _sorted_lookup(cand_event, cand_uid, ref_event, ref_uid))
    assert _dense_lookup(np.array([0, 0]), np.array([1, 1]), ref_event, ref_uid, 2) is None


def test_generator_matching_prefers_the_first_of_equally_near_jets():
    jets = ak.Array([[{"eta": 0.0, "phi": 0.0}], []])
    gen = ak.Array([[{"eta": 0.1, "phi": 0.0, "m": 1.0}, {"eta": -0.1, "phi": 0.0, "m": 2.0}], []])
    assert ak.to_list(match_generator_jets(jets, gen, radius=0.4).m) == [[1.0], []]


def test_generator_matching_equals_the_cartesian_argmin_route():
    # random events with ties on a 0.1 grid (no ΔR at the radius), events without jets or
    # generator jets
    rng = np.random.default_rng(3)
    n_jets, n_gen = rng.integers(0, 4, 300), rng.integers(0, 5, 300)

    def objects(counts):
        total = int(counts.sum())
        grid = {"eta": rng.integers(-4, 5, total) * 0.1, "phi": rng.integers(-4, 5, total) * 0.1}
        return ak.unflatten(ak.zip(grid | {"m": np.arange(total, dtype=float)}), counts)

    jets, gen = objects(n_jets), objects(n_gen)
    pairs = ak.cartesian({"j": jets, "g": gen}, axis=1, nested=True)
    dr = np.hypot(pairs.j.eta - pairs.g.eta, delta_phi(pairs.j.phi, pairs.g.phi))
    nearest = ak.argmin(dr, axis=2, keepdims=True)
    expected = ak.where(
        ak.fill_none(ak.firsts(dr[nearest], axis=2) < 0.45, False),
        ak.firsts(pairs.g.m[nearest], axis=2),
        np.nan,
    )
    matched = ak.fill_none(match_generator_jets(jets, gen, radius=0.45).m, np.nan)
    np.testing.assert_array_equal(
        ak.to_numpy(ak.flatten(matched)), ak.to_numpy(ak.flatten(expected))
    )


def _same_constituents(a, b):
    assert a.unresolved == b.unresolved and a.constituents.type == b.constituents.type
    for field in ak.fields(a.constituents):
        x = ak.to_numpy(ak.flatten(a.constituents[field], axis=None))
        y = ak.to_numpy(ak.flatten(b.constituents[field], axis=None))
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize(
    "path",
    [
        pytest.param(SAMPLES / "ttbar_mc.root", id="flat"),
        pytest.param(SHARED / "tth_hbb_cms_fatjet.root", id="genuine", marks=needs_shared),
    ],
)
def test_resolving_from_sources_equals_resolving_the_candidate_record(path):
    events = load(path)
    refs = jet_constituent_refs(events, "FatJet")
    candidates = energy_flow_candidates(events, EFLOW)
    sources = [candidate_source(events, name) for name in EFLOW]
    flat = resolve_from_sources(refs, sources)
    resolved = ResolvedConstituents(flat.records(), flat.unresolved)
    _same_constituents(resolved, resolve_references(refs, candidates))
    # calorimeter energies are bit for bit coffea's ``.E`` of the massless objects
    photons = candidates[candidates.kind == 1]
    np.testing.assert_array_equal(
        ak.to_numpy(ak.flatten(photons.E)),
        ak.to_numpy(ak.flatten(events.EFlowPhoton.E)).astype(np.float64),
    )
