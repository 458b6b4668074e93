"""Frozen working points: the shipped tables, configuration overrides, and their measurement."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from boostjet.analysis.thresholds import TABLE_TARGETS, measure_thresholds
from boostjet.config import Model, RunConfig
from boostjet.errors import ConfigError
from boostjet.histograms import score_histogram, score_key, working_point_name
from boostjet.models.workingpoints import (
    CUT_BASED_TABLE,
    cut_based_thresholds,
    from_table,
    model_thresholds,
    table_key,
)
from boostjet.spec import ModelMetadata

TRAINED = Path(__file__).resolve().parents[2] / "boostjet" / "models" / "trained"


def _config(**changes) -> RunConfig:
    return RunConfig.model_validate({"datasets": {"a": {"files": ["x.root"]}}} | changes)


def test_every_shipped_tagger_carries_a_falling_table_of_every_target():
    tables = {
        name: entry["thresholds"] for name, entry in json.loads(CUT_BASED_TABLE.read_text()).items()
    }
    for path in TRAINED.glob("*.json"):
        if path != CUT_BASED_TABLE:
            metadata = ModelMetadata.from_json(path.read_bytes())
            if metadata.task == "tagger":
                tables[metadata.name] = metadata.working_points["thresholds"]
    assert len(tables) == 11
    for name, table in tables.items():
        assert list(table) == [table_key(t) for t in TABLE_TARGETS], name
        thresholds = list(table.values())
        assert thresholds == sorted(thresholds, reverse=True), name  # more ε_S, lower cut


def test_names_and_table_lookup():
    assert [working_point_name(t) for t in (0.3, 0.5, 0.7)] == ["eS30", "eS50", "eS70"]
    table = {"0.30": 0.9, "0.50": 0.8, "0.70": 0.6}
    assert from_table(table, [0.3, 0.7]) == {"eS30": 0.9, "eS70": 0.6}
    assert from_table(table, [0.3, 0.4]) is None


def test_shipped_cut_based_thresholds_hold_for_the_default_windows_only():
    shipped = cut_based_thresholds(_config())
    assert sorted(shipped) == ["cut_based_top", "cut_based_w"]
    assert sorted(shipped["cut_based_top"]) == ["eS30", "eS50", "eS70"]
    with pytest.raises(
        ConfigError, match=r"cut_based.top_mass_window .* give cut_based.thresholds"
    ):
        cut_based_thresholds(_config(cut_based={"top_mass_window": [120, 200]}))
    given = {"eS30": 0.7, "eS50": 0.5, "eS70": 0.3}
    config = _config(
        cut_based={"top_mass_window": [120, 200], "thresholds": {"cut_based_top": given}}
    )
    assert cut_based_thresholds(config)["cut_based_top"] == given


def test_configured_thresholds_replace_the_model_table_and_must_name_every_working_point():
    metadata = ModelMetadata.from_json((TRAINED / "dnn_top.json").read_bytes())
    model = Model(name="dnn_top", task="tagger", path="dnn_top.pt")
    table = metadata.working_points["thresholds"]
    assert model_thresholds(model, metadata, [0.5]) == {"eS50": table["0.50"]}
    own = model.model_copy(update={"thresholds": {"eS50": 0.9}})
    assert model_thresholds(own, metadata, [0.5]) == {"eS50": 0.9}
    with pytest.raises(ConfigError, match=r"models.dnn_top.thresholds gives .*'eS30'"):
        model_thresholds(own, metadata, [0.3, 0.5])
    bare = metadata.model_copy(update={"working_points": {}})
    assert model_thresholds(model, bare, [0.5]) == {}  # no table: no template fits, no error


def test_measured_threshold_of_a_flat_signal_is_one_minus_the_target():
    """Signal uniform in [0, 1): ε_S(t) = 1 − t, so the ε_S = 0.3 threshold is 0.7."""
    h = score_histogram([300, 1200], 100)
    scores = (np.arange(10_000) + 0.5) / 10_000
    h.fill(dataset="sim", truth="top", pt=500.0, score=scores)
    h.fill(dataset="sim", truth="qcd", pt=500.0, score=scores**3)
    thresholds = measure_thresholds({score_key("t"): h}, "t", signal="top", metadata=None)
    assert thresholds["0.30"] == pytest.approx(0.7)
    assert thresholds["0.95"] == pytest.approx(0.05)
