"""``boostjet run`` against the I/O floor and a plain uproot + awkward script, on the same files.

Routes, measured side by side in one process and interleaved over ``--repeat`` rounds (medians):

- floor: plain ``uproot.iterate`` over exactly the branches the run reads (recorded from coffea in
  a first pass over one chunk), nothing else;
- plain: ``plain_analysis.py``, the same cut-based analysis hand-written with uproot, awkward and
  hist; its histograms are checked against boostjet's, bin for bin;
- boostjet: ``boostjet run`` (iterative executor) with the cut-based taggers only;
- per model (``--models``): ``boostjet run`` with that shipped model alone on the first files
  holding ``--model-events`` events, against the floor of the branches that run reads
  (constituents and energy flow too) on the same files.

    python benchmarks/pipeline_floor.py FILE [FILE ...] [--chunksize 100000] [--repeat 3]
        [--models dnn_top particlenet_top ...] [--model-events 20000]

Make large inputs with ``boostjet generate`` (the held-out samples of docs/models.md: 200k events).
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import uproot
from plain_analysis import analyse

from boostjet.config import RunConfig
from boostjet.pipeline.progress import console
from boostjet.pipeline.routes import run

TRAINED = Path(__file__).resolve().parents[1] / "boostjet" / "models" / "trained"
TASKS = {"mass": ("iml_mass", "pointcloud_mass"), "energy": ("energy_dnn",)}


def run_config(files: list[Path], chunksize: int, output: str, model: str | None = None):
    models = []
    if model:
        task = next((t for t, names in TASKS.items() if model in names), "tagger")
        models = [{"name": model, "task": task, "path": str(TRAINED / f"{model}.pt")}]
    return RunConfig.model_validate(
        {
            "name": "bench",
            "datasets": {"sample": {"files": [str(f) for f in files]}},
            "models": models,
            "executor": {"type": "iterative", "chunksize": chunksize},
            "output": output,
            "report": False,
        }
    )


def boostjet_run(files, chunksize, model=None) -> tuple[int, dict]:
    """Events processed and histograms of one ``boostjet run``."""
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = run(run_config(files, chunksize, tmp, model))
    return sum(a.events_processed for a in result.accounts.values()), result.histograms


@contextlib.contextmanager
def recording_branches():
    """Collect the names of the branches coffea's NanoEvents reads while inside."""
    import coffea.nanoevents.mapping.uproot as mapping

    seen: set[str] = set()
    original = mapping.UprootSourceMapping.extract_column

    def extract_column(self, columnhandle, *args, **kwargs):
        seen.add(columnhandle.name)
        return original(self, columnhandle, *args, **kwargs)

    mapping.UprootSourceMapping.extract_column = extract_column
    try:
        yield seen
    finally:
        mapping.UprootSourceMapping.extract_column = original


def branches_read(files, model=None) -> list[str]:
    """The branches one chunk of ``boostjet run`` (with ``model``) reads from the first file."""
    first = Path(files[0])
    entries = min(uproot.open(first)["Delphes"].num_entries, 2000)
    with recording_branches() as seen:
        boostjet_run([first], entries, model)
    return sorted(seen)


def floor(files, branches, chunksize) -> tuple[int, None]:
    """Events read with plain uproot: exactly ``branches``, nothing done with them."""
    events = 0
    for batch in uproot.iterate([f"{f}:Delphes" for f in files], branches, step_size=chunksize):
        events += len(batch)
    return events, None


def plain(files, chunksize) -> tuple[int, dict]:
    hists, events = analyse(files, step_size=chunksize)
    return events, hists


def compare(plain: dict, boostjet: dict) -> tuple[int, int, float]:
    """How far the plain script's histograms are from boostjet's: (identical histograms, all
    histograms, entries in other bins in all) — float32 rounding can move a value across an edge."""
    identical, moved = 0, 0.0
    for name, theirs in plain.items():
        mine = boostjet[name][{"dataset": "sample"}]
        theirs = theirs[{"dataset": "sample"}]
        views = (
            [(mine[{"truth": t}], theirs[{"truth": t}]) for t in ("qcd", "top", "w", "other")]
            if "truth" in theirs.axes.name
            else [(mine, theirs)]
        )
        difference = sum(np.abs(a.values(flow=True) - b.values(flow=True)).sum() for a, b in views)
        identical += difference == 0
        moved += difference / 2
    return identical, len(plain), moved


def first_files(files, n_events: int) -> list[Path]:
    """The first files that together hold at least ``n_events`` events."""
    chosen, total = [], 0
    for path in files:
        chosen.append(path)
        total += uproot.open(path)["Delphes"].num_entries
        if total >= n_events:
            break
    return chosen


def timed(route) -> tuple[float, int, dict | None]:
    start = time.perf_counter()
    events, hists = route()
    return time.perf_counter() - start, events, hists


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--chunksize", type=int, default=100000)
    parser.add_argument("--repeat", type=int, default=1, help="rounds, interleaved; medians")
    parser.add_argument("--models", nargs="*", default=[], help="shipped models to run alone")
    parser.add_argument("--model-events", type=int, default=20000)
    args = parser.parse_args()
    files = [str(f) for f in args.files]
    cut_based = branches_read(files)
    console.print(f"a cut-based run reads {len(cut_based)} branches: {', '.join(cut_based)}")
    model_files = [str(f) for f in first_files(args.files, args.model_events)]
    routes = {
        "floor": lambda: floor(files, cut_based, args.chunksize),
        "plain": lambda: plain(files, args.chunksize),
        "boostjet": lambda: boostjet_run(files, args.chunksize),
    }
    floors = dict.fromkeys(routes, "floor")
    for model in args.models:
        branches = branches_read(model_files, model)
        routes[f"floor {model}"] = lambda b=branches: floor(model_files, b, args.chunksize)
        routes[model] = lambda m=model: boostjet_run(model_files, args.chunksize, m)
        floors[model] = floors[f"floor {model}"] = f"floor {model}"
    seconds: dict[str, list[float]] = {name: [] for name in routes}
    events, hists = {}, {}
    for _ in range(args.repeat):
        for name, route in routes.items():
            elapsed, events[name], hists[name] = timed(route)
            seconds[name].append(elapsed)
    identical, total, moved = compare(hists["plain"], hists["boostjet"])
    console.print(
        f"plain script and boostjet: {identical} of {total} histograms identical bin for bin, "
        f"{moved:.0f} entries in a neighbouring bin (float32 rounding at a bin edge)"
    )
    console.print(
        f"{'route':<24} {'events':>8} {'seconds':>8} {'events/s':>9} {'× its floor':>11} "
        f"{'× plain':>8}  (medians of {args.repeat})"
    )
    per_event = {name: statistics.median(t) / events[name] for name, t in seconds.items()}
    for name in routes:
        versus_plain = per_event[name] / per_event["plain"] if floors[name] == "floor" else None
        console.print(
            f"{name:<24} {events[name]:>8} {statistics.median(seconds[name]):>8.2f} "
            f"{1 / per_event[name]:>9.0f} {per_event[name] / per_event[floors[name]]:>11.2f} "
            + (f"{versus_plain:>8.2f}" if versus_plain is not None else "")
        )


if __name__ == "__main__":
    main()
