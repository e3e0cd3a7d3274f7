"""The ``siting`` command: a small dispatcher in front of the subcommand modules.

``siting solve`` runs :mod:`optimizer.cli_solve`, which imports the model registry and pandas
only; every other subcommand (and ``--help`` / ``--version``) runs :mod:`optimizer.cli_app`,
which imports the planning pipeline, the deliverables, the benchmarks and the sweep (Dask,
matplotlib, rasterio: seconds of imports that a solve under a time limit must not pay). The
module is chosen by name (``importlib``) so that neither is imported before it is needed.

Every failure ends with a one-paragraph message and an exit code, never a traceback (``-v``
adds one): bad input 2, a request that cannot be met 3, solver failures 4, an output folder
the run may not or cannot write (see :mod:`optimizer.outputs`; file-system errors) 5, Ctrl-C
130, an internal error 1. The table is :data:`optimizer.errors.EXIT_CODES`.
"""

from __future__ import annotations

import importlib
import sys
import time
from collections.abc import Sequence
from typing import NoReturn

from optimizer.deadline import exit_process

STARTED = time.monotonic()
"""When the command started (about; after Python's own start-up): ``siting solve`` counts its
time limit from here."""

SUBCOMMAND_MODULES = {"solve": "optimizer.cli_solve"}
"""Subcommands with a module of their own; the rest are in :mod:`optimizer.cli_app`."""


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``siting``; returns the exit code (:data:`optimizer.errors.EXIT_CODES`).

    A usage error (unknown option, a number out of range) exits 2 from argparse.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    command = args[0] if args else ""
    module = importlib.import_module(SUBCOMMAND_MODULES.get(command, "optimizer.cli_app"))
    code: int = module.main(args, started=STARTED)
    return code


def run() -> NoReturn:
    """The ``siting`` console script: :func:`main`, then the process ends with its exit code
    (without waiting for a solver call left behind at its deadline,
    :func:`optimizer.deadline.exit_process`)."""
    exit_process(main())


if __name__ == "__main__":  # pragma: no cover
    run()
