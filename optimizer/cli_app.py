"""The ``siting`` command's subcommands but ``solve`` (see :mod:`optimizer.cli`).

Every failure ends with a one-paragraph message and an exit code, never a traceback (``-v``
adds one): bad input 2, a request that cannot be met 3, solver failures 4, an output folder
the run may not or cannot write (see :mod:`optimizer.outputs`; file-system errors) 5, Ctrl-C
130, an internal error 1. The table is :data:`optimizer.errors.EXIT_CODES`.
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.logging import RichHandler
from rich.table import Table

from optimizer import cli_base, cli_solve
from optimizer.backends import get_backend
from optimizer.bench.configs import load_configs
from optimizer.bench.plots import best_per_suite, gap_over_time, performance_profile
from optimizer.bench.suites import (
    config_summary_markdown,
    run_configs,
    run_suite,
    select_instances,
    summary_markdown,
)
from optimizer.cli_base import gap_fraction, positive_int, positive_number
from optimizer.distances.engine import make_engine
from optimizer.distances.table import block_site_table
from optimizer.inputs import read_inputs
from optimizer.outputs import (
    atomic_write,
    check_output_folder,
    staged_run,
    write_csv,
    write_json,
)
from optimizer.pipeline import (
    decided_planning_data,
    default_out_dir,
    run_plan,
    scenario_files,
)
from optimizer.pipeline import prepare as prepare_instance
from optimizer.prepare import load_recipe, prepare
from optimizer.progress import capture_log, progress_display
from optimizer.runs import add_runs_parser
from optimizer.scenario import load_scenario
from optimizer.sweep import add_sweep_parser
from optimizer.version import __version__

log = logging.getLogger("optimizer")
EXIT_INPUT, EXIT_INFEASIBLE, EXIT_SOLVER, EXIT_OUTPUT = 2, 3, 4, 5


def main(argv: Sequence[str] | None = None, started: float | None = None) -> int:
    """Entry point of ``siting`` (every subcommand); returns the exit code
    (:data:`optimizer.errors.EXIT_CODES`).

    A usage error (unknown option, a number out of range) exits 2 from argparse. ``started``:
    ``time.monotonic()`` at the start of the process (``siting solve`` counts its time limit
    from it; default: now).
    """
    args = build_parser().parse_args(argv)
    args.process_started = time.monotonic() if started is None else started
    return cli_base.run_command(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="siting",
        description="Community facility siting optimizer (5/10/15-minute life circles).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    common = cli_base.common_options()
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser(
        "plan",
        parents=[common],
        help="plan a scenario: ranked construction list, coverage, summary",
        description="Run the planning model on a scenario file and write its outputs.",
    )
    p.add_argument("scenario", type=Path, help="scenario YAML file")
    p.add_argument("--out", type=Path, help="output folder (default: reports/<scenario name>)")
    p.add_argument("--solver", help="solver backend (default: the scenario's, else highs)")
    p.add_argument(
        "--time-limit",
        type=positive_number,
        help="time limit of the whole run in seconds: every solve and check shares it",
    )
    p.add_argument(
        "--lang", choices=("zh", "en"), default="zh", help="language of the report (default: zh)"
    )
    p.add_argument(
        "--continue-from",
        type=Path,
        metavar="RUN_DIR",
        help="an earlier run's folder (read only): its construction list's rows through "
        "--adopt-through are committed, so this plan starts where that one was adopted",
    )
    p.add_argument(
        "--adopt-through",
        type=int,
        metavar="YEAR",
        help="with --continue-from: commit the earlier rows up to this year (default: the "
        "earlier plan's first year)",
    )
    p.set_defaults(func=_cmd_plan)

    v = sub.add_parser(
        "validate",
        parents=[common],
        help="check a scenario and its input tables; list every problem",
        description="Check a scenario file and its input tables without solving.",
    )
    v.add_argument("scenario", type=Path, help="scenario YAML file")
    v.set_defaults(func=_cmd_validate)

    d = sub.add_parser(
        "distances",
        parents=[common],
        help="write the block x site walking-distance table of a scenario",
        description=(
            "Compute walking distances between every block and candidate site within the "
            "largest walking limit in play (or --limit) with the scenario's distance mode, and "
            "write distances.parquet, distances.csv (block_id, site_id, distance_m) and "
            "distances.json."
        ),
    )
    d.add_argument("scenario", type=Path, help="scenario YAML file")
    d.add_argument(
        "--out", type=Path, help="output folder (default: reports/<scenario name>-distances)"
    )
    d.add_argument("--limit", type=positive_number, help="largest distance kept, metres")
    d.set_defaults(func=_cmd_distances)
    _add_prepare_parser(sub, common)
    cli_solve.add_solve_parser(sub, common)
    _add_bench_parser(sub, common)
    add_runs_parser(sub, common)
    add_sweep_parser(sub, common)
    return parser


def _add_prepare_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    r = sub.add_parser(
        "prepare",
        parents=[common],
        help="turn raw data (OSM, rasters, spreadsheets) into inputs, a scenario and a report",
        description=(
            "Read the raw sources a recipe names (an OSM extract, building footprints, "
            "community polygons, population rasters, spreadsheets of idle buildings and POIs, "
            "street lines) and write inputs.gpkg, scenario.yaml (ready for `siting plan`) and "
            "the data-quality report quality.md / quality.json."
        ),
    )
    r.add_argument("recipe", type=Path, help="prepare recipe YAML file")
    r.add_argument("--out", type=Path, help="output folder (default: reports/<name>-prepared)")
    r.set_defaults(func=_cmd_prepare)


def _cmd_prepare(args: argparse.Namespace) -> int:
    recipe = load_recipe(args.recipe)
    out = args.out or Path("reports") / f"{recipe.name}-prepared"
    result = prepare(recipe, out)
    report = result.report
    pieces = f", {report.network['pieces']} network pieces" if report.network else ""
    Console(soft_wrap=True).print(
        f"[green]prepared[/]: {report.n_blocks} blocks ({report.totals['population']:,.0f} "
        f"residents), {sum(report.sites_by_kind.values())} candidate sites, "
        f"{sum(report.existing_by_type.values())} existing facilities{pieces}; CRS "
        f"{report.crs}\n  {result.scenario}\n  {result.report_md}\n"
        f"next: siting plan {result.scenario}",
        highlight=False,
    )
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    scenario = load_scenario(args.scenario)
    # inputs, the network or table, the distances, then committed / excluded sites against them
    prepared = prepare_instance(scenario)
    inputs, engine = prepared.inputs, prepared.engine
    assert engine is not None  # prepare() always builds the run's engine
    decided = decided_planning_data(scenario, prepared.instance).committed
    settled = ""
    if decided is not None:
        settled = (
            f"; {int(decided.committed.sum())} committed and {int(decided.excluded.sum())} "
            "excluded sites checked"
        )
    Console(soft_wrap=True).print(
        f"[green]ok[/]: {args.scenario} — {len(inputs.blocks)} blocks, {len(inputs.sites)} "
        f"candidate sites, {len(inputs.existing)} existing facilities, CRS "
        f"{inputs.crs.to_string()}, types {', '.join(scenario.facility_types)}; distances: "
        f"{engine.describe()}{settled}"
    )
    return 0


def _cmd_distances(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    scenario = load_scenario(args.scenario)
    default = default_out_dir(scenario)
    out = args.out or default.with_name(f"{default.name}-distances")
    check_output_folder(out, scenario_files(scenario))  # before any work
    inputs = read_inputs(scenario)
    engine = make_engine(scenario.distances, inputs)
    limit = args.limit or max(t.walk_limit_m for t in scenario.catalog.values())
    table = block_site_table(inputs, engine, limit)
    meta = {
        "scenario": scenario.name,
        "distance_mode": engine.mode,
        "distance_note": engine.describe(),
        "limit_m": limit,
        "blocks": len(inputs.blocks),
        "sites": len(inputs.sites),
        "pairs": len(table),
        "crs": inputs.crs.to_string(),
        "seconds": round(time.perf_counter() - started, 3),
        "version": __version__,
    }
    with staged_run(out, scenario_files(scenario)) as stage:
        atomic_write(stage / "distances.parquet", lambda p: table.to_parquet(p, index=False))
        write_csv(stage / "distances.csv", table)
        write_json(stage / "distances.json", meta)
    if not args.quiet:
        Console(soft_wrap=True).print(
            f"{len(table):,} block-site pairs within {limit:g} m ({engine.mode}: "
            f"{engine.describe()}) in {meta['seconds']:.1f} s\n"
            f"outputs: {out}/distances.parquet, distances.csv, distances.json"
        )
    return 0


def _cmd_plan(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    console = next(
        (h.console for h in logging.getLogger().handlers if isinstance(h, RichHandler)),
        Console(stderr=True),
    )
    level = logging.DEBUG if args.verbose else logging.INFO
    with capture_log(level), progress_display(console, not args.quiet and console.is_terminal):
        run = run_plan(
            args.scenario,
            out_dir=args.out,
            solver=args.solver,
            time_limit_s=args.time_limit,
            lang=args.lang,
            continue_from=args.continue_from,
            adopt_through=args.adopt_through,
        )
    elapsed = time.perf_counter() - started
    if not args.quiet:
        _print_plan_summary(run.summary, run.out_dir, elapsed)
    return 0


def _print_plan_summary(summary: dict[str, object], out_dir: Path | None, elapsed: float) -> None:
    # a pipe or `make` gets 80 columns by default: widen so the table does not wrap
    console = Console(width=None if sys.stdout.isatty() else 110)
    table = Table(title=f"Plan for {summary['scenario']}", title_justify="left")
    headers = ("type", "target group", "covered before", "covered after", "built", "fit-out (yuan)")
    for col in headers:
        table.add_column(col, justify="left" if col in headers[:2] else "right", no_wrap=True)
    totals = summary["totals"]
    assert isinstance(totals, dict)
    for key, row in totals["per_type"].items():
        table.add_row(
            key,
            str(row["target_group"]),
            f"{row['covered_before']:,.0f} ({row['covered_before_pct']:.1f}%)",
            f"{row['covered_after']:,.0f} ({row['covered_after_pct']:.1f}%)",
            str(row["facilities_built"]),
            f"{row['fitout_cost']:,.0f}",
        )
    console.print(table)
    console.print(
        f"{totals['sites_opened']} sites opened, {totals['facilities_built']} facilities, "
        f"total cost {totals['cost']:,.0f} yuan; coverage {totals['coverage_pct_before']:.1f}% "
        f"-> {totals['coverage_pct_after']:.1f}% (mean over types)"
    )
    console.print(
        f"solver {summary['solver']}: {summary['headline']}, "
        f"build {summary['build_s']:.2f} s, solve {summary['solve_s']:.2f} s; "
        f"distances: {summary['distance_note']}; whole run {elapsed:.1f} s"
    )
    if out_dir is not None:
        console.print(
            f"outputs: {out_dir}/report.html, explore.html, plan.xlsx, plan.gpkg, "
            "construction_list.csv, coverage.csv, summary.json, maps/, run.log"
        )


def _add_bench_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    b = sub.add_parser(
        "bench",
        parents=[common],
        help="run public benchmark instances (OR-Library pmed / scp, capacitated p-median)",
        description=(
            "Solve public benchmark instances from ../shared/benchmarks ($SITING_BENCHMARKS) "
            "with one or more backends and compare with the published optima. Writes "
            "results.csv (one row per instance and backend) and summary.md to --out. Suites: "
            "pmed (OR-Library p-median), scp (OR-Library set covering, solved as lscp), "
            "cpmp-oc (Osman-Christofides capacitated p-median), cpmp-ls (Lorena-Senne), "
            "tsplib, random / city (generated), plan (the sample-city planning scenarios)."
        ),
    )
    b.add_argument(
        "--suite",
        required=True,
        choices=("pmed", "scp", "cpmp-oc", "cpmp-ls", "tsplib", "random", "city", "dense", "plan"),
        help="tsplib: <file>-p<p> p-median instances; random / city / dense: generated "
        "<suite>-<XS|S|M|L|XL>-<lscp|mclp|pmedian> instances (random S 1000x200, M 5000x1000, "
        "L 10000x2000, XL 20000x4000 at 800 m; city S 5000x2000, M 20000x5000, L 50000x10000, "
        "XL 100000x20000 at 300 m, dense the same sizes by city_dense; XS for quick tests); "
        "plan: sample-city and sample-city-phased (the planning model as siting plan solves it)",
    )
    b.add_argument(
        "--instances",
        nargs="+",
        help="instance names or fnmatch patterns, e.g. pmed1 'pmed[2-5]' (default: all)",
    )
    b.add_argument("--backends", nargs="+", default=["highs"], help="default: highs")
    b.add_argument("--time-limit", type=positive_number, default=60.0, help="seconds per solve")
    b.add_argument("--gap", type=gap_fraction, default=0.0, help="relative MIP gap (default: 0)")
    b.add_argument("--threads", type=positive_int, help="solver threads (default: the solver's)")
    b.add_argument("--out", type=Path, required=True, help="output folder")
    b.add_argument(
        "--configs",
        type=Path,
        help="YAML list of named solver configurations (see optimizer.bench.configs): run each "
        "on each instance; writes results.csv, trace.csv, best.csv, summary.md and the plots "
        "(--backends, --time-limit, --gap and --threads are then ignored)",
    )
    where = b.add_mutually_exclusive_group()
    where.add_argument(
        "--dask",
        action="store_true",
        help="with --configs: run on a local Dask cluster, one single-threaded worker per core",
    )
    where.add_argument("--cluster", metavar="ADDRESS", help="with --configs: a Dask scheduler")
    b.add_argument(
        "--trace",
        metavar="INSTANCE",
        help="with --configs: instance of the gap-over-time plot (default: the first; 'none')",
    )
    b.set_defaults(func=_cmd_bench)


def _cmd_bench(args: argparse.Namespace) -> int:

    if args.configs is not None:
        return _cmd_bench_configs(args)
    check_output_folder(args.out)  # before any work
    for name in args.backends:
        get_backend(name)  # unknown or missing solver: a clear error before any solve
    select_instances(args.suite, args.instances)  # unknown names: InputError, exit 2
    df = run_suite(
        args.suite,
        args.instances,
        args.backends,
        args.time_limit,
        mip_gap=args.gap,
        threads=args.threads,
    )
    words = ["siting", "bench", "--suite", args.suite]
    words += ["--instances", *args.instances] if args.instances else []
    words += ["--backends", *args.backends, "--time-limit", f"{args.time_limit:g}"]
    words += ["--gap", f"{args.gap:g}"] if args.gap else []
    words += ["--threads", str(args.threads)] if args.threads else []
    command = shlex.join([*words, "--out", str(args.out)])
    text = summary_markdown(df, command)
    with staged_run(args.out) as stage:
        write_csv(stage / "results.csv", df)
        atomic_write(stage / "summary.md", lambda p: p.write_text(text, encoding="utf-8"))
    if not args.quiet:
        proven = int(df["matches_known"].astype(bool).sum())
        Console(soft_wrap=True).print(
            f"{len(df)} runs: "
            + ", ".join(f"{k} {v}" for k, v in df["status"].value_counts().items())
            + f"; {proven} reproduced the published optimum\n"
            f"outputs: {args.out}/results.csv, summary.md"
        )
    return 0


def _cmd_bench_configs(args: argparse.Namespace) -> int:
    """``siting bench --configs``: every configuration on every instance, table and plots."""

    check_output_folder(args.out, [args.configs])  # before any work
    configs = load_configs(args.configs)  # InputError naming file, configuration and key
    names = select_instances(args.suite, args.instances)
    trace = None if args.trace == "none" else (args.trace or names[0])
    words = ["siting", "bench", "--suite", args.suite]
    words += ["--instances", *args.instances] if args.instances else []
    words += ["--configs", str(args.configs)]
    words += ["--dask"] if args.dask else []
    words += ["--cluster", args.cluster] if args.cluster else []
    words += ["--trace", args.trace] if args.trace else []
    command = shlex.join([*words, "--out", str(args.out)])
    dask = "local" if args.dask else args.cluster
    df, points = run_configs(
        args.suite, names, configs, dask=dask, trace_instance=trace, command=command
    )
    best = best_per_suite(df)
    with staged_run(args.out, [args.configs]) as stage:
        write_csv(stage / "results.csv", df)
        write_csv(stage / "trace.csv", points)
        write_csv(stage / "best.csv", best)
        plots = [performance_profile(df, stage / "performance_profile.png").name]
        if trace is not None and len(points):
            plots.append(gap_over_time(points, stage / "gap_over_time.png", trace).name)
        text = config_summary_markdown(df, best, configs, command, plots)
        atomic_write(stage / "summary.md", lambda p: p.write_text(text, encoding="utf-8"))
    if not args.quiet:
        Console(soft_wrap=True).print(
            f"{len(df)} runs: "
            + ", ".join(f"{k} {v}" for k, v in df["status"].value_counts().items())
            + f"\noutputs: {args.out}/results.csv, summary.md, "
            + ", ".join(plots)
        )
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
