"""Soak test: N events through a LocalCluster, peak RSS of every worker sampled during the run.

The shipped samples (samples/*.root, the quickstart datasets) are repeated until they hold at
least N events: each file is linked many times under different names in a temporary folder (a
dataset's files are de-duplicated by path, not by content), so every chunk is read afresh. The run
uses the cut-based taggers only (no models) unless ``--models`` is given, ``boostjet``'s own
``run`` on executor ``dask`` (a LocalCluster of ``--workers`` single-threaded worker processes),
and a thread samples the resident set size of this process and of every child process (dask
nannies and workers) every ``--interval`` seconds.

    python benchmarks/soak.py                      # 1,000,000 events (hours on 2 busy cores)
    python benchmarks/soak.py --events 20000 --workers 2 --chunksize 5000

Prints, per process, the peak and the last sampled RSS, and the run's accounting. A worker whose
peak grows with N (compare two N) leaks; a flat peak is bounded by the chunk size.
"""

from __future__ import annotations

import argparse
import math
import tempfile
import threading
import time
from pathlib import Path

import psutil
import uproot

from boostjet.config import load_config
from boostjet.pipeline.routes import run

REPO = Path(__file__).resolve().parents[1]
QUICKSTART = REPO / "configs" / "quickstart.yaml"


class RssSampler(threading.Thread):
    """Peak and last RSS (bytes) of this process and its children, by pid, until stopped."""

    def __init__(self, interval: float):
        super().__init__(daemon=True)
        self.interval = interval
        self.peak: dict[int, int] = {}
        self.last: dict[int, int] = {}
        self.names: dict[int, str] = {}
        self.samples = 0
        self._halt = threading.Event()

    def run(self) -> None:
        me = psutil.Process()
        while not self._halt.is_set():
            for process in [me, *me.children(recursive=True)]:
                try:
                    rss = process.memory_info().rss
                    if process.pid not in self.names:
                        self.names[process.pid] = _role(process, me)
                except psutil.Error:
                    continue
                self.last[process.pid] = rss
                self.peak[process.pid] = max(rss, self.peak.get(process.pid, 0))
            self.samples += 1
            self._halt.wait(self.interval)

    def stop(self) -> None:
        self._halt.set()
        self.join()


def _role(process: psutil.Process, me: psutil.Process) -> str:
    """LocalCluster runs its scheduler and nannies in this process; workers are spawned."""
    if process.pid == me.pid:
        return "main (client, scheduler, nannies)"
    command = " ".join(process.cmdline())
    if "resource_tracker" in command:
        return "multiprocessing tracker"
    return "worker" if "spawn_main" in command else command[:40]


def _linked_config(folder: Path, events: int, workers: int, chunksize: int, models: bool):
    """The quickstart config with every sample linked enough times to hold ``events`` events."""
    config = load_config(QUICKSTART, base=REPO)
    per_copy = 0
    sources = {}
    for name, spec in config.datasets.items():
        source = REPO / spec.files[0]
        with uproot.open(source) as file:
            sources[name] = (source, int(file["Delphes"].num_entries))
        per_copy += sources[name][1]
    copies = max(1, math.ceil(events / per_copy))
    datasets = {}
    for name, spec in config.datasets.items():
        source, _ = sources[name]
        links = []
        for index in range(copies):
            link = folder / f"{source.stem}-{index:05d}.root"
            link.symlink_to(source)
            links.append(str(link))
        datasets[name] = spec.model_copy(update={"files": links})
    executor = config.executor.model_copy(
        update={"type": "dask", "workers": workers, "chunksize": chunksize, "retries": 0}
    )
    update = {"datasets": datasets, "executor": executor, "report": False}
    if not models:
        update["models"] = []
    return config.model_copy(update=update), copies * per_copy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="at least this many")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--chunksize", type=int, default=20000)
    parser.add_argument("--interval", type=float, default=0.5, help="RSS sampling period (s)")
    parser.add_argument("--models", action="store_true", help="keep the quickstart's models")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        config, total = _linked_config(
            Path(folder), args.events, args.workers, args.chunksize, args.models
        )
        files = sum(len(spec.files) for spec in config.datasets.values())
        print(f"{total} events in {files} linked files, {args.workers} workers, ", end="")
        print(f"chunksize {args.chunksize}, models: {'yes' if args.models else 'no'}")
        sampler = RssSampler(args.interval)
        sampler.start()
        start = time.perf_counter()
        result = run(config)
        wall = time.perf_counter() - start
        sampler.stop()
    mib = 1024 * 1024
    print(f"{'pid':>8}  {'role':<26} {'peak RSS MiB':>12} {'last MiB':>9}")
    for pid in sorted(sampler.peak, key=lambda p: sampler.names.get(p, "")):
        role = sampler.names.get(pid, "?")
        peak, last = sampler.peak[pid] / mib, sampler.last[pid] / mib
        print(f"{pid:>8}  {role:<26} {peak:>12.0f} {last:>9.0f}")
    read = sum(a.events_read for a in result.accounts.values())
    skipped = sum(a.events_skipped for a in result.accounts.values())
    print(
        f"events read {read}, processed {result.events_processed}, skipped {skipped}; "
        f"{result.processing_time:.1f} s processing, {wall:.1f} s wall, "
        f"{result.events_per_second:.0f} events/s; {sampler.samples} RSS samples; "
        f"workers lost: {result.workers_lost}"
    )


if __name__ == "__main__":
    main()
