"""boostjet: boosted-jet taggers and regressors over Delphes files, from chunks to scale factors."""

__version__ = "0.1.0"
