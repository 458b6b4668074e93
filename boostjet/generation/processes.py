"""Pythia 8 configuration of each hard process, and the Pythia process code of generated events."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pythia8mc

from boostjet.errors import GenerationError

HADRONIC_W = ("24:onMode = off", "24:onIfAny = 1 2 3 4 5")
HADRONIC_Z = ("23:onMode = off", "23:onIfAny = 1 2 3 4 5")

PROCESS_SETTINGS: dict[str, tuple[str, ...]] = {
    "ttbar": ("Top:gg2ttbar = on", "Top:qqbar2ttbar = on", *HADRONIC_W),
    "qcd": ("HardQCD:all = on",),
    "wjets": ("WeakBosonAndParton:qqbar2Wg = on", "WeakBosonAndParton:qg2Wq = on", *HADRONIC_W),
    "zjets": (
        "WeakBosonAndParton:qqbar2gmZg = on",
        "WeakBosonAndParton:qg2gmZq = on",
        "WeakZ0:gmZmode = 2",
        *HADRONIC_Z,
    ),
}

# Pythia process codes of the 2 → 2 processes switched on above (Pythia 8 manual, "Process codes").
_GLUON = 21
_TTBAR_GG, _TTBAR_QQ = 601, 602
_W_QQ, _W_QG = 251, 252
_Z_QQ, _Z_QG = 241, 242
_QCD_GG_GG, _QCD_GG_QQ, _QCD_QG, _QCD_QQ_QQ, _QCD_QQ_GG, _QCD_QQ_NEW = 111, 112, 113, 114, 115, 116
_QCD_GG_CC, _QCD_QQ_CC, _QCD_GG_BB, _QCD_QQ_BB = 121, 122, 123, 124


#: Parton-shower variations stored as event weights (Pythia 8 UncertaintyBands), in the order of
#: the Weight collection after the nominal weight: the renormalisation scale of the initial- and
#: final-state shower × 1/2 ("up": more radiation) and × 2 for ISR, × 1/√2 and × √2 for FSR (the
#: reduced FSR variation LEP data allow, Mrenna & Skands, arXiv:1605.08352).
SHOWER_VARIATIONS = {
    "isr_up": "isr:muRfac=0.5",
    "isr_down": "isr:muRfac=2.0",
    "fsr_up": "fsr:muRfac=0.707",
    "fsr_down": "fsr:muRfac=1.414",
}
#: Names of the entries of each event's Weight collection.
WEIGHT_NAMES = ("nominal", *SHOWER_VARIATIONS)


def pythia_settings(
    process: str, *, ecm: float, pthat_min: float, mpi: bool, seed: int
) -> list[str]:
    """The readString lines for one run: pp beams, the process, pT-hat cut, MPI switch, seed,
    and the parton-shower variation weights of SHOWER_VARIATIONS."""
    if process not in PROCESS_SETTINGS:
        known = ", ".join(PROCESS_SETTINGS)
        raise GenerationError(f"Generation option 'process' must be one of {known}: {process!r}.")
    return [
        "Beams:idA = 2212",
        "Beams:idB = 2212",
        f"Beams:eCM = {ecm}",
        *PROCESS_SETTINGS[process],
        f"PhaseSpace:pTHatMin = {pthat_min}",
        f"PartonLevel:MPI = {'on' if mpi else 'off'}",
        "Random:setSeed = on",
        f"Random:seed = {seed}",
        "Next:numberCount = 0",
        "Print:quiet = on",
        "UncertaintyBands:doVariations = on",
        "UncertaintyBands:List = {"
        + ", ".join(f"{name} {setting}" for name, setting in SHOWER_VARIATIONS.items())
        + "}",
    ]


def weight_columns(pythia: pythia8mc.Pythia) -> list[int]:
    """Columns of nextBatch's ``info.weights`` holding WEIGHT_NAMES, in that order."""
    names = list(pythia.infoPython().weightNameVector())
    return [0, *(names.index(name) for name in SHOWER_VARIATIONS)]


def start_pythia(settings: list[str]) -> pythia8mc.Pythia:
    """A Pythia instance initialised with the given settings, without the banner."""
    pythia = pythia8mc.Pythia("", False)
    for line in settings:
        if not pythia.readString(line):
            raise GenerationError(f"Pythia rejected the setting {line!r}.")
    if not pythia.init():
        raise GenerationError(f"Pythia failed to initialise with settings {settings}.")
    return pythia


def hard_process_codes(process: str, ids: ak.Array) -> np.ndarray:
    """Pythia process code of each event, read off the 2 → 2 record (entries 3–6).

    nextBatch does not return Info::code(), so the code is inferred from the incoming and outgoing
    partons. The only ambiguity, q qbar → q qbar of the incoming flavour, is given 114 (not 116).
    """
    incoming = ak.to_numpy(ids[:, 3:5])
    outgoing = np.abs(ak.to_numpy(ids[:, 5:7]))
    gluons_in = (incoming == _GLUON).sum(axis=1)
    if process == "ttbar":
        return np.where(gluons_in == 2, _TTBAR_GG, _TTBAR_QQ).astype(np.int32)
    if process == "wjets":
        return np.where(gluons_in == 1, _W_QG, _W_QQ).astype(np.int32)
    if process == "zjets":
        return np.where(gluons_in == 1, _Z_QG, _Z_QQ).astype(np.int32)
    gluons_out = (outgoing == _GLUON).sum(axis=1)
    heaviest_out = np.where(gluons_out == 0, outgoing.max(axis=1), 0)
    same_flavours = np.all(np.sort(np.abs(incoming), axis=1) == np.sort(outgoing, axis=1), axis=1)
    from_gg = np.select(
        [gluons_out == 2, heaviest_out == 4, heaviest_out == 5],
        [_QCD_GG_GG, _QCD_GG_CC, _QCD_GG_BB],
        _QCD_GG_QQ,
    )
    from_qq = np.select(
        [gluons_out == 2, same_flavours, heaviest_out == 4, heaviest_out == 5],
        [_QCD_QQ_GG, _QCD_QQ_QQ, _QCD_QQ_CC, _QCD_QQ_BB],
        _QCD_QQ_NEW,
    )
    codes = np.select([gluons_in == 2, gluons_in == 1], [from_gg, _QCD_QG], from_qq)
    return codes.astype(np.int32)


def charges(particle_data: pythia8mc.ParticleData, pid: np.ndarray) -> np.ndarray:
    """Electric charge in units of e of each PDG id (one table look-up per species present)."""
    species, inverse = np.unique(pid, return_inverse=True)
    # A loop over the few dozen distinct species of the batch, never over particles.
    table = np.array([particle_data.charge(int(code)) for code in species], dtype=np.float64)
    return table[inverse.reshape(-1)]
