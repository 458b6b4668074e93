"""Frozen working points: each tagger's score thresholds, fixed on simulation before a run.

A tagger's table maps target signal efficiencies (``"0.30"``) to score thresholds; a model
carries it in its metadata (``working_points``), the cut-based taggers in the package data
:data:`CUT_BASED_TABLE` with the mass windows they were measured with. A configuration may
replace either (``models[].thresholds``, ``cut_based.thresholds``). The table is measured by
``python -m boostjet.analysis.thresholds`` (docs/models.md).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from boostjet.config import Model, RunConfig
from boostjet.errors import ConfigError
from boostjet.histograms import CUT_BASED, working_point_name
from boostjet.spec import ModelMetadata, ResolvedModel

#: The cut-based taggers' tables (package data), with the windows they hold for.
CUT_BASED_TABLE = Path(__file__).parent / "trained" / "cut_based.json"
#: The config key of each cut-based tagger's mass window.
WINDOW_KEYS = {CUT_BASED["top"]: "top_mass_window", CUT_BASED["w"]: "w_mass_window"}


def table_key(target_eff_signal: float) -> str:
    """The key of a target signal efficiency in a threshold table: ``"0.30"``."""
    return f"{target_eff_signal:.2f}"


def from_table(table: Mapping[str, float], targets: Sequence[float]) -> dict[str, float] | None:
    """Working point name → threshold for ``targets``; None when the table lacks one."""
    keys = [table_key(t) for t in targets]
    if any(k not in table for k in keys):
        return None
    return {working_point_name(t): float(table[k]) for t, k in zip(targets, keys, strict=True)}


def _override(given: Mapping[str, float], targets: Sequence[float], option: str) -> dict:
    names = [working_point_name(t) for t in targets]
    if sorted(given) != sorted(names):
        raise ConfigError(
            f"{option} gives working points {sorted(given)}, but working_points asks for {names}."
        )
    return {name: float(given[name]) for name in names}


def model_thresholds(model: Model, metadata: ModelMetadata, targets: Sequence[float]) -> dict:
    """A tagger model's frozen working points: the configuration's, else its metadata table's
    (empty when neither has every target: no template-fit scale factors for it)."""
    if model.thresholds is not None:
        return _override(model.thresholds, targets, f"models.{model.name}.thresholds")
    table = metadata.working_points.get("thresholds", {})
    return from_table(table, targets) or {}


def cut_based_thresholds(config: RunConfig) -> dict[str, dict[str, float]]:
    """The cut-based taggers' frozen working points: the configuration's, else the shipped
    table's; ConfigError when a window differs from the table's and no thresholds are given."""
    given = config.cut_based.thresholds
    unknown = sorted(set(given) - set(WINDOW_KEYS))
    if unknown:
        raise ConfigError(
            f"cut_based.thresholds names {unknown}; the cut-based taggers are {list(WINDOW_KEYS)}."
        )
    shipped = json.loads(CUT_BASED_TABLE.read_text(encoding="utf-8"))
    out = {}
    for tagger, window_key in WINDOW_KEYS.items():
        option = f"cut_based.thresholds.{tagger}"
        if tagger in given:
            out[tagger] = _override(given[tagger], config.working_points, option)
            continue
        window = list(getattr(config.cut_based, window_key))
        entry = shipped[tagger]
        if window != entry["window"]:
            raise ConfigError(
                f"cut_based.{window_key} is {window}, but the shipped working points of {tagger} "
                f"hold for {entry['window']}: give {option} (name → score threshold)."
            )
        table = from_table(entry["thresholds"], config.working_points)
        if table is None:
            raise ConfigError(
                f"The shipped working points of {tagger} have no threshold for every target of "
                f"working_points {config.working_points}: give {option}."
            )
        out[tagger] = table
    return out


def run_thresholds(config: RunConfig, models: Sequence[ResolvedModel]) -> dict[str, dict]:
    """Tagger → working point → frozen threshold, for every tagger of a run that has them."""
    tables = {m.name: m.thresholds for m in models if m.task == "tagger" and m.thresholds}
    return cut_based_thresholds(config) | tables
