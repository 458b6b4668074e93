"""The pass/fail HistFactory model of one tagger, working point and pT bin, as a pyhf workspace.

Channels ``pass`` and ``fail``; one sample per truth category. Parameters:

- ``mu_pass``, ``mu_fail``: free normalisations of the signal category in each region (the
  data's signal efficiency follows from them, see templatefit);
- ``norm_<category>[_pass|_fail]``: free background normalisations (per region or shared), or a
  log-normal prior (normsys, κ = 1 + uncertainty) named ``norm_<category>``;
- ``mcstat_pass``, ``mcstat_fail``: per-bin MC statistical uncertainty (staterror,
  Barlow–Beeston lite: one parameter per bin for the sum of samples);
- ``<source>``: each systematic source, one parameter correlated across regions and samples,
  entering as normsys (the variation's yield ratio) plus histosys (its shape at fixed yield).

Bins with no simulated yield (and no data) and background templates empty in a region are left
out of that region; sources that change nothing are left out; ``notes`` say so.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pyhf

from boostjet.analysis.fitinput import REGIONS, FitInput
from boostjet.analysis.likelihood import Likelihood

#: Smooth interpolation (polynomial inside ±1σ, exponential/linear outside), as combine uses.
MODIFIER_SETTINGS = {"normsys": {"interpcode": "code4"}, "histosys": {"interpcode": "code4p"}}
SIGNAL_NORM = "mu_{region}"
POI = SIGNAL_NORM.format(region=REGIONS[0])
MC_STAT_PARAMETER = "mcstat_{region}"
#: Upper bound of free normalisations, in units of the data/simulation yield ratio (min 1).
NORM_RANGE = 20.0


@dataclasses.dataclass(frozen=True)
class TemplateModel:
    """A built pyhf model with its likelihood and what was left out.

    ``masks``: per region, the observable bins that entered the fit; ``sources``: the
    systematic sources in the model; ``workspace``: the pyhf JSON (for ``pyhf``, cabinetry).
    """

    workspace: dict
    likelihood: Likelihood
    masks: dict[str, np.ndarray]
    sources: list[str]
    constrained_norms: list[str]
    notes: tuple[str, ...]

    @property
    def model(self) -> pyhf.pdf.Model:
        """The pyhf model (unbatched)."""
        return self.likelihood.model

    @property
    def data(self) -> np.ndarray:
        """Observed main data followed by the auxiliary data, in the model's order."""
        return self.likelihood.data

    def region_slices(self) -> dict[str, slice]:
        """Slice of each region's bins in the model's main-data vector."""
        slices, start = {}, 0
        for channel in self.model.config.channels:
            n = self.model.config.channel_nbins[channel]
            slices[channel] = slice(start, start + n)
            start += n
        return slices

    def prefit_pars(self) -> np.ndarray:
        """Parameters of the simulation as it is: priors' centres, normalisations at 1."""
        config = self.model.config
        pars = np.asarray(config.suggested_init(), dtype=float)
        for name in self.free_parameters():
            pars[config.par_slice(name)] = 1.0
        return pars

    def free_parameters(self) -> list[str]:
        """Names of the parameters without a prior (signal and free background norms)."""
        config = self.model.config
        return [name for name in config.par_order if not config.param_set(name).constrained]


def problem(fit_input: FitInput) -> str | None:
    """Why ``fit_input`` cannot be fitted, in one clause, or None."""
    signal = fit_input.signal
    for name, region in fit_input.regions().items():
        for what, array in region.arrays().items():
            if not np.isfinite(array).all():
                return f"the {name} region's {what} is not finite"
            if (array < 0).any():
                return (
                    f"the {name} region's {what} is negative in bins "
                    f"{np.flatnonzero(array < 0).tolist()}"
                )
        if region.data.sum() == 0:
            return f"the {name} region holds no data"
        if region.templates[signal].sum() == 0:
            return f"the signal template ({signal}) of the {name} region has no entries"
        simulated = sum(region.templates.values())
        orphans = np.flatnonzero((simulated == 0) & (region.data > 0))
        if orphans.size:
            return f"bins {orphans.tolist()} of the {name} region hold data but no simulated jets"
    return None


def build_model(fit_input: FitInput, mc_stat: bool = True) -> TemplateModel:
    """The pyhf workspace, model and data of ``fit_input`` (which :func:`problem` accepted)."""
    notes: list[str] = []
    channels, observations, masks = [], [], {}
    norms: dict[str, float] = {}  # free normalisation → initial value
    used_sources: set[str] = set()
    constrained: set[str] = set()
    data_total = sum(r.data.sum() for r in fit_input.regions().values())
    mc_total = sum(sum(r.templates.values()).sum() for r in fit_input.regions().values())
    for name, region in fit_input.regions().items():
        mask = sum(region.templates.values()) > 0
        masks[name] = mask
        ratio = region.data.sum() / sum(region.templates.values()).sum()
        samples = []
        for category in fit_input.categories:
            nominal = region.templates[category][mask]
            if nominal.sum() == 0:
                notes.append(f"{category} has no simulated jets in the {name} region; left out.")
                continue
            modifiers = []
            if category == fit_input.signal:
                norms[SIGNAL_NORM.format(region=name)] = ratio
                modifiers.append(_normfactor(SIGNAL_NORM.format(region=name)))
            else:
                norm = fit_input.background_norm(category)
                if norm.mode == "free_per_region":
                    norms[f"norm_{category}_{name}"] = ratio
                    modifiers.append(_normfactor(f"norm_{category}_{name}"))
                elif norm.mode == "free_shared":
                    norms[f"norm_{category}"] = data_total / mc_total
                    modifiers.append(_normfactor(f"norm_{category}"))
                elif norm.mode == "constrained":
                    kappa = 1.0 + norm.uncertainty
                    constrained.add(f"norm_{category}")
                    modifiers.append(_normsys(f"norm_{category}", kappa, 1.0 / kappa))
            if mc_stat and region.variances is not None:
                error = np.sqrt(region.variances[category][mask])
                modifiers.append(
                    {
                        "name": MC_STAT_PARAMETER.format(region=name),
                        "type": "staterror",
                        "data": error.tolist(),
                    }
                )
            for source in fit_input.sources:
                up = region.variation(source, "up")[category][mask]
                down = region.variation(source, "down")[category][mask]
                variation = _variation_modifiers(source, nominal, up, down)
                if variation:
                    used_sources.add(source)
                modifiers += variation
            samples.append({"name": category, "data": nominal.tolist(), "modifiers": modifiers})
        channels.append({"name": name, "samples": samples})
        observations.append({"name": name, "data": region.data[mask].tolist()})
    for source in fit_input.sources:
        if source not in used_sources:
            notes.append(f"Systematic source {source} changes no template; left out.")
    parameters = [
        {"name": n, "inits": [init], "bounds": [[0.0, NORM_RANGE * max(1.0, init)]]}
        for n, init in norms.items()
    ]
    workspace = {
        "channels": channels,
        "observations": observations,
        "measurements": [
            {
                "name": "scale_factor",
                "config": {"poi": POI, "parameters": parameters},
            }
        ],
        "version": "1.0.0",
    }
    # Built by the code above, so not schema-validated on every fit (jsonschema takes 80 % of a
    # small fit's time); tests validate it against pyhf's workspace schema.
    ws = pyhf.Workspace(workspace, validate=False)
    spec = {"channels": channels, "parameters": parameters}
    settings = {"poi_name": POI, "modifier_settings": MODIFIER_SETTINGS, "validate": False}
    model = pyhf.Model(spec, **settings)
    batched = pyhf.Model(spec, batch_size=2 * model.config.npars, **settings)
    data = np.asarray(ws.data(model), dtype=float)
    return TemplateModel(
        workspace=workspace,
        likelihood=Likelihood(model, batched, data),
        masks=masks,
        sources=sorted(used_sources),
        constrained_norms=sorted(constrained),
        notes=tuple(notes),
    )


def _normfactor(name: str) -> dict:
    return {"name": name, "type": "normfactor", "data": None}


def _normsys(name: str, hi: float, lo: float) -> dict:
    return {"name": name, "type": "normsys", "data": {"hi": hi, "lo": lo}}


def _variation_modifiers(
    source: str, nominal: np.ndarray, up: np.ndarray, down: np.ndarray
) -> list[dict]:
    """normsys (yield ratio) + histosys (shape at nominal yield) of one source on one sample;
    histosys alone with the raw templates when a variation is empty; nothing if unchanged."""
    if np.array_equal(up, nominal) and np.array_equal(down, nominal):
        return []
    total, up_total, down_total = nominal.sum(), up.sum(), down.sum()
    if up_total == 0 or down_total == 0:
        return [_histosys(source, up, down)]
    modifiers = []
    if not _same(up_total, total) or not _same(down_total, total):
        modifiers.append(_normsys(source, up_total / total, down_total / total))
    up_shape, down_shape = up * total / up_total, down * total / down_total
    if not _same(up_shape, nominal) or not _same(down_shape, nominal):
        modifiers.append(_histosys(source, up_shape, down_shape))
    return modifiers


def _same(a: np.ndarray | float, b: np.ndarray | float) -> bool:
    return bool(np.allclose(a, b, rtol=1e-12, atol=0.0))


def _histosys(name: str, up: np.ndarray, down: np.ndarray) -> dict:
    return {
        "name": name,
        "type": "histosys",
        "data": {"hi_data": up.tolist(), "lo_data": down.tolist()},
    }
