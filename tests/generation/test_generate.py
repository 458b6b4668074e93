"""End to end on a tiny sample: file layout, unique IDs, constituents, truth record, seeds."""

import awkward as ak
import numpy as np
import pytest
import uproot

from boostjet.generation import GenerationOptions, generate, generate_mixture
from boostjet.generation.kinematics import cartesian
from boostjet.generation.processes import WEIGHT_NAMES
from boostjet.generation.writer import LAYOUT, WEIGHT_NAMES_KEY, branch_names

TINY = {"process": "ttbar", "events": 24, "seed": 3, "batch_size": 12}


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    path = tmp_path_factory.mktemp("generation") / "ttbar.root"
    summary = generate(GenerationOptions(**TINY), path, progress=False)
    return path, summary


@pytest.fixture(scope="module")
def arrays(sample):
    return uproot.open(sample[0])["Delphes"].arrays()


def _collection(arrays, name):
    return ak.zip({f: arrays[f"{name}.{f}"] for f in LAYOUT[name]})


def test_summary_counts_events_and_time_shares(sample):
    _, summary = sample
    assert summary["events"] == 24
    assert summary["fat_jets"] > 0
    assert set(summary["time_share"]) >= {"pythia", "detector", "clustering", "writing"}
    assert sum(summary["time_share"].values()) == pytest.approx(1.0, abs=1e-3)


def test_file_has_exactly_the_flat_layout_branches(sample):
    tree = uproot.open(sample[0])["Delphes"]
    assert set(tree.keys()) == branch_names()
    assert tree.num_entries == 24
    for collection, fields in LAYOUT.items():
        assert tree[f"{collection}_size"].interpretation.from_dtype == np.dtype(">i4")
        for field, dtype in fields.items():
            leaf = tree[f"{collection}.{field}"].interpretation.content.from_dtype
            assert leaf == np.dtype(dtype).newbyteorder(">"), (collection, field)


def test_unique_ids_are_unique_within_each_event(arrays):
    ids = ak.concatenate(
        [arrays[f"{c}.fUniqueID"] for c in LAYOUT if "fUniqueID" in LAYOUT[c]], axis=1
    )
    n = ak.to_numpy(ak.num(ids))
    assert ak.all(ak.sort(ids) == ak.local_index(ids) + 1)
    assert n.min() > 0


def test_event_record(arrays):
    assert ak.flatten(arrays["Event.Number"]).tolist() == list(range(24))
    assert set(ak.flatten(arrays["Event.ProcessID"]).tolist()) <= {601, 602}
    assert ak.all(arrays["Event.CrossSection"] > 0)


def test_each_event_carries_its_nominal_and_shower_variation_weights(sample, arrays):
    with uproot.open(sample[0]) as file:
        assert str(file[WEIGHT_NAMES_KEY]) == "nominal isr_up isr_down fsr_up fsr_down"
    weights = arrays["Weight.Weight"]
    assert ak.all(ak.num(weights) == len(WEIGHT_NAMES))
    np.testing.assert_array_equal(weights[:, 0], ak.flatten(arrays["Event.Weight"]))
    variations = ak.to_numpy(weights[:, 1:])
    assert np.all(np.isfinite(variations)) and np.all(variations >= 0)
    assert np.all(variations.std(axis=0) > 0)  # the variations move event by event


def _energy_flow_p4(arrays):
    """Four-momenta and fUniqueID of all energy-flow objects, event × object."""
    tracks = _collection(arrays, "EFlowTrack")
    photons = _collection(arrays, "EFlowPhoton")
    hadrons = _collection(arrays, "EFlowNeutralHadron")
    parts = [
        cartesian(tracks.PT, tracks.Eta, tracks.Phi, tracks.Mass),
        cartesian(photons.ET, photons.Eta, photons.Phi, 0.0),
        cartesian(hadrons.ET, hadrons.Eta, hadrons.Phi, 0.0),
    ]
    p4 = [ak.concatenate([part[i] for part in parts], axis=1) for i in range(4)]
    ids = ak.concatenate([tracks.fUniqueID, photons.fUniqueID, hadrons.fUniqueID], axis=1)
    return p4, ids


@pytest.mark.parametrize("name", ["FatJet", "Jet"])
def test_constituents_sum_to_the_jet_four_momentum(arrays, name):
    p4, ids = _energy_flow_p4(arrays)
    refs = _collection(arrays, name + "Constituent")
    # Resolve each Ref among the event's objects by sorting (event, fUniqueID) keys.
    n_objects = ak.to_numpy(ak.num(ids))
    key = ak.to_numpy(ak.flatten(ids)) + np.repeat(np.arange(len(ids)), n_objects) * 10**6
    order = np.argsort(key)
    n_refs = ak.to_numpy(ak.num(refs))
    wanted = ak.to_numpy(ak.flatten(refs.Ref)) + np.repeat(np.arange(len(ids)), n_refs) * 10**6
    position = np.searchsorted(key[order], wanted)
    assert np.array_equal(key[order][position], wanted)
    row = order[position]
    jets = _collection(arrays, name)
    n_jets = ak.to_numpy(ak.num(jets))
    jet_row = ak.to_numpy(ak.flatten(refs.Jet)) + np.repeat(np.cumsum(n_jets) - n_jets, n_refs)
    summed = [np.bincount(jet_row, ak.to_numpy(ak.flatten(c))[row], n_jets.sum()) for c in p4]
    expected = cartesian(
        *(ak.to_numpy(ak.flatten(jets[f])).astype(float) for f in ("PT", "Eta", "Phi", "Mass"))
    )
    assert n_jets.sum() > 0
    for got, want in zip(summed, expected, strict=True):
        assert np.allclose(got, want, rtol=1e-4, atol=1e-2)
    counts = np.bincount(jet_row, minlength=n_jets.sum())
    assert np.array_equal(counts, ak.to_numpy(ak.flatten(jets.NCharged + jets.NNeutrals)))
    assert ak.all(jets.PT[:, :-1] >= jets.PT[:, 1:])


def test_reduced_record_holds_each_top_and_its_three_quarks(arrays):
    particles = _collection(arrays, "Particle")
    index = ak.local_index(particles)
    is_top = abs(particles.PID) == 6
    tops = particles[is_top]
    assert ak.all(ak.num(tops) == 2)
    first, second = particles[tops.D1], particles[tops.D2]
    assert ak.all(tops.D2 == tops.D1 + 1)
    assert ak.all(abs(first.PID) * abs(second.PID) == 5 * 24)
    w_index = ak.where(abs(first.PID) == 24, tops.D1, tops.D2)
    w = particles[w_index]
    assert ak.all(w.M1 == index[is_top])
    for daughter in (w.D1, w.D2):
        quark = particles[daughter]
        assert ak.all((abs(quark.PID) >= 1) & (abs(quark.PID) <= 5))
        assert ak.all(quark.M1 == w_index)


def test_same_options_give_identical_files_whatever_the_workers(tmp_path, arrays):
    again = tmp_path / "again.root"
    generate(GenerationOptions(**TINY, workers=2), again, progress=False)
    other = uproot.open(again)["Delphes"].arrays()
    assert other.fields == arrays.fields
    for field in arrays.fields:
        assert ak.all(other[field] == arrays[field], axis=None), field


def test_mixture_writes_both_processes_into_one_file(tmp_path):
    path = tmp_path / "mixture.root"
    components = [
        GenerationOptions(process="ttbar", events=6, seed=1, card="data-like"),
        GenerationOptions(process="qcd", events=6, seed=2, card="data-like"),
    ]
    summary = generate_mixture(components, path, progress=False)
    assert summary["events"] == 12
    tree = uproot.open(path)["Delphes"]
    assert ak.flatten(tree["Event.Number"].array()).tolist() == list(range(12))
    codes = ak.flatten(tree["Event.ProcessID"].array()).tolist()
    assert set(codes[:6]) <= {601, 602}
    assert all(110 < code < 125 for code in codes[6:])
