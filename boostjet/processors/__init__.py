"""boostjet.processors."""
