"""Reduced generator record: last copies of the hard-process t, W, Z, H and their decay products.

Copy chains of the Pythia record are collapsed: each kept resonance is its last copy (the one that
decays, with its final kinematics), placed where its first copy was, so that a top's daughters are
the adjacent W and b, and the W's daughters are its two quarks. Mothers and daughters are re-indexed
into the kept subset (−1 where the relative was not kept), as docs/flat-layout.md asks.
"""

from __future__ import annotations

import awkward as ak
import numpy as np

from boostjet.generation.kinematics import FlatCollection, pt_eta_phi

RESONANCES = (6, 23, 24, 25)


def _pointer_closure(pointer: np.ndarray) -> np.ndarray:
    """Follow each chain of pointers (−1 = end) to its end, by pointer jumping over all entries."""
    target = np.where(pointer >= 0, pointer, np.arange(len(pointer)))
    while True:
        jumped = target[target]
        if np.array_equal(jumped, target):
            return target
        target = jumped


def _copy_link(relative: np.ndarray, valid: np.ndarray, pid: np.ndarray) -> np.ndarray:
    """The relative when it is a copy of the same particle (same PDG id), else −1."""
    safe = np.where(valid, relative, 0)
    return np.where(valid & (pid[safe] == pid), safe, -1)


def reduced_record(prt: ak.Array, charge: np.ndarray) -> FlatCollection:
    """The reduced Particle collection of a batch of Pythia events (fUniqueID assigned later).

    ``prt`` is nextBatch's particle record; ``charge`` the flat charge of every record entry.
    """
    counts = ak.to_numpy(ak.num(prt.id))
    start = np.concatenate([[0], np.cumsum(counts)[:-1]])
    event = np.repeat(np.arange(len(counts)), counts)

    def flat(array: ak.Array) -> np.ndarray:
        return ak.to_numpy(ak.flatten(array))

    pid, status = flat(prt.id), flat(prt.status)
    # Pythia numbers relatives within the event, 0 meaning none (entry 0 is the event system).
    m1, m2, d1, d2 = (flat(prt[name]) for name in ("mother1", "mother2", "daughter1", "daughter2"))
    glob = {
        name: local + start[event]
        for name, local in zip(("m1", "m2", "d1", "d2"), (m1, m2, d1, d2), strict=True)
    }
    previous_copy = _copy_link(glob["m1"], m1 > 0, pid)
    next_copy = np.maximum(_copy_link(glob["d1"], d1 > 0, pid), _copy_link(glob["d2"], d2 > 0, pid))
    first_copy, last_copy = _pointer_closure(previous_copy), _pointer_closure(next_copy)

    resonance = np.isin(np.abs(pid), RESONANCES)
    index = np.arange(len(pid))
    decaying = np.flatnonzero(resonance & (last_copy == index) & (d1 > 0))
    products = np.concatenate([glob["d1"][decaying], glob["d2"][decaying]])

    def resolve(entry: np.ndarray) -> np.ndarray:
        """A resonance stands for its last copy; any other particle for itself."""
        return np.where(resonance[entry], last_copy[entry], entry)

    kept = np.union1d(decaying, resolve(products))
    kept = kept[np.argsort(first_copy[kept], kind="stable")]
    kept_event = event[kept]
    kept_counts = np.bincount(kept_event, minlength=len(counts))
    kept_start = np.concatenate([[0], np.cumsum(kept_counts)[:-1]])
    new_index = np.full(len(pid), -1, dtype=np.int64)
    new_index[kept] = np.arange(len(kept)) - kept_start[kept_event]

    def relative(name: str, local: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """New index of one relative of the given entries (−1 if none or not kept)."""
        return np.where(local[rows] > 0, new_index[resolve(glob[name][rows])], -1)

    # A collapsed copy chain takes its mothers from its first copy, its daughters from its last.
    earliest = first_copy[kept]
    links = {
        "M1": relative("m1", m1, earliest),
        "M2": relative("m2", m2, earliest),
        "D1": relative("d1", d1, kept),
        "D2": relative("d2", d2, kept),
    }
    px, py, pz = (flat(prt.p[axis])[kept] for axis in ("px", "py", "pz"))
    pt, eta, phi = pt_eta_phi(px, py, pz)
    fields = {
        "PID": pid[kept],
        "Status": np.abs(status[kept]),
        **links,
        "Charge": np.trunc(charge[kept]),
        "Mass": flat(prt.m)[kept],
        "E": flat(prt.p.e)[kept],
        "Px": px,
        "Py": py,
        "Pz": pz,
        "PT": pt,
        "Eta": eta,
        "Phi": phi,
    }
    return FlatCollection(kept_event, fields)
