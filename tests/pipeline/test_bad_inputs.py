"""The bad-input table of docs/reliability.md: every row not tested elsewhere is a case here.

Each case is one ``boostjet run`` that must fail before any chunk runs with exit code 2, one line
on stderr naming the file, key or option, and no traceback.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from boostjet.cli import main
from boostjet.models.inference import BATCH_MULTIPLE

NAME_RULE = "key 'name' is invalid: must be one folder name of at most 200 letters"
#: case id → (extra argv after `run CONFIG`, config changes, texts the one line must hold).
#: In texts and files, {tmp} is the test's tmp_path; "files" in changes replaces the files;
#: "raw" replaces the whole config file.
CASES = {
    "empty file": ([], {"files": ["{tmp}/empty.root"]}, ["{tmp}/empty.root is not a ROOT file."]),
    "no constituent collections": (
        ["--set", "constituents.collections=[Nope]"],
        {},
        ["has none of the constituent collections ['Nope'] (set by constituents.collections)."],
    ),
    "wrong type": (
        ["--set", "executor.chunksize=abc"],
        {},
        ["key 'executor.chunksize' is invalid: Input should be a valid integer"],
    ),
    "zero chunksize": (["--chunksize", "0"], {}, ["key 'executor.chunksize' is invalid"]),
    "negative chunksize": (["--chunksize", "-5"], {}, ["key 'executor.chunksize' is invalid"]),
    "negative workers": (["--workers", "-1"], {}, ["key 'executor.workers' is invalid"]),
    "negative retries": (["--set", "executor.retries=-1"], {}, ["key 'executor.retries'"]),
    "zero n_constituents": (
        ["--set", "constituents.n_constituents=0"],
        {},
        ["key 'constituents.n_constituents' is invalid: Input should be greater than 0"],
    ),
    "decreasing pt edges": (
        ["--set", "histograms.pt_edges=[500, 300]"],
        {},
        ["key 'histograms.pt_edges' is invalid: bin edges must be at least two strictly"],
    ),
    "negative pt edges": (
        ["--set", "histograms.pt_edges=[-100, 300]"],
        {},
        ["key 'histograms.pt_edges' is invalid: bin edges must be finite and not negative"],
    ),
    "pt_max below pt_min": (
        ["--set", "selection.pt_max=100"],
        {},
        ["section 'selection' is invalid: selection.pt_max must be larger than selection.pt_min"],
    ),
    "negative cross section": (
        ["--set", "datasets.sig.cross_section=-1"],
        {},
        ["key 'datasets.sig.cross_section' is invalid"],
    ),
    "working point outside (0, 1)": (
        ["--set", "working_points=[1.5]"],
        {},
        ["key 'working_points.0' is invalid: Input should be less than 1"],
    ),
    "unknown signal": (
        ["--set", "datasets.sig.signal=higgs"],
        {},
        ["key 'datasets.sig.signal' is invalid: Input should be 'top' or 'w'"],
    ),
    "unknown constituent feature": (
        ["--set", "constituents.features=[mass]"],
        {},
        ["key 'constituents.features' is invalid: unknown feature(s) ['mass']"],
    ),
    "empty file list": (["--set", "datasets.sig.files=[]"], {}, ["key 'datasets.sig.files'"]),
    "no datasets": (["--set", "datasets={}"], {}, ["section 'datasets' is invalid"]),
    "malformed scheduler address": (
        ["--scheduler", "localhost:8786"],
        {},
        ["key 'executor.scheduler' is invalid: must look like tcp://HOST:PORT"],
    ),
    "override without =": (["--set", "selection.pt_min"], {}, ["override 'selection.pt_min'"]),
    "override into a value": (["--set", "name.x=1"], {}, ["override 'name.x': 'name' is not"]),
    "missing model file": (
        ["--set", "models=[{name: nn, task: tagger, path: nowhere.pt}]"],
        {},
        ["models.nn.path: model file nowhere.pt does not exist."],
    ),
    "unknown model task": (
        ["--set", "models=[{name: nn, task: colour, path: nowhere.pt}]"],
        {},
        ["key 'models.0.task' is invalid"],
    ),
    "invalid YAML": ([], {"raw": "datasets: [unclosed"}, ["config.yaml is not valid YAML"]),
    "not a mapping": ([], {"raw": "- a\n- b\n"}, ["must hold a mapping of keys at the top level"]),
    "required key missing": ([], {"raw": "name: x\n"}, ["required key 'datasets' is missing."]),
    "directory as input file": (
        [],
        {"files": ["{tmp}"]},
        ["{tmp} is a directory, not a ROOT file."],
    ),
    "run name '.'": (["--set", "name=.", "--overwrite"], {}, [NAME_RULE, "(got '.')"]),
    "run name '..'": (["--set", "name=..", "--overwrite"], {}, [NAME_RULE, "(got '..')"]),
    "run name with a slash": (["--set", "name=a/b"], {}, [NAME_RULE, "(got 'a/b')"]),
    "hidden run name": (["--set", "name=.bad.partial"], {}, [NAME_RULE]),
    "dataset given twice": (
        [],
        {"raw": "datasets:\n  sig:\n    files: [a.root]\n  sig:\n    files: [b.root]\n"},
        ["config.yaml: key 'datasets.sig' is given twice (lines 2 and 4)."],
    ),
    "nested key given twice": (
        [],
        {"raw": "datasets: {d: {files: [a.root]}}\nselection:\n  pt_min: 1\n  pt_min: 2\n"},
        ["config.yaml: key 'selection.pt_min' is given twice (lines 3 and 4)."],
    ),
    "key given twice in an override": (
        ["--set", "selection={pt_min: 350, pt_min: 400}"],
        {},
        ["override 'selection': key 'selection.pt_min' is given twice in its value."],
    ),
    "infinite cross section": (
        ["--set", "datasets.sig.cross_section=.inf"],
        {},
        ["key 'datasets.sig.cross_section' is invalid: Input should be a finite number"],
    ),
    "NaN luminosity": (
        ["--set", "luminosity=.nan"],
        {},
        ["key 'luminosity' is invalid: Input should be a finite number (got nan)."],
    ),
    "infinite mass window": (
        ["--set", "cut_based.w_mass_window=[60, .inf]"],
        {},
        ["key 'cut_based.w_mass_window.1' is invalid: Input should be a finite number"],
    ),
    "infinite energy edge": (
        ["--set", "histograms.energy_edges=[300, .inf]"],
        {},
        ["key 'histograms.energy_edges.1' is invalid: Input should be a finite number"],
    ),
    "infinite match radius": (
        ["--set", "truth.match_radius=.inf"],
        {},
        ["key 'truth.match_radius' is invalid: Input should be a finite number"],
    ),
    "boolean chunksize": (
        ["--set", "executor.chunksize=true"],
        {},
        ["key 'executor.chunksize' is invalid: a number is expected, not true/false (got True)."],
    ),
    "boolean workers": (
        ["--set", "executor.workers=false"],
        {},
        ["key 'executor.workers' is invalid: a number is expected, not true/false"],
    ),
    "boolean cross section": (
        ["--set", "datasets.sig.cross_section=true"],
        {},
        ["key 'datasets.sig.cross_section' is invalid: a number is expected, not true/false"],
    ),
    "reversed top mass window": (
        ["--set", "cut_based.top_mass_window=[210, 105]"],
        {},
        ["key 'cut_based.top_mass_window' is invalid: must be [low, high] with low below high"],
    ),
    "empty W mass window": (
        ["--set", "cut_based.w_mass_window=[80, 80]"],
        {},
        ["key 'cut_based.w_mass_window' is invalid: must be [low, high] with low below high"],
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_bad_input_is_one_sentence_and_exit_code_2(case, flat_files, tmp_path, capsys):
    argv, changes, texts = CASES[case]
    (tmp_path / "empty.root").write_bytes(b"")
    files = [f.format(tmp=tmp_path) for f in changes.get("files", [str(flat_files["signal"])])]
    content = {
        "name": "bad",
        "datasets": {"sig": {"files": files, "signal": "top"}},
        "executor": {"type": "iterative", "chunksize": 60, "retries": 0},
        "output": str(tmp_path / "outputs"),
        "report": False,
    }
    config = tmp_path / "config.yaml"
    config.write_text(changes.get("raw") or yaml.safe_dump(content))
    assert main(["run", str(config), *argv]) == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    for text in texts:
        assert text.format(tmp=tmp_path) in lines[0]
    assert not (tmp_path / "outputs" / "bad").exists()


def test_an_unknown_executor_is_refused_by_the_parser(capsys):
    with pytest.raises(SystemExit) as caught:
        main(["run", "config.yaml", "--executor", "spark"])
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert "argument --executor: invalid choice: 'spark'" in err and "Traceback" not in err


def test_a_file_with_duplicate_branch_names_runs(shared_delphes, tmp_path):
    """uproot-issue513.root has two top-level branches named `Particle` (GenParticle, then a Jet
    class); the first is used (coffea warns) and its `Jet` collection runs as fat jets."""
    from boostjet.rundir import load_summary

    content = {
        "name": "dup",
        "datasets": {"tt": {"files": [str(shared_delphes / "uproot-issue513.root")]}},
        "fatjet_collection": "Jet",
        "selection": {"pt_min": 100.0},
        "truth": {"genjet_collection": "GenJet"},
        "executor": {"type": "iterative", "chunksize": 10, "retries": 0},
        "output": str(tmp_path),
        "report": False,
    }
    config = tmp_path / "dup.yaml"
    config.write_text(yaml.safe_dump(content))
    with pytest.warns(UserWarning, match="duplicate branch Particle"):
        assert main(["run", str(config)]) == 0
    tt = load_summary(tmp_path / "dup")["datasets"]["tt"]
    assert (tt["events_read"], tt["events_processed"], tt["fat_jets_selected"]) == (10, 10, 8)


def test_a_corrupt_model_with_its_metadata_is_one_sentence(tmp_path, capsys):
    """test_models_in_run covers a corrupt .pt without metadata; here the .json is valid."""
    import shutil
    from pathlib import Path

    trained = Path(__file__).parents[2] / "boostjet" / "models" / "trained"
    if not (trained / "dnn_top.json").is_file():
        pytest.skip(f"{trained / 'dnn_top.json'} is not shipped")
    shutil.copy(trained / "dnn_top.json", tmp_path / "corrupt.json")
    (tmp_path / "corrupt.pt").write_bytes(b"PK\x03\x04 not really a zip archive")
    config = tmp_path / "config.yaml"
    models = [{"name": "corrupt", "task": "tagger", "path": str(tmp_path / "corrupt.pt")}]
    config.write_text(yaml.safe_dump({"datasets": {"d": {"files": ["f.root"]}}, "models": models}))
    assert main(["run", str(config)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert f"Model file {tmp_path / 'corrupt.pt'} is not a readable TorchScript model" in err


# --- bad content: found while a chunk runs ------------------------------------------------------

NAN, INF = float("nan"), float("inf")
DNN_TOP = Path(__file__).parents[2] / "boostjet" / "models" / "trained" / "dnn_top.pt"

#: case id → (values broken in event 70 (write_flat_delphes), whether a model is configured so
#: that constituents are read, the sentence after "FILE entries 40–80 ").
CONTENT_CASES = {
    "NaN fat-jet pT": (
        {"FatJet.PT": NAN},
        False,
        "has NaN or inf in fat-jet kinematics (FatJet.PT).",
    ),
    "inf fat-jet eta": (
        {"FatJet.Eta": INF},
        False,
        "has NaN or inf in fat-jet kinematics (FatJet.Eta).",
    ),
    "inf soft-drop energy": (
        {"FatJet.SoftDroppedE": INF},
        False,
        "has NaN or inf in fat-jet soft-drop four-vectors (FatJet.SoftDroppedE).",
    ),
    "NaN N-subjettiness": (
        {"FatJet.Tau2": NAN},
        False,
        "has NaN or inf in fat-jet N-subjettiness (FatJet.Tau2).",
    ),
    "NaN generator-jet eta": (
        {"GenFatJet.Eta": NAN},
        False,
        "has NaN or inf in generator-jet kinematics (GenFatJet.Eta).",
    ),
    "NaN generator particle phi": (
        {"Particle.Phi": NAN},
        False,
        "has NaN or inf in the generator particles of the truth labels (Particle.Phi).",
    ),
    "NaN track pT": (
        {"EFlowTrack.PT": NAN},
        True,
        "has NaN or inf in constituent kinematics (EFlowTrack.PT).",
    ),
    "inf photon eta": (
        {"EFlowPhoton.Eta": INF},
        True,
        "has NaN or inf in constituent kinematics (EFlowPhoton.Eta).",
    ),
    "constituent reference out of range": (
        {"FatJetConstituent.Jet": 7},
        True,
        "has 1 constituent reference(s) out of range (FatJetConstituent.Jet): the first points "
        "to jet 7 of an event with 1 jet(s).",
    ),
}


def _content_config(tmp_path: Path, files: list[str], with_model: bool, **executor) -> Path:
    content = {
        "name": "content",
        "datasets": {"sig": {"files": files, "signal": "top"}},
        "executor": {"type": "iterative", "chunksize": 40, "retries": 0} | executor,
        "output": str(tmp_path / "outputs"),
        "report": False,
    }
    if with_model:
        content["models"] = [{"name": "dnn_top", "task": "tagger", "path": str(DNN_TOP)}]
    config = tmp_path / "content.yaml"
    config.write_text(yaml.safe_dump(content))
    return config


def _one_line(capsys) -> str:
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    return lines[0]


@pytest.mark.parametrize("case", list(CONTENT_CASES))
def test_bad_content_is_one_sentence_naming_the_chunk_and_branch(
    case, broken_flat_file, tmp_path, capsys
):
    broken, with_model, sentence = CONTENT_CASES[case]
    path = broken_flat_file(broken)
    assert main(["run", str(_content_config(tmp_path, [str(path)], with_model))]) == 2
    assert _one_line(capsys) == f"error: {path} entries 40–80 {sentence}"


def test_bad_content_under_skip_bad_files_is_skipped_listed_and_accounted(
    broken_flat_file, tmp_path, capsys
):
    """Every case of CONTENT_CASES in one run: each file's chunk 40–80 skipped with its sentence
    in summary.json and on the terminal; events read = processed + skipped. (report.md: in
    test_a_corrupt_basket_under_skip_bad_files_is_skipped_and_reported.)"""
    from boostjet.rundir import load_summary

    paths = {case: broken_flat_file(broken) for case, (broken, _, _) in CONTENT_CASES.items()}
    config = _content_config(tmp_path, [str(p) for p in paths.values()], True, skip_bad_files=True)
    assert main(["run", str(config)]) == 0
    err = " ".join(capsys.readouterr().err.split())
    sig = load_summary(tmp_path / "outputs" / "content")["datasets"]["sig"]
    n = len(CONTENT_CASES)
    counts = (sig["events_read"], sig["events_processed"], sig["events_skipped"])
    assert counts == (100 * n, 60 * n, 40 * n)
    expected = {
        (str(paths[case]), 40, 80, 40, f"{paths[case]} entries 40–80 {sentence}")
        for case, (_, _, sentence) in CONTENT_CASES.items()
    }
    fields = ("file", "entry_start", "entry_stop", "events", "reason")
    assert {tuple(s[f] for f in fields) for s in sig["skipped"]} == expected
    for *_, reason in expected:
        assert f"skipped 40 events, {reason}" in err
    assert f"dataset 'sig': {40 * n} of {100 * n} events skipped in {n} chunk(s)" in err


# --- a corrupt basket -------------------------------------------------------------------------

CORRUPT_BASKET = (
    "basket 1 of branch 'FatJet.PT' (entries 500–600) cannot be read "
    "(zlib.error: Error -3 while decompressing data: incorrect data check)."
)


def _corrupt_config(tmp_path: Path, path: Path, **keys) -> Path:
    content = {
        "name": "corrupt",
        "datasets": {"tt": {"files": [str(path)], "signal": "top"}},
        "executor": {"type": "iterative", "chunksize": 300, "retries": 0},
        "output": str(tmp_path / "outputs"),
        "report": False,
    } | keys
    config = tmp_path / "corrupt.yaml"
    config.write_text(yaml.safe_dump(content))
    return config


def test_a_corrupt_basket_is_one_sentence_naming_the_chunk_branch_and_basket(
    corrupt_sample, tmp_path, capsys
):
    path = corrupt_sample("FatJet.PT", 1)
    assert main(["run", str(_corrupt_config(tmp_path, path))]) == 2
    assert _one_line(capsys) == f"error: {path} entries 300–600: {CORRUPT_BASKET}"


def test_a_corrupt_basket_under_skip_bad_files_is_skipped_and_reported(
    corrupt_sample, tmp_path, capsys, monkeypatch
):
    """Chunk 0–300 is processed, chunk 300–600 (which needs the broken basket) is skipped:
    listed in summary.json, report.md and on the terminal."""
    from collections import defaultdict

    from boostjet.analysis import report as analysis
    from boostjet.rundir import load_summary

    # drawing the plots is most of a report's time and not what is tested here
    monkeypatch.setattr(analysis, "make_figures", lambda run, results: defaultdict(list))
    path = corrupt_sample("FatJet.PT", 1)
    config = _corrupt_config(tmp_path, path, report=True)
    assert main(["run", str(config), "--skip-bad-files"]) == 0
    err = " ".join(capsys.readouterr().err.split())
    run_dir = tmp_path / "outputs" / "corrupt"
    tt = load_summary(run_dir)["datasets"]["tt"]
    reason = f"{path} entries 300–600: {CORRUPT_BASKET}"
    assert (tt["events_read"], tt["events_processed"], tt["events_skipped"]) == (600, 300, 300)
    assert tt["skipped"] == [
        {"file": str(path), "entry_start": 300, "entry_stop": 600, "events": 300, "reason": reason}
    ]
    report = (run_dir / "report.md").read_text()
    assert f"Skipped chunks and why:\n\n- tt: 300 events, {reason}" in report
    assert f"skipped 300 events, {reason}" in err
    assert "dataset 'tt': 300 of 600 events skipped in 1 chunk(s)" in err


def test_a_run_whose_every_chunk_is_skipped_is_one_sentence(corrupt_sample, tmp_path, capsys):
    """Basket 0 holds entries 0–500, which both chunks need: nothing is processed."""
    path = corrupt_sample("FatJet.PT", 0)
    config = _corrupt_config(tmp_path, path)
    assert main(["run", str(config), "--skip-bad-files"]) == 2
    line = _one_line(capsys)
    assert line.startswith(
        f"error: nothing was processed: all 2 chunks were skipped; the first: {path} entries "
        "0–300: basket 0 of branch 'FatJet.PT' (entries 0–500) cannot be read (zlib.error:"
    )


def test_info_check_reads_every_basket_and_lists_the_corrupt_ones(corrupt_sample, capsys):
    intact = Path(__file__).parents[2] / "samples" / "ttbar_mc.root"
    assert main(["info", str(intact), "--check"]) == 0
    assert "every basket of every branch read and decompressed" in capsys.readouterr().out
    path = corrupt_sample("FatJet.PT", 1)
    assert main(["info", str(path)]) == 0  # fast: reads the counters only, and says so
    assert "baskets: not read (--check reads and decompresses every one)" in capsys.readouterr().out
    assert main(["info", str(path), "--check"]) == 2
    captured = capsys.readouterr()
    unreadable = [line for line in captured.out.splitlines() if line.startswith("unreadable:")]
    assert unreadable == [
        "unreadable: basket 1 of branch 'FatJet.PT' (entries 500–600): "
        "zlib.error: Error -3 while decompressing data: incorrect data check"
    ]
    assert captured.err.strip() == f"error: {path} has 1 unreadable basket(s), listed above."
    counter = corrupt_sample("FatJet_size", 1)  # info reads the counters: one sentence
    assert main(["info", str(counter)]) == 2
    assert _one_line(capsys) == (
        f"error: {counter}: basket 1 of branch 'FatJet_size' (entries 500–600) cannot be read "
        "(ValueError: unrecognized compression algorithm: b'\\xff\\xff'); boostjet info --check "
        "lists every unreadable basket."
    )


# --- models whose graph does not keep the promise of their metadata -----------------------------


class WantsSevenFeatures(torch.nn.Module):
    """Reads 7 constituent features, while its metadata (the default spec) promises 16."""

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(7, 1)

    def forward(self, constituents, mask, jet):
        return torch.sigmoid(self.linear(constituents).mean(dim=1).squeeze(-1))


class ThreeScores(torch.nn.Module):
    """A three-class output [N, 3] where a tagger must give one score per jet."""

    def forward(self, constituents, mask, jet):
        return torch.softmax(jet[:, :3], dim=1)


class NaNAtEtaZero(torch.nn.Module):
    """A score, but NaN for a jet at exactly η = 0 and pT = 500 GeV (event 70 of a
    broken_flat_file; never one of the pre-flight's synthetic jets)."""

    def forward(self, constituents, mask, jet):
        score = torch.sigmoid(jet[:, 0] / 1000.0)
        odd = (jet[:, 1].abs() < 1e-6) & ((jet[:, 0] - 500.0).abs() < 1e-3)
        return torch.where(odd, torch.full_like(score, float("nan")), score)


def _model_config(
    tmp_path: Path, files: list[str], name: str, path: Path, task: str = "tagger", **executor
) -> Path:
    config = _content_config(tmp_path, files, False, **executor)
    content = yaml.safe_load(config.read_text())
    content["models"] = [{"name": name, "task": task, "path": str(path)}]
    config.write_text(yaml.safe_dump(content))
    return config


@pytest.mark.parametrize(
    ("module", "problem"),
    [
        (
            WantsSevenFeatures,
            "fails on synthetic jets laid out as its metadata says (64 constituents × 16 "
            "features, 12 jet features): RuntimeError: mat1 and mat2 shapes cannot be multiplied",
        ),
        (
            ThreeScores,
            # the 4 jets are filled up to a batch of BATCH_MULTIPLE rows
            f"(pre-flight on 4 synthetic jets): Model '{{name}}' ({{path}}) returns shape "
            f"({BATCH_MULTIPLE}, 3) for a batch of {BATCH_MULTIPLE} jets; a tagger model must "
            f"return ({BATCH_MULTIPLE},).",
        ),
    ],
    ids=["graph wants 7 features", "tagger returns [N, 3]"],
)
def test_a_model_whose_graph_does_not_match_its_metadata_fails_the_pre_flight(
    module, problem, toy_model, broken_flat_file, tmp_path, capsys, monkeypatch
):
    from boostjet.pipeline import routes

    def no_chunk_runs(config):
        raise AssertionError("the input files were opened before the models were checked")

    monkeypatch.setattr(routes, "build_fileset", no_chunk_runs)
    name = module.__name__.lower()
    path = toy_model(name, module())
    config = _model_config(tmp_path, [str(broken_flat_file({}))], name, path)
    assert main(["run", str(config)]) == 2
    line = _one_line(capsys)
    assert line.startswith(f"error: models.{name}")
    assert problem.format(name=name, path=path) in line


class JetEnergyWithUnitSigma(torch.nn.Module):
    """An energy regressor returning (jet energy, 1 GeV), exported without the linear
    calibration that training stores in its metadata."""

    def forward(self, constituents, mask, jet):
        energy = jet[:, 4]
        return torch.stack([energy, torch.ones_like(energy)], dim=1)


def test_an_energy_model_without_its_linear_calibration_fails_the_pre_flight(
    toy_model, broken_flat_file, tmp_path, capsys, monkeypatch
):
    """It used to pass the pre-flight and raise a KeyError traceback in the first chunk."""
    from boostjet.pipeline import routes

    def no_chunk_runs(config):
        raise AssertionError("the input files were opened before the models were checked")

    monkeypatch.setattr(routes, "build_fileset", no_chunk_runs)
    path = toy_model("uncalibrated", JetEnergyWithUnitSigma(), task="energy")
    config = _model_config(tmp_path, [str(broken_flat_file({}))], "uncalibrated", path, "energy")
    assert main(["run", str(config)]) == 2
    assert _one_line(capsys) == (
        f"error: models.uncalibrated: {path} is an energy model whose metadata holds no linear "
        "calibration (training.linear_calibration); re-export it."
    )


def test_a_model_returning_nan_stops_the_run_naming_chunk_and_model(
    toy_model, broken_flat_file, tmp_path, capsys
):
    path = toy_model("nan_at_eta_0", NaNAtEtaZero())
    data = broken_flat_file({})
    config = _model_config(tmp_path, [str(data)], "nan_at_eta_0", path)
    assert main(["run", str(config)]) == 2
    line = _one_line(capsys)
    prefix = (
        f"error: {data} entries 40–80: Model 'nan_at_eta_0' ({path}) returns NaN or inf for 1 of "
    )
    assert line.startswith(prefix) and line.endswith(" jets.")
    assert main(["run", str(config), "--skip-bad-files"]) == 0
    from boostjet.rundir import load_summary

    sig = load_summary(tmp_path / "outputs" / "content")["datasets"]["sig"]
    assert (sig["events_read"], sig["events_processed"], sig["events_skipped"]) == (100, 60, 40)
    [skipped] = sig["skipped"]
    assert (skipped["entry_start"], skipped["entry_stop"]) == (40, 80)
    assert skipped["reason"].startswith(prefix.removeprefix("error: "))
