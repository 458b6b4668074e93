"""Rewrite a genuine Delphes file in boostjet's flat layout (docs/flat-layout.md), for tests."""

from __future__ import annotations

from pathlib import Path

import awkward as ak
import uproot

from boostjet.generation.writer import write_flat

JET_FIELDS = ("fUniqueID", "PT", "Eta", "Phi", "Mass", "NCharged", "NNeutrals")
TRACK_FIELDS = ("fUniqueID", "PID", "Charge", "PT", "Eta", "Phi", "D0", "DZ", "ErrorD0", "ErrorDZ")
TOWER_FIELDS = ("fUniqueID", "ET", "Eta", "Phi", "E", "Eem", "Ehad")


def _jets(tree, name: str) -> dict[str, ak.Array]:
    raw = tree.arrays([f"{name}/{name}.{f}" for f in JET_FIELDS], how=dict)
    out = {f: raw[f"{name}/{name}.{f}"] for f in JET_FIELDS}
    tau = tree[f"{name}/{name}.Tau[5]"].array()
    for n in range(1, 6):
        out[f"Tau{n}"] = tau[:, :, n - 1]
    sd = tree[f"{name}/{name}.SoftDroppedJet"].array()
    out |= {
        "SoftDroppedPx": sd.fP.fX,
        "SoftDroppedPy": sd.fP.fY,
        "SoftDroppedPz": sd.fP.fZ,
        "SoftDroppedE": sd.fE,
    }
    return out


def _association(tree, name: str) -> dict[str, ak.Array]:
    refs = tree[f"{name}/{name}.Constituents"].array().refs
    jet = ak.broadcast_arrays(ak.local_index(refs, axis=1), refs)[0]
    return {"Jet": ak.flatten(jet, axis=2), "Ref": ak.flatten(refs, axis=2)}


def write_flat_copy(source: Path, target: Path, fatjet: str = "FatJet") -> Path:
    """Copy the fat jets, energy flow and their references of ``source`` into the flat layout."""
    tree = uproot.open(source)["Delphes"]
    collections = {
        fatjet: _jets(tree, fatjet),
        f"{fatjet}Constituent": _association(tree, fatjet),
        "EFlowTrack": {f: tree[f"EFlowTrack/EFlowTrack.{f}"].array() for f in TRACK_FIELDS},
    }
    for name in ("EFlowPhoton", "EFlowNeutralHadron"):
        collections[name] = {f: tree[f"{name}/{name}.{f}"].array() for f in TOWER_FIELDS}
    return write_flat(target, {name: ak.zip(fields) for name, fields in collections.items()})
