"""Detector model: resolution formulae, tower binning and the energy flow of hand-made particles."""

import dataclasses
import math

import numpy as np
import pytest

from boostjet.errors import GenerationError
from boostjet.generation.detector import (
    CARDS,
    DATA_LIKE_CARD,
    MC_CARD,
    Calorimeter,
    HadronResponse,
    StableParticles,
    Tracker,
    card_named,
    energy_resolution,
    impact_parameter_resolution,
    impact_parameters,
    log_normal,
    pt_resolution,
    simulate_detector,
    tower_cells,
    tracking_efficiency,
)

PERFECT = dataclasses.replace(
    MC_CARD,
    name="perfect",
    tracker=Tracker(
        efficiency_barrel=1.0, efficiency_endcap=1.0, resolution_constant=0.0, resolution_slope=0.0
    ),
    ecal=Calorimeter(stochastic=0.0, constant=0.0, noise=0.0, energy_min=0.5, eta_max=3.0),
    hcal=Calorimeter(stochastic=0.0, constant=0.0, noise=0.0, energy_min=1.0, eta_max=5.0),
)


def test_calorimeter_resolution_matches_hand_computed_values():
    # ECAL at 100 GeV: sqrt(0.05²/100 + 0.005² + (0.25/100)²) = sqrt(5.625e-5)
    assert energy_resolution(np.array([100.0]), MC_CARD.ecal)[0] == pytest.approx(0.0075)
    # HCAL at 100 GeV: sqrt(1/100 + 0.05²) = sqrt(0.0125); data-like: sqrt(1.69/100 + 0.05²)
    assert energy_resolution(np.array([100.0]), MC_CARD.hcal)[0] == pytest.approx(0.111803, 1e-5)
    assert energy_resolution(np.array([100.0]), DATA_LIKE_CARD.hcal)[0] == pytest.approx(
        math.sqrt(0.0194), 1e-6
    )
    # The data-like ECAL differs only in its scale: same resolution.
    assert energy_resolution(np.array([100.0]), DATA_LIKE_CARD.ecal)[0] == pytest.approx(0.0075)


def test_track_resolution_and_efficiency():
    # σ(pT)/pT = 0.01 ⊕ 2e-4 · 100 = sqrt(1e-4 + 4e-4)
    assert pt_resolution(np.array([100.0]), MC_CARD.tracker)[0] == pytest.approx(math.sqrt(5e-4))
    eta = np.array([0.0, 1.49, 1.51, 2.4])
    assert tracking_efficiency(eta, MC_CARD.tracker).tolist() == [0.97, 0.97, 0.90, 0.90]
    assert tracking_efficiency(eta, DATA_LIKE_CARD.tracker).tolist() == [0.90, 0.90, 0.82, 0.82]


def test_log_normal_has_the_requested_mean_and_width():
    rng = np.random.default_rng(1)
    values = log_normal(np.full(200_000, 50.0), np.full(200_000, 5.0), rng)
    assert values.min() > 0
    assert values.mean() == pytest.approx(50.0, rel=2e-3)
    assert values.std() == pytest.approx(5.0, rel=1e-2)


def test_tower_cells_of_hand_placed_particles():
    grid = MC_CARD.towers
    edges = grid.eta_edges
    assert len(edges) == 14 + 58 + 14 + 1
    assert edges[0] == -5.0 and edges[-1] == 5.0
    eta = np.array([0.01, -0.01, 3.0])
    phi = np.array([0.01, 0.01, -3.1])
    cell, eta_low, eta_high, phi_low, phi_high = tower_cells(eta, phi, grid)
    # |η| < 2.5: 58 bins of 5/58 after the 14 forward bins; 72 φ bins from −π.
    assert cell[0] == (14 + 29) * 72 + 36
    assert cell[1] == (14 + 28) * 72 + 36
    assert eta_high[0] - eta_low[0] == pytest.approx(5 / 58)
    assert phi_high[0] - phi_low[0] == pytest.approx(2 * math.pi / 72)
    # 2.5 < η < 5: 14 bins of 2.5/14, 36 φ bins.
    assert eta_low[2] == pytest.approx(2.5 + 2 * 2.5 / 14)
    assert cell[2] == (14 + 58 + 2) * 72 + 0
    assert phi_high[2] - phi_low[2] == pytest.approx(2 * math.pi / 36)


def _particles(rows):
    """StableParticles from (event, pid, charge, pt, eta, phi, mass) rows."""
    columns = np.array(rows, dtype=float).T
    event, pid, charge, pt, eta, phi, mass = columns
    energy = np.sqrt((pt * np.cosh(eta)) ** 2 + mass**2)
    return StableParticles(
        event.astype(np.int64), pid.astype(np.int64), charge, pt, eta, phi, mass, energy
    )


def test_energy_flow_of_a_hand_made_event():
    particles = _particles(
        [
            (0, 211, 1, 10.0, 0.3, 0.5, 0.1396),  # tracked pion
            (0, 13, -1, 20.0, 3.5, 0.0, 0.1057),  # muon outside the tracker: lost
            (0, 22, 0, 5.0, 1.001, 1.001, 0.0),  # two photons in one ECAL tower
            (0, 22, 0, 3.0, 1.002, 1.002, 0.0),
            (0, 2112, 0, 8.0, 1.001, 1.001, 0.9396),  # neutron in the same tower: HCAL part
            (0, 12, 0, 50.0, 0.0, 0.0, 0.0),  # neutrino: invisible
            (1, -211, -1, 0.3, 0.0, 2.0, 0.1396),  # below the tracking threshold → HCAL
            (1, 11, -1, 4.0, 2.8, -1.0, 0.000511),  # electron outside the tracker → ECAL
            (1, 22, 0, 4.0, 4.0, 1.0, 0.0),  # photon beyond the ECAL → HCAL
        ]
    )
    flow = simulate_detector(particles, PERFECT, np.random.default_rng(0))
    tracks = flow.tracks
    assert tracks.event.tolist() == [0]
    assert tracks.fields["PT"][0] == pytest.approx(10.0)
    assert tracks.fields["Mass"][0] == pytest.approx(0.1396)
    assert tracks.fields["PID"].tolist() == [211]
    photons, hadrons = flow.photons, flow.neutral_hadrons
    assert photons.event.tolist() == [0, 1]
    e_photons = 5.0 * math.cosh(1.001) + 3.0 * math.cosh(1.002)
    assert photons.fields["E"][0] == pytest.approx(e_photons)
    assert photons.fields["Ehad"].tolist() == [0.0, 0.0]
    assert photons.fields["E"][1] == pytest.approx(4.0 * math.cosh(2.8), rel=1e-9)
    assert hadrons.event.tolist() == [0, 1]
    neutron = math.sqrt((8.0 * math.cosh(1.001)) ** 2 + 0.9396**2)
    assert hadrons.fields["E"][0] == pytest.approx(neutron)
    assert hadrons.fields["Eem"][0] == 0.0
    # The photon and neutron share one tower, hence one position; ET = E / cosh η.
    assert hadrons.fields["Eta"][0] == photons.fields["Eta"][0]
    assert abs(photons.fields["Eta"][0] - 1.0) < 5 / 58
    assert photons.fields["ET"][0] == pytest.approx(e_photons / math.cosh(photons.fields["Eta"][0]))
    # Event 1: the soft pion (E ≈ 0.33 GeV) stays below the 1 GeV HCAL threshold on its own.
    assert hadrons.fields["E"][1] == pytest.approx(4.0 * math.cosh(4.0))


def test_data_like_card_differs_by_its_documented_causes():
    mc, data = MC_CARD, DATA_LIKE_CARD
    # Calorimeter response 10 % low in both calorimeters (simulation is 1.0).
    assert mc.ecal.scale == mc.hcal.scale == 1.0
    assert data.ecal.scale == data.hcal.scale == 0.90
    # Fewer tracks: 7 (barrel) and 8 (endcap) percentage points lower.
    assert data.tracker.efficiency_barrel == pytest.approx(mc.tracker.efficiency_barrel - 0.07)
    assert data.tracker.efficiency_endcap == pytest.approx(mc.tracker.efficiency_endcap - 0.08)
    # Worse HCAL stochastic term; nothing else differs.
    assert (mc.hcal.stochastic, data.hcal.stochastic) == (1.0, 1.3)
    assert dataclasses.replace(data.ecal, scale=1.0) == mc.ecal
    assert dataclasses.replace(data.hcal, scale=1.0, stochastic=1.0) == mc.hcal
    assert dataclasses.replace(data.tracker, efficiency_barrel=0.97, efficiency_endcap=0.90) == (
        mc.tracker
    )
    assert data.towers == mc.towers
    assert set(CARDS) == {"mc", "data-like"}


def test_data_like_calorimeter_measures_ten_percent_low():
    # Without smearing a tower reads scale × deposit: 0.9 × (5 + 3) GeV of photons in ECAL and
    # 0.9 × 20 GeV of the neutron in HCAL; the track is not scaled.
    unsmeared = dataclasses.replace(
        DATA_LIKE_CARD,
        tracker=PERFECT.tracker,
        ecal=dataclasses.replace(PERFECT.ecal, scale=DATA_LIKE_CARD.ecal.scale),
        hcal=dataclasses.replace(PERFECT.hcal, scale=DATA_LIKE_CARD.hcal.scale),
    )
    particles = _particles(
        [
            (0, 211, 1, 10.0, 0.0, 0.5, 0.1396),
            (0, 22, 0, 5.0, 0.001, 1.001, 0.0),
            (0, 22, 0, 3.0, 0.002, 1.002, 0.0),
            (0, 2112, 0, 20.0, 0.001, 1.001, 0.0),
        ]
    )
    flow = simulate_detector(particles, unsmeared, np.random.default_rng(0))
    assert flow.tracks.fields["PT"].tolist() == [pytest.approx(10.0)]
    e_photons = 5.0 * math.cosh(0.001) + 3.0 * math.cosh(0.002)
    assert flow.photons.fields["E"].tolist() == [pytest.approx(0.9 * e_photons)]
    e_neutron = 20.0 * math.cosh(0.001)
    assert flow.neutral_hadrons.fields["E"].tolist() == [pytest.approx(0.9 * e_neutron)]


def test_hadron_response_matches_groom_parametrisation():
    response = HadronResponse(h_over_e=0.7, exponent=0.85, energy_scale=1.0)
    # f_em = 1 − 10^−0.15 = 0.29205; π/e = f_em + 0.7 (1 − f_em)
    assert response(np.array([10.0]))[0] == pytest.approx(0.29205 + 0.7 * 0.70795, abs=1e-5)
    # 100 GeV: f_em = 1 − 100^−0.15 = 0.49881
    assert response(np.array([100.0]))[0] == pytest.approx(0.49881 + 0.7 * 0.50119, abs=1e-5)
    # at and below E₀ a hadron responds as h/e; the response rises towards 1 with energy
    assert response(np.array([0.3, 1.0])).tolist() == pytest.approx([0.7, 0.7])
    assert np.all(np.diff(response(np.geomspace(1, 1e4, 50))) > 0)
    assert response(np.array([1e4]))[0] < 1
    # both cards are non-compensating in the same way
    assert MC_CARD.hcal.hadron_response == DATA_LIKE_CARD.hcal.hadron_response == response


def test_hcal_reads_each_hadron_at_its_own_response():
    # Two neutrons and a forward photon in HCAL, no smearing: the tower of the neutrons reads
    # E₁ π/e(E₁) + E₂ π/e(E₂) (each shower by its own energy), the photon its full energy.
    response = HadronResponse()
    card = dataclasses.replace(
        PERFECT, hcal=dataclasses.replace(PERFECT.hcal, hadron_response=response)
    )
    particles = _particles(
        [
            (0, 2112, 0, 20.0, 0.001, 1.001, 0.9396),
            (0, 130, 0, 5.0, 0.002, 1.002, 0.4976),
            (0, 22, 0, 4.0, 4.0, 1.0, 0.0),
        ]
    )
    flow = simulate_detector(particles, card, np.random.default_rng(0))
    neutrons = particles.energy[:2]
    expected = float((neutrons * response(neutrons)).sum())
    assert flow.neutral_hadrons.fields["E"].tolist() == pytest.approx(
        [expected, particles.energy[2]]
    )
    assert expected < 0.85 * neutrons.sum()


def test_impact_parameters_of_a_displaced_track_by_hand():
    # a track from (5, 0.2, 3) mm at φ = 0.05, η = 0.5: d0 = 5 sin 0.05 − 0.2 cos 0.05,
    # dz = 3 − (5 cos 0.05 + 0.2 sin 0.05) sinh 0.5; the point of closest approach lies
    # downstream of the primary vertex along +x, where a b hadron flying along +x puts it
    d0, dz = impact_parameters(np.array([[5.0, 0.2, 3.0]]), np.array([0.05]), np.array([0.5]))
    assert d0[0] == pytest.approx(5 * math.sin(0.05) - 0.2 * math.cos(0.05))
    assert d0[0] == pytest.approx(0.0501, abs=1e-4)
    assert dz[0] == pytest.approx(3 - (5 * math.cos(0.05) + 0.2 * math.sin(0.05)) * math.sinh(0.5))
    # σ = 10 µm ⊕ 100 µm·GeV / pT: 0.1005 mm at 1 GeV, 0.0141 mm at 10 GeV
    sigma = impact_parameter_resolution(np.array([1.0, 10.0]), MC_CARD.tracker.d0_resolution)
    np.testing.assert_allclose(sigma, [math.hypot(0.01, 0.1), math.hypot(0.01, 0.01)])


def test_tracks_carry_smeared_impact_parameters_and_far_decays_are_not_tracked():
    n = 20000
    rows = [(0, 211, 1, 10.0, 0.3, 0.5, 0.1396)] * n
    particles = _particles(rows)
    vertex = np.zeros((n, 3))
    vertex[: n // 2] = [0.0, -0.4, 0.0]  # d0 = 0.4 cos 0.5 for the first half
    vertex[-1] = [700.0, 0.0, 0.0]  # beyond the tracker's 600 mm: no track
    particles = dataclasses.replace(particles, vertex=vertex)
    tracks = simulate_detector(particles, MC_CARD, np.random.default_rng(2)).tracks.fields
    d0, error = tracks["D0"], tracks["ErrorD0"]
    assert len(d0) < n and error[0] == pytest.approx(math.hypot(0.01, 0.01))
    displaced = d0[: int(0.9 * n // 2)]  # tracking efficiency drops some of either half
    prompt = d0[-int(0.4 * n) :]
    assert displaced.mean() == pytest.approx(0.4 * math.cos(0.5), abs=1e-3)
    assert prompt.mean() == pytest.approx(0.0, abs=1e-3)
    assert prompt.std() == pytest.approx(error[0], rel=0.05)
    assert np.all(tracks["ErrorDZ"] > error)


def test_unknown_card_names_the_option():
    with pytest.raises(GenerationError, match="'card'"):
        card_named("atlas")
