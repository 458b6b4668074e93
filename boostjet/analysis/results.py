"""Every number of a run's analysis from its histograms: taggers, scale factors, resolutions,
σ/E fits, pulls and the comparison with the baselines."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import hist
import numpy as np

from boostjet.analysis.comparison import (
    SIGNAL_NAMES,
    Comparison,
    compare_to_baselines,
    recommend,
)
from boostjet.analysis.resolution import (
    EnergyResolutionFit,
    PullTable,
    ResolutionCurve,
    ResolutionTable,
    energy_resolution,
    fit_energy_resolution,
    pull_table,
    resolution_table,
)
from boostjet.analysis.roc import TaggerPerformance, tagger_performance
from boostjet.analysis.rundata import Run
from boostjet.analysis.scalefactors import ScaleFactor, scale_factors
from boostjet.analysis.templatefits import TemplateFits, template_fits
from boostjet.histograms import RESPONSE_AXES, energy_response_key, pull_key, response_key

NO_DATA = "no dataset flagged is_data: no scale factors"


@dataclasses.dataclass(frozen=True)
class RunResults:
    """Every number of the analysis of one run."""

    performances: dict[str, TaggerPerformance]
    scale_factors: list[ScaleFactor]
    scale_factor_notes: list[str]
    template_fits: TemplateFits
    tables: dict[str, ResolutionTable]
    merged: dict[str, ResolutionTable]
    inclusive: dict[str, ResolutionTable]
    curves: dict[str, ResolutionCurve]
    fits: dict[str, EnergyResolutionFit]
    pulls: dict[str, PullTable]
    comparisons: list[Comparison]
    recommendations: dict[str, tuple[str, str]]
    warnings: list[str]


def compute(run: Run) -> RunResults:
    """Tagger performance, scale factors, resolutions, σ/E fits and the baseline comparison."""
    performances = {
        tagger: tagger_performance(
            run.hists,
            tagger,
            signal=signal,
            metadata=run.metadata,
            working_point_targets=run.working_points,
        )
        for tagger, signal in run.taggers.items()
    }
    sfs, notes = _scale_factors(run, performances)
    fits = template_fits(run)
    tables, merged, inclusive = {}, {}, {}
    for regressor in run.regressors:
        tables[regressor] = resolution_table(run.hists, regressor, metadata=run.metadata)
        merged[regressor] = resolution_table(
            run.hists, regressor, metadata=run.metadata, merge_abseta=True
        )
        inclusive[regressor] = _inclusive_resolution(run, regressor)
    warnings = list(run.warnings)
    curves, energy_fits = {}, {}
    for regressor in (r for r, kind in run.regressors.items() if kind == "energy"):
        if energy_response_key(regressor) not in run.hists:
            warnings.append(
                f"Histogram '{energy_response_key(regressor)}' is missing: "
                f"no σ/E fit for {regressor}."
            )
            continue
        curves[regressor] = energy_resolution(run.hists, regressor, metadata=run.metadata)
        energy_fits[regressor] = fit_energy_resolution(curves[regressor])
    pulls = {
        regressor: pull_table(run.hists, regressor, metadata=run.metadata)
        for regressor in run.regressors
        if pull_key(regressor) in run.hists
    }
    comparisons = compare_to_baselines(run, performances, inclusive, warnings)
    results: list[Any] = [
        *performances.values(),
        *sfs,
        *tables.values(),
        *merged.values(),
        *inclusive.values(),
        *curves.values(),
        *energy_fits.values(),
    ]
    warnings += notes + fits.notes + [w for result in results for w in result.warnings]
    warnings += [
        f"{sf.tagger} {sf.working_point}: {problem}; no efficiency plot (plot_efficiency cannot "
        "draw an interval that excludes its point), the table has the numbers."
        for sf in sfs
        if (problem := outside_interval(sf))
    ]
    return RunResults(
        performances=performances,
        scale_factors=sfs,
        scale_factor_notes=notes,
        template_fits=fits,
        tables=tables,
        merged=merged,
        inclusive=inclusive,
        curves=curves,
        fits=energy_fits,
        pulls=pulls,
        comparisons=comparisons,
        recommendations=recommend(performances, inclusive, comparisons),
        warnings=list(dict.fromkeys(warnings)),
    )


def _scale_factors(
    run: Run, performances: Mapping[str, TaggerPerformance]
) -> tuple[list[ScaleFactor], list[str]]:
    """SFs of every tagger whose signal has a data dataset; notes on what could not be done."""
    data = [name for name, info in run.metadata.items() if info.get("is_data")]
    if not data:
        return [], [NO_DATA + "."] if run.taggers else []
    sfs, notes = [], []
    for tagger, perf in performances.items():
        usable = [d for d in data if run.metadata[d].get("signal") in (None, perf.signal)]
        if not usable:
            note = (
                f"No data dataset for signal {perf.signal!r} (data datasets {data} are flagged "
                f"for other signals): no scale factors for the {SIGNAL_NAMES[perf.signal]} "
                "taggers."
            )
            notes += [note] if note not in notes else []
            continue
        sfs += scale_factors(
            run.hists, tagger, perf.working_points, run.metadata, signal=perf.signal
        )
    return sfs, notes


def _inclusive_resolution(run: Run, regressor: str) -> ResolutionTable:
    """Resolution table of one cell spanning the whole pT and |η| range (same estimator)."""
    key = response_key(regressor)
    h = run.hists[key].project(*RESPONSE_AXES)
    one_bin = {axis: hist.rebin(len(h.axes[axis])) for axis in ("pt", "abseta")}
    return resolution_table({key: h[one_bin]}, regressor, metadata=run.metadata)


def outside_interval(sf: ScaleFactor) -> str:
    """Which efficiency lies outside its interval (over-subtracted background: ε_data > 1 or
    < 0, whose interval is that of the clipped value), as text; empty when none does."""
    outside = [
        f"{name} outside [0, 1] in pT bins {np.flatnonzero(bad).tolist()}"
        for name, eff in (("ε_MC", sf.eff_mc), ("ε_data", sf.eff_data))
        if (bad := (eff.value < eff.lower) | (eff.value > eff.upper)).any()
    ]
    return "; ".join(outside)
