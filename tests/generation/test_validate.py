"""Validation table: truth classes of generated fat jets and the genuine-Delphes reference."""

import pytest

from boostjet.errors import InputFileError
from boostjet.generation import GenerationOptions, generate
from boostjet.generation.validate import REFERENCE, jet_response, render, validation_table


@pytest.fixture(scope="module")
def ttbar_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("validate") / "ttbar.root"
    generate(GenerationOptions(process="ttbar", events=40, seed=11), path, progress=False)
    return path


def test_top_jets_peak_near_the_top_mass(ttbar_file):
    rows = validation_table([ttbar_file], reference=None)
    by_class = {(r["collection"], r["jet_class"]): r for r in rows}
    top = by_class["FatJet", "top"]
    assert top["jets"] >= 10
    assert 140 < top["msd_q50"] < 195
    assert 20 < top["constituents_q50"] < 120
    assert {r["jet_class"] for r in rows} <= {"top", "W", "Z", "QCD", "unmatched"}
    assert render(rows).row_count == len(rows)


def test_fat_jet_response_is_close_to_one(ttbar_file):
    response = jet_response(ttbar_file)
    assert response["jets"] >= 20
    assert 0.95 < response["q50"] < 1.05
    assert 0 < response["resolution"] < 0.1


@pytest.mark.skipif(not REFERENCE.is_file(), reason="the shared Delphes files are not present")
def test_reference_row_counts_constituent_refs():
    rows = validation_table([], reference=REFERENCE)
    assert rows[0]["jets"] == 6
    assert rows[0]["constituents_q16"] >= 23
    assert rows[0]["constituents_q84"] <= 43


def test_missing_file_is_an_input_error(tmp_path):
    with pytest.raises(InputFileError, match="does not exist"):
        validation_table([tmp_path / "none.root"], reference=None)
