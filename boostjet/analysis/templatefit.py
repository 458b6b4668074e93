"""Tagging scale factor from a simultaneous binned maximum-likelihood fit of the pass and fail
regions (CMS JME-18-002): the pyhf model of templatemodel, minimised with MINUIT.

ε_data is the post-fit pass fraction of the signal category, S_pass / (S_pass + S_fail), with
S_region the post-fit signal yield (μ_region, systematic and MC-statistics parameters applied);
ε_MC = S_pass / (S_pass + S_fail) of the nominal simulation; SF = ε_data / ε_MC.

Uncertainties, by linear propagation of the MINUIT covariance (correlations included):
- stat: every parameter with a prior fixed at its post-fit value (the conditional covariance
  of the free normalisations, the same as refitting with the others fixed);
- mcstat: the share of the per-bin MC-statistics parameters (quadrature difference with them
  fixed) ⊕ the binomial uncertainty of ε_MC from the signal's sum of squared weights;
- total: the full covariance ⊕ the ε_MC part; syst = total ⊖ stat (quadrature difference);
- impact of each systematic source and constrained normalisation: the SF after fixing its
  parameter at post-fit value ± post-fit error and refitting, minus the SF.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Iterator

import numpy as np
import pyhf
import scipy.stats

from boostjet.analysis.fitinput import REGIONS, FitInput
from boostjet.analysis.fitresult import (
    MC_STAT,
    GoodnessOfFit,
    Impact,
    Parameter,
    RegionYields,
    ScaleFactorFit,
    failed_fit,
)
from boostjet.analysis.likelihood import FitFailed, at_limits, jacobian, minimise
from boostjet.analysis.templatemodel import (
    MC_STAT_PARAMETER,
    TemplateModel,
    build_model,
    problem,
)

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class FitOptions:
    """Whether to model the templates' MC statistical uncertainty, and MINUIT's call limit,
    EDM tolerance and strategy."""

    mc_stat: bool = True
    max_calls: int = 100_000
    tolerance: float = 0.01
    strategy: int = 1


def fit_scale_factor(fit_input: FitInput, options: FitOptions = FitOptions()) -> ScaleFactorFit:
    """Fit ``fit_input``; a fit that cannot run returns a result whose ``reason`` says why."""
    label, signal = fit_input.label, fit_input.signal
    reason = problem(fit_input)
    if reason:
        return failed_fit(label, signal, reason)
    with _numpy_backend():
        built = build_model(fit_input, options.mc_stat)
        fit = None
        try:
            fit = _Fit(fit_input, built, options)
            return fit.result()
        except FitFailed as failure:
            return failed_fit(label, signal, str(failure), fit.notes if fit else built.notes)
        except (np.linalg.LinAlgError, FloatingPointError) as error:
            log.debug("Fit of %s raised", label.describe(), exc_info=True)
            why = f"the fit raised {type(error).__name__}: {error}"
            return failed_fit(label, signal, why, fit.notes if fit else built.notes)


class _Fit:
    """The nominal fit of one model and everything derived from it."""

    def __init__(self, fit_input: FitInput, built: TemplateModel, options: FitOptions):
        self.input, self.built, self.options = fit_input, built, options
        self.config = built.model.config
        self.best, self.cov = self._minimise("the fit", covariance=True)
        self.errors = np.sqrt(np.clip(np.diag(self.cov), 0.0, None))
        limits = at_limits(built.likelihood, self.best)
        self.notes = built.notes + tuple(f"Parameter {limit}." for limit in limits)
        self.curvature = built.likelihood.hessian(self.best)
        signal = [
            r.templates[fit_input.signal].sum() for r in (fit_input.passing, fit_input.failing)
        ]
        self.eff_mc = signal[0] / sum(signal)
        self.eff_mc_error = _binomial_error(fit_input)

    def _minimise(self, what: str, covariance: bool = False):
        """The nominal fit."""
        return minimise(self.built.likelihood, what=what, covariance=covariance, **self._settings)

    def _refit(self, what: str, fixed: dict[int, float]) -> np.ndarray:
        """Best fit with parameters ``fixed``, from the nominal minimum and with its curvature;
        parameters the nominal fit left without error (fixed on a bound) stay where they are."""
        held = {int(i): float(self.best[i]) for i in np.flatnonzero(self.errors == 0)}
        settings = {"start": self.best, "fixed": held | fixed, "what": what}
        settings["curvature"] = self.curvature
        return minimise(self.built.likelihood, **settings, **self._settings)[0]

    @property
    def _settings(self) -> dict:
        o = self.options
        return {"max_calls": o.max_calls, "tolerance": o.tolerance, "strategy": o.strategy}

    def eff_data(self, pars: np.ndarray) -> float:
        """Pass fraction of the signal yield predicted by parameters ``pars``."""
        row = self.config.samples.index(self.input.signal)
        signal = self.built.model.main_model.expected_data(pars, return_by_sample=True)[row]
        slices = self.built.region_slices()
        passing, failing = (float(signal[slices[r]].sum()) for r in REGIONS)
        return passing / (passing + failing)

    def result(self) -> ScaleFactorFit:
        eff_data = self.eff_data(self.best)
        sf = eff_data / self.eff_mc
        gradient = jacobian(self.eff_data, self.best, self.errors)[0]
        active = np.flatnonzero(self.errors > 0)
        free = np.intersect1d(active, _indices(self.config, self.built.free_parameters()))
        mcstat = _indices(self.config, [MC_STAT_PARAMETER.format(region=r) for r in REGIONS])
        var_eff = float(gradient @ self.cov @ gradient)
        var_stat = _conditional_variance(gradient, self.cov, active, free)
        var_no_mcstat = _conditional_variance(
            gradient, self.cov, active, np.setdiff1d(active, mcstat)
        )
        eff_mc_part = sf * self.eff_mc_error / self.eff_mc if self.options.mc_stat else 0.0
        total = float(np.hypot(np.sqrt(var_eff) / self.eff_mc, eff_mc_part))
        stat = float(np.sqrt(var_stat) / self.eff_mc)
        mcstat_part = float(
            np.hypot(np.sqrt(max(var_eff - var_no_mcstat, 0.0)) / self.eff_mc, eff_mc_part)
        )
        impacts = [self._impact(s, sf) for s in self.built.sources + self.built.constrained_norms]
        impacts += [Impact(s, 0.0, 0.0) for s in self.input.sources if s not in self.built.sources]
        impacts.append(Impact(MC_STAT, mcstat_part, -mcstat_part))
        parameters = self._parameters()
        numbers = [sf, total, stat] + [x for i in impacts for x in (i.up, i.down)]
        if not np.all(np.isfinite(numbers)):
            raise FitFailed("the fit gave a non-finite scale factor or uncertainty")
        return ScaleFactorFit(
            label=self.input.label,
            signal=self.input.signal,
            sf=float(sf),
            sf_error=total,
            sf_stat=stat,
            sf_syst=float(np.sqrt(max(total**2 - stat**2, 0.0))),
            eff_data=eff_data,
            eff_data_error=float(np.sqrt(var_eff)),
            eff_mc=float(self.eff_mc),
            eff_mc_error=self.eff_mc_error,
            impacts=tuple(impacts),
            parameters=parameters,
            yields=self._yields(),
            edges=self.input.edges,
            gof=self._goodness_of_fit(parameters),
            converged=True,
            notes=self.notes,
        )

    def _impact(self, source: str, sf: float) -> Impact:
        """SF shift with parameter ``source`` fixed at best fit ± post-fit error, rest refitted."""
        index = self.config.par_slice(source).start
        shifts = []
        for sign, direction in ((1, "+1σ"), (-1, "−1σ")):
            fixed = {index: self.best[index] + sign * self.errors[index]}
            pars = self._refit(f"the refit with {source} at {direction}", fixed)
            shifts.append(float(self.eff_data(pars) / self.eff_mc - sf))
        return Impact(source, *shifts)

    def _parameters(self) -> tuple[Parameter, ...]:
        """Post-fit value, error, pull and constraint of every parameter."""
        centre = np.asarray(self.config.suggested_init(), dtype=float)
        out = []
        for name in self.config.par_order:
            param_set = self.config.param_set(name)
            s = self.config.par_slice(name)
            widths = param_set.width() if param_set.constrained else [None] * (s.stop - s.start)
            for k, (i, width) in enumerate(zip(range(s.start, s.stop), widths, strict=True)):
                label = name if param_set.is_scalar else f"{name}[{k}]"
                value, error = float(self.best[i]), float(self.errors[i])
                if width is None:
                    out.append(Parameter(label, value, error))
                else:
                    pull = (value - centre[i]) / width
                    out.append(Parameter(label, value, error, float(pull), float(error / width)))
        return tuple(out)

    def _yields(self) -> dict[str, RegionYields]:
        """Pre-/post-fit yields per sample on the input's bins (zeros where left out)."""
        model, slices = self.built.model, self.built.region_slices()
        samples = self.config.samples

        def by_sample(pars: np.ndarray) -> np.ndarray:
            return model.main_model.expected_data(pars, return_by_sample=True)

        prefit, postfit = by_sample(self.built.prefit_pars()), by_sample(self.best)
        total = jacobian(lambda p: by_sample(p).sum(axis=0), self.best, self.errors)
        total_error = np.sqrt(np.einsum("bi,ij,bj->b", total, self.cov, total))
        out = {}
        for name, region in self.input.regions().items():
            mask, s = self.built.masks[name], slices[name]

            def full(values: np.ndarray, mask: np.ndarray = mask) -> np.ndarray:
                expanded = np.zeros(mask.size)
                expanded[mask] = values
                return expanded

            def per_sample(table: np.ndarray, s: slice = s, full=full) -> dict[str, np.ndarray]:
                return {
                    c: full(table[samples.index(c), s]) if c in samples else full(0.0)
                    for c in self.input.categories
                }

            out[name] = RegionYields(
                data=region.data,
                prefit=per_sample(prefit),
                postfit=per_sample(postfit),
                postfit_error=full(total_error[s]),
            )
        return out

    def _goodness_of_fit(self, parameters: tuple[Parameter, ...]) -> GoodnessOfFit:
        """Saturated-model deviance: Baker–Cousins χ² of the fitted bins plus the Gaussian
        constraint terms (Σ pull²), with fitted bins − free parameters degrees of freedom."""
        n_main = self.config.nmaindata
        observed = self.built.data[:n_main]
        expected = np.asarray(self.built.model.main_model.expected_data(self.best), dtype=float)
        ratio = np.divide(observed, expected, out=np.ones_like(observed), where=observed > 0)
        log_term = observed * np.log(ratio)  # 0 where nothing is observed
        chi2 = 2 * np.sum(expected - observed + log_term)
        chi2 += sum(p.pull**2 for p in parameters if p.pull is not None)
        ndof = n_main - len(_indices(self.config, self.built.free_parameters()))
        p_value = float(scipy.stats.chi2.sf(chi2, ndof)) if ndof > 0 else None
        return GoodnessOfFit(float(chi2), ndof, p_value)


@contextlib.contextmanager
def _numpy_backend() -> Iterator[None]:
    """pyhf's numpy backend for the duration; the caller's backend afterwards."""
    previous = pyhf.get_backend()
    pyhf.set_backend("numpy")
    try:
        yield
    finally:
        pyhf.set_backend(*previous)


def _conditional_variance(
    gradient: np.ndarray, cov: np.ndarray, active: np.ndarray, kept: np.ndarray
) -> float:
    """Variance of a function when every active parameter outside ``kept`` is fixed: the kept
    block of the inverse covariance (the Hessian), inverted."""
    hessian = np.linalg.inv(cov[np.ix_(active, active)])
    position = np.searchsorted(active, kept)
    conditional = np.linalg.inv(hessian[np.ix_(position, position)])
    return float(gradient[kept] @ conditional @ gradient[kept])


def _indices(config, names: list[str]) -> np.ndarray:
    """Flat parameter indices of those ``names`` the model has."""
    indices = [
        i
        for name in names
        if name in config.par_order
        for i in range(config.par_slice(name).start, config.par_slice(name).stop)
    ]
    return np.array(sorted(indices), dtype=int)


def _binomial_error(fit_input: FitInput) -> float:
    """σ(ε_MC) of the signal template from its sums of weights and squared weights (0 without
    variances)."""
    if fit_input.passing.variances is None:
        return 0.0
    signal = fit_input.signal
    p, f = (r.templates[signal].sum() for r in (fit_input.passing, fit_input.failing))
    vp, vf = (r.variances[signal].sum() for r in (fit_input.passing, fit_input.failing))
    return float(np.sqrt(f**2 * vp + p**2 * vf) / (p + f) ** 2)
