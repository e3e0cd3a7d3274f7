"""TSPLIB p-median (issue 19): ``pmedian-exact`` and ``pmedian-benders`` side by side.

::

    .venv/bin/python benchmarks/bench_tsplib.py                       # all, 60 s each
    .venv/bin/python benchmarks/bench_tsplib.py --instances rl1304 --p 10 100 --methods benders
    .venv/bin/python benchmarks/bench_tsplib.py --report-only

Instances: the TSPLIB points of ``../shared/benchmarks/tsplib`` (every point a client and a
site, weight 1, Euclidean distances rounded down, all pairs; the ``tsplib`` suite of
``siting bench``), p in {10, 100, 500}. Target: certified gap <= 0.1 % within 60 s.

One run at a time, each in a fresh interpreter (its peak resident memory is its own). Columns:
``wall_s`` the solve as ``solve_classic`` runs it (data built before); ``gap`` certified
(objective - bound) / objective; ``load_1min`` ``os.getloadavg()[0]`` when the run started
(other work shares the machine). Rows are kept in ``results/tsplib.csv`` (a rerun replaces
its row, each row saved as soon as it is done); ``results/tsplib.md`` is rebuilt from it.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd

from optimizer.backends import SolveOptions
from optimizer.bench.instances import read_tsplib
from optimizer.bench.suites import machine_info, peak_rss_mb
from optimizer.classic.registry import solve_classic

HERE = Path(__file__).resolve().parent
CSV = HERE / "results" / "tsplib.csv"
REPORT = HERE / "results" / "tsplib.md"
INSTANCES = ("rl1304", "fl1400", "u1432", "vm1748", "d2103")
P_VALUES = (10, 100, 500)
METHODS = ("exact", "benders")
TARGET_GAP = 0.001
KEY = ["instance", "p", "method", "time_limit_s"]


def run_one(instance: str, p: int, method: str, limit: float) -> dict[str, Any]:
    """One run in this process (call through :func:`in_subprocess`)."""
    load = os.getloadavg()[0]
    data = read_tsplib(instance).data(p)
    t0 = time.perf_counter()
    res = solve_classic(f"pmedian-{method}", data, "highs", SolveOptions(time_limit_s=limit))
    wall = time.perf_counter() - t0
    extra = res.result.extra
    return {
        "instance": instance,
        "p": p,
        "method": method,
        "time_limit_s": limit,
        "status": res.status.value,
        "objective": res.objective,
        "bound": res.bound,
        "gap": res.gap,
        "wall_s": round(wall, 2),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "proven_by": extra.get("proven_by", ""),
        "verified": res.report.passed,
        "load_1min": round(load, 2),
        "phases": json.dumps(
            {k: (round(v, 2) if isinstance(v, float) else v) for k, v in extra.items()},
            default=str,
        ),
    }


def in_subprocess(instance: str, p: int, method: str, limit: float) -> dict[str, Any]:
    """Run one case in a fresh interpreter; its JSON row comes back on stdout."""
    spec = json.dumps({"instance": instance, "p": p, "method": method, "limit": limit})
    cmd = [sys.executable, __file__, "--child", spec]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"{instance} p={p} {method} failed:\n{out.stderr[-4000:]}")
    row: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return row


def fmt(v: Any) -> str:
    if v is None or (isinstance(v, float) and v != v):
        return ""
    if isinstance(v, float):
        return f"{v:.6g}" if abs(v) < 1e6 else f"{v:,.0f}"
    return str(v)


def report(df: pd.DataFrame, command: str) -> str:
    info = machine_info()
    lines = [
        "# TSPLIB p-median: pmedian-exact vs pmedian-benders (issue 19)",
        "",
        f"Machine: {info['processor']}, {info['cores']} logical CPUs, {info['memory_gb']} GB; "
        f"{info['platform']}; Python {info['python']}, numpy {info['numpy']}, "
        f"highspy {info['highspy']}",
        "",
        f"Last command: `{command}`",
        "",
        "Every point a client and a site, weight 1, Euclidean distances rounded down, all "
        "pairs. Target: certified gap <= 0.1 % within 60 s. `gap`: (objective - bound) / "
        "objective; `wall_s`: the solve; `load_1min`: load average when the run started "
        "(the machine is shared: timings are under that load).",
        "",
    ]
    cols = [
        "instance",
        "p",
        "method",
        "status",
        "objective",
        "bound",
        "gap",
        "target_met",
        "wall_s",
        "peak_rss_mb",
        "proven_by",
        "load_1min",
    ]
    part = df.copy()
    part["gap"] = part["gap"].map(lambda g: "" if g != g else f"{100 * g:.4f} %")
    lines.append("| " + " | ".join(cols) + " |")
    lines.append("|" + "|".join("---" for _ in cols) + "|")
    for _, r in part.iterrows():
        lines.append("| " + " | ".join(fmt(r[c]) for c in cols) + " |")
    lines += ["", "Phases (from `result.extra`):", ""]
    for _, r in df.iterrows():
        lines.append(f"* {r['instance']} p={r['p']} {r['method']}: `{r['phases']}`")
    lines.append("")
    return "\n".join(lines)


def save(rows: list[dict[str, Any]], command: str) -> pd.DataFrame:
    new = pd.DataFrame(rows)
    if CSV.exists():
        merged = pd.concat([pd.read_csv(CSV), new], ignore_index=True)
        df = merged.drop_duplicates(KEY, keep="last").reset_index(drop=True)
    else:
        df = new
    df["target_met"] = df["gap"].notna() & (df["gap"] <= TARGET_GAP + 1e-12)
    df = df.sort_values(["instance", "p", "method"], kind="stable").reset_index(drop=True)
    CSV.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(CSV, index=False)
    REPORT.write_text(report(df, command))
    return df


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--instances", nargs="+", default=list(INSTANCES))
    ap.add_argument("--p", nargs="+", type=int, default=list(P_VALUES))
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    ap.add_argument("--time-limit", type=float, default=60.0)
    ap.add_argument("--report-only", action="store_true")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        spec = json.loads(args.child)
        row = run_one(spec["instance"], spec["p"], spec["method"], spec["limit"])
        print(json.dumps(row))
        return 0
    command = shlex.join([Path(sys.executable).name, *sys.argv])
    if args.report_only:
        save([], command)
        return 0
    for instance in args.instances:
        for p in args.p:
            for method in args.methods:
                row = in_subprocess(instance, p, method, args.time_limit)
                print(
                    f"{instance} p={p} {method}: {row['status']} obj {row['objective']:.0f} "
                    f"bound {row['bound']:.0f} gap {100 * row['gap']:.4f} % "
                    f"{row['wall_s']:.1f} s {row['peak_rss_mb']:.0f} MB load {row['load_1min']}",
                    flush=True,
                )
                save([row], command)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
