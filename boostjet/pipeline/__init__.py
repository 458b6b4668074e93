"""boostjet.pipeline."""
