"""What a pass/fail template fit reports: the scale factor with its uncertainty breakdown,
post-fit parameters, pre- and post-fit yields, and — for a fit that could not run — why.

A failed fit carries ``reason`` (one sentence) and None, never NaN, in place of every number.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np

from boostjet.analysis.efficiency import to_jsonable
from boostjet.analysis.fitinput import FitLabel

#: Name of the breakdown entry for the simulation's statistical uncertainty (the templates'
#: per-bin MC-statistics parameters and the binomial uncertainty of ε_MC).
MC_STAT = "mcstat"


@dataclasses.dataclass(frozen=True)
class Impact:
    """Shift of the SF when one uncertainty source moves up/down by one post-fit σ (signed)."""

    source: str
    up: float
    down: float


@dataclasses.dataclass(frozen=True)
class Parameter:
    """One fit parameter after the fit.

    ``pull`` = (value − prior centre) / prior width and ``constraint`` = error / prior width
    for parameters with a prior (systematics, MC statistics, constrained normalisations);
    None for free parameters.
    """

    name: str
    value: float
    error: float
    pull: float | None = None
    constraint: float | None = None


@dataclasses.dataclass(frozen=True)
class RegionYields:
    """Observed counts and expected yields per sample and bin in one region, for stacked plots.

    ``postfit_error``: uncertainty of the total post-fit yield per bin (covariance propagated).
    """

    data: np.ndarray
    prefit: Mapping[str, np.ndarray]
    postfit: Mapping[str, np.ndarray]
    postfit_error: np.ndarray


@dataclasses.dataclass(frozen=True)
class GoodnessOfFit:
    """Baker–Cousins χ² of the post-fit model against the data (both regions), its degrees of
    freedom (fitted bins minus free parameters) and the χ² p-value."""

    chi2: float
    ndof: int
    p_value: float | None


@dataclasses.dataclass(frozen=True)
class ScaleFactorFit:
    """Result of one fit: SF = ε_data / ε_MC with total, statistical and systematic errors.

    ``reason`` is empty for a fit that ran; otherwise it is one sentence saying why it could
    not, and every number is None.
    """

    label: FitLabel
    signal: str
    reason: str = ""
    sf: float | None = None
    sf_error: float | None = None
    sf_stat: float | None = None
    sf_syst: float | None = None
    eff_data: float | None = None
    eff_data_error: float | None = None
    eff_mc: float | None = None
    eff_mc_error: float | None = None
    impacts: tuple[Impact, ...] = ()
    parameters: tuple[Parameter, ...] = ()
    yields: Mapping[str, RegionYields] = dataclasses.field(default_factory=dict)
    edges: np.ndarray | None = None
    gof: GoodnessOfFit | None = None
    converged: bool = False
    notes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """True when the fit ran and every reported number is finite."""
        return not self.reason

    def impact(self, source: str) -> Impact:
        """The breakdown entry of ``source`` (KeyError if the fit has none)."""
        for impact in self.impacts:
            if impact.source == source:
                return impact
        raise KeyError(source)

    def parameter(self, name: str) -> Parameter:
        """The post-fit parameter ``name`` (KeyError if the model has none)."""
        for parameter in self.parameters:
            if parameter.name == name:
                return parameter
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (arrays as lists), with ``ok``."""
        return {"ok": self.ok, **to_jsonable(self)}


def failed_fit(label: FitLabel, signal: str, reason: str, notes: tuple[str, ...] = ()):
    """A :class:`ScaleFactorFit` that says, in one sentence naming the measurement, why the
    fit could not run."""
    sentence = f"No scale factor for {label.describe()}: {reason.rstrip('.')}."
    return ScaleFactorFit(label=label, signal=signal, reason=sentence, notes=notes)
