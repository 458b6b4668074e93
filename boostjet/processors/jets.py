"""Fat-jet selection, truth labels from the generator record, and regression targets."""

from __future__ import annotations

import awkward as ak
import numpy as np

from boostjet.processors.constituents import delta_phi

#: Truth classes, in the order of the integer ``label`` the processor stores.
TRUTH_CLASSES = ("qcd", "top", "w", "other")

_TOP, _W, _Z, _H = 6, 24, 23, 25
#: Longest chain of recoil copies (t → t → t …) followed to reach a resonance's last copy.
_MAX_COPIES = 32


def select_fat_jets(jets: ak.Array, selection) -> ak.Array:
    """Jets in the pT window and |η| acceptance, at most ``max_jets_per_event`` leading ones."""
    keep = (
        (jets.pt >= selection.pt_min)
        & (jets.pt < selection.pt_max)
        & (np.abs(jets.eta) < selection.abs_eta_max)
    )
    selected = jets[keep]
    selected = selected[ak.argsort(selected.pt, axis=1, ascending=False)]
    return selected[:, : selection.max_jets_per_event]


def _flat_record(particles: ak.Array) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Generator record flattened over events, with event-local indices made global."""
    counts = ak.to_numpy(ak.num(particles.PID, axis=1))
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
    start = np.repeat(offsets, counts)
    flat = {
        name: ak.to_numpy(ak.flatten(particles[name])).astype(np.float64) for name in ("Eta", "Phi")
    }
    flat["pid"] = np.abs(ak.to_numpy(ak.flatten(particles.PID)).astype(np.int64))
    for name in ("D1", "D2"):
        local = ak.to_numpy(ak.flatten(particles[name])).astype(np.int64)
        valid = (local >= 0) & (local < np.repeat(counts, counts))
        flat[name.lower()] = np.where(valid, local + start, -1)
    return flat, counts


def _daughters_with(flat: dict[str, np.ndarray], mothers: np.ndarray, pids) -> np.ndarray:
    """First daughter (D1 or D2) of each mother whose |PID| is in ``pids``; -1 where none."""
    found = np.full(len(mothers), -1)
    for column in ("d2", "d1"):
        daughter = flat[column][mothers]
        ok = (daughter >= 0) & np.isin(flat["pid"][np.maximum(daughter, 0)], pids)
        found = np.where(ok, daughter, found)
    return found


def _last_copy(flat: dict[str, np.ndarray], index: np.ndarray) -> np.ndarray:
    """Follow each particle through its recoil copies (same |PID| daughter) to the last one."""
    for _ in range(_MAX_COPIES):
        daughter = flat["d1"][index]
        same = (daughter >= 0) & (flat["pid"][np.maximum(daughter, 0)] == flat["pid"][index])
        if not same.any():
            break
        index = np.where(same, daughter, index)
    return index


def _is_last_copy(flat: dict[str, np.ndarray]) -> np.ndarray:
    daughter = flat["d1"]
    return ~((daughter >= 0) & (flat["pid"][np.maximum(daughter, 0)] == flat["pid"]))


def heavy_resonances(particles: ak.Array) -> ak.Array:
    """Per event: every t, W, Z, H (last copies) with its decay quarks and a ``kind``.

    ``kind`` is 1 for a hadronic top (b and both W quarks known), 2 for a hadronic W/Z not from
    a top, 0 for any other heavy resonance (leptonic, H, W from a top). ``q_eta``/``q_phi`` hold
    up to three decay quarks, NaN where absent.
    """
    flat, counts = _flat_record(particles)
    heavy = np.flatnonzero(np.isin(flat["pid"], (_TOP, _W, _Z, _H)) & _is_last_copy(flat))
    event = np.repeat(np.arange(len(counts)), counts)[heavy]
    pid = flat["pid"][heavy]
    quarks = np.full((len(heavy), 3), -1)
    kind = np.zeros(len(heavy), dtype=np.int8)

    # W/Z → q q̄ (a boson whose two daughters are quarks)
    boson = np.isin(pid, (_W, _Z))
    q1, q2 = flat["d1"][heavy], flat["d2"][heavy]
    hadronic = (
        boson
        & (q1 >= 0)
        & (q2 >= 0)
        & (q1 != q2)
        & (flat["pid"][np.maximum(q1, 0)] <= 5)
        & (flat["pid"][np.maximum(q2, 0)] <= 5)
    )
    quarks[hadronic, 0], quarks[hadronic, 1] = q1[hadronic], q2[hadronic]
    kind[hadronic] = 2

    # t → b W(→ q q̄)
    top = pid == _TOP
    b = _daughters_with(flat, heavy, (5, 3, 1))
    w = _last_copy(flat, np.maximum(_daughters_with(flat, heavy, (_W,)), 0))
    wq1, wq2 = flat["d1"][w], flat["d2"][w]
    top_hadronic = (
        top
        & (b >= 0)
        & (flat["pid"][w] == _W)
        & (wq1 >= 0)
        & (wq2 >= 0)
        & (flat["pid"][np.maximum(wq1, 0)] <= 5)
        & (flat["pid"][np.maximum(wq2, 0)] <= 5)
    )
    quarks[top_hadronic] = np.stack([b, wq1, wq2], axis=1)[top_hadronic]
    kind[top_hadronic] = 1
    # the W of a top is labelled through its top; a lone W-jet inside a top event stays "w"
    from_top = np.isin(heavy, w[top])
    kind[from_top & (kind == 2)] = 0

    def coordinate(name: str, index: np.ndarray) -> np.ndarray:
        return np.where(index >= 0, flat[name][np.maximum(index, 0)], np.nan)

    per_event = np.bincount(event, minlength=len(counts))
    return ak.unflatten(
        ak.zip(
            {
                "eta": flat["Eta"][heavy],
                "phi": flat["Phi"][heavy],
                "kind": kind,
                "q_eta": coordinate("Eta", quarks),
                "q_phi": coordinate("Phi", quarks),
                "from_top": from_top,
            },
            depth_limit=1,
        ),
        per_event,
    )


def truth_labels(jets: ak.Array, resonances: ak.Array, radius: float) -> ak.Array:
    """Index into :data:`TRUTH_CLASSES` for every jet (``events * jets``).

    top: a hadronic top and its three quarks within ΔR < R of the jet axis; w: a hadronic W/Z
    (including the W of a top whose b lies outside) with both quarks inside; other: any other jet
    within R of a heavy resonance or one of its quarks; qcd: the rest.
    """
    pairs = ak.cartesian({"jet": jets[["eta", "phi"]], "res": resonances}, axis=1, nested=True)
    jet, res = pairs.jet, pairs.res
    dr_res = np.hypot(jet.eta - res.eta, delta_phi(jet.phi, res.phi))
    dr_q = np.hypot(jet.eta - res.q_eta, delta_phi(jet.phi, res.q_phi))
    inside = dr_q < radius
    has_quark = ~np.isnan(dr_q)
    n_in = ak.sum(inside, axis=-1)
    n_quarks = ak.sum(has_quark, axis=-1)
    all_inside = (n_quarks > 0) & (n_in == n_quarks)
    is_top = ak.any((res.kind == 1) & all_inside & (dr_res < radius), axis=-1)
    both_w_quarks = ak.sum(inside[:, :, :, 1:], axis=-1) == 2
    lone_w = (res.kind == 2) & all_inside & (dr_res < radius)
    is_w = ak.any(lone_w | ((res.kind == 1) & both_w_quarks), axis=-1)
    near = ak.any((dr_res < radius) | (n_in > 0), axis=-1)
    label = ak.where(is_top, 1, ak.where(is_w, 2, ak.where(near, 3, 0)))
    return ak.values_astype(label, np.int8)


def match_generator_jets(jets: ak.Array, genjets: ak.Array, radius: float) -> ak.Array:
    """The nearest generator jet within ΔR < ``radius`` of each jet (None where there is none)."""
    pairs = ak.cartesian({"jet": jets[["eta", "phi"]], "gen": genjets}, axis=1, nested=True)
    dr = np.hypot(pairs.jet.eta - pairs.gen.eta, delta_phi(pairs.jet.phi, pairs.gen.phi))
    nearest = ak.argmin(dr, axis=2, keepdims=True)
    best = ak.firsts(pairs.gen[nearest], axis=2)
    best_dr = ak.firsts(dr[nearest], axis=2)
    return ak.mask(best, best_dr < radius)
