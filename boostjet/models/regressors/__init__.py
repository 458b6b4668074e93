"""Jet regressors: soft-drop mass, and energy with a per-jet uncertainty.

Both come with two encoders that turn (constituents, mask, jet) into one feature vector per jet:
a dense one on flattened constituents and a point-cloud one reusing the ParticleNet blocks.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from boostjet import spec
from boostjet.models.preprocessing import FlatJetInputs, JetInputs, dense_stack
from boostjet.models.taggers.particlenet import LITE_BLOCKS, ParticleNetBackbone
from boostjet.spec import InputSpec

CONSTITUENT_FEATURES: tuple[str, ...] = (
    "E",
    "pt",
    "deta",
    "dphi",
    "charge",
    "is_photon",
    "is_neutral_hadron",
)
#: Jet features read by the regressors by default; φ is left out (no physics depends on it).
JET_FEATURES: tuple[str, ...] = tuple(f for f in spec.JET_FEATURES if f != "phi")


class DenseJetEncoder(nn.Module):
    """`FlatJetInputs` of `n_slots` constituents and the jet → dense layers, [B, widths[-1]]."""

    def __init__(
        self,
        spec: InputSpec,
        model: str,
        widths: tuple[int, ...],
        n_slots: int | None = None,
        constituent_features: tuple[str, ...] = CONSTITUENT_FEATURES,
        jet_features: tuple[str, ...] = JET_FEATURES,
        activation: type[nn.Module] = nn.ELU,
        batch_norm: bool = True,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        n_slots = spec.n_constituents if n_slots is None else min(n_slots, spec.n_constituents)
        self.inputs = FlatJetInputs(spec, model, constituent_features, jet_features, n_slots)
        self.hidden = dense_stack(self.inputs.n_outputs, widths, activation, dropout, batch_norm)
        self.n_outputs = widths[-1]

    @torch.no_grad()
    def fit(self, constituents: Tensor, mask: Tensor, jet: Tensor) -> None:
        """Fit the input standardisation on training jets."""
        self.inputs.fit(constituents, mask, jet)

    def forward(self, constituents: Tensor, mask: Tensor, jet: Tensor) -> Tensor:
        return self.hidden(self.inputs(constituents, mask, jet))


class PointCloudJetEncoder(nn.Module):
    """ParticleNet backbone ⊕ standardised jet features → dense layers, [B, widths[-1]].

    Its keywords are the hyperparameters of the point-cloud regressors, which build it alike.
    """

    def __init__(
        self,
        spec: InputSpec,
        model: str,
        widths: tuple[int, ...] = (128, 64),
        blocks: tuple[tuple[int, tuple[int, ...]], ...] = LITE_BLOCKS,
        use_particle_type: bool = True,
        jet_features: tuple[str, ...] = JET_FEATURES,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.backbone = ParticleNetBackbone(spec, model, blocks, use_particle_type)
        self.jet_inputs = JetInputs(spec, model, jet_features)
        n_inputs = self.backbone.n_outputs + self.jet_inputs.n_outputs
        self.hidden = dense_stack(n_inputs, widths, nn.ReLU, dropout)
        self.n_outputs = widths[-1]

    @torch.no_grad()
    def fit(self, constituents: Tensor, mask: Tensor, jet: Tensor) -> None:
        """Fit the constituent and jet standardisations on training jets."""
        self.backbone.fit(constituents, mask)
        self.jet_inputs.fit(jet)

    def forward(self, constituents: Tensor, mask: Tensor, jet: Tensor) -> Tensor:
        features = torch.cat([self.backbone(constituents, mask), self.jet_inputs(jet)], -1)
        return self.hidden(features)
