"""Every registered model: construction, output shapes, padding and permutation invariance."""

import pytest
import torch

from boostjet.errors import ModelError
from boostjet.models.registry import MODELS, available_models, build_model
from boostjet.models.synthetic import synthetic_jets
from boostjet.spec import InputSpec

SPEC = InputSpec(n_constituents=16)
PERMUTATION_INVARIANT = ("cnn", "particlenet", "pointcloud_mass", "energy_pointcloud")


def jets(n_jets: int = 12, seed: int = 0) -> tuple[torch.Tensor, ...]:
    return tuple(torch.from_numpy(a) for a in synthetic_jets(n_jets, SPEC, seed=seed))


def fitted_model(name: str) -> torch.nn.Module:
    torch.manual_seed(0)
    task = MODELS[name][0]
    model = build_model(name, task, SPEC, preset="small")
    constituents, mask, jet, _ = jets(64, seed=1)
    target = jet[:, SPEC.jet_features.index("sd_mass")] if task == "mass" else None
    model.fit_normalisation(constituents, mask, jet, target)
    return model.eval()


def with_garbage_padding(constituents, mask, n_extra=5, seed=7):
    """Random garbage (including NaN and inf) in every padded slot, plus `n_extra` padded slots."""
    generator = torch.Generator().manual_seed(seed)
    n_jets, _, n_features = constituents.shape
    garbage = 1e3 * torch.randn(constituents.shape, generator=generator)
    garbage[0, -1, 0], garbage[1, -1, 1] = float("nan"), float("inf")
    padded = torch.where(mask.unsqueeze(-1), constituents, garbage)
    extra = 1e3 * torch.randn(n_jets, n_extra, n_features, generator=generator)
    padded = torch.cat([padded, extra], 1)
    mask = torch.cat([mask, torch.zeros(n_jets, n_extra, dtype=torch.bool)], 1)
    return padded, mask


@pytest.mark.parametrize("name", list(MODELS))
def test_output_shape_range_and_dtype(name):
    model = fitted_model(name)
    constituents, mask, jet, _ = jets()
    output = model(constituents, mask, jet)
    assert output.dtype == torch.float32
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert torch.all(torch.isfinite(output))
    task = MODELS[name][0]
    if task == "energy":
        assert output.shape == (12, 2)
        assert torch.all(output > 0), "energy and σ are positive"
    else:
        assert output.shape == (12,)
    if task == "tagger":
        assert torch.all((output > 0) & (output < 1))
        torch.testing.assert_close(output, torch.sigmoid(model.logits(constituents, mask, jet)))


@pytest.mark.parametrize("name", list(MODELS))
def test_padded_constituents_never_change_the_output(name):
    model = fitted_model(name)
    constituents, mask, jet, _ = jets()
    assert not mask.all(), "the sample must contain padding"
    reference = model(constituents, mask, jet)
    padded, padded_mask = with_garbage_padding(constituents, mask)
    torch.testing.assert_close(model(padded, padded_mask, jet), reference, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", PERMUTATION_INVARIANT)
def test_permutation_invariance_over_constituents(name):
    model = fitted_model(name)
    constituents, mask, jet, _ = jets()
    order = torch.stack([torch.randperm(SPEC.n_constituents) for _ in range(len(mask))])
    shuffled = constituents.gather(1, order.unsqueeze(-1).expand_as(constituents))
    shuffled_mask = mask.gather(1, order)
    torch.testing.assert_close(
        model(shuffled, shuffled_mask, jet), model(constituents, mask, jet), rtol=1e-5, atol=1e-5
    )


def test_registry_lists_models_by_task():
    assert set(available_models()) == set(MODELS)
    assert available_models("tagger") == ("dnn", "cnn", "lola", "lbn", "particlenet")
    assert "iml_mass" in available_models("mass") and "energy_dnn" in available_models("energy")


def test_unknown_model_names_the_valid_ones():
    with pytest.raises(ModelError, match=r"Unknown model 'transformer'.*particlenet.*iml_mass"):
        build_model("transformer", "tagger", SPEC)


def test_model_of_another_task_is_rejected():
    with pytest.raises(ModelError, match=r"'iml_mass' is a mass model, not a tagger"):
        build_model("iml_mass", "tagger", SPEC)


def test_bad_hyperparameter_or_preset_is_a_model_error():
    with pytest.raises(ModelError, match="'dnn'"):
        build_model("dnn", "tagger", SPEC, n_layers=3)
    with pytest.raises(ModelError, match="preset 'huge'"):
        build_model("dnn", "tagger", SPEC, preset="huge")


def test_spec_without_a_needed_feature_is_a_model_error():
    spec = InputSpec(constituent_features=("E", "px", "py", "pz"))
    with pytest.raises(ModelError, match=r"'particlenet'.*'pt'"):
        build_model("particlenet", "tagger", spec)
    assert build_model("lola", "tagger", spec) is not None
