"""A run's analysis from its saved histograms: numbers, plots, report.md/.html, summary.json.

:func:`write_report` is the one entry point for a run directory (``boostjet report RUN_DIR`` and
the end of ``boostjet run``): it loads the run (``rundata.py``: the UHI histograms, so reading
runs no code, and ``summary.json``), computes every number (``results.py``), draws the figures as
PNG + PDF into ``RUN_DIR/plots/`` (``figures.py``), lays out the report (``document.py``), renders
``report.md`` and ``report.html`` (``markdown.py``, ``html.py``) and stores the headline numbers
under the key ``"analysis"`` of ``summary.json`` (its other keys untouched; written to a temporary
file, then renamed). :func:`write_results` writes ``report.md`` + ``report.json`` for results
computed elsewhere (e.g. in a notebook).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from boostjet.analysis.corrections import scale_factor_corrections
from boostjet.analysis.document import (
    Block,
    Figure,
    Heading,
    document,
    energy_fit_blocks,
    resolution_blocks,
    scale_factor_blocks,
    tagger_blocks,
    warning_blocks,
)
from boostjet.analysis.efficiency import to_jsonable
from boostjet.analysis.figures import make_figures
from boostjet.analysis.fitblocks import template_fit_blocks
from boostjet.analysis.html import render_html
from boostjet.analysis.markdown import to_markdown
from boostjet.analysis.resolution import EnergyResolutionFit, ResolutionTable
from boostjet.analysis.results import RunResults, compute
from boostjet.analysis.roc import TaggerPerformance
from boostjet.analysis.rundata import Run, load_run
from boostjet.analysis.scalefactors import ScaleFactor
from boostjet.histograms import is_baseline
from boostjet.rundir import (
    REPORT_HTML,
    REPORT_MARKDOWN,
    SCALE_FACTORS,
    rewrite_summary,
    write_atomic,
)


def write_report(
    run_dir: str | Path, *, write_html: bool = True, log_notes: bool = True
) -> dict[str, Any]:
    """Analyse a run directory from its saved histograms and write its report; see ``analyse_run``.

    Writes ``plots/``, ``report.md``, ``report.html`` (unless ``write_html`` is False) and the
    ``analysis`` key of ``summary.json``; returns that ``analysis`` dictionary, whose ``warnings``
    are the report's notes. The analysis also logs each note (logger ``boostjet.analysis``) unless
    ``log_notes`` is False: the command line shows their number, the report the notes.
    """
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


def analyse_run(run_dir: str | Path, *, write_html: bool = True) -> dict[str, Any]:
    """Analyse ``run_dir`` from its saved histograms and write plots, reports and the summary.

    Returns the JSON-ready headline numbers also stored as ``summary.json["analysis"]``.
    Raises HistogramError for a missing or unreadable file, or a histogram that lacks an axis.
    """
    run = load_run(run_dir)
    results = compute(run)
    figures = make_figures(run, results)
    fits = results.template_fits
    outputs = {"markdown": REPORT_MARKDOWN, "html": REPORT_HTML if write_html else None}
    outputs["scale_factors"] = None
    if fits.fits:
        delivery = scale_factor_corrections(fits.fits, fits.thresholds, run=run.name)
        delivery.write(run.directory / SCALE_FACTORS)
        outputs["scale_factors"] = SCALE_FACTORS
    fit_blocks = template_fit_blocks(fits, figures["template_fits"], outputs["scale_factors"])
    blocks = document(run, results, figures, fit_blocks)
    title = f"boostjet report: run {run.name}"
    write_atomic(run.directory / REPORT_MARKDOWN, to_markdown(blocks, run.directory))
    if write_html:
        write_atomic(run.directory / REPORT_HTML, render_html(blocks, title=title))
    pngs = [f.path for group in figures.values() for f in group]
    outputs["plots"] = [p.relative_to(run.directory).as_posix() for p in pngs]
    analysis = headline(run, results, outputs)
    summary = {**run.summary, "analysis": analysis}
    rewrite_summary(run.directory, summary)
    return analysis


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
    markdown = directory / REPORT_MARKDOWN
    markdown.write_text(to_markdown(blocks, directory), encoding="utf-8")
    summary = directory / "report.json"
    payload = {**to_jsonable(results), "warnings": warnings}
    summary.write_text(json.dumps(payload, allow_nan=False, indent=1), encoding="utf-8")
    return [markdown, summary]


def headline(run: Run, results: RunResults, outputs: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON-ready numbers stored under ``summary.json["analysis"]``."""
    sfs: dict[str, dict[str, Any]] = {}
    for sf in results.scale_factors:
        sfs.setdefault(sf.tagger, {})[sf.working_point] = sf.to_dict()
    analysis = {
        "run": run.name,
        "taggers": {tagger: perf.to_dict() for tagger, perf in results.performances.items()},
        "scale_factors": sfs,
        "scale_factor_notes": results.scale_factor_notes,
        "template_fits": results.template_fits.to_dict(),
        "resolution": {
            regressor: {
                "kind": kind,
                "baseline": is_baseline(regressor),
                "inclusive": results.inclusive[regressor].cell(0, 0),
                "pt_edges": results.merged[regressor].pt_edges,
                "per_pt": [
                    results.merged[regressor].cell(i, 0)
                    for i in range(len(results.merged[regressor].pt_edges) - 1)
                ],
            }
            for regressor, kind in run.regressors.items()
        },
        "energy_resolution_fits": {r: fit.to_dict() for r, fit in results.fits.items()},
        "pulls": {regressor: table.to_dict() for regressor, table in results.pulls.items()},
        "comparison": [c.to_dict() for c in results.comparisons],
        "recommended": {group: choice for group, (choice, _) in results.recommendations.items()},
        "training": {model: _training_summary(log) for model, log in run.loss_curves.items()},
        "warnings": results.warnings,
        "outputs": dict(outputs),
    }
    return to_jsonable(analysis)


def _training_summary(log: Mapping[str, Sequence[float]]) -> dict[str, Any]:
    summary: dict[str, Any] = {"epochs": len(log["epoch"])}
    if log.get("val_loss"):
        best = int(np.argmin(log["val_loss"]))
        summary |= {"best_epoch": log["epoch"][best], "best_val_loss": log["val_loss"][best]}
    return summary
