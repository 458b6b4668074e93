"""The guard around the processor: a failing chunk becomes data, not an exception.

Every route runs the same :class:`ChunkGuard`. It turns a failing chunk into a ``failures`` entry
with the file, entry range and reason, instead of an exception that coffea would wrap and pickle
away: a :class:`~boostjet.errors.BoostjetError` raised in a worker reaches the command line as the
very same sentence, and under ``skip_bad_files`` the chunk is listed as skipped.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from coffea import processor

from boostjet.errors import BoostjetError, InputDataError
from boostjet.pipeline import checkpoint as checkpoints
from boostjet.pipeline.baskets import read_problem
from boostjet.processors.delphes import chunk_name


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
