"""Issue 19's acceptance harness: every model's default method against the city targets.

::

    nice -n 5 .venv/bin/python benchmarks/bench_city_targets.py     # every run (~40 min),
                                          # writes results/city_targets.csv and city_targets.md
    .venv/bin/python benchmarks/bench_city_targets.py --quick       # tiny sizes, not written
    .venv/bin/python benchmarks/bench_city_targets.py --only 'dense.*pmedian'
    .venv/bin/python benchmarks/bench_city_targets.py --report-only

Each run solves one model (lscp, mclp, pmedian) with its DEFAULT method (what
``solve_classic(model, data)`` picks; the column ``method`` records which) in a fresh process
(:mod:`optimizer.bench.cities`: LSCP every coverable block at unit cost, MCLP and p-median p =
one facility per 25 blocks, p-median pairs capped at the walking limit and an unserved block
charged twice it). ``--only`` keeps the runs whose ``target/generator/blocks x sites/radius/
seed/model`` key matches. The targets (issue 19):

==========  ======================================================  =====  ========
target      instances                                               limit  gap
==========  ======================================================  =====  ========
``t300``    city_like and city_dense 20,000 x 5,000 at 300 m,         60 s  <= 0.1 %
            seeds 0, 1, 2
``radius``  city_like 20,000 x 5,000 at 500, 800 and 1,000 m          60 s  <= 0.5 %
``large``   city_like 50,000 x 10,000 and 100,000 x 20,000 at        120 s  <= 0.5 %,
            300 m                                                          peak <= 4 GB
==========  ======================================================  =====  ========

Every run must also end within its limit + 2 s (``overrun_s`` = wall - limit, the wall being
the whole ``solve_classic`` call: build, solve, verification). A target is met when every one
of its runs is within its gap, its time (and, for ``large``, its memory).
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from optimizer.bench import cities
from optimizer.bench.suites import frame_table, machine_info, merged_rows
from optimizer.outputs import atomic_write, write_csv

HERE = Path(__file__).resolve().parent

CSV = HERE / "results" / "city_targets.csv"
REPORT = HERE / "results" / "city_targets.md"
SLACK_S = 2.0
WALL_CAP_S = 400.0

TARGETS: dict[str, dict[str, Any]] = {
    "t300": {
        "grid": [
            (g, 20_000, 5_000, 300.0, s) for g in ("city_like", "city_dense") for s in (0, 1, 2)
        ],
        "limit": 60.0,
        "gap": 0.001,
        "peak_mb": None,
        "text": "both generators x seeds 0-2, 20,000 x 5,000 at 300 m: gap <= 0.1 % in 60 s",
    },
    "radius": {
        "grid": [("city_like", 20_000, 5_000, r, 0) for r in (500.0, 800.0, 1000.0)],
        "limit": 60.0,
        "gap": 0.005,
        "peak_mb": None,
        "text": "city_like 20,000 x 5,000 at 500 / 800 / 1,000 m: gap <= 0.5 % in 60 s",
    },
    "large": {
        "grid": [
            ("city_like", 50_000, 10_000, 300.0, 0),
            ("city_like", 100_000, 20_000, 300.0, 0),
        ],
        "limit": 120.0,
        "gap": 0.005,
        "peak_mb": 4096.0,
        "text": "city_like 50,000 x 10,000 and 100,000 x 20,000 at 300 m: gap <= 0.5 % in "
        "120 s, peak <= 4 GB",
    },
}
"""Issue 19's targets: instances (generator, blocks, sites, radius, seed), limit, gap, memory."""
KEY = ["target", "generator", "blocks", "sites", "radius", "seed", "model"]
"""What identifies a run (a re-run with ``--only`` replaces the row of the same key)."""
QUICK_SIZES = {20_000: (1_000, 400), 50_000: (2_000, 600), 100_000: (3_000, 800)}


def cases(quick: bool, only: str | None) -> list[dict[str, Any]]:
    """Every run of every target (``quick``: tiny sizes, 5 s), filtered by ``only``."""
    out = []
    for target, spec in TARGETS.items():
        for gen, n, m, radius, seed in spec["grid"]:
            if quick:
                n, m = QUICK_SIZES[n]
            for model in cities.MODELS:
                case = {
                    "target": target,
                    "generator": gen,
                    "blocks": n,
                    "sites": m,
                    "radius": radius,
                    "seed": seed,
                    "model": model,
                    "limit": 5.0 if quick else spec["limit"],
                }
                key = f"{target}/{gen}/{n}x{m}/{radius:g}/{seed}/{model}"
                if only is None or re.search(only, key):
                    out.append(case)
    return out


def judge(row: pd.Series) -> tuple[bool, str]:
    """Whether one run meets its target, and why not."""
    spec = TARGETS[str(row["target"])]
    why = []
    if row.get("status") not in ("OPTIMAL", "FEASIBLE"):
        why.append(str(row.get("status")))
    gap = float(row.get("gap", np.nan))
    if not gap <= spec["gap"]:
        why.append(f"gap {gap:.3%}" if gap == gap else "no gap")
    if not float(row.get("overrun_s", np.nan)) <= SLACK_S:
        why.append(f"overrun {float(row.get('overrun_s', np.nan)):.1f} s")
    if spec["peak_mb"] is not None and not float(row.get("peak_mb", np.nan)) <= spec["peak_mb"]:
        why.append(f"peak {float(row.get('peak_mb', np.nan)):.0f} MB")
    return not why, ", ".join(why)


def verdicts(df: pd.DataFrame) -> list[str]:
    """One line per target: met / not met, and the runs that miss it."""
    lines = []
    for target, spec in TARGETS.items():
        runs = df[df["target"] == target]
        if runs.empty:
            lines.append(f"- **{target}** ({spec['text']}): not run")
            continue
        misses = []
        for _, r in runs.iterrows():
            ok, why = judge(r)
            if not ok:
                misses.append(
                    f"{r['model']} {r['generator']} {int(r['blocks']):,} x {int(r['sites']):,} "
                    f"{r['radius']:g} m seed {int(r['seed'])} ({why})"
                )
        expected = len(spec["grid"]) * len(cities.MODELS)
        partial = "" if len(runs) == expected else f" (only {len(runs)} of {expected} runs)"
        verdict = "**met**" if not misses and not partial else "**not met**"
        lines.append(f"- **{target}** ({spec['text']}): {verdict}{partial}")
        lines += [f"  - {m}" for m in misses]
    return lines


def _instance(r: pd.Series) -> str:
    """A run's instance, short: ``city_like 20k x 5k 300 m s0``."""
    return (
        f"{r['generator']} {int(r['blocks']) / 1000:g}k x {int(r['sites']) / 1000:g}k "
        f"{r['radius']:g} m s{int(r['seed'])}"
    )


def _gap_text(gap: Any) -> str:
    """A certified gap in percent, or ``no bound`` where the run has none."""
    value = float(pd.to_numeric(gap, errors="coerce"))
    return f"{value:.2%}" if np.isfinite(value) else "no bound"


def _exactness(df: pd.DataFrame) -> list[str]:
    """One bullet per model: how many runs were proven optimal, and the open ones (largest
    gap first) with their gaps."""
    lines = []
    for model in cities.MODELS:
        runs = df[df["model"] == model]
        if runs.empty:
            continue
        proven = runs["status"] == "OPTIMAL"
        text = f"- {model}: proven optimal in {int(proven.sum())} of {len(runs)} runs"
        open_runs = runs[~proven]
        # from the open runs' own column: a Series assigned to an empty frame brings its index
        open_runs = open_runs.assign(_gap=pd.to_numeric(open_runs["gap"], errors="coerce"))
        if not open_runs.empty:
            open_runs = open_runs.sort_values("_gap", ascending=False, na_position="first")
            text += "; open: " + ", ".join(
                f"{_instance(r)} ({_gap_text(r['gap'])})" for _, r in open_runs.iterrows()
            )
        lines.append(text)
    return lines


def reading(df: pd.DataFrame) -> list[str]:
    """The report's opening lines: which default method ran, where exactness stops today,
    the worst time overrun and the memory peak."""
    methods = {
        model: ", ".join(f"`{m}`" for m in sorted(runs["method"].dropna().astype(str).unique()))
        for model, runs in df.groupby("model")
        if "method" in runs
    }
    lines = [
        "Default method of each model (column `method`): "
        + "; ".join(f"{model} {methods[model] or '(none recorded)'}" for model in methods)
        + ". Where exactness stops (gap when the limit was reached):",
        "",
        *_exactness(df),
        "",
    ]
    over = pd.to_numeric(df["overrun_s"], errors="coerce") if "overrun_s" in df else None
    if over is not None and over.notna().any():
        w = df.loc[over.idxmax()]
        late = int((over > SLACK_S).sum())
        lines.append(
            f"Worst overrun: {float(w['overrun_s']):+.1f} s ({w['model']} `{w['method']}`, "
            f"{_instance(w)}: wall {float(w['wall_s']):.1f} s for a {float(w['limit']):g} s "
            f"limit); {late} of {int(over.notna().sum())} runs end later than limit + "
            f"{SLACK_S:g} s."
        )
    failed = df[~df["status"].isin(["OPTIMAL", "FEASIBLE"])]
    if not failed.empty:
        lines.append(
            "Runs without an answer: "
            + "; ".join(
                f"{r['model']} {_instance(r)} ({r['status']})" for _, r in failed.iterrows()
            )
            + "."
        )
    peak = pd.to_numeric(df["peak_mb"], errors="coerce") if "peak_mb" in df else None
    if peak is not None and peak.notna().any():
        lines.append(f"Largest peak memory: {float(peak.max()):,.0f} MB.")
    return lines


def report(df: pd.DataFrame, command: str) -> str:
    """The markdown report: reading, machine, command, per-target verdicts, every run."""
    info = machine_info()
    cols = [
        "target",
        "generator",
        "blocks",
        "sites",
        "radius",
        "seed",
        "model",
        "method",
        "p",
        "pairs",
        "uncoverable",
        "status",
        "objective",
        "bound",
        "gap",
        "limit",
        "wall_s",
        "overrun_s",
        "gen_s",
        "build_s",
        "peak_mb",
        "load_start",
        "load_end",
        "measured",
    ]
    cols = [c for c in cols if c in df.columns]
    lines = [
        "# Issue 19 acceptance: city targets, every model's default method",
        "",
        "## Reading",
        "",
        *reading(df),
        "",
        f"Machine: {info['processor']}, {info['cores']} cores, {info['memory_gb']} GB; "
        f"{info['platform']}",
        f"Versions: Python {info['python']}, highspy {info['highspy']}, numpy {info['numpy']}",
        "",
        f"Command: `{command}` (a run with `--only` replaces the rows it re-ran and keeps the "
        "others; `measured` says when each row ran)",
        "",
        "Instances, models, targets and columns: see the docstring of "
        "`benchmarks/bench_city_targets.py`. One run at a time, each in a fresh process "
        "(`peak_mb` its own peak RSS); `wall_s` is the whole solve (build, solve, check), "
        "`overrun_s` = wall - limit (must be <= 2 s). The machine is shared (load columns).",
        "",
        "## Verdicts",
        "",
        *verdicts(df),
        "",
        "## Runs",
        "",
        frame_table(df, cols),
    ]
    return "\n".join(lines) + "\n"


def save(df: pd.DataFrame, command: str) -> None:
    CSV.parent.mkdir(parents=True, exist_ok=True)
    write_csv(CSV, df)
    text = report(df, command)
    atomic_write(REPORT, lambda p: p.write_text(text, encoding="utf-8"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--case", help=argparse.SUPPRESS)
    ap.add_argument("--quick", action="store_true", help="tiny sizes, 5 s, nothing written")
    ap.add_argument("--only", help="regular expression on target/generator/NxM/radius/seed/model")
    ap.add_argument("--report-only", action="store_true")
    args = ap.parse_args()
    if args.case:
        print(json.dumps(cities.run_case(json.loads(args.case)), default=float))
        return
    command = "python benchmarks/bench_city_targets.py " + shlex.join(sys.argv[1:])
    if args.report_only:
        save(pd.read_csv(CSV, encoding="utf-8-sig"), "python benchmarks/bench_city_targets.py")
        return
    started = time.perf_counter()
    rows = []
    for case in cases(args.quick, args.only):
        row = cities.in_subprocess(__file__, case, WALL_CAP_S)
        print(
            f"[{(time.perf_counter() - started) / 60:5.1f} min] {case['target']} "
            f"{case['generator']} {case['blocks']}x{case['sites']} {case['radius']:g} m "
            f"s{case['seed']} {case['model']}: {row.get('method')} {row.get('status')} gap "
            f"{row.get('gap')} wall {row.get('wall_s')} peak {row.get('peak_mb')} MB "
            f"load {row.get('load_start')}",
            flush=True,
        )
        rows.append({**row, "measured": time.strftime("%Y-%m-%d %H:%M")})
        if not args.quick:
            done = pd.DataFrame(rows)
            save(merged_rows(CSV, done, KEY) if args.only else done, command.strip())
    if args.quick:
        print("\n".join(verdicts(pd.DataFrame(rows))))


if __name__ == "__main__":
    main()
