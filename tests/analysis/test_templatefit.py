"""Pass/fail template fit: a hand-computed case, closure on Asimov pseudo-data with known
scale factors, what a free background absorbs, toy pulls, and fits that cannot run."""

import json
import math

import hist
import numpy as np
import pyhf
import pytest

from boostjet.analysis.fitinput import (
    BackgroundNorm,
    FitInput,
    FitLabel,
    Region,
    fit_input_from_hist,
    merge_unsimulated_bins,
    variation_name,
)
from boostjet.analysis.fitresult import MC_STAT
from boostjet.analysis.templatefit import FitOptions, fit_scale_factor
from boostjet.analysis.templatemodel import build_model
from boostjet.errors import HistogramError

LABEL = FitLabel("particlenet", "eS50", 300.0, 400.0)
EDGES = np.linspace(0.0, 300.0, 16)  # soft-drop mass, GeV
CENTRES = 0.5 * (EDGES[1:] + EDGES[:-1])
# Truth category → (total simulated jets, pass fraction, MC weight): the weight sets the
# templates' sum of squared weights.
SAMPLES = {"top": (3000.0, 0.6, 0.2), "w": (800.0, 0.15, 0.2), "other": (1500.0, 0.2, 0.5),
           "qcd": (20000.0, 0.03, 2.0)}  # fmt: skip
BACKGROUNDS = {"w": BackgroundNorm("constrained", 0.2), "other": BackgroundNorm("constrained", 0.3)}


def shape(category: str, scale: float = 1.0) -> np.ndarray:
    """Unit-normalised mass shape; ``scale`` multiplies the jet mass (a jet energy scale)."""
    m = CENTRES / scale
    if category == "top":
        y = np.exp(-0.5 * ((m - 172.0) / 18.0) ** 2)
    elif category == "w":
        y = np.exp(-0.5 * ((m - 82.0) / 10.0) ** 2)
    elif category == "other":
        y = m**2 * np.exp(-m / 45.0)
    else:
        y = np.exp(-m / 55.0)
    return y / y.sum()


def templates(region: str, scale: float = 1.0, top_pass_factor: float = 1.0) -> dict:
    """Category → expected yields in ``region``; ``top_pass_factor`` moves top jets from pass
    to fail (total conserved)."""
    out = {}
    for category, (total, eff, _) in SAMPLES.items():
        if category == "top":
            eff *= top_pass_factor
        fraction = eff if region == "pass" else 1.0 - eff
        out[category] = total * fraction * shape(category, scale)
    return out


def region(region_name: str, data: np.ndarray, systematics: bool = True) -> Region:
    nominal = templates(region_name)
    variances = {c: SAMPLES[c][2] * t for c, t in nominal.items()}
    up, down = {}, {}
    if systematics:
        # jet mass scale ±2 % on the resonant categories; shower: ±5 % top pass fraction
        up["jms"] = {c: templates(region_name, 1.02)[c] for c in ("top", "w")}
        down["jms"] = {c: templates(region_name, 0.98)[c] for c in ("top", "w")}
        up["shower"] = {"top": templates(region_name, top_pass_factor=1.05)["top"]}
        down["shower"] = {"top": templates(region_name, top_pass_factor=0.95)["top"]}
    return Region(data, nominal, variances, up, down)


def pseudo_data(region_name: str, top_pass: float = 1.0, top_norm: float = 1.0,
                migrate: bool = True, qcd: float = 1.0) -> np.ndarray:  # fmt: skip
    """Asimov pseudo-data: the templates with the passing top jets weighted by ``top_pass``
    (the lost ones moved to fail if ``migrate``), all top jets by ``top_norm``, QCD by ``qcd``."""
    t = templates(region_name)
    if region_name == "pass":
        t["top"] = top_pass * t["top"]
    elif migrate:
        t["top"] = t["top"] + (1.0 - top_pass) * templates("pass")["top"]
    t["top"] = top_norm * t["top"]
    t["qcd"] = qcd * t["qcd"]
    return sum(t.values())


def fit_input(data_pass, data_fail, systematics=True, **kwargs) -> FitInput:
    return FitInput(
        region("pass", data_pass, systematics),
        region("fail", data_fail, systematics),
        signal="top",
        label=LABEL,
        edges=EDGES,
        backgrounds=kwargs.pop("backgrounds", BACKGROUNDS),
        **kwargs,
    )


def test_one_bin_per_region_gives_the_hand_computed_sf_and_binomial_errors():
    d_pass, d_fail, s_pass, s_fail, weight = 540.0, 460.0, 600.0, 400.0, 0.25
    inputs = FitInput(
        Region([d_pass], {"top": [s_pass]}, {"top": [weight * s_pass]}),
        Region([d_fail], {"top": [s_fail]}, {"top": [weight * s_fail]}),
        signal="top",
        label=LABEL,
    )
    result = fit_scale_factor(inputs)
    assert result.ok, result.reason
    n = d_pass + d_fail
    eff_data, eff_mc = d_pass / n, s_pass / (s_pass + s_fail)
    assert result.eff_data == pytest.approx(eff_data, abs=1e-6)
    assert result.sf == pytest.approx(eff_data / eff_mc, abs=1e-6)
    # Poisson D_pass, D_fail → binomial σ(ε) = √(ε(1 − ε)/N)
    stat = math.sqrt(eff_data * (1 - eff_data) / n) / eff_mc
    assert result.sf_stat == pytest.approx(stat, rel=1e-4)
    assert result.eff_data_error == pytest.approx(stat * eff_mc, rel=1e-4)
    # ε_MC from weighted jets: σ² = (F² Σw²_pass + P² Σw²_fail) / (P + F)⁴
    eff_mc_error = (
        math.sqrt(s_fail**2 * weight * s_pass + s_pass**2 * weight * s_fail)
        / (s_pass + s_fail) ** 2
    )
    assert result.eff_mc_error == pytest.approx(eff_mc_error, rel=1e-9)
    mc_part = result.sf * eff_mc_error / eff_mc
    assert result.sf_error == pytest.approx(math.hypot(stat, mc_part), rel=1e-4)
    assert result.impact(MC_STAT).up == pytest.approx(mc_part, rel=1e-3)
    assert result.sf_syst == pytest.approx(mc_part, rel=1e-3)


def test_asimov_closure_gives_sf_one_and_a_nonzero_systematic_uncertainty():
    result = fit_scale_factor(fit_input(pseudo_data("pass"), pseudo_data("fail")))
    assert result.ok, result.reason
    assert result.converged
    assert result.sf == pytest.approx(1.0, abs=1e-4)
    assert result.eff_mc == pytest.approx(0.6)
    assert result.sf_syst > 0.1 * result.sf_stat > 0
    assert result.sf_error == pytest.approx(math.hypot(result.sf_stat, result.sf_syst))
    for source in ("jms", "norm_w", "norm_other", MC_STAT):
        impact = result.impact(source)
        assert abs(impact.up) > 1e-4 and abs(impact.down) > 1e-4, source
    # the shower source only moves top jets between pass and fail, without changing a shape:
    # the free signal normalisations of pass and fail absorb it exactly, so ε_data (and the
    # SF against the nominal ε_MC) cannot move, beyond the refits' precision (EDM tolerance)
    shower = result.impact("shower")
    assert max(abs(shower.up), abs(shower.down)) < 0.05 * abs(result.impact("jms").up)
    for name in ("jms", "shower", "norm_w"):
        parameter = result.parameter(name)
        assert parameter.pull == pytest.approx(0.0, abs=1e-3)
        assert 0 < parameter.constraint <= 1.0 + 1e-3
    assert result.gof.chi2 == pytest.approx(0.0, abs=1e-6)
    assert result.gof.ndof == 30 - 4  # 2 × 15 bins; μ_pass, μ_fail, 2 free QCD norms
    summary = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert summary["ok"] is True and summary["sf"] == result.sf
    assert (
        summary["yields"]["pass"]["postfit"]["qcd"] == result.yields["pass"].postfit["qcd"].tolist()
    )


def test_stat_error_equals_a_pyhf_minuit_refit_with_the_priors_fixed():
    """Independent route: pyhf's own MINUIT fit (its HESSE, not ours) with every constrained
    parameter fixed at the post-fit value; σ_stat by hand from the μ covariance."""
    rng = np.random.default_rng(7)
    inputs = fit_input(
        rng.poisson(pseudo_data("pass", 0.9)).astype(float),
        rng.poisson(pseudo_data("fail", 0.9)).astype(float),
    )
    result = fit_scale_factor(inputs)
    assert result.ok, result.reason
    built = build_model(inputs)
    config = built.model.config
    best = np.array([p.value for p in result.parameters])
    names = [p.name for p in result.parameters]
    assert names == config.par_names
    fixed = [p.pull is not None for p in result.parameters]
    previous = pyhf.get_backend()
    pyhf.set_backend("numpy", pyhf.optimize.minuit_optimizer(tolerance=1e-4))
    try:
        pars, fit = pyhf.infer.mle.fit(
            built.data, built.model, init_pars=best.tolist(), fixed_params=fixed,
            return_result_obj=True,
        )  # fmt: skip
    finally:
        pyhf.set_backend(*previous)
    index = [config.par_slice(f"mu_{r}").start for r in ("pass", "fail")]
    assert pars[index] == pytest.approx(best[index], rel=1e-4)
    cov = np.array(fit.minuit.covariance)[np.ix_(index, index)]
    yields = {r: result.yields[r].postfit["top"].sum() for r in ("pass", "fail")}
    mu = best[index]
    s_pass, s_fail = yields["pass"] / mu[0], yields["fail"] / mu[1]
    total = yields["pass"] + yields["fail"]
    gradient = np.array([s_pass * yields["fail"], -s_fail * yields["pass"]]) / total**2
    stat = math.sqrt(gradient @ cov @ gradient) / result.eff_mc
    assert result.sf_stat == pytest.approx(stat, rel=2e-3)
    assert result.eff_data == pytest.approx(yields["pass"] / total, rel=1e-9)


@pytest.mark.parametrize(
    ("top_norm", "migrate"),
    [(1.0, True), (1.3, True), (1.0, False)],
    ids=["migrated", "signal-normalisation-1.3", "lost"],
)
def test_passing_signal_reweighted_by_0p9_is_measured(top_norm, migrate):
    inputs = fit_input(
        pseudo_data("pass", 0.9, top_norm, migrate), pseudo_data("fail", 0.9, top_norm, migrate)
    )
    result = fit_scale_factor(inputs)
    assert result.ok, result.reason
    eff_mc = 0.6
    # jets lost rather than migrated: the true ε_data is 0.9 P / (0.9 P + F), SF ≠ 0.9
    expected = 0.9 if migrate else 0.9 / (0.9 * eff_mc + (1 - eff_mc))
    assert result.sf == pytest.approx(expected, abs=1e-3)
    assert abs(result.sf - expected) < 0.1 * result.sf_error
    assert result.parameter("mu_pass").value == pytest.approx(0.9 * top_norm, rel=1e-3)


def test_fluctuated_data_with_sf_0p9_measures_it_within_its_uncertainty():
    rng = np.random.default_rng(2024)
    inputs = fit_input(
        rng.poisson(pseudo_data("pass", 0.9)).astype(float),
        rng.poisson(pseudo_data("fail", 0.9)).astype(float),
    )
    result = fit_scale_factor(inputs)
    assert result.ok, result.reason
    assert abs(result.sf - 0.9) < 2 * result.sf_error
    assert 0.01 < result.sf_error < 0.1
    assert result.gof.p_value > 0.01


def test_qcd_scaled_by_1p5_in_data_is_absorbed_by_its_free_normalisation():
    data = {r: pseudo_data(r, qcd=1.5) for r in ("pass", "fail")}
    result = fit_scale_factor(fit_input(data["pass"], data["fail"]))
    assert result.ok, result.reason
    assert result.sf == pytest.approx(1.0, abs=1e-4)
    assert result.parameter("norm_qcd_pass").value == pytest.approx(1.5, rel=1e-4)
    assert result.parameter("norm_qcd_fail").value == pytest.approx(1.5, rel=1e-4)
    # what subtracting MC-normalised background gives on the same data (the old method)
    background = {r: sum(t for c, t in templates(r).items() if c != "top").sum() for r in data}
    passing = data["pass"].sum() - background["pass"]
    subtracted = passing / (passing + data["fail"].sum() - background["fail"]) / 0.6
    assert abs(subtracted - 1.0) > 0.5


@pytest.mark.slow
def test_toy_pulls_of_the_sf_have_mean_zero_and_width_one():
    """200 Poisson toys of a Gaussian peak on a falling background, SF = 1 true."""
    rng = np.random.default_rng(11)
    peak = np.exp(-0.5 * ((CENTRES - 172.0) / 20.0) ** 2)
    falling = np.exp(-CENTRES / 70.0)
    signal, background = 600.0 * peak / peak.sum(), 3000.0 * falling / falling.sum()
    expected = {"pass": (0.6 * signal, 0.1 * background), "fail": (0.4 * signal, 0.9 * background)}
    pulls = []
    for _ in range(200):
        regions = [
            Region(rng.poisson(s + b).astype(float), {"top": s, "qcd": b})
            for s, b in expected.values()
        ]
        result = fit_scale_factor(FitInput(*regions, signal="top", label=LABEL))
        assert result.ok, result.reason
        pulls.append((result.sf - 1.0) / result.sf_error)
    pulls = np.array(pulls)
    # standard errors of mean and width for 200 unit-Gaussian pulls: 0.07 and 0.05
    assert abs(pulls.mean()) < 0.2
    assert 0.85 < pulls.std() < 1.15


def test_failure_names_the_measurement_and_why_in_one_sentence():
    data_pass, data_fail = pseudo_data("pass"), pseudo_data("fail")
    empty_signal = fit_input(data_pass, data_fail)
    empty_signal.passing.templates["top"][:] = 0.0
    cases = {
        "the fail region holds no data": fit_input(data_pass, 0 * data_fail),
        "the signal template (top) of the pass region has no entries": empty_signal,
        "template of qcd is not finite": fit_input(data_pass, data_fail),
    }
    cases["template of qcd is not finite"].failing.templates["qcd"][3] = np.nan
    for clause, inputs in cases.items():
        result = fit_scale_factor(inputs)
        assert not result.ok
        assert result.reason.startswith(
            "No scale factor for tagger particlenet, working point eS50, pT 300–400 GeV: "
        )
        assert clause in result.reason
        assert result.reason.endswith(".") and result.reason.count(". ") == 0
        assert result.sf is None and result.sf_error is None and not result.converged
        text = json.dumps(result.to_dict(), allow_nan=False)
        assert json.loads(text)["ok"] is False


def test_a_fit_stopped_by_the_call_limit_reports_non_convergence():
    inputs = fit_input(pseudo_data("pass", 0.8), pseudo_data("fail", 0.8), systematics=False)
    result = fit_scale_factor(inputs, FitOptions(max_calls=1))
    assert not result.ok
    assert "the fit did not converge (call limit reached" in result.reason
    assert fit_scale_factor(inputs).ok  # the same input converges without the limit


def test_yields_pre_and_post_fit_per_sample():
    data = {r: pseudo_data(r, qcd=1.5) for r in ("pass", "fail")}
    result = fit_scale_factor(fit_input(data["pass"], data["fail"]))
    for name in ("pass", "fail"):
        y = result.yields[name]
        assert set(y.prefit) == {"top", "w", "other", "qcd"}
        for category, template in templates(name).items():
            np.testing.assert_allclose(y.prefit[category], template, rtol=1e-12)
        np.testing.assert_allclose(y.postfit["qcd"], 1.5 * templates(name)["qcd"], rtol=1e-3)
        np.testing.assert_allclose(sum(y.postfit.values()), data[name], rtol=1e-4)
        assert (y.postfit_error > 0).all()
        np.testing.assert_array_equal(y.data, data[name])
    np.testing.assert_array_equal(result.edges, EDGES)


def test_goodness_of_fit_is_the_saturated_deviance_of_the_post_fit_yields_and_pulls():
    rng = np.random.default_rng(3)
    data = {r: rng.poisson(pseudo_data(r)).astype(float) for r in ("pass", "fail")}
    result = fit_scale_factor(fit_input(data["pass"], data["fail"]))
    chi2 = sum(p.pull**2 for p in result.parameters if p.pull is not None)
    for name in ("pass", "fail"):
        nu, n = sum(result.yields[name].postfit.values()), data[name]
        chi2 += 2 * np.sum(nu - n + np.where(n > 0, n * np.log(np.where(n > 0, n, 1) / nu), 0))
    assert result.gof.chi2 == pytest.approx(chi2, rel=1e-9)
    assert 10 < result.gof.chi2 < 80  # 26 degrees of freedom


def test_unused_source_empty_background_and_empty_bins_are_noted_not_fatal():
    inputs = fit_input(pseudo_data("pass"), pseudo_data("fail"))
    nominal = inputs.passing.templates
    inputs.passing.up["flat"] = {"qcd": nominal["qcd"].copy()}
    inputs.passing.down["flat"] = {"qcd": nominal["qcd"].copy()}
    inputs.failing.up["flat"], inputs.failing.down["flat"] = {}, {}
    inputs.passing.data[:] -= nominal["other"]
    nominal["other"][:] = 0.0
    inputs.passing.up["jms"]["w"][:], inputs.passing.down["jms"]["w"][:] = 0.0, 0.0
    result = fit_scale_factor(inputs)
    assert result.ok, result.reason
    assert result.sf == pytest.approx(1.0, abs=1e-4)
    assert result.impact("flat").up == 0.0 and result.impact("flat").down == 0.0
    assert "Systematic source flat changes no template; left out." in result.notes
    assert "other has no simulated jets in the pass region; left out." in result.notes
    np.testing.assert_array_equal(result.yields["pass"].postfit["other"], 0.0)


def test_shared_and_fixed_background_normalisations():
    data = {r: pseudo_data(r, qcd=1.5) for r in ("pass", "fail")}
    shared = {**BACKGROUNDS, "qcd": BackgroundNorm("free_shared")}
    result = fit_scale_factor(fit_input(data["pass"], data["fail"], backgrounds=shared))
    assert result.parameter("norm_qcd").value == pytest.approx(1.5, rel=1e-4)
    assert result.sf == pytest.approx(1.0, abs=1e-4)
    assert result.gof.ndof == 30 - 3
    fixed = {**BACKGROUNDS, "qcd": BackgroundNorm("fixed")}
    result = fit_scale_factor(
        fit_input(pseudo_data("pass"), pseudo_data("fail"), backgrounds=fixed)
    )
    assert not any(p.name.startswith("norm_qcd") for p in result.parameters)
    assert result.sf == pytest.approx(1.0, abs=1e-4)
    assert result.gof.ndof == 30 - 2


def test_a_fit_stuck_at_a_parameter_limit_names_it():
    """Three times the simulated W jets in data: the W normalisation (κ = 1.2) would need
    +6σ; its ±5σ limit stops it, and the reason says where."""
    data = {r: pseudo_data(r) + 2 * templates(r)["w"] for r in ("pass", "fail")}
    result = fit_scale_factor(fit_input(data["pass"], data["fail"], systematics=False))
    assert (
        "the fit ended with norm_w at its limit 5 (the edge of its prior's range)" in result.reason
    )


def test_malformed_inputs_raise_a_histogram_error():
    data = pseudo_data("pass")
    with pytest.raises(HistogramError, match="shape"):
        FitInput(Region(data, {"top": data}), Region(data[:-1], {"top": data[:-1]}), "top")
    with pytest.raises(HistogramError, match="Signal category 'w'"):
        FitInput(Region(data, {"top": data}), Region(data, {"top": data}), "w")
    with pytest.raises(HistogramError, match="reserved prefix"):
        bad = {"top": data}
        FitInput(Region(data, bad, up={"mu_x": bad}, down={"mu_x": bad}), Region(data, bad), "top")
    with pytest.raises(HistogramError, match="needs uncertainty > 0"):
        BackgroundNorm("constrained")


def test_fit_input_from_hist_takes_every_template_variance_and_variation():
    inputs = fit_input(pseudo_data("pass"), pseudo_data("fail"))
    truths, systematics = (
        ["top", "w", "other", "qcd"],
        ["nominal"] + [variation_name(s, d) for s in ("jms", "shower") for d in ("up", "down")],
    )
    mass = hist.axis.Variable(EDGES, name="msd")
    mc = hist.Hist(
        hist.axis.StrCategory(truths, name="truth"),
        hist.axis.StrCategory(["pass", "fail"], name="region"),
        hist.axis.StrCategory(systematics, name="systematic"),
        mass,
        storage=hist.storage.Weight(),
    )
    data = hist.Hist(hist.axis.StrCategory(["pass", "fail"], name="region"), mass)
    for r, reg in enumerate(inputs.regions().values()):
        data.view()[r] = reg.data
        for t, truth in enumerate(truths):
            for s, systematic in enumerate(systematics):
                source, _, direction = systematic.rpartition("_")
                values = reg.templates[truth] if s == 0 else reg.variation(source, direction)[truth]
                mc.view()[t, r, s] = np.stack([values, reg.variances[truth]], axis=-1)
    converted = fit_input_from_hist(mc, data, signal="top", label=LABEL, backgrounds=BACKGROUNDS)
    assert converted.sources == ["jms", "shower"]
    np.testing.assert_array_equal(converted.edges, EDGES)
    for name, reg in converted.regions().items():
        original = inputs.regions()[name]
        np.testing.assert_array_equal(reg.data, original.data)
        for truth in truths:
            np.testing.assert_array_equal(reg.templates[truth], original.templates[truth])
            np.testing.assert_array_equal(reg.variances[truth], original.variances[truth])
            for source in ("jms", "shower"):
                for direction in ("up", "down"):
                    np.testing.assert_array_equal(
                        reg.variation(source, direction)[truth],
                        original.variation(source, direction)[truth],
                    )
    with pytest.raises(HistogramError, match="exactly one observable axis"):
        fit_input_from_hist(mc, mc, signal="top")


def test_workspace_is_valid_pyhf_and_the_callers_backend_is_kept():
    inputs = fit_input(pseudo_data("pass"), pseudo_data("fail"))
    workspace = build_model(inputs).workspace
    pyhf.schema.validate(workspace, "workspace.json")
    assert pyhf.Workspace(workspace).model().config.poi_name == "mu_pass"
    before = pyhf.get_backend()
    fit_scale_factor(inputs, FitOptions(mc_stat=False))
    assert pyhf.get_backend() == before


def test_bins_with_data_but_no_simulation_are_merged_with_their_right_neighbours():
    def one_region(data, simulated):
        varied = {"s": {"top": simulated}}
        return Region(data, {"top": simulated}, {"top": simulated}, varied, varied)

    edges = np.array([0.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0])
    passing = one_region([1, 0, 2, 3, 0, 4], [0, 0, 1, 2, 0, 0])
    failing = one_region([0, 0, 1, 0, 5, 0], [1, 0, 0, 1, 2, 0])
    up = {"s": {"top": failing.templates["top"]}}
    failing = Region(failing.data, failing.templates, failing.variances, up, up)
    merged = merge_unsimulated_bins(FitInput(passing, failing, "top", LABEL, edges))
    # groups: [0, 1, 2] (pass data 3, simulation 1), [3], [4, 5] (the last bin's pass data
    # has no simulation: it joins the group before it)
    np.testing.assert_array_equal(merged.edges, [0.0, 30.0, 40.0, 60.0])
    np.testing.assert_array_equal(merged.passing.data, [3, 3, 4])
    np.testing.assert_array_equal(merged.passing.templates["top"], [1, 2, 0])
    np.testing.assert_array_equal(merged.failing.data, [1, 0, 5])
    np.testing.assert_array_equal(merged.failing.variances["top"], [1, 1, 2])
    np.testing.assert_array_equal(merged.failing.up["s"]["top"], [1, 1, 2])
    untouched = FitInput(one_region([1, 2], [1, 1]), one_region([0, 1], [0, 1]), "top")
    assert merge_unsimulated_bins(untouched) is untouched


def test_a_free_normalisation_pushed_below_zero_is_fixed_at_zero():
    """Pass data with fewer jets than the simulated signal and no room for QCD: the QCD
    normalisation of the pass region ends at its bound 0. The fit equals the independent one
    whose pass region has no QCD template at all."""
    data = {"pass": pseudo_data("pass") - templates("pass")["qcd"], "fail": pseudo_data("fail")}
    data["pass"] = 0.9 * data["pass"]
    result = fit_scale_factor(fit_input(data["pass"], data["fail"], systematics=False))
    assert result.ok, result.reason
    assert "Parameter norm_qcd_pass at its limit 0." in result.notes
    without = fit_input(data["pass"], data["fail"], systematics=False)
    no_qcd = {**without.passing.templates, "qcd": 0 * without.passing.templates["qcd"]}
    passing = Region(
        without.passing.data, no_qcd, {**without.passing.variances, "qcd": 0 * no_qcd["qcd"]}
    )
    reference = fit_scale_factor(
        FitInput(passing, without.failing, "top", LABEL, EDGES, BACKGROUNDS)
    )
    assert reference.ok, reference.reason
    assert result.sf == pytest.approx(reference.sf, rel=1e-4)
    assert result.sf_stat == pytest.approx(reference.sf_stat, rel=1e-3)
    assert result.sf_error == pytest.approx(reference.sf_error, rel=1e-3)
