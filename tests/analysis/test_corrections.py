"""correctionlib delivery: schema-valid JSON that evaluates to exactly the fitted numbers, with a
flagged fallback (never NaN) where a fit failed."""

import itertools
import json
import math
import subprocess
import sys

import correctionlib
import correctionlib.schemav2 as cs
import numpy as np
import pytest

from boostjet.analysis.corrections import scale_factor_corrections, stored
from boostjet.analysis.fitinput import FitInput, FitLabel, Region
from boostjet.analysis.fitresult import Impact, ScaleFactorFit, failed_fit
from boostjet.analysis.templatefit import fit_scale_factor
from boostjet.errors import HistogramError
from boostjet.histograms import working_point_name

PT_EDGES = [300.0, 400.0, 550.0, 800.0]
WORKING_POINTS = {"eS30": 0.91, "eS50": 0.74, "eS70": 0.42}
SOURCES = ("jms", "mcstat")


def made_up_fit(tagger: str, wp: str, low: float, high: float, seed: int) -> ScaleFactorFit:
    """A successful fit result with distinct, irregular numbers per cell."""
    rng = np.random.default_rng(seed)
    sf, stat, syst = 0.8 + 0.3 * rng.random(), 0.05 * rng.random(), 0.07 * rng.random()
    return ScaleFactorFit(
        label=FitLabel(tagger, wp, low, high),
        signal="top",
        sf=sf,
        sf_error=math.hypot(stat, syst),
        sf_stat=stat,
        sf_syst=syst,
        eff_data=0.5,
        eff_data_error=0.01,
        eff_mc=0.5,
        eff_mc_error=0.01,
        impacts=tuple(Impact(s, 0.03 * rng.random(), -0.02 * rng.random()) for s in SOURCES),
        converged=True,
    )


def all_fits(tagger="particlenet", failed=()):
    fits = []
    for seed, (wp, (low, high)) in enumerate(
        itertools.product(WORKING_POINTS, itertools.pairwise(PT_EDGES))
    ):
        label = FitLabel(tagger, wp, low, high)
        if (wp, low) in failed:
            fits.append(failed_fit(label, "top", "the fail region holds no data"))
        else:
            fits.append(made_up_fit(tagger, wp, low, high, seed))
    return fits


def expected(fit: ScaleFactorFit, systematic: str) -> float:
    """What the JSON must hold: the fit's number to 15 significant digits."""
    return float(f"{_expected(fit, systematic):.15g}")


def _expected(fit: ScaleFactorFit, systematic: str) -> float:
    if not fit.ok:
        return {"nominal": 1.0, "up": 2.0, "down": 0.0, "stat_up": 2.0, "stat_down": 0.0}.get(
            systematic, 1.0
        )
    impacts = {i.source: i for i in fit.impacts}
    values = {
        "nominal": fit.sf,
        "up": fit.sf + fit.sf_error,
        "down": fit.sf - fit.sf_error,
        "stat_up": fit.sf + fit.sf_stat,
        "stat_down": fit.sf - fit.sf_stat,
    }
    for source in SOURCES:
        values[f"{source}_up"] = fit.sf + impacts[source].up
        values[f"{source}_down"] = fit.sf + impacts[source].down
    return values[systematic]


def test_working_point_names_follow_the_target_signal_efficiency():
    assert [working_point_name(e) for e in (0.3, 0.5, 0.7)] == ["eS30", "eS50", "eS70"]


def test_round_trip_evaluates_to_exactly_the_fitted_numbers(tmp_path):
    fits = all_fits(failed={("eS70", 550.0)}) + all_fits("deepak8")
    thresholds = {"particlenet": WORKING_POINTS, "deepak8": {"eS30": 0.8, "eS50": 0.6, "eS70": 0.3}}
    delivery = scale_factor_corrections(fits, thresholds, run="closure")
    path = delivery.write(tmp_path / "scale_factors.json")
    text = path.read_text()
    cs.CorrectionSet.model_validate_json(text)  # correctionlib's own schema
    assert "NaN" not in text
    check = subprocess.run(
        [sys.executable, "-m", "correctionlib.cli", "validate", "--version", "2", str(path)],
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    loaded = correctionlib.CorrectionSet.from_file(str(path))
    assert set(loaded) == {"particlenet", "particlenet_threshold", "deepak8", "deepak8_threshold"}
    systematics = ["nominal", "up", "down", "stat_up", "stat_down"]
    systematics += [f"{s}_{d}" for s in SOURCES for d in ("up", "down")]
    evaluated = 0
    for fit in fits:
        correction = loaded[fit.label.tagger]
        assert [v.name for v in correction.inputs] == ["systematic", "working_point", "pt"]
        centre = 0.5 * (fit.label.pt_low + fit.label.pt_high)
        for systematic in systematics:
            value = correction.evaluate(systematic, fit.label.working_point, centre)
            assert value == expected(fit, systematic), (fit.label, systematic)
            assert value == pytest.approx(_expected(fit, systematic), rel=1e-14, abs=1e-15)
            evaluated += 1
    assert evaluated == 2 * 9 * len(systematics)
    for tagger, wps in thresholds.items():
        for wp, threshold in wps.items():
            assert loaded[f"{tagger}_threshold"].evaluate(wp) == threshold


def test_pt_outside_the_fitted_range_is_clamped_to_the_nearest_bin():
    fits = all_fits()
    loaded = correctionlib.CorrectionSet.from_string(
        scale_factor_corrections(fits, {"particlenet": WORKING_POINTS}, run="r")
        .correction_set.model_dump_json(exclude_unset=True)
    )  # fmt: skip
    first = next(f for f in fits if f.label.working_point == "eS50" and f.label.pt_low == 300)
    last = next(f for f in fits if f.label.working_point == "eS50" and f.label.pt_high == 800)
    assert loaded["particlenet"].evaluate("nominal", "eS50", 150.0) == expected(first, "nominal")
    assert loaded["particlenet"].evaluate("nominal", "eS50", 5000.0) == expected(last, "nominal")
    with pytest.raises(Exception, match="eS40"):
        loaded["particlenet"].evaluate("nominal", "eS40", 450.0)


def test_failed_fits_are_delivered_as_flagged_fallbacks_never_nan(tmp_path):
    fits = all_fits(failed={("eS50", 400.0), ("eS30", 300.0)})
    delivery = scale_factor_corrections(fits, {"particlenet": WORKING_POINTS}, run="r")
    assert len(delivery.fallbacks) == 2
    assert any(
        f.startswith("particlenet eS50 pT 400–550 GeV: No scale factor for tagger particlenet")
        and "the fail region holds no data" in f
        for f in delivery.fallbacks
    )
    correction = json.loads(delivery.correction_set.model_dump_json())["corrections"][0]
    assert (
        "Fallback SF = 1 ± 100 % (fit failed) in: particlenet eS30 pT 300–400"
        in (correction["description"])
    )
    loaded = correctionlib.CorrectionSet.from_file(str(delivery.write(tmp_path / "sf.json")))[
        "particlenet"
    ]
    assert loaded.evaluate("nominal", "eS50", 450.0) == 1.0
    assert loaded.evaluate("up", "eS50", 450.0) == 2.0
    assert loaded.evaluate("down", "eS50", 450.0) == 0.0
    assert loaded.evaluate("jms_up", "eS50", 450.0) == 1.0


def test_a_missing_cell_is_a_fallback_and_inconsistent_bins_are_errors():
    fits = [
        f for f in all_fits() if not (f.label.working_point == "eS70" and f.label.pt_low == 400)
    ]
    delivery = scale_factor_corrections(fits, {"particlenet": WORKING_POINTS}, run="r")
    assert delivery.fallbacks == ("particlenet eS70 pT 400–550 GeV: no fit was given.",)
    with pytest.raises(HistogramError, match="not contiguous"):
        gap = [f for f in all_fits() if f.label.pt_low != 400]
        scale_factor_corrections(gap, {"particlenet": WORKING_POINTS}, run="r")
    with pytest.raises(HistogramError, match="Two scale-factor fits"):
        scale_factor_corrections(
            all_fits() + all_fits()[:1], {"particlenet": WORKING_POINTS}, run="r"
        )
    with pytest.raises(HistogramError, match="No working-point thresholds"):
        scale_factor_corrections(all_fits(), {}, run="r")
    with pytest.raises(HistogramError, match="is nan"):
        scale_factor_corrections(
            all_fits(), {"particlenet": {**WORKING_POINTS, "eS50": math.nan}}, run="r"
        )


def test_a_real_fit_result_round_trips():
    """End to end: a one-bin-per-region fit, delivered and evaluated."""
    region = lambda d, s: Region([d], {"top": [s]}, {"top": [0.01 * s]})  # noqa: E731
    label = FitLabel("particlenet", "eS50", 300.0, 400.0)
    fit = fit_scale_factor(FitInput(region(540.0, 600.0), region(460.0, 400.0), "top", label))
    assert fit.ok, fit.reason
    loaded = correctionlib.CorrectionSet.from_string(
        scale_factor_corrections([fit], {"particlenet": {"eS50": 0.7}}, run="r")
        .correction_set.model_dump_json(exclude_unset=True)
    )["particlenet"]  # fmt: skip
    assert loaded.evaluate("nominal", "eS50", 350.0) == stored(fit.sf)
    assert loaded.evaluate("stat_up", "eS50", 350.0) == stored(fit.sf + fit.sf_stat)
    mcstat_down = fit.sf + fit.impact("mcstat").down
    assert loaded.evaluate("mcstat_down", "eS50", 350.0) == stored(mcstat_down)
