"""Losses against direct numpy / scipy computations on hand-made numbers."""

import math

import numpy as np
import pytest
import torch
from scipy import stats

from boostjet.models.regressors.energy import gaussian_nll_loss
from boostjet.models.regressors.mass import central_mse_loss
from boostjet.models.taggers import tagger_loss


def test_central_mse_keeps_the_central_74_percent_of_the_ratio():
    truth = np.array([80.0, 90.0, 100.0, 110.0, 120.0, 85.0, 95.0, 105.0, 170.0, 40.0])
    prediction = np.array([82.0, 70.0, 101.0, 150.0, 118.0, 10.0, 99.0, 104.0, 160.0, 90.0])
    ratio = prediction / truth
    low, high = np.percentile(ratio, [13, 87])
    central = (ratio >= low) & (ratio <= high)
    expected = np.mean((prediction[central] - truth[central]) ** 2)
    assert 0 < central.sum() < len(ratio)
    loss = central_mse_loss(torch.tensor(prediction), torch.tensor(truth))
    assert loss.item() == pytest.approx(expected, rel=1e-12)


def test_central_mse_gradient_flows_to_the_kept_jets_only():
    truth = torch.tensor([1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0])
    prediction = torch.tensor([0.1, 0.9, 0.95, 1.02, 1.05, 1.1, 1.2, 5.0], requires_grad=True)
    central_mse_loss(prediction, truth).backward()
    assert prediction.grad[0] == 0 and prediction.grad[-1] == 0
    torch.testing.assert_close(prediction.grad[1:-1], 2 * (prediction[1:-1] - 1).detach() / 6)


def test_gaussian_nll_matches_scipy_without_truncation():
    mean = np.array([1.0, 2.0, -0.5])
    sigma = np.array([0.5, 2.0, 1.5])
    target = np.array([1.2, -1.0, 0.0])
    expected = -stats.norm.logpdf(target, mean, sigma).mean()
    loss = gaussian_nll_loss(torch.tensor(mean), torch.tensor(sigma), torch.tensor(target))
    assert loss.item() == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    ("lower", "upper"), [(0.0, math.inf), (50.0, 150.0), (-math.inf, 120.0), (65.0, 400.0)]
)
def test_gaussian_nll_with_boundary_matches_scipy_truncnorm(lower, upper):
    mean = np.array([100.0, 90.0, 130.0, 60.0, 110.0])
    sigma = np.array([10.0, 30.0, 5.0, 40.0, 2.0])
    target = np.array([105.0, 70.0, 119.0, 101.0, 111.0])
    a, b = (lower - mean) / sigma, (upper - mean) / sigma
    expected = -stats.truncnorm.logpdf(target, a, b, loc=mean, scale=sigma).mean()
    loss = gaussian_nll_loss(
        torch.tensor(mean), torch.tensor(sigma), torch.tensor(target), lower, upper
    )
    assert loss.item() == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize(("lower", "upper"), [(0.0, math.inf), (-math.inf, 50.0), (0.0, 300.0)])
def test_gaussian_nll_gradients_are_finite(lower, upper):
    mean = torch.tensor([100.0, 20.0, -3.0], requires_grad=True)
    sigma = torch.tensor([10.0, 30.0, 1.0], requires_grad=True)
    gaussian_nll_loss(mean, sigma, torch.tensor([40.0, 25.0, 1.0]), lower, upper).backward()
    assert torch.all(torch.isfinite(mean.grad)) and torch.all(torch.isfinite(sigma.grad))


def test_gaussian_nll_boundary_term_is_stable_deep_in_the_tails():
    mean = torch.tensor([-500.0, 900.0], dtype=torch.float32, requires_grad=True)
    sigma = torch.tensor([10.0, 10.0], dtype=torch.float32)
    target = torch.tensor([5.0, 95.0], dtype=torch.float32)
    loss = gaussian_nll_loss(mean, sigma, target, 0.0, 100.0)
    loss.backward()
    a = (0.0 - mean.detach().double().numpy()) / 10.0
    b = (100.0 - mean.detach().double().numpy()) / 10.0
    expected = -stats.truncnorm.logpdf(
        target.double().numpy(), a, b, loc=mean.detach().double().numpy(), scale=10.0
    ).mean()
    assert torch.isfinite(loss) and torch.all(torch.isfinite(mean.grad))
    assert loss.item() == pytest.approx(expected, rel=1e-3)


def test_tagger_loss_is_binary_cross_entropy_of_the_sigmoid():
    logits = np.array([2.0, -1.0, 0.3, -4.0])
    labels = np.array([1.0, 0.0, 0.0, 1.0])
    weights = np.array([1.0, 2.0, 0.5, 1.0])
    probability = 1 / (1 + np.exp(-logits))
    per_jet = -(labels * np.log(probability) + (1 - labels) * np.log(1 - probability))
    loss = tagger_loss(torch.tensor(logits), torch.tensor(labels))
    assert loss.item() == pytest.approx(per_jet.mean(), rel=1e-12)
    weighted = tagger_loss(torch.tensor(logits), torch.tensor(labels), torch.tensor(weights))
    assert weighted.item() == pytest.approx((weights * per_jet).mean(), rel=1e-12)
