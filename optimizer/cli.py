"""The ``siting`` command.

Bad input ends with a one-paragraph message and exit code 2 (never a traceback); a request
that cannot be met ends with exit code 3; solver failures with 4.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.logging import RichHandler
from rich.table import Table

from optimizer import __version__
from optimizer.errors import InfeasibleError, InputError, SitingError

log = logging.getLogger("optimizer")
EXIT_INPUT, EXIT_INFEASIBLE, EXIT_SOLVER = 2, 3, 4


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``siting``; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    console = Console(stderr=True)
    _setup_logging(args.verbose, args.quiet, console)
    try:
        code: int = args.func(args)
        return code
    except InputError as exc:
        console.print(f"[bold red]error:[/] {exc}", markup=True, highlight=False)
        return EXIT_INPUT
    except InfeasibleError as exc:
        console.print(f"[bold red]infeasible:[/] {exc}", highlight=False)
        return EXIT_INFEASIBLE
    except SitingError as exc:
        console.print(f"[bold red]error:[/] {exc}", highlight=False)
        return EXIT_SOLVER


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="siting",
        description="Community facility siting optimizer (5/10/15-minute life circles).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    common.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only")
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
    p.add_argument("--time-limit", type=float, help="solver time limit in seconds")
    p.set_defaults(func=_cmd_plan)

    v = sub.add_parser(
        "validate",
        parents=[common],
        help="check a scenario and its input tables; list every problem",
        description="Check a scenario file and its input tables without solving.",
    )
    v.add_argument("scenario", type=Path, help="scenario YAML file")
    v.set_defaults(func=_cmd_validate)
    return parser


def _setup_logging(verbose: bool, quiet: bool, console: Console) -> None:
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    handler = RichHandler(console=console, show_path=False, show_time=False, markup=False)
    logging.basicConfig(level=level, handlers=[handler], format="%(message)s", force=True)


def _cmd_validate(args: argparse.Namespace) -> int:
    from optimizer.inputs import read_inputs
    from optimizer.scenario import load_scenario

    scenario = load_scenario(args.scenario)
    inputs = read_inputs(scenario)
    Console().print(
        f"[green]ok[/]: {args.scenario} — {len(inputs.blocks)} blocks, {len(inputs.sites)} "
        f"candidate sites, {len(inputs.existing)} existing facilities, CRS "
        f"{inputs.crs.to_string()}, types {', '.join(scenario.facility_types)}"
    )
    return 0


def _cmd_plan(args: argparse.Namespace) -> int:
    from optimizer.pipeline import run_plan

    started = time.perf_counter()
    run = run_plan(
        args.scenario, out_dir=args.out, solver=args.solver, time_limit_s=args.time_limit
    )
    elapsed = time.perf_counter() - started
    if not args.quiet:
        _print_plan_summary(run.summary, run.out_dir, elapsed)
    return 0


def _print_plan_summary(summary: dict[str, object], out_dir: Path | None, elapsed: float) -> None:
    console = Console()
    table = Table(title=f"Plan for {summary['scenario']}", title_justify="left")
    for col in (
        "facility type",
        "target group",
        "covered before",
        "covered after",
        "built",
        "fit-out cost (yuan)",
    ):
        table.add_column(
            col, justify="left" if col in ("facility type", "target group") else "right"
        )
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
        f"solver {summary['solver']}: {summary['status']}, gap {summary['gap']:.2%}, "
        f"build {summary['build_s']:.2f} s, solve {summary['solve_s']:.2f} s; "
        f"distances: {summary['distance_note']}; whole run {elapsed:.1f} s"
    )
    if out_dir is not None:
        console.print(f"outputs: {out_dir}/construction_list.csv, coverage.csv, summary.json")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
