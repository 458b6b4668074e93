"""Model names → constructors: one place where a config's `model: <name>` becomes a torch module."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from boostjet.errors import ModelError
from boostjet.models.regressors.energy import DenseEnergyRegressor, PointCloudEnergyRegressor
from boostjet.models.regressors.mass import IMLMassRegressor, PointCloudMassRegressor
from boostjet.models.taggers.cnn import JetImageCNN
from boostjet.models.taggers.dnn import ConstituentDNN
from boostjet.models.taggers.lbn import LorentzBoostNetwork
from boostjet.models.taggers.lola import LoLa
from boostjet.models.taggers.particlenet import ParticleNet
from boostjet.spec import InputSpec

#: name → (task, constructor taking the InputSpec first and hyperparameters as keywords).
MODELS: dict[str, tuple[str, Callable[..., nn.Module]]] = {
    "dnn": ("tagger", ConstituentDNN),
    "cnn": ("tagger", JetImageCNN),
    "lola": ("tagger", LoLa),
    "lbn": ("tagger", LorentzBoostNetwork),
    "particlenet": ("tagger", ParticleNet),
    "iml_mass": ("mass", IMLMassRegressor),
    "pointcloud_mass": ("mass", PointCloudMassRegressor),
    "energy_dnn": ("energy", DenseEnergyRegressor),
    "energy_pointcloud": ("energy", PointCloudEnergyRegressor),
}

#: Architectures whose work grows with the number of constituent slots they are given (the point
#: clouds); the others read a fixed number of leading slots, so fewer slots save them nothing.
SLOT_SCALING: frozenset[str] = frozenset({"particlenet", "pointcloud_mass", "energy_pointcloud"})

#: Hyperparameters of the "small" preset: a few hundred kB to ~2 MB on disk, fit for shipping.
SMALL: dict[str, dict[str, Any]] = {
    "dnn": {},
    "cnn": {},
    "lola": {},
    "lbn": {"widths": (256, 128, 64)},
    "particlenet": {},
    "iml_mass": {"widths": (256, 256, 128, 64, 32)},
    "pointcloud_mass": {},
    "energy_dnn": {"widths": (256, 128, 64)},
    "energy_pointcloud": {},
}
PRESETS: tuple[str, ...] = ("default", "small")


def available_models(task: str | None = None) -> tuple[str, ...]:
    """Registered model names, all or those of one task ("tagger", "mass", "energy")."""
    return tuple(name for name, (kind, _) in MODELS.items() if task in (None, kind))


def build_model(
    name: str, task: str, spec: InputSpec, preset: str = "default", **hyper: Any
) -> nn.Module:
    """A fresh float32 model `name` for `task` reading inputs laid out as `spec`.

    `preset` "small" starts from the shipping-size hyperparameters; `hyper` overrides either.
    Unknown names, a name of another task, unknown presets or hyperparameters raise ModelError.
    """
    if name not in MODELS:
        raise ModelError(f"Unknown model '{name}'; valid models are {', '.join(MODELS)}.")
    kind, constructor = MODELS[name]
    if kind != task:
        raise ModelError(
            f"Model '{name}' is a {kind} model, not a {task} model; "
            f"valid {task} models are {', '.join(available_models(task)) or 'none'}."
        )
    if preset not in PRESETS:
        raise ModelError(f"Unknown preset '{preset}' for model '{name}'; use one of {PRESETS}.")
    options = {**(SMALL[name] if preset == "small" else {}), **hyper}
    try:
        return constructor(spec, **options)
    except TypeError as error:
        raise ModelError(
            f"Invalid hyperparameters {sorted(options)} for model '{name}': {error}."
        ) from error
