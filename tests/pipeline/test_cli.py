"""The `boostjet` command: run, dataset, info; every user error is one sentence, exit code 2."""

from __future__ import annotations

import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from boostjet.cli import build_parser, config_overrides, main
from boostjet.rundir import load_histograms, load_summary

REPO = Path(__file__).parents[2]
BOOSTJET = str(Path(sys.executable).with_name("boostjet"))


@pytest.fixture
def write_config(flat_files, tmp_path):
    """``write_config(datasets=None, **keys)`` → path of a YAML run config in tmp_path."""

    def write(datasets=None, **keys) -> Path:
        content = {
            "name": "cli",
            "datasets": datasets
            or {
                "sig": {"files": [str(flat_files["signal"])], "signal": "top"},
                "bkg": {"files": [str(flat_files["background"])]},
            },
            "histograms": {"score_bins": 20, "response_bins": 20},
            "executor": {"type": "iterative", "chunksize": 60, "retries": 0},
            "output": str(tmp_path / "outputs"),
            "report": False,
        } | keys
        path = tmp_path / "config.yaml"
        path.write_text(yaml.safe_dump(content))
        return path

    return write


def _one_sentence_error(capsys, argv: list[str], *expected: str) -> str:
    """Run ``main(argv)``: exit code 2 and one stderr line holding every ``expected`` text."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    for text in expected:
        assert text in lines[0]
    return lines[0]


def test_run_writes_histograms_and_summary(write_config, tmp_path, capsys):
    config = write_config()
    assert main(["run", str(config), "--set", "name=first", "--chunksize", "50"]) == 0
    run_dir = tmp_path / "outputs" / "first"
    summary = load_summary(run_dir)
    assert summary["executor"]["chunksize"] == 50
    assert summary["datasets"]["sig"]["events_processed"] == 120
    assert load_histograms(run_dir)["score_cut_based_top"].sum(flow=True).value > 0
    out = capsys.readouterr()
    assert "sig" in out.out and "events/s" in out.err


def test_report_on_an_old_run_directory_unpickles_nothing_unless_trusted(
    write_config, tmp_path, capsys, crafted_pickle
):
    assert main(["run", str(write_config())]) == 0
    capsys.readouterr()
    run_dir = tmp_path / "outputs" / "cli"
    (run_dir / "histograms.uhi.json.gz").unlink()  # as boostjet before it left a run directory
    genuine = (run_dir / "histograms.pkl").read_bytes()
    data, marker = crafted_pickle
    (run_dir / "histograms.pkl").write_bytes(data)
    _one_sentence_error(
        capsys,
        ["report", str(run_dir)],
        f"{run_dir} has histograms.pkl but no histograms.uhi.json.gz",
        f"run `boostjet report {run_dir} --trust-pickle`",
    )
    assert not marker.exists() and not (run_dir / "report.md").exists()
    (run_dir / "histograms.pkl").write_bytes(genuine)
    assert main(["report", str(run_dir), "--trust-pickle"]) == 0
    assert (run_dir / "report.md").is_file()
    assert load_histograms(run_dir) == pickle.loads(genuine)  # now from histograms.uhi.json.gz


def test_skip_bad_files_lists_what_was_skipped_in_the_summary(
    write_config, flat_files, shared_delphes, tmp_path
):
    text = tmp_path / "text.root"
    text.write_text("not ROOT")
    eic = shared_delphes / "eic_proton_gun_delphes_output.root"
    files = [str(flat_files["signal"]), str(flat_files["broken"]), str(text), str(eic)]
    assert main(["run", str(write_config({"mc": {"files": files}})), "--skip-bad-files"]) == 0
    mc = load_summary(tmp_path / "outputs" / "cli")["datasets"]["mc"]
    skipped = {(s["file"], s["entry_start"], s["entry_stop"], s["events"]) for s in mc["skipped"]}
    assert skipped == {
        (str(text), 0, None, None),
        (str(eic), 0, 1000, 1000),
        (str(flat_files["broken"]), 60, 100, 40),
    }
    assert (mc["events_read"], mc["events_processed"], mc["events_skipped"]) == (1220, 180, 1040)


def test_every_bad_input_is_one_sentence_naming_it(
    write_config, shared_delphes, tmp_path, capsys, monkeypatch
):
    text = tmp_path / "text.root"
    text.write_text("not ROOT")
    truncated = tmp_path / "half.root"
    content = (shared_delphes / "tth_hbb_cms_fatjet.root").read_bytes()
    truncated.write_bytes(content[: len(content) // 2])
    missing = tmp_path / "missing.root"
    eic = shared_delphes / "eic_proton_gun_delphes_output.root"
    no_tree = shared_delphes / "bad_delphes.root"
    for path, sentence in (
        (missing, f"input file {missing} does not exist."),
        (text, f"{text} is not a ROOT file."),
        (truncated, f"{truncated} is not a readable ROOT file (truncated or corrupt"),
        (no_tree, f"{no_tree} has no tree 'Delphes' (set by tree)."),
        (eic, f"{eic} (tree 'Delphes') has no fat-jet collection 'FatJet'"),
    ):
        config = write_config({"x": {"files": [str(path)]}})
        _one_sentence_error(capsys, ["run", str(config)], sentence)
    monkeypatch.chdir(tmp_path)
    config = write_config({"x": {"files": ["nothing_*.root"]}})
    _one_sentence_error(capsys, ["run", str(config)], "datasets.x.files", "'nothing_*.root'")


def test_bad_options_are_one_sentence_naming_them(write_config, tmp_path, capsys):
    config = str(write_config())
    unreachable = ["--scheduler", "tcp://127.0.0.1:9", "--set", "executor.connect_timeout=1"]
    _one_sentence_error(
        capsys,
        ["run", config, *unreachable],
        "cannot reach the dask scheduler at tcp://127.0.0.1:9",
    )
    _one_sentence_error(capsys, ["run", config, "--set", "selection.pt_mn=3"], "selection.pt_mn")
    _one_sentence_error(capsys, ["run", config, "--workers", "0"], "executor.workers")
    _one_sentence_error(capsys, ["run", str(tmp_path / "nope.yaml")], "nope.yaml does not exist")
    assert main(["run", config, "--no-report"]) == 0
    capsys.readouterr()
    existing = f"output directory {tmp_path / 'outputs' / 'cli'} already exists; pass --overwrite"
    _one_sentence_error(capsys, ["run", config], existing)
    assert main(["run", config, "--overwrite", "--no-report"]) == 0


def _unprivileged() -> list[str]:
    """A command prefix under which a file of mode 000 cannot be read, also by root (which
    otherwise reads any file): setpriv drops the capabilities that bypass file permissions."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: a file of mode 000 is still readable")
    capabilities = "-dac_override,-dac_read_search"
    return [setpriv, f"--bounding-set={capabilities}", f"--inh-caps={capabilities}"]


def test_an_unreadable_file_is_one_sentence_naming_it(write_config, flat_files, tmp_path):
    """Found by a tester: `boostjet info` on a file without read permission showed a
    PermissionError traceback (and `boostjet run` called the file truncated or corrupt)."""
    secret = tmp_path / "secret.root"
    shutil.copy(flat_files["signal"], secret)
    secret.chmod(0)
    sentence = f"input file {secret} cannot be read (Permission denied)."
    config = str(write_config({"x": {"files": [str(flat_files["background"]), str(secret)]}}))
    for argv in (["info", str(secret)], ["run", config], ["run", config, "--skip-bad-files"]):
        done = subprocess.run(
            [*_unprivileged(), BOOSTJET, *argv],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if "--skip-bad-files" in argv:
            assert done.returncode == 0, done.stderr
        else:
            assert (done.returncode, done.stderr.strip()) == (2, f"error: {sentence}")
    x = load_summary(tmp_path / "outputs" / "cli")["datasets"]["x"]
    assert [(s["file"], s["reason"]) for s in x["skipped"]] == [(str(secret), sentence)]
    assert (x["events_read"], x["events_processed"]) == (80, 80)


def test_a_directory_given_as_a_file_is_one_sentence(write_config, tmp_path, capsys):
    """Found by a tester: a directory given as an input file was reported as missing."""
    sentence = f"{tmp_path} is a directory, not a ROOT file."
    _one_sentence_error(capsys, ["info", str(tmp_path)], sentence)
    config = write_config({"x": {"files": [str(tmp_path)]}})
    _one_sentence_error(capsys, ["run", str(config)], sentence)


def test_a_file_read_twice_is_a_warning_on_screen_in_the_summary_and_in_the_report(
    write_config, flat_files, tmp_path, capsys
):
    """Found by a tester: the same file (or a byte copy, same ROOT UUID) in two datasets was
    counted twice without a word. Still allowed (simulation as pseudo-data is a closure test).
    tests/analysis/test_run.py checks that the summary's warnings reach report.md."""
    import uproot

    from boostjet.analysis.rundata import load_run

    signal = str(flat_files["signal"])
    copy = tmp_path / "copy.root"
    shutil.copy(signal, copy)
    with uproot.open(signal) as file:
        uuid = file.file.uuid
    datasets = {
        "sig": {"files": [signal, signal], "signal": "top"},
        "pseudo": {"files": [str(copy)], "is_data": True},
        "bkg": {"files": [str(flat_files["background"])]},
    }
    assert main(["run", str(write_config(datasets))]) == 0
    notes = [  # the config's datasets in order: bkg, pseudo, sig (yaml.safe_dump sorts them)
        f"{signal} is listed 2 times in dataset sig; it is read once.",
        f"{copy} (dataset pseudo) and {signal} (dataset sig) are copies of one ROOT file "
        f"(UUID {uuid}), so its events are read twice (fine for a closure test with simulation "
        "as pseudo-data).",
    ]
    err = capsys.readouterr().err
    assert [err.count(f"warning: {note}") for note in notes] == [1, 1]
    run_dir = tmp_path / "outputs" / "cli"
    summary = load_summary(run_dir)
    assert summary["warnings"] == notes
    assert summary["datasets"]["sig"]["events_read"] == 120  # the path listed twice is read once
    assert load_run(run_dir).warnings[:2] == notes  # the report's warnings start with them


def test_debug_shows_the_traceback(write_config, tmp_path):
    from boostjet.errors import InputFileError

    config = write_config({"x": {"files": [str(tmp_path / "missing.root")]}})
    with pytest.raises(InputFileError):
        main(["--debug", "run", str(config)])


def test_flags_map_onto_config_keys():
    argv = ["run", "c.yaml", "--set", "executor.workers=3", "--set", "name=x", "--workers", "5"]
    argv += ["--scheduler", "tcp://h:1", "--chunksize", "7", "--skip-bad-files", "--output", "o"]
    args = build_parser().parse_args(argv)
    assert config_overrides(args) == {
        "executor.workers": 5,
        "name": "x",
        "executor.scheduler": "tcp://h:1",
        "executor.type": "dask",
        "executor.chunksize": 7,
        "executor.skip_bad_files": True,
        "output": "o",
    }
    args = build_parser().parse_args(
        [
            "dataset",
            "c.yaml",
            "--output",
            "d",
            "--executor",
            "dask-awkward",
            "--scheduler",
            "tcp://h:1",
        ]
    )
    assert config_overrides(args)["executor.type"] == "dask-awkward"


def test_dataset_exports_chunk_files(write_config, tmp_path, capsys):
    assert main(["dataset", str(write_config()), "--output", str(tmp_path / "jets")]) == 0
    assert len(list((tmp_path / "jets" / "sig").glob("chunk-*.npz"))) == 2  # 120 events / 60
    assert "sig:" in capsys.readouterr().err


def test_info_describes_genuine_and_flat_files(shared_delphes, flat_files, capsys):
    assert main(["info", str(shared_delphes / "tth_hbb_cms_fatjet.root")]) == 0
    out = capsys.readouterr().out
    assert "events: 10" in out
    assert "6 in total, 0.60 per event" in out
    assert "TRefArray" in out and "EFlowNeutralHadron" in out
    assert main(["info", str(flat_files["signal"])]) == 0
    assert "FatJetConstituent association" in capsys.readouterr().out
    assert main(["info", str(shared_delphes / "eic_proton_gun_delphes_output.root")]) == 0
    assert "no collection 'FatJet'" in capsys.readouterr().out
    _one_sentence_error(capsys, ["info", str(shared_delphes / "bad_delphes.root")], "--tree")


def test_the_shipped_real_delphes_config_fills_histograms(shared_delphes, tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)  # its file path is relative to the repository root
    argv = ["run", "configs/real_delphes.yaml", "--output", str(tmp_path)]
    assert main(argv) == 0
    histograms = load_histograms(tmp_path / "real_delphes")
    assert histograms["score_cut_based_top"].sum(flow=True).value == 6
    assert histograms["control_sd_mass"].sum().value == 6


def test_the_quickstart_config_names_the_shipped_samples():
    from boostjet.config import load_config

    config = load_config(REPO / "configs" / "quickstart.yaml")
    assert {name: d.files for name, d in config.datasets.items()} == {
        "ttbar": ["samples/ttbar_mc.root"],
        "qcd": ["samples/qcd_mc.root"],
        "wjets": ["samples/wjets_mc.root"],
        "data": ["samples/data_like.root"],
    }
    assert (config.executor.type, config.executor.workers) == ("futures", 2)
    assert [name for name, d in config.datasets.items() if d.is_data] == ["data"]


def test_the_console_script_prints_one_sentence_and_exits_2(write_config, tmp_path):
    text = tmp_path / "text.root"
    text.write_text("hello")
    config = write_config({"x": {"files": [str(text)]}})
    done = subprocess.run(
        [BOOSTJET, "run", str(config)], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 2
    assert done.stderr.strip() == f"error: {text} is not a ROOT file."
    assert "Traceback" not in done.stderr + done.stdout


def test_generate_is_wired_to_the_generator(tmp_path, capsys):
    output = tmp_path / "tiny.root"
    argv = ["generate", "--process", "ttbar", "--events", "5", "--seed", "3", "--no-mpi"]
    assert main([*argv, "--output", str(output)]) == 0
    assert "wrote" in capsys.readouterr().err
    assert main(["info", str(output)]) == 0
    assert "events: 5" in capsys.readouterr().out
    bad = ["generate", "--process", "nope", "--events", "5", "--output", str(output)]
    _one_sentence_error(capsys, bad, "Generation option 'process' is invalid")
