"""The training loop: the loss of each task, the learning-rate schedule, and the epochs with early
stopping and a checkpoint after every epoch (resumable)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from boostjet.models.regressors.energy import gaussian_nll_loss
from boostjet.models.regressors.mass import central_mse_loss
from boostjet.models.taggers import tagger_loss
from boostjet.training.data import Samples
from boostjet.training.options import TrainingOptions

#: The cosine schedule ends at this fraction of the initial learning rate.
FINAL_LEARNING_RATE_FRACTION = 0.01


class Objective:
    """Loss of a task on one batch: BCE for taggers, IML central MSE, Gaussian likelihood."""

    def __init__(self, task: str, targets: np.ndarray):
        self.task = task
        # the likelihood is normalised on the window the training targets cover (erf correction)
        self.lower, self.upper = float(targets.min()), float(targets.max())

    def __call__(self, model, constituents, mask, jet, target, weight) -> torch.Tensor:
        if self.task == "tagger":
            return tagger_loss(model.logits(constituents, mask, jet), target, weight)
        output = model(constituents, mask, jet)
        if self.task == "mass":
            return central_mse_loss(output, target)
        mean, sigma = output.unbind(-1)
        return gaussian_nll_loss(mean, sigma, target, self.lower, self.upper)


def batches(n: int, batch_size: int, generator: torch.Generator | None) -> tuple[torch.Tensor, ...]:
    """Index batches covering 0 … n − 1 once: shuffled by `generator`, or in order without one."""
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    return order.split(batch_size)


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
        for index in batches(len(tensors[0]), batch_size, generator):
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


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
    )


def fit(
    model, training: Samples, validation: Samples, options: TrainingOptions, checkpoint: Path
) -> tuple[dict, float]:
    """Adam over the epochs of `options` with early stopping on the validation loss, saving a
    checkpoint after every epoch (and resuming from it with ``options.resume``). Leaves the model
    with its best epoch's weights; returns the loss history and the training seconds."""
    optimizer = torch.optim.Adam(
        model.parameters(), lr=options.learning_rate, weight_decay=options.weight_decay
    )
    optimiser = Optimiser(
        optimizer,
        learning_rate_schedule(optimizer, options, math.ceil(len(training) / options.batch_size)),
        options.clip_grad_norm,
    )
    objective = Objective(options.task, training.target)
    history = {"epoch": [], "train_loss": [], "val_loss": []}
    best = {"loss": float("inf"), "epoch": -1, "state": None}
    start_epoch = 0
    earlier_seconds = 0.0
    if options.resume and checkpoint.is_file():
        saved = torch.load(checkpoint, weights_only=True)
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
                checkpoint,
            )
            status = f"train {train_loss:.4f}  val {val_loss:.4f}  best epoch {best['epoch']}"
            progress.update(bar, advance=1, status=status)
            if epoch - best["epoch"] >= options.patience:
                break
    seconds = earlier_seconds + time.perf_counter() - started
    model.load_state_dict(best["state"])
    return history, seconds
