"""Fuzzing the configuration loader: whatever the YAML, ``load_config`` returns a RunConfig or
raises ConfigError (which the command line prints as one sentence), never anything else."""

from __future__ import annotations

import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from boostjet.config import RunConfig, load_config, parse_override
from boostjet.errors import ConfigError

SECTIONS = {
    "name": None,
    "tree": None,
    "fatjet_collection": None,
    "luminosity": None,
    "datasets": ["files", "is_data", "signal", "cross_section", "events_generated"],
    "selection": ["pt_min", "pt_max", "abs_eta_max", "max_jets_per_event"],
    "constituents": ["collections", "n_constituents", "features", "association_radius"],
    "truth": ["match_radius", "genjet_collection", "genjet_match_radius", "mass_target_min"],
    "cut_based": ["top_mass_window", "w_mass_window"],
    "models": ["name", "task", "path"],
    "working_points": None,
    "histograms": ["pt_edges", "abseta_edges", "energy_edges", "score_bins", "response_bins"],
    "executor": ["type", "workers", "scheduler", "chunksize", "retries", "skip_bad_files"],
    "output": None,
    "report": None,
}
KEYS = sorted({*SECTIONS, *(k for keys in SECTIONS.values() if keys for k in keys)})

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | st.sampled_from(["iterative", "dask", "top", "tagger", "tcp://127.0.0.1:1", "EFlowTrack"])
)
keys = st.sampled_from(KEYS) | st.text(max_size=8)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=12,
)


@st.composite
def configs(draw) -> dict:
    """Mostly-known sections with random values, and sometimes a valid dataset to go further."""
    data = draw(st.dictionaries(st.sampled_from(list(SECTIONS)), values, max_size=6))
    for section, fields in SECTIONS.items():
        if fields and draw(st.booleans()) and section not in data:
            data[section] = draw(st.dictionaries(st.sampled_from(fields), values, max_size=3))
    if draw(st.booleans()):
        data["datasets"] = {"d": {"files": ["f.root"]} | draw(st.dictionaries(keys, values))}
    return data


def _load(text: str | bytes, overrides=None):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "config.yaml"
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
        try:
            return load_config(path, overrides, base=Path(folder))
        except ConfigError:
            return None


FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(configs())
def test_random_configurations_give_a_run_config_or_a_config_error(data):
    result = _load(yaml.safe_dump(data))
    assert result is None or isinstance(result, RunConfig)


@FUZZ
@given(st.dictionaries(st.text(max_size=20), values, max_size=3), values)
def test_random_overrides_give_a_run_config_or_a_config_error(overrides, value):
    overrides = {key: value for key in overrides} | {"executor.retries": value}
    result = _load("datasets: {d: {files: [f.root]}}\n", overrides)
    assert result is None or isinstance(result, RunConfig)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=200) | st.text(max_size=200))
def test_random_file_content_gives_a_config_error_or_a_config(content):
    result = _load(content)
    assert result is None or isinstance(result, RunConfig)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=40))
def test_random_override_text_parses_or_is_a_config_error(text):
    try:
        key, _ = parse_override(text)
    except ConfigError:
        return
    assert key


def test_what_the_fuzzer_found_is_one_sentence_from_the_cli(tmp_path, capsys):
    """Found by the tests above: a config file that is not UTF-8, and an override value that is
    not valid YAML, used to escape as UnicodeDecodeError / yaml.ReaderError tracebacks."""
    from boostjet.cli import main

    config = tmp_path / "config.yaml"
    config.write_bytes(b"\x80name: x\n")
    good = tmp_path / "good.yaml"
    good.write_text("datasets: {d: {files: [f.root]}}\n")
    for argv, text in (
        (["run", str(config)], "is not valid YAML: it is not UTF-8 text."),
        (["run", str(good), "--set", "name=\x1f"], "override 'name': the value is not valid YAML"),
    ):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and text in err and "Traceback" not in err
