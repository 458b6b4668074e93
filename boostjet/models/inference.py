"""Batched evaluation of exported models on numpy arrays, loading each model once per process.

Inputs must already be clean (finite, float32-representable): checking values is the pipeline's
job; here the input shapes are checked against the model's input spec, and the outputs' shape and
finiteness against its task.
"""

from __future__ import annotations

import os
import threading
from collections import Counter
from dataclasses import dataclass

import numpy as np
import torch

from boostjet.errors import ModelError
from boostjet.models.export import load_model, model_files
from boostjet.models.registry import SLOT_SCALING
from boostjet.spec import InputSpec, ModelMetadata

_cache: dict[tuple[str, str], tuple[torch.jit.ScriptModule, ModelMetadata]] = {}
_cache_lock = threading.Lock()
#: Loads from disk per resolved model file, for benchmarks checking "once per process".
load_counts: Counter[str] = Counter()

# A jet's outputs must not depend on the other jets of its chunk (else histograms depend on the
# chunk size), yet float32 kernels round differently for different tensor shapes: a matrix product
# picks its kernel by the number of rows, and torch's element-wise loops (sigmoid, ELU) run blocks
# of two SIMD vectors and the remaining elements with scalar code. So every jet is evaluated at a
# width set by itself, in a batch whose rows are a multiple of BATCH_MULTIPLE (filled up with
# repeats of its own jets). docs/models.md, "Chunk invariance", says what this guarantees.
#: For the point-cloud models (SLOT_SCALING), each jet's constituent slots are cut to its own
#: extent rounded up to a multiple of this; the other models get every slot.
WIDTH_STEP = 8
#: Rows of a batch are a multiple of this: two SIMD vectors of float32 (AVX2: 16, AVX-512: 32).
BATCH_MULTIPLE = 32 if torch.backends.cpu.get_cpu_capability().startswith("AVX512") else 16


def default_device() -> torch.device:
    """CUDA when available, else CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _model_key(path: str | os.PathLike[str]) -> str:
    return str(model_files(path)[0].resolve())


def cached_model(
    path: str | os.PathLike[str], device: torch.device
) -> tuple[torch.jit.ScriptModule, ModelMetadata]:
    """The model at `path` on `device`, read from disk on first use in this process only."""
    key = (_model_key(path), str(device))
    with _cache_lock:
        if key not in _cache:
            model, metadata = load_model(path)
            load_counts[key[0]] += 1
            _cache[key] = (model.to(device), metadata)
        return _cache[key]


def load_count(path: str | os.PathLike[str]) -> int:
    """How often the model file at `path` was read from disk in this process."""
    return load_counts[_model_key(path)]


def clear_cache() -> None:
    """Forget every loaded model (the load counters are kept)."""
    with _cache_lock:
        _cache.clear()


@dataclass(frozen=True)
class InputColumns:
    """Where a model's inputs sit in arrays laid out by another spec: the constituent and jet
    feature columns it reads, in its own order, and how many leading constituents."""

    constituent: list[int]
    jet: list[int]
    n_constituents: int

    def select(self, constituents, mask, jet):
        """The model's own layout from arrays of the configured layout."""
        n = self.n_constituents
        return constituents[:, :n][..., self.constituent], mask[:, :n], jet[:, self.jet]


def input_columns(metadata: ModelMetadata, configured: InputSpec) -> InputColumns:
    """How a model reads the arrays a configuration produces; ModelError naming every mismatch.

    The configuration may provide more features, in any order, and more (pT-ordered, so leading
    first) constituents than the model reads; it must provide every feature the model was trained
    on, at least its number of constituents, and the same constituent collections.
    """
    model = metadata.input_spec
    problems = []
    for field, kind in (("constituent_features", "constituent"), ("jet_features", "jet")):
        missing = [name for name in getattr(model, field) if name not in getattr(configured, field)]
        if missing:
            problems.append(f"it needs {kind} feature(s) {missing} that the configuration lacks")
    if model.n_constituents > configured.n_constituents:
        problems.append(
            f"n_constituents is {model.n_constituents} for the model "
            f"but {configured.n_constituents} in the configuration"
        )
    if model.constituent_sources != configured.constituent_sources:
        problems.append(
            f"constituent_sources are {list(model.constituent_sources)} for the model "
            f"but {list(configured.constituent_sources)} in the configuration"
        )
    if problems:
        raise ModelError(
            f"Model '{metadata.name}' does not match the configured inputs: {'; '.join(problems)}."
        )
    return InputColumns(
        constituent=[configured.constituent_features.index(f) for f in model.constituent_features],
        jet=[configured.jet_features.index(f) for f in model.jet_features],
        n_constituents=model.n_constituents,
    )


class ModelRunner:
    """Evaluates one exported model on (constituents [N, P, F], mask [N, P], jet [N, J]) arrays.

    The model is loaded once per process (shared by every runner of the same file and device) and
    run in float32 batches under `torch.inference_mode`, on CUDA when available. The arrays follow
    `expected_spec` (the configuration's layout; the model's own when None), from which the runner
    takes the columns and leading constituents the model reads. A runner pickles as its path and
    settings, so a dask worker receiving it loads the model there, once.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        batch_size: int = 4096,
        device: str | torch.device | None = None,
        expected_spec: InputSpec | None = None,
    ) -> None:
        if batch_size < 1:
            raise ModelError(f"Model batch size must be positive, not {batch_size}.")
        self.path = os.fspath(path)
        self.batch_size = batch_size
        self.requested_device = None if device is None else str(device)
        self.device = default_device() if device is None else torch.device(device)
        self.model, self.metadata = cached_model(self.path, self.device)
        self.expected_spec = expected_spec
        self.input_spec = self.metadata.input_spec if expected_spec is None else expected_spec
        self.columns = input_columns(self.metadata, self.input_spec)
        scaling = self.metadata.architecture in SLOT_SCALING
        self.width_step = WIDTH_STEP if scaling else self.columns.n_constituents

    def __getstate__(self) -> dict[str, object]:
        return {
            "path": self.path,
            "batch_size": self.batch_size,
            "device": self.requested_device,
            "expected_spec": self.expected_spec,
        }

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__init__(**state)  # type: ignore[misc]

    @property
    def output_shape(self) -> tuple[int, ...]:
        """Per-jet output shape: () for scores and masses, (2,) for (E, σ)."""
        return (2,) if self.metadata.task == "energy" else ()

    def _check_shapes(self, constituents: np.ndarray, mask: np.ndarray, jet: np.ndarray) -> None:
        spec = self.input_spec
        n_jets = len(constituents)
        expected = {
            "constituents": (
                constituents,
                (n_jets, spec.n_constituents, len(spec.constituent_features)),
            ),
            "mask": (mask, (n_jets, spec.n_constituents)),
            "jet": (jet, (n_jets, len(spec.jet_features))),
        }
        for name, (array, shape) in expected.items():
            if array.shape != shape:
                raise ModelError(
                    f"Model '{self.metadata.name}' ({self.path}) needs {name} of shape {shape}, "
                    f"got {array.shape}."
                )

    def __call__(self, constituents: np.ndarray, mask: np.ndarray, jet: np.ndarray) -> np.ndarray:
        """Outputs for every jet: [N] scores or masses (GeV), or [N, 2] energies and σ (GeV).

        ModelError naming the model when it returns another shape or any NaN or inf (one
        ``np.isfinite`` over the outputs): a NaN score would land in no histogram bin.
        """
        self._check_shapes(constituents, mask, jet)
        constituents, mask, jet = self.columns.select(constituents, mask, jet)
        constituents = np.asarray(constituents, dtype=np.float32)
        mask = np.asarray(mask, dtype=bool)
        jet = np.asarray(jet, dtype=np.float32)
        outputs = np.zeros((len(constituents), *self.output_shape), dtype=np.float32)
        with torch.inference_mode():
            for index, width in self._batches(mask):
                rows = np.resize(index, -(-len(index) // BATCH_MULTIPLE) * BATCH_MULTIPLE)
                output = self.model(
                    torch.from_numpy(constituents[rows, :width]).to(self.device),
                    torch.from_numpy(mask[rows, :width]).to(self.device),
                    torch.from_numpy(jet[rows]).to(self.device),
                )
                expected = (len(rows), *self.output_shape)
                if tuple(output.shape) != expected:
                    raise ModelError(
                        f"Model '{self.metadata.name}' ({self.path}) returns shape "
                        f"{tuple(output.shape)} for a batch of {len(rows)} jets; a "
                        f"{self.metadata.task} model must return {expected}."
                    )
                output = output[: len(index)]
                outputs[index] = output.float().cpu().numpy()
        bad = ~np.isfinite(outputs)
        if bad.any():
            jets = int(bad.reshape(len(outputs), -1).any(axis=1).sum())
            raise ModelError(
                f"Model '{self.metadata.name}' ({self.path}) returns NaN or inf for {jets} of "
                f"{len(outputs)} jets."
            )
        return outputs

    def _batches(self, mask: np.ndarray):
        """Batches of jets of one width, each jet's own: its last real constituent rounded up to
        a multiple of the width step, so a point-cloud model evaluates a batch of 40-constituent
        jets 40, not 64, slots wide, and no jet's width depends on the other jets of its chunk."""
        n_slots, step = mask.shape[1], self.width_step
        extent = n_slots - np.argmax(mask[:, ::-1], axis=1)
        extent[~mask.any(axis=1)] = 0
        width = np.clip(-(-extent // step) * step, min(step, n_slots), n_slots)
        for value in np.unique(width):
            jets = np.flatnonzero(width == value)
            for start in range(0, len(jets), self.batch_size):
                yield jets[start : start + self.batch_size], int(value)
