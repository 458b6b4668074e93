"""Read errors: told from bugs, located in the traceback, and found by reading every basket."""

from __future__ import annotations

import warnings
import zlib
from pathlib import Path

import pytest
import uproot
from coffea.nanoevents import NanoEventsFactory

from boostjet.errors import InputDataError
from boostjet.pipeline.baskets import is_read_error, read_problem, unreadable_baskets
from boostjet.pipeline.guards import guarded_call
from boostjet.processors.delphes import BoostjetDelphesSchema

SAMPLES = sorted((Path(__file__).parents[2] / "samples").glob("*.root"))
ZLIB_REASON = "(zlib.error: Error -3 while decompressing data: incorrect data check)"


def _raised(function) -> BaseException:
    try:
        function()
    except Exception as error:
        return error
    raise AssertionError("nothing was raised")


def _lazy_events(path: Path, start: int, stop: int):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        events = NanoEventsFactory.from_root(
            {str(path): "Delphes"},
            schemaclass=BoostjetDelphesSchema,
            mode="virtual",
            entry_start=start,
            entry_stop=stop,
            metadata={"dataset": "tt", "filename": str(path)},
        ).events()
    events.metadata.update(entrystart=start, entrystop=stop)
    return events


def test_decompression_errors_are_read_errors_and_bugs_are_not():
    assert is_read_error(_raised(lambda: zlib.decompress(b"not zlib data")))
    assert not is_read_error(_raised(lambda: int("x")))  # a ValueError outside uproot
    assert read_problem(_raised(lambda: {}["key"])) is None

    def wrapped():
        try:
            zlib.decompress(b"not zlib data")
        except zlib.error as error:
            raise AttributeError("while trying to get field 'PT'") from error

    assert read_problem(_raised(wrapped)) == (
        "a basket cannot be read (zlib.error: Error -3 while decompressing data: incorrect "
        "header check)"
    )


def test_a_lazy_read_of_a_corrupt_basket_names_branch_and_basket(corrupt_sample):
    """coffea reads the FatJet counts on the first use of a FatJet field, and awkward re-raises
    the zlib error as an AttributeError; the chain and its traceback still name the basket."""
    path = corrupt_sample("FatJet_size", 1)
    events = _lazy_events(path, 300, 600)
    error = _raised(lambda: events.FatJet.PT)
    assert isinstance(error, AttributeError)
    # the middle of this small basket is its compression header: uproot's own ValueError
    expected = (
        "basket 1 of branch 'FatJet_size' (entries 500–600) cannot be read "
        "(ValueError: unrecognized compression algorithm: b'\\xff\\xff')"
    )
    assert read_problem(error) == expected
    _, failure = guarded_call(lambda e: e.FatJet.PT, events, False, 0)
    assert isinstance(failure["error"], InputDataError)
    assert failure["reason"] == f"{path} entries 300–600: {expected}."
    assert failure["entry_start"] == 300 and failure["entry_stop"] == 600


def test_a_genuine_bug_is_not_taken_for_bad_input(corrupt_sample):
    events = _lazy_events(corrupt_sample("FatJet.PT", 1), 0, 300)

    def bug(events):
        raise ValueError("a bug in the processor")

    with pytest.raises(ValueError, match="a bug in the processor"):
        guarded_call(bug, events, skip_bad_files=False, retries=0)
    _, failure = guarded_call(bug, events, skip_bad_files=True, retries=0)
    assert failure["error"] is None and failure["reason"] == "ValueError: a bug in the processor"


def test_unreadable_baskets_finds_the_corrupt_one_in_the_entries_asked_for(corrupt_sample):
    path = corrupt_sample("EFlowTrack.Eta", 0)
    with uproot.open(path) as file:
        tree = file["Delphes"]
        [found] = unreadable_baskets(tree)
        assert unreadable_baskets(tree, 500, 600) == []
        assert unreadable_baskets(tree, 499, 501) == [found]
    assert (found.branch, found.basket, found.entry_start, found.entry_stop) == (
        "EFlowTrack.Eta",
        0,
        0,
        500,
    )
    assert f"({found.reason})" == ZLIB_REASON


@pytest.mark.parametrize("path", SAMPLES, ids=[p.name for p in SAMPLES])
def test_the_shipped_samples_have_no_unreadable_basket(path):
    with uproot.open(path) as file:
        assert unreadable_baskets(file["Delphes"]) == []


@pytest.mark.parametrize(
    "name", ["tth_hbb_cms_fatjet.root", "zh_tag_1_delphes_events.root", "uproot-issue513.root"]
)
def test_genuine_delphes_files_have_no_unreadable_basket(shared_delphes, name):
    """Including the fBits branches of Delphes ≤ 3.4, which uproot cannot interpret: their
    baskets are read and decompressed, not interpreted."""
    with uproot.open(shared_delphes / name) as file:
        tree = file["Delphes"]
        assert any(key.endswith(".fBits") for key in tree.keys())
        assert unreadable_baskets(tree) == []
