r"""Lagrangian relaxation of the uncapacitated p-median problem: bound, heuristic, fixing.

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

**Truncated pairs.** On large instances the relaxation runs on the ``k`` cheapest pairs of
each point (:meth:`~optimizer.models.pmedian.heuristics.CostPairs.truncated`) with every
:math:`\lambda_i`
capped at the cost :math:`\kappa_i` of the point's cheapest pair left out: a pair left out has
:math:`c_{ij} \ge \kappa_i \ge \lambda_i`, so its term :math:`\min(0, c_{ij} - \lambda_i)` is
zero and the truncated :math:`L(\lambda)` *is* the full one — still a valid bound.

**Lagrangian heuristic.** The sites chosen by the relaxation seed the swap local search of
:mod:`optimizer.models.pmedian.heuristics` (at most ``ls_share`` of the time), which improves the
upper
bound. When all costs are integers the bound is rounded up (the optimum is an integer).

**Reduced-cost fixing** (:func:`reduced_cost_fixing`). With :math:`\bar\rho` the largest
:math:`\rho` among the chosen free sites and :math:`\underline\rho` the smallest among the
others, forcing a choice raises the bound to

* :math:`L + \rho_j - \bar\rho` for opening an unchosen site :math:`j`,
* :math:`L - \rho_j + \underline\rho` for closing a chosen free site :math:`j`,
* :math:`L + \max(0, c_{ij} - \lambda_i) + [j \text{ unchosen}](\rho_j - \bar\rho)` for
  serving :math:`i` from :math:`j`.

Whatever raises the bound above the upper bound :math:`UB` cannot occur in a solution of cost
at most :math:`UB`: such sites are fixed closed (or open), such pairs dropped. Every optimal
solution (and the incumbent) survives, so the reduced problem has the same optimum.

Only the uncapacitated model is handled; with compulsory service every demand point needs a
pair to an allowed site (otherwise the problem is infeasible and ``ValueError`` is raised).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

import numpy as np

from optimizer.models.pmedian.heuristics import CostPairs, best_two, local_search, solve_heuristic
from optimizer.models.pmedian.model import PMedianData
from optimizer.result import Result, Status, StopReason, relative_gap

log = logging.getLogger(__name__)

__all__ = [
    "Fixing",
    "LagrangianResult",
    "Relaxation",
    "pairs_to_keep",
    "reduced_cost_fixing",
    "relax",
    "rounded_bound",
    "solve_lagrangian",
    "subgradient_step",
]

AUTO_TRUNCATE_PAIRS = 1_500_000
"""Above this many pairs, ``keep_per_demand='auto'`` truncates each point's pair list."""


@dataclass(frozen=True)
class LagrangianResult:
    """Bounds from the heuristic and the Lagrangian relaxation.

    Attributes
    ----------
    result : Result
        ``objective``: the upper bound, the cost of ``selected`` (on the full pairs);
        ``bound``: the best Lagrangian lower bound (rounded up when all costs are integers);
        OPTIMAL when they meet, FEASIBLE otherwise (NO_SOLUTION without a feasible
        solution); ``solve_s``: the time of everything; ``stop``: ``OPTIMAL``,
        ``TIME_LIMIT``, ``ITERATION_LIMIT`` (iterations, or the step factor below its
        minimum) or ``GAP_REACHED`` (the requested ``stop_gap``).
    selected : ndarray of bool (n_sites,)
        Sites of the best solution found (the upper bound).
    heuristic_objective : float
        The greedy + local search value before the Lagrangian phase.
    iterations : int
        Subgradient iterations.
    heuristic_s : float
        Time of the first heuristic.
    multipliers : ndarray (n_demand,)
        The multipliers of the best bound (valid for the full pairs).
    kept_pairs : int
        Pairs the relaxation ran on (all of them unless truncated).
    """

    result: Result
    selected: np.ndarray
    heuristic_objective: float
    iterations: int
    heuristic_s: float
    multipliers: np.ndarray
    kept_pairs: int = 0


@dataclass(frozen=True)
class Relaxation:
    """The Lagrangian subproblem solved for one vector of multipliers.

    Attributes
    ----------
    value : float
        :math:`L(\\lambda)`, a lower bound.
    rho : ndarray (n_sites,)
        Reduced cost of each site.
    chosen : ndarray of bool (n_sites,)
        The sites the subproblem opens.
    below : ndarray of bool (k,)
        Pairs with ``cost < lambda`` (assigned in the subproblem where their site is chosen).
    """

    value: float
    rho: np.ndarray
    chosen: np.ndarray
    below: np.ndarray


@dataclass(frozen=True)
class Fixing:
    """What reduced-cost fixing rules out for solutions of cost at most ``upper``.

    Attributes
    ----------
    closed, opened : ndarray of bool (n_sites,)
        Sites closed (resp. open) in every solution of cost at most ``upper``.
    keep : ndarray of bool (k,)
        Pairs (of the :class:`CostPairs` given) that may serve in such a solution.
    bound, upper : float
        The Lagrangian bound used and the upper bound.
    """

    closed: np.ndarray
    opened: np.ndarray
    keep: np.ndarray
    bound: float
    upper: float


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


def integral_costs(cp: CostPairs) -> bool:
    """True when every pair (and unserved) cost is an integer: the optimum is one too."""
    vals = cp.cost if not cp.penalised else np.r_[cp.cost, cp.fallback]
    return bool(np.all(vals == np.round(vals)))


def relax(cp: CostPairs, lam: np.ndarray) -> Relaxation:
    """Solve the Lagrangian subproblem for multipliers ``lam``.

    ``lam`` must respect ``cp.cap`` (when set) for the value to bound the full problem.
    """
    m = cp.n_sites
    lam_r = lam[cp.rows]
    below = cp.cost < lam_r
    rho = np.bincount(cp.cols, weights=np.where(below, cp.cost - lam_r, 0.0), minlength=m)
    chosen = cp.required.copy()
    free_slots = cp.p - int(cp.required.sum())
    if free_slots > 0:
        cand = np.flatnonzero(cp.allowed & ~cp.required)
        pick = cand[np.argpartition(rho[cand], free_slots - 1)[:free_slots]]
        chosen[pick] = True
    value = float(lam.sum() + rho[chosen].sum())
    if cp.penalised:
        value += float(np.minimum(0.0, cp.fallback - lam).sum())
    return Relaxation(value, rho, chosen, below)


def subgradient_step(
    cp: CostPairs,
    lam: np.ndarray,
    rel: Relaxation,
    target: float,
    theta: float,
    cap: np.ndarray,
) -> np.ndarray | None:
    """Held–Karp step towards ``target`` along the subgradient of the relaxed rows, the
    multipliers kept at most ``cap``; ``None`` when the subgradient is zero (the relaxed
    solution is feasible, hence optimal)."""
    g = 1.0 - np.bincount(
        cp.rows, weights=(rel.below & rel.chosen[cp.cols]).astype(float), minlength=cp.n_demand
    )
    if cp.penalised:
        g -= cp.fallback < lam
    g[(lam >= cap) & (g > 0)] = 0.0  # a multiplier at its cap cannot rise
    norm = float(g @ g)
    if norm == 0.0:
        return None
    step = theta * max(target - rel.value, 1e-9 * max(1.0, abs(rel.value))) / norm
    return np.minimum(lam + step * g, cap)


def rounded_bound(value: float, integral: bool) -> float:
    """``value`` rounded up when the optimum is known to be an integer."""
    return _rounded(value, integral)


def _rounded(value: float, integral: bool) -> float:
    if integral and math.isfinite(value):
        return float(math.ceil(value - 1e-6 * max(1.0, abs(value))))
    return value


def reduced_cost_fixing(cp: CostPairs, lam: np.ndarray, upper: float) -> Fixing:
    """Sites and pairs that no solution of cost at most ``upper`` can use (module docstring).

    Parameters
    ----------
    cp : CostPairs
        The instance (its full pairs, or truncated ones with ``lam`` within their caps).
    lam : ndarray (n_demand,)
        Multipliers (the better the bound, the more is fixed).
    upper : float
        An upper bound (the cost of a known solution).

    Returns
    -------
    Fixing
        Every solution of cost at most ``upper`` opens no ``closed`` site, every ``opened``
        site, and uses only ``keep`` pairs.
    """
    rel = relax(cp, lam)
    tol = 1e-9 * max(1.0, abs(upper))
    limit = upper + tol
    rho, chosen, base = rel.rho, rel.chosen, rel.value
    free = chosen & ~cp.required
    out = cp.allowed & ~chosen
    rho_in = float(rho[free].max()) if free.any() else math.inf  # dearest chosen free site
    rho_out = float(rho[out].min()) if out.any() else math.inf  # cheapest site left out
    closed = ~cp.allowed.copy()
    opened = cp.required.copy()
    if free.any():
        closed |= out & (base + rho - rho_in > limit)
    else:
        closed |= out  # no free slot: nothing else can open
    if out.any():
        opened |= free & (base - rho + rho_out > limit)
    else:
        opened |= free
    site_add = np.where(chosen, 0.0, rho - rho_in)
    pair_lb = base + np.maximum(0.0, cp.cost - lam[cp.rows]) + site_add[cp.cols]
    keep = ~closed[cp.cols] & (pair_lb <= limit)
    log.debug(
        "reduced-cost fixing at LB %.10g, UB %.10g: %d sites closed, %d open, %d of %d pairs kept",
        base,
        upper,
        int(closed.sum()),
        int(opened.sum()),
        int(keep.sum()),
        keep.size,
    )
    return Fixing(closed, opened, keep, base, upper)


def pairs_to_keep(cp: CostPairs, keep_per_demand: int | str | None) -> int | None:
    """Pairs per demand point the relaxation should keep (``None``: all of them)."""
    if keep_per_demand is None:
        return None
    if keep_per_demand == "auto":
        if cp.size <= AUTO_TRUNCATE_PAIRS:
            return None
        free = max(1, cp.p)
        return int(min(cp.n_sites, max(64, math.ceil(10.0 * cp.n_sites / free))))
    return int(keep_per_demand)


def solve_lagrangian(
    data: PMedianData | CostPairs,
    *,
    time_limit_s: float | None = 60.0,
    max_iter: int = 100_000,
    heuristic_share: float = 0.3,
    theta0: float = 2.0,
    theta_min: float = 1e-4,
    patience: int = 30,
    ls_every: int = 10,
    ls_share: float = 0.3,
    keep_per_demand: int | str | None = "auto",
    seed: int = 0,
    stop_gap: float = 0.0,
) -> LagrangianResult:
    """Heuristic upper bound, Lagrangian lower bound, Lagrangian heuristic.

    Parameters
    ----------
    data : PMedianData or CostPairs
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
        iterations (only for a set of sites not tried before) ...
    ls_share : float
        ... and only while the Lagrangian local searches have used less than this share of
        the time spent since the first heuristic.
    keep_per_demand : int, "auto" or None
        Run on each point's cheapest pairs only (caps on the multipliers keep the bound
        valid); ``"auto"``: ``max(64, 10 m / p)`` of them when there are more than
        ``AUTO_TRUNCATE_PAIRS`` pairs; ``None``: all pairs.
    seed : int
        Seed of the heuristic.
    stop_gap : float
        Stop at the next step-factor halving once the gap is at most this (a caller that
        closes small gaps by branching saves the slow tail of the subgradient); 0: never.

    Returns
    -------
    LagrangianResult

    Raises
    ------
    ValueError
        Capacitated data, or a point that must be served with no allowed site in reach.
    """
    t0 = time.perf_counter()
    full = data if isinstance(data, CostPairs) else CostPairs.from_data(data)
    _check(full)
    keep = pairs_to_keep(full, keep_per_demand)
    cp = full if keep is None or keep >= full.n_sites else full.truncated(keep)
    deadline = None if time_limit_s is None else t0 + time_limit_s
    h_limit = None if time_limit_s is None else heuristic_share * time_limit_s
    heur = solve_heuristic(cp, time_limit_s=h_limit, seed=seed)
    heuristic_s = time.perf_counter() - t0
    best_sites = heur.selected.copy()
    ub = full.objective(best_sites) if cp is not full else heur.result.objective
    heur_obj = ub
    integral = integral_costs(full)
    cap = cp.cap if cp.cap is not None else np.full(cp.n_demand, math.inf)
    lam = np.minimum(_start_multipliers(cp, best_sites), cap)
    best_lam = lam.copy()
    lb = -math.inf
    theta, stall, it = theta0, 0, 0
    tried: set[bytes] = set()
    last_ls = -ls_every
    ls_time, t_lag = 0.0, time.perf_counter()
    stop = StopReason.ITERATION_LIMIT  # what ends the loop unless a reason below is set

    while it < max_iter and relative_gap(ub, _rounded(lb, integral)) > 0.0:
        now = time.perf_counter()
        if deadline is not None and now >= deadline:
            stop = StopReason.TIME_LIMIT
            break
        it += 1
        rel = relax(cp, lam)
        value = rel.value
        if value > lb + 1e-12 * max(1.0, abs(lb) if math.isfinite(lb) else 1.0):
            lb, best_lam, stall = value, lam.copy(), 0
        else:
            stall += 1
            if stall >= patience:
                theta, stall = theta / 2.0, 0
                if theta < theta_min:
                    break  # a step limit: ITERATION_LIMIT
                if relative_gap(ub, _rounded(lb, integral)) <= stop_gap:
                    stop = StopReason.GAP_REACHED
                    break
        # Lagrangian heuristic: local search from the relaxation's sites
        key = np.packbits(rel.chosen).tobytes()
        if (
            it - last_ls >= ls_every
            and key not in tried
            and ls_time <= ls_share * max(now - t_lag, 1e-3)
        ):
            tried.add(key)
            last_ls = it
            t_ls = time.perf_counter()
            sol, _, _ = local_search(cp, rel.chosen, deadline)
            obj = full.objective(sol)
            ls_time += time.perf_counter() - t_ls
            if obj < ub:
                best_sites, ub = sol, obj
                log.debug("lagrangian heuristic: new upper bound %.10g at iteration %d", ub, it)
        target = ub if math.isfinite(ub) else abs(value) * 1.05 + 1.0
        moved = subgradient_step(cp, lam, rel, target, theta, cap)
        if moved is None:  # the relaxed solution is feasible: L(lambda) is its cost, optimal
            obj = full.objective(rel.chosen)
            if obj < ub:  # price it, so that the upper bound meets the bound
                best_sites, ub = rel.chosen.copy(), obj
            break
        lam = moved
    bound = _rounded(lb, integral)
    if math.isfinite(ub) and bound > ub:  # floating noise only: a bound never beats a solution
        bound = ub
    total = time.perf_counter() - t0
    log.info(
        "p-median lagrangian: UB %.10g, LB %.10g, gap %.3g, %d iterations (%d pairs), "
        "local search %.2f s, %.2f s",
        ub,
        bound,
        relative_gap(ub, bound),
        it,
        cp.size,
        ls_time,
        total,
    )
    result = _bounds_result(ub, bound, stop, total, it)
    return LagrangianResult(result, best_sites, heur_obj, it, heuristic_s, best_lam, cp.size)


def _bounds_result(
    upper: float, bound: float, stop: StopReason, total_s: float, iterations: int
) -> Result:
    """The Lagrangian phase's answer: OPTIMAL when the bound meets the upper bound."""
    if not math.isfinite(upper):
        status = Status.NO_SOLUTION
    elif relative_gap(upper, bound) == 0.0:
        status, stop = Status.OPTIMAL, StopReason.OPTIMAL
    else:
        status = Status.FEASIBLE
    return Result(
        status=status,
        objective=upper,
        bound=bound,
        x=None,
        solver="heuristic+lagrangian",
        solve_s=total_s,
        message=f"{iterations} subgradient iterations",
        stop=stop,
    )


def _start_multipliers(cp: CostPairs, opened: np.ndarray) -> np.ndarray:
    """Start from each point's cost in the heuristic solution (its ``d1``)."""
    d1, _, _ = best_two(cp, opened)
    if not cp.penalised:
        d1 = np.where(d1 >= cp.fallback, 0.0, d1)
    return d1
