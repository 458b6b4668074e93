"""Jet-image preprocessing: centring, principal-axis rotation, flips, pixelisation."""

import math

import torch

from boostjet.models.synthetic import synthetic_jets
from boostjet.models.taggers.cnn import JetImageCNN, align_constituents, pixelise
from boostjet.spec import InputSpec

# A hard constituent at the origin and a soft one 0.4 away in Δη: the pT-weighted centroid is at
# Δη = 0.1, the principal axis is horizontal and becomes vertical; flipping puts the hard
# constituent at y = +0.1 and the soft one at y = −0.3.
PT = torch.tensor([[3.0, 1.0]])
ALIGNED_Y = torch.tensor([[0.1, -0.3]])


def test_two_prong_alignment_by_hand():
    x, y = align_constituents(torch.tensor([[0.0, 0.4]]), torch.tensor([[0.0, 0.0]]), PT)
    torch.testing.assert_close(x, torch.zeros(1, 2), atol=1e-6, rtol=0)
    torch.testing.assert_close(y, ALIGNED_Y)


def test_alignment_removes_rotations_and_translations():
    angle = 0.7
    deta = torch.tensor([[0.0, 0.4 * math.cos(angle)]]) + 0.05
    dphi = torch.tensor([[0.0, 0.4 * math.sin(angle)]]) - 0.2
    x, y = align_constituents(deta, dphi, PT)
    torch.testing.assert_close(x, torch.zeros(1, 2), atol=1e-6, rtol=0)
    torch.testing.assert_close(y, ALIGNED_Y)


def test_pixelise_places_pt_and_normalises():
    x = torch.tensor([[0.0, 0.5, 5.0]])  # the last one lies outside the image
    y = torch.tensor([[0.0, -0.5, 0.0]])
    pt = torch.tensor([[3.0, 1.0, 7.0]])
    image = pixelise(x, y, pt, n_pixels=40, half_width=1.0)
    assert image.shape == (1, 40, 40)
    torch.testing.assert_close(image.sum(), torch.tensor(1.0))
    assert image[0, 20, 20] == 0.75  # row from y, column from x: (0 + 1) · 20 = 20
    assert image[0, 10, 30] == 0.25  # y = −0.5 → row 10, x = 0.5 → column 30


def test_images_of_synthetic_jets_sum_to_one():
    spec = InputSpec(n_constituents=16)
    constituents, mask, _, _ = (torch.from_numpy(a) for a in synthetic_jets(8, spec))
    images = JetImageCNN(spec).images(constituents, mask)
    torch.testing.assert_close(images.sum((1, 2)), torch.ones(8))
    pixel = torch.arange(40).float()
    row_centre = (images.sum(2) * pixel).sum(1)
    assert torch.all((row_centre > 17) & (row_centre < 22)), "images are centred"
