"""write_results lists every result and warning, and its JSON is strict (no NaN or inf)."""

import json

import hist
import numpy as np

from boostjet.analysis import scale_factors, tagger_performance
from boostjet.analysis.report import write_results


def test_report_tables_json_and_warnings(tmp_path):
    rng = np.random.default_rng(0)
    h = hist.Hist(
        hist.axis.StrCategory([], name="dataset", growth=True),
        hist.axis.StrCategory(["top", "qcd"], name="truth", growth=True),
        hist.axis.Variable([300, 500, 800], name="pt"),
        hist.axis.Regular(100, 0, 1, name="score"),
        storage=hist.storage.Weight(),
    )
    h.fill(dataset="tt", truth="top", pt=rng.uniform(300, 500, 2000), score=rng.beta(5, 2, 2000))
    h.fill(dataset="qcd", truth="qcd", pt=rng.uniform(300, 500, 2000), score=rng.beta(1, 9, 2000))
    metadata = {"tt": {"is_data": False, "weight": 1.0}, "qcd": {"is_data": False, "weight": 1.0}}
    perf = tagger_performance({"score_dnn": h}, "dnn", metadata=metadata)
    sfs = scale_factors({"score_dnn": h}, "dnn", perf.working_points, metadata)
    figure = tmp_path / "plots" / "roc.png"
    markdown, summary = write_results(
        tmp_path / "report", performances=[perf], scale_factors=sfs, figures=[figure]
    )
    text = markdown.read_text()
    assert "| dnn | top | 300–800 |" in text
    assert "### dnn eS50" in text
    assert "![roc](../plots/roc.png)" in text
    assert "no data jets for signal 'top'" in text  # no data: SF n/a, and said so
    assert "pT 500–800 GeV: no signal jets" in text
    payload = json.loads(summary.read_text())
    assert payload["taggers"][0]["tagger"] == "dnn"
    assert payload["scale_factors"][0]["value"] == [None, None]
    assert payload["warnings"]
