"""Inference speed of the shipped models: jets/s on this machine, side by side in one run.

Each model is evaluated through ``ModelRunner`` (float32, ``torch.inference_mode``, batches) on the
same jets of the shipped samples; the table also counts how often each model file was loaded
(once per process is the rule, however many runners and chunks).

    python benchmarks/inference.py [--jets 4096] [--batch-size 512] [--rounds 3]
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from boostjet.config import load_config
from boostjet.models.inference import ModelRunner, default_device, load_count
from boostjet.processors.tagging import build_jet_inputs

TRAINED = Path(__file__).resolve().parents[1] / "boostjet" / "models" / "trained"


def sample_jets(n_jets: int):
    """Model inputs of the quick-start's simulated samples, repeated up to ``n_jets`` jets."""
    from coffea.nanoevents import NanoEventsFactory

    from boostjet.processors.delphes import BoostjetDelphesSchema

    config = load_config("configs/quickstart.yaml")
    parts = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in ("ttbar", "qcd"):
            events = NanoEventsFactory.from_root(
                {config.datasets[name].files[0]: "Delphes"},
                schemaclass=BoostjetDelphesSchema,
                mode="virtual",
            ).events()
            inputs = build_jet_inputs(events, config, is_data=False)
            parts.append((inputs.constituents, inputs.mask, inputs.jet_matrix()))
    arrays = [np.concatenate([p[k] for p in parts]) for k in range(3)]
    repeat = -(-n_jets // len(arrays[0]))
    return [np.concatenate([a] * repeat)[:n_jets] for a in arrays]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jets", type=int, default=4096)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    constituents, mask, jet = sample_jets(args.jets)
    models = sorted(p for p in TRAINED.glob("*.pt") if not p.name.endswith(".checkpoint.pt"))
    print(
        f"device {default_device()}, torch threads {torch.get_num_threads()}, "
        f"{args.jets} jets, batch {args.batch_size}, best of {args.rounds} rounds"
    )
    best = {path.stem: np.inf for path in models}
    for _ in range(args.rounds):  # models take turns, so machine noise hits all alike
        for path in models:
            runner = ModelRunner(path, batch_size=args.batch_size)
            start = time.perf_counter()
            runner(constituents, mask, jet)
            best[path.stem] = min(best[path.stem], time.perf_counter() - start)
    print(f"{'model':<22} {'task':<7} {'parameters':>10} {'jets/s':>10} {'loads':>6}")
    for path in models:
        runner = ModelRunner(path)
        meta = runner.metadata
        print(
            f"{path.stem:<22} {meta.task:<7} {meta.n_parameters:>10} "
            f"{args.jets / best[path.stem]:>10.0f} {load_count(path):>6}"
        )


if __name__ == "__main__":
    main()
