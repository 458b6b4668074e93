"""Parametrised detector: tracker and ECAL/HCAL towers turn stable particles into energy flow.

All steps act on flat arrays of a whole batch of events; towers are filled with bincount over a
global (event, cell) index. The two cards, ``mc`` and ``data-like``, are documented number by number
in docs/generation.md.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from boostjet.errors import GenerationError
from boostjet.generation.kinematics import FlatCollection

PHOTON, ELECTRON, MUON = 22, 11, 13
NEUTRINOS = (12, 14, 16)


@dataclass(frozen=True)
class Tracker:
    """Charged-particle acceptance, efficiency, pT resolution σ(pT)/pT = c ⊕ s·pT, and the
    impact-parameter resolutions σ = a ⊕ b/pT of the transverse (d0) and longitudinal (dz)
    impact parameters. Particles produced beyond ``vertex_radius_max`` (mm) are not tracked."""

    efficiency_barrel: float
    efficiency_endcap: float
    barrel_eta_max: float = 1.5
    eta_max: float = 2.5
    pt_min: float = 0.5
    resolution_constant: float = 0.01
    resolution_slope: float = 2e-4  # per GeV
    d0_resolution: tuple[float, float] = (0.010, 0.100)  # mm, mm·GeV
    dz_resolution: tuple[float, float] = (0.020, 0.150)  # mm, mm·GeV
    vertex_radius_max: float = 600.0  # mm


@dataclass(frozen=True)
class HadronResponse:
    """Non-compensation: a hadron's shower is read out at π/e of an electron's of the same energy.

    Groom's parametrisation (NIM A 572 (2007) 633): the electromagnetic fraction of a hadron shower
    is f_em = 1 − (E/E₀)^(m−1), and π/e = f_em + (1 − f_em) · h/e. With h/e = 0.7, m = 0.85,
    E₀ = 1 GeV (a brass/scintillator calorimeter like the CMS HCAL): 0.79 at 10 GeV, 0.85 at
    100 GeV. Energies below E₀ respond as h/e.
    """

    h_over_e: float = 0.7
    exponent: float = 0.85  # m
    energy_scale: float = 1.0  # E₀, GeV

    def __call__(self, energy: np.ndarray) -> np.ndarray:
        """π/e of hadrons of the given energies (GeV)."""
        ratio = np.maximum(energy, self.energy_scale) / self.energy_scale
        em_fraction = 1.0 - ratio ** (self.exponent - 1.0)
        return em_fraction + (1.0 - em_fraction) * self.h_over_e


@dataclass(frozen=True)
class Calorimeter:
    """Tower energy response: scale and resolution σ/E = a/√E ⊕ b ⊕ c/E, threshold, acceptance,
    and (HCAL) the lower, energy-dependent response to hadrons."""

    stochastic: float  # a, in √GeV
    constant: float  # b
    noise: float  # c, in GeV
    energy_min: float  # GeV, towers below are not read out
    eta_max: float
    scale: float = 1.0
    hadron_response: HadronResponse | None = None  # None: compensating (hadrons read as e)


@dataclass(frozen=True)
class TowerGrid:
    """η–φ segmentation shared by ECAL and HCAL: fine in the barrel/endcap, coarse forward."""

    fine_eta_max: float = 2.5
    fine_eta_bins: int = 58  # 0.0862 wide
    fine_phi_bins: int = 72  # 0.0873 wide
    coarse_eta_max: float = 5.0
    coarse_eta_bins_per_side: int = 14  # 0.179 wide
    coarse_phi_bins: int = 36  # 0.175 wide

    @property
    def eta_edges(self) -> np.ndarray:
        """Tower boundaries in η from −coarse_eta_max to +coarse_eta_max."""
        fine = np.linspace(-self.fine_eta_max, self.fine_eta_max, self.fine_eta_bins + 1)
        forward = np.linspace(
            self.fine_eta_max, self.coarse_eta_max, self.coarse_eta_bins_per_side + 1
        )
        return np.concatenate([-forward[::-1], fine[1:-1], forward])

    @property
    def n_cells(self) -> int:
        """Number of (η, φ) cells, counting every η ring with the fine φ segmentation."""
        return (len(self.eta_edges) - 1) * self.fine_phi_bins


@dataclass(frozen=True)
class DetectorCard:
    """A complete detector response: tracker, ECAL, HCAL and their tower grid."""

    name: str
    tracker: Tracker
    ecal: Calorimeter
    hcal: Calorimeter
    towers: TowerGrid = field(default_factory=TowerGrid)


ECAL = Calorimeter(stochastic=0.05, constant=0.005, noise=0.25, energy_min=0.5, eta_max=3.0)

MC_CARD = DetectorCard(
    name="mc",
    tracker=Tracker(efficiency_barrel=0.97, efficiency_endcap=0.90),
    ecal=ECAL,
    hcal=Calorimeter(
        stochastic=1.0,
        constant=0.05,
        noise=0.0,
        energy_min=1.0,
        eta_max=5.0,
        hadron_response=HadronResponse(),
    ),
)

# "Data": the calorimeter responds 10 % lower than simulated (ECAL and HCAL), the tracker loses
# more charged hadrons (barrel 0.90, endcap 0.82; the lost ones go to the scaled-down HCAL) and the
# HCAL resolution is worse. Fat-jet pT and soft-drop mass come out ≈ 5 % lower (docs/generation.md).
DATA_LIKE_CARD = DetectorCard(
    name="data-like",
    tracker=dataclasses.replace(MC_CARD.tracker, efficiency_barrel=0.90, efficiency_endcap=0.82),
    ecal=dataclasses.replace(MC_CARD.ecal, scale=0.90),
    hcal=dataclasses.replace(MC_CARD.hcal, stochastic=1.3, scale=0.90),
)

CARDS: dict[str, DetectorCard] = {card.name: card for card in (MC_CARD, DATA_LIKE_CARD)}


def card_named(name: str) -> DetectorCard:
    """The detector card of that name."""
    if name not in CARDS:
        raise GenerationError(
            f"Generation option 'card' must be one of {', '.join(CARDS)}: {name!r}."
        )
    return CARDS[name]


def energy_resolution(energy: np.ndarray, calorimeter: Calorimeter) -> np.ndarray:
    """Relative energy resolution σ/E = a/√E ⊕ b ⊕ c/E (E in GeV, > 0)."""
    a, b, c = calorimeter.stochastic, calorimeter.constant, calorimeter.noise
    return np.sqrt(a**2 / energy + b**2 + (c / energy) ** 2)


def pt_resolution(pt: np.ndarray, tracker: Tracker) -> np.ndarray:
    """Relative track transverse-momentum resolution σ(pT)/pT = c ⊕ s·pT."""
    return np.hypot(tracker.resolution_constant, tracker.resolution_slope * pt)


def impact_parameter_resolution(pt: np.ndarray, resolution: tuple[float, float]) -> np.ndarray:
    """σ(d0) or σ(dz) in mm: a ⊕ b / pT (pT in GeV); multiple scattering falls with pT."""
    constant, slope = resolution
    return np.hypot(constant, slope / pt)


def impact_parameters(
    vertex: np.ndarray, phi: np.ndarray, eta: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Transverse and longitudinal impact parameters (mm) of straight tracks from ``vertex``.

    d0 = x sin φ − y cos φ, signed as Delphes does ((x p_y − y p_x) / pT), and dz the track's z at
    its point of closest approach to the beam line, z − (x cos φ + y sin φ) sinh η. The primary
    vertex is at the origin; a straight line is exact enough over the millimetres of a b-hadron
    flight against the metres of the tracks' bending radius.
    """
    x, y, z = vertex.T
    d0 = x * np.sin(phi) - y * np.cos(phi)
    dz = z - (x * np.cos(phi) + y * np.sin(phi)) * np.sinh(eta)
    return d0, dz


def tracking_efficiency(eta: np.ndarray, tracker: Tracker) -> np.ndarray:
    """Probability to reconstruct a charged particle inside the tracker acceptance."""
    barrel = np.abs(eta) < tracker.barrel_eta_max
    return np.where(barrel, tracker.efficiency_barrel, tracker.efficiency_endcap)


def log_normal(mean: np.ndarray, sigma: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Positive smeared values with the given mean and standard deviation, as Delphes smears."""
    width = np.sqrt(np.log1p(np.square(sigma / mean)))
    return mean * np.exp(width * rng.standard_normal(mean.shape) - 0.5 * width**2)


def tower_cells(eta: np.ndarray, phi: np.ndarray, grid: TowerGrid) -> tuple[np.ndarray, ...]:
    """Cell index of each (η, φ) and the cell's η and φ boundaries (|η| < coarse_eta_max)."""
    edges = grid.eta_edges
    eta_bin = np.clip(np.searchsorted(edges, eta, side="right") - 1, 0, len(edges) - 2)
    fine = np.abs(eta) < grid.fine_eta_max
    n_phi = np.where(fine, grid.fine_phi_bins, grid.coarse_phi_bins)
    phi_width = 2 * np.pi / n_phi
    phi_bin = np.minimum(np.floor((phi + np.pi) / phi_width).astype(np.int64), n_phi - 1)
    cell = eta_bin * grid.fine_phi_bins + phi_bin
    phi_low = -np.pi + phi_bin * phi_width
    return cell, edges[eta_bin], edges[eta_bin + 1], phi_low, phi_low + phi_width


@dataclass(frozen=True)
class StableParticles:
    """Stable generator particles of a batch as flat arrays (sorted by event)."""

    event: np.ndarray
    pid: np.ndarray
    charge: np.ndarray
    pt: np.ndarray
    eta: np.ndarray
    phi: np.ndarray
    mass: np.ndarray
    energy: np.ndarray
    vertex: np.ndarray | None = None
    """Production vertices [n, 3] (x, y, z) in mm; None: every particle from the origin."""

    def production_vertices(self) -> np.ndarray:
        """[n, 3] production vertices in mm (zeros where none is given)."""
        return np.zeros((len(self.pid), 3)) if self.vertex is None else self.vertex


@dataclass(frozen=True)
class EnergyFlow:
    """Reconstructed energy-flow objects of a batch, each collection with Delphes field names."""

    tracks: FlatCollection
    photons: FlatCollection
    neutral_hadrons: FlatCollection


def reconstruct_tracks(
    particles: StableParticles, card: DetectorCard, rng: np.random.Generator
) -> tuple[FlatCollection, np.ndarray]:
    """EFlowTrack of charged particles (efficiency, smeared pT and impact parameters), and which
    particles made one."""
    tracker = card.tracker
    vertex = particles.production_vertices()
    accepted = (
        (particles.charge != 0)
        & (np.abs(particles.eta) < tracker.eta_max)
        & (particles.pt > tracker.pt_min)
        & (np.hypot(vertex[:, 0], vertex[:, 1]) < tracker.vertex_radius_max)
    )
    found = rng.random(particles.pid.shape) < tracking_efficiency(particles.eta, tracker)
    tracked = accepted & found
    pt, eta, phi = particles.pt[tracked], particles.eta[tracked], particles.phi[tracked]
    measured_pt = log_normal(pt, pt * pt_resolution(pt, tracker), rng)
    d0, dz = impact_parameters(vertex[tracked], phi, eta)
    d0_error = impact_parameter_resolution(pt, tracker.d0_resolution)
    dz_error = impact_parameter_resolution(pt, tracker.dz_resolution)
    tracks = FlatCollection(
        particles.event[tracked],
        {
            "PID": particles.pid[tracked],
            "Charge": particles.charge[tracked],
            "PT": measured_pt,
            "Eta": eta,
            "Phi": phi,
            "Mass": particles.mass[tracked],
            "D0": d0 + d0_error * rng.standard_normal(len(pt)),
            "DZ": dz + dz_error * rng.standard_normal(len(pt)),
            "ErrorD0": d0_error,
            "ErrorDZ": dz_error,
        },
    )
    return tracks, tracked


def _smeared_energy(
    deposit: np.ndarray, calorimeter: Calorimeter, rng: np.random.Generator
) -> np.ndarray:
    """Measured tower energies: scale × deposit, smeared by the resolution; 0 where empty."""
    measured = np.zeros_like(deposit)
    hit = deposit > 0
    mean = calorimeter.scale * deposit[hit]
    measured[hit] = log_normal(mean, mean * energy_resolution(mean, calorimeter), rng)
    return measured


def fill_towers(
    particles: StableParticles,
    in_calorimeter: np.ndarray,
    card: DetectorCard,
    rng: np.random.Generator,
) -> tuple[FlatCollection, FlatCollection]:
    """EFlowPhoton (ECAL part) and EFlowNeutralHadron (HCAL part) of the towers hit by particles."""
    grid = card.towers
    calo = in_calorimeter & (np.abs(particles.eta) < card.hcal.eta_max)
    em = (particles.pid == PHOTON) | (np.abs(particles.pid) == ELECTRON)
    to_ecal = (em & (np.abs(particles.eta) < card.ecal.eta_max))[calo]
    energy, eta, phi = particles.energy[calo], particles.eta[calo], particles.phi[calo]
    cell, eta_low, eta_high, phi_low, phi_high = tower_cells(eta, phi, grid)
    key = particles.event[calo].astype(np.int64) * grid.n_cells + cell
    towers, first, owner = np.unique(key, return_index=True, return_inverse=True)
    owner = owner.reshape(-1)
    e_ecal = _smeared_energy(np.bincount(owner, energy * to_ecal, len(towers)), card.ecal, rng)
    hcal_signal = np.where(to_ecal, 0.0, energy)
    if card.hcal.hadron_response is not None:  # each hadron's shower by its own energy
        hadron = ~em[calo]
        hcal_signal[hadron] *= card.hcal.hadron_response(energy[hadron])
    e_hcal = _smeared_energy(np.bincount(owner, hcal_signal, len(towers)), card.hcal, rng)
    # Delphes places the tower's energy at a uniformly random point inside the cell.
    u_eta, u_phi = rng.random((2, len(towers)))
    tower_eta = eta_low[first] + u_eta * (eta_high[first] - eta_low[first])
    tower_phi = phi_low[first] + u_phi * (phi_high[first] - phi_low[first])
    event = (towers // grid.n_cells).astype(np.int64)

    def deposits(measured: np.ndarray, threshold: float, ecal_part: bool) -> FlatCollection:
        keep = measured > threshold
        e = measured[keep]
        zero = np.zeros_like(e)
        return FlatCollection(
            event[keep],
            {
                "ET": e / np.cosh(tower_eta[keep]),
                "Eta": tower_eta[keep],
                "Phi": tower_phi[keep],
                "E": e,
                "Eem": e if ecal_part else zero,
                "Ehad": zero if ecal_part else e,
            },
        )

    photons = deposits(e_ecal, card.ecal.energy_min, ecal_part=True)
    neutral_hadrons = deposits(e_hcal, card.hcal.energy_min, ecal_part=False)
    return photons, neutral_hadrons


def simulate_detector(
    particles: StableParticles, card: DetectorCard, rng: np.random.Generator
) -> EnergyFlow:
    """Energy flow of a batch: tracks, then calorimeter towers of everything not tracked.

    Neutrinos are invisible; muons leave only tracks; untracked electrons and photons go to ECAL
    (|η| < 3), all other untracked visible particles to HCAL (|η| < 5).
    """
    tracks, tracked = reconstruct_tracks(particles, card, rng)
    abs_pid = np.abs(particles.pid)
    visible = ~np.isin(abs_pid, NEUTRINOS)
    in_calorimeter = visible & ~tracked & (abs_pid != MUON)
    photons, neutral_hadrons = fill_towers(particles, in_calorimeter, card, rng)
    return EnergyFlow(tracks, photons, neutral_hadrons)
