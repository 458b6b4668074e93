"""Jet clustering and substructure against fastjet's own implementations and hand-made events."""

import awkward as ak
import fastjet
import numpy as np
import pytest

from boostjet.generation.clustering import (
    RECLUSTER,
    ClusteringInputs,
    cluster,
    constituent_refs,
    jet_collection,
    silence_fastjet_banner,
    soft_drop,
)
from boostjet.generation.detector import StableParticles
from boostjet.generation.kinematics import cartesian, four_momenta, pt_eta_phi
from boostjet.generation.simulation import generator_inputs
from boostjet.kinematics import invariant_mass


@pytest.fixture(scope="module", autouse=True)
def _quiet():
    silence_fastjet_banner()


def _inputs(rows, n_events):
    """ClusteringInputs from (event, pt, eta, phi, charge, unique id) rows, sorted by event."""
    event, pt, eta, phi, charge, uid = np.array(rows, dtype=float).T
    px, py, pz, e = cartesian(pt, eta, phi, 0.0)
    return ClusteringInputs(
        p4={"px": px, "py": py, "pz": pz, "E": e},
        charge=charge,
        unique_id=uid.astype(np.int64),
        counts=np.bincount(event.astype(int), minlength=n_events),
    )


def _random_jets(n_jets, rng):
    """Fat-jet-like constituent sets: two or three hard prongs plus soft wide-angle radiation."""
    counts = rng.integers(1, 60, n_jets)
    pt = rng.exponential(5.0, counts.sum()) + 0.5
    pt[np.cumsum(counts) - counts] += 300.0  # a hard prong per jet
    eta = rng.normal(0.0, 0.3, counts.sum())
    phi = rng.normal(0.0, 0.3, counts.sum())
    return np.stack(cartesian(pt, eta, phi, 0.0), axis=1), counts


def test_soft_drop_reproduces_fastjet_contrib():
    p4, counts = _random_jets(200, np.random.default_rng(4))
    groomed = soft_drop(p4, counts)
    jets = ak.unflatten(four_momenta(*p4.T), counts)
    reference = fastjet.ClusterSequence(jets, RECLUSTER).exclusive_jets_softdrop_grooming(
        njets=1, beta=0.0, symmetry_cut=0.1, R0=0.8
    )
    assert np.allclose(groomed[:, 3], ak.to_numpy(reference.Esoftdrop), rtol=1e-9, atol=1e-9)
    assert np.allclose(
        invariant_mass(*groomed.T), ak.to_numpy(reference.msoftdrop), rtol=1e-7, atol=1e-4
    )


def test_soft_drop_keeps_a_symmetric_pair_and_drops_soft_radiation():
    # Two 100 GeV prongs ΔR = 0.4 apart and a 2 GeV emission at ΔR ≈ 0.7: z = 2/202 < 0.1.
    p4 = np.stack(
        cartesian(
            np.array([100.0, 100.0, 2.0]),
            np.array([0.0, 0.4, -0.5]),
            np.zeros(3) + np.array([0.0, 0.0, 0.45]),
            0.0,
        ),
        axis=1,
    )
    groomed = soft_drop(p4, np.array([3]))
    assert np.allclose(groomed[0], p4[0] + p4[1])
    single = soft_drop(p4[:1], np.array([1]))
    assert np.allclose(single[0], p4[0])


def test_anti_kt_jets_are_pt_ordered_with_their_constituents():
    rows = [
        (0, 50.0, 0.0, 0.0, 1, 11),
        (0, 300.0, 1.0, 2.0, 0, 12),
        (0, 100.0, 1.1, 2.1, -1, 13),
        (0, 30.0, 0.1, 0.1, 0, 14),
        (2, 250.0, -1.0, -1.0, 1, 21),
    ]
    inputs = _inputs(rows, 3)
    jets = cluster(inputs.jagged(), 0.8, 20.0)
    assert ak.num(jets.p4).tolist() == [2, 0, 1]
    assert ak.to_list(jets.constituents) == [[[1, 2], [0, 3]], [], [[0]]]
    refs = constituent_refs(jets, inputs)
    assert refs.Jet.tolist() == [[0, 0, 1, 1], [], [0]]
    assert refs.Ref.tolist() == [[12, 13, 11, 14], [], [21]]
    table = jet_collection(jets, inputs, 0.8, with_substructure=False)
    assert table.NCharged.tolist() == [[1, 1], [], [1]]
    assert table.NNeutrals.tolist() == [[1, 1], [], [0]]
    assert table.PT[0, 0] > table.PT[0, 1]
    assert table.Tau1.tolist() == [[0.0, 0.0], [], [0.0]]


def test_substructure_of_a_two_prong_jet():
    rows = [(0, 200.0, 0.0, 0.0, 1, 1), (0, 200.0, 0.3, 0.0, 1, 2), (0, 1.0, 0.0, 0.5, 0, 3)]
    inputs = _inputs(rows, 1)
    table = jet_collection(cluster(inputs.jagged(), 0.8, 100.0), inputs, 0.8, True)
    assert table.Tau2[0, 0] < 0.1 * table.Tau1[0, 0]
    assert table.Tau3[0, 0] == pytest.approx(0.0, abs=1e-12)
    groomed_mass = invariant_mass(
        *(ak.to_numpy(table[f"SoftDropped{c}"][0]) for c in ("Px", "Py", "Pz", "E"))
    )
    # The 1 GeV emission is groomed away: m_SD is the mass of the two prongs.
    two_prongs = invariant_mass(*(sum(inputs.p4[c][:2]) for c in ("px", "py", "pz", "E")))
    assert groomed_mass[0] == pytest.approx(two_prongs)


def test_no_inputs_give_no_jets():
    inputs = _inputs(np.zeros((0, 6)), 2)
    jets = cluster(inputs.jagged(), 0.8, 200.0)
    assert ak.num(jets.p4).tolist() == [0, 0]
    assert ak.num(jet_collection(jets, inputs, 0.8, True)).tolist() == [0, 0]
    assert ak.num(constituent_refs(jets, inputs)).tolist() == [0, 0]


def _event_with_particles_without_pt(rng):
    """40 ordinary particles (two hard prongs among them), then three with pT = 0 exactly: a
    zero-momentum photon (η = NaN), a proton along +z and a photon along −z (η = ±∞)."""
    pt = np.r_[300.0, 250.0, rng.exponential(5.0, 38) + 0.5]
    px, py, pz, e = cartesian(pt, rng.normal(0.0, 1.0, 40), rng.uniform(-np.pi, np.pi, 40), 0.0)
    proton_mass = 0.938
    px, py = np.r_[px, 0.0, 0.0, 0.0], np.r_[py, 0.0, 0.0, 0.0]
    pz = np.r_[pz, 0.0, 2000.0, -50.0]
    mass = np.r_[np.zeros(40), 0.0, proton_mass, 0.0]
    energy = np.r_[e, 0.0, np.hypot(2000.0, proton_mass), 50.0]
    pt, eta, phi = pt_eta_phi(px, py, pz)  # as stable_particles computes them
    pid = np.r_[np.full(40, 211), 22, 2212, 22]
    charge = np.r_[np.ones(40), 0.0, 1.0, 0.0]
    event = np.zeros(43, dtype=np.int64)
    return StableParticles(event, pid, charge, pt, eta, phi, mass, energy)


def test_generator_particles_without_pt_cluster_like_their_four_momenta():
    # Pythia can leave a stable zero-energy photon: its pz = 0 · sinh(NaN) was NaN, and fastjet
    # crashed (SIGSEGV) on it; it is (0, 0, 0, 0), and a particle along the beam (0, 0, ±|p|, E).
    with np.errstate(invalid="ignore", divide="ignore"):
        particles = _event_with_particles_without_pt(np.random.default_rng(7))
    inputs = generator_inputs(particles, 1)
    p4 = np.stack([inputs.p4[c] for c in ("px", "py", "pz", "E")], axis=1)
    assert np.isfinite(p4).all()
    expected = [[0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 2000.0, np.hypot(2000.0, 0.938)], [0, 0, -50, 50]]
    assert np.allclose(p4[40:], expected, rtol=1e-14, atol=0.0)
    ordinary = ClusteringInputs(
        {c: v[:40] for c, v in inputs.p4.items()},
        inputs.charge[:40],
        inputs.unique_id[:40],
        np.array([40]),
    )
    jets = cluster(inputs.jagged(), 0.8, 1.0)
    reference = cluster(ordinary.jagged(), 0.8, 1.0)
    assert ak.to_list(jets.p4) == ak.to_list(reference.p4)
    assert ak.to_list(jets.constituents) == ak.to_list(reference.constituents)
    assert ak.to_list(jet_collection(jets, inputs, 0.8, True)) == ak.to_list(
        jet_collection(reference, ordinary, 0.8, True)
    )
    # Without a pT threshold each particle without pT is a jet of its own, substructure included.
    everything = jet_collection(cluster(inputs.jagged(), 0.8, 0.0), inputs, 0.8, True)
    without_pt = everything[everything.PT == 0]
    assert len(without_pt[0]) == 3
    assert (without_pt.NCharged + without_pt.NNeutrals).tolist() == [[1, 1, 1]]


def test_non_finite_clustering_input_is_an_error_not_a_crash():
    rng = np.random.default_rng(3)
    px, py, pz, e = cartesian(rng.exponential(5.0, 40) + 0.5, rng.normal(0.0, 2.0, 40), 0.0, 0.0)
    p4 = {"px": np.r_[px, 0.0], "py": np.r_[py, 0.0], "pz": np.r_[pz, np.nan], "E": np.r_[e, 0.0]}
    with pytest.raises(ValueError, match="non-finite pz"):
        cluster(ak.unflatten(ak.zip(p4, depth_limit=1), [41]), 0.8, 0.0)
