"""MINUIT on pyhf's likelihood with batched finite-difference derivatives, against pyhf's own
MINUIT fit (MINUIT's numerical derivatives) on the same model."""

import numpy as np
import pyhf
import pytest

from boostjet.analysis.fitinput import FitInput, Region
from boostjet.analysis.likelihood import at_limits, minimise
from boostjet.analysis.templatemodel import build_model

CENTRES = np.arange(5.0, 300.0, 20.0)


def model_input(seed: int = 5) -> FitInput:
    """Gaussian peak + falling background, weighted MC, a shape systematic; Poisson data."""
    rng = np.random.default_rng(seed)
    peak = np.exp(-0.5 * ((CENTRES - 170.0) / 20.0) ** 2)
    falling = np.exp(-CENTRES / 60.0)
    regions = []
    for eff_s, eff_b in ((0.6, 0.1), (0.4, 0.9)):
        s, b = 800 * eff_s * peak / peak.sum(), 5000 * eff_b * falling / falling.sum()
        regions.append(
            Region(
                rng.poisson(0.95 * s + 1.1 * b).astype(float),
                {"top": s, "qcd": b},
                {"top": 0.3 * s, "qcd": 1.5 * b},
                up={"jms": {"top": np.roll(s, 1)}},
                down={"jms": {"top": np.roll(s, -1)}},
            )
        )
    return FitInput(*regions, signal="top")


def test_minimum_and_covariance_agree_with_pyhf_minuit():
    built = build_model(model_input())
    best, cov = minimise(built.likelihood, covariance=True, tolerance=1e-4)
    previous = pyhf.get_backend()
    pyhf.set_backend("numpy", pyhf.optimize.minuit_optimizer(tolerance=1e-4, strategy=2))
    try:
        pars, result = pyhf.infer.mle.fit(built.data, built.model, return_result_obj=True)
    finally:
        pyhf.set_backend(*previous)
    reference = np.array(result.minuit.covariance)
    errors = np.sqrt(np.diag(reference))
    np.testing.assert_allclose(best, pars, atol=2e-3 * errors.max())
    np.testing.assert_allclose(np.sqrt(np.diag(cov)), errors, rtol=2e-3)
    correlation = cov / np.outer(np.sqrt(np.diag(cov)), np.sqrt(np.diag(cov)))
    np.testing.assert_allclose(correlation, reference / np.outer(errors, errors), atol=2e-3)


def test_derivatives_next_to_a_bound_are_finite_and_limits_are_named():
    built = build_model(model_input())
    likelihood = built.likelihood
    config = built.model.config
    pars = np.array(config.suggested_init(), dtype=float)
    index = config.par_slice("mu_pass").start
    pars[index] = 0.0  # μ_pass on its lower bound
    assert np.isfinite(likelihood.grad(pars)).all()
    assert np.isfinite(likelihood.hessian(pars)).all()
    assert at_limits(likelihood, pars) == ["mu_pass at its limit 0"]
    fixed = {index: 0.0}
    refit, _ = minimise(likelihood, fixed=fixed)
    assert refit[index] == 0.0
    assert likelihood(refit) < likelihood(pars)


def test_hessian_matches_the_gradient_difference_route():
    built = build_model(model_input())
    likelihood = built.likelihood
    pars = np.array(built.model.config.suggested_init(), dtype=float) * 1.01
    hessian = likelihood.hessian(pars)
    step = 1e-4
    for j in (0, 3, len(pars) - 1):
        shift = np.zeros_like(pars)
        shift[j] = step
        column = (likelihood.grad(pars + shift) - likelihood.grad(pars - shift)) / (2 * step)
        np.testing.assert_allclose(hessian[:, j], column, rtol=1e-3, atol=1e-2)
    assert hessian == pytest.approx(hessian.T)
