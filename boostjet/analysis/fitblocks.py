"""The report section of the template-fit scale factors: method, one table per tagger and
working point (SF ± stat ± syst per pT bin, the subtraction cross-check beside it), notes."""

from __future__ import annotations

from collections.abc import Sequence

from boostjet.analysis.document import Block, Figure, Heading, Table, Text
from boostjet.analysis.templatefits import TemplateFits

METHOD = (
    "Scale factors SF = ε_data / ε_MC from a simultaneous binned likelihood fit of the "
    "soft-drop mass in the jets that pass and fail each frozen working point "
    "(docs/scalefactors.md): simulated templates per truth class, the signal normalised "
    "freely in pass and fail, QCD freely per region, the other backgrounds with a log-normal "
    "prior, shower variations (isr, fsr) as nuisance parameters where the files carry them, "
    "and the simulation's statistics per bin. The working points are the thresholds fixed "
    "before the run (model metadata, the cut-based table, or the configuration), not the "
    "ones this run's ROC finds. 'subtraction' is the old method at the same thresholds, a "
    "cross-check only. The correctionlib file holds every SF and threshold."
)


def template_fit_blocks(
    fits: TemplateFits, figures: Sequence[Figure], delivery: str
) -> list[Block]:
    """Heading, method, tables and figures of the fits; their notes as text."""
    if not fits.fits and not fits.notes:
        return []
    blocks: list[Block] = [Heading("Scale factors (template fits)"), Text(METHOD)]
    if delivery:
        blocks.append(Text(f"correctionlib JSON: {delivery}."))
    cells: dict[tuple[str, str], list] = {}
    for fit in fits.fits:
        cells.setdefault((fit.label.tagger, fit.label.working_point), []).append(fit)
    for (tagger, wp), group in cells.items():
        rows = []
        for fit in group:
            label = fit.label
            cross = fits.subtraction.get((tagger, wp, label.pt_low))
            pt = f"{label.pt_low:g}–{label.pt_high:g}"
            if not fit.ok:
                rows.append([pt, "fit failed", "–", "–", "–", _num(cross)])
                continue
            rows.append(
                [
                    pt,
                    f"{fit.sf:.3f} ± {fit.sf_stat:.3f} (stat) ± {fit.sf_syst:.3f} (syst)",
                    f"{fit.eff_data:.3f} ± {fit.eff_data_error:.3f}",
                    f"{fit.eff_mc:.3f} ± {fit.eff_mc_error:.3f}",
                    f"{fit.gof.chi2:.1f} / {fit.gof.ndof}" if fit.gof else "–",
                    _num(cross),
                ]
            )
        used = fits.datasets[tagger]
        blocks += [
            Heading(
                f"{tagger} {wp} (score ≥ {fits.thresholds[tagger][wp]:.4g}, signal "
                f"{group[0].signal})",
                3,
            ),
            Text(
                f"Data: {', '.join(used['data'])}; templates: {', '.join(used['simulation'])} "
                "(scaled by their summary weights)."
            ),
            Table(
                ["pT [GeV]", "SF", "ε_data", "ε_MC", "χ² / ndf", "subtraction (cross-check)"],
                rows,
            ),
        ]
    blocks += list(figures)
    blocks += [Text(note) for note in fits.notes]
    return blocks


def _num(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"
