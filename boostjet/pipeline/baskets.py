"""Unreadable baskets: which exceptions mean a file's data cannot be read, and where.

A damaged basket surfaces wherever its branch is first read — inside coffea's lazy arrays, deep
in the processor — as whatever the decompressor or uproot's deserialiser raises: ``zlib.error``,
``lzma.LZMAError``, cramjam's ``DecompressionError`` (LZ4, ZSTD), uproot's
``DeserializationError``, or a ``ValueError`` of uproot's own checks (unknown compression
algorithm, LZ4 checksum, block sizes, entries or bytes of a basket). :func:`read_problem` tells
those from genuine bugs — by type, or by being raised inside uproot's compression module or one of
uproot's basket checks — and names the branch and basket from the traceback.
:func:`unreadable_baskets` reads every basket of a tree for ``boostjet info --check``.
"""

from __future__ import annotations

import lzma
import re
import zlib
from dataclasses import dataclass
from pathlib import Path

import cramjam
import uproot
from uproot.behaviors.TBranch import TBranch
from uproot.deserialization import DeserializationError

#: Raised only by decompressing or deserialising file content.
_READ_ERRORS = (zlib.error, lzma.LZMAError, cramjam.DecompressionError, DeserializationError)
_UPROOT = Path(uproot.__file__).parent
#: uproot's compression module: every ValueError there is about the compressed bytes.
_COMPRESSION = _UPROOT / "compression.py"
#: uproot's consistency checks of a basket against its branch (raised as ValueError).
_BASKET_CHECK = re.compile(r"basket \d+ in tree/branch .* has the wrong number of (bytes|entries)")


def _innermost_file(error: BaseException) -> Path | None:
    traceback = error.__traceback__
    if traceback is None:
        return None
    while traceback.tb_next is not None:
        traceback = traceback.tb_next
    return Path(traceback.tb_frame.f_code.co_filename)


def is_read_error(error: BaseException) -> bool:
    """True when ``error`` is uproot (or its decompressor) failing on a file's bytes."""
    if isinstance(error, _READ_ERRORS):
        return True
    if type(error) is not ValueError:
        return False
    where = _innermost_file(error)
    if where is None or _UPROOT not in where.parents:
        return False
    return where == _COMPRESSION or bool(_BASKET_CHECK.match(str(error)))


def _reason(error: BaseException) -> str:
    """``Type: first line of the message`` (a DeserializationError's own message, not its dump)."""
    message = error.message if isinstance(error, DeserializationError) else str(error)
    kind = type(error)
    module = kind.__module__.lstrip("_")
    name = kind.__name__ if module == "builtins" else f"{module.split('.')[0]}.{kind.__name__}"
    first = next((line.strip() for line in message.splitlines() if line.strip()), "")
    return f"{name}: {first}".rstrip(".")


def _basket_of(error: BaseException) -> tuple[TBranch, int | None] | None:
    """The branch (and basket number) being read where ``error`` was raised, from the
    innermost traceback frame that holds one (uproot's ``chunk_to_basket``, ``basket_to_array``)."""
    found = None
    traceback = error.__traceback__
    while traceback is not None:
        local = traceback.tb_frame.f_locals
        basket, branch = local.get("basket"), local.get("branch")
        if isinstance(getattr(basket, "parent", None), TBranch):
            found = (basket.parent, basket.basket_num)
        elif isinstance(branch, TBranch):
            number = local.get("basket_num")
            found = (branch, number if isinstance(number, int) else None)
        traceback = traceback.tb_next
    return found


def _entries(branch: TBranch, number: int) -> tuple[int, int]:
    start, stop = branch.basket_entry_start_stop(number)
    return int(start), int(stop)


def _basket_name(branch: TBranch, number: int) -> str:
    start, stop = _entries(branch, number)
    return f"basket {number} of branch '{branch.name}' (entries {start}–{stop})"


def _chain(error: BaseException):
    """``error`` and the exceptions it was raised from or during (awkward re-raises a failed
    lazy read of ``jets.PT`` as an AttributeError)."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        yield error
        error = error.__cause__ or error.__context__


def read_problem(error: BaseException, tree=None, entries: tuple[int, int] = (0, 0)) -> str | None:
    """What cannot be read, when ``error`` is or was raised from a read error (see
    :func:`is_read_error`): ``basket N of branch 'B' (entries A–B) cannot be read (zlib.error:
    …)``; else None. The basket is found in the traceback or, where that holds no frames (an
    error from a dask worker), among the baskets of ``tree`` that hold ``entries``."""
    error = next((e for e in _chain(error) if is_read_error(e)), None)
    if error is None:
        return None
    located = _basket_of(error)
    if located is None and tree is not None:
        found = unreadable_baskets(tree, *entries)
        what = _basket_name(tree[found[0].branch], found[0].basket) if found else "a basket"
    elif located is None:
        what = "a basket"
    elif located[1] is None:
        what = f"a basket of branch '{located[0].name}'"
    else:
        what = _basket_name(*located)
    return f"{what} cannot be read ({_reason(error)})"


@dataclass(frozen=True)
class UnreadableBasket:
    """One basket ``boostjet info --check`` could not read."""

    branch: str
    basket: int
    entry_start: int
    entry_stop: int
    reason: str

    def __str__(self) -> str:
        where = f"entries {self.entry_start}–{self.entry_stop}"
        return f"basket {self.basket} of branch '{self.branch}' ({where}): {self.reason}"


def _check_basket(branch: TBranch, number: int) -> str | None:
    """Why basket ``number`` cannot be read (decompressed and its entries counted), or None."""
    try:
        basket = branch.basket(number)
    except Exception as error:  # a pure read of the file's bytes: whatever fails is the file
        return _reason(error)
    start, stop = _entries(branch, number)
    if basket.num_entries != stop - start:
        return f"its header counts {basket.num_entries} entries, the branch {stop - start}"
    return None


def unreadable_baskets(tree, entry_start: int = 0, entry_stop: int | None = None):
    """Every basket of every branch of ``tree`` (holding entries in ``[entry_start,
    entry_stop)``) that cannot be read or decompressed, as :class:`UnreadableBasket` records.

    Reads (and decompresses) each basket once without interpreting it, so branches uproot
    cannot interpret (the ``fBits`` of Delphes ≤ 3.4) are checked too.
    """
    stop = tree.num_entries if entry_stop is None else entry_stop
    found = []
    for branch in tree.itervalues(recursive=True):
        for number in range(branch.num_baskets):
            first, last = _entries(branch, number)
            if last <= entry_start or first >= stop:
                continue
            reason = _check_basket(branch, number)
            if reason is not None:
                found.append(UnreadableBasket(branch.name, number, first, last, reason))
    return found
