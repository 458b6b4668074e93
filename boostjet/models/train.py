"""Training: a `boostjet dataset` export → a fitted, validated, exported model.

Loads the exported jets into memory (float32; 10⁵ jets × 64 constituents is ~0.3 GB), splits off a
validation sample, trains with Adam, early stopping and per-epoch checkpoints (resumable), and
exports TorchScript + metadata with validation metrics and the loss curves.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from boostjet.config import Truth
from boostjet.errors import ConfigError
from boostjet.histograms import TRUTH_CLASSES
from boostjet.models import losses
from boostjet.models.export import describe_model, export_model
from boostjet.models.registry import MODELS, build_model
from boostjet.pipeline.trainingdata import load_manifest
from boostjet.spec import InputSpec

#: Mass regressors train on the jets a run evaluates them on: generator-level soft-drop masses
#: above the configuration's ``truth.mass_target_min`` (40 GeV), where predicted / true is defined.
MIN_TARGET_MASS = Truth().mass_target_min


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
    preset: str = "small"
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


def _read_export(root: Path, task: str, signal: str) -> tuple[Samples, dict]:
    """The jets of a `boostjet dataset` export that `task` trains on, read chunk by chunk so that
    only those jets are ever held in memory; tagger classes are weighted to count equally."""
    manifest = load_manifest(root)
    parts = [
        _chunk_samples(np.load(root / entry["path"]), task, signal)
        for dataset in manifest["datasets"].values()
        if not dataset["is_data"]
        for entry in dataset["files"]
        if entry["jets"] > 0
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


def _chunk_samples(arrays, task: str, signal: str) -> Samples:
    """The jets of one chunk a task trains on, with its target (unit weights).

    Taggers: signal-class jets (target 1) and QCD jets (target 0). Mass: jets with a matched
    generator jet of soft-drop mass > 40 GeV. Energy: jets with a matched generator jet.
    """
    label = arrays["label"]
    if task == "tagger":
        signal_label = TRUTH_CLASSES.index(signal)
        keep = (label == signal_label) | (label == TRUTH_CLASSES.index("qcd"))
        target = (label[keep] == signal_label).astype(np.float32)
    else:
        values = arrays[f"target_{task}"]
        floor = MIN_TARGET_MASS if task == "mass" else 0.0
        keep = np.isfinite(values) & (values > floor)
        target = values[keep].astype(np.float32)
    return Samples(
        arrays["constituents"][keep],
        arrays["mask"][keep],
        arrays["jet"][keep],
        target,
        np.ones(len(target), dtype=np.float32),
    )


class Objective:
    """Loss of a task on one batch: BCE for taggers, IML central MSE, Gaussian likelihood."""

    def __init__(self, task: str, targets: np.ndarray):
        self.task = task
        # the likelihood is normalised on the window the training targets cover (erf correction)
        self.lower, self.upper = float(targets.min()), float(targets.max())

    def __call__(self, model, constituents, mask, jet, target, weight) -> torch.Tensor:
        if self.task == "tagger":
            return losses.tagger_loss(model.logits(constituents, mask, jet), target, weight)
        output = model(constituents, mask, jet)
        if self.task == "mass":
            return losses.central_mse_loss(output, target)
        mean, sigma = output.unbind(-1)
        return losses.gaussian_nll_loss(mean, sigma, target, self.lower, self.upper)


def _batches(n: int, batch_size: int, generator: torch.Generator | None):
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    return order.split(batch_size)


#: The cosine schedule ends at this fraction of the initial learning rate.
FINAL_LEARNING_RATE_FRACTION = 0.01


def learning_rate_schedule(optimizer, options: TrainingOptions, steps_per_epoch: int):
    """Per-step schedule: cosine from the learning rate to 1 % of it over all epochs, or flat."""
    total = max(options.epochs * steps_per_epoch, 1)
    floor = FINAL_LEARNING_RATE_FRACTION

    def factor(step: int) -> float:
        if options.schedule == "constant":
            return 1.0
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(step, total) / total))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


@dataclass
class Optimiser:
    """What one training step needs: the optimiser, its schedule and the gradient clip."""

    optimizer: torch.optim.Optimizer
    schedule: torch.optim.lr_scheduler.LRScheduler
    clip_grad_norm: float | None = None

    def step(self, model, loss: torch.Tensor) -> None:
        self.optimizer.zero_grad()
        loss.backward()
        if self.clip_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), self.clip_grad_norm)
        self.optimizer.step()
        self.schedule.step()


def _epoch_loss(model, objective, tensors, batch_size, optimiser=None, generator=None) -> float:
    model.train(optimiser is not None)
    total, count = 0.0, 0
    with torch.set_grad_enabled(optimiser is not None):
        for index in _batches(len(tensors[0]), batch_size, generator):
            if optimiser is not None and len(index) < 2:
                continue  # batch norm needs two jets
            loss = objective(model, *(t[index] for t in tensors))
            if optimiser is not None:
                optimiser.step(model, loss)
            total += float(loss.detach()) * len(index)
            count += len(index)
    return total / max(count, 1)


def predict(model, samples: Samples, batch_size: int = 4096) -> np.ndarray:
    """Model outputs for every jet (evaluation mode, no gradients)."""
    model.eval()
    outputs = []
    with torch.inference_mode():
        for start in range(0, len(samples), batch_size):
            part = samples.take(np.arange(start, min(start + batch_size, len(samples))))
            c, m, j, *_ = part.tensors("cpu")
            outputs.append(model(c, m, j).numpy())
    return np.concatenate(outputs)


def tagger_metrics(score: np.ndarray, target: np.ndarray) -> dict[str, float]:
    """AUC (rank statistic), balanced accuracy at 0.5, and 1/ε_B at ε_S = 0.3 and 0.5."""
    signal, background = score[target == 1], score[target == 0]
    ranks = np.argsort(np.argsort(np.concatenate([signal, background]))) + 1
    auc = (ranks[: len(signal)].sum() - len(signal) * (len(signal) + 1) / 2) / (
        len(signal) * len(background)
    )
    metrics = {
        "auc": float(auc),
        "accuracy": float(0.5 * ((signal > 0.5).mean() + (background <= 0.5).mean())),
    }
    for eff in (0.3, 0.5):
        threshold = np.quantile(signal, 1 - eff)
        eff_b = (background > threshold).mean()
        metrics[f"rejection_{int(eff * 100)}"] = float(1 / eff_b) if eff_b > 0 else float("inf")
    return metrics


def response_metrics(predicted: np.ndarray, target: np.ndarray) -> dict[str, float]:
    """Median response and resolution (q84 − q16) / (2 q50) of predicted / true."""
    q16, q50, q84 = np.quantile(predicted / target, [0.16, 0.5, 0.84])
    return {"median_response": float(q50), "resolution": float((q84 - q16) / (2 * q50))}


def linear_calibration(reco: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """The baseline energy calibration E_true ≈ offset + slope · E_reco (least squares)."""
    slope, offset = np.polyfit(reco, truth, 1)
    return float(offset), float(slope)


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
    )


def train(options: TrainingOptions) -> dict:
    """Train, validate and export one model; returns its validation metrics and file paths."""
    task = options.task
    if options.threads:
        torch.set_num_threads(options.threads)
    torch.manual_seed(options.seed)
    samples, manifest = _read_export(options.data, task, options.signal)
    rng = np.random.default_rng(options.seed)
    order = rng.permutation(len(samples))[: options.max_jets]
    n_validation = max(int(len(order) * options.validation_fraction), 1)
    validation, training = samples.take(order[:n_validation]), samples.take(order[n_validation:])

    spec = InputSpec(
        constituent_features=tuple(manifest["constituent_features"]),
        n_constituents=int(manifest["n_constituents"]),
        jet_features=tuple(manifest["jet_features"]),
    )
    model = build_model(options.model, task, spec, options.preset, **options.hyperparameters)
    fit = training.take(np.arange(min(len(training), 20000)))
    c, m, j, t, _ = fit.tensors("cpu")
    model.fit_normalisation(c, m, j, t)
    model.to(options.device)
    optimizer = torch.optim.Adam(
        model.parameters(), lr=options.learning_rate, weight_decay=options.weight_decay
    )
    optimiser = Optimiser(
        optimizer,
        learning_rate_schedule(optimizer, options, math.ceil(len(training) / options.batch_size)),
        options.clip_grad_norm,
    )
    objective = Objective(task, training.target)
    options.output.mkdir(parents=True, exist_ok=True)
    checkpoint_path = options.output / f"{options.model_name}.checkpoint.pt"
    history = {"epoch": [], "train_loss": [], "val_loss": []}
    best = {"loss": float("inf"), "epoch": -1, "state": None}
    start_epoch = 0
    earlier_seconds = 0.0
    if options.resume and checkpoint_path.is_file():
        saved = torch.load(checkpoint_path, weights_only=True)
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        optimiser.schedule.load_state_dict(saved["schedule"])
        history = saved["history"]
        best = {"loss": saved["best_loss"], "epoch": saved["best_epoch"], "state": saved["best"]}
        start_epoch = history["epoch"][-1] + 1 if history["epoch"] else 0
        earlier_seconds = saved.get("seconds", 0.0)

    train_tensors = training.tensors(options.device)
    val_tensors = validation.tensors(options.device)
    generator = torch.Generator().manual_seed(options.seed)
    started = time.perf_counter()
    with _progress() as progress:
        bar = progress.add_task(
            f"train {options.model_name}", total=options.epochs, completed=start_epoch, status=""
        )
        for epoch in range(start_epoch, options.epochs):
            train_loss = _epoch_loss(
                model, objective, train_tensors, options.batch_size, optimiser, generator
            )
            val_loss = _epoch_loss(model, objective, val_tensors, 4 * options.batch_size)
            history["epoch"].append(epoch)
            history["train_loss"].append(train_loss)
            history["val_loss"].append(val_loss)
            if val_loss < best["loss"]:
                state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                best = {"loss": val_loss, "epoch": epoch, "state": state}
            torch.save(
                {
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "schedule": optimiser.schedule.state_dict(),
                    "history": history,
                    "best": best["state"],
                    "best_loss": best["loss"],
                    "best_epoch": best["epoch"],
                    "seconds": earlier_seconds + time.perf_counter() - started,
                },
                checkpoint_path,
            )
            status = f"train {train_loss:.4f}  val {val_loss:.4f}  best epoch {best['epoch']}"
            progress.update(bar, advance=1, status=status)
            if epoch - best["epoch"] >= options.patience:
                break
    seconds = earlier_seconds + time.perf_counter() - started
    model.load_state_dict(best["state"])
    model.to("cpu")
    return _finish(options, model, spec, training, validation, history, seconds, manifest)


def _finish(options, model, spec, training, validation, history, seconds, manifest) -> dict:
    task = options.task
    output = predict(model, validation)
    jet_energy = spec.jet_features.index("energy")
    training_summary = {
        "data": str(options.data),
        "config_digest": manifest.get("config_digest"),
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
    if task == "tagger":
        validation_metrics = tagger_metrics(output, validation.target)
    elif task == "mass":
        validation_metrics = response_metrics(output, validation.target)
        sd_mass = validation.jet[:, spec.jet_features.index("sd_mass")]
        validation_metrics["baseline_soft_drop"] = response_metrics(
            np.maximum(sd_mass, 1e-3), validation.target
        )
    else:
        validation_metrics = response_metrics(output[:, 0], validation.target)
        calibration = linear_calibration(training.jet[:, jet_energy], training.target)
        training_summary["linear_calibration"] = calibration
        linear = calibration[0] + calibration[1] * validation.jet[:, jet_energy]
        validation_metrics["baseline_linear"] = response_metrics(linear, validation.target)
    metadata = describe_model(
        model,
        name=options.model_name,
        architecture=options.model,
        task=task,
        spec=spec,
        signal=options.signal if task == "tagger" else None,
        hyperparameters=_hyperparameters(options),
        training=training_summary,
        validation=validation_metrics,
    )
    pt_path, json_path = export_model(model, metadata, options.output / options.model_name)
    (options.output / f"{options.model_name}.history.json").write_text(json.dumps(history))
    _plot_history(options, history)
    return {"model": str(pt_path), "metadata": str(json_path), "validation": validation_metrics}


def _hyperparameters(options: TrainingOptions) -> dict:
    from boostjet.models.registry import SMALL

    return {
        **(SMALL[options.model] if options.preset == "small" else {}),
        **options.hyperparameters,
    }


def _plot_history(options: TrainingOptions, history: dict) -> None:
    from boostjet.analysis.plots import plot_loss

    plot_loss(history, options.output / f"{options.model_name}.loss", text=options.model_name)
