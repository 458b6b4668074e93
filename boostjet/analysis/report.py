"""Markdown + JSON report of the analysis results (tables of numbers, figure links, warnings)."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from boostjet.analysis.efficiency import to_jsonable
from boostjet.analysis.resolution import EnergyResolutionFit, ResolutionTable
from boostjet.analysis.roc import TaggerPerformance
from boostjet.analysis.scalefactors import ScaleFactor


def write_report(
    directory: str | Path,
    *,
    performances: Sequence[TaggerPerformance] = (),
    scale_factors: Sequence[ScaleFactor] = (),
    resolutions: Sequence[ResolutionTable] = (),
    energy_fits: Sequence[EnergyResolutionFit] = (),
    figures: Sequence[str | Path] = (),
    title: str = "boostjet analysis report",
) -> list[Path]:
    """Write ``report.md`` and ``report.json`` into ``directory``; returns both paths.

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
    warnings = [w for group in results.values() for result in group for w in result.warnings]
    lines = [f"# {title}", ""]
    lines += _tagger_section(performances)
    lines += _scale_factor_section(scale_factors)
    lines += _resolution_section(resolutions)
    lines += _energy_fit_section(energy_fits)
    pngs = [Path(f) for f in figures if Path(f).suffix == ".png"]
    if pngs:
        lines += ["## Figures", ""]
        lines += [f"![{p.stem}]({_relative(p, directory)})" for p in pngs] + [""]
    lines += ["## Warnings", ""]
    lines += [f"- {w}" for w in dict.fromkeys(warnings)] or ["None."]
    markdown = directory / "report.md"
    markdown.write_text("\n".join(lines) + "\n", encoding="utf-8")
    summary = directory / "report.json"
    payload = {**to_jsonable(results), "warnings": list(dict.fromkeys(warnings))}
    summary.write_text(json.dumps(payload, allow_nan=False, indent=1), encoding="utf-8")
    return [markdown, summary]


def _tagger_section(performances: Sequence[TaggerPerformance]) -> list[str]:
    if not performances:
        return []
    lines = [
        "## Taggers (simulation)",
        "",
        "Balanced accuracy = max over thresholds of (ε_S + 1 − ε_B)/2; 1/ε_B intervals are "
        "Clopper–Pearson (68 %) on ε_B.",
        "",
        "| tagger | signal | pT [GeV] | AUC | accuracy | 1/ε_B (ε_S=0.3) | 1/ε_B (ε_S=0.5) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for perf in performances:
        for curve in (perf.inclusive, *perf.per_pt):
            rejections = {round(r.eff_signal, 3): r for r in curve.rejections}
            cells = [
                _interval(rejections[t].value, rejections[t].lower, rejections[t].upper)
                if t in rejections
                else "–"
                for t in (0.3, 0.5)
            ]
            lines.append(
                f"| {perf.tagger} | {perf.signal} | {curve.pt_low:g}–{curve.pt_high:g} | "
                f"{_number(curve.auc, 4)} | {_number(curve.accuracy, 3)} | "
                f"{cells[0]} | {cells[1]} |"
            )
    lines += [
        "",
        "| tagger | working point | score threshold | ε_S | ε_B |",
        "| --- | --- | --- | --- | --- |",
    ]
    for perf in performances:
        for wp in perf.working_points:
            lines.append(
                f"| {perf.tagger} | {wp.name} | {_number(wp.threshold, 4)} | "
                f"{_number(wp.eff_signal, 3)} | {_number(wp.eff_background, 3)} |"
            )
    return [*lines, ""]


def _scale_factor_section(scale_factors: Sequence[ScaleFactor]) -> list[str]:
    if not scale_factors:
        return []
    lines = ["## Scale factors", ""]
    for sf in scale_factors:
        subtraction = (
            f"simulated background ({', '.join(sf.background_classes)}) subtracted from data"
            if sf.background_subtracted
            else "no background subtraction"
        )
        lines += [
            f"### {sf.tagger} {sf.working_point} (score ≥ {sf.threshold:.4g}, {sf.signal})",
            "",
            f"Data: {', '.join(sf.data_datasets) or 'none'}; simulation: "
            f"{', '.join(sf.mc_datasets)}; {subtraction}.",
            "",
            "| pT [GeV] | ε_MC | ε_data | SF | subtracted pass / total |",
            "| --- | --- | --- | --- | --- |",
        ]
        for i in range(len(sf.pt_edges) - 1):
            lines.append(
                f"| {sf.pt_edges[i]:g}–{sf.pt_edges[i + 1]:g} | "
                f"{_pm(sf.eff_mc.value[i], sf.eff_mc.error[i])} | "
                f"{_pm(sf.eff_data.value[i], sf.eff_data.error[i])} | "
                f"{_pm(sf.value[i], sf.error[i])} | "
                f"{sf.subtracted_passing[i]:.1f} / {sf.subtracted_total[i]:.1f} |"
            )
        lines.append("")
    return lines


def _resolution_section(resolutions: Sequence[ResolutionTable]) -> list[str]:
    if not resolutions:
        return []
    lines = [
        "## Response scale and resolution",
        "",
        "Scale = q50, resolution = (q84 − q16)/(2 q50) of the response predicted/true.",
        "",
        "| regressor | pT [GeV] | abs(η) | scale | resolution |",
        "| --- | --- | --- | --- | --- |",
    ]
    for table in resolutions:
        for i, j in np.ndindex(table.scale.shape):
            lines.append(
                f"| {table.regressor} | {table.pt_edges[i]:g}–{table.pt_edges[i + 1]:g} | "
                f"{table.abseta_edges[j]:g}–{table.abseta_edges[j + 1]:g} | "
                f"{_pm(table.scale[i, j], table.scale_error[i, j])} | "
                f"{_pm(table.resolution[i, j], table.resolution_error[i, j])} |"
            )
    return [*lines, ""]


def _energy_fit_section(fits: Sequence[EnergyResolutionFit]) -> list[str]:
    if not fits:
        return []
    lines = [
        "## Energy resolution σ/E = a/√E ⊕ b ⊕ c/E",
        "",
        "| regressor | a [√GeV] | b | c [GeV] | χ²/ndf |",
        "| --- | --- | --- | --- | --- |",
    ]
    for fit in fits:
        lines.append(
            f"| {fit.regressor} | {_pm(fit.a, fit.a_error)} | {_pm(fit.b, fit.b_error)} | "
            f"{_pm(fit.c, fit.c_error)} | {_number(fit.chi2, 3)}/{fit.ndf} |"
        )
    return [*lines, ""]


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
