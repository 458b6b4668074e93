"""`boostjet train` end to end on the shipped samples: export, train, resume, reload."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from boostjet.cli import main
from boostjet.models.export import load_model
from boostjet.spec import EXPORT_MANIFEST
from boostjet.training.metrics import linear_calibration, response_metrics, tagger_metrics
from boostjet.training.options import TrainingOptions
from boostjet.training.train import train

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("export")
    config = tmp / "config.yaml"
    config.write_text(
        "name: tiny\n"
        "datasets:\n"
        f"  ttbar: {{files: [{ROOT / 'samples/ttbar_mc.root'}], signal: top}}\n"
        f"  qcd: {{files: [{ROOT / 'samples/qcd_mc.root'}]}}\n"
        "executor: {chunksize: 400}\n"
    )
    assert main(["dataset", str(config), "--output", str(tmp / "data")]) == 0
    return tmp / "data"


def test_tagger_trains_exports_and_resumes(exported, tmp_path):
    options = TrainingOptions(
        model="dnn", data=exported, output=tmp_path, epochs=2, max_jets=1500, threads=1
    )
    first = train(options)
    history = json.loads((tmp_path / "dnn_top.history.json").read_text())
    assert history["epoch"] == [0, 1]
    assert (tmp_path / "dnn_top.loss.png").is_file()
    assert 0.5 < first["validation"]["auc"] <= 1.0
    _model, metadata = load_model(tmp_path / "dnn_top.pt")
    assert metadata.signal == "top" and metadata.training["training_jets"] == 1200
    first_seconds = metadata.training["seconds"]
    resumed = train(
        TrainingOptions(**{**options.__dict__, "epochs": 3, "resume": True, "patience": 5})
    )
    history = json.loads((tmp_path / "dnn_top.history.json").read_text())
    assert history["epoch"] == [0, 1, 2]  # continued from the checkpoint, not restarted
    assert resumed["model"] == first["model"]
    _model, metadata = load_model(tmp_path / "dnn_top.pt")
    # the training time counts the first session's epochs too
    assert metadata.training["seconds"] > first_seconds


def test_energy_regressor_records_its_linear_calibration_baseline(exported, tmp_path):
    result = train(
        TrainingOptions(
            model="energy_dnn", data=exported, output=tmp_path, epochs=1, max_jets=800, threads=1
        )
    )
    _, metadata = load_model(tmp_path / "energy_dnn.pt")
    _offset, slope = metadata.training["linear_calibration"]
    assert 0.5 < slope < 1.5
    assert "baseline_linear" in result["validation"]


def test_tagger_metrics_against_hand_computed_values():
    score = np.array([0.9, 0.8, 0.4, 0.7, 0.3, 0.2, 0.1, 0.05])
    target = np.array([1, 1, 1, 0, 0, 0, 0, 0])
    metrics = tagger_metrics(score, target)
    # 15 signal–background pairs, the signal 0.4 loses only to the background 0.7
    assert metrics["auc"] == pytest.approx(14 / 15)
    assert metrics["accuracy"] == pytest.approx(0.5 * (2 / 3 + 4 / 5))


def test_response_metrics_and_linear_calibration():
    truth = np.full(10001, 100.0)
    predicted = 100.0 * (1 + 0.1 * np.linspace(-3, 3, 10001))
    metrics = response_metrics(predicted, truth)
    assert metrics["median_response"] == pytest.approx(1.0)
    assert metrics["resolution"] == pytest.approx(0.1 * (0.84 - 0.16) * 6 / 2, rel=1e-3)
    reco = np.array([100.0, 200.0, 300.0])
    assert linear_calibration(reco, 5 + 0.9 * reco) == pytest.approx((5.0, 0.9))


def test_unknown_model_is_a_clear_cli_error(exported, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--model", "bdt", "--data", str(exported), "--output", str(tmp_path)])
    assert exit_info.value.code == 2
    assert "bdt" in capsys.readouterr().err


def test_relative_mass_regressor_starts_from_the_soft_drop_mass():
    from boostjet.models.registry import build_model
    from boostjet.models.synthetic import synthetic_jets
    from boostjet.spec import JET_FEATURES, InputSpec

    spec = InputSpec()
    constituents, mask, jet, _ = (torch.from_numpy(a) for a in synthetic_jets(64, spec, seed=3))
    model = build_model("iml_mass", "mass", spec, "small", relative_to_soft_drop=True)
    model.fit_normalisation(constituents, mask, jet, jet[:, JET_FEATURES.index("mass")])
    model.eval()
    soft_drop = jet[:, JET_FEATURES.index("sd_mass")]
    torch.testing.assert_close(model(constituents, mask, jet), soft_drop.clamp(min=1.0))


def test_cosine_schedule_falls_from_the_learning_rate_to_one_percent(tmp_path):
    from boostjet.training.loop import learning_rate_schedule

    def rates(schedule: str) -> list[float]:
        optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
        options = TrainingOptions(
            model="dnn", data=tmp_path, output=tmp_path, epochs=2, schedule=schedule
        )
        steps = learning_rate_schedule(optimizer, options, steps_per_epoch=5)  # 10 steps in all
        seen = []
        for _ in range(10):
            seen.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            steps.step()
        return [*seen, optimizer.param_groups[0]["lr"]]

    cosine = rates("cosine")
    # lr (0.01 + 0.99 (1 + cos(π s / 10)) / 2): 0.1 at first, 0.0505 halfway, 0.001 at the end
    assert cosine[0] == pytest.approx(0.1)
    assert cosine[5] == pytest.approx(0.1 * (0.01 + 0.99 * 0.5))
    assert cosine[10] == pytest.approx(0.001)
    assert all(a > b for a, b in itertools.pairwise(cosine))
    assert rates("constant") == pytest.approx([0.1] * 11)


def test_the_model_records_the_digest_of_the_configuration_that_exported_its_data(
    exported, tmp_path
):
    """Found in the redesign: training read the manifest key 'config_digest', which the export
    never wrote (it writes 'config_sha256'), so every model recorded null."""
    options = TrainingOptions(
        model="dnn", data=exported, output=tmp_path, epochs=1, max_jets=600, threads=1
    )
    train(options)
    _model, metadata = load_model(tmp_path / "dnn_top.pt")
    manifest = json.loads((exported / EXPORT_MANIFEST).read_text())
    assert len(manifest["config_sha256"]) == 64
    assert metadata.training["config_digest"] == manifest["config_sha256"]
