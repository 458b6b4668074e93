"""The run's template-fit scale factors: template histogram → fits → report, summary.json and
the correctionlib file in the run directory.

The toy: ttbar (top jets with a soft-drop mass peak at 172 GeV, 'other' jets flat in mass;
weight 0.5, with ISR variations ±5 % in normalisation) and QCD (falling mass, weight 1, no
shower variations); scores independent of the mass. Pseudo-data is the simulation's expectation
(Asimov) with 10 % of the top jets moved to score 0: every working point's ε_data = 0.9 ε_MC,
so the true SF is 0.90 in every bin.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import correctionlib
import numpy as np
import pytest

from boostjet.analysis.report import analyse_run
from boostjet.histogram_io import write_histograms
from boostjet.histograms import (
    DATA_TRUTH,
    NOMINAL,
    score_histogram,
    score_key,
    template_histogram,
    template_key,
)
from boostjet.rundir import HISTOGRAMS, REPORT_MARKDOWN, SCALE_FACTORS, SUMMARY

PT_EDGES = [300.0, 500.0, 800.0]
THRESHOLDS = {"eS30": 0.75, "eS50": 0.6}
TRUE_SF = 0.9
WEIGHTS = {"ttbar": 0.5, "qcd": 1.0}
TAGGER = "particlenet"


def _jets(rng, dataset: str):
    """(truth, pt, score, sd_mass) arrays of a simulated dataset."""
    if dataset == "ttbar":
        parts = [
            ("top", 6000, rng.beta(5, 2, 6000), rng.normal(172, 15, 6000)),
            ("other", 1500, rng.beta(3, 3, 1500), rng.uniform(20, 280, 1500)),
        ]
    else:
        parts = [("qcd", 12000, rng.beta(2, 5, 12000), rng.exponential(60, 12000))]
    truth = np.concatenate([np.full(n, t) for t, n, _, _ in parts])
    score = np.concatenate([s for _, _, s, _ in parts])
    mass = np.concatenate([m for _, _, _, m in parts])
    pt = rng.uniform(PT_EDGES[0], PT_EDGES[-1], len(truth))
    return truth, pt, score, mass


def make_fit_run(directory: Path, thresholds=THRESHOLDS) -> tuple[Path, dict]:
    """Write the toy run; return it and the simulated jets (for independent checks)."""
    rng = np.random.default_rng(7)
    template = template_histogram(PT_EDGES, thresholds.values(), (20, 0.0, 300.0))
    score = score_histogram(PT_EDGES, 100)
    jets = {}
    for dataset in WEIGHTS:
        truth, pt, s, mass = jets[dataset] = _jets(rng, dataset)
        common = {"dataset": dataset, "truth": truth, "pt": pt, "score": s}
        score.fill(**common)
        template.fill(**common, systematic=NOMINAL, sd_mass=mass)
        if dataset == "ttbar":
            for name, factor in (("isr_up", 1.05), ("isr_down", 0.95)):
                weight = np.full(len(pt), factor)
                template.fill(**common, systematic=name, sd_mass=mass, weight=weight)
        # Asimov pseudo-data: the weighted expectation, 10 % of the top jets failing everything
        top = truth == "top"
        data = {"dataset": "data", "truth": DATA_TRUTH, "systematic": NOMINAL, "sd_mass": mass}
        weight = WEIGHTS[dataset] * np.where(top, TRUE_SF, 1.0)
        lost = WEIGHTS[dataset] * (1 - TRUE_SF) * top
        for scores, weights in ((s, weight), (np.zeros(len(pt)), lost)):
            template.fill(**data, pt=pt, score=scores, weight=weights)
            score.fill(dataset="data", truth=DATA_TRUTH, pt=pt, score=scores, weight=weights)
    datasets = {
        name: {
            "is_data": False,
            "signal": "top" if name == "ttbar" else None,
            "weight": weight,
            "events_read": 1,
            "events_processed": 1,
            "events_skipped": 0,
        }
        for name, weight in WEIGHTS.items()
    }
    datasets["data"] = {**datasets["qcd"], "is_data": True, "signal": "top", "weight": 1.0}
    summary = {
        "run": "toy-fit",
        "datasets": datasets,
        "taggers": {TAGGER: "top"},
        "regressors": {},
        "working_points": [0.3, 0.5],
        "thresholds": {TAGGER: thresholds},
        "scale_factors": {"taggers": None, "minor_background_uncertainty": 0.5},
    }
    directory.mkdir(parents=True, exist_ok=True)
    write_histograms(
        directory / HISTOGRAMS, {score_key(TAGGER): score, template_key(TAGGER): template}
    )
    (directory / SUMMARY).write_text(json.dumps(summary))
    return directory, jets


@pytest.fixture(scope="module")
def fitted_run(tmp_path_factory):
    directory, jets = make_fit_run(tmp_path_factory.mktemp("fit") / "run")
    return directory, jets, analyse_run(directory, write_html=False)


def _fits(analysis):
    return analysis["template_fits"]["fits"][TAGGER]


def test_injected_sf_of_0p90_is_recovered_in_every_bin(fitted_run):
    _, _, analysis = fitted_run
    fits = _fits(analysis)
    assert sorted(fits) == ["eS30", "eS50"]
    for cells in fits.values():
        assert len(cells) == len(PT_EDGES) - 1
        for fit in cells:
            assert fit["ok"], fit["reason"]
            assert abs(fit["sf"] - TRUE_SF) < min(fit["sf_error"], 0.01)
            # the subtraction cross-check is exact on Asimov data with the right normalisations
            assert fit["subtraction_sf"] == pytest.approx(TRUE_SF, rel=1e-6)


def test_eff_mc_is_the_passing_fraction_of_simulated_top_jets(fitted_run):
    _, jets, analysis = fitted_run
    truth, pt, score, mass = jets["ttbar"]
    for wp, threshold in THRESHOLDS.items():
        for fit in _fits(analysis)[wp]:
            low, high = fit["label"]["pt_low"], fit["label"]["pt_high"]
            top = (truth == "top") & (pt >= low) & (pt < high) & (mass >= 0) & (mass < 300)
            assert fit["eff_mc"] == pytest.approx(np.mean(score[top] >= threshold), rel=1e-9)


def test_shower_variations_enter_as_a_source_and_a_dataset_without_them_is_named(fitted_run):
    directory, _, analysis = fitted_run
    fit = _fits(analysis)["eS50"][0]
    assert "isr" in [impact["source"] for impact in fit["impacts"]]
    notes = [n for n in analysis["warnings"] if "shower-variation" in n]
    assert len(notes) == 1 and "Dataset qcd" in notes[0]
    report = (directory / REPORT_MARKDOWN).read_text()
    assert report.count(notes[0]) == 2  # in the scale-factor section and among the notes
    assert "subtraction (cross-check)" in report
    assert re.search(r"plots/fit_particlenet_eS\d\d\.png", report)


def test_correctionlib_file_round_trips_the_reported_scale_factors(fitted_run):
    directory, _, analysis = fitted_run
    assert analysis["outputs"]["scale_factors"] == SCALE_FACTORS
    cset = correctionlib.CorrectionSet.from_file(str(directory / SCALE_FACTORS))
    sf = cset[TAGGER]
    for wp, cells in _fits(analysis).items():
        assert cset[f"{TAGGER}_threshold"].evaluate(wp) == THRESHOLDS[wp]
        for fit in cells:
            centre = 0.5 * (fit["label"]["pt_low"] + fit["label"]["pt_high"])
            expected = {
                "nominal": fit["sf"],
                "up": fit["sf"] + fit["sf_error"],
                "down": fit["sf"] - fit["sf_error"],
                "stat_up": fit["sf"] + fit["sf_stat"],
                "stat_down": fit["sf"] - fit["sf_stat"],
            }
            for systematic, value in expected.items():
                assert sf.evaluate(systematic, wp, centre) == pytest.approx(value, rel=1e-13)


def test_empty_fail_region_is_one_sentence_and_everything_else_is_written(tmp_path):
    directory, _ = make_fit_run(tmp_path / "run", {"eS30": 0.0, "eS50": 0.0})
    analysis = analyse_run(directory, write_html=False)
    reasons = [fit["reason"] for cells in _fits(analysis).values() for fit in cells]
    assert len(reasons) == 4
    expected = "No scale factor for tagger particlenet, working point eS30, pT 300–500 GeV: "
    assert any(r.startswith(expected) and "fail region" in r for r in reasons)
    assert all(r.count(".") == 1 and r.endswith(".") for r in reasons)
    json.dumps(json.loads((directory / SUMMARY).read_text()), allow_nan=False)  # no NaN
    assert all(fit["sf"] is None for cells in _fits(analysis).values() for fit in cells)
    report = (directory / REPORT_MARKDOWN).read_text()
    assert all(r in report for r in reasons)
    cset = correctionlib.CorrectionSet.from_file(str(directory / SCALE_FACTORS))
    assert cset[TAGGER].evaluate("nominal", "eS50", 400.0) == 1.0  # the documented fallback
    assert math.isfinite(cset[TAGGER].evaluate("up", "eS50", 400.0))
