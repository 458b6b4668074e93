"""Pythia configuration and the process codes read off the hard-process record."""

import awkward as ak
import pytest

from boostjet.errors import GenerationError
from boostjet.generation.processes import hard_process_codes, pythia_settings, start_pythia


def test_settings_switch_mpi_off_and_seed_the_run():
    settings = pythia_settings("ttbar", ecm=14000.0, pthat_min=500.0, mpi=False, seed=7)
    assert "PartonLevel:MPI = off" in settings
    assert "Random:seed = 7" in settings
    assert "24:onIfAny = 1 2 3 4 5" in settings
    assert "PhaseSpace:pTHatMin = 500.0" in settings


def test_unknown_process_names_the_option():
    with pytest.raises(GenerationError, match="'process'"):
        pythia_settings("mixture", ecm=14000.0, pthat_min=500.0, mpi=False, seed=1)


@pytest.mark.parametrize("process", ["ttbar", "qcd", "wjets", "zjets"])
def test_inferred_codes_agree_with_pythia(process):
    pythia = start_pythia(pythia_settings(process, ecm=14000.0, pthat_min=400.0, mpi=False, seed=3))
    ids, codes = [], []
    while len(codes) < 25:
        if pythia.next():
            ids.append([pythia.event[i].id() for i in range(7)])
            codes.append(pythia.infoPython().code())
    inferred = hard_process_codes(process, ak.Array(ids)).tolist()
    # q q̄ → q q̄ of the incoming flavour may be Pythia's 114 or 116; it is written as 114.
    agree = [a == b or (a, b) == (114, 116) for a, b in zip(inferred, codes, strict=True)]
    assert all(agree), list(zip(inferred, codes, strict=True))
