"""Capacitated p-median (issue 17): ``cpmedian`` (Lagrangian bound + GAP heuristic + fixing +
Lagrangian tree or reduced MIP + subset-row cuts) on Osman–Christofides pmedcap1–20 and
Lorena–Senne SJC1–SJC4b.

::

    .venv/bin/python benchmarks/bench_cpmedian.py                    # every instance, 60 s
    .venv/bin/python benchmarks/bench_cpmedian.py --only SJC4a --limit 30
    .venv/bin/python benchmarks/bench_cpmedian.py --method mip       # the plain MIP
    .venv/bin/python benchmarks/bench_cpmedian.py --report-only

Each instance runs once with one thread; the answer is checked by the independent verifier
(:mod:`optimizer.classic.verify`, inside ``solve_classic``). Recorded per run: objective,
certified bound and gap, stop reason, wall time, the one-minute load average before and after
(the machine is shared), and the reference value: the optimum for pmedcap (file header);
the shared data states no optimum for SJC, so there only objective and certified bound
count. Rows are kept in
``results/cpmedian.csv`` (a rerun of the same case replaces its row) and the report
``results/cpmedian.md`` is rebuilt from it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import platform
import time
from pathlib import Path

import pandas as pd

from optimizer.backends import SolveOptions
from optimizer.bench.instances import CpmpInstance, read_lorena_senne, read_osman_christofides
from optimizer.classic.registry import solve_classic

HERE = Path(__file__).resolve().parent
CSV = HERE / "results" / "cpmedian.csv"
REPORT = HERE / "results" / "cpmedian.md"
OC = [f"pmedcap{i:02d}" for i in range(1, 21)]
LS = ["SJC1", "SJC2", "SJC3a", "SJC3b", "SJC4a", "SJC4b"]
KEY = ["instance", "method", "time_limit_s"]
NOTES = [
    "Notes:",
    "",
    "- Before (issue 17): `cpmedian` was the plain HiGHS MIP only (`--method mip`, still",
    "  there); it ended SJC4a at 60 s with a certified gap near 50 %.",
    "- The Lagrangian bound alone (knapsack subproblems) is 0.1-0.3 % below the optimum on",
    "  SJC but 1-6 % on some pmedcap instances (pmedcap08 6 %, pmedcap20 3.2 %); the",
    "  Lagrangian branch-and-bound on the sites closes most of those. pmedcap20 was the",
    "  exception: bound 990 after about 2,000 nodes in 60 s (its Dantzig-Wolfe bound is",
    "  973.6, the same as the Lagrangian one; branch-and-price on sites or on assignments",
    "  with exact Dantzig-Wolfe node bounds reached only 987-988 in 60 s).",
    "- Subset-row cuts (`pmedian/cpmp_price.py`): on instances of up to 150 points the tree",
    "  gets 60 % of the time left and, if unfinished, column generation with subset-row cuts",
    "  (exact pricing: knapsack branch-and-bound with the cut penalties) the rest, then the",
    "  tree resumes. pmedcap20's certified bound: 974 -> 1002 (1000 after about 7 rounds,",
    "  30 cuts each); gap 1.59 % -> 0.40 %. The incumbent stays 1006 (optimum 1005).",
    "  pmedcap14 is the only other instance where the phase runs: its cuts run out at 976,",
    "  and the resumed tree proves the optimum (37.9 s; before 42.5 s at higher load).",
    "  A set-partitioning MIP over the phase's column pool found no solution in 6 s on",
    "  pmedcap20 (not kept).",
    "- Since the previous run closed sites of a tree node get no knapsack (faster nodes),",
    "  and the load was lower (2.4-3.1 against 4-8): pmedcap14 and SJC2 now proven, SJC4b",
    "  0.33 % -> 0.002 %, pmedcap08 52 s -> 10 s.",
    "- The numbers depend on the load: the machine is shared by several sessions (load",
    "  averages of 2-8 on 2 cores across the runs), so a run may get well under one core.",
    "",
]
TARGET_GAP = 0.01

log = logging.getLogger("bench_cpmedian")


def load(name: str) -> tuple[CpmpInstance, float | None]:
    """The instance and its reference value."""
    if name.startswith("SJC"):
        return read_lorena_senne(name), None  # the shared data gives no optimum for SJC
    inst = read_osman_christofides(name)
    return inst, inst.optimum


def run_one(name: str, method: str, limit: float) -> dict[str, object]:
    """Solve one instance and return its row."""
    inst, reference = load(name)
    data = inst.data()
    load_before = os.getloadavg()[0]
    t0 = time.perf_counter()
    res = solve_classic(
        "cpmedian", data, options=SolveOptions(time_limit_s=limit, threads=1), method=method
    )
    wall = time.perf_counter() - t0
    extra = res.result.extra
    return {
        "instance": name,
        "n": data.n_demand,
        "p": data.p,
        "method": method,
        "time_limit_s": limit,
        "status": res.status.value,
        "objective": round(res.objective, 4),
        "bound": round(res.bound, 4),
        "gap_pct": round(100 * res.gap, 4),
        "reference": reference,
        "above_reference_pct": (
            None if reference is None else round(100 * (res.objective / reference - 1), 4)
        ),
        "stop": res.result.stop_text,
        "wall_s": round(wall, 2),
        "lagrangian_bound": extra.get("lagrangian_bound"),
        "heuristic_objective": extra.get("heuristic_objective"),
        "verified": res.report.passed,
        "load_before": round(load_before, 2),
        "load_after": round(os.getloadavg()[0], 2),
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M"),
    }


def save(rows: list[dict[str, object]]) -> pd.DataFrame:
    """Merge ``rows`` into the CSV (same instance / method / limit replaced)."""
    new = pd.DataFrame(rows)
    if CSV.exists():
        old = pd.read_csv(CSV)
        merged = old.set_index(KEY)
        merged = merged[~merged.index.isin(new.set_index(KEY).index)].reset_index()
        new = pd.concat([merged, new], ignore_index=True)
    order = {name: i for i, name in enumerate(OC + LS)}
    new["_rank"] = new["instance"].map(order).fillna(len(order))
    new = new.sort_values(by=["method", "_rank", "instance"]).drop(columns="_rank")
    CSV.parent.mkdir(parents=True, exist_ok=True)
    new.to_csv(CSV, index=False)
    return new


def report(table: pd.DataFrame) -> None:
    """Rebuild the markdown report from the CSV."""
    lines = [
        "# Capacitated p-median (`cpmedian`) on Osman–Christofides and Lorena–Senne",
        "",
        "Made by `benchmarks/bench_cpmedian.py`; one thread, one run per instance, every answer",
        "verified by `optimizer.classic.verify`. `gap_pct`: certified gap of the objective against",
        "the proven bound. `reference`: pmedcap optimum (file header); none for SJC (the shared",
        "data states none: objective and certified bound only). `load_*`: one-minute",
        "load average of the shared 2-core machine before and after the run.",
        "",
    ]
    for (method, limit), part in table.groupby(["method", "time_limit_s"]):
        hit = int((part["gap_pct"] <= 100 * TARGET_GAP + 1e-9).sum())
        lines += [
            f"## method `{method}`, {limit:g} s: gap <= 1 % on {hit} of {len(part)}",
            "",
            "| instance | n | p | objective | bound | gap % | reference | above ref % | stop |"
            " wall s | load before/after |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in part.itertuples():
            ref = "" if pd.isna(r.reference) else f"{r.reference:.2f}"
            above = "" if pd.isna(r.above_reference_pct) else f"{r.above_reference_pct:.3f}"
            lines.append(
                f"| {r.instance} | {r.n} | {r.p} | {r.objective:.2f} | {r.bound:.2f} |"
                f" {r.gap_pct:.4f} | {ref} | {above} | {r.stop} | {r.wall_s:.1f} |"
                f" {r.load_before:.1f} / {r.load_after:.1f} |"
            )
        lines.append("")
    lines += NOTES
    lines.append(f"Machine: {os.cpu_count()} cores, Python {platform.python_version()}.")
    REPORT.write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=float, default=60.0, help="seconds per instance")
    parser.add_argument("--method", default="exact", help="cpmedian method (exact, mip)")
    parser.add_argument("--only", nargs="*", help="instance names (default: all 26)")
    parser.add_argument("--report-only", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if not args.report_only:
        for name in args.only or OC + LS:
            row = run_one(name, args.method, args.limit)
            log.info(
                "%s: %s %.2f bound %.2f gap %.3f %% in %.1f s (load %.1f)",
                name,
                row["status"],
                row["objective"],
                row["bound"],
                row["gap_pct"],
                row["wall_s"],
                row["load_before"],
            )
            save([row])
    if CSV.exists():
        report(pd.read_csv(CSV))


if __name__ == "__main__":
    main()
