r"""Caprara–Fischetti–Toth Lagrangian heuristic for set covering (LSCP), compiled with Numba.

After Caprara, Fischetti & Toth (1999), "A heuristic method for the set covering problem",
Operations Research 47(5). Relaxing the cover rows with multipliers :math:`u \ge 0` gives

.. math::

    L(u) = \sum_i u_i + \sum_j \min(0, \tilde c_j), \qquad
    \tilde c_j = c_j - \sum_{i \in I_j} u_i ,

a lower bound for every :math:`u \ge 0`. The method:

- **Core problem.** The subgradient works on a small set of columns: per row the
  :data:`CORE_PER_ROW` columns of smallest reduced cost, every column with
  :math:`\tilde c_j < 0.1`, and the incumbent's columns. Every :data:`PRICING_EVERY` iterations
  the reduced costs are recomputed on the FULL matrix (one pass over every nonzero), which gives
  the certified bound :math:`L(u)` of the whole problem, and the core is chosen again. Only
  full-matrix values are ever reported as bounds; the core's own value steers the steps.
- **Subgradient with CFT's step control**: :math:`u_i \leftarrow \max(0, u_i + \lambda
  (UB - L)\, s_i / \lVert s \rVert^2)`, :math:`s_i = 1 - \sum_{j: \tilde c_j < 0} a_{ij}`;
  every 20 iterations :math:`\lambda` is halved when the best and worst bound of those
  iterations differ by more than 1 %, and multiplied by 1.5 when by less than 0.1 %.
- **Lagrangian greedy** at every pricing (from the current multipliers, with a small random
  perturbation after the first): score :math:`\gamma_j / \mu_j` when :math:`\gamma_j > 0`, else
  :math:`\gamma_j \mu_j` (:math:`\gamma_j` the reduced cost over the uncovered rows,
  :math:`\mu_j` their number), over the core columns, then redundant columns closed (dearest,
  then largest reduced cost, first).
- **Exact column fixing** (reduced costs, as in
  :func:`optimizer.models.covering.heuristics.lscp_lagrangian`): a cover that opens :math:`j`
  costs at least :math:`L(u) + \tilde c_j`, one that closes it :math:`L(u) - \tilde c_j`; where
  that exceeds :math:`UB - \delta` (:math:`\delta = 1` with integer costs) no better cover does.
  The incumbent's columns are never fixed closed (the restricted problem keeps the incumbent,
  so a MIP bound of it is a bound of the whole problem).
- **Refinement** (CFT's heuristic fixing, for the upper bound only): the incumbent's columns of
  least reduced cost covering a share :math:`\pi` of the rows are fixed open, and the
  subgradient and greedy run again on the rows left (:math:`\pi` grows by 1.1 per round
  without a better cover and restarts at 0.3 after one).

Every kernel is one pass over the nonzeros of the columns concerned (Numba, ``nogil``).
"""

from __future__ import annotations

import logging
import math
import time

import numba
import numpy as np
import scipy.sparse as sp

from optimizer.backends import StopReason
from optimizer.models.common import binary_csr
from optimizer.models.covering.heuristics import LscpBounds, _bounds

log = logging.getLogger(__name__)

__all__ = ["cft_lagrangian"]

CORE_PER_ROW = 5
"""Columns of least reduced cost kept in the core for every row (CFT)."""

CORE_THRESHOLD = 0.1
"""Columns with a reduced cost below this are in the core too (CFT)."""

PRICING_EVERY = 10
"""Subgradient iterations on the core between two pricings on the full matrix."""

CORE_EVERY = 3
"""Pricings between two choices of the core."""

GREEDY_EVERY = 5
"""Pricings between two greedy covers in the subgradient phase."""

STALL_PRICINGS = 60
"""The subgradient phase ends when the certified bound rose by less than :data:`STALL_GAIN`
(relative) over this many pricings and the step factor fell below :data:`LAMBDA_END`."""

LAMBDA_END = 0.01

STALL_GAIN = 1e-4

LAMBDA0 = 4.0
"""First step factor (from the cheapest cost per row)."""

LAMBDA_WARM = 0.25
"""First step factor from given multipliers (near the optimum already)."""

SUBGRADIENT_SHARE = 0.6
"""Share of the time the first subgradient phase may use; refinement gets the rest."""


@numba.njit(cache=True, nogil=True)
def _price(
    col_ptr: np.ndarray, col_rows: np.ndarray, c: np.ndarray, u: np.ndarray, cr: np.ndarray
) -> None:
    """``cr = c - A^T u`` over every column."""
    for j in range(c.size):
        v = c[j]
        for p in range(col_ptr[j], col_ptr[j + 1]):
            v -= u[col_rows[p]]
        cr[j] = v


@numba.njit(cache=True, nogil=True)
def _select_core(
    row_ptr: np.ndarray,
    row_cols: np.ndarray,
    cr: np.ndarray,
    per_row: int,
    threshold: float,
    active: np.ndarray,
    free: np.ndarray,
    keep: np.ndarray,
) -> np.ndarray:
    """Core columns: free columns of reduced cost < ``threshold`` or in ``keep``, and per
    active row the ``per_row`` free columns of least reduced cost."""
    n = cr.size
    mark = np.zeros(n, dtype=np.bool_)
    for j in range(n):
        if free[j] and (cr[j] < threshold or keep[j]):
            mark[j] = True
    best = np.empty(per_row, dtype=np.int64)
    for i in range(active.size):
        if not active[i]:
            continue
        k = 0
        for p in range(row_ptr[i], row_ptr[i + 1]):
            j = row_cols[p]
            if not free[j]:
                continue
            # insertion into the sorted list of the per_row best
            if k < per_row:
                q = k
                k += 1
            elif cr[j] < cr[best[k - 1]]:
                q = k - 1
            else:
                continue
            while q > 0 and cr[best[q - 1]] > cr[j]:
                best[q] = best[q - 1]
                q -= 1
            best[q] = j
        for q in range(k):
            mark[best[q]] = True
    return np.flatnonzero(mark)


@numba.njit(cache=True, nogil=True)
def _subgradient(
    col_ptr: np.ndarray,
    col_rows: np.ndarray,
    c: np.ndarray,
    core: np.ndarray,
    active: np.ndarray,
    u: np.ndarray,
    ub: float,
    lam: np.ndarray,
    hist: np.ndarray,
    count: np.ndarray,
    iters: int,
) -> float:
    """``iters`` subgradient iterations on the core columns (in place on ``u``, the step factor
    ``lam[0]`` and the window ``hist`` / ``count[0]`` of CFT's step control); returns the last
    core bound (not a bound of the whole problem)."""
    m = u.size
    s = np.empty(m)
    value = -np.inf
    for _ in range(iters):
        value = 0.0
        for i in range(m):
            if active[i]:
                value += u[i]
                s[i] = 1.0
            else:
                s[i] = 0.0
        for q in range(core.size):
            j = core[q]
            v = c[j]
            for p in range(col_ptr[j], col_ptr[j + 1]):
                v -= u[col_rows[p]]
            if v < 0.0:
                value += v
                for p in range(col_ptr[j], col_ptr[j + 1]):
                    s[col_rows[p]] -= 1.0
        norm = 0.0
        for i in range(m):
            if not active[i] or (u[i] <= 0.0 and s[i] < 0.0):
                s[i] = 0.0
            norm += s[i] * s[i]
        # CFT step control over windows of 20 iterations
        hist[count[0] % 20] = value
        count[0] += 1
        if count[0] % 20 == 0:
            hi, lo = hist.max(), hist.min()
            spread = (hi - lo) / max(abs(hi), 1e-12)
            if hi <= lam[1]:
                lam[2] += 1.0
                if lam[2] >= 2.0:  # two windows without a better value
                    lam[0] /= 2.0
                    lam[2] = 0.0
            else:
                lam[2] = 0.0
                if spread < 0.001:
                    lam[0] *= 1.5
            lam[1] = max(lam[1], hi)
        if norm == 0.0:
            break
        step = lam[0] * max(ub - value, 1e-6 * max(1.0, abs(ub))) / norm
        for i in range(m):
            if s[i] != 0.0:
                u[i] = max(0.0, u[i] + step * s[i])
    return value


@numba.njit(cache=True, nogil=True)
def _greedy(
    row_ptr: np.ndarray,
    row_cols: np.ndarray,
    col_ptr: np.ndarray,
    col_rows: np.ndarray,
    c: np.ndarray,
    u: np.ndarray,
    cand: np.ndarray,
    active: np.ndarray,
) -> np.ndarray:
    """CFT's Lagrangian greedy over the columns ``cand`` for the ``active`` rows, then its
    redundant columns closed (dearest first, then largest reduced cost). Returns the opened
    columns (bool mask); rows no candidate covers stay uncovered (the caller checks)."""
    m, n = u.size, c.size
    uncovered = active.copy()
    incand = np.zeros(n, dtype=np.bool_)
    for q in range(cand.size):
        incand[cand[q]] = True
    mu = np.zeros(n)
    gamma = c.copy()
    for q in range(cand.size):
        j = cand[q]
        for p in range(col_ptr[j], col_ptr[j + 1]):
            i = col_rows[p]
            if uncovered[i]:
                mu[j] += 1.0
                gamma[j] -= u[i]
    x = np.zeros(n, dtype=np.bool_)
    left = 0
    for i in range(m):
        if uncovered[i]:
            left += 1
    while left > 0:
        bj, bs = -1, np.inf
        for q in range(cand.size):
            j = cand[q]
            if x[j] or mu[j] <= 0.0:
                continue
            g = gamma[j]
            sc = g / mu[j] if g > 0.0 else g * mu[j]
            if sc < bs:
                bs, bj = sc, j
        if bj < 0:
            break
        x[bj] = True
        for p in range(col_ptr[bj], col_ptr[bj + 1]):
            i = col_rows[p]
            if uncovered[i]:
                uncovered[i] = False
                left -= 1
                for r in range(row_ptr[i], row_ptr[i + 1]):
                    k = row_cols[r]
                    if incand[k]:
                        mu[k] -= 1.0
                        gamma[k] += u[i]
    # redundancy: dearest first, then the largest reduced cost (the least useful)
    opened = np.flatnonzero(x)
    cr = np.empty(opened.size)
    for q in range(opened.size):
        j = opened[q]
        v = c[j]
        for p in range(col_ptr[j], col_ptr[j + 1]):
            v -= u[col_rows[p]]
        cr[q] = v
    order = np.argsort(-(c[opened] * 1e6 + cr), kind="mergesort")
    cnt = np.zeros(m, dtype=np.int64)
    for q in range(opened.size):
        j = opened[q]
        for p in range(col_ptr[j], col_ptr[j + 1]):
            cnt[col_rows[p]] += 1
    for q in order:
        j = opened[q]
        redundant = True
        for p in range(col_ptr[j], col_ptr[j + 1]):
            i = col_rows[p]
            if active[i] and cnt[i] < 2:
                redundant = False
                break
        if redundant:
            x[j] = False
            for p in range(col_ptr[j], col_ptr[j + 1]):
                cnt[col_rows[p]] -= 1
    return x


class _Problem:
    """The matrix both ways (int64 index arrays for the kernels) and the costs."""

    def __init__(self, reach: sp.spmatrix, cost: np.ndarray) -> None:
        a = binary_csr(reach)
        at = a.T.tocsr()
        self.m, self.n = int(a.shape[0]), int(a.shape[1])
        self.row_ptr = a.indptr.astype(np.int64)
        self.row_cols = a.indices.astype(np.int64)
        self.col_ptr = at.indptr.astype(np.int64)
        self.col_rows = at.indices.astype(np.int64)
        self.c = np.asarray(cost, dtype=np.float64).copy()
        self.a = a

    def covers(self, x: np.ndarray) -> bool:
        return bool(np.all(np.asarray(self.a @ x.astype(np.int32)).ravel() > 0))

    def greedy(self, u: np.ndarray, cand: np.ndarray, active: np.ndarray) -> np.ndarray:
        return _greedy(
            self.row_ptr, self.row_cols, self.col_ptr, self.col_rows, self.c, u, cand, active
        )


class _Phase:
    """One subgradient run (with pricing, greedy and, at the root, fixing) on the rows
    ``active`` with the columns ``free``."""

    def __init__(self, prob: _Problem, active: np.ndarray, free: np.ndarray, u0: np.ndarray):
        self.prob, self.active, self.free = prob, active, free
        self.u = np.where(active, u0, 0.0)
        self.cr = np.empty(prob.n)
        self.lam = np.array([LAMBDA0, -np.inf, 0.0])
        self.hist = np.zeros(20)
        self.count = np.zeros(1, dtype=np.int64)
        self.iterations = 0

    def price(self) -> float:
        """Reduced costs on every column and the Lagrangian value of the rows ``active``
        with the columns ``free`` (at the root: the certified bound)."""
        p = self.prob
        _price(p.col_ptr, p.col_rows, p.c, self.u, self.cr)
        return float(self.u[self.active].sum() + np.minimum(self.cr[self.free], 0.0).sum())

    def core(self, keep: np.ndarray) -> np.ndarray:
        p = self.prob
        return _select_core(
            p.row_ptr,
            p.row_cols,
            self.cr,
            CORE_PER_ROW,
            CORE_THRESHOLD,
            self.active,
            self.free,
            keep & self.free,
        )

    def step(self, core: np.ndarray, ub: float) -> None:
        p = self.prob
        _subgradient(
            p.col_ptr,
            p.col_rows,
            p.c,
            core,
            self.active,
            self.u,
            ub,
            self.lam,
            self.hist,
            self.count,
            PRICING_EVERY,
        )
        self.iterations += PRICING_EVERY


def cft_lagrangian(
    reach: sp.spmatrix,
    cost: np.ndarray,
    *,
    time_limit_s: float | None = 10.0,
    max_pricings: int = 2_000,
    seed: int = 0,
    upper: tuple[np.ndarray, float] | None = None,
    refine: bool = True,
    multipliers: np.ndarray | None = None,
) -> LscpBounds:
    """CFT's three phases (module docstring) on the LSCP ``reach`` / ``cost``.

    Parameters
    ----------
    reach : sparse (m x n)
        Nonzero where site ``j`` covers row ``i``; every row must have a site.
    cost : ndarray (n,)
        Site costs (non-negative).
    time_limit_s : float, optional
        Wall-clock limit. The bound of the first multipliers and a greedy cover are computed
        even at a limit of 0, so the answer always holds a certified bound and a cover.
    max_pricings : int
        Pricings (of :data:`PRICING_EVERY` iterations each) at most, over all phases.
    seed : int
        Seed of the perturbation of the multipliers given to the greedy.
    upper : (mask, value), optional
        A known cover.
    refine : bool
        Run CFT's refinement (heuristic fixing) after the subgradient phase.
    multipliers : ndarray (m,), optional
        Multipliers to start from (those of an earlier run), else the cheapest cost per row.

    Returns
    -------
    LscpBounds
        As :func:`optimizer.models.covering.heuristics.lscp_lagrangian` (``nodes`` counts the
        subgradient iterations, ``extra["greedy_objective"]`` the first greedy cover).
    """
    t0 = time.perf_counter()
    deadline = math.inf if time_limit_s is None else t0 + time_limit_s
    prob = _Problem(reach, cost)
    m, n, c = prob.m, prob.n, prob.c
    if m == 0:
        none = np.zeros(n, dtype=bool)
        return _bounds(none, 0.0, 0.0, 0.0, (np.zeros(0), ~none, none), 0, StopReason.OPTIMAL, 0.0)
    if np.any(np.diff(prob.row_ptr) == 0):
        raise ValueError("a row has no site: the covering problem is infeasible")
    integral = bool(np.all(c == np.round(c)))
    delta = 1.0 if integral else 0.0
    rng = np.random.default_rng(seed)

    def rounded(v: float) -> float:
        return float(math.ceil(v - 1e-6)) if integral and math.isfinite(v) else v

    # first multipliers: the cheapest cost per row of a column of the row
    col_len = np.diff(prob.col_ptr)
    ratio = np.where(col_len > 0, c / np.maximum(col_len, 1), np.inf)
    u0 = np.minimum.reduceat(ratio[prob.row_cols], prob.row_ptr[:-1])
    if multipliers is not None:
        u0 = np.maximum(np.asarray(multipliers, dtype=np.float64), 0.0)
    active = np.ones(m, dtype=bool)
    every = np.ones(n, dtype=bool)
    root = _Phase(prob, active, every, u0)
    if multipliers is not None:
        root.lam[0] = LAMBDA_WARM
    lb = root.price()
    best_u = root.u.copy()
    best_x = prob.greedy(root.u, np.arange(n, dtype=np.int64), active)
    ub = float(c[best_x].sum())
    greedy_obj = ub
    if upper is not None and upper[1] < ub:
        best_x, ub = np.asarray(upper[0], dtype=bool).copy(), float(upper[1])
    fix0 = np.zeros(n, dtype=bool)
    fix1 = np.zeros(n, dtype=bool)

    def tol() -> float:
        return 1e-7 * max(1.0, abs(ub))

    def fix(value: float, cr: np.ndarray) -> None:
        limit = ub - delta + tol()
        neg = cr < 0
        fix0[(value + cr > limit) & ~neg] = True
        fix1[(value - cr > limit) & neg] = True

    fix(lb, root.cr)
    pricings = 0
    stop = StopReason.ITERATION_LIMIT
    sub_end = t0 + SUBGRADIENT_SHARE * (deadline - t0) if math.isfinite(deadline) else deadline
    history = [lb]
    core = root.core(best_x)
    # phase 1: subgradient on the core, priced on the full matrix (the certified bound)
    while pricings < max_pricings and rounded(lb) < ub - tol():
        if time.perf_counter() >= sub_end:
            break
        root.step(core, ub)
        value = root.price()
        pricings += 1
        if value > lb:
            lb, best_u = value, root.u.copy()
        history.append(lb)
        fix(value, root.cr)
        if pricings % CORE_EVERY == 0:
            core = root.core(best_x)
        if pricings % GREEDY_EVERY == 1:
            u = root.u if pricings == 1 else root.u * (1.0 + 0.02 * rng.standard_normal(m))
            cand = prob.greedy(u, core, active)
            val = float(c[cand].sum())
            if val < ub - tol() and prob.covers(cand):
                best_x, ub = cand, val
        if len(history) > STALL_PRICINGS:
            old = history[-STALL_PRICINGS - 1]
            if lb - old <= STALL_GAIN * max(1.0, abs(lb)) and root.lam[0] < LAMBDA_END:
                break
    iterations = root.iterations
    # phase 3: refinement (heuristic fixing of the incumbent's best columns), upper bound only
    pi, rounds = 0.3, 0
    while (
        refine
        and pricings < max_pricings
        and rounded(lb) < ub - tol()
        and time.perf_counter() < deadline
    ):
        rounds += 1
        _price(prob.col_ptr, prob.col_rows, c, best_u, root.cr)
        sel = np.flatnonzero(best_x)
        sel = sel[np.argsort(root.cr[sel], kind="stable")]
        cnt = np.zeros(m, dtype=np.int64)
        fixed = np.zeros(n, dtype=bool)
        covered = 0
        for j in sel:  # a prefix of at most the incumbent's columns: short
            if covered >= pi * m:
                break
            rows_j = prob.col_rows[prob.col_ptr[j] : prob.col_ptr[j + 1]]
            covered += int(np.count_nonzero(cnt[rows_j] == 0))
            cnt[rows_j] += 1
            fixed[j] = True
        rest = cnt == 0
        if not rest.any() or fixed.sum() == sel.size:
            break
        sub = _Phase(prob, rest, ~fixed, best_u)
        sub.price()
        score = c[fixed].sum()
        sub_ub = ub - score
        sub_core = sub.core(best_x & ~fixed)
        found = False
        for _ in range(30):
            if pricings >= max_pricings or time.perf_counter() >= deadline:
                break
            sub.step(sub_core, sub_ub)
            sub.price()
            pricings += 1
            sub_core = sub.core(best_x & ~fixed)
            cand = prob.greedy(sub.u, sub_core, rest) | fixed
            val = float(c[cand].sum())
            if val < ub - tol() and prob.covers(cand):
                best_x, ub, found = cand, val, True
                sub_ub = ub - score
        iterations += sub.iterations
        pi = 0.3 if found else pi * 1.1
        if pi > 1.0:
            break
    if rounded(lb) < ub - tol() and time.perf_counter() >= deadline:
        stop = StopReason.TIME_LIMIT
    bound = min(rounded(lb), ub)
    fix0 &= ~best_x
    fix1 &= best_x
    seconds = time.perf_counter() - t0
    out = _bounds(best_x, ub, bound, greedy_obj, (best_u, fix0, fix1), iterations, stop, seconds)
    log.info(
        "cft: %d x %d, cover %.10g (greedy %.10g), bound %.10g, gap %.3g, %d iterations, "
        "%d pricings, %d refinements, %.2f s; fixed %d closed, %d open",
        *(m, n, ub, greedy_obj, bound, out.result.gap, iterations, pricings, rounds, seconds),
        *(int(fix0.sum()), int(fix1.sum())),
    )
    return out
