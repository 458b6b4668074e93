"""dask clusters for the dask routes: an existing scheduler, a batch system through dask-jobqueue,
or a LocalCluster boostjet starts; and the workers a run lost."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from boostjet.config import RunConfig
from boostjet.errors import ConfigError
from boostjet.pipeline import interrupt
from boostjet.pipeline.progress import say

_JOBQUEUE_CLUSTERS = {
    "slurm": "SLURMCluster",
    "htcondor": "HTCondorCluster",
    "pbs": "PBSCluster",
    "sge": "SGECluster",
    "lsf": "LSFCluster",
}


def _seconds(walltime: str) -> int:
    """``[[HH:]MM:]SS`` → seconds."""
    seconds = 0
    for part in walltime.split(":"):
        seconds = seconds * 60 + int(part)
    return seconds


def job_log_directory(config: RunConfig) -> Path:
    """Where the batch jobs write their output: ``executor.jobqueue.log_directory``, by default
    ``<output>/.<name>.jobs`` (absolute: the jobs may start elsewhere)."""
    folder = config.executor.jobqueue.log_directory
    return (folder or Path(config.output) / f".{config.name}.jobs").absolute()


def _jobqueue_options(config: RunConfig) -> dict[str, Any]:
    settings = config.executor.jobqueue
    scheduler = {"dashboard_address": config.executor.dashboard_address}
    options: dict[str, Any] = {
        "cores": settings.cores,
        "processes": settings.cores,  # one single-threaded worker per core, like LocalCluster
        "memory": settings.memory,
        "job_name": f"boostjet-{config.name}",
        "job_script_prologue": list(settings.job_script_prologue),
        "log_directory": str(job_log_directory(config)),
        "scheduler_options": scheduler,
    }
    if settings.host is not None:  # scheduler, workers and their dashboards on this address only
        scheduler["host"] = settings.host
        options["interface"] = None
        options["worker_extra_args"] = ["--host", settings.host]
        options["worker_extra_args"] += ["--dashboard-address", f"{settings.host}:0"]
    if settings.system == "htcondor":
        extra = dict(
            (key.strip(), value.strip())
            for key, _, value in (line.partition("=") for line in settings.job_extra_directives)
        )
        extra.setdefault("+MaxRuntime", str(_seconds(settings.walltime)))
        return options | {"disk": settings.disk, "job_extra_directives": extra}
    return options | {
        "walltime": settings.walltime,
        "queue": settings.queue,
        "job_extra_directives": list(settings.job_extra_directives),
    }


def jobqueue_cluster(config: RunConfig):
    """The dask-jobqueue cluster (not yet scaled) that ``executor.jobqueue`` describes."""
    dask_jobqueue = interrupt.import_dask_jobqueue()
    cluster_class = getattr(dask_jobqueue, _JOBQUEUE_CLUSTERS[config.executor.jobqueue.system])
    return cluster_class(**_jobqueue_options(config))


def job_script(config: RunConfig) -> str:
    """The batch job script each dask worker job would be submitted with."""
    if config.executor.jobqueue is None:
        raise ConfigError("executor.jobqueue is not set, so there is no job script to show.")
    cluster = jobqueue_cluster(config)
    try:
        return cluster.job_script()
    finally:
        cluster.close()


def _connect(address: str, timeout: float):
    from distributed import Client

    try:
        return Client(address, timeout=timeout)
    except (OSError, ValueError):
        raise ConfigError(
            f"cannot reach the dask scheduler at {address} within {timeout:g} s "
            "(set by executor.scheduler / --scheduler)."
        ) from None


def dashboard_link(client, dashboard_address: str, own: bool) -> str | None:
    """The dashboard's URL, None without one. On a cluster boostjet started (``own``) the
    dashboard listens on ``dashboard_address``, which may differ from the scheduler's address
    (``client.dashboard_link``'s host): a jobqueue scheduler faces the batch nodes."""
    port = client.scheduler_info().get("services", {}).get("dashboard")
    if port is None:
        return None
    host = urlsplit(f"//{dashboard_address}").hostname
    if not own or host in (None, "", "0.0.0.0", "::"):
        return client.dashboard_link
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{port}/status"


@contextmanager
def dask_client(config: RunConfig) -> Iterator:
    """A distributed ``Client``: existing scheduler, jobqueue cluster, or a new LocalCluster.

    Both are closed on the way out, at once after Ctrl-C or SIGTERM (:func:`interrupt.close_dask`).
    """
    from distributed import Client, LocalCluster

    settings = config.executor
    cluster = client = error = None
    try:
        if settings.scheduler:
            client = _connect(settings.scheduler, settings.connect_timeout)
        elif settings.jobqueue:
            cluster = jobqueue_cluster(config)
            say(f"batch jobs' logs: {job_log_directory(config)}")
            jobs = settings.jobqueue.jobs  # adapt, unlike scale, replaces a job that ends early
            cluster.adapt(minimum_jobs=jobs, maximum_jobs=jobs)
        else:
            cluster = LocalCluster(
                n_workers=settings.workers,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=settings.dashboard_address,
                silence_logs=logging.ERROR,
                preload=[interrupt.__name__],
            )
        if client is None:
            client = Client(cluster)
        link = dashboard_link(client, settings.dashboard_address, own=cluster is not None)
        if link:
            say(f"dask dashboard: {link}")
        yield client
    except BaseException as caught:
        error = caught
        raise
    finally:
        interrupt.close_dask(client, cluster, error)


def worker_losses(client, events_before: int) -> tuple[int, int]:
    """Workers removed and tasks they were processing or solely held, from the scheduler's
    ``remove-worker`` events logged since the run started (the event log's length then)."""
    events = client.get_events("all")[events_before:]
    removals = [msg for _, msg in events if isinstance(msg, dict)]
    removals = [msg for msg in removals if msg.get("action") == "remove-worker"]
    tasks = sum(
        len(msg.get("processing-tasks") or ()) + len(msg.get("lost-computed-tasks") or ())
        for msg in removals
    )
    return len(removals), tasks
