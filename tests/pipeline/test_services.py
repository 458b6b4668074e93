"""boostjet against real services on 127.0.0.1: files over XRootD (root:// and XrdHttp http://)
and a SLURM cluster through dask-jobqueue (fixtures in tests/conftest.py, docs/services.md)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot
import yaml

from boostjet.cli import main
from boostjet.rundir import SUMMARY, load_histograms

pytestmark = pytest.mark.services

REPO = Path(__file__).parents[2]
NET = REPO / "ci" / "services_net.py"
SAMPLES = ("ttbar_mc.root", "qcd_mc.root", "wjets_mc.root", "data_like.root")


def _table(output: str) -> str:
    """``boostjet info`` output from the table's top border on (the title names the file)."""
    return output[output.index("┏") :]


def test_info_describes_a_file_read_over_root_protocol(xrootd_server, capsys):
    assert main(["info", str(xrootd_server.directory / "ttbar_mc.root")]) == 0
    local = capsys.readouterr().out
    assert main(["info", xrootd_server.root("ttbar_mc.root")]) == 0
    remote = capsys.readouterr().out
    assert xrootd_server.root("ttbar_mc.root") in "".join(remote.split())  # the wrapped title
    with uproot.open(xrootd_server.directory / "ttbar_mc.root") as file:
        events = file["Delphes"].num_entries
    assert f"events: {events}\n" in remote
    assert _table(remote) == _table(local)


def test_info_on_a_missing_remote_file_is_one_sentence(xrootd_server, capsys):
    missing = xrootd_server.root("missing.root")
    assert main(["info", missing]) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"error: {missing} ")
    assert "Traceback" not in error


@pytest.mark.parametrize("name", SAMPLES)
def test_root_http_and_local_reads_give_the_same_arrays(xrootd_server, name):
    routes = [xrootd_server.directory / name, xrootd_server.root(name), xrootd_server.http(name)]
    arrays = []
    for path in routes:
        with uproot.open(path) as file:
            arrays.append(file["Delphes"].arrays(library="ak"))
    local, *remote = arrays
    assert len(local) > 0 and len(local.fields) > 50
    for other in remote:
        assert other.fields == local.fields
        assert ak.array_equal(other, local, equal_nan=True, check_parameters=True)


def _write_config(folder: Path, files: dict[str, str]) -> Path:
    """The quickstart datasets without models, iterative, chunks of 500, ``files`` per dataset."""
    config = yaml.safe_load((REPO / "configs" / "quickstart.yaml").read_text())
    for name, spec in config["datasets"].items():
        spec["files"] = [files[name]]
    config |= {"name": folder.name, "models": [], "report": False, "output": str(folder)}
    config["executor"] = {"type": "iterative", "chunksize": 500, "retries": 0}
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _run(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir()
    assert main(["run", str(_write_config(folder, files)), "--no-report"]) == 0
    return folder / folder.name


@pytest.fixture(scope="module")
def local_run(xrootd_server, tmp_path_factory) -> Path:
    config = yaml.safe_load((REPO / "configs" / "quickstart.yaml").read_text())
    files = {
        name: str(xrootd_server.directory / Path(spec["files"][0]).name)
        for name, spec in config["datasets"].items()
    }
    return _run(tmp_path_factory.mktemp("runs") / "local", files)


@pytest.mark.parametrize("route", ["root", "http"])
def test_a_run_over_urls_gives_the_histograms_of_the_local_run(
    xrootd_server, local_run, tmp_path, route
):
    expected_summary = json.loads((local_run / SUMMARY).read_text())
    url = getattr(xrootd_server, route)
    files = {
        name: url(Path(dataset["files"][0]).name)
        for name, dataset in expected_summary["datasets"].items()
    }
    run_dir = _run(tmp_path / route, files)
    summary = json.loads((run_dir / SUMMARY).read_text())
    for name, dataset in summary["datasets"].items():
        assert dataset.pop("files") == [files[name]]
        expected = dict(expected_summary["datasets"][name])
        expected.pop("files")
        assert dataset == expected
        assert dataset["events_read"] == dataset["events_processed"] > 0
    histograms, expected = load_histograms(run_dir), load_histograms(local_run)
    assert histograms.keys() == expected.keys()
    for name, histogram in expected.items():
        other = histograms[name]
        assert other.axes == histogram.axes, name
        np.testing.assert_array_equal(other.values(flow=True), histogram.values(flow=True))
        np.testing.assert_array_equal(other.variances(flow=True), histogram.variances(flow=True))


def _queue_empties(timeout: float) -> bool:
    """Whether SLURM's queue is empty within ``timeout`` s (scancel'd jobs linger a moment)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        queue = subprocess.run(["squeue", "-h", "-o", "%i"], capture_output=True, text=True)
        if queue.returncode == 0 and not queue.stdout.split():
            return True
        time.sleep(0.5)
    return False


@pytest.mark.slow
def test_two_slurm_jobs_connect_two_dask_workers_on_localhost(slurm_cluster, tmp_path):
    from dask_jobqueue import SLURMCluster
    from distributed import Client

    logs = tmp_path / "logs"
    local = ["--host", "127.0.0.1", "--dashboard-address", "127.0.0.1:0"]
    with (
        SLURMCluster(
            cores=1,
            memory="1GB",
            processes=1,
            walltime="00:10:00",
            interface=None,
            scheduler_options={"host": "127.0.0.1", "dashboard_address": "127.0.0.1:0"},
            worker_extra_args=local,
            job_extra_directives=[f"--partition={slurm_cluster.partition}"],
            log_directory=str(logs),
        ) as cluster,
        Client(cluster) as client,
    ):
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
        cluster.scale(jobs=2)
        client.wait_for_workers(2, timeout=120)
        workers = client.scheduler_info()["workers"]
        assert all(address.startswith("tcp://127.0.0.1:") for address in workers)
        jobs = client.run(lambda: os.environ["SLURM_JOB_ID"])  # a lambda travels by value
        assert sorted(jobs.values()) == sorted(job.job_id for job in cluster.workers.values())
        assert client.run(socket.gethostname) == dict.fromkeys(workers, socket.gethostname())
        assert sorted(client.gather(client.map(np.square, range(4)))) == [0, 1, 4, 9]
        pids = [str(pid) for pid in client.run(os.getpid).values()]
        listening = subprocess.run([sys.executable, str(NET), "listening", *pids], text=True)
        assert listening.returncode == 0, "a worker listens beyond 127.0.0.1"
    assert sorted(path.name for path in logs.iterdir()) == sorted(
        f"dask-worker-{job}.{stream}" for job in jobs.values() for stream in ("err", "out")
    )
    assert not list(Path.cwd().glob("slurm-*.out"))
    assert _queue_empties(timeout=30), "closing the cluster left its SLURM jobs behind"
