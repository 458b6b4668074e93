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

from boostjet.config import load_config
from boostjet.errors import ConfigError, HistogramError
from boostjet.pipeline.outputs import root_objects, write_outputs
from boostjet.pipeline.routes import run
from boostjet.rundir import (
    MARKER,
    load_histograms,
    load_summary,
    output_lock,
    run_directory,
    staged_directory,
)


@pytest.fixture(scope="module")
def finished(flat_files, tmp_path_factory):
    """A run over signal + background written to a fresh run directory."""
    from boostjet.config import RunConfig

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


def test_the_run_directory_holds_exactly_the_five_files_and_the_marker(finished):
    _, _, run_dir = finished
    assert sorted(p.name for p in run_dir.iterdir()) == [
        ".boostjet-output",
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
    background = config.datasets["bkg"].files[0]
    assert summary["warnings"] == [
        f"{background} (dataset bkg) and {background} (dataset obs) are the same file, so its "
        "events are read twice (fine for a closure test with simulation as pseudo-data)."
    ]


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


def test_overwrite_replaces_only_a_run_directory_boostjet_wrote(finished, tmp_path):
    """Found by a tester: --overwrite deleted whatever the run directory resolved to. Now only a
    directory holding boostjet run's marker is replaced: not a plain folder, not a dataset
    export, not a link (even to a real run directory)."""
    config, result, run_dir = finished
    plain, export, link = tmp_path / "plain", tmp_path / "export", tmp_path / "link"
    for directory in (plain, export):
        directory.mkdir()
        (directory / "keep.txt").write_text("precious")
    (export / MARKER).write_text('{"written_by": "boostjet dataset"}\n')
    link.symlink_to(run_dir)
    for directory in (plain, export, link):
        with pytest.raises(ConfigError) as refused:
            write_outputs(directory, config, result, overwrite=True)
        assert str(refused.value) == (
            f"output directory {directory} already exists and was not written by boostjet run "
            f"(it holds no {MARKER} marker of that command), so boostjet will not replace it; "
            "move it away or choose another with --output."
        )
    assert (plain / "keep.txt").read_text() == (export / "keep.txt").read_text() == "precious"
    assert link.is_symlink() and (run_dir / "summary.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export", "link", "plain"]


def test_a_directory_that_appears_during_the_work_is_not_replaced(tmp_path):
    """The check runs again after the work, just before the swap."""
    final = tmp_path / "run"
    with pytest.raises(ConfigError, match="was not written by boostjet run"):
        with staged_directory(final, overwrite=True) as stage:
            (stage / "result.txt").write_text("new")
            final.mkdir()
            (final / "keep.txt").write_text("precious")
    assert [p.name for p in final.iterdir()] == ["keep.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # the stage is gone


def test_the_output_lock_admits_one_holder_and_goes_with_it(tmp_path):
    directory = tmp_path / "outputs" / "run"
    lock = tmp_path / "outputs" / ".run.lock"
    with output_lock(directory):
        assert lock.is_file()
        with pytest.raises(ConfigError) as refused:
            with output_lock(directory):
                pass
        assert str(refused.value) == (
            f"{directory} is being written by another boostjet process (it holds {lock}); "
            "wait for it to finish or choose another output directory."
        )
        with output_lock(tmp_path / "outputs" / "other"):  # another run name is independent
            pass
    assert not lock.exists()
    lock.write_text("")  # a stale lock file (its process was killed) holds no lock
    with output_lock(directory):
        pass


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
