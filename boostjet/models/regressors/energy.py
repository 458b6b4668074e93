"""Jet-energy regressor with a per-jet uncertainty: output [B, 2] = (E, σ) in GeV.

The network predicts the correction to the reconstructed jet energy E_reco (the fat jet's energy,
all constituents) and the relative resolution:
E = E_reco · exp(c), σ = E_reco · (softplus(s) + 10⁻³).
Working relative to E_reco keeps the outputs O(1) over the whole pT range; the softplus keeps σ
positive and the floor keeps the Gaussian likelihood (`gaussian_nll_loss` below) from collapsing.
Either encoder of `boostjet.models.regressors` can be used (dense or point cloud).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from boostjet.models.preprocessing import prime_batch_norm
from boostjet.models.regressors import (
    CONSTITUENT_FEATURES,
    JET_FEATURES,
    DenseJetEncoder,
    PointCloudJetEncoder,
)
from boostjet.spec import InputSpec

#: Relative resolution σ/E of the untrained network, a sensible start for the likelihood.
INITIAL_RELATIVE_SIGMA = 0.1
RELATIVE_SIGMA_FLOOR = 1e-3
#: Energies below this (GeV) are treated as this, so an empty jet still gets a finite output.
MIN_ENERGY = 1.0
_HALF_LOG_TWO_PI = 0.5 * math.log(2.0 * math.pi)


def _log_normal_probability(lower: Tensor, upper: Tensor) -> Tensor:
    """log(Φ(upper) − Φ(lower)) for lower < upper, accurate deep in either tail.

    Both tails are mapped to the lower one (Φ(b) − Φ(a) = Φ(−a) − Φ(−b)), where
    log Φ(b) + log(1 − exp(log Φ(a) − log Φ(b))) loses no precision.
    """
    upper_tail = lower + upper > 0
    lower, upper = torch.where(upper_tail, -upper, lower), torch.where(upper_tail, -lower, upper)
    log_upper = torch.special.log_ndtr(upper)
    return log_upper + torch.log(-torch.expm1(torch.special.log_ndtr(lower) - log_upper))


def gaussian_nll_loss(
    mean: Tensor,
    sigma: Tensor,
    target: Tensor,
    lower: float = -math.inf,
    upper: float = math.inf,
) -> Tensor:
    """Negative log-likelihood of `target` under N(mean, sigma) truncated to [lower, upper], the
    batch mean.

    −log N(y; μ, σ) + log[Φ((upper − μ)/σ) − Φ((lower − μ)/σ)]: the second term renormalises the
    Gaussian on the domain the targets can take (E > 0, or the training window), so σ is not biased
    by probability mass the sample can never populate.
    """
    pull = (target - mean) / sigma
    nll = _HALF_LOG_TWO_PI + torch.log(sigma) + 0.5 * pull * pull
    # Infinite bounds are handled apart so that no infinity enters the autograd graph.
    if lower > -math.inf and upper < math.inf:
        nll = nll + _log_normal_probability((lower - mean) / sigma, (upper - mean) / sigma)
    elif lower > -math.inf:
        nll = nll + torch.special.log_ndtr((mean - lower) / sigma)
    elif upper < math.inf:
        nll = nll + torch.special.log_ndtr((upper - mean) / sigma)
    return nll.mean()


class EnergyRegressor(nn.Module):
    """Encoder → (c, s) → (E_reco · exp(c), E_reco · (softplus(s) + floor))."""

    def __init__(self, spec: InputSpec, model: str, encoder: nn.Module, n_features: int) -> None:
        super().__init__()
        self.energy_column = spec.jet_columns(("energy",), model)[0]
        self.encoder = encoder
        self.min_energy = MIN_ENERGY
        self.relative_sigma_floor = RELATIVE_SIGMA_FLOOR
        self.output = nn.Linear(n_features, 2)
        with torch.no_grad():
            self.output.weight.mul_(0.1)
            self.output.bias.copy_(
                torch.tensor([0.0, math.log(math.expm1(INITIAL_RELATIVE_SIGMA))])
            )

    @torch.no_grad()
    def fit_normalisation(
        self, constituents: Tensor, mask: Tensor, jet: Tensor, target: Tensor | None = None
    ) -> None:
        """Fit the inputs, then prime the batch norms; no target needed (outputs are relative)."""
        self.encoder.fit(constituents, mask, jet)
        prime_batch_norm(self, constituents, mask, jet)

    def forward(self, constituents: Tensor, mask: Tensor, jet: Tensor) -> Tensor:
        reco_energy = jet[:, self.energy_column].clamp(min=self.min_energy)
        correction, spread = self.output(self.encoder(constituents, mask, jet)).unbind(-1)
        energy = reco_energy * torch.exp(correction)
        sigma = reco_energy * (nn.functional.softplus(spread) + self.relative_sigma_floor)
        return torch.stack([energy, sigma], -1)


class DenseEnergyRegressor(EnergyRegressor):
    """Dense ELU + batch-norm encoder on flattened constituents and jet features."""

    def __init__(
        self,
        spec: InputSpec,
        widths: tuple[int, ...] = (512, 256, 128, 64),
        n_slots: int | None = None,
        constituent_features: tuple[str, ...] = CONSTITUENT_FEATURES,
        jet_features: tuple[str, ...] = JET_FEATURES,
        dropout: float = 0.0,
    ) -> None:
        encoder = DenseJetEncoder(
            spec,
            "energy_dnn",
            widths,
            n_slots,
            constituent_features,
            jet_features,
            activation=nn.ELU,
            batch_norm=True,
            dropout=dropout,
        )
        super().__init__(spec, "energy_dnn", encoder, encoder.n_outputs)


class PointCloudEnergyRegressor(EnergyRegressor):
    """ParticleNet blocks and jet features under the (E, σ) head."""

    def __init__(self, spec: InputSpec, **encoder: Any) -> None:
        """`encoder`: the keywords of `PointCloudJetEncoder` (blocks, widths, ...)."""
        point_cloud = PointCloudJetEncoder(spec, "energy_pointcloud", **encoder)
        super().__init__(spec, "energy_pointcloud", point_cloud, point_cloud.n_outputs)
