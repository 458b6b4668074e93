"""ParticleNet neighbour search: padded points are never neighbours."""

import math

import pytest
import torch

from boostjet.models.export import count_parameters
from boostjet.models.spec import InputSpec
from boostjet.models.taggers.particlenet import (
    FULL_BLOCKS,
    EdgeConvBlock,
    ParticleNet,
    gather_neighbours,
    nearest_neighbours,
)


@pytest.mark.parametrize(
    ("options", "published"), [({}, 26_000), ({"blocks": FULL_BLOCKS, "width": 256}, 366_000)]
)
def test_parameter_counts_match_the_paper(options, published):
    """arXiv:1902.08570 quotes 26k (Lite) and 366k parameters with 7 features per particle."""
    model = ParticleNet(
        InputSpec(), use_particle_type=False, use_impact_parameters=False, **options
    )
    assert count_parameters(model) == pytest.approx(published, rel=0.02)  # "26k", "366k"


def test_nearest_neighbours_skip_self_and_padding():
    points = torch.tensor([[0.0, 1.0, 3.0, 0.1, 0.2]]).unsqueeze(-1)  # five points in 1D
    mask = torch.tensor([[True, True, True, False, True]])
    indices, edge_real = nearest_neighbours(points, mask, k=2)
    assert indices[0, 0].tolist() == [4, 1]  # 0.1 is padding, 0.0 itself is excluded
    assert indices[0, 2].tolist() == [1, 4]
    assert edge_real[0, [0, 1, 2, 4]].all() and not edge_real[0, 3].any()


def test_too_few_real_neighbours_leave_dead_edges():
    points = torch.tensor([[0.0, 1.0, 9.0, 9.0]]).unsqueeze(-1)
    mask = torch.tensor([[True, True, False, False]])
    indices, edge_real = nearest_neighbours(points, mask, k=3)
    assert indices[0, 0, 0] == 1 and edge_real[0, 0].tolist() == [True, False, False]


def test_edge_convolution_equals_the_per_edge_formula():
    torch.manual_seed(0)
    block = EdgeConvBlock(k=2, n_inputs=3, widths=(4, 5)).eval()
    features = torch.randn(1, 4, 3)
    mask = torch.ones(1, 4, dtype=torch.bool)
    indices, _ = nearest_neighbours(features, mask, 2)
    neighbours = gather_neighbours(features, indices)
    centre = features.unsqueeze(2).expand_as(neighbours)
    edges = block.edge_projection(torch.cat([centre, neighbours - centre], -1))
    edges = torch.relu(block.edge_norm.norm(edges.reshape(-1, 4)).view(1, 4, 2, 4))
    shortcut = block.shortcut_norm.norm(block.shortcut(features).view(-1, 5)).view(1, 4, 5)
    expected = torch.relu(block.edge_layers(edges).mean(2) + shortcut)
    torch.testing.assert_close(block(features, features, mask), expected)


def test_gather_neighbours():
    features = torch.arange(6.0).view(1, 3, 2)  # points × channels
    indices = torch.tensor([[[1, 2], [0, 2], [0, 1]]])
    gathered = gather_neighbours(features, indices)
    assert gathered.shape == (1, 3, 2, 2)
    assert gathered[0, 0].tolist() == [[2.0, 3.0], [4.0, 5.0]]


def test_impact_features_sign_d0_by_the_jet_direction_by_hand():
    from boostjet.models.taggers.particlenet import impact_features

    # (d0, dz, σ_d0, σ_dz) in mm and Δφ: a track left of a jet along +x with positive
    # Delphes d0 lies downstream (positive); the same d0 on the other side is upstream
    impact = torch.tensor([[0.05, 0.3, 0.02, 0.0], [0.05, 0.3, 0.02, 0.0], [0.0] * 4])
    dphi = torch.tensor([0.1, -0.1, 0.2])
    features = impact_features(impact, dphi)
    expected = [
        [math.tanh(0.05), math.asinh(2.5), math.tanh(0.3), math.asinh(30.0)],  # σ_dz floor 0.01
        [-math.tanh(0.05), -math.asinh(2.5), math.tanh(0.3), math.asinh(30.0)],
        [0.0, 0.0, 0.0, 0.0],  # a neutral constituent
    ]
    torch.testing.assert_close(features, torch.tensor(expected))


def test_folding_the_batch_norms_keeps_the_outputs():
    from boostjet.models.export import inference_copy
    from boostjet.models.spec import synthetic_jets

    torch.manual_seed(0)
    spec = InputSpec(n_constituents=16)
    model = ParticleNet(spec)
    constituents, mask, jet, _ = (torch.from_numpy(a) for a in synthetic_jets(64, spec))
    model.fit_normalisation(constituents, mask, jet)
    model.train()
    for _ in range(3):  # running statistics and affine parameters away from their defaults
        model(constituents, mask, jet)
    with torch.no_grad():
        for norm in (m for m in model.modules() if isinstance(m, torch.nn.BatchNorm1d)):
            norm.weight.uniform_(0.5, 1.5)
            norm.bias.uniform_(-0.5, 0.5)
    folded = inference_copy(model)
    norms = [m for m in folded.modules() if hasattr(m, "folded")]
    assert norms and all(m.folded for m in norms)
    with torch.no_grad():
        torch.testing.assert_close(
            folded(constituents, mask, jet), model.eval()(constituents, mask, jet)
        )
