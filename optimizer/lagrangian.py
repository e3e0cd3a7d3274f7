r"""Lagrangian relaxation of the uncapacitated p-median problem, with a Lagrangian heuristic.

Relaxing the assignment rows :math:`\sum_j x_{ij} (+ u_i) = 1` with multipliers
:math:`\lambda_i` leaves, for fixed :math:`\lambda`,

.. math::

    L(\lambda) = \sum_i \lambda_i + \min_{y} \sum_j \rho_j y_j
        + \sum_i \min(0, f_i - \lambda_i), \qquad
    \rho_j = \sum_{i:(i,j) \in P} \min(0, c_{ij} - \lambda_i),

with :math:`c_{ij} = w_i d_{ij}`, :math:`f_i = w_i \bar d` the unserved cost (last term only
when unserved points are allowed), and :math:`y` choosing the required sites plus the
:math:`p - |R|` most negative :math:`\rho_j` among the allowed ones. Every :math:`L(\lambda)` is
a valid lower bound. The multipliers follow subgradient optimisation (Held–Karp step
:math:`t = \theta (UB - L) / \lVert g \rVert^2`, :math:`\theta` halved after a run of
iterations without improvement), every step one pass over the pair arrays (``np.bincount``).

The sites chosen by the relaxation seed the swap local search of
:mod:`optimizer.heuristics` (Lagrangian heuristic), which improves the upper bound. When all
costs are integers the bound is rounded up to the next integer (the optimum is an integer).

Only the uncapacitated model is handled; with compulsory service every demand point needs a
pair to an allowed site (otherwise the problem is infeasible and ``ValueError`` is raised).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

import numpy as np

from optimizer.backends.base import relative_gap
from optimizer.heuristics import CostPairs, best_two, local_search, solve_heuristic
from optimizer.models.pmedian import PMedianData

log = logging.getLogger(__name__)

__all__ = ["LagrangianResult", "solve_lagrangian"]


@dataclass(frozen=True)
class LagrangianResult:
    """Bounds from the heuristic and the Lagrangian relaxation.

    Attributes
    ----------
    selected : ndarray of bool (n_sites,)
        Sites of the best solution found (the upper bound).
    objective : float
        Upper bound: the cost of ``selected``.
    bound : float
        Best Lagrangian lower bound (rounded up when all costs are integers).
    heuristic_objective : float
        The greedy + local search value before the Lagrangian phase.
    iterations : int
        Subgradient iterations.
    heuristic_s, total_s : float
        Time of the first heuristic and of everything.
    multipliers : ndarray (n_demand,)
        The multipliers of the best bound.
    """

    selected: np.ndarray
    objective: float
    bound: float
    heuristic_objective: float
    iterations: int
    heuristic_s: float
    total_s: float
    multipliers: np.ndarray

    @property
    def gap(self) -> float:
        """Certified relative gap ``(UB - LB) / UB`` (0 within 1e-9)."""
        return relative_gap(self.objective, self.bound)

    @property
    def proven_optimal(self) -> bool:
        return self.gap == 0.0


def _check(cp: CostPairs) -> None:
    if cp.penalised:
        return
    has = np.zeros(cp.n_demand, dtype=bool)
    has[cp.rows] = True
    if not has.all():
        lonely = np.flatnonzero(~has)
        raise ValueError(
            f"{lonely.size} demand points have no allowed site in reach and no unserved "
            f"penalty (e.g. {lonely[:5].tolist()}): the p-median problem is infeasible"
        )


def _integral(cp: CostPairs) -> bool:
    vals = cp.cost if not cp.penalised else np.r_[cp.cost, cp.fallback]
    return bool(np.all(vals == np.round(vals)))


def solve_lagrangian(
    data: PMedianData,
    *,
    time_limit_s: float | None = 60.0,
    max_iter: int = 5000,
    heuristic_share: float = 0.3,
    theta0: float = 2.0,
    theta_min: float = 1e-4,
    patience: int = 30,
    ls_every: int = 10,
    seed: int = 0,
) -> LagrangianResult:
    """Heuristic upper bound, Lagrangian lower bound, Lagrangian heuristic.

    Parameters
    ----------
    data : PMedianData
        Uncapacitated p-median data.
    time_limit_s : float, optional
        Wall-clock limit for everything (the first heuristic gets ``heuristic_share`` of it).
    max_iter : int
        Subgradient iterations at most.
    theta0, theta_min : float
        Initial step factor; the search stops when it falls below ``theta_min``.
    patience : int
        Iterations without a better bound before the step factor is halved.
    ls_every : int
        Run the local search from the relaxation's sites at most every ``ls_every``
        iterations (only for a set of sites not tried before).
    seed : int
        Seed of the heuristic.

    Returns
    -------
    LagrangianResult

    Raises
    ------
    ValueError
        Capacitated data, or a point that must be served with no allowed site in reach.
    """
    t0 = time.perf_counter()
    cp = CostPairs.from_data(data)
    _check(cp)
    deadline = None if time_limit_s is None else t0 + time_limit_s
    h_limit = None if time_limit_s is None else heuristic_share * time_limit_s
    heur = solve_heuristic(cp, time_limit_s=h_limit, seed=seed)
    heuristic_s = time.perf_counter() - t0
    best_sites, ub = heur.selected.copy(), heur.objective
    integral = _integral(cp)
    n, m = cp.n_demand, cp.n_sites
    free_slots = cp.p - int(cp.required.sum())
    choosable = cp.allowed & ~cp.required
    lam = _start_multipliers(cp, best_sites)
    best_lam = lam.copy()
    lb = -math.inf
    theta, stall, it = theta0, 0, 0
    tried: set[bytes] = set()
    last_ls = -ls_every

    def rounded(value: float) -> float:
        if integral and math.isfinite(value):
            return float(math.ceil(value - 1e-6 * max(1.0, abs(value))))
        return value

    def closed() -> bool:
        return relative_gap(ub, rounded(lb)) == 0.0

    while it < max_iter and not closed():
        if deadline is not None and time.perf_counter() >= deadline:
            break
        it += 1
        lam_r = lam[cp.rows]
        below = cp.cost < lam_r
        rho = np.bincount(cp.cols, weights=np.where(below, cp.cost - lam_r, 0.0), minlength=m)
        chosen = cp.required.copy()
        if free_slots > 0:
            cand = np.flatnonzero(choosable)
            pick = cand[np.argpartition(rho[cand], free_slots - 1)[:free_slots]]
            chosen[pick] = True
        value = float(lam.sum() + rho[chosen].sum())
        if cp.penalised:
            value += float(np.minimum(0.0, cp.fallback - lam).sum())
        if value > lb + 1e-12 * max(1.0, abs(lb) if math.isfinite(lb) else 1.0):
            lb, best_lam, stall = value, lam.copy(), 0
        else:
            stall += 1
            if stall >= patience:
                theta, stall = theta / 2.0, 0
                if theta < theta_min:
                    break
        # Lagrangian heuristic: local search from the relaxation's sites
        key = np.packbits(chosen).tobytes()
        if it - last_ls >= ls_every and key not in tried:
            tried.add(key)
            last_ls = it
            sol, obj, _ = local_search(cp, chosen, deadline)
            if not cp.penalised:
                obj = cp.objective(sol)
            if obj < ub:
                best_sites, ub = sol, obj
                log.debug("lagrangian heuristic: new upper bound %.10g at iteration %d", ub, it)
        # subgradient of the relaxed rows
        g = 1.0 - np.bincount(cp.rows, weights=(below & chosen[cp.cols]).astype(float), minlength=n)
        if cp.penalised:
            g -= cp.fallback < lam
        norm = float(g @ g)
        if norm == 0.0:  # the relaxed solution is feasible: L(lambda) is its cost, optimal
            break
        target = ub if math.isfinite(ub) else abs(value) * 1.05 + 1.0
        step = theta * max(target - value, 1e-9 * max(1.0, abs(value))) / norm
        lam = lam + step * g
    bound = rounded(lb)
    if math.isfinite(ub) and bound > ub:  # floating noise only: a bound never beats a solution
        bound = ub
    total = time.perf_counter() - t0
    log.info(
        "p-median lagrangian: UB %.10g, LB %.10g, gap %.3g, %d iterations, %.2f s",
        ub,
        bound,
        relative_gap(ub, bound),
        it,
        total,
    )
    return LagrangianResult(best_sites, ub, bound, heur.objective, it, heuristic_s, total, best_lam)


def _start_multipliers(cp: CostPairs, opened: np.ndarray) -> np.ndarray:
    """Start from each point's cost in the heuristic solution (its ``d1``)."""
    d1, _, _ = best_two(cp, opened)
    if not cp.penalised:
        d1 = np.where(d1 >= cp.fallback, 0.0, d1)
    return d1
