"""Fault injection for the reliability tests (docs/reliability.md); never used by a normal run.

Processor wrappers that slow chunks down or make them fail, so that a test can kill a worker or
interrupt a run at a known point. They live in the package (not in tests/) because dask workers
unpickle them by importing this module.
"""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

from coffea import processor


class DelayedProcessor(processor.ProcessorABC):
    """Before each chunk: write a marker file ``<pid>-<entrystart>-<random>`` into ``markers``
    (when given), then sleep ``delay`` seconds, then run ``inner``."""

    def __init__(self, inner, delay: float, markers: str | None = None):
        self.inner, self.delay, self.markers = inner, delay, markers

    def process(self, events):
        if self.markers:
            start = events.metadata["entrystart"]
            name = f"{os.getpid()}-{start}-{uuid.uuid4().hex[:6]}"
            (Path(self.markers) / name).touch()
        time.sleep(self.delay)
        return self.inner.process(events)

    def postprocess(self, accumulator):
        return accumulator


class InjectedFault(RuntimeError):
    """The failure :class:`FailingProcessor` raises: not a BoostjetError, like a real bug."""


class FailingProcessor(processor.ProcessorABC):
    """Raises :class:`InjectedFault` on the chunks of ``file`` (any file when None) that start at
    or after entry ``from_entry``; runs ``inner`` on every other chunk."""

    def __init__(self, inner, from_entry: int, file: str | None = None):
        self.inner, self.from_entry, self.file = inner, from_entry, file

    def process(self, events):
        meta = events.metadata
        if meta["entrystart"] >= self.from_entry and self.file in (None, meta["filename"]):
            raise InjectedFault(f"injected fault at entry {meta['entrystart']}")
        return self.inner.process(events)

    def postprocess(self, accumulator):
        return accumulator
