"""Reports: results → blocks (headings, text, tables, figures) → Markdown, or HTML via ``html.py``.

:func:`write_report` is the one entry point for a run directory (``boostjet report RUN_DIR`` and
the end of ``boostjet run``); the work is done by :func:`boostjet.analysis.run.analyse_run`.
:func:`write_results` writes ``report.md`` + ``report.json`` for results computed elsewhere
(e.g. in a notebook). The section builders here turn result objects into blocks, so that the
Markdown and the HTML report always show the same numbers.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from boostjet.analysis.efficiency import to_jsonable
from boostjet.analysis.resolution import EnergyResolutionFit, PullTable, ResolutionTable
from boostjet.analysis.roc import TaggerPerformance
from boostjet.analysis.scalefactors import ScaleFactor


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


@dataclasses.dataclass(frozen=True)
class Comparison:
    """A network against one of its baselines on one figure of merit.

    ``network``/``baseline`` are (value, lower, upper); ``ratio`` = network / baseline value.
    ``beats`` is None when the ratio is undefined; ``significant`` is True when the two intervals
    do not overlap.
    """

    group: str
    network: str
    baseline: str
    metric: str
    higher_is_better: bool
    network_value: tuple[float, float, float]
    baseline_value: tuple[float, float, float]
    ratio: float
    beats: bool | None
    significant: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (NaN and inf as None)."""
        return to_jsonable(self)


def write_report(
    run_dir: str | Path, *, write_html: bool = True, log_notes: bool = True
) -> dict[str, Any]:
    """Analyse a run directory from its saved histograms and write its report; see ``analyse_run``.

    Writes ``plots/``, ``report.md``, ``report.html`` (unless ``write_html`` is False) and the
    ``analysis`` key of ``summary.json``; returns that ``analysis`` dictionary, whose ``warnings``
    are the report's notes. The analysis also logs each note (logger ``boostjet.analysis``) unless
    ``log_notes`` is False: the command line shows their number, the report the notes.
    """
    from boostjet.analysis.run import analyse_run  # run.py builds on the blocks defined here

    logger = logging.getLogger("boostjet.analysis")
    if log_notes:
        return analyse_run(Path(run_dir), write_html=write_html)
    propagate, logger.propagate = logger.propagate, False
    muted = logging.NullHandler()  # without any handler, logging's last resort prints them
    logger.addHandler(muted)
    try:
        return analyse_run(Path(run_dir), write_html=write_html)
    finally:
        logger.removeHandler(muted)
        logger.propagate = propagate


def write_results(
    directory: str | Path,
    *,
    performances: Sequence[TaggerPerformance] = (),
    scale_factors: Sequence[ScaleFactor] = (),
    resolutions: Sequence[ResolutionTable] = (),
    energy_fits: Sequence[EnergyResolutionFit] = (),
    figures: Sequence[str | Path] = (),
    title: str = "boostjet analysis report",
) -> list[Path]:
    """Write ``report.md`` and ``report.json`` for given results into ``directory``.

    PNG figures are linked relative to ``directory``; every warning of every result is listed.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    results = {
        "taggers": list(performances),
        "scale_factors": list(scale_factors),
        "resolutions": list(resolutions),
        "energy_fits": list(energy_fits),
    }
    warnings = list(
        dict.fromkeys(w for group in results.values() for result in group for w in result.warnings)
    )
    blocks: list[Block] = [Heading(title, 1)]
    blocks += tagger_blocks(performances)
    if scale_factors:
        blocks += [Heading("Scale factors"), *scale_factor_blocks(scale_factors)]
    blocks += resolution_blocks(resolutions)
    blocks += energy_fit_blocks(energy_fits)
    pngs = [Path(f) for f in figures if Path(f).suffix == ".png"]
    if pngs:
        blocks += [Heading("Figures"), *(Figure(p, p.stem) for p in pngs)]
    blocks += warning_blocks(warnings)
    markdown = directory / "report.md"
    markdown.write_text(to_markdown(blocks, directory), encoding="utf-8")
    summary = directory / "report.json"
    payload = {**to_jsonable(results), "warnings": warnings}
    summary.write_text(json.dumps(payload, allow_nan=False, indent=1), encoding="utf-8")
    return [markdown, summary]


def to_markdown(blocks: Sequence[Block], directory: Path) -> str:
    """Markdown text of ``blocks``; figure links are relative to ``directory``."""
    lines: list[str] = []
    for block in blocks:
        if isinstance(block, Heading):
            lines += [f"{'#' * block.level} {block.text}", ""]
        elif isinstance(block, Text):
            lines += [block.text, ""]
        elif isinstance(block, Bullets):
            lines += [*(f"- {item}" for item in block.items), ""]
        elif isinstance(block, Table):
            lines.append(_markdown_row(block.header))
            lines.append(_markdown_row(["---"] * len(block.header)))
            lines += [_markdown_row(row) for row in block.rows]
            lines.append("")
        else:
            png = _relative(block.path, directory)
            pdf = _relative(block.path.with_suffix(".pdf"), directory)
            lines += [f"![{block.caption}]({png})", f"*{block.caption}* ([PDF]({pdf}))", ""]
    return "\n".join(lines)


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


def _markdown_row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def _pt_range(edges: np.ndarray, i: int) -> str:
    """The i-th pT bin as "low–high", or "all" for the entry after the last bin."""
    return "all" if i == len(edges) - 1 else f"{edges[i]:g}–{edges[i + 1]:g}"


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


def _relative(path: Path, directory: Path) -> str:
    return Path(os.path.relpath(path.resolve(), directory.resolve())).as_posix()
