"""ParticleNet-Lite: dynamic graph CNN on the jet as a particle cloud (arXiv:1902.08570).

Each constituent carries Δη, Δφ, log pT, log E, log(pT/pT_jet), log(E/E_jet), ΔR, its particle type
(charge, photon and neutral-hadron flags) and, for tracks, the impact parameters (d0 signed by the
jet direction, dz, and their significances), standardised over real constituents. EdgeConv
blocks (k nearest neighbours; edge features (x_i, x_j − x_i); three 1×1 convolutions with batch
norm and ReLU; mean over the edges; shortcut) find neighbours first in (Δη, Δφ), then in the
previous block's feature space. Lite: two blocks, k = 7, channels (32, 32, 32) and (64, 64, 64);
global average pooling; dense 128 with dropout 0.1.
Padded points are never neighbours and never pooled, and every operation is per point or a
symmetric reduction, so the output is invariant under permutations of the real constituents.
"""

from __future__ import annotations

import itertools

import torch
from torch import Tensor, nn

from boostjet.models.preprocessing import Standardise, masked, safe_log
from boostjet.models.taggers import Tagger
from boostjet.spec import IMPACT_PARAMETERS, InputSpec

KINEMATICS: tuple[str, ...] = ("E", "px", "py", "pt", "deta", "dphi")
PARTICLE_TYPE: tuple[str, ...] = ("charge", "is_photon", "is_neutral_hadron")
#: Floor (mm) under impact-parameter errors: files whose card smears no tracks store zero errors.
MIN_IMPACT_ERROR = 0.01


def impact_features(impact: Tensor, dphi: Tensor, min_error: float = MIN_IMPACT_ERROR) -> Tensor:
    """[..., 4] track features from (d0, dz, σ_d0, σ_dz) in mm and Δφ to the jet axis.

    d0 gets the sign of the jet direction (positive when the track's point of closest approach
    lies downstream along the jet, as for b-hadron decay products): |d0| · sign(d0 · sin Δφ).
    Returned: tanh(d0), asinh(d0 / σ_d0), tanh(dz), asinh(dz / σ_dz), zero for neutrals.
    """
    d0, dz, d0_error, dz_error = impact.unbind(-1)
    signed_d0 = d0.abs() * torch.sign(d0 * torch.sin(dphi))
    return torch.stack(
        [
            torch.tanh(signed_d0),
            torch.asinh(signed_d0 / d0_error.clamp(min=min_error)),
            torch.tanh(dz),
            torch.asinh(dz / dz_error.clamp(min=min_error)),
        ],
        -1,
    )


#: (k, channels) of each EdgeConv block; 26k parameters with the paper's 7 features and width 128.
LITE_BLOCKS: tuple[tuple[int, tuple[int, ...]], ...] = ((7, (32, 32, 32)), (7, (64, 64, 64)))
#: The full ParticleNet (use with width=256): 366k parameters, as in the paper.
FULL_BLOCKS: tuple[tuple[int, tuple[int, ...]], ...] = (
    (16, (64, 64, 64)),
    (16, (128, 128, 128)),
    (16, (256, 256, 256)),
)


def nearest_neighbours(points: Tensor, mask: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """Indices [B, P, k] of each point's k nearest real neighbours in `points` [B, P, D], nearest
    first, and whether each edge is real (both ends real; fewer than k real neighbours leaves dead
    edges).

    The neighbours depend on the real points alone, not on the padding or the rest of the batch:
    each distance is computed from the two points directly (a matrix-product expansion rounds
    differently for every tensor shape, which reorders nearly equal distances), and equal
    distances go to the point listed first. Equal distances are common: Delphes puts the photon
    and the neutral hadron of one calorimeter cell at the same (η, φ).
    """
    n_points = points.shape[1]
    distance = torch.cdist(
        points.detach(), points.detach(), compute_mode="donot_use_mm_for_euclid_dist"
    ).float()
    self_or_padding = ~mask.unsqueeze(1) | torch.eye(
        n_points, dtype=torch.bool, device=points.device
    ).unsqueeze(0)
    distance = distance.masked_fill(self_or_padding, float("inf"))
    # Ties go to the lower index: scaling each distance by 1 + index · 2⁻⁴⁰ in float64 orders equal
    # distances by index without reordering distinct float32 ones (≥ 2⁻²⁴ apart, relatively); the
    # added index · 2⁻²⁰⁰ does the same for the zero distances of coincident points.
    index = torch.arange(n_points, device=points.device, dtype=torch.float64)
    key = distance.double() * (1.0 + index * 2.0**-40) + index * 2.0**-200
    nearest = key.topk(max(1, min(k, n_points - 1)), dim=-1, largest=False).indices
    edge_real = torch.isfinite(distance.gather(-1, nearest)) & mask.unsqueeze(2)
    return nearest, edge_real


def gather_neighbours(features: Tensor, indices: Tensor) -> Tensor:
    """Features [B, P, C] of the neighbours `indices` [B, P, k], as [B, P, k, C]."""
    n_batch, n_points, n_channels = features.shape
    n_neighbours = indices.shape[2]
    flat = indices.reshape(n_batch, n_points * n_neighbours, 1).expand(-1, -1, n_channels)
    return features.gather(1, flat).view(n_batch, n_points, n_neighbours, n_channels)


class ChannelNorm(nn.Module):
    """Batch norm over the last (channel) axis of `x` [..., C]; after `fold` it passes `x` on,
    its evaluation-mode affine map having been merged into the linear map before it."""

    def __init__(self, n_channels: int) -> None:
        super().__init__()
        self.norm = nn.BatchNorm1d(n_channels)
        self.folded = False

    def forward(self, x: Tensor) -> Tensor:
        if self.folded:
            return x
        return self.norm(x.reshape(-1, x.shape[-1])).view(x.shape)

    @torch.no_grad()
    def fold(self) -> tuple[Tensor, Tensor]:
        """(scale, shift) of the evaluation-mode map scale · x + shift; the norm is off after."""
        if self.folded:
            raise RuntimeError("this batch norm is already folded")
        norm = self.norm
        scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)
        self.folded = True
        return scale, norm.bias - norm.running_mean * scale


@torch.no_grad()
def fold_into(linear: nn.Linear, norm: ChannelNorm) -> None:
    """Merge `norm` (evaluation mode) into the bias-free `linear` it follows: W → s W, b = shift."""
    scale, shift = norm.fold()
    linear.weight.mul_(scale.unsqueeze(1))
    linear.bias = nn.Parameter(shift.clone())


class PointwiseLayer(nn.Module):
    """Channels-last 1×1 convolution (bias-free linear map), batch norm, ReLU."""

    def __init__(self, n_inputs: int, n_outputs: int) -> None:
        super().__init__()
        self.linear = nn.Linear(n_inputs, n_outputs, bias=False)
        self.norm = ChannelNorm(n_outputs)

    def forward(self, x: Tensor) -> Tensor:
        return torch.relu(self.norm(self.linear(x)))

    def fold_batch_norms(self) -> None:
        """For inference: the batch norm becomes the linear map's weights and bias."""
        fold_into(self.linear, self.norm)


class EdgeConvBlock(nn.Module):
    """k-NN graph on `points`, EdgeConv on `features`, mean over real edges, shortcut, ReLU.

    The first edge layer acts on (x_i, x_j − x_i) as W [x_i; x_j − x_i] = (W₁ − W₂) x_i + W₂ x_j,
    so it is applied per point and gathered, instead of per edge: same result, k times cheaper.
    """

    def __init__(self, k: int, n_inputs: int, widths: tuple[int, ...]) -> None:
        super().__init__()
        self.k = k
        self.n_inputs = n_inputs
        self.edge_projection = nn.Linear(2 * n_inputs, widths[0], bias=False)
        self.edge_norm = ChannelNorm(widths[0])
        self.edge_layers = nn.Sequential(
            *[PointwiseLayer(n_in, n_out) for n_in, n_out in itertools.pairwise(widths)]
        )
        self.shortcut = nn.Linear(n_inputs, widths[-1], bias=False)
        self.shortcut_norm = ChannelNorm(widths[-1])
        self.register_buffer("edge_bias", torch.zeros(widths[0]))  # set by fold_batch_norms

    def forward(self, points: Tensor, features: Tensor, mask: Tensor) -> Tensor:
        indices, edge_real = nearest_neighbours(points, mask, self.k)
        centre_weight = self.edge_projection.weight[:, : self.n_inputs]
        difference_weight = self.edge_projection.weight[:, self.n_inputs :]
        centre = features @ (centre_weight - difference_weight).t() + self.edge_bias
        neighbours = gather_neighbours(features @ difference_weight.t(), indices)
        edges = torch.relu(self.edge_norm(centre.unsqueeze(2) + neighbours))
        edges = self.edge_layers(edges)
        weight = edge_real.unsqueeze(-1).to(edges.dtype)
        aggregated = (edges * weight).sum(2) / weight.sum(2).clamp(min=1.0)
        shortcut = self.shortcut_norm(self.shortcut(features))
        output = torch.relu(aggregated + shortcut)
        return output * mask.unsqueeze(-1).to(output.dtype)

    @torch.no_grad()
    def fold_batch_norms(self) -> None:
        """For inference: the block's own batch norms become the weights and bias of the maps
        before them (the first edge layer's bias joins the centre term, added once per point);
        its edge layers fold their own."""
        scale, shift = self.edge_norm.fold()
        self.edge_projection.weight.mul_(scale.unsqueeze(1))
        self.edge_bias.copy_(shift)
        fold_into(self.shortcut, self.shortcut_norm)


class ParticleNetBackbone(nn.Module):
    """Per-constituent features → EdgeConv blocks → mean over real constituents, [B, n_outputs]."""

    def __init__(
        self,
        spec: InputSpec,
        model: str,
        blocks: tuple[tuple[int, tuple[int, ...]], ...] = LITE_BLOCKS,
        use_particle_type: bool = True,
        use_impact_parameters: bool = True,
    ) -> None:
        super().__init__()
        self.register_buffer(
            "kinematic_columns",
            torch.tensor(spec.constituent_columns(KINEMATICS, model), dtype=torch.long),
        )
        kind = spec.constituent_columns(PARTICLE_TYPE, model) if use_particle_type else []
        self.register_buffer("type_columns", torch.tensor(kind, dtype=torch.long))
        self.use_impact_parameters = use_impact_parameters
        impact = spec.constituent_columns(IMPACT_PARAMETERS, model) if use_impact_parameters else []
        self.register_buffer("impact_columns", torch.tensor(impact, dtype=torch.long))
        n_features = 7 + len(kind) + (4 if use_impact_parameters else 0)
        self.scaler = Standardise((n_features,))
        edge_convs: list[nn.Module] = []
        n_inputs = n_features
        for k, widths in blocks:
            edge_convs.append(EdgeConvBlock(k, n_inputs, widths))
            n_inputs = widths[-1]
        self.edge_convs = nn.ModuleList(edge_convs)
        self.n_outputs = n_inputs

    def particle_features(self, constituents: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """Unscaled features [B, P, F] and the (Δη, Δφ) coordinates [B, P, 2]."""
        constituents = masked(constituents, mask)
        energy, px, py, pt, deta, dphi = constituents.index_select(
            -1, self.kinematic_columns
        ).unbind(-1)
        jet_energy = energy.sum(1, keepdim=True)
        jet_pt = torch.sqrt(px.sum(1, keepdim=True) ** 2 + py.sum(1, keepdim=True) ** 2)
        log_pt, log_energy = safe_log(pt), safe_log(energy)
        features = [
            deta,
            dphi,
            log_pt,
            log_energy,
            log_pt - safe_log(jet_pt),
            log_energy - safe_log(jet_energy),
            torch.sqrt(deta * deta + dphi * dphi),
        ]
        parts = [torch.stack(features, -1), constituents.index_select(-1, self.type_columns)]
        if self.use_impact_parameters:
            impact = constituents.index_select(-1, self.impact_columns)
            parts.append(impact_features(impact, dphi))
        return torch.cat(parts, -1), torch.stack([deta, dphi], -1)

    @torch.no_grad()
    def fit(self, constituents: Tensor, mask: Tensor) -> None:
        """Fit the feature standardisation on real training constituents."""
        features, _ = self.particle_features(constituents, mask)
        self.scaler.fit(features, mask.unsqueeze(-1))

    def forward(self, constituents: Tensor, mask: Tensor) -> Tensor:
        features, coordinates = self.particle_features(constituents, mask)
        features = masked(self.scaler(features), mask)
        points = coordinates
        for edge_conv in self.edge_convs:
            features = edge_conv(points, features, mask)
            points = features
        real = mask.unsqueeze(-1).to(features.dtype)
        return (features * real).sum(1) / real.sum(1).clamp(min=1.0)


class ParticleNet(Tagger):
    """ParticleNet backbone → dense ReLU layer with dropout → logit."""

    def __init__(
        self,
        spec: InputSpec,
        blocks: tuple[tuple[int, tuple[int, ...]], ...] = LITE_BLOCKS,
        width: int = 128,
        dropout: float = 0.1,
        use_particle_type: bool = True,
        use_impact_parameters: bool = True,
        jet_features: tuple[str, ...] = (),
    ) -> None:
        super().__init__()
        n_jet = self.add_jet_features(spec, "particlenet", jet_features)
        self.backbone = ParticleNetBackbone(
            spec, "particlenet", blocks, use_particle_type, use_impact_parameters
        )
        self.head = nn.Sequential(
            nn.Linear(self.backbone.n_outputs + n_jet, width), nn.ReLU(), nn.Dropout(dropout)
        )
        self.output = nn.Linear(width, 1)

    @torch.no_grad()
    def fit_inputs(self, constituents: Tensor, mask: Tensor, jet: Tensor) -> None:
        self.backbone.fit(constituents, mask)

    def logits(self, constituents: Tensor, mask: Tensor, jet: Tensor) -> Tensor:
        features = self.with_jet_features(self.backbone(constituents, mask), jet)
        return self.output(self.head(features)).squeeze(-1)
