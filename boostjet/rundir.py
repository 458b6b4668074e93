"""The run directory: its location, file names, the one writer and the one way to read it back.

``boostjet run`` writes ``<output>/<name>/`` (:func:`run_directory`, :func:`write_run`) with the
histograms as :data:`HISTOGRAMS` (UHI JSON, boostjet/histogram_io.py: reading it runs no code),
:data:`HISTOGRAMS_PICKLE` (for users' own scripts, never unpickled implicitly) and
:data:`HISTOGRAMS_ROOT`, the run summary :data:`SUMMARY` and the resolved configuration
:data:`CONFIG`; the analysis adds :data:`REPORT_MARKDOWN`, :data:`REPORT_HTML`, the figures in
:data:`PLOTS`, the scale factors as correctionlib JSON :data:`SCALE_FACTORS` and the ``analysis``
key of the summary (:func:`rewrite_summary`). The checkpoints of a run that has not finished lie
beside it, in :func:`checkpoint_directory`.

Every directory boostjet writes (a run directory, a training-data export) is written into a
temporary sibling and renamed into place only when every file is complete
(:func:`staged_directory`), so it is whole or absent. It holds a marker file (:data:`MARKER`); an
existing directory is replaced only with ``overwrite`` and only when it holds the marker of the same
command — never anything boostjet did not write. :func:`output_lock` keeps a second command from
writing the same directory while one is running.
"""

from __future__ import annotations

import fcntl
import json
import os
import pickle
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import hist
import yaml

from boostjet.config import RunConfig
from boostjet.errors import ConfigError, HistogramError
from boostjet.histogram_io import read_histograms, write_histograms

HISTOGRAMS = "histograms.uhi.json.gz"
HISTOGRAMS_PICKLE = "histograms.pkl"
HISTOGRAMS_ROOT = "histograms.root"
SUMMARY = "summary.json"
CONFIG = "config.yaml"
REPORT_MARKDOWN = "report.md"
REPORT_HTML = "report.html"
PLOTS = "plots"
SCALE_FACTORS = "scale_factors.json"
#: Marks a directory as written by boostjet; it holds {"written_by": "boostjet <command>"}.
MARKER = ".boostjet-output"


def run_directory(config: RunConfig) -> Path:
    """Where a run's outputs go: ``<output>/<name>``."""
    return Path(config.output) / config.name


def checkpoint_directory(config: RunConfig) -> Path:
    """Where a run keeps its checkpoints until its run directory is written:
    ``<output>/.<name>.partial`` (absolute, so that worker processes find it too)."""
    return (Path(config.output) / f".{config.name}.partial").absolute()


# --- writing ---------------------------------------------------------------------------------


def write_run(
    directory: Path,
    config: RunConfig,
    histograms: Mapping[str, hist.Hist],
    summary: Mapping[str, Any],
    write_root: Callable[[Path, Mapping[str, hist.Hist]], object],
    overwrite: bool = False,
) -> Path:
    """Write a finished run into ``directory`` at once (:func:`staged_directory`): the histograms
    (UHI JSON, pickle, and ROOT through ``write_root``), the summary and the resolved config."""
    with staged_directory(directory, overwrite) as stage:
        write_histograms(stage / HISTOGRAMS, histograms)
        with open(stage / HISTOGRAMS_PICKLE, "wb") as stream:
            pickle.dump(histograms, stream, protocol=pickle.HIGHEST_PROTOCOL)
        write_root(stage / HISTOGRAMS_ROOT, histograms)
        text = json.dumps(summary, indent=2, allow_nan=False)
        (stage / SUMMARY).write_text(text + "\n")
        resolved = yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
        (stage / CONFIG).write_text(resolved)
    return directory


def rewrite_summary(run_dir: str | Path, summary: Mapping[str, Any]) -> None:
    """Replace the :data:`SUMMARY` of a finished run (the analysis adds its key) atomically."""
    text = json.dumps(summary, indent=2, ensure_ascii=False)
    write_atomic(Path(run_dir) / SUMMARY, text + "\n")


def adopt_pickle(run_dir: str | Path) -> None:
    """Save the histograms of an older run directory, which has only :data:`HISTOGRAMS_PICKLE`
    (trusted by the caller), as its :data:`HISTOGRAMS`."""
    write_histograms(Path(run_dir) / HISTOGRAMS, load_histograms(run_dir, trust_pickle=True))


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path``, then rename it over ``path``."""
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    with tempfile.NamedTemporaryFile(
        "w", encoding="utf-8", dir=path.parent, prefix=f".{path.name}.", delete=False
    ) as stream:
        stream.write(text)
        stream.flush()
        os.fsync(stream.fileno())
    try:
        os.chmod(stream.name, mode)
        os.replace(stream.name, path)
    except OSError:
        Path(stream.name).unlink(missing_ok=True)
        raise


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


# --- reading ---------------------------------------------------------------------------------


def load_histograms(run_dir: str | Path, trust_pickle: bool = False) -> dict[str, hist.Hist]:
    """The histograms of a finished run, from its :data:`HISTOGRAMS`.

    A run directory of an older boostjet has only :data:`HISTOGRAMS_PICKLE`: it is refused with a
    sentence, or unpickled with ``trust_pickle`` (for run directories the caller trusts).
    """
    directory = Path(run_dir)
    path, pickled = directory / HISTOGRAMS, directory / HISTOGRAMS_PICKLE
    if path.is_file():
        return read_histograms(path)
    if not pickled.is_file():
        raise HistogramError(
            f"{directory} has no {HISTOGRAMS}; is it the output directory of a completed "
            "`boostjet run`?"
        )
    if not trust_pickle:
        raise HistogramError(
            f"{directory} has {HISTOGRAMS_PICKLE} but no {HISTOGRAMS} (an older boostjet wrote "
            "it), and unpickling a file runs any code it holds: if you trust who wrote it, run "
            f"`boostjet report {directory} --trust-pickle`, else run `boostjet run` again."
        )
    return _unpickle(pickled)


def load_summary(run_dir: str | Path) -> dict[str, Any]:
    """The :data:`SUMMARY` of a finished run, with a ``datasets`` mapping of mappings, or
    HistogramError naming the file."""
    path = Path(run_dir) / SUMMARY
    if not path.is_file():
        raise HistogramError(
            f"{path} does not exist: is {run_dir} the output directory of a boostjet run?"
        )
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise HistogramError(f"{path} is not valid JSON ({exc}).") from None
    if not isinstance(summary, dict) or not isinstance(summary.get("datasets"), dict):
        raise HistogramError(
            f"{path} is not a boostjet run summary: it has no 'datasets' mapping "
            "(dataset name → metadata)."
        )
    for name, info in summary["datasets"].items():
        if not isinstance(info, dict):
            raise HistogramError(f"{path}: datasets.{name} must be a mapping of metadata.")
    return summary


def _unpickle(path: Path) -> dict[str, hist.Hist]:
    """The pickled ``dict[str, hist.Hist]`` at ``path`` (trusted by the caller)."""
    try:
        with path.open("rb") as stream:
            histograms = pickle.load(stream)
    except Exception as error:  # unpickling fails in many ways (EOF, missing class, bad opcode)
        raise HistogramError(f"{path} cannot be unpickled ({type(error).__name__}).") from None
    if not isinstance(histograms, Mapping) or not all(
        isinstance(name, str) and isinstance(h, hist.Hist) for name, h in histograms.items()
    ):
        raise HistogramError(f"{path} does not hold a dictionary of hist.Hist histograms.")
    return dict(histograms)
