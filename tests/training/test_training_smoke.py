"""A few dozen optimiser steps on toy jets: the pieces a training loop needs fit together."""

import pytest
import torch

from boostjet.models.registry import build_model
from boostjet.models.regressors.energy import gaussian_nll_loss
from boostjet.models.regressors.mass import central_mse_loss
from boostjet.models.synthetic import synthetic_jets
from boostjet.models.taggers import tagger_loss
from boostjet.spec import InputSpec

SPEC = InputSpec(n_constituents=16)


def toy(seed: int, n_jets: int = 512) -> tuple[torch.Tensor, ...]:
    return tuple(torch.from_numpy(a) for a in synthetic_jets(n_jets, SPEC, seed=seed))


def train(model, loss_of_batch, inputs, steps: int = 40) -> None:
    torch.manual_seed(1)
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(steps):
        batch = torch.randint(0, len(inputs[0]), (128,))
        loss = loss_of_batch(model, *(x[batch] for x in inputs))
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    model.eval()


def loss_before_and_after_training(model, loss_of_batch, inputs) -> tuple[float, float]:
    """The loss on all of ``inputs`` before and after ``train``."""
    model.fit_normalisation(*inputs)
    with torch.no_grad():
        before = loss_of_batch(model.eval(), *inputs).item()
    train(model, loss_of_batch, inputs)
    with torch.no_grad():
        after = loss_of_batch(model, *inputs).item()
    return before, after


@pytest.mark.parametrize("name", ["dnn", "particlenet"])
def test_tagger_learns_three_prongs_from_one(name):
    torch.manual_seed(0)
    training_jets = toy(seed=0)
    model = build_model(name, "tagger", SPEC, preset="small")
    model.fit_normalisation(*training_jets[:3])
    train(model, lambda m, c, k, j, y: tagger_loss(m.logits(c, k, j), y), training_jets)
    test_constituents, test_mask, test_jet, test_labels = toy(seed=1)
    with torch.no_grad():
        scores = model(test_constituents, test_mask, test_jet)
    accuracy = ((scores > 0.5).float() == test_labels).float().mean().item()
    assert accuracy > 0.75


def test_mass_regressor_reduces_its_loss():
    torch.manual_seed(0)
    constituents, mask, jet, _ = toy(seed=2)
    mass = jet[:, SPEC.jet_features.index("sd_mass")]

    def mass_loss(m, c, k, j, y):
        return central_mse_loss(m(c, k, j), y)

    model = build_model("iml_mass", "mass", SPEC, preset="small")
    before, after = loss_before_and_after_training(
        model, mass_loss, (constituents, mask, jet, mass)
    )
    assert after < 0.7 * before


def test_energy_regressor_learns_the_scale_and_its_spread():
    # true energy 1.1 × reconstructed, smeared by 5 %: the network starts at response 1/1.1 and
    # σ/E = 0.1 and must move the response to 1 and σ/E towards the 5 % spread
    torch.manual_seed(0)
    constituents, mask, jet, _ = toy(seed=2)
    spread = 1 + 0.05 * torch.randn(len(jet), generator=torch.Generator().manual_seed(2))
    energy = jet[:, SPEC.jet_features.index("energy")] * 1.1 * spread

    def energy_loss(m, c, k, j, y):
        output = m(c, k, j)
        return gaussian_nll_loss(output[:, 0], output[:, 1], y, lower=0.0)

    model = build_model("energy_dnn", "energy", SPEC, preset="small")
    inputs = (constituents, mask, jet, energy)
    before, after = loss_before_and_after_training(model, energy_loss, inputs)
    with torch.no_grad():
        predicted, sigma = model(constituents, mask, jet).unbind(-1)
    assert after < before - 0.5
    assert abs((predicted / energy).median().item() - 1) < 0.03
    assert 0.02 < (sigma / predicted).median().item() < 0.07
