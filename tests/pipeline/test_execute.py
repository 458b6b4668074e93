"""Executors: every route gives identical histograms; failures become one sentence or a skip."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import numpy as np
import pytest

from boostjet.errors import ConfigError, InputDataError, InputFileError
from boostjet.pipeline.accounting import AccountingError, DatasetAccount, Skipped
from boostjet.pipeline.clusters import dashboard_link, job_script
from boostjet.pipeline.fileset import build_fileset
from boostjet.pipeline.interrupt import close_dask
from boostjet.pipeline.routes import execute, run
from boostjet.processors.tagging import BoostedJetProcessor
from boostjet.testing.faults import DelayedProcessor

REPO = Path(__file__).parents[2]
DASK = str(Path(sys.executable).with_name("dask"))


def _wait_for(condition, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not happen within {timeout} s")
        time.sleep(0.2)


def _scheduler_address(scheduler_file: Path) -> str | None:
    try:
        return json.loads(scheduler_file.read_text())["address"]
    except (OSError, ValueError, KeyError):
        return None


@contextmanager
def _cluster(folder: Path, workers: int = 2) -> Iterator[tuple[str, list]]:
    """A real `dask scheduler` and ``workers`` `dask worker` processes on 127.0.0.1, each command
    in its own process group; yields the tcp:// address and the worker ``Popen``s."""
    from distributed import Client

    scheduler_file = folder / "scheduler.json"
    common = {"cwd": REPO, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    common["start_new_session"] = True  # each command and its children: one process group
    scheduler = [DASK, "scheduler", "--host", "127.0.0.1", "--port", "0"]
    scheduler += ["--dashboard-address", "127.0.0.1:0", "--scheduler-file", str(scheduler_file)]
    processes = [subprocess.Popen(scheduler, **common)]
    try:
        _wait_for(lambda: _scheduler_address(scheduler_file), "the scheduler file")
        worker = [DASK, "worker", "--scheduler-file", str(scheduler_file), "--nworkers", "1"]
        worker += ["--nthreads", "1", "--local-directory", str(folder)]
        processes += [subprocess.Popen(worker, **common) for _ in range(workers)]
        address = _scheduler_address(scheduler_file)
        with Client(address, timeout=30) as client:
            client.wait_for_workers(workers, timeout=90)
        yield address, processes[1:]
    finally:
        for process in processes:  # a throw-away test cluster: no graceful shutdown needed
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)


@pytest.fixture(scope="module")
def dask_scheduler(tmp_path_factory):
    """A real `dask scheduler` with two `dask worker` processes; yields its tcp:// address."""
    with _cluster(tmp_path_factory.mktemp("cluster")) as (address, _):
        yield address


@pytest.fixture(scope="module")
def reference(flat_files, tmp_path_factory):
    """The iterative run of the two-dataset configuration, and that configuration's factory."""
    from boostjet.config import RunConfig

    data = {
        "datasets": {
            "sig": {"files": [str(flat_files["signal"])], "signal": "top"},
            "bkg": {"files": [str(flat_files["background"])]},
        },
        "histograms": {"score_bins": 50, "response_bins": 40},
        "executor": {"type": "iterative", "chunksize": 40, "retries": 0, "workers": 2},
    }

    def config(**executor):
        return RunConfig.model_validate(data | {"executor": data["executor"] | executor})

    return run(config()), config


def _assert_identical(result, expected) -> None:
    assert result.histograms.keys() == expected.histograms.keys()
    for name, histogram in expected.histograms.items():
        other = result.histograms[name]
        assert other.axes == histogram.axes, name
        np.testing.assert_array_equal(other.values(flow=True), histogram.values(flow=True))
        np.testing.assert_array_equal(other.variances(flow=True), histogram.variances(flow=True))
    assert result.accounts == expected.accounts


def test_the_reference_run_fills_and_accounts_every_event(reference):
    expected, _ = reference
    assert expected.accounts["sig"].events_read == expected.accounts["sig"].events_processed == 120
    assert expected.accounts["bkg"].events_processed == 80
    score = expected.histograms["score_cut_based_top"]
    selected = sum(a.fat_jets_selected for a in expected.accounts.values())
    assert score.sum(flow=True).value == selected > 0
    assert list(score.axes["dataset"]) == ["sig", "bkg"]  # configuration order, on every route
    assert score[{"dataset": "sig", "truth": "top"}].sum(flow=True).value > 0


@pytest.mark.slow
@pytest.mark.parametrize("route", ["futures", "dask"])
def test_local_routes_give_identical_histograms(reference, route):
    """futures: a local process pool; dask: a LocalCluster that boostjet starts and stops."""
    expected, config = reference
    _assert_identical(run(config(type=route)), expected)


@pytest.mark.slow
@pytest.mark.parametrize("route", ["dask", "dask-awkward"])
def test_an_existing_cluster_gives_identical_histograms(reference, dask_scheduler, route):
    expected, config = reference
    _assert_identical(run(config(type=route, scheduler=dask_scheduler)), expected)


def _broken_config(run_config, flat_files, **executor):
    return run_config(
        datasets={"mc": {"files": [str(flat_files["signal"]), str(flat_files["broken"])]}},
        executor={"type": "iterative", "chunksize": 40, "retries": 0} | executor,
    )


def test_a_worker_error_arrives_as_the_same_sentence(run_config, flat_files):
    with pytest.raises(InputDataError) as caught:
        run(_broken_config(run_config, flat_files))
    assert str(caught.value) == (
        f"{flat_files['broken']} entries 40–80 has NaN or inf in fat-jet kinematics (FatJet.Mass)."
    )


@pytest.mark.slow
@pytest.mark.parametrize("route", ["dask", "dask-awkward"])
def test_a_worker_error_on_a_cluster_arrives_as_the_same_sentence(
    run_config, flat_files, dask_scheduler, route
):
    """coffea wraps (and dask pickles) worker exceptions; the sentence still arrives intact."""
    config = _broken_config(run_config, flat_files, type=route, scheduler=dask_scheduler)
    with pytest.raises(InputDataError) as caught:
        run(config)
    assert str(caught.value) == (
        f"{flat_files['broken']} entries 40–80 has NaN or inf in fat-jet kinematics (FatJet.Mass)."
    )


@pytest.mark.slow
@pytest.mark.parametrize("route", ["dask", "dask-awkward"])
def test_a_corrupt_basket_on_a_cluster_is_the_same_sentence(
    run_config, corrupt_sample, dask_scheduler, route
):
    """On dask-awkward uproot reads the partition before the guard runs, in the worker: the
    error arrives without its frames and the basket is found by reading the chunk's baskets."""
    path = corrupt_sample("FatJet.PT", 1)
    config = run_config(
        datasets={"tt": {"files": [str(path)], "signal": "top"}},
        executor={"type": route, "scheduler": dask_scheduler, "chunksize": 300, "retries": 0},
    )
    with pytest.raises(InputDataError) as caught:
        run(config)
    assert str(caught.value) == (
        f"{path} entries 300–600: basket 1 of branch 'FatJet.PT' (entries 500–600) cannot be "
        "read (zlib.error: Error -3 while decompressing data: incorrect data check)."
    )


def test_skip_bad_files_skips_failing_chunks_and_bad_files(run_config, flat_files, tmp_path):
    text = tmp_path / "text.root"
    text.write_text("hello")
    config = run_config(
        datasets={
            "mc": {"files": [str(flat_files["signal"]), str(flat_files["broken"]), str(text)]}
        },
        executor={"type": "iterative", "chunksize": 40, "retries": 1, "skip_bad_files": True},
    )
    account = run(config).accounts["mc"]
    assert account.events_read == 220
    assert account.events_processed == 180
    assert [(s.file, s.entry_start, s.entry_stop, s.events) for s in account.skipped] == [
        (str(text), 0, None, None),
        (str(flat_files["broken"]), 40, 80, 40),
    ]
    assert "has NaN or inf" in account.skipped[1].reason
    assert account.events_read == account.events_processed + account.events_skipped


def test_the_accounting_identity_is_enforced():
    account = DatasetAccount(events_read=100, events_processed=60)
    account.skipped.append(Skipped("f.root", 60, 90, 30, "bad"))
    with pytest.raises(AccountingError, match="'x': 100 events read but 60 processed"):
        account.check("x")


def test_a_run_over_files_without_events_says_so(run_config, flat_files):
    config = run_config(executor={"type": "iterative", "skip_bad_files": True})
    fileset = build_fileset(config)
    empty = {name: [] for name in fileset}
    with pytest.raises(InputFileError, match="no events to process: they are empty"):
        execute(config, empty)


def test_real_delphes_file_fills_histograms(shared_delphes, run_config):
    config = run_config(
        datasets={"tth": {"files": [str(shared_delphes / "tth_hbb_cms_fatjet.root")]}},
        selection={"pt_min": 200.0},
        truth={"genjet_collection": None},
        executor={"type": "iterative", "chunksize": 5},
    )
    result = run(config)
    assert result.accounts["tth"].events_processed == 10
    assert result.histograms["score_cut_based_top"].sum(flow=True).value == 6


def test_an_unreachable_scheduler_is_a_config_error(run_config):
    config = run_config(
        executor={"type": "dask", "scheduler": "tcp://127.0.0.1:9", "connect_timeout": 1}
    )
    with pytest.raises(
        ConfigError, match=r"cannot reach the dask scheduler at tcp://127\.0\.0\.1:9"
    ):
        run(config)


def test_slurm_job_script_holds_the_configured_resources(run_config, tmp_path):
    jobqueue = {"system": "slurm", "cores": 4, "memory": "12GB", "walltime": "02:30:00"}
    jobqueue |= {"queue": "short", "job_script_prologue": ["source /opt/env/bin/activate"]}
    script = job_script(run_config(executor={"type": "dask", "jobqueue": jobqueue}))
    assert "#SBATCH --cpus-per-task=4" in script
    assert "#SBATCH --mem=12G" in script
    assert "#SBATCH -t 02:30:00" in script
    assert "#SBATCH -p short" in script
    assert "source /opt/env/bin/activate" in script
    assert "--nworkers 4" in script and "--nthreads 1" in script
    logs = tmp_path / "outputs" / ".test.jobs"  # the default: beside the run, not the cwd
    assert f"#SBATCH -o {logs}/boostjet-test-%J.out" in script
    assert f"#SBATCH -e {logs}/boostjet-test-%J.err" in script
    assert "--host" not in script  # the workers' network interface, as dask-jobqueue picks it


def test_htcondor_job_script_holds_the_configured_resources(run_config, tmp_path):
    jobqueue = {"system": "htcondor", "cores": 2, "memory": "8GB", "walltime": "01:00:00"}
    jobqueue |= {"host": "127.0.0.1", "log_directory": str(tmp_path / "logs")}
    jobqueue |= {"job_extra_directives": ['requirements = (OpSysAndVer == "AlmaLinux9")']}
    jobqueue |= {"job_script_prologue": ["source /opt/env/bin/activate"]}
    script = job_script(run_config(executor={"type": "dask", "jobqueue": jobqueue}))
    assert "RequestCpus = MY.DaskWorkerCores" in script
    assert "DaskWorkerCores = 2" in script
    assert "+MaxRuntime = 3600" in script
    assert "DaskWorkerMemory = 8000000000" in script
    assert f"LogDirectory = {tmp_path / 'logs'}\n" in script
    assert "Output = $(LogDirectory)/worker-$F(MY.JobId).out" in script
    assert 'requirements = (OpSysAndVer == "AlmaLinux9")\n' in script
    worker = re.search(r"Arguments = \"-c '(.*)'\"", script).group(1)
    assert worker.startswith("source /opt/env/bin/activate; ")
    assert re.search(r" distributed.cli.dask_worker tcp://127\.0\.0\.1:\d+ ", worker)
    assert worker.endswith(" --host 127.0.0.1 --dashboard-address 127.0.0.1:0")


class _Client:
    """What :func:`dashboard_link` asks of a distributed ``Client``."""

    dashboard_link = "http://10.1.2.3:8787/status"  # the scheduler's host, the dashboard's port

    def __init__(self, services: dict):
        self.services = services

    def scheduler_info(self) -> dict:
        return {"services": self.services}


@pytest.mark.parametrize(
    ("address", "own", "link"),
    [
        ("127.0.0.1:0", True, "http://127.0.0.1:8787/status"),
        ("[::1]:8787", True, "http://[::1]:8787/status"),
        ("0.0.0.0:8787", True, _Client.dashboard_link),
        (":8787", True, _Client.dashboard_link),
        ("127.0.0.1:0", False, _Client.dashboard_link),  # an existing scheduler: its own setting
    ],
)
def test_the_dashboard_link_names_the_address_the_dashboard_listens_on(address, own, link):
    assert dashboard_link(_Client({"dashboard": 8787}), address, own) == link
    assert dashboard_link(_Client({}), address, own) is None


def _still_running(dask_scheduler) -> dict:
    return {"all": 1, "remaining": 1, "status": "running"}


class _Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_closing_a_cluster_under_a_progress_feed_logs_no_error():
    """A progress bar's ``feed`` on the scheduler sleeps between two updates; closing the
    scheduler then cancels it, which distributed logged as an ERROR with a CancelledError
    traceback at the end of successful jobqueue runs. Here the feed sleeps 60 s, so it surely
    is cancelled."""
    from distributed import Client, LocalCluster
    from distributed.comm import connect
    from distributed.protocol.pickle import dumps

    errors = _Records()
    logging.getLogger("distributed.scheduler").addHandler(errors)
    cluster = LocalCluster(n_workers=0, host="127.0.0.1", dashboard_address=None)
    client = Client(cluster)

    async def open_feed():
        comm = await connect(cluster.scheduler_address)
        await comm.write({"op": "feed", "function": dumps(_still_running), "interval": "60s"})
        assert (await comm.read())["status"] == "running"
        return comm

    try:
        cluster.sync(open_feed)
        close_dask(client, cluster, None)
    finally:
        logging.getLogger("distributed.scheduler").removeHandler(errors)
    assert cluster.status.name == "closed"
    assert [record.getMessage() for record in errors.records] == []


def _kill_first_busy_worker(markers: Path, killed: list) -> None:
    """Wait for the first chunk to start (its marker names the worker's pid), then SIGKILL that
    worker's whole process group (nanny and worker): the chunk is surely mid-run."""
    _wait_for(lambda: any(markers.iterdir()), "the first chunk")
    pid = int(min(markers.iterdir()).name.split("-")[0])
    os.killpg(os.getpgid(pid), signal.SIGKILL)
    killed.append(pid)


@pytest.mark.slow
def test_a_killed_worker_costs_nothing_but_time(reference, dask_scheduler, tmp_path):
    """The module's cluster (two workers); one is SIGKILLed while it processes a chunk (every
    chunk sleeps 0.3 s first). Last in this module: the other cluster tests run before it.
    dask runs its chunks again on the survivor: identical histograms and accounting, and the
    result says one worker was lost and which work ran again. (dask-awkward goes through the same
    scheduler machinery; one route keeps the test short.)"""
    expected, config = reference
    markers = tmp_path / "markers"
    markers.mkdir()
    settings = config(type="dask", scheduler=dask_scheduler, retries=1)
    slow = DelayedProcessor(BoostedJetProcessor(settings), 0.3, str(markers))
    killed: list[int] = []
    killer = threading.Thread(target=_kill_first_busy_worker, args=(markers, killed))
    killer.start()
    try:
        result = run(settings, processor_instance=slow)
    finally:
        killer.join(timeout=90)
    assert len(killed) == 1
    _assert_identical(result, expected)
    assert result.workers_lost == 1
    assert result.tasks_rescheduled >= 1  # at least the chunk it was processing
