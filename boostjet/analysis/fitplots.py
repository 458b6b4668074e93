"""Pre- and post-fit stacked observable distributions of one pass/fail template fit (mplhep)."""

from __future__ import annotations

from pathlib import Path

import mplhep as hep
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from boostjet.analysis.fitinput import REGIONS
from boostjet.analysis.fitresult import ScaleFactorFit
from boostjet.analysis.plots import EXPERIMENT, TRUTH_LABELS, _save, _style

STAGES = ("prefit", "postfit")
#: One colour per truth class in every panel; stacked bottom to top in this order.
COLORS = {"qcd": "#f89c20", "other": "#964a8b", "w": "#5790fc", "top": "#e42536"}


def plot_template_fit(fit: ScaleFactorFit, stem: str | Path, *, text: str = "") -> list[Path]:
    """Four panels: pass and fail (columns) before and after the fit (rows), the truth
    categories stacked, data as points, the post-fit total's uncertainty as a band."""
    edges = np.asarray(fit.edges)
    with _style():
        fig = Figure(figsize=(18, 14), layout="constrained")
        FigureCanvasAgg(fig)
        axes = fig.subplots(2, 2, sharex=True)
        for row, stage in enumerate(STAGES):
            for column, region in enumerate(REGIONS):
                ax = axes[row][column]
                yields = fit.yields[region]
                stacked = getattr(yields, stage)
                order = [c for c in COLORS if c in stacked] + sorted(set(stacked) - set(COLORS))
                categories = [c for c in order if np.any(stacked[c] > 0)]
                if categories:
                    hep.histplot(
                        [stacked[c] for c in categories],
                        edges,
                        stack=True,
                        histtype="fill",
                        label=[TRUTH_LABELS.get(c, c) for c in categories],
                        color=[COLORS.get(c, "grey") for c in categories],
                        ax=ax,
                    )
                total = sum(stacked.values())
                if stage == "postfit":
                    ax.stairs(
                        total + yields.postfit_error,
                        edges,
                        baseline=np.clip(total - yields.postfit_error, 0, None),
                        fill=True,
                        color="none",
                        hatch="///",
                        edgecolor="grey",
                        label="post-fit uncertainty",
                    )
                centres = 0.5 * (edges[1:] + edges[:-1])
                ax.errorbar(centres, yields.data, yerr=np.sqrt(yields.data), fmt="ko", label="data")
                ax.set_title(f"{region}, {stage.replace('fit', '-fit')}", fontsize="small")
                ax.set_ylabel("Jets (simulation scaled to data)")
                ax.set_ylim(0, 1.4 * max(float(np.max(yields.data + np.sqrt(yields.data))), 1.0))
                ax.legend(fontsize="x-small", loc="upper right")
                if row == 1:
                    ax.set_xlabel("Soft-drop mass [GeV]")
        fig.suptitle(f"{EXPERIMENT} — {text}", fontsize="small")
        return _save(fig, stem)
