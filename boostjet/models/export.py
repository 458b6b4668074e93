"""Write and read trained models: TorchScript `<stem>.pt` plus its metadata `<stem>.json`.

Only TorchScript archives are ever loaded (no pickle), so a model file cannot run arbitrary Python.
The metadata is also embedded in the archive; loading checks that the JSON beside it describes the
same model (task, architecture, input spec), so mixed-up files are caught.
"""

from __future__ import annotations

import copy
import os
import warnings
from collections.abc import Callable
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import torch
from pydantic import ValidationError
from torch import nn

from boostjet.errors import ModelError
from boostjet.models.preprocessing import FittedConstants
from boostjet.spec import InputSpec, ModelMetadata, Task

#: Name of the metadata copy inside the TorchScript archive.
EMBEDDED_METADATA = "boostjet_metadata.json"


@contextmanager
def _quiet_torchscript():
    """TorchScript is deprecated upstream in favour of torch.export; it is still what coffea's
    torch_wrapper loads and what runs without Python source, so silence only that notice."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning, message=r".*torch\.jit.*")
        yield


def model_files(path: str | os.PathLike[str]) -> tuple[Path, Path]:
    """(`<stem>.pt`, `<stem>.json`) for a stem or either file's path."""
    path = Path(path)
    stem = path.with_suffix("") if path.suffix in (".pt", ".json") else path
    return stem.with_name(stem.name + ".pt"), stem.with_name(stem.name + ".json")


def count_parameters(model: nn.Module) -> int:
    """Number of trainable and frozen parameters (buffers excluded)."""
    return sum(parameter.numel() for parameter in model.parameters())


def normalisation_summary(model: nn.Module) -> dict[str, Any]:
    """Every fitted input/output constant of `model`, keyed by submodule path, as plain numbers."""
    return {
        name: module.summary()
        for name, module in model.named_modules()
        if isinstance(module, FittedConstants)
    }


def describe_model(
    model: nn.Module,
    *,
    name: str,
    architecture: str,
    task: Task,
    spec: InputSpec,
    signal: str | None = None,
    hyperparameters: dict[str, Any] | None = None,
    training: dict[str, Any] | None = None,
    validation: dict[str, Any] | None = None,
) -> ModelMetadata:
    """Metadata for `model`, with its parameter count and fitted constants filled in."""
    return ModelMetadata(
        name=name,
        task=task,
        signal=signal,
        input_spec=spec,
        architecture=architecture,
        hyperparameters=hyperparameters or {},
        normalisation=normalisation_summary(model),
        training=training or {},
        validation=validation or {},
        n_parameters=count_parameters(model),
    )


def inference_copy(model: nn.Module) -> nn.Module:
    """A CPU float32 copy in evaluation mode, with batch norms folded into the maps before them
    where a module knows how (``fold_batch_norms``): the same outputs, fewer passes over the
    ParticleNet edge tensors."""
    copied = copy.deepcopy(model).cpu().float().eval()
    for module in list(copied.modules()):
        if hasattr(module, "fold_batch_norms"):  # e.g. ParticleNet's EdgeConv layers
            module.fold_batch_norms()
    return copied


def _write_atomically(path: Path, write: Callable[[Path], object]) -> None:
    """Write through `<path>.partial` and rename, so no half-written model is ever loaded."""
    partial = path.with_name(path.name + ".partial")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write(partial)
        os.replace(partial, path)
    except (OSError, RuntimeError) as error:  # torch.jit.save reports I/O as RuntimeError
        with suppress(OSError):
            partial.unlink(missing_ok=True)
        reason = error.strerror if isinstance(error, OSError) and error.strerror else error
        raise ModelError(f"Cannot write model file {path}: {reason}.") from error


def export_model(
    model: nn.Module, metadata: ModelMetadata, path_stem: str | os.PathLike[str]
) -> tuple[Path, Path]:
    """Script `model` (a CPU copy, in eval mode) and write `<stem>.pt` and `<stem>.json`.

    The parameter count and fitted constants in the written metadata are taken from the model.
    Returns the two paths.
    """
    model_path, metadata_path = model_files(path_stem)
    metadata = metadata.model_copy(
        update={
            "n_parameters": count_parameters(model),
            "normalisation": normalisation_summary(model),
        }
    )
    text = metadata.to_json()
    with _quiet_torchscript():
        scripted = torch.jit.script(inference_copy(model))
        _write_atomically(
            model_path,
            lambda target: torch.jit.save(
                scripted, str(target), _extra_files={EMBEDDED_METADATA: text}
            ),
        )
    _write_atomically(metadata_path, lambda target: target.write_text(text + "\n"))
    return model_path, metadata_path


def load_model(
    path: str | os.PathLike[str],
) -> tuple[torch.jit.ScriptModule, ModelMetadata]:
    """Load a model written by `export_model` onto the CPU, in eval mode, with its metadata.

    `path` is the stem or either file. Missing, unreadable or mismatched files raise ModelError.
    """
    model_path, metadata_path = model_files(path)
    if not model_path.is_file():
        raise ModelError(f"Model file {model_path} does not exist.")
    if not metadata_path.is_file():
        raise ModelError(
            f"Model metadata file {metadata_path} does not exist; export_model writes it "
            f"next to {model_path.name}."
        )
    try:
        metadata = ModelMetadata.from_json(metadata_path.read_bytes())
    except (OSError, ValidationError) as error:
        reason = error.errors()[0]["msg"] if isinstance(error, ValidationError) else error
        raise ModelError(f"Model metadata file {metadata_path} is not valid: {reason}.") from error
    embedded = {EMBEDDED_METADATA: b""}
    try:
        with _quiet_torchscript():
            model = torch.jit.load(str(model_path), map_location="cpu", _extra_files=embedded)
    except Exception as error:
        raise ModelError(
            f"Model file {model_path} is not a readable TorchScript model written by boostjet."
        ) from error
    try:
        archived = ModelMetadata.from_json(embedded[EMBEDDED_METADATA])
    except ValidationError as error:
        raise ModelError(
            f"Model file {model_path} carries no valid boostjet metadata; re-export it."
        ) from error
    identity = ("task", "architecture", "input_spec")
    if any(getattr(archived, field) != getattr(metadata, field) for field in identity):
        raise ModelError(
            f"Model metadata file {metadata_path} describes a different model than {model_path} "
            f"(task, architecture or input spec differ)."
        )
    return model.eval(), metadata


def rescript_model(path: str | os.PathLike[str]) -> Path:
    """Rewrite the TorchScript file of the model at `path` from this version's architecture code,
    keeping its weights and its metadata: how a shipped model takes up a change of its inference
    code (e.g. ParticleNet's neighbour search) without retraining. Returns the model file. Run it
    in a fresh process: TorchScript reuses what it compiled earlier in a process."""
    from boostjet.models.registry import build_model  # the registry imports every architecture

    scripted, metadata = load_model(path)
    model = inference_copy(
        build_model(
            metadata.architecture, metadata.task, metadata.input_spec, **metadata.hyperparameters
        )
    )
    model.load_state_dict(scripted.state_dict())
    model_path = model_files(path)[0]
    with _quiet_torchscript():
        rescripted = torch.jit.script(model)
        _write_atomically(
            model_path,
            lambda target: torch.jit.save(
                rescripted, str(target), _extra_files={EMBEDDED_METADATA: metadata.to_json()}
            ),
        )
    return model_path
