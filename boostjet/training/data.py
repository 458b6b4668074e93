"""The one reader of the training-data export (`boostjet dataset`): the jets a task trains on.

Reads the manifest, then the chunk files of the simulated datasets one by one, keeping only the jets
the task trains on, so only those are ever held in memory (float32; 10⁵ jets × 64 constituents is
~0.3 GB). The file layout is `boostjet.spec`'s export contract.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from pydantic import ValidationError

from boostjet.config import Truth
from boostjet.errors import ConfigError, validation_sentence
from boostjet.histograms import TRUTH_CLASSES
from boostjet.spec import EXPORT_MANIFEST, ExportedJets, ExportManifest

#: Mass regressors train on the jets a run evaluates them on: generator-level soft-drop masses
#: above the configuration's ``truth.mass_target_min`` (40 GeV), where predicted / true is defined.
MIN_TARGET_MASS = Truth().mass_target_min


@dataclass
class Samples:
    """Model inputs and targets of selected jets, as float32/bool numpy arrays."""

    constituents: np.ndarray
    mask: np.ndarray
    jet: np.ndarray
    target: np.ndarray
    weight: np.ndarray

    def __len__(self) -> int:
        return len(self.target)

    @classmethod
    def concatenate(cls, parts: list[Samples]) -> Samples:
        return cls(
            *(np.concatenate([getattr(p, k) for p in parts]) for k in cls.__dataclass_fields__)
        )

    def take(self, index: np.ndarray) -> Samples:
        return Samples(*(getattr(self, k)[index] for k in self.__dataclass_fields__))

    def tensors(self, device: str) -> tuple[torch.Tensor, ...]:
        return tuple(
            torch.from_numpy(getattr(self, k)).to(device) for k in self.__dataclass_fields__
        )


def load_manifest(root: str | Path) -> ExportManifest:
    """The manifest of an export directory, or ConfigError naming the file and the bad key."""
    path = Path(root) / EXPORT_MANIFEST
    if not path.is_file():
        raise ConfigError(f"{root} has no {EXPORT_MANIFEST}; is it a `boostjet dataset` output?")
    try:
        return ExportManifest.model_validate(json.loads(path.read_text()))
    except json.JSONDecodeError as error:
        raise ConfigError(f"{path} is not valid JSON ({error}).") from None
    except ValidationError as error:
        raise ConfigError(validation_sentence(error, "manifest key", str(path))) from None


def load_chunk(path: Path) -> ExportedJets:
    """The arrays of one chunk file of the export."""
    with np.load(path) as stored:
        return ExportedJets(*(stored[name] for name in ExportedJets._fields))


def read_export(root: Path, task: str, signal: str) -> tuple[Samples, ExportManifest]:
    """The jets of the simulated datasets of an export that `task` trains on, and the manifest;
    tagger classes are weighted to count equally. Data datasets (no truth) are left out."""
    manifest = load_manifest(root)
    parts = [
        chunk_samples(load_chunk(root / entry.path), task, signal)
        for dataset in manifest.datasets.values()
        if not dataset.is_data
        for entry in dataset.files
        if entry.jets > 0
    ]
    if not parts:
        raise ConfigError(f"{root} holds no simulated jets to train on.")
    samples = Samples.concatenate(parts)
    if not len(samples):
        raise ConfigError(f"the training data hold no jets usable for the {task} task.")
    if task == "tagger":
        samples.weight = class_balance(samples.target)
    return samples, manifest


def class_balance(target: np.ndarray) -> np.ndarray:
    """Per-jet weights under which signal (1) and background (0) jets count equally."""
    n_signal = max(target.sum(), 1.0)
    n_background = max(len(target) - target.sum(), 1.0)
    weight = np.where(target == 1, 0.5 * len(target) / n_signal, 0.5 * len(target) / n_background)
    return weight.astype(np.float32)


def chunk_samples(jets: ExportedJets, task: str, signal: str) -> Samples:
    """The jets of one chunk a task trains on, with its target (unit weights).

    Taggers: signal-class jets (target 1) and QCD jets (target 0). Mass: jets with a matched
    generator jet of soft-drop mass > 40 GeV. Energy: jets with a matched generator jet.
    """
    if task == "tagger":
        signal_label = TRUTH_CLASSES.index(signal)
        keep = (jets.label == signal_label) | (jets.label == TRUTH_CLASSES.index("qcd"))
        target = (jets.label[keep] == signal_label).astype(np.float32)
    else:
        values = jets.target_mass if task == "mass" else jets.target_energy
        floor = MIN_TARGET_MASS if task == "mass" else 0.0
        keep = np.isfinite(values) & (values > floor)
        target = values[keep].astype(np.float32)
    return Samples(
        jets.constituents[keep],
        jets.mask[keep],
        jets.jet[keep],
        target,
        np.ones(len(target), dtype=np.float32),
    )
