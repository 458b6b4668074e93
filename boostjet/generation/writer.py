"""Writer of the flat Delphes layout of docs/flat-layout.md: tree Delphes, C_size, C.Field."""

from __future__ import annotations

from pathlib import Path
from types import TracebackType

import awkward as ak
import numpy as np
import uproot

from boostjet.generation.processes import WEIGHT_NAMES

F, I = np.float32, np.int32  # noqa: E741 (F and I read as the ROOT leaf types)
_JET = {
    "fUniqueID": I,
    "PT": F,
    "Eta": F,
    "Phi": F,
    "Mass": F,
    **{f"Tau{n}": F for n in range(1, 6)},
    "SoftDroppedPx": F,
    "SoftDroppedPy": F,
    "SoftDroppedPz": F,
    "SoftDroppedE": F,
    "NCharged": I,
    "NNeutrals": I,
}
_TOWER = {"fUniqueID": I, "ET": F, "Eta": F, "Phi": F, "E": F, "Eem": F, "Ehad": F}

LAYOUT: dict[str, dict[str, type]] = {
    "Event": {"Number": I, "ProcessID": I, "Weight": F, "CrossSection": F},
    "Weight": {"Weight": F},
    "Particle": {
        "fUniqueID": I,
        "PID": I,
        "Status": I,
        "M1": I,
        "M2": I,
        "D1": I,
        "D2": I,
        "Charge": I,
        "Mass": F,
        "E": F,
        "Px": F,
        "Py": F,
        "Pz": F,
        "PT": F,
        "Eta": F,
        "Phi": F,
    },
    "EFlowTrack": {
        "fUniqueID": I,
        "PID": I,
        "Charge": I,
        "PT": F,
        "Eta": F,
        "Phi": F,
        "Mass": F,
        "D0": F,
        "DZ": F,
        "ErrorD0": F,
        "ErrorDZ": F,
    },
    "EFlowPhoton": _TOWER,
    "EFlowNeutralHadron": _TOWER,
    "FatJet": _JET,
    "Jet": _JET,
    "GenFatJet": _JET,
    "FatJetConstituent": {"Jet": I, "Ref": I},
    "JetConstituent": {"Jet": I, "Ref": I},
}
TREE = "Delphes"
#: A TObjString naming the entries of each event's Weight collection (WEIGHT_NAMES), so that a
#: reader tells boostjet's shower-variation weights from a genuine Delphes file's LHE weights.
WEIGHT_NAMES_KEY = "WeightNames"


def branch_names() -> set[str]:
    """Every branch of a file in the flat layout: counters and fields."""
    names = {f"{collection}_size" for collection in LAYOUT}
    names.update(f"{c}.{f}" for c, fields in LAYOUT.items() for f in fields)
    return names


def _types() -> dict[str, ak.types.Type]:
    """Branch types for mktree: one jagged record type per collection."""
    return {
        collection: ak.types.ListType(
            ak.types.RecordType(
                [ak.types.NumpyType(np.dtype(t).name) for t in fields.values()], list(fields)
            )
        )
        for collection, fields in LAYOUT.items()
    }


def conform(collections: dict[str, ak.Array]) -> dict[str, ak.Array]:
    """The collections with exactly the layout's fields, in order, cast to float32 / int32."""
    missing = set(LAYOUT) ^ set(collections)
    if missing:
        raise ValueError(f"collections differ from the flat layout in {sorted(missing)}")
    return {
        name: ak.zip(
            {f: ak.values_astype(collections[name][f], t) for f, t in fields.items()},
            depth_limit=2,
        )
        for name, fields in LAYOUT.items()
    }


def make_flat_tree(file: uproot.WritableDirectory, types: dict[str, ak.types.Type]):
    """An empty ``Delphes`` tree with the flat layout's names: ``C.Field`` and ``C_size``."""
    return file.mktree(
        TREE,
        types,
        counter_name=lambda collection: f"{collection}_size",
        field_name=lambda collection, field: f"{collection}.{field}",
    )


def write_flat(path: Path, collections: dict[str, ak.Array]) -> Path:
    """Write any jagged collections (events × entries records) as one flat-layout file."""
    with uproot.recreate(path) as file:
        make_flat_tree(file, {name: records.type for name, records in collections.items()})
        file[TREE].extend(collections)
    return path


class FlatDelphesWriter:
    """Writes batches of events to one ROOT file in the flat Delphes layout, batch by batch."""

    def __init__(self, path: Path) -> None:
        """Remember where to write; the file is created on entering the context."""
        self.path = path
        self._file: uproot.WritableDirectory | None = None
        self._tree: uproot.WritableTree | None = None

    def __enter__(self) -> FlatDelphesWriter:
        """Create the file and the empty ``Delphes`` tree."""
        self._file = uproot.recreate(self.path)
        self._file[WEIGHT_NAMES_KEY] = " ".join(WEIGHT_NAMES)
        self._tree = make_flat_tree(self._file, _types())
        return self

    def extend(self, collections: dict[str, ak.Array]) -> None:
        """Append one batch of events (every collection, event × entry records)."""
        assert self._tree is not None, "extend is called inside the writer's context"
        self._tree.extend(conform(collections))

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Close the file."""
        assert self._file is not None
        self._file.close()
