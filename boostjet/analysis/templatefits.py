"""The run's tagging scale factors: one pass/fail template fit (templatefit.py) per tagger,
frozen working point and pT bin, from the ``template_<tagger>`` histograms.

Data: the data datasets for the tagger's signal (metadata ``signal`` equal to it or unset).
Templates: the simulated datasets for that signal, each scaled by its summary ``weight``, one
per truth class; the tagger's signal class is the signal. QCD floats freely in pass and fail;
every other background has a log-normal prior of ``minor_background_uncertainty`` (config
``scale_factors``). Shower variations present in the histogram enter as nuisance parameters; a
simulated dataset without them (a file without WeightNames) enters them unvaried, said once.
The subtraction SF at the same thresholds (data minus simulated background, over ε_MC) is kept
beside each fit as a cross-check.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

import hist
import numpy as np

from boostjet.analysis.fitinput import (
    BackgroundNorm,
    FitInput,
    FitLabel,
    Region,
    merge_unsimulated_bins,
)
from boostjet.analysis.fitresult import ScaleFactorFit
from boostjet.analysis.rundata import Run
from boostjet.analysis.templatefit import fit_scale_factor
from boostjet.histograms import DATA_TRUTH, NOMINAL, TRUTH_CLASSES, template_key

FREE_BACKGROUND = "qcd"
DEFAULT_MINOR_UNCERTAINTY = 0.5


@dataclasses.dataclass(frozen=True)
class TemplateFits:
    """Every fit of a run, the thresholds they used, the subtraction cross-check per fit
    (None where undefined), which datasets entered each tagger's fits, and notes."""

    fits: list[ScaleFactorFit]
    thresholds: dict[str, dict[str, float]]
    subtraction: dict[tuple[str, str, float], float | None]
    datasets: dict[str, dict[str, list[str]]]
    notes: list[str]

    def to_dict(self) -> dict[str, Any]:
        """tagger → working point → list of fits (``to_dict``) by pT bin, with the
        cross-check ``subtraction_sf``; the thresholds, datasets and notes."""
        out: dict[str, Any] = {}
        for fit in self.fits:
            label = fit.label
            entry = fit.to_dict() | {
                "subtraction_sf": self.subtraction.get(
                    (label.tagger, label.working_point, label.pt_low)
                )
            }
            out.setdefault(label.tagger, {}).setdefault(label.working_point, []).append(entry)
        return {
            "fits": out,
            "thresholds": self.thresholds,
            "datasets": self.datasets,
            "notes": self.notes,
        }


def template_fits(run: Run) -> TemplateFits:
    """Fit every (tagger, working point, pT bin) the run's histograms and settings allow."""
    settings = run.summary.get("scale_factors") or {}
    chosen = settings.get("taggers")
    uncertainty = settings.get("minor_background_uncertainty", DEFAULT_MINOR_UNCERTAINTY)
    all_thresholds = run.summary.get("thresholds") or {}
    fits, subtraction, used, datasets, notes = [], {}, {}, {}, []
    for tagger, signal in run.taggers.items():
        if chosen is not None and tagger not in chosen:
            continue
        names = [d for d in run.metadata if _for(run, d, signal)]
        data = [d for d in names if run.metadata[d].get("is_data")]
        simulation = [d for d in names if not run.metadata[d].get("is_data")]
        if not data or not simulation:
            continue  # the subtraction section says why there is no data
        if template_key(tagger) not in run.hists or tagger not in all_thresholds:
            notes.append(
                f"{tagger} has no frozen working points (no 'working_points' table in its "
                "metadata, no models[].thresholds, or a run of an older boostjet): no "
                "template-fit scale factors."
            )
            continue
        filled = list(run.hists[template_key(tagger)].axes["dataset"])
        data = [d for d in data if d in filled]
        simulation = [d for d in simulation if d in filled]
        if not data or not simulation:
            continue
        thresholds = dict(all_thresholds[tagger])
        used[tagger] = thresholds
        datasets[tagger] = {"data": data, "simulation": simulation}
        cells, unvaried = _cells(run, tagger, data, simulation, thresholds)
        notes += [n for n in unvaried if n not in notes]
        backgrounds = {
            c: BackgroundNorm("constrained", uncertainty)
            for c in TRUTH_CLASSES
            if c not in (signal, FREE_BACKGROUND)
        }
        for label, passing, failing, edges in cells:
            fit_input = merge_unsimulated_bins(
                FitInput(passing, failing, signal, label, edges, backgrounds)
            )
            fits.append(fit_scale_factor(fit_input))
            subtraction[(tagger, label.working_point, label.pt_low)] = _subtraction(fit_input)
    notes += [fit.reason for fit in fits if not fit.ok]
    return TemplateFits(fits, used, subtraction, datasets, notes)


def _for(run: Run, dataset: str, signal: str) -> bool:
    return run.metadata.get(dataset, {}).get("signal") in (None, signal)


def _cells(run: Run, tagger: str, data: list[str], simulation: list[str], thresholds):
    """(label, pass Region, fail Region, observable edges) per working point and pT bin, and a
    note per simulated dataset without shower variations."""
    h = run.hists[template_key(tagger)]
    systematics = list(h.axes["systematic"])
    sources = sorted({s.rsplit("_", 1)[0] for s in systematics if s != NOMINAL})
    varied = [f"{s}_{d}" for s in sources for d in ("up", "down")]
    score_edges = h.axes["score"].edges
    truths = [t for t in TRUTH_CLASSES if t in h.axes["truth"]]
    notes = []
    out = []
    for wp, threshold in sorted(thresholds.items()):
        k = int(np.argmin(np.abs(score_edges - threshold)))  # the threshold is an edge
        regions = {"pass": slice(k, None, sum), "fail": slice(None, k, sum)}
        yields: dict[str, dict[str, np.ndarray]] = {}
        for region, score in regions.items():
            if k == 0 and region == "fail":  # every jet passes: an empty fail region
                cut = h[{"score": sum}] * 0.0
            else:
                cut = h[{"score": score}]  # dataset, truth, systematic, pt, sd_mass
            mc = {t: {s: 0.0 for s in [NOMINAL, *varied]} for t in truths}
            mc_var = {t: 0.0 for t in truths}
            for dataset in simulation:
                weight = run.metadata[dataset]["weight"]
                part = cut[{"dataset": hist.loc(dataset)}]
                for t in truths:
                    nominal = part[{"truth": hist.loc(t), "systematic": hist.loc(NOMINAL)}]
                    mc[t][NOMINAL] = mc[t][NOMINAL] + weight * nominal.values()
                    mc_var[t] = mc_var[t] + weight**2 * nominal.variances()
                    for s in varied:
                        values = part[{"truth": hist.loc(t), "systematic": hist.loc(s)}].values()
                        if _lacks(part, s):
                            values = nominal.values()
                        mc[t][s] = mc[t][s] + weight * values
            for dataset in simulation:
                if sources and _lacks(cut[{"dataset": hist.loc(dataset)}], varied[0]):
                    notes.append(
                        f"Dataset {dataset} has no shower-variation weights (its files carry no "
                        "WeightNames string): its templates enter the isr/fsr variations unvaried."
                    )
            observed = sum(
                cut[
                    {
                        "dataset": hist.loc(d),
                        "truth": hist.loc(DATA_TRUTH),
                        "systematic": hist.loc(NOMINAL),
                    }
                ].values()
                for d in data
            )
            yields[region] = {"mc": mc, "var": mc_var, "data": observed}
        pt_edges = h.axes["pt"].edges
        for i, (low, high) in enumerate(itertools.pairwise(pt_edges)):
            label = FitLabel(tagger, wp, float(low), float(high))
            regions_out = []
            for region in ("pass", "fail"):
                y = yields[region]
                regions_out.append(
                    Region(
                        data=y["data"][i],
                        templates={t: y["mc"][t][NOMINAL][i] for t in truths},
                        variances={t: y["var"][t][i] for t in truths},
                        up={s: {t: y["mc"][t][f"{s}_up"][i] for t in truths} for s in sources},
                        down={s: {t: y["mc"][t][f"{s}_down"][i] for t in truths} for s in sources},
                    )
                )
            out.append((label, *regions_out, h.axes["sd_mass"].edges))
    return out, list(dict.fromkeys(notes))


def _lacks(part: hist.Hist, systematic: str) -> bool:
    """True when ``part`` (one dataset) has nominal entries but none under ``systematic``."""
    nominal = part[{"systematic": hist.loc(NOMINAL)}].values().sum()
    return nominal > 0 and part[{"systematic": hist.loc(systematic)}].values().sum() == 0


def _subtraction(fit_input: FitInput) -> float | None:
    """SF by subtracting the simulated background from data, at the fit's thresholds; None
    where an efficiency is undefined."""
    totals = {}
    for name, region in fit_input.regions().items():
        signal = region.templates[fit_input.signal].sum()
        background = sum(v.sum() for c, v in region.templates.items() if c != fit_input.signal)
        totals[name] = (region.data.sum() - background, signal)
    data_all = totals["pass"][0] + totals["fail"][0]
    mc_all = totals["pass"][1] + totals["fail"][1]
    if data_all <= 0 or mc_all <= 0 or totals["pass"][1] <= 0:
        return None
    return float((totals["pass"][0] / data_all) / (totals["pass"][1] / mc_all))
