"""Response scale and resolution from response histograms, and the σ/E = a/√E ⊕ b ⊕ c/E fit.

Quantiles come from the histogram's cumulative distribution, linear inside each bin; flow bins
count towards the total, so a quantile that falls into the under- or overflow is NaN (flagged).
Scale = q50 and resolution = (q84 − q16) / (2 q50), with q16 / q84 at Φ(∓1) so that a Gaussian gives
σ/μ. Uncertainties use the asymptotic covariance of sample quantiles,
Cov(q_a, q_b) = (min(a, b) − a·b) · s(a) · s(b) / n_eff, with the sparsity s(p) = dq/dp taken as
the difference quotient (q(p + h) − q(p − h)) / 2h of the histogram quantile function,
h = min(0.05, p/2, (1 − p)/2), and n_eff = (Σw)² / Σw² the effective number of jets.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import hist
import numpy as np
from scipy import optimize, stats

from boostjet.analysis.efficiency import (
    Metadata,
    dataset_weights,
    get_histogram,
    inner_slice,
    require_axes,
    simulation_datasets,
    summed,
    to_jsonable,
    with_flow,
)
from boostjet.errors import HistogramError
from boostjet.histograms import (
    ENERGY_RESPONSE_AXES,
    PULL_AXES,
    RESPONSE_AXES,
    energy_response_key,
    pull_key,
    response_key,
)

log = logging.getLogger(__name__)

P16, P50, P84 = (float(stats.norm.cdf(x)) for x in (-1.0, 0.0, 1.0))
SPARSITY_STEP = 0.05
MIN_EFFECTIVE_JETS = 10.0


@dataclasses.dataclass(frozen=True)
class ResolutionTable:
    """Scale q50 and resolution per (pT, |η|) bin, arrays of shape (n_pt, n_abseta).

    Entries are NaN exactly where ``valid`` is False: fewer than MIN_EFFECTIVE_JETS effective
    jets, or a quantile in the flow bins of the response axis; ``warnings`` names those bins.
    """

    regressor: str
    pt_edges: np.ndarray
    abseta_edges: np.ndarray
    scale: np.ndarray
    scale_error: np.ndarray
    resolution: np.ndarray
    resolution_error: np.ndarray
    n_effective: np.ndarray
    valid: np.ndarray
    warnings: list[str] = dataclasses.field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (arrays as lists, NaN as None)."""
        return to_jsonable(self)

    def cell(self, i: int, j: int) -> dict[str, Any]:
        """The numbers of pT bin ``i`` and |η| bin ``j``, JSON-ready (NaN as None)."""
        return to_jsonable(
            {
                "pt_low": self.pt_edges[i],
                "pt_high": self.pt_edges[i + 1],
                "scale": self.scale[i, j],
                "scale_error": self.scale_error[i, j],
                "resolution": self.resolution[i, j],
                "resolution_error": self.resolution_error[i, j],
                "n_effective": self.n_effective[i, j],
            }
        )


@dataclasses.dataclass(frozen=True)
class PullTable:
    """Pull (predicted − true)/σ of a regressor's per-jet σ, per pT bin and over all pT (last
    entry): median, half width (q84 − q16)/2 and the fraction inside ±1. A calibrated Gaussian σ
    gives 0, 1 and 0.683; a width below 1 means the σ is too large."""

    regressor: str
    pt_edges: np.ndarray
    median: np.ndarray
    width: np.ndarray
    within_one: np.ndarray
    n_effective: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (arrays as lists, NaN as None)."""
        return to_jsonable(self)


@dataclasses.dataclass(frozen=True)
class ResolutionCurve:
    """Scale and resolution per true-energy bin; ``energy`` is the bin centre in GeV."""

    regressor: str
    energy_edges: np.ndarray
    energy: np.ndarray
    scale: np.ndarray
    scale_error: np.ndarray
    resolution: np.ndarray
    resolution_error: np.ndarray
    n_effective: np.ndarray
    valid: np.ndarray
    warnings: list[str] = dataclasses.field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (arrays as lists, NaN as None)."""
        return to_jsonable(self)


@dataclasses.dataclass(frozen=True)
class EnergyResolutionFit:
    """σ/E = √(a²/E + b² + c²/E²) fitted to a ResolutionCurve; a in √GeV, b in 1, c in GeV.

    Parameters are constrained to be ≥ 0; errors are from the covariance with absolute σ.
    NaN, with ``valid`` False, when fewer than three valid points exist or the fit fails.
    """

    regressor: str
    a: float
    a_error: float
    b: float
    b_error: float
    c: float
    c_error: float
    covariance: np.ndarray
    chi2: float
    ndf: int
    valid: bool
    warnings: list[str] = dataclasses.field(default_factory=list)

    def __call__(self, energy: np.ndarray | float) -> np.ndarray:
        """σ/E of the fitted model at ``energy`` (GeV)."""
        return relative_energy_resolution(np.asarray(energy, float), self.a, self.b, self.c)

    def to_dict(self) -> dict[str, Any]:
        """The fitted parameters with their errors, χ²/ndf and validity, JSON-ready (NaN as
        None), as stored per regressor in summary.json."""
        names = ("a", "a_error", "b", "b_error", "c", "c_error", "chi2", "ndf", "valid")
        return to_jsonable({name: getattr(self, name) for name in names})


def relative_energy_resolution(energy: np.ndarray, a: float, b: float, c: float) -> np.ndarray:
    """σ/E = a/√E ⊕ b ⊕ c/E (sum in quadrature), E in GeV."""
    return np.sqrt(a**2 / energy + b**2 + c**2 / energy**2)


def histogram_quantiles(
    counts: np.ndarray, edges: np.ndarray, probabilities: Sequence[float]
) -> np.ndarray:
    """Quantiles of a 1D histogram laid out as [underflow, bins..., overflow].

    Linear interpolation of the cumulative distribution inside the bin holding each quantile;
    NaN for a quantile in a flow bin or an empty histogram.
    """
    counts = np.asarray(counts, float)
    total = counts.sum()
    probabilities = np.asarray(probabilities, float)
    if total <= 0:
        return np.full(probabilities.shape, np.nan)
    cdf = np.cumsum(counts[:-1]) / total  # F at edges[0] ... edges[-1]
    k = np.searchsorted(cdf, probabilities, side="left")
    inside = (k > 0) & (k < len(cdf))
    k = np.clip(k, 1, len(cdf) - 1)
    low, high = cdf[k - 1], cdf[k]
    fraction = (probabilities - low) / np.where(high > low, high - low, 1.0)
    quantiles = edges[k - 1] + fraction * (edges[k] - edges[k - 1])
    return np.where(inside, quantiles, np.nan)


def response_summary(
    counts: np.ndarray, variances: np.ndarray, edges: np.ndarray
) -> dict[str, float]:
    """Scale, resolution, their errors and n_eff of one response spectrum (flow bins included)."""
    total, total_var = float(counts.sum()), float(variances.sum())
    n_eff = total**2 / total_var if total_var > 0 else 0.0
    nan = {k: np.nan for k in ("scale", "scale_error", "resolution", "resolution_error")}
    if n_eff < MIN_EFFECTIVE_JETS:
        return {**nan, "n_effective": n_eff}
    probabilities = np.array([P16, P50, P84])
    steps = np.minimum(SPARSITY_STEP, np.minimum(probabilities, 1 - probabilities) / 2)
    q16, q50, q84 = histogram_quantiles(counts, edges, probabilities)
    if not q50 > 0:  # NaN (a quantile in the flow bins) or a non-positive median
        return {**nan, "n_effective": n_eff}
    sparsity = (
        histogram_quantiles(counts, edges, probabilities + steps)
        - histogram_quantiles(counts, edges, probabilities - steps)
    ) / (2 * steps)
    covariance = (
        (np.minimum.outer(probabilities, probabilities) - np.outer(probabilities, probabilities))
        * np.outer(sparsity, sparsity)
        / n_eff
    )
    resolution = (q84 - q16) / (2 * q50)
    gradient = np.array([-1 / (2 * q50), -resolution / q50, 1 / (2 * q50)])
    return {
        "scale": float(q50),
        "scale_error": float(np.sqrt(covariance[1, 1])),
        "resolution": float(resolution),
        "resolution_error": float(np.sqrt(gradient @ covariance @ gradient)),
        "n_effective": n_eff,
    }


def resolution_table(
    hists: Mapping[str, hist.Hist],
    regressor: str,
    *,
    metadata: Metadata | None = None,
    merge_abseta: bool = False,
) -> ResolutionTable:
    """Scale and resolution per (pT, |η|) bin of the regressor's response histogram, simulation
    only.

    ``merge_abseta`` sums the |η| bins first (one column spanning the whole axis).
    """
    key = response_key(regressor)
    h, values, variances = _simulation_projection(hists, key, RESPONSE_AXES, metadata)
    pt_axis, eta_axis = h.axes["pt"], h.axes["abseta"]
    values, variances = (
        a[inner_slice(pt_axis)][:, inner_slice(eta_axis)] for a in (values, variances)
    )
    abseta_edges = eta_axis.edges
    if merge_abseta:
        values, variances = values.sum(axis=1, keepdims=True), variances.sum(axis=1, keepdims=True)
        abseta_edges = abseta_edges[[0, -1]]
    values, variances = (with_flow(a, h.axes["response"]) for a in (values, variances))
    edges = h.axes["response"].edges
    rows = [
        [response_summary(values[i, j], variances[i, j], edges) for j in range(values.shape[1])]
        for i in range(values.shape[0])
    ]
    fields = {f: np.array([[cell[f] for cell in row] for row in rows]) for f in rows[0][0]}
    valid = np.isfinite(fields["resolution"]) & np.isfinite(fields["resolution_error"])
    warnings = []
    for i, j in zip(*np.nonzero(~valid), strict=True):
        warnings.append(
            f"{key}: pT {pt_axis.edges[i]:g}–{pt_axis.edges[i + 1]:g} GeV, "
            f"|η| {abseta_edges[j]:g}–{abseta_edges[j + 1]:g}: "
            f"{_why_invalid(fields['n_effective'][i, j])}; scale and resolution set to NaN."
        )
    _log(warnings)
    return ResolutionTable(
        regressor=regressor,
        pt_edges=pt_axis.edges,
        abseta_edges=abseta_edges,
        valid=valid,
        warnings=warnings,
        **{f: np.where(valid, v, np.nan) if f != "n_effective" else v for f, v in fields.items()},
    )


def pull_table(
    hists: Mapping[str, hist.Hist], regressor: str, *, metadata: Metadata | None = None
) -> PullTable:
    """Median, half width and ±1 coverage of the regressor's pull histogram per pT bin,
    simulation only."""
    key = pull_key(regressor)
    h, values, variances = _simulation_projection(hists, key, PULL_AXES, metadata)
    values, variances = (a[inner_slice(h.axes["pt"])] for a in (values, variances))
    values, variances = (np.vstack([a, a.sum(axis=0, keepdims=True)]) for a in (values, variances))
    pull_axis = h.axes["pull"]
    counts = with_flow(values, pull_axis)
    edges = pull_axis.edges
    quantiles = np.array([histogram_quantiles(c, edges, [P16, P50, P84]) for c in counts])
    inside = (edges[:-1] >= -1 - 1e-9) & (edges[1:] <= 1 + 1e-9)  # the axis has edges at ±1
    totals = counts.sum(axis=1)
    variance_totals = with_flow(variances, pull_axis).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        within_one = counts[:, 1:-1][:, inside].sum(axis=1) / totals
        n_effective = np.where(variance_totals > 0, totals**2 / variance_totals, 0.0)
    return PullTable(
        regressor=regressor,
        pt_edges=h.axes["pt"].edges,
        median=quantiles[:, 1],
        width=(quantiles[:, 2] - quantiles[:, 0]) / 2,
        within_one=within_one,
        n_effective=n_effective,
    )


def energy_resolution(
    hists: Mapping[str, hist.Hist], regressor: str, *, metadata: Metadata | None = None
) -> ResolutionCurve:
    """Scale and resolution per true-energy bin of the regressor's energy-response histogram."""
    key = energy_response_key(regressor)
    h, values, variances = _simulation_projection(hists, key, ENERGY_RESPONSE_AXES, metadata)
    energy_axis = h.axes["energy_true"]
    values, variances = values[inner_slice(energy_axis)], variances[inner_slice(energy_axis)]
    values, variances = (with_flow(a, h.axes["response"]) for a in (values, variances))
    edges = h.axes["response"].edges
    cells = [response_summary(values[i], variances[i], edges) for i in range(len(values))]
    fields = {f: np.array([cell[f] for cell in cells]) for f in cells[0]}
    valid = np.isfinite(fields["resolution"]) & np.isfinite(fields["resolution_error"])
    warnings = [
        f"{key}: E {energy_axis.edges[i]:g}–{energy_axis.edges[i + 1]:g} GeV: "
        f"{_why_invalid(fields['n_effective'][i])}; scale and resolution set to NaN."
        for i in np.flatnonzero(~valid)
    ]
    _log(warnings)
    return ResolutionCurve(
        regressor=regressor,
        energy_edges=energy_axis.edges,
        energy=energy_axis.centers,
        valid=valid,
        warnings=warnings,
        **{f: np.where(valid, v, np.nan) if f != "n_effective" else v for f, v in fields.items()},
    )


def fit_energy_resolution(curve: ResolutionCurve) -> EnergyResolutionFit:
    """Least-squares fit of σ/E = a/√E ⊕ b ⊕ c/E to the valid points of ``curve``."""
    usable = curve.valid & (curve.resolution_error > 0)
    energy, resolution, error = (
        np.asarray(a, float)[usable]
        for a in (curve.energy, curve.resolution, curve.resolution_error)
    )
    warnings = []
    nan_fit = {
        "a": np.nan,
        "a_error": np.nan,
        "b": np.nan,
        "b_error": np.nan,
        "c": np.nan,
        "c_error": np.nan,
        "covariance": np.full((3, 3), np.nan),
        "chi2": np.nan,
        "ndf": max(int(usable.sum()) - 3, 0),
        "valid": False,
    }
    if usable.sum() < 3:
        warnings.append(
            f"{curve.regressor}: only {int(usable.sum())} valid energy points; σ/E fit not done."
        )
        _log(warnings)
        return EnergyResolutionFit(regressor=curve.regressor, warnings=warnings, **nan_fit)
    # start: stochastic term from the lowest energy, constant term from the highest
    start = [
        resolution[0] * np.sqrt(energy[0]),
        resolution[-1] / 2,
        resolution[0] * energy[0] / 10,
    ]
    try:
        params, covariance = optimize.curve_fit(
            relative_energy_resolution,
            energy,
            resolution,
            p0=start,
            sigma=error,
            absolute_sigma=True,
            bounds=(0.0, np.inf),
        )
    except (RuntimeError, ValueError) as exc:
        warnings.append(f"{curve.regressor}: σ/E fit failed ({exc}).")
        _log(warnings)
        return EnergyResolutionFit(regressor=curve.regressor, warnings=warnings, **nan_fit)
    residuals = (resolution - relative_energy_resolution(energy, *params)) / error
    errors = np.sqrt(np.diag(covariance))
    return EnergyResolutionFit(
        regressor=curve.regressor,
        a=float(params[0]),
        a_error=float(errors[0]),
        b=float(params[1]),
        b_error=float(errors[1]),
        c=float(params[2]),
        c_error=float(errors[2]),
        covariance=covariance,
        chi2=float(residuals @ residuals),
        ndf=len(energy) - 3,
        valid=True,
        warnings=warnings,
    )


def _simulation_projection(
    hists: Mapping[str, hist.Hist], key: str, axes: tuple[str, ...], metadata: Metadata | None
) -> tuple[hist.Hist, np.ndarray, np.ndarray]:
    """Histogram ``key`` projected on ``axes`` (dataset first), and its simulation sum."""
    h = get_histogram(hists, key)
    require_axes(h, key, axes)
    h = h.project(*axes)
    return (h, *_simulation_sum(h, key, metadata))


def _simulation_sum(
    h: hist.Hist, key: str, metadata: Metadata | None
) -> tuple[np.ndarray, np.ndarray]:
    """Weighted sum over simulation datasets (all datasets when there is no metadata)."""
    datasets = simulation_datasets(h, metadata)
    if not datasets:
        raise HistogramError(f"Histogram '{key}' holds no simulation dataset.")
    return summed(h, key, datasets, dataset_weights(h, key, datasets, metadata))


def _why_invalid(n_effective: float) -> str:
    if n_effective == 0:
        return "no jets"
    if n_effective < MIN_EFFECTIVE_JETS:
        return f"only {n_effective:.3g} effective jets (< {MIN_EFFECTIVE_JETS:g})"
    return "a quantile lies in the under/overflow of the response axis, or the median is ≤ 0"


def _log(warnings: list[str]) -> None:
    for message in warnings:
        log.warning(message)
