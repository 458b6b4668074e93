"""Jet-mass regressors: predicted soft-drop mass in GeV, [B].

`IMLMassRegressor` follows the winning solution of the IML Workshop 2018 jet-mass challenge
(M. Rieger et al., IML meeting 4 June 2018; a talk, with no arXiv paper that we know of; DESIGN.md
quotes 41.3 % resolution with the central-74 % MSE loss, `central_mse_loss` below): dense
2048-1024-512-256-128 with ELU and batch norm, here on flattened constituent and jet features.
`PointCloudMassRegressor` puts the ParticleNet blocks (arXiv:1902.08570) under a regression head.
Both map their output through a `TargetScale` fitted on the training masses.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from boostjet.models.preprocessing import TargetScale, prime_batch_norm
from boostjet.models.regressors import (
    CONSTITUENT_FEATURES,
    JET_FEATURES,
    DenseJetEncoder,
    PointCloudJetEncoder,
)
from boostjet.spec import InputSpec

IML_WIDTHS: tuple[int, ...] = (2048, 1024, 512, 256, 128)
#: The IML 2018 solution kept the central 74 % of the batch's pred/truth ratios.
CENTRAL_QUANTILES: tuple[float, float] = (0.13, 0.87)


def central_mse_loss(
    prediction: Tensor, truth: Tensor, quantiles: tuple[float, float] = CENTRAL_QUANTILES
) -> Tensor:
    """Mean of (prediction − truth)² over the jets whose ratio prediction/truth lies between the
    batch's `quantiles` (linear interpolation, as numpy.percentile), bounds included.

    Tails of the response (badly reconstructed jets) then do not drive the fit, so it optimises the
    core resolution, (q84 − q16)/2·q50. The selection is not differentiated.
    """
    ratio = (prediction / truth).detach()
    bounds = torch.quantile(ratio, ratio.new_tensor(quantiles))
    central = (ratio >= bounds[0]) & (ratio <= bounds[1])
    return ((prediction - truth)[central] ** 2).mean()


class MassRegressor(nn.Module):
    """Encoder → one linear output → mass in GeV.

    Absolute (default, as the IML 2018 solution): the output is mapped by a target scale fitted on
    the training masses. ``relative_to_soft_drop``: the output is a log-correction to the
    reconstructed soft-drop mass, m = m_SD · exp(output), with the output layer starting at zero,
    so training starts from the baseline and can only learn what it improves.
    """

    def __init__(
        self, encoder: nn.Module, n_features: int, spec: InputSpec, relative_to_soft_drop: bool
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.output = nn.Linear(n_features, 1)
        self.target_scale = TargetScale()
        self.relative_to_soft_drop = relative_to_soft_drop
        self.soft_drop_column = spec.jet_columns(("sd_mass",), "mass regressor")[0]
        if relative_to_soft_drop:
            nn.init.zeros_(self.output.weight)
            nn.init.zeros_(self.output.bias)

    @torch.no_grad()
    def fit_normalisation(
        self, constituents: Tensor, mask: Tensor, jet: Tensor, target: Tensor | None = None
    ) -> None:
        """Fit inputs and output scale (on the target masses [N]), then prime the batch norms."""
        if target is None:
            raise ValueError("a mass regressor needs the training target masses to fit its scale")
        self.encoder.fit(constituents, mask, jet)
        self.target_scale.fit(target)
        prime_batch_norm(self, constituents, mask, jet)

    def forward(self, constituents: Tensor, mask: Tensor, jet: Tensor) -> Tensor:
        output = self.output(self.encoder(constituents, mask, jet)).squeeze(-1)
        if self.relative_to_soft_drop:
            soft_drop_mass = jet[:, self.soft_drop_column].clamp(min=1.0)
            return soft_drop_mass * torch.exp(output)
        return self.target_scale(output)


class IMLMassRegressor(MassRegressor):
    """IML 2018 network: dense ELU + batch-norm layers on flattened constituent and jet features."""

    def __init__(
        self,
        spec: InputSpec,
        widths: tuple[int, ...] = IML_WIDTHS,
        n_slots: int | None = None,
        constituent_features: tuple[str, ...] = CONSTITUENT_FEATURES,
        jet_features: tuple[str, ...] = JET_FEATURES,
        dropout: float = 0.0,
        relative_to_soft_drop: bool = False,
    ) -> None:
        encoder = DenseJetEncoder(
            spec,
            "iml_mass",
            widths,
            n_slots,
            constituent_features,
            jet_features,
            activation=nn.ELU,
            batch_norm=True,
            dropout=dropout,
        )
        super().__init__(encoder, encoder.n_outputs, spec, relative_to_soft_drop)


class PointCloudMassRegressor(MassRegressor):
    """ParticleNet blocks and jet features under a dense regression head."""

    def __init__(
        self, spec: InputSpec, relative_to_soft_drop: bool = False, **encoder: Any
    ) -> None:
        """`encoder`: the keywords of `PointCloudJetEncoder` (blocks, widths, ...)."""
        point_cloud = PointCloudJetEncoder(spec, "pointcloud_mass", **encoder)
        super().__init__(point_cloud, point_cloud.n_outputs, spec, relative_to_soft_drop)
