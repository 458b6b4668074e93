"""Console output: messages on stderr, and coffea-style progress bars for boostjet's own loops."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from coffea.util import rich_bar
from rich.console import Console

#: Messages and errors; stdout stays free for coffea's progress bars and tables.
console = Console(stderr=True, soft_wrap=True)


def say(message: str) -> None:
    """Print one line of information (no rich markup interpretation of the message)."""
    console.print(message, markup=False, highlight=False)


@contextmanager
def chunk_progress(total: int, description: str = "Processing") -> Iterator[Callable[[], None]]:
    """A progress bar of ``total`` chunks, looking like coffea's; yields ``advance()``."""
    with rich_bar() as progress:
        task = progress.add_task(description, total=total, unit="chunk")

        def advance() -> None:
            progress.update(task, advance=1, refresh=True)

        yield advance
