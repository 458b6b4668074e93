"""Data/simulation tagging scale factors SF = ε_data / ε_MC per working point and pT bin.

ε_MC: simulated jets of the signal truth class with score ≥ threshold over all of them.
ε_data: data jets passing over all data jets. A data selection is a mixture of signal and
background, so by default the simulated background (every simulated truth class other than the
signal, scaled to data by the metadata weights) is subtracted from both numerator and denominator
first; the result records that it did so and how much it subtracted.

Datasets enter a scale factor for signal ``s`` when their metadata ``signal`` is ``s`` or unset.
The SF uncertainty is linear propagation of the symmetrised Clopper–Pearson half-widths:
σ_SF² = (σ_data / ε_MC)² + (ε_data · σ_MC / ε_MC²)².
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
    Efficiency,
    Metadata,
    bin_list,
    dataset_weights,
    efficiency,
    get_histogram,
    inner_slice,
    require_axes,
    summed,
    to_jsonable,
    with_flow,
)
from boostjet.analysis.roc import WorkingPoint
from boostjet.errors import HistogramError
from boostjet.histograms import DATA_TRUTH, SCORE_AXES, score_key

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class ScaleFactor:
    """SF per pT bin for one tagger and working point, with both efficiencies behind it.

    ``value``/``error`` are NaN exactly where ``valid`` is False (ε_MC or ε_data undefined, or
    ε_MC = 0); ``warnings`` says why. ``subtracted_passing``/``subtracted_total`` are the simulated
    background yields removed from the data (zeros when ``background_subtracted`` is False).
    """

    tagger: str
    signal: str
    working_point: str
    threshold: float
    pt_edges: np.ndarray
    eff_mc: Efficiency
    eff_data: Efficiency
    value: np.ndarray
    error: np.ndarray
    valid: np.ndarray
    background_subtracted: bool
    background_classes: list[str]
    subtracted_passing: np.ndarray
    subtracted_total: np.ndarray
    data_datasets: list[str]
    mc_datasets: list[str]
    coverage: float
    warnings: list[str] = dataclasses.field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (arrays as lists, NaN and inf as None), as stored per tagger and
        working point in summary.json: SF and both efficiencies per pT bin, and what was used."""
        return to_jsonable(
            {
                "signal": self.signal,
                "threshold": self.threshold,
                "pt_edges": self.pt_edges,
                "value": self.value,
                "error": self.error,
                "eff_mc": self.eff_mc.value,
                "eff_mc_error": self.eff_mc.error,
                "eff_data": self.eff_data.value,
                "eff_data_error": self.eff_data.error,
                "background_subtracted": self.background_subtracted,
                "background_classes": self.background_classes,
                "data_datasets": self.data_datasets,
                "mc_datasets": self.mc_datasets,
            }
        )


def scale_factors(
    hists: Mapping[str, hist.Hist],
    tagger: str,
    working_points: Sequence[WorkingPoint],
    metadata: Metadata,
    *,
    signal: str = "top",
    background_classes: Sequence[str] | None = None,
    subtract_background: bool = True,
    coverage: float = ONE_SIGMA,
) -> list[ScaleFactor]:
    """One :func:`scale_factor` per working point (thresholds fixed in simulation by roc)."""
    return [
        scale_factor(
            hists,
            tagger,
            wp.threshold,
            metadata,
            signal=signal,
            working_point=wp.name,
            background_classes=background_classes,
            subtract_background=subtract_background,
            coverage=coverage,
        )
        for wp in working_points
    ]


def scale_factor(
    hists: Mapping[str, hist.Hist],
    tagger: str,
    threshold: float,
    metadata: Metadata,
    *,
    signal: str = "top",
    working_point: str = "",
    background_classes: Sequence[str] | None = None,
    subtract_background: bool = True,
    coverage: float = ONE_SIGMA,
) -> ScaleFactor:
    """SF = ε_data / ε_MC per pT bin for jets with score ≥ ``threshold`` (a score-axis edge)."""
    key = score_key(tagger)
    h = get_histogram(hists, key)
    require_axes(h, key, SCORE_AXES)
    h = h.project(*SCORE_AXES)
    warnings: list[str] = []
    for dataset in h.axes["dataset"]:
        if dataset not in metadata:
            raise HistogramError(
                f"Dataset '{dataset}' of histogram '{key}' has no entry in the metadata."
            )
    selected = [d for d in h.axes["dataset"] if metadata[d].get("signal") in (None, signal)]
    data = [d for d in selected if metadata[d].get("is_data", False)]
    simulation = [d for d in selected if not metadata[d].get("is_data", False)]
    if not simulation:
        raise HistogramError(
            f"Histogram '{key}' holds no simulation dataset for signal {signal!r}."
        )
    if signal not in h.axes["truth"]:
        raise HistogramError(f"Histogram '{key}' has no truth class {signal!r}.")
    if background_classes is None:
        background_classes = [t for t in h.axes["truth"] if t not in (signal, DATA_TRUTH)]

    edge_index, edge_message = _edge_index(h.axes["score"], threshold)
    if edge_message:
        warnings.append(f"{key}: {edge_message}")
    score_axis, pt_axis = h.axes["score"], h.axes["pt"]
    first_passing = edge_index + 1  # in the [underflow, bins..., overflow] layout

    def pass_total(values: np.ndarray, variances: np.ndarray) -> tuple[np.ndarray, ...]:
        values = with_flow(values[inner_slice(pt_axis)], score_axis)
        variances = with_flow(variances[inner_slice(pt_axis)], score_axis)
        return (
            values[:, first_passing:].sum(axis=1),
            values.sum(axis=1),
            variances[:, first_passing:].sum(axis=1),
            variances.sum(axis=1),
        )

    sim_weights = dataset_weights(h, key, simulation, metadata)
    mc_pass, mc_total, mc_pass_var, mc_total_var = pass_total(
        *summed(h, key, simulation, sim_weights, truth=[signal])
    )
    label = f"{key} ({signal}, score ≥ {score_axis.edges[edge_index]:g})"
    eff_mc = efficiency(mc_pass, mc_total, mc_pass_var, mc_total_var, coverage, f"ε_MC {label}")

    data_pass, data_total, data_pass_var, data_total_var = pass_total(
        *summed(h, key, data, dataset_weights(h, key, data, metadata))
    )
    n_pt = len(pt_axis)
    bkg_pass, bkg_total = np.zeros(n_pt), np.zeros(n_pt)
    has_data = data_total.sum() > 0
    subtracted = subtract_background and has_data
    if not has_data:
        warnings.append(
            f"Histogram '{key}' has no data jets for signal {signal!r} (data datasets: {data}); "
            "ε_data and the SF are NaN."
        )
    elif subtract_background:
        bkg_pass, bkg_total, bkg_pass_var, bkg_total_var = pass_total(
            *summed(h, key, simulation, sim_weights, truth=background_classes)
        )
        data_pass, data_total = data_pass - bkg_pass, data_total - bkg_total
        data_pass_var, data_total_var = data_pass_var + bkg_pass_var, data_total_var + bkg_total_var
    eff_data = efficiency(
        data_pass, data_total, data_pass_var, data_total_var, coverage, f"ε_data {label}"
    )

    valid = eff_mc.valid & eff_data.valid & (np.nan_to_num(eff_mc.value) > 0)
    zero_mc = eff_mc.valid & (np.nan_to_num(eff_mc.value) == 0)
    if zero_mc.any():
        warnings.append(f"{label}: ε_MC = 0 in pT bins {bin_list(zero_mc)}; SF set to NaN there.")
    safe_mc = np.where(valid, eff_mc.value, 1.0)
    value = np.where(valid, eff_data.value / safe_mc, np.nan)
    error = np.where(
        valid,
        np.hypot(eff_data.error / safe_mc, eff_data.value * eff_mc.error / safe_mc**2),
        np.nan,
    )
    for message in warnings:
        log.warning(message)
    warnings += eff_mc.warnings + eff_data.warnings
    return ScaleFactor(
        tagger=tagger,
        signal=signal,
        working_point=working_point,
        threshold=float(score_axis.edges[edge_index]),
        pt_edges=pt_axis.edges,
        eff_mc=eff_mc,
        eff_data=eff_data,
        value=value,
        error=error,
        valid=valid,
        background_subtracted=subtracted,
        background_classes=list(background_classes) if subtracted else [],
        subtracted_passing=bkg_pass,
        subtracted_total=bkg_total,
        data_datasets=data,
        mc_datasets=simulation,
        coverage=coverage,
        warnings=warnings,
    )


def _edge_index(axis: Any, threshold: float) -> tuple[int, str]:
    """Index of the score edge nearest ``threshold``, and a message if it is not one."""
    edges = axis.edges
    if not np.isfinite(threshold):
        raise HistogramError(f"Working-point threshold {threshold} on axis 'score' is not finite.")
    index = int(np.argmin(np.abs(edges - threshold)))
    message = ""
    if not np.isclose(edges[index], threshold, rtol=0, atol=1e-9):
        message = f"threshold {threshold:g} is not a score edge; using {edges[index]:g}."
    return index, message
