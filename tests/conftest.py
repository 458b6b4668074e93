"""Shared fixtures: the real Delphes files in ../shared/delphes and small flat-layout files.

``write_flat_delphes`` writes a synthetic event file in boostjet's flat layout
(docs/flat-layout.md): fat jets with constituents referenced by ``fUniqueID``, generator fat jets,
and a reduced generator record holding a hadronic top (t → b W, W → q q̄) inside the leading jet of
every other event. It is for pipeline tests, not physics.

``xrootd_server`` and ``slurm_cluster`` are real services on 127.0.0.1 (ci/services.sh,
docs/services.md): the ones already running (``.ci/run`` starts them; so can a developer, as
root), else ones this session starts and stops itself when it runs as root, else the test skips.
"""

from __future__ import annotations

import math
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import awkward as ak
import numpy as np
import pytest

from boostjet.generation.writer import write_flat

SHARED_DELPHES = Path(__file__).parents[1].parent / "shared" / "delphes"
SERVICES_SCRIPT = Path(__file__).parents[1] / "ci" / "services.sh"

JET_FIELDS = ("fUniqueID", "PT", "Eta", "Phi", "Mass", "Tau1", "Tau2", "Tau3", "Tau4", "Tau5")
SOFTDROP_FIELDS = ("SoftDroppedPx", "SoftDroppedPy", "SoftDroppedPz", "SoftDroppedE")
PARTICLE_FIELDS = (
    "fUniqueID",
    "PID",
    "Status",
    "M1",
    "M2",
    "D1",
    "D2",
    "Charge",
    "Mass",
    "E",
    "Px",
    "Py",
    "Pz",
    "PT",
    "Eta",
    "Phi",
)


class _Touch:
    """Unpickling this creates ``marker``: a stand-in for what a crafted pickle runs."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return Path.touch, (self.marker,)


@pytest.fixture
def crafted_pickle(tmp_path) -> tuple[bytes, Path]:
    """A pickle whose unpickling creates a file, and that file's path (absent)."""
    marker = tmp_path / "code-ran"
    return pickle.dumps(_Touch(marker)), marker


@pytest.fixture(scope="session", autouse=True)
def private_state_home(tmp_path_factory):
    """Checkpoint keys (boostjet/pipeline/checkpoint.py) go to a temporary XDG_STATE_HOME."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("state")))
        yield


@pytest.fixture(scope="session")
def shared_delphes() -> Path:
    """The folder of real Delphes files; skips the test when it is absent."""
    if not SHARED_DELPHES.is_dir():
        pytest.skip(f"real Delphes files not available: {SHARED_DELPHES} does not exist")
    return SHARED_DELPHES


class _Event:
    """Collections of one synthetic event, filled object by object."""

    def __init__(self) -> None:
        self.uid = 0
        self.rows: dict[str, list[dict]] = {
            name: []
            for name in (
                "FatJet",
                "GenFatJet",
                "FatJetConstituent",
                "EFlowTrack",
                "EFlowPhoton",
                "EFlowNeutralHadron",
                "Particle",
            )
        }

    def next_uid(self) -> int:
        self.uid += 1
        return self.uid


def _jet_row(event: _Event, pt: float, eta: float, phi: float, mass: float, rng) -> dict:
    tau1 = rng.uniform(0.1, 0.5)
    taus = np.cumprod([tau1, *rng.uniform(0.3, 0.9, 4)])
    sd_mass = mass * rng.uniform(0.6, 1.0)
    sd_pt = 0.95 * pt
    px, py, pz = sd_pt * math.cos(phi), sd_pt * math.sin(phi), sd_pt * math.sinh(eta)
    row = {"fUniqueID": event.next_uid(), "PT": pt, "Eta": eta, "Phi": phi, "Mass": mass}
    row |= {f"Tau{n}": float(t) for n, t in enumerate(taus, 1)}
    energy = math.sqrt(px**2 + py**2 + pz**2 + sd_mass**2)
    row |= dict(zip(SOFTDROP_FIELDS, (px, py, pz, energy), strict=True))
    return row


def _constituents(event: _Event, jet: int, pt: float, eta: float, phi: float, rng) -> None:
    n = int(rng.integers(3, 25))
    shares = rng.dirichlet(np.ones(n)) * pt
    for share in shares:
        c_eta, c_phi = eta + rng.normal(0, 0.15), phi + rng.normal(0, 0.15)
        uid = event.next_uid()
        kind = rng.choice(["EFlowTrack", "EFlowPhoton", "EFlowNeutralHadron"])
        if kind == "EFlowTrack":
            row = {"fUniqueID": uid, "PID": 211, "Charge": int(rng.choice([-1, 1])), "PT": share}
            row |= {"Eta": c_eta, "Phi": c_phi, "Mass": 0.13957}
            row |= {"D0": 0.0, "DZ": 0.0, "ErrorD0": 0.02, "ErrorDZ": 0.03}  # prompt
        else:
            energy = share * math.cosh(c_eta)
            row = {"fUniqueID": uid, "ET": share, "Eta": c_eta, "Phi": c_phi, "E": energy}
            row |= {"Eem": energy if kind == "EFlowPhoton" else 0.0, "Ehad": 0.0}
        event.rows[kind].append(row)
        event.rows["FatJetConstituent"].append({"Jet": jet, "Ref": uid})


def _particle(event: _Event, pid: int, eta: float, phi: float, d1: int, d2: int) -> None:
    pt = 100.0
    px, py, pz = pt * math.cos(phi), pt * math.sin(phi), pt * math.sinh(eta)
    row = {"fUniqueID": event.next_uid(), "PID": pid, "Status": 22, "M1": -1, "M2": -1}
    row |= {"D1": d1, "D2": d2, "Charge": 0, "Mass": 0.0, "E": math.sqrt(px**2 + py**2 + pz**2)}
    row |= {"Px": px, "Py": py, "Pz": pz, "PT": pt, "Eta": eta, "Phi": phi}
    event.rows["Particle"].append(row)


def _top(event: _Event, eta: float, phi: float) -> None:
    """t (0) → b (1) W (2); W → d (3) ū (4), all within ΔR 0.3 of the jet axis."""
    _particle(event, 6, eta, phi, 1, 2)
    _particle(event, 5, eta + 0.2, phi, -1, -1)
    _particle(event, 24, eta - 0.1, phi + 0.1, 3, 4)
    _particle(event, 1, eta - 0.2, phi + 0.1, -1, -1)
    _particle(event, -2, eta - 0.1, phi + 0.2, -1, -1)


#: What ``write_flat_delphes`` breaks in its ``nan_events`` unless told otherwise.
NAN_JET_MASS = {"FatJet.Mass": math.nan}


def _event(index: int, rng, nan_events: set[int], broken: dict[str, float]) -> _Event:
    event = _Event()
    n_jets = int(rng.integers(0, 4))
    for jet in range(max(n_jets, 1) if index in nan_events else n_jets):
        pt, eta = rng.uniform(250, 900), rng.uniform(-2.2, 2.2)
        phi, mass = rng.uniform(-math.pi, math.pi), rng.uniform(20, 220)
        event.rows["FatJet"].append(_jet_row(event, pt, eta, phi, mass, rng))
        gen = _jet_row(event, pt * rng.normal(1, 0.05), eta + 0.02, phi - 0.02, mass, rng)
        event.rows["GenFatJet"].append(gen)
        _constituents(event, jet, pt, eta, phi, rng)
        if jet == 0 and index % 2 == 0:
            _top(event, eta, phi)
    if index in nan_events:
        event.rows["FatJet"][0]["PT"] = 500.0
        event.rows["FatJet"][0]["Eta"] = 0.0  # selected for sure ...
        for key, value in broken.items():  # ... and broken
            collection, field = key.split(".")
            event.rows[collection][0][field] = value
    return event


TRACK_IMPACT_FIELDS = ("D0", "DZ", "ErrorD0", "ErrorDZ")
_INT_FIELDS = {"Jet", "Ref", "fUniqueID", "PID", "Status", "M1", "M2", "D1", "D2", "Charge"}


def _column(rows_per_event: list[list[dict]], fields: tuple[str, ...]) -> ak.Array:
    columns = {}
    for field in fields:
        dtype = np.int32 if field in _INT_FIELDS else np.float32
        values = [[row[field] for row in rows] for rows in rows_per_event]
        columns[field] = ak.values_astype(ak.Array(values), dtype)
    return ak.zip(columns)


def _fields(name: str) -> tuple[str, ...]:
    if name in ("FatJet", "GenFatJet"):
        return JET_FIELDS + SOFTDROP_FIELDS
    if name == "FatJetConstituent":
        return ("Jet", "Ref")
    if name == "EFlowTrack":
        return ("fUniqueID", "PID", "Charge", "PT", "Eta", "Phi", "Mass", *TRACK_IMPACT_FIELDS)
    if name == "Particle":
        return PARTICLE_FIELDS
    return ("fUniqueID", "ET", "Eta", "Phi", "E", "Eem", "Ehad")


def write_flat_delphes(
    path: Path,
    n_events: int,
    seed: int = 1,
    nan_events: set[int] | None = None,
    broken: dict[str, float] | None = None,
) -> Path:
    """Write ``n_events`` synthetic events in the flat layout. Each of ``nan_events`` gets a
    selected leading jet and ``broken`` values (``"Collection.Field"`` → value, set in the
    event's first object of that collection; default: a NaN jet mass)."""
    rng = np.random.default_rng(seed)
    broken = NAN_JET_MASS if broken is None else broken
    events = [_event(i, rng, nan_events or set(), broken) for i in range(n_events)]
    names = list(events[0].rows)
    records = {name: _column([e.rows[name] for e in events], _fields(name)) for name in names}
    records["Event"] = ak.zip(
        {"Number": ak.Array([[i] for i in range(n_events)]), "Weight": ak.Array([[1.0]] * n_events)}
    )
    return write_flat(path, records)


@pytest.fixture(scope="session")
def flat_files(tmp_path_factory) -> dict[str, Path]:
    """Small flat-layout files: ``signal`` (120 events), ``background`` (80) and ``broken``
    (100 events; event 70 has a selected jet with a NaN mass, so its chunk fails)."""
    folder = tmp_path_factory.mktemp("flat")
    return {
        "signal": write_flat_delphes(folder / "signal.root", 120, seed=1),
        "background": write_flat_delphes(folder / "background.root", 80, seed=2),
        "broken": write_flat_delphes(folder / "broken.root", 100, seed=3, nan_events={70}),
    }


@pytest.fixture
def run_config(flat_files, tmp_path):
    """``run_config(**changes)``: a RunConfig over ``flat_files`` (signal + background datasets),
    iterative, chunks of 40 events, output under ``tmp_path``; ``changes`` are top-level keys."""
    from boostjet.config import RunConfig

    def make(**changes):
        data = {
            "name": "test",
            "datasets": {
                "sig": {"files": [str(flat_files["signal"])], "signal": "top"},
                "bkg": {"files": [str(flat_files["background"])], "cross_section": 2.0},
            },
            "histograms": {"score_bins": 50, "response_bins": 40},
            "executor": {"type": "iterative", "chunksize": 40, "retries": 0},
            "output": str(tmp_path / "outputs"),
            "report": False,
        }
        return RunConfig.model_validate(data | changes)

    return make


SERVICE_FIXTURES = {"services", "xrootd_server", "slurm_cluster"}


def pytest_collection_modifyitems(items):
    """Tests of the real services run in one test process, one after the other: they share one
    SLURM node (a test waits for the queue to empty) and start the services at most once."""
    for item in items:
        if SERVICE_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.xdist_group("services"))


# --- real services on 127.0.0.1 ------------------------------------------------------------------


def _running_services(environment: dict[str, str]) -> dict[str, str] | None:
    """The variables of services.env when every service runs, else None."""
    status = subprocess.run(
        ["bash", str(SERVICES_SCRIPT), "status"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if status.returncode:
        return None
    pairs = (line.split("=", 1) for line in status.stdout.splitlines() if "=" in line)
    return {key: value for key, value in pairs if key.isupper()}


@pytest.fixture(scope="session")
def services() -> dict[str, str]:
    """services.env of running services: already running, or started (and stopped) here."""
    found = _running_services(dict(os.environ))
    if found:
        yield found
        return
    if "BOOSTJET_SERVICES_DIR" in os.environ:
        pytest.fail(
            f"BOOSTJET_SERVICES_DIR={os.environ['BOOSTJET_SERVICES_DIR']} names no running "
            "services: start them with `bash ci/services.sh start` or unset the variable."
        )
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        pytest.skip(
            "no SLURM / XRootD services on 127.0.0.1, and starting them needs root and apt-get: "
            "run `sudo bash ci/services.sh start` first (docs/services.md)."
        )
    state = tempfile.mkdtemp(prefix="boostjet-services-pytest.", dir="/tmp")
    environment = os.environ | {"BOOSTJET_SERVICES_DIR": state, "PYTHON": sys.executable}
    command = ["bash", str(SERVICES_SCRIPT)]
    try:
        started = subprocess.run(
            [*command, "start"], env=environment, capture_output=True, text=True, timeout=900
        )
        if started.returncode:
            pytest.fail(f"ci/services.sh start failed:\n{started.stdout}{started.stderr}")
        yield _running_services(environment)
    finally:
        stopped = subprocess.run([*command, "stop"], env=environment, capture_output=True)
        if stopped.returncode == 0:
            shutil.rmtree(state)


@dataclass(frozen=True)
class XRootDServer:
    """An XRootD server on 127.0.0.1 exporting ``directory`` (copies of samples/)."""

    root_url: str
    """``root://127.0.0.1:PORT/``"""
    http_url: str
    """``http://127.0.0.1:PORT/`` (XrdHttp, with range requests)"""
    directory: Path

    def root(self, name: str) -> str:
        """``root://127.0.0.1:PORT//<directory>/<name>``"""
        return f"{self.root_url}{self.directory / name}"

    def http(self, name: str) -> str:
        return f"{self.http_url.rstrip('/')}{self.directory / name}"


@pytest.fixture(scope="session")
def xrootd_server(services) -> XRootDServer:
    """The XRootD server of ``services``; skips when the remote extra is not installed."""
    pytest.importorskip("fsspec_xrootd", reason="root:// needs the remote extra: .[test,remote]")
    return XRootDServer(
        services["BOOSTJET_XROOTD_URL"],
        services["BOOSTJET_HTTP_URL"],
        Path(services["BOOSTJET_XROOTD_FILES"]),
    )


@dataclass(frozen=True)
class SlurmCluster:
    """A one-node SLURM cluster on 127.0.0.1; SLURM_CONF points sbatch & co. at it."""

    partition: str
    slurm_conf: Path


@pytest.fixture(scope="session")
def slurm_cluster(services) -> SlurmCluster:
    """The SLURM cluster of ``services``, with SLURM_CONF set for this test session."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SLURM_CONF", services["SLURM_CONF"])
        yield SlurmCluster(services["BOOSTJET_SLURM_PARTITION"], Path(services["SLURM_CONF"]))


@pytest.fixture(scope="session")
def broken_flat_file(tmp_path_factory):
    """``broken_flat_file(broken)``: a 100-event flat file (seed 3) whose event 70 has a selected
    leading jet and the ``broken`` values of :func:`write_flat_delphes`; written once per value."""
    folder = tmp_path_factory.mktemp("broken")
    written: dict[tuple, Path] = {}

    def make(broken: dict[str, float]) -> Path:
        key = tuple(sorted(broken.items()))
        if key not in written:
            path = folder / f"broken{len(written)}.root"
            written[key] = write_flat_delphes(path, 100, seed=3, nan_events={70}, broken=broken)
        return written[key]

    return make


@pytest.fixture(scope="session")
def toy_model(tmp_path_factory):
    """``toy_model(name, module, task)``: the TorchScript ``module`` exported with boostjet
    metadata claiming the default input spec (the one a run configures); returns the .pt path."""
    from boostjet.models.export import describe_model, export_model
    from boostjet.spec import InputSpec

    folder = tmp_path_factory.mktemp("toy_models")

    def make(name: str, module, task: str = "tagger") -> Path:
        signal = "top" if task == "tagger" else None
        metadata = describe_model(
            module, name=name, architecture="toy", task=task, spec=InputSpec(), signal=signal
        )
        return export_model(module, metadata, folder / name)[0]

    return make


SAMPLES = Path(__file__).parents[1] / "samples"


@pytest.fixture
def corrupt_sample(tmp_path):
    """``corrupt_sample(branch, basket)``: a copy of samples/ttbar_mc.root (600 events; every
    branch in baskets of entries 0–500 and 500–600) with 32 bytes in the middle of that basket's
    compressed data overwritten, as a damaged disk or transfer leaves it."""

    import uproot

    def make(branch: str = "FatJet.PT", basket: int = 1) -> Path:
        target = tmp_path / f"corrupt_{branch}_{basket}.root"
        shutil.copy(SAMPLES / "ttbar_mc.root", target)
        with uproot.open(target) as file:
            stored = file["Delphes"][branch]
            seek = int(stored.member("fBasketSeek")[basket])
            size = int(stored.member("fBasketBytes")[basket])
        with open(target, "r+b") as stream:
            stream.seek(seek + size // 2)
            stream.write(b"\xff" * 32)
        return target

    return make


@pytest.fixture
def two_torch_threads():
    """At most two torch threads during the test: with more, MKL rounds a few matrix products
    (LoLa's first dense layer) by a row's position in the batch, by up to 2 ulp of the score
    (docs/models.md, "Chunk invariance")."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(min(threads, 2))
    yield
    torch.set_num_threads(threads)
