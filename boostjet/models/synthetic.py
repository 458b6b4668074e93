"""Toy jets obeying the input contract (`boostjet.spec`), for the pre-flight check of a run's
models, tests, benchmarks and smoke training; a toy, not a physics simulation."""

from __future__ import annotations

import numpy as np

from boostjet.spec import InputSpec


def _toy_impact_parameters(rng, charge, labels) -> dict[str, np.ndarray]:
    """Tracks of signal jets come from displaced vertices (|d0| ~ 0.3 mm), the rest promptly."""
    track = charge != 0
    error = np.where(track, 0.02, 0.0)
    d0 = rng.normal(0.0, 1.0, charge.shape) * error + track * labels[:, None] * 0.3
    dz = rng.normal(0.0, 1.0, charge.shape) * 1.5 * error
    return {"d0": d0, "dz": dz, "d0_error": error, "dz_error": 1.5 * error}


def _toy_fractions(energy, charge, is_photon) -> dict[str, np.ndarray]:
    total = np.maximum(energy.sum(axis=1), 1e-9)
    return {
        "charged_energy_fraction": (energy * (charge != 0)).sum(axis=1) / total,
        "photon_energy_fraction": (energy * is_photon).sum(axis=1) / total,
        "neutral_hadron_energy_fraction": (energy * (charge == 0) * (1 - is_photon)).sum(axis=1)
        / total,
    }


def synthetic_jets(
    n_jets: int,
    spec: InputSpec,
    seed: int = 0,
    signal_fraction: float = 0.5,
    coincident: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Toy jets in the contract's layout: (constituents, mask, jet, labels) as float32/bool arrays.

    Signal jets have three hard prongs ~0.3 apart, background jets one; constituents are massless,
    pT-ordered and zero-padded, features follow `spec`. Labels are 1 for signal. `coincident`
    gives slots 2i and 2i + 1 the same direction, as Delphes gives the photon and the neutral
    hadron of one calorimeter cell.
    """
    rng = np.random.default_rng(seed)
    n_slots = spec.n_constituents
    labels = (rng.random(n_jets) < signal_fraction).astype(np.float32)
    jet_pt = rng.uniform(500.0, 700.0, n_jets)
    jet_eta = rng.uniform(-2.0, 2.0, n_jets)
    jet_phi = rng.uniform(-np.pi, np.pi, n_jets)
    n_real = rng.integers(max(2, n_slots // 4), n_slots + 1, n_jets)
    mask = np.arange(n_slots)[None, :] < n_real[:, None]

    prong_angle = rng.uniform(0.0, 2 * np.pi, (n_jets, 3))
    prong_offset = 0.3 * np.stack([np.cos(prong_angle), np.sin(prong_angle)], axis=-1)
    prong_offset[labels == 0] = 0.0
    prong = rng.integers(0, 3, (n_jets, n_slots))
    offset = np.take_along_axis(prong_offset, prong[..., None].repeat(2, -1), axis=1)
    spread = rng.normal(0.0, 0.05, (n_jets, n_slots, 2))
    deta = offset[..., 0] + spread[..., 0]
    dphi = offset[..., 1] + spread[..., 1]
    if coincident:
        pairs = 2 * (n_slots // 2)
        deta[:, 1:pairs:2], dphi[:, 1:pairs:2] = deta[:, 0:pairs:2], dphi[:, 0:pairs:2]
    share = rng.exponential(1.0, (n_jets, n_slots)) * mask
    share = -np.sort(-share, axis=1)
    pt = jet_pt[:, None] * share / share.sum(axis=1, keepdims=True)
    eta = jet_eta[:, None] + deta
    phi = jet_phi[:, None] + dphi
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    energy = pt * np.cosh(eta)
    charge = rng.choice([-1.0, 0.0, 1.0], (n_jets, n_slots))
    # neutral constituents are photons or neutral hadrons (own stream: the rest stays as it was)
    photon_draw = np.random.default_rng([seed, 1]).random((n_jets, n_slots))
    is_photon = ((charge == 0) & (photon_draw < 0.7)).astype(np.float64)
    columns = {
        "E": energy,
        "px": px,
        "py": py,
        "pz": pz,
        "pt": pt,
        "eta": eta,
        "phi": np.angle(np.exp(1j * phi)),
        "deta": deta,
        "dphi": np.angle(np.exp(1j * dphi)),
        "charge": charge,
        "is_photon": is_photon,
        "is_neutral_hadron": (charge == 0) * (1.0 - is_photon),
        **_toy_impact_parameters(np.random.default_rng([seed, 2]), charge, labels),
    }
    constituents = np.stack([columns[name] for name in spec.constituent_features], axis=-1)
    constituents = np.where(mask[..., None], constituents, 0.0).astype(np.float32)

    total = np.stack([(c * mask).sum(axis=1) for c in (energy, px, py, pz)], axis=-1)
    mass = np.sqrt(np.clip(total[:, 0] ** 2 - (total[:, 1:] ** 2).sum(axis=1), 0.0, None))
    jet_columns = {
        "pt": np.hypot(total[:, 1], total[:, 2]),
        "eta": np.arcsinh(total[:, 3] / np.hypot(total[:, 1], total[:, 2])),
        "phi": np.arctan2(total[:, 2], total[:, 1]),
        "mass": mass,
        "energy": total[:, 0],
        "sd_mass": 0.9 * mass,
        "tau21": rng.uniform(0.2, 0.8, n_jets),
        "tau32": rng.uniform(0.3, 0.9, n_jets),
        "n_constituents": n_real.astype(np.float64),
        **_toy_fractions(energy * mask, charge, is_photon),
    }
    jet = np.stack([jet_columns[name] for name in spec.jet_features], axis=-1).astype(np.float32)
    return constituents, mask, jet, labels
