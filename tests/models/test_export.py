"""TorchScript export and load: identical outputs for every model, clear errors for bad files."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from boostjet.errors import ModelError
from boostjet.models.export import describe_model, export_model, load_model
from boostjet.models.registry import MODELS, build_model
from boostjet.models.synthetic import synthetic_jets
from boostjet.spec import InputSpec

SPEC = InputSpec(n_constituents=16)


def exported(name: str, directory) -> tuple[torch.nn.Module, str]:
    torch.manual_seed(0)
    task = MODELS[name][0]
    model = build_model(name, task, SPEC, preset="small")
    constituents, mask, jet, _ = (torch.from_numpy(a) for a in synthetic_jets(32, SPEC))
    target = jet[:, SPEC.jet_features.index("sd_mass")] if task == "mass" else None
    model.fit_normalisation(constituents, mask, jet, target)
    metadata = describe_model(
        model,
        name=f"{name}_test",
        architecture=name,
        task=task,
        spec=SPEC,
        signal="top" if task == "tagger" else None,
        validation={"auc": 0.9},
    )
    stem = directory / name
    export_model(model, metadata, stem)
    return model.eval(), stem


@pytest.mark.parametrize("name", list(MODELS))
def test_export_then_load_gives_identical_outputs(name, tmp_path):
    model, stem = exported(name, tmp_path)
    loaded, metadata = load_model(f"{stem}.pt")
    assert isinstance(loaded, torch.jit.ScriptModule)
    assert metadata.architecture == name and metadata.input_spec == SPEC
    assert metadata.n_parameters == sum(p.numel() for p in model.parameters())
    assert metadata.validation == {"auc": 0.9}
    assert all(summary["fitted"] for summary in metadata.normalisation.values())
    constituents, mask, jet, _ = (torch.from_numpy(a) for a in synthetic_jets(9, SPEC, seed=5))
    torch.testing.assert_close(loaded(constituents, mask, jet), model(constituents, mask, jet))


@pytest.fixture(scope="module")
def model_files(tmp_path_factory):
    _, stem = exported("dnn", tmp_path_factory.mktemp("export"))
    return stem.with_suffix(".pt"), stem.with_suffix(".json")


def copy_pair(model_files, directory, model_bytes=None, metadata_text=None):
    model_path, metadata_path = model_files
    (directory / "m.pt").write_bytes(
        model_path.read_bytes() if model_bytes is None else model_bytes
    )
    (directory / "m.json").write_text(metadata_text or metadata_path.read_text())
    return directory / "m"


def test_load_accepts_stem_and_either_file(model_files):
    model_path, metadata_path = model_files
    for path in (model_path, metadata_path, model_path.with_suffix("")):
        assert load_model(path)[1].name == "dnn_test"


def test_missing_model_file_is_named(tmp_path):
    with pytest.raises(ModelError, match=r"Model file .*nothing\.pt does not exist"):
        load_model(tmp_path / "nothing")


def test_missing_metadata_is_named(model_files, tmp_path):
    stem = copy_pair(model_files, tmp_path)
    (tmp_path / "m.json").unlink()
    with pytest.raises(ModelError, match=r"m\.json does not exist"):
        load_model(stem)


@pytest.mark.parametrize(
    "text", ["{not json", json.dumps({"name": "x"}), json.dumps({"task": "tagger"})]
)
def test_invalid_metadata_is_named(model_files, tmp_path, text):
    stem = copy_pair(model_files, tmp_path, metadata_text=text)
    with pytest.raises(ModelError, match=r"m\.json is not valid"):
        load_model(stem)


def test_corrupt_model_file_is_named(model_files, tmp_path):
    stem = copy_pair(model_files, tmp_path, model_bytes=b"\x00garbage" * 100)
    with pytest.raises(ModelError, match=r"m\.pt is not a readable TorchScript model"):
        load_model(stem)


def test_pickled_state_dict_is_refused_not_unpickled(model_files, tmp_path):
    torch.save({"weights": torch.zeros(3)}, tmp_path / "pickled.pt")
    stem = copy_pair(model_files, tmp_path, model_bytes=(tmp_path / "pickled.pt").read_bytes())
    with pytest.raises(ModelError, match=r"m\.pt"):
        load_model(stem)


def test_metadata_of_another_model_is_refused(model_files, tmp_path):
    metadata = json.loads(model_files[1].read_text())
    metadata["input_spec"]["n_constituents"] = 100
    stem = copy_pair(model_files, tmp_path, metadata_text=json.dumps(metadata))
    with pytest.raises(ModelError, match=r"m\.json describes a different model"):
        load_model(stem)


def test_unwritable_destination_is_a_model_error(model_files, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    metadata = load_model(model_files[0])[1]
    with pytest.raises(ModelError, match="Cannot write model file"):
        export_model(build_model("dnn", "tagger", SPEC), metadata, blocker / "sub" / "m")


def test_metadata_hyperparameters_rebuild_the_architecture(tmp_path):
    hyper = {"blocks": ((4, (8, 8)), (4, (16, 16))), "width": 16}
    model = build_model("particlenet", "tagger", SPEC, **hyper)
    metadata = describe_model(
        model,
        name="pn",
        architecture="particlenet",
        task="tagger",
        spec=SPEC,
        signal="top",
        hyperparameters=hyper,
    )
    _, metadata_path = export_model(model, metadata, tmp_path / "pn")
    stored = load_model(metadata_path)[1]
    rebuilt = build_model(
        stored.architecture, stored.task, stored.input_spec, **stored.hyperparameters
    )
    rebuilt.load_state_dict(model.state_dict(), strict=True)


@pytest.mark.parametrize("name", ["dnn", "lbn", "particlenet"])
def test_tagger_with_jet_features_reads_them_and_round_trips(name, tmp_path):
    torch.manual_seed(0)
    model = build_model(name, "tagger", SPEC, preset="small", jet_features=["sd_mass", "tau32"])
    constituents, mask, jet, _ = (torch.from_numpy(a) for a in synthetic_jets(64, SPEC))
    model.fit_normalisation(constituents, mask, jet)
    model.eval()
    heavier = jet.clone()
    heavier[:, SPEC.jet_features.index("sd_mass")] *= 3.0
    other = jet.clone()
    other[:, SPEC.jet_features.index("pt")] *= 3.0  # not one of its jet features
    with torch.no_grad():
        scores = model(constituents, mask, jet)
        assert not torch.allclose(model(constituents, mask, heavier), scores)
        torch.testing.assert_close(model(constituents, mask, other), scores)
    metadata = describe_model(
        model, name=name, architecture=name, task="tagger", spec=SPEC, signal="top"
    )
    export_model(model, metadata, tmp_path / name)
    loaded, _ = load_model(tmp_path / f"{name}.pt")
    torch.testing.assert_close(
        loaded(constituents, mask, heavier), model(constituents, mask, heavier)
    )


def square_root(x: torch.Tensor, floor: float = 1e-3) -> torch.Tensor:
    """Instead of ParticleNet's logarithm: the older code of the rescripting test."""
    return torch.sqrt(x.clamp(min=floor))


def test_rescripting_takes_up_changed_code_and_keeps_weights_and_metadata(tmp_path):
    from boostjet.models.export import EMBEDDED_METADATA, inference_copy, rescript_model

    # a model exported by other code, in another process (TorchScript caches what it compiled)
    older = tmp_path / "older"
    older.mkdir()
    script = (
        "import sys, torch; sys.path.insert(0, sys.argv[1]); import test_export;"
        "from boostjet.models.taggers import particlenet as p;"
        "p.safe_log = test_export.square_root;"
        "test_export.exported('particlenet', test_export.Path(sys.argv[2]))"
    )
    tests = str(Path(__file__).parent)
    subprocess.run([sys.executable, "-c", script, tests, str(older)], check=True)
    stem = older / "particlenet"
    metadata_text = stem.with_suffix(".json").read_text()
    before, _ = load_model(stem)
    assert rescript_model(f"{stem}.json") == stem.with_suffix(".pt")
    after, _ = load_model(stem)
    assert stem.with_suffix(".json").read_text() == metadata_text
    embedded = {EMBEDDED_METADATA: ""}
    torch.jit.load(stem.with_suffix(".pt"), _extra_files=embedded)
    assert embedded[EMBEDDED_METADATA].decode() + "\n" == metadata_text
    for key, value in before.state_dict().items():
        assert torch.equal(after.state_dict()[key], value), key
    constituents, mask, jet, _ = (torch.from_numpy(a) for a in synthetic_jets(9, SPEC, seed=5))
    current = inference_copy(build_model("particlenet", "tagger", SPEC, preset="small"))
    current.load_state_dict(before.state_dict())  # this code, the file's weights
    with torch.no_grad():
        expected = current(constituents, mask, jet)
        assert not torch.allclose(before(constituents, mask, jet), expected)
        torch.testing.assert_close(after(constituents, mask, jet), expected)
