"""``boostjet generate`` speed: events/s per core and each step's share, per process.

Each process is generated in one worker process (``workers=1``), so events/s per core is the
rate of one core; the detector's time is compared with Pythia's (target: at most 30 %).

    python benchmarks/generation.py [--events 1000] [--processes ttbar qcd wjets]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from boostjet.generation import GenerationOptions, generate

PTHAT = {"ttbar": 500.0, "qcd": 500.0, "wjets": 400.0, "zjets": 400.0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--processes", nargs="*", default=["ttbar", "qcd", "wjets"])
    args = parser.parse_args()
    print(
        f"{'process':<8} {'events':>7} {'events/s/core':>14} {'pythia':>7} {'detector':>9} "
        f"{'jets':>6} {'writing':>8} {'detector/pythia':>16}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for process in args.processes:
            options = GenerationOptions(
                process=process, events=args.events, pthat_min=PTHAT[process], seed=7, workers=1
            )
            summary = generate(options, Path(tmp) / f"{process}.root", progress=False)
            share = summary["time_share"]
            print(
                f"{process:<8} {summary['events']:>7} {summary['events_per_core_second']:>14.0f} "
                f"{share['pythia']:>7.1%} {share['detector']:>9.1%} {share['clustering']:>6.1%} "
                f"{share['writing']:>8.1%} {share['detector'] / share['pythia']:>16.1%}"
            )


if __name__ == "__main__":
    main()
