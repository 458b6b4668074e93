"""Input transforms that run inside every model's `forward`, so an exported model is self-contained.

Constants (means, widths, energy scales) live in buffers fitted on training jets with `fit(...)`
and travel with the TorchScript file. Padded constituents are replaced by zeros with `torch.where`
before anything else, so no garbage (not even NaN) behind `mask == False` reaches an output.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from boostjet.spec import InputSpec

#: Positive-definite features compressed with a logarithm before standardisation.
LOG_FEATURES: tuple[str, ...] = ("E", "pt", "mass", "energy", "sd_mass", "n_constituents")
#: Floor under logarithms, in the feature's unit (GeV for energies, 1 for counts).
LOG_FLOOR = 1e-3


class FittedConstants(nn.Module):
    """Base of modules holding data-derived constants; `fitted` records whether `fit` ran."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("fitted", torch.zeros((), dtype=torch.bool))

    def summary(self) -> dict[str, list[float] | float | bool]:
        """The constants as plain Python numbers, for the model metadata."""
        return {name: value.tolist() for name, value in self.named_buffers(recurse=False)}


class Standardise(FittedConstants):
    """(x − mean) / std over trailing dimensions `shape`; fitted on real entries only."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(shape))
        self.register_buffer("std", torch.ones(shape))

    @torch.no_grad()
    def fit(self, x: Tensor, real: Tensor) -> None:
        """Set mean and std from `x` [..., *shape], counting entries where bool `real` holds.

        `real` broadcasts to `x`. Columns with no real entry, or of zero spread, keep mean 0 and
        std 1, so they pass through unscaled; with no columns at all there is nothing to fit.
        """
        if self.mean.numel() == 0:
            self.fitted.fill_(True)
            return
        weight = torch.broadcast_to(real, x.shape).double().reshape(-1, *self.mean.shape)
        x = x.double().reshape(-1, *self.mean.shape)
        x = torch.where(weight > 0, x, torch.zeros_like(x))
        count = weight.sum(0)
        mean = (weight * x).sum(0) / count.clamp(min=1)
        var = (weight * (x - mean) ** 2).sum(0) / count.clamp(min=1)
        std = var.sqrt()
        usable = (count > 0) & (std > 1e-6 * mean.abs().clamp(min=1))
        self.mean.copy_(torch.where(usable, mean, torch.zeros_like(mean)).float())
        self.std.copy_(torch.where(usable, std, torch.ones_like(std)).float())
        self.fitted.fill_(True)

    def forward(self, x: Tensor) -> Tensor:
        return (x - self.mean) / self.std


class EnergyScale(FittedConstants):
    """Divides four-momenta by one energy (the mean jet energy) so Lorentz products stay O(1)."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("scale", torch.ones(()))

    @torch.no_grad()
    def fit(self, four_momenta: Tensor, mask: Tensor) -> None:
        """Mean summed constituent energy of the jets; `four_momenta` is [B, P, (E,px,py,pz)]."""
        jet_energy = masked(four_momenta, mask)[..., 0].double().sum(1)
        self.scale.fill_(float(jet_energy.mean().clamp(min=1.0)))
        self.fitted.fill_(True)

    def forward(self, four_momenta: Tensor) -> Tensor:
        return four_momenta / self.scale


@torch.no_grad()
def prime_batch_norm(
    model: nn.Module, constituents: Tensor, mask: Tensor, jet: Tensor, chunk_size: int = 512
) -> None:
    """Set every batch norm's running statistics to their average over the given jets.

    Lorentz-layer and boosted features can have spreads far below one; starting from the default
    running variance of one, evaluation mode would then misbehave for the first few hundred
    steps. Run after the input constants are fitted; leaves the model in training mode.
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    model.eval()
    momenta = [norm.momentum for norm in norms]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # cumulative average over the chunks
        norm.train()
    for start in range(0, len(constituents), chunk_size):
        chunk = slice(start, start + chunk_size)
        model(constituents[chunk], mask[chunk], jet[chunk])
    for norm, momentum in zip(norms, momenta, strict=True):
        norm.momentum = momentum
    model.train()


def masked(x: Tensor, mask: Tensor) -> Tensor:
    """`x` [B, P, F] with padded constituents set to zero (NaN and inf garbage included)."""
    return torch.where(mask.unsqueeze(-1), x, torch.zeros_like(x))


def first_slots(x: Tensor, mask: Tensor, n_slots: int) -> tuple[Tensor, Tensor]:
    """The leading `n_slots` constituents of `x` [B, P, F] and `mask`, zero-padded if P is less."""
    n_present = x.shape[1]
    if n_present >= n_slots:
        return x[:, :n_slots], mask[:, :n_slots]
    missing = n_slots - n_present
    x = torch.cat([x, x.new_zeros(x.shape[0], missing, x.shape[2])], dim=1)
    mask = torch.cat([mask, mask.new_zeros(mask.shape[0], missing)], dim=1)
    return x, mask


def safe_log(x: Tensor, floor: float = LOG_FLOOR) -> Tensor:
    """log(max(x, floor)): finite for the zeros of padded slots and for soft constituents."""
    return torch.log(x.clamp(min=floor))


def log_compress(x: Tensor, log_columns: Tensor) -> Tensor:
    """`x` [..., F] with the columns flagged in bool `log_columns` [F] replaced by their log."""
    return torch.where(log_columns, safe_log(x), x)


def jet_frame(four_momenta: Tensor) -> Tensor:
    """Rotate [B, P, (E,px,py,pz)] about the beam so the jet has φ = 0; mirror z so its pz ≥ 0.

    Both are symmetries of unpolarised collisions; removing them spares the network from learning
    the jet direction. Padded constituents must already be zero.
    """
    total = four_momenta.sum(1)
    px, py, pz = total[:, 1], total[:, 2], total[:, 3]
    pt = torch.sqrt(px * px + py * py)
    has_pt = pt > 0
    cos_phi = torch.where(has_pt, px / pt.clamp(min=1e-12), torch.ones_like(pt)).unsqueeze(1)
    sin_phi = torch.where(has_pt, py / pt.clamp(min=1e-12), torch.zeros_like(pt)).unsqueeze(1)
    z_sign = torch.where(pz < 0, -torch.ones_like(pz), torch.ones_like(pz)).unsqueeze(1)
    energy, cpx, cpy, cpz = four_momenta.unbind(-1)
    return torch.stack(
        [energy, cos_phi * cpx + sin_phi * cpy, cos_phi * cpy - sin_phi * cpx, z_sign * cpz], -1
    )


def dense_stack(
    n_inputs: int,
    widths: tuple[int, ...],
    activation: type[nn.Module] = nn.ReLU,
    dropout: float = 0.0,
    batch_norm: bool = False,
) -> nn.Sequential:
    """Linear → [BatchNorm] → activation → [Dropout] for each width; ends at the last width."""
    layers: list[nn.Module] = []
    for width in widths:
        layers.append(nn.Linear(n_inputs, width))
        if batch_norm:
            layers.append(nn.BatchNorm1d(width))
        layers.append(activation())
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        n_inputs = width
    return nn.Sequential(*layers)


class TargetScale(FittedConstants):
    """Maps a network's O(1) output to the target's unit: mean + std · output, fitted on targets."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(()))
        self.register_buffer("std", torch.ones(()))

    @torch.no_grad()
    def fit(self, target: Tensor) -> None:
        """Mean and standard deviation of the training targets [N]."""
        target = target.double()
        self.mean.fill_(float(target.mean()))
        self.std.fill_(float(target.std().clamp(min=1e-6)) if target.numel() > 1 else 1.0)
        self.fitted.fill_(True)

    def forward(self, output: Tensor) -> Tensor:
        return self.mean + self.std * output


class JetInputs(nn.Module):
    """Chosen jet features, energies and counts logged, standardised: [B, J] → [B, n_outputs]."""

    def __init__(self, spec: InputSpec, model: str, jet_features: tuple[str, ...]) -> None:
        super().__init__()
        self.register_buffer(
            "columns", torch.tensor(spec.jet_columns(jet_features, model), dtype=torch.long)
        )
        logs = [f in LOG_FEATURES for f in jet_features]
        self.register_buffer("logs", torch.tensor(logs, dtype=torch.bool))
        self.scaler = Standardise((len(jet_features),))
        self.n_outputs = len(jet_features)

    def _features(self, jet: Tensor) -> Tensor:
        return log_compress(jet.index_select(-1, self.columns), self.logs)

    @torch.no_grad()
    def fit(self, jet: Tensor) -> None:
        """Fit the standardisation on training jets."""
        features = self._features(jet)
        self.scaler.fit(features, torch.ones_like(features, dtype=torch.bool))

    def forward(self, jet: Tensor) -> Tensor:
        return self.scaler(self._features(jet))


class FlatJetInputs(nn.Module):
    """Flattened, standardised features of the leading constituents plus the jet's `JetInputs`.

    Per slot: the chosen constituent features (E, pT logged) standardised per feature over real
    constituents, zeros for padding, and a 0/1 'real' flag so padding differs from an average
    constituent.
    """

    def __init__(
        self,
        spec: InputSpec,
        model: str,
        constituent_features: tuple[str, ...],
        jet_features: tuple[str, ...],
        n_slots: int,
    ) -> None:
        super().__init__()
        self.n_slots = n_slots
        self.register_buffer(
            "columns",
            torch.tensor(spec.constituent_columns(constituent_features, model), dtype=torch.long),
        )
        self.register_buffer(
            "logs", torch.tensor([f in LOG_FEATURES for f in constituent_features])
        )
        self.scaler = Standardise((len(constituent_features),))
        self.jet_inputs = JetInputs(spec, model, jet_features)
        self.n_outputs = n_slots * (len(constituent_features) + 1) + self.jet_inputs.n_outputs

    def _constituent_features(self, constituents: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        x, mask = first_slots(masked(constituents, mask), mask, self.n_slots)
        return log_compress(x.index_select(-1, self.columns), self.logs), mask

    @torch.no_grad()
    def fit(self, constituents: Tensor, mask: Tensor, jet: Tensor) -> None:
        """Fit both standardisations on training jets."""
        x, slot_mask = self._constituent_features(constituents, mask)
        self.scaler.fit(x, slot_mask.unsqueeze(-1))
        self.jet_inputs.fit(jet)

    def forward(self, constituents: Tensor, mask: Tensor, jet: Tensor) -> Tensor:
        x, slot_mask = self._constituent_features(constituents, mask)
        x = masked(self.scaler(x), slot_mask)
        x = torch.cat([x, slot_mask.unsqueeze(-1).to(x.dtype)], -1).flatten(1)
        return torch.cat([x, self.jet_inputs(jet)], -1)
