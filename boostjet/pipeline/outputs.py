"""The run directory: histograms (UHI JSON, pickle, ROOT), summary.json and the resolved config.

``<output>/<name>/`` is written into a temporary sibling directory and renamed into place only when
every file is complete, so a run directory is either whole or absent. Every directory boostjet
writes holds a marker file (``MARKER``); an existing directory is replaced only with ``overwrite``
and only when it holds the marker of the same command — never anything boostjet did not write.
``output_lock`` keeps a second command from writing the same directory while one is running.

Inside ``histograms.root`` every histogram is split along its category axes (``dataset``,
``truth``), one ROOT histogram per combination: ``score_cut_based_top/ttbar/top`` is the
``pt × score`` TH2D of dataset ``ttbar``, truth class ``top``. A histogram left with more than three
numeric axes is split further along its leading ones as ``<axis>_<bin index>``.

``histograms.uhi.json.gz`` is what boostjet reads back (boostjet/histogram_io.py: data, never
code); ``histograms.pkl`` is for users' own scripts and is never unpickled implicitly.
"""

from __future__ import annotations

import fcntl
import itertools
import json
import os
import pickle
import platform
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import hist
import uproot
import yaml

from boostjet.config import RunConfig
from boostjet.errors import ConfigError
from boostjet.histogram_io import write_histograms
from boostjet.histograms import CUT_BASED, regressor_kinds, tagger_names
from boostjet.models.workingpoints import run_thresholds
from boostjet.pipeline.accounting import RunResult
from boostjet.rundir import CONFIG, HISTOGRAMS, HISTOGRAMS_PICKLE, HISTOGRAMS_ROOT, SUMMARY
from boostjet.spec import ResolvedModel

#: Marks a directory as written by boostjet; it holds {"written_by": "boostjet <command>"}.
MARKER = ".boostjet-output"
#: Packages whose versions go into summary.json.
VERSIONED = ("boostjet", "coffea", "uproot", "awkward", "hist", "torch", "numpy")
_ROOT_MAX_DIMENSIONS = 3


def run_directory(config: RunConfig) -> Path:
    """Where a run's outputs go: ``<output>/<name>``."""
    return Path(config.output) / config.name


def _writer(kind: str) -> str:
    return f"boostjet {kind}"


def _written_by_boostjet(directory: Path, kind: str) -> bool:
    """True when ``directory`` (not a link) holds the marker of ``boostjet <kind>``."""
    marker = directory / MARKER
    if directory.is_symlink() or not marker.is_file():
        return False
    try:
        return json.loads(marker.read_text())["written_by"] == _writer(kind)
    except (OSError, ValueError, TypeError, KeyError):
        return False


def check_output_directory(directory: Path, overwrite: bool, kind: str = "run") -> None:
    """Refuse an existing ``directory`` unless ``overwrite`` and ``boostjet <kind>`` wrote it."""
    if not (directory.exists() or directory.is_symlink()):
        return
    if not _written_by_boostjet(directory, kind):
        raise ConfigError(
            f"output directory {directory} already exists and was not written by "
            f"{_writer(kind)} (it holds no {MARKER} marker of that command), so boostjet will not "
            "replace it; move it away or choose another with --output."
        )
    if not overwrite:
        raise ConfigError(
            f"output directory {directory} already exists; pass --overwrite to replace it "
            "or choose another with --output."
        )


def _lock_descriptor(path: Path) -> int | None:
    """An open descriptor holding an exclusive flock on ``path``; None while another holds it."""
    while True:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(descriptor)
            return None
        opened = os.fstat(descriptor)
        try:
            current = os.stat(path)
        except FileNotFoundError:
            current = None
        if current and (current.st_dev, current.st_ino) == (opened.st_dev, opened.st_ino):
            return descriptor
        os.close(descriptor)  # its holder removed the file as we opened it: lock the new one


@contextmanager
def output_lock(directory: Path) -> Iterator[None]:
    """Hold the lock file ``.<name>.lock`` beside ``directory``, or refuse at once.

    An exclusive ``flock``: the OS releases it however the process ends, so a stale lock file
    never blocks. The file is removed on exit.
    """
    directory = Path(os.path.abspath(directory))
    if not directory.name:
        raise ConfigError(f"the output directory cannot be {directory}; choose another.")
    lock = directory.with_name(f".{directory.name}.lock")
    try:
        directory.parent.mkdir(parents=True, exist_ok=True)
        descriptor = _lock_descriptor(lock)
    except OSError as error:
        raise ConfigError(
            f"cannot write to the output directory {directory.parent} ({error.strerror}); "
            "choose another with --output."
        ) from None
    if descriptor is None:
        raise ConfigError(
            f"{directory} is being written by another boostjet process (it holds {lock}); "
            "wait for it to finish or choose another output directory."
        )
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)
        os.close(descriptor)


@contextmanager
def staged_directory(final: Path, overwrite: bool, kind: str = "run") -> Iterator[Path]:
    """A temporary sibling of ``final`` to write into; it becomes ``final`` on success.

    The stage gets the marker of ``boostjet <kind>`` first. An existing ``final`` is checked
    (:func:`check_output_directory`) before and again after the work, then swapped out by renames
    and deleted; on failure the temporary directory is removed and ``final`` is left as it was.
    """
    final = Path(os.path.abspath(final))
    check_output_directory(final, overwrite, kind)
    final.parent.mkdir(parents=True, exist_ok=True)
    tag = uuid.uuid4().hex[:8]
    stage = final.with_name(f".{final.name}.{tag}.tmp")
    stage.mkdir()
    try:
        (stage / MARKER).write_text(json.dumps({"written_by": _writer(kind)}) + "\n")
        yield stage
        check_output_directory(final, overwrite, kind)
        if final.exists():
            old = final.with_name(f".{final.name}.{tag}.old")
            final.rename(old)
            stage.rename(final)
            shutil.rmtree(old)
        else:
            stage.rename(final)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise


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


def write_root(path: Path, histograms: dict[str, hist.Hist]) -> None:
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
    """Write the histograms (UHI JSON, pickle, ROOT), summary.json and config.yaml into
    ``directory``."""
    with staged_directory(directory, overwrite) as stage:
        write_histograms(stage / HISTOGRAMS, result.histograms)
        with open(stage / HISTOGRAMS_PICKLE, "wb") as stream:
            pickle.dump(result.histograms, stream, protocol=pickle.HIGHEST_PROTOCOL)
        write_root(stage / HISTOGRAMS_ROOT, result.histograms)
        text = json.dumps(summary(config, result), indent=2, allow_nan=False)
        (stage / SUMMARY).write_text(text + "\n")
        resolved = yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
        (stage / CONFIG).write_text(resolved)
    return directory
