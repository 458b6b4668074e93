"""Measure frozen working points on a run's simulation and write them where taggers carry them.

``python -m boostjet.analysis.thresholds RUN_DIR [--write]`` prints, for every tagger of the
run, the score threshold at each target signal efficiency of :data:`TABLE_TARGETS` (the ROC
working-point finder of roc.py on the simulated datasets, inclusive in pT); with ``--write`` it
stores them as ``working_points`` in the metadata JSON of each model the run's configuration
names and, for the cut-based taggers, in the package table (boostjet/models/workingpoints.py),
with what they were measured on. The .pt files are not touched.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import hist

from boostjet.analysis.efficiency import Metadata, simulation_datasets
from boostjet.analysis.roc import tagger_performance
from boostjet.analysis.rundata import Run, load_run
from boostjet.config import read_yaml
from boostjet.histograms import score_key
from boostjet.models.export import model_files
from boostjet.models.workingpoints import CUT_BASED_TABLE, WINDOW_KEYS, table_key
from boostjet.rundir import CONFIG
from boostjet.spec import ModelMetadata

#: Target signal efficiencies of a shipped table: every 0.05 from 0.05 to 0.95.
TABLE_TARGETS = tuple(round(0.05 * k, 2) for k in range(1, 20))


def measure_thresholds(
    hists: Mapping[str, hist.Hist],
    tagger: str,
    *,
    signal: str,
    metadata: Metadata,
    targets: Sequence[float] = TABLE_TARGETS,
) -> dict[str, float]:
    """Target ε_S (``"0.30"``) → score threshold of ``tagger`` on the simulated datasets of
    ``hists`` (each scaled by its metadata weight), inclusive in pT."""
    performance = tagger_performance(
        hists, tagger, signal=signal, metadata=metadata, working_point_targets=targets
    )
    return {table_key(wp.target_eff_signal): wp.threshold for wp in performance.working_points}


def measured_tables(run: Run) -> dict[str, dict[str, Any]]:
    """Every tagger's table with its provenance (``measured_on``)."""
    tables = {}
    for tagger, signal in run.taggers.items():
        datasets = simulation_datasets(run.hists[score_key(tagger)], run.metadata)
        pt = run.hists[score_key(tagger)].axes["pt"].edges
        tables[tagger] = {
            "measured_on": (
                f"boostjet run '{run.name}', simulated datasets {datasets} (weighted), "
                f"{signal} jets against qcd, pT {pt[0]:g}–{pt[-1]:g} GeV"
            ),
            "thresholds": measure_thresholds(
                run.hists, tagger, signal=signal, metadata=run.metadata
            ),
        }
    return tables


def write_tables(run: Run, tables: Mapping[str, dict[str, Any]]) -> list[Path]:
    """Store ``tables`` in the metadata JSON of the run's models and in the cut-based table."""
    config = read_yaml((run.directory / CONFIG).read_text(encoding="utf-8"))
    written = []
    paths = {m["name"]: Path(m["path"]) for m in config.get("models", [])}
    for tagger, table in tables.items():
        if tagger in WINDOW_KEYS:
            shipped = json.loads(CUT_BASED_TABLE.read_text(encoding="utf-8"))
            window = config.get("cut_based", {}).get(WINDOW_KEYS[tagger])
            shipped[tagger] = {"window": list(window), **table}
            CUT_BASED_TABLE.write_text(
                json.dumps(shipped, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
            )
            written.append(CUT_BASED_TABLE)
        elif tagger in paths:
            _, path = model_files(paths[tagger])
            metadata = ModelMetadata.from_json(path.read_bytes())
            path.write_text(metadata.model_copy(update={"working_points": table}).to_json() + "\n")
            written.append(path)
    return written


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--write", action="store_true", help="store the tables (see above)")
    args = parser.parse_args(argv)
    run = load_run(args.run_dir)
    tables = measured_tables(run)
    for tagger, table in tables.items():
        shown = {
            k: round(v, 4) for k, v in table["thresholds"].items() if k in ("0.30", "0.50", "0.70")
        }
        print(f"{tagger}: {shown}")
    if args.write:
        for path in write_tables(run, tables):
            print(f"wrote {path}")


if __name__ == "__main__":
    main()
