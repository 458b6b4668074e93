"""Run the boostjet processor over a fileset on one of coffea's executors, accounting every event.

Routes (``executor.type``): ``iterative`` and ``futures`` (coffea ``Runner`` in this process or a
local process pool), ``dask`` (``Runner`` + ``DaskExecutor`` on a ``LocalCluster`` boostjet starts,
an existing scheduler, or a batch system through dask-jobqueue), and ``dask-awkward``
(``coffea.dataset_tools.apply_to_fileset``: one dask task per partition, on the same clusters).

Every route runs the same :class:`ChunkGuard` around the processor. It turns a failing chunk into
data — a ``failures`` entry with the file, entry range and reason — instead of an exception that
coffea would wrap and pickle away: a :class:`~boostjet.errors.BoostjetError` raised in a worker
reaches the command line as the very same sentence, and under ``skip_bad_files`` the chunk is
listed as skipped. The accounting identity events read = processed + skipped is then checked.
"""

from __future__ import annotations

import logging
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import awkward as ak
import hist
from coffea import processor
from coffea.processor import accumulate
from coffea.processor.executor import WorkItem

from boostjet.errors import BoostjetError, ConfigError, InputDataError, InputFileError, ModelError
from boostjet.pipeline import checkpoint as checkpoints
from boostjet.pipeline import interrupt
from boostjet.pipeline.baskets import read_problem
from boostjet.pipeline.fileset import (
    Chunk,
    Fileset,
    build_fileset,
    chunks_of,
    coffea_fileset,
    open_tree,
    repeated_inputs,
)
from boostjet.pipeline.progress import chunk_progress, say
from boostjet.processors.delphes import BoostjetDelphesSchema, chunk_name
from boostjet.processors.tagging import BoostedJetProcessor, input_spec

_JOBQUEUE_CLUSTERS = {
    "slurm": "SLURMCluster",
    "htcondor": "HTCondorCluster",
    "pbs": "PBSCluster",
    "sge": "SGECluster",
    "lsf": "LSFCluster",
}


class AccountingError(RuntimeError):
    """Events read ≠ events processed + events skipped: a bug in boostjet, never a user error."""


@dataclass(frozen=True)
class Skipped:
    """Events that were read but not processed, and why."""

    file: str
    entry_start: int
    entry_stop: int | None
    events: int | None
    """None when the file was too damaged to count its entries."""
    reason: str


@dataclass
class DatasetAccount:
    """Per-dataset event accounting of one run."""

    events_read: int = 0
    events_processed: int = 0
    fat_jets_selected: int = 0
    constituent_refs_unresolved: int = 0
    files: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)

    @property
    def events_skipped(self) -> int:
        return sum(item.events or 0 for item in self.skipped)

    def check(self, dataset: str) -> None:
        """Assert events read = events processed + events skipped."""
        if self.events_read != self.events_processed + self.events_skipped:
            raise AccountingError(
                f"dataset '{dataset}': {self.events_read} events read but "
                f"{self.events_processed} processed + {self.events_skipped} skipped."
            )


@dataclass
class RunResult:
    """What a run produced: histograms, per-dataset accounting and timing."""

    histograms: dict[str, hist.Hist]
    accounts: dict[str, DatasetAccount]
    wall_time: float
    """Seconds from the pre-flight check to the merged output (cluster start-up included)."""
    processing_time: float
    """Seconds the executor ran."""
    chunks_resumed: int = 0
    """Chunks taken from the checkpoints of an interrupted run (``--resume``)."""
    workers_lost: int | None = None
    """dask routes: workers the scheduler removed during the run (None on other routes)."""
    tasks_rescheduled: int | None = None
    """dask routes: tasks that ran again because their worker was lost — chunks being processed
    and finished results held only by that worker (None on other routes). Retries after an
    exception are not counted: dask does not report them once a task is done."""
    warnings: list[str] = field(default_factory=list)
    """Input files listed or read twice (fileset.repeated_inputs)."""

    @property
    def events_processed(self) -> int:
        return sum(account.events_processed for account in self.accounts.values())

    @property
    def events_per_second(self) -> float:
        return self.events_processed / self.processing_time if self.processing_time > 0 else 0.0


# --- the guard around the processor ----------------------------------------------------------


def guarded_call(function: Callable, events, skip_bad_files: bool, retries: int):
    """``(function(events), None)``, or ``(None, failure)`` when the chunk cannot be processed.

    A :class:`BoostjetError` (bad content, a model that does not fit) and a basket that cannot
    be read (:func:`~boostjet.pipeline.baskets.read_problem`: a corrupt file, wherever the lazy
    read happened) are deterministic: never retried, always returned as a failure, the latter as
    an InputDataError naming the chunk, branch and basket. Any other exception propagates (for
    coffea to retry), unless ``skip_bad_files``: then it is retried ``retries`` times here and
    returned as a failure. The failure names the dataset, file and entry range from the chunk's
    metadata.
    """
    attempts = retries + 1 if skip_bad_files else 1
    for attempt in range(attempts):
        try:
            return function(events), None
        except BoostjetError as error:
            reason, exception = str(error), error
            break
        except Exception as error:
            problem = read_problem(error)
            if problem is not None:
                exception = InputDataError(f"{chunk_name(events)}: {problem}.")
                reason = str(exception)
                break
            if not skip_bad_files:
                raise
            reason, exception = f"{type(error).__name__}: {error}", None
            if attempt + 1 == attempts:
                break
    meta = events.metadata
    failure = {
        "dataset": meta["dataset"],
        "file": meta["filename"],
        "entry_start": int(meta["entrystart"]),
        "entry_stop": int(meta["entrystop"]),
        "reason": reason,
        "error": exception,
    }
    return None, failure


class ChunkGuard(processor.ProcessorABC):
    """Runs a processor on one chunk through :func:`guarded_call`; failures become data.

    The output gains a ``failures`` list (accumulated by concatenation) instead of raising, so a
    worker's BoostjetError reaches the main process intact, whatever coffea or dask wraps it in.
    """

    def __init__(
        self,
        inner: processor.ProcessorABC,
        skip_bad_files: bool,
        retries: int,
        checkpoint: checkpoints.Checkpoints | None = None,
    ):
        self.inner = inner
        self.skip_bad_files = skip_bad_files
        self.retries = retries
        self.checkpoint = checkpoint
        """Where each successful chunk's output is saved (see checkpoint.py)."""

    def process(self, events) -> dict[str, Any]:
        output, failure = guarded_call(
            self.inner.process, events, self.skip_bad_files, self.retries
        )
        if failure is not None:
            return {"histograms": {}, "cutflow": {}, "failures": [failure]}
        output = {**output, "failures": []}
        if self.checkpoint:
            meta = events.metadata
            key = checkpoints.chunk_key(
                meta["dataset"], meta["filename"], meta["entrystart"], meta["entrystop"]
            )
            self.checkpoint.save(key, output)
        return output

    def postprocess(self, accumulator):
        return accumulator


# --- dask clusters ---------------------------------------------------------------------------


def _seconds(walltime: str) -> int:
    """``[[HH:]MM:]SS`` → seconds."""
    seconds = 0
    for part in walltime.split(":"):
        seconds = seconds * 60 + int(part)
    return seconds


def _jobqueue_options(config) -> dict[str, Any]:
    settings = config.executor.jobqueue
    options: dict[str, Any] = {
        "cores": settings.cores,
        "processes": settings.cores,  # one single-threaded worker per core, like LocalCluster
        "memory": settings.memory,
        "job_name": f"boostjet-{config.name}",
        "job_script_prologue": list(settings.job_script_prologue),
        "scheduler_options": {"dashboard_address": config.executor.dashboard_address},
    }
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


def jobqueue_cluster(config):
    """The dask-jobqueue cluster (not yet scaled) that ``executor.jobqueue`` describes."""
    dask_jobqueue = interrupt.import_dask_jobqueue()
    cluster_class = getattr(dask_jobqueue, _JOBQUEUE_CLUSTERS[config.executor.jobqueue.system])
    return cluster_class(**_jobqueue_options(config))


def job_script(config) -> str:
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


@contextmanager
def dask_client(config) -> Iterator:
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
            cluster.scale(jobs=settings.jobqueue.jobs)
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
        if "dashboard" in client.scheduler_info().get("services", {}):
            say(f"dask dashboard: {client.dashboard_link}")
        yield client
    except BaseException as caught:
        error = caught
        raise
    finally:
        interrupt.close_dask(client, cluster, error)


# --- routes ----------------------------------------------------------------------------------


def _work_item(chunk: Chunk) -> WorkItem:
    """The coffea work item of a chunk (coffea keeps the file UUID as 16 bytes)."""
    file_uuid = uuid.UUID(chunk.uuid).bytes if chunk.uuid else b""
    return WorkItem(chunk.dataset, chunk.path, chunk.tree, chunk.start, chunk.stop, file_uuid)


def _run_runner(executor, chunks: list[Chunk], guard: ChunkGuard, config) -> dict:
    runner = processor.Runner(
        executor=executor,
        schema=BoostjetDelphesSchema,
        chunksize=config.executor.chunksize,
        skipbadfiles=False,
    )
    return runner([_work_item(c) for c in chunks], guard, treename=config.tree)


def _process_partition(guard: ChunkGuard, events, chunk: Chunk) -> dict:
    """One dask-awkward partition, materialised, with the chunk metadata the Runner would set."""
    meta = {
        **(events.metadata or {}),
        "dataset": chunk.dataset,
        "filename": chunk.path,
        "treename": chunk.tree,
        "entrystart": chunk.start,
        "entrystop": chunk.stop,
    }
    return guard.process(ak.with_parameter(events, "metadata", meta))


class PartitionTasks(processor.ProcessorABC):
    """For ``apply_to_fileset``: one delayed task per partition running the eager chunk processor.

    The boostjet processor is columnar but eager (numpy inside), so it is applied to each
    materialised partition instead of being traced through dask-awkward.
    """

    def __init__(self, guard: ChunkGuard, chunks: list[Chunk]):
        self.guard = guard
        self.chunks: dict[str, list[Chunk]] = {}
        for chunk in chunks:
            self.chunks.setdefault(chunk.dataset, []).append(chunk)

    def process(self, events) -> list:
        import dask

        chunks = self.chunks[events.metadata["dataset"]]
        partitions = events.to_delayed()
        task = dask.delayed(_process_partition)
        return [
            task(self.guard, part, chunk) for part, chunk in zip(partitions, chunks, strict=True)
        ]

    def postprocess(self, accumulator):
        return accumulator


def _run_dask_awkward(client, fileset: Fileset, chunks: list[Chunk], guard: ChunkGuard, config):
    from coffea.dataset_tools import apply_to_fileset
    from distributed import as_completed

    spec = coffea_fileset(fileset, config.tree, config.executor.chunksize)
    partitions = PartitionTasks(guard, chunks)
    tasks = apply_to_fileset(partitions, spec, BoostjetDelphesSchema)
    futures = client.compute(
        [t for ts in tasks.values() for t in ts], retries=config.executor.retries
    )
    in_order = [chunk for name in tasks for chunk in partitions.chunks[name]]
    chunk_of = dict(zip(futures, in_order, strict=True))
    output = None
    with chunk_progress(len(futures)) as advance:
        for future in as_completed(futures):
            try:
                result = future.result()
            except Exception as error:  # uproot reads each partition before the guard runs
                result = _unreadable_partition(error, chunk_of[future])
            output = accumulate([result], output)
            future.release()
            advance()
    return output


def _unreadable_partition(error: Exception, chunk: Chunk) -> dict:
    """A partition whose reading failed, as the guard's failure output (a read error; any other
    exception propagates)."""
    if read_problem(error) is None:
        raise error
    with open_tree(chunk.path, chunk.tree) as tree:  # the worker's traceback names no basket
        problem = read_problem(error, tree, (chunk.start, chunk.stop))
    exception = InputDataError(f"{chunk.path} entries {chunk.start}–{chunk.stop}: {problem}.")
    failure = {
        "dataset": chunk.dataset,
        "file": chunk.path,
        "entry_start": chunk.start,
        "entry_stop": chunk.stop,
        "reason": str(exception),
        "error": exception,
    }
    return {"histograms": {}, "cutflow": {}, "failures": [failure]}


def _timed(function, *args) -> tuple[dict, float]:
    start = time.perf_counter()
    output = function(*args)
    return output, time.perf_counter() - start


def _worker_losses(client, events_before: int) -> tuple[int, int]:
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


def _execute(
    config, fileset: Fileset, chunks: list[Chunk], guard: ChunkGuard, losses: dict
) -> tuple[dict, float]:
    """The merged output of every chunk and the seconds spent computing it (start-up excluded).

    On dask routes ``losses`` receives ``workers_lost`` and ``tasks_rescheduled``.
    """
    settings = config.executor
    if settings.type == "iterative":
        executor = processor.IterativeExecutor(retries=settings.retries)
        return _timed(_run_runner, executor, chunks, guard, config)
    if settings.type == "futures":
        with interrupt.process_pool(settings.workers) as pool:
            executor = processor.FuturesExecutor(
                pool=pool, workers=settings.workers, retries=settings.retries
            )
            return _timed(_run_runner, executor, chunks, guard, config)
    with dask_client(config) as client:
        events_before = len(client.get_events("all"))
        if settings.type == "dask-awkward":
            result = _timed(_run_dask_awkward, client, fileset, chunks, guard, config)
        else:
            executor = processor.DaskExecutor(client=client, retries=settings.retries)
            result = _timed(_run_runner, executor, chunks, guard, config)
        lost, rescheduled = _worker_losses(client, events_before)
        losses.update(workers_lost=lost, tasks_rescheduled=rescheduled)
        return result


# --- accounting and output -------------------------------------------------------------------


def _chunk_order(failure: dict) -> tuple[str, int]:
    return failure["file"], failure["entry_start"]


def _accounts(config, fileset: Fileset, output: dict) -> dict[str, DatasetAccount]:
    accounts = {name: DatasetAccount() for name in config.datasets}
    for name, items in fileset.items():
        for item in items:
            accounts[name].files.append(item.path)
            accounts[name].events_read += item.entries or 0
            if not item.ok:
                skipped = Skipped(item.path, 0, item.entries, item.entries, item.problem)
                accounts[name].skipped.append(skipped)
    for name, flow in output.get("cutflow", {}).items():
        accounts[name].events_processed = int(flow["events_processed"])
        accounts[name].fat_jets_selected = int(flow["fat_jets_selected"])
        accounts[name].constituent_refs_unresolved = int(flow["constituent_refs_unresolved"])
    for failure in sorted(output["failures"], key=_chunk_order):
        start, stop = failure["entry_start"], failure["entry_stop"]
        skipped = Skipped(failure["file"], start, stop, stop - start, failure["reason"])
        accounts[failure["dataset"]].skipped.append(skipped)
    for name, account in accounts.items():
        account.check(name)
    return accounts


def _ordered_datasets(histogram: hist.Hist, order: list[str]) -> hist.Hist:
    """The same histogram with its ``dataset`` categories in configuration order.

    Chunks finish in any order on parallel executors; sorting makes every route's output equal.
    """
    if "dataset" not in histogram.axes.name:
        return histogram
    present = set(histogram.axes["dataset"])
    wanted = [name for name in order if name in present] + sorted(present - set(order))
    if list(histogram.axes["dataset"]) == wanted:
        return histogram
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "list indexing selection is experimental"
        return histogram[{"dataset": wanted}]


def _raise_first_error(failures: list[dict]) -> None:
    """Without skip_bad_files every failure holds a BoostjetError: raise the first chunk's."""
    if failures:
        raise min(failures, key=_chunk_order)["error"]


def _chunk_key(chunk: Chunk) -> str:
    return checkpoints.chunk_key(chunk.dataset, chunk.path, chunk.start, chunk.stop)


def execute(
    config,
    fileset: Fileset,
    processor_instance=None,
    checkpoint: Path | None = None,
    resume: bool = False,
) -> RunResult:
    """Run ``processor_instance`` (default: the boostjet processor) over a checked fileset.

    With ``checkpoint`` (a directory; see checkpoint.py) every completed chunk is saved there;
    with ``resume`` too, the chunks saved by an interrupted run are not run again.
    """
    start = time.perf_counter()
    settings = config.executor
    chunks = chunks_of(fileset, config.tree, settings.chunksize)
    total = len(chunks)
    if not chunks:
        bad = [item.problem for items in fileset.values() for item in items if not item.ok]
        detail = f"every input file was skipped; the first: {bad[0]}" if bad else "they are empty"
        raise InputFileError(f"the input files hold no events to process: {detail}")
    resumed: list[dict] = []
    store = None
    if checkpoint is not None and not checkpoints.supports_checkpoints(config):
        if resume:
            raise ConfigError(
                "--resume works with executor.type iterative, futures, or dask on the "
                "LocalCluster boostjet starts, not with executor.scheduler or executor.jobqueue."
            )
    elif checkpoint is not None:
        store, saved = checkpoints.prepare(
            checkpoint, checkpoints.fingerprint(config, fileset), resume
        )
        resumed = [saved[_chunk_key(c)] for c in chunks if _chunk_key(c) in saved]
        chunks = [c for c in chunks if _chunk_key(c) not in saved]
        if resumed:
            say(f"resuming: {len(resumed)} chunks from {checkpoint}, {len(chunks)} to run")
    inner = processor_instance or BoostedJetProcessor(config)
    guard = ChunkGuard(inner, settings.skip_bad_files, settings.retries, store)
    losses: dict[str, int] = {}
    if chunks:
        try:
            output, processing_time = _execute(config, fileset, chunks, guard, losses)
        except BaseException as error:
            # after a signal, whatever the executor raised on its way out is the interruption
            if interrupt.stopped_by_signal(error):
                kept = checkpoint if checkpoints.supports_checkpoints(config) else None
                done = checkpoints.saved_chunks(kept) if kept else 0
                raise interrupt.RunInterrupted(done, total, kept) from error
            raise
    else:
        output, processing_time = None, 0.0
    if resumed:
        output = accumulate([*resumed, output] if output is not None else resumed)
    if not settings.skip_bad_files:
        _raise_first_error(output["failures"])
    if not output.get("histograms"):  # under skip_bad_files every chunk failed
        failures = sorted(output["failures"], key=_chunk_order)
        raise InputDataError(
            f"nothing was processed: all {len(failures)} chunks were skipped; "
            f"the first: {failures[0]['reason']}"
        )
    order = list(config.datasets)
    histograms = {
        name: _ordered_datasets(h, order) for name, h in output.get("histograms", {}).items()
    }
    accounts = _accounts(config, fileset, output)
    return RunResult(
        histograms,
        accounts,
        time.perf_counter() - start,
        processing_time,
        chunks_resumed=len(resumed),
        **losses,
    )


#: Jets of the synthetic batch every model must evaluate in the pre-flight.
_PREFLIGHT_JETS = 4


def check_models(config) -> None:
    """Load every configured model before any chunk runs, so that a missing, corrupt or
    mismatched model fails at once with one sentence naming it, not inside a worker.

    Each model also runs on a few synthetic jets in the configured input layout
    (``synthetic_jets``): a TorchScript graph that does not match its metadata (another number
    of features) or returns another shape or NaN/inf is found here, before any chunk runs.
    """
    from boostjet.models.inference import ModelRunner
    from boostjet.models.synthetic import synthetic_jets

    spec = input_spec(config)
    constituents, mask, jet, _ = synthetic_jets(_PREFLIGHT_JETS, spec, seed=0)
    for model in config.models:
        runner = ModelRunner(model.path, expected_spec=spec)
        if runner.metadata.task != model.task:
            raise ModelError(
                f"models.{model.name}: {model.path} is a {runner.metadata.task} model, "
                f"not a {model.task} model."
            )
        try:
            runner(constituents, mask, jet)
        except RuntimeError as error:  # TorchScript reports a graph that cannot run this way
            lines = [line.strip() for line in str(error).splitlines() if line.strip()]
            raise ModelError(
                f"models.{model.name}: {model.path} fails on synthetic jets laid out as its "
                f"metadata says ({runner.metadata.input_spec.n_constituents} constituents × "
                f"{len(runner.metadata.input_spec.constituent_features)} features, "
                f"{len(runner.metadata.input_spec.jet_features)} jet features): "
                f"{lines[-1] if lines else type(error).__name__}."
            ) from None
        except ModelError as error:
            raise ModelError(
                f"models.{model.name} (pre-flight on {_PREFLIGHT_JETS} synthetic jets): {error}"
            ) from None


def run(
    config, checkpoint: Path | None = None, resume: bool = False, processor_instance=None
) -> RunResult:
    """Pre-flight every file and model, then run the processor: ``boostjet run`` but output."""
    start = time.perf_counter()
    check_models(config)
    fileset = build_fileset(config)
    result = execute(config, fileset, processor_instance, checkpoint, resume)
    result.wall_time = time.perf_counter() - start
    result.warnings = repeated_inputs(fileset)
    return result
