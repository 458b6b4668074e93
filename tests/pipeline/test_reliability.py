"""Interrupted runs leave nothing half-written, and ``--resume`` completes them identically."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from boostjet.cli import main
from boostjet.errors import ConfigError
from boostjet.pipeline.routes import run
from boostjet.processors.tagging import BoostedJetProcessor
from boostjet.rundir import checkpoint_directory, load_histograms, load_summary
from boostjet.testing.faults import FailingProcessor, InjectedFault

REPO = Path(__file__).parents[2]

#: A `boostjet` command whose chunks each sleep 0.5 s first (patched in this process only).
SLOW_BOOSTJET = """
import sys, time
from boostjet.processors.tagging import BoostedJetProcessor
original = BoostedJetProcessor.process
def slow(self, events):
    time.sleep(0.5)
    return original(self, events)
BoostedJetProcessor.process = slow
from boostjet.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.fixture
def config_file(flat_files, tmp_path) -> Path:
    """Signal (120 events) + background (80), iterative, 20-event chunks: 10 chunks."""
    content = {
        "name": "cli",
        "datasets": {
            "sig": {"files": [str(flat_files["signal"])], "signal": "top"},
            "bkg": {"files": [str(flat_files["background"])]},
        },
        "histograms": {"score_bins": 20, "response_bins": 20},
        "executor": {"type": "iterative", "chunksize": 20, "retries": 0},
        "output": str(tmp_path / "outputs"),
        "report": False,
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(content))
    return path


def _assert_same_histograms(run_dir: Path, reference_dir: Path) -> None:
    histograms, expected = load_histograms(run_dir), load_histograms(reference_dir)
    assert histograms.keys() == expected.keys()
    for name, histogram in expected.items():
        np.testing.assert_array_equal(
            histograms[name].values(flow=True), histogram.values(flow=True), err_msg=name
        )
        np.testing.assert_array_equal(
            histograms[name].variances(flow=True), histogram.variances(flow=True), err_msg=name
        )


def _chunk_files(outputs: Path) -> list[Path]:
    partial = outputs / ".cli.partial"
    return sorted(partial.glob("*.chunk")) if partial.is_dir() else []


def _leftovers(outputs: Path) -> list[str]:
    """Everything in ``outputs`` but the checkpoints."""
    return sorted(p.name for p in outputs.iterdir() if p.name != ".cli.partial")


def test_sigint_mid_run_leaves_no_output_and_resume_completes_it(config_file, tmp_path, capsys):
    outputs = tmp_path / "outputs"
    command = [sys.executable, "-c", SLOW_BOOSTJET, "run", str(config_file)]
    process = subprocess.Popen(
        command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 120
        while len(_chunk_files(outputs)) < 2:  # 2 of 10 chunks done: 8 × 0.5 s still to go
            assert process.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stdout + stderr
    assert _leftovers(outputs) == []  # neither outputs/cli nor a .cli.*.tmp directory
    done = len(_chunk_files(outputs))
    assert 2 <= done < 10

    assert main(["run", str(config_file), "--resume"]) == 0
    assert f"{done} chunks taken from" in capsys.readouterr().err
    assert _leftovers(outputs) == ["cli"]  # and the checkpoints are gone
    summary = load_summary(outputs / "cli")
    assert summary["chunks_resumed"] == done
    assert summary["events_processed"] == summary["events_read"] == 200
    assert main(["run", str(config_file), "--set", "name=full"]) == 0
    _assert_same_histograms(outputs / "cli", outputs / "full")


def test_sigterm_is_handled_like_ctrl_c(config_file, tmp_path, capsys, monkeypatch):
    """A batch system's SIGTERM (here sent by the third chunk to its own process) stops the run
    with exit code 130, no output directory, and the completed chunks kept for --resume."""
    original = BoostedJetProcessor.process
    calls = []

    def terminating(self, events):
        calls.append(1)
        if len(calls) == 3:
            os.kill(os.getpid(), signal.SIGTERM)
        return original(self, events)

    monkeypatch.setattr(BoostedJetProcessor, "process", terminating)
    before = signal.getsignal(signal.SIGTERM)
    assert main(["run", str(config_file)]) == 130
    assert signal.getsignal(signal.SIGTERM) == before  # main() restores the handler
    assert "interrupted" in capsys.readouterr().err
    outputs = tmp_path / "outputs"
    assert _leftovers(outputs) == []
    assert len(_chunk_files(outputs)) == 2  # the third was interrupted before it was saved


def test_resume_after_a_failing_chunk_gives_identical_histograms(run_config, flat_files):
    """A bug in chunk [80, 120) of the signal stops the run; the two chunks before it were saved
    and --resume runs only the other three (5 chunks of 40 events in all)."""
    config = run_config()
    partial = checkpoint_directory(config)
    failing = FailingProcessor(BoostedJetProcessor(config), 80, str(flat_files["signal"]))
    with pytest.raises(Exception) as caught:
        run(config, checkpoint=partial, processor_instance=failing)
    assert any(isinstance(e, InjectedFault) for e in _chain(caught.value))
    assert len(list(partial.glob("*.chunk"))) == 2
    resumed = run(config, checkpoint=partial, resume=True)
    expected = run(config)
    assert resumed.chunks_resumed == 2 and expected.chunks_resumed == 0
    for name, histogram in expected.histograms.items():
        np.testing.assert_array_equal(
            resumed.histograms[name].values(flow=True), histogram.values(flow=True)
        )
    assert resumed.accounts == expected.accounts


def _chain(error: BaseException):
    while error is not None:
        yield error
        error = error.__cause__ or error.__context__


def test_resume_refuses_checkpoints_of_another_configuration(run_config):
    config = run_config()
    partial = checkpoint_directory(config)
    run(config, checkpoint=partial)  # leaves its checkpoints: nothing removes them here
    changed = run_config(selection={"pt_min": 400.0})
    with pytest.raises(ConfigError, match=r"--resume: the checkpoints in .* another configuration"):
        run(changed, checkpoint=partial, resume=True)
    # without --resume old checkpoints are discarded and the run starts afresh
    assert run(changed, checkpoint=partial).chunks_resumed == 0


def test_resume_is_refused_on_a_remote_cluster(run_config, tmp_path):
    config = run_config(executor={"type": "dask", "scheduler": "tcp://127.0.0.1:9"})
    with pytest.raises(ConfigError, match=r"--resume works with executor\.type iterative"):
        run(config, checkpoint=tmp_path / "partial", resume=True)


def test_an_existing_output_directory_is_never_overwritten_without_overwrite(
    config_file, tmp_path, capsys
):
    """A directory boostjet did not write (no marker) is refused even with --overwrite, and the
    refusal does not suggest --overwrite."""
    existing = tmp_path / "outputs" / "cli"
    existing.mkdir(parents=True)
    (existing / "keep.txt").write_text("precious")
    for extra in ([], ["--resume"], ["--overwrite"], ["--overwrite", "--resume"]):
        assert main(["run", str(config_file), *extra]) == 2
        err = capsys.readouterr().err
        assert (
            f"output directory {existing} already exists and was not written by boostjet run" in err
        )
        assert "so boostjet will not replace it" in err and "--overwrite" not in err
    assert [p.name for p in existing.iterdir()] == ["keep.txt"]
    assert (existing / "keep.txt").read_text() == "precious"


@pytest.mark.parametrize("name", [".", "..", "{outside}", "sibling/../.."])
def test_the_run_name_cannot_reach_outside_the_output_directory(
    config_file, tmp_path, capsys, name
):
    """Found by a tester: `--set name=. --overwrite` replaced the whole --output directory (its
    other runs gone), `name=/abs/dir` a directory outside it, `name=..` crashed."""
    outputs, outside = tmp_path / "outputs", tmp_path / "outside"
    for directory in (outputs / "run_a", outputs / "run_b", outside):
        directory.mkdir(parents=True)
        (directory / "keep.txt").write_text("precious")
    name = name.format(outside=outside)
    argv = ["run", str(config_file), "--set", f"name={name}", "--output", str(outputs)]
    assert main([*argv, "--overwrite"]) == 2
    err = capsys.readouterr().err
    assert "key 'name' is invalid: must be one folder name" in err and "Traceback" not in err
    for directory in (outputs / "run_a", outputs / "run_b", outside):
        assert (directory / "keep.txt").read_text() == "precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.yaml", "outputs", "outside"]


def test_a_second_run_on_the_same_output_is_refused_at_the_start(config_file, tmp_path, capsys):
    """Found by a tester: two identical runs started 6 s apart both ran fully, then the second
    failed on the existing directory. Now the first holds a lock (flock on .cli.lock) for the
    whole run; the OS drops it when that process dies, so a killed run blocks nothing."""
    outputs = tmp_path / "outputs"
    command = [sys.executable, "-c", SLOW_BOOSTJET, "run", str(config_file)]
    process = subprocess.Popen(
        command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 120
        while not _chunk_files(outputs):  # the first run is under way: 9 × 0.5 s still to go
            assert process.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        started = time.monotonic()
        assert main(["run", str(config_file)]) == 2
        assert time.monotonic() - started < 5  # refused at once, before any work
        err = capsys.readouterr().err
        assert f"{outputs / 'cli'} is being written by another boostjet process" in err
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
        assert process.poll() is None  # the first run goes on undisturbed
        process.kill()  # SIGKILL: no clean-up; its lock file stays, its lock does not
        process.communicate(timeout=60)
    finally:
        process.kill()
    assert (outputs / ".cli.lock").exists()
    assert main(["run", str(config_file), "--resume"]) == 0
    assert load_summary(outputs / "cli")["events_processed"] == 200
    assert not (outputs / ".cli.lock").exists()


def test_an_injected_exception_under_skip_bad_files_is_reported_and_accounted(
    run_config, flat_files, tmp_path
):
    """A chunk raising a non-boostjet exception (a bug, a flaky disk) is retried, then skipped
    under skip_bad_files with its file, entry range and reason; read = processed + skipped."""
    config = run_config(
        executor={"type": "iterative", "chunksize": 40, "retries": 2, "skip_bad_files": True}
    )
    signal_file = str(flat_files["signal"])
    failing = FailingProcessor(BoostedJetProcessor(config), 40, signal_file)
    partial = tmp_path / "partial"
    result = run(config, checkpoint=partial, processor_instance=failing)
    sig, bkg = result.accounts["sig"], result.accounts["bkg"]
    assert [(s.file, s.entry_start, s.entry_stop, s.events, s.reason) for s in sig.skipped] == [
        (signal_file, 40, 80, 40, "InjectedFault: injected fault at entry 40"),
        (signal_file, 80, 120, 40, "InjectedFault: injected fault at entry 80"),
    ]
    assert (sig.events_read, sig.events_processed, sig.events_skipped) == (120, 40, 80)
    assert (bkg.events_read, bkg.events_processed, bkg.skipped) == (80, 80, [])
    assert len(list(partial.glob("*.chunk"))) == 3  # failed chunks are not checkpointed
    # on --resume (the fault gone) only the two failed chunks run again
    resumed = run(config, checkpoint=partial, resume=True)
    assert resumed.chunks_resumed == 3
    assert resumed.accounts["sig"].events_processed == 120
    assert resumed.accounts["sig"].skipped == []


@pytest.mark.slow
def test_a_local_cluster_listens_on_127_0_0_1_only(run_config):
    """The scheduler (in this process), the dashboard and the worker (a child process) of the
    LocalCluster boostjet starts accept connections on the loopback interface only."""
    import psutil

    from boostjet.pipeline.clusters import dask_client

    config = run_config(executor={"type": "dask", "workers": 1})
    with dask_client(config) as client:
        info = client.scheduler_info()
        addresses = [info["address"], *info["workers"]]
        assert all(address.startswith("tcp://127.0.0.1:") for address in addresses), addresses
        assert client.dashboard_link.startswith("http://127.0.0.1:")
        workers = [psutil.Process(pid) for pid in client.run(os.getpid).values()]
        processes = [psutil.Process(), *workers, *(worker.parent() for worker in workers)]
        listening = [
            connection.laddr
            for process in processes
            for connection in process.net_connections(kind="inet")
            if connection.status == psutil.CONN_LISTEN
        ]
    assert len(listening) >= 3  # scheduler, dashboard, worker (and its nanny)
    assert {laddr.ip for laddr in listening} == {"127.0.0.1"}, listening


def test_an_unwritable_output_directory_is_one_sentence(config_file, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the output folder should be")
    assert main(["run", str(config_file), "--output", str(blocker / "sub")]) == 2
    err = capsys.readouterr().err
    assert f"cannot write to the output directory {blocker / 'sub'} (Not a directory)" in err
    assert "--output" in err and "Traceback" not in err
