"""LoLa's Lorentz layer against hand-computed invariants of two four-vectors."""

import math

import torch

from boostjet.models.taggers.lola import (
    MINKOWSKI,
    CombinationLayer,
    LorentzLayer,
    minkowski_square,
    pairwise_distances,
)

# k1 = (E, px, py, pz) = (5, 1, 2, 3): m² = 25 − 14 = 11, pT = √5
# k2 = (4, 0, 0, 3):                  m² = 16 − 9 = 7,   pT = 0
# k1 − k2 = (1, 1, 2, 0):             d² = 1 − 1 − 4 − 0 = −4 in the Minkowski metric
TWO_PARTICLES = torch.tensor([[[5.0, 1.0, 2.0, 3.0], [4.0, 0.0, 0.0, 3.0]]])


def test_invariant_mass_and_minkowski_distance_by_hand():
    torch.testing.assert_close(minkowski_square(TWO_PARTICLES), torch.tensor([[11.0, 7.0]]))
    distances = pairwise_distances(TWO_PARTICLES, torch.tensor(MINKOWSKI))
    torch.testing.assert_close(distances, torch.tensor([[[0.0, -4.0], [-4.0, 0.0]]]))


def lorentz_layer_with_simple_weights(n_particles: int) -> LorentzLayer:
    layer = LorentzLayer(n_particles, n_distance_sums=1)
    with torch.no_grad():
        layer.energy_weights.copy_(torch.eye(n_particles))
        layer.distance_weights.fill_(1.0)
    return layer


def test_lorentz_layer_features_by_hand():
    layer = lorentz_layer_with_simple_weights(2)
    features = layer(TWO_PARTICLES, torch.ones(1, 2, dtype=torch.bool))
    # columns: m², pT, E, Σ w E (identity → E), min d², Σ d² (all-ones weights)
    expected = torch.tensor(
        [[[11.0, math.sqrt(5.0), 5.0, 5.0, -4.0, -4.0], [7.0, 0.0, 4.0, 4.0, -4.0, -4.0]]]
    )
    torch.testing.assert_close(features, expected, atol=1e-5, rtol=1e-6)


def test_padded_particle_contributes_nothing():
    layer = lorentz_layer_with_simple_weights(3)
    garbage = torch.tensor([[[50.0, -7.0, 3.0, 20.0]]])
    particles = torch.cat([TWO_PARTICLES, garbage], 1)
    real = torch.tensor([[True, True, False]])
    features = layer(particles, real)
    reference = lorentz_layer_with_simple_weights(2)(TWO_PARTICLES, real[:, :2])
    torch.testing.assert_close(features[:, :2, [0, 1, 2, 4, 5]], reference[..., [0, 1, 2, 4, 5]])
    assert torch.all(features[:, 2] == 0)


def test_combination_layer_appends_weighted_sums():
    layer = CombinationLayer(n_slots=2, n_combinations=1)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[1.0], [2.0]]))
    combined = layer(TWO_PARTICLES)
    torch.testing.assert_close(combined[:, :2], TWO_PARTICLES)
    torch.testing.assert_close(combined[0, 2], TWO_PARTICLES[0, 0] + 2 * TWO_PARTICLES[0, 1])
