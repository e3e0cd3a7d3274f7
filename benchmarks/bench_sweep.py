"""Acceptance run of ``siting sweep``: 8 budgets of the sample city on the default local Dask
cluster, then the same sweep sequentially; per-budget coverage, cost, status, gap and times,
whether both runs agree, and whether coverage never falls as the budget grows.

    .venv/bin/python benchmarks/bench_sweep.py            # writes benchmarks/results/sweep.md

The budgets default to 125 to 1,000 million yuan in steps of 125 million: serving every
reachable resident of the sample city as far as floor areas allow costs 999.3 million (the
``min_cost_cover`` plan of ``scenarios/sample-city.yaml``), so the sweep runs from an eighth of
that cost to all of it.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import shutil
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import dask
import distributed
import numpy as np
import pandas as pd

from optimizer.sweep import parse_budget_range, parse_setting, run_sweep

VOLATILE = ["solve_s", "reused"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scenario", default="scenarios/sample-city.yaml")
    p.add_argument("--budget-range", default="125e6:1000e6:125e6")
    p.add_argument("--set", action="append", default=["model.essential_checks=1"])
    p.add_argument("--time-limit", type=float, default=120.0, help="seconds per solve")
    p.add_argument("--workers", type=int, help="local cluster size (default: one per core)")
    p.add_argument("--work", type=Path, default=Path("reports/bench-sweep"))
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/sweep.md"))
    args = p.parse_args()

    budgets = parse_budget_range(args.budget_range)
    settings = [parse_setting(s) for s in args.set]
    shutil.rmtree(args.work, ignore_errors=True)
    load_before = os.getloadavg()
    runs = {}
    walls = {}
    for mode in ("local", "sequential"):
        t0 = time.perf_counter()
        runs[mode] = run_sweep(
            args.scenario,
            budgets,
            settings,
            out_dir=args.work / mode,
            time_limit_s=args.time_limit,
            lang="en",
            mode=mode,
            workers=args.workers,
        )
        walls[mode] = time.perf_counter() - t0
        print(f"{mode}: {walls[mode]:.1f} s", flush=True)
    load_after = os.getloadavg()

    a = runs["local"].comparison
    b = runs["sequential"].comparison
    try:
        pd.testing.assert_frame_equal(a.drop(columns=VOLATILE), b.drop(columns=VOLATILE))
        equal, diff = True, ""
    except AssertionError as exc:
        equal, diff = False, str(exc)
    lists_equal = all(
        pd.read_csv(runs["local"].out_dir / s / "construction_list.csv").equals(
            pd.read_csv(runs["sequential"].out_dir / s / "construction_list.csv")
        )
        for s in a.loc[a["ok"].eq(True), "scenario"]
    )
    points = a["coverage_points"].to_numpy(float)
    monotone = bool((np.diff(points) >= -1e-4).all()) and not runs["local"].violations

    command = shlex.join([sys.executable.split("/")[-1], *sys.argv])
    lines = [
        "# Budget sweep of the sample city on Dask (issue 6)",
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `{command}`.",
        "",
        f"Machine: {os.cpu_count()} cores, {platform.platform()}; Python "
        f"{platform.python_version()}, dask {dask.__version__}, distributed "
        f"{distributed.__version__}. Load average (1, 5, 15 min) before "
        f"{tuple(round(x, 2) for x in load_before)}, after "
        f"{tuple(round(x, 2) for x in load_after)} (the machine is shared: times are noisy).",
        "",
        f"Scenario `{args.scenario}` (min_cost_cover; a budget sweep maximises coverage within "
        f"each budget), {len(budgets)} budgets {budgets[0] / 1e6:g} to {budgets[-1] / 1e6:g} "
        f"million yuan, settings {', '.join(args.set)}; solver limits: "
        f"{args.time_limit:g} s per solve, the scenario's mip_gap (0); one solver thread per "
        "task. Tasks: "
        + "; ".join("[" + ", ".join(t) + "]" for t in runs["local"].summary["tasks"])
        + " (consecutive budgets warm-start each other within a task).",
        "",
        "| run | workers | wall s |",
        "|---|---:|---:|",
        f"| local Dask cluster (default) | {runs['local'].summary['workers']} | "
        f"{walls['local']:.1f} |",
        f"| --sequential | 1 (in-process) | {walls['sequential']:.1f} |",
        "",
        f"- Dask result equals the sequential result (every comparison column but times): "
        f"**{'yes' if equal else 'NO'}**; construction lists identical: "
        f"**{'yes' if lists_equal else 'NO'}**",
        f"- priority-weighted coverage never falls as the budget grows: "
        f"**{'yes' if monotone else 'NO'}**; re-solved from the predecessor after the check: "
        f"{', '.join(runs['local'].resolved) or 'none'}",
        f"- failed scenarios: {', '.join(runs['local'].failed) or 'none'}",
        "",
        "| budget (M yuan) | cost used (M) | coverage % | residents covered | coverage points "
        "| marginal per 10k yuan | sites | facilities | status | gap | solve s (Dask) "
        "| solve s (seq) | warm start from |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---|",
    ]
    for (_, r), (_, s) in zip(a.iterrows(), b.iterrows(), strict=True):
        lines.append(
            f"| {r['budget'] / 1e6:g} | {_num(r['cost_used'], 1e6, 2)} | "
            f"{_num(r['coverage_pct'], 1, 2)} | {_num(r['covered'], 1, 0)} | "
            f"{_num(r['coverage_points'], 1, 3)} | {_num(r['marginal_per_10k'], 1, 2)} | "
            f"{r['sites']} | {r['facilities']} | {r['status']} | {_num(r['gap'], 1, 4)} | "
            f"{_num(r['solve_s'], 1, 1)} | {_num(s['solve_s'], 1, 1)} | "
            f"{r['warm_start_from'] if isinstance(r['warm_start_from'], str) else '-'} |"
        )
    types = [c.split(":", 1)[1] for c in a.columns if c.startswith("coverage_pct:")]
    lines += [
        "",
        "Coverage % per type (residents of the target group served in full):",
        "",
        "| budget (M yuan) | " + " | ".join(types) + " |",
        "|---:|" + "---:|" * len(types),
    ]
    for _, r in a.iterrows():
        cells = " | ".join(_num(r[f"coverage_pct:{t}"], 1, 2) for t in types)
        lines.append(f"| {r['budget'] / 1e6:g} | {cells} |")
    if diff:
        lines += ["", "Differences:", "", "```", diff[:3000], "```"]
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


def _num(value: object, scale: float, digits: int) -> str:
    try:
        v = float(value) / scale  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return "-"
    return "-" if v != v else f"{v:,.{digits}f}"


if __name__ == "__main__":
    main()
