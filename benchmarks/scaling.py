"""Scaling of ``boostjet run`` on a dask cluster: 1 against 2 workers, and memory per worker.

Each measurement starts its own ``LocalCluster`` (processes, one thread each, 127.0.0.1), warms the
workers up (imports, and the model when one is configured) and submits ``boostjet run`` to it
through ``executor.scheduler``, the route of an existing cluster. Reported per run: the
processing time (first chunk submitted to the merged result), events/s, the peak resident memory
of every worker process, and how often each worker loaded the model file.

- speed-up: the same files with 1 and 2 workers (``--repeat`` rounds, medians);
- memory: 1 file and then ``--grow`` times as many files, same chunk size, 2 workers; the peak
  memory per worker should not grow with the number of files.

    python benchmarks/scaling.py FILE [FILE ...] [--chunksize 20000] [--model particlenet_top]
        [--repeat 2] [--grow 4]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import tempfile
import warnings
from pathlib import Path

from boostjet.config import RunConfig
from boostjet.pipeline.progress import console
from boostjet.pipeline.routes import run

TRAINED = Path(__file__).resolve().parents[1] / "boostjet" / "models" / "trained"


def _warm_up(model_path: str | None) -> int:
    """On a worker: import what a chunk needs (and load the model) before timing starts."""
    import boostjet.processors.tagging  # noqa: F401

    if model_path:
        from boostjet.models.inference import ModelRunner

        ModelRunner(model_path)
    return 0


def _peak_memory_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _model_loads(model_path: str) -> int:
    from boostjet.models.inference import load_count

    return load_count(model_path)


def measure(files: list[str], workers: int, chunksize: int, model: str | None) -> dict:
    """One run on a fresh cluster of ``workers`` processes."""
    from distributed import Client, LocalCluster

    model_path = str(TRAINED / f"{model}.pt") if model else None
    models = [{"name": model, "task": "tagger", "path": model_path}] if model else []
    with (
        warnings.catch_warnings(),
        LocalCluster(
            n_workers=workers, threads_per_worker=1, host="127.0.0.1", dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
        tempfile.TemporaryDirectory() as tmp,
    ):
        warnings.simplefilter("ignore")
        client.run(_warm_up, model_path)
        config = RunConfig.model_validate(
            {
                "name": "scaling",
                "datasets": {"sample": {"files": files}},
                "models": models,
                "executor": {
                    "type": "dask",
                    "scheduler": cluster.scheduler_address,
                    "chunksize": chunksize,
                },
                "output": tmp,
                "report": False,
            }
        )
        result = run(config)
        memory = client.run(_peak_memory_mib)
        loads = client.run(_model_loads, model_path) if model_path else {}
    return {
        "events": result.events_processed,
        "seconds": result.processing_time,
        "memory": sorted(memory.values()),
        "loads": sorted(loads.values()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--chunksize", type=int, default=20000)
    parser.add_argument("--model", help="a shipped tagger to run as well, e.g. particlenet_top")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--grow", type=int, default=4, help="file-count factor of the memory test")
    args = parser.parse_args()
    files = [str(f) for f in args.files]
    if len(files) < args.grow:
        parser.error(f"the memory test needs at least --grow = {args.grow} files")
    label = f"cut-based{' + ' + args.model if args.model else ''}, chunks of {args.chunksize}"
    console.print(f"speed-up ({label}), {args.repeat} rounds, medians")
    times: dict[int, list[float]] = {1: [], 2: []}
    for _ in range(args.repeat):
        for workers in (1, 2):
            result = measure(files, workers, args.chunksize, args.model)
            times[workers].append(result["seconds"])
            console.print(
                f"  {workers} worker(s): {result['events']} events in {result['seconds']:.2f} s "
                f"({result['events'] / result['seconds']:.0f} events/s); peak memory per worker "
                f"{', '.join(f'{m:.0f}' for m in result['memory'])} MiB"
                + (f"; model loads per worker {result['loads']}" if result["loads"] else "")
            )
    one, two = statistics.median(times[1]), statistics.median(times[2])
    console.print(f"speed-up 2 workers / 1 worker: {one / two:.2f}")

    console.print(f"memory per worker, 2 workers, 1 file against {args.grow} files:")
    peaks = {}
    for n_files in (1, args.grow):
        result = measure(files[:n_files], 2, args.chunksize, args.model)
        peaks[n_files] = max(result["memory"])
        console.print(
            f"  {n_files} file(s), {result['events']} events: peak per worker "
            f"{', '.join(f'{m:.0f}' for m in result['memory'])} MiB"
        )
    console.print(
        f"peak memory ratio {args.grow} files / 1 file: {peaks[args.grow] / peaks[1]:.3f}"
    )


if __name__ == "__main__":
    main()
