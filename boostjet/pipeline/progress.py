"""Console output: messages on stderr, and coffea-style progress bars for boostjet's own loops."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from coffea.util import rich_bar
from rich.console import Console

if TYPE_CHECKING:
    from boostjet.pipeline.accounting import RunResult

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


def print_run(result: RunResult, run_dir: Path) -> None:
    """The accounting table of a finished run, its skipped chunks and files, and its speed."""
    from dataclasses import asdict

    from rich.table import Table

    from boostjet.analysis.report import skipped_text

    table = Table("dataset", "events read", "processed", "skipped", "fat jets selected")
    for name, account in result.accounts.items():
        table.add_row(
            name,
            str(account.events_read),
            str(account.events_processed),
            str(account.events_skipped),
            str(account.fat_jets_selected),
        )
    Console().print(table)
    for name, account in result.accounts.items():
        for item in account.skipped:
            say(f"skipped {skipped_text(asdict(item))}")
        if account.skipped:
            nothing = "" if account.events_processed else ", nothing processed"
            say(
                f"dataset '{name}': {account.events_skipped} of {account.events_read} events "
                f"skipped in {len(account.skipped)} chunk(s) or file(s){nothing}; listed above, "
                f"in summary.json (datasets.{name}.skipped) and in the report"
            )
    if result.chunks_resumed:
        say(f"{result.chunks_resumed} chunks taken from the interrupted run's checkpoints")
    if result.workers_lost:
        say(
            f"{result.workers_lost} dask worker(s) lost; {result.tasks_rescheduled} task(s) "
            "ran again elsewhere"
        )
    say(
        f"{result.events_processed} events in {result.processing_time:.1f} s "
        f"({result.events_per_second:.0f} events/s; {result.wall_time:.1f} s wall); "
        f"outputs in {run_dir}"
    )
