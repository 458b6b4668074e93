"""`boostjet train`: read the export, split off validation jets, fit, validate, and export the model
(TorchScript + metadata with the validation metrics, the loss history and its plot)."""

from __future__ import annotations

import json
from dataclasses import asdict

import numpy as np
import torch

from boostjet.models.export import describe_model, export_model
from boostjet.models.registry import SMALL, build_model
from boostjet.training.data import read_export
from boostjet.training.loop import fit, predict
from boostjet.training.metrics import validation_metrics
from boostjet.training.options import TrainingOptions


def train(options: TrainingOptions) -> dict:
    """Train, validate and export one model; returns its validation metrics and file paths."""
    task = options.task
    if options.threads:
        torch.set_num_threads(options.threads)
    torch.manual_seed(options.seed)
    samples, manifest = read_export(options.data, task, options.signal)
    rng = np.random.default_rng(options.seed)
    order = rng.permutation(len(samples))[: options.max_jets]
    n_validation = max(int(len(order) * options.validation_fraction), 1)
    validation, training = samples.take(order[:n_validation]), samples.take(order[n_validation:])

    spec = manifest.input_spec()
    model = build_model(options.model, task, spec, options.preset, **options.hyperparameters)
    sample = training.take(np.arange(min(len(training), 20000)))
    c, m, j, t, _ = sample.tensors("cpu")
    model.fit_normalisation(c, m, j, t)
    model.to(options.device)
    options.output.mkdir(parents=True, exist_ok=True)
    checkpoint = options.output / f"{options.model_name}.checkpoint.pt"
    history, seconds = fit(model, training, validation, options, checkpoint)
    model.to("cpu")
    return _export(options, model, spec, training, validation, history, seconds, manifest)


def _export(options, model, spec, training, validation, history, seconds, manifest) -> dict:
    task = options.task
    metrics, calibration = validation_metrics(
        task, predict(model, validation), training, validation, spec
    )
    training_summary = {
        "data": str(options.data),
        "config_digest": manifest.config_sha256,  # of the configuration that exported the data
        "training_jets": len(training),
        "validation_jets": len(validation),
        "epochs_run": len(history["epoch"]),
        "best_epoch": int(np.argmin(history["val_loss"])),
        "seconds": round(seconds, 3),
        "jets_per_second": (
            round(len(training) * len(history["epoch"]) / seconds) if seconds > 0 else None
        ),
        "options": {k: str(v) for k, v in asdict(options).items()},
        "history": history,
    }
    if calibration is not None:
        training_summary["linear_calibration"] = calibration
    metadata = describe_model(
        model,
        name=options.model_name,
        architecture=options.model,
        task=task,
        spec=spec,
        signal=options.signal if task == "tagger" else None,
        hyperparameters=_hyperparameters(options),
        training=training_summary,
        validation=metrics,
    )
    pt_path, json_path = export_model(model, metadata, options.output / options.model_name)
    (options.output / f"{options.model_name}.history.json").write_text(json.dumps(history))
    _plot_history(options, history)
    return {"model": str(pt_path), "metadata": str(json_path), "validation": metrics}


def _hyperparameters(options: TrainingOptions) -> dict:
    return {
        **(SMALL[options.model] if options.preset == "small" else {}),
        **options.hyperparameters,
    }


def _plot_history(options: TrainingOptions, history: dict) -> None:
    from boostjet.analysis.plots import plot_loss

    plot_loss(history, options.output / f"{options.model_name}.loss", text=options.model_name)
