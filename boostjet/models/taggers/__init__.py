"""Jet taggers: signal (top or W) versus QCD from constituents, one architecture per module; the
`Tagger` base and the loss every tagger trains with."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional

from boostjet.models.preprocessing import JetInputs, prime_batch_norm
from boostjet.spec import InputSpec


class Tagger(nn.Module):
    """Base of taggers: subclasses give `logits`; `forward` turns them into signal probabilities.

    Exporting `forward` means a TorchScript tagger hands out scores directly, while training uses
    `logits` with a numerically stable binary cross entropy. A tagger may also read standardised
    jet-level features (e.g. ``sd_mass``, ``tau32``), appended to its learned features before its
    dense layers; by default it reads none.
    """

    def add_jet_features(self, spec: InputSpec, model: str, names: tuple[str, ...]) -> int:
        """Set up the jet features the tagger appends (`with_jet_features`); returns how many."""
        self.jet_inputs = JetInputs(spec, model, tuple(names))
        return self.jet_inputs.n_outputs

    def with_jet_features(self, features: Tensor, jet: Tensor) -> Tensor:
        """`features` [B, N] followed by the standardised jet features [B, J]."""
        return torch.cat([features, self.jet_inputs(jet)], -1)

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
        self.jet_inputs.fit(jet)
        prime_batch_norm(self, constituents, mask, jet)

    def fit_inputs(self, constituents: Tensor, mask: Tensor, jet: Tensor) -> None:
        """Fit this architecture's input constants (standardisations, energy scales)."""
        raise NotImplementedError


def tagger_loss(logits: Tensor, labels: Tensor, weights: Tensor | None = None) -> Tensor:
    """Binary cross entropy of signal `labels` (1 signal, 0 background) from logits, per-jet
    `weights` optional; computed from logits for numerical stability. Returns the batch mean."""
    return functional.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype), weights)
