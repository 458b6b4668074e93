"""Every histogram of a run, declared once: names, axes, booking, and the naming rules.

The processor books and fills histograms with these names and axes; the analysis reads them with
the same names and checks the same axis tuples. A histogram name is spelled only here:

- ``score_<tagger>`` (:data:`SCORE_AXES`): tagger score by dataset, truth class and pT;
- ``response_<regressor>`` (:data:`RESPONSE_AXES`): predicted / true by dataset, pT and |η|;
- ``energy_response_<regressor>`` (:data:`ENERGY_RESPONSE_AXES`): energy regressors only, by true
  energy, for the σ/E fit;
- ``pull_<regressor>`` (:data:`PULL_AXES`): regressors that predict a per-jet σ;
- ``control_<variable>``: the substructure distributions of :data:`CONTROL_VARIABLES`;
- ``template_<tagger>`` (:data:`TEMPLATE_AXES`): the scale-factor fit's templates, by dataset,
  truth class, systematic variation, pT, score (bins at the tagger's frozen working-point
  thresholds) and the fitted observable (the soft-drop mass).

Working points are named from their target signal efficiency (:func:`working_point_name`,
``eS30``); systematic variations ``nominal`` and ``<source>_up``/``<source>_down``, the Pythia
shower variations :data:`SHOWER_VARIATIONS` read from a generated file's ``Weight`` collection
when its :data:`WEIGHT_NAMES_KEY` string names them.

Naming rules: the cut-based taggers are :data:`CUT_BASED` (one per signal class), the baseline
regressors ``mass_sd`` (soft-drop mass) and ``energy_reco`` (reconstructed energy), and every
energy model ``<model>`` comes with ``energy_linear_<model>``, the linear calibration of the
reconstructed energy. These are the baselines the networks are compared with.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import hist
import numpy as np

from boostjet.config import RunConfig
from boostjet.spec import ResolvedModel

#: Truth classes, in the order of the integer ``label`` the processor stores.
TRUTH_CLASSES = ("qcd", "top", "w", "other")
#: Truth-axis category of every jet of a data dataset.
DATA_TRUTH = "data"

SCORE_AXES = ("dataset", "truth", "pt", "score")
RESPONSE_AXES = ("dataset", "pt", "abseta", "response")
ENERGY_RESPONSE_AXES = ("dataset", "energy_true", "response")
PULL_AXES = ("dataset", "pt", "pull")
TEMPLATE_AXES = ("dataset", "truth", "systematic", "pt", "score", "sd_mass")

#: Systematic-axis entry of the unvaried simulation (and of every data jet).
NOMINAL = "nominal"
#: The Pythia 8 shower variations a generated file stores after the nominal event weight.
SHOWER_VARIATIONS = ("isr_up", "isr_down", "fsr_up", "fsr_down")
#: The file-level string naming the entries of each event's ``Weight`` collection.
WEIGHT_NAMES_KEY = "WeightNames"

#: The cut-based tagger of each signal class.
CUT_BASED = {"top": "cut_based_top", "w": "cut_based_w"}
MASS_BASELINE = "mass_sd"
ENERGY_BASELINE = "energy_reco"
LINEAR_PREFIX = "energy_linear_"

_SCORE = "score_"
_RESPONSE = "response_"
_ENERGY_RESPONSE = "energy_response_"
_PULL = "pull_"
_CONTROL = "control_"
_TEMPLATE = "template_"

#: Control distributions: name → (bins, low, high, axis label).
CONTROL_VARIABLES = {
    "sd_mass": (60, 0.0, 300.0, r"Soft-drop mass [GeV]"),
    "tau21": (50, 0.0, 1.0, r"$\tau_{21}$"),
    "tau32": (50, 0.0, 1.0, r"$\tau_{32}$"),
    "n_constituents": (60, 0.0, 120.0, "Number of constituents"),
}


def score_key(tagger: str) -> str:
    """Key of a tagger's score histogram in the saved dictionary."""
    return _SCORE + tagger


def response_key(regressor: str) -> str:
    """Key of a regressor's response histogram (axes dataset, pt, abseta, response)."""
    return _RESPONSE + regressor


def energy_response_key(regressor: str) -> str:
    """Key of a regressor's response-vs-true-energy histogram (dataset, energy_true, response)."""
    return _ENERGY_RESPONSE + regressor


def pull_key(regressor: str) -> str:
    """Key of a regressor's pull histogram (axes dataset, pt, pull)."""
    return _PULL + regressor


def control_key(variable: str) -> str:
    """Key of a control distribution's histogram (a key of CONTROL_VARIABLES)."""
    return _CONTROL + variable


def template_key(tagger: str) -> str:
    """Key of a tagger's scale-factor template histogram (axes :data:`TEMPLATE_AXES`)."""
    return _TEMPLATE + tagger


def working_point_name(target_eff_signal: float) -> str:
    """``eS30``, ``eS50``, ``eS70``: the working-point name for a target signal efficiency."""
    return f"eS{round(100 * target_eff_signal):02d}"


def taggers_in(names: Iterable[str]) -> list[str]:
    """The taggers whose score histograms are among ``names``, in their order."""
    return [name.removeprefix(_SCORE) for name in names if name.startswith(_SCORE)]


def regressors_in(names: Iterable[str]) -> list[str]:
    """The regressors whose response histograms are among ``names``, in their order."""
    return [name.removeprefix(_RESPONSE) for name in names if name.startswith(_RESPONSE)]


def signal_from_name(tagger: str) -> str:
    """A tagger's signal class by its name: "w" when ``w`` is one of its underscore-separated
    words (``cut_based_w``, ``dnn_w``), else "top"."""
    return "w" if "w" in tagger.split("_") else "top"


def linear_calibration_name(model: str) -> str:
    """The linear calibration of the reconstructed energy that comes with energy model
    ``model``."""
    return LINEAR_PREFIX + model


def is_baseline(name: str) -> bool:
    """True for the cut-based taggers and the baseline regressors (see the module docstring)."""
    return (
        name in CUT_BASED.values()
        or name in (MASS_BASELINE, ENERGY_BASELINE)
        or name.startswith(LINEAR_PREFIX)
    )


def tagger_names(models: Iterable[ResolvedModel]) -> list[str]:
    """Every tagger a run scores jets with: the cut-based ones, then the tagger models."""
    return [*CUT_BASED.values()] + [m.name for m in models if m.task == "tagger"]


def regressor_kinds(models: Iterable[ResolvedModel]) -> dict[str, str]:
    """Regressor name → target kind; baselines first (reco soft-drop mass, reco energy), and
    each energy model followed by its linear calibration."""
    kinds = {MASS_BASELINE: "mass", ENERGY_BASELINE: "energy"}
    for model in models:
        if model.task == "mass":
            kinds[model.name] = "mass"
        elif model.task == "energy":
            kinds |= {model.name: "energy", linear_calibration_name(model.name): "energy"}
    return kinds


def regressor_baselines(regressor: str, kind: str, regressors: Mapping[str, str]) -> list[str]:
    """The baselines of ``regressor`` (target ``kind``) that ``regressors`` holds."""
    if kind == "mass":
        candidates = [MASS_BASELINE]
    else:
        candidates = [linear_calibration_name(regressor), ENERGY_BASELINE]
    return [c for c in candidates if regressors.get(c) == kind]


def _dataset(dataset: str | None = None) -> hist.axis.StrCategory:
    """Dataset axis; booking with the chunk's dataset keeps it even when nothing is filled."""
    return hist.axis.StrCategory(
        [dataset] if dataset else [], name="dataset", label="Dataset", growth=True
    )


def _truth() -> hist.axis.StrCategory:
    return hist.axis.StrCategory(
        [*TRUTH_CLASSES, DATA_TRUTH], name="truth", label="Truth class", growth=True
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


def template_histogram(
    pt_edges, thresholds, observable: tuple[int, float, float], dataset: str | None = None
) -> hist.Hist:
    """Scale-factor templates of one tagger: score bins at its ``thresholds`` (a jet passes
    working point k when its score bin starts at or above threshold k), the soft-drop mass in
    ``observable`` = (bins, low, high); scores of 1 fall in the overflow (they pass), masses
    outside the range in the flow bins (not fitted). Flow bins everywhere, as ROOT's TH3."""
    edges = sorted({0.0, 1.0, *thresholds})
    bins, low, high = observable
    return hist.Hist(
        _dataset(dataset),
        _truth(),
        hist.axis.StrCategory([NOMINAL], name="systematic", label="Systematic", growth=True),
        _pt(pt_edges),
        hist.axis.Variable(edges, name="score", label="Tagger score"),
        hist.axis.Regular(bins, low, high, name="sd_mass", label=CONTROL_VARIABLES["sd_mass"][3]),
        storage=hist.storage.Weight(),
    )


def book(
    config: RunConfig,
    taggers: list[str],
    regressors: dict[str, str],
    dataset: str | None = None,
    with_sigma: tuple[str, ...] = (),
    thresholds: Mapping[str, Mapping[str, float]] | None = None,
) -> dict[str, hist.Hist]:
    """Every histogram of a run, keyed by name, empty; ``regressors`` maps name → target kind,
    ``with_sigma`` names the regressors that predict a per-jet σ (they get a pull histogram),
    ``thresholds`` (tagger → working point → score threshold) the taggers with templates."""
    binning = config.histograms
    out = {
        score_key(t): score_histogram(binning.pt_edges, binning.score_bins, dataset)
        for t in taggers
    }
    for name, kind in regressors.items():
        out[response_key(name)] = response_histogram(
            binning.pt_edges, binning.abseta_edges, binning.response_bins, dataset
        )
        if kind == "energy":
            out[energy_response_key(name)] = energy_response_histogram(
                binning.energy_edges, binning.response_bins, dataset
            )
    for name in with_sigma:
        out[pull_key(name)] = pull_histogram(binning.pt_edges, dataset)
    for name in CONTROL_VARIABLES:
        out[control_key(name)] = control_histogram(name, binning.pt_edges, dataset)
    observable = config.scale_factors.observable
    for tagger, table in (thresholds or {}).items():
        out[template_key(tagger)] = template_histogram(
            binning.pt_edges,
            table.values(),
            (observable.bins, observable.low, observable.high),
            dataset,
        )
    return out


def truth_names(labels: np.ndarray, is_data: bool) -> np.ndarray:
    """Truth-class names for the truth axis; every data jet is :data:`DATA_TRUTH`."""
    if is_data:
        return np.full(len(labels), DATA_TRUTH)
    return np.asarray(TRUTH_CLASSES)[labels]
