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

    def is_factor(self, index: int) -> bool:
        """Whether parameter ``index`` multiplies yields (a normalisation or an MC-statistics
        γ), so that its lower bound, zero, is a physical one."""
        return bool(self.bounds[index, 0] >= 0)

    def __call__(self, pars: np.ndarray) -> float:
        return -2.0 * float(self.model.logpdf(np.asarray(pars), self.data)[0]) - self._offset

    def _stencil(self, pars: np.ndarray, free: np.ndarray | None) -> tuple:
        """Centre, steps and indices of the finite differences along the ``free`` parameters
        (all if None): those are moved inside their bounds by at least one step (derivatives
        next to a bound are taken one step in); the others stay where they are."""
        pars = np.asarray(pars, dtype=float)
        index = np.arange(self.n) if free is None else np.flatnonzero(free)
        width = self._width[index]
        step = RELATIVE_STEP * np.where(
            np.isnan(width), np.maximum(1.0, np.abs(pars[index])), width
        )
        centre = pars.copy()
        centre[index] = np.clip(
            pars[index], self.bounds[index, 0] + step, self.bounds[index, 1] - step
        )
        return centre, step, index

    def _evaluate(self, rows: np.ndarray) -> np.ndarray:
        """−2 ln L at each row of parameters, in batches of the batched model's size."""
        size = 2 * self.n
        out = []
        for start in range(0, len(rows), size):
            chunk = rows[start : start + size]
            padded = np.concatenate([chunk, np.repeat(chunk[-1:], size - len(chunk), axis=0)])
            out.append(-2.0 * np.asarray(self._batched.logpdf(padded, self.data))[: len(chunk)])
        return np.concatenate(out) - self._offset

    def _singles(self, centre, step, index) -> tuple[np.ndarray, np.ndarray]:
        """−2 ln L at centre + step_k·e_index[k] and centre − step_k·e_index[k] for every k."""
        shifts = np.zeros((len(index), self.n))
        shifts[np.arange(len(index)), index] = step
        values = self._evaluate(np.concatenate([centre + shifts, centre - shifts]))
        return values[: len(index)], values[len(index) :]

    def grad(self, pars: np.ndarray, free: np.ndarray | None = None) -> np.ndarray:
        """Central-difference gradient along the ``free`` parameters (all if None)."""
        centre, step, index = self._stencil(pars, free)
        up, down = self._singles(centre, step, index)
        return (up - down) / (2 * step)

    def g2(self, pars: np.ndarray, free: np.ndarray | None = None) -> np.ndarray:
        """Diagonal second derivatives (MINUIT's fallback where the Hessian is not positive
        definite) along the ``free`` parameters (all if None)."""
        centre, step, index = self._stencil(pars, free)
        up, down = self._singles(centre, step, index)
        return (up - 2.0 * self(centre) + down) / step**2

    def hessian(self, pars: np.ndarray, free: np.ndarray | None = None) -> np.ndarray:
        """Second derivatives along the ``free`` parameters (all if None), from function values
        (O(step²) accurate): H_ij = [f(+i+j) + f(−i−j) − f(+i) − f(−i) − f(+j) − f(−j) + 2 f₀]
        / (2 h_i h_j)."""
        centre, step, index = self._stencil(pars, free)
        up, down = self._singles(centre, step, index)
        f0 = self(centre)
        i, j = np.triu_indices(len(index), k=1)
        shifts = np.zeros((len(i), self.n))
        shifts[np.arange(len(i)), index[i]] = step[i]
        shifts[np.arange(len(i)), index[j]] = step[j]
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
    parameters ``fixed`` (index → value), and the covariance if asked (zero rows for fixed
    parameters). Raises :class:`FitFailed`.

    A yield factor (a normalisation or an MC-statistics γ) that MIGRAD leaves at zero without a
    valid minimum is fixed there and the rest minimised again (a minimum on a bound has a
    non-vanishing gradient, which MIGRAD's convergence test does not accept); any other
    parameter on a bound of its range (a systematic at ±5σ) is a failed fit. The covariance is
    2 H⁻¹ of the free parameters (the objective is −2 ln L), as HESSE computes it.

    ``curvature``: a Hessian (all parameters) MIGRAD uses as its metric (e.g. the nominal
    fit's, for refits that start next to its minimum); MIGRAD's convergence test (EDM from the
    gradient) is unchanged, so the minimum found is too.
    """
    config = likelihood.model.config
    pars = np.array(config.suggested_init() if start is None else start, dtype=float)
    free = ~np.array(config.suggested_fixed(), dtype=bool)
    for index, value in (fixed or {}).items():
        pars[index], free[index] = value, False
    settings = (curvature, max_calls, tolerance, strategy)
    minuit = _migrad(_Restricted(likelihood, pars, free), *settings)
    pars[free] = minuit.values
    stuck = {
        i: bound
        for i, bound in _on_bounds(likelihood, pars, ~free).items()
        if likelihood.is_factor(i) and bound == likelihood.bounds[i, 0]
    }
    if not minuit.fmin.is_valid and stuck:
        for index, bound in stuck.items():
            pars[index], free[index] = bound, False
        minuit = _migrad(_Restricted(likelihood, pars, free), *settings)
        pars[free] = minuit.values
    fmin = minuit.fmin
    if not fmin.is_valid:
        why = "call limit reached" if fmin.has_reached_call_limit else "no valid minimum"
        why += "".join(f"; {limit}" for limit in at_limits(likelihood, pars))
        raise FitFailed(f"{what} did not converge ({why}, EDM {fmin.edm:.2g})")
    constrained = [
        f"{likelihood.model.config.par_names[i]} at its limit {bound:g}"
        for i, bound in _on_bounds(likelihood, pars, ~free).items()
        if not (likelihood.is_factor(i) and bound == likelihood.bounds[i, 0])
    ]
    if constrained:
        raise FitFailed(
            f"{what} ended with {'; '.join(constrained)} (the edge of its prior's range): the "
            "templates cannot describe the data within their uncertainties"
        )
    if not covariance:
        return pars, None
    hessian = likelihood.hessian(pars, free)
    if np.linalg.eigvalsh(hessian).min() <= 0:
        raise FitFailed(
            f"{what} converged but its covariance is not positive definite "
            "(degenerate templates or normalisations?)"
        )
    cov = np.zeros((likelihood.n, likelihood.n))
    cov[np.ix_(free, free)] = 2.0 * np.linalg.inv(hessian)
    return pars, cov


class _Restricted:
    """``likelihood`` as a function of its ``free`` parameters only, the others held at their
    values in ``pars``. MINUIT is never given fixed parameters: Minuit2 maps an external
    Hessian onto the wrong parameters when some are fixed (root-project/root#20954)."""

    def __init__(self, likelihood: Likelihood, pars: np.ndarray, free: np.ndarray):
        self.likelihood, self.pars, self.free = likelihood, pars.copy(), free.copy()
        self.bounds = likelihood.bounds[free]
        self.names = [n for n, f in zip(likelihood.model.config.par_names, free, strict=True) if f]

    def _full(self, x: np.ndarray) -> np.ndarray:
        full = self.pars.copy()
        full[self.free] = x
        return full

    def __call__(self, x: np.ndarray) -> float:
        return self.likelihood(self._full(x))

    def grad(self, x: np.ndarray) -> np.ndarray:
        return self.likelihood.grad(self._full(x), self.free)

    def g2(self, x: np.ndarray) -> np.ndarray:
        return self.likelihood.g2(self._full(x), self.free)

    def hessian(self, x: np.ndarray) -> np.ndarray:
        return self.likelihood.hessian(self._full(x), self.free)


def _migrad(
    function: _Restricted,
    curvature: np.ndarray | None,
    max_calls: int,
    tolerance: float,
    strategy: int,
) -> iminuit.Minuit:
    """MIGRAD from the function's current values, with ``curvature`` (restricted to the free
    parameters) as its Hessian if given; the Minuit object after it."""
    if curvature is None:
        hessian = function.hessian
    else:
        fixed_curvature = curvature[np.ix_(function.free, function.free)]

        def hessian(_: np.ndarray) -> np.ndarray:
            return fixed_curvature

    with warnings.catch_warnings():
        # iminuit warns that the Hessian overrides G2, yet calls G2 (None → TypeError) when
        # the Hessian at the seed is not positive definite.
        warnings.filterwarnings("ignore", "hessian overrides g2", iminuit.util.IMinuitWarning)
        minuit = iminuit.Minuit(
            function,
            function.pars[function.free],
            grad=function.grad,
            g2=function.g2,
            hessian=hessian,
            name=function.names,
        )
    minuit.errordef = iminuit.Minuit.LEAST_SQUARES  # 1: the objective is −2 ln L
    minuit.limits = function.bounds
    minuit.strategy, minuit.tol = strategy, tolerance
    minuit.migrad(ncall=max_calls)
    if not minuit.fmin.is_valid:  # a second MIGRAD from where the first stopped, as iminuit advises
        minuit.migrad(ncall=max_calls)
    return minuit


def at_limits(likelihood: Likelihood, pars: np.ndarray) -> list[str]:
    """'<parameter> at its limit <bound>' for each parameter within 10⁻⁶ of its range from a
    bound."""
    names = likelihood.model.config.par_names
    return [
        f"{names[index]} at its limit {bound:g}"
        for index, bound in _on_bounds(likelihood, pars).items()
    ]


def _on_bounds(likelihood: Likelihood, pars: np.ndarray, fixed=None) -> dict[int, float]:
    """Index → bound of each parameter (not ``fixed``) within 10⁻⁶ of its range from a bound."""
    lower, upper = likelihood.bounds.T
    tolerance = 1e-6 * (upper - lower)
    fixed = np.zeros(len(pars), dtype=bool) if fixed is None else np.asarray(fixed)
    return {
        index: float(bound)
        for index, (value, lo, hi, tol) in enumerate(
            zip(pars, lower, upper, tolerance, strict=True)
        )
        if not fixed[index]
        for bound in (lo, hi)
        if abs(value - bound) < tol
    }


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
