"""Four-vector arithmetic shared by the generator and the processors, on numpy or awkward arrays."""

from __future__ import annotations

import numpy as np


def invariant_mass(px, py, pz, energy):
    """Invariant mass, with the tiny negative m² of rounding clipped to zero."""
    return np.sqrt(np.maximum(energy**2 - px**2 - py**2 - pz**2, 0.0))


def delta_phi(phi1, phi2):
    """φ1 − φ2 wrapped into [−π, π)."""
    return (phi1 - phi2 + np.pi) % (2 * np.pi) - np.pi
