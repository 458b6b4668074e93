"""Shared fixtures: the real Delphes files in ../shared/delphes and small flat-layout files.

``write_flat_delphes`` writes a synthetic event file in boostjet's flat layout
(docs/flat-layout.md): fat jets with constituents referenced by ``fUniqueID``, generator fat jets,
and a reduced generator record holding a hadronic top (t → b W, W → q q̄) inside the leading jet of
every other event. It is for pipeline tests, not physics.
"""

from __future__ import annotations

import math
from pathlib import Path

import awkward as ak
import numpy as np
import pytest

from boostjet.generation.writer import write_flat

SHARED_DELPHES = Path(__file__).parents[1].parent / "shared" / "delphes"

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


def _event(index: int, rng, nan_events: set[int]) -> _Event:
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
        event.rows["FatJet"][0]["Mass"] = math.nan  # ... and broken
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
    path: Path, n_events: int, seed: int = 1, nan_events: set[int] | None = None
) -> Path:
    """Write ``n_events`` synthetic events in the flat layout; ``nan_events`` get a NaN jet mass."""
    rng = np.random.default_rng(seed)
    events = [_event(i, rng, nan_events or set()) for i in range(n_events)]
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
    from boostjet.pipeline.config import RunConfig

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
