"""``siting solve``: one classic location model on generic tables.

Its own module so that ``siting solve`` imports only what a solve needs (the model registry,
pandas), not the planning pipeline, the deliverables or the sweep's Dask: :mod:`optimizer.cli`
dispatches ``solve`` here and everything else to :mod:`optimizer.cli_app`. The time limit
counts from the start of the process (:func:`solve_budget_s`), so the whole command, start-up
and table reading included, ends within ``--time-limit`` plus the writing of the outputs.
"""

from __future__ import annotations

import argparse
import io
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console

from optimizer import cli_base
from optimizer.backends import SolveOptions, Status
from optimizer.classic.registry import (
    METHODS,
    from_tables,
    model_names,
    resolve_model,
    result_tables,
    solve_classic,
)
from optimizer.errors import InfeasibleError, ProblemCollector, SolverError
from optimizer.outputs import check_output_folder, staged_run, write_csv, write_json
from optimizer.result import gap_percent
from optimizer.textfiles import file_sha256, read_text
from optimizer.version import __version__

OUTPUT_RESERVE_S = 0.5
"""Seconds of the time limit kept for checking the solution and writing the outputs."""
MIN_SOLVE_SHARE = 0.1
"""The solver gets at least this share of ``--time-limit`` however long the start-up took."""


def main(argv: Sequence[str] | None = None, started: float | None = None) -> int:
    """``siting solve ...`` (``argv`` starts with ``solve``); returns the exit code.

    Parameters
    ----------
    argv : sequence of str, optional
        The command line after ``siting`` (default: ``sys.argv[1:]``).
    started : float, optional
        ``time.monotonic()`` at the start of the process (:data:`optimizer.cli.STARTED`);
        the time limit counts from it (default: now).
    """
    parser = argparse.ArgumentParser(prog="siting")
    sub = parser.add_subparsers(dest="command", required=True)
    add_solve_parser(sub, cli_base.common_options())
    args = parser.parse_args(argv)
    args.process_started = time.monotonic() if started is None else started
    return cli_base.run_command(args)


def solve_budget_s(args: argparse.Namespace) -> float:
    """The solver's share of ``--time-limit``: what is left of it since the process started
    (``args.process_started``, when set), less :data:`OUTPUT_RESERVE_S`."""
    started = getattr(args, "process_started", None)
    spent = 0.0 if started is None else time.monotonic() - started
    left = float(args.time_limit) - spent - OUTPUT_RESERVE_S
    return max(left, MIN_SOLVE_SHARE * float(args.time_limit))


def _solve_models() -> tuple[str, ...]:
    # The model registry is the one list of models; importing it here keeps `--help` honest.

    return tuple(model_names())


def _solve_methods() -> tuple[str, ...]:
    return METHODS


def add_solve_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    s = sub.add_parser(
        "solve",
        parents=[common],
        help="solve one classic location model (LSCP, MCLP, p-median, p-center...) on tables",
        description=(
            "Solve one classic location model on generic tables: demand (demand_id [+ weight "
            "column]), sites (site_id [+ cost, capacity columns]) and distances (demand_id, "
            "site_id, distance; a pair that is absent is out of reach). Writes summary.json, "
            "selected.csv and assignment.csv to --out. Models: lscp (least-cost cover within "
            "--radius), mclp (max weight covered within --radius by --p sites and/or --budget), "
            "pmedian / cpmedian (least weighted distance with --p sites; cpmedian needs "
            "--capacity), pcenter (least largest weighted distance), backup (max weight "
            "covered twice, everyone once, --p sites). Each model runs its strongest method "
            "unless --method names another: lscp and mclp warm (reductions, heuristic and "
            "bound, the MIP warm-started beside a local search), pmedian exact (Lagrangian "
            "bound, fixing, window search, Lagrangian branch-and-bound) below 1,000 demand "
            "points and benders (Benders cuts on the radius formulation) from 1,000, "
            "pcenter exact (binary search over covering problems), cpmedian exact "
            "(Lagrangian bound with knapsacks, GAP heuristic, Lagrangian branch-and-bound), "
            "backup mip; mip is the plain MIP, heuristic the heuristic with its bound and no "
            "MIP. Names such as lscp-warm or pmedian-exact name a model and its method at once."
        ),
    )
    s.add_argument("--model", required=True, choices=_solve_models(), help="the model to solve")
    s.add_argument(
        "--method",
        choices=_solve_methods(),
        help="how to solve it (default: the model's strongest method)",
    )
    s.add_argument("--demand", type=Path, required=True, help="demand table (CSV or Parquet)")
    s.add_argument("--sites", type=Path, required=True, help="candidate site table")
    s.add_argument("--distances", type=Path, required=True, help="demand x site distance table")
    s.add_argument("--weight", help="demand weight column (default: every weight 1)")
    s.add_argument("--cost", help="site cost column (default: every cost 1)")
    s.add_argument("--capacity", help="site capacity column (cpmedian)")
    s.add_argument(
        "--radius", type=cli_base.non_negative_number, help="service radius (lscp, mclp, backup)"
    )
    s.add_argument("--p", type=cli_base.positive_int, help="number of facilities")
    s.add_argument(
        "--budget", type=cli_base.non_negative_number, help="budget on the sites' cost (mclp)"
    )
    s.add_argument(
        "--at-most", action="store_true", help="mclp / backup: open at most --p sites, not exactly"
    )
    s.add_argument(
        "--max-distance",
        type=cli_base.positive_number,
        help="p-median / p-center: ignore pairs farther than this",
    )
    s.add_argument(
        "--unserved-penalty",
        type=cli_base.non_negative_number,
        help="p-median: a point may stay unserved at weight x this distance",
    )
    s.add_argument("--required", help="comma-separated site ids that must be opened")
    s.add_argument("--forbidden", help="comma-separated site ids that must not be opened")
    s.add_argument("--solver", default="highs", help="solver backend (default: highs)")
    s.add_argument(
        "--time-limit", type=cli_base.positive_number, default=60.0, help="seconds (default: 60)"
    )
    s.add_argument(
        "--gap", type=cli_base.gap_fraction, default=0.0, help="relative MIP gap (default: 0)"
    )
    s.add_argument("--out", type=Path, required=True, help="output folder")
    s.set_defaults(func=_cmd_solve)


def _read_generic_table(path: Path, problems: Any) -> Any:
    try:
        if path.suffix.lower() in (".parquet", ".geoparquet"):
            return pd.read_parquet(path)
        # every column as text (ids such as 001 stay as written), in any supported encoding
        text = io.StringIO(read_text(path))
        return pd.read_csv(text, dtype=str, keep_default_na=False, na_values=[""])
    except Exception as exc:  # the user's file: report, don't crash
        problems.add(path.name, None, f"cannot read the file: {exc}".replace("\n", " "))
        return None


def _id_list(text: str | None) -> list[str]:
    return [t.strip() for t in (text or "").split(",") if t.strip()]


def _cmd_solve(args: argparse.Namespace) -> int:

    started = time.perf_counter()
    problems = ProblemCollector()
    try:  # a method the model does not have (e.g. cpmedian --method warm): bad input
        resolve_model(args.model, args.method)
    except ValueError as exc:
        problems.add("--method", None, str(exc))
        problems.raise_if_any()
    paths = {"demand": args.demand, "sites": args.sites, "distances": args.distances}
    check_output_folder(args.out, paths.values())  # before any work
    frames = {}
    for key, path in paths.items():
        if not path.exists():
            problems.add(str(path), None, "file not found")
        else:
            frames[key] = _read_generic_table(path, problems)
    problems.raise_if_any()
    tables = from_tables(
        args.model,
        frames["demand"],
        frames["sites"],
        frames["distances"],
        weight=args.weight,
        cost=args.cost,
        capacity=args.capacity,
        radius=args.radius,
        p=args.p,
        budget=args.budget,
        p_exact=not args.at_most,
        max_distance=args.max_distance,
        unserved_penalty=args.unserved_penalty,
        required=_id_list(args.required),
        forbidden=_id_list(args.forbidden),
        labels={key: path.name for key, path in paths.items()},
    )
    options = SolveOptions(time_limit_s=solve_budget_s(args), mip_gap=args.gap)
    res = solve_classic(
        args.model, tables.data, backend=args.solver, options=options, method=args.method
    )
    if res.status is Status.INFEASIBLE:
        raise InfeasibleError(
            f"{args.model}: no solution satisfies the constraints (p, budget, capacities, "
            "required / forbidden sites, coverage of every demand point)"
        )
    if not res.status.has_solution:
        raise SolverError(
            f"{args.model}: the solver ended with {res.status.value} and no solution "
            f"({res.result.message}); raise --time-limit"
        )
    selected, assignment = result_tables(tables, res)
    summary = {
        "model": args.model,
        "method": res.method,
        "method_choice": res.method_choice,
        "solver": res.result.solver,
        "status": res.status.value,
        "objective": res.objective,
        "bound": res.bound,
        "gap": res.gap,
        "build_s": round(res.build_s, 4),
        "solve_s": round(res.solve_s, 4),
        "selected": tables.site_ids[res.selected].tolist(),
        "n_selected": int(res.selected.size),
        "solver_objective": res.result.objective,
        "nodes": res.result.nodes,
        "message": res.result.message,
        "parameters": tables.params,
        "counts": {
            "demand": int(tables.demand_ids.size),
            "sites": int(tables.site_ids.size),
            "pairs": tables.pairs.size,
        },
        "verify": res.report.as_dict(),
        "inputs": {str(path): file_sha256(path) for path in paths.values()},
        "seconds": round(time.perf_counter() - started, 3),
        "version": __version__,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    with staged_run(args.out, paths.values()) as stage:
        write_json(stage / "summary.json", summary)
        write_csv(stage / "selected.csv", selected)
        write_csv(stage / "assignment.csv", assignment)
    if not args.quiet:
        Console(soft_wrap=True).print(
            f"{args.model} on {res.result.solver}: {res.status.value}, objective "
            f"{res.objective:,.6g}, bound {res.bound:,.6g}, gap {gap_percent(res.gap)}; "
            f"{res.selected.size} sites selected; build {res.build_s:.2f} s, "
            f"solve {res.solve_s:.2f} s\n"
            f"outputs: {args.out}/summary.json, selected.csv, assignment.csv"
        )
    return 0
