"""Reduced generator record: copy chains collapsed, relatives re-indexed into the kept subset."""

import awkward as ak
import numpy as np

from boostjet.generation.truth_record import reduced_record

# A hand-made Pythia record of g g → t t̄ with copies:
# (index, id, status, mother1, mother2, daughter1, daughter2)
RECORD = [
    (0, 90, -11, 0, 0, 0, 0),
    (1, 2212, -12, 0, 0, 3, 0),
    (2, 2212, -12, 0, 0, 4, 0),
    (3, 21, -21, 1, 0, 5, 6),
    (4, 21, -21, 2, 0, 5, 6),
    (5, 6, -22, 3, 4, 7, 7),
    (6, -6, -22, 3, 4, 8, 8),
    (7, 6, -62, 5, 5, 9, 10),  # last top copy: t → W+ b
    (8, -6, -62, 6, 6, 11, 12),  # last anti-top copy: t̄ → W- b̄
    (9, 24, -22, 7, 0, 13, 13),  # first W+, copied once more
    (10, 5, 23, 7, 0, 0, 0),
    (11, -24, -22, 8, 0, 14, 15),  # W- decays without copies
    (12, -5, 23, 8, 0, 0, 0),
    (13, 24, -52, 9, 9, 16, 17),  # last W+ copy: W+ → u d̄
    (14, 1, 23, 11, 0, 0, 0),
    (15, -2, 23, 11, 0, 0, 0),
    (16, 2, 23, 13, 0, 0, 0),
    (17, -1, 23, 13, 0, 0, 0),
]


def _record() -> ak.Array:
    rows = np.array(RECORD)
    n = len(rows)
    index = rows[:, 0].astype(float)
    particle = ak.zip(
        {
            "id": rows[:, 1].astype(np.int32),
            "status": rows[:, 2].astype(np.int32),
            "mother1": rows[:, 3].astype(np.int32),
            "mother2": rows[:, 4].astype(np.int32),
            "daughter1": rows[:, 5].astype(np.int32),
            "daughter2": rows[:, 6].astype(np.int32),
            # px encodes the record index, so the kept copy can be recognised.
            "p": ak.zip({"px": index, "py": np.ones(n), "pz": np.zeros(n), "e": index + 10}),
            "m": np.full(n, 1.0),
        },
        depth_limit=1,
    )
    return ak.unflatten(particle, [n])


def test_copy_chains_collapse_and_relatives_are_reindexed():
    record = _record()
    charge = np.zeros(len(RECORD))
    particles = reduced_record(record, charge).fields
    assert particles["PID"].tolist() == [6, -6, 24, 5, -24, -5, 1, -2, 2, -1]
    assert particles["Px"].tolist() == [7, 8, 13, 10, 11, 12, 14, 15, 16, 17]  # last copies
    assert particles["Status"].tolist() == [62, 62, 52, 23, 22, 23, 23, 23, 23, 23]
    assert particles["M1"].tolist() == [-1, -1, 0, 0, 1, 1, 4, 4, 2, 2]
    assert particles["M2"].tolist() == [-1] * 10
    assert particles["D1"].tolist() == [2, 4, 8, -1, 6, -1, -1, -1, -1, -1]
    assert particles["D2"].tolist() == [3, 5, 9, -1, 7, -1, -1, -1, -1, -1]


def test_events_without_resonances_keep_nothing():
    record = _record()
    no_tops = ak.with_field(record, ak.where(abs(record.id) == 6, 21, record.id), "id")
    no_bosons = ak.with_field(no_tops, ak.where(abs(no_tops.id) == 24, 21, no_tops.id), "id")
    kept = reduced_record(no_bosons, np.zeros(len(RECORD)))
    assert len(kept.event) == 0
    assert kept.counts(1).tolist() == [0]


def test_two_events_are_indexed_within_each_event():
    record = ak.concatenate([_record(), _record()])
    kept = reduced_record(record, np.zeros(2 * len(RECORD)))
    assert kept.counts(2).tolist() == [10, 10]
    assert kept.fields["M1"][10:].tolist() == [-1, -1, 0, 0, 1, 1, 4, 4, 2, 2]
