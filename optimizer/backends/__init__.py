"""Solver backends behind one interface, chosen by name from a registry.

Importing this package registers every backend module; a backend whose solver package is
missing stays registered but reports ``is_available() == False``.
"""

from optimizer.backends import (
    base,
    highs,  # noqa: F401  (registers the backend)
    ortools_solvers,  # noqa: F401  (registers scip, cpsat)
    pulp_cbc,  # noqa: F401  (registers cbc)
)
from optimizer.backends.base import *  # noqa: F403  (the interface, named once: base.__all__)

__all__ = base.__all__
