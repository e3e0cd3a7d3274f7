"""Solver backends behind one interface, chosen by name from a registry.

Importing this package registers every backend module; a backend whose solver package is
missing stays registered but reports ``is_available() == False``.
"""

from optimizer.backends import (
    highs,  # noqa: F401  (registers the backend)
    ortools_solvers,  # noqa: F401  (registers scip, cpsat)
    pulp_cbc,  # noqa: F401  (registers cbc)
)
from optimizer.backends.base import (
    Backend,
    Result,
    SolveOptions,
    Status,
    StopReason,
    available_backends,
    backend_names,
    get_backend,
    optimal_stop,
    reached_time_limit,
    register,
    relative_gap,
)

__all__ = [
    "Backend",
    "Result",
    "SolveOptions",
    "Status",
    "StopReason",
    "available_backends",
    "backend_names",
    "get_backend",
    "optimal_stop",
    "reached_time_limit",
    "register",
    "relative_gap",
]
