"""The options of one training: everything `boostjet train` takes, with its defaults."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from boostjet.errors import ConfigError
from boostjet.models.registry import MODELS


@dataclass(frozen=True)
class TrainingOptions:
    """Everything `boostjet train` takes."""

    model: str
    data: Path
    output: Path
    signal: Literal["top", "w"] = "top"
    epochs: int = 10
    batch_size: int = 256
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    validation_fraction: float = 0.2
    patience: int = 3
    device: str = "cpu"
    seed: int = 1
    threads: int | None = None
    """CPU threads for torch; 1 avoids thread contention when training several models at once."""
    preset: Literal["small", "default"] = "small"
    max_jets: int | None = None
    resume: bool = False
    name: str | None = None
    hyperparameters: dict = field(default_factory=dict)
    schedule: Literal["cosine", "constant"] = "cosine"
    """Learning rate per step: cosine decay to 1 % over all epochs, or constant."""
    clip_grad_norm: float | None = None
    """Clip the gradient norm of each step (steadies the likelihood of σ-predicting models)."""

    @property
    def task(self) -> str:
        if self.model not in MODELS:
            raise ConfigError(f"--model '{self.model}' is unknown; choose one of {list(MODELS)}.")
        return MODELS[self.model][0]

    @property
    def model_name(self) -> str:
        if self.name:
            return self.name
        return f"{self.model}_{self.signal}" if self.task == "tagger" else self.model
