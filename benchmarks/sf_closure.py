"""Closure of the template-fit scale factors on generated samples (issue 15).

Generates, with ``boostjet.generation`` (Pythia 8 + the parametrised detector):

- simulation: ``mc``-card tt̄ and QCD;
- "data" A: an independent ``mc``-card tt̄ + QCD sample (other seeds): its true SF is 1;
- "data" B: the same processes with the ``data-like`` card (lower calorimeter response and
  tracking efficiency): its true SF per reco pT bin is ε of its truth-labelled top jets over ε
  of the simulation's, at the same frozen thresholds (from a third run that reads B as
  simulation).

Then runs ``boostjet run`` on simulation + A and on simulation + B and prints, per tagger,
working point and pT bin, the fitted SF ± stat ± syst beside the subtraction cross-check, for
A the χ²/ndf of the SFs against 1 per working point, for B the true SF and the pull
(SF − SF_true) / σ_total, the fraction of bins within 1σ and 2σ, and the targets:
A: χ²/ndf ≤ 1.5 per working point (cut-based tagger and the best network); B: ≥ 68 % of the
bins within 1σ and all within 2σ, for each tagger.

    python benchmarks/sf_closure.py [--work DIR] [--ttbar 4000] [--qcd 4000] [--mc-factor 2]

Samples already in ``--work`` are reused (delete them to regenerate).
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

from boostjet.analysis.rundata import load_run
from boostjet.generation import GenerationOptions, generate
from boostjet.histograms import NOMINAL, template_key

REPOSITORY = Path(__file__).resolve().parents[1]
TRAINED = REPOSITORY / "boostjet" / "models" / "trained"
#: Taggers fitted: the cut-based tagger, the best network, and one more.
TAGGERS = ("cut_based_top", "particlenet_top", "dnn_top")
NETWORKS = [t for t in TAGGERS if not t.startswith("cut_based")]
#: name → (process, card, seed); the tt̄ and QCD counts come from the command line.
SAMPLES = {
    "sim_ttbar": ("ttbar", "mc", 101),
    "sim_qcd": ("qcd", "mc", 102),
    "a_ttbar": ("ttbar", "mc", 201),
    "a_qcd": ("qcd", "mc", 202),
    "b_ttbar": ("ttbar", "data-like", 301),
    "b_qcd": ("qcd", "data-like", 302),
}


def make_samples(work: Path, ttbar: int, qcd: int, mc_factor: int) -> dict[str, Path]:
    """Generate the samples not yet in ``work``; name → file."""
    files = {}
    for name, (process, card, seed) in SAMPLES.items():
        events = ttbar if process == "ttbar" else qcd
        if name.startswith("sim_"):
            events *= mc_factor
        path = work / f"{name}_{events}.root"
        if not path.exists():
            start = time.perf_counter()
            options = GenerationOptions(
                process=process, events=events, pthat_min=500.0, card=card, seed=seed, workers=2
            )
            generate(options, path, progress=False)
            print(f"generated {path.name}: {events} events in {time.perf_counter() - start:.0f} s")
        files[name] = path
    return files


def run_config(name: str, files: dict[str, Path], data: str, ttbar: int, qcd: int) -> dict:
    """The run configuration: the simulation normalised to the data's composition (cross
    section × luminosity / events gives each simulated sample the data's event count), the data
    sample ``data`` (a or b) as data, or, for ``data == "b_truth"``, B alone as simulation."""
    models = [{"name": t, "task": "tagger", "path": str(TRAINED / f"{t}.pt")} for t in NETWORKS]
    if data == "b_truth":
        datasets = {"b": {"files": [str(files["b_ttbar"]), str(files["b_qcd"])], "signal": "top"}}
    else:
        datasets = {
            "ttbar": {"files": [str(files["sim_ttbar"])], "signal": "top", "cross_section": ttbar},
            "qcd": {"files": [str(files["sim_qcd"])], "cross_section": qcd},
            "data": {
                "files": [str(files[f"{data}_ttbar"]), str(files[f"{data}_qcd"])],
                "is_data": True,
                "signal": "top",
            },
        }
    return {
        "name": name,
        "luminosity": 1.0,
        "datasets": datasets,
        "selection": {"pt_min": 300.0, "pt_max": 1200.0, "max_jets_per_event": 2},
        "truth": {"genjet_collection": "GenFatJet"},
        "models": models,
        "working_points": [0.3, 0.5, 0.7],
        "scale_factors": {"taggers": list(TAGGERS)},
        "executor": {"type": "futures", "workers": 2, "chunksize": 2000},
    }


def boostjet_run(work: Path, config: dict) -> Path:
    """``boostjet run`` of ``config``; its run directory."""
    path = work / f"{config['name']}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    start = time.perf_counter()
    command = ["boostjet", "run", str(path), "--output", str(work / "runs"), "--overwrite"]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"boostjet run {path.name} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    print(f"boostjet run {config['name']}: {time.perf_counter() - start:.0f} s")
    return work / "runs" / config["name"]


def fits(run_dir: Path) -> dict[tuple[str, str, float], dict]:
    """(tagger, working point, pT low) → the fit's summary entry."""
    summary = load_run(run_dir).summary["analysis"]["template_fits"]
    return {
        (tagger, wp, fit["label"]["pt_low"]): fit
        for tagger, points in summary["fits"].items()
        for wp, entries in points.items()
        for fit in entries
    }


def truth_efficiency(run, tagger: str, threshold: float) -> tuple[np.ndarray, ...]:
    """Pass fraction of the truth-top jets per pT bin at ``threshold`` and its binomial error
    (unweighted sample), from the run's template histogram."""
    h = run.hists[template_key(tagger)]
    in_range = slice(0, len(h.axes["sd_mass"]), sum)  # the fitted mass range, as ε_MC
    top = h[{"truth": "top", "systematic": NOMINAL, "dataset": sum, "sd_mass": in_range}]
    k = int(np.argmin(np.abs(h.axes["score"].edges - threshold)))
    counts = top.values(flow=True)[1:-1]  # pt × score, score flow included
    passing = counts[:, k + 1 :].sum(axis=1)  # score bin k + 1 (flow offset) starts at edge k
    total = counts.sum(axis=1)
    eff = np.divide(passing, total, out=np.full(len(total), np.nan), where=total > 0)
    error = np.sqrt(eff * (1 - eff) / np.where(total > 0, total, np.nan))
    return eff, error


def describe(fit: dict) -> str:
    if not fit["ok"]:
        return "fit failed".ljust(27)
    return f"{fit['sf']:.3f} ± {fit['sf_stat']:.3f} ± {fit['sf_syst']:.3f}".ljust(27)


def cross_check(fit: dict) -> str:
    value = fit.get("subtraction_sf")
    return "–" if value is None else f"{value:.2f}"


def closure_a(fits_a: dict) -> dict[tuple[str, str], float]:
    """Print A's table; (tagger, wp) → χ²/ndf of its SFs against 1."""
    print("\nA: independent mc-card sample as data (true SF = 1)")
    print(f"{'tagger':16} {'wp':5} {'pT':9} {'SF ± stat ± syst':27} {'pull':>6} {'subtr.':>6}")
    chi2: dict[tuple[str, str], list[float]] = {}
    for (tagger, wp, low), fit in sorted(fits_a.items()):
        pt = f"{low:g}–{fit['label']['pt_high']:g}"
        pull = (fit["sf"] - 1.0) / fit["sf_error"] if fit["ok"] else None
        if pull is not None:
            chi2.setdefault((tagger, wp), []).append(pull**2)
        shown = "–" if pull is None else f"{pull:+.2f}"
        print(f"{tagger:16} {wp:5} {pt:9} {describe(fit)} {shown:>6} {cross_check(fit):>6}")
    return {key: sum(v) / len(v) for key, v in chi2.items()}


def closure_b(fits_b: dict, truth_dir: Path) -> dict[str, list[float]]:
    """Print B's table; tagger → pulls against the true SF."""
    print("\nB: data-like card as data (true SF from its truth-labelled top jets)")
    header = f"{'tagger':16} {'wp':5} {'pT':9} {'SF ± stat ± syst':27} {'true SF':14}"
    print(f"{header} {'pull':>6} {'subtr.':>6}")
    pulls: dict[str, list[float]] = {}
    truth_cache: dict[tuple[str, float], tuple[np.ndarray, np.ndarray]] = {}
    run = load_run(truth_dir)
    thresholds = run.summary["thresholds"]
    edges = list(run.hists[template_key(TAGGERS[0])].axes["pt"].edges)
    for (tagger, wp, low), fit in sorted(fits_b.items()):
        threshold = thresholds.get(tagger, {}).get(wp)
        key = (tagger, threshold)
        if key not in truth_cache:
            truth_cache[key] = truth_efficiency(run, tagger, threshold)
        eff, error = truth_cache[key]
        i = edges.index(low)
        pt = f"{low:g}–{fit['label']['pt_high']:g}"
        if not fit["ok"] or not math.isfinite(eff[i]):
            print(f"{tagger:16} {wp:5} {pt:9} {describe(fit)} {'–':14}")
            continue
        true_sf = eff[i] / fit["eff_mc"]
        true_error = error[i] / fit["eff_mc"]
        pull = (fit["sf"] - true_sf) / fit["sf_error"]
        pulls.setdefault(tagger, []).append(pull)
        truth = f"{true_sf:.3f} ± {true_error:.3f}"
        line = f"{tagger:16} {wp:5} {pt:9} {describe(fit)} {truth:14} {pull:+6.2f}"
        print(f"{line} {cross_check(fit):>6}")
    return pulls


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "sf-closure")
    parser.add_argument("--ttbar", type=int, default=4000, help="tt̄ events per data sample")
    parser.add_argument("--qcd", type=int, default=4000, help="QCD events per data sample")
    parser.add_argument("--mc-factor", type=int, default=2, help="simulation events per data event")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    files = make_samples(args.work, args.ttbar, args.qcd, args.mc_factor)
    runs = {
        data: boostjet_run(
            args.work, run_config(f"closure_{data}", files, data, args.ttbar, args.qcd)
        )
        for data in ("a", "b", "b_truth")
    }
    chi2 = closure_a(fits(runs["a"]))
    pulls = closure_b(fits(runs["b"]), runs["b_truth"])
    print("\nTargets")
    for (tagger, wp), value in sorted(chi2.items()):
        judged = tagger in ("cut_based_top", "particlenet_top")
        verdict = ("met" if value <= 1.5 else "NOT met") if judged else "(not a target)"
        print(f"A {tagger:16} {wp}: χ²/ndf against 1 = {value:.2f} (≤ 1.5) {verdict}")
    for tagger, values in sorted(pulls.items()):
        values = np.abs(values)
        within1, within2 = np.mean(values <= 1), np.mean(values <= 2)
        verdict = "met" if within1 >= 0.68 and within2 == 1 else "NOT met"
        print(
            f"B {tagger:16}: {within1:.0%} of {len(values)} bins within 1σ (≥ 68 %), "
            f"{within2:.0%} within 2σ (100 %) {verdict}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
