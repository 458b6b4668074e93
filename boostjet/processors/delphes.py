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

from dataclasses import dataclass
from typing import ClassVar

import awkward as ak
import numpy as np
from coffea.nanoevents import transforms
from coffea.nanoevents.schemas import DelphesSchema

from boostjet.errors import InputDataError
from boostjet.kinematics import invariant_mass
from boostjet.spec import IMPACT_PARAMETERS


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


def chunk_name(events) -> str:
    """``FILE entries A–B`` from the chunk's metadata, for the sentences of errors."""
    meta = getattr(events, "metadata", None) or {}
    if "filename" in meta:
        return f"{meta['filename']} entries {meta.get('entrystart')}–{meta.get('entrystop')}"
    return "the input chunk"


def shower_weight_ratios(events, names: tuple[str, ...]) -> np.ndarray:
    """[events, len(names) - 1] ratios of each variation weight to the nominal (the first) in
    the ``Weight`` collection, laid out as ``names`` (docs/flat-layout.md). A zero or non-finite
    nominal or variation weight gives ratio 1; another number of entries is an InputDataError."""
    weights = events.Weight.Weight
    if not ak.all(ak.num(weights) == len(names)):
        raise InputDataError(
            f"{chunk_name(events)}: the Weight collection does not hold the {len(names)} "
            f"entries {list(names)} that the file's WeightNames string announces in every event."
        )
    table = ak.to_numpy(ak.to_regular(weights, axis=1)).astype(np.float64).reshape(-1, len(names))
    nominal, varied = table[:, :1], table[:, 1:]
    good = np.isfinite(nominal) & (nominal != 0) & np.isfinite(varied)
    return np.divide(varied, nominal, where=good, out=np.ones_like(varied))


def require_finite(where: str, what: str, columns: dict) -> None:
    """InputDataError naming ``where`` (the chunk), ``what`` and the first of ``columns``
    (branch name → values, numpy or awkward) that holds NaN or inf: such values would fail every
    cut and vanish unseen. One ``np.isfinite`` per column, over arrays already in memory."""
    for branch, values in columns.items():
        if not isinstance(values, np.ndarray):
            values = ak.to_numpy(ak.flatten(values, axis=None))
        if values.dtype.kind == "f" and not np.isfinite(values).all():
            raise InputDataError(f"{where} has NaN or inf in {what} ({branch}).")


def _taus(jets: ak.Array, collection: str) -> dict[str, ak.Array]:
    """N-subjettiness τ1, τ2, τ3 from ``Tau_5`` (genuine) or ``Tau<n>`` (flat), by branch name."""
    if "Tau_5" in ak.fields(jets):
        return {f"{collection}.Tau[5][{n - 1}]": jets.Tau_5[:, :, n - 1] for n in (1, 2, 3)}
    names = ("Tau1", "Tau2", "Tau3")
    _require_fields(jets, names, "Tau[5]")
    return {f"{collection}.{name}": jets[name] for name in names}


def _softdrop_p4(jets: ak.Array, collection: str) -> dict[str, ak.Array]:
    """Soft-drop groomed px, py, pz, E from ``SoftDroppedJet`` or the flat four branches, by
    branch name."""
    fields = ak.fields(jets)
    if "SoftDroppedJet" in fields or "SoftDroppedP4_5" in fields:
        # Delphes 3.3 has only SoftDroppedP4[5], whose first entry is the groomed jet
        if "SoftDroppedJet" in fields:
            p4, branch = jets.SoftDroppedJet, f"{collection}.SoftDroppedJet"
        else:
            p4, branch = jets.SoftDroppedP4_5[:, :, 0], f"{collection}.SoftDroppedP4[5][0]"
        components = {"px": p4.x, "py": p4.y, "pz": p4.z, "E": p4.t}
        return {f"{branch} ({name})": value for name, value in components.items()}
    flat = ("SoftDroppedPx", "SoftDroppedPy", "SoftDroppedPz", "SoftDroppedE")
    _require_fields(jets, flat, "SoftDroppedJet")
    return {f"{collection}.{name}": jets[name] for name in flat}


def _require_fields(jets: ak.Array, names: tuple[str, ...], genuine_name: str) -> None:
    """Substructure leaves are card-dependent: name the missing one instead of a KeyError."""
    missing = [name for name in names if name not in ak.fields(jets)]
    if missing:
        collection = ak.parameters(jets).get("collection_name", "the jet collection")
        raise InputDataError(
            f"jet collection '{collection}' has no {genuine_name} (nor flat {missing[0]}): "
            "its Delphes card stores no substructure; choose a fat-jet collection that does."
        )


def fat_jets(events: ak.Array, collection: str, generator: bool = False) -> ak.Array:
    """Per-event fat jets with the fields every later step uses, identical for both layouts.

    Fields: pt, eta, phi, mass, energy, sd_mass, ``index`` (position of the jet in its
    collection, which the constituent references point to) and, for reconstructed jets (not
    ``generator``), tau1, tau2, tau3 and, where the jet class stores NCharged and NNeutrals,
    ``multiplicity``: their sum, Delphes' count of the constituents. Every value read must be
    finite, for every jet before any selection: InputDataError naming the chunk and branch
    otherwise.
    """
    jets = events[collection]
    role = "generator-jet" if generator else "fat-jet"
    where = chunk_name(events)
    kinematics = {f"{collection}.{name}": jets[name] for name in ("PT", "Eta", "Phi", "Mass")}
    require_finite(where, f"{role} kinematics", kinematics)
    softdrop = _softdrop_p4(jets, collection)
    require_finite(where, f"{role} soft-drop four-vectors", softdrop)
    pt, eta, phi, mass = kinematics.values()
    pz = pt * np.sinh(eta)
    energy = np.sqrt(pt**2 + pz**2 + mass**2)
    fields = {
        "pt": pt,
        "eta": eta,
        "phi": phi,
        "mass": mass,
        "energy": energy,
        "sd_mass": invariant_mass(*softdrop.values()),
    }
    if not generator:
        taus = _taus(jets, collection)
        require_finite(where, f"{role} N-subjettiness", taus)
        fields |= dict(zip(("tau1", "tau2", "tau3"), taus.values(), strict=True))
    columns = {name: ak.values_astype(values, np.float32) for name, values in fields.items()}
    stored = ak.fields(jets)
    if not generator and "NCharged" in stored and "NNeutrals" in stored:
        columns["multiplicity"] = jets.NCharged + jets.NNeutrals
    return ak.zip(columns | {"index": ak.local_index(pt, axis=1)}, with_name="FatJet")


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
    per_jet_counts = _counts_per_jet(jet_of_ref, n_jets, chunk_name(events), association)
    return ak.unflatten(refs, ak.flatten(per_jet_counts), axis=1)


def _counts_per_jet(jet_of_ref: ak.Array, n_jets: ak.Array, where: str, branch: str) -> ak.Array:
    """Number of references per jet, as ``events * jets`` counts (vectorised bincount).

    Every ``Jet`` index must name a jet of its event: InputDataError naming ``where`` (the chunk)
    and the association ``branch`` otherwise.
    """
    n_jets_np = ak.to_numpy(n_jets)
    jet_offsets = np.concatenate([[0], np.cumsum(n_jets_np)])
    event_of_ref = np.repeat(np.arange(len(n_jets_np)), ak.to_numpy(ak.num(jet_of_ref, axis=1)))
    local = ak.to_numpy(ak.flatten(jet_of_ref))
    outside = (local < 0) | (local >= n_jets_np[event_of_ref])
    if outside.any():
        first = np.flatnonzero(outside)[0]
        raise InputDataError(
            f"{where} has {np.count_nonzero(outside)} constituent reference(s) out of range "
            f"({branch}.Jet): the first points to jet {local[first]} of an event with "
            f"{n_jets_np[event_of_ref[first]]} jet(s)."
        )
    counts = np.bincount(jet_offsets[event_of_ref] + local, minlength=jet_offsets[-1])
    return ak.unflatten(counts, n_jets_np)


# --- energy-flow candidates -----------------------------------------------------------------

#: Candidate kinds, in the order of the ``kind`` field: charged, photon, neutral hadron, tower.
CANDIDATE_KINDS = ("track", "photon", "neutral_hadron", "tower")


def _flat(array: ak.Array) -> np.ndarray:
    """The values of a per-event list array as one numpy array."""
    return ak.to_numpy(ak.flatten(array, axis=1))


def _massless_energy(pt: np.ndarray, eta: np.ndarray) -> np.ndarray:
    """E of a massless (pt, η) object, with the operations of coffea's (vector's) ``.E``.

    The same sequence of numpy operations as vector's ``rhophi_eta_tau`` energy, so the values
    are bit for bit those of ``objects.E`` on coffea's calorimeter collections.
    """
    mass = np.zeros_like(pt)
    expmeta = np.exp(-eta)
    invsintheta = 0.5 * (1 + expmeta**2) / expmeta
    return np.sqrt(np.maximum(np.copysign(mass**2, mass) + pt**2 * invsintheta**2, 0))


@dataclass(frozen=True)
class CandidateSource:
    """The stored columns of one candidate collection, flat over events (numpy).

    Derived quantities (px, py, pz, E, …) are computed by :meth:`columns`, for every entry or
    only for those a jet references, so unreferenced candidates cost no arithmetic.
    """

    name: str
    counts: np.ndarray
    """Entries per event."""
    uid: np.ndarray
    """``fUniqueID`` as int64."""
    stored: dict[str, np.ndarray]
    """pt, eta, phi (and mass, charge, perhaps impact parameters for tracks) as stored, flat."""
    impact_parameters: bool = False
    """Whether the candidates carry d0, dz and their errors (zero for calorimeter objects)."""

    @property
    def is_track(self) -> bool:
        return "charge" in self.stored

    def columns(self, take: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Candidate-record columns (the fields of :func:`energy_flow_candidates`), all entries
        or those at the flat positions ``take``."""
        stored = self.stored if take is None else {k: v[take] for k, v in self.stored.items()}
        uid = self.uid if take is None else self.uid[take]
        eta, phi = stored["eta"], stored["phi"]
        if self.is_track:
            pt = stored["pt"]
            pz = pt * np.sinh(eta)
            energy = np.sqrt(pt**2 + pz**2 + stored["mass"] ** 2)
            charge = stored["charge"]
            kind = 0
        else:  # towers and calorimeter energy-flow objects: massless, E from pt and η
            energy = _massless_energy(stored["pt"], eta)
            pt = energy / np.cosh(eta)
            pz = pt * np.sinh(eta)
            charge = np.zeros(len(eta), dtype=np.int32)
            kind = {"EFlowPhoton": 1, "EFlowNeutralHadron": 2}.get(self.name, 3)
        # in the stored (float32) precision: the model inputs are float32 anyway
        return {
            "uid": uid,
            "px": pt * np.cos(phi),
            "py": pt * np.sin(phi),
            "pz": pz,
            "E": energy,
            "pt": pt,
            "eta": eta,
            "phi": phi,
            "charge": charge.astype(np.float32),
            "kind": np.full(len(eta), kind, dtype=np.int8),
        } | (self._impact_parameters(stored, len(eta)) if self.impact_parameters else {})

    def _impact_parameters(self, stored: dict[str, np.ndarray], n: int) -> dict[str, np.ndarray]:
        if self.is_track:
            return {name: stored[name] for name in IMPACT_PARAMETERS}
        return {name: np.zeros(n, dtype=np.float32) for name in IMPACT_PARAMETERS}


#: Track impact parameters (mm) and their errors: candidate field → Delphes Track leaf.
IMPACT_PARAMETER_LEAVES = dict(
    zip(IMPACT_PARAMETERS, ("D0", "DZ", "ErrorD0", "ErrorDZ"), strict=True)
)


def is_track_collection(events: ak.Array, name: str) -> bool:
    """True for Track-class collections (EFlowTrack, Track), which carry a charge and a PT."""
    fields = ak.fields(events[name])
    return "Charge" in fields and "PT" in fields


def has_impact_parameters(events: ak.Array, name: str) -> bool:
    """True when a track collection stores D0, DZ, ErrorD0 and ErrorDZ (Delphes ≥ 3.4)."""
    return set(IMPACT_PARAMETER_LEAVES.values()) <= set(ak.fields(events[name]))


def candidate_source(
    events: ak.Array, name: str, impact_parameters: bool = False
) -> CandidateSource:
    """Read one candidate collection's stored columns (tracks: PT, Eta, Phi, Mass, Charge and,
    if asked for, D0, DZ, ErrorD0, ErrorDZ; calorimeter objects: coffea's ``pt`` (ET), Eta, Phi).
    Every value read must be finite (InputDataError naming the chunk and branch otherwise)."""
    objects = events[name]
    if is_track_collection(events, name):
        names = {"pt": "PT", "eta": "Eta", "phi": "Phi", "mass": "Mass", "charge": "Charge"}
        if impact_parameters:
            names |= IMPACT_PARAMETER_LEAVES
    else:
        names = {"pt": "pt", "eta": "Eta", "phi": "Phi"}
    stored = {key: _flat(objects[field]) for key, field in names.items()}
    leaves = {key: "ET" if field == "pt" else field for key, field in names.items()}
    branches = {f"{name}.{leaves[key]}": values for key, values in stored.items()}
    require_finite(chunk_name(events), "constituent kinematics", branches)
    return CandidateSource(
        name=name,
        counts=ak.to_numpy(ak.num(objects.fUniqueID, axis=1)).astype(np.int64),
        uid=_flat(objects.fUniqueID).astype(np.int64),
        stored=stored,
        impact_parameters=impact_parameters,
    )


def interleave_positions(counts: list[np.ndarray]) -> tuple[list[np.ndarray], np.ndarray]:
    """Where each part's flat entries go when the parts are concatenated event by event.

    ``counts[k]`` holds the per-event sizes of part ``k``; the result is, per part, the position
    of each of its entries in the flat concatenation (event 0: part 0, part 1, …; event 1: …),
    and the per-event sizes of the concatenation.
    """
    total = np.sum(counts, axis=0) if counts else np.zeros(0, np.int64)
    event_start = np.concatenate([[0], np.cumsum(total)[:-1]]).astype(np.int64)
    before = np.zeros_like(event_start)
    positions = []
    for part in counts:
        part_start = np.concatenate([[0], np.cumsum(part)[:-1]]).astype(np.int64)
        local = np.arange(int(np.sum(part))) - np.repeat(part_start, part)
        positions.append(np.repeat(event_start + before, part) + local)
        before = before + part
    return positions, total


def energy_flow_candidates(
    events: ak.Array, collections: tuple[str, ...], impact_parameters: bool = False
) -> ak.Array:
    """All candidates of ``collections`` per event as one list with px, py, pz, E, pt, eta, phi.

    Track collections carry charge and a mass (and with ``impact_parameters`` d0, dz and their
    errors, zero for the rest); calorimeter objects (EFlowPhoton, EFlowNeutralHadron, Tower) are
    massless with E from pt and η, as coffea's ``.E`` gives it.
    Computed with numpy on the flat columns and put together once (no per-field awkward work).
    """
    sources = [candidate_source(events, name, impact_parameters) for name in collections]
    parts = [source.columns() for source in sources]
    positions, total = interleave_positions([source.counts for source in sources])
    columns = {}
    for field in parts[0]:
        column = np.empty(int(total.sum()), dtype=parts[0][field].dtype)
        for part, where in zip(parts, positions, strict=True):
            column[where] = part[field]
        columns[field] = column
    return ak.unflatten(ak.zip(columns), total)
