"""Fully connected tagger on the four-momenta of the leading constituents.

The DNN of the top-tagging comparison (arXiv:1902.09914, "TopoDNN", widths 300-102-12-6 on the 30
leading constituents), here fed (E, px, py, pz) as in the classic exercise. Preprocessing: rotate
into the jet frame (jet φ = 0, pz ≥ 0), standardise each slot and component over real
constituents, zero the padding and add a per-slot 'real' flag.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from boostjet.models.preprocessing import (
    Standardise,
    dense_stack,
    first_slots,
    jet_frame,
    masked,
)
from boostjet.models.taggers import Tagger
from boostjet.models.taggers.fourmomenta import FOUR_MOMENTUM
from boostjet.spec import InputSpec


class ConstituentDNN(Tagger):
    """Dense ReLU layers with dropout on the flattened jet-frame four-momenta of `n_slots` slots."""

    def __init__(
        self,
        spec: InputSpec,
        n_slots: int = 30,
        widths: tuple[int, ...] = (300, 102, 12, 6),
        dropout: float = 0.1,
        jet_features: tuple[str, ...] = (),
    ) -> None:
        super().__init__()
        n_jet = self.add_jet_features(spec, "dnn", jet_features)
        self.n_slots = min(n_slots, spec.n_constituents)
        self.register_buffer(
            "four_momentum_columns",
            torch.tensor(spec.constituent_columns(FOUR_MOMENTUM, "dnn"), dtype=torch.long),
        )
        self.scaler = Standardise((self.n_slots, 4))
        self.hidden = dense_stack(self.n_slots * 5 + n_jet, widths, nn.ReLU, dropout)
        self.output = nn.Linear(widths[-1], 1)

    def _four_momenta(self, constituents: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        four_momenta = jet_frame(
            masked(constituents, mask).index_select(-1, self.four_momentum_columns)
        )
        return first_slots(four_momenta, mask, self.n_slots)

    @torch.no_grad()
    def fit_inputs(self, constituents: Tensor, mask: Tensor, jet: Tensor) -> None:
        four_momenta, slot_mask = self._four_momenta(constituents, mask)
        self.scaler.fit(four_momenta, slot_mask.unsqueeze(-1))

    def logits(self, constituents: Tensor, mask: Tensor, jet: Tensor) -> Tensor:
        four_momenta, slot_mask = self._four_momenta(constituents, mask)
        x = masked(self.scaler(four_momenta), slot_mask)
        x = torch.cat([x, slot_mask.unsqueeze(-1).to(x.dtype)], -1).flatten(1)
        return self.output(self.hidden(self.with_jet_features(x, jet))).squeeze(-1)
