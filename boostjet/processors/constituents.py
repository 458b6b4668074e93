"""Jet constituents: reference resolution, ΔR association, and padded per-jet arrays for models."""

from __future__ import annotations

from dataclasses import dataclass

import awkward as ak
import numpy as np

from boostjet.models.spec import CONSTITUENT_FEATURES


@dataclass(frozen=True)
class ResolvedConstituents:
    """Constituents per jet (``events * jets * constituents``) and how many references missed."""

    constituents: ak.Array
    unresolved: int


#: ROOT keeps the TProcessID number in the top byte of ``fUniqueID``; a TRef stores only the rest.
_OBJECT_NUMBER_BITS = 0x00FFFFFF


def _event_keys(event_index: np.ndarray, uid: np.ndarray) -> np.ndarray:
    """One int64 sort key per (event, object number): numbers repeat across events only."""
    return (event_index.astype(np.int64) << 32) | (uid.astype(np.int64) & _OBJECT_NUMBER_BITS)


def resolve_references(refs: ak.Array, candidates: ak.Array) -> ResolvedConstituents:
    """Turn ``fUniqueID`` references (``events * jets * refs``) into the referenced candidates.

    Vectorised over the whole chunk: candidate keys are sorted once and every reference is
    located with one ``searchsorted``. References to objects outside ``candidates`` (e.g. Towers
    when only EFlow collections were read) are dropped and counted in ``unresolved``.
    """
    n_events = len(candidates)
    cand_counts = ak.to_numpy(ak.num(candidates, axis=1))
    flat_candidates = ak.flatten(candidates, axis=1)
    cand_keys = _event_keys(
        np.repeat(np.arange(n_events), cand_counts), ak.to_numpy(flat_candidates.uid)
    )
    order = np.argsort(cand_keys, kind="stable")
    sorted_keys = cand_keys[order]

    jets_per_event = ak.to_numpy(ak.num(refs, axis=1))
    refs_per_jet = ak.to_numpy(ak.num(ak.flatten(refs, axis=1), axis=1))
    flat_refs = ak.to_numpy(ak.flatten(refs, axis=None))
    jet_event = np.repeat(np.arange(n_events), jets_per_event)
    ref_keys = _event_keys(np.repeat(jet_event, refs_per_jet), flat_refs)

    position = np.searchsorted(sorted_keys, ref_keys)
    position = np.minimum(position, max(len(sorted_keys) - 1, 0))
    found = sorted_keys[position] == ref_keys if len(sorted_keys) else np.zeros(len(ref_keys), bool)
    ref_jet = np.repeat(np.arange(len(refs_per_jet)), refs_per_jet)
    found_per_jet = np.bincount(ref_jet[found], minlength=len(refs_per_jet))
    picked = flat_candidates[order[position[found]]]
    per_jet = ak.unflatten(picked, found_per_jet)
    return ResolvedConstituents(
        constituents=ak.unflatten(per_jet, jets_per_event),
        unresolved=int(np.count_nonzero(~found)),
    )


def delta_phi(phi1, phi2):
    """φ1 − φ2 wrapped into [−π, π)."""
    return (phi1 - phi2 + np.pi) % (2 * np.pi) - np.pi


def associate_by_delta_r(jets: ak.Array, candidates: ak.Array, radius: float) -> ak.Array:
    """Constituents for files without references: each candidate joins the nearest jet within R.

    Returns ``events * jets * constituents``; a candidate is never shared by two jets.
    """
    pairs = ak.cartesian({"jet": jets[["eta", "phi"]], "cand": candidates}, axis=1, nested=True)
    dr2 = (pairs.jet.eta - pairs.cand.eta) ** 2 + delta_phi(pairs.jet.phi, pairs.cand.phi) ** 2
    # dr2 is events * jets * candidates; the nearest jet of each candidate wins it
    nearest = ak.argmin(dr2, axis=1, keepdims=True)
    is_nearest = ak.local_index(dr2, axis=1) == nearest
    take = is_nearest & (dr2 < radius**2)
    return pairs.cand[take]


def sort_by_pt(constituents: ak.Array) -> ak.Array:
    """Constituents of each jet in decreasing pT."""
    return constituents[ak.argsort(constituents.pt, axis=-1, ascending=False)]


def padded_constituents(
    jets: ak.Array,
    constituents: ak.Array,
    n_constituents: int,
    features: tuple[str, ...] = CONSTITUENT_FEATURES,
) -> tuple[np.ndarray, np.ndarray]:
    """Model input: the leading ``n_constituents`` per jet, zero-padded, plus a mask.

    ``jets`` and ``constituents`` are flat over jets (``jets``, ``jets * constituents``).
    Returns ``values [jets, n, len(features)]`` float32 and ``mask [jets, n]``.
    """
    # packing once makes the ten column reads below plain slices instead of ten index carries
    leading = ak.to_packed(sort_by_pt(constituents)[:, :n_constituents])
    deta = leading.eta - jets.eta
    dphi = delta_phi(leading.phi, jets.phi)
    columns = {
        "E": leading.E,
        "px": leading.px,
        "py": leading.py,
        "pz": leading.pz,
        "pt": leading.pt,
        "eta": leading.eta,
        "phi": leading.phi,
        "deta": deta,
        "dphi": dphi,
        "charge": leading.charge,
    }
    counts = ak.to_numpy(ak.num(leading.pt, axis=1))
    n_jets = len(counts)
    values = np.zeros((n_jets, n_constituents, len(features)), dtype=np.float32)
    mask = np.arange(n_constituents)[None, :] < counts[:, None]
    values[mask] = np.stack(
        [ak.to_numpy(ak.flatten(columns[name], axis=1)) for name in features], axis=-1
    )
    return values, mask
