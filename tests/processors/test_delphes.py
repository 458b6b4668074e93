"""The schema adapter on real Delphes files and on the flat layout boostjet writes."""

from __future__ import annotations

import warnings
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
from coffea.nanoevents import NanoEventsFactory
from flat_copy import write_flat_copy

from boostjet.processors.constituents import resolve_references
from boostjet.processors.delphes import (
    BoostjetDelphesSchema,
    energy_flow_candidates,
    fat_jets,
    invariant_mass,
    jet_constituent_refs,
)

SHARED = Path(__file__).resolve().parents[3] / "shared" / "delphes"
EFLOW = ("EFlowTrack", "EFlowPhoton", "EFlowNeutralHadron")
needs_shared = pytest.mark.skipif(
    not SHARED.is_dir(), reason=f"real Delphes files not found at {SHARED}"
)


def load(path: Path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return NanoEventsFactory.from_root(
            {str(path): "Delphes"}, schemaclass=BoostjetDelphesSchema, mode="virtual"
        ).events()


@needs_shared
@pytest.mark.parametrize(
    ("name", "n_events", "collection"),
    [
        ("tth_hbb_cms_fatjet.root", 10, "FatJet"),
        ("zh_tag_1_delphes_events.root", 100, "Jet"),
        ("uproot-issue513.root", 10, "Jet"),
    ],
)
def test_genuine_files_of_delphes_33_to_35_load(name, n_events, collection):
    events = load(SHARED / name)
    assert len(events) == n_events
    jets = fat_jets(events, collection) if collection == "FatJet" else events[collection]
    assert ak.all(ak.flatten(jets.PT if collection != "FatJet" else jets.pt) > 0)
    # Delphes <= 3.4 tracks have no Mass leaf: the adapter gives them the zero mass Delphes used
    assert ak.all(ak.flatten(events.EFlowTrack.Mass) == 0)


@needs_shared
def test_duplicated_particle_branch_reads_the_generator_record():
    events = load(SHARED / "uproot-issue513.root")
    assert "PID" in ak.fields(events.Particle)
    assert ak.any(np.abs(ak.flatten(events.Particle.PID)) == 6)  # gg → tt̄ sample


@needs_shared
def test_empty_collections_load():
    events = load(SHARED / "eic_proton_gun_delphes_output.root")
    assert len(events) == 1000
    assert ak.sum(ak.num(events.Track.PT)) == 0


def resolved_sums(events, collection):
    refs = jet_constituent_refs(events, collection)
    resolved = resolve_references(refs, energy_flow_candidates(events, EFLOW))
    c = resolved.constituents
    px, py = ak.sum(c.px, axis=2), ak.sum(c.py, axis=2)
    pz, energy = ak.sum(c.pz, axis=2), ak.sum(c.E, axis=2)
    return resolved, np.hypot(px, py), invariant_mass(px, py, pz, energy)


@needs_shared
def test_resolved_constituents_add_up_to_the_fat_jet_four_momentum():
    events = load(SHARED / "tth_hbb_cms_fatjet.root")
    jets = fat_jets(events, "FatJet")
    resolved, pt, mass = resolved_sums(events, "FatJet")
    assert resolved.unresolved == 0
    counts = ak.flatten(ak.num(resolved.constituents, axis=2)).tolist()
    assert counts == ak.flatten(ak.num(jet_constituent_refs(events, "FatJet"), axis=2)).tolist()
    assert min(counts) == 23 and max(counts) == 43  # SOURCES.md: 23 to 43 refs per fat jet
    np.testing.assert_allclose(ak.flatten(pt), ak.flatten(jets.pt), rtol=1e-5)
    np.testing.assert_allclose(ak.flatten(mass), ak.flatten(jets.mass), rtol=1e-4)


@needs_shared
def test_flat_layout_presents_the_same_jets_and_constituents(tmp_path):
    source = SHARED / "tth_hbb_cms_fatjet.root"
    genuine = load(source)
    flat = load(write_flat_copy(source, tmp_path / "flat.root"))
    genuine_jets, flat_jets = fat_jets(genuine, "FatJet"), fat_jets(flat, "FatJet")
    assert ak.fields(genuine_jets) == ak.fields(flat_jets)
    for field in ak.fields(genuine_jets):
        np.testing.assert_allclose(
            ak.flatten(flat_jets[field]), ak.flatten(genuine_jets[field]), rtol=1e-6
        )
    genuine_candidates = energy_flow_candidates(genuine, EFLOW)
    flat_candidates = energy_flow_candidates(flat, EFLOW)
    assert ak.fields(genuine_candidates) == ak.fields(flat_candidates)
    assert ak.to_list(jet_constituent_refs(flat, "FatJet")) == ak.to_list(
        jet_constituent_refs(genuine, "FatJet")
    )
    _, flat_pt, flat_mass = resolved_sums(flat, "FatJet")
    np.testing.assert_allclose(ak.flatten(flat_pt), ak.flatten(genuine_jets.pt), rtol=1e-5)
    np.testing.assert_allclose(ak.flatten(flat_mass), ak.flatten(genuine_jets.mass), rtol=1e-4)
