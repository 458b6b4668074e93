"""The processor on a real Delphes file: every selected jet lands in the histograms once."""

from __future__ import annotations

import awkward as ak
import numpy as np
from test_delphes import SHARED, load, needs_shared

from boostjet.config import RunConfig
from boostjet.errors import InputDataError
from boostjet.processors import tagging
from boostjet.processors.constituents import CONSTITUENT_FEATURES
from boostjet.processors.tagging import (
    JET_FEATURES,
    KINEMATIC_FEATURES,
    BoostedJetProcessor,
    build_jet_inputs,
)


def config(**changes) -> RunConfig:
    base = {
        "datasets": {"tth": {"files": ["x.root"]}},
        "selection": {"pt_min": 200.0},
        "truth": {"genjet_collection": None},
        "histograms": {"pt_edges": [200, 300, 500]},
    }
    return RunConfig.model_validate(base | changes)


def events_of(name):
    events = load(SHARED / name)
    events.metadata["dataset"] = "tth"
    return events


@needs_shared
def test_processor_fills_every_selected_jet_once():
    events = events_of("tth_hbb_cms_fatjet.root")
    out = BoostedJetProcessor(config()).process(events)
    assert out["cutflow"]["tth"] == {
        "events_processed": 10,
        "fat_jets_selected": 6,
        "constituent_refs_unresolved": 0,
    }
    for name in ("score_cut_based_top", "score_cut_based_w", "control_sd_mass"):
        assert out["histograms"][name].sum(flow=True).value == 6


@needs_shared
def test_jet_inputs_match_the_jets_and_their_constituents():
    inputs = build_jet_inputs(events_of("tth_hbb_cms_fatjet.root"), config(), is_data=False)
    assert inputs.constituents.shape == (6, 64, len(CONSTITUENT_FEATURES))
    assert inputs.jet_matrix().shape == (6, len(JET_FEATURES))
    np.testing.assert_array_equal(inputs.mask.sum(axis=1), ak.to_numpy(inputs.jets.n_constituents))
    # constituent pT sums (first 64 of at most 43) equal the jets' scalar pT sums of constituents
    pt = inputs.constituents[:, :, CONSTITUENT_FEATURES.index("pt")]
    assert np.all(np.diff(pt, axis=1)[inputs.mask[:, 1:]] <= 0)  # pT-ordered


@needs_shared
def test_missing_fat_jet_collection_names_the_file_and_option():
    events = events_of("zh_tag_1_delphes_events.root")
    try:
        BoostedJetProcessor(config()).process(events)
    except InputDataError as error:
        assert "FatJet" in str(error) and "fatjet_collection" in str(error)
    else:
        raise AssertionError("a file without FatJet must raise InputDataError")


WITHOUT_IMPACT_PARAMETERS = {
    "features": [f for f in CONSTITUENT_FEATURES if f not in ("d0", "dz", "d0_error", "dz_error")]
}


@needs_shared
def test_delphes_33_jets_with_only_softdroppedp4_can_be_the_tagged_collection():
    events = events_of("zh_tag_1_delphes_events.root")
    cfg = config(
        fatjet_collection="Jet",
        selection={"pt_min": 20.0},
        constituents=WITHOUT_IMPACT_PARAMETERS,
    )
    inputs = build_jet_inputs(events, cfg, is_data=False)
    assert len(inputs.jets) > 0 and inputs.unresolved_refs == 0
    assert np.all(ak.to_numpy(inputs.jets.sd_mass) <= ak.to_numpy(inputs.jets.mass) + 1e-3)


@needs_shared
def test_nan_in_jet_kinematics_is_a_clear_error(tmp_path):
    import uproot
    from flat_copy import write_flat_copy

    from boostjet.generation.writer import write_flat

    flat = write_flat_copy(SHARED / "tth_hbb_cms_fatjet.root", tmp_path / "flat.root")
    arrays = uproot.open(flat)["Delphes"].arrays(library="ak")
    records = {}
    for name in ("FatJet", "FatJetConstituent", "EFlowTrack", "EFlowPhoton", "EFlowNeutralHadron"):
        fields = [f for f in arrays.fields if f.startswith(f"{name}.")]
        records[name] = ak.zip({f.split(".", 1)[1]: arrays[f] for f in fields})
    records["FatJet"]["Mass"] = records["FatJet"].Mass * np.float32(np.nan)
    broken = write_flat(tmp_path / "nan.root", records)
    events = load(broken)
    events.metadata.update(dataset="tth", filename=str(broken), entrystart=0, entrystop=10)
    try:
        build_jet_inputs(events, config(), is_data=False)
    except InputDataError as error:
        assert "NaN or inf" in str(error) and "nan.root" in str(error)
    else:
        raise AssertionError("NaN jet masses must raise InputDataError")


@needs_shared
def test_without_constituents_the_jets_are_the_same_and_counted_by_delphes():
    # Delphes' NCharged + NNeutrals equals the number of resolved Constituents of every fat jet
    events = events_of("tth_hbb_cms_fatjet.root")
    full = build_jet_inputs(events, config(), is_data=False)
    light = build_jet_inputs(events, config(), is_data=False, with_constituents=False)
    assert light.leading is None and light.unresolved_refs == 0
    for name in (*KINEMATIC_FEATURES, "n_constituents", "label"):
        np.testing.assert_array_equal(ak.to_numpy(light.jets[name]), ak.to_numpy(full.jets[name]))
    assert ak.to_list(full.jets.n_constituents) == [26, 43, 38, 23, 23, 33]


@needs_shared
def test_a_run_without_models_never_resolves_constituents(monkeypatch):
    def fail(*args):
        raise AssertionError("constituents were built for a run without models")

    monkeypatch.setattr(tagging, "_constituents", fail)
    out = BoostedJetProcessor(config()).process(events_of("tth_hbb_cms_fatjet.root"))
    assert out["histograms"]["control_n_constituents"].sum(flow=True).value == 6


@needs_shared
def test_impact_parameters_asked_of_a_delphes_33_file_are_a_clear_error():
    events = events_of("zh_tag_1_delphes_events.root")
    cfg = config(fatjet_collection="Jet", selection={"pt_min": 20.0})
    try:
        build_jet_inputs(events, cfg, is_data=False)
    except InputDataError as error:
        assert "impact parameters" in str(error) and "constituents.features" in str(error)
    else:
        raise AssertionError("a file without D0/DZ must not give impact-parameter features")


@needs_shared
def test_impact_parameters_are_those_delphes_stored_for_the_tracks():
    # tth_hbb_cms_fatjet.root (Delphes 3.4.2, CMS card) stores D0, DZ and (all zero, its card
    # smears no tracks) ErrorD0, ErrorDZ
    events = events_of("tth_hbb_cms_fatjet.root")
    inputs = build_jet_inputs(events, config(), is_data=False)
    rows = inputs.leading.rows
    column = {name: rows[:, CONSTITUENT_FEATURES.index(name)] for name in CONSTITUENT_FEATURES}
    track = column["charge"] != 0
    stored = {
        name: np.sort(ak.to_numpy(ak.flatten(events.EFlowTrack[leaf])))
        for name, leaf in (("d0", "D0"), ("dz", "DZ"), ("d0_error", "ErrorD0"))
    }
    for name, values in stored.items():
        found = np.searchsorted(values, column[name][track])
        assert np.allclose(values[np.minimum(found, len(values) - 1)], column[name][track])
    assert np.all(column["d0"][track] != 0)
    for name in ("d0", "dz", "d0_error", "dz_error"):
        assert not column[name][~track].any()
