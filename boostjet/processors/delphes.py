"""Schema adapter: genuine (split TClonesArray) and flat (uproot-written) Delphes files, one view.

coffea's ``DelphesSchema`` builds collections from ``Name/Name.Field`` branch keys. This subclass
also accepts the flat layout boostjet writes (``Name.Field`` + ``Name_size``, see
docs/flat-layout.md), drops the ``fBits`` leaves that uproot cannot read in Delphes <= 3.4 files,
and gives tracks without a ``Mass`` leaf (Delphes <= 3.4, which smears tracks massless) a
zero mass, as Delphes used when it summed them into jets. Everything downstream reads fat jets
and their constituents through :func:`fat_jets` and :func:`jet_constituent_refs`, which hide the
remaining layout differences (``Tau[5]`` vs ``Tau1..5``, TLorentzVector vs four branches,
TRefArray vs a ``<Jet>Constituent`` association collection).
"""

from __future__ import annotations

from typing import ClassVar

import awkward as ak
import numpy as np
from coffea.nanoevents import transforms
from coffea.nanoevents.schemas import DelphesSchema

from boostjet.errors import InputDataError


def _split_key(key: str) -> str:
    """Map a flat-layout key ``C.Field`` onto the genuine ``C/C.Field``; leave others alone."""
    if "/" in key or key.endswith("_size") or "." not in key:
        return key
    collection, field = key.split(".", 1)
    return f"{collection}/{collection}.{field}"


class BoostjetDelphesSchema(DelphesSchema):
    """DelphesSchema that reads genuine Delphes 3.3–3.5 files and boostjet's flat layout alike."""

    mixins: ClassVar[dict[str, str]] = {**DelphesSchema.mixins, "GenFatJet": "Jet"}

    def _build_collections(self, branch_forms):
        forms = {}
        for key, form in branch_forms.items():
            if key.endswith(".fBits"):
                continue  # unreadable in Delphes <= 3.4 files (uproot5 #438) and never needed
            # a duplicated branch name (two top-level "Particle" branches) keeps its first form
            forms.setdefault(_split_key(key), form)
        for name in {k.split("/")[0] for k in forms if "/" in k}:
            has_mass = f"{name}/{name}.Mass" in forms
            if self.mixins.get(name) == "Track" and not has_mass and f"{name}_size" in forms:
                # Delphes <= 3.4 smears tracks as massless (E = |p|) and stores no Mass leaf
                forms[f"{name}/{name}.Mass"] = transforms.full_like_from_offsets_form(
                    transforms.counts2offsets_form(forms[f"{name}_size"]), 0.0
                )
        return super()._build_collections(forms)


# --- fat jets -------------------------------------------------------------------------------


def has_collection(events: ak.Array, name: str) -> bool:
    """True when the events carry the collection ``name``."""
    return name in ak.fields(events)


def _tau(jets: ak.Array, n: int) -> ak.Array:
    """N-subjettiness τ_n from ``Tau_5`` (genuine) or ``Tau<n>`` (flat)."""
    fields = ak.fields(jets)
    if "Tau_5" in fields:
        return jets.Tau_5[:, :, n - 1]
    _require_fields(jets, (f"Tau{n}",), "Tau[5]")
    return jets[f"Tau{n}"]


def _softdrop_p4(jets: ak.Array) -> tuple[ak.Array, ak.Array, ak.Array, ak.Array]:
    """Soft-drop groomed (px, py, pz, E) from ``SoftDroppedJet`` or the flat four branches."""
    fields = ak.fields(jets)
    if "SoftDroppedJet" in fields or "SoftDroppedP4_5" in fields:
        # Delphes 3.3 has only SoftDroppedP4[5], whose first entry is the groomed jet
        p4 = jets.SoftDroppedJet if "SoftDroppedJet" in fields else jets.SoftDroppedP4_5[:, :, 0]
        return p4.x, p4.y, p4.z, p4.t
    flat = ("SoftDroppedPx", "SoftDroppedPy", "SoftDroppedPz", "SoftDroppedE")
    _require_fields(jets, flat, "SoftDroppedJet")
    return tuple(jets[name] for name in flat)


def _require_fields(jets: ak.Array, names: tuple[str, ...], genuine_name: str) -> None:
    """Substructure leaves are card-dependent: name the missing one instead of a KeyError."""
    missing = [name for name in names if name not in ak.fields(jets)]
    if missing:
        collection = ak.parameters(jets).get("collection_name", "the jet collection")
        raise InputDataError(
            f"jet collection '{collection}' has no {genuine_name} (nor flat {missing[0]}): "
            "its Delphes card stores no substructure; choose a fat-jet collection that does."
        )


def invariant_mass(px, py, pz, energy):
    """Invariant mass, with the tiny negative m² of rounding clipped to zero."""
    return np.sqrt(np.maximum(energy**2 - px**2 - py**2 - pz**2, 0.0))


def fat_jets(events: ak.Array, collection: str) -> ak.Array:
    """Per-event fat jets with the fields every later step uses, identical for both layouts.

    Fields: pt, eta, phi, mass, energy, sd_mass, tau1, tau2, tau3 and ``index`` (position of the
    jet in its collection, which the constituent references point to).
    """
    jets = events[collection]
    pt, eta, phi, mass = jets.PT, jets.Eta, jets.Phi, jets.Mass
    pz = pt * np.sinh(eta)
    energy = np.sqrt(pt**2 + pz**2 + mass**2)
    sd_px, sd_py, sd_pz, sd_e = _softdrop_p4(jets)
    return ak.zip(
        {
            "pt": ak.values_astype(pt, np.float32),
            "eta": ak.values_astype(eta, np.float32),
            "phi": ak.values_astype(phi, np.float32),
            "mass": ak.values_astype(mass, np.float32),
            "energy": ak.values_astype(energy, np.float32),
            "sd_mass": ak.values_astype(invariant_mass(sd_px, sd_py, sd_pz, sd_e), np.float32),
            "tau1": ak.values_astype(_tau(jets, 1), np.float32),
            "tau2": ak.values_astype(_tau(jets, 2), np.float32),
            "tau3": ak.values_astype(_tau(jets, 3), np.float32),
            "index": ak.local_index(pt, axis=1),
        },
        with_name="FatJet",
    )


def jet_constituent_refs(events: ak.Array, collection: str) -> ak.Array | None:
    """``fUniqueID`` references of each jet's constituents (``events * jets * refs``), or None.

    Genuine files: the TRefArray ``Constituents``. Flat files: the ``<collection>Constituent``
    association (``Jet``, ``Ref``) regrouped per jet. None when the file stores no references.
    """
    jets = events[collection]
    if "Constituents" in ak.fields(jets):
        return jets.Constituents.refs
    association = f"{collection}Constituent"
    if not has_collection(events, association):
        return None
    pairs = events[association]
    order = ak.argsort(pairs.Jet, axis=1, stable=True)
    jet_of_ref, refs = pairs.Jet[order], pairs.Ref[order]
    n_jets = ak.num(jets.PT, axis=1)
    per_jet_counts = _counts_per_jet(jet_of_ref, n_jets)
    return ak.unflatten(refs, ak.flatten(per_jet_counts), axis=1)


def _counts_per_jet(jet_of_ref: ak.Array, n_jets: ak.Array) -> ak.Array:
    """Number of references per jet, as ``events * jets`` counts (vectorised bincount)."""
    n_jets_np = ak.to_numpy(n_jets)
    jet_offsets = np.concatenate([[0], np.cumsum(n_jets_np)])
    event_of_ref = np.repeat(np.arange(len(n_jets_np)), ak.to_numpy(ak.num(jet_of_ref, axis=1)))
    global_jet = jet_offsets[event_of_ref] + ak.to_numpy(ak.flatten(jet_of_ref))
    counts = np.bincount(global_jet, minlength=jet_offsets[-1])
    return ak.unflatten(counts, n_jets_np)


# --- energy-flow candidates -----------------------------------------------------------------

#: Candidate kinds, in the order of the ``kind`` field: charged, photon, neutral hadron, tower.
CANDIDATE_KINDS = ("track", "photon", "neutral_hadron", "tower")


def energy_flow_candidates(events: ak.Array, collections: tuple[str, ...]) -> ak.Array:
    """All candidates of ``collections`` per event as one list with px, py, pz, E, pt, eta, phi.

    Track collections carry charge and a mass; calorimeter objects (EFlowPhoton,
    EFlowNeutralHadron, Tower) are massless with E from the ``E`` leaf, as Delphes builds them.
    """
    parts = []
    for name in collections:
        objects = events[name]
        fields = ak.fields(objects)
        if "Charge" in fields and "PT" in fields:  # tracks
            pt, eta, phi = objects.PT, objects.Eta, objects.Phi
            mass = objects.Mass
            pz = pt * np.sinh(eta)
            energy = np.sqrt(pt**2 + pz**2 + mass**2)
            charge = objects.Charge
            kind = 0
        else:  # towers and calorimeter energy-flow objects
            energy, eta, phi = objects.E, objects.Eta, objects.Phi
            pt = energy / np.cosh(eta)
            pz = pt * np.sinh(eta)
            charge = ak.zeros_like(eta, dtype=np.int32)
            kind = {"EFlowPhoton": 1, "EFlowNeutralHadron": 2}.get(name, 3)
        parts.append(
            ak.zip(
                {
                    "uid": ak.values_astype(objects.fUniqueID, np.int64),
                    "px": ak.values_astype(pt * np.cos(phi), np.float64),
                    "py": ak.values_astype(pt * np.sin(phi), np.float64),
                    "pz": ak.values_astype(pz, np.float64),
                    "E": ak.values_astype(energy, np.float64),
                    "pt": ak.values_astype(pt, np.float64),
                    "eta": ak.values_astype(eta, np.float64),
                    "phi": ak.values_astype(phi, np.float64),
                    "charge": ak.values_astype(charge, np.float32),
                    "kind": ak.full_like(eta, kind, dtype=np.int8),
                }
            )
        )
    return ak.concatenate(parts, axis=1)
