"""ROC curves, AUC, background rejection and working points from tagger-score histograms.

ε_S(t) and ε_B(t) are the weighted fractions of signal / background jets with score ≥ t, for every
edge t of the score axis (reversed cumulative sums; the score overflow always passes, the underflow
never does). Simulation datasets only, each scaled by its metadata weight.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import hist
import numpy as np

from boostjet.analysis.efficiency import (
    ONE_SIGMA,
    Metadata,
    dataset_weights,
    efficiency,
    get_histogram,
    inner_slice,
    require_axes,
    simulation_datasets,
    summed,
    to_jsonable,
    with_flow,
)
from boostjet.errors import HistogramError
from boostjet.histograms import SCORE_AXES, is_baseline, score_key, working_point_name

log = logging.getLogger(__name__)

REJECTION_TARGETS = (0.3, 0.5)
WORKING_POINT_TARGETS = (0.3, 0.5, 0.7)


@dataclasses.dataclass(frozen=True)
class Rejection:
    """Background rejection 1/ε_B at a signal efficiency, interpolated between score edges.

    ``lower``/``upper`` come from the Clopper–Pearson interval on ε_B at that threshold (the
    statistical uncertainty of the signal efficiency is not included). ``value`` and ``upper`` are
    inf when no background jet passes.
    """

    eff_signal: float
    threshold: float
    eff_background: float
    value: float
    lower: float
    upper: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready numbers (inf as None); the signal efficiency is the key they are filed
        under (see :meth:`RocCurve.to_dict`)."""
        return to_jsonable(
            {
                "value": self.value,
                "lower": self.lower,
                "upper": self.upper,
                "threshold": self.threshold,
                "eff_background": self.eff_background,
            }
        )


@dataclasses.dataclass(frozen=True)
class RocCurve:
    """ROC of one pT range: ε_S and ε_B at each score threshold, AUC and derived numbers.

    ``accuracy`` is the balanced accuracy (ε_S + 1 − ε_B) / 2, i.e. for equal signal and background
    priors, maximised over thresholds; it does not depend on the sample composition.
    ``valid`` is False (numbers NaN) when signal or background is empty in this range.
    """

    pt_low: float
    pt_high: float
    thresholds: np.ndarray
    eff_signal: np.ndarray
    eff_background: np.ndarray
    auc: float
    accuracy: float
    accuracy_threshold: float
    rejections: list[Rejection]
    signal_yield: float
    background_yield: float
    valid: bool
    warnings: list[str] = dataclasses.field(default_factory=list)

    def rejection_at(self, eff_signal: float) -> Rejection:
        """The rejection entry for a signal efficiency in ``rejections``."""
        for rejection in self.rejections:
            if np.isclose(rejection.eff_signal, eff_signal):
                return rejection
        raise KeyError(f"no rejection at ε_S = {eff_signal} (have {self.rejections})")

    def to_dict(self) -> dict[str, Any]:
        """The curve's numbers, JSON-ready (NaN and inf as None), without the per-threshold
        arrays: the rejections are keyed by their signal efficiency."""
        return to_jsonable(
            {
                "pt_low": self.pt_low,
                "pt_high": self.pt_high,
                "valid": self.valid,
                "auc": self.auc,
                "balanced_accuracy": self.accuracy,
                "balanced_accuracy_threshold": self.accuracy_threshold,
                "signal_yield": self.signal_yield,
                "background_yield": self.background_yield,
                "rejection": {f"{r.eff_signal:g}": r.to_dict() for r in self.rejections},
            }
        )


@dataclasses.dataclass(frozen=True)
class WorkingPoint:
    """Score threshold (a bin edge) fixed on inclusive simulation at a target ε_S."""

    name: str
    target_eff_signal: float
    threshold: float
    eff_signal: float
    eff_background: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready numbers; the name is the key they are filed under."""
        return to_jsonable(
            {
                "target_eff_signal": self.target_eff_signal,
                "threshold": self.threshold,
                "eff_signal": self.eff_signal,
                "eff_background": self.eff_background,
            }
        )


@dataclasses.dataclass(frozen=True)
class TaggerPerformance:
    """Everything derived from one tagger's score histogram for one signal class."""

    tagger: str
    signal: str
    background: str
    pt_edges: np.ndarray
    inclusive: RocCurve
    per_pt: list[RocCurve]
    working_points: list[WorkingPoint]
    warnings: list[str] = dataclasses.field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (NaN and inf as None), as stored per tagger in summary.json: the
        classes, whether the tagger is a baseline, the whole-pT curve's numbers, the working
        points by name and the curve of each pT bin."""
        return to_jsonable(
            {
                "signal": self.signal,
                "background": self.background,
                "baseline": is_baseline(self.tagger),
                **self.inclusive.to_dict(),
                "working_points": {wp.name: wp.to_dict() for wp in self.working_points},
                "per_pt": [curve.to_dict() for curve in self.per_pt],
            }
        )


def tagger_performance(
    hists: Mapping[str, hist.Hist],
    tagger: str,
    *,
    signal: str = "top",
    background: str = "qcd",
    metadata: Metadata | None = None,
    rejection_targets: Sequence[float] = REJECTION_TARGETS,
    working_point_targets: Sequence[float] = WORKING_POINT_TARGETS,
    coverage: float = ONE_SIGMA,
) -> TaggerPerformance:
    """ROC per pT bin and inclusive, rejections and working points of the tagger's score histogram.

    Datasets flagged ``is_data`` in ``metadata`` are ignored; without metadata every dataset is
    used with weight 1 (data carry truth "data" and so never enter either class).
    """
    key = score_key(tagger)
    h = get_histogram(hists, key)
    require_axes(h, key, SCORE_AXES)
    h = h.project(*SCORE_AXES)
    classes = list(h.axes["truth"])
    for truth in (signal, background):
        if truth not in classes:
            raise HistogramError(
                f"Histogram '{key}' has no truth class {truth!r} (it has {classes})."
            )
    datasets = simulation_datasets(h, metadata)
    if not datasets:
        raise HistogramError(f"Histogram '{key}' holds no simulation dataset.")
    weights = dataset_weights(h, key, datasets, metadata)
    sig, _ = summed(h, key, datasets, weights, truth=[signal])
    bkg, bkg_var = summed(h, key, datasets, weights, truth=[background])
    pt_inner = inner_slice(h.axes["pt"])
    sig, bkg, bkg_var = (a[pt_inner] for a in (sig, bkg, bkg_var))
    score_axis = h.axes["score"]
    pt_edges = h.axes["pt"].edges

    def curve(index: slice, low: float, high: float) -> RocCurve:
        return roc_curve(
            with_flow(sig[index].sum(axis=0), score_axis),
            with_flow(bkg[index].sum(axis=0), score_axis),
            with_flow(bkg_var[index].sum(axis=0), score_axis),
            score_axis.edges,
            pt_range=(low, high),
            rejection_targets=rejection_targets,
            coverage=coverage,
        )

    inclusive = curve(slice(None), pt_edges[0], pt_edges[-1])
    per_pt = [
        curve(slice(i, i + 1), pt_edges[i], pt_edges[i + 1]) for i in range(len(pt_edges) - 1)
    ]
    working_points = [working_point(inclusive, target) for target in working_point_targets]
    warnings = [f"{key}: {w}" for c in [inclusive, *per_pt] for w in c.warnings]
    for message in warnings:
        log.warning(message)
    return TaggerPerformance(
        tagger=tagger,
        signal=signal,
        background=background,
        pt_edges=pt_edges,
        inclusive=inclusive,
        per_pt=per_pt,
        working_points=working_points,
        warnings=warnings,
    )


def roc_curve(
    signal: np.ndarray,
    background: np.ndarray,
    background_variance: np.ndarray,
    score_edges: np.ndarray,
    *,
    pt_range: tuple[float, float] = (np.nan, np.nan),
    rejection_targets: Sequence[float] = REJECTION_TARGETS,
    coverage: float = ONE_SIGMA,
) -> RocCurve:
    """ROC from score spectra laid out as [underflow, bins..., overflow] (length n_bins + 2).

    Only the background variance is needed (for the interval on 1/ε_B). Problems are returned in
    ``warnings``, not logged.
    """
    warnings = []
    signal_total, background_total = float(signal.sum()), float(background.sum())
    label = f"pT {pt_range[0]:g}–{pt_range[1]:g} GeV"
    for name, total in (("signal", signal_total), ("background", background_total)):
        if total <= 0:
            warnings.append(f"{label}: no {name} jets; ROC undefined (NaN).")
    if warnings:
        nan = np.full(len(score_edges), np.nan)
        return RocCurve(
            pt_low=float(pt_range[0]),
            pt_high=float(pt_range[1]),
            thresholds=np.asarray(score_edges, float),
            eff_signal=nan,
            eff_background=nan,
            auc=np.nan,
            accuracy=np.nan,
            accuracy_threshold=np.nan,
            rejections=[
                Rejection(t, np.nan, np.nan, np.nan, np.nan, np.nan) for t in rejection_targets
            ],
            signal_yield=signal_total,
            background_yield=background_total,
            valid=False,
            warnings=warnings,
        )

    # passing[i] = sum of jets with score ≥ edges[i]; the overflow is the last term
    sig_pass = _reversed_cumsum(signal[1:])
    bkg_pass = _reversed_cumsum(background[1:])
    eff_s = sig_pass / signal_total
    eff_b = bkg_pass / background_total
    # AUC: trapezoid in (ε_B, ε_S) closed by (0, 0) and (1, 1); equals P(s_S > s_B) + P(tie)/2
    auc = float(np.trapezoid(np.r_[0.0, eff_s[::-1], 1.0], np.r_[0.0, eff_b[::-1], 1.0]))
    balanced = 0.5 * (eff_s + 1.0 - eff_b)
    best = int(np.argmax(balanced))

    bkg_pass_var = _reversed_cumsum(background_variance[1:])
    rejections = []
    for target in rejection_targets:
        rejection, message = _rejection(
            target,
            eff_s,
            score_edges,
            bkg_pass,
            bkg_pass_var,
            background_total,
            float(background_variance.sum()),
            coverage,
        )
        rejections.append(rejection)
        if message:
            warnings.append(f"{label}: {message}")
    return RocCurve(
        pt_low=float(pt_range[0]),
        pt_high=float(pt_range[1]),
        thresholds=np.asarray(score_edges, float),
        eff_signal=eff_s,
        eff_background=eff_b,
        auc=auc,
        accuracy=float(balanced[best]),
        accuracy_threshold=float(score_edges[best]),
        rejections=rejections,
        signal_yield=signal_total,
        background_yield=background_total,
        valid=True,
        warnings=warnings,
    )


def working_point(curve: RocCurve, target: float) -> WorkingPoint:
    """The score edge whose ε_S is closest to ``target`` (ties: the higher threshold)."""
    name = working_point_name(target)
    if not curve.valid:
        return WorkingPoint(name, target, np.nan, np.nan, np.nan)
    distance = np.abs(curve.eff_signal - target)
    index = int(np.flatnonzero(distance == distance.min())[-1])
    return WorkingPoint(
        name=name,
        target_eff_signal=target,
        threshold=float(curve.thresholds[index]),
        eff_signal=float(curve.eff_signal[index]),
        eff_background=float(curve.eff_background[index]),
    )


def _rejection(
    target: float,
    eff_s: np.ndarray,
    edges: np.ndarray,
    bkg_pass: np.ndarray,
    bkg_pass_var: np.ndarray,
    bkg_total: float,
    bkg_total_var: float,
    coverage: float,
) -> tuple[Rejection, str]:
    """1/ε_B at ε_S = target, linear in ε_S between the two edges that bracket it."""
    reached = np.flatnonzero(eff_s >= target)
    if reached.size == 0:
        message = f"ε_S = {target} is never reached; 1/ε_B set to NaN."
        return Rejection(target, np.nan, np.nan, np.nan, np.nan, np.nan), message
    i = int(reached[-1])  # highest threshold that still keeps ε_S ≥ target
    j = min(i + 1, len(eff_s) - 1)
    frac = 0.0 if eff_s[i] == eff_s[j] else (eff_s[i] - target) / (eff_s[i] - eff_s[j])
    passed = bkg_pass[i] + frac * (bkg_pass[j] - bkg_pass[i])
    passed_var = bkg_pass_var[i] + frac * (bkg_pass_var[j] - bkg_pass_var[i])
    threshold = float(edges[i] + frac * (edges[j] - edges[i]))
    eff = efficiency(
        np.array([passed]), np.array([bkg_total]), [passed_var], [bkg_total_var], coverage
    )
    eff_b, lower, upper = float(eff.value[0]), float(eff.lower[0]), float(eff.upper[0])
    with np.errstate(divide="ignore"):
        value, low, high = (float(np.divide(1.0, x)) for x in (eff_b, upper, lower))
    message = ""
    if eff_b == 0:
        message = f"no background passes at ε_S = {target}; 1/ε_B is infinite, use its lower bound."
    return Rejection(target, threshold, eff_b, value, low, high), message


def _reversed_cumsum(values: np.ndarray) -> np.ndarray:
    return np.cumsum(values[::-1])[::-1]
