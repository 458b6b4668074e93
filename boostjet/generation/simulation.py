"""One batch of Pythia events → every collection of the flat Delphes layout (still float64)."""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field

import awkward as ak
import numpy as np
import pythia8mc

from boostjet.generation.clustering import (
    ClusteringInputs,
    cluster,
    constituent_refs,
    jet_collection,
)
from boostjet.generation.detector import (
    NEUTRINOS,
    DetectorCard,
    EnergyFlow,
    StableParticles,
    simulate_detector,
)
from boostjet.generation.kinematics import FlatCollection, cartesian, pt_eta_phi
from boostjet.generation.processes import charges, hard_process_codes
from boostjet.generation.truth_record import reduced_record

FAT_JET_RADIUS = 0.8
JET_RADIUS = 0.4
MB_TO_PB = 1e9


@dataclass(frozen=True)
class JetThresholds:
    """Minimum pT in GeV of the stored FatJet, Jet and GenFatJet collections."""

    fatjet: float = 200.0
    jet: float = 20.0
    genfatjet: float = 150.0


@dataclass
class StepTimer:
    """Seconds spent in each step of the chain, summed over batches."""

    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))

    def lap(self, step: str, since: float) -> float:
        """Add the time since ``since`` to ``step``; return now, the start of the next step."""
        now = time.perf_counter()
        self.seconds[step] += now - since
        return now


def _flat(array: ak.Array) -> np.ndarray:
    return ak.to_numpy(ak.flatten(array))


def stable_particles(prt: ak.Array, charge: np.ndarray) -> StableParticles:
    """Final-state particles of a batch as flat arrays (``charge``: of every record entry)."""
    final = prt.status > 0
    px, py, pz = (_flat(prt.p[axis][final]) for axis in ("px", "py", "pz"))
    pt, eta, phi = pt_eta_phi(px, py, pz)
    counts = ak.to_numpy(ak.sum(final, axis=1))
    vertex = prt.vProd[final]  # None where Pythia set no vertex: the primary one, at the origin
    return StableParticles(
        event=np.repeat(np.arange(len(counts)), counts),
        pid=_flat(prt.id[final]),
        charge=charge[_flat(final)],
        pt=pt,
        eta=eta,
        phi=phi,
        mass=_flat(prt.m[final]),
        energy=_flat(prt.p.e[final]),
        vertex=np.stack(
            [_flat(ak.fill_none(vertex[axis], 0.0)) for axis in ("px", "py", "pz")], axis=1
        ),
    )


def energy_flow_inputs(
    flow: EnergyFlow, unique_ids: list[np.ndarray], n_events: int
) -> ClusteringInputs:
    """Tracks, then photons, then neutral hadrons of each event, as one clustering input."""
    tracks, photons, hadrons = flow.tracks.fields, flow.photons.fields, flow.neutral_hadrons.fields
    parts = [
        cartesian(tracks["PT"], tracks["Eta"], tracks["Phi"], tracks["Mass"]),
        cartesian(photons["ET"], photons["Eta"], photons["Phi"], 0.0),
        cartesian(hadrons["ET"], hadrons["Eta"], hadrons["Phi"], 0.0),
    ]
    charge = [tracks["Charge"], np.zeros(len(photons["E"])), np.zeros(len(hadrons["E"]))]
    events = [c.event for c in (flow.tracks, flow.photons, flow.neutral_hadrons)]
    order = np.argsort(np.concatenate(events), kind="stable")
    p4 = {
        name: np.concatenate([part[i] for part in parts])[order]
        for i, name in enumerate(("px", "py", "pz", "E"))
    }
    return ClusteringInputs(
        p4=p4,
        charge=np.concatenate(charge)[order],
        unique_id=np.concatenate(unique_ids)[order],
        counts=sum(np.bincount(e, minlength=n_events) for e in events),
    )


def generator_inputs(particles: StableParticles, n_events: int) -> ClusteringInputs:
    """Visible stable generator particles (all but neutrinos), the GenFatJet input."""
    visible = ~np.isin(np.abs(particles.pid), NEUTRINOS)
    pt, eta, mass = particles.pt[visible], particles.eta[visible], particles.mass[visible]
    with np.errstate(invalid="ignore"):
        px, py, pz, e = cartesian(pt, eta, particles.phi[visible], mass)
    # pT = 0 (a particle along the beam: η = ±∞; or one without momentum, e.g. a zero-energy
    # photon of the shower: η = NaN) makes pz = 0 · sinh(η) NaN, and a NaN input crashes fastjet
    # (SIGSEGV in the tiled clustering). Such a particle's |pz| follows from E and m instead.
    axial = pt == 0
    if axial.any():
        p_axial = np.sqrt(np.maximum(particles.energy[visible][axial] ** 2 - mass[axial] ** 2, 0))
        pz[axial] = np.where(np.isnan(eta[axial]), 0.0, np.copysign(p_axial, eta[axial]))
        e[axial] = np.sqrt(pz[axial] ** 2 + mass[axial] ** 2)
    return ClusteringInputs(
        p4={"px": px, "py": py, "pz": pz, "E": e},
        charge=particles.charge[visible],
        unique_id=np.zeros(int(visible.sum()), dtype=np.int64),
        counts=np.bincount(particles.event[visible], minlength=n_events),
    )


def unique_ids(counts: list[np.ndarray], first: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """fUniqueID per entry, numbering each event's collections in turn from ``first`` on.

    Returns the IDs of each collection and the next free ID of each event.
    """
    next_id = first.astype(np.int64)
    ids = []
    for n in counts:
        local = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
        ids.append(np.repeat(next_id, n) + local)
        next_id = next_id + n
    return ids, next_id


def _with_ids(collection: ak.Array, ids: np.ndarray) -> ak.Array:
    return ak.with_field(collection, ak.unflatten(ids, ak.num(collection)), "fUniqueID")


def simulate_batch(
    batch: ak.Array,
    *,
    process: str,
    particle_data: pythia8mc.ParticleData,
    card: DetectorCard,
    rng: np.random.Generator,
    thresholds: JetThresholds,
    first_number: int,
    cross_section_pb: float,
    weight_columns: list[int],
    timer: StepTimer,
) -> dict[str, ak.Array]:
    """All collections of a batch of nextBatch events, as event × entry awkward records."""
    start = time.perf_counter()
    prt = batch.prt
    n_events = len(prt)
    charge = charges(particle_data, _flat(prt.id))
    particles_record = reduced_record(prt, charge)
    start = timer.lap("truth record", start)

    particles = stable_particles(prt, charge)
    flow = simulate_detector(particles, card, rng)
    start = timer.lap("detector", start)

    collections = (particles_record, flow.tracks, flow.photons, flow.neutral_hadrons)
    ids, next_id = unique_ids([c.counts(n_events) for c in collections], np.ones(n_events))
    eflow = energy_flow_inputs(flow, ids[1:], n_events)
    gen = generator_inputs(particles, n_events)
    jet_inputs = {
        "GenFatJet": (gen, FAT_JET_RADIUS, thresholds.genfatjet),
        "FatJet": (eflow, FAT_JET_RADIUS, thresholds.fatjet),
        "Jet": (eflow, JET_RADIUS, thresholds.jet),
    }
    clustered = {
        name: cluster(inputs.jagged(), radius, pt_min)
        for name, (inputs, radius, pt_min) in jet_inputs.items()
    }
    jets = {
        name: jet_collection(clustered[name], inputs, radius, with_substructure=name != "Jet")
        for name, (inputs, radius, _) in jet_inputs.items()
    }
    jet_ids, _ = unique_ids([ak.to_numpy(ak.num(jets[name])) for name in jets], next_id)
    out = {name: _with_ids(jets[name], ids_) for name, ids_ in zip(jets, jet_ids, strict=True)}
    out["FatJetConstituent"] = constituent_refs(clustered["FatJet"], eflow)
    out["JetConstituent"] = constituent_refs(clustered["Jet"], eflow)
    start = timer.lap("clustering", start)

    names = ("Particle", "EFlowTrack", "EFlowPhoton", "EFlowNeutralHadron")
    for name, collection, ids_ in zip(names, collections, ids, strict=True):
        out[name] = _with_ids(collection.to_jagged(n_events), ids_)
    event = FlatCollection(
        np.arange(n_events),
        {
            "Number": first_number + np.arange(n_events),
            "ProcessID": hard_process_codes(process, prt.id),
            "Weight": ak.to_numpy(batch.info.weights[:, 0]),
            "CrossSection": np.full(n_events, cross_section_pb),
        },
    )
    out["Event"] = event.to_jagged(n_events)
    weights = ak.to_numpy(batch.info.weights)[:, weight_columns]
    out["Weight"] = FlatCollection(
        np.repeat(np.arange(n_events), len(weight_columns)), {"Weight": weights.ravel()}
    ).to_jagged(n_events)
    timer.lap("assembly", start)
    return out
