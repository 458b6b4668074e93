"""Shared preprocessing: fitted standardisation on real entries, jet frame, slot padding."""

import numpy as np
import torch

from boostjet.models.preprocessing import EnergyScale, Standardise, first_slots, jet_frame
from boostjet.models.taggers.lola import minkowski_square


def test_standardise_fits_on_real_entries_only():
    x = torch.tensor([[[1.0, 10.0], [3.0, 30.0], [999.0, -999.0]]])
    real = torch.tensor([[True, True, False]])
    scaler = Standardise((2,))
    scaler.fit(x, real.unsqueeze(-1))
    torch.testing.assert_close(scaler.mean, torch.tensor([2.0, 20.0]))
    torch.testing.assert_close(scaler.std, torch.tensor([1.0, 10.0]))
    assert bool(scaler.fitted)
    torch.testing.assert_close(scaler(x[:, :2]), torch.tensor([[[-1.0, -1.0], [1.0, 1.0]]]))


def test_standardise_leaves_constant_or_empty_columns_unscaled():
    x = torch.tensor([[[5.0, 1.0]], [[5.0, 2.0]]])  # per slot and feature: shape (1, 2)
    scaler = Standardise((1, 2))
    scaler.fit(x, torch.ones(2, 1, 1, dtype=torch.bool))
    torch.testing.assert_close(scaler.mean, torch.tensor([[0.0, 1.5]]))
    torch.testing.assert_close(scaler.std, torch.tensor([[1.0, 0.5]]))


def test_jet_frame_aligns_the_jet_and_keeps_invariants():
    rng = np.random.default_rng(2)
    momenta = rng.normal(0, 20, (3, 5, 3))
    masses = rng.uniform(0, 1, (3, 5, 1))
    energy = np.sqrt((momenta**2).sum(-1, keepdims=True) + masses**2)
    four_momenta = torch.tensor(np.concatenate([energy, momenta], -1))
    rotated = jet_frame(four_momenta)
    total = rotated.sum(1)
    torch.testing.assert_close(total[:, 2], torch.zeros(3, dtype=torch.float64))
    assert torch.all(total[:, 1] > 0) and torch.all(total[:, 3] >= 0)
    torch.testing.assert_close(minkowski_square(rotated), minkowski_square(four_momenta))
    torch.testing.assert_close(minkowski_square(total), minkowski_square(four_momenta.sum(1)))


def test_first_slots_truncates_and_pads():
    x = torch.arange(12.0).view(1, 4, 3)
    mask = torch.tensor([[True, True, True, False]])
    short, short_mask = first_slots(x, mask, 2)
    assert short.shape == (1, 2, 3) and short_mask.tolist() == [[True, True]]
    long, long_mask = first_slots(x, mask, 6)
    assert long.shape == (1, 6, 3) and torch.all(long[:, 4:] == 0)
    assert long_mask.tolist() == [[True, True, True, False, False, False]]


def test_energy_scale_is_the_mean_jet_energy():
    four_momenta = torch.tensor(
        [[[10.0, 0, 0, 10], [5.0, 0, 5, 0]], [[30.0, 30, 0, 0], [7.0, 0, 0, 7]]]
    )
    mask = torch.tensor([[True, True], [True, False]])
    scale = EnergyScale()
    scale.fit(four_momenta, mask)
    assert scale.scale.item() == 22.5
