"""Per-chunk checkpoints of a run, so that ``boostjet run --resume`` skips completed chunks.

While a run goes, every chunk that completes is saved by the process that ran it as
``<key>.chunk`` in the run's checkpoint directory (``<output>/.<name>.partial``,
:func:`boostjet.rundir.checkpoint_directory`), atomically (written to a temporary name, then
``os.replace``d): a chunk file is whole or absent, whenever the run is interrupted. ``meta.json``
holds a fingerprint of the configuration (executor section, output and report excluded) and of
every input file (path, ROOT UUID, entries); ``--resume`` refuses checkpoints with another
fingerprint. The directory is deleted once the run directory is written.

A chunk file is data, never code: its histograms in UHI JSON (boostjet/histogram_io.py) and its
cutflow numbers, with its chunk key and the run's fingerprint, gzip-compressed, after a line
``boostjet-checkpoint 1 <HMAC-SHA256 of the rest>``. The HMAC key is drawn afresh when a run
starts (not on ``--resume``), kept outside the checkpoint directory in a user-private folder
(``$XDG_STATE_HOME/boostjet/checkpoint-keys/``, by default ``~/.local/state/…``; folder 0700,
file 0600, named by a hash of the checkpoint directory) and handed to worker processes with the
processor. ``--resume`` refuses, with one sentence naming it, a chunk file whose HMAC, chunk key
or fingerprint does not match: someone who can write to the output directory cannot make the
next ``--resume`` run code or merge histograms of their choosing.

Checkpoints are written on the routes whose workers share this machine's file system: iterative,
futures, and dask / dask-awkward on the LocalCluster boostjet starts (not on an existing scheduler
or a jobqueue cluster).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from boostjet import histogram_io
from boostjet.config import RunConfig
from boostjet.errors import ConfigError
from boostjet.pipeline.fileset import Fileset

META = "meta.json"
SUFFIX = ".chunk"
MAGIC = b"boostjet-checkpoint 1 "


def supports_checkpoints(config: RunConfig) -> bool:
    """True on the routes whose workers write to this machine's file system."""
    return config.executor.scheduler is None and config.executor.jobqueue is None


def chunk_key(dataset: str, path: str, start: int, stop: int) -> str:
    """The file name (without suffix) of one chunk's checkpoint."""
    text = json.dumps([dataset, path, int(start), int(stop)])
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def fingerprint(config: RunConfig, fileset: Fileset) -> str:
    """What must not change between an interrupted run and its resumption."""
    content = config.model_dump(mode="json", exclude={"executor", "output", "report"})
    files = [
        [item.dataset, item.path, item.uuid, item.entries, item.problem]
        for items in fileset.values()
        for item in items
    ]
    text = json.dumps([content, files], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def key_file(directory: Path) -> Path:
    """Where the HMAC key of the checkpoints in ``directory`` is kept (outside it)."""
    state = os.environ.get("XDG_STATE_HOME", "")
    base = Path(state) if os.path.isabs(state) else Path.home() / ".local" / "state"
    name = hashlib.sha256(str(Path(directory).resolve()).encode()).hexdigest()[:32]
    return base / "boostjet" / "checkpoint-keys" / f"{name}.key"


def _new_key(directory: Path) -> bytes:
    """A fresh random key for a run with checkpoints in ``directory``, saved in its key file."""
    path, key = key_file(directory), secrets.token_bytes(32)
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        path.parent.chmod(0o700)  # fails unless this user owns the folder
        temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as stream:
            stream.write(key.hex())
        os.replace(temporary, path)
    except OSError as error:
        raise ConfigError(
            f"cannot keep the checkpoint key in {path.parent} ({error.strerror}); set "
            "XDG_STATE_HOME to a private directory of yours."
        ) from None
    return key


def saved_chunks(directory: Path) -> int:
    """How many chunks are saved in ``directory``."""
    return len(list(directory.glob(f"*{SUFFIX}")))


@dataclass(frozen=True)
class Checkpoints:
    """The checkpoints of one run; pickled with the processor to worker processes."""

    directory: str
    fingerprint: str
    key: bytes = field(repr=False)

    def _signature(self, payload: bytes) -> bytes:
        return hmac.new(self.key, payload, hashlib.sha256).hexdigest().encode()

    def save(self, chunk: str, output: dict[str, Any]) -> None:
        """Write one chunk's histograms and cutflow atomically (temporary name, then rename)."""
        document = {
            "chunk": chunk,
            "fingerprint": self.fingerprint,
            "cutflow": output["cutflow"],
            "histograms": histogram_io.encode(output["histograms"]),
        }
        payload = histogram_io.to_bytes(document)
        final = Path(self.directory) / f"{chunk}{SUFFIX}"
        temporary = final.with_name(f".{chunk}.{os.getpid()}.{uuid.uuid4().hex[:6]}.tmp")
        temporary.write_bytes(MAGIC + self._signature(payload) + b"\n" + payload)
        os.replace(temporary, final)

    def load(self, path: Path) -> dict[str, Any]:
        """The output saved in ``path``; ConfigError unless this run wrote it for that chunk."""
        try:
            data = path.read_bytes()
        except OSError as error:
            _refuse(path, f"it cannot be read: {error.strerror}")
        head, _, payload = data.partition(b"\n")
        signature = head.removeprefix(MAGIC)
        if not head.startswith(MAGIC) or not hmac.compare_digest(
            signature, self._signature(payload)
        ):
            _refuse(path, f"its HMAC does not match the key in {key_file(Path(self.directory))}")
        document = histogram_io.from_bytes(payload)  # authentic: written by this run
        if document["chunk"] != path.stem:
            _refuse(path, f"it holds chunk {document['chunk']}, not {path.stem}")
        if document["fingerprint"] != self.fingerprint:
            _refuse(path, "it holds a chunk of another configuration or other input files")
        return {
            "histograms": histogram_io.decode(document["histograms"]),
            "cutflow": document["cutflow"],
            "failures": [],
        }


def _refuse(path: Path, reason: str) -> NoReturn:
    raise ConfigError(
        f"--resume: {path} was not written by this run ({reason}); delete it or run without "
        "--resume."
    )


def prepare(
    directory: Path, print_: str, resume: bool
) -> tuple[Checkpoints, dict[str, dict[str, Any]]]:
    """Set up ``directory`` for a run with fingerprint ``print_``: its checkpoints, and chunk
    key → saved output.

    Without ``resume`` old checkpoints are deleted and a new key is drawn. With it, checkpoints
    of the same fingerprint are loaded (none is fine: the run starts from the beginning).
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
        chunks = sorted(directory.glob(f"*{SUFFIX}"))
        try:
            key = bytes.fromhex(key_file(directory).read_text())
        except (OSError, ValueError):
            if chunks:
                _refuse(chunks[0], f"the run's key {key_file(directory)} is missing or unreadable")
            key = _new_key(directory)
        store = Checkpoints(str(directory), print_, key)
        return store, {path.stem: store.load(path) for path in chunks}
    shutil.rmtree(directory, ignore_errors=True)
    try:
        directory.mkdir(parents=True)
        meta.write_text(json.dumps({"fingerprint": print_}) + "\n")
    except OSError as error:
        raise ConfigError(
            f"cannot write checkpoints to {directory} ({error.strerror}); "
            "choose another output directory with output / --output."
        ) from None
    return Checkpoints(str(directory), print_, _new_key(directory)), {}


def remove(directory: Path) -> None:
    """Delete the checkpoints in ``directory`` and their key."""
    shutil.rmtree(directory, ignore_errors=True)
    key_file(directory).unlink(missing_ok=True)
