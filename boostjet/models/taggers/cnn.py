"""Convolutional tagger on preprocessed jet images (arXiv:1701.08784 "DeepTop"; arXiv:1511.05190).

The image is built inside `forward` from (Δη, Δφ, pT) of the constituents: centre on the pT-weighted
centroid, rotate so the principal axis of the pT-weighted inertia tensor is vertical, flip so the
harder halves lie at positive Δη' and Δφ', pixelise with a vectorised `scatter_add`, and normalise
to unit total pT. DeepTop's network: blocks of 4×4 convolutions with 8 filters and 2×2 max-pooling,
then three dense layers of 64. Convolutions keep
the image size (zero padding, one pixel more after than before for the even 4×4 kernel).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from boostjet.models.preprocessing import Standardise, dense_stack, masked
from boostjet.models.taggers import Tagger
from boostjet.spec import InputSpec

IMAGE_FEATURES: tuple[str, ...] = ("deta", "dphi", "pt")


def _weighted_mean(value: Tensor, weight: Tensor, total: Tensor) -> Tensor:
    return (weight * value).sum(1, keepdim=True) / total


def align_constituents(deta: Tensor, dphi: Tensor, pt: Tensor) -> tuple[Tensor, Tensor]:
    """Centre, rotate and flip [B, P] constituent positions; padded constituents need pt = 0.

    Returns (x, y): x across the principal axis, y along it, harder halves at x > 0 and y > 0.
    """
    total = pt.sum(1, keepdim=True).clamp(min=1e-12)
    x = deta - _weighted_mean(deta, pt, total)
    y = dphi - _weighted_mean(dphi, pt, total)
    xx = _weighted_mean(x * x, pt, total)
    yy = _weighted_mean(y * y, pt, total)
    xy = _weighted_mean(x * y, pt, total)
    major_axis = 0.5 * torch.atan2(2 * xy, xx - yy)
    rotation = 0.5 * math.pi - major_axis
    cos_r, sin_r = torch.cos(rotation), torch.sin(rotation)
    x, y = cos_r * x - sin_r * y, sin_r * x + cos_r * y
    flip_x = (pt * (x < 0)).sum(1, keepdim=True) > (pt * (x > 0)).sum(1, keepdim=True)
    flip_y = (pt * (y < 0)).sum(1, keepdim=True) > (pt * (y > 0)).sum(1, keepdim=True)
    return torch.where(flip_x, -x, x), torch.where(flip_y, -y, y)


def pixelise(x: Tensor, y: Tensor, pt: Tensor, n_pixels: int, half_width: float) -> Tensor:
    """Sum pT [B, P] into an [B, n_pixels, n_pixels] image over x, y ∈ [−half_width, half_width).

    Rows follow y (the principal axis), columns x. Constituents outside the window are dropped;
    the image is divided by its total pT.
    """
    scale = n_pixels / (2.0 * half_width)
    column = torch.floor((x + half_width) * scale)
    row = torch.floor((y + half_width) * scale)
    inside = (column >= 0) & (column < n_pixels) & (row >= 0) & (row < n_pixels) & (pt > 0)
    index = torch.where(inside, row * n_pixels + column, torch.zeros_like(row)).long()
    weight = torch.where(inside, pt, torch.zeros_like(pt))
    image = pt.new_zeros(pt.shape[0], n_pixels * n_pixels).scatter_add_(1, index, weight)
    image = image / image.sum(1, keepdim=True).clamp(min=1e-12)
    return image.view(-1, n_pixels, n_pixels)


class JetImageCNN(Tagger):
    """DeepTop-style CNN: conv blocks (each followed by 2×2 max-pooling) and a dense head."""

    def __init__(
        self,
        spec: InputSpec,
        n_pixels: int = 40,
        half_width: float = 1.0,
        conv_blocks: tuple[tuple[int, ...], ...] = ((8, 8), (8, 8)),
        kernel_size: int = 4,
        widths: tuple[int, ...] = (64, 64, 64),
        dropout: float = 0.0,
        jet_features: tuple[str, ...] = (),
    ) -> None:
        super().__init__()
        n_jet = self.add_jet_features(spec, "cnn", jet_features)
        self.n_pixels = n_pixels
        self.half_width = half_width
        self.register_buffer(
            "image_columns",
            torch.tensor(spec.constituent_columns(IMAGE_FEATURES, "cnn"), dtype=torch.long),
        )
        self.pixel_scaler = Standardise((1,))
        layers: list[nn.Module] = []
        channels = 1
        before, after = (kernel_size - 1) // 2, kernel_size // 2
        for block in conv_blocks:
            for width in block:
                layers += [
                    nn.ZeroPad2d((before, after, before, after)),
                    nn.Conv2d(channels, width, kernel_size),
                    nn.ReLU(),
                ]
                channels = width
            layers.append(nn.MaxPool2d(2))
        self.convolutions = nn.Sequential(*layers)
        side = n_pixels // 2 ** len(conv_blocks)
        self.hidden = dense_stack(channels * side * side + n_jet, widths, nn.ReLU, dropout)
        self.output = nn.Linear(widths[-1], 1)

    def images(self, constituents: Tensor, mask: Tensor) -> Tensor:
        """Preprocessed jet images [B, n_pixels, n_pixels], each summing to one."""
        deta, dphi, pt = masked(constituents, mask).index_select(-1, self.image_columns).unbind(-1)
        x, y = align_constituents(deta, dphi, pt)
        return pixelise(x, y, pt, self.n_pixels, self.half_width)

    @torch.no_grad()
    def fit_inputs(self, constituents: Tensor, mask: Tensor, jet: Tensor) -> None:
        pixels = self.images(constituents, mask).unsqueeze(-1)
        self.pixel_scaler.fit(pixels, torch.ones_like(pixels, dtype=torch.bool))

    def logits(self, constituents: Tensor, mask: Tensor, jet: Tensor) -> Tensor:
        image = self.pixel_scaler(self.images(constituents, mask).unsqueeze(-1)).squeeze(-1)
        features = self.convolutions(image.unsqueeze(1)).flatten(1)
        return self.output(self.hidden(self.with_jet_features(features, jet))).squeeze(-1)
