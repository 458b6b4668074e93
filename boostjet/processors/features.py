"""High-level jet quantities: N-subjettiness ratios, cut-based tagger scores, jet composition."""

from __future__ import annotations

import numpy as np

from boostjet.processors.delphes import CANDIDATE_KINDS

#: Jet energy fractions by constituent kind (energy-flow tracks, photons, neutral hadrons).
FRACTION_KINDS = {
    "charged_energy_fraction": CANDIDATE_KINDS.index("track"),
    "photon_energy_fraction": CANDIDATE_KINDS.index("photon"),
    "neutral_hadron_energy_fraction": CANDIDATE_KINDS.index("neutral_hadron"),
}


def ratio(numerator, denominator):
    """τ_N / τ_(N-1) with the convention 1 where the denominator vanishes (too few particles)."""
    safe = np.where(denominator > 0, denominator, 1.0)
    return np.where(denominator > 0, numerator / safe, 1.0)


def cut_based_score(sd_mass, tau_ratio, mass_window: tuple[float, float]):
    """Cut-based tagger score in [0, 1]: 1 − τ ratio inside the soft-drop mass window, else 0.

    A threshold on this score is a soft-drop mass window plus an upper cut on τ32 (tops) or τ21
    (W/Z), the standard cut-based taggers; one score keeps it comparable with the networks.
    """
    low, high = mass_window
    sd_mass, tau_ratio = np.asarray(sd_mass), np.asarray(tau_ratio)
    inside = (sd_mass >= low) & (sd_mass < high)
    return np.where(inside, np.clip(1.0 - tau_ratio, 0.0, 1.0), 0.0).astype(np.float32)


def energy_fractions(energy: np.ndarray, kind: np.ndarray, counts: np.ndarray) -> dict:
    """Share of each jet's constituent energy carried by tracks, photons and neutral hadrons.

    ``energy`` and ``kind`` are the constituents' flat columns, jet after jet (``counts`` per
    jet); all constituents count, not only the leading ones the models see. Jets without
    constituents get 0. The detector measures the three kinds with different resolution and
    response, so the fractions tell a calibration how much of the jet a non-compensating
    calorimeter read low.
    """
    jet = np.repeat(np.arange(len(counts)), counts)
    total = np.bincount(jet, energy, minlength=len(counts))
    safe = np.where(total > 0, total, 1.0)
    return {
        name: np.bincount(jet, np.where(kind == k, energy, 0.0), minlength=len(counts)) / safe
        for name, k in FRACTION_KINDS.items()
    }
