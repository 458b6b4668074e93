"""The pre-flight: every configured model resolved once, before any input file is opened."""

from __future__ import annotations

from boostjet.config import Model, RunConfig
from boostjet.errors import ModelError
from boostjet.models.workingpoints import cut_based_thresholds, model_thresholds
from boostjet.processors.tagging import input_spec
from boostjet.spec import ModelMetadata, ResolvedModel

#: Jets of the synthetic batch every model must evaluate in the pre-flight.
_PREFLIGHT_JETS = 4


def resolve_models(config: RunConfig) -> tuple[ResolvedModel, ...]:
    """Load every configured model before any chunk runs, so that a missing, corrupt or
    mismatched model fails at once with one sentence naming it, not inside a worker, and return
    the record of each (in configuration order) that every later step uses.

    Each model also runs on a few synthetic jets in the configured input layout
    (``synthetic_jets``): a TorchScript graph that does not match its metadata (another number
    of features) or returns another shape or NaN/inf is found here, before any chunk runs.
    """
    from boostjet.models.inference import ModelRunner
    from boostjet.models.synthetic import synthetic_jets

    cut_based_thresholds(config)  # a window without its working points fails here
    spec = input_spec(config)
    constituents, mask, jet, _ = synthetic_jets(_PREFLIGHT_JETS, spec, seed=0)
    records = []
    for model in config.models:
        runner = ModelRunner(model.path, expected_spec=spec)
        if runner.metadata.task != model.task:
            raise ModelError(
                f"models.{model.name}: {model.path} is a {runner.metadata.task} model, "
                f"not a {model.task} model."
            )
        try:
            runner(constituents, mask, jet)
        except RuntimeError as error:  # TorchScript reports a graph that cannot run this way
            lines = [line.strip() for line in str(error).splitlines() if line.strip()]
            raise ModelError(
                f"models.{model.name}: {model.path} fails on synthetic jets laid out as its "
                f"metadata says ({runner.metadata.input_spec.n_constituents} constituents × "
                f"{len(runner.metadata.input_spec.constituent_features)} features, "
                f"{len(runner.metadata.input_spec.jet_features)} jet features): "
                f"{lines[-1] if lines else type(error).__name__}."
            ) from None
        except ModelError as error:
            raise ModelError(
                f"models.{model.name} (pre-flight on {_PREFLIGHT_JETS} synthetic jets): {error}"
            ) from None
        records.append(_record(model, runner.metadata, config.working_points))
    return tuple(records)


def _record(model: Model, metadata: ModelMetadata, targets: list[float]) -> ResolvedModel:
    calibration = None
    if metadata.task == "energy":
        calibration = metadata.training.get("linear_calibration")
        if calibration is None:
            raise ModelError(
                f"models.{model.name}: {model.path} is an energy model whose metadata holds no "
                "linear calibration (training.linear_calibration); re-export it."
            )
    return ResolvedModel(
        name=model.name,
        task=metadata.task,
        path=str(model.path),
        signal=metadata.signal,
        calibration=calibration,
        input_spec=metadata.input_spec,
        thresholds=model_thresholds(model, metadata, targets) if metadata.task == "tagger" else {},
    )
