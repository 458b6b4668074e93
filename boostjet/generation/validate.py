"""Sanity table of generated files: soft-drop mass and constituent multiplicity per truth class.

Fat jets are labelled with the reduced generator record: "top" when the three quarks of a hadronic
top (b and the W's two quarks) lie within ΔR < 0.8 of the jet axis, "W" / "Z" when the two quarks of
a hadronic W / Z do (and the jet is not a top jet), "QCD" in events without any t, W or Z, and
"unmatched" otherwise. Multiplicities are compared with a genuine Delphes file.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import awkward as ak
import numpy as np
import uproot
from rich.table import Table

from boostjet.errors import InputFileError
from boostjet.kinematics import delta_phi

MATCH_RADIUS = 0.8
QUANTILES = (0.16, 0.5, 0.84)
REFERENCE = Path(__file__).resolve().parents[2].parent / "shared/delphes/tth_hbb_cms_fatjet.root"
CLASSES = ("top", "W", "Z", "QCD", "unmatched")
TOP_WINDOW = (105.0, 210.0)  # GeV, soft-drop mass window of a simple top tagger
W_WINDOW = (65.0, 105.0)  # GeV, of a simple W tagger
RESPONSE_MATCH_RADIUS = 0.2


@dataclass(frozen=True)
class ValidationRow:
    """Quantiles (q16, q50, q84) of one class of fat jets in one file."""

    sample: str
    collection: str
    jet_class: str
    jets: int
    msd_q16: float
    msd_q50: float
    msd_q84: float
    constituents_q16: float
    constituents_q50: float
    constituents_q84: float
    top_window: float  # fraction of jets with m_SD in TOP_WINDOW
    w_window: float  # fraction of jets with m_SD in W_WINDOW


def _row(
    sample: str, collection: str, jet_class: str, msd: np.ndarray, n: np.ndarray
) -> ValidationRow:
    """Quantiles of soft-drop mass and multiplicity (NaN when empty), and mass-window fractions."""
    q_msd = np.quantile(msd, QUANTILES) if len(msd) else np.full(3, np.nan)
    q_n = np.quantile(n, QUANTILES) if len(n) else np.full(3, np.nan)
    windows = [np.mean((msd > low) & (msd < high)) for low, high in (TOP_WINDOW, W_WINDOW)]
    numbers = [float(x) for x in (*np.round(q_msd, 1), *np.round(q_n, 1), *np.round(windows, 3))]
    return ValidationRow(sample, collection, jet_class, len(msd), *numbers)


def _delta_r(eta1: ak.Array, phi1: ak.Array, eta2: ak.Array, phi2: ak.Array) -> ak.Array:
    """ΔR in (η, φ) with φ differences wrapped into [−π, π)."""
    return np.hypot(eta1 - eta2, delta_phi(phi1, phi2))


def _contained(jets: ak.Array, quarks: list[ak.Array]) -> ak.Array:
    """event × jet: whether all given quarks of some resonance lie within ΔR < 0.8 of the jet."""
    inside = None
    for quark in quarks:
        pair = ak.cartesian({"jet": jets, "q": quark}, nested=True)
        near = _delta_r(pair.jet.Eta, pair.jet.Phi, pair.q.Eta, pair.q.Phi) < MATCH_RADIUS
        inside = near if inside is None else inside & near
    return ak.any(inside, axis=2)


def _daughters(particles: ak.Array, mothers: ak.Array) -> tuple[ak.Array, ak.Array]:
    """The two daughters (D1, D2) of each given particle, from the re-indexed reduced record."""
    return particles[mothers.D1], particles[mothers.D2]


def label_fat_jets(jets: ak.Array, particles: ak.Array) -> np.ndarray:
    """Truth class of every fat jet (flat, event after event), from the reduced Particle record."""
    abs_pid = abs(particles.PID)
    tops = particles[abs_pid == 6]
    first, second = _daughters(particles, tops)
    w_is_first = abs(first.PID) == 24
    w = ak.where(w_is_first, first, second)
    b = ak.where(w_is_first, second, first)
    w_q1, w_q2 = _daughters(particles, w)
    hadronic = abs(w_q1.PID) <= 5
    top_jet = _contained(jets, [b[hadronic], w_q1[hadronic], w_q2[hadronic]])
    labels = {"top": top_jet}
    for name, pid in (("W", 24), ("Z", 23)):
        boson = particles[abs_pid == pid]
        q1, q2 = _daughters(particles, boson)
        hadronic = abs(q1.PID) <= 5
        labels[name] = _contained(jets, [q1[hadronic], q2[hadronic]]) & ~top_jet
    has_resonance = ak.any((abs_pid == 6) | (abs_pid == 23) | (abs_pid == 24), axis=1)
    qcd = ak.broadcast_arrays(~has_resonance, jets.PT)[0]
    flat = [ak.to_numpy(ak.flatten(m)) for m in (labels["top"], labels["W"], labels["Z"], qcd)]
    return np.select(flat, CLASSES[:4], CLASSES[4])


def softdrop_mass(jets: ak.Array) -> ak.Array:
    """Soft-drop mass of each jet from its stored groomed four-momentum."""
    m2 = jets.SoftDroppedE**2 - jets.SoftDroppedPx**2 - jets.SoftDroppedPy**2
    return np.sqrt(np.maximum(m2 - jets.SoftDroppedPz**2, 0))


def read_collection(tree: uproot.TTree, name: str) -> ak.Array:
    """A flat-layout collection as event × entry records with its field names."""
    prefix = f"{name}."
    arrays = tree.arrays(filter_name=f"{prefix}*")
    return ak.zip({k.removeprefix(prefix): arrays[k] for k in arrays.fields})


def generated_rows(path: Path | str) -> list[ValidationRow]:
    """Rows for FatJet and GenFatJet of a generated (flat-layout) file, one per truth class."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"The file to validate does not exist: {str(path)!r}.")
    tree = uproot.open(path)["Delphes"]
    particles = read_collection(tree, "Particle")
    constituents = read_collection(tree, "FatJetConstituent")
    rows = []
    for name in ("FatJet", "GenFatJet"):
        jets = read_collection(tree, name)
        labels = label_fat_jets(jets, particles)
        msd = ak.to_numpy(ak.flatten(softdrop_mass(jets)))
        if name == "FatJet":
            # Count the FatJetConstituent entries of each jet: a global (event, jet) bincount.
            n_jets = ak.to_numpy(ak.num(jets))
            first = np.cumsum(n_jets) - n_jets
            owner = ak.flatten(constituents.Jet + first)
            n = np.bincount(ak.to_numpy(owner), minlength=int(n_jets.sum()))
        else:
            n = ak.to_numpy(ak.flatten(jets.NCharged + jets.NNeutrals))
        for jet_class in CLASSES:
            select = labels == jet_class
            if select.any():
                rows.append(_row(path.name, name, jet_class, msd[select], n[select]))
    return rows


def reference_row(path: Path | str = REFERENCE) -> ValidationRow:
    """All FatJets of a genuine Delphes file: soft-drop mass and Constituents (TRefArray) size."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"The reference Delphes file does not exist: {str(path)!r}.")
    tree = uproot.open(path)["Delphes"]
    arrays = tree.arrays(["FatJet/FatJet.SoftDroppedJet", "FatJet/FatJet.Constituents"])
    groomed = ak.flatten(arrays["FatJet/FatJet.SoftDroppedJet"])
    m2 = groomed.fE**2 - groomed.fP.fX**2 - groomed.fP.fY**2 - groomed.fP.fZ**2
    msd = np.sqrt(np.maximum(ak.to_numpy(m2), 0))
    refs = ak.flatten(arrays["FatJet/FatJet.Constituents"].refs)
    return _row(path.name, "FatJet (Delphes)", "all", msd, ak.to_numpy(ak.num(refs)))


def jet_response(path: Path | str) -> dict[str, float]:
    """Quantiles of pT(FatJet) / pT(GenFatJet) for the leading two fat jets matched within ΔR < 0.2.

    Shows the jet energy scale and resolution a detector card gives fat jets.
    """
    tree = uproot.open(Path(path))["Delphes"]
    reco, gen = (read_collection(tree, name)[:, :2] for name in ("FatJet", "GenFatJet"))
    pair = ak.cartesian({"reco": reco, "gen": gen}, nested=True)
    distance = _delta_r(pair.reco.Eta, pair.reco.Phi, pair.gen.Eta, pair.gen.Phi)
    nearest = ak.argmin(distance, axis=2, keepdims=True)
    matched = ak.flatten(pair[nearest], axis=2)
    close = ak.fill_none(ak.flatten(distance[nearest], axis=2) < RESPONSE_MATCH_RADIUS, False)
    ratio = ak.to_numpy(ak.drop_none(ak.flatten((matched.reco.PT / matched.gen.PT)[close])))
    q16, q50, q84 = (float(q) for q in np.quantile(ratio, QUANTILES))
    return {
        "jets": len(ratio),
        "q16": q16,
        "q50": q50,
        "q84": q84,
        "resolution": (q84 - q16) / (2 * q50),
    }


def validation_table(
    paths: list[Path | str], reference: Path | str | None = REFERENCE
) -> list[dict[str, object]]:
    """Validation rows of generated files (plus the genuine Delphes reference) as dictionaries."""
    rows = [row for path in paths for row in generated_rows(path)]
    if reference is not None:
        rows.append(reference_row(reference))
    return [asdict(row) for row in rows]


def render(rows: list[dict[str, object]]) -> Table:
    """The validation rows as a rich table."""
    table = Table(title="Generated fat jets: soft-drop mass and multiplicity (q16 / q50 / q84)")
    columns = ("sample", "collection", "class", "jets", "m_SD [GeV]", "constituents")
    for column in (*columns, "in top window", "in W window"):
        table.add_column(column)
    for row in rows:
        msd = f"{row['msd_q16']} / {row['msd_q50']} / {row['msd_q84']}"
        n = f"{row['constituents_q16']} / {row['constituents_q50']} / {row['constituents_q84']}"
        table.add_row(
            str(row["sample"]),
            str(row["collection"]),
            str(row["jet_class"]),
            str(row["jets"]),
            msd,
            n,
            str(row["top_window"]),
            str(row["w_window"]),
        )
    return table
