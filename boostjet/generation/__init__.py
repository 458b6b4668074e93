"""Sample generator: Pythia 8 → parametrised detector → anti-kt jets → flat Delphes-layout ROOT."""

from boostjet.generation.generate import generate, generate_mixture
from boostjet.generation.options import GenerationOptions

__all__ = ["GenerationOptions", "generate", "generate_mixture"]
