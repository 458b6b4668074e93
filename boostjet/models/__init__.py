"""boostjet.models: torch taggers and regressors with their losses, export and batched inference.

Every model reads (constituents [B, P, F], mask [B, P], jet [B, J]) laid out as its `InputSpec`,
does all its preprocessing inside `forward`, and exports to a self-contained TorchScript file.
"""

from boostjet.models.export import describe_model, export_model, load_model
from boostjet.models.inference import ModelRunner, input_columns
from boostjet.models.registry import available_models, build_model
from boostjet.spec import InputSpec, ModelMetadata

__all__ = [
    "InputSpec",
    "ModelMetadata",
    "ModelRunner",
    "available_models",
    "build_model",
    "describe_model",
    "export_model",
    "input_columns",
    "load_model",
]
