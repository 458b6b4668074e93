"""Ctrl-C and SIGTERM: the first stops a run within seconds, a second one exits at once.

``boostjet`` installs :func:`handling_signals` for the length of a command. The first SIGINT or
SIGTERM raises ``KeyboardInterrupt`` in the main thread, wherever it waits. Each executor route
stops its own work on the way out, with the helpers here: the futures route's
:func:`process_pool` kills its workers instead of running the queued chunks; the dask routes
(:func:`close_dask`) close the client, which cancels every future it submitted, kill the workers
of the LocalCluster boostjet started and close that cluster (a jobqueue cluster cancels its
jobs). ``execute`` then raises :class:`RunInterrupted`. Worker processes that boostjet starts
on this machine ignore both signals (:func:`ignore_stop_signals`): the main process decides.

A second signal during that clean-up kills every process the command started and exits with
``os._exit`` after showing the terminal's cursor again.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import psutil

#: Exit code of an interrupted command (128 + SIGINT, as shells report Ctrl-C).
EXIT_CODE = 130
SIGNALS = (signal.SIGINT, signal.SIGTERM)


class RunInterrupted(KeyboardInterrupt):
    """A run stopped by SIGINT or SIGTERM; ``done`` of its ``total`` chunks are saved in
    ``checkpoint`` (None: the run kept no checkpoints)."""

    def __init__(self, done: int, total: int, checkpoint: Path | None):
        super().__init__(done, total, checkpoint)
        self.done, self.total, self.checkpoint = done, total, checkpoint

    def __str__(self) -> str:
        if self.checkpoint is None:
            return f"the run of {self.total} chunks was stopped; it kept no checkpoints"
        return f"{self.done} of {self.total} chunks are finished and saved in {self.checkpoint}"


def last_line(interruption: KeyboardInterrupt) -> str:
    """The one line an interrupted command ends with."""
    if not isinstance(interruption, RunInterrupted):
        return "interrupted"
    if interruption.checkpoint is None:
        return (
            "interrupted: no chunk is saved with executor.scheduler or executor.jobqueue; "
            "a new run starts from the beginning"
        )
    return (
        f"interrupted: {interruption.done} of {interruption.total} chunks are finished and "
        "saved; the same command with --resume continues from them"
    )


# --- the main process ------------------------------------------------------------------------


class _Handler:
    """SIGINT / SIGTERM handler of a command: the first signal raises KeyboardInterrupt, the
    second kills the processes started since ``children_before`` and exits."""

    def __init__(self, children_before: set[int]):
        self.received = 0
        self.children_before = children_before

    def __call__(self, signum, frame) -> None:
        self.received += 1
        if self.received == 1:
            raise KeyboardInterrupt
        exit_now(self.children_before)


_active: _Handler | None = None


def stopped_by_signal(error: BaseException | None) -> bool:
    """Whether ``error`` is Ctrl-C, or anything raised after the command got SIGINT or SIGTERM
    (an executor may raise something else on its way out)."""
    signalled = _active is not None and _active.received > 0
    return isinstance(error, KeyboardInterrupt) or (error is not None and signalled)


@contextmanager
def handling_signals() -> Iterator[None]:
    """Handle SIGINT and SIGTERM as described above while the block runs (in the main thread;
    elsewhere signals cannot be handled and nothing changes). The previous handlers come back
    afterwards."""
    global _active
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    handler = _Handler(_children())
    previous = {signum: signal.signal(signum, handler) for signum in SIGNALS}
    outer, _active = _active, handler
    try:
        yield
    finally:
        _active = outer
        for signum, action in previous.items():
            signal.signal(signum, action)


def restore_terminal() -> None:
    """Show the cursor again on a new line: rich hides it under a progress bar, and an
    interrupted bar is not always stopped (coffea's dask progress bar is not)."""
    if os.isatty(1):
        os.write(1, b"\x1b[?25h\n")


def import_dask_jobqueue():
    """``dask_jobqueue``, imported without its side effect on this process.

    dask-jobqueue 0.9.0 replaces the SIGINT handler when it is imported with one that calls
    ``sys.exit()`` (dask/dask-jobqueue#696, fixed after 0.9.0 by #697): Ctrl-C on the jobqueue
    route would end boostjet silently, with exit code 0. The handler in place is put back.
    """
    previous = signal.getsignal(signal.SIGINT)
    import dask_jobqueue

    if previous is not None and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, previous)
    return dask_jobqueue


def exit_now(keep: set[int] = frozenset()) -> None:
    """:func:`restore_terminal`, SIGKILL every descendant process not in ``keep``, print
    ``interrupted`` and exit with :data:`EXIT_CODE` at once."""
    restore_terminal()
    kill_children(keep)
    os.write(2, b"interrupted\n")
    os._exit(EXIT_CODE)


def exiting() -> None:
    """For the last moments of an interrupted process: a further signal exits at once, and
    the interpreter's teardown skips its garbage collection of every object (more than a second
    of CPU with torch, coffea and dask loaded), since everything is stopped and cleaned up."""
    for signum in SIGNALS:
        signal.signal(signum, lambda signum, frame: exit_now())
    gc.freeze()


def _children() -> set[int]:
    return {child.pid for child in psutil.Process().children(recursive=True)}


def kill_children(keep: set[int] = frozenset()) -> None:
    """SIGKILL every descendant process of this one whose pid is not in ``keep``."""
    for child in psutil.Process().children(recursive=True):
        if child.pid not in keep:
            with suppress(psutil.NoSuchProcess):
                child.kill()


# --- worker processes ------------------------------------------------------------------------


def ignore_stop_signals() -> None:
    """Make this (worker) process ignore SIGINT and SIGTERM.

    Ctrl-C in a terminal reaches the whole process group, and a batch system may signal every
    process of a job; a worker that died of it would break the process pool, or be restarted by
    its dask nanny, before the main process has even seen its own signal. The main process
    stops its workers itself.
    """
    for signum in SIGNALS:
        signal.signal(signum, signal.SIG_IGN)


def pool_initializer() -> None:
    """Initializer of the futures pool's workers: :func:`ignore_stop_signals`, and a watchdog
    thread that ends the worker once the main process is gone (killed with SIGKILL): loky's
    workers would otherwise outlive it, waiting for work."""
    ignore_stop_signals()
    parent = os.getppid()
    threading.Thread(target=_exit_when_orphaned, args=(parent,), daemon=True).start()


def _exit_when_orphaned(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(1)


def dask_setup(worker) -> None:
    """dask preload hook: the LocalCluster boostjet starts loads this module into its worker
    processes (``preload=[__name__]``), which then ignore SIGINT and SIGTERM too."""
    ignore_stop_signals()


# --- stopping executors ----------------------------------------------------------------------


@contextmanager
def process_pool(workers: int) -> Iterator:
    """A loky process pool (coffea's default pool) that stops at once on any exception.

    After its work it shuts down gracefully. On Ctrl-C, SIGTERM or an error it cancels the queued
    chunks and kills its workers (``kill_workers=True``), where the pool's own context manager
    would first run every chunk still queued.
    """
    import loky

    pool = loky.ProcessPoolExecutor(max_workers=workers, initializer=pool_initializer)
    try:
        yield pool
    except BaseException:
        pool.shutdown(wait=True, kill_workers=True)
        raise
    pool.shutdown(wait=True)


def _cancelled_in_teardown(record: logging.LogRecord) -> bool:
    """False for a record of a ``CancelledError`` (which the filter then drops)."""
    return not (record.exc_info and isinstance(record.exc_info[1], asyncio.CancelledError))


@contextmanager
def _quiet_teardown(interrupted: bool) -> Iterator[None]:
    """What distributed logs while a scheduler is closed: after a signal, nothing (its ERRORs
    are consequences of the interruption, not news); otherwise all but the ``CancelledError`` of
    a handler still running on the scheduler, which closing cancels: a progress bar's ``feed``
    that had not yet noticed its bar was done logs one as an ERROR with a traceback."""
    scheduler_log = logging.getLogger("distributed.scheduler")
    previous = logging.root.manager.disable
    if interrupted:
        logging.disable(logging.ERROR)
    scheduler_log.addFilter(_cancelled_in_teardown)
    try:
        yield
    finally:
        scheduler_log.removeFilter(_cancelled_in_teardown)
        if interrupted:
            logging.disable(previous)


def close_dask(client, cluster, error: BaseException | None) -> None:
    """Close a run's dask ``client`` and the ``cluster`` boostjet started (None when not started).

    Closing the client makes the scheduler release every future it submitted: on an existing
    scheduler the chunks still queued are cancelled, and the user's cluster stays up. Closing a
    jobqueue cluster cancels its jobs. After an ``error`` the LocalCluster's workers are killed
    first. What distributed logs while tearing down is filtered (:func:`_quiet_teardown`).
    """
    from distributed import LocalCluster

    if error is not None and isinstance(cluster, LocalCluster):
        kill_local_workers(cluster)
    with _quiet_teardown(stopped_by_signal(error)):
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()


def kill_local_workers(cluster) -> None:
    """Kill the worker processes of a ``distributed.LocalCluster`` now (SIGKILL), instead of
    letting ``cluster.close()`` wait up to 4 s per worker for the chunk it runs.

    Each nanny is told first that its worker goes away for good (``close_gracefully``), so that
    it closes itself instead of restarting the worker.
    """

    async def kill() -> None:
        for nanny in cluster.workers.values():
            nanny.close_gracefully(reason="interrupted")
            if nanny.pid is not None:
                with suppress(ProcessLookupError):
                    os.kill(nanny.pid, signal.SIGKILL)

    cluster.sync(kill)
