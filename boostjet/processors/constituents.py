"""Jet constituents: reference resolution, ΔR association, and padded per-jet arrays for models."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import awkward as ak
import numpy as np

from boostjet.kinematics import delta_phi
from boostjet.processors.delphes import CANDIDATE_KINDS, CandidateSource
from boostjet.spec import CONSTITUENT_FEATURES


@dataclass(frozen=True)
class ResolvedConstituents:
    """Constituents per jet (``events * jets * constituents``) and how many references missed."""

    constituents: ak.Array
    unresolved: int


@dataclass(frozen=True)
class FlatConstituents:
    """Every jet's constituents as flat numpy columns, jet after jet, with the counts that regroup
    them: the processor's form, which no awkward record is built for."""

    columns: dict[str, np.ndarray]
    per_jet: np.ndarray
    """Constituents of each jet (flat over the chunk's jets)."""
    per_event: np.ndarray
    """Jets of each event."""
    unresolved: int = 0

    @classmethod
    def from_records(cls, constituents: ak.Array, unresolved: int = 0) -> FlatConstituents:
        """From ``events * jets * constituents`` records (the ΔR association's output)."""
        per_jet = ak.flatten(constituents, axis=1)
        return cls(
            {name: ak.to_numpy(ak.flatten(per_jet[name])) for name in ak.fields(per_jet)},
            ak.to_numpy(ak.num(per_jet, axis=1)).astype(np.int64),
            ak.to_numpy(ak.num(constituents, axis=1)).astype(np.int64),
            unresolved,
        )

    def records(self) -> ak.Array:
        """The same constituents as ``events * jets * constituents`` records."""
        return ak.unflatten(ak.unflatten(ak.zip(self.columns), self.per_jet), self.per_event)


#: ROOT keeps the TProcessID number in the top byte of ``fUniqueID``; a TRef stores only the rest.
_OBJECT_NUMBER_BITS = 0x00FFFFFF


def _event_keys(event_index: np.ndarray, uid: np.ndarray) -> np.ndarray:
    """One int64 sort key per (event, object number): numbers repeat across events only."""
    return (event_index.astype(np.int64) << 32) | (uid.astype(np.int64) & _OBJECT_NUMBER_BITS)


#: A dense (event, object number) table is used while it has at most this many slots per candidate.
_MAX_TABLE_SLOTS_PER_CANDIDATE = 8


def _dense_lookup(cand_event, cand_uid, ref_event, ref_uid, n_events) -> np.ndarray | None:
    """Candidate position of every reference (−1 where none) through a dense table indexed by
    (event, object number); None when the table would be sparse or keys repeat.

    ROOT numbers the objects of an event from 1 upwards, so the largest object number is a few
    hundred and one gather replaces a sort and a binary search.
    """
    cand_number = cand_uid.astype(np.int64) & _OBJECT_NUMBER_BITS
    width = int(cand_number.max()) + 1 if len(cand_number) else 1
    if n_events * width > _MAX_TABLE_SLOTS_PER_CANDIDATE * max(len(cand_number), 1024):
        return None
    slot = cand_event.astype(np.int64) * width + cand_number
    table = np.full(n_events * width, -1, dtype=np.int64 if len(slot) >= 2**31 else np.int32)
    every = np.arange(len(slot), dtype=table.dtype)
    table[slot] = every
    if not np.array_equal(table[slot], every):  # a repeated (event, number): take the sort
        return None
    ref_number = ref_uid.astype(np.int64) & _OBJECT_NUMBER_BITS
    inside = ref_number < width
    position = np.full(len(ref_number), -1, dtype=np.int64)
    position[inside] = table[ref_event[inside] * width + ref_number[inside]]
    return position


def _sorted_lookup(cand_event, cand_uid, ref_event, ref_uid) -> np.ndarray:
    """Candidate position of every reference (−1 where none): one sort and one ``searchsorted``;
    the first candidate (in candidate order) wins where keys repeat."""
    cand_keys = _event_keys(cand_event, cand_uid)
    order = np.argsort(cand_keys, kind="stable")
    sorted_keys = cand_keys[order]
    ref_keys = _event_keys(ref_event, ref_uid)
    if not len(sorted_keys):
        return np.full(len(ref_keys), -1, dtype=np.int64)
    position = np.minimum(np.searchsorted(sorted_keys, ref_keys), len(sorted_keys) - 1)
    return np.where(sorted_keys[position] == ref_keys, order[position], -1)


def _locate(refs: ak.Array, cand_event: np.ndarray, cand_uid: np.ndarray):
    """Flat candidate position of every reference found, with the counts to regroup them.

    Returns (positions, found per jet, jets per event, references not found).
    """
    jets_per_event = ak.to_numpy(ak.num(refs, axis=1))
    refs_per_jet = ak.to_numpy(ak.num(ak.flatten(refs, axis=1), axis=1))
    flat_refs = ak.to_numpy(ak.flatten(refs, axis=None))
    jet_event = np.repeat(np.arange(len(jets_per_event)), jets_per_event)
    ref_event = np.repeat(jet_event, refs_per_jet).astype(np.int64)

    position = _dense_lookup(cand_event, cand_uid, ref_event, flat_refs, len(jets_per_event))
    if position is None:
        position = _sorted_lookup(cand_event, cand_uid, ref_event, flat_refs)
    found = position >= 0
    ref_jet = np.repeat(np.arange(len(refs_per_jet)), refs_per_jet)
    found_per_jet = np.bincount(ref_jet[found], minlength=len(refs_per_jet))
    return position[found], found_per_jet, jets_per_event, int(np.count_nonzero(~found))


def resolve_references(refs: ak.Array, candidates: ak.Array) -> ResolvedConstituents:
    """Turn ``fUniqueID`` references (``events * jets * refs``) into the referenced candidates.

    Vectorised over the whole chunk: every reference is located with one gather from a dense
    (event, object number) table, or one ``searchsorted`` in the sorted candidate keys.
    References to objects outside ``candidates`` (e.g. Towers when only EFlow collections were
    read) are dropped and counted in ``unresolved``.
    """
    cand_counts = ak.to_numpy(ak.num(candidates, axis=1))
    flat_candidates = ak.flatten(candidates, axis=1)
    cand_event = np.repeat(np.arange(len(candidates)), cand_counts)
    picked, per_jet, per_event, unresolved = _locate(
        refs, cand_event, ak.to_numpy(flat_candidates.uid)
    )
    constituents = ak.unflatten(ak.unflatten(flat_candidates[picked], per_jet), per_event)
    return ResolvedConstituents(constituents=constituents, unresolved=unresolved)


def resolve_from_sources(refs: ak.Array, sources: list[CandidateSource]) -> FlatConstituents:
    """:func:`resolve_references` against :func:`energy_flow_candidates` of the same collections,
    without building any record: only the referenced candidates get their kinematics computed,
    into flat columns. Gives the same constituents, field for field."""
    n_events = len(refs)
    cand_event = np.concatenate([np.repeat(np.arange(n_events), s.counts) for s in sources])
    cand_uid = np.concatenate([s.uid for s in sources])
    picked, per_jet, per_event, unresolved = _locate(refs, cand_event, cand_uid)
    starts = np.cumsum([0] + [len(s.uid) for s in sources])
    part = np.searchsorted(starts, picked, side="right") - 1
    columns = None
    for k, source in enumerate(sources):
        here = np.flatnonzero(part == k)
        values = source.columns(picked[here] - starts[k])
        if columns is None:
            columns = {name: np.empty(len(picked), v.dtype) for name, v in values.items()}
        for name, v in values.items():
            columns[name][here] = v
    return FlatConstituents(columns, per_jet.astype(np.int64), per_event, unresolved)


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


def _jet_pt_order(jet: np.ndarray, pt: np.ndarray) -> np.ndarray:
    """Stable order by (jet, decreasing pT), as ``np.lexsort((-pt, jet))`` gives it.

    Candidate pT are float32 values (as Delphes stores them), so when they are exactly float32 and
    non-negative, the float32 bit pattern orders them as integers and the whole order is one
    stable integer sort of ``jet << 31 | (max - bits)``, several times faster than the lexsort.
    """
    pt32 = pt.astype(np.float32) + np.float32(0.0)  # + 0 turns -0.0 into 0.0
    if len(pt) and (np.all(pt32 >= 0) and np.array_equal(pt32, pt)) and jet[-1] < 2**31:
        bits = pt32.view(np.int32).astype(np.int64)
        return np.argsort((jet.astype(np.int64) << 31) | (0x7FFFFFFF - bits), kind="stable")
    return np.lexsort((-pt, jet))


def leading_slots(counts: np.ndarray, pt: np.ndarray, n_constituents: int):
    """Where the leading ``n_constituents`` of each jet go in a padded array, by decreasing pT.

    ``counts`` are constituents per jet and ``pt`` their flat pT (jet after jet). One stable
    sort by (jet, −pT) over the flat arrays replaces a per-jet argsort. Returns, for the kept
    constituents in (jet, slot) order: their flat index, their jet and their slot.
    """
    jet = np.repeat(np.arange(len(counts)), counts)
    order = _jet_pt_order(jet, pt)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    slot = np.arange(len(pt)) - np.repeat(starts, counts)
    keep = slot < n_constituents
    return order[keep], jet[keep], slot[keep]


@dataclass(frozen=True)
class LeadingConstituents:
    """The leading constituents of each jet as flat rows, before padding.

    ``rows [kept, features]`` float32 in (jet, slot) order, with each row's ``jet`` and ``slot``;
    ``counts`` are all constituents per jet (also those beyond ``n_constituents``).
    """

    rows: np.ndarray
    jet: np.ndarray
    slot: np.ndarray
    counts: np.ndarray
    n_constituents: int

    def padded(self) -> tuple[np.ndarray, np.ndarray]:
        """``values [jets, n, features]`` float32, zero-padded, and ``mask [jets, n]``."""
        n, width = self.n_constituents, self.rows.shape[1]
        values = np.zeros((len(self.counts), n, width), dtype=np.float32)
        values.reshape(-1, width)[self.jet * n + self.slot] = self.rows
        mask = np.arange(n)[None, :] < self.counts[:, None]
        return values, mask


def leading_constituents(
    jet_eta: np.ndarray,
    jet_phi: np.ndarray,
    columns: Mapping[str, np.ndarray],
    counts: np.ndarray,
    n_constituents: int,
    features: tuple[str, ...] = CONSTITUENT_FEATURES,
) -> LeadingConstituents:
    """The leading ``n_constituents`` per jet by pT as flat rows (:func:`padded_constituents`).

    ``columns`` hold the constituents flat, jet after jet (``counts`` per jet), and ``jet_eta``,
    ``jet_phi`` the jets' axes. One sort (:func:`leading_slots`), one gather per feature.
    """
    counts = np.asarray(counts, dtype=np.int64)
    index, jet, slot = leading_slots(counts, columns["pt"], n_constituents)
    kept = {}  # each column is gathered once, also when deta/dphi reuse eta/phi

    def field(name: str) -> np.ndarray:
        if name not in kept:
            kept[name] = columns[name][index]
        return kept[name]

    rows = np.empty((len(features), len(index)), dtype=np.float32)  # contiguous writes
    for k, name in enumerate(features):
        rows[k] = _feature(name, field, jet_eta, jet_phi, jet)
    return LeadingConstituents(rows.T, jet, slot, counts, n_constituents)


def padded_constituents(
    jets: ak.Array,
    constituents: ak.Array,
    n_constituents: int,
    features: tuple[str, ...] = CONSTITUENT_FEATURES,
) -> tuple[np.ndarray, np.ndarray]:
    """Model input: the leading ``n_constituents`` per jet, zero-padded, plus a mask.

    ``jets`` and ``constituents`` are awkward records flat over jets (``jets``,
    ``jets * constituents``). Returns ``values [jets, n, len(features)]`` float32 and
    ``mask [jets, n]``.
    """
    flat = ak.flatten(constituents, axis=1)
    columns = {name: ak.to_numpy(flat[name]) for name in ak.fields(flat)}
    counts = ak.to_numpy(ak.num(constituents, axis=1))
    jet_eta, jet_phi = ak.to_numpy(jets.eta), ak.to_numpy(jets.phi)
    return leading_constituents(
        jet_eta, jet_phi, columns, counts, n_constituents, features
    ).padded()


#: 0/1 particle-type features → the candidate ``kind`` they flag (delphes.CANDIDATE_KINDS).
_KIND_FLAGS = {
    "is_photon": CANDIDATE_KINDS.index("photon"),
    "is_neutral_hadron": CANDIDATE_KINDS.index("neutral_hadron"),
}


def _feature(name: str, field, jet_eta, jet_phi, jet: np.ndarray) -> np.ndarray:
    """One feature of the kept constituents (``field(name)`` gives their columns, ``jet`` their
    jets); deta/dphi are relative to the jet axis, type flags come from the candidate kind."""
    if name in _KIND_FLAGS:
        return field("kind") == _KIND_FLAGS[name]
    if name == "deta":
        return field("eta") - jet_eta[jet]
    if name == "dphi":
        return delta_phi(field("phi"), jet_phi[jet])
    return field(name)
