"""Scaling study of issue 7: build time, solve time and memory against blocks, sites and the
walking limit, for LSCP, MCLP and p-median on city-like instances up to 100,000 blocks.

::

    .venv/bin/python benchmarks/scaling.py                # the full study (~20 min), writes
                                                          # results/scaling.csv and scaling.md
    .venv/bin/python benchmarks/scaling.py --quick        # small smoke run, nothing written
    .venv/bin/python benchmarks/scaling.py --only '/lscp/' # re-run some rows, keep the others
    .venv/bin/python benchmarks/scaling.py --report-only

Instances: ``city_like(blocks, sites, seed=0)`` (``optimizer.bench.generators``). Three series:

* ``blocks``: 5,000 x 2,000, 20,000 x 5,000, 50,000 x 10,000, 100,000 x 20,000 at 300 m;
* ``sites``: 20,000 blocks with 2,000, 10,000 sites at 300 m (5,000: from the blocks series);
* ``radius``: 20,000 x 5,000 at 200, 500 and 800 m (300 m: from the blocks series).

Models, each with its DEFAULT method (what ``solve_classic(model, data)`` picks at the time
of the run, recorded in ``method`` / ``config``) on HiGHS and a 30 s limit: LSCP (unit costs,
every coverable block), MCLP (p = one facility per 25 blocks), p-median (same p, pairs capped
at the walking limit, an unserved block charged twice the limit); instances and runs are built
by :mod:`optimizer.bench.cities`. Each run is a fresh process: ``peak_mb`` is its own peak RSS.
``gen_s`` generates the points and the reach / pair lists, ``build_s`` is the configuration's
build (reductions, cost arrays, MILP), ``solve_s`` the rest; ``milp_build_s``, ``milp_rows``,
``milp_cols`` and ``milp_nnz`` describe the plain MILP of the same data (built after the solve,
so not in ``peak_mb``).
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
from optimizer.bench.suites import format_cell, frame_table, machine_info, merged_rows
from optimizer.models.covering import lscp, mclp
from optimizer.models.covering.lscp import LscpData
from optimizer.models.covering.mclp import MclpData
from optimizer.models.pmedian import model as pmedian
from optimizer.outputs import atomic_write, write_csv

HERE = Path(__file__).resolve().parent

CSV = HERE / "results" / "scaling.csv"
REPORT = HERE / "results" / "scaling.md"
LIMIT_S = 30.0
WALL_CAP_S = 300.0
MODELS = cities.MODELS


KEY = ["series", "model", "blocks", "sites", "radius"]
"""What identifies a run (a re-run with ``--only`` replaces the row of the same key)."""


def cases(quick: bool, only: str | None = None) -> list[dict[str, Any]]:
    """Every (series, blocks, sites, radius) point of the study and model, those whose
    ``series/model/blocks x sites/radius`` key matches ``only`` when it is given."""
    if quick:
        grid = [("blocks", 1_000, 400, 300.0), ("blocks", 3_000, 1_000, 300.0)]
    else:
        grid = [
            ("blocks", 5_000, 2_000, 300.0),
            ("blocks", 20_000, 5_000, 300.0),
            ("blocks", 50_000, 10_000, 300.0),
            ("blocks", 100_000, 20_000, 300.0),
            ("sites", 20_000, 2_000, 300.0),
            ("sites", 20_000, 10_000, 300.0),
            ("radius", 20_000, 5_000, 200.0),
            ("radius", 20_000, 5_000, 500.0),
            ("radius", 20_000, 5_000, 800.0),
        ]
    return [
        {"series": s, "blocks": n, "sites": m, "radius": r, "model": model}
        for s, n, m, r in grid
        for model in MODELS
        if only is None or re.search(only, f"{s}/{model}/{n}x{m}/{r:g}")
    ]


def milp_sizes(data: Any) -> dict[str, Any]:
    """Build time and size of the plain MILP of the same data (after the solve)."""
    t0 = time.perf_counter()
    if isinstance(data, LscpData):
        milp = lscp.build_model(data)
    elif isinstance(data, MclpData):
        milp = mclp.build_model(data)
    else:
        milp = pmedian.build_model(data)
    return {
        "milp_build_s": round(time.perf_counter() - t0, 3),
        "milp_rows": milp.num_rows,
        "milp_cols": milp.num_vars,
        "milp_nnz": int(milp.A.nnz),
    }


def run_case(case: dict[str, Any]) -> dict[str, Any]:
    """One case in this process, the model's default method (call through
    :func:`optimizer.bench.cities.in_subprocess`)."""
    row = cities.run_case(case, extra=milp_sizes)
    # the scaling tables name the configuration and the whole solve as they always did
    return {**row, "config": f"{row['method']} highs", "total_s": row["wall_s"]}


def exactness(df: pd.DataFrame) -> list[str]:
    """Per model and series: where the runs stop being proven optimal within the limit."""
    lines = []
    for (model, series), g in df.groupby(["model", "series"], sort=False):
        proven = g[g["status"] == "OPTIMAL"]
        not_proven = g[g["status"] != "OPTIMAL"]
        label = {
            "blocks": lambda r: f"{int(r['blocks']):,} x {int(r['sites']):,}",
            "sites": lambda r: f"{int(r['sites']):,} sites",
            "radius": lambda r: f"{r['radius']:g} m",
        }[str(series)]
        ok = ", ".join(label(r) for _, r in proven.iterrows()) or "none"
        if len(not_proven):
            worst = ", ".join(
                f"{label(r)} ({r['status']}, gap {format_cell(float(r.get('gap', np.nan)))})"
                for _, r in not_proven.iterrows()
            )
            lines.append(
                f"- **{model}, {series}**: proven optimal within {LIMIT_S:g} s at {ok}; "
                f"not exact at {worst}"
            )
        else:
            lines.append(f"- **{model}, {series}**: proven optimal at every point ({ok})")
    return lines


READING = (
    "Reading of the recorded run (30 s per run, 2026-12-07, defaults lscp-warm / mclp-warm / "
    "pmedian-benders (p-median from 1,000 points; its integer phase the master MIP below "
    "10,000 points, the Lagrangian tree from there), one run at a time, load about 0.1-2.1): "
    "LSCP is proven at 20,000 x 5,000 and 20,000 x 2,000 at 300 m and at 200 m; elsewhere it "
    "ends with a certified gap: 1.0 % at 5,000 x 2,000, 0.08 % at 50,000 x 10,000, 0.10 % at "
    "100,000 x 20,000, 0.64 % with 10,000 sites, 2.5 % at 500 m and 9.1 % at 800 m (the bound "
    "there is the LP relaxation's; the LSCP rows were re-run later that day on another 2-core "
    "machine (AMD EPYC, the first run an Intel Xeon), after the change "
    "that gives the time proven components leave back to the open ones: the runs that ended "
    "early at 50,000 x 10,000 and with 10,000 sites now use their 30 s, the gaps are as "
    "before; 500 / 800 m were 2.3 / 8.0 % in the first run: now a cover one site larger at "
    "500 m (477 against 476) and at 800 m the same cover with a bound 2 lower (170 against "
    "172), which the old code also gives under the same load): the "
    "containment reductions run at every size, but where walking areas overlap the "
    "integrality gap remains and exactness stops for LSCP. MCLP is "
    "proven at 20,000 x 2,000 and at 500-800 m; elsewhere within 0.25 % (0.05 % at 20,000 x "
    "5,000), except 0.58 % at 100,000 x 20,000 in 30 s (0.08 % in 120 s, city_targets.md). "
    "p-median certifies <= 0.1 % up to 50,000 x 10,000 at 200-300 m (0.019 % at 5,000 x "
    "2,000, where the MIP integer phase now runs: was 0.044 % with the tree; 0.10 % at 20,000 "
    "x 5,000, 0.07 % at 50,000 x 10,000), 0.15 / 0.09 % at 500 / 800 m and 0.34 % with "
    "10,000 sites; at 100,000 x 20,000, 30 s leave it at 3.7 % (0.11 % in 120 s). No run "
    "overran its limit by more than 0.8 s; builds under 0.8 s, no run passed 0.96 GB."
)


def growth(df: pd.DataFrame) -> list[str]:
    """Build time, plain-MILP size and peak memory at the largest instance of each model."""
    lines = []
    done = df[df["status"].isin(["OPTIMAL", "FEASIBLE"])]
    for model, g in done.groupby("model", sort=False):
        big = g.loc[g["blocks"].idxmax()]
        lines.append(
            f"- **{model}**: build at most {g['build_s'].max():.3g} s (plain MILP at most "
            f"{g['milp_build_s'].max():.3g} s, {int(g['milp_nnz'].max()):,} nonzeros); peak "
            f"memory at most {g['peak_mb'].max():.0f} MB; at {int(big['blocks']):,} x "
            f"{int(big['sites']):,}: build {big['build_s']:.3g} s, peak {big['peak_mb']:.0f} MB."
        )
    return lines


def report(df: pd.DataFrame, command: str) -> str:
    """The markdown report: machine, command, where exactness stops, growth, every run."""
    info = machine_info()
    cols = [
        "series",
        "model",
        "config",
        "blocks",
        "sites",
        "radius",
        "p",
        "pairs",
        "status",
        "objective",
        "bound",
        "gap",
        "gen_s",
        "build_s",
        "solve_s",
        "total_s",
        "peak_mb",
        "milp_build_s",
        "milp_rows",
        "milp_cols",
        "milp_nnz",
        "load_start",
        "load_end",
    ]
    cols = [c for c in cols if c in df.columns]
    lines = [
        "# Scaling study: LSCP, MCLP and p-median on city-like instances",
        "",
        f"Machine: {info['processor']}, {info['cores']} cores, {info['memory_gb']} GB; "
        f"{info['platform']}",
        f"Versions: Python {info['python']}, highspy {info['highspy']}, numpy {info['numpy']}, "
        f"scipy {info['scipy']}, pandas {info['pandas']}",
        "",
        f"Command: `{command}` (a run with `--only` replaces the rows it re-ran and keeps the "
        "others)",
        "",
        "Instances, models, configurations and columns: see the docstring of "
        f"`benchmarks/scaling.py`. Time limit {LIMIT_S:g} s per run (HiGHS threads: default), "
        "one run at a time, each in a fresh process; the machine is shared (load columns).",
        "",
        "## Where it stops being exact",
        "",
        *exactness(df),
        "",
        *growth(df),
        "",
        READING,
        "",
        "## Runs",
        "",
        frame_table(df, cols),
    ]
    return "\n".join(lines) + "\n"


def in_study_order(df: pd.DataFrame) -> pd.DataFrame:
    """``df``'s rows in the order of :func:`cases` (a re-run's rows go back to their place)."""
    place = {tuple(str(c[k]) for k in KEY): i for i, c in enumerate(cases(False))}
    keys = df[KEY].astype(str).itertuples(index=False, name=None)
    return df.iloc[np.argsort([place.get(k, len(place)) for k in keys], kind="stable")]


def save(df: pd.DataFrame, command: str) -> None:
    df = in_study_order(df)
    CSV.parent.mkdir(parents=True, exist_ok=True)
    write_csv(CSV, df)
    text = report(df, command)
    atomic_write(REPORT, lambda p: p.write_text(text, encoding="utf-8"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--case", help=argparse.SUPPRESS)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--report-only", action="store_true")
    ap.add_argument("--budget-min", type=float, default=22.0, help="skip runs after this")
    ap.add_argument("--only", help="regular expression on series/model/NxM/radius; the rows "
                    "it re-runs replace theirs, the others are kept")  # fmt: skip
    args = ap.parse_args()
    if args.case:
        print(json.dumps(run_case(json.loads(args.case)), default=float))
        return
    command = "python benchmarks/scaling.py " + shlex.join(sys.argv[1:])
    if args.report_only:
        # the rows come from the full run; the report names its command
        save(pd.read_csv(CSV, encoding="utf-8-sig"), "python benchmarks/scaling.py")
        return
    started = time.perf_counter()
    rows = []
    for case in cases(args.quick, args.only):
        case["limit"] = 5.0 if args.quick else LIMIT_S
        elapsed = (time.perf_counter() - started) / 60
        if elapsed > args.budget_min:
            row = {**case, "status": "SKIPPED", "message": "not run: time budget spent"}
        else:
            row = cities.in_subprocess(__file__, case, WALL_CAP_S)
        print(
            f"[{elapsed:5.1f} min] {case['series']} {case['model']} {case['blocks']}x"
            f"{case['sites']} {case['radius']:g} m: {row.get('status')} gap {row.get('gap')} "
            f"build {row.get('build_s')} solve {row.get('solve_s')} peak {row.get('peak_mb')} MB",
            flush=True,
        )
        rows.append(row)
        if not args.quick:
            done = pd.DataFrame(rows)
            save(merged_rows(CSV, done, KEY) if args.only else done, command.strip())


if __name__ == "__main__":
    main()
