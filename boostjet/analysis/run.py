"""A run's whole analysis from its saved histograms: numbers, plots, report.md/.html, summary.json.

Reads ``RUN_DIR/histograms.uhi.json.gz`` (boostjet/histogram_io.py: JSON, so reading it runs no
code) and ``RUN_DIR/summary.json``; writes figures as PNG + PDF
to ``RUN_DIR/plots/``, ``report.md``, ``report.html`` and the headline numbers under the key
``"analysis"`` of ``summary.json`` (its other keys untouched; written to a temporary file, then
renamed). The entry point is :func:`boostjet.analysis.report.write_report`.

Tagger signal classes come from ``summary["taggers"]`` and regressor kinds from
``summary["regressors"]``. When a key is absent they are derived from the histogram names, with a
warning: a tagger ``score_<name>`` is a W tagger when ``w`` is one of the underscore-separated
words of its name (``cut_based_w``, ``dnn_w``), else a top tagger (``cut_based_top``,
``particlenet``); a regressor ``response_<name>`` is an energy regressor when its name starts with
``energy`` or an ``energy_response_<name>`` histogram exists, else a mass regressor.

Baselines: the cut-based tagger of each signal; ``mass_sd`` for mass; ``energy_reco`` and
``energy_linear_<model>`` (the linear calibration of the reconstructed energy) for energy model
``<model>``. Every other tagger or regressor is a network, compared with its baselines.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import hist
import numpy as np

from boostjet.analysis import plots
from boostjet.analysis.efficiency import (
    get_histogram,
    require_axes,
    simulation_datasets,
    to_jsonable,
)
from boostjet.analysis.html import render_html
from boostjet.analysis.report import (
    Block,
    Comparison,
    Figure,
    Heading,
    Text,
    comparison_blocks,
    energy_fit_blocks,
    pull_blocks,
    resolution_blocks,
    run_summary_blocks,
    scale_factor_blocks,
    tagger_blocks,
    to_markdown,
    warning_blocks,
)
from boostjet.analysis.resolution import (
    EnergyResolutionFit,
    PullTable,
    ResolutionCurve,
    ResolutionTable,
    energy_resolution,
    energy_response_key,
    fit_energy_resolution,
    pull_key,
    pull_table,
    resolution_table,
    response_key,
)
from boostjet.analysis.roc import (
    SCORE_AXES,
    WORKING_POINT_TARGETS,
    RocCurve,
    TaggerPerformance,
    score_key,
    tagger_performance,
)
from boostjet.analysis.scalefactors import ScaleFactor, scale_factors
from boostjet.errors import HistogramError
from boostjet.histogram_io import HISTOGRAMS, load_histograms

SUMMARY = "summary.json"
PLOTS = "plots"
HEADLINE_EFF_SIGNAL = 0.3
CUT_BASED = {"top": "cut_based_top", "w": "cut_based_w"}
MASS_BASELINE = "mass_sd"
ENERGY_BASELINE = "energy_reco"
LINEAR_PREFIX = "energy_linear_"
RESPONSE_AXES = ("dataset", "pt", "abseta", "response")
ENERGY_RESPONSE_AXES = ("dataset", "energy_true", "response")
NO_DATA = "no dataset flagged is_data: no scale factors"
SIGNAL_NAMES = {"top": "top", "w": "W"}
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
class Run:
    """What a run directory holds: histograms, summary and what the analysis derives from it."""

    directory: Path
    name: str
    hists: dict[str, hist.Hist]
    summary: dict[str, Any]
    metadata: dict[str, dict[str, Any]]
    taggers: dict[str, str]
    regressors: dict[str, str]
    working_points: list[float]
    loss_curves: dict[str, dict[str, list[float]]]
    warnings: list[str]


@dataclasses.dataclass(frozen=True)
class RunResults:
    """Every number of the analysis of one run."""

    performances: dict[str, TaggerPerformance]
    scale_factors: list[ScaleFactor]
    scale_factor_notes: list[str]
    tables: dict[str, ResolutionTable]
    merged: dict[str, ResolutionTable]
    inclusive: dict[str, ResolutionTable]
    curves: dict[str, ResolutionCurve]
    fits: dict[str, EnergyResolutionFit]
    pulls: dict[str, PullTable]
    comparisons: list[Comparison]
    recommendations: dict[str, tuple[str, str]]
    warnings: list[str]


def analyse_run(run_dir: str | Path, *, write_html: bool = True) -> dict[str, Any]:
    """Analyse ``run_dir`` from its saved histograms and write plots, reports and the summary.

    Returns the JSON-ready headline numbers also stored as ``summary.json["analysis"]``.
    Raises HistogramError for a missing or unreadable file, or a histogram that lacks an axis.
    """
    run = load_run(run_dir)
    results = compute(run)
    figures = make_figures(run, results)
    blocks = document(run, results, figures)
    title = f"boostjet report: run {run.name}"
    outputs = {"markdown": "report.md", "html": "report.html" if write_html else None}
    write_atomic(run.directory / "report.md", to_markdown(blocks, run.directory))
    if write_html:
        write_atomic(run.directory / "report.html", render_html(blocks, title=title))
    pngs = [f.path for group in figures.values() for f in group]
    outputs["plots"] = [p.relative_to(run.directory).as_posix() for p in pngs]
    analysis = headline(run, results, outputs)
    summary = {**run.summary, "analysis": analysis}
    write_atomic(run.directory / SUMMARY, json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    return analysis


def load_run(run_dir: str | Path) -> Run:
    """Histograms and summary of ``run_dir``, checked, with taggers and regressors resolved."""
    directory = Path(run_dir)
    hists = load_histograms(directory)
    summary = load_summary(directory / SUMMARY)
    given = summary.get("warnings", [])  # from the run itself, e.g. input files read twice
    warnings = [str(note) for note in given] if isinstance(given, list) else []
    taggers = tagger_signals(summary, hists, warnings)
    regressors = regressor_kinds(summary, hists, warnings)
    for tagger in taggers:
        require_axes(get_histogram(hists, score_key(tagger)), score_key(tagger), SCORE_AXES)
    for regressor, kind in regressors.items():
        key = response_key(regressor)
        require_axes(get_histogram(hists, key), key, RESPONSE_AXES)
        energy_key = energy_response_key(regressor)
        if kind == "energy" and energy_key in hists:
            require_axes(hists[energy_key], energy_key, ENERGY_RESPONSE_AXES)
    targets = summary.get("working_points", list(WORKING_POINT_TARGETS))
    if not isinstance(targets, list) or not all(
        isinstance(t, int | float) and 0 < t < 1 for t in targets
    ):
        raise HistogramError(
            f"{directory / SUMMARY}: 'working_points' must be a list of signal efficiencies "
            f"between 0 and 1 (got {targets!r})."
        )
    return Run(
        directory=directory,
        name=str(summary.get("run") or directory.name),
        hists=hists,
        summary=summary,
        metadata=dataset_metadata(summary["datasets"], warnings),
        taggers=taggers,
        regressors=regressors,
        working_points=[float(t) for t in targets],
        loss_curves=load_loss_curves(directory, summary, warnings),
        warnings=warnings,
    )


def load_summary(path: Path) -> dict[str, Any]:
    """The run summary at ``path`` with a ``datasets`` mapping, or HistogramError naming it."""
    if not path.is_file():
        raise HistogramError(f"{path} does not exist: the run summary is needed for the analysis.")
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise HistogramError(f"{path} is not readable JSON ({exc}).") from exc
    if not isinstance(summary, dict) or not isinstance(summary.get("datasets"), dict):
        raise HistogramError(f"{path} has no 'datasets' mapping (dataset name → metadata).")
    for name, info in summary["datasets"].items():
        if not isinstance(info, dict):
            raise HistogramError(f"{path}: datasets.{name} must be a mapping of metadata.")
    return summary


def tagger_signals(
    summary: Mapping[str, Any], hists: Mapping[str, hist.Hist], warnings: list[str]
) -> dict[str, str]:
    """Tagger → signal class ("top" or "w"), from the summary or else from the tagger's name.

    A tagger listed in the summary with signal null (a model without one in its metadata) gets
    its signal from its name too.
    """
    declared = summary.get("taggers")
    if declared is None:
        names = [key.removeprefix("score_") for key in hists if key.startswith("score_")]
        declared = dict.fromkeys(names)
    elif not isinstance(declared, dict) or any(
        s not in (*CUT_BASED, None) for s in declared.values()
    ):
        raise HistogramError(
            f"{SUMMARY}: 'taggers' must map tagger names to 'top' or 'w' (got {declared!r})."
        )
    derived = {n: "w" if "w" in n.split("_") else "top" for n, s in declared.items() if s is None}
    if derived:
        warnings.append(f"{SUMMARY} gives no signal class: derived from tagger names {derived}.")
    return {n: s or derived[n] for n, s in declared.items()}


def regressor_kinds(
    summary: Mapping[str, Any], hists: Mapping[str, hist.Hist], warnings: list[str]
) -> dict[str, str]:
    """Regressor → "mass" or "energy", from the summary or else from histogram names."""
    declared = summary.get("regressors")
    if declared is not None:
        if not isinstance(declared, dict) or any(
            k not in ("mass", "energy") for k in declared.values()
        ):
            raise HistogramError(
                f"{SUMMARY}: 'regressors' must map regressor names to 'mass' or 'energy' "
                f"(got {declared!r})."
            )
        return dict(declared)
    names = [key.removeprefix("response_") for key in hists if key.startswith("response_")]
    kinds = {
        n: "energy" if n.startswith("energy") or energy_response_key(n) in hists else "mass"
        for n in names
    }
    if kinds:
        warnings.append(
            f"{SUMMARY} has no 'regressors': kinds derived from histogram names {kinds}."
        )
    return kinds


def load_loss_curves(
    directory: Path, summary: Mapping[str, Any], warnings: list[str]
) -> dict[str, dict[str, list[float]]]:
    """Training logs from ``summary["loss_curves"]`` and ``training/<model>/history.json``.

    A log is a mapping of lists: ``epoch`` and ``train_loss`` and/or ``val_loss``. Unusable logs
    are skipped with a warning; the summary's entry wins over a file for the same model.
    """
    logs: dict[str, Any] = dict(summary.get("loss_curves") or {})
    for path in sorted(directory.glob("training/*/history.json")):
        try:
            logs.setdefault(path.parent.name, json.loads(path.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            warnings.append(f"{path} is not readable JSON ({exc}); no loss curve for it.")
    usable = {}
    for model, log in logs.items():
        problem = _loss_log_problem(log)
        if problem:
            warnings.append(f"training log of {model}: {problem}; no loss-curve plot.")
        else:
            usable[model] = log
    return usable


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
    tables, merged, inclusive = {}, {}, {}
    for regressor in run.regressors:
        tables[regressor] = resolution_table(run.hists, regressor, metadata=run.metadata)
        merged[regressor] = resolution_table(
            run.hists, regressor, metadata=run.metadata, merge_abseta=True
        )
        inclusive[regressor] = _inclusive_resolution(run, regressor)
    warnings = list(run.warnings)
    curves, fits = {}, {}
    for regressor in (r for r, kind in run.regressors.items() if kind == "energy"):
        if energy_response_key(regressor) not in run.hists:
            warnings.append(
                f"Histogram '{energy_response_key(regressor)}' is missing: "
                f"no σ/E fit for {regressor}."
            )
            continue
        curves[regressor] = energy_resolution(run.hists, regressor, metadata=run.metadata)
        fits[regressor] = fit_energy_resolution(curves[regressor])
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
        *fits.values(),
    ]
    warnings += notes + [w for result in results for w in result.warnings]
    warnings += [
        f"{sf.tagger} {sf.working_point}: {problem}; no efficiency plot (plot_efficiency cannot "
        "draw an interval that excludes its point), the table has the numbers."
        for sf in sfs
        if (problem := _outside_interval(sf))
    ]
    return RunResults(
        performances=performances,
        scale_factors=sfs,
        scale_factor_notes=notes,
        tables=tables,
        merged=merged,
        inclusive=inclusive,
        curves=curves,
        fits=fits,
        pulls=pulls,
        comparisons=comparisons,
        recommendations=recommend(performances, inclusive, comparisons),
        warnings=list(dict.fromkeys(warnings)),
    )


def compare_to_baselines(
    run: Run,
    performances: Mapping[str, TaggerPerformance],
    inclusive: Mapping[str, ResolutionTable],
    warnings: list[str],
) -> list[Comparison]:
    """Each network tagger / regressor against its baselines (see the module docstring)."""
    comparisons = []
    for tagger, perf in performances.items():
        baseline = CUT_BASED[perf.signal]
        if _is_baseline(tagger):
            continue
        if baseline not in performances:
            warnings.append(f"No {baseline} in this run: {tagger} is not compared with a baseline.")
            continue
        net, base = (
            p.inclusive.rejection_at(HEADLINE_EFF_SIGNAL) for p in (perf, performances[baseline])
        )
        comparisons.append(
            _comparison(
                perf.signal,
                tagger,
                baseline,
                f"1/ε_B at ε_S = {HEADLINE_EFF_SIGNAL:g}",
                True,
                (net.value, net.lower, net.upper),
                (base.value, base.lower, base.upper),
            )
        )
    for regressor, kind in run.regressors.items():
        if _is_baseline(regressor):
            continue
        baselines = _regressor_baselines(regressor, kind, run.regressors)
        if not baselines:
            warnings.append(
                f"No baseline {kind} regressor in this run to compare {regressor} with."
            )
        for baseline in baselines:
            net, base = (_resolution_interval(inclusive[r]) for r in (regressor, baseline))
            comparisons.append(
                _comparison(kind, regressor, baseline, "resolution (all pT, |η|)", False, net, base)
            )
    return comparisons


def recommend(
    performances: Mapping[str, TaggerPerformance],
    inclusive: Mapping[str, ResolutionTable],
    comparisons: Sequence[Comparison],
) -> dict[str, tuple[str, str]]:
    """Per signal and regressor kind with a network: (recommended name, sentence saying why).

    Only networks that beat every one of their baselines qualify; the best of them is chosen
    (highest 1/ε_B at ε_S = 0.3, or smallest resolution). Otherwise the baseline is recommended.
    """
    recommendations = {}
    for group in dict.fromkeys(c.group for c in comparisons):
        in_group = [c for c in comparisons if c.group == group]
        networks = list(dict.fromkeys(c.network for c in in_group))
        winners = [n for n in networks if all(c.beats for c in in_group if c.network == n)]
        baselines = list(dict.fromkeys(c.baseline for c in in_group))
        if group in CUT_BASED:
            merit = {
                t: performances[t].inclusive.rejection_at(HEADLINE_EFF_SIGNAL).value
                for t in networks
            }
            kind = f"{SIGNAL_NAMES[group]} tagger"
        else:
            merit = {r: -float(inclusive[r].resolution[0, 0]) for r in networks}
            kind = f"{group} regressor"
        best = max(winners, key=merit.__getitem__, default=None)
        if best is None:
            choice = baselines[0]
            reason = (
                f"{choice} (baseline): no {kind} network beats "
                f"{' and '.join(baselines)} in this run."
            )
        else:
            won = [c for c in in_group if c.network == best]
            ratios = " and ".join(f"{c.ratio:.3g}× {c.baseline}" for c in won)
            choice, reason = best, f"{best}, the best {kind} network ({won[0].metric}: {ratios})."
        recommendations[group] = (choice, reason)
    return recommendations


def make_figures(run: Run, results: RunResults) -> dict[str, list[Figure]]:
    """Every plot of the report, as PNG + PDF in ``RUN_DIR/plots``, grouped by report section."""
    directory = run.directory / PLOTS
    return {
        "taggers": _tagger_figures(run, results.performances, directory),
        "scale_factors": _scale_factor_figures(run, results.scale_factors, directory),
        "resolution": _resolution_figures(run, results, directory),
        "energy": _energy_figures(run, results, directory),
        "training": [
            _figure(
                plots.plot_loss(
                    log,
                    directory / f"loss_{_file_name(model)}",
                    text=f"{model}: training for run {run.name}",
                ),
                f"Training and validation loss per epoch of {model}.",
            )
            for model, log in run.loss_curves.items()
        ],
    }


def document(run: Run, results: RunResults, figures: Mapping[str, list[Figure]]) -> list[Block]:
    """The report as blocks, rendered to Markdown and HTML."""
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
    if run.taggers:
        blocks.append(Heading("Scale factors"))
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


def headline(run: Run, results: RunResults, outputs: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON-ready numbers stored under ``summary.json["analysis"]``."""
    sfs: dict[str, dict[str, Any]] = {}
    for sf in results.scale_factors:
        sfs.setdefault(sf.tagger, {})[sf.working_point] = {
            "signal": sf.signal,
            "threshold": sf.threshold,
            "pt_edges": sf.pt_edges,
            "value": sf.value,
            "error": sf.error,
            "eff_mc": sf.eff_mc.value,
            "eff_mc_error": sf.eff_mc.error,
            "eff_data": sf.eff_data.value,
            "eff_data_error": sf.eff_data.error,
            "background_subtracted": sf.background_subtracted,
            "background_classes": sf.background_classes,
            "data_datasets": sf.data_datasets,
            "mc_datasets": sf.mc_datasets,
        }
    analysis = {
        "run": run.name,
        "taggers": {
            tagger: {
                "signal": perf.signal,
                "background": perf.background,
                "baseline": _is_baseline(tagger),
                **_curve_summary(perf.inclusive),
                "working_points": {
                    wp.name: {
                        "target_eff_signal": wp.target_eff_signal,
                        "threshold": wp.threshold,
                        "eff_signal": wp.eff_signal,
                        "eff_background": wp.eff_background,
                    }
                    for wp in perf.working_points
                },
                "per_pt": [_curve_summary(curve) for curve in perf.per_pt],
            }
            for tagger, perf in results.performances.items()
        },
        "scale_factors": sfs,
        "scale_factor_notes": results.scale_factor_notes,
        "resolution": {
            regressor: {
                "kind": kind,
                "baseline": _is_baseline(regressor),
                "inclusive": _resolution_cell(results.inclusive[regressor], 0, 0),
                "pt_edges": results.merged[regressor].pt_edges,
                "per_pt": [
                    _resolution_cell(results.merged[regressor], i, 0)
                    for i in range(len(results.merged[regressor].pt_edges) - 1)
                ],
            }
            for regressor, kind in run.regressors.items()
        },
        "energy_resolution_fits": {
            regressor: {
                key: getattr(fit, key)
                for key in ("a", "a_error", "b", "b_error", "c", "c_error", "chi2", "ndf", "valid")
            }
            for regressor, fit in results.fits.items()
        },
        "pulls": {regressor: table.to_dict() for regressor, table in results.pulls.items()},
        "comparison": [c.to_dict() for c in results.comparisons],
        "recommended": {group: choice for group, (choice, _) in results.recommendations.items()},
        "training": {model: _training_summary(log) for model, log in run.loss_curves.items()},
        "warnings": results.warnings,
        "outputs": dict(outputs),
    }
    return to_jsonable(analysis)


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path``, then rename it over ``path``."""
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    with tempfile.NamedTemporaryFile(
        "w", encoding="utf-8", dir=path.parent, prefix=f".{path.name}.", delete=False
    ) as stream:
        stream.write(text)
        stream.flush()
        os.fsync(stream.fileno())
    try:
        os.chmod(stream.name, mode)
        os.replace(stream.name, path)
    except OSError:
        Path(stream.name).unlink(missing_ok=True)
        raise


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


def _tagger_figures(
    run: Run, performances: Mapping[str, TaggerPerformance], directory: Path
) -> list[Figure]:
    figures = []
    for signal in dict.fromkeys(p.signal for p in performances.values()):
        group = [p for p in performances.values() if p.signal == signal]
        sample = _sample(run, _simulation(run, score_key(group[0].tagger)))
        versus = f"{SIGNAL_NAMES[signal]} vs QCD jets"
        curve = group[0].inclusive
        figures.append(
            _figure(
                plots.plot_roc(
                    group,
                    directory / f"roc_{signal}",
                    text=f"{sample}\n{versus}, {_pt_text(curve.pt_low, curve.pt_high)}",
                ),
                f"ROC of every {SIGNAL_NAMES[signal]} tagger of the run, whole pT range.",
            )
        )
        per_pt = group[0].per_pt if len(group[0].per_pt) > 1 else []  # else: the figure above
        for i, curve in enumerate(per_pt):
            if not any(p.per_pt[i].valid for p in group):
                continue
            figures.append(
                _figure(
                    plots.plot_roc(
                        group,
                        directory / f"roc_{signal}_pt{i}",
                        pt_bin=i,
                        text=f"{sample}\n{versus}, {_pt_text(curve.pt_low, curve.pt_high)}",
                    ),
                    f"ROC of the {SIGNAL_NAMES[signal]} taggers, "
                    f"pT {curve.pt_low:g}–{curve.pt_high:g} GeV.",
                )
            )
    for tagger, perf in performances.items():
        edges = perf.pt_edges
        figures.append(
            _figure(
                plots.plot_score_distributions(
                    run.hists,
                    tagger,
                    directory / f"score_{_file_name(tagger)}",
                    metadata=run.metadata,
                    text=f"{_sample(run, _simulation(run, score_key(tagger)))}\n"
                    f"{_pt_text(edges[0], edges[-1])}",
                ),
                f"Score of {tagger} per truth class, each normalised to unit area.",
            )
        )
    return figures


def _scale_factor_figures(run: Run, sfs: Sequence[ScaleFactor], directory: Path) -> list[Figure]:
    figures = []
    for sf in (sf for sf in sfs if not _outside_interval(sf)):
        stem = directory / f"sf_{_file_name(sf.tagger)}_{sf.working_point}"
        text = (
            f"{run.name}: {_names(sf.data_datasets)} (data) vs "
            f"{_names(sf.mc_datasets)} (sim.)\n"
            f"{SIGNAL_NAMES[sf.signal]} jets, {sf.tagger} ≥ {sf.threshold:.3g} ({sf.working_point})"
        )
        figures.append(
            _figure(
                plots.plot_efficiency(sf, stem, text=text),
                f"Efficiency in data and simulation and their ratio (SF) vs pT: {sf.tagger} "
                f"{sf.working_point}.",
            )
        )
    return figures


def _outside_interval(sf: ScaleFactor) -> str:
    """Which efficiency lies outside its interval (over-subtracted background: ε_data > 1 or
    < 0, whose interval is that of the clipped value), as text; empty when none does."""
    outside = [
        f"{name} outside [0, 1] in pT bins {np.flatnonzero(bad).tolist()}"
        for name, eff in (("ε_MC", sf.eff_mc), ("ε_data", sf.eff_data))
        if (bad := (eff.value < eff.lower) | (eff.value > eff.upper)).any()
    ]
    return "; ".join(outside)


def _resolution_figures(run: Run, results: RunResults, directory: Path) -> list[Figure]:
    figures = []
    for kind in ("mass", "energy"):
        names = [r for r, k in run.regressors.items() if k == kind]
        if not names:
            continue
        sample = _sample(run, _simulation(run, response_key(names[0])))
        table = results.tables[names[0]]
        pt, eta = table.pt_edges, table.abseta_edges
        figures.append(
            _figure(
                plots.plot_response(
                    run.hists,
                    names,
                    directory / f"response_{kind}",
                    metadata=run.metadata,
                    xlabel=f"{kind.capitalize()} response (predicted / true)",
                    text=f"{sample}\n{_pt_text(pt[0], pt[-1])}, {_eta_text(eta[0], eta[-1])}",
                ),
                f"{kind.capitalize()} response of every {kind} regressor, all pT and |η|.",
            )
        )
        figures.append(
            _figure(
                plots.plot_resolution(
                    [results.merged[r] for r in names],
                    directory / f"resolution_{kind}",
                    quantity=kind,
                    text=f"{sample}\n{_eta_text(eta[0], eta[-1])}",
                ),
                f"{kind.capitalize()} scale and resolution vs pT, all |η|.",
            )
        )
        for j in range(len(eta) - 1 if len(eta) > 2 else 0):  # one bin: the figure above
            figures.append(
                _figure(
                    plots.plot_resolution(
                        [results.tables[r] for r in names],
                        directory / f"resolution_{kind}_eta{j}",
                        abseta_bin=j,
                        quantity=kind,
                        text=f"{sample}\n{_eta_text(eta[j], eta[j + 1])}",
                    ),
                    f"{kind.capitalize()} scale and resolution vs pT, "
                    f"|η| {eta[j]:g}–{eta[j + 1]:g}.",
                )
            )
    return figures


def _energy_figures(run: Run, results: RunResults, directory: Path) -> list[Figure]:
    if not results.curves:
        return []
    names = list(results.curves)
    sample = _sample(run, _simulation(run, energy_response_key(names[0])))
    return [
        _figure(
            plots.plot_energy_resolution(
                [results.curves[r] for r in names],
                directory / "energy_resolution",
                fits=[results.fits[r] for r in names],
                text=f"{sample}\n" + r"σ/E = a/√E $\oplus$ b $\oplus$ c/E",
            ),
            "Energy resolution σ/E vs true energy with the a/√E ⊕ b ⊕ c/E fit.",
        )
    ]


def _comparison(
    group: str,
    network: str,
    baseline: str,
    metric: str,
    higher_is_better: bool,
    net: tuple[float, float, float],
    base: tuple[float, float, float],
) -> Comparison:
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = float(np.divide(net[0], base[0]))
    beats = None if np.isnan(ratio) else bool(ratio > 1 if higher_is_better else ratio < 1)
    return Comparison(
        group=group,
        network=network,
        baseline=baseline,
        metric=metric,
        higher_is_better=higher_is_better,
        network_value=net,
        baseline_value=base,
        ratio=ratio,
        beats=beats,
        significant=bool(net[1] > base[2] or net[2] < base[1]),
    )


def _regressor_baselines(regressor: str, kind: str, regressors: Mapping[str, str]) -> list[str]:
    if kind == "mass":
        candidates = [MASS_BASELINE]
    else:
        candidates = [LINEAR_PREFIX + regressor, ENERGY_BASELINE]
    return [c for c in candidates if regressors.get(c) == kind]


def _is_baseline(name: str) -> bool:
    return (
        name in CUT_BASED.values()
        or name in (MASS_BASELINE, ENERGY_BASELINE)
        or name.startswith(LINEAR_PREFIX)
    )


def _resolution_interval(table: ResolutionTable) -> tuple[float, float, float]:
    value, error = float(table.resolution[0, 0]), float(table.resolution_error[0, 0])
    return value, value - error, value + error


def _curve_summary(curve: RocCurve) -> dict[str, Any]:
    return {
        "pt_low": curve.pt_low,
        "pt_high": curve.pt_high,
        "valid": curve.valid,
        "auc": curve.auc,
        "balanced_accuracy": curve.accuracy,
        "balanced_accuracy_threshold": curve.accuracy_threshold,
        "signal_yield": curve.signal_yield,
        "background_yield": curve.background_yield,
        "rejection": {
            f"{r.eff_signal:g}": {
                "value": r.value,
                "lower": r.lower,
                "upper": r.upper,
                "threshold": r.threshold,
                "eff_background": r.eff_background,
            }
            for r in curve.rejections
        },
    }


def _resolution_cell(table: ResolutionTable, i: int, j: int) -> dict[str, Any]:
    return {
        "pt_low": table.pt_edges[i],
        "pt_high": table.pt_edges[i + 1],
        "scale": table.scale[i, j],
        "scale_error": table.scale_error[i, j],
        "resolution": table.resolution[i, j],
        "resolution_error": table.resolution_error[i, j],
        "n_effective": table.n_effective[i, j],
    }


def _training_summary(log: Mapping[str, Sequence[float]]) -> dict[str, Any]:
    summary: dict[str, Any] = {"epochs": len(log["epoch"])}
    if log.get("val_loss"):
        best = int(np.argmin(log["val_loss"]))
        summary |= {"best_epoch": log["epoch"][best], "best_val_loss": log["val_loss"][best]}
    return summary


def _loss_log_problem(log: Any) -> str:
    if not isinstance(log, Mapping) or "epoch" not in log:
        return "not a mapping with an 'epoch' list"
    losses = [name for name in ("train_loss", "val_loss") if name in log]
    if not losses:
        return "neither 'train_loss' nor 'val_loss'"
    lengths = {name: len(log[name]) for name in ("epoch", *losses) if isinstance(log[name], list)}
    if len(lengths) != 1 + len(losses) or len(set(lengths.values())) != 1:
        return f"lists of different lengths or types ({lengths})"
    return "" if lengths["epoch"] else "no epochs"


def dataset_metadata(
    datasets: Mapping[str, Mapping[str, Any]], warnings: list[str]
) -> dict[str, dict[str, Any]]:
    """The summary's dataset entries, checked: event accounting, and a usable ``weight``.

    Every event read must be processed or skipped (DESIGN: nothing silently dropped). A null
    weight (simulation without processed events) becomes 0, with a warning.
    """
    metadata = {}
    for name, info in datasets.items():
        counts = [info.get(k) for k in ("events_read", "events_processed", "events_skipped")]
        if all(isinstance(c, int) for c in counts) and counts[0] != counts[1] + counts[2]:
            warnings.append(
                f"Dataset {name}: events read ({counts[0]}) ≠ processed ({counts[1]}) + "
                f"skipped ({counts[2]})."
            )
        weight = info.get("weight", 1.0)
        if weight is None:
            warnings.append(f"Dataset {name} has no weight (no events processed?); it counts 0.")
            weight = 0.0
        if not isinstance(weight, int | float) or isinstance(weight, bool):
            raise HistogramError(f"{SUMMARY}: datasets.{name}.weight is not a number ({weight!r}).")
        metadata[name] = {**info, "weight": float(weight)}
    return metadata


def _simulation(run: Run, key: str) -> list[str]:
    return simulation_datasets(run.hists[key], run.metadata)


def _sample(run: Run, datasets: Sequence[str]) -> str:
    return f"{run.name}: {_names(datasets)} (simulation)"


def _names(datasets: Sequence[str], limit: int = 3) -> str:
    if len(datasets) <= limit:
        return ", ".join(datasets) or "none"
    return f"{', '.join(datasets[:limit])} +{len(datasets) - limit} more"


def _pt_text(low: float, high: float) -> str:
    return f"{low:g} < $p_{{T}}$ < {high:g} GeV"


def _eta_text(low: float, high: float) -> str:
    return rf"{low:g} < $|\eta|$ < {high:g}"


def _figure(paths: Sequence[Path], caption: str) -> Figure:
    return Figure(paths[0], caption)


def _file_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)
