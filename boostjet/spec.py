"""The input contract between the data pipeline and every model, and the metadata shipped with one.

Models index their input columns by the feature names in `InputSpec`, so a model and a configuration
agree exactly when their specs are equal. The layout of the training-data export is defined here
too, for its writer (the pipeline) and its reader (training).
"""

from __future__ import annotations

import json
from typing import Any, Literal, NamedTuple

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

#: The training-data export (`boostjet dataset`): pipeline/export.py writes it, training/data.py
#: reads it. The manifest file at its top (:class:`ExportManifest`), and the format tag it carries.
EXPORT_MANIFEST = "manifest.json"
EXPORT_FORMAT = "boostjet-jets-1"


class ExportedJets(NamedTuple):
    """The arrays of one chunk file (``.npz``) of the export, for its N selected jets."""

    constituents: np.ndarray  # [N, P, F] float32
    mask: np.ndarray  # [N, P] bool
    jet: np.ndarray  # [N, J] float32
    label: np.ndarray  # [N] int8, index into the truth classes (0 for data)
    target_mass: np.ndarray  # [N] float32, NaN without a matched generator jet
    target_energy: np.ndarray  # [N] float32, NaN without a matched generator jet
    entry: np.ndarray  # [N] int64, the event's entry in its file
    dataset: np.ndarray  # the dataset name, a 0-d string array


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


class ExportedChunk(BaseModel):
    """One chunk file of the export, as its manifest lists it."""

    model_config = ConfigDict(frozen=True)

    path: str
    """The ``.npz`` file, relative to the export directory."""
    source: str
    """The input file its events came from, and their entry range in it."""
    entry_start: int
    entry_stop: int
    jets: int
    counts: dict[str, int]
    """Jets per truth class."""


class ExportedDataset(BaseModel):
    """One dataset of the export: its chunk files and the accounting of its events."""

    model_config = ConfigDict(frozen=True)

    is_data: bool
    signal: str | None
    jets: int
    counts_per_class: dict[str, int]
    events_read: int
    events_processed: int
    events_skipped: int
    skipped: list[dict[str, Any]]
    """The skipped chunks and files, as the run summary lists them."""
    files: list[ExportedChunk]


class ExportManifest(BaseModel):
    """The export's :data:`EXPORT_MANIFEST`: its layout, the configuration that wrote it, and
    every dataset's chunk files."""

    model_config = ConfigDict(frozen=True)

    format: str
    config_sha256: str
    """The digest of the configuration that exported the data."""
    constituent_features: tuple[str, ...]
    jet_features: tuple[str, ...]
    truth_classes: tuple[str, ...]
    n_constituents: int
    chunksize: int
    datasets: dict[str, ExportedDataset]

    def input_spec(self) -> InputSpec:
        """The input layout of the exported arrays, for a model trained on them."""
        return InputSpec(
            constituent_features=self.constituent_features,
            n_constituents=self.n_constituents,
            jet_features=self.jet_features,
        )

    def to_json(self) -> str:
        """The manifest file's text."""
        return json.dumps(self.model_dump(mode="json"), indent=2) + "\n"


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
    working_points: dict[str, Any] = Field(default_factory=dict)
    """Taggers: the frozen working points, ``thresholds`` (target ε_S as ``"0.30"`` → score
    threshold) and what they were measured on (``measured_on``)."""
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


class ResolvedModel(BaseModel):
    """One configured model as the pre-flight resolved it: everything later steps need to know
    about it, read once from its metadata (small, so the processor pickles small for workers)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    """The name in the configuration (``models[].name``), which names its histograms."""
    task: Task
    path: str
    """The model file, as the configuration resolved it."""
    signal: Literal["top", "w"] | None = None
    """Taggers: the class a high score means."""
    calibration: tuple[float, float] | None = None
    """Energy regressors: (offset, slope) of the linear calibration E_true ≈ offset + slope E_reco
    fitted in training, the baseline the regressor is compared with."""
    input_spec: InputSpec
    """The model's own input layout (the configuration may provide more)."""
    thresholds: dict[str, float] = {}
    """Taggers: the frozen working points, name (``eS50``) → score threshold; empty when the
    model has no table for the configured targets (no template-fit scale factors then)."""
