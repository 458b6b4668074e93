"""Reading the ``boostjet dataset`` export in torch: one jet per item, chunk files loaded lazily.

Only ``manifest.json`` is read up front; a chunk file is loaded when one of its jets is asked for
and kept in a small per-process cache. :class:`ChunkShuffleSampler` shuffles chunk order and the
jets inside each chunk, so an epoch loads every chunk file once however large the export is.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from boostjet.errors import ConfigError

#: Arrays of a chunk that become tensors of an item, with their torch dtype.
_ITEM_ARRAYS = {
    "constituents": torch.float32,
    "mask": torch.bool,
    "jet": torch.float32,
    "label": torch.long,
    "target_mass": torch.float32,
    "target_energy": torch.float32,
}


def load_manifest(root: str | Path) -> dict:
    """The manifest of an export directory."""
    path = Path(root) / "manifest.json"
    if not path.is_file():
        raise ConfigError(f"{root} has no manifest.json; is it a `boostjet dataset` output?")
    return json.loads(path.read_text())


class JetDataset(Dataset):
    """Jets of an export directory: items are dicts of tensors (``_ITEM_ARRAYS`` keys).

    ``datasets`` restricts to some datasets; data datasets (no truth) are left out unless
    ``include_data``.
    """

    def __init__(
        self,
        root: str | Path,
        datasets: list[str] | None = None,
        include_data: bool = False,
        cache_files: int = 4,
    ):
        self.root = Path(root)
        self.manifest = load_manifest(self.root)
        known = self.manifest["datasets"]
        unknown = sorted(set(datasets or []) - set(known))
        if unknown:
            raise ConfigError(f"{root} has no dataset(s) {unknown}; it holds {sorted(known)}.")
        chosen = [
            name
            for name, entry in known.items()
            if (datasets is None or name in datasets) and (include_data or not entry["is_data"])
        ]
        files = [f for name in chosen for f in known[name]["files"] if f["jets"] > 0]
        self.paths = [self.root / f["path"] for f in files]
        self.offsets = np.cumsum([0] + [f["jets"] for f in files])
        self.cache_files = cache_files
        self._cache: OrderedDict[int, dict[str, np.ndarray]] = OrderedDict()

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def chunk_ranges(self) -> list[range]:
        """Item indices of each chunk file, in file order."""
        return [range(a, b) for a, b in zip(self.offsets[:-1], self.offsets[1:], strict=True)]

    def _chunk(self, index: int) -> dict[str, np.ndarray]:
        if index in self._cache:
            self._cache.move_to_end(index)
            return self._cache[index]
        with np.load(self.paths[index]) as stored:
            arrays = {name: stored[name] for name in _ITEM_ARRAYS}
        self._cache[index] = arrays
        if len(self._cache) > self.cache_files:
            self._cache.popitem(last=False)
        return arrays

    def __getitem__(self, item: int) -> dict[str, torch.Tensor]:
        if not 0 <= item < len(self):
            raise IndexError(item)
        file_index = int(np.searchsorted(self.offsets, item, side="right")) - 1
        arrays = self._chunk(file_index)
        row = item - int(self.offsets[file_index])
        return {
            name: torch.as_tensor(arrays[name][row], dtype=dtype)
            for name, dtype in _ITEM_ARRAYS.items()
        }


class ChunkShuffleSampler(Sampler[int]):
    """Random order that visits chunk files one at a time (shuffled files, shuffled jets)."""

    def __init__(self, dataset: JetDataset, seed: int = 0):
        self.dataset = dataset
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """A different order each epoch, reproducible from ``seed``."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.dataset)

    def __iter__(self) -> Iterator[int]:
        rng = np.random.default_rng((self.seed, self.epoch))
        ranges = self.dataset.chunk_ranges()
        for chunk in rng.permutation(len(ranges)):
            yield from (int(i) for i in rng.permutation(np.asarray(ranges[chunk])))
