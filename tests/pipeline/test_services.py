"""boostjet against real services on 127.0.0.1: files over XRootD (root:// and XrdHttp http://)
and a SLURM cluster through dask-jobqueue (fixtures in tests/conftest.py, docs/services.md)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot
import yaml

from boostjet.cli import main
from boostjet.errors import ConfigError
from boostjet.pipeline.fileset import expand_files
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
    assert capsys.readouterr().err == f"error: input file {missing} does not exist.\n"


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


def _write_config(folder: Path, files: dict[str, str], **executor) -> Path:
    """The quickstart datasets without models, ``files`` per dataset, chunks of 500, iterative
    unless ``executor`` says otherwise."""
    config = yaml.safe_load((REPO / "configs" / "quickstart.yaml").read_text())
    for name, spec in config["datasets"].items():
        spec["files"] = [files[name]]
    config |= {"name": folder.name, "models": [], "report": False, "output": str(folder)}
    config["executor"] = {"type": "iterative", "chunksize": 500, "retries": 0} | executor
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
    files = _remote_files(local_run, getattr(xrootd_server, route))
    _assert_same_run(_run(tmp_path / route, files), local_run, files)


def _remote_files(local_run: Path, url) -> dict[str, str]:
    """dataset → ``url(name)`` of the file the local run read."""
    datasets = json.loads((local_run / SUMMARY).read_text())["datasets"]
    return {name: url(Path(dataset["files"][0]).name) for name, dataset in datasets.items()}


def _assert_same_run(run_dir: Path, expected_run: Path, files: dict[str, str]) -> dict:
    """The same accounting per dataset (read from ``files``) and equal histograms, bin by bin,
    values and variances, flow bins included; returns the run's summary."""
    summary = json.loads((run_dir / SUMMARY).read_text())
    expected_summary = json.loads((expected_run / SUMMARY).read_text())
    for name, dataset in summary["datasets"].items():
        assert dataset.pop("files") == [files[name]]
        expected = dict(expected_summary["datasets"][name])
        expected.pop("files")
        assert dataset == expected
        assert dataset["events_read"] == dataset["events_processed"] > 0
    histograms, expected = load_histograms(run_dir), load_histograms(expected_run)
    assert histograms.keys() == expected.keys()
    for name, histogram in expected.items():
        other = histograms[name]
        assert other.axes == histogram.axes, name
        np.testing.assert_array_equal(other.values(flow=True), histogram.values(flow=True))
        np.testing.assert_array_equal(other.variances(flow=True), histogram.variances(flow=True))
    return summary


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


#: ``boostjet …`` in a new interpreter, every chunk slowed by DELAY s after a marker file names the
#: worker's pid (DelayedProcessor) when DELAY > 0: argv is DELAY MARKERS boostjet-arguments….
BOOSTJET = """
import sys
import boostjet.pipeline.routes as routes
from boostjet.cli import console_script
from boostjet.testing.faults import DelayedProcessor

delay, markers = float(sys.argv[1]), sys.argv[2]
del sys.argv[1:3]
if delay > 0:
    original = routes.BoostedJetProcessor
    routes.BoostedJetProcessor = lambda *a: DelayedProcessor(original(*a), delay, markers)
console_script()
"""


@contextmanager
def _slurm_run(tmp_path: Path, files: dict[str, str], partition: str, delay: float = 0.0):
    """``boostjet run`` on two SLURM jobs (scheduler and workers on 127.0.0.1) in a folder of
    ``tmp_path`` with a run name of its own (other sessions may share the cluster), started in
    ``<folder>/cwd``, its stderr in ``<folder>/stderr.txt``; yields the running process and the
    folder, and stops the process (SIGTERM: it cancels its jobs) if it still runs at the end."""
    jobqueue = {"system": "slurm", "jobs": 2, "memory": "1GB", "walltime": "00:10:00"}
    jobqueue |= {"host": "127.0.0.1", "job_extra_directives": [f"--partition={partition}"]}
    folder = tmp_path / f"slurm-{uuid.uuid4().hex[:8]}"
    folder.mkdir()
    config = _write_config(folder, files, type="dask", jobqueue=jobqueue)
    (folder / "cwd").mkdir()
    (folder / "markers").mkdir()
    # a job SLURM ends is noticed 1 s after its worker left instead of 15 s (the default)
    environment = os.environ | {"DASK_DISTRIBUTED__DEPLOY__LOST_WORKER_TIMEOUT": "1s"}
    command = [sys.executable, "-c", BOOSTJET, str(delay), str(folder / "markers")]
    command += ["run", str(config), "--no-report"]
    with (folder / "stderr.txt").open("w") as stderr:  # a file: a pipe could fill up
        process = subprocess.Popen(command, cwd=folder / "cwd", env=environment, stderr=stderr)
    try:
        yield process, folder
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=60)


def _jobs(name: str) -> set[str]:
    """Ids of the SLURM jobs of the run named ``name`` (queued or running)."""
    queue = subprocess.run(
        ["squeue", "-h", "-n", f"boostjet-{name}", "-o", "%i"],
        capture_output=True,
        text=True,
        check=True,
    )
    return set(queue.stdout.split())


def _no_jobs_left(name: str, timeout: float = 30) -> bool:
    """Whether the run named ``name`` has no SLURM job left within ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while _jobs(name) and time.monotonic() < deadline:
        time.sleep(0.5)
    return not _jobs(name)


def _assert_clean_jobqueue_run(folder: Path) -> Path:
    """The run (of :func:`_slurm_run`) said where its jobs' logs go, and they went there, not
    into its working directory; no ERROR was logged; the dashboard link names 127.0.0.1.
    Returns the log directory."""
    logs, stderr = folder / f".{folder.name}.jobs", (folder / "stderr.txt").read_text()
    assert f"batch jobs' logs: {logs}\n" in stderr
    assert "dask dashboard: http://127.0.0.1:" in stderr
    assert "ERROR" not in stderr and "Traceback" not in stderr, stderr
    assert list((folder / "cwd").iterdir()) == []
    return logs


@pytest.mark.slow
def test_two_slurm_jobs_on_root_urls_give_the_histograms_of_the_local_run(
    slurm_cluster, xrootd_server, local_run, tmp_path
):
    files = _remote_files(local_run, xrootd_server.root)
    with _slurm_run(tmp_path, files, slurm_cluster.partition) as (process, folder):
        assert process.wait(timeout=300) == 0, (folder / "stderr.txt").read_text()
    _assert_same_run(folder / folder.name, local_run, files)
    logs = _assert_clean_jobqueue_run(folder)
    joined = [e for e in logs.glob("boostjet-*.err") if "Registered to" in e.read_text()]
    assert len(joined) == 2  # both jobs' workers
    assert _no_jobs_left(folder.name), "the run left its SLURM jobs behind"


def _job_of(pid: int) -> str:
    """The SLURM job a process runs in."""
    environment = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    (job,) = [item[13:].decode() for item in environment if item.startswith(b"SLURM_JOB_ID=")]
    return job


@pytest.mark.slow
def test_a_cancelled_slurm_job_is_replaced_and_costs_nothing_but_time(
    slurm_cluster, xrootd_server, local_run, tmp_path
):
    """Both jobs' workers busy with a chunk (each sleeps 2 s first), one job is scancel'd: its
    chunk runs again elsewhere, a new job replaces it, and the histograms do not change."""
    files = _remote_files(local_run, xrootd_server.root)
    with _slurm_run(tmp_path, files, slurm_cluster.partition, delay=2.0) as (process, folder):
        markers, deadline = folder / "markers", time.monotonic() + 120
        while len({marker.name.split("-")[0] for marker in markers.iterdir()}) < 2:
            assert process.poll() is None and time.monotonic() < deadline, "no two busy workers"
            time.sleep(0.1)
        jobs = _jobs(folder.name)
        first = min(markers.iterdir(), key=lambda marker: marker.stat().st_mtime)
        victim = _job_of(int(first.name.split("-")[0]))
        subprocess.run(["scancel", victim], check=True)
        seen, deadline = set(jobs), time.monotonic() + 300
        while process.poll() is None:
            assert time.monotonic() < deadline, "the run did not end within 300 s"
            seen |= _jobs(folder.name)
            time.sleep(0.2)
    assert process.returncode == 0, (folder / "stderr.txt").read_text()
    assert victim in jobs and len(jobs) == 2
    assert seen - jobs, "no job replaced the cancelled one"
    summary = _assert_same_run(folder / folder.name, local_run, files)
    assert summary["dask_workers_lost"] >= 1
    _assert_clean_jobqueue_run(folder)
    assert _no_jobs_left(folder.name), "the run left its SLURM jobs behind"


# --- remote inputs: globs, missing files, unreachable servers ---------------------------------


def test_a_glob_on_xrootd_expands_to_the_servers_files(xrootd_server):
    expanded = expand_files("mc", [xrootd_server.root("*_mc.root")])
    names = ("qcd_mc.root", "ttbar_mc.root", "wjets_mc.root")
    assert list(expanded.items()) == [(xrootd_server.root(name), 1) for name in names]


@pytest.mark.parametrize(
    ("route", "pattern", "problem"),
    [
        ("root", "nothing_*.root", "matches no file."),
        ("http", "*_mc.root", "globs are expanded on local paths and root:// URLs only"),
    ],
)
def test_a_remote_glob_that_cannot_be_expanded_is_a_config_error(
    xrootd_server, route, pattern, problem
):
    url = getattr(xrootd_server, route)(pattern)
    with pytest.raises(ConfigError) as caught:
        expand_files("mc", [url])
    assert str(caught.value).startswith(f"datasets.mc.files: the pattern '{url}' ") or (
        str(caught.value).startswith(f"datasets.mc.files: '{url}' is a glob on a http:// URL")
    )
    assert problem in str(caught.value)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def bad_remote(xrootd_server):
    """name → (URL, the sentence boostjet gives for it)."""
    missing = xrootd_server.root("missing.root")
    port = _free_port()  # closed again: nothing listens there
    unreachable = f"root://127.0.0.1:{port}//data/ttbar.root"
    return {
        "missing": (missing, f"input file {missing} does not exist."),
        "missing over http": (
            xrootd_server.http("missing.root"),
            f"input file {xrootd_server.http('missing.root')} does not exist.",
        ),
        "unreachable": (
            unreachable,
            f"cannot reach the server root://127.0.0.1:{port} of input file {unreachable} "
            "(Connection refused).",
        ),
        "unreachable glob": (
            f"root://127.0.0.1:{port}//data/*.root",
            f"cannot reach the server root://127.0.0.1:{port} of input file "
            f"root://127.0.0.1:{port}//data/*.root (Connection refused).",
        ),
    }


@pytest.mark.parametrize(
    "case", ["missing", "missing over http", "unreachable", "unreachable glob"]
)
def test_a_bad_remote_input_is_one_sentence_or_skipped_and_accounted(
    xrootd_server, bad_remote, case, tmp_path, capsys
):
    url, sentence = bad_remote[case]
    good = {name: xrootd_server.root(name) for name in SAMPLES}
    files = {"ttbar": url, "qcd": good["qcd_mc.root"], "wjets": good["wjets_mc.root"]}
    files["data"] = good["data_like.root"]
    tmp_path.joinpath("run").mkdir()
    config = str(_write_config(tmp_path / "run", files))
    assert main(["run", config, "--no-report"]) == 2
    assert capsys.readouterr().err.strip() == f"error: {sentence}"
    assert main(["run", config, "--no-report", "--skip-bad-files"]) == 0
    ttbar = json.loads((tmp_path / "run" / "run" / SUMMARY).read_text())["datasets"]["ttbar"]
    assert [(s["file"], s["reason"]) for s in ttbar["skipped"]] == [(url, sentence)]
    assert (ttbar["events_read"], ttbar["events_processed"]) == (0, 0)
    assert main(["info", url]) == 2 or case == "unreachable glob"
