"""Event accounting of a run: events read = events processed + events skipped, per dataset, and
the table of it the `run` command prints."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import hist

from boostjet.config import RunConfig
from boostjet.pipeline.fileset import Fileset
from boostjet.pipeline.progress import say
from boostjet.spec import ResolvedModel


class AccountingError(RuntimeError):
    """Events read ≠ events processed + events skipped: a bug in boostjet, never a user error."""


@dataclass(frozen=True)
class Skipped:
    """Events that were read but not processed, and why."""

    file: str
    entry_start: int
    entry_stop: int | None
    events: int | None
    """None when the file was too damaged to count its entries."""
    reason: str


@dataclass
class DatasetAccount:
    """Per-dataset event accounting of one run."""

    events_read: int = 0
    events_processed: int = 0
    fat_jets_selected: int = 0
    constituent_refs_unresolved: int = 0
    files: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)

    @property
    def events_skipped(self) -> int:
        return sum(item.events or 0 for item in self.skipped)

    def check(self, dataset: str) -> None:
        """Assert events read = events processed + events skipped."""
        if self.events_read != self.events_processed + self.events_skipped:
            raise AccountingError(
                f"dataset '{dataset}': {self.events_read} events read but "
                f"{self.events_processed} processed + {self.events_skipped} skipped."
            )


@dataclass
class RunResult:
    """What a run produced: histograms, per-dataset accounting and timing."""

    histograms: dict[str, hist.Hist]
    accounts: dict[str, DatasetAccount]
    wall_time: float
    """Seconds from the pre-flight check to the merged output (cluster start-up included)."""
    processing_time: float
    """Seconds the executor ran."""
    chunks_resumed: int = 0
    """Chunks taken from the checkpoints of an interrupted run (``--resume``)."""
    workers_lost: int | None = None
    """dask routes: workers the scheduler removed during the run (None on other routes)."""
    tasks_rescheduled: int | None = None
    """dask routes: tasks that ran again because their worker was lost — chunks being processed
    and finished results held only by that worker (None on other routes). Retries after an
    exception are not counted: dask does not report them once a task is done."""
    warnings: list[str] = field(default_factory=list)
    """Input files listed or read twice (fileset.repeated_inputs)."""
    models: tuple[ResolvedModel, ...] = ()
    """The configured models as the pre-flight resolved them."""

    @property
    def events_processed(self) -> int:
        return sum(account.events_processed for account in self.accounts.values())

    @property
    def events_per_second(self) -> float:
        return self.events_processed / self.processing_time if self.processing_time > 0 else 0.0


def chunk_order(failure: dict) -> tuple[str, int]:
    """Failures in file order, then entry order."""
    return failure["file"], failure["entry_start"]


def dataset_accounts(
    config: RunConfig, fileset: Fileset, output: dict
) -> dict[str, DatasetAccount]:
    """Per-dataset accounts of a run: files and events from the fileset, processed events from
    the output's cutflow, skipped chunks from its failures; the identity is checked."""
    accounts = {name: DatasetAccount() for name in config.datasets}
    for name, items in fileset.items():
        for item in items:
            accounts[name].files.append(item.path)
            accounts[name].events_read += item.entries or 0
            if not item.ok:
                skipped = Skipped(item.path, 0, item.entries, item.entries, item.problem)
                accounts[name].skipped.append(skipped)
    for name, flow in output.get("cutflow", {}).items():
        accounts[name].events_processed = int(flow["events_processed"])
        accounts[name].fat_jets_selected = int(flow["fat_jets_selected"])
        accounts[name].constituent_refs_unresolved = int(flow["constituent_refs_unresolved"])
    for failure in sorted(output["failures"], key=chunk_order):
        start, stop = failure["entry_start"], failure["entry_stop"]
        skipped = Skipped(failure["file"], start, stop, stop - start, failure["reason"])
        accounts[failure["dataset"]].skipped.append(skipped)
    for name, account in accounts.items():
        account.check(name)
    return accounts


def print_run(result: RunResult, run_dir: Path) -> None:
    """The accounting table of a finished run, its skipped chunks and files, and its speed."""
    from rich.console import Console
    from rich.table import Table

    from boostjet.analysis.document import skipped_text

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
