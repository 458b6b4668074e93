"""Jet taggers: signal (top or W) versus QCD from constituents, one architecture per module."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from boostjet.models.preprocessing import prime_batch_norm


class Tagger(nn.Module):
    """Base of taggers: subclasses give `logits`; `forward` turns them into signal probabilities.

    Exporting `forward` means a TorchScript tagger hands out scores directly, while training uses
    `logits` with a numerically stable binary cross entropy.
    """

    def forward(self, constituents: Tensor, mask: Tensor, jet: Tensor) -> Tensor:
        return torch.sigmoid(self.logits(constituents, mask, jet))

    def logits(self, constituents: Tensor, mask: Tensor, jet: Tensor) -> Tensor:
        """Signal-versus-background logit per jet, [B]."""
        raise NotImplementedError

    @torch.no_grad()
    def fit_normalisation(
        self, constituents: Tensor, mask: Tensor, jet: Tensor, target: Tensor | None = None
    ) -> None:
        """Fit the input constants on a sample of training jets, then prime the batch norms.

        `target` is unused by taggers; it keeps one signature for every model.
        """
        self.fit_inputs(constituents, mask, jet)
        prime_batch_norm(self, constituents, mask, jet)

    def fit_inputs(self, constituents: Tensor, mask: Tensor, jet: Tensor) -> None:
        """Fit this architecture's input constants (standardisations, energy scales)."""
        raise NotImplementedError
