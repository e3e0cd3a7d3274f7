r"""Capacitated p-median (single sourcing) to a certified gap: Lagrangian bound, heuristic, B&B.

The path, under one :class:`~optimizer.deadline.Deadline`:

1. **Lagrangian relaxation of the assignment rows.** With multipliers :math:`\lambda_i` on
   :math:`\sum_j x_{ij} + u_i = 1`, the problem splits per site: site :math:`j`, if open,
   takes the points of negative reduced cost :math:`c_{ij} - \lambda_i` that fit its capacity —
   a 0/1 knapsack, solved exactly by dynamic programming over integer capacity units
   (:func:`_knapsacks`, Numba) — and the :math:`p` sites of least knapsack value are opened.

   .. math:: L(\lambda) = \sum_i \lambda_i + \sum_i \min(0, f_i - \lambda_i)
                          + \min_{|S| = p} \sum_{j \in S} v_j(\lambda)

   where :math:`f_i` is the unserved penalty of point :math:`i` (no term without one). Demands
   and capacities that are not integer are scaled and rounded (demands down, capacities up):
   the knapsacks then relax the true ones, so the bound stays valid. Subgradient optimisation
   (Polyak steps against the incumbent) maximises :math:`L`.
2. **Primal heuristic.** Every few iterations the open sites of the relaxation get a quick
   assignment (regret greedy, then shift / swap local search within capacities, Numba:
   :func:`quick_assign`) and *locate–allocate*: each cluster moves to the site that serves it
   cheapest within capacity, assigned again while it improves. The best open sets found are
   then polished with the generalized assignment problem (GAP) solved as a small MIP
   (:func:`assign_sites`: each point's nearest open sites, all of them if that fails).
3. **Reduced-cost fixing** against the incumbent (UB): a site whose forced opening (closing)
   lifts :math:`L` to UB is fixed closed (open); a pair whose forced use lifts :math:`L` to UB
   (:math:`v_j` rises at least by the pair's positive reduced cost) is removed. Every solution
   cheaper than UB survives.
4. **Lagrangian branch-and-bound** on the sites (:func:`lagrangian_tree`, up to
   :data:`TREE_MAX_SITES` sites): best-first, each node re-optimises the multipliers from its
   parent's, fixes sites by reduced costs, tries the quick heuristic on its open sites and
   branches on an open site (forced open / closed) or, with :data:`BRANCH_ON_CLIENTS`, on a
   point's assignment (to a site / not: forced and removed knapsack items); a node with its p
   sites decided is a GAP, solved exactly by the MIP backend. Beyond that size, the MIP
   (:func:`optimizer.models.pmedian.model.build_model`) of the problem reduced by step 3,
   warm-started from the incumbent, with a Lagrangian cut (:func:`add_lagrangian_cuts`); its
   bound counts for the full problem up to UB.
5. **Subset-row cuts** (:mod:`optimizer.models.pmedian.cpmp_price`): where every point must be
   served and there are at most :data:`~optimizer.models.pmedian.cpmp_price.SR_MAX_POINTS`
   points, the tree gets :data:`TREE_SHARE_BEFORE_PRICE` of the time left and, if it does not
   finish, column generation with subset-row cuts the rest: its certified root bound is far
   above the Lagrangian one where that is weak (pmedcap20: 1002 against 974, optimum 1005).

The reported bound is the best of all.

Every MIP (GAP, leaf, reduced, full) starts only when it fits the time left
(:func:`~optimizer.backends.base.mip_root_fits`: HiGHS does not stop inside its root); where
the dense cost matrix is too large, the quick heuristic works on the pairs
(:func:`sparse_quick_assign`).

The answer carries a certified gap: OPTIMAL only when the bound meets the objective (within
``mip_gap``).
"""

from __future__ import annotations

import functools
import heapq
import logging
import math
from dataclasses import dataclass, field, replace

import numba
import numpy as np
import scipy.sparse as sp

from optimizer.backends import (
    Backend,
    Result,
    SolveOptions,
    Status,
    StopReason,
    get_backend,
    mip_root_fits,
)
from optimizer.deadline import Deadline
from optimizer.milp import MILP
from optimizer.models.pmedian import cpmp_price
from optimizer.models.pmedian import model as pmedian
from optimizer.models.pmedian.cpmp_items import SiteItems
from optimizer.models.pmedian.model import PMedianData
from optimizer.result import relative_gap

log = logging.getLogger(__name__)

__all__ = [
    "CpmpRelaxation",
    "CpmpRun",
    "SiteItems",
    "assign_sites",
    "fix_by_reduced_cost",
    "relax",
    "solve_cpmedian",
]

LAGRANGIAN_SHARE = 0.35
"""Share of the time limit for the Lagrangian phase (with its quick heuristics)."""
POLISH_SHARE = 0.2
"""Share of the time left after it for the GAP MIP on the best open sets."""
POLISH_SETS = 3
"""Open sets polished by the GAP MIP."""
GAP_NEAREST = 8
"""Open sites per point in the first GAP try (all of them when that fails)."""
STALL_ITERATIONS = 25
"""Subgradient iterations without a better bound before the step factor is halved."""
MIN_STEP_FACTOR = 2e-3
"""The subgradient stops below this step factor."""
HEURISTIC_EVERY = 5
"""Iterations between two calls of the GAP heuristic on a new set of open sites."""
NO_INCUMBENT_ITERATIONS = 200
"""Subgradient iterations allowed without any feasible solution."""
NODE_ITERATIONS = 60
"""Subgradient iterations per tree node."""
NODE_STEP = 0.25
"""Step factor at a tree node (its multipliers start near the parent's optimum)."""
NODE_STALL = 6
"""Node iterations without a better bound before the step factor is halved."""
NODE_HEURISTIC_EVERY = 20
"""Node iterations between two quick heuristic calls."""
BRANCH_ON_CLIENTS = False
"""Branch on a point's assignment (:func:`_branch_point`) rather than on a site. Off: on
pmedcap20 (60 s) both end near bound 990, and sites proved pmedcap08 in 16 s (assignments:
30 s) and pmedcap15 in 25 s (29 s), at load 3.5 on 2 cores."""
TREE_MAX_SITES = 1000
"""The tree runs for instances up to this many sites; larger ones go to the reduced MIP."""
CUT_COUNT = 1
"""Lagrangian cuts added to the reduced MIP (from the last improvements of the bound)."""
TREE_SHARE_BEFORE_PRICE = 0.6
"""Share of the time left that the tree gets where the subset-row phase follows it
(:func:`_price_eligible`); the phase runs for the rest only if the tree did not finish."""
TIME_RESERVE = 0.03
"""Share of the limit kept back for decoding and checking, so the run ends within its limit."""


@numba.njit(cache=True, nogil=True)
def _knapsacks(
    indptr: np.ndarray,
    rows: np.ndarray,
    cost: np.ndarray,
    units: np.ndarray,
    cap: np.ndarray,
    lam: np.ndarray,
    forced: np.ndarray,
    take: np.ndarray,
) -> np.ndarray:
    """Per site the least total reduced cost of items that fit its capacity (0/1 knapsack by
    dynamic programming over capacity units) with its ``forced`` items in; ``take`` marks the
    chosen items. A site whose forced items overfill it is worth ``inf``."""
    m = indptr.size - 1
    value = np.zeros(m)
    take[:] = False
    for j in range(m):
        lo, hi = indptr[j], indptr[j + 1]
        cap_j = cap[j]
        fixed = 0.0
        for k in range(lo, hi):
            if forced[k]:
                take[k] = True
                cap_j -= units[k]
                fixed += cost[k] - lam[rows[k]]
        if cap_j < 0:
            value[j] = np.inf
            continue
        value[j] = fixed
        count = 0
        total = 0
        for k in range(lo, hi):
            if not forced[k] and cost[k] - lam[rows[k]] < 0.0 and units[k] <= cap_j:
                count += 1
                total += units[k]
        if count == 0:
            continue
        cand = np.empty(count, dtype=np.int64)
        t = 0
        for k in range(lo, hi):
            if not forced[k] and cost[k] - lam[rows[k]] < 0.0 and units[k] <= cap_j:
                cand[t] = k
                t += 1
        if total <= cap_j:  # everything fits: no knapsack to solve
            v = 0.0
            for t in range(count):
                take[cand[t]] = True
                v += cost[cand[t]] - lam[rows[cand[t]]]
            value[j] += v
            continue
        best = np.zeros(cap_j + 1)
        keep = np.zeros((count, cap_j + 1), dtype=np.bool_)
        for t in range(count):
            k = cand[t]
            w = units[k]
            r = cost[k] - lam[rows[k]]
            for c in range(cap_j, w - 1, -1):
                v = best[c - w] + r
                if v < best[c]:
                    best[c] = v
                    keep[t, c] = True
        value[j] += best[cap_j]
        c = cap_j
        for t in range(count - 1, -1, -1):
            if keep[t, c]:
                take[cand[t]] = True
                c -= units[cand[t]]
    return value


@dataclass(frozen=True)
class CpmpRelaxation:
    """One evaluation of the Lagrangian function.

    Attributes
    ----------
    value : float
        :math:`L(\\lambda)`, a lower bound of the optimum.
    site_value : ndarray (m,)
        Knapsack value :math:`v_j` of each site (0 for forbidden sites).
    opened : ndarray of bool (m,)
        The p sites of the relaxed solution.
    take : ndarray of bool (k,)
        Items chosen by the knapsacks (of every site, open or not).
    unserved : ndarray of bool (n,)
        Points the relaxation leaves unserved (penalty cheaper than the multiplier).
    """

    value: float
    site_value: np.ndarray
    opened: np.ndarray
    take: np.ndarray
    unserved: np.ndarray


def _open_cheapest(items: SiteItems, site_value: np.ndarray) -> np.ndarray:
    """The required sites plus the free allowed sites of least value, p in all."""
    opened = items.required.copy()
    free = np.flatnonzero(items.allowed & ~items.required)
    need = items.p - int(opened.sum())
    order = free[np.argsort(site_value[free], kind="stable")]
    opened[order[:need]] = True
    return opened


def relax(items: SiteItems, lam: np.ndarray) -> CpmpRelaxation:
    """Evaluate the Lagrangian function at ``lam`` (module docstring)."""
    take = np.zeros(items.rows.size, dtype=np.bool_)
    forced = take.copy() if items.forced is None else items.forced
    site_value = _knapsacks(
        items.indptr, items.rows, items.cost, items.units, items.cap_units, lam, forced, take
    )
    opened = _open_cheapest(items, site_value)
    value = float(lam.sum() + site_value[opened].sum())
    unserved = np.zeros(items.n_demand, dtype=bool)
    if items.fallback is not None:
        unserved = items.fallback < lam
        value += float(np.sum(items.fallback[unserved] - lam[unserved]))
    return CpmpRelaxation(value, site_value, opened, take, unserved)


def subgradient(items: SiteItems, rel: CpmpRelaxation) -> np.ndarray:
    """``1 - (times served by open sites) - unserved`` per point."""
    sites = np.repeat(np.arange(items.n_sites), np.diff(items.indptr))
    on = rel.take & rel.opened[sites]
    served = np.bincount(items.rows[on], minlength=items.n_demand)
    return 1.0 - served - rel.unserved


def _start_multipliers(items: SiteItems) -> np.ndarray:
    """Each point's cost to its ``ceil(n/p)``-th cheapest site: knapsacks then take about a
    cluster's worth of points each."""
    n = items.n_demand
    rank = max(1, math.ceil(n / max(1, items.p)))
    order = np.lexsort((items.cost, items.rows))
    rows, cost = items.rows[order], items.cost[order]
    starts = np.searchsorted(rows, np.arange(n))
    counts = np.bincount(rows, minlength=n)
    lam = np.zeros(n)
    has = counts > 0
    pick = starts[has] + np.minimum(counts[has], rank) - 1
    lam[has] = cost[pick]
    if items.fallback is not None:
        lam = np.where(has, np.minimum(lam, items.fallback), items.fallback)
    return lam


def bound_value(value: float, integral: bool) -> float:
    """The bound, rounded up when every cost is an integer."""
    return float(math.ceil(value - 1e-6)) if integral else value


# ----------------------------------------------------------------------------- primal side


def _nearest_pairs(data: PMedianData, opened: np.ndarray, nearest: int | None) -> np.ndarray:
    """Pairs (bool mask) to open sites, at most ``nearest`` cheapest per point (all: None)."""
    pairs = data.pairs
    keep = opened[pairs.cols]
    if nearest is None:
        return keep
    idx = np.flatnonzero(keep)
    idx = idx[np.lexsort((pairs.dist[idx], pairs.rows[idx]))]
    rows = pairs.rows[idx]
    first = np.searchsorted(rows, rows)  # start of each point's run
    rank = np.arange(idx.size) - first
    out = np.zeros(pairs.size, dtype=bool)
    out[idx[rank < nearest]] = True
    return out


def _restricted(data: PMedianData, keep: np.ndarray, opened: np.ndarray | None) -> PMedianData:
    """``data`` on the pairs ``keep``; with ``opened``, those sites fixed open and the others
    closed (a generalized assignment problem)."""
    if opened is None:
        return replace(data, pairs=data.pairs.subset(keep))
    sites = np.arange(data.n_sites)
    return replace(
        data,
        pairs=data.pairs.subset(keep),
        p=int(opened.sum()),
        required=sites[opened],
        forbidden=sites[~opened],
    )


def warm_vector(data: PMedianData, assignment: np.ndarray, opened: np.ndarray) -> np.ndarray:
    """The column vector of :func:`~optimizer.models.pmedian.model.build_model` for a
    solution: ``[y | x (pairs) | u]``."""
    pairs = data.pairs
    x = (assignment[pairs.rows] == pairs.cols).astype(float)
    out = [opened.astype(float), x]
    if data.unserved_penalty is not None:
        out.append((assignment < 0).astype(float))
    return np.concatenate(out)


def _feasible_vector(data: PMedianData, assignment: np.ndarray) -> bool:
    """Every served point on an allowed pair of ``data`` (for a warm start)."""
    pairs = data.pairs
    hit = np.bincount(pairs.rows[assignment[pairs.rows] == pairs.cols], minlength=data.n_demand)
    return bool(np.all((hit == 1) | (assignment < 0)))


def assign_sites(
    data: PMedianData,
    opened: np.ndarray,
    backend: Backend,
    time_limit_s: float | None,
    threads: int | None = 1,
    nearest: int | None = GAP_NEAREST,
) -> tuple[np.ndarray, float] | None:
    """Assign every point to the open sites within capacity at least cost (the GAP, a MIP on
    each point's ``nearest`` open sites; on all of them when that finds nothing).

    Returns
    -------
    (assignment, cost) or None
        None when no assignment was found in time (or none exists).
    """
    deadline = Deadline(time_limit_s)
    tries = [nearest, None] if nearest is not None and nearest < int(opened.sum()) else [None]
    for near in tries:
        left = deadline.remaining()
        if left is not None and left <= 0.05:
            return None
        sub = _restricted(data, _nearest_pairs(data, opened, near), opened)
        if (
            sub.unserved_penalty is None
            and np.bincount(sub.pairs.rows, minlength=sub.n_demand).min(initial=1) == 0
        ):
            continue  # a point without an open site in reach
        milp = pmedian.build_model(sub, name="cpmedian-gap")
        if not mip_root_fits(milp.A.nnz, left):
            return None
        res = backend.solve(
            milp, SolveOptions(time_limit_s=left, mip_gap=1e-4, threads=threads, seed=0)
        )
        if res.status.has_solution and res.x is not None:
            sol = pmedian.decode(sub, milp, res.x)
            return sol.assignment, pmedian.solution_cost(data, sol.assignment)
    return None


@numba.njit(cache=True, nogil=True)
def _greedy_assign(cost: np.ndarray, demand: np.ndarray, cap: np.ndarray) -> np.ndarray:
    """Each point, by decreasing regret (second cheapest minus cheapest column), to its
    cheapest column with room left; ``-1`` for a point that fits nowhere."""
    n, s = cost.shape
    regret = np.zeros(n)
    for i in range(n):
        b1, b2 = np.inf, np.inf
        for c in range(s):
            v = cost[i, c]
            if v < b1:
                b1, b2 = v, b1
            elif v < b2:
                b2 = v
        regret[i] = (b2 - b1) if np.isfinite(b2) else 1e300
    order = np.argsort(-regret, kind="mergesort")
    room = cap.copy()
    out = np.full(n, -1, dtype=np.int64)
    for i in order:
        best, pick = np.inf, -1
        for c in range(s):
            if cost[i, c] < best and room[c] >= demand[i] - 1e-9:
                best, pick = cost[i, c], c
        if pick >= 0:
            out[i] = pick
            room[pick] -= demand[i]
    return out


@numba.njit(cache=True, nogil=True)
def _shift_swap(
    cost: np.ndarray, demand: np.ndarray, cap: np.ndarray, assign: np.ndarray, rounds: int
) -> None:
    """Local search on a complete assignment (in place): move a point to a cheaper column
    with room, or exchange the columns of two points, while capacities hold."""
    n, s = cost.shape
    room = cap.copy()
    for i in range(n):
        room[assign[i]] -= demand[i]
    for _ in range(rounds):
        improved = False
        for i in range(n):
            a = assign[i]
            best, pick = cost[i, a] - 1e-9, -1
            for c in range(s):
                if cost[i, c] < best and room[c] >= demand[i] - 1e-9:
                    best, pick = cost[i, c], c
            if pick >= 0:
                room[a] += demand[i]
                room[pick] -= demand[i]
                assign[i] = pick
                improved = True
        for i in range(n):
            for k in range(i + 1, n):
                a, b = assign[i], assign[k]
                if a == b:
                    continue
                delta = cost[i, b] + cost[k, a] - cost[i, a] - cost[k, b]
                if delta >= -1e-9:
                    continue
                shift = demand[i] - demand[k]
                if room[b] >= shift - 1e-9 and room[a] >= -shift - 1e-9:
                    assign[i], assign[k] = b, a
                    room[a] += shift
                    room[b] -= shift
                    improved = True
        if not improved:
            return


def quick_assign(
    data: PMedianData, items: SiteItems, cost: np.ndarray, opened: np.ndarray
) -> tuple[np.ndarray, float] | None:
    """Regret greedy + shift / swap local search on the open sites (unserved as one more
    column of unlimited room where a penalty allows it); None when a point fits nowhere."""
    assert data.capacity is not None
    sites = np.flatnonzero(opened)
    sub = cost[:, sites]
    cap = data.capacity[sites].astype(float)
    if items.fallback is not None:
        sub = np.c_[sub, items.fallback]
        cap = np.r_[cap, np.inf]
    sub = np.ascontiguousarray(sub)
    col = _greedy_assign(sub, data.demand, cap)
    if np.any(col < 0):
        return None
    _shift_swap(sub, data.demand, cap, col, 50)
    out = np.where(col < sites.size, sites[np.minimum(col, sites.size - 1)], -1)
    return out, pmedian.solution_cost(data, out)


@numba.njit(cache=True, nogil=True)
def _sparse_greedy(
    ptr: np.ndarray,
    cols: np.ndarray,
    cost: np.ndarray,
    demand: np.ndarray,
    room: np.ndarray,
    fallback: np.ndarray,
    rounds: int,
) -> np.ndarray:
    """:func:`_greedy_assign` and the shift moves of :func:`_shift_swap` on each point's pairs
    (``ptr`` / ``cols`` / ``cost``: pairs by point; ``room``: capacity left, negative for a
    closed site; ``fallback``: cost of leaving a point unserved, ``inf`` where it must be
    served). ``-1``: unserved; ``-2``: a point that fits nowhere."""
    n = ptr.size - 1
    regret = np.zeros(n)
    for i in range(n):
        b1, b2 = fallback[i], np.inf
        for k in range(ptr[i], ptr[i + 1]):
            if room[cols[k]] < 0.0:
                continue
            v = cost[k]
            if v < b1:
                b1, b2 = v, b1
            elif v < b2:
                b2 = v
        regret[i] = (b2 - b1) if np.isfinite(b2) else 1e300
    out = np.full(n, -2, dtype=np.int64)
    for i in np.argsort(-regret, kind="mergesort"):
        best, pick = fallback[i], -1 if np.isfinite(fallback[i]) else -2
        for k in range(ptr[i], ptr[i + 1]):
            c = cols[k]
            if cost[k] < best and room[c] >= demand[i] - 1e-9:
                best, pick = cost[k], c
        out[i] = pick
        if pick >= 0:
            room[pick] -= demand[i]
    for _ in range(rounds):
        improved = False
        for i in range(n):
            a = out[i]
            if a == -2:
                continue
            now = fallback[i]
            if a >= 0:
                for k in range(ptr[i], ptr[i + 1]):
                    if cols[k] == a:
                        now = cost[k]
            best, pick = now - 1e-9, a
            if fallback[i] < best:
                best, pick = fallback[i], -1
            for k in range(ptr[i], ptr[i + 1]):
                c = cols[k]
                if c != a and cost[k] < best and room[c] >= demand[i] - 1e-9:
                    best, pick = cost[k], c
            if pick != a:
                if a >= 0:
                    room[a] += demand[i]
                if pick >= 0:
                    room[pick] -= demand[i]
                out[i] = pick
                improved = True
        if not improved:
            break
    return out


@dataclass(frozen=True)
class _SparseCosts:
    """The pairs by point with their costs, for :func:`sparse_quick_assign`."""

    ptr: np.ndarray
    cols: np.ndarray
    cost: np.ndarray
    fallback: np.ndarray

    @classmethod
    def from_data(cls, data: PMedianData) -> _SparseCosts:
        pairs = data.pairs  # sorted by point, then site
        ptr = np.searchsorted(pairs.rows, np.arange(data.n_demand + 1)).astype(np.int64)
        fallback = np.full(data.n_demand, np.inf)
        if data.unserved_penalty is not None:
            fallback = data.weight * data.unserved_penalty
        return cls(ptr, pairs.cols, data.weight[pairs.rows] * pairs.dist, fallback)


def sparse_quick_assign(
    data: PMedianData, sparse: _SparseCosts, opened: np.ndarray
) -> tuple[np.ndarray, float] | None:
    """:func:`quick_assign` on the pairs alone (no dense matrix, no swaps): for instances too
    large for the dense costs or for a GAP MIP in the time; None when a point fits nowhere."""
    assert data.capacity is not None
    room = np.where(opened, data.capacity.astype(float), -1.0)
    out = _sparse_greedy(
        sparse.ptr, sparse.cols, sparse.cost, data.demand.astype(float), room, sparse.fallback, 20
    )
    if np.any(out == -2):
        return None
    return out, pmedian.solution_cost(data, out)


def _dense_costs(data: PMedianData) -> np.ndarray | None:
    """``weight * distance`` as a dense matrix (``inf`` off the pairs), for relocation; None
    when too large to hold."""
    if data.n_demand * data.n_sites > 20_000_000:
        return None
    out = np.full((data.n_demand, data.n_sites), np.inf)
    pairs = data.pairs
    out[pairs.rows, pairs.cols] = data.weight[pairs.rows] * pairs.dist
    return out


def relocate(
    data: PMedianData, items: SiteItems, cost: np.ndarray, assignment: np.ndarray
) -> np.ndarray:
    """Open sites after moving each cluster to the free site that serves it cheapest within
    capacity (required sites stay; each site holds one cluster)."""
    assert data.capacity is not None
    m = data.n_sites
    opened = np.zeros(m, dtype=bool)
    served = assignment >= 0
    opened[assignment[served]] = True
    opened |= items.required
    taken = opened.copy()
    for j in np.flatnonzero(opened & ~items.required):
        members = np.flatnonzero(assignment == j)
        load = float(data.demand[members].sum())
        total = cost[members].sum(axis=0) if members.size else np.zeros(m)
        ok = items.allowed & (data.capacity >= load - 1e-9) & (~taken | (np.arange(m) == j))
        total = np.where(ok, total, np.inf)
        k = int(np.argmin(total))
        if np.isfinite(total[k]) and total[k] < total[j] - 1e-9:
            taken[j], taken[k] = False, True
    return taken


@dataclass
class _Incumbent:
    """The best solution so far, and the open sets tried (with the cost found for each)."""

    objective: float = math.inf
    assignment: np.ndarray | None = None
    opened: np.ndarray | None = None
    seen: dict[bytes, float] = field(default_factory=dict)
    gap_calls: int = 0

    def offer(self, assignment: np.ndarray, objective: float, opened: np.ndarray) -> bool:
        if objective < self.objective - 1e-9 * max(1.0, abs(objective)):
            self.objective, self.assignment, self.opened = objective, assignment, opened.copy()
            return True
        return False

    def best_sets(self, count: int) -> list[np.ndarray]:
        """The ``count`` open sets of least cost found so far."""
        ranked = sorted(self.seen.items(), key=lambda kv: kv[1])[:count]
        return [np.unpackbits(np.frombuffer(k, dtype=np.uint8)).astype(bool) for k, _ in ranked]


@dataclass(frozen=True)
class _Assigner:
    """How the heuristic assigns points to a set of open sites: the quick greedy + local
    search (with a dense cost matrix) or the GAP MIP."""

    data: PMedianData
    items: SiteItems
    cost: np.ndarray | None
    backend: Backend
    threads: int | None

    @functools.cached_property
    def sparse(self) -> _SparseCosts:
        """The pairs by point (built on first use, where the dense costs are too large)."""
        return _SparseCosts.from_data(self.data)

    def __call__(
        self, opened: np.ndarray, exact: bool, deadline: Deadline
    ) -> tuple[np.ndarray, float] | None:
        if exact:
            return assign_sites(self.data, opened, self.backend, deadline.cap(3.0), self.threads)
        if self.cost is None:
            return sparse_quick_assign(self.data, self.sparse, opened)
        return quick_assign(self.data, self.items, self.cost, opened)


def _improve_from(
    assigner: _Assigner,
    opened: np.ndarray,
    inc: _Incumbent,
    deadline: Deadline,
    exact: bool = False,
) -> None:
    """Assign to ``opened``, then locate–allocate while it improves (quick assignments skip
    the sets already tried)."""
    current = opened
    m = opened.size
    while not deadline.expired():
        key = np.packbits(current).tobytes()
        if not exact and key in inc.seen:
            return
        inc.gap_calls += int(exact)
        found = assigner(current, exact, deadline)
        if found is None:
            inc.seen.setdefault(key, math.inf)
            return
        assignment, objective = found
        inc.seen[key] = min(objective, inc.seen.get(key, math.inf))
        if not inc.offer(assignment, objective, current) and current is not opened:
            return
        if assigner.cost is None:
            return
        moved = relocate(assigner.data, assigner.items, assigner.cost, assignment)[:m]
        if np.array_equal(moved, current):
            return
        current = moved


# ----------------------------------------------------------------------------- dual side


@dataclass
class _Dual:
    """The best multipliers and their relaxation, and the Lagrangian cuts of the last
    improvements (site values and right-hand side, see :func:`add_lagrangian_cuts`)."""

    lam: np.ndarray
    rel: CpmpRelaxation
    iterations: int = 0
    cuts: list[tuple[np.ndarray, float]] = field(default_factory=list)

    def improve(self, lam: np.ndarray, rel: CpmpRelaxation) -> None:
        self.lam, self.rel = lam.copy(), rel
        self.cuts.append((rel.site_value, rel.value - float(rel.site_value[rel.opened].sum())))
        del self.cuts[:-CUT_COUNT]


def _subgradient_phase(
    data: PMedianData,
    items: SiteItems,
    backend: Backend,
    inc: _Incumbent,
    deadline: Deadline,
    threads: int | None,
) -> _Dual:
    """Maximise the Lagrangian function; run the GAP heuristic on promising open sets."""
    assigner = _Assigner(data, items, _dense_costs(data), backend, threads)
    lam = _start_multipliers(items)
    rel = relax(items, lam)
    best = _Dual(lam.copy(), rel)
    best.improve(lam, rel)
    _improve_from(assigner, rel.opened, inc, deadline)
    factor, stall = 1.0, 0
    while not deadline.expired() and factor > MIN_STEP_FACTOR:
        best.iterations += 1
        bound = bound_value(best.rel.value, items.integral)
        if math.isfinite(inc.objective) and relative_gap(inc.objective, bound) <= 1e-9:
            break
        g = subgradient(items, rel)
        norm = float(g @ g)
        if norm == 0.0:  # every point served once: optimal, if the true capacities hold
            relaxed = relaxed_assignment(items, rel)
            if within_capacity(data, relaxed):
                inc.offer(relaxed, pmedian.solution_cost(data, relaxed), rel.opened)
            break
        if not math.isfinite(inc.objective) and best.iterations > NO_INCUMBENT_ITERATIONS:
            break  # nothing feasible found: the multipliers would only grow (infeasible data)
        target = inc.objective if math.isfinite(inc.objective) else rel.value + abs(rel.value)
        target = max(target, rel.value + 1e-6 * max(1.0, abs(rel.value)))
        lam = lam + factor * (target - rel.value) / norm * g
        rel = relax(items, lam)
        if not math.isfinite(rel.value):
            break
        if rel.value > best.rel.value + 1e-9 * max(1.0, abs(rel.value)):
            best.improve(lam, rel)
            stall = 0
        else:
            stall += 1
            if stall >= STALL_ITERATIONS:
                factor, stall = factor / 2, 0
        near = rel.value >= best.rel.value - 0.02 * abs(best.rel.value)
        if best.iterations % HEURISTIC_EVERY == 0 and near:
            _improve_from(assigner, rel.opened, inc, deadline)
    return best


def _polish(assigner: _Assigner, inc: _Incumbent, deadline: Deadline, count: int) -> None:
    """The GAP MIP (and locate–allocate with it) on the best open sets found."""
    for opened in inc.best_sets(count):
        if deadline.expired():
            return
        _improve_from(assigner, opened[: assigner.items.n_sites], inc, deadline, exact=True)


def within_capacity(data: PMedianData, assignment: np.ndarray) -> bool:
    """The true loads of ``assignment`` fit the capacities (knapsacks on scaled demands
    rounded down may accept a little more)."""
    assert data.capacity is not None
    served = assignment >= 0
    load = np.bincount(assignment[served], weights=data.demand[served], minlength=data.n_sites)
    return bool(np.all(load <= data.capacity * (1 + 1e-12) + 1e-9))


def relaxed_assignment(items: SiteItems, rel: CpmpRelaxation) -> np.ndarray:
    """The assignment of a relaxed solution that serves each point exactly once."""
    sites = np.repeat(np.arange(items.n_sites), np.diff(items.indptr))
    on = rel.take & rel.opened[sites]
    out = np.full(items.n_demand, -1, dtype=np.int64)
    out[items.rows[on]] = sites[on]
    return out


# ----------------------------------------------------------------------------- fixing


@dataclass(frozen=True)
class CpmpFixing:
    """Sites fixed closed / open and pairs kept (of ``data.pairs``) by reduced costs."""

    closed: np.ndarray
    opened: np.ndarray
    keep_pairs: np.ndarray


def _fixing_limit(items: SiteItems, upper: float) -> float:
    """The Lagrangian value from which a choice cannot lead below ``upper`` (with integer
    costs a better solution costs at most ``upper - 1``)."""
    slack = (1.0 - 1e-6) if items.integral else 0.0
    return upper - slack - 1e-7 * max(1.0, abs(upper))


def _site_fixing(
    items: SiteItems, rel: CpmpRelaxation, limit: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sites fixed closed and open by reduced costs, and the least cost of opening each site
    (0 for the open ones) — see :func:`fix_by_reduced_cost`."""
    v = rel.site_value
    free_open = rel.opened & ~items.required
    free_closed = ~rel.opened & items.allowed
    worst_open = float(v[free_open].max()) if free_open.any() else math.inf
    best_closed = float(v[free_closed].min()) if free_closed.any() else math.inf
    open_cost = np.where(rel.opened, 0.0, v - worst_open)
    closed = ~items.allowed | (~rel.opened & (rel.value + open_cost >= limit))
    opened = items.required | (free_open & (rel.value - v + best_closed >= limit))
    return closed, opened, open_cost


def fix_by_reduced_cost(
    data: PMedianData, items: SiteItems, lam: np.ndarray, rel: CpmpRelaxation, upper: float
) -> CpmpFixing:
    """Sites and pairs that cannot be part of a solution cheaper than ``upper``.

    Forcing a closed site ``j`` open costs at least ``v_j - v_w`` (``w`` the open free site of
    largest value); forcing an open free site closed costs at least ``v_c - v_j`` (``c`` the
    closed site of least value); forcing pair ``(i, j)`` raises ``v_j`` by at least
    ``max(0, c_ij - lambda_i)``, plus the cost of opening ``j``. With integer costs a
    solution cheaper than ``upper`` costs at most ``upper - 1``.
    """
    limit = _fixing_limit(items, upper)
    closed, opened, open_cost = _site_fixing(items, rel, limit)
    pairs = data.pairs
    rc = np.zeros(pairs.size)
    rc[items.pair] = items.cost - lam[items.rows]
    lift = rel.value + np.maximum(rc, 0.0) + np.maximum(open_cost[pairs.cols], 0.0)
    keep = ~closed[pairs.cols] & (lift < limit)
    keep[np.setdiff1d(np.arange(pairs.size), items.pair)] = False  # pairs to forbidden sites
    return CpmpFixing(closed, opened, keep)


def add_lagrangian_cuts(milp: MILP, n_sites: int, cuts: list[tuple[np.ndarray, float]]) -> MILP:
    r"""``milp`` (from :func:`~optimizer.models.pmedian.model.build_model`) with one row per
    cut: :math:`\sum c x + \sum f u - \sum_j v_j y_j \ge \sum_i \lambda_i +
    \sum_i \min(0, f_i - \lambda_i)`.

    Valid for every integer solution: an open site's points form a feasible knapsack, so their
    reduced cost is at least :math:`v_j`; it cuts off fractional points (the LP only sees the
    knapsack's LP value), and it keeps the Lagrangian's strength at every node of the tree.
    Pairs missing from the model only raise the left side's minimum.
    """
    if not cuts:
        return milp
    rows = []
    for site_value, _ in cuts:
        row = milp.c.copy()
        row[:n_sites] = -site_value
        rows.append(row)
    extra = sp.csr_matrix(np.vstack(rows))
    rhs = np.array([c for _, c in cuts])
    return replace(
        milp,
        A=sp.vstack([milp.A, extra], format="csr"),
        row_lower=np.r_[milp.row_lower, rhs - 1e-7 * np.maximum(1.0, np.abs(rhs))],
        row_upper=np.r_[milp.row_upper, np.full(rhs.size, np.inf)],
    )


def reduce_data(data: PMedianData, fixing: CpmpFixing) -> PMedianData:
    """``data`` with the fixing applied (pairs dropped, sites fixed)."""
    sites = np.arange(data.n_sites)
    return replace(
        data,
        pairs=data.pairs.subset(fixing.keep_pairs),
        required=sites[fixing.opened],
        forbidden=sites[fixing.closed],
    )


# ----------------------------------------------------------------------------- the tree


@dataclass
class _Node:
    """A node of the Lagrangian branch-and-bound: sites forced open / closed, items (pairs of
    the root's :class:`SiteItems`) removed / forced, the multipliers to start from and a bound
    inherited from the parent."""

    opened: np.ndarray
    closed: np.ndarray
    lam: np.ndarray
    bound: float
    removed: np.ndarray | None = None
    forced: np.ndarray | None = None


def _node_items(items: SiteItems, node: _Node) -> SiteItems:
    """The root's items under the node's decisions: its sites fixed, its removed items gone,
    its forced items marked."""
    allowed = items.allowed & ~node.closed
    # a closed site gets no room: its knapsack is then skipped at once
    cap_units = np.where(allowed, items.cap_units, 0)
    sub = replace(items, required=node.opened, allowed=allowed, cap_units=cap_units)
    if node.removed is None:
        return sub
    keep = ~node.removed
    indptr = np.r_[0, np.cumsum(keep)][items.indptr]
    forced = None if node.forced is None else node.forced[keep]
    return replace(
        sub,
        indptr=indptr,
        rows=items.rows[keep],
        cost=items.cost[keep],
        units=items.units[keep],
        pair=items.pair[keep],
        forced=forced,
    )


def _branch_point(
    items: SiteItems, rel: CpmpRelaxation, sub: SiteItems, node: _Node
) -> tuple[int, int] | None:
    """The assignment to branch on: a point the relaxation serves twice or more (else one it
    leaves unserved), the one of largest demand, and the open site that serves it cheapest
    (for an unserved point: its cheapest open site). Indices are of the root's items: ``(the
    point, the item of the pair)``; None when no such pair is left."""
    g = subgradient(sub, rel)
    free = np.ones(items.n_demand, dtype=bool)
    if node.forced is not None:
        free[items.rows[node.forced]] = False
    sites = np.repeat(np.arange(items.n_sites), np.diff(items.indptr))
    alive = np.ones(items.rows.size, dtype=bool) if node.removed is None else ~node.removed
    # items of the root that the node's relaxation uses: map its ``take`` back
    taken = np.zeros(items.rows.size, dtype=bool)
    taken[np.flatnonzero(alive)[rel.take]] = True
    for twice in (True, False):
        cand = (g < 0 if twice else g > 0) & free
        ok = alive & rel.opened[sites] & cand[items.rows]
        if twice:
            ok &= taken  # a point served twice: one of the sites that took it
        idx = np.flatnonzero(ok)
        if idx.size == 0:
            continue
        units = items.units[idx]
        top = idx[units == units.max()]
        pick = top[np.argmin(items.cost[top])]
        return int(items.rows[pick]), int(pick)
    return None


def _client_children(
    items: SiteItems, node: _Node, item: int, lam: np.ndarray, bound: float
) -> list[_Node]:
    """The two children of branching on the item's pair: the point served by that site (the
    site forced open, the point's other items removed) or not (the item removed). A child
    whose forced items overfill their site is left out."""
    removed = np.zeros(items.rows.size, dtype=bool) if node.removed is None else node.removed
    forced = np.zeros(items.rows.size, dtype=bool) if node.forced is None else node.forced
    site = int(np.searchsorted(items.indptr, item, side="right") - 1)
    point = items.rows[item]
    with_it = removed | (items.rows == point)
    with_it[item] = False
    forced_in = forced.copy()
    forced_in[item] = True
    opened = node.opened.copy()
    opened[site] = True
    lo, hi = items.indptr[site], items.indptr[site + 1]
    out = []
    if int(items.units[lo:hi][forced_in[lo:hi]].sum()) <= int(items.cap_units[site]):
        out.append(_Node(opened, node.closed, lam, bound, with_it, forced_in))
    without = removed.copy()
    without[item] = True
    out.append(_Node(node.opened, node.closed, lam, bound, without, forced))
    return out


@dataclass
class TreeStats:
    """What the tree did: nodes evaluated, leaves solved as GAPs, and the bound it proved;
    with the nodes still open, so that a later call can resume it."""

    nodes: int = 0
    leaves: int = 0
    bound: float = -math.inf
    complete: bool = False
    heap: list[tuple[float, int, int, _Node]] = field(default_factory=list)
    # leaves not solved to the end: (bound, open sites, pairs alive), retried on resume
    open_leaves: list[tuple[float, np.ndarray, np.ndarray]] = field(default_factory=list)
    gap_pruned: list[float] = field(default_factory=list)  # nodes pruned only by mip_gap
    pushed: int = 0


def _prunable(bound: float, upper: float, mip_gap: float) -> bool:
    """A subtree of this bound cannot improve ``upper`` (beyond ``mip_gap``)."""
    if not math.isfinite(upper):
        return False
    return bound >= upper - 1e-9 * max(1.0, abs(upper)) or relative_gap(upper, bound) <= mip_gap


def _node_relaxation(
    items: SiteItems,
    lam: np.ndarray,
    inc: _Incumbent,
    assigner: _Assigner,
    deadline: Deadline,
    mip_gap: float,
) -> tuple[np.ndarray, CpmpRelaxation, bool]:
    """Subgradient optimisation at a node from ``lam``; returns the best multipliers, their
    relaxation and whether the relaxed solution was feasible (then optimal for the node)."""
    rel = relax(items, lam)
    best_lam, best = lam, rel
    factor, stall = NODE_STEP, 0
    for it in range(NODE_ITERATIONS):
        if deadline.expired() or _prunable(
            bound_value(best.value, items.integral), inc.objective, mip_gap
        ):
            break
        g = subgradient(items, rel)
        norm = float(g @ g)
        if norm == 0.0:  # every point served once: optimal, if the true capacities hold
            relaxed = relaxed_assignment(items, rel)
            if not within_capacity(assigner.data, relaxed):
                return lam, rel, False  # rounded demands fit, true ones do not: branch
            inc.offer(relaxed, pmedian.solution_cost(assigner.data, relaxed), rel.opened)
            return lam, rel, True
        if it % NODE_HEURISTIC_EVERY == 0:
            _improve_from(assigner, rel.opened, inc, deadline)
        upper = inc.objective if math.isfinite(inc.objective) else rel.value + abs(rel.value)
        target = max(upper, rel.value + 1e-6 * max(1.0, abs(rel.value)))
        lam = lam + factor * (target - rel.value) / norm * g
        rel = relax(items, lam)
        if rel.value > best.value:
            best_lam, best, stall = lam, rel, 0
        else:
            stall += 1
            if stall >= NODE_STALL:
                factor, stall = factor / 2, 0
    return best_lam, best, False


def _site_children(rel: CpmpRelaxation, node: _Node, lam: np.ndarray, bound: float) -> list[_Node]:
    """The two children of branching on the open free site of largest knapsack value (any
    free site when every open one is decided): forced open, then closed."""
    free = rel.opened & ~node.opened
    if not free.any():
        free = ~node.opened & ~node.closed
    j = int(np.argmax(np.where(free, rel.site_value, -np.inf)))
    shut = node.closed.copy()
    shut[j] = True
    force = node.opened.copy()
    force[j] = True
    return [
        replace(node, opened=force, lam=lam, bound=bound),
        replace(node, closed=shut, lam=lam, bound=bound),
    ]


def _client_branching(items: SiteItems) -> bool:
    """Branch on assignments (else on sites): only where service is compulsory (a forced
    assignment then leaves no unserved option to exclude)."""
    return BRANCH_ON_CLIENTS and items.fallback is None


def _solve_leaf(
    data: PMedianData,
    opened: np.ndarray,
    alive: np.ndarray,
    inc: _Incumbent,
    backend: Backend,
    deadline: Deadline,
    threads: int | None,
) -> float:
    """Solve the GAP of a leaf (every open site fixed) exactly; returns its proven bound."""
    sub = _restricted(data, alive & opened[data.pairs.cols], opened)
    if sub.unserved_penalty is None and (
        np.bincount(sub.pairs.rows, minlength=sub.n_demand).min(initial=1) == 0
    ):
        return math.inf  # a point out of reach: no solution in this leaf
    milp = pmedian.build_model(sub, name="cpmedian-leaf")
    if not mip_root_fits(milp.A.nnz, deadline.remaining()):
        return -math.inf  # left open: its parent's bound stands
    res = backend.solve(
        milp, SolveOptions(time_limit_s=deadline.remaining(), mip_gap=0.0, threads=threads)
    )
    if res.status is Status.INFEASIBLE:
        return math.inf
    if res.status.has_solution and res.x is not None:
        sol = pmedian.decode(sub, milp, res.x)
        inc.offer(sol.assignment, pmedian.solution_cost(data, sol.assignment), opened)
    if res.status is Status.OPTIMAL:
        return res.objective
    return res.bound if math.isfinite(res.bound) else -math.inf


def lagrangian_tree(
    data: PMedianData,
    items: SiteItems,
    root_lam: np.ndarray,
    root_bound: float,
    inc: _Incumbent,
    assigner: _Assigner,
    deadline: Deadline,
    mip_gap: float = 0.0,
    resume: TreeStats | None = None,
) -> TreeStats:
    """Best-first Lagrangian branch-and-bound on the sites (least bound first, deeper first
    among equal bounds); it goes on from ``resume`` (a stopped tree's stats) when given.

    Each node re-optimises the multipliers (from its parent's), fixes sites by reduced costs,
    and branches on the open free site of largest knapsack value (forced open first, then
    closed). A node with every open site decided is a GAP, solved exactly by the MIP backend.
    ``stats.bound`` is a bound of the whole problem; ``stats.complete`` means the tree was
    searched to the end (the incumbent is then optimal within ``mip_gap``).
    """
    stats = resume if resume is not None else TreeStats()
    if resume is None:
        root = _Node(items.required.copy(), ~items.allowed, root_lam, root_bound)
        stats.heap.append((root_bound, 0, 0, root))
    heap, gap_pruned = stats.heap, stats.gap_pruned

    def pruned(bound: float) -> bool:
        if _prunable(bound, inc.objective, 0.0):
            return True
        if mip_gap > 0 and _prunable(bound, inc.objective, mip_gap):
            gap_pruned.append(bound)
            return True
        return False

    def solve_leaf(bound: float, sites: np.ndarray, alive: np.ndarray) -> None:
        leaf = _solve_leaf(data, sites, alive, inc, assigner.backend, deadline, assigner.threads)
        if leaf < inc.objective and not pruned(leaf):
            stats.open_leaves.append((max(bound, leaf), sites, alive))

    def leaf_bounds() -> list[float]:
        return [b for b, _, _ in stats.open_leaves]

    retry, stats.open_leaves = stats.open_leaves, []
    for bound, sites, alive in retry:  # a resumed tree first retries its unfinished leaves
        if pruned(bound):
            continue
        if deadline.expired():
            stats.open_leaves.append((bound, sites, alive))
        else:
            solve_leaf(bound, sites, alive)
    while heap:
        if deadline.expired():
            stats.bound = min([h[0] for h in heap] + leaf_bounds() + gap_pruned + [inc.objective])
            return stats
        _, depth, _, node = heapq.heappop(heap)
        if pruned(node.bound):
            continue
        stats.nodes += 1
        sub = _node_items(items, node)
        lam, rel, solved = _node_relaxation(sub, node.lam, inc, assigner, deadline, mip_gap)
        bound = max(node.bound, bound_value(rel.value, items.integral))
        if solved or pruned(bound):
            continue
        if math.isfinite(inc.objective):
            closed, opened, _ = _site_fixing(sub, rel, _fixing_limit(sub, inc.objective))
        else:
            closed, opened = ~sub.allowed, sub.required.copy()
        if int(opened.sum()) > items.p or int((~closed).sum()) < items.p:
            continue  # the fixing leaves no solution cheaper than the incumbent
        if int(opened.sum()) == items.p or int((~closed).sum()) == items.p:
            stats.leaves += 1
            sites = opened if int(opened.sum()) == items.p else ~closed
            alive = np.zeros(data.pairs.size, dtype=bool)
            alive[sub.pair] = True
            solve_leaf(bound, sites, alive)
            continue
        decided = replace(node, opened=opened, closed=closed)
        pick = _branch_point(items, rel, sub, decided) if _client_branching(items) else None
        if pick is not None:
            children = _client_children(items, decided, pick[1], lam, bound)
        else:
            children = _site_children(rel, decided, lam, bound)
        for child in children:
            stats.pushed += 1
            heapq.heappush(heap, (bound, depth - 1, stats.pushed, child))
    stats.complete = not stats.open_leaves
    stats.bound = min([*leaf_bounds(), *gap_pruned, inc.objective])
    return stats


# ----------------------------------------------------------------------------- the run


@dataclass(frozen=True)
class CpmpRun:
    """A capacitated p-median run: the answer, the solution and how the time went."""

    result: Result
    selected: np.ndarray | None
    assignment: np.ndarray | None
    phases: dict[str, float | int | str]


def _reduced_mip(
    data: PMedianData,
    fixing: CpmpFixing,
    cuts: list[tuple[np.ndarray, float]],
    inc: _Incumbent,
    backend: Backend,
    options: SolveOptions,
    time_limit_s: float | None,
) -> tuple[float, StopReason | None, float]:
    """Solve the reduced MIP from the incumbent; returns ``(bound for the full problem, the
    MIP's stop reason, MIP seconds)`` and offers its solution to ``inc``."""
    upper = inc.objective
    reduced = reduce_data(data, fixing)
    if (
        reduced.unserved_penalty is None
        and np.bincount(reduced.pairs.rows, minlength=reduced.n_demand).min(initial=1) == 0
    ):
        return upper, StopReason.OPTIMAL, 0.0  # no cheaper solution exists
    try:
        milp = add_lagrangian_cuts(
            pmedian.build_model(reduced, name="cpmedian-reduced"), data.n_sites, cuts
        )
    except ValueError:
        return upper, StopReason.OPTIMAL, 0.0
    if not mip_root_fits(milp.A.nnz, time_limit_s):
        log.info(
            "cpmedian: reduced MIP (%d nonzeros) too large for %.1f s", milp.A.nnz, time_limit_s
        )
        return -math.inf, StopReason.TIME_LIMIT, 0.0
    warm = None
    assert inc.assignment is not None and inc.opened is not None
    inside = np.all(inc.opened[fixing.opened]) and not np.any(inc.opened[fixing.closed])
    if inside and _feasible_vector(reduced, inc.assignment):
        warm = warm_vector(reduced, inc.assignment, inc.opened)
    opts = replace(options, time_limit_s=time_limit_s, warm_start=warm)
    res = backend.solve(milp, opts)
    if res.status is Status.INFEASIBLE:
        return upper, StopReason.OPTIMAL, res.solve_s
    if res.status.has_solution and res.x is not None:
        sol = pmedian.decode(reduced, milp, res.x)
        inc.offer(sol.assignment, pmedian.solution_cost(data, sol.assignment), sol.selected)
    bound = res.bound if math.isfinite(res.bound) else -math.inf
    return min(upper, bound), res.stop, res.solve_s


def _full_mip(
    data: PMedianData, inc: _Incumbent, backend: Backend, options: SolveOptions
) -> tuple[float, StopReason | None]:
    """The MIP of the whole problem (no incumbent to reduce it with), when it fits the time;
    returns its bound and stop reason and offers its solution to ``inc``."""
    milp = pmedian.build_model(data, name="cpmedian")
    if not mip_root_fits(milp.A.nnz, options.time_limit_s):
        return -math.inf, StopReason.TIME_LIMIT
    res = backend.solve(milp, options)
    if res.status.has_solution and res.x is not None:
        sol = pmedian.decode(data, milp, res.x)
        inc.offer(sol.assignment, sol.objective, sol.selected)
    if res.status is Status.INFEASIBLE:
        return res.bound, StopReason.INFEASIBLE
    return res.bound, res.stop


def solve_cpmedian(
    data: PMedianData,
    backend: str | Backend = "highs",
    options: SolveOptions | None = None,
    *,
    lagrangian_share: float = LAGRANGIAN_SHARE,
    run_mip: bool = True,
) -> CpmpRun:
    """Solve a capacitated p-median problem to a certified gap (module docstring).

    Parameters
    ----------
    data : PMedianData
        Capacitated data.
    backend : str or Backend
        MIP backend for the GAP heuristic and the reduced MIP.
    options : SolveOptions, optional
        ``time_limit_s`` for the whole run, ``mip_gap``, ``threads`` (default 1 for the small
        sub-MIPs), ``seed``.
    lagrangian_share : float
        Share of the time limit for the Lagrangian phase and its heuristics.
    run_mip : bool
        Allow the reduced MIP after the Lagrangian phase.

    Raises
    ------
    ValueError
        Uncapacitated data.
    """
    options = options or SolveOptions()
    solver = get_backend(backend) if isinstance(backend, str) else backend
    limit = options.time_limit_s
    deadline = Deadline(None if limit is None else limit * (1.0 - TIME_RESERVE))
    items = SiteItems.from_data(data)
    phases: dict[str, float | int | str] = {}
    inc = _Incumbent()
    unreachable = np.bincount(items.rows, minlength=items.n_demand) == 0
    if items.fallback is None and np.any(unreachable):
        return _answer(data, items, inc, -math.inf, StopReason.INFEASIBLE, deadline, phases)
    if items.fallback is not None:
        with deadline.timed("first"):
            _first_incumbent(data, items, inc)
    lag_deadline = deadline.sub(lagrangian_share)
    with deadline.timed("lagrangian"):
        dual = _subgradient_phase(data, items, solver, inc, lag_deadline, options.threads)
    lower = bound_value(dual.rel.value, items.integral)
    if run_mip and not (
        math.isfinite(inc.objective) and relative_gap(inc.objective, lower) <= options.mip_gap
    ):
        with deadline.timed("polish"):
            assigner = _Assigner(data, items, _dense_costs(data), solver, options.threads)
            _polish(assigner, inc, deadline.sub(POLISH_SHARE), POLISH_SETS)
    phases["lagrangian_bound"] = lower
    phases["lagrangian_iterations"] = dual.iterations
    phases["heuristic_objective"] = inc.objective
    phases["gap_solves"] = inc.gap_calls
    stop: StopReason | None = StopReason.TIME_LIMIT
    if inc.assignment is None:
        # no incumbent: the MIP on the full problem for the time left
        fixing = CpmpFixing(
            ~items.allowed, items.required.copy(), np.ones(data.pairs.size, dtype=bool)
        )
    else:
        fixing = fix_by_reduced_cost(data, items, dual.lam, dual.rel, inc.objective)
    phases["fixed_closed"] = int(fixing.closed.sum())
    phases["fixed_open"] = int(fixing.opened.sum())
    phases["pairs_kept"] = int(fixing.keep_pairs.sum())
    closed = math.isfinite(inc.objective) and relative_gap(inc.objective, lower) <= options.mip_gap
    left = deadline.remaining()
    if run_mip and not closed and (left is None or left > 0.5):
        with deadline.timed("mip"):
            if inc.assignment is None:
                mip_bound, stop = _full_mip(data, inc, solver, replace(options, time_limit_s=left))
            elif items.n_sites <= TREE_MAX_SITES:
                assigner = _Assigner(data, items, _dense_costs(data), solver, options.threads)
                pricing = _price_eligible(items)
                tree_deadline = deadline.sub(TREE_SHARE_BEFORE_PRICE) if pricing else deadline
                stats = lagrangian_tree(
                    data, items, dual.lam, lower, inc, assigner, tree_deadline, options.mip_gap
                )
                phases["tree_nodes"] = stats.nodes
                phases["tree_leaves"] = stats.leaves
                mip_bound = stats.bound
                stop = StopReason.OPTIMAL if stats.complete else StopReason.TIME_LIMIT
                if pricing and not stats.complete:
                    priced = _price_phase(items, dual, inc, deadline, options)
                    # the phase may end early (no cut left): the tree goes on for the rest
                    if relative_gap(inc.objective, priced) > options.mip_gap:
                        stats = lagrangian_tree(
                            data,
                            items,
                            dual.lam,
                            lower,
                            inc,
                            assigner,
                            deadline,
                            options.mip_gap,
                            resume=stats,
                        )
                    phases["tree_nodes"] = stats.nodes
                    phases["tree_leaves"] = stats.leaves
                    stop = StopReason.OPTIMAL if stats.complete else StopReason.TIME_LIMIT
                    mip_bound = stats.bound if stats.complete else max(stats.bound, priced)
            else:
                mip_bound, stop, _ = _reduced_mip(
                    data, fixing, dual.cuts, inc, solver, options, left
                )
        if math.isfinite(mip_bound):
            lower = max(lower, bound_value(mip_bound, items.integral))
    return _answer(data, items, inc, lower, stop, deadline, phases, options.mip_gap)


def _price_eligible(items: SiteItems) -> bool:
    """The subset-row phase applies: every point must be served (its cuts assume a partition),
    costs are not negative, and the instance is small enough for its separation."""
    return (
        items.fallback is None
        and items.n_demand <= cpmp_price.SR_MAX_POINTS
        and float(items.cost.min(initial=0.0)) >= 0.0
    )


def _price_phase(
    items: SiteItems, dual: _Dual, inc: _Incumbent, deadline: Deadline, options: SolveOptions
) -> float:
    """The certified bound of column generation with subset-row cuts
    (:mod:`optimizer.models.pmedian.cpmp_price`) for the time left, seeded with the
    incumbent's clusters and the Lagrangian multipliers; ``-inf`` when it finds nothing."""
    seeds = []
    if inc.assignment is not None:
        sites = np.repeat(np.arange(items.n_sites), np.diff(items.indptr))
        seeds.append(inc.assignment[items.rows] == sites)
    with deadline.timed("price"):
        stats = cpmp_price.subset_row_bound(
            items, dual.lam, seeds, inc.objective, deadline, options.mip_gap
        )
    log.info(
        "cpmedian: subset-row bound %.3f (%d rounds, %d cuts, %d columns)",
        stats.bound,
        stats.rounds,
        stats.cuts,
        stats.columns,
    )
    return stats.bound


def _answer(
    data: PMedianData,
    items: SiteItems,
    inc: _Incumbent,
    lower: float,
    stop: StopReason | None,
    deadline: Deadline,
    phases: dict[str, float | int | str],
    mip_gap: float = 0.0,
) -> CpmpRun:
    """The run's result: FEASIBLE with the certified gap, OPTIMAL when the bound meets the
    objective (within ``mip_gap``)."""
    phases.update({f"{k}_s": round(v, 3) for k, v in deadline.phases.items()})
    elapsed = deadline.elapsed()
    if inc.assignment is None or inc.opened is None:
        status = Status.INFEASIBLE if stop is StopReason.INFEASIBLE else Status.NO_SOLUTION
        extra: dict[str, object] = dict(phases)
        result = Result(
            status, math.nan, lower, None, "cpmedian", solve_s=elapsed, stop=stop, extra=extra
        )
        return CpmpRun(result, None, None, phases)
    objective = pmedian.solution_cost(data, inc.assignment)
    lower = min(lower, objective)
    gap = relative_gap(objective, lower)
    if gap == 0.0 or gap <= mip_gap:
        status, stop = Status.OPTIMAL, StopReason.OPTIMAL if gap == 0.0 else StopReason.GAP_REACHED
    else:
        status = Status.FEASIBLE
        stop = StopReason.TIME_LIMIT if stop in (None, StopReason.OPTIMAL) else stop
    result = Result(
        status,
        objective,
        lower,
        None,
        "cpmedian-lagrangian",
        solve_s=elapsed,
        stop=stop,
        message=f"certified gap {gap:.3g}",
        extra=dict(phases),
    )
    return CpmpRun(result, _exactly_p(items, inc.opened), inc.assignment.copy(), phases)


def _first_incumbent(data: PMedianData, items: SiteItems, inc: _Incumbent) -> None:
    """A first answer before any phase, where a point may stay unserved (so one always
    exists): the ``p`` allowed sites that reach the most demand (required ones first), points
    assigned greedily on the pairs. A run stopped before its heuristics still returns it."""
    pairs = data.pairs
    reach = np.bincount(pairs.cols, weights=data.demand[pairs.rows], minlength=items.n_sites)
    score = np.where(items.allowed, reach, -np.inf)
    score[items.required] = np.inf
    opened = np.zeros(items.n_sites, dtype=bool)
    top = np.argsort(-score, kind="stable")[: items.p]
    opened[top[np.isfinite(score[top]) | items.required[top]]] = True
    found = sparse_quick_assign(data, _SparseCosts.from_data(data), opened)
    if found is not None:
        inc.offer(found[0], found[1], opened)


def _exactly_p(items: SiteItems, opened: np.ndarray) -> np.ndarray:
    """``opened`` with allowed empty sites added until ``p`` are open: a heuristic may serve
    every point from fewer sites, and an empty open site changes no cost."""
    out = opened.copy()
    missing = items.p - int(out.sum())
    if missing > 0:
        out[np.flatnonzero(items.allowed & ~out)[:missing]] = True
    return out
