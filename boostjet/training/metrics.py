"""Validation numbers of a trained model: tagger separation, regressor response and resolution,
and the baselines each regressor is compared with."""

from __future__ import annotations

import numpy as np

from boostjet.spec import InputSpec
from boostjet.training.data import Samples


def tagger_metrics(score: np.ndarray, target: np.ndarray) -> dict[str, float]:
    """AUC (rank statistic), balanced accuracy at 0.5, and 1/ε_B at ε_S = 0.3 and 0.5."""
    signal, background = score[target == 1], score[target == 0]
    ranks = np.argsort(np.argsort(np.concatenate([signal, background]))) + 1
    auc = (ranks[: len(signal)].sum() - len(signal) * (len(signal) + 1) / 2) / (
        len(signal) * len(background)
    )
    metrics = {
        "auc": float(auc),
        "accuracy": float(0.5 * ((signal > 0.5).mean() + (background <= 0.5).mean())),
    }
    for eff in (0.3, 0.5):
        threshold = np.quantile(signal, 1 - eff)
        eff_b = (background > threshold).mean()
        metrics[f"rejection_{int(eff * 100)}"] = float(1 / eff_b) if eff_b > 0 else float("inf")
    return metrics


def response_metrics(predicted: np.ndarray, target: np.ndarray) -> dict[str, float]:
    """Median response and resolution (q84 − q16) / (2 q50) of predicted / true."""
    q16, q50, q84 = np.quantile(predicted / target, [0.16, 0.5, 0.84])
    return {"median_response": float(q50), "resolution": float((q84 - q16) / (2 * q50))}


def linear_calibration(reco: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """The baseline energy calibration E_true ≈ offset + slope · E_reco (least squares)."""
    slope, offset = np.polyfit(reco, truth, 1)
    return float(offset), float(slope)


def validation_metrics(
    task: str, output: np.ndarray, training: Samples, validation: Samples, spec: InputSpec
) -> tuple[dict, tuple[float, float] | None]:
    """The metrics of a model's `output` on the validation jets, with its baseline's: the soft-drop
    mass for mass regressors, a linear calibration fitted on the training jets for energy
    regressors (returned too, as (offset, slope); None for other tasks)."""
    if task == "tagger":
        return tagger_metrics(output, validation.target), None
    if task == "mass":
        metrics = response_metrics(output, validation.target)
        sd_mass = validation.jet[:, spec.jet_features.index("sd_mass")]
        metrics["baseline_soft_drop"] = response_metrics(
            np.maximum(sd_mass, 1e-3), validation.target
        )
        return metrics, None
    jet_energy = spec.jet_features.index("energy")
    metrics = response_metrics(output[:, 0], validation.target)
    calibration = linear_calibration(training.jet[:, jet_energy], training.target)
    linear = calibration[0] + calibration[1] * validation.jet[:, jet_energy]
    metrics["baseline_linear"] = response_metrics(linear, validation.target)
    return metrics, calibration
