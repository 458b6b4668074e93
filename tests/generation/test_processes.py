"""Pythia configuration and the process codes read off the hard-process record."""

import awkward as ak
import numpy as np
import pytest

from boostjet.errors import GenerationError
from boostjet.generation.processes import (
    SHOWER_VARIATIONS,
    hard_process_codes,
    pythia_settings,
    start_pythia,
    weight_columns,
)


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


def test_batch_weight_columns_are_pythias_named_shower_variations():
    # the same events one by one: Pythia's own weight of each named variation, by name
    settings = pythia_settings("ttbar", ecm=14000.0, pthat_min=500.0, mpi=False, seed=5)
    batched = start_pythia(settings)
    batch = batched.nextBatch(6)
    weights = ak.to_numpy(batch.info.weights)[:, weight_columns(batched)]
    one_by_one = start_pythia(settings)
    expected = []
    while len(expected) < len(batch):
        if one_by_one.next():
            info = one_by_one.infoPython()
            names = list(info.weightNameVector())
            variations = [info.weightValueByIndex(names.index(name)) for name in SHOWER_VARIATIONS]
            expected.append([info.weight(), *variations])
    np.testing.assert_allclose(weights, expected, rtol=1e-12)
    assert np.any(weights[:, 1:] != 1.0)
