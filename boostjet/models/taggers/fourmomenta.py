"""The four-momentum front end of the Lorentz-layer taggers (LoLa, LBN): the (E, px, py, pz) of the
leading constituents in the jet frame, divided by the mean training jet energy."""

from __future__ import annotations

import torch
from torch import Tensor

from boostjet.models.preprocessing import EnergyScale, first_slots, jet_frame, masked
from boostjet.models.taggers import Tagger
from boostjet.spec import InputSpec

FOUR_MOMENTUM: tuple[str, ...] = ("E", "px", "py", "pz")


class FourMomentumTagger(Tagger):
    """A tagger reading its `n_slots` leading constituents as scaled jet-frame four-momenta."""

    def add_four_momenta(self, spec: InputSpec, model: str, n_slots: int) -> None:
        """Set up the front end for the `n_slots` leading constituents (at most as many as the
        spec pads to); `fit_inputs` fits its energy scale."""
        self.n_slots = min(n_slots, spec.n_constituents)
        self.register_buffer(
            "four_momentum_columns",
            torch.tensor(spec.constituent_columns(FOUR_MOMENTUM, model), dtype=torch.long),
        )
        self.energy_scale = EnergyScale()

    def _four_momenta(self, constituents: Tensor, mask: Tensor) -> Tensor:
        return jet_frame(masked(constituents, mask).index_select(-1, self.four_momentum_columns))

    @torch.no_grad()
    def fit_inputs(self, constituents: Tensor, mask: Tensor, jet: Tensor) -> None:
        self.energy_scale.fit(self._four_momenta(constituents, mask), mask)

    def leading_four_momenta(self, constituents: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """Scaled four-momenta of the leading constituents [B, n_slots, 4] and their mask."""
        four_momenta = self.energy_scale(self._four_momenta(constituents, mask))
        return first_slots(four_momenta, mask, self.n_slots)
