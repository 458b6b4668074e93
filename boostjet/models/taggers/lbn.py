"""Lorentz Boost Network tagger (arXiv:1812.09722).

Two sets of `n_particles` non-negative linear combinations of the `n_slots` leading four-momenta
form "particles" and "rest frames"; particle i is Lorentz-boosted into rest frame i, and the boosted
particles give E, pT, η, φ, m and the cosines of the angles between every pair. Batch norm and dense
ELU layers follow. Non-negative weights keep combinations time- or light-like, but a rest frame can
still be massless (one constituent, collinear constituents) or empty: the boost velocity is capped
at |β|² ≤ 1 − 1/γ_max² (γ_max = 100) and an empty frame (E = 0) is taken at rest, so every boost is
finite. Four-momenta are divided by the mean training jet energy. Combinations index pT-ordered
slots, so the LBN is not permutation invariant.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from boostjet.models.preprocessing import dense_stack
from boostjet.models.taggers.fourmomenta import FourMomentumTagger
from boostjet.spec import InputSpec

MAX_GAMMA = 100.0
#: Floor under squared momenta and masses, in units of the energy scale squared.
TINY = 1e-10


def boost_to_rest_frame(
    four_momenta: Tensor, frames: Tensor, max_gamma: float = MAX_GAMMA, tiny: float = TINY
) -> Tensor:
    """Four-momenta [..., 4] seen in the rest frames [..., 4] (same shape), β = p/E of each frame.

    E' = γ(E − β·p), p' = p + (γ²/(γ+1) β·p − γE) β, with γ²/(γ+1) = (γ−1)/β² finite at β = 0.
    """
    frame_energy = frames[..., :1]
    velocity = torch.where(
        frame_energy > 0,
        frames[..., 1:] / frame_energy.clamp(min=tiny),
        torch.zeros_like(frames[..., 1:]),
    )
    speed_squared = (velocity * velocity).sum(-1, keepdim=True)
    max_speed_squared = 1.0 - 1.0 / max_gamma**2
    too_fast = speed_squared > max_speed_squared
    velocity = torch.where(
        too_fast, velocity * torch.sqrt(max_speed_squared / speed_squared.clamp(min=tiny)), velocity
    )
    speed_squared = speed_squared.clamp(max=max_speed_squared)
    gamma = torch.rsqrt(1.0 - speed_squared)
    energy, momentum = four_momenta[..., :1], four_momenta[..., 1:]
    velocity_dot_momentum = (velocity * momentum).sum(-1, keepdim=True)
    boosted_energy = gamma * (energy - velocity_dot_momentum)
    boosted_momentum = (
        momentum
        + (gamma * gamma / (gamma + 1.0) * velocity_dot_momentum - gamma * energy) * velocity
    )
    return torch.cat([boosted_energy, boosted_momentum], -1)


def particle_features(four_momenta: Tensor, tiny: float = TINY) -> Tensor:
    """E, pT, η, φ, m of [B, M, 4] followed by cos∠(p_i, p_j) for i < j, flattened to [B, ·]."""
    energy, px, py, pz = four_momenta.unbind(-1)
    pt_squared = px * px + py * py
    pt = torch.sqrt(pt_squared + tiny)
    eta = torch.asinh(pz / pt)
    no_pt = pt_squared < tiny
    phi = torch.where(
        no_pt,
        torch.zeros_like(px),
        torch.atan2(
            torch.where(no_pt, torch.zeros_like(py), py),
            torch.where(no_pt, torch.ones_like(px), px),
        ),
    )
    mass = torch.sqrt((energy * energy - pt_squared - pz * pz).clamp(min=tiny))
    momentum = four_momenta[..., 1:]
    direction = momentum / torch.sqrt((momentum * momentum).sum(-1, keepdim=True) + tiny)
    cosines = direction @ direction.transpose(1, 2)
    upper = torch.triu_indices(cosines.shape[1], cosines.shape[1], 1, device=cosines.device)
    pair_cosines = cosines[:, upper[0], upper[1]]
    single = torch.stack([energy, pt, eta, phi, mass], -1).flatten(1)
    return torch.cat([single, pair_cosines], -1)


class LorentzBoostNetwork(FourMomentumTagger):
    """Combinations → boosts → particle features → batch norm → dense ELU layers → logit."""

    def __init__(
        self,
        spec: InputSpec,
        n_slots: int = 40,
        n_particles: int = 16,
        widths: tuple[int, ...] = (1024, 512, 256, 128),
        dropout: float = 0.0,
        jet_features: tuple[str, ...] = (),
    ) -> None:
        super().__init__()
        n_jet = self.add_jet_features(spec, "lbn", jet_features)
        self.add_four_momenta(spec, "lbn", n_slots)
        self.particle_weights = nn.Parameter(torch.rand(self.n_slots, n_particles))
        self.frame_weights = nn.Parameter(torch.rand(self.n_slots, n_particles))
        n_features = 5 * n_particles + n_particles * (n_particles - 1) // 2
        self.feature_norm = nn.BatchNorm1d(n_features)
        self.hidden = dense_stack(n_features + n_jet, widths, nn.ELU, dropout)
        self.output = nn.Linear(widths[-1], 1)

    def boosted_particles(self, constituents: Tensor, mask: Tensor) -> Tensor:
        """The learned particles, each in its learned rest frame, [B, n_particles, 4]."""
        four_momenta, _ = self.leading_four_momenta(constituents, mask)
        particles = torch.einsum("bnc,nm->bmc", four_momenta, self.particle_weights.abs())
        frames = torch.einsum("bnc,nm->bmc", four_momenta, self.frame_weights.abs())
        return boost_to_rest_frame(particles, frames)

    def logits(self, constituents: Tensor, mask: Tensor, jet: Tensor) -> Tensor:
        features = self.feature_norm(particle_features(self.boosted_particles(constituents, mask)))
        return self.output(self.hidden(self.with_jet_features(features, jet))).squeeze(-1)
