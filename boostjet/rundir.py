"""The run directory: its file names, atomic single-file writes, and the one way to read it back.

``boostjet run`` writes ``<output>/<name>/`` (boostjet/pipeline/outputs.py) with the histograms
as :data:`HISTOGRAMS` (UHI JSON, boostjet/histogram_io.py: reading it runs no code),
:data:`HISTOGRAMS_PICKLE` (for users' own scripts, never unpickled implicitly) and
:data:`HISTOGRAMS_ROOT`, the run summary :data:`SUMMARY` and the resolved configuration
:data:`CONFIG`; the analysis adds :data:`REPORT_MARKDOWN`, :data:`REPORT_HTML`, the figures in
:data:`PLOTS`, the scale factors as correctionlib JSON :data:`SCALE_FACTORS` and the ``analysis``
key of the summary.
"""

from __future__ import annotations

import json
import os
import pickle
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import hist

from boostjet.errors import HistogramError
from boostjet.histogram_io import read_histograms

HISTOGRAMS = "histograms.uhi.json.gz"
HISTOGRAMS_PICKLE = "histograms.pkl"
HISTOGRAMS_ROOT = "histograms.root"
SUMMARY = "summary.json"
CONFIG = "config.yaml"
REPORT_MARKDOWN = "report.md"
REPORT_HTML = "report.html"
PLOTS = "plots"
SCALE_FACTORS = "scale_factors.json"


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
