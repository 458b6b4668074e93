"""What a run directory holds, checked: histograms, summary, taggers, regressors, training logs.

Tagger signal classes come from ``summary["taggers"]`` and regressor kinds from
``summary["regressors"]``. When a key is absent they are derived from the histogram names, with a
warning (boostjet/histograms.py: a tagger is a W tagger when ``w`` is one of the
underscore-separated words of its name, else a top tagger; a regressor is an energy regressor when
its name starts with ``energy`` or it has an energy-response histogram, else a mass regressor).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import hist

from boostjet.analysis.efficiency import get_histogram, require_axes
from boostjet.analysis.roc import WORKING_POINT_TARGETS
from boostjet.errors import HistogramError
from boostjet.histograms import (
    CUT_BASED,
    ENERGY_RESPONSE_AXES,
    RESPONSE_AXES,
    SCORE_AXES,
    energy_response_key,
    regressors_in,
    response_key,
    score_key,
    signal_from_name,
    taggers_in,
)
from boostjet.rundir import SUMMARY, load_histograms, load_summary


@dataclasses.dataclass(frozen=True)
class Run:
    """What a run directory holds: histograms, summary and what the analysis derives from it."""

    directory: Path
    name: str
    hists: dict[str, hist.Hist]
    summary: dict[str, Any]
    metadata: dict[str, dict[str, Any]]
    taggers: dict[str, str]
    regressors: dict[str, str]
    working_points: list[float]
    loss_curves: dict[str, dict[str, list[float]]]
    warnings: list[str]


def load_run(run_dir: str | Path) -> Run:
    """Histograms and summary of ``run_dir``, checked, with taggers and regressors resolved."""
    directory = Path(run_dir)
    hists = load_histograms(directory)
    summary = load_summary(directory)
    given = summary.get("warnings", [])  # from the run itself, e.g. input files read twice
    warnings = [str(note) for note in given] if isinstance(given, list) else []
    taggers = tagger_signals(summary, hists, warnings)
    regressors = regressor_kinds(summary, hists, warnings)
    for tagger in taggers:
        require_axes(get_histogram(hists, score_key(tagger)), score_key(tagger), SCORE_AXES)
    for regressor, kind in regressors.items():
        key = response_key(regressor)
        require_axes(get_histogram(hists, key), key, RESPONSE_AXES)
        energy_key = energy_response_key(regressor)
        if kind == "energy" and energy_key in hists:
            require_axes(hists[energy_key], energy_key, ENERGY_RESPONSE_AXES)
    targets = summary.get("working_points", list(WORKING_POINT_TARGETS))
    if not isinstance(targets, list) or not all(
        isinstance(t, int | float) and 0 < t < 1 for t in targets
    ):
        raise HistogramError(
            f"{directory / SUMMARY}: 'working_points' must be a list of signal efficiencies "
            f"between 0 and 1 (got {targets!r})."
        )
    return Run(
        directory=directory,
        name=str(summary.get("run") or directory.name),
        hists=hists,
        summary=summary,
        metadata=dataset_metadata(summary["datasets"], warnings),
        taggers=taggers,
        regressors=regressors,
        working_points=[float(t) for t in targets],
        loss_curves=load_loss_curves(directory, summary, warnings),
        warnings=warnings,
    )


def tagger_signals(
    summary: Mapping[str, Any], hists: Mapping[str, hist.Hist], warnings: list[str]
) -> dict[str, str]:
    """Tagger → signal class ("top" or "w"), from the summary or else from the tagger's name.

    A tagger listed in the summary with signal null (a model without one in its metadata) gets
    its signal from its name too.
    """
    declared = summary.get("taggers")
    if declared is None:
        declared = dict.fromkeys(taggers_in(hists))
    elif not isinstance(declared, dict) or any(
        s not in (*CUT_BASED, None) for s in declared.values()
    ):
        raise HistogramError(
            f"{SUMMARY}: 'taggers' must map tagger names to 'top' or 'w' (got {declared!r})."
        )
    derived = {n: signal_from_name(n) for n, s in declared.items() if s is None}
    if derived:
        warnings.append(f"{SUMMARY} gives no signal class: derived from tagger names {derived}.")
    return {n: s or derived[n] for n, s in declared.items()}


def regressor_kinds(
    summary: Mapping[str, Any], hists: Mapping[str, hist.Hist], warnings: list[str]
) -> dict[str, str]:
    """Regressor → "mass" or "energy", from the summary or else from histogram names."""
    declared = summary.get("regressors")
    if declared is not None:
        if not isinstance(declared, dict) or any(
            k not in ("mass", "energy") for k in declared.values()
        ):
            raise HistogramError(
                f"{SUMMARY}: 'regressors' must map regressor names to 'mass' or 'energy' "
                f"(got {declared!r})."
            )
        return dict(declared)
    kinds = {
        n: "energy" if n.startswith("energy") or energy_response_key(n) in hists else "mass"
        for n in regressors_in(hists)
    }
    if kinds:
        warnings.append(
            f"{SUMMARY} has no 'regressors': kinds derived from histogram names {kinds}."
        )
    return kinds


def load_loss_curves(
    directory: Path, summary: Mapping[str, Any], warnings: list[str]
) -> dict[str, dict[str, list[float]]]:
    """Training logs from ``summary["loss_curves"]`` and ``training/<model>/history.json``.

    A log is a mapping of lists: ``epoch`` and ``train_loss`` and/or ``val_loss``. Unusable logs
    are skipped with a warning; the summary's entry wins over a file for the same model.
    """
    logs: dict[str, Any] = dict(summary.get("loss_curves") or {})
    for path in sorted(directory.glob("training/*/history.json")):
        try:
            logs.setdefault(path.parent.name, json.loads(path.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            warnings.append(f"{path} is not readable JSON ({exc}); no loss curve for it.")
    usable = {}
    for model, log in logs.items():
        problem = _loss_log_problem(log)
        if problem:
            warnings.append(f"training log of {model}: {problem}; no loss-curve plot.")
        else:
            usable[model] = log
    return usable


def _loss_log_problem(log: Any) -> str:
    if not isinstance(log, Mapping) or "epoch" not in log:
        return "not a mapping with an 'epoch' list"
    losses = [name for name in ("train_loss", "val_loss") if name in log]
    if not losses:
        return "neither 'train_loss' nor 'val_loss'"
    lengths = {name: len(log[name]) for name in ("epoch", *losses) if isinstance(log[name], list)}
    if len(lengths) != 1 + len(losses) or len(set(lengths.values())) != 1:
        return f"lists of different lengths or types ({lengths})"
    return "" if lengths["epoch"] else "no epochs"


def dataset_metadata(
    datasets: Mapping[str, Mapping[str, Any]], warnings: list[str]
) -> dict[str, dict[str, Any]]:
    """The summary's dataset entries, checked: event accounting, and a usable ``weight``.

    Every event read must be processed or skipped (DESIGN: nothing silently dropped). A null
    weight (simulation without processed events) becomes 0, with a warning.
    """
    metadata = {}
    for name, info in datasets.items():
        counts = [info.get(k) for k in ("events_read", "events_processed", "events_skipped")]
        if all(isinstance(c, int) for c in counts) and counts[0] != counts[1] + counts[2]:
            warnings.append(
                f"Dataset {name}: events read ({counts[0]}) ≠ processed ({counts[1]}) + "
                f"skipped ({counts[2]})."
            )
        weight = info.get("weight", 1.0)
        if weight is None:
            warnings.append(f"Dataset {name} has no weight (no events processed?); it counts 0.")
            weight = 0.0
        if not isinstance(weight, int | float) or isinstance(weight, bool):
            raise HistogramError(f"{SUMMARY}: datasets.{name}.weight is not a number ({weight!r}).")
        metadata[name] = {**info, "weight": float(weight)}
    return metadata
