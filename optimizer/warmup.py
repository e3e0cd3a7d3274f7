"""Compile the project's Numba kernels ahead of the first run (``python -m optimizer.warmup``).

The local searches of the covering and p-median models and the capacitated p-median's
knapsacks and pricing are Numba functions cached on disk (``cache=True``). Without a cache the
first call compiles them: about 4 s for the p-median swap descent, 4 s for its iterated search,
3 s for the covering searches, measured on the CI machine. That compile would fall inside the
first run's time limit, so a planner's first 5-second run on a fresh installation could end
late. ``make`` runs this module once after installing (the ``.venv`` stamp), so every run,
the first included, loads compiled kernels from the cache.

Each kernel is reached through the public function that calls it, on a small random instance,
so it is compiled for exactly the argument types the solvers pass. :func:`numba_kernels` lists
every kernel of the package; a test compiles them into an empty cache and checks that none is
left out. (With a cache, a kernel called only from other kernels shows no signature: the
callers' cached code holds it.)
"""

from __future__ import annotations

import importlib
import logging
import math
import pkgutil
import time

import numpy as np
import scipy.sparse as sp
from numba.core.registry import CPUDispatcher

import optimizer
from optimizer.backends import SolveOptions
from optimizer.classic.registry import solve_classic
from optimizer.deadline import Deadline
from optimizer.models.covering.cft import cft_lagrangian
from optimizer.models.covering.reductions import contained_pairs
from optimizer.models.covering.search import cover_local_search, mclp_swap_search
from optimizer.models.pmedian import cpmp_price
from optimizer.models.pmedian.cpmp_items import SiteItems
from optimizer.models.pmedian.heuristics import CostPairs, greedy
from optimizer.models.pmedian.model import PMedianData
from optimizer.models.pmedian.swap import iterated_swap_search, swap_search

log = logging.getLogger(__name__)

SEED = 7
"""Seed of the small warm-up instances (any instance compiles the same code)."""


def _points(n: int, rng: np.random.Generator) -> np.ndarray:
    return rng.uniform(0.0, 1000.0, size=(n, 2))


def _distance(n_points: int, n_sites: int, rng: np.random.Generator) -> np.ndarray:
    a, b = _points(n_points, rng), _points(n_sites, rng)
    return np.hypot(a[:, None, 0] - b[None, :, 0], a[:, None, 1] - b[None, :, 1])


def _compile_pmedian_search(dist: np.ndarray) -> None:
    """The swap descent and the iterated search, dense and capped (with an unserved price)."""
    for data in (
        PMedianData.from_arrays(dist, p=4),
        PMedianData.from_arrays(dist, p=4, max_distance=400.0, unserved_penalty=800.0),
    ):
        pairs = CostPairs.from_data(data)
        start = greedy(pairs)
        swap_search(pairs.swap_index, start)
        iterated_swap_search(pairs.swap_index, start, time.perf_counter() + 5.0, max_kicks=4)


def _compile_covering(dist: np.ndarray) -> None:
    """The reductions, the CFT Lagrangian, the row-weighting set-covering search and the MCLP
    swap search."""
    reach = sp.csr_matrix(dist <= 400.0)
    n_sites = reach.shape[1]
    contained_pairs(reach)
    cft_lagrangian(reach, np.ones(n_sites), time_limit_s=5.0, max_pricings=5)
    every = np.ones(n_sites, dtype=bool)
    cover_local_search(reach, np.ones(n_sites), every, time_limit_s=5.0, max_steps=50)
    some = np.zeros(n_sites, dtype=bool)
    some[:3] = True
    weight = np.ones(reach.shape[0])
    mclp_swap_search(reach, weight, some, time_limit_s=5.0, max_rounds=4)


def _compile_capacitated(dist: np.ndarray, rng: np.random.Generator) -> None:
    """The capacitated p-median's knapsacks, quick assignments (dense, and on the pairs where
    a point may stay unserved) and the subset-row pricing."""
    demand = rng.integers(1, 10, size=dist.shape[0]).astype(float)
    capacity = np.full(dist.shape[1], demand.sum() / 3.0)
    options = SolveOptions(time_limit_s=10.0)
    data = PMedianData.from_arrays(dist, p=4, demand=demand, capacity=capacity)
    solve_classic("cpmedian", data, options=options)
    capped = PMedianData.from_arrays(
        dist, p=4, demand=demand, capacity=capacity, max_distance=400.0, unserved_penalty=800.0
    )
    solve_classic("cpmedian", capped, options=options)
    items = SiteItems.from_data(data)
    cpmp_price.subset_row_bound(items, np.zeros(items.n_demand), [], math.inf, Deadline(5.0))


def compile_kernels() -> float:
    """Compile (or load from the cache) every Numba kernel of the package.

    Returns
    -------
    float
        Seconds it took (about 15 s without a cache, under 2 s with one).
    """
    started = time.perf_counter()
    rng = np.random.default_rng(SEED)
    dist = _distance(60, 20, rng)
    _compile_pmedian_search(dist)
    _compile_covering(dist)
    _compile_capacitated(dist, rng)
    return time.perf_counter() - started


def numba_kernels() -> dict[str, CPUDispatcher]:
    """Every Numba-compiled function defined in the package, by qualified name."""
    kernels: dict[str, CPUDispatcher] = {}
    for info in pkgutil.walk_packages(optimizer.__path__, prefix="optimizer."):
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if isinstance(value, CPUDispatcher) and value.__module__ == module.__name__:
                kernels[f"{module.__name__}.{name}"] = value
    return kernels


def main() -> None:
    """Compile the kernels and log how long it took (``make`` calls this after installing)."""
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    log.setLevel(logging.INFO)
    seconds = compile_kernels()
    log.info("Numba kernels compiled or loaded from the cache in %.1f s", seconds)


if __name__ == "__main__":
    main()
