"""The bad-input table of docs/reliability.md: every row not tested elsewhere is a case here.

Each case is one ``boostjet run`` that must fail before any chunk runs with exit code 2, one line
on stderr naming the file, key or option, and no traceback.
"""

from __future__ import annotations

import pytest
import yaml

from boostjet.cli import main

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
    from boostjet.pipeline.outputs import load_summary

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
