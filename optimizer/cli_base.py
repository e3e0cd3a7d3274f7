"""Pieces every ``siting`` subcommand module shares: option types, logging, failure messages.

Light on purpose (argparse, rich, the error tree): ``siting solve`` imports it without the
planning, deliverable and sweep modules (see :mod:`optimizer.cli`).
"""

from __future__ import annotations

import argparse
import logging
import math
import traceback

from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape

from optimizer.errors import ExitCode, InfeasibleError, SitingError, describe_os_error
from optimizer.outputs import OutputError


def common_options() -> argparse.ArgumentParser:
    """The options every subcommand takes (``-v``, ``-q``), as an argparse parent."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    common.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only")
    return common


def run_command(args: argparse.Namespace) -> int:
    """Run a parsed subcommand (``args.func``); every failure becomes one paragraph and its
    exit code (:data:`optimizer.errors.EXIT_CODES`)."""
    console = Console(stderr=True, soft_wrap=True)  # one message, one line: greppable
    setup_logging(args.verbose, args.quiet, console)
    try:
        code: int = args.func(args)
        return code
    except KeyboardInterrupt:
        console.print("[bold red]interrupted:[/] stopped by Ctrl-C", highlight=False)
        return ExitCode.INTERRUPTED
    except Exception as exc:  # every failure: one paragraph and its exit code
        return report_failure(exc, console, args.verbose)


def report_failure(exc: Exception, console: Console, verbose: bool) -> int:
    """Print one paragraph for a failure (a traceback only with ``-v``); return its exit code."""
    if verbose:
        console.print(
            "".join(traceback.format_exception(exc)), markup=False, highlight=False, end=""
        )
    text = escape(str(exc))  # file names and ranges such as [0, 1) are not markup
    if isinstance(exc, OutputError):
        console.print(f"[bold red]cannot write outputs:[/] {text}", highlight=False)
        return ExitCode.CANNOT_WRITE
    if isinstance(exc, InfeasibleError):
        console.print(f"[bold red]infeasible:[/] {text}", highlight=False)
        return exc.exit_code
    if isinstance(exc, SitingError):
        console.print(f"[bold red]error:[/] {text}", highlight=False)
        return exc.exit_code
    if isinstance(exc, OSError):
        reason = escape(describe_os_error(exc))
        console.print(f"[bold red]file-system error:[/] {reason}", highlight=False)
        return ExitCode.CANNOT_WRITE
    if isinstance(exc, MemoryError):
        console.print("[bold red]error:[/] out of memory", highlight=False)
        return ExitCode.INTERNAL
    hint = "" if verbose else "; rerun with -v for the traceback"
    console.print(
        f"[bold red]internal error:[/] {type(exc).__name__}: {text}{hint} and please report it",
        highlight=False,
    )
    return ExitCode.INTERNAL


# --------------------------------------------------------------------------- option types


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r}: must be a finite number")
    return value


def positive_number(text: str) -> float:
    """argparse type: a finite number > 0 (seconds, metres, radii)."""
    value = _number(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: must be greater than 0")
    return value


def non_negative_number(text: str) -> float:
    """argparse type: a finite number >= 0 (budgets, penalties)."""
    value = _number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: must be 0 or more")
    return value


def gap_fraction(text: str) -> float:
    """argparse type: a relative MIP gap in [0, 1) (0.01 = 1 %)."""
    value = _number(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: must lie in [0, 1), e.g. 0.01 for 1 %")
    return value


def positive_int(text: str) -> int:
    """argparse type: a whole number >= 1 (facility counts, threads)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: must be 1 or more")
    return value


def setup_logging(verbose: bool, quiet: bool, console: Console) -> None:
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    handler = RichHandler(console=console, show_path=False, show_time=False, markup=False)
    handler.setLevel(level)  # the terminal's level; a run's log file may keep more
    logging.basicConfig(level=level, handlers=[handler], format="%(message)s", force=True)
