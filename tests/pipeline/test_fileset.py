"""Datasets → fileset: globbing, and the pre-flight check that names every bad file."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from boostjet.errors import ConfigError, InputFileError
from boostjet.pipeline.fileset import (
    build_fileset,
    check_file,
    chunk_ranges,
    chunks_of,
    coffea_fileset,
    expand_files,
    repeated_inputs,
)
from boostjet.pipeline.remote import is_glob, server


def test_globs_expand_relative_to_the_working_directory(flat_files, monkeypatch):
    monkeypatch.chdir(flat_files["signal"].parent)
    files = expand_files("mc", ["*.root", "signal.root"])
    assert [f.rsplit("/", 1)[-1] for f in files] == [
        "background.root",
        "broken.root",
        "signal.root",
    ]


def test_a_glob_matching_nothing_names_dataset_and_pattern(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=r"datasets\.ttbar\.files: the pattern 'nope\*\.root'"):
        expand_files("ttbar", ["nope*.root"])


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1:1/data/ttbar.root?authz=token",
        "root://127.0.0.1:1//data/ttbar.root?authz=token",
        "root://[::1]:1//data/ttbar.root",
    ],
)
def test_a_url_with_a_query_or_an_ipv6_host_is_one_file_not_a_glob(url):
    """Found by a tester (issue 16): the whole URL was searched for glob characters, so the `?` of
    a query or the `[` of an IPv6 host made a glob of one file, which an https:// URL refused."""
    assert list(expand_files("mc", [url]).items()) == [(url, 1)]
    assert not is_glob(url)


def test_only_the_path_of_a_url_and_local_paths_are_globs():
    assert is_glob("root://127.0.0.1:1//data/*_mc.root?authz=token")
    assert is_glob("root://[::1]:1//data/[qt]*.root")
    assert is_glob("samples/ttbar_?c.root")
    assert not is_glob("samples/ttbar_mc.root")


def test_the_server_of_a_url_on_an_ipv6_host_keeps_its_brackets():
    """Found with the glob fix: ``server`` dropped the brackets of an IPv6 host, so the pre-flight
    failed with a ValueError (a traceback) on the address it built."""
    assert server("root://[::1]:1//data/ttbar.root") == "root://[::1]:1"
    assert server("https://[::1]/f.root?authz=token") == "https://[::1]:443"
    assert server("root://127.0.0.1//data/ttbar.root") == "root://127.0.0.1:1094"


def test_a_missing_plain_path_is_left_for_the_preflight(run_config, tmp_path):
    config = run_config(datasets={"x": {"files": [str(tmp_path / "missing.root")]}})
    with pytest.raises(InputFileError, match=r"missing\.root does not exist"):
        build_fileset(config)


def _problem(path, run_config) -> str | None:
    return check_file("x", str(path), run_config()).problem


def test_preflight_names_each_kind_of_bad_file(run_config, shared_delphes, tmp_path):
    text = tmp_path / "notes.root"
    text.write_text("not a ROOT file\n")
    truncated = tmp_path / "cut.root"
    content = (shared_delphes / "tth_hbb_cms_fatjet.root").read_bytes()
    truncated.write_bytes(content[: len(content) // 2])
    cases = {
        text: f"{text} is not a ROOT file.",
        truncated: f"{truncated} is not a readable ROOT file (truncated or corrupt",
        shared_delphes / "bad_delphes.root": "bad_delphes.root has no tree 'Delphes' (set by tree)",
        shared_delphes / "eic_proton_gun_delphes_output.root": (
            "eic_proton_gun_delphes_output.root (tree 'Delphes') has no fat-jet collection "
            "'FatJet' (set by fatjet_collection)."
        ),
    }
    for path, sentence in cases.items():
        assert sentence in _problem(path, run_config)


def test_preflight_says_a_directory_or_a_fifo_is_not_a_root_file(run_config, tmp_path):
    """Found by a tester: a directory given as an input file was reported as missing. A FIFO
    would block the open() that reads the first bytes, so it is refused before."""
    fifo = tmp_path / "pipe.root"
    os.mkfifo(fifo)
    assert _problem(tmp_path, run_config) == f"{tmp_path} is a directory, not a ROOT file."
    assert _problem(fifo, run_config) == f"{fifo} is not a regular file, so not a ROOT file."


def test_a_file_cut_after_its_directory_is_caught_by_its_announced_size(flat_files, tmp_path):
    """uproot can open a file whose tail (baskets) is missing; its header still gives it away."""
    from boostjet.config import RunConfig

    content = flat_files["signal"].read_bytes()
    cut = tmp_path / "tail_missing.root"
    cut.write_bytes(content[:-100])
    config = RunConfig.model_validate({"datasets": {"x": {"files": [str(cut)]}}})
    problem = check_file("x", str(cut), config).problem
    assert str(cut) in problem
    assert "truncated" in problem


def test_good_files_are_counted_genuine_and_flat(run_config, shared_delphes, flat_files):
    genuine = check_file("x", str(shared_delphes / "tth_hbb_cms_fatjet.root"), run_config())
    flat = check_file("x", str(flat_files["signal"]), run_config())
    assert (genuine.ok, genuine.entries) == (True, 10)
    assert (flat.ok, flat.entries) == (True, 120)
    assert genuine.uuid and flat.uuid


def test_skip_bad_files_keeps_bad_files_with_their_reason_and_count(
    run_config, flat_files, shared_delphes, tmp_path
):
    text = tmp_path / "text.root"
    text.write_text("hello")
    eic = str(shared_delphes / "eic_proton_gun_delphes_output.root")
    config = run_config(
        datasets={"x": {"files": [str(flat_files["signal"]), str(text), eic]}},
        executor={"skip_bad_files": True, "chunksize": 50},
    )
    items = build_fileset(config)["x"]
    assert [(i.ok, i.entries) for i in items] == [(True, 120), (False, None), (False, 1000)]
    chunks = chunks_of({"x": items}, "Delphes", 50)
    assert [(c.start, c.stop) for c in chunks] == [(0, 50), (50, 100), (100, 120)]
    spec = coffea_fileset({"x": items}, "Delphes", 50)
    assert list(spec["x"]["files"]) == [str(flat_files["signal"])]
    assert spec["x"]["files"][str(flat_files["signal"])]["steps"] == [
        [0, 50],
        [50, 100],
        [100, 120],
    ]


def test_chunk_ranges_cover_every_entry_once():
    assert chunk_ranges(0, 10) == []
    assert chunk_ranges(10, 10) == [(0, 10)]
    assert chunk_ranges(25, 10) == [(0, 10), (10, 20), (20, 25)]


def test_files_are_not_listed_twice(flat_files, tmp_path, monkeypatch):
    shutil.copy(flat_files["signal"], tmp_path / "a.root")
    monkeypatch.chdir(tmp_path)
    assert len(expand_files("x", ["a.root", str(tmp_path / "a.root"), "*.root"])) == 1


def test_files_listed_or_read_twice_are_warnings(run_config, flat_files, tmp_path):
    """Found by a tester: the same file (or a byte copy: same ROOT UUID) in two datasets was
    counted twice without a word; a path listed twice in one dataset is read once."""
    signal, background = str(flat_files["signal"]), str(flat_files["background"])
    link, copy = str(tmp_path / "link.root"), str(tmp_path / "copy.root")
    Path(link).symlink_to(signal)
    shutil.copy(signal, copy)

    def notes(**datasets) -> list[str]:
        config = run_config(datasets={name: {"files": files} for name, files in datasets.items()})
        return repeated_inputs(build_fileset(config))

    twice = "so its events are read twice (fine for a closure test with simulation as pseudo-data)"
    uuid = check_file("a", signal, run_config()).uuid
    assert notes(a=[signal, background, signal], b=[signal]) == [
        f"{signal} is listed 2 times in dataset a; it is read once.",
        f"{signal} (dataset a) and {signal} (dataset b) are the same file, {twice}.",
    ]
    assert notes(a=[signal], c=[link]) == [
        f"{signal} (dataset a) and {link} (dataset c) are the same file, {twice}."
    ]
    assert notes(a=[background, copy], d=[signal]) == [
        f"{copy} (dataset a) and {signal} (dataset d) are copies of one ROOT file (UUID {uuid}), "
        f"{twice}."
    ]
    assert notes(a=[signal, link], b=[background, copy, signal]) == [
        f"{signal} (dataset a), {link} (dataset a) and 2 more paths are copies of one ROOT file "
        f"(UUID {uuid}), so its events are read 4 times (fine for a closure test with simulation "
        "as pseudo-data)."
    ]
    assert notes(sig=[signal], bkg=[background]) == []
