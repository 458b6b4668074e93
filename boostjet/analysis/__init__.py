"""Histograms → numbers and plots: efficiencies, ROC curves, scale factors, resolutions.

Everything here works from saved ``hist.Hist`` objects (and the dataset metadata) alone. Results
are frozen dataclasses with ``to_dict()`` for JSON; undefined entries are NaN, flagged by a
``valid`` field and explained in a ``warnings`` list (also sent to ``logging``). Plots live in
:mod:`boostjet.analysis.plots`, imported separately so that the numbers do not need matplotlib.
"""

from boostjet.analysis.efficiency import (
    ONE_SIGMA,
    Efficiency,
    clopper_pearson,
    efficiency,
    to_jsonable,
)
from boostjet.analysis.resolution import (
    EnergyResolutionFit,
    ResolutionCurve,
    ResolutionTable,
    energy_resolution,
    fit_energy_resolution,
    histogram_quantiles,
    relative_energy_resolution,
    resolution_table,
)
from boostjet.analysis.roc import (
    Rejection,
    RocCurve,
    TaggerPerformance,
    WorkingPoint,
    roc_curve,
    tagger_performance,
    working_point,
)
from boostjet.analysis.scalefactors import ScaleFactor, scale_factor, scale_factors

__all__ = [
    "ONE_SIGMA",
    "Efficiency",
    "EnergyResolutionFit",
    "Rejection",
    "ResolutionCurve",
    "ResolutionTable",
    "RocCurve",
    "ScaleFactor",
    "TaggerPerformance",
    "WorkingPoint",
    "clopper_pearson",
    "efficiency",
    "energy_resolution",
    "fit_energy_resolution",
    "histogram_quantiles",
    "relative_energy_resolution",
    "resolution_table",
    "roc_curve",
    "scale_factor",
    "scale_factors",
    "tagger_performance",
    "to_jsonable",
    "working_point",
]
