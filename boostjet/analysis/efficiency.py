"""Efficiencies with Clopper–Pearson intervals, and the histogram sums they are built from.

Weighted and background-subtracted efficiencies are not binomial. They are turned into *effective
binomial counts* ``(k_eff, n_eff)`` whose binomial variance ``ε(1 − ε)/n_eff`` equals the linearly
propagated variance of ``ε = S_pass / S_total`` (pass and fail sums independent), with
``k_eff = ε · n_eff``. For unit-weight fills this is exactly ``(k, n)``; for ε = 0 or 1, where the
propagated variance vanishes, ``n_eff = S_total² / Var(S_total)`` (the Kish effective entries).
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import hist
import numpy as np
from hist.intervals import clopper_pearson_interval
from scipy import stats

from boostjet.errors import HistogramError

log = logging.getLogger(__name__)

ONE_SIGMA = float(stats.norm.cdf(1.0) - stats.norm.cdf(-1.0))
"""Central coverage of ±1 standard deviation (≈ 0.6827), the default of every interval here."""

Metadata = Mapping[str, Mapping[str, Any]]
"""dataset → {"is_data": bool, "weight": float, "signal": "top" | "w"}."""


@dataclasses.dataclass(frozen=True)
class Efficiency:
    """Per-bin efficiency ε = passed / total with a Clopper–Pearson interval.

    ``value``, ``lower``, ``upper`` and ``error`` are NaN exactly where ``valid`` is False
    (total ≤ 0: an empty bin, or one emptied by background subtraction).
    ``error`` is the symmetrised interval half-width (upper − lower) / 2.
    """

    passed: np.ndarray
    total: np.ndarray
    value: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    error: np.ndarray
    n_effective: np.ndarray
    valid: np.ndarray
    coverage: float
    warnings: list[str] = dataclasses.field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (arrays as lists, NaN and inf as None)."""
        return to_jsonable(self)


def clopper_pearson(
    passed: np.ndarray | float, total: np.ndarray | float, coverage: float = ONE_SIGMA
) -> tuple[np.ndarray, np.ndarray]:
    """Clopper–Pearson (exact binomial) interval (lower, upper) for ``passed`` of ``total``.

    Accepts non-integer effective counts; ``total = 0`` gives the uninformative interval [0, 1].
    """
    k = np.asarray(passed, dtype=float)
    n = np.asarray(total, dtype=float)
    interval = clopper_pearson_interval(k, n, coverage)
    return interval[0], interval[1]


def efficiency(
    passed: np.ndarray,
    total: np.ndarray,
    passed_variance: np.ndarray | None = None,
    total_variance: np.ndarray | None = None,
    coverage: float = ONE_SIGMA,
    what: str = "efficiency",
) -> Efficiency:
    """ε = passed / total per bin with a Clopper–Pearson interval from effective counts.

    Variances default to the counts themselves (unit-weight fills). ``total_variance`` must be the
    variance of the whole denominator, so that the failing part has ``total_variance −
    passed_variance``. ``what`` names the efficiency in warnings.
    """
    passed = np.asarray(passed, dtype=float)
    total = np.asarray(total, dtype=float)
    var_pass = passed.copy() if passed_variance is None else np.asarray(passed_variance, float)
    var_total = total.copy() if total_variance is None else np.asarray(total_variance, float)
    var_fail = np.clip(var_total - var_pass, 0.0, None)
    failed = total - passed

    valid = total > 0
    safe_total = np.where(valid, total, 1.0)
    value = np.where(valid, passed / safe_total, np.nan)
    # linear propagation of ε = P / (P + F) with P, F independent
    var_eff = (failed**2 * var_pass + passed**2 * var_fail) / safe_total**4
    eff_clipped = np.clip(np.nan_to_num(value), 0.0, 1.0)
    binomial = eff_clipped * (1.0 - eff_clipped)
    kish = np.where(var_total > 0, total**2 / np.where(var_total > 0, var_total, 1.0), 0.0)
    use_propagated = valid & (binomial > 0) & (var_eff > 0)
    n_eff = np.where(use_propagated, binomial / np.where(var_eff > 0, var_eff, 1.0), kish)
    n_eff = np.where(valid, n_eff, 0.0)
    lower, upper = clopper_pearson(eff_clipped * n_eff, n_eff, coverage)
    lower = np.where(valid, lower, np.nan)
    upper = np.where(valid, upper, np.nan)

    warnings = []
    if not valid.all():
        bins = bin_list(~valid)
        warnings.append(f"{what}: no (or negative) denominator in bins {bins}; set to NaN.")
    outside = valid & ((value < 0) | (value > 1))
    if outside.any():
        bins = bin_list(outside)
        warnings.append(
            f"{what}: value outside [0, 1] in bins {bins} (background over-subtracted?); "
            "its interval is computed for the value clipped to [0, 1]."
        )
    for message in warnings:
        log.warning(message)
    return Efficiency(
        passed=passed,
        total=total,
        value=value,
        lower=lower,
        upper=upper,
        error=(upper - lower) / 2.0,
        n_effective=n_eff,
        valid=valid,
        coverage=coverage,
        warnings=warnings,
    )


def bin_list(mask: np.ndarray, limit: int = 10) -> str:
    """Indices where ``mask`` is true, as text, shortened after ``limit`` entries."""
    indices = np.flatnonzero(mask).tolist()
    if len(indices) <= limit:
        return str(indices)
    return f"{str(indices[:limit])[:-1]}, … ({len(indices)} in all)]"


def require_axes(h: hist.Hist, name: str, axes: Iterable[str]) -> None:
    """Raise HistogramError unless histogram ``name`` has every axis in ``axes``."""
    missing = [axis for axis in axes if axis not in h.axes.name]
    if missing:
        raise HistogramError(
            f"Histogram '{name}' lacks the axis {missing[0]!r} (it has {list(h.axes.name)})."
        )


def get_histogram(hists: Mapping[str, hist.Hist], key: str) -> hist.Hist:
    """The histogram stored under ``key``, or HistogramError naming it and what is there."""
    if key not in hists:
        raise HistogramError(
            f"Histogram '{key}' is missing from the saved histograms (found {sorted(hists)})."
        )
    return hists[key]


def simulation_datasets(h: hist.Hist, metadata: Metadata | None) -> list[str]:
    """Datasets of ``h`` not flagged ``is_data`` (all of them when there is no metadata)."""
    return [
        d for d in h.axes["dataset"] if metadata is None or not metadata.get(d, {}).get("is_data")
    ]


def dataset_weights(
    h: hist.Hist, name: str, datasets: Sequence[str], metadata: Metadata | None
) -> dict[str, float]:
    """Scale factor per dataset: metadata ``weight`` (1 for data or without metadata)."""
    weights = {}
    for dataset in datasets:
        if metadata is None:
            weights[dataset] = 1.0
            continue
        if dataset not in metadata:
            raise HistogramError(
                f"Dataset '{dataset}' of histogram '{name}' has no entry in the metadata."
            )
        info = metadata[dataset]
        weights[dataset] = 1.0 if info.get("is_data", False) else float(info.get("weight", 1.0))
    return weights


def summed(
    h: hist.Hist,
    name: str,
    datasets: Sequence[str],
    weights: Mapping[str, float],
    truth: Sequence[str] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Sum of weights and its variance over ``datasets`` (each scaled) and ``truth`` classes.

    ``truth=None`` sums every truth class. Returns arrays over the remaining axes, flow bins
    included. Datasets or truth classes absent from the histogram contribute nothing.
    """
    present = set(h.axes["dataset"])
    selections = [{"dataset": d} for d in datasets if d in present]
    if "truth" in h.axes.name:
        classes = list(h.axes["truth"])
        if truth is not None:
            classes = [t for t in truth if t in classes]
        selections = [{**s, "truth": t} for s in selections for t in classes]
    shape = tuple(ax.extent for ax in h.axes if ax.name not in ("dataset", "truth"))
    values = np.zeros(shape)
    variances = np.zeros(shape)
    for selection in selections:
        sub = h[selection]
        scale = weights[selection["dataset"]]
        sub_values = sub.values(flow=True)
        sub_variances = sub.variances(flow=True)
        if sub_variances is None:
            raise HistogramError(
                f"Histogram '{name}' has no variances (use Weight storage for weighted fills)."
            )
        values += scale * sub_values
        variances += scale**2 * sub_variances
    return values, variances


def inner_slice(axis: Any) -> slice:
    """Slice of a flow-including array that keeps only the regular bins of ``axis``."""
    start = 1 if axis.traits.underflow else 0
    return slice(start, start + len(axis))


def with_flow(values: np.ndarray, axis: Any) -> np.ndarray:
    """Lay the last dimension out as [underflow, bins..., overflow], adding empty flow bins."""
    zeros = np.zeros((*values.shape[:-1], 1))
    under = values[..., :1] if axis.traits.underflow else zeros
    over = values[..., -1:] if axis.traits.overflow else zeros
    return np.concatenate([under, values[..., inner_slice(axis)], over], axis=-1)


def to_jsonable(obj: Any) -> Any:
    """Dataclasses, arrays and floats → JSON-safe dicts, lists and numbers (NaN/inf → None)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        return {str(key): to_jsonable(value) for key, value in obj.items()}
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, list | tuple):
        return [to_jsonable(item) for item in obj]
    if isinstance(obj, np.generic):
        return to_jsonable(obj.item())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj
