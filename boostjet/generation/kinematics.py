"""Four-vector conversions and flat ↔ per-event array helpers shared by the generator's steps."""

from __future__ import annotations

from dataclasses import dataclass

import awkward as ak
import numpy as np


def pt_eta_phi(px: np.ndarray, py: np.ndarray, pz: np.ndarray) -> tuple[np.ndarray, ...]:
    """Transverse momentum, pseudorapidity and azimuth (−π, π] of Cartesian momenta."""
    pt = np.hypot(px, py)
    with np.errstate(divide="ignore", invalid="ignore"):
        eta = np.arcsinh(pz / pt)
    return pt, eta, np.arctan2(py, px)


def cartesian(
    pt: np.ndarray, eta: np.ndarray, phi: np.ndarray, mass: np.ndarray | float
) -> tuple[np.ndarray, ...]:
    """px, py, pz, E of particles given as (pT, η, φ, m)."""
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    return px, py, pz, np.sqrt(px**2 + py**2 + pz**2 + np.square(mass))


@dataclass(frozen=True)
class FlatCollection:
    """One collection of a batch as flat arrays sorted by event, with the event of each entry."""

    event: np.ndarray
    fields: dict[str, np.ndarray]

    def counts(self, n_events: int) -> np.ndarray:
        """Number of entries in each event."""
        return np.bincount(self.event, minlength=n_events)

    def to_jagged(self, n_events: int) -> ak.Array:
        """The collection as an (event × entry) awkward array of records."""
        records = ak.zip(self.fields, depth_limit=1)
        return ak.unflatten(records, self.counts(n_events))

    def select(self, mask: np.ndarray) -> FlatCollection:
        """The entries where mask is true, order kept."""
        return FlatCollection(self.event[mask], {k: v[mask] for k, v in self.fields.items()})


def four_momenta(px: np.ndarray, py: np.ndarray, pz: np.ndarray, e: np.ndarray) -> ak.Array:
    """Flat Cartesian four-momenta as records with the field names fastjet expects."""
    return ak.zip({"px": px, "py": py, "pz": pz, "E": e}, depth_limit=1)
