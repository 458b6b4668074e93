"""Datasets → coffea fileset: glob expansion, a pre-flight check of every file, chunk ranges.

Every file is opened once with uproot before anything runs (no data is read): a missing, non-ROOT,
truncated or corrupt file, a missing tree or a missing collection is found here, in the main
process, as one sentence naming the file — not minutes later inside a worker.
"""

from __future__ import annotations

import glob
import os
import stat
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace

import uproot

from boostjet.config import RunConfig
from boostjet.errors import ConfigError, InputFileError
from boostjet.histograms import NOMINAL, SHOWER_VARIATIONS, WEIGHT_NAMES_KEY
from boostjet.pipeline.baskets import read_problem
from boostjet.pipeline.progress import say
from boostjet.pipeline.remote import expand_glob, is_glob, is_remote, remote_problem

#: Parallel pre-flight opens (I/O bound; helps most for remote files).
_PREFLIGHT_THREADS = 8


@dataclass(frozen=True)
class InputFile:
    """One input file after its pre-flight check."""

    dataset: str
    path: str
    entries: int | None
    """Entries of the tree; None when the file could not be read far enough to know."""
    uuid: str = ""
    problem: str | None = None
    """Why the file cannot be processed (one sentence), or None for a good file."""
    listed: int = 1
    """How many times the dataset's ``files`` name this path (it is read once)."""
    weight_names: tuple[str, ...] = ()
    """The entries of each event's ``Weight`` collection, as the file's WeightNames names them."""

    @property
    def ok(self) -> bool:
        return self.problem is None


@dataclass(frozen=True)
class Chunk:
    """A range of entries of one file: the unit of work of every executor."""

    dataset: str
    path: str
    tree: str
    start: int
    stop: int
    uuid: str = ""

    @property
    def events(self) -> int:
        return self.stop - self.start


#: dataset name → its files, in configuration order.
Fileset = dict[str, list[InputFile]]


def expand_files(dataset: str, patterns: list[str]) -> Counter[str]:
    """Files of a dataset, globs expanded relative to the current directory or on their XRootD
    server: each path once, in order, with the number of times the patterns name it (repeats are
    read once).

    A glob that matches nothing is a configuration error; a plain path is kept even when it does
    not exist, so that the pre-flight check reports it as a missing file.
    """
    files: Counter[str] = Counter()
    for pattern in patterns:
        if is_remote(pattern):
            matches = expand_glob(dataset, pattern) if is_glob(pattern) else [pattern]
        elif is_glob(pattern):
            matches = sorted(glob.glob(os.path.expanduser(pattern), recursive=True))
            if not matches:
                raise ConfigError(
                    f"datasets.{dataset}.files: the pattern '{pattern}' matches no file."
                )
        else:
            matches = [os.path.expanduser(pattern)]
        files.update(match if is_remote(match) else os.path.abspath(match) for match in matches)
    return files


def has_fat_jets(keys: set[str], collection: str) -> bool:
    """True when a tree holds ``collection`` in the genuine or the flat Delphes layout."""
    return f"{collection}/{collection}.PT" in keys or f"{collection}.PT" in keys


def _unreadable(path: str, error: Exception) -> str:
    reason = str(error).splitlines()[0].rstrip(",.") or type(error).__name__
    return f"{path} is not a readable ROOT file (truncated or corrupt: {reason})."


def _local_problem(path: str) -> str | None:
    try:
        mode = os.stat(path).st_mode
        if stat.S_ISDIR(mode):
            return f"{path} is a directory, not a ROOT file."
        if not stat.S_ISREG(mode):  # a FIFO or device: opening it could block
            return f"{path} is not a regular file, so not a ROOT file."
        with open(path, "rb") as stream:
            magic = stream.read(4)
    except FileNotFoundError:
        return f"input file {path} does not exist."
    except OSError as error:
        return f"input file {path} cannot be read ({error.strerror})."
    return None if magic == b"root" else f"{path} is not a ROOT file."


@contextmanager
def open_tree(path: str, tree_name: str, option: str = "tree") -> Iterator:
    """The TTree ``tree_name`` of ``path``, opened without reading data.

    Raises :class:`InputFileError` for a missing, non-ROOT, truncated or corrupt file and for a
    missing tree (naming ``option``, the setting that chose the tree).
    """
    problem = remote_problem(path) if is_remote(path) else _local_problem(path)
    if problem:
        raise InputFileError(problem)
    try:
        file = uproot.open(path)
    except Exception as error:  # uproot raises many types for damaged files
        raise InputFileError(_unreadable(path, error)) from None
    with file:
        size = None if is_remote(path) else os.path.getsize(path)
        if size is not None and size < file.file.fEND:
            raise InputFileError(
                f"{path} is truncated: it has {size} of the {file.file.fEND} bytes it announces."
            )
        if tree_name not in file:
            raise InputFileError(f"{path} has no tree '{tree_name}' (set by {option}).")
        try:
            tree = file[tree_name]
        except Exception as error:
            raise InputFileError(_unreadable(path, error)) from None
        if not isinstance(tree, uproot.TTree):
            raise InputFileError(f"{path}: '{tree_name}' is not a TTree (set by {option}).")
        yield tree


def _collection_problem(path: str, tree, config: RunConfig) -> str | None:
    keys = set(tree.keys())
    collection = config.fatjet_collection
    where = f"{path} (tree '{config.tree}')"
    if not has_fat_jets(keys, collection):
        return f"{where} has no fat-jet collection '{collection}' (set by fatjet_collection)."
    wanted = config.constituents.collections
    if not any(f"{name}_size" in keys for name in wanted):
        return (
            f"{where} has none of the constituent collections {list(wanted)} "
            "(set by constituents.collections)."
        )
    return None


def check_file(dataset: str, path: str, config: RunConfig) -> InputFile:
    """Open ``path`` (no data read) and say whether boostjet can process it, and its entries."""
    try:
        with open_tree(path, config.tree) as tree:
            entries = int(tree.num_entries)
            uuid = str(tree.file.uuid)
            problem = _collection_problem(path, tree, config)
            root = tree.file.root_directory
            names = str(root[WEIGHT_NAMES_KEY]).split() if WEIGHT_NAMES_KEY in root else []
    except InputFileError as error:
        return InputFile(dataset, path, None, problem=str(error))
    except Exception as error:
        return InputFile(dataset, path, None, problem=_unreadable(path, error))
    return InputFile(dataset, path, entries, uuid, problem, weight_names=tuple(names))


def shower_weight_files(fileset: Fileset) -> frozenset[str]:
    """Paths of the files whose Weight collection holds the shower variations (nominal first)."""
    wanted = (NOMINAL, *SHOWER_VARIATIONS)
    return frozenset(
        item.path for items in fileset.values() for item in items if item.weight_names == wanted
    )


def build_fileset(config: RunConfig) -> Fileset:
    """Expand and pre-flight every dataset's files; print a warning for each file listed or read
    twice (:func:`repeated_inputs`).

    A bad file raises :class:`InputFileError` unless ``executor.skip_bad_files`` is set; then it
    stays in the fileset, marked with its problem, so that the run reports it as skipped.
    """
    listed = {name: expand_files(name, spec.files) for name, spec in config.datasets.items()}
    jobs = [(name, path) for name, paths in listed.items() for path in paths]
    with ThreadPoolExecutor(max_workers=_PREFLIGHT_THREADS) as pool:
        checked = list(pool.map(lambda job: check_file(*job, config), jobs))
    if not config.executor.skip_bad_files:
        for item in checked:
            if item.problem:
                raise InputFileError(item.problem)
    fileset: Fileset = {name: [] for name in listed}
    for item in checked:
        fileset[item.dataset].append(replace(item, listed=listed[item.dataset][item.path]))
    for note in repeated_inputs(fileset):
        say(f"warning: {note}")
    return fileset


def _identity(path: str) -> str:
    return path if is_remote(path) else os.path.realpath(path)


def repeated_inputs(fileset: Fileset) -> list[str]:
    """One warning sentence per path listed twice in a dataset (it is read once) and per file
    read more than once: the same file under one or more paths, or copies with the same ROOT file
    UUID, in one dataset or several. Not an error: simulation read again as pseudo-data is a
    closure test."""
    items = [item for files in fileset.values() for item in files]
    notes = [
        f"{item.path} is listed {item.listed} times in dataset {item.dataset}; it is read once."
        for item in items
        if item.listed > 1
    ]
    groups: list[list[InputFile]] = []
    group_of: dict[str, int] = {}  # path identity or "uuid <UUID>" → index into groups
    for item in items:
        keys = [_identity(item.path)] + ([f"uuid {item.uuid}"] if item.uuid else [])
        index = next((group_of[key] for key in keys if key in group_of), len(groups))
        if index == len(groups):
            groups.append([])
        groups[index].append(item)
        for key in keys:
            group_of.setdefault(key, index)
    return notes + [_read_more_than_once(group) for group in groups if len(group) > 1]


def _read_more_than_once(group: list[InputFile]) -> str:
    """The sentence for paths that are one file: the first two named, the others counted."""
    same = len({_identity(item.path) for item in group}) == 1
    what = "the same file" if same else f"copies of one ROOT file (UUID {group[0].uuid})"
    first, second = (f"{item.path} (dataset {item.dataset})" for item in group[:2])
    others = len(group) - 2
    named = f"{first}, {second} and {others} more paths" if others else f"{first} and {second}"
    times = "twice" if len(group) == 2 else f"{len(group)} times"
    return (
        f"{named} are {what}, so its events are read {times} (fine for a closure test with "
        "simulation as pseudo-data)."
    )


def chunk_ranges(entries: int, chunksize: int) -> list[tuple[int, int]]:
    """``[start, stop)`` ranges of at most ``chunksize`` entries covering ``entries``."""
    return [(start, min(start + chunksize, entries)) for start in range(0, entries, chunksize)]


def chunks_of(fileset: Fileset, tree: str, chunksize: int) -> list[Chunk]:
    """Every chunk of every good file, dataset by dataset, file by file."""
    return [
        Chunk(item.dataset, item.path, tree, start, stop, item.uuid)
        for items in fileset.values()
        for item in items
        if item.ok and item.entries
        for start, stop in chunk_ranges(item.entries, chunksize)
    ]


def coffea_fileset(fileset: Fileset, tree: str, chunksize: int) -> dict[str, dict]:
    """The good files as a coffea ``DataGroupSpec`` mapping, split like ``chunks_of``."""
    spec = {}
    for name, items in fileset.items():
        files = {
            item.path: {
                "object_path": tree,
                "steps": [list(step) for step in chunk_ranges(item.entries, chunksize)],
                "num_entries": item.entries,
                "uuid": item.uuid,
            }
            for item in items
            if item.ok and item.entries
        }
        if files:
            spec[name] = {"files": files, "metadata": {"dataset": name}}
    return spec


@dataclass(frozen=True)
class TreeInfo:
    """What ``boostjet info`` shows about one tree."""

    events: int
    collections: dict[str, tuple[int | None, list[str]]]
    """Collection → (objects in the whole file, or None without a counter; its field names)."""
    fat_jets: int | None
    """Fat jets in the whole file; None when the file has no such collection."""
    references: str
    """How the fat jets point to their constituents."""


def _collection_field(key: str) -> tuple[str, str | None]:
    """Collection and field of a branch key in either layout (field None for a counter/parent)."""
    if "/" in key:
        collection, leaf = key.split("/", 1)
        leaf = leaf.rsplit("/", 1)[-1]
        return collection, leaf.removeprefix(f"{collection}.")
    if key.endswith("_size"):
        return key.removesuffix("_size"), None
    if "." in key:
        collection, field = key.split(".", 1)
        return collection, field
    return key, None


def describe_tree(tree, fatjet_collection: str) -> TreeInfo:
    """Collections, fields and object counts of a Delphes tree (reads only the counters; one
    that cannot be read is an InputFileError naming its basket)."""
    try:
        return _describe_tree(tree, fatjet_collection)
    except Exception as error:
        problem = read_problem(error)
        if problem is None:
            raise
        raise InputFileError(
            f"{tree.file.file_path}: {problem}; boostjet info --check lists every unreadable "
            "basket."
        ) from None


def _describe_tree(tree, fatjet_collection: str) -> TreeInfo:
    keys = list(dict.fromkeys(tree.keys()))
    fields: dict[str, list[str]] = {}
    for key in keys:
        collection, field = _collection_field(key)
        names = fields.setdefault(collection, [])
        if field is not None and field not in names:
            names.append(field)
    collections = {}
    for name, names in fields.items():
        counter = f"{name}_size"
        objects = int(tree[counter].array(library="np").sum()) if counter in keys else None
        collections[name] = (objects, names)
    key_set = set(keys)
    fat_jets = collections.get(fatjet_collection, (None, []))[0]
    if not has_fat_jets(key_set, fatjet_collection):
        fat_jets, references = None, "none"
    elif f"{fatjet_collection}/{fatjet_collection}.Constituents" in key_set:
        references = "TRefArray Constituents (genuine Delphes layout)"
    elif f"{fatjet_collection}Constituent_size" in key_set:
        references = f"{fatjet_collection}Constituent association (flat layout)"
    else:
        references = "none (constituents are associated by ΔR)"
    return TreeInfo(int(tree.num_entries), collections, fat_jets, references)
