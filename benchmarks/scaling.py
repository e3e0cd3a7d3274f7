"""Scaling study of issue 7: build time, solve time and memory against blocks, sites and the
walking limit, for LSCP, MCLP and p-median on city-like instances up to 100,000 blocks.

::

    .venv/bin/python benchmarks/scaling.py                # the full study (~20 min), writes
                                                          # results/scaling.csv and scaling.md
    .venv/bin/python benchmarks/scaling.py --quick        # small smoke run, nothing written
    .venv/bin/python benchmarks/scaling.py --report-only

Instances: ``city_like(blocks, sites, seed=0)`` (``optimizer.bench.generators``). Three series:

* ``blocks``: 5,000 x 2,000, 20,000 x 5,000, 50,000 x 10,000, 100,000 x 20,000 at 300 m;
* ``sites``: 20,000 blocks with 2,000, 10,000 sites at 300 m (5,000: from the blocks series);
* ``radius``: 20,000 x 5,000 at 200, 500 and 800 m (300 m: from the blocks series).

Models, each with this project's best configuration on HiGHS and a 30 s limit: LSCP
(``lscp-warm``, unit costs, every coverable block), MCLP (``mclp-warm``, p = one facility per 25
blocks), p-median (``pmedian-exact``, same p, pairs capped at the walking limit, an unserved
block charged twice the limit). Each run is a fresh process: ``peak_mb`` is its own peak RSS.
``gen_s`` generates the points and the reach / pair lists, ``build_s`` is the configuration's
build (reductions, cost arrays, MILP), ``solve_s`` the rest; ``milp_build_s``, ``milp_rows``,
``milp_cols`` and ``milp_nnz`` describe the plain MILP of the same data (built after the solve,
so not in ``peak_mb``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from optimizer.backends import SolveOptions
from optimizer.bench.generators import city_like
from optimizer.classic.registry import solve_classic
from optimizer.models.covering import lscp, mclp
from optimizer.models.covering.lscp import LscpData
from optimizer.models.covering.mclp import MclpData
from optimizer.models.pmedian import model as pmedian
from optimizer.models.pmedian.model import PMedianData
from optimizer.outputs import atomic_write, write_csv

HERE = Path(__file__).resolve().parent
CSV = HERE / "results" / "scaling.csv"
REPORT = HERE / "results" / "scaling.md"
LIMIT_S = 30.0
WALL_CAP_S = 300.0
BEST = {"lscp": "lscp-warm", "mclp": "mclp-warm", "pmedian": "pmedian-exact"}
MODELS = ("lscp", "mclp", "pmedian")


def cases(quick: bool) -> list[dict[str, Any]]:
    """Every (series, blocks, sites, radius) point of the study."""
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
    ]


def make_data(case: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """The model data of one case and its sizes."""

    prob = city_like(case["blocks"], case["sites"], seed=0)
    radius = case["radius"]
    p = max(1, case["blocks"] // 25)
    if case["model"] == "pmedian":
        pairs = prob.pairs(radius)
        data: Any = PMedianData.from_arrays(
            pairs, p, prob.weight, max_distance=radius, unserved_penalty=2 * radius
        )
        return data, {"p": p, "pairs": int(pairs.size)}
    reach = prob.reach(radius)
    if case["model"] == "lscp":
        coverable = np.diff(reach.indptr) > 0
        data = LscpData.from_arrays(reach[coverable], np.ones(reach.shape[1]))
        return data, {"pairs": int(reach.nnz), "uncoverable": int((~coverable).sum())}
    return MclpData.from_arrays(reach, prob.weight, p), {"p": p, "pairs": int(reach.nnz)}


def run_case(case: dict[str, Any]) -> dict[str, Any]:
    """One case in this process (call through :func:`in_subprocess`)."""

    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    data, sizes = make_data(case)
    gen_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    res = solve_classic(
        BEST[case["model"]], data, "highs", SolveOptions(time_limit_s=case["limit"], seed=0)
    )
    wall = time.perf_counter() - t1
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t2 = time.perf_counter()
    if case["model"] == "lscp":
        milp = lscp.build_model(data)
    elif case["model"] == "mclp":
        milp = mclp.build_model(data)
    else:
        milp = pmedian.build_model(data)
    milp_s = time.perf_counter() - t2
    return {
        **case,
        **sizes,
        "config": f"{BEST[case['model']]} highs",
        "status": res.status.value,
        "objective": res.objective,
        "bound": res.bound,
        "gap": res.gap,
        "gen_s": round(gen_s, 3),
        "build_s": round(res.build_s, 3),
        "solve_s": round(wall - res.build_s, 3),
        "total_s": round(wall, 3),
        "peak_mb": round(peak, 1),
        "milp_build_s": round(milp_s, 3),
        "milp_rows": milp.num_rows,
        "milp_cols": milp.num_vars,
        "milp_nnz": int(milp.A.nnz),
        "load_start": round(load0, 2),
        "load_end": round(os.getloadavg()[0], 2),
        "message": res.result.message,
    }


def in_subprocess(case: dict[str, Any]) -> dict[str, Any]:
    try:
        proc = subprocess.run(
            [sys.executable, __file__, "--case", json.dumps(case)],
            capture_output=True,
            text=True,
            check=False,
            timeout=WALL_CAP_S,
        )
    except subprocess.TimeoutExpired:
        return {**case, "status": "TIMEOUT", "message": f"killed after {WALL_CAP_S:.0f} s"}
    if proc.returncode != 0:
        tail = " / ".join(proc.stderr.strip().splitlines()[-3:])[-300:]
        return {**case, "status": "ERROR", "message": tail}
    row: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return row


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        if v != v:
            return ""
        return f"{v:.4g}" if abs(v) < 1e5 else f"{v:.0f}"
    return str(v).replace("|", "/")


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
                f"{label(r)} ({r['status']}, gap {_fmt(float(r.get('gap', np.nan)))})"
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
    "Reading of the recorded run (30 s per run): exactness is not monotone in size, it follows "
    "the structure. LSCP is proven at 20,000 x 5,000 (300 m), 20,000 x 2,000 and at 200 m; "
    "its gap grows with sites per block (3.6 % with 10,000 sites) and with the walking limit "
    "(no finite bound within 30 s at 500 m, 32 % at 800 m). MCLP stays within 1.1 % "
    "everywhere up to 100,000 x 20,000 and is proven at 500-800 m, where the heuristic meets "
    "the bound. p-median (pmedian-exact, pairs capped at the walking limit) certifies <= 0.11 % "
    "up to 20,000 x 5,000 at 200-300 m; from 50,000 blocks, 10,000 sites or a 500 m limit its "
    "Lagrangian bound does not close within 30 s (gaps 26-41 %, no finite bound at "
    "100,000 x 20,000): there the project gives a verified solution but not a useful "
    "certificate at this time limit. Build time and memory are not the limit: the largest "
    "model builds in well under a second and no run passed ~0.5 GB."
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
    sys.path.insert(0, str(HERE))
    from peers import machine

    info = machine()
    cols = [
        "series",
        "model",
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
        f"Command: `{command}`",
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
        "| " + " | ".join(cols) + " |",
        "|" + "---|" * len(cols),
    ]
    for _, r in df.iterrows():
        lines.append("| " + " | ".join(_fmt(r[c]) for c in cols) + " |")
    return "\n".join(lines) + "\n"


def save(df: pd.DataFrame, command: str) -> None:
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
    for case in cases(args.quick):
        case["limit"] = 5.0 if args.quick else LIMIT_S
        elapsed = (time.perf_counter() - started) / 60
        if elapsed > args.budget_min:
            row = {**case, "status": "SKIPPED", "message": "not run: time budget spent"}
        else:
            row = in_subprocess(case)
        print(
            f"[{elapsed:5.1f} min] {case['series']} {case['model']} {case['blocks']}x"
            f"{case['sites']} {case['radius']:g} m: {row.get('status')} gap {row.get('gap')} "
            f"build {row.get('build_s')} solve {row.get('solve_s')} peak {row.get('peak_mb')} MB",
            flush=True,
        )
        rows.append(row)
        if not args.quick:
            save(pd.DataFrame(rows), command.strip())


if __name__ == "__main__":
    main()
