"""Each network against its baselines, and the recommendation per signal and regressor kind.

Baselines (boostjet/histograms.py): the cut-based tagger of each signal; ``mass_sd`` for mass;
``energy_reco`` and ``energy_linear_<model>`` (the linear calibration of the reconstructed
energy) for energy model ``<model>``. Every other tagger or regressor is a network.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from boostjet.analysis.efficiency import to_jsonable
from boostjet.analysis.resolution import ResolutionTable
from boostjet.analysis.roc import TaggerPerformance
from boostjet.analysis.rundata import Run
from boostjet.histograms import CUT_BASED, is_baseline, regressor_baselines

HEADLINE_EFF_SIGNAL = 0.3
SIGNAL_NAMES = {"top": "top", "w": "W"}


@dataclasses.dataclass(frozen=True)
class Comparison:
    """A network against one of its baselines on one figure of merit.

    ``network``/``baseline`` are (value, lower, upper); ``ratio`` = network / baseline value.
    ``beats`` is None when the ratio is undefined; ``significant`` is True when the two intervals
    do not overlap.
    """

    group: str
    network: str
    baseline: str
    metric: str
    higher_is_better: bool
    network_value: tuple[float, float, float]
    baseline_value: tuple[float, float, float]
    ratio: float
    beats: bool | None
    significant: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (NaN and inf as None)."""
        return to_jsonable(self)


def compare_to_baselines(
    run: Run,
    performances: Mapping[str, TaggerPerformance],
    inclusive: Mapping[str, ResolutionTable],
    warnings: list[str],
) -> list[Comparison]:
    """Each network tagger / regressor against its baselines (see the module docstring);
    ``warnings`` gets a note for each network without one."""
    comparisons = []
    for tagger, perf in performances.items():
        baseline = CUT_BASED[perf.signal]
        if is_baseline(tagger):
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
        if is_baseline(regressor):
            continue
        baselines = regressor_baselines(regressor, kind, run.regressors)
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


def _resolution_interval(table: ResolutionTable) -> tuple[float, float, float]:
    value, error = float(table.resolution[0, 0]), float(table.resolution_error[0, 0])
    return value, value - error, value + error
