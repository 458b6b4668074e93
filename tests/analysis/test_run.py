"""analyse_run on a realistic toy run directory: files, numbers by an independent route, errors.

The toy (``make_toy_run``): simulation ttbar (top jets, plus W and unmatched 'other' jets, weight
0.5), W+jets and QCD (weight 1); data is the mixture the top selection expects, with 10 % of its
top jets failing every tagger (moved to score 0), so every top-tagging SF is 0.9. The top network
scores top ~Beta(5, 2) and QCD ~Beta(2, 5); the W network is deliberately worse than the
cut-based W tagger. Mass responses ~N(1, 0.15) (soft drop) vs N(1, 0.1) (network); energy
responses with σ/E = 0.8/√E ⊕ 0.05 (network) against worse reconstructed and linear energies.
"""

from __future__ import annotations

import gzip
import json
import re
import shutil
from collections import defaultdict
from pathlib import Path

import hist
import numpy as np
import pytest

from boostjet.analysis import (
    energy_resolution,
    fit_energy_resolution,
    report,
    resolution_table,
    scale_factors,
    tagger_performance,
)
from boostjet.analysis.report import analyse_run, write_report
from boostjet.analysis.results import NO_DATA
from boostjet.analysis.rundata import dataset_metadata, regressor_kinds, tagger_signals
from boostjet.errors import HistogramError
from boostjet.histogram_io import read_histograms, write_histograms
from boostjet.rundir import HISTOGRAMS

TRUTH = ["qcd", "top", "w", "other", "data"]
DATA_LOSS = 0.1  # fraction of data top jets that fail every tagger: SF = 0.9
SCORES = {  # tagger → truth → (fraction inside the cut-based window, beta a, beta b)
    "particlenet": {"top": (1, 5, 2), "qcd": (1, 2, 5), "w": (1, 3, 4), "other": (1, 3, 3)},
    "cut_based_top": {
        "top": (0.7, 4, 3),
        "qcd": (0.25, 2, 4),
        "w": (0.3, 3, 3),
        "other": (0.4, 3, 3),
    },
    "cut_based_w": {
        "w": (0.7, 4, 2),
        "qcd": (0.25, 2, 4),
        "top": (0.2, 3, 3),
        "other": (0.3, 3, 3),
    },
    "dnn_w": {"w": (1, 3, 2.5), "qcd": (1, 2.5, 3), "top": (1, 3, 3), "other": (1, 3, 3)},
}
MASS_SIGMA = {"mass_sd": 0.15, "mass_iml": 0.1}
FULL_PT_EDGES = [300, 500, 1200]
FULL_ABSETA_EDGES = [0.0, 1.2, 2.4]
ENERGY_MODEL = {  # regressor → (scale, a [√GeV], b)
    "energy_reco": (0.92, 1.2, 0.08),
    "energy_linear_energy_dnn": (1.0, 1.0, 0.07),
    "energy_dnn": (1.0, 0.8, 0.05),
}


def make_toy_run(directory: Path, *, data: bool = True, full: bool = True) -> Path:
    """Write a toy run into ``directory``; ``full=False``: top taggers only, one pT bin, one
    working point, no regressors and no training log (few plots: a fast test).
    """
    rng = np.random.default_rng(20240611)
    pt_edges = FULL_PT_EDGES if full else [300, 1200]
    taggers = (
        {"cut_based_top": "top", "particlenet": "top", "cut_based_w": "w", "dnn_w": "w"}
        if full
        else {"cut_based_top": "top", "particlenet": "top"}
    )
    regressors = {"mass_sd": "mass", "mass_iml": "mass"} if full else {}
    regressors |= {r: "energy" for r in ENERGY_MODEL if full}
    composition = {  # dataset → truth → jets
        "ttbar": {"top": 40_000, "w": 4_000, "other": 8_000},
        "wjets": {"w": 15_000},
        "qcd": {"qcd": 30_000},
    }
    # data = what the top selection expects: ttbar × 0.5 + QCD × 1
    data_truth = {"top": 20_000, "w": 2_000, "other": 4_000, "qcd": 30_000}

    hists = {f"score_{t}": _score_histogram(pt_edges) for t in taggers}
    for dataset, classes in composition.items():
        for truth, n in classes.items():
            pt = _pt(rng, n)
            for tagger in taggers:
                hists[f"score_{tagger}"].fill(
                    dataset=dataset, truth=truth, pt=pt, score=_score(rng, tagger, truth, n)
                )
    if data:
        for truth, n in data_truth.items():
            pt = _pt(rng, n)
            lost = (rng.random(n) < DATA_LOSS) if truth == "top" else np.zeros(n, bool)
            for tagger in taggers:
                score = np.where(lost, 0.0, _score(rng, tagger, truth, n))
                hists[f"score_{tagger}"].fill(dataset="data", truth="data", pt=pt, score=score)

    for dataset, n in (("ttbar", 20_000), ("wjets", 10_000)):
        pt, abseta = _pt(rng, n), rng.uniform(0, 2.4, n)
        energy = pt * np.cosh(abseta)
        for regressor, kind in regressors.items():
            if kind == "mass":
                response = rng.normal(1.0, MASS_SIGMA[regressor], n)
            else:
                scale, a, b = ENERGY_MODEL[regressor]
                response = rng.normal(scale, scale * np.hypot(a / np.sqrt(energy), b))
            key = f"response_{regressor}"
            hists.setdefault(key, _response_histogram(pt_edges, FULL_ABSETA_EDGES))
            hists[key].fill(dataset=dataset, pt=pt, abseta=abseta, response=response)
            if kind == "energy":
                key = f"energy_response_{regressor}"
                hists.setdefault(key, _energy_histogram())
                hists[key].fill(dataset=dataset, energy_true=energy, response=response)
    control = hist.Hist(
        hist.axis.StrCategory([], name="dataset", growth=True),
        hist.axis.StrCategory(TRUTH, name="truth", growth=True),
        hist.axis.Variable(pt_edges, name="pt"),
        hist.axis.Regular(60, 0, 300, name="sd_mass"),
        storage=hist.storage.Weight(),
    )
    control.fill(dataset="qcd", truth="qcd", pt=_pt(rng, 1000), sd_mass=rng.uniform(0, 300, 1000))
    hists["control_sd_mass"] = control

    datasets = {
        "ttbar": {
            **_dataset(False, 0.5, "top", 26_000, 52_000),
            "skipped": [
                {"file": "ttbar_3.root", "entry_start": 0, "entry_stop": 100, "reason": "OSError"}
            ],
        },
        "wjets": {**_dataset(False, 1.0, "w", 15_000, 15_000), "events_read": 15_150},
        "qcd": _dataset(False, 1.0, None, 30_000, 30_000),
    }
    if data:
        datasets["data"] = _dataset(True, 1.0, "top", 56_000, 56_000)
    summary = {
        "run": "toy-boosted",
        "config_digest": "0123abcd",
        "datasets": datasets,
        "taggers": taggers,
        "regressors": regressors,
        "working_points": [0.3, 0.5, 0.7] if full else [0.5],
        "timing": {"wall_s": 12.5},
    }
    if full:
        summary["loss_curves"] = {"broken": {"epoch": [1, 2], "val_loss": [1.0]}}
    directory.mkdir(parents=True, exist_ok=True)
    write_histograms(directory / HISTOGRAMS, hists)
    (directory / "summary.json").write_text(json.dumps(summary, indent=2))
    if full:
        history = {
            "epoch": list(range(1, 21)),
            "train_loss": [0.7 * 0.9**e + 0.2 for e in range(20)],
            "val_loss": [0.7 * 0.9**e + 0.22 + 0.002 * max(0, e - 12) ** 2 for e in range(20)],
        }
        (directory / "training" / "particlenet").mkdir(parents=True)
        (directory / "training" / "particlenet" / "history.json").write_text(json.dumps(history))
    return directory


def _dataset(is_data: bool, weight: float, signal: str | None, events: int, jets: int) -> dict:
    return {
        "is_data": is_data,
        "weight": weight,
        "signal": signal,
        "events_read": events + 100,
        "events_processed": events,
        "events_skipped": 100,
        "fat_jets_selected": jets,
    }


def _pt(rng: np.random.Generator, n: int) -> np.ndarray:
    """A falling spectrum from 300 GeV; a few jets beyond the last edge land in the overflow."""
    return 300.0 + rng.exponential(250.0, n)


def _score(rng: np.random.Generator, tagger: str, truth: str, n: int) -> np.ndarray:
    inside, a, b = SCORES[tagger][truth]
    return np.where(rng.random(n) < inside, rng.beta(a, b, n), 0.0)


def _score_histogram(pt_edges: list[float]) -> hist.Hist:
    return hist.Hist(
        hist.axis.StrCategory([], name="dataset", growth=True),
        hist.axis.StrCategory(TRUTH, name="truth", growth=True),
        hist.axis.Variable(pt_edges, name="pt"),
        hist.axis.Regular(1000, 0, 1, name="score"),
        storage=hist.storage.Weight(),
    )


def _response_histogram(pt_edges: list[float], abseta_edges: list[float]) -> hist.Hist:
    return hist.Hist(
        hist.axis.StrCategory([], name="dataset", growth=True),
        hist.axis.Variable(pt_edges, name="pt"),
        hist.axis.Variable(abseta_edges, name="abseta"),
        hist.axis.Regular(400, 0, 2, name="response"),
        storage=hist.storage.Weight(),
    )


def _energy_histogram() -> hist.Hist:
    return hist.Hist(
        hist.axis.StrCategory([], name="dataset", growth=True),
        hist.axis.Variable([300, 500, 700, 1000, 1500, 2500], name="energy_true"),
        hist.axis.Regular(400, 0, 2, name="response"),
        storage=hist.storage.Weight(),
    )


@pytest.fixture(scope="module")
def full_toy(tmp_path_factory) -> Path:
    """The full toy run directory, before any analysis (copy it: the analysis writes into it)."""
    return make_toy_run(tmp_path_factory.mktemp("full") / "run")


def _analysed_copy(toy: Path, directory: Path) -> tuple[Path, dict, dict]:
    """(run directory, summary before, returned analysis) of a copy of ``toy`` analysed."""
    shutil.copytree(toy, directory)
    before = json.loads((directory / "summary.json").read_text())
    return directory, before, analyse_run(directory)


@pytest.fixture(scope="module")
def full_run(full_toy, tmp_path_factory) -> tuple[Path, dict, dict]:
    """The full toy analysed once with every figure: (run directory, summary before, analysis)."""
    return _analysed_copy(full_toy, tmp_path_factory.mktemp("figures") / "run")


@pytest.fixture(scope="module")
def full_numbers(full_toy, tmp_path_factory) -> tuple[Path, dict, dict]:
    """As ``full_run`` without drawing the figures (most of the time), for tests of numbers and
    report text: the report then has no figures, the numbers are the same."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(report, "make_figures", lambda run, results: defaultdict(list))
        return _analysed_copy(full_toy, tmp_path_factory.mktemp("numbers") / "run")


def close(got, expected) -> None:
    """JSON numbers (None for NaN / inf) equal to the direct results to rounding."""
    expected = np.asarray(expected, float)
    expected = np.where(np.isfinite(expected), expected, np.nan)
    np.testing.assert_allclose(np.asarray(got, float), expected, rtol=1e-12, equal_nan=True)


def test_writes_reports_plots_and_keeps_the_summary(full_run):
    directory, before, analysis = full_run
    markdown = (directory / "report.md").read_text()
    html = (directory / "report.html").read_text()
    plots = analysis["outputs"]["plots"]
    assert len(plots) == 26
    for png in plots:
        path = directory / png
        assert path.read_bytes()[:4] == b"\x89PNG"
        assert path.with_suffix(".pdf").read_bytes()[:4] == b"%PDF"
        assert f"]({png})" in markdown
    # self-contained: every image inline, no external URL (':' is no base64 character)
    assert html.count('<img src="data:image/png;base64,') == len(plots)
    assert "://" not in html
    assert set(re.findall(r'(?:src|href)="(data:|#)?', html)) == {"data:", "#"}
    summary = json.loads((directory / "summary.json").read_text())
    assert {k: v for k, v in summary.items() if k != "analysis"} == before
    assert summary["analysis"] == analysis
    for text in (
        "| ttbar | simulation | top | 0.5 | 26100 | 26000 | 100 | 52000 |",
        "## Comparison to baselines",
        "simulated background (every simulated truth class other than the signal",
        "### particlenet eS50",
        "## Energy resolution σ/E = a/√E ⊕ b ⊕ c/E",
        "![Training and validation loss per epoch of particlenet.](plots/loss_particlenet.png)",
        "Dataset wjets: events read (15150) ≠ processed (15000) + skipped (100).",
        "- ttbar: an unknown number of events, ttbar_3.root entries 0–100: OSError",
        "training log of broken: lists of different lengths",
    ):
        assert text in markdown


def test_numbers_equal_those_of_the_analysis_functions(full_numbers):
    directory, before, analysis = full_numbers
    hists = read_histograms(directory / HISTOGRAMS)
    metadata = before["datasets"]
    for tagger, signal in before["taggers"].items():
        perf = tagger_performance(
            hists, tagger, signal=signal, metadata=metadata, working_point_targets=[0.3, 0.5, 0.7]
        )
        got = analysis["taggers"][tagger]
        close([got["auc"], got["balanced_accuracy"]], [perf.inclusive.auc, perf.inclusive.accuracy])
        close([c["auc"] for c in got["per_pt"]], [c.auc for c in perf.per_pt])
        for rejection in perf.inclusive.rejections:
            entry = got["rejection"][f"{rejection.eff_signal:g}"]
            close(
                [entry[k] for k in ("value", "lower", "upper")],
                [rejection.value, rejection.lower, rejection.upper],
            )
        for wp in perf.working_points:
            close(got["working_points"][wp.name]["threshold"], wp.threshold)
        if signal == "top":
            for sf in scale_factors(hists, tagger, perf.working_points, metadata, signal=signal):
                entry = analysis["scale_factors"][tagger][sf.working_point]
                close(entry["value"], sf.value)
                close(entry["error"], sf.error)
    for regressor in before["regressors"]:
        table = resolution_table(hists, regressor, metadata=metadata, merge_abseta=True)
        cells = analysis["resolution"][regressor]["per_pt"]
        close([c["resolution"] for c in cells], table.resolution[:, 0])
        close([c["scale"] for c in cells], table.scale[:, 0])
    fit = fit_energy_resolution(energy_resolution(hists, "energy_dnn", metadata=metadata))
    got = analysis["energy_resolution_fits"]["energy_dnn"]
    close([got["a"], got["b"], got["c"]], [fit.a, fit.b, fit.c])


def test_toy_data_gives_scale_factor_0p9(full_numbers):
    _, _, analysis = full_numbers
    assert sorted(analysis["scale_factors"]) == ["cut_based_top", "particlenet"]
    for points in analysis["scale_factors"].values():
        assert sorted(points) == ["eS30", "eS50", "eS70"]
        for entry in points.values():
            assert entry["background_subtracted"] and entry["data_datasets"] == ["data"]
            value, error = np.array(entry["value"]), np.array(entry["error"])
            assert np.all(np.abs(value - 0.9) < 3 * error)
            mean = np.average(value, weights=error**-2)
            assert abs(mean - 0.9) < 3 * np.sum(error**-2) ** -0.5
    # the only data are flagged for top: the W taggers get none, and the report says so
    assert any("No data dataset for signal 'w'" in n for n in analysis["scale_factor_notes"])


def test_networks_against_baselines(full_numbers):
    directory, _, analysis = full_numbers
    assert analysis["recommended"] == {
        "top": "particlenet",
        "w": "cut_based_w",
        "mass": "mass_iml",
        "energy": "energy_dnn",
    }
    beats = {(c["network"], c["baseline"]): c["beats"] for c in analysis["comparison"]}
    assert beats == {
        ("particlenet", "cut_based_top"): True,
        ("dnn_w", "cut_based_w"): False,
        ("mass_iml", "mass_sd"): True,
        ("energy_dnn", "energy_linear_energy_dnn"): True,
        ("energy_dnn", "energy_reco"): True,
    }
    markdown = (directory / "report.md").read_text()
    assert "WARNING: dnn_w does NOT beat its baseline cut_based_w" in markdown
    assert "no place in the recommendations" in markdown
    fit = analysis["energy_resolution_fits"]["energy_dnn"]  # toy: 0.8/√E ⊕ 0.05
    assert fit["a"] == pytest.approx(0.8, abs=0.1)
    assert fit["b"] == pytest.approx(0.05, abs=0.01)


def test_without_data_says_so_and_a_second_run_gives_the_same_numbers(tmp_path):
    directory = make_toy_run(tmp_path / "run", data=False, full=False)
    first = analyse_run(directory, write_html=False)
    markdown = (directory / "report.md").read_text()
    assert f"{NO_DATA}." in markdown
    assert "ε_MC" not in markdown and "eS50 (score" not in markdown
    assert first["scale_factors"] == {}
    assert first["scale_factor_notes"] == [f"{NO_DATA}."]
    assert not (directory / "report.html").exists() and first["outputs"]["html"] is None
    assert len(first["outputs"]["plots"]) == 3  # one pT bin: no per-pT ROC repeating the whole
    second = write_report(directory)  # the entry point of `boostjet report` and `boostjet run`
    assert (directory / "report.html").exists()
    assert {**first, "outputs": None} == {**second, "outputs": None}
    assert json.loads((directory / "summary.json").read_text())["analysis"] == second


def test_over_subtracted_data_keeps_the_numbers_and_skips_only_that_plot(tmp_path):
    h = score_histogram()
    h.fill(dataset="ttbar", truth="top", pt=500, score=np.linspace(0, 1, 1000, endpoint=False))
    h.fill(dataset="qcd", truth="qcd", pt=np.full(1000, 500), score=0.05)
    h.fill(dataset="data", truth="data", pt=np.full(500, 500), score=0.95)
    h.fill(dataset="data", truth="data", pt=np.full(900, 500), score=0.05)
    datasets = {
        name: {"is_data": name == "data", "weight": 1.0, "signal": None}
        for name in ("ttbar", "qcd", "data")
    }
    summary = {"datasets": datasets, "taggers": {"cut_based_top": "top"}, "working_points": [0.5]}
    write_histograms(tmp_path / HISTOGRAMS, {"score_cut_based_top": h})
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    analysis = analyse_run(tmp_path, write_html=False)
    # data: 500 passing of 1400, minus 1000 simulated QCD jets that all fail: ε_data = 1.25
    sf = analysis["scale_factors"]["cut_based_top"]["eS50"]
    assert sf["eff_data"] == [pytest.approx(1.25)] and sf["value"] == [pytest.approx(2.5)]
    assert analysis["outputs"]["plots"] == ["plots/roc_top.png", "plots/score_cut_based_top.png"]
    assert any("cut_based_top eS50: ε_data outside [0, 1]" in w for w in analysis["warnings"])
    assert "| 300–1200 | 0.5 ± " in (tmp_path / "report.md").read_text()


def test_the_runs_own_warnings_open_the_reports_warnings(tmp_path):
    """`boostjet run` records warnings about its inputs (a file read twice) in summary.json's
    top-level `warnings`; the report lists them first among its warnings."""
    h = score_histogram()
    h.fill(dataset="ttbar", truth="top", pt=500, score=np.linspace(0, 1, 100, endpoint=False))
    note = "a.root (dataset ttbar) and a.root (dataset data) are the same file, ..."
    summary = {**SUMMARY, "taggers": {"cut_based_top": "top"}, "warnings": [note]}
    write_histograms(tmp_path / HISTOGRAMS, {"score_cut_based_top": h})
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    analysis = analyse_run(tmp_path, write_html=False)
    assert analysis["warnings"][0] == note
    markdown = (tmp_path / "report.md").read_text()
    assert f"- {note}" in markdown[markdown.index("Warnings") :]
    assert json.loads((tmp_path / "summary.json").read_text())["warnings"] == [note]


def score_histogram(axes=("dataset", "truth", "pt", "score")) -> hist.Hist:
    builders = {
        "dataset": hist.axis.StrCategory(["ttbar"], name="dataset", growth=True),
        "truth": hist.axis.StrCategory(["top", "qcd", "data"], name="truth"),
        "pt": hist.axis.Variable([300, 1200], name="pt"),
        "score": hist.axis.Regular(100, 0, 1, name="score"),
    }
    return hist.Hist(*(builders[a] for a in axes), storage=hist.storage.Weight())


SUMMARY = {"run": "r", "datasets": {"ttbar": {"is_data": False}}, "taggers": {"dnn": "top"}}


@pytest.mark.parametrize(
    ("histograms", "summary", "message"),
    [
        (None, SUMMARY, r"has no histograms\.uhi\.json\.gz"),
        (b"not gzip", SUMMARY, r"histograms\.uhi\.json\.gz is not a readable UHI histogram"),
        (["a list"], SUMMARY, "not a dictionary of named UHI histograms"),
        ({"score_dnn": score_histogram()}, None, r"summary\.json does not exist"),
        ({"score_dnn": score_histogram()}, {"run": "r"}, "has no 'datasets' mapping"),
        ({"score_other": score_histogram()}, SUMMARY, "Histogram 'score_dnn' is missing"),
        (
            {"score_dnn": score_histogram(("dataset", "truth", "score"))},
            SUMMARY,
            "Histogram 'score_dnn' lacks the axis 'pt'",
        ),
        (
            {"score_dnn": score_histogram()},
            {**SUMMARY, "taggers": {"dnn": "higgs"}},
            "'taggers' must map tagger names to 'top' or 'w'",
        ),
    ],
)
def test_bad_run_directories_raise_histogram_error(tmp_path, histograms, summary, message):
    if isinstance(histograms, bytes):
        (tmp_path / HISTOGRAMS).write_bytes(histograms)
    elif isinstance(histograms, list):
        (tmp_path / HISTOGRAMS).write_bytes(gzip.compress(json.dumps(histograms).encode()))
    elif histograms is not None:
        write_histograms(tmp_path / HISTOGRAMS, histograms)
    if summary is not None:
        (tmp_path / "summary.json").write_text(json.dumps(summary))
    with pytest.raises(HistogramError, match=message):
        analyse_run(tmp_path)
    assert not (tmp_path / "report.md").exists()


def test_taggers_and_regressors_from_histogram_names():
    score = score_histogram()
    names = ("cut_based_top", "cut_based_w", "dnn_w", "lola", "wide_dnn")
    hists = {f"score_{n}": score for n in names}
    hists |= {f"response_{n}": score for n in ("mass_sd", "energy_reco", "iml", "calib")}
    hists["energy_response_calib"] = score
    warnings: list[str] = []
    assert tagger_signals({}, hists, warnings) == {
        "cut_based_top": "top",
        "cut_based_w": "w",
        "dnn_w": "w",
        "lola": "top",
        "wide_dnn": "top",
    }
    assert regressor_kinds({}, hists, warnings) == {
        "mass_sd": "mass",
        "energy_reco": "energy",
        "iml": "mass",
        "calib": "energy",
    }
    assert len(warnings) == 2 and "derived from tagger names" in warnings[0]
    declared = {"taggers": {"x": "w", "lola_w": None}}  # null: a model without a signal
    assert tagger_signals(declared, hists, warnings) == {"x": "w", "lola_w": "w"}
    assert "{'lola_w': 'w'}" in warnings[-1]


def test_dataset_metadata_checks_counts_and_weights():
    warnings: list[str] = []
    datasets = {
        "ttbar": {"weight": None, "events_read": 5, "events_processed": 0, "events_skipped": 5},
        "data": {"is_data": True, "weight": 1, "events_read": 9, "events_processed": 7},
        "qcd": {"weight": 2.5, "events_read": 9, "events_processed": 7, "events_skipped": 1},
    }
    metadata = dataset_metadata(datasets, warnings)
    assert [m["weight"] for m in metadata.values()] == [0.0, 1.0, 2.5]
    assert datasets["ttbar"]["weight"] is None  # the summary itself is left alone
    assert warnings == [
        "Dataset ttbar has no weight (no events processed?); it counts 0.",
        "Dataset qcd: events read (9) ≠ processed (7) + skipped (1).",
    ]
    with pytest.raises(HistogramError, match=r"datasets\.qcd\.weight is not a number"):
        dataset_metadata({"qcd": {"weight": "heavy"}}, warnings)
