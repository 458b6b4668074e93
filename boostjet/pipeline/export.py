"""Training-data export (``boostjet dataset``): per-jet arrays, chunk by chunk, processor code.

Every chunk of every dataset is read with ``NanoEventsFactory.from_root(..., mode="virtual")``,
passed through :func:`~boostjet.processors.tagging.build_jet_inputs` — the very function the
processor uses — and written at once as ``<dataset>/chunk-<n>.npz``, so memory is bounded by the
chunk size. ``manifest.json`` lists the chunk files with their source, entry range and jet count.

Arrays in each ``.npz`` (N selected jets): ``constituents`` [N, P, F] float32, ``mask`` [N, P] bool,
``jet`` [N, J] float32 (``JET_FEATURES``), ``label`` [N] int8 (index into ``TRUTH_CLASSES``;
0 for data, whose truth is unknown), ``target_mass`` and ``target_energy`` [N] float32 (NaN when
there is no matched generator jet), ``entry`` [N] int64 (the event's entry in its file) and
``dataset`` (the dataset name, a 0-d string array).
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import awkward as ak
import numpy as np
from coffea.nanoevents import NanoEventsFactory

from boostjet.config import RunConfig
from boostjet.histograms import TRUTH_CLASSES
from boostjet.pipeline.accounting import DatasetAccount, Skipped
from boostjet.pipeline.fileset import Chunk, Fileset, build_fileset, chunks_of
from boostjet.pipeline.guards import guarded_call
from boostjet.pipeline.progress import chunk_progress
from boostjet.processors.delphes import BoostjetDelphesSchema
from boostjet.processors.tagging import JET_FEATURES, JetInputs, build_jet_inputs
from boostjet.rundir import output_lock, staged_directory
from boostjet.spec import (
    EXPORT_FORMAT,
    EXPORT_MANIFEST,
    ExportedChunk,
    ExportedDataset,
    ExportedJets,
    ExportManifest,
)


def read_chunk(chunk: Chunk):
    """The events of one chunk, read lazily, with the metadata coffea's Runner would attach."""
    metadata = {
        "dataset": chunk.dataset,
        "filename": chunk.path,
        "treename": chunk.tree,
        "entrystart": chunk.start,
        "entrystop": chunk.stop,
    }
    return NanoEventsFactory.from_root(
        {chunk.path: chunk.tree},
        entry_start=chunk.start,
        entry_stop=chunk.stop,
        schemaclass=BoostjetDelphesSchema,
        metadata=metadata,
        mode="virtual",
    ).events()


def chunk_arrays(inputs: JetInputs, chunk: Chunk) -> dict[str, np.ndarray]:
    """The arrays stored for one chunk (`ExportedJets`, see the module docstring)."""
    jets = inputs.jets
    return ExportedJets(
        constituents=inputs.constituents.astype(np.float32, copy=False),
        mask=inputs.mask.astype(bool, copy=False),
        jet=inputs.jet_matrix(),
        label=ak.to_numpy(jets.label).astype(np.int8),
        target_mass=ak.to_numpy(jets.target_mass).astype(np.float32),
        target_energy=ak.to_numpy(jets.target_energy).astype(np.float32),
        entry=ak.to_numpy(jets.event).astype(np.int64) + chunk.start,
        dataset=np.array(chunk.dataset),
    )._asdict()


def _export_chunk(
    stage: Path, index: int, chunk: Chunk, config: RunConfig, is_data: bool
) -> ExportedChunk | Skipped:
    """Write one chunk; returns its manifest entry, or a Skipped record when it failed."""
    settings = config.executor
    inputs, failure = guarded_call(
        lambda events: build_jet_inputs(events, config, is_data),
        read_chunk(chunk),
        settings.skip_bad_files,
        settings.retries,
    )
    if failure is not None:
        if failure["error"] is not None and not settings.skip_bad_files:
            raise failure["error"]
        return Skipped(chunk.path, chunk.start, chunk.stop, chunk.events, failure["reason"])
    relative = Path(chunk.dataset) / f"chunk-{index:05d}.npz"
    arrays = chunk_arrays(inputs, chunk)
    with open(stage / relative, "wb") as stream:
        np.savez(stream, **arrays)
    counts = np.bincount(arrays["label"], minlength=len(TRUTH_CLASSES))
    return ExportedChunk(
        path=relative.as_posix(),
        source=chunk.path,
        entry_start=chunk.start,
        entry_stop=chunk.stop,
        jets=len(arrays["label"]),
        counts=dict(zip(TRUTH_CLASSES, counts.tolist(), strict=True)),
    )


def _dataset_entry(
    config: RunConfig, name: str, account: DatasetAccount, files: list[ExportedChunk]
) -> ExportedDataset:
    spec = config.datasets[name]
    counts = {label: sum(f.counts[label] for f in files) for label in TRUTH_CLASSES}
    return ExportedDataset(
        is_data=spec.is_data,
        signal=spec.signal,
        jets=sum(f.jets for f in files),
        counts_per_class=counts,
        events_read=account.events_read,
        events_processed=account.events_processed,
        events_skipped=account.events_skipped,
        skipped=[asdict(item) for item in account.skipped],
        files=files,
    )


def _export(stage: Path, config: RunConfig, fileset: Fileset) -> dict[str, ExportedDataset]:
    chunks = chunks_of(fileset, config.tree, config.executor.chunksize)
    accounts = {name: DatasetAccount() for name in config.datasets}
    files: dict[str, list[ExportedChunk]] = {name: [] for name in config.datasets}
    for name, items in fileset.items():
        (stage / name).mkdir()
        for item in items:
            accounts[name].events_read += item.entries or 0
            if not item.ok:
                accounts[name].skipped.append(
                    Skipped(item.path, 0, item.entries, item.entries, item.problem)
                )
    with chunk_progress(len(chunks), "Exporting") as advance:
        for chunk in chunks:
            is_data = config.datasets[chunk.dataset].is_data
            index = len(files[chunk.dataset])
            entry = _export_chunk(stage, index, chunk, config, is_data)
            if isinstance(entry, Skipped):
                accounts[chunk.dataset].skipped.append(entry)
            else:
                accounts[chunk.dataset].events_processed += chunk.events
                files[chunk.dataset].append(entry)
            advance()
    for name, account in accounts.items():
        account.check(name)
    return {name: _dataset_entry(config, name, accounts[name], files[name]) for name in accounts}


def export_dataset(config: RunConfig, output: Path, overwrite: bool = False) -> ExportManifest:
    """Export every dataset of ``config`` into ``output``; returns the manifest.

    ``output`` is locked for the whole export (:func:`~boostjet.rundir.output_lock`)
    and replaced, with ``overwrite``, only when it is an earlier ``boostjet dataset`` export.
    """
    output = Path(output)
    with output_lock(output), staged_directory(output, overwrite, kind="dataset") as stage:
        fileset = build_fileset(config)
        manifest = ExportManifest(
            format=EXPORT_FORMAT,
            config_sha256=config.digest(),
            constituent_features=config.constituents.features,
            jet_features=JET_FEATURES,
            truth_classes=TRUTH_CLASSES,
            n_constituents=config.constituents.n_constituents,
            chunksize=config.executor.chunksize,
            datasets=_export(stage, config, fileset),
        )
        (stage / EXPORT_MANIFEST).write_text(manifest.to_json())
    return manifest
