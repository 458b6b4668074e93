"""LoLa: Lorentz-layer tagger on constituent four-momenta (arXiv:1707.08966).

CoLa appends `n_combinations` trainable linear combinations of the `n_slots` leading four-momenta
to the four-momenta themselves. The Lorentz layer maps every (combined) particle j to physics
features: m², pT, E, a learned energy sum Σ_m w_jm E_m, learned sums Σ_m w_jm d²_jm and the
minimum of d²_jm over the other particles, where d²_jm = Σ_μ g_μ (k_j − k_m)_μ² uses a trainable
diagonal metric g initialised to Minkowski (+, −, −, −). Padded constituents are zero vectors, and
every feature of a padded slot as well as every term with a padded partner is zeroed, so padding
never contributes. Four-momenta are divided by the mean training jet energy to keep products O(1).
CoLa indexes pT-ordered slots, so LoLa is not permutation invariant.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from boostjet.models.preprocessing import dense_stack, masked
from boostjet.models.taggers.fourmomenta import FourMomentumTagger
from boostjet.spec import InputSpec

MINKOWSKI: tuple[float, float, float, float] = (1.0, -1.0, -1.0, -1.0)


def minkowski_square(four_momenta: Tensor) -> Tensor:
    """m² = E² − |p|² of [..., (E, px, py, pz)]."""
    energy, px, py, pz = four_momenta.unbind(-1)
    return energy * energy - px * px - py * py - pz * pz


def pairwise_distances(four_momenta: Tensor, metric: Tensor) -> Tensor:
    """d²_jm = Σ_μ metric_μ (k_j − k_m)_μ² for [B, n, 4] four-momenta, as [B, n, n]."""
    difference = four_momenta.unsqueeze(2) - four_momenta.unsqueeze(1)
    return (difference * difference * metric).sum(-1)


class CombinationLayer(nn.Module):
    """CoLa: [B, N, 4] → [B, N + M, 4], the inputs followed by M trainable combinations."""

    def __init__(self, n_slots: int, n_combinations: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.rand(n_slots, n_combinations))

    def forward(self, four_momenta: Tensor) -> Tensor:
        combined = torch.einsum("bnc,nm->bmc", four_momenta, self.weight)
        return torch.cat([four_momenta, combined], 1)


class LorentzLayer(nn.Module):
    """Per-particle Lorentz features [B, n, 5 + n_distance_sums] of [B, n, 4] four-momenta."""

    def __init__(self, n_particles: int, n_distance_sums: int = 2) -> None:
        super().__init__()
        self.metric = nn.Parameter(torch.tensor(MINKOWSKI))
        scale = 1.0 / n_particles
        self.energy_weights = nn.Parameter(torch.randn(n_particles, n_particles) * scale)
        self.distance_weights = nn.Parameter(
            torch.randn(n_distance_sums, n_particles, n_particles) * scale
        )
        self.n_features = 5 + n_distance_sums

    def forward(self, four_momenta: Tensor, real: Tensor) -> Tensor:
        energy, px, py, _ = four_momenta.unbind(-1)
        mass_squared = minkowski_square(four_momenta)
        pt = torch.sqrt(px * px + py * py + 1e-12)
        energy_sum = torch.einsum("jm,bm->bj", self.energy_weights, energy)

        pair = real.unsqueeze(2) & real.unsqueeze(1)
        distances = torch.where(
            pair,
            pairwise_distances(four_momenta, self.metric),
            torch.zeros_like(pair, dtype=pt.dtype),
        )
        # Σ_m w_ajm d²_jm as a product and a sum over m, not as an einsum: torch computes that
        # einsum as a batched matrix product whose rounding for one jet depends on the other jets
        # of the batch (docs/models.md, "Chunk invariance").
        distance_sums = torch.stack([(distances * w).sum(-1) for w in self.distance_weights], -1)
        others = pair & ~torch.eye(real.shape[1], dtype=torch.bool, device=real.device)
        nearest = torch.where(others, distances, torch.full_like(distances, float("inf"))).amin(-1)
        nearest = torch.where(others.any(-1), nearest, torch.zeros_like(nearest))

        features = torch.cat(
            [torch.stack([mass_squared, pt, energy, energy_sum, nearest], -1), distance_sums], -1
        )
        return masked(features, real)


class LoLa(FourMomentumTagger):
    """CoLa → Lorentz layer → batch norm → dense ReLU layers → logit."""

    def __init__(
        self,
        spec: InputSpec,
        n_slots: int = 40,
        n_combinations: int = 15,
        n_distance_sums: int = 2,
        widths: tuple[int, ...] = (100, 50),
        dropout: float = 0.0,
        jet_features: tuple[str, ...] = (),
    ) -> None:
        super().__init__()
        n_jet = self.add_jet_features(spec, "lola", jet_features)
        self.add_four_momenta(spec, "lola", n_slots)
        self.n_combinations = n_combinations
        self.combination = CombinationLayer(self.n_slots, n_combinations)
        n_particles = self.n_slots + n_combinations
        self.lorentz = LorentzLayer(n_particles, n_distance_sums)
        n_features = n_particles * self.lorentz.n_features
        self.feature_norm = nn.BatchNorm1d(n_features)
        self.hidden = dense_stack(n_features + n_jet, widths, nn.ReLU, dropout)
        self.output = nn.Linear(widths[-1], 1)

    def logits(self, constituents: Tensor, mask: Tensor, jet: Tensor) -> Tensor:
        four_momenta, slot_mask = self.leading_four_momenta(constituents, mask)
        combined = self.combination(four_momenta)
        real = torch.cat(
            [slot_mask, slot_mask.new_ones(slot_mask.shape[0], self.n_combinations)], 1
        )
        features = self.feature_norm(self.lorentz(combined, real).flatten(1))
        return self.output(self.hidden(self.with_jet_features(features, jet))).squeeze(-1)
