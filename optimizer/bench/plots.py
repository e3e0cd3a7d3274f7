"""Plots and tables of a ``siting bench --configs`` run (matplotlib, Agg backend).

* :func:`performance_profile` — the Dolan–Moré profile over time: for each configuration the
  share of instances it solves (proven optimal) within a factor τ of the fastest configuration
  on that instance; an instance a configuration does not solve counts as ratio ∞.
* :func:`gap_over_time` — incumbent, bound and relative gap over time on one instance, one
  curve per configuration (from :func:`optimizer.bench.suites.run_configs`' trace).
* :func:`best_per_suite` — the best configuration of each suite: most instances proven optimal,
  then the smallest shifted geometric mean of the time (unsolved runs count at their limit).
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

SHIFT_S = 1.0


def _figure(width: float, height: float) -> Figure:
    """A figure on matplotlib's Agg canvas, outside pyplot's global state (nothing to close,
    no GUI backend chosen: safe in Dask workers and threads)."""
    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def profile_ratios(df: pd.DataFrame) -> pd.DataFrame:
    """Performance ratios (instances x configurations): time over the best solved time on the
    instance; ``inf`` where the configuration did not prove optimality (or no one did)."""
    solved = df["status"] == "OPTIMAL"
    time_s = df["time_s"].where(solved, np.inf).astype(float)
    table = (
        df.assign(_t=time_s)
        .pivot_table(index="instance", columns="configuration", values="_t", aggfunc="min")
        .reindex(columns=list(dict.fromkeys(df["configuration"])))
    )
    best = table.min(axis=1)
    # a tiny floor keeps the ratio finite when the best time rounds to 0
    ratios = table.div(best.clip(lower=1e-6), axis=0)
    ratios[~np.isfinite(table)] = np.inf
    return ratios


def performance_profile(df: pd.DataFrame, path: Path, title: str = "") -> Path:
    """Write the Dolan–Moré performance profile of ``df`` (one row per instance and
    configuration, columns ``instance``, ``configuration``, ``status``, ``time_s``) to a PNG."""
    ratios = profile_ratios(df)
    finite = ratios.to_numpy()[np.isfinite(ratios.to_numpy())]
    top = max(2.0, float(finite.max()) * 1.5) if finite.size else 2.0
    taus = np.logspace(0, math.log10(top), 200)
    n = max(1, len(ratios))
    fig = _figure(7, 4.5)
    ax = fig.subplots()
    for config in ratios.columns:
        r = ratios[config].to_numpy()
        share = [(r <= t).sum() / n for t in taus]
        ax.step(taus, share, where="post", label=str(config), linewidth=1.8)
    ax.set_xscale("log", base=2)
    ax.set_xlim(1, top)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("τ: time / best time on the instance (log scale)")
    ax.set_ylabel("share of instances proven optimal within τ")
    ax.set_title(title or f"Performance profile ({n} instances)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path


def gap_over_time(trace: pd.DataFrame, path: Path, instance: str) -> Path:
    """Write incumbent / bound (top) and the relative gap (bottom) over time on ``instance``."""
    fig = _figure(7, 6)
    top, bottom = fig.subplots(2, 1, sharex=True)
    sub = trace[trace["instance"] == instance]
    for k, (config, g) in enumerate(sub.groupby("configuration", sort=False)):
        g = g.sort_values("t_s")
        color = f"C{k % 10}"
        method = str(g["method"].iloc[0])
        marker = "o" if method == "repeated-runs" else None
        top.step(
            g["t_s"],
            g["incumbent"],
            where="post",
            color=color,
            marker=marker,
            label=f"{config} incumbent ({method})",
        )
        top.step(
            g["t_s"],
            g["bound"],
            where="post",
            color=color,
            linestyle="--",
            marker=marker,
            label=f"{config} bound",
        )
        gap = g["gap"].replace(np.inf, np.nan).clip(lower=1e-6)
        bottom.step(g["t_s"], gap, where="post", color=color, marker=marker, label=str(config))
    top.set_ylabel("objective")
    top.set_title(f"Incumbent and bound over time: {instance}")
    top.grid(True, alpha=0.3)
    top.legend(fontsize=7)
    bottom.set_yscale("log")
    bottom.set_ylabel("relative gap (0 shown at 1e-6)")
    bottom.set_xlabel("seconds from the start of the run (model build included)")
    bottom.grid(True, which="both", alpha=0.3)
    bottom.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path


def best_per_suite(df: pd.DataFrame) -> pd.DataFrame:
    """One row per suite: its best configuration and the figures it was ranked by.

    Ranking: most instances proven optimal, then the smallest shifted geometric mean
    (shift :data:`SHIFT_S`) of ``time_s`` with unsolved runs counted at their time limit.
    """
    rows = []
    for suite, g in df.groupby("suite", sort=False):
        scores: list[dict[str, str | int | float]] = []
        for config, c in g.groupby("configuration", sort=False):
            solved = c["status"] == "OPTIMAL"
            t = c["time_s"].where(solved, c["time_limit_s"]).astype(float).fillna(np.inf)
            sgm = float(np.exp(np.log(t + SHIFT_S).mean()) - SHIFT_S) if len(t) else math.inf
            gaps = c["gap"].astype(float).replace(np.inf, np.nan)
            scores.append(
                {
                    "suite": str(suite),
                    "configuration": str(config),
                    "instances": len(c),
                    "proven_optimal": int(solved.sum()),
                    "sgm_time_s": round(sgm, 3),
                    "max_gap": float(gaps.max()) if gaps.notna().any() else math.nan,
                }
            )
        ranked = sorted(scores, key=lambda r: (-int(r["proven_optimal"]), float(r["sgm_time_s"])))
        best = dict(ranked[0])
        best["runner_up"] = ranked[1]["configuration"] if len(ranked) > 1 else ""
        rows.append(best)
    return pd.DataFrame(
        rows,
        columns=[
            "suite",
            "configuration",
            "instances",
            "proven_optimal",
            "sgm_time_s",
            "max_gap",
            "runner_up",
        ],
    )


def png_is_blank(path: Path) -> bool:
    """True when the image has a single colour (a failed plot)."""
    img = mpimg.imread(str(path))
    return bool(np.all(img == img.reshape(-1, img.shape[-1])[0]))
