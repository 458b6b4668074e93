"""Minimising −2 ln L of a pyhf model with MINUIT (iminuit), and finite-difference derivatives.

pyhf's numpy backend has no automatic differentiation, and MINUIT's own numerical derivatives
call the likelihood once per parameter shift (≈1 ms each for a 30-bin pass/fail model with
per-bin MC-statistics parameters, so thousands of calls per fit). Here the same central
differences are evaluated as one *batched* pyhf call (``batch_size``), ~15× faster, and handed
to MINUIT as its gradient, G2 and Hessian. (pyhf's jax backend would differentiate exactly but
is a large extra dependency that compiles every new model; iminuit is what pyhf and cabinetry
minimise with.)
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import iminuit
import numpy as np
import pyhf

#: Finite-difference step in units of a parameter's prior width (constrained parameters) or
#: of max(1, |value|) (free normalisations).
RELATIVE_STEP = 1e-3


class FitFailed(Exception):
    """A minimisation that did not converge; the message is the reason (one clause)."""


class Likelihood:
    """−2 ln L(pars) of ``model`` for ``data`` (offset to 0 at the initial parameters), with
    finite-difference ``grad``, ``g2`` and ``hessian`` in MINUIT's protocol, evaluated with
    ``batched``: the same model with ``batch_size`` = 2 × its number of parameters."""

    def __init__(self, model: pyhf.pdf.Model, batched: pyhf.pdf.Model, data: np.ndarray):
        self.model, self._batched, self.data = model, batched, data
        config = model.config
        self.n = config.npars
        self.bounds = np.asarray(config.suggested_bounds(), dtype=float)
        self._width = np.full(self.n, np.nan)  # prior width; NaN for free parameters
        for name in config.par_order:
            param_set = config.param_set(name)
            if param_set.constrained:
                self._width[config.par_slice(name)] = param_set.width()
        # −2 ln L is offset to 0 at the start so that finite differences of it lose few digits
        self._offset = 0.0
        self._offset = self(np.asarray(config.suggested_init(), dtype=float))

    def __call__(self, pars: np.ndarray) -> float:
        return -2.0 * float(self.model.logpdf(np.asarray(pars), self.data)[0]) - self._offset

    def _stencil(self, pars: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Centre and steps of the finite differences: the centre is ``pars`` moved inside the
        bounds by at least one step (derivatives next to a bound are taken one step in)."""
        pars = np.asarray(pars, dtype=float)
        step = RELATIVE_STEP * np.where(
            np.isnan(self._width), np.maximum(1.0, np.abs(pars)), self._width
        )
        centre = np.clip(pars, self.bounds[:, 0] + step, self.bounds[:, 1] - step)
        return centre, step

    def _evaluate(self, rows: np.ndarray) -> np.ndarray:
        """−2 ln L at each row of parameters, in batches of the batched model's size."""
        size = 2 * self.n
        out = []
        for start in range(0, len(rows), size):
            chunk = rows[start : start + size]
            padded = np.concatenate([chunk, np.repeat(chunk[-1:], size - len(chunk), axis=0)])
            out.append(-2.0 * np.asarray(self._batched.logpdf(padded, self.data))[: len(chunk)])
        return np.concatenate(out) - self._offset

    def _singles(self, centre: np.ndarray, step: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """−2 ln L at centre + step·e_i and centre − step·e_i for every i."""
        shifts = np.diag(step)
        values = self._evaluate(np.concatenate([centre + shifts, centre - shifts]))
        return values[: self.n], values[self.n :]

    def grad(self, pars: np.ndarray) -> np.ndarray:
        """Central-difference gradient."""
        centre, step = self._stencil(pars)
        up, down = self._singles(centre, step)
        return (up - down) / (2 * step)

    def g2(self, pars: np.ndarray) -> np.ndarray:
        """Diagonal second derivatives (MINUIT's fallback where the Hessian is not positive
        definite)."""
        centre, step = self._stencil(pars)
        up, down = self._singles(centre, step)
        return (up - 2.0 * self(centre) + down) / step**2

    def hessian(self, pars: np.ndarray) -> np.ndarray:
        """Second derivatives from function values (O(step²) accurate): H_ij =
        [f(+i+j) + f(−i−j) − f(+i) − f(−i) − f(+j) − f(−j) + 2 f₀] / (2 h_i h_j)."""
        centre, step = self._stencil(pars)
        up, down = self._singles(centre, step)
        f0 = self(centre)
        i, j = np.triu_indices(self.n, k=1)
        shifts = np.zeros((len(i), self.n))
        shifts[np.arange(len(i)), i] = step[i]
        shifts[np.arange(len(i)), j] = step[j]
        pairs = self._evaluate(np.concatenate([centre + shifts, centre - shifts]))
        both_up, both_down = pairs[: len(i)], pairs[len(i) :]
        matrix = np.diag((up - 2.0 * f0 + down) / step**2)
        matrix[i, j] = (both_up + both_down - up[i] - down[i] - up[j] - down[j] + 2.0 * f0) / (
            2.0 * step[i] * step[j]
        )
        matrix[j, i] = matrix[i, j]
        return matrix


def minimise(
    likelihood: Likelihood,
    *,
    start: np.ndarray | None = None,
    fixed: dict[int, float] | None = None,
    curvature: np.ndarray | None = None,
    max_calls: int = 100_000,
    tolerance: float = 0.01,
    strategy: int = 1,
    what: str = "the fit",
    covariance: bool = False,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Best-fit parameters (MIGRAD from ``start``, default the model's initial values) with
    parameters ``fixed`` (index → value), and the HESSE covariance if asked (zero rows for
    fixed parameters). Raises :class:`FitFailed`.

    ``curvature``: a Hessian MIGRAD may use as its metric instead of computing one (e.g. the
    nominal fit's, for refits that start next to its minimum); MIGRAD's convergence test
    (EDM from the gradient) is unchanged, so the minimum found is too.
    """
    config = likelihood.model.config
    init = np.array(config.suggested_init() if start is None else start, dtype=float)
    fixed_params = list(config.suggested_fixed())
    for index, value in (fixed or {}).items():
        init[index], fixed_params[index] = value, True
    with warnings.catch_warnings():
        # iminuit warns that the Hessian overrides G2, yet calls G2 (None → TypeError) when
        # the Hessian at the seed is not positive definite.
        warnings.filterwarnings("ignore", "hessian overrides g2", iminuit.util.IMinuitWarning)
        minuit = iminuit.Minuit(
            likelihood,
            init,
            grad=likelihood.grad,
            g2=likelihood.g2,
            hessian=likelihood.hessian if curvature is None else lambda _: curvature,
            name=config.par_names,
        )
    minuit.errordef = iminuit.Minuit.LEAST_SQUARES  # 1: the objective is −2 ln L
    minuit.limits = likelihood.bounds
    minuit.fixed = fixed_params
    minuit.strategy, minuit.tol = strategy, tolerance
    minuit.migrad(ncall=max_calls)
    fmin = minuit.fmin
    if not fmin.is_valid:
        why = "call limit reached" if fmin.has_reached_call_limit else "no valid minimum"
        why += "".join(f"; {limit}" for limit in at_limits(likelihood, np.array(minuit.values)))
        raise FitFailed(f"{what} did not converge ({why}, EDM {fmin.edm:.2g})")
    if not covariance:
        return np.array(minuit.values), None
    minuit.hesse()
    if not minuit.fmin.has_posdef_covar or minuit.fmin.has_made_posdef_covar:
        raise FitFailed(
            f"{what} converged but its covariance is not positive definite "
            "(degenerate templates or normalisations?)"
        )
    return np.array(minuit.values), np.array(minuit.covariance, dtype=float)


def at_limits(likelihood: Likelihood, pars: np.ndarray) -> list[str]:
    """'<parameter> at its limit <bound>' for each parameter within 10⁻⁶ of its range from a
    bound."""
    lower, upper = likelihood.bounds.T
    tolerance = 1e-6 * (upper - lower)
    names = likelihood.model.config.par_names
    return [
        f"{name} at its limit {bound:g}"
        for name, value, lo, hi, tol in zip(names, pars, lower, upper, tolerance, strict=True)
        for bound in (lo, hi)
        if abs(value - bound) < tol
    ]


def jacobian(
    f: Callable[[np.ndarray], np.ndarray], pars: np.ndarray, errors: np.ndarray
) -> np.ndarray:
    """∂f/∂pars (f vector-valued) by central differences with steps of 10⁻³ post-fit σ;
    zero columns for parameters without error (fixed)."""
    f0 = np.atleast_1d(f(pars))
    columns = []
    for i, error in enumerate(errors):
        if error == 0:
            columns.append(np.zeros_like(f0))
            continue
        step = np.zeros_like(pars)
        step[i] = 1e-3 * error
        columns.append(
            (np.atleast_1d(f(pars + step)) - np.atleast_1d(f(pars - step))) / (2e-3 * error)
        )
    return np.stack(columns, axis=-1)
