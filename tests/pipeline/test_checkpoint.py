"""Checkpoints are data signed by their run: a tampered, foreign or code-carrying chunk file is
refused on ``--resume`` with one sentence naming it, and nothing in it runs."""

from __future__ import annotations

import re
import shutil
import stat
import zlib
from pathlib import Path

import numpy as np
import pytest
import yaml

from boostjet.cli import main
from boostjet.config import load_config
from boostjet.errors import ConfigError
from boostjet.pipeline import checkpoint as checkpoints
from boostjet.pipeline.checkpoint import key_file
from boostjet.pipeline.routes import run
from boostjet.rundir import checkpoint_directory


@pytest.fixture
def finished(run_config):
    """A run (5 chunks of 40 events) whose checkpoints were left in place, as after a crash."""
    config = run_config()
    partial = checkpoint_directory(config)
    run(config, checkpoint=partial)
    chunks = sorted(partial.glob("*.chunk"))
    assert len(chunks) == 5
    return config, partial, chunks


def _refusal(path: Path, reason: str) -> str:
    """The sentence for ``path``, its parenthesis starting with the regex ``reason``."""
    return (
        rf"^--resume: {re.escape(str(path))} was not written by this run \({reason}[^;]*\); "
        r"delete it or run without --resume\.$"
    )


def test_a_chunk_that_would_run_code_when_unpickled_is_refused_and_runs_nothing(
    finished, crafted_pickle
):
    config, partial, chunks = finished
    data, marker = crafted_pickle
    chunks[2].write_bytes(zlib.compress(data))  # the old chunk format: a zlib-compressed pickle
    with pytest.raises(ConfigError, match=_refusal(chunks[2], "its HMAC does not match")):
        run(config, checkpoint=partial, resume=True)
    assert not marker.exists()


def test_a_chunk_with_one_byte_flipped_is_refused(finished):
    config, partial, chunks = finished
    data = bytearray(chunks[1].read_bytes())
    data[len(data) // 2] ^= 0x01
    chunks[1].write_bytes(bytes(data))
    with pytest.raises(ConfigError, match=_refusal(chunks[1], "its HMAC does not match")):
        run(config, checkpoint=partial, resume=True)


@pytest.mark.parametrize("other", ["same configuration", "another configuration"])
def test_a_chunk_copied_from_another_run_is_refused(finished, run_config, tmp_path, other):
    """Every run draws its own key, so even the same chunk of the same configuration, written
    by another run, does not pass."""
    config, partial, chunks = finished
    changes = {"selection": {"pt_min": 400.0}} if other == "another configuration" else {}
    foreign = run_config(output=str(tmp_path / "elsewhere"), **changes)
    run(foreign, checkpoint=checkpoint_directory(foreign))
    shutil.copy(checkpoint_directory(foreign) / chunks[0].name, chunks[0])
    with pytest.raises(ConfigError, match=_refusal(chunks[0], "its HMAC does not match")):
        run(config, checkpoint=partial, resume=True)


def test_a_chunk_under_another_chunks_name_is_refused(finished):
    config, partial, chunks = finished
    shutil.copy(chunks[3], chunks[4])
    reason = rf"it holds chunk {chunks[3].stem}, not {chunks[4].stem}"
    with pytest.raises(ConfigError, match=_refusal(chunks[4], reason)):
        run(config, checkpoint=partial, resume=True)


def test_a_signed_chunk_of_another_fingerprint_is_refused(finished):
    """The fingerprint inside the signed file is checked too, not only the one in meta.json."""
    config, partial, chunks = finished
    key = bytes.fromhex(key_file(partial).read_text())
    stranger = checkpoints.Checkpoints(str(partial), "another fingerprint", key)
    stranger.save(chunks[0].stem, {"histograms": {}, "cutflow": {}})
    reason = "it holds a chunk of another configuration or other input files"
    with pytest.raises(ConfigError, match=_refusal(chunks[0], reason)):
        run(config, checkpoint=partial, resume=True)


def test_checkpoints_without_their_key_are_refused(finished):
    config, partial, chunks = finished
    key_file(partial).unlink()
    with pytest.raises(ConfigError, match=_refusal(chunks[0], "the run's key .* is missing")):
        run(config, checkpoint=partial, resume=True)


def test_the_refusal_is_one_sentence_from_the_command_line(run_config, tmp_path, capsys):
    config_file = tmp_path / "config.yaml"
    config_file.write_text(yaml.safe_dump(run_config().model_dump(mode="json")))
    config = load_config(config_file)
    partial = checkpoint_directory(config)
    run(config, checkpoint=partial)
    chunk = sorted(partial.glob("*.chunk"))[0]
    chunk.write_bytes(chunk.read_bytes()[:-1])  # truncated
    assert main(["run", str(config_file), "--resume"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: --resume: {chunk} was not written by this run (")
    assert err.endswith("delete it or run without --resume.")
    assert "Traceback" not in err and not (tmp_path / "outputs" / "test").exists()


def test_the_key_is_private_outside_the_checkpoints_and_new_for_every_run(finished):
    config, partial, _ = finished
    path = key_file(partial)
    assert partial not in path.parents
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    first = path.read_text()
    run(config, checkpoint=partial)  # a new run (no --resume) draws a new key
    assert path.read_text() != first
    checkpoints.remove(partial)
    assert not partial.exists() and not path.exists()


def test_chunks_signed_by_worker_processes_resume_identically(run_config):
    """The futures route: each worker process signs its chunks with the key it was handed."""
    config = run_config(executor={"type": "futures", "workers": 2, "chunksize": 40})
    partial = checkpoint_directory(config)
    expected = run(config, checkpoint=partial)
    resumed = run(config, checkpoint=partial, resume=True)
    assert resumed.chunks_resumed == 5
    assert resumed.accounts == expected.accounts
    for name, histogram in expected.histograms.items():
        np.testing.assert_array_equal(
            resumed.histograms[name].values(flow=True), histogram.values(flow=True)
        )
        np.testing.assert_array_equal(
            resumed.histograms[name].variances(flow=True), histogram.variances(flow=True)
        )
        assert resumed.histograms[name].axes == histogram.axes
