"""Histograms to and from bytes that cannot run code when read: UHI JSON, sparse, gzip.

The format is the field's serialisation of histograms (UHI, https://uhi.readthedocs.io: what
``hist.serialization`` writes and boost-histogram, ROOT and others read), in its JSON form holding a
dictionary of named histograms, with sparse storage (only the filled bins: a chunk fills few of
them). Reading it parses JSON — never pickle — so a crafted file can fail to load but run nothing.

A run directory holds its histograms in this format (boostjet/rundir.py reads them back, for
``boostjet report`` and for users) beside a pickle and a ROOT file. Without uhi's help::

    raw = json.load(gzip.open(path), object_hook=uhi.io.json.object_hook)
    hists = {name: hist.serialization.from_uhi(uhi.io.from_sparse(h)) for name, h in raw.items()}

Checkpoints of interrupted runs (boostjet/pipeline/checkpoint.py) use :func:`encode` /
:func:`decode` too. The run directory's pickle is unpickled only on request (``boostjet report
--trust-pickle``), because unpickling a file runs whatever code it names.
"""

from __future__ import annotations

import gzip
import json
import os
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import hist
import uhi.io
import uhi.io.json
from hist.serialization import from_uhi, to_uhi

from boostjet.errors import HistogramError


def encode(histograms: Mapping[str, hist.Hist]) -> dict[str, Any]:
    """Name → UHI histogram with sparse storage: JSON-ready with ``uhi.io.json.default``."""
    for name, histogram in histograms.items():
        if not isinstance(histogram, hist.Hist):
            raise TypeError(f"histogram {name!r} is a {type(histogram).__name__}, not a hist.Hist")
    return {name: uhi.io.to_sparse(to_uhi(h)) for name, h in histograms.items()}


def decode(document: Any) -> dict[str, hist.Hist]:
    """:func:`encode`'s output (as parsed JSON) back to histograms; ValueError if it is not."""
    if not isinstance(document, dict) or not all(
        isinstance(name, str) and isinstance(item, dict) for name, item in document.items()
    ):
        raise ValueError("not a dictionary of named UHI histograms")
    histograms = {}
    for name, item in document.items():
        try:
            histograms[name] = from_uhi(uhi.io.from_sparse(item))
        except Exception as error:  # any malformed part: a missing key, a bad shape or type
            raise ValueError(f"histogram {name!r} is malformed ({type(error).__name__})") from None
    return histograms


def to_bytes(document: Any) -> bytes:
    """Compact JSON, gzip level 1 (fast; the sparse JSON compresses well anyway)."""
    text = json.dumps(document, default=uhi.io.json.default, separators=(",", ":"))
    return gzip.compress(text.encode(), compresslevel=1, mtime=0)


def from_bytes(data: bytes) -> Any:
    """:func:`to_bytes` reversed (UHI arrays as numpy arrays); ValueError, OSError or EOFError
    on anything else."""
    return json.loads(gzip.decompress(data), object_hook=uhi.io.json.object_hook)


def write_histograms(path: Path, histograms: Mapping[str, hist.Hist]) -> None:
    """``histograms`` into ``path`` in the format of this module (temporary name, then rename)."""
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    temporary.write_bytes(to_bytes(encode(histograms)))
    os.replace(temporary, path)


def read_histograms(path: Path) -> dict[str, hist.Hist]:
    """The histograms in ``path`` (written by :func:`write_histograms`), or HistogramError."""
    try:
        return decode(from_bytes(Path(path).read_bytes()))
    except OSError as error:
        reason = error.strerror or str(error)  # gzip reports a bad file as OSError without errno
    except (ValueError, EOFError) as error:
        reason = str(error)
    raise HistogramError(f"{path} is not a readable UHI histogram file ({reason}).")
