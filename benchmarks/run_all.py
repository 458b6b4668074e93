"""Run every benchmark script in benchmarks/ (except soak.py) with small defaults, in one go.

    python benchmarks/run_all.py [--only NAME ...] [--files FILE ...]

Each script runs in its own process from the repository root; its output is printed under a
header with its wall time, and a summary lists the exit codes. The defaults use the shipped
samples (seconds, not minutes); for the figures in docs/performance.md run the scripts
themselves on the large files named there. ``model_table.py`` needs a report of a
``boostjet run configs/testing.yaml`` and is skipped while ``outputs/testing`` does not exist.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SKIPPED = {"soak.py", "run_all.py"}  # soak is a long memory test; this script itself
SAMPLES = ["samples/ttbar_mc.root", "samples/qcd_mc.root"]


def arguments(name: str, files: list[str]) -> list[str] | None:
    """Small default command-line arguments of a benchmark; None to skip it here."""
    if name == "pipeline_floor.py":
        return [*files, "--chunksize", "1000", "--repeat", "1"]
    if name == "constituents.py":
        return [*files, "--repeat", "1"]
    if name == "inference.py":
        return ["--jets", "512", "--rounds", "1"]
    if name == "model_table.py":
        run_dir = ROOT / "outputs" / "testing"
        return [str(run_dir), "--jets", "512"] if run_dir.is_dir() else None
    if name == "plain_analysis.py":
        return files
    if name == "scaling.py":
        samples = [*files, "samples/wjets_mc.root", "samples/data_like.root"][:4]
        return [*samples, "--chunksize", "300", "--repeat", "1"]
    if name == "generation.py":
        return ["--events", "200"]
    if name == "training.py":
        return ["--steps", "3"]
    return []  # a new benchmark: run it without arguments


def scripts(only: list[str] | None) -> list[Path]:
    """The benchmark scripts to run, in name order."""
    found = sorted(p for p in HERE.glob("*.py") if p.name not in SKIPPED)
    return [p for p in found if not only or p.name in only or p.stem in only]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="script names to run (default: all)")
    parser.add_argument("--files", nargs="*", default=SAMPLES, help="input files for the I/O ones")
    args = parser.parse_args()
    results = []
    for script in scripts(args.only):
        extra = arguments(script.name, args.files)
        print(f"\n=== {script.name} {' '.join(extra or [])}", flush=True)
        if extra is None:
            print("skipped: outputs/testing not found (boostjet run configs/testing.yaml)")
            results.append((script.name, "skipped", 0.0))
            continue
        start = time.perf_counter()
        code = subprocess.call([sys.executable, str(script), *extra], cwd=ROOT)
        results.append((script.name, f"exit {code}", time.perf_counter() - start))
    print("\n=== summary")
    for name, status, seconds in results:
        print(f"{name:<20} {status:<8} {seconds:7.1f} s")
    failed = [name for name, status, _ in results if status not in ("exit 0", "skipped")]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
