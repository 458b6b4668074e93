"""Training losses: central-quantile MSE (IML 2018 mass), truncated Gaussian likelihood (energy
with σ), binary cross entropy from logits (taggers). All return the batch mean."""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.nn import functional

#: The IML 2018 solution kept the central 74 % of the batch's pred/truth ratios.
CENTRAL_QUANTILES: tuple[float, float] = (0.13, 0.87)
_HALF_LOG_TWO_PI = 0.5 * math.log(2.0 * math.pi)


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
    """Negative log-likelihood of `target` under N(mean, sigma) truncated to [lower, upper].

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


def tagger_loss(logits: Tensor, labels: Tensor, weights: Tensor | None = None) -> Tensor:
    """Binary cross entropy of signal `labels` (1 signal, 0 background) from logits, per-jet
    `weights` optional; computed from logits for numerical stability."""
    return functional.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype), weights)
