"""The cut-based analysis of ``boostjet run`` written as a plain uproot + awkward + hist script.

What a physicist would write by hand for boostjet's flat files (reduced generator record: a top
decays to a W and a down-type quark, the W to two quarks, no copies): select the two leading fat
jets of the default selection (pT > 300 GeV, |η| < 2.4), label them top / w / other / qcd by
matching them to the decay quarks (ΔR < 0.8), match the nearest generator jet (ΔR < 0.4), and
fill the same histograms as boostjet (cut-based scores, control distributions, soft-drop mass and
energy responses).
Independent of boostjet's processor code (only the cut values and binning are taken from the
default config), so
``pipeline_floor.py`` can check that both give the same histograms.

    python benchmarks/plain_analysis.py FILE [FILE ...]
"""

from __future__ import annotations

import argparse
import time

import awkward as ak
import hist
import numpy as np
import uproot

from boostjet.config import Histograms, Selection

BRANCHES = [
    *(f"FatJet.{f}" for f in ("PT", "Eta", "Phi", "Mass", "Tau1", "Tau2", "Tau3")),
    *(f"FatJet.{f}" for f in ("NCharged", "NNeutrals")),
    *(f"{c}.SoftDropped{p}" for c in ("FatJet", "GenFatJet") for p in ("Px", "Py", "Pz", "E")),
    *(f"GenFatJet.{f}" for f in ("PT", "Eta", "Phi", "Mass")),
    *(f"Particle.{f}" for f in ("PID", "D1", "D2", "Eta", "Phi")),
]
TRUTH = ["qcd", "top", "w", "other", "data"]
TOP_WINDOW, W_WINDOW = (105.0, 210.0), (65.0, 105.0)
MASS_TARGET_MIN = 40.0


def book(dataset: str, binning: Histograms) -> dict[str, hist.Hist]:
    """The histograms boostjet books for the cut-based taggers and the two baselines."""
    ds = hist.axis.StrCategory([dataset], name="dataset", growth=True)
    truth = hist.axis.StrCategory(TRUTH, name="truth", growth=True)
    pt = hist.axis.Variable(binning.pt_edges, name="pt")
    abseta = hist.axis.Variable(binning.abseta_edges, name="abseta")
    response = hist.axis.Regular(binning.response_bins, 0.0, 2.0, name="response")
    weight = hist.storage.Weight()
    score = hist.axis.Regular(binning.score_bins, 0.0, 1.0, name="score")
    out = {
        f"score_cut_based_{t}": hist.Hist(ds, truth, pt, score, storage=weight)
        for t in ("top", "w")
    }
    controls = {
        "sd_mass": (60, 0.0, 300.0),
        "tau21": (50, 0.0, 1.0),
        "tau32": (50, 0.0, 1.0),
        "n_constituents": (60, 0.0, 120.0),
    }
    for name, (bins, low, high) in controls.items():
        axis = hist.axis.Regular(bins, low, high, name=name)
        out[f"control_{name}"] = hist.Hist(ds, truth, pt, axis, storage=weight)
    for name in ("mass_sd", "energy_reco"):
        out[f"response_{name}"] = hist.Hist(ds, pt, abseta, response, storage=weight)
    energy = hist.axis.Variable(binning.energy_edges, name="energy_true")
    out["energy_response_energy_reco"] = hist.Hist(ds, energy, response, storage=weight)
    return out


def delta_r(eta1, phi1, eta2, phi2):
    dphi = (phi1 - phi2 + np.pi) % (2 * np.pi) - np.pi
    return np.sqrt((eta1 - eta2) ** 2 + dphi**2)


def energy(batch, collection: str):
    pt, eta, mass = (batch[f"{collection}.{f}"] for f in ("PT", "Eta", "Mass"))
    return np.sqrt((pt * np.cosh(eta)) ** 2 + mass**2)


def soft_drop_mass(batch, collection: str):
    p = {c: batch[f"{collection}.SoftDropped{c}"] for c in ("Px", "Py", "Pz", "E")}
    return np.sqrt(np.maximum(p["E"] ** 2 - p["Px"] ** 2 - p["Py"] ** 2 - p["Pz"] ** 2, 0))


def resonances(batch):
    """Per event: t, W, Z, H with kind (1 hadronic top, 2 hadronic W/Z not from a top, 0 other)
    and the η, φ of up to three decay quarks (NaN where none)."""
    pid = np.abs(batch["Particle.PID"])
    n = ak.num(pid)
    eta, phi = batch["Particle.Eta"], batch["Particle.Phi"]

    def daughter(column):
        index = batch[column]
        valid = (index >= 0) & (index < n)
        return ak.where(valid, index, 0), valid

    d1, ok1 = daughter("Particle.D1")
    d2, ok2 = daughter("Particle.D2")
    quark1, quark2 = ok1 & (pid[d1] <= 5), ok2 & (pid[d2] <= 5)
    two_quarks = quark1 & quark2 & (d1 != d2)
    # top → W b: the W and the down-type quark among its daughters (D1 first)
    w_is_d1, w_is_d2 = ok1 & (pid[d1] == 24), ok2 & (pid[d2] == 24)
    b_is_d1 = ok1 & ((pid[d1] == 5) | (pid[d1] == 3) | (pid[d1] == 1))
    b_is_d2 = ok2 & ((pid[d2] == 5) | (pid[d2] == 3) | (pid[d2] == 1))
    top = pid == 6
    w = ak.where(w_is_d1, d1, d2)
    b = ak.where(b_is_d1, d1, d2)
    w_hadronic = two_quarks[w]
    top_hadronic = top & (w_is_d1 | w_is_d2) & (b_is_d1 | b_is_d2) & w_hadronic
    # Ws that are a top's daughter
    local = ak.local_index(pid)
    is_top_w = ak.zeros_like(pid, dtype=bool)
    for index in (d1, d2):
        hit = top & (pid[index] == 24)
        is_top_w = is_top_w | ak.any(
            local[:, :, None] == ak.where(hit, index, -1)[:, None, :], axis=2
        )
    boson = (pid == 23) | (pid == 24)
    lone = boson & two_quarks & ~is_top_w
    kind = ak.where(top_hadronic, 1, ak.where(lone, 2, 0))
    nan = ak.full_like(eta, np.nan)
    wq1, wq2 = d1[w], d2[w]
    q_eta = [
        ak.where(top_hadronic, eta[b], ak.where(boson & two_quarks, eta[d1], nan)),
        ak.where(top_hadronic, eta[wq1], ak.where(boson & two_quarks, eta[d2], nan)),
        ak.where(top_hadronic, eta[wq2], nan),
    ]
    q_phi = [
        ak.where(top_hadronic, phi[b], ak.where(boson & two_quarks, phi[d1], nan)),
        ak.where(top_hadronic, phi[wq1], ak.where(boson & two_quarks, phi[d2], nan)),
        ak.where(top_hadronic, phi[wq2], nan),
    ]
    heavy = (pid == 6) | boson | (pid == 25)
    fields = {"eta": eta, "phi": phi, "kind": kind}
    fields |= {f"q{i}_eta": q for i, q in enumerate(q_eta)}
    fields |= {f"q{i}_phi": q for i, q in enumerate(q_phi)}
    return ak.zip(fields)[heavy]


def labels(jets, heavy):
    """top (1), w (2), other (3) or qcd (0) for every jet, from (jet, resonance) pairs."""
    pairs = ak.cartesian({"jet": jets, "res": heavy}, axis=1, nested=True)
    jet, res = pairs.jet, pairs.res
    close = delta_r(jet.eta, jet.phi, res.eta, res.phi) < 0.8
    dr = [delta_r(jet.eta, jet.phi, res[f"q{i}_eta"], res[f"q{i}_phi"]) for i in range(3)]
    inside = [d < 0.8 for d in dr]
    present = [~np.isnan(d) for d in dr]
    n_in = inside[0] * 1 + inside[1] * 1 + inside[2] * 1
    n_quarks = present[0] * 1 + present[1] * 1 + present[2] * 1
    all_inside = (n_quarks > 0) & (n_in == n_quarks)
    is_top = ak.any((res.kind == 1) & all_inside & close, axis=2)
    both_w = inside[1] & inside[2]
    is_w = ak.any(((res.kind == 2) & all_inside & close) | ((res.kind == 1) & both_w), axis=2)
    near = ak.any(close | (n_in > 0), axis=2)
    return ak.where(is_top, 1, ak.where(is_w, 2, ak.where(near, 3, 0)))


def matched_generator_jets(jets, genjets):
    """The nearest generator jet within ΔR < 0.4 of every jet (None without one)."""
    pairs = ak.cartesian({"jet": jets, "gen": genjets}, axis=1, nested=True)
    dr = delta_r(pairs.jet.eta, pairs.jet.phi, pairs.gen.eta, pairs.gen.phi)
    nearest = ak.argmin(dr, axis=2, keepdims=True)
    best = ak.firsts(pairs.gen[nearest], axis=2)
    return ak.mask(best, ak.fill_none(ak.firsts(dr[nearest], axis=2) < 0.4, False))


def flat(array) -> np.ndarray:
    return ak.to_numpy(ak.flatten(array))


def analyse(files: list[str], dataset: str = "sample", step_size: int = 50000) -> tuple:
    """Histograms of the cut-based analysis over ``files``; returns (histograms, events)."""
    hists = book(dataset, Histograms())
    cut = Selection()
    events = 0
    for batch in uproot.iterate([f"{f}:Delphes" for f in files], BRANCHES, step_size=step_size):
        events += len(batch)
        jets = ak.zip(
            {
                "pt": batch["FatJet.PT"],
                "eta": batch["FatJet.Eta"],
                "phi": batch["FatJet.Phi"],
                "energy": energy(batch, "FatJet"),
                "sd_mass": soft_drop_mass(batch, "FatJet"),
                "tau1": batch["FatJet.Tau1"],
                "tau2": batch["FatJet.Tau2"],
                "tau3": batch["FatJet.Tau3"],
                "n_constituents": batch["FatJet.NCharged"] + batch["FatJet.NNeutrals"],
            }
        )
        keep = (
            (jets.pt >= cut.pt_min) & (jets.pt < cut.pt_max) & (np.abs(jets.eta) < cut.abs_eta_max)
        )
        jets = jets[keep]
        jets = jets[ak.argsort(jets.pt, ascending=False)][:, : cut.max_jets_per_event]
        genjets = ak.zip(
            {
                "eta": batch["GenFatJet.Eta"],
                "phi": batch["GenFatJet.Phi"],
                "energy": energy(batch, "GenFatJet"),
                "sd_mass": soft_drop_mass(batch, "GenFatJet"),
            }
        )
        truth = np.asarray(TRUTH)[flat(labels(jets, resonances(batch)))]
        gen = matched_generator_jets(jets, genjets)
        pt, sd_mass = flat(jets.pt), flat(jets.sd_mass).astype(np.float32)
        with np.errstate(invalid="ignore", divide="ignore"):
            tau21 = flat(ak.where(jets.tau1 > 0, jets.tau2 / jets.tau1, 1.0))
            tau32 = flat(ak.where(jets.tau2 > 0, jets.tau3 / jets.tau2, 1.0))
        for tagger, tau, (low, high) in (("top", tau32, TOP_WINDOW), ("w", tau21, W_WINDOW)):
            inside = (sd_mass >= low) & (sd_mass < high)
            score = np.where(inside, np.clip(1 - tau, 0, 1), 0).astype(np.float32)
            hists[f"score_cut_based_{tagger}"].fill(dataset, truth, pt, score)
        control = {
            "sd_mass": sd_mass,
            "tau21": tau21,
            "tau32": tau32,
            "n_constituents": flat(jets.n_constituents),
        }
        for name, values in control.items():
            hists[f"control_{name}"].fill(dataset, truth, pt, values)
        abseta = np.abs(flat(jets.eta))
        for name, reco, true, floor in (
            ("mass_sd", sd_mass, flat(ak.fill_none(gen.sd_mass, np.nan)), MASS_TARGET_MIN),
            ("energy_reco", flat(jets.energy), flat(ak.fill_none(gen.energy, np.nan)), 0.0),
        ):
            valid = np.isfinite(true) & (true > floor)
            response = reco[valid] / true[valid]
            hists[f"response_{name}"].fill(dataset, pt[valid], abseta[valid], response)
            if name == "energy_reco":
                hists["energy_response_energy_reco"].fill(dataset, true[valid], response)
    return hists, events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+")
    args = parser.parse_args()
    start = time.perf_counter()
    hists, events = analyse(args.files)
    seconds = time.perf_counter() - start
    jets = hists["score_cut_based_top"].sum(flow=True).value
    print(f"{events} events, {jets:.0f} jets in {seconds:.2f} s ({events / seconds:.0f} events/s)")


if __name__ == "__main__":
    main()
