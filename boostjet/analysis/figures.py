"""Every figure of a run's report, as PNG + PDF in ``RUN_DIR/plots``, grouped by report section.

The drawing itself is in :mod:`boostjet.analysis.plots`; this module chooses what to draw for a
run and writes the captions and the sample text of each figure.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from boostjet.analysis import plots
from boostjet.analysis.comparison import SIGNAL_NAMES
from boostjet.analysis.document import Figure
from boostjet.analysis.efficiency import simulation_datasets
from boostjet.analysis.fitplots import plot_template_fit
from boostjet.analysis.results import RunResults, outside_interval
from boostjet.analysis.roc import TaggerPerformance
from boostjet.analysis.rundata import Run
from boostjet.analysis.scalefactors import ScaleFactor
from boostjet.histograms import energy_response_key, response_key, score_key
from boostjet.rundir import PLOTS


def make_figures(run: Run, results: RunResults) -> dict[str, list[Figure]]:
    """Every plot of the report, as PNG + PDF in ``RUN_DIR/plots``, grouped by report section."""
    directory = run.directory / PLOTS
    return {
        "taggers": _tagger_figures(run, results.performances, directory),
        "scale_factors": _scale_factor_figures(run, results.scale_factors, directory),
        "template_fits": _template_fit_figures(run, results, directory),
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
                    directory / _file_name(score_key(tagger)),  # named after its histogram
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
    for sf in (sf for sf in sfs if not outside_interval(sf)):
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


def _template_fit_figures(run: Run, results: RunResults, directory: Path) -> list[Figure]:
    """Per tagger, the pre/post-fit plot of the middle working point's fit with most data."""
    figures = []
    fits = results.template_fits
    for tagger, thresholds in fits.thresholds.items():
        names = sorted(thresholds)
        wp = names[len(names) // 2]
        candidates = [
            f
            for f in fits.fits
            if f.ok and f.label.tagger == tagger and f.label.working_point == wp
        ]
        if not candidates:
            continue
        fit = max(candidates, key=lambda f: sum(y.data.sum() for y in f.yields.values()))
        pt = _pt_text(fit.label.pt_low, fit.label.pt_high)
        text = f"{run.name}: {tagger} {wp}, {pt}, SF = {fit.sf:.3f} ± {fit.sf_error:.3f}"
        figures.append(
            _figure(
                plot_template_fit(fit, directory / f"fit_{_file_name(tagger)}_{wp}", text=text),
                f"Template fit of {tagger} {wp}, {fit.label.describe().split(', ')[-1]}: "
                "soft-drop mass in the passing and failing jets, before and after the fit.",
            )
        )
    return figures


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
