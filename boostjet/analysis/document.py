"""The report as blocks (headings, text, tables, figures): the section builders and
:func:`document`, the report of a run. Markdown (``markdown.py``) and HTML (``html.py``) render
the same blocks, so both always show the same numbers."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from boostjet.analysis.comparison import Comparison
from boostjet.analysis.resolution import EnergyResolutionFit, PullTable, ResolutionTable
from boostjet.analysis.results import RunResults
from boostjet.analysis.roc import TaggerPerformance
from boostjet.analysis.rundata import Run
from boostjet.analysis.scalefactors import ScaleFactor
from boostjet.rundir import HISTOGRAMS, PLOTS, SUMMARY

SF_METHOD = (
    "SF = ε_data / ε_MC per working point and pT bin, with the score thresholds fixed on "
    "inclusive simulation. A data selection mixes signal and background, so the simulated "
    "background (every simulated truth class other than the signal, each dataset scaled to data "
    "by its summary.json weight) is subtracted from the passing and the total data yields before "
    "ε_data is formed (boostjet.analysis.scalefactors). Errors: Clopper–Pearson 68 % intervals "
    "on both efficiencies (effective counts for weighted and subtracted sums), propagated "
    "linearly to the SF."
)


@dataclasses.dataclass(frozen=True)
class Heading:
    """A section title; level 1 is the document title."""

    text: str
    level: int = 2


@dataclasses.dataclass(frozen=True)
class Text:
    """A paragraph of plain text."""

    text: str


@dataclasses.dataclass(frozen=True)
class Bullets:
    """A bulleted list of plain-text items."""

    items: list[str]


@dataclasses.dataclass(frozen=True)
class Table:
    """A table of pre-formatted cells."""

    header: list[str]
    rows: list[list[str]]


@dataclasses.dataclass(frozen=True)
class Figure:
    """A PNG figure (its PDF twin lies next to it) with a caption."""

    path: Path
    caption: str


Block = Heading | Text | Bullets | Table | Figure


def document(
    run: Run,
    results: RunResults,
    figures: Mapping[str, list[Figure]],
    fit_blocks: Sequence[Block] = (),
) -> list[Block]:
    """The report as blocks, rendered to Markdown and HTML; ``fit_blocks`` (the template-fit
    scale factors) come before the subtraction cross-check."""
    blocks: list[Block] = [
        Heading(f"boostjet report: run {run.name}", 1),
        Text(
            f"Derived from {HISTOGRAMS} and {SUMMARY} of {run.directory.name} alone. Simulation "
            "datasets are scaled by their summary weights; figures (PNG + PDF) are in "
            f"{PLOTS}/. Numbers are also in {SUMMARY} under 'analysis'."
        ),
        *run_summary_blocks(run.metadata),
    ]
    if results.comparisons or run.taggers or run.regressors:
        reasons = {group: reason for group, (_, reason) in results.recommendations.items()}
        blocks += comparison_blocks(results.comparisons, reasons)
    blocks += tagger_blocks(list(results.performances.values())) + figures["taggers"]
    blocks += fit_blocks
    if run.taggers:
        blocks.append(Heading("Scale factors: subtraction cross-check"))
        blocks += [Text(note) for note in results.scale_factor_notes]
        if results.scale_factors:
            blocks += [Text(SF_METHOD), *scale_factor_blocks(results.scale_factors)]
            blocks += figures["scale_factors"]
    blocks += resolution_blocks(
        list(results.merged.values()), "Response scale and resolution (all |η|)"
    )
    blocks += figures["resolution"]
    blocks += resolution_blocks(
        list(results.tables.values()), "Response scale and resolution per |η| bin"
    )
    blocks += energy_fit_blocks(list(results.fits.values())) + figures["energy"]
    blocks += pull_blocks(list(results.pulls.values()))
    if figures["training"]:
        blocks += [Heading("Training"), *figures["training"]]
    return blocks + warning_blocks(results.warnings)


def tagger_blocks(performances: Sequence[TaggerPerformance]) -> list[Block]:
    """Tables of AUC, balanced accuracy, 1/ε_B at ε_S = 0.3 and 0.5, and working points."""
    if not performances:
        return []
    rows = []
    for perf in performances:
        per_pt = perf.per_pt if len(perf.per_pt) > 1 else []  # one bin: the inclusive row
        for curve in (perf.inclusive, *per_pt):
            rejections = {round(r.eff_signal, 3): r for r in curve.rejections}
            cells = [
                _interval(rejections[t].value, rejections[t].lower, rejections[t].upper)
                if t in rejections
                else "–"
                for t in (0.3, 0.5)
            ]
            rows.append(
                [
                    perf.tagger,
                    perf.signal,
                    f"{curve.pt_low:g}–{curve.pt_high:g}",
                    _number(curve.auc, 4),
                    _number(curve.accuracy, 3),
                    *cells,
                ]
            )
    points = [
        [
            perf.tagger,
            wp.name,
            _number(wp.threshold, 4),
            _number(wp.eff_signal, 3),
            _number(wp.eff_background, 3),
        ]
        for perf in performances
        for wp in perf.working_points
    ]
    return [
        Heading("Taggers (simulation)"),
        Text(
            "Balanced accuracy = max over thresholds of (ε_S + 1 − ε_B)/2; 1/ε_B intervals are "
            "Clopper–Pearson (68 %) on ε_B. The first row of each tagger is its whole pT range."
        ),
        Table(
            [
                "tagger",
                "signal",
                "pT [GeV]",
                "AUC",
                "balanced accuracy",
                "1/ε_B (ε_S=0.3)",
                "1/ε_B (ε_S=0.5)",
            ],
            rows,
        ),
        Text("Working points: score thresholds fixed on inclusive simulation."),
        Table(["tagger", "working point", "score threshold", "ε_S", "ε_B"], points),
    ]


def scale_factor_blocks(scale_factors: Sequence[ScaleFactor]) -> list[Block]:
    """One table per tagger and working point: ε_MC, ε_data, SF and the subtracted background."""
    blocks: list[Block] = []
    for sf in scale_factors:
        subtraction = (
            f"simulated background ({', '.join(sf.background_classes)}) subtracted from data"
            if sf.background_subtracted
            else "no background subtraction"
        )
        rows = [
            [
                f"{sf.pt_edges[i]:g}–{sf.pt_edges[i + 1]:g}",
                _pm(sf.eff_mc.value[i], sf.eff_mc.error[i]),
                _pm(sf.eff_data.value[i], sf.eff_data.error[i]),
                _pm(sf.value[i], sf.error[i]),
                f"{sf.subtracted_passing[i]:.1f} / {sf.subtracted_total[i]:.1f}",
            ]
            for i in range(len(sf.pt_edges) - 1)
        ]
        blocks += [
            Heading(f"{sf.tagger} {sf.working_point} (score ≥ {sf.threshold:.4g}, {sf.signal})", 3),
            Text(
                f"Data: {', '.join(sf.data_datasets) or 'none'}; simulation: "
                f"{', '.join(sf.mc_datasets)}; {subtraction}."
            ),
            Table(["pT [GeV]", "ε_MC", "ε_data", "SF", "subtracted pass / total"], rows),
        ]
    return blocks


def resolution_blocks(
    resolutions: Sequence[ResolutionTable], title: str = "Response scale and resolution"
) -> list[Block]:
    """Scale q50 and resolution (q84 − q16)/(2 q50) per regressor, pT and |η| bin."""
    if not resolutions:
        return []
    rows = [
        [
            table.regressor,
            f"{table.pt_edges[i]:g}–{table.pt_edges[i + 1]:g}",
            f"{table.abseta_edges[j]:g}–{table.abseta_edges[j + 1]:g}",
            _pm(table.scale[i, j], table.scale_error[i, j]),
            _pm(table.resolution[i, j], table.resolution_error[i, j]),
        ]
        for table in resolutions
        for i, j in np.ndindex(table.scale.shape)
    ]
    return [
        Heading(title),
        Text("Scale = q50, resolution = (q84 − q16)/(2 q50) of the response predicted/true."),
        Table(["regressor", "pT [GeV]", "abs(η)", "scale", "resolution"], rows),
    ]


def energy_fit_blocks(fits: Sequence[EnergyResolutionFit]) -> list[Block]:
    """Table of the fitted σ/E = a/√E ⊕ b ⊕ c/E parameters."""
    if not fits:
        return []
    rows = [
        [
            fit.regressor,
            _pm(fit.a, fit.a_error),
            _pm(fit.b, fit.b_error),
            _pm(fit.c, fit.c_error),
            f"{_number(fit.chi2, 3)}/{fit.ndf}",
        ]
        for fit in fits
    ]
    return [
        Heading("Energy resolution σ/E = a/√E ⊕ b ⊕ c/E"),
        Table(["regressor", "a [√GeV]", "b", "c [GeV]", "χ²/ndf"], rows),
    ]


def pull_blocks(pulls: Sequence[PullTable]) -> list[Block]:
    """Calibration of each predicted per-jet σ: the pull's median, width and ±1 coverage."""
    if not pulls:
        return []
    rows = [
        [
            table.regressor,
            "all"
            if i == len(table.pt_edges) - 1
            else f"{table.pt_edges[i]:g}–{table.pt_edges[i + 1]:g}",
            _number(table.median[i], 3),
            _number(table.width[i], 3),
            _number(table.within_one[i], 3),
        ]
        for table in pulls
        for i in range(len(table.median))
    ]
    return [
        Heading("Predicted uncertainty: pull (predicted − true) / σ"),
        Text(
            "A calibrated Gaussian σ gives median 0, width (q84 − q16)/2 = 1 and 68.3 % of the "
            "jets inside ±1; a width below 1 means the predicted σ is too large, above 1 too small."
        ),
        Table(["regressor", "pT [GeV]", "median", "width", "fraction inside ±1"], rows),
    ]


def skipped_text(item: Mapping[str, Any]) -> str:
    """A skipped chunk or file (summary.json ``datasets.<d>.skipped`` entry): events, where, why.
    boostjet's own reasons name the file and entry range already; others get them prefixed."""
    events = "an unknown number of" if item.get("events") is None else item["events"]
    reason, file = str(item.get("reason")), str(item.get("file"))
    if not reason.startswith(file):
        reason = f"{file} entries {item.get('entry_start')}–{item.get('entry_stop')}: {reason}"
    return f"{events} events, {reason}"


def run_summary_blocks(datasets: Mapping[str, Mapping[str, Any]]) -> list[Block]:
    """Per dataset: data or simulation, signal, weight, event / jet counts, skipped chunks."""
    counts = ("events_read", "events_processed", "events_skipped", "fat_jets_selected")
    rows = [
        [
            name,
            "data" if info.get("is_data") else "simulation",
            str(info.get("signal") or "–"),
            _number(float(info.get("weight", 1.0)), 4),
            *(str(info[c]) if c in info else "–" for c in counts),
        ]
        for name, info in datasets.items()
    ]
    header = ["dataset", "type", "signal", "weight", "events read", "processed", "skipped"]
    blocks: list[Block] = [Heading("Run summary"), Table([*header, "fat jets selected"], rows)]
    skipped = [
        f"{name}: {skipped_text(item)}"
        for name, info in datasets.items()
        for item in info.get("skipped") or []
        if isinstance(item, Mapping)
    ]
    if skipped:
        blocks += [Text("Skipped chunks and why:"), Bullets(skipped)]
    return blocks


def comparison_blocks(
    comparisons: Sequence[Comparison], recommendations: Mapping[str, str]
) -> list[Block]:
    """Each network against its baselines, the recommendations, and every network that loses."""
    blocks: list[Block] = [
        Heading("Comparison to baselines"),
        Text(
            "Taggers: 1/ε_B at ε_S = 0.3 over the whole pT range against the cut-based tagger of "
            "the same signal (ratio > 1: the network is better). Regressors: resolution over all "
            "pT and |η| against the baseline (soft-drop mass; reconstructed and linearly "
            "calibrated energy), ratio < 1: the network is better. 'significant': the 68 % "
            "intervals do not overlap."
        ),
    ]
    if not comparisons:
        return [*blocks, Text("No network in this run has a baseline to compare with.")]
    rows = [
        [
            c.group,
            c.network,
            c.baseline,
            c.metric,
            _interval(*c.network_value),
            _interval(*c.baseline_value),
            _number(c.ratio, 3),
            {True: "yes", False: "NO", None: "undefined"}[c.beats]
            + (" (significant)" if c.beats is not None and c.significant else ""),
        ]
        for c in comparisons
    ]
    header = ["group", "network", "baseline", "metric", "network", "baseline", "ratio"]
    blocks.append(Table([*header, "beats baseline"], rows))
    for network in dict.fromkeys(c.network for c in comparisons if not c.beats):
        against = [c for c in comparisons if c.network == network and not c.beats]
        lost = ", ".join(
            f"{c.baseline} (ratio {_number(c.ratio, 3)})" for c in against if c.beats is False
        )
        undefined = ", ".join(c.baseline for c in against if c.beats is None)
        reasons = [f"does NOT beat its baseline {lost}"] if lost else []
        reasons += [f"cannot be compared with {undefined} (figure of merit undefined)"] * bool(
            undefined
        )
        blocks.append(
            Text(
                f"WARNING: {network} {' and '.join(reasons)}. By the design rule it has no place "
                "in the recommendations below; it is listed here instead of hidden."
            )
        )
    if recommendations:
        blocks.append(Bullets([f"{group}: {text}" for group, text in recommendations.items()]))
    return blocks


def warning_blocks(warnings: Sequence[str]) -> list[Block]:
    """The list of warnings (or "None.")."""
    return [Heading("Warnings"), Bullets(list(warnings)) if warnings else Text("None.")]


def _number(value: float, digits: int) -> str:
    if not np.isfinite(value):
        return "∞" if value == np.inf else "n/a"
    return f"{value:.{digits}g}"


def _pm(value: float, error: float) -> str:
    if not np.isfinite(value):
        return "n/a"
    return f"{value:.4g} ± {error:.2g}"


def _interval(value: float, lower: float, upper: float) -> str:
    return f"{_number(value, 4)} [{_number(lower, 4)}, {_number(upper, 4)}]"
