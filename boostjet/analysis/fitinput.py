"""Inputs of one pass/fail template fit: binned yields per region and truth category, with
systematic up/down variations, for one tagger, working point and pT bin.

Plain numpy arrays (one entry per observable bin) so that any histogram layout can fill them;
:func:`fit_input_from_hist` fills them from ``hist`` histograms already sliced to one tagger,
working point and pT bin. The structure (keys and shapes) is checked here and raises
:class:`~boostjet.errors.HistogramError`; the content (empty regions or templates, negative
yields) is judged by the fit, which reports it instead of raising.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Literal

import hist
import numpy as np

from boostjet.errors import HistogramError

REGIONS = ("pass", "fail")
DIRECTIONS = ("up", "down")
NOMINAL = "nominal"
REGION_AXIS, TRUTH_AXIS, SYSTEMATIC_AXIS = "region", "truth", "systematic"
#: Parameter-name prefixes the fit reserves; systematic sources may not start with them.
RESERVED_PREFIXES = ("mu_", "norm_", "mcstat_")

Array = np.ndarray
Templates = Mapping[str, Array]


def variation_name(source: str, direction: str) -> str:
    """``<source>_up`` / ``<source>_down``: the name of a variation on histogram axes and in
    the correctionlib ``systematic`` input."""
    return f"{source}_{direction}"


@dataclasses.dataclass(frozen=True)
class FitLabel:
    """Which measurement a fit is: tagger, working point and pT bin [pt_low, pt_high) in GeV."""

    tagger: str = ""
    working_point: str = ""
    pt_low: float | None = None
    pt_high: float | None = None

    def describe(self) -> str:
        """'tagger particlenet, working point eS50, pT 300–400 GeV' (only the parts given)."""
        parts = []
        if self.tagger:
            parts.append(f"tagger {self.tagger}")
        if self.working_point:
            parts.append(f"working point {self.working_point}")
        if self.pt_low is not None and self.pt_high is not None:
            parts.append(f"pT {self.pt_low:g}–{self.pt_high:g} GeV")
        return ", ".join(parts) or "unlabelled fit"


@dataclasses.dataclass(frozen=True)
class BackgroundNorm:
    """How a background category's normalisation enters the fit.

    ``free_per_region``: one free factor in pass and one in fail; ``free_shared``: one free
    factor for both; ``constrained``: log-normal prior of relative width ``uncertainty``,
    correlated between regions; ``fixed``: the simulated normalisation.
    """

    mode: Literal["free_per_region", "free_shared", "constrained", "fixed"] = "free_per_region"
    uncertainty: float = 0.0

    def __post_init__(self) -> None:
        if self.mode == "constrained" and not self.uncertainty > 0:
            raise HistogramError(
                f"Background normalisation 'constrained' needs uncertainty > 0, "
                f"got {self.uncertainty}."
            )


@dataclasses.dataclass(frozen=True)
class Region:
    """Observed counts and simulated templates of one region (pass or fail).

    ``templates``: truth category → expected yield per bin; ``variances``: the same categories →
    sum of squared weights (None: no MC statistical uncertainty); ``up``/``down``: source →
    category → yield at ±1σ of that source (a missing category is unaffected by the source).
    """

    data: Array
    templates: Templates
    variances: Templates | None = None
    up: Mapping[str, Templates] = dataclasses.field(default_factory=dict)
    down: Mapping[str, Templates] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        as_array = _as_arrays
        object.__setattr__(self, "data", np.asarray(self.data, dtype=float))
        object.__setattr__(self, "templates", as_array(self.templates))
        if self.variances is not None:
            object.__setattr__(self, "variances", as_array(self.variances))
        object.__setattr__(self, "up", {s: as_array(t) for s, t in self.up.items()})
        object.__setattr__(self, "down", {s: as_array(t) for s, t in self.down.items()})

    def arrays(self) -> dict[str, Array]:
        """Every array of the region by a readable name ('data', 'template of qcd', …)."""
        out = {"data": self.data}
        out |= {f"template of {c}": t for c, t in self.templates.items()}
        out |= {f"variance of {c}": v for c, v in (self.variances or {}).items()}
        for direction, sources in (("up", self.up), ("down", self.down)):
            for source, templates in sources.items():
                name = variation_name(source, direction)
                out |= {f"{name} template of {c}": t for c, t in templates.items()}
        return out

    def variation(self, source: str, direction: str) -> Templates:
        """Category → yields at ``direction`` (up/down) of ``source``, nominal where unaffected."""
        varied = (self.up if direction == "up" else self.down).get(source, {})
        return {c: varied.get(c, nominal) for c, nominal in self.templates.items()}


@dataclasses.dataclass(frozen=True)
class FitInput:
    """Everything one pass/fail fit needs; ``signal`` names the signal truth category.

    ``edges`` are the observable's bin edges (for plots; None if unknown). Backgrounds not
    listed in ``backgrounds`` float freely per region.
    """

    passing: Region
    failing: Region
    signal: str
    label: FitLabel = FitLabel()
    edges: Array | None = None
    backgrounds: Mapping[str, BackgroundNorm] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        where = self.label.describe()
        n_bins = len(self.passing.data)
        categories = set(self.passing.templates)
        if self.signal not in categories:
            raise HistogramError(f"Signal category {self.signal!r} has no template ({where}).")
        for name, region in self.regions().items():
            _check_region(name, region, categories, n_bins, where)
        if self.edges is not None:
            object.__setattr__(self, "edges", np.asarray(self.edges, dtype=float))
            if self.edges.shape != (n_bins + 1,):
                raise HistogramError(
                    f"Observable edges have shape {self.edges.shape}, expected ({n_bins + 1},) "
                    f"({where})."
                )
        unknown = set(self.backgrounds) - (categories - {self.signal})
        if unknown:
            raise HistogramError(
                f"Background normalisations given for {sorted(unknown)}, which are not "
                f"background categories ({where})."
            )

    def regions(self) -> dict[str, Region]:
        """{'pass': passing, 'fail': failing}."""
        return dict(zip(REGIONS, (self.passing, self.failing), strict=True))

    @property
    def categories(self) -> list[str]:
        """Truth categories, signal first."""
        return [self.signal, *sorted(set(self.passing.templates) - {self.signal})]

    @property
    def sources(self) -> list[str]:
        """Systematic sources with a variation in either region, sorted."""
        return sorted({s for region in self.regions().values() for s in region.up})

    def background_norm(self, category: str) -> BackgroundNorm:
        """The normalisation treatment of a background category (free per region if unlisted)."""
        return self.backgrounds.get(category, BackgroundNorm())


def merge_unsimulated_bins(fit_input: FitInput) -> FitInput:
    """``fit_input`` with each observable bin that holds data but no simulated jets (in either
    region) merged with the bins to its right up to one that has simulation (the last group
    with the one before it); pass and fail keep one binning. A Poisson bin with data and no
    expectation has zero likelihood, so small samples need this before any fit."""
    regions = fit_input.regions().values()
    n_bins = len(fit_input.passing.data)
    simulated = [sum(r.templates.values()) for r in regions]

    def fittable(bins: list[int]) -> bool:
        return all(
            r.data[bins].sum() == 0 or s[bins].sum() > 0
            for r, s in zip(regions, simulated, strict=True)
        )

    groups: list[list[int]] = []
    pending: list[int] = []
    for i in range(n_bins):
        pending.append(i)
        if fittable(pending):
            groups.append(pending)
            pending = []
    if pending and groups:
        groups[-1] += pending
    elif pending:
        groups.append(pending)
    if len(groups) == n_bins:
        return fit_input
    starts = [group[0] for group in groups]

    def merged(values: Array) -> Array:
        return np.add.reduceat(values, starts)

    def merged_all(templates: Templates) -> dict[str, Array]:
        return {c: merged(v) for c, v in templates.items()}

    def merge_region(r: Region) -> Region:
        return Region(
            data=merged(r.data),
            templates=merged_all(r.templates),
            variances=None if r.variances is None else merged_all(r.variances),
            up={s: merged_all(t) for s, t in r.up.items()},
            down={s: merged_all(t) for s, t in r.down.items()},
        )

    edges = None if fit_input.edges is None else fit_input.edges[[*starts, n_bins]]
    return dataclasses.replace(
        fit_input,
        passing=merge_region(fit_input.passing),
        failing=merge_region(fit_input.failing),
        edges=edges,
    )


def fit_input_from_hist(
    mc: hist.Hist,
    data: hist.Hist,
    *,
    signal: str,
    label: FitLabel = FitLabel(),
    backgrounds: Mapping[str, BackgroundNorm] | None = None,
) -> FitInput:
    """A :class:`FitInput` from histograms sliced to one tagger, working point and pT bin.

    ``mc`` has StrCategory axes ``truth`` and ``region`` (pass, fail), optionally ``systematic``
    (``nominal`` plus ``<source>_up``/``<source>_down``), and one observable axis; ``data`` has
    ``region`` and the same observable axis. Flow bins of the observable are not fitted;
    variances come from Weight storage (none: no MC statistical uncertainty).
    """
    observable = _observable_axis(mc, (TRUTH_AXIS, REGION_AXIS, SYSTEMATIC_AXIS), "mc")
    _observable_axis(data, (REGION_AXIS,), "data")
    axes = [a.name for a in mc.axes]
    systematics = list(mc.axes[SYSTEMATIC_AXIS]) if SYSTEMATIC_AXIS in axes else [NOMINAL]
    if NOMINAL not in systematics:
        raise HistogramError(f"Histogram axis '{SYSTEMATIC_AXIS}' has no '{NOMINAL}' entry.")
    sources = sorted({s.rsplit("_", 1)[0] for s in systematics if s != NOMINAL})
    for source in sources:
        for direction in DIRECTIONS:
            if variation_name(source, direction) not in systematics:
                raise HistogramError(
                    f"Histogram axis '{SYSTEMATIC_AXIS}' lacks "
                    f"'{variation_name(source, direction)}'."
                )

    def yields(h: hist.Hist, variances: bool = False, **where: str) -> Array | None:
        if SYSTEMATIC_AXIS in [a.name for a in h.axes] and SYSTEMATIC_AXIS not in where:
            where[SYSTEMATIC_AXIS] = NOMINAL
        sliced = h[{name: hist.loc(value) for name, value in where.items()}]
        return sliced.variances() if variances else sliced.values()

    def region(name: str) -> Region:
        if name not in list(mc.axes[REGION_AXIS]) or name not in list(data.axes[REGION_AXIS]):
            raise HistogramError(f"Histogram axis '{REGION_AXIS}' has no '{name}' entry.")
        truths = list(mc.axes[TRUTH_AXIS])
        variances = {t: yields(mc, True, truth=t, region=name) for t in truths}
        varied = {
            direction: {
                s: {
                    t: yields(mc, truth=t, region=name, systematic=variation_name(s, direction))
                    for t in truths
                }
                for s in sources
            }
            for direction in DIRECTIONS
        }
        return Region(
            data=yields(data, region=name),
            templates={t: yields(mc, truth=t, region=name) for t in truths},
            variances=None if any(v is None for v in variances.values()) else variances,
            up=varied["up"],
            down=varied["down"],
        )

    return FitInput(
        passing=region("pass"),
        failing=region("fail"),
        signal=signal,
        label=label,
        edges=observable.edges,
        backgrounds=backgrounds or {},
    )


def _check_region(name: str, region: Region, categories: set[str], n_bins: int, where: str) -> None:
    """HistogramError unless ``region`` has the categories, sources and shapes expected."""
    if set(region.templates) != categories:
        raise HistogramError(
            f"The {name} region has templates {sorted(region.templates)}, the pass region "
            f"{sorted(categories)} ({where})."
        )
    if region.variances is not None and set(region.variances) != categories:
        raise HistogramError(
            f"The {name} region has variances for {sorted(region.variances)}, templates for "
            f"{sorted(categories)} ({where})."
        )
    if set(region.up) != set(region.down):
        raise HistogramError(
            f"The {name} region has up variations {sorted(region.up)} but down variations "
            f"{sorted(region.down)} ({where})."
        )
    for direction, sources in (("up", region.up), ("down", region.down)):
        for source, templates in sources.items():
            if source.startswith(RESERVED_PREFIXES):
                raise HistogramError(
                    f"Systematic source {source!r} starts with a reserved prefix "
                    f"{RESERVED_PREFIXES} ({where})."
                )
            unknown = set(templates) - categories
            if unknown:
                raise HistogramError(
                    f"Variation {variation_name(source, direction)} of the {name} region names "
                    f"unknown categories {sorted(unknown)} ({where})."
                )
    for what, array in region.arrays().items():
        if array.shape != (n_bins,):
            raise HistogramError(
                f"The {name} region's {what} has shape {array.shape}, expected ({n_bins},) "
                f"like the pass-region data ({where})."
            )


def _observable_axis(h: hist.Hist, category_axes: tuple[str, ...], what: str):
    """The one axis of ``h`` not in ``category_axes``; HistogramError otherwise."""
    others = [a for a in h.axes if a.name not in category_axes]
    if len(others) != 1:
        raise HistogramError(
            f"The {what} histogram must have exactly one observable axis besides "
            f"{category_axes}; it has {[a.name for a in others]}."
        )
    return others[0]


def _as_arrays(templates: Templates) -> dict[str, Array]:
    return {name: np.asarray(values, dtype=float) for name, values in templates.items()}
