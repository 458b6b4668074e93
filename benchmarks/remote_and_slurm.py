"""Remote reading and batch scaling of ``boostjet run`` against the services of ci/services.sh.

Side by side, in one run, interleaved rounds, medians:

- root:// against local: the same files read over XRootD (``root://127.0.0.1``) and from the local
  disk, iterative executor (one process), cut-based; events/s of processing (target: root:// at
  least 90 % of local);
- 1 against 2 SLURM jobs: the ``executor.jobqueue`` cluster boostjet builds (dask-jobqueue,
  scheduler and workers on 127.0.0.1, one single-threaded worker per job), scaled to 1 or 2
  jobs; timing starts once every worker has joined and imported the processor, so that job
  start-up (seconds, the batch system's) is not counted (target: at least 1.7× with 2 jobs).

The inputs are ``--copies`` copies of the four shipped samples (2,915 events a copy; copies of
one file are read again in full, boostjet only notes it), written into
a folder inside the XRootD export (``$BOOSTJET_XROOTD_FILES``) and removed at the end. Needs the
running services (``bash ci/services.sh start``; their state directory is
``$BOOSTJET_SERVICES_DIR``, default /tmp/boostjet-services) and the remote extra.

    python benchmarks/remote_and_slurm.py [--copies 4] [--rounds 3] [--chunksize 1000]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import warnings
from pathlib import Path

import uproot

from boostjet.config import RunConfig
from boostjet.pipeline.clusters import jobqueue_cluster
from boostjet.pipeline.interrupt import close_dask
from boostjet.pipeline.progress import console
from boostjet.pipeline.routes import run

SAMPLES = Path(__file__).resolve().parents[1] / "samples"


def _services() -> dict[str, str]:
    state = Path(os.environ.get("BOOSTJET_SERVICES_DIR", "/tmp/boostjet-services"))
    lines = (state / "services.env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line)


def _copies(export: Path, copies: int) -> tuple[Path, list[Path]]:
    """``copies`` copies of every shipped sample in a new folder inside the XRootD export."""
    folder = Path(tempfile.mkdtemp(prefix="bench-", dir=export))
    folder.chmod(0o755)  # the xrootd daemon runs as its own user
    files = []
    for copy in range(copies):
        for sample in sorted(SAMPLES.glob("*.root")):
            files.append(folder / f"{sample.stem}_{copy}.root")
            shutil.copyfile(sample, files[-1])
            files[-1].chmod(0o644)
    return folder, files


def _config(files: list[str], output: str, chunksize: int, **executor) -> RunConfig:
    return RunConfig.model_validate(
        {
            "name": "bench",
            "datasets": {"sample": {"files": files}},
            "models": [],
            "executor": {"chunksize": chunksize, "retries": 0} | executor,
            "output": output,
            "report": False,
        }
    )


def _events_per_second(config: RunConfig, events: int) -> float:
    """Events/s of processing of one run, which must process all ``events``."""
    result = run(config)
    if result.events_processed != events:
        raise RuntimeError(f"{result.events_processed} of {events} events processed")
    return events / result.processing_time


def _warm_up() -> int:
    """On a worker: import what a chunk needs before timing starts."""
    import boostjet.processors.tagging  # noqa: F401

    return 0


def _slurm(files: list[str], output: str, chunksize: int, jobs: int, partition: str, events: int):
    """Events/s on ``jobs`` SLURM jobs of one worker each, once all have joined."""
    from distributed import Client

    jobqueue = {"system": "slurm", "jobs": jobs, "memory": "1GB", "walltime": "00:30:00"}
    jobqueue |= {"host": "127.0.0.1", "job_extra_directives": [f"--partition={partition}"]}
    settings = _config(files, output, chunksize, type="dask", jobqueue=jobqueue)
    cluster = jobqueue_cluster(settings)
    client = Client(cluster)
    try:
        cluster.scale(jobs=jobs)
        client.wait_for_workers(jobs, timeout=300)
        client.run(_warm_up)
        config = _config(files, output, chunksize, type="dask", scheduler=cluster.scheduler_address)
        return _events_per_second(config, events)
    finally:
        close_dask(client, cluster, None)  # as boostjet closes its own (no teardown ERRORs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=4, help="copies of the shipped samples")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--chunksize", type=int, default=1000)
    args = parser.parse_args()
    services = _services()
    os.environ["SLURM_CONF"] = services["SLURM_CONF"]
    export = Path(services["BOOSTJET_XROOTD_FILES"])
    folder, files = _copies(export, args.copies)
    local = [str(path) for path in files]
    remote = [f"{services['BOOSTJET_XROOTD_URL']}{path}" for path in files]
    partition = services["BOOSTJET_SLURM_PARTITION"]
    events = sum(uproot.open(path)["Delphes"].num_entries for path in files)
    rates: dict[str, list[float]] = {"local": [], "root://": [], "1 job": [], "2 jobs": []}
    try:
        with tempfile.TemporaryDirectory() as output, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for _ in range(args.rounds):
                for name, paths in (("local", local), ("root://", remote)):
                    config = _config(paths, output, args.chunksize, type="iterative")
                    rates[name].append(_events_per_second(config, events))
                for jobs in (1, 2):
                    rate = _slurm(local, output, args.chunksize, jobs, partition, events)
                    rates[f"{jobs} job{'s' if jobs > 1 else ''}"].append(rate)
                console.print(", ".join(f"{k}: {v[-1]:.0f}" for k, v in rates.items()) + " ev/s")
    finally:
        shutil.rmtree(folder)
    median = {name: statistics.median(values) for name, values in rates.items()}
    console.print(
        f"{events} events in {len(files)} files, chunks of {args.chunksize}, "
        f"{args.rounds} rounds, medians of events/s (cut-based, no model):"
    )
    console.print(f"  iterative, local files        {median['local']:8.0f}")
    console.print(f"  iterative, root:// (XRootD)   {median['root://']:8.0f}")
    console.print(f"  root:// / local               {median['root://'] / median['local']:8.2f}")
    console.print(f"  dask on 1 SLURM job           {median['1 job']:8.0f}")
    console.print(f"  dask on 2 SLURM jobs          {median['2 jobs']:8.0f}")
    console.print(f"  2 jobs / 1 job                {median['2 jobs'] / median['1 job']:8.2f}")


if __name__ == "__main__":
    main()
