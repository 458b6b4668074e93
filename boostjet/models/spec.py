"""The input contract between the data pipeline and every model, and the metadata shipped with one.

Models index their input columns by the feature names in `InputSpec`, so a model and a configuration
agree exactly when their specs are equal. `synthetic_jets` makes arrays obeying the contract for
tests, benchmarks and smoke training; it is a toy, not a physics simulation.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, PositiveInt, field_validator, model_validator

from boostjet import __version__

#: Track impact parameters and their errors (mm), constituent features of tracks.
IMPACT_PARAMETERS: tuple[str, ...] = ("d0", "dz", "d0_error", "dz_error")

CONSTITUENT_FEATURES: tuple[str, ...] = (
    "E",
    "px",
    "py",
    "pz",
    "pt",
    "eta",
    "phi",
    "deta",
    "dphi",
    "charge",
    "is_photon",
    "is_neutral_hadron",
    *IMPACT_PARAMETERS,
)
"""Kinematics; the particle type: charge (tracks), and 0/1 flags for energy-flow photons (ECAL)
and neutral hadrons (HCAL), which the detector measures with different resolution and response;
the track impact parameters d0, dz and their errors in mm (0 for neutral constituents), which
tell tracks from b- and c-hadron decays."""
JET_FEATURES: tuple[str, ...] = (
    "pt",
    "eta",
    "phi",
    "mass",
    "energy",
    "sd_mass",
    "tau21",
    "tau32",
    "n_constituents",
    "charged_energy_fraction",
    "photon_energy_fraction",
    "neutral_hadron_energy_fraction",
)
CONSTITUENT_SOURCES: tuple[str, ...] = ("EFlowTrack", "EFlowPhoton", "EFlowNeutralHadron")

Task = Literal["tagger", "mass", "energy"]


def _check_names(names: tuple[str, ...], known: tuple[str, ...], kind: str) -> tuple[str, ...]:
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ValueError(f"unknown {kind} feature(s) {unknown}; known ones are {list(known)}")
    if len(set(names)) != len(names):
        raise ValueError(f"{kind} features {list(names)} contain duplicates")
    return names


class InputSpec(BaseModel):
    """Which arrays a model reads: constituent and jet feature columns, padding length, sources."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    constituent_features: tuple[str, ...] = CONSTITUENT_FEATURES
    n_constituents: PositiveInt = 64
    jet_features: tuple[str, ...] = JET_FEATURES
    constituent_sources: tuple[str, ...] = CONSTITUENT_SOURCES

    @field_validator("constituent_features")
    @classmethod
    def _known_constituent_features(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        return _check_names(names, CONSTITUENT_FEATURES, "constituent")

    @field_validator("jet_features")
    @classmethod
    def _known_jet_features(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        return _check_names(names, JET_FEATURES, "jet")

    def constituent_columns(self, names: tuple[str, ...], model: str) -> list[int]:
        """Column positions of constituent features `names`; ModelError names a missing one."""
        return _columns(self.constituent_features, names, model, "constituent")

    def jet_columns(self, names: tuple[str, ...], model: str) -> list[int]:
        """Column positions of jet features `names`; ModelError names a missing one."""
        return _columns(self.jet_features, names, model, "jet")


def _columns(
    available: tuple[str, ...], names: tuple[str, ...], model: str, kind: str
) -> list[int]:
    from boostjet.errors import ModelError

    missing = [name for name in names if name not in available]
    if missing:
        raise ModelError(
            f"Model '{model}' needs {kind} feature(s) {missing}, "
            f"which the input spec {list(available)} does not provide."
        )
    return [available.index(name) for name in names]


class ModelMetadata(BaseModel):
    """Everything known about a trained model, stored as JSON next to its TorchScript file."""

    model_config = ConfigDict(extra="forbid")

    name: str
    task: Task
    signal: Literal["top", "w"] | None = None
    input_spec: InputSpec
    architecture: str
    hyperparameters: dict[str, Any] = Field(default_factory=dict)
    normalisation: dict[str, Any] = Field(default_factory=dict)
    training: dict[str, Any] = Field(default_factory=dict)
    validation: dict[str, Any] = Field(default_factory=dict)
    boostjet_version: str = __version__
    n_parameters: int = Field(ge=0)

    @model_validator(mode="after")
    def _signal_only_for_taggers(self) -> ModelMetadata:
        if self.task == "tagger" and self.signal is None:
            raise ValueError("a tagger needs its signal class ('top' or 'w')")
        if self.task != "tagger" and self.signal is not None:
            raise ValueError(f"a {self.task} regressor has no signal class")
        return self

    def to_json(self) -> str:
        """Indented JSON text, readable in a diff."""
        return self.model_dump_json(indent=2)

    @classmethod
    def from_json(cls, text: str | bytes) -> ModelMetadata:
        """Parse and validate JSON text written by `to_json`."""
        return cls.model_validate_json(text)


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
