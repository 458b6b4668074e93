"""YAML run configuration → typed, validated objects; unknown keys and bad values are errors."""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from boostjet.errors import ConfigError, validation_sentence
from boostjet.spec import CONSTITUENT_FEATURES


def _not_a_boolean(value: Any) -> Any:
    """pydantic reads true/false as 1/0 where a number is expected; a config must not."""
    if isinstance(value, bool):
        raise ValueError("a number is expected, not true/false")
    return value


Float = Annotated[float, BeforeValidator(_not_a_boolean)]
Int = Annotated[int, BeforeValidator(_not_a_boolean)]
PositiveFloat = Annotated[Float, Field(gt=0)]
PositiveInt = Annotated[Int, Field(gt=0)]
NonNegativeFloat = Annotated[Float, Field(ge=0)]
NonNegativeInt = Annotated[Int, Field(ge=0)]
#: A run name: one folder name that cannot be a hidden sibling (``.<name>.partial``, ...).
_RUN_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,199}")


class _Strict(BaseModel):
    """Unknown keys and non-finite numbers (nan, .inf) are errors; objects are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Dataset(_Strict):
    """One sample: its files, whether it is data, and how simulation is scaled to data."""

    files: list[str] = Field(min_length=1)
    is_data: bool = False
    signal: Literal["top", "w"] | None = None
    cross_section: PositiveFloat = 1.0
    """Cross-section in pb (simulation); with ``luminosity`` it scales the sample to data."""
    events_generated: PositiveInt | None = None
    """Events the sample was made from; None means the events processed (read minus skipped)."""


class Selection(_Strict):
    """Fat-jet selection."""

    pt_min: NonNegativeFloat = 300.0
    pt_max: PositiveFloat = 1.0e9
    abs_eta_max: PositiveFloat = 2.4
    max_jets_per_event: PositiveInt = 2

    @model_validator(mode="after")
    def _ordered(self) -> Selection:
        if self.pt_max <= self.pt_min:
            raise ValueError("selection.pt_max must be larger than selection.pt_min")
        return self


class Constituents(_Strict):
    """Which objects are a jet's constituents and how many reach the models."""

    collections: tuple[str, ...] = ("EFlowTrack", "EFlowPhoton", "EFlowNeutralHadron")
    n_constituents: PositiveInt = 64
    features: tuple[str, ...] = CONSTITUENT_FEATURES
    association_radius: PositiveFloat = 0.8
    """ΔR for files without constituent references."""

    @field_validator("features")
    @classmethod
    def _known_features(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [f for f in value if f not in CONSTITUENT_FEATURES]
        if unknown:
            raise ValueError(f"unknown feature(s) {unknown}; known: {list(CONSTITUENT_FEATURES)}")
        return value


#: A working point's score threshold by its name (``eS30``: target signal efficiency 0.30).
Thresholds = dict[Annotated[str, Field(pattern=r"^eS\d\d$")], Annotated[Float, Field(ge=0, le=1)]]


class CutBased(_Strict):
    """The cut-based top tagger: soft-drop mass window and an upper cut on τ32."""

    top_mass_window: tuple[Float, Float] = (105.0, 210.0)
    w_mass_window: tuple[Float, Float] = (65.0, 105.0)
    thresholds: dict[str, Thresholds] = {}
    """Frozen working points (name → score threshold) per cut-based tagger; required for a
    tagger whose window differs from the one its shipped table was measured with."""

    @field_validator("top_mass_window", "w_mass_window")
    @classmethod
    def _low_below_high(cls, window: tuple[float, float]) -> tuple[float, float]:
        if window[1] <= window[0]:
            raise ValueError("must be [low, high] with low below high")
        return window


class Truth(_Strict):
    """Truth matching of fat jets to heavy resonances and generator jets."""

    match_radius: PositiveFloat = 0.8
    genjet_collection: str | None = "GenFatJet"
    genjet_match_radius: PositiveFloat = 0.4
    mass_target_min: NonNegativeFloat = 40.0
    """Mass responses are filled for generator soft-drop masses above this (GeV): below it the
    ratio predicted / true of light QCD jets is dominated by the tiny denominator."""


class Model(_Strict):
    """An exported model evaluated per chunk."""

    name: str
    task: Literal["tagger", "mass", "energy"]
    path: Path
    thresholds: Thresholds | None = None
    """Taggers: frozen working points (name → score threshold) replacing the model's table."""


class Histograms(_Strict):
    """Binning of the output histograms."""

    pt_edges: list[Float] = [300, 400, 500, 600, 800, 1200]
    abseta_edges: list[Float] = [0.0, 0.8, 1.6, 2.4]
    energy_edges: list[Float] = [300, 500, 700, 1000, 1500, 2500]
    score_bins: PositiveInt = 1000
    response_bins: PositiveInt = 400

    @field_validator("pt_edges", "abseta_edges", "energy_edges")
    @classmethod
    def _increasing(cls, edges: list[float]) -> list[float]:
        if len(edges) < 2 or any(b <= a for a, b in itertools.pairwise(edges)):
            raise ValueError("bin edges must be at least two strictly increasing numbers")
        if edges[0] < 0:  # non-finite edges are refused by allow_inf_nan=False
            raise ValueError("bin edges must be finite and not negative")
        return edges


class Observable(_Strict):
    """Binning of the scale-factor fit's observable, the jet soft-drop mass (GeV)."""

    bins: PositiveInt = 20
    low: NonNegativeFloat = 0.0
    high: PositiveFloat = 300.0

    @model_validator(mode="after")
    def _ordered(self) -> Observable:
        if self.high <= self.low:
            raise ValueError("scale_factors.observable.high must be larger than its low")
        return self


class ScaleFactors(_Strict):
    """The pass/fail template fits of the tagging scale factors (docs/scalefactors.md)."""

    observable: Observable = Observable()
    taggers: list[str] | None = None
    """Taggers to fit (default: every tagger with a data dataset of its signal)."""
    minor_background_uncertainty: PositiveFloat = 0.5
    """Relative prior width of every background normalisation but QCD's (free per region)."""


class JobQueue(_Strict):
    """A batch system reached through dask-jobqueue."""

    system: Literal["slurm", "htcondor", "pbs", "sge", "lsf"] = "slurm"
    jobs: PositiveInt = 1
    cores: PositiveInt = 1
    memory: str = "4GB"
    walltime: str = "01:00:00"
    queue: str | None = None
    disk: str = "4GB"
    """Scratch disk per job (HTCondor only)."""
    job_extra_directives: list[str] = []
    """Extra scheduler directives; for HTCondor written as ``key = value``."""
    job_script_prologue: list[str] = []
    """Shell lines run before the worker starts, e.g. ``source /path/to/.venv/bin/activate``."""
    log_directory: Path | None = None
    """Where the jobs write their output; None means ``<output>/.<name>.jobs``."""
    host: str | None = None
    """Address the scheduler and the workers listen on, e.g. 127.0.0.1 for a one-node cluster;
    None means the address of the network interface (dask-jobqueue's choice)."""


class Executor(_Strict):
    """Where chunks run."""

    type: Literal["iterative", "futures", "dask", "dask-awkward"] = "futures"
    workers: PositiveInt = 2
    scheduler: str | None = None
    """Address of an existing dask scheduler, e.g. tcp://10.0.0.1:8786."""
    jobqueue: JobQueue | None = None
    chunksize: PositiveInt = 20000
    retries: NonNegativeInt = 2
    skip_bad_files: bool = False
    dashboard_address: str = "127.0.0.1:0"
    connect_timeout: PositiveFloat = 10.0
    """Seconds to wait for an existing scheduler (``scheduler``) to answer."""

    @field_validator("scheduler")
    @classmethod
    def _scheduler_address(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("tcp://", "tls://", "inproc://", "ws://")):
            raise ValueError("must look like tcp://HOST:PORT")
        return value

    @model_validator(mode="after")
    def _dask_only(self) -> Executor:
        if self.scheduler is not None and self.jobqueue is not None:
            raise ValueError("executor.scheduler and executor.jobqueue exclude each other")
        if (self.scheduler or self.jobqueue) and self.type not in ("dask", "dask-awkward"):
            raise ValueError(
                "executor.scheduler and executor.jobqueue need executor.type dask or dask-awkward"
            )
        return self


class RunConfig(_Strict):
    """A whole ``boostjet run``."""

    name: str = "run"
    tree: str = "Delphes"
    fatjet_collection: str = "FatJet"
    luminosity: PositiveFloat = 1.0
    """Integrated luminosity of the data, in pb⁻¹ (scales simulation to data)."""
    datasets: dict[str, Dataset] = Field(min_length=1)
    selection: Selection = Selection()
    constituents: Constituents = Constituents()
    truth: Truth = Truth()
    cut_based: CutBased = CutBased()
    models: list[Model] = []
    working_points: list[Annotated[Float, Field(gt=0, lt=1)]] = [0.3, 0.5, 0.7]
    histograms: Histograms = Histograms()
    scale_factors: ScaleFactors = ScaleFactors()
    executor: Executor = Executor()
    output: Path = Path("outputs")
    report: bool = True

    @field_validator("name")
    @classmethod
    def _one_folder_name(cls, name: str) -> str:
        if not _RUN_NAME.fullmatch(name):
            raise ValueError(
                "must be one folder name of at most 200 letters, digits, '-', '_' and '.', "
                "not starting with '.', because the run directory is <output>/<name>"
            )
        return name

    def digest(self) -> str:
        """SHA-256 of the resolved configuration, for the run summary."""
        text = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()


class _DuplicateKey(Exception):
    """A key given twice in one YAML mapping: ``(dotted path, first line, second line)``."""


class _UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a key given twice in one mapping, at any depth.

    PyYAML silently keeps the last value of a repeated key; the node tree is walked before
    construction because only the walk knows each key's dotted path.
    """

    def construct_document(self, node):
        _refuse_duplicate_keys(self, node, (), set())
        return super().construct_document(node)


def _refuse_duplicate_keys(loader, node, path: tuple[str, ...], seen: set[int]) -> None:
    if id(node) in seen:  # an alias of a node already walked (possibly recursive)
        return
    seen.add(id(node))
    if isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _refuse_duplicate_keys(loader, item, (*path, str(index)), seen)
    elif isinstance(node, yaml.MappingNode):
        lines: dict[Any, int] = {}
        for key_node, value_node in node.value:
            child = path
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                key = loader.construct_object(key_node)
                child = (*path, str(key))
                line = key_node.start_mark.line + 1
                if key in lines:
                    raise _DuplicateKey(".".join(child), lines[key], line)
                lines[key] = line
            _refuse_duplicate_keys(loader, value_node, child, seen)


def read_yaml(text: str) -> Any:
    """YAML text → Python objects, safely (no Python objects built); a repeated key raises."""
    return yaml.load(text, Loader=_UniqueKeyLoader)


def _set_path(data: dict[str, Any], dotted: str, value: Any) -> None:
    node = data
    parts = dotted.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"override '{dotted}': '{part}' is not a section.")
    node[parts[-1]] = value


def parse_override(text: str) -> tuple[str, Any]:
    """``key.path=value`` with the value read as YAML (numbers, lists, booleans, strings)."""
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise ConfigError(f"override '{text}' must look like key.path=value.")
    key = key.strip()
    try:
        return key, read_yaml(raw)
    except yaml.YAMLError as error:
        problem = str(error).split("\n")[0]
        raise ConfigError(f"override '{key}': the value is not valid YAML ({problem}).") from None
    except _DuplicateKey as error:
        raise ConfigError(
            f"override '{key}': key '{key}.{error.args[0]}' is given twice in its value."
        ) from None


def load_config(
    path: str | Path, overrides: dict[str, Any] | None = None, base: Path | None = None
) -> RunConfig:
    """Read a YAML file, apply ``key.path → value`` overrides, validate, and resolve paths.

    Relative file globs and model paths are taken relative to ``base`` (the current directory
    by default), as a user typing the command expects.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist.")
    try:
        data = read_yaml(path.read_text(encoding="utf-8")) or {}
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not valid YAML: it is not UTF-8 text.") from None
    except OSError as error:
        raise ConfigError(f"config file {path} cannot be read ({error.strerror}).") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{path} is not valid YAML: {error}".split("\n")[0]) from None
    except _DuplicateKey as error:
        dotted, first, second = error.args
        raise ConfigError(
            f"{path}: key '{dotted}' is given twice (lines {first} and {second})."
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping of keys at the top level.")
    for key, value in (overrides or {}).items():
        _set_path(data, key, value)
    try:
        config = RunConfig.model_validate(data)
    except ValidationError as error:
        raise ConfigError(validation_sentence(error, "key", str(path))) from None
    return _resolve_models(config, base or Path.cwd())


def _resolve_models(config: RunConfig, base: Path) -> RunConfig:
    models = []
    for model in config.models:
        model_path = model.path if model.path.is_absolute() else base / model.path
        if not model_path.is_file():
            raise ConfigError(f"models.{model.name}.path: model file {model.path} does not exist.")
        models.append(model.model_copy(update={"path": model_path}))
    return config.model_copy(update={"models": models})
