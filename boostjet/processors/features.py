"""High-level jet substructure: N-subjettiness ratios and the cut-based tagger scores."""

from __future__ import annotations

import numpy as np


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
