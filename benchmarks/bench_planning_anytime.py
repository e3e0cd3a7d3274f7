"""Anytime quality of the planning model: what a short run plans, against the best plan known.

Runs ``siting plan SCENARIO --time-limit T`` as a planner would (a fresh process, outputs in
a temporary folder) ``--repeat`` times for each limit, reading each run's coverage points,
its clock at the end of solving and checks, and the process's wall time (deliverables
included). Then compares the first phase's methods on the same model (the MIP warm-started
from the primal heuristic, and the Lagrangian decomposition started from it) at each limit,
and finds the best plan known by a long decomposition run (``--long-s``), recording its
certified bound. Prints a markdown report (also written to ``--out``) with the machine's
load average before and after every measurement: the machine may be shared.

    python benchmarks/bench_planning_anytime.py [--scenario scenarios/sample-city-phased.yaml] \
        [--limits 5 30] [--repeat 2] [--long-s 240] \
        [--out benchmarks/results/planning_anytime.md]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from optimizer.backends import SolveOptions, get_backend
from optimizer.models.planning import model as planning
from optimizer.models.planning import solve as planning_solve
from optimizer.pipeline import planning_data, prepare
from optimizer.scenario import load_scenario

ACCEPT = {5.0: 0.02, 30.0: 0.005}
"""The issue's acceptance: the gap to the best plan known allowed at each time limit."""


@dataclass
class CliRun:
    limit: float
    value: float
    elapsed_s: float
    wall_s: float
    solver: str
    headline: str
    load: tuple[float, float]


@dataclass
class MethodRun:
    method: str
    limit: float
    value: float
    bound: float
    heuristic: float
    seconds: float
    solver: str
    load: tuple[float, float]


def load1() -> float:
    return os.getloadavg()[0]


def cli_run(scenario: Path, limit: float) -> CliRun:
    """One ``siting plan`` process; its coverage points and times from ``summary.json``."""
    before = load1()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        t0 = time.perf_counter()
        cmd = [sys.executable, "-m", "optimizer.cli", "plan", str(scenario)]
        cmd += ["--time-limit", str(limit), "--out", str(out), "-q"]
        subprocess.run(cmd, check=True, capture_output=True)
        wall = time.perf_counter() - t0
        summary = json.loads((out / "summary.json").read_text("utf-8"))
    return CliRun(
        limit,
        float(summary["objectives"]["coverage"]),
        float(summary["timings"]["elapsed_s"]),
        wall,
        str(summary.get("solver", "")),
        str(summary.get("headline", "")),
        (before, load1()),
    )


def method_run(data: planning.PlanningData, method: str, limit: float, gap: float) -> MethodRun:
    """The first phase alone (coverage, cost as tie-break) by one method within ``limit``."""
    before = load1()
    t0 = time.perf_counter()
    out = planning_solve.solve(
        data,
        ["coverage"],
        get_backend("highs"),
        SolveOptions(time_limit_s=limit, mip_gap=gap),
        tiebreak="cost",
        method=method,  # type: ignore[arg-type]
        reassign=False,
    )
    seconds = time.perf_counter() - t0
    res = out.result
    return MethodRun(
        method,
        limit,
        float(res.objective),
        float(res.bound),
        float(res.extra.get("heuristic_value", np.nan)),  # type: ignore[arg-type]
        seconds,
        res.solver,
        (before, load1()),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scenario", default="scenarios/sample-city-phased.yaml")
    parser.add_argument("--limits", type=float, nargs="+", default=[5.0, 30.0])
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--long-s", type=float, default=240.0, help="0: no long run")
    parser.add_argument(
        "--best-known",
        type=float,
        nargs=2,
        metavar=("PLAN", "BOUND"),
        help="a plan value and certified bound found earlier (e.g. by a long run on a quieter "
        "machine): the gaps are taken against the best of it and this run's plans",
    )
    parser.add_argument("--no-compare", action="store_true", help="skip the method comparison")
    parser.add_argument("--out", default="benchmarks/results/planning_anytime.md")
    args = parser.parse_args()
    scenario = Path(args.scenario)
    started = datetime.now(UTC)

    runs = [cli_run(scenario, lim) for lim in args.limits for _ in range(args.repeat)]
    for r in runs:
        print(f"cli {r.limit:g} s: {r.value:.3f} points, clock {r.elapsed_s:.2f} s", flush=True)

    sc = load_scenario(scenario)
    data = planning_data(prepare(sc).instance, sc.model)
    gap = sc.solver.mip_gap
    compare: list[MethodRun] = []
    if not args.no_compare:
        for lim in args.limits:
            for method in ("mip", "decomposition"):
                compare.append(method_run(data, method, lim, gap))
                m = compare[-1]
                print(f"{method} {lim:g} s: {m.value:.3f} (bound {m.bound:.3f})", flush=True)
    long = None
    if args.long_s > 0:
        long = method_run(data, "decomposition", args.long_s, 1e-3)
        print(f"long decomposition {args.long_s:g} s: {long.value:.3f} (bound {long.bound:.3f})")

    seen = [(r.value, f"`siting plan --time-limit {r.limit:g}`") for r in runs]
    seen += [(m.value, f"{m.method} at {m.limit:g} s (first phase alone)") for m in compare]
    bounds = [(m.bound, f"{m.method} at {m.limit:g} s") for m in compare if np.isfinite(m.bound)]
    if long is not None:
        seen.append((long.value, f"decomposition run for {args.long_s:g} s (mip_gap 0.1 %)"))
        bounds.append((long.bound, f"the decomposition run for {args.long_s:g} s"))
    if args.best_known:
        seen.append((args.best_known[0], "an earlier run (given by `--best-known`)"))
        bounds.append((args.best_known[1], "an earlier run (given by `--best-known`)"))
    best, how = max(seen, key=lambda v: v[0])
    bound, bound_how = min(bounds, key=lambda v: v[0])

    text = report(args, scenario, started, runs, compare, long, (best, how), (bound, bound_how))
    Path(args.out).write_text(text, encoding="utf-8")
    print(text)


def report(
    args: argparse.Namespace,
    scenario: Path,
    started: datetime,
    runs: list[CliRun],
    compare: list[MethodRun],
    long: MethodRun | None,
    best_how: tuple[float, str],
    bound_how: tuple[float, str],
) -> str:
    """The markdown report."""
    best, how = best_how
    bound, bound_from = bound_how
    lines = [
        "# Planning model: anytime quality",
        "",
        f"Scenario `{scenario}`; measured {started:%Y-%m-%d %H:%M} UTC on {platform.node()} "
        f"({os.cpu_count()} cores, Python {platform.python_version()}), with "
        "`python benchmarks/bench_planning_anytime.py "
        f"--limits {' '.join(f'{v:g}' for v in args.limits)} --repeat {args.repeat} "
        f"--long-s {args.long_s:g}"
        + (
            f" --best-known {args.best_known[0]:g} {args.best_known[1]:g}"
            if args.best_known
            else ""
        )
        + "`. The machine is shared: the load average (1 min) is given "
        "before and after each measurement.",
        "",
        f"**Best plan known: {best:.3f} coverage points**, found by {how}. "
        f"Best certified bound: {bound:.3f}, from {bound_from}, so the optimum lies in "
        f"[{best:.3f}, {bound:.3f}] (gap {100 * (bound - best) / best:.2f} %).",
        "",
        "Before the primal heuristic (issue 17), the MIP started from nothing and two "
        "`--time-limit 5` runs of this scenario planned 97.9 and 452.9 points.",
        "",
        "## `siting plan` runs",
        "",
        "Gap = (best known - plan) / best known. *Clock* is the run's deadline clock when "
        "solving and checks end (it must stay within the limit); *wall* is the whole process, "
        "start-up and deliverables (report, maps, workbook) included.",
        "",
        "| limit (s) | coverage points | gap to best | accept | clock (s) | wall (s) "
        "| solver | load before/after |",
        "|---:|---:|---:|---|---:|---:|---|---|",
    ]
    for r in runs:
        g = (best - r.value) / best
        allowed = ACCEPT.get(r.limit)
        ok = "" if allowed is None else ("yes" if g <= allowed else "NO") + f" (≤ {allowed:.1%})"
        lines.append(
            f"| {r.limit:g} | {r.value:.3f} | {g:.2%} | {ok} | {r.elapsed_s:.2f} | {r.wall_s:.1f} "
            f"| {r.solver} | {r.load[0]:.2f} / {r.load[1]:.2f} |"
        )
    if compare:
        lines += [
            "",
            "## First phase by method",
            "",
            "The coverage phase alone (no re-assignment, checks or deliverables), both methods "
            "started from the primal heuristic's plan (`heuristic`), on the same model.",
            "",
            "| method | limit (s) | heuristic | plan | bound | gap to best | time (s) "
            "| load before/after |",
            "|---|---:|---:|---:|---:|---:|---:|---|",
        ]
        for m in compare:
            lines.append(
                f"| {m.method} | {m.limit:g} | {m.heuristic:.3f} | {m.value:.3f} | {m.bound:.3f} "
                f"| {(best - m.value) / best:.2%} | {m.seconds:.1f} "
                f"| {m.load[0]:.2f} / {m.load[1]:.2f} |"
            )
    if long is not None:
        lines += [
            "",
            "## Best plan known",
            "",
            f"Decomposition for {long.limit:g} s with `mip_gap` 0.1 %: plan {long.value:.3f}, "
            f"bound {long.bound:.3f}, heuristic start {long.heuristic:.3f}, "
            f"{long.seconds:.1f} s, load {long.load[0]:.2f} / {long.load[1]:.2f}.",
        ]
    lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
