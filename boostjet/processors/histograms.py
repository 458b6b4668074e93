"""Histogram booking and filling: one booking per quantity, filled per chunk, summed by coffea."""

from __future__ import annotations

import hist
import numpy as np

from boostjet.processors.jets import TRUTH_CLASSES


def _dataset(dataset: str | None = None) -> hist.axis.StrCategory:
    """Dataset axis; booking with the chunk's dataset keeps it even when nothing is filled."""
    return hist.axis.StrCategory(
        [dataset] if dataset else [], name="dataset", label="Dataset", growth=True
    )


def _truth() -> hist.axis.StrCategory:
    return hist.axis.StrCategory(
        [*TRUTH_CLASSES, "data"], name="truth", label="Truth class", growth=True
    )


def _pt(edges) -> hist.axis.Variable:
    return hist.axis.Variable(edges, name="pt", label=r"Jet $p_{T}$ [GeV]")


def score_histogram(pt_edges, bins: int, dataset: str | None = None) -> hist.Hist:
    """Tagger score by dataset, truth class and pT; fine score bins for ROC curves."""
    return hist.Hist(
        _dataset(dataset),
        _truth(),
        _pt(pt_edges),
        hist.axis.Regular(bins, 0.0, 1.0, name="score", label="Tagger score"),
        storage=hist.storage.Weight(),
    )


def response_histogram(pt_edges, abseta_edges, bins: int, dataset: str | None = None) -> hist.Hist:
    """Regression response (predicted / true) by dataset, pT and |η|."""
    return hist.Hist(
        _dataset(dataset),
        _pt(pt_edges),
        hist.axis.Variable(abseta_edges, name="abseta", label=r"Jet $|\eta|$"),
        hist.axis.Regular(bins, 0.0, 2.0, name="response", label="Predicted / true"),
        storage=hist.storage.Weight(),
    )


def energy_response_histogram(energy_edges, bins: int, dataset: str | None = None) -> hist.Hist:
    """Energy response by true (generator-level) jet energy, for the σ/E fit."""
    return hist.Hist(
        _dataset(dataset),
        hist.axis.Variable(energy_edges, name="energy_true", label=r"True jet energy [GeV]"),
        hist.axis.Regular(bins, 0.0, 2.0, name="response", label="Predicted / true"),
        storage=hist.storage.Weight(),
    )


def pull_histogram(pt_edges, dataset: str | None = None) -> hist.Hist:
    """(predicted − true) / predicted σ of a regressor that gives a per-jet σ, by dataset and pT."""
    return hist.Hist(
        _dataset(dataset),
        _pt(pt_edges),
        hist.axis.Regular(100, -5.0, 5.0, name="pull", label=r"(Predicted $-$ true) / $\sigma$"),
        storage=hist.storage.Weight(),
    )


#: Control distributions: name → (bins, low, high, axis label).
CONTROL_VARIABLES = {
    "sd_mass": (60, 0.0, 300.0, r"Soft-drop mass [GeV]"),
    "tau21": (50, 0.0, 1.0, r"$\tau_{21}$"),
    "tau32": (50, 0.0, 1.0, r"$\tau_{32}$"),
    "n_constituents": (60, 0.0, 120.0, "Number of constituents"),
}


def control_histogram(name: str, pt_edges, dataset: str | None = None) -> hist.Hist:
    """A jet substructure distribution by dataset, truth class and pT."""
    bins, low, high, label = CONTROL_VARIABLES[name]
    return hist.Hist(
        _dataset(dataset),
        _truth(),
        _pt(pt_edges),
        hist.axis.Regular(bins, low, high, name=name, label=label),
        storage=hist.storage.Weight(),
    )


def book(
    config,
    taggers: list[str],
    regressors: dict[str, str],
    dataset: str | None = None,
    with_sigma: tuple[str, ...] = (),
) -> dict[str, hist.Hist]:
    """Every histogram of a run, keyed by name, empty; ``regressors`` maps name → target kind,
    ``with_sigma`` names the regressors that predict a per-jet σ (they get a pull histogram)."""
    binning = config.histograms
    out = {
        f"score_{t}": score_histogram(binning.pt_edges, binning.score_bins, dataset)
        for t in taggers
    }
    for name, kind in regressors.items():
        out[f"response_{name}"] = response_histogram(
            binning.pt_edges, binning.abseta_edges, binning.response_bins, dataset
        )
        if kind == "energy":
            out[f"energy_response_{name}"] = energy_response_histogram(
                binning.energy_edges, binning.response_bins, dataset
            )
    for name in with_sigma:
        out[f"pull_{name}"] = pull_histogram(binning.pt_edges, dataset)
    for name in CONTROL_VARIABLES:
        out[f"control_{name}"] = control_histogram(name, binning.pt_edges, dataset)
    return out


def truth_names(labels: np.ndarray, is_data: bool) -> np.ndarray:
    """Truth-class names for the truth axis; every data jet is "data"."""
    if is_data:
        return np.full(len(labels), "data")
    return np.asarray(TRUTH_CLASSES)[labels]
