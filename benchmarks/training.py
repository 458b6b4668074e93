"""Training speed of every registered model: jets/s of optimiser steps on one CPU thread.

Small preset (the shipped sizes), batch 256, Adam, the tagger / mass / energy loss of each task,
on toy jets of the default input layout (64 constituents); the first steps are not timed. With
``--threads 2`` the same on two threads.

    python benchmarks/training.py [--steps 10] [--batch-size 256] [--threads 1]
"""

from __future__ import annotations

import argparse
import time

import torch

from boostjet.models.registry import MODELS, build_model
from boostjet.models.synthetic import synthetic_jets
from boostjet.spec import InputSpec
from boostjet.training.loop import Objective


def jets_per_second(name: str, steps: int, batch_size: int) -> float:
    task = MODELS[name][0]
    spec = InputSpec()
    arrays = synthetic_jets(batch_size * 4, spec, seed=3)
    constituents, mask, jet, labels = (torch.from_numpy(a) for a in arrays)
    energy = jet[:, spec.jet_features.index("energy")]
    target = {"tagger": labels, "mass": jet[:, spec.jet_features.index("sd_mass")] + 1.0}.get(
        task, 1.05 * energy
    )
    weight = torch.ones_like(target)
    model = build_model(name, task, spec, preset="small")
    model.fit_normalisation(constituents, mask, jet, target)
    model.train()
    objective = Objective(task, target.numpy())
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    batches = [slice(i * batch_size, (i + 1) * batch_size) for i in range(4)]

    def step(batch: slice) -> None:
        loss = objective(
            model, constituents[batch], mask[batch], jet[batch], target[batch], weight[batch]
        )
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    step(batches[0])
    start = time.perf_counter()
    for k in range(steps):
        step(batches[k % 4])
    return steps * batch_size / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"torch threads {torch.get_num_threads()}, batch {args.batch_size}, {args.steps} steps")
    print(f"{'model':<18} {'task':<7} {'training jets/s':>16}")
    for name, (task, _) in MODELS.items():
        print(f"{name:<18} {task:<7} {jets_per_second(name, args.steps, args.batch_size):>16.0f}")


if __name__ == "__main__":
    main()
