"""Plots of the analysis results (matplotlib Agg canvas, mplhep CMS-like style, PNG + PDF).

Every function takes an output path *stem* (no suffix), writes ``stem.png`` and ``stem.pdf`` and
returns both paths. Figures are built on their own Agg canvas, never through pyplot's global state.
The sample/selection text goes in the legend title so that it cannot collide with the legend.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import hist
import matplotlib as mpl
import mplhep as hep
import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from boostjet.analysis.efficiency import (
    Metadata,
    dataset_weights,
    get_histogram,
    inner_slice,
    require_axes,
    simulation_datasets,
    summed,
)
from boostjet.analysis.resolution import EnergyResolutionFit, ResolutionCurve, ResolutionTable
from boostjet.analysis.roc import TaggerPerformance
from boostjet.analysis.scalefactors import ScaleFactor
from boostjet.histograms import RESPONSE_AXES, SCORE_AXES, response_key, score_key

EXPERIMENT = "boostjet"
TRUTH_LABELS = {"top": "top", "w": "W", "qcd": "QCD", "other": "other (unmatched)"}
PT_LABEL = r"Jet $p_{T}$ [GeV]"
MARKERS = ("o", "s", "^", "v", "D", "P", "X", "*")


def plot_roc(
    performances: Sequence[TaggerPerformance],
    stem: str | Path,
    *,
    pt_bin: int | None = None,
    text: str | None = None,
) -> list[Path]:
    """Background rejection 1/ε_B (log) vs ε_S, one curve per tagger, AUC in the legend."""
    with _style():
        fig, ax = _figure()
        for perf in performances:
            curve = perf.inclusive if pt_bin is None else perf.per_pt[pt_bin]
            keep = (curve.eff_background > 0) & (curve.eff_signal > 0)
            ax.plot(
                curve.eff_signal[keep],
                1.0 / curve.eff_background[keep],
                label=f"{perf.tagger} (AUC = {curve.auc:.3f})",
            )
        eff = np.linspace(0.01, 1.0, 100)
        ax.plot(eff, 1.0 / eff, color="grey", linestyle=":", label="random")
        ax.set_yscale("log")
        ax.set_xlim(0.0, 1.0)
        ax.set_xlabel(r"Signal efficiency $\varepsilon_{S}$")
        ax.set_ylabel(r"Background rejection $1/\varepsilon_{B}$")
        if text is None and performances:
            first = performances[0]
            curve = first.inclusive if pt_bin is None else first.per_pt[pt_bin]
            text = _selection(first.signal, first.background, curve.pt_low, curve.pt_high)
        _decorate(ax, text, "Simulation", loc="upper right")
        _expand_top(ax, 1.5)
        return _save(fig, stem)


def plot_score_distributions(
    hists: Mapping[str, hist.Hist],
    tagger: str,
    stem: str | Path,
    *,
    metadata: Metadata | None = None,
    pt_bin: int | None = None,
    classes: Sequence[str] = ("top", "w", "qcd", "other"),
    merge_bins: int = 20,
    text: str | None = None,
) -> list[Path]:
    """Tagger score per truth class, each normalised to unit area (simulation only)."""
    key = score_key(tagger)
    h = get_histogram(hists, key)
    require_axes(h, key, SCORE_AXES)
    h = h.project(*SCORE_AXES)
    datasets = simulation_datasets(h, metadata)
    weights = dataset_weights(h, key, datasets, metadata)
    pt_axis, score_axis = h.axes["pt"], h.axes["score"]
    pt_slice = _bin_slice(pt_axis, pt_bin)
    edges = score_axis.edges[::merge_bins]
    with _style():
        fig, ax = _figure()
        for truth in classes:
            if truth not in h.axes["truth"]:
                continue
            values, _ = summed(h, key, datasets, weights, truth=[truth])
            spectrum = values[pt_slice].sum(axis=0)[inner_slice(score_axis)]
            spectrum = spectrum[: (len(edges) - 1) * merge_bins].reshape(-1, merge_bins).sum(axis=1)
            if spectrum.sum() <= 0:
                continue
            hep.histplot(
                spectrum / spectrum.sum(),
                edges,
                ax=ax,
                label=TRUTH_LABELS.get(truth, truth),
                linewidth=2,
            )
        ax.set_yscale("log")
        ax.set_xlim(edges[0], edges[-1])
        ax.set_xlabel(f"{tagger} score")
        ax.set_ylabel("Fraction of jets / bin")
        text = text or _range_text(pt_axis, pt_bin, "$p_{T}$", " GeV")
        _decorate(ax, text, "Simulation", loc="upper center")
        _expand_top(ax, 1.45)
        return _save(fig, stem)


def plot_efficiency(sf: ScaleFactor, stem: str | Path, *, text: str | None = None) -> list[Path]:
    """ε_data and ε_MC vs pT with the scale factor ε_data/ε_MC in a ratio panel."""
    edges = sf.pt_edges
    centres, half_widths = 0.5 * (edges[1:] + edges[:-1]), 0.5 * np.diff(edges)
    with _style():
        fig, (ax, ratio) = _figure(ratio=True)
        ax.errorbar(
            centres,
            sf.eff_mc.value,
            xerr=half_widths,
            yerr=_asymmetric(sf.eff_mc.value, sf.eff_mc.lower, sf.eff_mc.upper),
            marker="s",
            linestyle="none",
            color="C0",
            label="Simulation",
        )
        ax.errorbar(
            centres,
            sf.eff_data.value,
            xerr=half_widths,
            yerr=_asymmetric(sf.eff_data.value, sf.eff_data.lower, sf.eff_data.upper),
            marker="o",
            linestyle="none",
            color="black",
            label="Data" + (" (bkg. subtracted)" if sf.background_subtracted else ""),
        )
        ax.set_ylabel("Tagging efficiency")
        ax.set_ylim(0.0, 1.35)
        ratio.errorbar(
            centres,
            sf.value,
            xerr=half_widths,
            yerr=sf.error,
            marker="o",
            linestyle="none",
            color="black",
        )
        ratio.axhline(1.0, color="grey", linestyle="--")
        ratio.set_ylabel("Data / Sim.")
        finite = sf.value[np.isfinite(sf.value)]
        spread = (
            np.nanmax(np.abs(finite - 1) + sf.error[np.isfinite(sf.value)]) if finite.size else 0
        )
        ratio.set_ylim(1 - max(0.25, 1.2 * spread), 1 + max(0.25, 1.2 * spread))
        ratio.set_xlabel(PT_LABEL)
        ratio.set_xlim(edges[0], edges[-1])
        if text is None:
            signal = TRUTH_LABELS.get(sf.signal, sf.signal)
            point = f" ({sf.working_point})" if sf.working_point else ""
            text = f"{signal} jets, {sf.tagger} score ≥ {sf.threshold:.3g}{point}"
        _decorate(ax, text, "Data / Simulation", loc="upper right")
        return _save(fig, stem)


def plot_response(
    hists: Mapping[str, hist.Hist],
    regressors: Sequence[str],
    stem: str | Path,
    *,
    metadata: Metadata | None = None,
    pt_bin: int | None = None,
    abseta_bin: int | None = None,
    merge_bins: int = 4,
    xlabel: str = "Response (predicted / true)",
    text: str | None = None,
) -> list[Path]:
    """Response distributions, one per regressor, normalised to unit area."""
    with _style():
        fig, ax = _figure()
        selection = ""
        for regressor in regressors:
            key = response_key(regressor)
            h = get_histogram(hists, key)
            require_axes(h, key, RESPONSE_AXES)
            h = h.project(*RESPONSE_AXES)
            datasets = simulation_datasets(h, metadata)
            values, _ = summed(h, key, datasets, dataset_weights(h, key, datasets, metadata))
            pt_axis, eta_axis, response_axis = h.axes["pt"], h.axes["abseta"], h.axes["response"]
            values = values[_bin_slice(pt_axis, pt_bin)][:, _bin_slice(eta_axis, abseta_bin)]
            spectrum = values.sum(axis=(0, 1))[inner_slice(response_axis)]
            edges = response_axis.edges[::merge_bins]
            spectrum = spectrum[: (len(edges) - 1) * merge_bins].reshape(-1, merge_bins).sum(1)
            if spectrum.sum() > 0:
                hep.histplot(spectrum / spectrum.sum(), edges, ax=ax, label=regressor, linewidth=2)
            selection = (
                _range_text(pt_axis, pt_bin, "$p_{T}$", " GeV")
                + ", "
                + _range_text(eta_axis, abseta_bin, r"$|\eta|$", "")
            )
        ax.axvline(1.0, color="grey", linestyle=":")
        ax.set_xlim(response_axis.edges[0], response_axis.edges[-1])
        ax.set_xlabel(xlabel)
        ax.set_ylabel("Fraction of jets / bin")
        _decorate(ax, text or selection, "Simulation", loc="upper right")
        _expand_top(ax, 1.25)
        return _save(fig, stem)


def plot_resolution(
    tables: Sequence[ResolutionTable],
    stem: str | Path,
    *,
    abseta_bin: int = 0,
    quantity: str = "mass",
    text: str | None = None,
) -> list[Path]:
    """Scale (q50) and resolution (q84 − q16)/(2 q50) vs pT, one series per regressor."""
    with _style():
        fig, (top, bottom) = _figure(ratio=True, height_ratios=(1, 1))
        for n, table in enumerate(tables):
            edges = table.pt_edges
            centres = 0.5 * (edges[1:] + edges[:-1])
            offset = (n - (len(tables) - 1) / 2) * 0.06 * np.diff(edges)
            style = {"marker": MARKERS[n % len(MARKERS)], "linestyle": "none", "color": f"C{n}"}
            top.errorbar(
                centres + offset,
                table.scale[:, abseta_bin],
                yerr=table.scale_error[:, abseta_bin],
                label=table.regressor,
                **style,
            )
            bottom.errorbar(
                centres + offset,
                table.resolution[:, abseta_bin],
                yerr=table.resolution_error[:, abseta_bin],
                **style,
            )
        top.axhline(1.0, color="grey", linestyle=":")
        top.set_ylabel(f"{quantity.capitalize()} scale $q_{{50}}$")
        bottom.set_ylabel(f"{quantity.capitalize()} resolution")
        bottom.set_ylim(bottom=0)
        bottom.set_xlabel(PT_LABEL)
        if tables:
            bottom.set_xlim(tables[0].pt_edges[0], tables[0].pt_edges[-1])
            eta = tables[0].abseta_edges
            text = text or rf"{eta[abseta_bin]:g} < $|\eta|$ < {eta[abseta_bin + 1]:g}"
        _decorate(top, text, "Simulation", loc="upper right")
        _expand_top(top, 1.3 + 0.15 * len(tables))
        return _save(fig, stem)


def plot_energy_resolution(
    curves: Sequence[ResolutionCurve],
    stem: str | Path,
    *,
    fits: Sequence[EnergyResolutionFit | None] = (),
    text: str | None = None,
) -> list[Path]:
    """σ/E vs true energy, one series per regressor, with the a/√E ⊕ b ⊕ c/E fit if given."""
    fits = list(fits) + [None] * (len(curves) - len(fits))
    with _style():
        fig, ax = _figure()
        for n, (curve, fit) in enumerate(zip(curves, fits, strict=True)):
            colour = f"C{n}"
            ax.errorbar(
                curve.energy,
                curve.resolution,
                xerr=0.5 * np.diff(curve.energy_edges),
                yerr=curve.resolution_error,
                marker=MARKERS[n % len(MARKERS)],
                linestyle="none",
                color=colour,
                label=curve.regressor,
            )
            if fit is not None and fit.valid:
                energy = np.geomspace(curve.energy_edges[0], curve.energy_edges[-1], 200)
                ax.plot(
                    energy,
                    fit(energy),
                    color=colour,
                    label=(
                        rf"{curve.regressor} fit: $a$ = {fit.a:.2f} GeV$^{{1/2}}$, "
                        rf"$b$ = {fit.b:.3f}, $c$ = {fit.c:.1f} GeV"
                    ),
                )
        ax.set_xscale("log")
        if curves:
            ax.set_xlim(curves[0].energy_edges[0], curves[0].energy_edges[-1])
        ax.set_ylim(bottom=0)
        ax.set_xlabel(r"True jet energy $E$ [GeV]")
        ax.set_ylabel(r"Energy resolution $\sigma_{E}/E$")
        _decorate(ax, text or r"σ/E = a/√E $\oplus$ b $\oplus$ c/E", "Simulation")
        _expand_top(ax, 1.2 + 0.2 * len(curves))
        return _save(fig, stem)


def plot_loss(
    log: Mapping[str, Sequence[float]], stem: str | Path, *, text: str | None = None
) -> list[Path]:
    """Training and validation loss per epoch from a training log (epoch, train_loss, val_loss)."""
    epoch = np.asarray(log["epoch"])
    with _style():
        fig, ax = _figure()
        for name, label in (("train_loss", "training"), ("val_loss", "validation")):
            if name in log:
                ax.plot(epoch, log[name], marker="o", label=label)
        if "val_loss" in log and len(log["val_loss"]):
            best = int(np.argmin(log["val_loss"]))
            ax.plot(
                epoch[best],
                log["val_loss"][best],
                marker="*",
                markersize=22,
                linestyle="none",
                color="black",
                label=f"lowest validation loss (epoch {epoch[best]})",
            )
        losses = np.concatenate(
            [np.asarray(log[n], float) for n in ("train_loss", "val_loss") if n in log]
        )
        positive = losses[losses > 0]
        if positive.size and positive.max() / positive.min() > 10:
            ax.set_yscale("log")
        ax.set_xlabel("Epoch")
        ax.set_ylabel("Loss")
        _decorate(ax, text, "Simulation", loc="upper right")
        _expand_top(ax, 1.3)
        return _save(fig, stem)


@contextmanager
def _style() -> Iterator[None]:
    with mpl.style.context(hep.style.CMS), mpl.rc_context({"font.size": 20}):
        yield


def _figure(
    ratio: bool = False, height_ratios: tuple[float, float] = (3, 1)
) -> tuple[Figure, Axes] | tuple[Figure, tuple[Axes, Axes]]:
    fig = Figure(figsize=(10, 9 if not ratio else 10), layout="constrained")
    FigureCanvasAgg(fig)
    if not ratio:
        return fig, fig.add_subplot()
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": height_ratios})
    top.tick_params(labelbottom=False)
    return fig, (top, bottom)


def _decorate(ax: Axes, text: str | None, status: str, loc: str = "best") -> None:
    """Experiment/status line above the axes; selection text as the legend title."""
    ax.text(0.0, 1.01, EXPERIMENT, transform=ax.transAxes, fontweight="bold", va="bottom")
    ax.text(0.2, 1.01, status, transform=ax.transAxes, fontstyle="italic", va="bottom", ha="left")
    handles, labels = ax.get_legend_handles_labels()
    if not handles:
        ax.text(0.5, 0.5, "no entries", transform=ax.transAxes, ha="center", va="center")
    ax.legend(
        handles,
        labels,
        title=text,
        loc=loc,
        fontsize="small",
        title_fontsize="small",
        alignment="left",
    )


def _expand_top(ax: Axes, factor: float = 1.4) -> None:
    """Leave head-room above the data for the legend (in decades on a log axis)."""
    low, high = ax.get_ylim()
    if ax.get_yscale() == "log":
        ax.set_ylim(low, low * (high / low) ** factor)
    else:
        ax.set_ylim(low, low + factor * (high - low))


def _save(fig: Figure, stem: str | Path) -> list[Path]:
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = [stem.parent / f"{stem.name}.{suffix}" for suffix in ("png", "pdf")]
    for path in paths:
        fig.savefig(path, dpi=100)
    return paths


def _asymmetric(value: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """Error-bar lengths; a background-subtracted value can leave its [0, 1] interval."""
    return np.clip(np.vstack([value - lower, upper - value]), 0.0, None)


def _bin_slice(axis: hist.axis.Axis, index: int | None) -> slice:
    if index is None:
        return inner_slice(axis)
    start = index + (1 if axis.traits.underflow else 0)
    return slice(start, start + 1)


def _range_text(axis: hist.axis.Axis, index: int | None, name: str, unit: str) -> str:
    low, high = (axis.edges[0], axis.edges[-1]) if index is None else axis.edges[index : index + 2]
    return f"{low:g} < {name} < {high:g}{unit}"


def _selection(signal: str, background: str, pt_low: float, pt_high: float) -> str:
    names = f"{TRUTH_LABELS.get(signal, signal)} vs {TRUTH_LABELS.get(background, background)}"
    return f"{names}, {pt_low:g} < $p_{{T}}$ < {pt_high:g} GeV"
