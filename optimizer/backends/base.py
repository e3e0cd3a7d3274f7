"""The solver backend interface, its options and the backend registry.

A backend is a small class that takes a :class:`~optimizer.milp.MILP` and
:class:`SolveOptions` and returns a :class:`~optimizer.result.Result`. Backends register themselves
by name;
callers pick one with :func:`get_backend`, never with if/elif chains over solver names.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from optimizer.errors import SolverNotAvailable
from optimizer.milp import MILP
from optimizer.result import Result, Status, StopReason, relative_gap

__all__ = [
    "Backend",
    "Result",
    "SolveOptions",
    "SolveProgress",
    "Status",
    "StopReason",
    "available_backends",
    "backend_names",
    "get_backend",
    "importable",
    "mip_root_fits",
    "optimal_stop",
    "reached_time_limit",
    "register",
    "relative_gap",
    "time_left",
]

MIN_SOLVER_S = 0.01
"""The least time limit a backend hands its solver (HiGHS refuses a limit of 0 or less)."""
TIME_LIMIT_SHARE = 0.95
"""A limit stop whose cause the solver does not name counts as the time limit once this share
of the limit has passed (a solver checks its clock between steps, so it stops a little before
or after the limit, never far before it)."""


@dataclass
class SolveOptions:
    """Options every backend understands.

    Attributes
    ----------
    time_limit_s : float or None
        Wall-clock limit for the solve; None for no limit.
    mip_gap : float
        Relative gap at which the solver may stop and report OPTIMAL (0 = prove optimality).
    threads : int or None
        Solver threads; None lets the solver decide.
    seed : int
        Random seed, for reproducible runs.
    verbose : bool
        Let the solver print its log.
    warm_start : ndarray or None
        A feasible (or partial) solution to start from, where the backend supports it.
    primal_heuristics : bool
        False where the caller finds its own solutions (a local search beside the MIP, which
        is then run for its bound): a backend that can turns its primal heuristics down
        (HiGHS: ``mip_heuristic_effort = 0``, which also keeps its root node near the limit).
    progress : SolveProgress or None
        Filled in while the solve runs by a backend with the ``progress`` capability, for a
        caller that may stop waiting for it.
    """

    time_limit_s: float | None = 60.0
    mip_gap: float = 0.0
    threads: int | None = None
    seed: int = 0
    verbose: bool = False
    warm_start: np.ndarray | None = None
    primal_heuristics: bool = True
    progress: SolveProgress | None = None


@dataclass
class SolveProgress:
    """The dual bound a running MIP solve has reported so far, in the model's sense (nan
    until then).

    A caller that stops waiting for a solve past its deadline
    (:class:`optimizer.deadline.Background`) keeps the bound from here: HiGHS has run a city
    MCLP's MIP 8 s past its limit in a stretch without a clock check, and the bound it had
    proven by then was lost with the call. HiGHS fills it at each of its MIP interrupt checks.
    """

    bound: float = math.nan

    def result(self, message: str) -> Result:
        """A NO_SOLUTION result of a solve left behind, carrying the bound reported so far."""
        return Result(
            Status.NO_SOLUTION,
            math.nan,
            self.bound,
            None,
            "abandoned",
            0.0,
            0.0,
            message=message,
            stop=StopReason.TIME_LIMIT,
        )


class Backend(ABC):
    """One solver behind the common interface.

    Subclasses set ``name``, ``package`` (what to install when missing) and ``capabilities``
    (a subset of ``{"mip", "lp", "warm_start", "threads", "seed", "time_limit", "gap",
    "duals"}``).
    """

    name: ClassVar[str]
    package: ClassVar[str]
    capabilities: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    @abstractmethod
    def is_available(cls) -> bool:
        """True when the solver can be imported and run here."""

    @abstractmethod
    def solve(self, milp: MILP, options: SolveOptions) -> Result:
        """Solve ``milp``; the result's ``solve_s`` is the solver's own wall time and its
        ``stop`` says why the solver stopped (a limit stop is FEASIBLE or NO_SOLUTION with the
        limit as its reason, never OPTIMAL)."""

    def leave_behind(self) -> None:
        """Called when a solve of this backend is left running past its deadline
        (:class:`optimizer.deadline.Background`): undo the process-wide state the solve
        holds, so the run can go on without it. Nothing unless the backend holds some."""
        return None

    def starts_in_time(self, n_columns: int, time_limit_s: float | None) -> bool:
        """Whether a MIP with ``n_columns`` can be set up (and so stopped) within
        ``time_limit_s``: callers that have a fallback ask before building a model the solver
        would refuse. True unless the backend knows otherwise."""
        return True


def importable(module: str) -> bool:
    """True when ``module`` (an optional solver package, or a module of one) imports here."""
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


def optimal_stop(objective: float, bound: float, mip_gap: float) -> StopReason:
    """Why a solve reported as optimal stopped: ``GAP_REACHED`` when a positive ``mip_gap``
    let it stop with a gap left (beyond 1e-9, see :func:`relative_gap`), else ``OPTIMAL``."""
    if mip_gap > 0.0 and relative_gap(objective, bound) > 0.0:
        return StopReason.GAP_REACHED
    return StopReason.OPTIMAL


MIP_NNZ_PER_S = 20_000.0
"""The most nonzeros per second of its time a MIP may have to be started at all.

HiGHS does not stop inside its root: a MIP whose root LP cannot end in time only holds its
thread and may overrun. On the 2-core benchmark machine, 60 s: a 20,000 x 5,000 city at 300 m
(about 272,000 nonzeros after reductions) is proven in 4 s; a denser city (463,121 nonzeros)
did not end HiGHS's root in 50 s; at 800 m (30 s) its bound stayed at 143 against the
Lagrangian's 209. Algorithms that can do without a MIP (a Lagrangian, a local search) ask
:func:`mip_root_fits` before starting one."""


def mip_root_fits(nonzeros: int, time_limit_s: float | None) -> bool:
    """True when a MIP with ``nonzeros`` can get through its root within ``time_limit_s``
    (:data:`MIP_NNZ_PER_S`; always without a limit)."""
    return time_limit_s is None or nonzeros <= MIP_NNZ_PER_S * time_limit_s


def time_left(options: SolveOptions, started: float) -> SolveOptions:
    """``options`` with the time limit that is left since ``started`` (``time.perf_counter``
    when the backend's ``solve`` began): translating the model for the solver counts against
    the caller's limit, so a call ends by it however long the translation took."""
    if options.time_limit_s is None:
        return options
    left = options.time_limit_s - (time.perf_counter() - started)
    floor = min(MIN_SOLVER_S, options.time_limit_s)  # never more than the caller asked for
    return dataclasses.replace(options, time_limit_s=max(floor, left))


def reached_time_limit(elapsed_s: float, time_limit_s: float | None) -> bool:
    """True when ``elapsed_s`` is at (or near, :data:`TIME_LIMIT_SHARE`) the time limit: how
    the backends tell a time-limit stop from another limit where the solver does not say."""
    return time_limit_s is not None and elapsed_s >= TIME_LIMIT_SHARE * time_limit_s


_REGISTRY: dict[str, type[Backend]] = {}


def register(cls: type[Backend]) -> type[Backend]:
    """Class decorator: make a backend available under ``cls.name``."""
    _REGISTRY[cls.name] = cls
    return cls


def backend_names() -> list[str]:
    """All registered backend names, available or not."""
    return sorted(_REGISTRY)


def available_backends() -> list[str]:
    """Names of the registered backends that can run here."""
    return [n for n in backend_names() if _REGISTRY[n].is_available()]


def get_backend(name: str) -> Backend:
    """Instantiate the backend called ``name``.

    Raises
    ------
    SolverNotAvailable
        If no backend has that name, or its package is not installed.
    """
    try:
        cls = _REGISTRY[name]
    except KeyError:
        raise SolverNotAvailable(
            f"unknown solver '{name}'; choose one of: {', '.join(backend_names())}"
        ) from None
    if not cls.is_available():
        raise SolverNotAvailable(
            f"solver '{name}' is not available: install it with `pip install {cls.package}`"
        )
    return cls()
