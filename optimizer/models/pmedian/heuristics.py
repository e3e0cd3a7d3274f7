r"""Construction and local search heuristics for the uncapacitated p-median problem.

* :func:`greedy` — the classic greedy "add" construction: starting from the required sites,
  repeatedly open the site with the largest saving
  :math:`s_j = \sum_i w_i \max(0, c_i - d_{ij})` (:math:`c_i`: the current distance of point
  :math:`i` to its nearest open site), computed for every site at once with ``np.bincount``
  over the allowed pairs.
* :func:`local_search` — best-improvement swap (interchange) local search with the
  Resende–Werneck "fast interchange" accounting, compiled and updated incrementally
  (:mod:`optimizer.models.pmedian.swap`).
* :func:`solve_heuristic` — greedy (plus optional randomised greedy restarts) followed by the
  local search, and optionally the iterated swap search until the time limit; deterministic
  for a given seed.

Costs are :math:`c_{ij} = w_i d_{ij}` over the allowed pairs. A demand point with no open site
in reach pays its *fallback* cost: ``weight * unserved_penalty`` where the data allows unserved
points, otherwise a large "big-M" cost (the solution is then infeasible and its objective is
reported as ``inf``). Pairs to forbidden sites are ignored; required sites are always open and
never removed. Capacitated data is refused (``ValueError``).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from functools import cached_property

import numba
import numpy as np

from optimizer.milp import MILP
from optimizer.models.common import nearest_open
from optimizer.models.pmedian.model import PMedianData, assignment_distance, solution_cost
from optimizer.models.pmedian.swap import SwapIndex, iterated_swap_search, swap_search
from optimizer.result import Result, Status, StopReason

log = logging.getLogger(__name__)

__all__ = [
    "CostPairs",
    "HeuristicResult",
    "greedy",
    "local_search",
    "solve_heuristic",
    "warm_start_vector",
]


@dataclass(frozen=True)
class CostPairs:
    """The pairs of a p-median instance as weighted costs, ready for the heuristics.

    Attributes
    ----------
    rows, cols : ndarray of int64 (k,)
        Demand and site of each usable pair (pairs to forbidden sites dropped), sorted by row.
    cost : ndarray (k,)
        ``weight[row] * dist``.
    fallback : ndarray (n_demand,)
        Cost of a point that no open site reaches (penalty, or big-M when service is
        compulsory).
    penalised : bool
        True when unserved points are allowed (``fallback`` is a real cost).
    n_demand, n_sites, p : int
        Sizes and facility count.
    required, allowed : ndarray of bool (n_sites,)
        Sites fixed open; sites that may be open (not forbidden).
    cap : ndarray (n_demand,) or None
        Set by :meth:`truncated`: the cost of each point's cheapest pair that was left out
        (``inf`` where none was). A Lagrangian bound of the truncated pairs is a bound of the
        full problem as long as every multiplier stays at most its cap.
    """

    rows: np.ndarray
    cols: np.ndarray
    cost: np.ndarray
    fallback: np.ndarray
    penalised: bool
    n_demand: int
    n_sites: int
    p: int
    required: np.ndarray
    allowed: np.ndarray
    cap: np.ndarray | None = None

    @classmethod
    def from_data(cls, data: PMedianData) -> CostPairs:
        """Costs of ``data``; raises ValueError for capacitated data."""
        if data.capacitated:
            raise ValueError("the p-median heuristics handle the uncapacitated model only")
        pairs = data.pairs
        m = data.n_sites
        allowed = np.ones(m, dtype=bool)
        allowed[data.forbidden] = False
        required = np.zeros(m, dtype=bool)
        required[data.required] = True
        keep = allowed[pairs.cols]
        rows, cols = pairs.rows[keep], pairs.cols[keep]
        cost = data.weight[rows] * pairs.dist[keep]
        if data.unserved_penalty is not None:
            fallback = data.weight * data.unserved_penalty
            penalised = True
        else:
            big = 10.0 * (float(cost.max()) if cost.size else 1.0) + 1.0
            fallback = np.full(data.n_demand, big * max(1.0, float(data.weight.max(initial=1.0))))
            penalised = False
        return cls(
            rows, cols, cost, fallback, penalised, data.n_demand, m, data.p, required, allowed
        )

    @property
    def size(self) -> int:
        return int(self.rows.size)

    @cached_property
    def swap_index(self) -> SwapIndex:
        """The pairs laid out for the compiled swap search (built once per instance: one sort
        of the pairs)."""
        return SwapIndex.from_pairs(
            self.rows,
            self.cols,
            self.cost,
            self.fallback,
            self.allowed,
            self.required,
            self.penalised,
        )

    def truncated(self, keep: int) -> CostPairs:
        """The ``keep`` cheapest pairs of every demand point (ties: lowest site index).

        The result's ``cap`` holds, per point, the cost of its cheapest pair left out. With
        all pairs of a dense ``n x m`` problem a per-row partition is used, otherwise one
        sort of all pairs.
        """
        n, m, k = self.n_demand, self.n_sites, self.size
        if keep <= 0:
            raise ValueError("keep must be positive")
        cap = np.full(n, math.inf)
        if k == n * m and np.array_equal(self.cols[:m], np.arange(m)) and keep < m:
            cost = self.cost.reshape(n, m)
            part = np.argpartition(cost, keep, axis=1)
            inside = np.sort(part[:, :keep], axis=1)
            sel = (np.arange(n)[:, None] * m + inside).ravel()
            cap = np.take_along_axis(cost, part[:, keep : keep + 1], axis=1).ravel()
            # the kept ones must not be dearer than the cap (argpartition guarantees it)
        else:
            order = np.lexsort((self.cols, self.cost, self.rows))
            rows_s = self.rows[order]
            starts = group_starts(rows_s)
            counts = np.diff(np.r_[starts, rows_s.size])
            rank = np.arange(rows_s.size) - np.repeat(starts, counts)
            first_out = np.flatnonzero(rank == keep)
            cap[rows_s[first_out]] = self.cost[order[first_out]]
            sel = np.sort(order[rank < keep])
        if self.cap is not None:
            cap = np.minimum(cap, self.cap)
        return CostPairs(
            self.rows[sel],
            self.cols[sel],
            self.cost[sel],
            self.fallback,
            self.penalised,
            n,
            m,
            self.p,
            self.required,
            self.allowed,
            cap,
        )

    def objective(self, opened: np.ndarray) -> float:
        """Total cost of serving every point from its nearest open site (``inf`` if a point
        without penalty is out of reach)."""
        d1, _, s1 = best_two(self, opened)
        if not self.penalised and np.any(s1 < 0):
            return math.inf
        return float(d1.sum())


@dataclass(frozen=True)
class HeuristicResult:
    """Best solution found by the heuristics.

    Attributes
    ----------
    result : Result
        FEASIBLE (``NO_SOLUTION`` when a point must be served but cannot be), the solution's
        cost as ``objective`` (``inf`` without a solution), no bound (``nan``), ``solve_s``
        the wall time, ``nodes`` the improving swaps, and the stop reason: ``NO_BOUND`` (a
        local optimum, nothing proven) or ``TIME_LIMIT``.
    selected : ndarray of bool (n_sites,)
        Open sites.
    greedy_objective : float
        Cost after the greedy construction (the best start).
    """

    result: Result
    selected: np.ndarray
    greedy_objective: float

    def assignment(self, data: PMedianData) -> np.ndarray:
        """Nearest open site of each point (``-1`` where unserved is cheaper or forced)."""
        return assign_nearest(data, self.selected)


def assign_nearest(data: PMedianData, opened: np.ndarray) -> np.ndarray:
    """Nearest open site per point; unserved (``-1``) where the penalty is cheaper."""
    assignment = nearest_open(data.pairs, opened)
    if data.unserved_penalty is not None:
        on = np.flatnonzero(assignment >= 0)
        d = assignment_distance(data, assignment)
        far = on[d[on] > data.unserved_penalty]
        assignment[far] = -1
    return assignment


def heuristic_cost(data: PMedianData, opened: np.ndarray) -> float:
    """Objective of ``opened`` recomputed with :func:`solution_cost`."""
    return solution_cost(data, assign_nearest(data, opened))


def group_starts(rows: np.ndarray) -> np.ndarray:
    if rows.size == 0:
        return np.zeros(0, dtype=np.int64)
    return np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])


def best_two(cp: CostPairs, opened: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Best cost ``d1``, second-best cost ``d2`` and best site ``phi1`` (``-1``: fallback) of
    every demand point over the open sites, the fallback acting as an always-open option."""
    n = cp.n_demand
    d1 = cp.fallback.copy()
    d2 = cp.fallback.copy()
    phi1 = np.full(n, -1, dtype=np.int64)
    keep = np.flatnonzero(opened[cp.cols])
    if keep.size == 0:
        return d1, d2, phi1
    rows, cols, cost = cp.rows[keep], cp.cols[keep], cp.cost[keep]
    starts = group_starts(rows)
    r_of = rows[starts]
    best = np.minimum.reduceat(cost, starts)
    # first position (lowest site index: pairs are sorted) attaining the minimum per row
    row_best = np.empty(n)
    row_best[r_of] = best
    hit = np.flatnonzero(cost == row_best[rows])
    _, first = np.unique(rows[hit], return_index=True)
    arg = hit[first]  # one per row present, in row order
    masked = cost.copy()
    masked[arg] = np.inf
    second = np.minimum.reduceat(masked, starts)
    better = best < d1[r_of]
    # best open site beats the fallback: it becomes d1, the old d1 (fallback) bounds d2
    d2[r_of] = np.where(better, np.minimum(second, d1[r_of]), d2[r_of])
    phi1[r_of[better]] = cols[arg[better]]
    d1[r_of] = np.minimum(best, d1[r_of])
    return d1, d2, phi1


def greedy(
    cp: CostPairs,
    rng: np.random.Generator | None = None,
    candidates: int = 1,
    deadline: float | None = None,
) -> np.ndarray:
    """Greedy add construction.

    Parameters
    ----------
    cp : CostPairs
        The instance.
    rng : Generator, optional
        With ``candidates > 1``, pick uniformly among the ``candidates`` best savings
        (randomised greedy); otherwise the best saving, ties to the lowest index.
    candidates : int
        Size of the restricted candidate list.
    deadline : float, optional
        ``time.perf_counter()`` value after which the sites still to open are opened at
        once, the best savings of the last step first: each step is a pass over every pair,
        and ``p`` of them on a city (800 sites, a million pairs) take longer than a short
        time limit.

    Returns
    -------
    ndarray of bool
        The ``p`` open sites.
    """
    opened = cp.required.copy()
    cur = cp.fallback.copy()
    if opened.any():
        cur, _, _ = best_two(cp, opened)
    slots = cp.p - int(opened.sum())
    if rng is None or candidates <= 1:
        _lazy_greedy(cp, opened, cur, slots, deadline)
        return opened
    while slots > 0:
        saving = np.bincount(
            cp.cols, weights=np.maximum(0.0, cur[cp.rows] - cp.cost), minlength=cp.n_sites
        )
        saving[opened | ~cp.allowed] = -np.inf
        if deadline is not None and time.perf_counter() >= deadline:
            _open_best(opened, saving, slots)
            break
        if rng is not None and candidates > 1:
            free = int(np.sum(np.isfinite(saving)))
            top = np.argsort(-saving, kind="stable")[: max(1, min(candidates, free))]
            j = int(rng.choice(top))
        else:
            j = int(np.argmax(saving))
        opened[j] = True
        on = cp.cols == j
        np.minimum.at(cur, cp.rows[on], cp.cost[on])
        slots -= 1
    return opened


LAZY_PICKS = 64
"""Sites the lazy greedy opens per compiled call between readings of the clock."""


def _lazy_greedy(
    cp: CostPairs, opened: np.ndarray, cur: np.ndarray, slots: int, deadline: float | None
) -> None:
    """Open ``slots`` more sites in place, each the one of largest saving (ties: lowest
    index), recomputing only the site on top of the upper bounds (module docstring); past
    the deadline the rest open by their last bounds."""
    if slots <= 0:
        return
    order = np.argsort(cp.cols, kind="stable")
    site_ptr = np.zeros(cp.n_sites + 1, dtype=np.int64)
    np.cumsum(np.bincount(cp.cols, minlength=cp.n_sites), out=site_ptr[1:])
    rows, cost = cp.rows[order].astype(np.int64), cp.cost[order].astype(np.float64)
    upper = np.bincount(
        cp.cols, weights=np.maximum(0.0, cur[cp.rows] - cp.cost), minlength=cp.n_sites
    )
    upper[opened | ~cp.allowed] = -np.inf
    while slots > 0:
        if deadline is not None and time.perf_counter() >= deadline:
            _open_best(opened, upper, slots)
            return
        done = _lazy_picks(site_ptr, rows, cost, cur, upper, opened, min(slots, LAZY_PICKS))
        if done == 0:  # every site left is closed to us
            return
        slots -= done


@numba.njit(cache=True)
def _lazy_picks(
    site_ptr: np.ndarray,
    rows: np.ndarray,
    cost: np.ndarray,
    cur: np.ndarray,
    upper: np.ndarray,
    opened: np.ndarray,
    picks: int,
) -> int:
    """Open up to ``picks`` sites by lazy greedy; the number opened."""
    done = 0
    while done < picks:
        j, top = -1, -np.inf
        for k in range(upper.size):
            if upper[k] > top:
                j, top = k, upper[k]
        if j < 0:
            break
        saving = 0.0
        for q in range(site_ptr[j], site_ptr[j + 1]):
            d = cur[rows[q]] - cost[q]
            if d > 0.0:
                saving += d
        # the bound was this very sum, or one in another order (rounding): open it
        if saving >= top - 1e-12 * max(1.0, abs(top)):
            opened[j] = True
            upper[j] = -np.inf
            for q in range(site_ptr[j], site_ptr[j + 1]):
                if cost[q] < cur[rows[q]]:
                    cur[rows[q]] = cost[q]
            done += 1
        else:
            upper[j] = saving
    return done


def _open_best(opened: np.ndarray, saving: np.ndarray, slots: int) -> None:
    """Open the ``slots`` sites of largest ``saving`` (closed and forbidden ones are -inf)."""
    free = np.flatnonzero(np.isfinite(saving))
    pick = free[np.argsort(-saving[free], kind="stable")[:slots]]
    opened[pick] = True


def local_search(
    cp: CostPairs,
    opened: np.ndarray,
    deadline: float | None = None,
    max_swaps: int | None = None,
) -> tuple[np.ndarray, float, int]:
    """Best-improvement swap local search (the compiled fast interchange of
    :func:`~optimizer.models.pmedian.swap.swap_search`).

    Parameters
    ----------
    cp : CostPairs
        The instance.
    opened : ndarray of bool
        Starting open sites (``p`` of them, required ones included).
    deadline : float, optional
        ``time.perf_counter()`` value at which to stop (the current solution is returned).
    max_swaps : int, optional
        Stop after this many swaps.

    Returns
    -------
    opened : ndarray of bool
        A local optimum (unless a limit stopped the search).
    objective : float
        Its cost (sum of ``d1``, big-M included when service is compulsory).
    swaps : int
        Improving swaps made.
    """
    state, swaps, _ = swap_search(cp.swap_index, opened, deadline, max_swaps)
    return state.opened, state.objective, swaps


def _finite(cp: CostPairs, opened: np.ndarray, obj: float) -> float:
    if cp.penalised:
        return obj
    _, _, phi1 = best_two(cp, opened)
    return math.inf if np.any(phi1 < 0) else obj


def solve_heuristic(
    data: PMedianData | CostPairs,
    *,
    time_limit_s: float | None = 30.0,
    restarts: int = 0,
    seed: int = 0,
    candidates: int = 3,
    iterate: bool = False,
) -> HeuristicResult:
    """Greedy construction + swap local search, with optional randomised restarts, and
    optionally the iterated swap search until the time limit.

    Parameters
    ----------
    data : PMedianData or CostPairs
        Uncapacitated p-median data.
    time_limit_s : float, optional
        Wall-clock limit (the best solution so far is returned).
    restarts : int
        Extra starts from a randomised greedy (restricted candidate list of ``candidates``).
    seed : int
        Seed of the randomised starts; the result is deterministic given the seed (and
        enough time).
    iterate : bool
        With a time limit, go on from the best local optimum with
        :func:`~optimizer.models.pmedian.swap.iterated_swap_search` until the limit.

    Returns
    -------
    HeuristicResult
    """
    t0 = time.perf_counter()
    cp = data if isinstance(data, CostPairs) else CostPairs.from_data(data)
    deadline = None if time_limit_s is None else t0 + time_limit_s
    rng = np.random.default_rng(seed)
    start = greedy(cp, deadline=deadline)
    greedy_obj = cp.objective(start)
    best, best_obj, swaps = local_search(cp, start, deadline)
    for _ in range(restarts):
        if deadline is not None and time.perf_counter() >= deadline:
            break
        sol, obj, n_sw = local_search(cp, greedy(cp, rng, candidates, deadline), deadline)
        swaps += n_sw
        if obj < best_obj - 1e-9 * max(1.0, abs(best_obj)):
            best, best_obj = sol, obj
    kicks = 0
    if iterate and deadline is not None and time.perf_counter() < deadline:
        best, best_obj, kicks, _ = iterated_swap_search(cp.swap_index, best, deadline, seed=seed)
    best_obj = _finite(cp, best, best_obj)
    elapsed = time.perf_counter() - t0
    log.info(
        "p-median heuristic: greedy %.6g, local search %.6g (%d swaps, %d perturbations) in %.2f s",
        greedy_obj,
        best_obj,
        swaps,
        kicks,
        elapsed,
    )
    timed_out = deadline is not None and time.perf_counter() >= deadline
    result = Result(
        status=Status.FEASIBLE if math.isfinite(best_obj) else Status.NO_SOLUTION,
        objective=best_obj,
        bound=math.nan,
        x=None,
        solver="heuristic",
        solve_s=elapsed,
        nodes=swaps,
        message=f"greedy {greedy_obj:.10g}, {swaps} improving swaps",
        stop=StopReason.TIME_LIMIT if timed_out else StopReason.NO_BOUND,
    )
    return HeuristicResult(result, best, greedy_obj)


def warm_start_vector(data: PMedianData, milp: MILP, opened: np.ndarray) -> np.ndarray:
    """A full solution vector of :func:`optimizer.models.pmedian.model.build_model` for ``opened``.

    ``y`` = the open sites, ``x_ij`` = 1 for each point's nearest open site, ``u_i`` = 1 for
    the points left unserved (where the model has ``u``).

    Parameters
    ----------
    data : PMedianData
        The instance the model was built from.
    milp : MILP
        The model (its ``blocks`` locate ``y``, ``x`` and ``u``).
    opened : ndarray of bool
        Open sites.
    """
    blocks = milp.blocks
    x = np.zeros(milp.num_vars)
    x[blocks["open"]] = opened.astype(float)
    assignment = assign_nearest(data, opened)
    pairs = data.pairs
    on = np.flatnonzero(assignment >= 0)
    key = pairs.rows * pairs.n_sites + pairs.cols
    pos = np.searchsorted(key, on * pairs.n_sites + assignment[on])
    x[blocks["assign"].start + pos] = 1.0
    if "unserved" in blocks:
        off = np.flatnonzero(assignment < 0)
        x[blocks["unserved"].start + off] = 1.0
    return x
