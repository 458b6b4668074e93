"""LBN boosts against hand-computed and matrix Lorentz boosts; guards on unphysical frames."""

import math

import numpy as np
import torch

from boostjet.models.taggers.lbn import MAX_GAMMA, boost_to_rest_frame, particle_features


def test_boost_into_own_rest_frame_gives_mass_at_rest():
    four_momentum = torch.tensor([[5.0, 1.0, 2.0, 3.0]], dtype=torch.float64)
    boosted = boost_to_rest_frame(four_momentum, four_momentum)
    torch.testing.assert_close(boosted, torch.tensor([[math.sqrt(11.0), 0.0, 0.0, 0.0]]).double())


def test_particle_at_rest_seen_from_a_moving_frame():
    # frame (5, 3, 0, 0): β = 0.6 along x, γ = 1.25; particle (2, 0, 0, 0) at rest in the lab
    particle = torch.tensor([[2.0, 0.0, 0.0, 0.0]])
    frame = torch.tensor([[5.0, 3.0, 0.0, 0.0]])
    torch.testing.assert_close(
        boost_to_rest_frame(particle, frame), torch.tensor([[2.5, -1.5, 0.0, 0.0]])
    )


def test_boost_matches_the_lorentz_matrix():
    rng = np.random.default_rng(1)
    particle = np.array([30.0, 5.0, -12.0, 20.0])
    frame_momentum = rng.normal(0, 10, 3)
    frame = np.concatenate([[np.sqrt(15.0**2 + frame_momentum @ frame_momentum)], frame_momentum])
    beta = frame[1:] / frame[0]
    gamma = 1 / np.sqrt(1 - beta @ beta)
    matrix = np.eye(4)
    matrix[0, 0] = gamma
    matrix[0, 1:] = matrix[1:, 0] = -gamma * beta
    matrix[1:, 1:] += (gamma - 1) * np.outer(beta, beta) / (beta @ beta)
    boosted = boost_to_rest_frame(torch.tensor(particle[None]), torch.tensor(frame[None]))
    np.testing.assert_allclose(boosted[0].numpy(), matrix @ particle, rtol=1e-10)


def test_unphysical_and_empty_frames_stay_finite():
    particle = torch.tensor([[10.0, 1.0, 2.0, 9.0], [3.0, 1.0, 0.0, 0.0], [3.0, 1.0, 0.0, 0.0]])
    frames = torch.tensor(
        [[10.0, 0.0, 0.0, 10.0], [1.0, 2.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]], requires_grad=True
    )
    boosted = boost_to_rest_frame(particle, frames)
    boosted.sum().backward()
    assert torch.all(torch.isfinite(boosted)) and torch.all(torch.isfinite(frames.grad))
    # light-like frame: boosted with γ_max instead, so its own energy becomes E·γ(1 − β) ≈ E/2γ
    own = boost_to_rest_frame(frames[:1].detach(), frames[:1].detach())
    beta = math.sqrt(1 - 1 / MAX_GAMMA**2)
    torch.testing.assert_close(
        own[0, 0], torch.tensor(10.0 * MAX_GAMMA * (1 - beta)), rtol=1e-3, atol=0
    )
    torch.testing.assert_close(boosted[2], particle[2])  # an empty frame is the lab frame


def test_particle_features_by_hand_and_finite_gradients():
    particles = torch.tensor(
        [[[2.0, 0.0, 0.0, 0.0], [5.0, 3.0, 0.0, 4.0], [5.0, 0.0, -3.0, 0.0]]], requires_grad=True
    )
    features = particle_features(particles)
    single = features[0, :15].view(3, 5)  # E, pT, η, φ, m
    torch.testing.assert_close(
        single[0], torch.tensor([2.0, 0.0, 0.0, 0.0, 2.0]), atol=1e-4, rtol=0
    )
    torch.testing.assert_close(
        single[1], torch.tensor([5.0, 3.0, math.asinh(4 / 3), 0.0, 0.0]), atol=1e-4, rtol=0
    )
    torch.testing.assert_close(single[2, 3], torch.tensor(-math.pi / 2))
    # cosines between momenta: (0 with anything) = 0, (3,0,4)·(0,−3,0) = 0
    torch.testing.assert_close(features[0, 15:], torch.zeros(3), atol=1e-4, rtol=0)
    features.sum().backward()
    assert torch.all(torch.isfinite(particles.grad))
