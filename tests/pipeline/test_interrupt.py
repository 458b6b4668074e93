"""Ctrl-C and SIGTERM stop `boostjet run` within seconds on every executor route.

Each test starts `boostjet run` (the console script) in its own process group, every chunk slowed
by :class:`DelayedProcessor` (which also leaves a marker file when a chunk starts), signals it
once the run is surely mid-way, and checks: exit code 130 within :data:`STOP_WITHIN` seconds
(every chunk still queued would take far longer), the one line ``interrupted: …`` and no
traceback, the checkpoints of the finished chunks kept for ``--resume``, and no process that the
command started still alive. Ctrl-C is SIGINT to the whole process group, as a terminal sends it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
import yaml

from boostjet.cli import main
from boostjet.rundir import load_summary

REPO = Path(__file__).parents[2]
DELAY = 3.0
"""Seconds every chunk sleeps: 20 chunks, at most 2 at a time, leave ≥ 27 s of work."""
STOP_WITHIN = 5.0
"""Seconds from the signal to the exit of the command."""
CHUNKS = 20

#: `boostjet run …` with every chunk slowed: argv is DELAY MARKERS JOBS run CONFIG …. JOBS
#: "local-jobs" turns SLURM jobs into local processes (dask-jobqueue's own LocalCluster, a
#: JobQueueCluster whose jobs are subprocesses) as soon as boostjet has imported dask_jobqueue,
#: so that the jobqueue code path runs here, imports included.
DRIVER = """
import sys
import boostjet.pipeline.routes as routes
import boostjet.pipeline.interrupt as interrupt
from boostjet.testing.faults import DelayedProcessor
from boostjet.processors.tagging import BoostedJetProcessor
from boostjet.cli import console_script

delay, markers, jobs = float(sys.argv[1]), sys.argv[2], sys.argv[3]
del sys.argv[1:4]
original = BoostedJetProcessor
routes.BoostedJetProcessor = lambda *a: DelayedProcessor(original(*a), delay, markers)

def local_jobs(**options):
    import dask_jobqueue.local

    options["scheduler_options"] = {**options["scheduler_options"], "host": "127.0.0.1"}
    extra = ["--host", "127.0.0.1"]
    return dask_jobqueue.local.LocalCluster(**options, worker_extra_args=extra)

def import_with_local_jobs(imported=interrupt.import_dask_jobqueue):
    module = imported()
    module.SLURMCluster = local_jobs
    return module

if jobs == "local-jobs":
    interrupt.import_dask_jobqueue = import_with_local_jobs
console_script()
"""

#: The same, with the process pool's shut-down hanging, as a worker that never stops would.
HANGING_SHUTDOWN = DRIVER.replace(
    "console_script()",
    "import loky, time\n"
    "loky.ProcessPoolExecutor.shutdown = lambda self, *a, **k: time.sleep(3600)\n"
    "console_script()",
)


@pytest.fixture
def config_file(flat_files, tmp_path):
    """``config_file(**executor)``: signal (120 events) + background (80) in chunks of 10."""

    def make(**executor) -> Path:
        content = {
            "name": "cli",
            "datasets": {
                "sig": {"files": [str(flat_files["signal"])], "signal": "top"},
                "bkg": {"files": [str(flat_files["background"])]},
            },
            "histograms": {"score_bins": 20, "response_bins": 20},
            "executor": {"chunksize": 10, "retries": 0, "workers": 2} | executor,
            "output": str(tmp_path / "outputs"),
            "report": False,
        }
        path = tmp_path / "config.yaml"
        path.write_text(yaml.safe_dump(content))
        return path

    return make


@dataclass
class Interrupted:
    returncode: int
    seconds: float
    """From the (last) signal to the exit."""
    stderr: str
    children: dict[psutil.Process, str]
    """The command's descendant processes when it was signalled, and their command lines."""
    alive: list[psutil.Process]
    """Those still alive a few seconds after it exited."""
    markers: Path

    @property
    def last_line(self) -> str:
        return self.stderr.strip().splitlines()[-1]


def _chunk_files(tmp_path: Path) -> list[Path]:
    return list((tmp_path / "outputs" / ".cli.partial").glob("*.chunk"))


def _interrupt(
    tmp_path: Path,
    config: Path,
    signum: int,
    group: bool,
    started: int,
    checkpoints: bool = True,
    driver: str = DRIVER,
    jobs: str = "",
    again_after: float | None = None,
    grace: float = 3.0,
) -> Interrupted:
    """Run the slowed command; once ``started`` chunks have started (and, with
    ``checkpoints``, one is saved) send ``signum`` to it (``group``: to its whole process group),
    and again ``again_after`` seconds later if given; wait for it to exit, and ``grace`` seconds
    more for its descendants (those still alive then are reported, and killed)."""
    markers = tmp_path / "markers"
    markers.mkdir()
    argv = [sys.executable, "-c", driver, str(DELAY), str(markers), jobs or "-", "run"]
    process = subprocess.Popen(
        [*argv, str(config)],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, like a command run in a terminal
    )

    def send() -> None:
        os.killpg(process.pid, signum) if group else process.send_signal(signum)

    try:
        deadline = time.monotonic() + 300
        while len(list(markers.iterdir())) < started or (
            checkpoints and not _chunk_files(tmp_path)
        ):
            assert process.poll() is None, process.communicate()[1]
            assert time.monotonic() < deadline, "the run did not get going within 300 s"
            time.sleep(0.1)
        children = {
            child: " ".join(child.cmdline())
            for child in psutil.Process(process.pid).children(recursive=True)
        }
        send()
        if again_after is not None:
            time.sleep(again_after)
            send()
        signalled = time.monotonic()
        _, stderr = process.communicate(timeout=120)
        seconds = time.monotonic() - signalled
    except BaseException:
        with suppress(ProcessLookupError):  # the command and whatever it left in its group
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        raise
    _, alive = psutil.wait_procs(children, timeout=grace)
    for survivor in alive:
        with suppress(psutil.NoSuchProcess):
            survivor.kill()
    return Interrupted(process.returncode, seconds, stderr, children, alive, markers)


def _assert_stopped(result: Interrupted, expected_line: str) -> None:
    assert result.returncode == 130, result.stderr
    assert result.seconds < STOP_WITHIN, f"{result.seconds:.1f} s\n{result.stderr}"
    assert result.last_line == expected_line, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert result.alive == [], [result.children[process] for process in result.alive]


def _saved_line(done: int) -> str:
    return (
        f"interrupted: {done} of {CHUNKS} chunks are finished and saved; "
        "the same command with --resume continues from them"
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    ("executor", "signum", "group", "workers"),
    [
        pytest.param("iterative", signal.SIGINT, True, 0, id="iterative-ctrl-c"),
        pytest.param("futures", signal.SIGINT, True, 2, id="futures-ctrl-c"),
        pytest.param("futures", signal.SIGTERM, False, 2, id="futures-sigterm"),
        pytest.param("dask", signal.SIGTERM, True, 2, id="dask-sigterm-to-every-process"),
        pytest.param("dask-awkward", signal.SIGINT, True, 2, id="dask-awkward-ctrl-c"),
    ],
)
def test_a_signal_stops_the_run_and_keeps_the_finished_chunks(
    config_file, tmp_path, capsys, executor, signum, group, workers
):
    """On the routes with checkpoints (a LocalCluster boostjet starts for dask): the workers are
    killed, not left to run the queued chunks; ``--resume`` continues from the saved ones."""
    config = config_file(type=executor)
    result = _interrupt(tmp_path, config, signum, group, started=workers + 1)
    done = len(_chunk_files(tmp_path))
    assert 1 <= done < CHUNKS
    _assert_stopped(result, _saved_line(done))
    helpers = [line for line in result.children.values() if "resource_tracker" not in line]
    assert len(helpers) >= workers  # the workers were there before

    # the executor section is not part of the checkpoints' fingerprint: resume without the delay
    assert main(["run", str(config), "--resume", "--executor", "iterative"]) == 0
    assert f"{done} chunks taken from" in capsys.readouterr().err
    summary = load_summary(tmp_path / "outputs" / "cli")
    assert summary["chunks_resumed"] == done
    assert summary["events_processed"] == summary["events_read"] == 200


@pytest.fixture
def user_cluster():
    """Someone's running dask cluster: a scheduler in this process, two worker processes."""
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        yield cluster.scheduler_address, client


def _scheduler_tasks(dask_scheduler) -> int:
    return len(dask_scheduler.tasks)


@pytest.mark.slow
def test_ctrl_c_on_an_existing_scheduler_cancels_the_run_and_leaves_the_cluster_up(
    config_file, tmp_path, user_cluster
):
    """Only the client side stops: its futures are cancelled (no chunk starts afterwards and the
    scheduler forgets them), while the user's scheduler and workers stay up and keep working."""
    address, client = user_cluster
    config = config_file(type="dask", scheduler=address)
    result = _interrupt(tmp_path, config, signal.SIGINT, True, started=3, checkpoints=False)
    _assert_stopped(
        result,
        "interrupted: no chunk is saved with executor.scheduler or executor.jobqueue; "
        "a new run starts from the beginning",
    )
    started = len(list(result.markers.iterdir()))
    assert started < CHUNKS
    deadline = time.monotonic() + 30
    while client.run_on_scheduler(_scheduler_tasks) > 0:
        assert time.monotonic() < deadline, "the scheduler kept the cancelled tasks"
        time.sleep(0.2)
    time.sleep(DELAY + 1)  # a chunk still queued would have started by now
    assert len(list(result.markers.iterdir())) == started
    assert len(client.scheduler_info()["workers"]) == 2
    assert client.submit(sum, [1, 2]).result(timeout=30) == 3


@pytest.mark.slow
@pytest.mark.parametrize(
    ("signum", "group"),
    [
        pytest.param(signal.SIGINT, True, id="ctrl-c"),
        pytest.param(signal.SIGTERM, False, id="sigterm"),
    ],
)
def test_a_signal_cancels_the_jobs_of_a_jobqueue_cluster(config_file, tmp_path, signum, group):
    """dask-jobqueue's LocalCluster stands in for SLURM (its jobs are local processes): the
    signal closes the cluster, which cancels the jobs, and no worker process survives. Ctrl-C
    is the case dask-jobqueue 0.9.0 breaks on import (interrupt.import_dask_jobqueue)."""
    jobqueue = {"system": "slurm", "cores": 1, "memory": "1GB", "jobs": 2}
    config = config_file(type="dask", jobqueue=jobqueue)
    result = _interrupt(
        tmp_path, config, signum, group, started=3, checkpoints=False, jobs="local-jobs"
    )
    _assert_stopped(
        result,
        "interrupted: no chunk is saved with executor.scheduler or executor.jobqueue; "
        "a new run starts from the beginning",
    )
    jobs = [line for line in result.children.values() if "distributed.cli.dask_worker" in line]
    assert len(jobs) == 2


@pytest.mark.slow
def test_a_second_ctrl_c_exits_at_once_whatever_still_shuts_down(config_file, tmp_path):
    """The first Ctrl-C starts the clean-up, which hangs here (the pool's shut-down never
    returns); the second exits at once with 130 and kills the workers the pool still had."""
    config = config_file(type="futures")
    result = _interrupt(
        tmp_path, config, signal.SIGINT, True, started=3, driver=HANGING_SHUTDOWN, again_after=1.0
    )
    _assert_stopped(result, "interrupted")
    assert len(result.children) >= 2


@pytest.mark.slow
def test_the_pool_workers_end_when_boostjet_is_killed(config_file, tmp_path):
    """SIGKILL cannot be handled, but the futures pool's workers notice that the main process is
    gone and exit, instead of staying behind as orphans holding their memory."""
    config = config_file(type="futures")
    result = _interrupt(tmp_path, config, signal.SIGKILL, False, started=3, grace=8.0)
    assert result.returncode == -signal.SIGKILL
    workers = [p for p, line in result.children.items() if "loky" in line and "tracker" not in line]
    assert len(workers) == 2
    assert result.alive == [], [result.children[process] for process in result.alive]
