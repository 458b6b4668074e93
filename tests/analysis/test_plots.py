"""Every plot writes a PNG and a PDF, also for results with undefined (NaN) entries."""

import hist
import numpy as np
import pytest

from boostjet.analysis import (
    energy_resolution,
    fit_energy_resolution,
    plots,
    resolution_table,
    scale_factors,
    tagger_performance,
)

PT_EDGES = [300, 450, 600, 1000]
METADATA = {
    "ttbar": {"is_data": False, "weight": 1.0, "signal": "top"},
    "qcd": {"is_data": False, "weight": 1.0, "signal": "top"},
    "data": {"is_data": True, "weight": 1.0, "signal": "top"},
}


@pytest.fixture(scope="module")
def hists():
    rng = np.random.default_rng(0)
    out = {}
    for tagger in ("dnn", "cut_based"):
        h = hist.Hist(
            hist.axis.StrCategory([], name="dataset", growth=True),
            hist.axis.StrCategory(["top", "w", "qcd", "other"], name="truth", growth=True),
            hist.axis.Variable(PT_EDGES, name="pt"),
            hist.axis.Regular(1000, 0, 1, name="score"),
            storage=hist.storage.Weight(),
        )
        for dataset, truth, shape in (("ttbar", "top", (5, 2)), ("qcd", "qcd", (1.5, 5))):
            n = 3000
            score = rng.beta(*shape, n)
            h.fill(dataset=dataset, truth=truth, pt=rng.uniform(300, 600, n), score=score)
            h.fill(dataset="data", truth="data", pt=rng.uniform(300, 600, n), score=score[::-1])
        out[f"score_{tagger}"] = h
    for regressor in ("mass_iml", "mass_sd_baseline"):
        h = hist.Hist(
            hist.axis.StrCategory([], name="dataset", growth=True),
            hist.axis.Variable(PT_EDGES, name="pt"),
            hist.axis.Variable([0, 1.3, 2.5], name="abseta"),
            hist.axis.Regular(400, 0, 2, name="response"),
            storage=hist.storage.Weight(),
        )
        h.fill(
            dataset="ttbar",
            pt=rng.uniform(300, 600, 5000),
            abseta=1.0,
            response=rng.normal(1, 0.1, 5000),
        )
        out[f"response_{regressor}"] = h
    h = hist.Hist(
        hist.axis.StrCategory([], name="dataset", growth=True),
        hist.axis.Variable([50, 100, 200, 400, 800], name="energy_true"),
        hist.axis.Regular(400, 0, 2, name="response"),
        storage=hist.storage.Weight(),
    )
    for energy in (75, 150, 300, 600):
        h.fill(
            dataset="ttbar", energy_true=energy, response=rng.normal(1, 1 / np.sqrt(energy), 4000)
        )
    out["energy_response_energy_dnn"] = h
    return out


def assert_written(paths):
    assert [p.suffix for p in paths] == [".png", ".pdf"]
    assert paths[0].read_bytes()[:4] == b"\x89PNG"
    assert paths[1].read_bytes()[:4] == b"%PDF"


def test_every_plot_is_written(hists, tmp_path):
    perfs = [tagger_performance(hists, t, metadata=METADATA) for t in ("dnn", "cut_based")]
    sfs = scale_factors(hists, "dnn", perfs[0].working_points, METADATA)
    tables = [resolution_table(hists, r) for r in ("mass_iml", "mass_sd_baseline")]
    curve = energy_resolution(hists, "energy_dnn")
    written = [
        plots.plot_roc(perfs, tmp_path / "roc"),
        plots.plot_roc(perfs, tmp_path / "roc_empty_bin", pt_bin=2),  # no jets above 600 GeV
        plots.plot_score_distributions(hists, "dnn", tmp_path / "score", metadata=METADATA),
        plots.plot_efficiency(sfs[1], tmp_path / "sf"),  # NaN in the empty pT bin
        plots.plot_response(hists, ["mass_iml", "mass_sd_baseline"], tmp_path / "resp", pt_bin=0),
        plots.plot_resolution(tables, tmp_path / "res", abseta_bin=1),  # all NaN column
        plots.plot_energy_resolution([curve], tmp_path / "e", fits=[fit_energy_resolution(curve)]),
        plots.plot_loss(
            {"epoch": [1, 2, 3], "train_loss": [1.0, 0.5, 0.4], "val_loss": [1.1, 0.6, 0.5]},
            tmp_path / "sub" / "loss",
        ),
    ]
    for paths in written:
        assert_written(paths)
