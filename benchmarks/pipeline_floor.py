"""boostjet run against the I/O floor and a plain uproot + numpy script, on the same files.

Three routes over the same events, measured side by side in one process:

- floor: read only the fat-jet branches a cut-based analysis needs with plain uproot;
- floor-all: read every branch boostjet's processor reads (energy flow, constituent
  association, generator record and jets too) with plain uproot;
- plain: the same read plus the selection, soft-drop mass, τ32 and the cut-based score histogram
  in numpy, as a physicist would hand-write it (no constituents, no truth matching);
- boostjet: ``boostjet run`` (iterative executor, cut-based taggers only), which also resolves
  constituents, matches truth and generator jets and fills every histogram.

    python benchmarks/pipeline_floor.py FILE [FILE ...] [--chunksize 50000] [--repeat 3]

Make large inputs with ``boostjet generate`` (e.g. data/ttbar_train*.root from docs/models.md).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import awkward as ak
import numpy as np
import uproot

from boostjet.pipeline.config import RunConfig
from boostjet.pipeline.execute import run
from boostjet.pipeline.progress import console

#: Branches of the flat layout the cut-based run reads (fat jets, soft drop, τ, constituents).
BRANCHES = [
    *(f"FatJet.{f}" for f in ("PT", "Eta", "Phi", "Mass", "Tau2", "Tau3")),
    *(f"FatJet.SoftDropped{c}" for c in ("Px", "Py", "Pz", "E")),
]


#: Every branch boostjet's processor reads: also constituents, energy flow and generator record.
ALL_BRANCHES = [
    "/FatJet\\..*/",
    "/FatJetConstituent\\..*/",
    "/EFlow.*/",
    "/GenFatJet\\..*/",
    *(f"Particle.{f}" for f in ("PID", "D1", "D2", "Eta", "Phi")),
]


def _read(files: list[Path], branches: list[str], chunksize: int) -> int:
    events = 0
    for batch in uproot.iterate(
        [f"{f}:Delphes" for f in files], filter_name=branches, step_size=chunksize, library="ak"
    ):
        events += len(batch)
    return events


def floor(files: list[Path], chunksize: int) -> int:
    """Events read with uproot: the fat-jet branches a cut-based analysis needs, only."""
    return _read(files, BRANCHES, chunksize)


def floor_all(files: list[Path], chunksize: int) -> int:
    """Events read with uproot: every branch boostjet's processor reads."""
    return _read(files, ALL_BRANCHES, chunksize)


def plain(files: list[Path], chunksize: int) -> int:
    """Selection and the cut-based score histogram with uproot + numpy."""
    counts = np.zeros(1000)
    events = 0
    for batch in uproot.iterate(
        [f"{f}:Delphes" for f in files], BRANCHES, step_size=chunksize, library="ak"
    ):
        events += len(batch)
        pt, eta = batch["FatJet.PT"], batch["FatJet.Eta"]
        keep = (pt > 300) & (np.abs(eta) < 2.4)
        p = {c: batch[f"FatJet.SoftDropped{c}"][keep] for c in ("Px", "Py", "Pz", "E")}
        m2 = p["E"] ** 2 - p["Px"] ** 2 - p["Py"] ** 2 - p["Pz"] ** 2
        sd_mass = ak.flatten(np.sqrt(np.maximum(m2, 0)))
        tau32 = ak.flatten(batch["FatJet.Tau3"][keep] / batch["FatJet.Tau2"][keep])
        window = (sd_mass > 105) & (sd_mass < 210)
        score = np.where(window, np.clip(1 - tau32, 0, 1), 0)
        counts += np.histogram(ak.to_numpy(score), bins=1000, range=(0, 1))[0]
    return events


def boostjet_run(files: list[Path], chunksize: int) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        config = RunConfig.model_validate(
            {
                "name": "bench",
                "datasets": {"sample": {"files": [str(f) for f in files]}},
                "executor": {"type": "iterative", "chunksize": chunksize},
                "output": tmp,
                "report": False,
            }
        )
        result = run(config)
    return sum(account.events_processed for account in result.accounts.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--chunksize", type=int, default=50000)
    parser.add_argument(
        "--repeat", type=int, default=1, help="run every route this often, interleaved; medians"
    )
    args = parser.parse_args()
    routes = {"floor": floor, "floor-all": floor_all, "plain": plain, "boostjet": boostjet_run}
    seconds: dict[str, list[float]] = {name: [] for name in routes}
    events = {}
    for _ in range(args.repeat):
        for name, route in routes.items():
            start = time.perf_counter()
            events[name] = route(args.files, args.chunksize)
            seconds[name].append(time.perf_counter() - start)
    base = statistics.median(seconds["floor"])
    base_all = statistics.median(seconds["floor-all"])
    console.print(
        f"{'route':<10} {'events':>9} {'seconds':>8} {'events/s':>10} {'× floor':>8} "
        f"{'× floor-all':>12}  (medians of {args.repeat})"
    )
    for name, times in seconds.items():
        median = statistics.median(times)
        console.print(
            f"{name:<10} {events[name]:>9} {median:>8.2f} {events[name] / median:>10.0f} "
            f"{median / base:>8.2f} {median / base_all:>12.2f}"
        )


if __name__ == "__main__":
    main()
