"""ParticleNet: neighbour search (padded points are never neighbours, ties go to the lower index),
EdgeConv, impact-parameter features, batch-norm folding, padding invariance."""

import math

import pytest
import torch

from boostjet.models.export import count_parameters
from boostjet.models.taggers.particlenet import (
    FULL_BLOCKS,
    EdgeConvBlock,
    ParticleNet,
    gather_neighbours,
    nearest_neighbours,
)
from boostjet.spec import InputSpec


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


def test_equal_distances_go_to_the_lower_index_whatever_the_padding():
    # points 1-4 coincide (a photon and neutral hadrons of one calorimeter cell), as do 5 and 6
    points = torch.tensor([[0.0, 0.0], [0.3, 0.1], [0.3, 0.1], [0.3, 0.1], [0.3, 0.1]])
    points = torch.cat([points, torch.tensor([[0.7, 0.7], [0.7, 0.7]])]).unsqueeze(0)
    for n_padded in range(0, 60, 7):
        padded = torch.cat([points, torch.zeros(1, n_padded, 2)], 1)
        mask = torch.arange(padded.shape[1]).unsqueeze(0) < points.shape[1]
        indices, edge_real = nearest_neighbours(padded, mask, k=3)
        assert indices[0, 0].tolist() == [1, 2, 3], n_padded
        assert indices[0, 2].tolist() == [1, 3, 4], n_padded  # itself excluded
        assert indices[0, 6].tolist() == [5, 1, 2], n_padded
        assert edge_real[0, :7].all()


def test_neighbours_of_a_jet_depend_on_its_points_alone():
    # coincident points and features from an earlier block: the same neighbours in a wider
    # tensor, with other jets and alone (a matrix-product expansion reorders near ties)
    from boostjet.models.synthetic import synthetic_jets

    spec = InputSpec(n_constituents=48)
    constituents, mask, _, _ = synthetic_jets(32, spec, seed=3, coincident=True)
    columns = [spec.constituent_features.index(f) for f in ("deta", "dphi")]
    points, mask = torch.from_numpy(constituents[..., columns]), torch.from_numpy(mask)
    torch.manual_seed(0)
    features = torch.relu(points @ torch.randn(2, 32) + torch.randn(32)) * mask.unsqueeze(-1)
    for cloud in (points, features):
        reference, _ = nearest_neighbours(cloud, mask, k=7)
        for jet in range(0, 32, 5):
            width = int(mask[jet].sum())
            alone, _ = nearest_neighbours(
                cloud[jet : jet + 1, :width], mask[jet : jet + 1, :width], 7
            )
            assert torch.equal(alone[0], reference[jet, :width])


def test_padding_never_changes_the_output_with_coincident_constituents():
    from boostjet.models.synthetic import synthetic_jets

    torch.manual_seed(1)
    spec = InputSpec(n_constituents=32)
    model = ParticleNet(spec).eval()
    constituents, mask, jet, _ = (
        torch.from_numpy(a) for a in synthetic_jets(48, spec, seed=2, coincident=True)
    )
    model.fit_normalisation(constituents, mask, jet)
    model.eval()
    with torch.no_grad():
        full = model(constituents, mask, jet)
        for jet_index in range(48):
            width = int(mask[jet_index].sum())
            one = slice(jet_index, jet_index + 1)
            alone = model(constituents[one, :width], mask[one, :width], jet[one])
            torch.testing.assert_close(alone, full[one], rtol=1e-6, atol=1e-6)


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
    from boostjet.models.synthetic import synthetic_jets

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
