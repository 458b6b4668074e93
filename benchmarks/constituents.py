"""Constituent building: vectorised TRefArray resolution + padding vs a per-jet Python loop.

Prints jets/s of both routes on the same events and their ratio, and the cost per jet at 1/4,
1/2 and all of the events (linear scaling shows as a flat µs/jet).

    python benchmarks/constituents.py [FILE ...] [--collection FatJet] [--repeat 3]
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import awkward as ak
import numpy as np
from coffea.nanoevents import NanoEventsFactory

from boostjet.processors.constituents import padded_constituents, resolve_references
from boostjet.processors.delphes import (
    BoostjetDelphesSchema,
    energy_flow_candidates,
    fat_jets,
    jet_constituent_refs,
)

EFLOW = ("EFlowTrack", "EFlowPhoton", "EFlowNeutralHadron")
DEFAULT_FILES = [Path("samples/ttbar_mc.root"), Path("samples/qcd_mc.root")]


def load_chunk(files: list[Path], collection: str):
    """Jets, their references and the energy-flow candidates, materialised in memory."""
    parts = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for path in files:
            events = NanoEventsFactory.from_root(
                {str(path): "Delphes"}, schemaclass=BoostjetDelphesSchema, mode="virtual"
            ).events()
            jets = fat_jets(events, collection)
            refs = jet_constituent_refs(events, collection)
            parts.append(
                (
                    ak.materialize(jets),
                    ak.materialize(refs),
                    ak.materialize(energy_flow_candidates(events, EFLOW)),
                )
            )
    jets = ak.concatenate([p[0] for p in parts])
    refs = ak.concatenate([p[1] for p in parts])
    candidates = ak.concatenate([p[2] for p in parts])
    return jets, refs, candidates


def vectorised(jets, refs, candidates, n_constituents: int) -> np.ndarray:
    """boostjet's route: one searchsorted over the chunk, then padding."""
    constituents = resolve_references(refs, candidates).constituents
    features, _ = padded_constituents(
        ak.flatten(jets), ak.flatten(constituents, axis=1), n_constituents
    )
    return features


def per_jet_loop(jets, refs, candidates, n_constituents: int) -> np.ndarray:
    """The plain alternative: a dictionary per event and a Python loop over jets and refs."""
    rows = []
    for event_jets, event_refs, event_cands in zip(
        jets.to_list(), refs.to_list(), candidates.to_list(), strict=True
    ):
        by_number = {c["uid"] & 0xFFFFFF: c for c in event_cands}
        for jet, jet_refs in zip(event_jets, event_refs, strict=True):
            found = sorted(
                (by_number[r] for r in jet_refs if r in by_number), key=lambda c: -c["pt"]
            )[:n_constituents]
            row = np.zeros((n_constituents, 10), dtype=np.float32)
            for k, c in enumerate(found):
                dphi = (c["phi"] - jet["phi"] + np.pi) % (2 * np.pi) - np.pi
                row[k] = (
                    c["E"],
                    c["px"],
                    c["py"],
                    c["pz"],
                    c["pt"],
                    c["eta"],
                    c["phi"],
                    c["eta"] - jet["eta"],
                    dphi,
                    c["charge"],
                )
            rows.append(row)
    return np.stack(rows) if rows else np.zeros((0, n_constituents, 10), np.float32)


def timed(function, *args, repeat: int) -> float:
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        function(*args)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=Path, default=DEFAULT_FILES)
    parser.add_argument("--collection", default="FatJet")
    parser.add_argument("--n-constituents", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    jets, refs, candidates = load_chunk(args.files, args.collection)
    n_jets = int(ak.sum(ak.num(jets)))
    np.testing.assert_allclose(
        vectorised(jets, refs, candidates, args.n_constituents),
        per_jet_loop(jets, refs, candidates, args.n_constituents),
        rtol=1e-5,
        atol=1e-4,
    )
    print(f"events {len(jets)}, fat jets {n_jets}; both routes give identical arrays")
    print(f"{'events':>8} {'jets':>7} {'vectorised µs/jet':>18} {'loop µs/jet':>12} {'ratio':>7}")
    for fraction in (0.25, 0.5, 1.0):
        stop = max(1, int(len(jets) * fraction))
        sub = (jets[:stop], refs[:stop], candidates[:stop], args.n_constituents)
        jets_here = max(int(ak.sum(ak.num(sub[0]))), 1)
        fast = timed(vectorised, *sub, repeat=args.repeat)
        slow = timed(per_jet_loop, *sub, repeat=1)
        print(
            f"{stop:>8} {jets_here:>7} {1e6 * fast / jets_here:>18.2f} "
            f"{1e6 * slow / jets_here:>12.2f} {slow / fast:>7.1f}x"
        )


if __name__ == "__main__":
    main()
