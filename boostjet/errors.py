"""User-facing errors: each carries one sentence that names the file, key or option at fault."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import ValidationError


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


def validation_sentence(error: ValidationError, noun: str, source: str | None = None) -> str:
    """The one sentence naming the first invalid input of a pydantic ``error``.

    ``<source>: <noun> 'a.b' is invalid: <why> (got <value>).``, or ``unknown <noun> 'a.b'``,
    ``required <noun> 'a.b' is missing``, ``section 'a' is invalid: <why>`` for a whole mapping;
    without a source the sentence starts with the capitalised noun.
    """
    first = error.errors()[0]
    key = ".".join(str(part) for part in first["loc"]) or "(top level)"
    if first["type"] == "extra_forbidden":
        text = f"unknown {noun} '{key}'."
    elif first["type"] == "missing":
        text = f"required {noun} '{key}' is missing."
    else:
        message = first["msg"].removeprefix("Value error, ")
        if isinstance(first.get("input"), dict):  # a whole section: the message names its keys
            text = f"section '{key}' is invalid: {message}."
        else:
            text = f"{noun} '{key}' is invalid: {message} (got {first.get('input')!r})."
    return f"{source}: {text}" if source else text[0].upper() + text[1:]
