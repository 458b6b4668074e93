"""The run directory: UHI, pickle and ROOT histograms read back equal; summary.json; atomic
writes."""

from __future__ import annotations

import json
import pickle
import re

import numpy as np
import pytest
import uproot
import yaml

from boostjet.errors import ConfigError, HistogramError
from boostjet.pipeline.config import load_config
from boostjet.pipeline.execute import run
from boostjet.pipeline.outputs import (
    load_histograms,
    load_summary,
    root_objects,
    run_directory,
    write_outputs,
)


@pytest.fixture(scope="module")
def finished(flat_files, tmp_path_factory):
    """A run over signal + background written to a fresh run directory."""
    from boostjet.pipeline.config import RunConfig

    config = RunConfig.model_validate(
        {
            "name": "unit",
            "luminosity": 10.0,
            "datasets": {
                "sig": {"files": [str(flat_files["signal"])], "signal": "top"},
                "bkg": {"files": [str(flat_files["background"])], "cross_section": 4.0},
                "obs": {"files": [str(flat_files["background"])], "is_data": True},
            },
            "histograms": {"score_bins": 20, "response_bins": 20},
            "executor": {"type": "iterative", "chunksize": 60},
            "output": str(tmp_path_factory.mktemp("outputs")),
        }
    )
    result = run(config)
    return config, result, write_outputs(run_directory(config), config, result)


def test_the_run_directory_holds_exactly_the_five_files(finished):
    _, _, run_dir = finished
    assert sorted(p.name for p in run_dir.iterdir()) == [
        "config.yaml",
        "histograms.pkl",
        "histograms.root",
        "histograms.uhi.json.gz",
        "summary.json",
    ]
    assert [p.name for p in run_dir.parent.iterdir()] == ["unit"]  # no temporary leftovers


def test_saved_histograms_read_back_identical(finished):
    _, result, run_dir = finished
    loaded = load_histograms(run_dir)  # from histograms.uhi.json.gz
    with open(run_dir / "histograms.pkl", "rb") as stream:
        pickled = pickle.load(stream)  # written by this test's own run: trusted
    assert loaded.keys() == pickled.keys() == result.histograms.keys()
    for name, histogram in result.histograms.items():
        assert loaded[name] == histogram
        assert pickled[name] == histogram


def test_root_file_holds_one_histogram_per_category_combination(finished):
    _, result, run_dir = finished
    with uproot.open(run_dir / "histograms.root") as root:
        for name, histogram in result.histograms.items():
            for key, piece in root_objects(name, histogram):
                stored = root[key].to_hist()
                np.testing.assert_array_equal(stored.values(flow=True), piece.values(flow=True))
                np.testing.assert_array_equal(
                    stored.variances(flow=True), piece.variances(flow=True)
                )
        top = root["score_cut_based_top/sig/top"].to_hist()
        assert top.ndim == 2  # pt × score
        assert (
            top.sum(flow=True).value
            == result.histograms["score_cut_based_top"][{"dataset": "sig", "truth": "top"}]
            .sum(flow=True)
            .value
        )
        assert root["response_mass_sd/bkg"].to_hist().ndim == 3  # pt × |eta| × response


def test_summary_accounts_scales_and_describes_the_run(finished):
    config, result, run_dir = finished
    summary = load_summary(run_dir)
    assert summary["run"] == "unit"
    assert summary["config_sha256"] == config.digest()
    sig, bkg, obs = (summary["datasets"][name] for name in ("sig", "bkg", "obs"))
    assert sig["events_read"] == sig["events_processed"] == 120
    assert sig["weight"] == pytest.approx(1.0 * 10.0 / 120)
    assert bkg["weight"] == pytest.approx(4.0 * 10.0 / 80)
    assert (obs["is_data"], obs["weight"]) == (True, 1.0)
    assert sig["signal"] == "top"
    assert sig["fat_jets_selected"] == result.accounts["sig"].fat_jets_selected > 0
    for entry in summary["datasets"].values():
        assert entry["events_read"] == entry["events_processed"] + entry["events_skipped"]
    assert summary["events_read"] == 280
    assert summary["events_per_second"] > 0 and summary["wall_time_s"] > 0
    assert set(summary["versions"]) == {
        "boostjet",
        "coffea",
        "uproot",
        "awkward",
        "hist",
        "torch",
        "numpy",
        "python",
    }
    assert summary["taggers"] == {"cut_based_top": "top", "cut_based_w": "w"}
    assert summary["regressors"] == {"mass_sd": "mass", "energy_reco": "energy"}


def test_config_yaml_is_the_resolved_config_and_reloads_to_the_same_digest(finished):
    config, _, run_dir = finished
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["name"] == "unit"
    assert load_config(run_dir / "config.yaml").digest() == config.digest()


def test_an_existing_run_directory_needs_overwrite(finished):
    config, result, run_dir = finished
    with pytest.raises(ConfigError, match=re.escape(f"output directory {run_dir} already exists")):
        write_outputs(run_dir, config, result)
    (run_dir / "stale.txt").write_text("from an older run")
    write_outputs(run_dir, config, result, overwrite=True)
    assert not (run_dir / "stale.txt").exists()
    assert sorted(p.name for p in run_dir.parent.iterdir()) == ["unit"]


def test_a_failed_write_leaves_nothing_behind(finished, tmp_path):
    config, result, _ = finished
    broken = dict(result.histograms, bad=object())
    result_with_junk = type(result)(broken, result.accounts, 1.0, 1.0)
    with pytest.raises(Exception):  # noqa: B017 - any failure while writing
        write_outputs(tmp_path / "run", config, result_with_junk)
    assert list(tmp_path.iterdir()) == []


def test_reading_a_directory_that_is_not_a_run_says_so(tmp_path):
    with pytest.raises(HistogramError, match=r"has no histograms\.uhi\.json\.gz"):
        load_histograms(tmp_path)
    (tmp_path / "summary.json").write_text("{not json")
    with pytest.raises(HistogramError, match=r"summary\.json is not valid JSON"):
        load_summary(tmp_path)
    (tmp_path / "histograms.uhi.json.gz").write_bytes(b"garbage")
    with pytest.raises(HistogramError, match=r"histograms\.uhi\.json\.gz is not a readable UHI"):
        load_histograms(tmp_path)
    (tmp_path / "summary.json").write_text(json.dumps({"run": "x"}))
    with pytest.raises(HistogramError, match="not a boostjet run summary"):
        load_summary(tmp_path)
