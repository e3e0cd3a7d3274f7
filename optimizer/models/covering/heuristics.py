r"""Heuristics and bounds for the covering models: LSCP (Lagrangian) and MCLP (greedy + swaps).

LSCP: :func:`lscp_lagrangian`
------------------------------
Relaxing the cover rows :math:`\sum_{j \in J_i} x_j \ge 1` with multipliers :math:`u_i \ge 0`
(Beasley 1990) leaves

.. math::

    L(u) = \sum_i u_i + \sum_j \min(0, \tilde c_j), \qquad
    \tilde c_j = c_j - \sum_{i \in I_j} u_i ,

a lower bound for every :math:`u \ge 0`. The multipliers follow subgradient optimisation
(:math:`s_i = 1 - \sum_{j:\tilde c_j < 0} a_{ij}`, step
:math:`\lambda (UB - L) / \lVert s \rVert^2`, the step factor adapted every few iterations as in
Caprara, Fischetti & Toth 1999); one iteration is two sparse products. Every few iterations a
greedy construction on the Lagrangian scores (CFT: :math:`\gamma_j / \mu_j` when
:math:`\gamma_j > 0`, else :math:`\gamma_j \mu_j`, with :math:`\gamma_j` the reduced cost over the
uncovered rows and :math:`\mu_j` their number), followed by redundancy removal (most expensive
first), gives an upper bound.

*Reduced-cost fixing*: a solution that opens :math:`j` costs at least :math:`L(u) + \tilde c_j`
(:math:`\tilde c_j \ge 0`), one that closes it at least :math:`L(u) - \tilde c_j`
(:math:`\tilde c_j < 0`). Where that exceeds :math:`UB - \delta` (:math:`\delta = 1` when every cost
is an integer, a solution must then be at least one better; 0 otherwise), no solution better
than the incumbent opens (closes) :math:`j`; the test runs at every iteration, so the fixings of
all multipliers seen add up. Sites of the incumbent are never fixed closed, so the incumbent
stays feasible in the restricted problem and warm-starts its MIP; a MIP bound on the restricted
problem is then a bound of the whole problem.

MCLP: :func:`mclp_greedy`, :func:`mclp_heuristic`
-------------------------------------------------
Greedy adds the site with the largest covered weight not yet covered (per unit of cost under a
budget, keeping the better of that and the plain greedy); the gains are updated only over the
rows a new site covers. The heuristic then descends to a swap-local optimum with the compiled
swap search (:func:`optimizer.models.covering.search.mclp_swap_search` without kicks: the
Resende–Werneck accounting for one insertion and one removal, within the budget) and fills any
room left in the count and the budget greedily. The bound is the Lagrangian relaxation of the rows
:math:`z_i \le \sum_{j \in N_i} y_j` (count only: :math:`\max_y` picks the :math:`p` best
:math:`\sum_{i \in I_j} \lambda_i`, so it equals the LP bound) with the same kind of reduced-cost
fixing, or the LP relaxation when a budget is given (:func:`mclp_lp_bound`).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from optimizer.backends.base import Backend, Result, SolveOptions, Status, StopReason
from optimizer.milp import MILP
from optimizer.models.common import binary_csr
from optimizer.models.covering import mclp
from optimizer.models.covering.search import mclp_swap_search

log = logging.getLogger(__name__)

ILS_SHARE = 0.2
"""Share of its time the MCLP search with a facility count (:func:`mclp_search`) gives the
swap search before the neighbourhood search takes over. The swap search stalls within
seconds on city instances: on the 20,000 x 5,000 city at 300 m (p = 800, seed 1) it reached
1,197,178 in 8 s and still 1,197,178 at 57 s; the neighbourhood search from there reached
1,198,517 in the next 42 s (HiGHS alone: 1,198,761 in 400 s, bound 1,199,312)."""

__all__ = [
    "LscpBounds",
    "MclpBounds",
    "greedy_cover",
    "lscp_lagrangian",
    "mclp_greedy",
    "mclp_heuristic",
    "mclp_lns",
    "mclp_lp_bound",
    "mclp_search",
    "mclp_search_name",
    "remove_redundant",
]


def _ranges(indptr: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Positions ``indptr[r] .. indptr[r+1]-1`` of every ``r`` in ``rows``, concatenated."""
    starts = indptr[rows]
    lens = indptr[rows + 1] - starts
    total = int(lens.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    offs = np.repeat(starts - np.r_[0, np.cumsum(lens)[:-1]], lens)
    return np.arange(total, dtype=np.int64) + offs


def _is_integral(values: np.ndarray) -> bool:
    return bool(np.all(values == np.round(values)))


# --------------------------------------------------------------------------- LSCP


@dataclass(frozen=True)
class _Incidence:
    """A 0/1 coverage matrix kept both ways: ``a`` (row -> sites) and ``at`` (site -> rows)."""

    a: sp.csr_matrix
    at: sp.csr_matrix

    @property
    def m(self) -> int:
        return int(self.a.shape[0])

    @property
    def n(self) -> int:
        return int(self.a.shape[1])

    def count(self, x: np.ndarray) -> np.ndarray:
        """How many of the sites chosen in ``x`` cover each row."""
        return np.asarray(self.a @ x.astype(np.int32)).ravel()


@dataclass(frozen=True)
class _Cover(_Incidence):
    """An LSCP as rows and columns (see :class:`_Incidence`) with the site costs."""

    cost: np.ndarray

    @classmethod
    def of(cls, reach: sp.spmatrix, cost: np.ndarray) -> _Cover:
        a = binary_csr(reach)
        return cls(a, a.T.tocsr(), np.asarray(cost, dtype=float))


def greedy_cover(
    reach: sp.spmatrix | _Cover,
    cost: np.ndarray | None = None,
    multipliers: np.ndarray | None = None,
    start: np.ndarray | None = None,
) -> np.ndarray:
    """A cover built greedily (bool mask of sites), then made irredundant.

    With ``multipliers`` the score is CFT's Lagrangian score; without, Chvátal's
    ``cost / rows newly covered``. ``start`` (bool mask) opens those sites first.

    Raises
    ------
    ValueError
        When some row has no site.
    """
    cov = reach if isinstance(reach, _Cover) else _Cover.of(reach, np.asarray(cost))
    order = _greedy_order(cov, multipliers, start)
    x = np.zeros(cov.n, dtype=bool) if start is None else np.asarray(start, dtype=bool).copy()
    x[order] = True
    return remove_redundant(cov, x)


def _greedy_order(
    cov: _Cover,
    multipliers: np.ndarray | None,
    start: np.ndarray | None = None,
) -> np.ndarray:
    """The sites the greedy opens, in the order it opens them (rows with a site in ``start``
    count as covered)."""
    m, n = cov.m, cov.n
    u = np.zeros(m) if multipliers is None else np.asarray(multipliers, dtype=float)
    x = np.zeros(n, dtype=bool) if start is None else np.asarray(start, dtype=bool).copy()
    uncovered = cov.count(x) == 0
    mu = np.asarray(cov.at @ uncovered.astype(np.float64)).ravel()
    gamma = cov.cost - np.asarray(cov.at @ np.where(uncovered, u, 0.0)).ravel()
    left = int(uncovered.sum())
    a, at = cov.a, cov.at
    picks: list[int] = []
    row_len = np.diff(a.indptr)
    while left > 0:
        with np.errstate(divide="ignore", invalid="ignore"):
            score = np.where(gamma > 0, gamma / mu, gamma * mu)
        score[(mu <= 0) | x] = np.inf
        j = int(np.argmin(score))
        if not math.isfinite(score[j]):
            raise ValueError(f"{left} rows cannot be covered by any site")
        x[j] = True
        picks.append(j)
        rows_j = at.indices[at.indptr[j] : at.indptr[j + 1]]
        new = rows_j[uncovered[rows_j]]
        uncovered[new] = False
        left -= new.size
        cols = a.indices[_ranges(a.indptr, new)]
        mu -= np.bincount(cols, minlength=n)
        gamma += np.bincount(cols, weights=np.repeat(u[new], row_len[new]), minlength=n)
    return np.asarray(picks, dtype=np.int64)


def remove_redundant(reach: sp.spmatrix | _Cover, x: np.ndarray, cost: np.ndarray | None = None):
    """Close open sites whose rows stay covered without them, most expensive first."""
    cov = reach if isinstance(reach, _Cover) else _Cover.of(reach, np.asarray(cost))
    x = np.asarray(x, dtype=bool).copy()
    cnt = cov.count(x)
    opened = np.flatnonzero(x)
    order = opened[np.lexsort((-opened, -cov.cost[opened]))]
    at = cov.at
    for j in order:
        rows_j = at.indices[at.indptr[j] : at.indptr[j + 1]]
        if rows_j.size == 0 or cnt[rows_j].min() >= 2:
            x[j] = False
            cnt[rows_j] -= 1
    return x


@dataclass(frozen=True)
class LscpBounds:
    """What :func:`lscp_lagrangian` found.

    Attributes
    ----------
    result : Result
        The best cover's cost against the best Lagrangian lower bound (rounded up when every
        cost is an integer): OPTIMAL when they meet; ``nodes`` counts the iterations,
        ``extra["greedy_objective"]`` is the first greedy cover's cost, ``solve_s`` the time.
    selected : ndarray of bool (n,)
        The best cover found (upper bound).
    multipliers : ndarray (m,)
        Multipliers of the best bound.
    fix_zero, fix_one : ndarray of bool (n,)
        Sites that no solution better than the cover opens / closes (fix_zero never holds a
        site of ``selected``; fix_one only sites of ``selected``).
    """

    result: Result
    selected: np.ndarray
    multipliers: np.ndarray
    fix_zero: np.ndarray
    fix_one: np.ndarray


def _bounds(
    selected: np.ndarray,
    objective: float,
    bound: float,
    greedy_objective: float,
    arrays: tuple[np.ndarray, np.ndarray, np.ndarray],
    iterations: int,
    stop: StopReason,
    seconds: float,
) -> LscpBounds:
    """The :class:`LscpBounds` of a finished subgradient run (``arrays``: multipliers and the
    two fixing masks)."""
    result = Result(
        Status.FEASIBLE,
        objective,
        bound,
        None,
        "lagrangian",
        solve_s=seconds,
        nodes=iterations,
        extra={"greedy_objective": greedy_objective},
        stop=stop,
    )
    if result.gap == 0.0:
        result = result.replace(status=Status.OPTIMAL, stop=StopReason.OPTIMAL)
    return LscpBounds(result, selected, *arrays)


def lscp_lagrangian(
    reach: sp.spmatrix,
    cost: np.ndarray,
    *,
    time_limit_s: float | None = 10.0,
    max_iter: int = 20_000,
    heuristic_every: int = 10,
    step0: float = 1.0,
    patience: int = 60,
    step_min: float = 1e-4,
    seed: int = 0,
    upper: tuple[np.ndarray, float] | None = None,
) -> LscpBounds:
    """Subgradient optimisation of the LSCP Lagrangian with a greedy Lagrangian heuristic.

    Parameters
    ----------
    reach : sparse (m x n)
        Nonzero where site ``j`` covers row ``i``; every row must have a site.
    cost : ndarray (n,)
        Site costs (non-negative).
    time_limit_s : float, optional
        Wall-clock limit.
    max_iter : int
        Subgradient iterations at most.
    heuristic_every : int
        Greedy from the current multipliers every this many iterations.
    step0 : float
        Initial step factor (Held–Karp step ``step * (UB - L) / ||s||^2``).
    patience : int
        Iterations without a better bound before the step factor is halved (Beasley 1990).
    step_min : float
        Stop once the step factor falls below this.
    seed : int
        Seed for the small random perturbation of the multipliers given to the greedy.
    upper : (mask, value), optional
        A known cover to start from.

    Returns
    -------
    LscpBounds
    """
    t0 = time.perf_counter()
    deadline = None if time_limit_s is None else t0 + time_limit_s
    cov = _Cover.of(reach, cost)
    m, n = cov.m, cov.n
    c = cov.cost
    if m == 0:
        none = np.zeros(n, dtype=bool)
        arrays = (np.zeros(0), ~none, none)
        return _bounds(none, 0.0, 0.0, 0.0, arrays, 0, StopReason.OPTIMAL, 0.0)
    if np.any(np.diff(cov.a.indptr) == 0):
        raise ValueError("a row has no site: the covering problem is infeasible")
    integral = _is_integral(c)
    delta = 1.0 if integral else 0.0
    rng = np.random.default_rng(seed)

    best_x = greedy_cover(cov)
    ub = float(c[best_x].sum())
    greedy_obj = ub
    if upper is not None and upper[1] < ub:
        best_x, ub = np.asarray(upper[0], dtype=bool).copy(), float(upper[1])

    col_len = np.diff(cov.at.indptr)
    ratio = np.where(col_len > 0, c / np.maximum(col_len, 1), np.inf)
    u = np.minimum.reduceat(ratio[cov.a.indices], cov.a.indptr[:-1])
    best_u, lb = u.copy(), -math.inf
    fix0 = np.zeros(n, dtype=bool)
    fix1 = np.zeros(n, dtype=bool)
    step, it, since = step0, 0, 0
    stop = StopReason.ITERATION_LIMIT  # unless the clock or a closed gap ends it first

    def rounded(v: float) -> float:
        if integral and math.isfinite(v):
            return float(math.ceil(v - 1e-6))
        return v

    def tol() -> float:
        return 1e-7 * max(1.0, abs(ub))

    while it < max_iter:
        # the first iteration always runs: its bound (one sparse product) is what keeps a
        # component given no time (the last of several, after an overrun) from a bound of -inf
        if it > 0 and deadline is not None and time.perf_counter() >= deadline:
            stop = StopReason.TIME_LIMIT
            break
        if rounded(lb) >= ub - tol():
            break
        it += 1
        cr = c - np.asarray(cov.at @ u).ravel()
        x = cr < 0
        value = float(u.sum() + cr[x].sum())
        if value > lb + 1e-12 * max(1.0, abs(value)):
            lb, best_u = value, u.copy()
            since = 0
        else:
            since += 1
            if since >= patience:
                step, since = step / 2.0, 0
                if step < step_min:
                    break
        # reduced-cost fixing against the incumbent
        limit = ub - delta + tol()
        fix0 |= (value + cr > limit) & ~x
        fix1 |= (value - cr > limit) & x
        # Lagrangian heuristic
        if it % heuristic_every == 1 or heuristic_every <= 1:
            noise = 1.0 + 0.02 * rng.standard_normal(m) if it > 1 else 1.0
            cand = greedy_cover(cov, multipliers=u * noise)
            val = float(c[cand].sum())
            if val < ub - tol():
                ub, best_x = val, cand
                log.debug("lscp lagrangian: new cover %.10g at iteration %d", ub, it)
        # subgradient
        g = 1.0 - cov.count(x)
        g[(u <= 0) & (g < 0)] = 0.0
        norm = float(g @ g)
        if norm == 0.0:  # x covers every row with u_i > 0 exactly once: optimal for L
            break
        u = np.maximum(0.0, u + step * max(ub - value, 1e-9 * max(1.0, ub)) / norm * g)
    bound = min(rounded(lb), ub)
    fix0 &= ~best_x
    fix1 &= best_x
    seconds = time.perf_counter() - t0
    out = _bounds(best_x, ub, bound, greedy_obj, (best_u, fix0, fix1), it, stop, seconds)
    log.info(
        "lscp lagrangian: %d x %d, cover %.10g (greedy %.10g), bound %.10g, gap %.3g, "
        "%d iterations, %.2f s; fixed %d closed, %d open",
        m,
        n,
        ub,
        greedy_obj,
        bound,
        out.result.gap,
        it,
        seconds,
        int(fix0.sum()),
        int(fix1.sum()),
    )
    return out


def _hops_from(cov: _Cover, site: int, enough: int | None = None) -> np.ndarray:
    """Breadth-first distance (in site-row-site steps) of every site from ``site``; with
    ``enough``, the walk stops after the layer where that many sites are reached (the others
    keep the largest int64)."""
    dist = np.full(cov.n, np.iinfo(np.int64).max, dtype=np.int64)
    dist[site] = 0
    seen_rows = np.zeros(cov.m, dtype=bool)
    front, d, reached = np.array([site]), 0, 1
    while front.size and (enough is None or reached < enough):
        d += 1
        rows = np.unique(cov.at.indices[_ranges(cov.at.indptr, front)])
        rows = rows[~seen_rows[rows]]
        seen_rows[rows] = True
        sites = np.unique(cov.a.indices[_ranges(cov.a.indptr, rows)])
        front = sites[dist[sites] > d]
        dist[front] = d
        reached += front.size
    return dist


# --------------------------------------------------------------------------- MCLP


@dataclass(frozen=True)
class _Mclp(_Incidence):
    """An MCLP as arrays: ``a`` (row -> sites), ``at`` (site -> rows), weights, costs and the
    limits (``p`` with ``p_exact``; ``budget``)."""

    weight: np.ndarray
    cost: np.ndarray
    p: int | None
    p_exact: bool
    budget: float | None

    @classmethod
    def of(
        cls,
        coverage: sp.spmatrix,
        weight: np.ndarray,
        cost: np.ndarray,
        p: int | None,
        p_exact: bool = True,
        budget: float | None = None,
    ) -> _Mclp:
        a = binary_csr(coverage)
        return cls(
            a,
            a.T.tocsr(),
            np.asarray(weight, dtype=float),
            np.asarray(cost, dtype=float),
            p,
            p_exact,
            budget,
        )

    def value(self, y: np.ndarray) -> float:
        return float(self.weight[self.count(y) > 0].sum())

    def room(self, y: np.ndarray) -> tuple[int, float]:
        """Sites still allowed by the count, and budget left."""
        k = self.n if self.p is None else self.p - int(y.sum())
        b = math.inf if self.budget is None else self.budget - float(self.cost[y].sum())
        return k, b


def mclp_greedy(
    problem: _Mclp, by_ratio: bool = False, start: np.ndarray | None = None
) -> np.ndarray:
    """Open the site with the largest uncovered weight (per unit cost when ``by_ratio``)
    while the count and the budget allow and something is gained; then fill an exact count
    with the cheapest sites. With an exact count and a budget, a site is taken only if the
    cheapest sites can still complete the count within the budget. ``start`` (bool mask):
    the sites open before the first step."""
    n = problem.n
    y = np.zeros(n, dtype=bool) if start is None else np.asarray(start, dtype=bool).copy()
    uncovered = problem.count(y) == 0
    gain = np.asarray(problem.at @ np.where(uncovered, problem.weight, 0.0)).ravel()
    w, a, at, c = problem.weight, problem.a, problem.at, problem.cost
    row_len = np.diff(a.indptr)
    k_left, b_left = problem.room(y)
    reserve = problem.p_exact and problem.p is not None and problem.budget is not None
    while k_left > 0:
        ok = ~y & (c <= b_left + 1e-9) & (gain > 0)
        if reserve and k_left > 1:
            ok &= c + _cheapest_rest(c, y, k_left - 1) <= b_left + 1e-9
        if not ok.any():
            break
        score = np.where(ok, gain / np.maximum(c, 1e-12) if by_ratio else gain, -np.inf)
        j = int(np.argmax(score))
        y[j] = True
        k_left -= 1
        b_left -= c[j]
        rows_j = at.indices[at.indptr[j] : at.indptr[j + 1]]
        new = rows_j[uncovered[rows_j]]
        uncovered[new] = False
        cols = a.indices[_ranges(a.indptr, new)]
        gain -= np.bincount(cols, weights=np.repeat(w[new], row_len[new]), minlength=n)
    return _fill_count(problem, y)


def _cheapest_rest(c: np.ndarray, y: np.ndarray, k: int) -> np.ndarray:
    """For every site ``j``: the cost of the ``k`` cheapest closed sites other than ``j``."""
    free = np.flatnonzero(~y)
    costs = np.sort(c[free])
    if costs.size <= k:  # not enough other sites
        return np.full(c.size, np.inf)
    base = float(costs[:k].sum())
    kth = costs[k - 1] if k > 0 else -np.inf
    # a site among the k cheapest is replaced by the (k+1)-th
    return np.where(c <= kth, base - c + costs[k], base)


def _fill_count(problem: _Mclp, y: np.ndarray) -> np.ndarray:
    """Complete an exact count with the cheapest closed sites."""
    if problem.p is None or not problem.p_exact:
        return y
    short = problem.p - int(y.sum())
    if short > 0:
        free = np.flatnonzero(~y)
        y = y.copy()
        y[free[np.argsort(problem.cost[free], kind="stable")[:short]]] = True
    return y


@dataclass(frozen=True)
class MclpBounds:
    """Upper bound of an MCLP (count only) from the Lagrangian relaxation of the coverage
    rows, and the sites fixed by it.

    Attributes
    ----------
    bound : float
        The best (smallest) Lagrangian value, rounded down when all weights are integers.
    fix_zero, fix_one : ndarray of bool
        Sites no solution better than ``lower`` opens / closes (never against ``selected``).
    iterations : int
    seconds : float
    """

    bound: float
    fix_zero: np.ndarray
    fix_one: np.ndarray
    iterations: int
    seconds: float


def mclp_lagrangian(
    problem: _Mclp,
    selected: np.ndarray,
    *,
    time_limit_s: float | None = 10.0,
    max_iter: int = 3000,
    step0: float = 1.0,
    patience: int = 40,
    step_min: float = 1e-4,
) -> MclpBounds:
    r"""Subgradient optimisation of the MCLP Lagrangian (facility count, no budget):
    :math:`L(\lambda) = \sum_i \max(0, w_i - \lambda_i) + \text{top}_p \sum_{i \in I_j}
    \lambda_i`, an upper bound for every :math:`0 \le \lambda \le w`; ``selected`` (a
    feasible solution) gives the target and the fixing threshold."""
    if problem.p is None or problem.budget is not None:
        raise ValueError("the MCLP Lagrangian takes a facility count and no budget")
    t0 = time.perf_counter()
    deadline = None if time_limit_s is None else t0 + time_limit_s
    w, n = problem.weight, problem.n
    p = min(problem.p, n)
    lower = problem.value(np.asarray(selected, dtype=bool))
    integral = _is_integral(w)
    delta = 1.0 if integral else 0.0
    fix0 = np.zeros(n, dtype=bool)
    fix1 = np.zeros(n, dtype=bool)
    if p <= 0 or problem.m == 0:
        return MclpBounds(lower, fix0, fix1, 0, 0.0)
    lam = 0.5 * w
    best, step, since, it = math.inf, step0, 0, 0
    tol = 1e-7 * max(1.0, abs(lower))

    def rounded(v: float) -> float:
        return float(math.floor(v + 1e-6)) if integral and math.isfinite(v) else v

    while it < max_iter:
        if deadline is not None and time.perf_counter() >= deadline:
            break
        if rounded(best) <= lower + tol:
            break
        it += 1
        s = np.asarray(problem.at @ lam).ravel()
        order = np.argpartition(-s, p - 1) if p < n else np.arange(n)
        top = np.zeros(n, dtype=bool)
        top[order[:p]] = True
        z = w > lam
        value = float((w - lam)[z].sum() + s[top].sum())
        if value < best - 1e-12 * max(1.0, abs(value)):
            best, since = value, 0
        else:
            since += 1
            if since >= patience:
                step, since = step / 2.0, 0
                if step < step_min:
                    break
        # fixing against the incumbent: L with y_j forced open / closed
        s_p = float(s[top].min())
        s_q = float(s[~top].max()) if p < n else 0.0
        need = lower + delta - tol
        fix0 |= ~top & (value - s_p + s < need)
        fix1 |= top & (value - s + max(s_q, 0.0) < need)
        g = problem.count(top) - z  # dL/dlambda
        norm = float(g @ g)
        if norm == 0.0:
            break
        lam = np.clip(lam - step * max(value - lower, 1e-9 * max(1.0, value)) / norm * g, 0.0, w)
    sel = np.asarray(selected, dtype=bool)
    out = MclpBounds(
        max(rounded(best), lower), fix0 & ~sel, fix1 & sel, it, time.perf_counter() - t0
    )
    log.info(
        "mclp lagrangian: %d x %d, p %d: bound %.10g vs %.10g, %d iterations, %.2f s; "
        "fixed %d closed, %d open",
        problem.m,
        n,
        p,
        out.bound,
        lower,
        it,
        out.seconds,
        int(out.fix_zero.sum()),
        int(out.fix_one.sum()),
    )
    return out


def mclp_lp_bound(problem: _Mclp, backend: Backend, time_limit_s: float | None) -> float:
    """The LP relaxation's value (an upper bound), or ``inf`` when the backend has no LP or
    does not finish."""
    if "lp" not in type(backend).capabilities:
        return math.inf
    milp = _mclp_milp(problem, integral=False)
    milp.integrality[:] = False
    res = backend.solve(milp, SolveOptions(time_limit_s=time_limit_s, threads=1))
    if res.status is not Status.OPTIMAL:
        return math.inf
    value = float(res.objective)
    return float(math.floor(value + 1e-6)) if _is_integral(problem.weight) else value


def _mclp_milp(
    problem: _Mclp,
    integral: bool,
    fix_zero: np.ndarray | None = None,
    fix_one: np.ndarray | None = None,
) -> MILP:
    data = mclp.MclpData.from_arrays(
        problem.a,
        problem.weight,
        problem.p,
        cost=problem.cost if problem.budget is not None else None,
        budget=problem.budget,
        p_exact=problem.p_exact,
        required=None if fix_one is None else np.flatnonzero(fix_one),
        forbidden=None if fix_zero is None else np.flatnonzero(fix_zero),
    )
    return mclp.build_model(data, integral=integral, name="mclp-reduced")


def mclp_heuristic(
    problem: _Mclp, deadline: float | None = None
) -> tuple[np.ndarray, dict[str, float]]:
    """Greedy (and the cost-ratio greedy under a budget), then one descent of the compiled
    swap search to a swap-local optimum (within the budget), then any room left in the count
    and the budget filled greedily. Returns the solution and the figures of each step."""
    t0 = time.perf_counter()
    cands = [mclp_greedy(problem)]
    if problem.budget is not None:
        cands.append(mclp_greedy(problem, by_ratio=True))
    values = [problem.value(y) for y in cands]
    y = cands[int(np.argmax(values))]
    greedy_value = max(values)
    t1 = time.perf_counter()
    left = math.inf if deadline is None else max(0.0, deadline - t1)
    descent = mclp_swap_search(
        problem.a,
        problem.weight,
        y,
        time_limit_s=left,
        max_rounds=1,
        max_kick=0,
        cost=problem.cost,
        budget=problem.budget,
    )
    y = mclp_greedy(problem, start=descent.selected)
    value = problem.value(y)
    info = {
        "greedy_objective": greedy_value,
        "greedy_s": t1 - t0,
        "local_search_objective": value,
        "local_search_s": time.perf_counter() - t1,
    }
    log.info(
        "mclp heuristic: greedy %.10g (%.2f s), swap descent %.10g (%.2f s)",
        greedy_value,
        t1 - t0,
        value,
        info["local_search_s"],
    )
    return y, info


def mclp_lns(
    problem: _Mclp,
    start: np.ndarray,
    backend: Backend,
    *,
    time_limit_s: float,
    sub_limit_s: float = 2.0,
    open_in_region: tuple[int, int] = (6, 20),
    max_region_sites: int = 400,
    seed: int = 0,
    stop: Callable[[], bool] | None = None,
    upper: float = math.inf,
) -> tuple[np.ndarray, int, int]:
    """Large-neighbourhood search for the MCLP: free the sites around a random open site (a
    breadth-first walk over the site-row graph until it holds a random number of open sites),
    keep every other site as it is, and re-solve the freed region exactly (a small MCLP over
    the rows the kept sites leave uncovered, with the region's share of the count and the
    budget), warm-started with the incumbent. Stops at the time limit, when ``stop()`` turns
    true or when the solution covers ``upper`` (a known bound). Returns the solution (never
    worse than ``start``), the rounds and the improving rounds."""
    t0 = time.perf_counter()
    deadline = t0 + time_limit_s
    rng = np.random.default_rng(seed)
    y = np.asarray(start, dtype=bool).copy()
    value = problem.value(y)
    a, w, c = problem.a, problem.weight, problem.cost
    rounds = improved = 0
    while time.perf_counter() < deadline - 0.05 and not (stop is not None and stop()):
        if value >= upper - 1e-9 * max(1.0, abs(upper)):
            break
        opened = np.flatnonzero(y)
        if opened.size == 0:
            break
        rounds += 1
        free = _region(problem, y, int(rng.choice(opened)), rng, open_in_region, max_region_sites)
        kept = y & ~free
        k_left, b_left = problem.room(y)
        cov_kept = problem.count(kept) > 0
        fcols = np.flatnonzero(free)
        rows = np.unique(problem.at.indices[_ranges(problem.at.indptr, fcols)])
        rows = rows[~cov_kept[rows]]
        if rows.size == 0:
            continue
        k_sub = int(y[fcols].sum())
        sub = _Mclp.of(
            a[rows][:, fcols],
            w[rows],
            c[fcols],
            None
            if problem.p is None
            else min(fcols.size, k_sub + (0 if problem.p_exact else k_left)),
            problem.p_exact,
            None if problem.budget is None else float(c[fcols][y[fcols]].sum()) + b_left,
        )
        milp = _mclp_milp(sub, integral="lp" not in type(backend).capabilities)
        ys = y[fcols]
        x0 = np.r_[ys.astype(float), (sub.count(ys) > 0).astype(float)]
        left = deadline - time.perf_counter()
        if left < 0.1:
            break
        res = backend.solve(
            milp,
            SolveOptions(
                time_limit_s=min(sub_limit_s, left), threads=1, seed=seed + rounds, warm_start=x0
            ),
        )
        if not res.status.has_solution or res.x is None:
            continue
        cand = kept.copy()
        cand[fcols] = np.asarray(res.x)[: fcols.size] > 0.5
        if problem.p is not None and (
            cand.sum() > problem.p or (problem.p_exact and cand.sum() != problem.p)
        ):
            continue
        if problem.budget is not None and c[cand].sum() > problem.budget + 1e-9:
            continue
        v = problem.value(cand)
        if v > value + 1e-9 * max(1.0, value):
            y, value = cand, v
            improved += 1
        elif v >= value - 1e-9 * max(1.0, value):
            y = cand
    log.info(
        "mclp lns: %d x %d, covered %.10g, %d rounds (%d improving), %.2f s",
        problem.m,
        problem.n,
        value,
        rounds,
        improved,
        time.perf_counter() - t0,
    )
    return y, rounds, improved


def mclp_search(
    problem: _Mclp,
    start: np.ndarray,
    backend: Backend | None,
    *,
    time_limit_s: float,
    seed: int = 0,
    upper: float = math.inf,
    stop: Callable[[], bool] | None = None,
    info: dict[str, object] | None = None,
) -> np.ndarray:
    """The search that improves an MCLP solution beside its MIP (``mclp-warm``,
    ``mclp-benders``).

    With a facility count: the iterated swap search
    (:func:`~optimizer.models.covering.search.mclp_swap_search`) for :data:`ILS_SHARE` of the
    time, then, with a ``backend`` for its small MIPs, the large-neighbourhood search
    (:func:`mclp_lns`) from the best solution found; without a backend the swap search takes
    all the time. Under a budget: the neighbourhood search (the swap search keeping the budget
    when there is no backend). Stops early when ``stop()`` turns true or the solution covers
    ``upper``. The figures of each search go into ``info``; returns the best solution (never
    worse than ``start``).
    """
    t0 = time.perf_counter()
    info = {} if info is None else info
    y = np.asarray(start, dtype=bool)
    if problem.budget is None or backend is None:
        ls = mclp_swap_search(
            problem.a,
            problem.weight,
            y,
            time_limit_s=time_limit_s if backend is None else ILS_SHARE * time_limit_s,
            seed=seed,
            upper=upper,
            stop=stop,
            cost=problem.cost,
            budget=problem.budget,
        )
        y = ls.selected
        info.update(
            swap_search_objective=ls.result.objective,
            swap_search_rounds=ls.result.nodes,
            swap_search_improved=ls.result.extra["improved"],
            swap_search_longest_idle=ls.result.extra["longest_idle"],
            swap_search_late=ls.result.extra["late_acceptance"],
        )
        if backend is None or ls.result.objective >= upper - 1e-9 * max(1.0, abs(upper)):
            return y
    left = time_limit_s - (time.perf_counter() - t0)
    if left < 0.3 or (stop is not None and stop()):
        return y
    y, rounds, improved = mclp_lns(
        problem, y, backend, time_limit_s=left, seed=seed, stop=stop, upper=upper
    )
    info.update(lns_objective=problem.value(y), lns_rounds=rounds, lns_improved=improved)
    return y


def mclp_search_name(budget: float | None, backend: Backend | None) -> str:
    """What :func:`mclp_search` runs, for solver names: ``ils+lns``, ``ils`` or ``lns``."""
    if backend is None:
        return "ils"
    return "ils+lns" if budget is None else "lns"


def _region(
    problem: _Mclp,
    y: np.ndarray,
    site: int,
    rng: np.random.Generator,
    open_in_region: tuple[int, int],
    max_sites: int,
) -> np.ndarray:
    """Sites nearest ``site`` in the site-row graph, up to a random number of open ones."""
    hops = _hops_from(problem, site, max_sites)  # type: ignore[arg-type]
    reach = np.flatnonzero(hops < np.iinfo(np.int64).max)
    order = reach[np.lexsort((rng.random(reach.size), hops[reach]))]
    want = int(rng.integers(open_in_region[0], open_in_region[1] + 1))
    n_open = np.cumsum(y[order])
    cut = int(np.searchsorted(n_open, want)) + 1
    cut = min(cut, max_sites, order.size)
    free = np.zeros(problem.n, dtype=bool)
    free[order[:cut]] = True
    return free
