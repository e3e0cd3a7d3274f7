r"""Capacitated p-median: a root bound by column generation with subset-row cuts.

The Dantzig–Wolfe master of the capacitated p-median (one column per site and set of points
that fits its capacity) gives the same bound as the Lagrangian of
:mod:`optimizer.models.pmedian.capacitated`; on some instances that bound is 3 % below the
optimum (pmedcap20: 973.6 against 1005), too far for the tree to close. Subset-row cuts
(Jepsen, Petersen, Spoorendonk & Pisinger, 2008) close most of it: for three points
:math:`S`, at most one column of a partition holds two or more of them,

.. math:: \sum_k [\,|S \cap k| \ge 2\,]\, z_k \le 1 .

The master, over the column pool:

.. math:: \min \sum_k c_k z_k \quad \text{s.t.} \quad \sum_{k \ni i} z_k \ge 1\ (\lambda_i),
          \quad \sum_{k \in K_j} z_k \le 1, \quad \sum_k z_k \le p, \quad
          \text{cuts} \le 1\ (\rho_S \ge 0) .

Pricing is, per site, a 0/1 knapsack on the reduced costs :math:`c_{ij} - \lambda_i` with a
penalty :math:`\rho_S` for each cut whose points it takes two of; it is solved exactly by a
small branch-and-bound over dynamic-programming knapsacks (:func:`penalized_knapsack`, Numba)
whose lower bound counts only the penalties already certain. At any multipliers,

.. math:: L(\lambda, \rho) = \sum_i \lambda_i - \sum_S \rho_S
          + \min_{|P| = p} \sum_{j \in P} \min(0, v_j(\lambda, \rho))

is a lower bound of every partition's cost (an optimal solution serves each point once, so
it meets each cut), with :math:`v_j` replaced by the branch-and-bound's lower bound where its
node limit stops it: the bound reported is always certified, converged or not.

Each round solves the master by column generation, then adds the most violated cuts
(:func:`separate_subset_rows`); it stops at the deadline, when no cut is violated, or when the
bound meets the incumbent within the gap asked for. The cuts are enumerated over all triples
of points, so the phase is for instances of up to :data:`SR_MAX_POINTS` points.
"""

from __future__ import annotations

import itertools
import logging
import math
from dataclasses import dataclass

import highspy
import numba
import numpy as np

from optimizer.deadline import Deadline
from optimizer.models.pmedian.cpmp_items import SiteItems
from optimizer.result import relative_gap

log = logging.getLogger(__name__)

__all__ = ["PriceStats", "penalized_knapsack", "separate_subset_rows", "subset_row_bound"]

SR_MAX_POINTS = 150
"""Largest instance (points) for the phase: the separation enumerates every triple."""
NODE_LIMIT = 20_000
"""Branch-and-bound nodes per site and pricing; beyond it the site's value is its lower bound."""
CUTS_PER_ROUND = 30
"""Cuts added per round (a point in at most two of them, so that they cut different places)."""
MIN_VIOLATION = 0.01
"""A cut is added only when violated by more than this."""
CG_ITERATIONS = 500
"""Column generation iterations per round at most."""
TRIPLE_CHUNK = 20_000
"""Triples evaluated per block in the separation (memory)."""


def bound_value(value: float, integral: bool) -> float:
    """The bound, rounded up when every cost is an integer (as in ``capacitated``)."""
    return float(math.ceil(value - 1e-6)) if integral else value


@numba.njit(cache=True, nogil=True)
def _dp(w: np.ndarray, r: np.ndarray, cap: int, state: np.ndarray, take: np.ndarray) -> float:
    """0/1 knapsack of least value on ``r`` (weights ``w``) with items ``state == 1`` in and
    ``state == -1`` out; ``inf`` when the forced items overfill it."""
    take[:] = False
    fixed = 0.0
    room = cap
    for t in range(w.size):
        if state[t] == 1:
            take[t] = True
            room -= w[t]
            fixed += r[t]
    if room < 0:
        return np.inf
    cand = np.empty(w.size, np.int64)
    count = 0
    for t in range(w.size):
        if state[t] == 0 and r[t] < 0.0 and w[t] <= room:
            cand[count] = t
            count += 1
    best = np.zeros(room + 1)
    keep = np.zeros((count, room + 1), np.bool_)
    for q in range(count):
        t = cand[q]
        wt = w[t]
        for c in range(room, wt - 1, -1):
            v = best[c - wt] + r[t]
            if v < best[c]:
                best[c] = v
                keep[q, c] = True
    c = room
    for q in range(count - 1, -1, -1):
        if keep[q, c]:
            take[cand[q]] = True
            c -= w[cand[q]]
    return fixed + best[room]


@numba.njit(cache=True, nogil=True)
def _cut_hits(tri: np.ndarray, k: int, chosen: np.ndarray) -> int:
    """How many items of cut ``k`` (a local item triple, -1: not an item) are ``chosen``."""
    hits = 0
    for a in range(3):
        t = tri[k, a]
        if t >= 0 and chosen[t]:
            hits += 1
    return hits


@numba.njit(cache=True, nogil=True)
def _penalty(tri: np.ndarray, rho: np.ndarray, chosen: np.ndarray) -> float:
    """Sum of ``rho`` over the cuts (local item triples, -1: not an item) with two or more
    items ``chosen``."""
    total = 0.0
    for k in range(rho.size):
        if _cut_hits(tri, k, chosen) >= 2:
            total += rho[k]
    return total


@numba.njit(cache=True, nogil=True)
def _branch_item(tri: np.ndarray, take: np.ndarray, state: np.ndarray) -> int:
    """A free taken item of a cut the solution pays for; -1 when none."""
    for k in range(tri.shape[0]):
        if _cut_hits(tri, k, take) >= 2:
            for a in range(3):
                t = tri[k, a]
                if t >= 0 and take[t] and state[t] == 0:
                    return t
    return -1


@numba.njit(cache=True, nogil=True)
def penalized_knapsack(
    w: np.ndarray, r: np.ndarray, cap: int, tri: np.ndarray, rho: np.ndarray, max_nodes: int
) -> tuple[float, float, np.ndarray]:
    """Least ``sum r + penalties`` over item sets within ``cap`` (the empty set: 0).

    Depth-first branch-and-bound on the items of the cuts paid for: a node's bound is its
    knapsack without the penalties that are not yet certain (two forced items of a cut).

    Returns
    -------
    (lower bound, best value, best set)
        Equal bound and value unless ``max_nodes`` stopped the search.
    """
    nt = w.size
    stack = np.zeros((nt + 2, nt), np.int8)
    parent = np.full(nt + 2, -np.inf)
    top = 1
    best_val = 0.0
    best_take = np.zeros(nt, np.bool_)
    take = np.zeros(nt, np.bool_)
    forced = np.zeros(nt, np.bool_)
    nodes = 0
    open_lb = np.inf
    while top > 0:
        top -= 1
        state = stack[top].copy()
        if parent[top] >= best_val - 1e-9:
            continue
        nodes += 1
        v = _dp(w, r, cap, state, take)
        if not np.isfinite(v):
            continue
        for t in range(nt):
            forced[t] = state[t] == 1
        lb = v + _penalty(tri, rho, forced)
        if lb >= best_val - 1e-9:
            continue
        val = v + _penalty(tri, rho, take)
        if val < best_val:
            best_val = val
            best_take[:] = take
        if val <= lb + 1e-9:
            continue
        pick = _branch_item(tri, take, state)
        if pick < 0:
            continue
        if nodes >= max_nodes:
            open_lb = min(open_lb, lb)
            continue
        stack[top] = state
        stack[top, pick] = -1
        parent[top] = lb
        top += 1
        stack[top] = state
        stack[top, pick] = 1
        parent[top] = lb
        top += 1
    return min(best_val, open_lb), best_val, best_take


@dataclass
class PriceStats:
    """What the phase did: its certified bound, cut rounds, cuts, columns, master solves."""

    bound: float = -math.inf
    rounds: int = 0
    cuts: int = 0
    columns: int = 0
    iterations: int = 0


class _Master:
    """The master LP (HiGHS) over the column pool: rows are the points (>= 1), the sites
    (<= 1), the p-row and the cuts; one artificial column per point keeps it feasible."""

    def __init__(self, items: SiteItems) -> None:
        self.items = items
        n, m = items.n_demand, items.n_sites
        self.n, self.m = n, m
        inf = highspy.kHighsInf
        self.h = highspy.Highs()
        self.h.setOptionValue("output_flag", False)
        self.h.setOptionValue("threads", 1)
        site_lower = np.where(items.required, 1.0, -inf)
        site_upper = np.where(items.allowed, 1.0, 0.0)
        lower = np.r_[np.ones(n), site_lower, -inf]
        upper = np.r_[np.full(n, inf), site_upper, float(items.p)]
        empty_i, empty_f = np.zeros(0, np.int32), np.zeros(0)
        self.h.addRows(n + m + 1, lower, upper, 0, empty_i, empty_i, empty_f)
        # an artificial column per point at a cost above any assignment: feasible from the start
        big = 2.0 * float(items.cost.sum()) + 1.0
        idx = np.arange(n, dtype=np.int32)
        self.h.addCols(n, np.full(n, big), np.zeros(n), np.full(n, inf), n, idx, idx, np.ones(n))
        self.site = np.zeros(0, np.int64)
        self.cover = np.zeros((0, n), dtype=bool)
        self.cuts = np.zeros((0, 3), np.int64)

    def add_columns(self, sites: np.ndarray, take: np.ndarray) -> None:
        """One column per site in ``sites``: the items ``take`` marks in it."""
        if sites.size == 0:
            return
        items = self.items
        site_of = np.repeat(np.arange(self.m), np.diff(items.indptr))
        chosen = take & np.isin(site_of, sites)
        cover = np.zeros((sites.size, self.n), dtype=bool)
        where = np.searchsorted(sites, site_of[chosen])
        cover[where, items.rows[chosen]] = True
        cost = np.bincount(where, weights=items.cost[chosen], minlength=sites.size)
        cut_hit = self._cut_hits(cover)
        blocks = [cover, np.zeros((sites.size, self.m), bool), np.ones((sites.size, 1), bool)]
        blocks[1][np.arange(sites.size), sites] = True
        matrix = np.hstack([*blocks, cut_hit])
        rows, cols = np.nonzero(matrix)  # row-major: entries grouped by column
        starts = np.searchsorted(rows, np.arange(sites.size)).astype(np.int32)
        k = sites.size
        self.h.addCols(
            k,
            cost,
            np.zeros(k),
            np.full(k, highspy.kHighsInf),
            cols.size,
            starts,
            cols.astype(np.int32),
            np.ones(cols.size),
        )
        self.site = np.r_[self.site, sites]
        self.cover = np.vstack([self.cover, cover])

    def _cut_hits(self, cover: np.ndarray) -> np.ndarray:
        """(columns, cuts): the column holds two or more points of the cut."""
        if self.cuts.shape[0] == 0:
            return np.zeros((cover.shape[0], 0), dtype=bool)
        return cover[:, self.cuts].sum(axis=2) >= 2

    def add_cuts(self, triples: np.ndarray) -> None:
        """Subset-row cuts of ``triples`` over every column of the pool, in one call."""
        hits = self.cover[:, triples].sum(axis=2) >= 2  # (columns, new cuts)
        cols, rows = np.nonzero(hits.T)  # grouped by cut
        starts = np.searchsorted(cols, np.arange(triples.shape[0])).astype(np.int32)
        k = triples.shape[0]
        self.h.addRows(
            k,
            np.full(k, -highspy.kHighsInf),
            np.ones(k),
            rows.size,
            starts,
            (self.n + rows).astype(np.int32),
            np.ones(rows.size),
        )
        self.cuts = np.vstack([self.cuts, triples])

    def solve(self) -> tuple[np.ndarray, np.ndarray, float, np.ndarray, np.ndarray]:
        """Solve the LP: ``(lambda, mu, pi, rho, z)`` (duals of the point, site, p and cut
        rows, with rho >= 0, and the column values of the pool)."""
        self.h.run()
        sol = self.h.getSolution()
        dual = np.asarray(sol.row_dual, dtype=float)
        n, m = self.n, self.m
        lam = np.maximum(dual[:n], 0.0)
        rho = np.maximum(-dual[n + m + 1 :], 0.0)
        z = np.asarray(sol.col_value, dtype=float)[n:]
        return lam, dual[n : n + m], float(dual[n + m]), rho, z


def _price(
    items: SiteItems,
    cuts: np.ndarray,
    lam: np.ndarray,
    rho: np.ndarray,
    max_nodes: int,
    deadline: Deadline | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Per site the penalized knapsack: ``(lower bound, best value, best items)``; a site
    that may not open is worth 0 with no items. None when the deadline passes first (a
    site's search is bounded by ``max_nodes``, so the check between sites keeps the time)."""
    n = items.n_demand
    lower = np.zeros(items.n_sites)
    value = np.zeros(items.n_sites)
    take = np.zeros(items.rows.size, dtype=bool)
    active = rho > 1e-9
    tri_all, rho_all = cuts[active], rho[active]
    local = np.full(n, -1, dtype=np.int64)
    for j in np.flatnonzero(items.allowed):
        if deadline is not None and deadline.expired():
            return None
        lo, hi = int(items.indptr[j]), int(items.indptr[j + 1])
        rows = items.rows[lo:hi]
        r = items.cost[lo:hi] - lam[rows]
        # items of non-negative reduced cost are never taken (penalties only add)
        local[:] = -1
        local[rows] = np.where(r < 0.0, np.arange(hi - lo), -1)
        tri = local[tri_all]
        keep = (tri >= 0).sum(axis=1) >= 2
        lb, best, chosen = penalized_knapsack(
            items.units[lo:hi],
            r,
            int(items.cap_units[j]),
            np.ascontiguousarray(tri[keep]),
            np.ascontiguousarray(rho_all[keep]),
            max_nodes,
        )
        lower[j], value[j] = lb, best
        take[lo:hi] = chosen
    return lower, value, take


def lagrangian_value(
    items: SiteItems, lam: np.ndarray, rho: np.ndarray, lower: np.ndarray
) -> float:
    """:math:`L(\\lambda, \\rho)` of the module docstring from the sites' lower bounds: the
    required sites plus the cheapest others, p in all."""
    worth = np.where(items.allowed, np.minimum(lower, 0.0), np.inf)
    need = items.p - int(items.required.sum())
    free = np.sort(worth[items.allowed & ~items.required])[: max(need, 0)]
    return float(lam.sum() - rho.sum() + worth[items.required].sum() + free.sum())


def separate_subset_rows(
    cover: np.ndarray, z: np.ndarray, known: np.ndarray, max_cuts: int = CUTS_PER_ROUND
) -> np.ndarray:
    """The most violated subset-row cuts at the master solution ``z`` (columns ``cover``), a
    point in at most two of them, none of ``known``; shape (k, 3)."""
    n = cover.shape[1]
    used = np.flatnonzero(z > 1e-9)
    hit = cover[used].astype(np.int8)
    weight = z[used]
    triples = np.array(list(itertools.combinations(range(n), 3)), dtype=np.int64)
    lhs = np.empty(triples.shape[0])
    for s in range(0, triples.shape[0], TRIPLE_CHUNK):
        t = triples[s : s + TRIPLE_CHUNK]
        count = hit[:, t[:, 0]] + hit[:, t[:, 1]] + hit[:, t[:, 2]]
        lhs[s : s + TRIPLE_CHUNK] = weight @ (count >= 2)
    order = np.argsort(-lhs, kind="stable")
    order = order[lhs[order] > 1.0 + MIN_VIOLATION]
    seen = {tuple(row) for row in known.tolist()}
    picked: list[np.ndarray] = []
    uses = np.zeros(n, dtype=np.int64)
    for q in order:
        if len(picked) >= max_cuts:
            break
        tri = triples[q]
        if np.any(uses[tri] >= 2) or tuple(tri.tolist()) in seen:
            continue
        uses[tri] += 1
        picked.append(tri)
    return np.array(picked, dtype=np.int64).reshape(-1, 3)


def subset_row_bound(
    items: SiteItems,
    lam: np.ndarray,
    start_take: list[np.ndarray],
    upper: float,
    deadline: Deadline,
    mip_gap: float = 0.0,
) -> PriceStats:
    """Column generation with subset-row cut rounds (module docstring).

    Parameters
    ----------
    items : SiteItems
        The root's items (no unserved option: the cuts assume every point is served once).
    lam : ndarray (n,)
        Multipliers to price the first columns at (the Lagrangian phase's best).
    start_take : list of ndarray of bool
        Item sets (per :class:`SiteItems` item) whose clusters seed the pool (an incumbent's).
    upper : float
        The incumbent's cost: the phase stops once the bound meets it within ``mip_gap``.
    deadline : Deadline

    Returns
    -------
    PriceStats
        ``bound``: the best certified bound found (rounded up for integer costs).
    """
    stats = PriceStats()
    master = _Master(items)
    sites_all = np.flatnonzero(items.allowed)
    no_cuts = np.zeros((0, 3), np.int64)
    for take in start_take:
        master.add_columns(sites_all, take)
    priced = _price(items, no_cuts, lam, np.zeros(0), NODE_LIMIT, deadline)
    if priced is None:
        return stats
    lower, _, take = priced
    master.add_columns(sites_all, take)
    stats.bound = bound_value(lagrangian_value(items, lam, np.zeros(0), lower), items.integral)

    def closed() -> bool:
        return math.isfinite(upper) and (
            stats.bound >= upper - 1e-9 or relative_gap(upper, stats.bound) <= mip_gap
        )

    while not deadline.expired() and not closed():
        z = _generate(master, stats, upper, deadline, mip_gap)
        if deadline.expired() or closed():
            break
        new = separate_subset_rows(master.cover, z, master.cuts)
        if new.shape[0] == 0:
            break
        master.add_cuts(new)
        stats.rounds += 1
        stats.cuts += new.shape[0]
        log.info(
            "cpmedian price: round %d, %d cuts, bound %.3f", stats.rounds, stats.cuts, stats.bound
        )
    stats.columns = int(master.site.size)
    return stats


def _generate(
    master: _Master, stats: PriceStats, upper: float, deadline: Deadline, mip_gap: float
) -> np.ndarray:
    """Column generation on the current cuts; raises ``stats.bound`` by the Lagrangian value
    of every pricing; returns the last master solution."""
    items = master.items
    z = np.zeros(master.site.size)
    for _ in range(CG_ITERATIONS):
        if deadline.expired():
            break
        lam, mu, pi, rho, z = master.solve()
        stats.iterations += 1
        priced = _price(items, master.cuts, lam, rho, NODE_LIMIT, deadline)
        if priced is None:
            break
        lower, value, take = priced
        value_now = lagrangian_value(items, lam, rho, lower)
        stats.bound = max(stats.bound, bound_value(value_now, items.integral))
        if math.isfinite(upper) and (
            stats.bound >= upper - 1e-9 or relative_gap(upper, stats.bound) <= mip_gap
        ):
            break
        reduced = np.where(items.allowed, value - mu - pi, 0.0)
        new = np.flatnonzero(reduced < -1e-7)
        if new.size == 0:
            break
        master.add_columns(new, take)
    return z
