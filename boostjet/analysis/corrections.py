"""Tagging scale factors and working-point thresholds as correctionlib JSON (schema v2).

One CorrectionSet per run; for each tagger two corrections:

- ``<tagger>``: inputs ``systematic`` (string), ``working_point`` (string, e.g. ``eS50``) and
  ``pt`` (real, GeV) → the SF. ``systematic`` is ``nominal``; ``up``/``down`` (total
  uncertainty); ``stat_up``/``stat_down``; ``<source>_up``/``<source>_down`` for every source of
  the fits' breakdown (SF with that source at ±1σ; ``mcstat`` is the simulation's statistics).
  pT outside the fitted range takes the nearest bin (``clamp``).
- ``<tagger>_threshold``: input ``working_point`` → the score threshold (score ≥ threshold
  passes), fixed in simulation.

Numbers are stored with 15 significant digits: correctionlib's JSON parser is fast rather than
full-precision, and reads a 15-digit number back exactly, a 17-digit one to within 1 ulp.

A fit that failed (or is missing) is delivered as SF = 1 with a 100 % uncertainty — nominal 1,
``up``/``stat_up`` 2, ``down``/``stat_down`` 0, every source 1 — and named, with its reason, in
the correction's description and in :attr:`Delivery.fallbacks`; never as NaN.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import correctionlib
import correctionlib.highlevel
import correctionlib.schemav2 as cs

from boostjet.analysis.fitinput import DIRECTIONS, NOMINAL, variation_name
from boostjet.analysis.fitresult import ScaleFactorFit
from boostjet.errors import HistogramError

TOTAL = {"up": "up", "down": "down"}
STAT = {"up": "stat_up", "down": "stat_down"}
THRESHOLD_SUFFIX = "_threshold"
PT_FLOW = "clamp"
#: Relative uncertainty of the fallback SF = 1 delivered where a fit failed.
FALLBACK_UNCERTAINTY = 1.0
SIGNIFICANT_DIGITS = 15


def stored(value: float) -> float:
    """``value`` as the JSON holds it and correctionlib evaluates it (15 significant digits)."""
    return float(f"{value:.{SIGNIFICANT_DIGITS}g}")


@dataclasses.dataclass(frozen=True)
class Delivery:
    """A built CorrectionSet and the (tagger, working point, pT bin) cells that carry the
    fallback SF, each with why."""

    correction_set: cs.CorrectionSet
    fallbacks: tuple[str, ...]

    def write(self, path: str | Path) -> Path:
        """Write the JSON, check it against correctionlib's schema and evaluator, return the
        path."""
        path = Path(path)
        path.write_text(self.correction_set.model_dump_json(exclude_unset=True, indent=1))
        correctionlib.highlevel.model_auto(correctionlib.highlevel.open_auto(str(path)))
        correctionlib.CorrectionSet.from_file(str(path))
        return path


def scale_factor_corrections(
    fits: Sequence[ScaleFactorFit],
    thresholds: Mapping[str, Mapping[str, float]],
    *,
    run: str,
) -> Delivery:
    """The correctionlib set of ``fits`` (any taggers, working points, pT bins) with the
    score ``thresholds`` (tagger → working point → threshold) of every fitted tagger."""
    by_tagger: dict[str, list[ScaleFactorFit]] = {}
    for fit in fits:
        by_tagger.setdefault(fit.label.tagger, []).append(fit)
    corrections, fallbacks = [], []
    for tagger, tagger_fits in sorted(by_tagger.items()):
        if tagger not in thresholds:
            raise HistogramError(f"No working-point thresholds given for tagger {tagger!r}.")
        sf, tagger_fallbacks = _scale_factor_correction(tagger, tagger_fits, thresholds[tagger])
        corrections += [sf, _threshold_correction(tagger, thresholds[tagger])]
        fallbacks += tagger_fallbacks
    correction_set = cs.CorrectionSet(
        schema_version=2,
        description=f"boostjet tagging scale factors and working points, run {run}",
        corrections=corrections,
    )
    return Delivery(correction_set, tuple(fallbacks))


def _scale_factor_correction(
    tagger: str, fits: list[ScaleFactorFit], thresholds: Mapping[str, float]
) -> tuple[cs.Correction, list[str]]:
    edges = _pt_edges(tagger, fits)
    cells: dict[tuple[str, float], ScaleFactorFit] = {}
    for fit in fits:
        key = (fit.label.working_point, fit.label.pt_low)
        if key in cells:
            raise HistogramError(f"Two scale-factor fits for {fit.label.describe()}.")
        if fit.label.working_point not in thresholds:
            raise HistogramError(
                f"Working point {fit.label.working_point!r} of tagger {tagger!r} has no threshold."
            )
        cells[key] = fit
    working_points = sorted(thresholds)
    sources = sorted({i.source for fit in fits if fit.ok for i in fit.impacts})
    systematics = [NOMINAL, *TOTAL.values(), *STAT.values()]
    systematics += [variation_name(s, d) for s in sources for d in DIRECTIONS]
    if len(set(systematics)) != len(systematics):
        raise HistogramError(
            f"Systematic source names of tagger {tagger!r} collide with {systematics[:5]}."
        )
    table: dict[str, dict[str, list[float]]] = {s: {} for s in systematics}
    fallbacks = []
    for wp in working_points:
        columns: dict[str, list[float]] = {s: [] for s in systematics}
        for low, high in itertools.pairwise(edges):
            fit = cells.get((wp, low))
            if fit is None or not fit.ok:
                reason = fit.reason if fit else "no fit was given."
                fallbacks.append(f"{tagger} {wp} pT {low:g}–{high:g} GeV: {reason}")
            for systematic, value in _values(fit, sources).items():
                columns[systematic].append(stored(value))
        for systematic in systematics:
            table[systematic][wp] = columns[systematic]
    description = (
        f"Data/simulation tagging scale factor of {tagger} per working point and jet pT "
        f"(pT outside [{edges[0]:g}, {edges[-1]:g}] GeV: {PT_FLOW} to the nearest bin). "
        "Fallback SF = 1 ± 100 % (fit failed) in: " + ("; ".join(fallbacks) or "none") + "."
    )
    correction = cs.Correction(
        name=tagger,
        description=description,
        version=1,
        inputs=[
            cs.Variable(name="systematic", type="string", description=", ".join(systematics)),
            cs.Variable(name="working_point", type="string", description=", ".join(working_points)),
            cs.Variable(name="pt", type="real", description="jet pT in GeV"),
        ],
        output=cs.Variable(name="sf", type="real", description="scale factor ε_data / ε_MC"),
        data=cs.Category(
            nodetype="category",
            input="systematic",
            content=[
                cs.CategoryItem(
                    key=systematic,
                    value=cs.Category(
                        nodetype="category",
                        input="working_point",
                        content=[
                            cs.CategoryItem(
                                key=wp,
                                value=cs.Binning(
                                    nodetype="binning",
                                    input="pt",
                                    edges=edges,
                                    content=table[systematic][wp],
                                    flow=PT_FLOW,
                                ),
                            )
                            for wp in working_points
                        ],
                    ),
                )
                for systematic in systematics
            ],
        ),
    )
    return correction, fallbacks


def _values(fit: ScaleFactorFit | None, sources: list[str]) -> dict[str, float]:
    """Systematic name → SF of one cell; the fallback for a failed or missing fit."""
    if fit is None or not fit.ok:
        up, down = 1.0 + FALLBACK_UNCERTAINTY, 1.0 - FALLBACK_UNCERTAINTY
        values = {NOMINAL: 1.0, TOTAL["up"]: up, TOTAL["down"]: down}
        values |= {STAT["up"]: up, STAT["down"]: down}
        return values | {variation_name(s, d): 1.0 for s in sources for d in DIRECTIONS}
    values = {NOMINAL: fit.sf, TOTAL["up"]: fit.sf + fit.sf_error}
    values |= {TOTAL["down"]: fit.sf - fit.sf_error}
    values |= {STAT["up"]: fit.sf + fit.sf_stat, STAT["down"]: fit.sf - fit.sf_stat}
    impacts = {i.source: i for i in fit.impacts}
    for source in sources:
        impact = impacts.get(source)
        values[variation_name(source, "up")] = fit.sf + (impact.up if impact else 0.0)
        values[variation_name(source, "down")] = fit.sf + (impact.down if impact else 0.0)
    return values


def _pt_edges(tagger: str, fits: list[ScaleFactorFit]) -> list[float | str]:
    """Contiguous pT edges of the fits' bins; HistogramError if they are missing or overlap."""
    bins = sorted({(fit.label.pt_low, fit.label.pt_high) for fit in fits})
    if any(low is None or high is None for low, high in bins):
        raise HistogramError(f"A scale-factor fit of tagger {tagger!r} has no pT bin.")
    for (_, high), (low, _) in itertools.pairwise(bins):
        if high != low:
            raise HistogramError(f"The pT bins of tagger {tagger!r} are not contiguous: {bins}.")
    edges = [bins[0][0]] + [high for _, high in bins]
    return [edge if math.isfinite(edge) else "inf" for edge in edges]


def _threshold_correction(tagger: str, thresholds: Mapping[str, float]) -> cs.Correction:
    for wp, threshold in thresholds.items():
        if not math.isfinite(threshold):
            raise HistogramError(f"Threshold of working point {wp!r} of {tagger!r} is {threshold}.")
    return cs.Correction(
        name=tagger + THRESHOLD_SUFFIX,
        description=f"Score threshold of each {tagger} working point: jets with score ≥ it pass.",
        version=1,
        inputs=[cs.Variable(name="working_point", type="string")],
        output=cs.Variable(name="threshold", type="real", description=f"{tagger} score"),
        data=cs.Category(
            nodetype="category",
            input="working_point",
            content=[
                cs.CategoryItem(key=wp, value=stored(threshold))
                for wp, threshold in sorted(thresholds.items())
            ],
        ),
    )
