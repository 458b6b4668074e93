"""What a run writes beyond its histograms: summary.json's content and the ROOT export.

The run directory itself (its file names, the staged atomic write, the marker, the lock) is
boostjet/rundir.py's; :func:`write_outputs` hands it this module's summary and ROOT writer.

Inside ``histograms.root`` every histogram is split along its category axes (``dataset``,
``truth``), one ROOT histogram per combination: ``score_cut_based_top/ttbar/top`` is the
``pt × score`` TH2D of dataset ``ttbar``, truth class ``top``. A histogram left with more than three
numeric axes is split further along its leading ones as ``<axis>_<bin index>``.
"""

from __future__ import annotations

import itertools
import platform
from collections.abc import Iterator, Mapping
from dataclasses import asdict
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import hist
import uproot

from boostjet.config import RunConfig
from boostjet.histograms import CUT_BASED, regressor_kinds, tagger_names
from boostjet.models.workingpoints import run_thresholds
from boostjet.pipeline.accounting import RunResult
from boostjet.rundir import write_run
from boostjet.spec import ResolvedModel

#: Packages whose versions go into summary.json.
VERSIONED = ("boostjet", "coffea", "uproot", "awkward", "hist", "torch", "numpy")
_ROOT_MAX_DIMENSIONS = 3


# --- ROOT ------------------------------------------------------------------------------------


def _is_category(axis) -> bool:
    return isinstance(axis, hist.axis.StrCategory | hist.axis.IntCategory)


def _safe(value) -> str:
    return str(value).replace("/", "_").replace(";", "_") or "_"


def root_objects(name: str, histogram: hist.Hist) -> Iterator[tuple[str, hist.Hist]]:
    """``(path, histogram)`` pairs that ROOT can hold: category combinations split off."""
    categories = [axis for axis in histogram.axes if _is_category(axis)]
    for values in itertools.product(*(list(axis) for axis in categories)):
        selection = {axis.name: value for axis, value in zip(categories, values, strict=True)}
        path = "/".join([name, *(_safe(v) for v in values)])
        yield from _split_dense(path, histogram[selection] if selection else histogram)


def _split_dense(path: str, histogram: hist.Hist) -> Iterator[tuple[str, hist.Hist]]:
    if histogram.ndim <= _ROOT_MAX_DIMENSIONS:
        yield path, histogram
        return
    axis = histogram.axes[0]
    for index in range(len(axis)):
        yield from _split_dense(f"{path}/{axis.name}_{index}", histogram[{axis.name: index}])


def write_root(path: Path, histograms: Mapping[str, hist.Hist]) -> None:
    """Every histogram into one ROOT file, named as in the module docstring."""
    with uproot.recreate(path) as out:
        for name, histogram in histograms.items():
            for key, piece in root_objects(name, histogram):
                out[key] = piece


# --- summary ---------------------------------------------------------------------------------


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def versions() -> dict[str, str | None]:
    """Versions of the packages a run depends on, and of Python."""
    return {package: _version(package) for package in VERSIONED} | {
        "python": platform.python_version()
    }


def _weight(config: RunConfig, name: str, processed: int) -> float | None:
    """cross_section × luminosity / events for simulation (None without events), 1 for data."""
    spec = config.datasets[name]
    if spec.is_data:
        return 1.0
    events = spec.events_generated or processed
    return spec.cross_section * config.luminosity / events if events else None


def taggers(models: tuple[ResolvedModel, ...]) -> dict[str, str | None]:
    """Tagger name → signal class, for every ``score_<tagger>`` histogram of the processor."""
    cut_based = {name: signal for signal, name in CUT_BASED.items()}
    signals = {m.name: m.signal for m in models}
    return {
        name: cut_based[name] if name in cut_based else signals[name]
        for name in tagger_names(models)
    }


def summary(config: RunConfig, result: RunResult) -> dict[str, Any]:
    """The content of summary.json."""
    datasets = {}
    for name, account in result.accounts.items():
        spec = config.datasets[name]
        datasets[name] = {
            "files": account.files,
            "is_data": spec.is_data,
            "signal": spec.signal,
            "cross_section_pb": spec.cross_section,
            "events_generated": spec.events_generated,
            "events_read": account.events_read,
            "events_processed": account.events_processed,
            "events_skipped": account.events_skipped,
            "skipped": [asdict(item) for item in account.skipped],
            "fat_jets_selected": account.fat_jets_selected,
            "constituent_refs_unresolved": account.constituent_refs_unresolved,
            "weight": _weight(config, name, account.events_processed),
        }
    return {
        "run": config.name,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "config_sha256": config.digest(),
        "executor": config.executor.model_dump(mode="json"),
        "luminosity_pb": config.luminosity,
        "events_read": sum(d["events_read"] for d in datasets.values()),
        "events_processed": result.events_processed,
        "events_skipped": sum(d["events_skipped"] for d in datasets.values()),
        "wall_time_s": round(result.wall_time, 3),
        "processing_time_s": round(result.processing_time, 3),
        "events_per_second": round(result.events_per_second, 1),
        "chunks_resumed": result.chunks_resumed,
        "dask_workers_lost": result.workers_lost,
        "dask_tasks_rescheduled": result.tasks_rescheduled,
        "warnings": list(result.warnings),
        "datasets": datasets,
        "histograms": sorted(result.histograms),
        "taggers": taggers(result.models),
        "regressors": regressor_kinds(result.models),
        "working_points": list(config.working_points),
        "thresholds": run_thresholds(config, result.models),
        "scale_factors": config.scale_factors.model_dump(mode="json"),
        "versions": versions(),
    }


def write_outputs(
    directory: Path, config: RunConfig, result: RunResult, overwrite: bool = False
) -> Path:
    """Write the run directory (boostjet/rundir.py's :func:`~boostjet.rundir.write_run`) of a
    finished run: its histograms, ROOT file, summary and resolved config."""
    return write_run(
        directory, config, result.histograms, summary(config, result), write_root, overwrite
    )
