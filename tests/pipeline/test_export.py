"""`boostjet dataset`: chunk arrays equal build_jet_inputs; a manifest; read back by training."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import torch

from boostjet.errors import ConfigError
from boostjet.histograms import TRUTH_CLASSES
from boostjet.pipeline.export import export_dataset, read_chunk
from boostjet.pipeline.fileset import Chunk
from boostjet.processors.constituents import CONSTITUENT_FEATURES
from boostjet.processors.tagging import JET_FEATURES, build_jet_inputs
from boostjet.training.data import read_export
from boostjet.training.loop import batches

CHUNKSIZE = 35


@pytest.fixture(scope="module")
def exported(flat_files, tmp_path_factory):
    """signal (simulation) and background (as data) exported in chunks of 35 events."""
    from boostjet.config import RunConfig

    config = RunConfig.model_validate(
        {
            "datasets": {
                "sig": {"files": [str(flat_files["signal"])], "signal": "top"},
                "obs": {"files": [str(flat_files["background"])], "is_data": True},
            },
            "constituents": {"n_constituents": 16},
            "executor": {"chunksize": CHUNKSIZE},
        }
    )
    output = tmp_path_factory.mktemp("export") / "jets"
    return config, output, export_dataset(config, output)


def _whole_file(config, path, dataset, entries, is_data):
    events = read_chunk(Chunk(dataset, str(path), "Delphes", 0, entries))
    return build_jet_inputs(events, config, is_data)


def _concatenated(output, manifest, dataset) -> dict[str, np.ndarray]:
    parts = [np.load(output / f.path) for f in manifest.datasets[dataset].files]
    return {
        key: np.concatenate([p[key] for p in parts]) for key in parts[0].files if key != "dataset"
    }


def test_one_file_per_chunk(exported):
    _, output, manifest = exported
    assert len(list((output / "sig").glob("*.npz"))) == math.ceil(120 / CHUNKSIZE)
    assert len(list((output / "obs").glob("*.npz"))) == math.ceil(80 / CHUNKSIZE)
    ranges = [(f.entry_start, f.entry_stop) for f in manifest.datasets["sig"].files]
    assert ranges == [(0, 35), (35, 70), (70, 105), (105, 120)]


def test_chunk_arrays_equal_build_jet_inputs_on_the_same_events(exported, flat_files):
    config, output, manifest = exported
    for dataset, path, entries, is_data in (
        ("sig", flat_files["signal"], 120, False),
        ("obs", flat_files["background"], 80, True),
    ):
        expected = _whole_file(config, path, dataset, entries, is_data)
        stored = _concatenated(output, manifest, dataset)
        n_jets = len(expected.jets)
        assert stored["constituents"].shape == (n_jets, 16, len(CONSTITUENT_FEATURES))
        assert stored["jet"].shape == (n_jets, len(JET_FEATURES))
        np.testing.assert_array_equal(stored["constituents"], expected.constituents)
        np.testing.assert_array_equal(stored["mask"], expected.mask)
        np.testing.assert_array_equal(stored["jet"], expected.jet_matrix())
        np.testing.assert_array_equal(stored["label"], ak.to_numpy(expected.jets.label))
        np.testing.assert_array_equal(stored["entry"], ak.to_numpy(expected.jets.event))
        for target in ("target_mass", "target_energy"):
            np.testing.assert_array_equal(stored[target], ak.to_numpy(expected.jets[target]))
        assert stored["label"].dtype == np.int8 and stored["mask"].dtype == bool
    sig_labels = _concatenated(output, manifest, "sig")["label"]
    assert (sig_labels == TRUTH_CLASSES.index("top")).sum() > 0


def test_manifest_describes_the_export(exported):
    config, output, manifest = exported
    assert json.loads((output / "manifest.json").read_text()) == manifest.model_dump(mode="json")
    assert manifest.config_sha256 == config.digest()
    assert manifest.jet_features == JET_FEATURES
    assert manifest.constituent_features == CONSTITUENT_FEATURES
    assert manifest.n_constituents == 16
    sig = manifest.datasets["sig"]
    assert sum(sig.counts_per_class.values()) == sig.jets > 0
    assert sig.events_read == sig.events_processed == 120
    assert manifest.datasets["obs"].is_data is True


def test_training_reads_the_simulation_jets_of_the_export(exported, tmp_path):
    _, output, manifest = exported
    samples, read_manifest = read_export(output, "tagger", "top")
    assert read_manifest == manifest
    counts = manifest.datasets["sig"].counts_per_class
    assert len(samples) == counts["top"] + counts["qcd"]  # data (labelled qcd) left out
    generator = torch.Generator().manual_seed(3)
    assert sorted(torch.cat(batches(len(samples), 8, generator)).tolist()) == list(
        range(len(samples))
    )
    assert samples.constituents.shape == (len(samples), 16, len(CONSTITUENT_FEATURES))
    assert samples.mask.dtype == bool and samples.target.dtype == np.float32
    stored = np.load(output / manifest.datasets["sig"].files[0].path)
    trained_on = np.isin(stored["label"], [TRUTH_CLASSES.index(c) for c in ("top", "qcd")])
    np.testing.assert_array_equal(samples.jet[0], stored["jet"][trained_on][0])
    with pytest.raises(ConfigError, match=r"has no manifest\.json"):
        read_export(tmp_path, "tagger", "top")


def test_a_broken_manifest_is_one_sentence_naming_the_file_and_key(exported, tmp_path):
    _, _, manifest = exported
    path = tmp_path / "manifest.json"
    incomplete = manifest.model_dump(mode="json")
    del incomplete["datasets"]["sig"]["files"][0]["path"]
    path.write_text(json.dumps(incomplete))
    with pytest.raises(ConfigError) as refused:
        read_export(tmp_path, "tagger", "top")
    assert str(refused.value) == (
        f"{path}: required manifest key 'datasets.sig.files.0.path' is missing."
    )
    path.write_text("{not json")
    expected = "^" + re.escape(f"{path} is not valid JSON (Expecting property")
    with pytest.raises(ConfigError, match=expected):
        read_export(tmp_path, "tagger", "top")


def test_skip_bad_files_in_the_export(run_config, flat_files, tmp_path):
    config = run_config(
        datasets={"mc": {"files": [str(flat_files["broken"])]}},
        executor={"chunksize": 50, "skip_bad_files": True, "retries": 0},
    )
    manifest = export_dataset(config, tmp_path / "jets")
    entry = manifest.datasets["mc"]
    assert [(f.entry_start, f.entry_stop) for f in entry.files] == [(0, 50)]
    assert [(s["entry_start"], s["entry_stop"], s["events"]) for s in entry.skipped] == [
        (50, 100, 50)
    ]
    assert entry.events_read == entry.events_processed + entry.events_skipped


def test_overwrite_replaces_only_an_earlier_export(run_config, flat_files, tmp_path, monkeypatch):
    """`boostjet dataset --output DIR --overwrite` replaces DIR only when an earlier export wrote
    it: never a plain folder, a run directory, or the current directory given as `.`."""
    from boostjet.rundir import MARKER

    config = run_config(
        datasets={"sig": {"files": [str(flat_files["signal"])]}}, executor={"chunksize": 120}
    )
    jets = tmp_path / "jets"
    export_dataset(config, jets)
    with pytest.raises(ConfigError, match=f"output directory {jets} already exists; pass"):
        export_dataset(config, jets)
    (jets / "stale.txt").write_text("from the first export")
    export_dataset(config, jets, overwrite=True)
    assert not (jets / "stale.txt").exists() and (jets / "manifest.json").is_file()
    work, run = tmp_path / "work", tmp_path / "run"
    for directory in (work, run):
        directory.mkdir()
        (directory / "keep.txt").write_text("precious")
    (run / MARKER).write_text('{"written_by": "boostjet run"}\n')
    monkeypatch.chdir(work)
    for output, shown in ((Path("."), work), (run, run)):
        with pytest.raises(ConfigError) as refused:
            export_dataset(config, output, overwrite=True)
        message = str(refused.value)
        assert (
            f"output directory {shown} already exists and was not written by boostjet dataset"
            in message
        )
        assert "--overwrite" not in message
        assert (shown / "keep.txt").read_text() == "precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["jets", "run", "work"]
