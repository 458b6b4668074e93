"""Run the boostjet processor over a fileset on one of coffea's executors, accounting every event.

Routes (``executor.type``): ``iterative`` and ``futures`` (coffea ``Runner`` in this process or a
local process pool), ``dask`` (``Runner`` + ``DaskExecutor`` on a cluster from clusters.py: a
``LocalCluster`` boostjet starts, an existing scheduler, or a batch system through dask-jobqueue),
and ``dask-awkward`` (``coffea.dataset_tools.apply_to_fileset``: one dask task per partition, on the
same clusters).

Every route runs the same :class:`~boostjet.pipeline.guards.ChunkGuard` around the processor, so a
failing chunk arrives as data; the accounting identity events read = processed + skipped is then
checked (accounting.py).
"""

from __future__ import annotations

import time
import uuid
import warnings
from pathlib import Path

import awkward as ak
import hist
from coffea import processor
from coffea.processor import accumulate
from coffea.processor.executor import WorkItem

from boostjet.config import RunConfig
from boostjet.errors import ConfigError, InputDataError, InputFileError
from boostjet.pipeline import checkpoint as checkpoints
from boostjet.pipeline import interrupt
from boostjet.pipeline.accounting import RunResult, chunk_order, dataset_accounts
from boostjet.pipeline.baskets import read_problem
from boostjet.pipeline.clusters import dask_client, worker_losses
from boostjet.pipeline.fileset import (
    Chunk,
    Fileset,
    build_fileset,
    chunks_of,
    coffea_fileset,
    open_tree,
    repeated_inputs,
    shower_weight_files,
)
from boostjet.pipeline.guards import ChunkGuard
from boostjet.pipeline.preflight import resolve_models
from boostjet.pipeline.progress import chunk_progress, say
from boostjet.processors.delphes import BoostjetDelphesSchema
from boostjet.processors.tagging import BoostedJetProcessor
from boostjet.spec import ResolvedModel


def _work_item(chunk: Chunk) -> WorkItem:
    """The coffea work item of a chunk (coffea keeps the file UUID as 16 bytes)."""
    file_uuid = uuid.UUID(chunk.uuid).bytes if chunk.uuid else b""
    return WorkItem(chunk.dataset, chunk.path, chunk.tree, chunk.start, chunk.stop, file_uuid)


def _run_runner(executor, chunks: list[Chunk], guard: ChunkGuard, config: RunConfig) -> dict:
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


def _run_dask_awkward(
    client, fileset: Fileset, chunks: list[Chunk], guard: ChunkGuard, config: RunConfig
):
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


def _execute(
    config: RunConfig, fileset: Fileset, chunks: list[Chunk], guard: ChunkGuard, losses: dict
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
        lost, rescheduled = worker_losses(client, events_before)
        losses.update(workers_lost=lost, tasks_rescheduled=rescheduled)
        return result


# --- output -------------------------------------------------------------------------------------


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
        raise min(failures, key=chunk_order)["error"]


def _chunk_key(chunk: Chunk) -> str:
    return checkpoints.chunk_key(chunk.dataset, chunk.path, chunk.start, chunk.stop)


def execute(
    config: RunConfig,
    fileset: Fileset,
    processor_instance=None,
    checkpoint: Path | None = None,
    resume: bool = False,
    models: tuple[ResolvedModel, ...] = (),
) -> RunResult:
    """Run ``processor_instance`` (default: the boostjet processor evaluating ``models``, the
    pre-flight's records of the configured models) over a checked fileset.

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
    inner = processor_instance or BoostedJetProcessor(config, models, shower_weight_files(fileset))
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
        failures = sorted(output["failures"], key=chunk_order)
        raise InputDataError(
            f"nothing was processed: all {len(failures)} chunks were skipped; "
            f"the first: {failures[0]['reason']}"
        )
    order = list(config.datasets)
    histograms = {
        name: _ordered_datasets(h, order) for name, h in output.get("histograms", {}).items()
    }
    accounts = dataset_accounts(config, fileset, output)
    return RunResult(
        histograms,
        accounts,
        time.perf_counter() - start,
        processing_time,
        chunks_resumed=len(resumed),
        models=models,
        **losses,
    )


def run(
    config: RunConfig, checkpoint: Path | None = None, resume: bool = False, processor_instance=None
) -> RunResult:
    """Pre-flight every file and model, then run the processor: ``boostjet run`` but output."""
    start = time.perf_counter()
    models = resolve_models(config)
    fileset = build_fileset(config)
    result = execute(config, fileset, processor_instance, checkpoint, resume, models)
    result.wall_time = time.perf_counter() - start
    result.warnings = repeated_inputs(fileset)
    return result
