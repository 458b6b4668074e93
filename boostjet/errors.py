"""User-facing errors: each carries one sentence that names the file, key or option at fault."""


class BoostjetError(Exception):
    """Base class of every error caused by user input; the CLI prints it without a traceback."""


class InputFileError(BoostjetError):
    """A ROOT file is missing, unreadable, or lacks the tree or collection asked for."""


class InputDataError(BoostjetError):
    """The content of an input chunk cannot be processed (missing collection, NaN or inf)."""


class ConfigError(BoostjetError):
    """A configuration value is invalid."""


class GenerationError(BoostjetError):
    """Invalid options for the sample generator."""


class ModelError(BoostjetError):
    """A model file is missing, corrupt, or does not match the configured inputs."""


class HistogramError(BoostjetError):
    """Saved histograms are missing or do not hold what the analysis needs."""
