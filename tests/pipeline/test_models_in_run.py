"""Exported models in a run: evaluated per chunk, and refused when they do not fit the config."""

from __future__ import annotations

import json
import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest
from coffea.nanoevents import NanoEventsFactory
from coffea.processor import accumulate

from boostjet.cli import main
from boostjet.config import load_config
from boostjet.models.inference import ModelRunner
from boostjet.pipeline.preflight import resolve_models
from boostjet.processors.delphes import BoostjetDelphesSchema
from boostjet.processors.tagging import BoostedJetProcessor, build_jet_inputs, input_spec

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "boostjet" / "models" / "trained" / "dnn_top.pt"
ENERGY_MODEL = ROOT / "boostjet" / "models" / "trained" / "energy_dnn.pt"
needs_model = pytest.mark.skipif(not MODEL.is_file(), reason=f"{MODEL} is not shipped")


def config_with_model(tmp_path: Path, **extra: str) -> Path:
    lines = [
        "name: withmodel",
        "datasets:",
        f"  ttbar: {{files: [{ROOT / 'samples' / 'ttbar_mc.root'}], signal: top}}",
        "models:",
        f"  - {{name: dnn_top, task: tagger, path: {MODEL}}}",
        f"output: {tmp_path / 'out'}",
        "report: false",
        "executor: {type: iterative, chunksize: 300}",
        *(f"{k}: {v}" for k, v in extra.items()),
    ]
    path = tmp_path / "config.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def sample_events(dataset: str, entry_start: int | None = None, entry_stop: int | None = None):
    """The shipped sample `samples/<dataset>_mc.root` (or its entries [start, stop)) as virtual
    NanoEvents of that dataset."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return NanoEventsFactory.from_root(
            {str(ROOT / "samples" / f"{dataset}_mc.root"): "Delphes"},
            schemaclass=BoostjetDelphesSchema,
            mode="virtual",
            entry_start=entry_start,
            entry_stop=entry_stop,
            metadata={"dataset": dataset},
        ).events()


def ttbar_events():
    """The shipped tt̄ sample as virtual NanoEvents of dataset "ttbar"."""
    return sample_events("ttbar")


@needs_model
def test_processor_scores_equal_the_model_applied_directly(tmp_path):
    config = load_config(config_with_model(tmp_path))
    events = ttbar_events()
    out = BoostedJetProcessor(config, resolve_models(config)).process(events)
    inputs = build_jet_inputs(events, config, is_data=False)
    runner = ModelRunner(MODEL, expected_spec=input_spec(config))
    direct = runner(inputs.constituents, inputs.mask, inputs.jet_matrix())
    scores = out["histograms"]["score_dnn_top"]
    assert scores.sum(flow=True).value == len(direct)
    assert np.all((direct >= 0) & (direct < 1))
    direct_counts, _ = np.histogram(direct, bins=scores.axes["score"].edges)
    np.testing.assert_array_equal(scores.project("score").values(), direct_counts)


@pytest.mark.skipif(not ENERGY_MODEL.is_file(), reason=f"{ENERGY_MODEL} is not shipped")
def test_the_pre_flight_resolves_each_model_into_the_record_every_later_step_uses(tmp_path):
    """Name, task, signal, linear calibration and input spec as the metadata files hold them
    (read here as plain JSON); the processor holding the records pickles without the weights."""
    config = load_config(ROOT / "configs" / "quickstart.yaml", base=ROOT)
    records = resolve_models(config)
    assert [r.name for r in records] == [m.name for m in config.models]
    for record, model in zip(records, config.models, strict=True):
        metadata = json.loads(Path(model.path).with_suffix(".json").read_text())
        assert (record.task, record.signal, record.path) == (
            metadata["task"],
            metadata.get("signal"),
            str(model.path),
        )
        calibration = metadata["training"].get("linear_calibration")
        assert record.calibration == (tuple(calibration) if record.task == "energy" else None)
        assert record.input_spec.model_dump(mode="json") == metadata["input_spec"]
    smallest_weights = min(Path(m.path).stat().st_size for m in config.models)
    assert len(pickle.dumps(BoostedJetProcessor(config, records))) < smallest_weights / 2
    with pytest.raises(ValueError, match="resolved record of every configured model"):
        BoostedJetProcessor(config)


#: Shipped models whose histograms must not depend on the chunk size: the ParticleNet ones that
#: did, LoLa, and the energy regressor with its pull (every model: tests/models/test_inference.py).
CHUNK_INVARIANT = ("particlenet_top", "particlenet_w", "pointcloud_mass", "lola_top", "energy_dnn")


@pytest.mark.slow
@pytest.mark.skipif(
    not all(
        (ROOT / "boostjet" / "models" / "trained" / f"{n}.pt").is_file() for n in CHUNK_INVARIANT
    ),
    reason="the trained models are not shipped",
)
def test_model_histograms_do_not_depend_on_the_chunk_size(two_torch_threads):
    """The first 200 W+jets events in ten chunks of 20 and in one chunk fill identical score,
    response and pull histograms, bin by bin (ParticleNet's did not: its neighbour search
    depended on the padding that the widest jet of a chunk set, and W jets are narrow enough for
    that to vary from chunk to chunk)."""
    config = load_config(ROOT / "configs" / "quickstart.yaml", base=ROOT)
    models = [m for m in config.models if m.name in CHUNK_INVARIANT]
    config = config.model_copy(update={"models": models})
    processor = BoostedJetProcessor(config, resolve_models(config))
    whole = processor.process(sample_events("wjets", 0, 200))["histograms"]
    chunks = accumulate(
        processor.process(sample_events("wjets", start, start + 20))["histograms"]
        for start in range(0, 200, 20)
    )
    compared = [f"score_{name}" for name in CHUNK_INVARIANT[:2] + CHUNK_INVARIANT[3:4]]
    compared += [f"response_{name}" for name in ("pointcloud_mass", "energy_dnn")]
    compared += ["energy_response_energy_dnn", "pull_energy_dnn"]
    for name in compared:
        assert whole[name].sum(flow=True).value > 100, name
        np.testing.assert_array_equal(
            chunks[name].values(flow=True), whole[name].values(flow=True), err_msg=name
        )


@pytest.mark.skipif(not ENERGY_MODEL.is_file(), reason=f"{ENERGY_MODEL} is not shipped")
def test_energy_pull_histogram_holds_the_models_own_sigma(tmp_path):
    path = config_with_model(tmp_path)
    text = path.read_text().replace(
        f"  - {{name: dnn_top, task: tagger, path: {MODEL}}}",
        f"  - {{name: energy_dnn, task: energy, path: {ENERGY_MODEL}}}",
    )
    path.write_text(text)
    config = load_config(path)
    events = ttbar_events()
    out = BoostedJetProcessor(config, resolve_models(config)).process(events)
    inputs = build_jet_inputs(events, config, is_data=False)
    energy, sigma = ModelRunner(ENERGY_MODEL, expected_spec=input_spec(config))(
        inputs.constituents, inputs.mask, inputs.jet_matrix()
    ).T
    true = inputs.jets.target_energy.to_numpy()
    matched = np.isfinite(true) & (true > 0)
    pull = out["histograms"]["pull_energy_dnn"]
    direct, _ = np.histogram(
        (energy[matched] - true[matched]) / sigma[matched], bins=pull.axes["pull"].edges
    )
    np.testing.assert_array_equal(pull.project("pull").values(), direct)
    assert pull.sum(flow=True).value == matched.sum() > 100
    assert "pull_energy_reco" not in out["histograms"]  # baselines predict no σ


@needs_model
def test_run_refuses_a_model_whose_input_spec_differs(tmp_path, capsys):
    config = config_with_model(tmp_path, constituents="{n_constituents: 32}")
    assert main(["run", str(config)]) == 2
    err = capsys.readouterr().err
    assert "dnn_top" in err and "n_constituents" in err and "Traceback" not in err


@needs_model
def test_run_refuses_a_model_of_another_task(tmp_path, capsys):
    config = config_with_model(tmp_path)
    text = config.read_text().replace("task: tagger", "task: mass")
    config.write_text(text)
    assert main(["run", str(config)]) == 2
    assert "not a mass model" in capsys.readouterr().err


def test_run_refuses_a_corrupt_model_file(tmp_path, capsys):
    corrupt = tmp_path / "broken.pt"
    corrupt.write_bytes(b"not a torchscript archive")
    config = config_with_model(tmp_path)
    config.write_text(config.read_text().replace(str(MODEL), str(corrupt)))
    assert main(["run", str(config)]) == 2
    assert "broken" in capsys.readouterr().err
