"""Per-chunk checkpoints of a run, so that ``boostjet run --resume`` skips completed chunks.

While a run goes, every chunk that completes is saved as one compressed pickle of its processor
output in ``<output>/.<name>.partial/`` by the process that ran it, atomically (written to a
temporary name, then ``os.replace``d): a chunk file is whole or absent, whenever the run is
interrupted. ``meta.json`` holds a fingerprint of the configuration (executor section, output and
report excluded) and of every input file (path, ROOT UUID, entries); ``--resume`` refuses
checkpoints with another fingerprint. The directory is deleted once the run directory is written.

Checkpoints are written on the routes whose workers share this machine's file system: iterative,
futures, and dask / dask-awkward on the LocalCluster boostjet starts (not on an existing scheduler
or a jobqueue cluster).
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
import uuid
import zlib
from pathlib import Path
from typing import Any

from boostjet.errors import ConfigError

META = "meta.json"
SUFFIX = ".chunk"


def checkpoint_directory(config) -> Path:
    """``<output>/.<name>.partial`` (absolute, so that worker processes find it too)."""
    return (Path(config.output) / f".{config.name}.partial").absolute()


def supports_checkpoints(config) -> bool:
    """True on the routes whose workers write to this machine's file system."""
    return config.executor.scheduler is None and config.executor.jobqueue is None


def chunk_key(dataset: str, path: str, start: int, stop: int) -> str:
    """The file name (without suffix) of one chunk's checkpoint."""
    text = json.dumps([dataset, path, int(start), int(stop)])
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def fingerprint(config, fileset) -> str:
    """What must not change between an interrupted run and its resumption."""
    content = config.model_dump(mode="json", exclude={"executor", "output", "report"})
    files = [
        [item.dataset, item.path, item.uuid, item.entries, item.problem]
        for items in fileset.values()
        for item in items
    ]
    text = json.dumps([content, files], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def save_chunk(directory: str, key: str, output: dict[str, Any]) -> None:
    """Write one chunk's output atomically (temporary name, then rename)."""
    final = Path(directory) / f"{key}{SUFFIX}"
    temporary = final.with_name(f".{key}.{os.getpid()}.{uuid.uuid4().hex[:6]}.tmp")
    data = zlib.compress(pickle.dumps(output, protocol=pickle.HIGHEST_PROTOCOL), 1)
    temporary.write_bytes(data)
    os.replace(temporary, final)


def saved_chunks(directory: Path) -> int:
    """How many chunks are saved in ``directory``."""
    return len(list(directory.glob(f"*{SUFFIX}")))


def prepare(directory: Path, print_: str, resume: bool) -> dict[str, dict[str, Any]]:
    """Set up ``directory`` for a run with fingerprint ``print_``; chunk key → saved output.

    Without ``resume`` old checkpoints are deleted. With it, checkpoints of the same fingerprint
    are loaded (none is fine: the run starts from the beginning).
    """
    meta = directory / META
    if resume and directory.is_dir():
        try:
            saved = json.loads(meta.read_text())["fingerprint"]
        except (OSError, ValueError, KeyError, TypeError):
            saved = None
        if saved != print_:
            raise ConfigError(
                f"--resume: the checkpoints in {directory} belong to another configuration or "
                "other input files; run without --resume to start afresh."
            )
        done = {}
        for path in sorted(directory.glob(f"*{SUFFIX}")):
            try:
                done[path.stem] = pickle.loads(zlib.decompress(path.read_bytes()))
            except Exception:  # unreadable checkpoint: that chunk simply runs again
                continue
        return done
    shutil.rmtree(directory, ignore_errors=True)
    try:
        directory.mkdir(parents=True)
        meta.write_text(json.dumps({"fingerprint": print_}) + "\n")
    except OSError as error:
        raise ConfigError(
            f"cannot write checkpoints to {directory} ({error.strerror}); "
            "choose another output directory with output / --output."
        ) from None
    return {}


def remove(directory: Path) -> None:
    shutil.rmtree(directory, ignore_errors=True)
