"""The README's model table: test-set metrics from a run's report, sizes and training from the
shipped metadata, inference speed measured here.

    boostjet run configs/testing.yaml --overwrite        # held-out test samples, every model
    python benchmarks/model_table.py outputs/testing [--jets 4096]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from inference import TRAINED, sample_jets

from boostjet.models.inference import ModelRunner
from boostjet.rundir import load_summary


def _fmt(value, digits: int = 3) -> str:
    if value is None:
        return "–"
    return f"{value:.{digits}g}" if isinstance(value, float) else str(value)


def _speed(path: Path, arrays, rounds: int = 3) -> float:
    runner = ModelRunner(path, batch_size=512)
    best = min(_timed(runner, arrays) for _ in range(rounds))
    return len(arrays[0]) / best


def _timed(runner, arrays) -> float:
    start = time.perf_counter()
    runner(*arrays)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--jets", type=int, default=4096)
    args = parser.parse_args()
    analysis = load_summary(args.run_dir)["analysis"]
    arrays = sample_jets(args.jets)
    print(
        "| tagger | signal | AUC | balanced accuracy | 1/ε_B (ε_S=0.3) | 1/ε_B (ε_S=0.5) "
        "| parameters | training jets | jets/s (CPU) |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, result in analysis["taggers"].items():
        rejection = result["rejection"]
        path = TRAINED / f"{name}.pt"
        meta = ModelRunner(path).metadata if path.is_file() else None
        print(
            f"| {name} | {result['signal']} | {_fmt(result['auc'])} "
            f"| {_fmt(result['balanced_accuracy'])} | {_fmt(rejection['0.3']['value'])} "
            f"| {_fmt(rejection['0.5']['value'])} "
            f"| {meta.n_parameters if meta else '–'} "
            f"| {meta.training['training_jets'] if meta else '–'} "
            f"| {_fmt(_speed(path, arrays)) if meta else '–'} |"
        )
    print()
    print(
        "| regressor | median response | resolution (q84 − q16)/(2 q50) | parameters "
        "| training jets | jets/s (CPU) |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    for name, result in analysis["resolution"].items():
        inclusive = result.get("inclusive", result)
        path = TRAINED / f"{name}.pt"
        meta = ModelRunner(path).metadata if path.is_file() else None
        print(
            f"| {name} | {_fmt(inclusive.get('scale'))} | {_fmt(inclusive.get('resolution'))} "
            f"| {meta.n_parameters if meta else '–'} "
            f"| {meta.training['training_jets'] if meta else '–'} "
            f"| {_fmt(_speed(path, arrays)) if meta else '–'} |"
        )


if __name__ == "__main__":
    main()
