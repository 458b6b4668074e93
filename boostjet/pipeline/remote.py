"""Remote input files: URLs (``root://``, ``http(s)://`` …), globs on XRootD expanded through
fsspec, and one sentence for an unreachable server or a missing remote file.

The pre-flight asks the server itself before uproot opens a URL: uproot reports a missing remote
file and a refused connection alike as an ``OSError`` from the XRootD client, and the XRootD client
retries a refused connection for minutes (``XRD_CONNECTIONRETRY`` × ``XRD_CONNECTIONWINDOW``, 5 ×
120 s by default) before it gives up.
"""

from __future__ import annotations

import socket
import warnings
from urllib.parse import urlsplit

from boostjet.errors import ConfigError

REMOTE_PREFIXES = ("root://", "xroot://", "http://", "https://", "davs://", "s3://", "gs://")
GLOB_CHARACTERS = "*?["
#: Seconds to wait for a server to accept a connection in the pre-flight.
CONNECT_TIMEOUT = 10.0
_DEFAULT_PORTS = {"root": 1094, "xroot": 1094, "http": 80, "https": 443, "davs": 443}

# At interpreter exit the XRootD client's finaliser walks every live object with isinstance(),
# which touches torch's deprecated `torch.distributed.reduce_op` and prints a FutureWarning (an
# interaction of two libraries, nothing a user can act on).
warnings.filterwarnings(
    "ignore", message=r"`torch\.distributed\.reduce_op` is deprecated", category=FutureWarning
)


def is_remote(path: str) -> bool:
    return path.startswith(REMOTE_PREFIXES)


def is_glob(path: str) -> bool:
    """True when a local path, or the path of a URL, holds a glob character. A URL's query
    (``?authz=…``) and an IPv6 host (``[::1]``) are not part of its path, so a ``?`` in a URL
    always starts its query."""
    if is_remote(path):
        path = urlsplit(path).path
    return any(character in path for character in GLOB_CHARACTERS)


def server(url: str) -> str:
    """``scheme://host:port`` of a URL (the default port of its scheme when it names none)."""
    parts = urlsplit(url)
    port = parts.port or _DEFAULT_PORTS.get(parts.scheme)
    host = f"[{parts.hostname}]" if ":" in (parts.hostname or "") else parts.hostname  # IPv6
    return f"{parts.scheme}://{host}" + (f":{port}" if port else "")


#: Servers that accepted a connection in this process (a refusal is asked again next time).
_reachable: set[str] = set()


def _unreachable(address: str) -> str | None:
    """Why the server ``scheme://host:port`` does not accept a TCP connection, or None."""
    parts = urlsplit(address)
    if parts.port is None or address in _reachable:  # s3://, gs://: their client knows the way
        return None
    try:
        with socket.create_connection((parts.hostname, parts.port), timeout=CONNECT_TIMEOUT):
            _reachable.add(address)
            return None
    except OSError as error:
        return error.strerror or type(error).__name__


def remote_problem(url: str) -> str | None:
    """Why the remote file ``url`` cannot be read (its server is unreachable, or it does not
    exist there), or None; checked without reading the file."""
    unreachable = _unreachable(server(url))
    if unreachable:
        return f"cannot reach the server {server(url)} of input file {url} ({unreachable})."
    filesystem, path = _filesystem(url)
    try:
        exists = filesystem.exists(path)
    except Exception as error:  # the fsspec back-ends raise their own types
        return f"input file {url} cannot be checked ({_first_line(error)})."
    return None if exists else f"input file {url} does not exist."


def expand_glob(dataset: str, pattern: str) -> list[str]:
    """The URLs an XRootD glob matches, sorted; ``[pattern]`` itself when its server cannot be
    reached (the pre-flight then reports that, one sentence, or skips it)."""
    where = f"datasets.{dataset}.files"
    if not pattern.startswith(("root://", "xroot://")):
        raise ConfigError(
            f"{where}: '{pattern}' is a glob on a {urlsplit(pattern).scheme}:// URL; globs "
            "are expanded on local paths and root:// URLs only: list the files."
        )
    if _unreachable(server(pattern)):
        return [pattern]
    filesystem, path = _filesystem(pattern)
    try:
        matches = sorted(filesystem.glob(path))
    except Exception as error:
        raise ConfigError(
            f"{where}: the pattern '{pattern}' cannot be listed ({_first_line(error)})."
        ) from None
    if not matches:
        raise ConfigError(f"{where}: the pattern '{pattern}' matches no file.")
    return [filesystem.unstrip_protocol(match) for match in matches]


def _filesystem(url: str):
    import fsspec

    try:
        return fsspec.core.url_to_fs(url)
    except ImportError as error:  # fsspec names the package a protocol needs
        raise ConfigError(
            f"reading {url} needs the remote extra: pip install 'boostjet[remote]' ({error})."
        ) from None


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
