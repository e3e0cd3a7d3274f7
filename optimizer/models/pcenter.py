r"""The p-center problem (Hakimi, 1965): open p sites so the farthest (weighted) assignment is
as short as possible.

Weighted distances :math:`\delta_{ij} = w_i d_{ij}` over the allowed pairs :math:`P` (plain
distances when every weight is 1).

The standard MIP (``build_model``)
----------------------------------
.. math::

    \min \; & W \\
    \text{s.t.}\; & \sum_{j:(i,j) \in P} x_{ij} = 1 && \forall i && \text{(assign)} \\
    & x_{ij} \le y_j && \forall (i,j) \in P && \text{(open before serving)} \\
    & \sum_j y_j = p \\
    & \sum_{j:(i,j) \in P} \delta_{ij}\, x_{ij} \le W && \forall i && \text{(radius)} \\
    & y_j = 1 \ (j \in R), \quad y_j = 0 \ (j \in F) \\
    & y \in \{0, 1\}^m, \quad 0 \le x \le 1, \quad W \ge 0

:math:`x` may stay continuous: for integral :math:`y`, splitting a point between open sites
only raises its left-hand side above the distance to the nearest one. This MIP is weak — its
LP relaxation spreads :math:`x` thinly and gives a bound near the smallest distances — so
branch-and-bound on it is slow beyond small instances.

Binary search over covering problems (``solve_search``, the default in
``optimizer.classic.registry``)
---------------------------------------------------------------------------------------------
The optimal radius is one of the distinct values :math:`\delta_{ij}`. A radius :math:`r` is
achievable with :math:`p` facilities iff the set covering problem

.. math::

    \sum_{j:\ \delta_{ij} \le r} y_j \ge 1 \ \forall i, \qquad \sum_j y_j \le p,
    \qquad y \text{ binary (required / forbidden fixed)}

is feasible (Minieka, 1970; Daskin, 2000). The search keeps the sorted candidate radii between
a lower bound (:math:`\max_i \min_j \delta_{ij}`: every point needs some site) and the radius
of a greedy farthest-first solution, and halves that range with one covering problem
(:mod:`optimizer.models.covering.lscp`, the LSCP model with a count row) per step; a feasible
step also jumps straight down to the radius its cover actually achieves. Each step is a pure
0/1 covering program whose LP relaxation is strong, so ``log2(#radii)`` small solves usually
beat one large, weak MIP by orders of magnitude. Radii proved infeasible give the lower bound;
a step stopped by the time limit without an answer leaves the bound where it was, and the
result is FEASIBLE rather than OPTIMAL.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from optimizer.backends import Backend, Result, SolveOptions, Status, StopReason
from optimizer.milp import MILP, RowBuilder
from optimizer.models.common import (
    IndexLike,
    Pairs,
    add_count_row,
    allowed_pairs,
    check_count,
    demand_weights,
    nearest_open,
    opened_sites,
    site_bounds,
    site_rules,
)
from optimizer.models.covering import lscp

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PCenterData:
    """Arrays of a p-center problem.

    Attributes
    ----------
    pairs : Pairs
        Allowed assignment pairs with their distances.
    weight : ndarray (n_demand,)
        Demand weights (1 for the unweighted problem).
    p : int
        Number of facilities.
    required, forbidden : ndarray of int
        Site indices fixed open / closed.
    """

    pairs: Pairs
    weight: np.ndarray
    p: int
    required: np.ndarray
    forbidden: np.ndarray

    @property
    def n_demand(self) -> int:
        return self.pairs.n_demand

    @property
    def n_sites(self) -> int:
        return self.pairs.n_sites

    def weighted_distance(self) -> np.ndarray:
        """``weight[i] * distance`` of every pair."""
        return self.weight[self.pairs.rows] * self.pairs.dist

    @classmethod
    def from_arrays(
        cls,
        distance: np.ndarray | Sequence[Sequence[float]] | Pairs,
        p: int,
        weight: Sequence[float] | np.ndarray | None = None,
        *,
        max_distance: float | None = None,
        required: IndexLike | None = None,
        forbidden: IndexLike | None = None,
    ) -> PCenterData:
        """Check and store the arrays (a dense ``distance`` marks forbidden pairs with inf)."""
        pairs = allowed_pairs(distance, max_distance)
        n, m = pairs.shape
        w = demand_weights(weight, n)
        req, forb = site_rules(m, required, forbidden)
        check_count(p, m, req, forb)
        return cls(pairs, w, int(p), req, forb)


@dataclass(frozen=True)
class PCenterSolution:
    """Opened sites, the nearest open site of each point (``-1``: none) and the radius."""

    selected: np.ndarray
    assignment: np.ndarray
    objective: float


def build_model(data: PCenterData, integral: bool = False, name: str = "pcenter") -> MILP:
    """Compile the standard p-center MIP into one :class:`MILP` (``[y | x | W]``, minimise).

    With ``integral`` the assignment variables are binary, and so is the radius variable's
    integrality when every weighted distance is an integer (CP-SAT needs both).
    """
    pairs = data.pairs
    m, n, k = data.n_sites, data.n_demand, pairs.size
    x0, w_col = m, m + k
    kk = np.arange(k, dtype=np.int64)
    ii = np.arange(n, dtype=np.int64)
    wd = data.weighted_distance()
    rows = RowBuilder(m + k + 1)
    rows.add(pairs.rows, x0 + kk, np.ones(k), n, 1.0, 1.0)
    link_vals = np.r_[np.ones(k), -np.ones(k)]
    rows.add(np.r_[kk, kk], np.r_[x0 + kk, pairs.cols], link_vals, k, -np.inf, 0.0)
    add_count_row(rows, m, data.p)
    rows.add(
        np.r_[pairs.rows, ii],
        np.r_[x0 + kk, np.full(n, w_col)],
        np.r_[wd, -np.ones(n)],
        n,
        -np.inf,
        0.0,
    )
    a, lower, upper = rows.build()
    y_lo, y_up = site_bounds(m, data.required, data.forbidden)
    w_int = integral and bool(np.all(wd == np.round(wd)))
    return MILP(
        c=np.r_[np.zeros(m + k), 1.0],
        A=a,
        row_lower=lower,
        row_upper=upper,
        col_lower=np.r_[y_lo, np.zeros(k + 1)],
        col_upper=np.r_[y_up, y_up[pairs.cols], wd.max(initial=0.0)],
        integrality=np.r_[np.ones(m, dtype=bool), np.full(k, integral), w_int],
        sense="min",
        blocks={
            "open": slice(0, m),
            "assign": slice(x0, x0 + k),
            "radius": slice(w_col, w_col + 1),
        },
        name=name,
    )


def decode(data: PCenterData, milp: MILP, x: np.ndarray) -> PCenterSolution:
    """Opened sites from ``x``; each point assigned to its nearest open site."""
    return solution_of(data, opened_sites(milp, x))


def solution_of(data: PCenterData, selected: np.ndarray) -> PCenterSolution:
    """Nearest-open assignment of ``selected`` and its radius (``inf`` if a point is unserved)."""
    assignment = nearest_open(data.pairs, selected)
    return PCenterSolution(selected, assignment, radius_of(data, assignment))


def radius_of(data: PCenterData, assignment: np.ndarray) -> float:
    """Largest weighted distance of an assignment (``inf`` if a point is unassigned)."""
    if data.n_demand == 0:
        return 0.0
    if np.any(assignment < 0):
        return math.inf
    pairs = data.pairs
    key = pairs.rows * pairs.n_sites + pairs.cols
    pos = np.searchsorted(key, np.arange(data.n_demand) * pairs.n_sites + assignment)
    return float(np.max(data.weight * pairs.dist[pos]))


def greedy_centers(data: PCenterData, start: np.ndarray | None = None) -> np.ndarray:
    """Farthest-first heuristic: open sites until ``p`` are open, each time the allowed site
    nearest to the point currently farthest from every open site (Gonzalez, 1985).

    Starts from the required sites (and ``start``, a 0/1 mask, when given). One step per
    facility opened, each vectorised over the pairs.
    """
    pairs = data.pairs
    m, n = data.n_sites, data.n_demand
    allowed = np.ones(m, dtype=bool)
    allowed[data.forbidden] = False
    keep = allowed[pairs.cols]
    rows, cols, wd = pairs.rows[keep], pairs.cols[keep], data.weighted_distance()[keep]
    by_site = np.argsort(cols, kind="stable")
    site_ptr = np.searchsorted(cols[by_site], np.arange(m + 1))
    row_ptr = np.searchsorted(rows, np.arange(n + 1))
    nearest = np.full(n, np.inf)
    selected = np.zeros(m, dtype=bool)

    def open_site(j: int) -> None:
        selected[j] = True
        seg = by_site[site_ptr[j] : site_ptr[j + 1]]
        nearest[rows[seg]] = np.minimum(nearest[rows[seg]], wd[seg])

    initial = data.required if start is None else np.union1d(data.required, np.flatnonzero(start))
    for j in initial.tolist():
        open_site(int(j))
    while selected.sum() < data.p:
        free = allowed & ~selected
        if not free.any():
            break
        far = int(np.argmax(nearest)) if n else 0
        seg = slice(row_ptr[far], row_ptr[far + 1]) if n else slice(0, 0)
        cand_cols, cand_wd = cols[seg], wd[seg]
        ok = free[cand_cols]
        # the free site nearest to the farthest point; any free site if none reaches it
        pick = cand_cols[ok][np.argmin(cand_wd[ok])] if ok.any() else np.flatnonzero(free)[0]
        open_site(int(pick))
    return selected


@dataclass(frozen=True)
class PCenterOutcome:
    """A p-center problem solved by binary search over covering problems: the normalised
    :class:`Result` and what only the search knows.

    Attributes
    ----------
    result : Result
        Status, radius, bound (the largest radius proved infeasible, or the lower bound),
        times, stop reason; ``extra`` holds ``method``, ``iterations`` and ``candidates``.
    solution : PCenterSolution or None
        The best centres found (None without a feasible radius).
    candidates : int
        Candidate radii searched.
    iterations : tuple of dict
        One entry per covering problem: its radius, status, solve time and the radius its
        cover achieved.
    """

    result: Result
    solution: PCenterSolution | None
    candidates: int
    iterations: tuple[dict[str, float | str], ...] = ()


def cover_model(data: PCenterData, radius: float) -> tuple[MILP, lscp.LscpData]:
    """The covering feasibility problem of ``radius``: the LSCP model of
    :mod:`optimizer.models.covering.lscp` (one unit of cost per site, the required / forbidden
    sites fixed) with the count row ``sum y <= p``."""
    reach = data.pairs.subset(data.weighted_distance() <= radius).reach_matrix()
    cdata = lscp.LscpData.from_arrays(reach, required=data.required, forbidden=data.forbidden)
    milp = lscp.build_model(cdata, name=f"pcenter-cover(r={radius:g})", max_open=data.p)
    return milp, cdata


def solve_search(data: PCenterData, backend: Backend, options: SolveOptions) -> PCenterOutcome:
    """Solve the p-center problem by binary search over covering problems (module docstring).

    ``options.time_limit_s`` bounds the whole search; each covering problem gets what is left.
    ``build_s`` and ``solve_s`` of the result add up over the steps.
    """
    t_start = time.perf_counter()
    n, m = data.n_demand, data.n_sites
    pairs = data.pairs
    allowed = np.ones(m, dtype=bool)
    allowed[data.forbidden] = False
    ok = allowed[pairs.cols]
    wd = data.weighted_distance()
    name = backend.name
    no_site = np.setdiff1d(np.arange(n), pairs.rows[ok])
    if no_site.size or (n and data.p == 0):
        why = "a demand point has no allowed site" if no_site.size else "p = 0"
        res = Result(
            Status.INFEASIBLE,
            math.nan,
            math.nan,
            None,
            name,
            message=why,
            extra={"method": "search"},
            stop=StopReason.INFEASIBLE,
        )
        return PCenterOutcome(res, None, 0)
    row_min = np.full(n, np.inf)
    np.minimum.at(row_min, pairs.rows[ok], wd[ok])
    lower = float(row_min.max(initial=0.0))
    cand = np.unique(wd[ok])
    cand = cand[cand >= lower] if cand.size else np.array([0.0])

    best = solution_of(data, greedy_centers(data))
    hi = int(np.searchsorted(cand, best.objective)) if math.isfinite(best.objective) else cand.size
    lo = proven = 0
    build_s = solve_s = 0.0
    nodes = 0
    iterations: list[dict[str, float | str]] = []
    stop: StopReason | None = None
    log.info(
        "p-center search: %d candidate radii in [%g, %g], greedy radius %g",
        cand.size,
        cand[0],
        cand[-1],
        best.objective,
    )
    while lo < hi:
        left = None
        if options.time_limit_s is not None:
            left = options.time_limit_s - (time.perf_counter() - t_start)
            if left <= 0:
                stop = StopReason.TIME_LIMIT
                break
        mid = (lo + hi) // 2
        radius = float(cand[mid])
        t0 = time.perf_counter()
        milp, cdata = cover_model(data, radius)
        build_s += time.perf_counter() - t0
        res = backend.solve(milp, replace(options, time_limit_s=left, warm_start=None))
        build_s += res.build_s
        solve_s += res.solve_s
        nodes += res.nodes or 0
        step: dict[str, float | str] = {
            "radius": radius,
            "status": res.status.value,
            "solve_s": res.solve_s,
        }
        if res.status.has_solution and res.x is not None:
            cover = lscp.decode(cdata, milp, res.x).selected
            sol = solution_of(data, greedy_centers(data, start=cover))
            step["achieved"] = sol.objective
            if sol.objective < best.objective:
                best = sol
            hi = int(np.searchsorted(cand, best.objective))
        elif res.status is Status.INFEASIBLE:
            lo = proven = mid + 1
        else:  # no answer (time limit, solver error): search higher, the bound stays
            lo = mid + 1
            stop = res.stop or StopReason.TIME_LIMIT
        iterations.append(step)
        log.debug("p-center radius %g: %s", radius, res.status.value)

    extra: dict[str, object] = {
        "method": "search",
        "iterations": iterations,
        "candidates": int(cand.size),
    }
    if hi >= cand.size:  # no feasible radius known
        status = Status.INFEASIBLE if proven >= cand.size else Status.NO_SOLUTION
        res = Result(
            status,
            math.nan,
            math.nan,
            None,
            name,
            build_s=build_s,
            solve_s=solve_s,
            nodes=nodes,
            message="no radius is feasible with p sites",
            extra=extra,
            stop=StopReason.INFEASIBLE if status is Status.INFEASIBLE else stop,
        )
        return PCenterOutcome(res, None, int(cand.size), tuple(iterations))
    bound = float(cand[min(proven, cand.size - 1)])
    status = Status.OPTIMAL if proven >= hi else Status.FEASIBLE
    message = f"binary search: {len(iterations)} covering problems over {cand.size} radii"
    if stop is not None and status is Status.FEASIBLE:
        message += " (some ended without an answer: time limit or solver failure)"
    res = Result(
        status=status,
        objective=best.objective,
        bound=bound,
        x=None,
        solver=name,
        build_s=build_s,
        solve_s=solve_s,
        nodes=nodes,
        message=message,
        extra=extra,
        stop=StopReason.OPTIMAL if status is Status.OPTIMAL else stop,
    )
    return PCenterOutcome(res, best, int(cand.size), tuple(iterations))
