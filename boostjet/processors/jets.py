"""Fat-jet selection, truth labels from the generator record, and regression targets."""

from __future__ import annotations

import awkward as ak
import numpy as np

from boostjet.kinematics import delta_phi
from boostjet.processors.delphes import require_finite

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


def heavy_resonances(particles: ak.Array, where: str = "the input chunk") -> ak.Array:
    """Per event: every t, W, Z, H (last copies) with its decay quarks and a ``kind``.

    ``kind`` is 1 for a hadronic top (b and both W quarks known), 2 for a hadronic W/Z not from
    a top, 0 for any other heavy resonance (leptonic, H, W from a top). ``q_eta``/``q_phi`` hold
    up to three decay quarks, NaN where absent. The η and φ of the particles used must be finite
    (InputDataError naming ``where``, the chunk, otherwise).
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
    used = np.concatenate([heavy, quarks[quarks >= 0]])
    branches = {f"Particle.{name}": flat[name][used] for name in ("Eta", "Phi")}
    require_finite(where, "the generator particles of the truth labels", branches)
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


def same_event_pairs(n_left: np.ndarray, n_right: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every (left, right) pair of objects in the same event, as flat indices, left-major.

    ``n_left``/``n_right`` are the objects per event; the numpy equivalent of a nested
    ``ak.cartesian`` flattened over events and the left objects, without building records.
    """
    n_left, n_right = np.asarray(n_left, np.int64), np.asarray(n_right, np.int64)
    left_event = np.repeat(np.arange(len(n_left)), n_left)
    per_left = n_right[left_event]
    left = np.repeat(np.arange(len(left_event)), per_left)
    right_start = np.concatenate([[0], np.cumsum(n_right)[:-1]]).astype(np.int64)
    pair_start = np.concatenate([[0], np.cumsum(per_left)[:-1]]).astype(np.int64)
    shift = np.repeat(right_start[left_event] - pair_start, per_left)
    return left, np.arange(len(left), dtype=np.int64) + shift


def _flat_eta_phi(objects: ak.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Objects per event (counts) and their flat η and φ."""
    counts = ak.to_numpy(ak.num(objects.eta, axis=1))
    return counts, ak.to_numpy(ak.flatten(objects.eta)), ak.to_numpy(ak.flatten(objects.phi))


def _any_per_jet(condition: np.ndarray, jet: np.ndarray, n_jets: int) -> np.ndarray:
    """True for every jet with at least one pair where ``condition`` holds."""
    return np.bincount(jet[condition], minlength=n_jets) > 0


def truth_labels(jets: ak.Array, resonances: ak.Array, radius: float) -> ak.Array:
    """Index into :data:`boostjet.histograms.TRUTH_CLASSES` for every jet (``events * jets``).

    top: a hadronic top and its three quarks within ΔR < R of the jet axis; w: a hadronic W/Z
    (including the W of a top whose b lies outside) with both quarks inside; other: any other jet
    within R of a heavy resonance or one of its quarks; qcd: the rest. Computed on the flat
    (jet, resonance) pairs of each event with numpy (:func:`same_event_pairs`).
    """
    n_jets, jet_eta, jet_phi = _flat_eta_phi(jets)
    n_res = ak.to_numpy(ak.num(resonances.eta, axis=1))
    res = ak.flatten(resonances)
    jet, r = same_event_pairs(n_jets, n_res)
    eta, phi = jet_eta[jet], jet_phi[jet]
    dr_res = np.hypot(eta - ak.to_numpy(res.eta)[r], delta_phi(phi, ak.to_numpy(res.phi)[r]))
    q_eta, q_phi = ak.to_numpy(res.q_eta)[r], ak.to_numpy(res.q_phi)[r]
    dr_q = np.hypot(eta[:, None] - q_eta, delta_phi(phi[:, None], q_phi))
    inside = dr_q < radius
    n_in = inside.sum(axis=-1)
    n_quarks = (~np.isnan(dr_q)).sum(axis=-1)
    all_inside = (n_quarks > 0) & (n_in == n_quarks)
    kind = ak.to_numpy(res.kind)[r]
    close = dr_res < radius
    both_w_quarks = inside[:, 1:].sum(axis=-1) == 2
    total = len(jet_eta)
    is_top = _any_per_jet((kind == 1) & all_inside & close, jet, total)
    lone_w = (kind == 2) & all_inside & close
    is_w = _any_per_jet(lone_w | ((kind == 1) & both_w_quarks), jet, total)
    near = _any_per_jet(close | (n_in > 0), jet, total)
    label = np.where(is_top, 1, np.where(is_w, 2, np.where(near, 3, 0))).astype(np.int8)
    return ak.unflatten(label, n_jets)


def match_generator_jets(jets: ak.Array, genjets: ak.Array, radius: float) -> ak.Array:
    """The nearest generator jet within ΔR < ``radius`` of each jet (None where there is none).

    Ties go to the first generator jet, as ``ak.argmin`` gives them.
    """
    n_jets, jet_eta, jet_phi = _flat_eta_phi(jets)
    n_gen, gen_eta, gen_phi = _flat_eta_phi(genjets)
    jet, gen = same_event_pairs(n_jets, n_gen)
    dr = np.hypot(jet_eta[jet] - gen_eta[gen], delta_phi(jet_phi[jet], gen_phi[gen]))
    # the pairs of one jet are contiguous and in generator-jet order: the first pair at the
    # jet's smallest ΔR is its nearest generator jet (a segmented argmin, no sort)
    n_total = len(jet_eta)
    pairs_per_jet = np.bincount(jet, minlength=n_total)
    starts = np.cumsum(pairs_per_jet) - pairs_per_jet
    paired = pairs_per_jet > 0
    smallest = np.full(n_total, np.inf)
    smallest[paired] = np.minimum.reduceat(dr, starts[paired]) if len(dr) else []
    at_smallest = np.flatnonzero(dr == smallest[jet])
    first = np.ones(len(at_smallest), dtype=bool)
    first[1:] = jet[at_smallest][1:] != jet[at_smallest][:-1]
    nearest = at_smallest[first]
    best = np.full(n_total, -1, dtype=np.int64)
    matched = dr[nearest] < radius
    best[jet[nearest][matched]] = gen[nearest][matched]
    flat_gen = ak.flatten(genjets, axis=1).layout
    option = ak.contents.IndexedOptionArray(ak.index.Index64(best), flat_gen)
    return ak.unflatten(ak.Array(option, behavior=genjets.behavior), n_jets)
