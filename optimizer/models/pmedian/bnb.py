r"""Lagrangian branch-and-bound for the uncapacitated p-median problem (after Beasley, 1985).

Every node is the p-median problem with some sites forced open and some forced closed. Its
bound is the Lagrangian relaxation of :mod:`optimizer.models.pmedian.lagrangian` (subgradient
optimisation
warm-started from the parent's multipliers); then reduced-cost fixing at the node closes or
opens further sites and drops pairs, so the problems shrink as the tree deepens. A node is
pruned when its bound reaches the incumbent (rounded up for integer costs), solved when
its relaxed solution is feasible or all its open sites are forced. Nodes are explored best
bound first; the branching site is the chosen free site of the relaxation whose closing
costs the most, with children "closed" and "open".

The tree proves optimality of the incumbent or improves it: every leaf's solution and every
node's relaxed site choice are priced on the full pairs. The bound reported is the least
bound of the open nodes (or the incumbent when the tree is exhausted).
"""

from __future__ import annotations

import heapq
import itertools
import logging
import math
import time
from dataclasses import dataclass, replace

import numpy as np

from optimizer.models.pmedian.heuristics import CostPairs
from optimizer.models.pmedian.lagrangian import (
    integral_costs,
    reduced_cost_fixing,
    relax,
    rounded_bound,
    subgradient_step,
)
from optimizer.models.pmedian.swap import Incumbent
from optimizer.result import Result, Status, StopReason

log = logging.getLogger(__name__)

__all__ = ["TreeResult", "lagrangian_branch_and_bound"]


@dataclass(frozen=True)
class TreeResult:
    """Outcome of :func:`lagrangian_branch_and_bound`.

    Attributes
    ----------
    result : Result
        ``objective``: the cost of ``selected`` (on the pairs given); ``bound``: the certified
        lower bound (equal to ``objective`` when the tree was exhausted); OPTIMAL (stop
        ``OPTIMAL``) when the tree was exhausted, else FEASIBLE (stop ``TIME_LIMIT``);
        ``nodes``: nodes evaluated; ``solve_s``: wall time.
    selected : ndarray of bool
        The best sites found (the incumbent, or better).
    """

    result: Result
    selected: np.ndarray


@dataclass(frozen=True)
class _Node:
    cp: CostPairs
    lam: np.ndarray
    bound: float
    depth: int


def _node_bound(
    cp: CostPairs,
    lam: np.ndarray,
    upper: float,
    iterations: int,
    theta0: float,
    patience: int,
    integral: bool,
) -> tuple[float, np.ndarray, np.ndarray, bool]:
    """Subgradient optimisation at a node: best bound, its multipliers and chosen sites, and
    whether the relaxed solution was feasible (then the bound is the node's optimum)."""
    cap = cp.cap if cp.cap is not None else np.full(cp.n_demand, math.inf)
    best, best_lam, best_chosen = -math.inf, lam, cp.required.copy()
    theta, stall = theta0, 0
    for _ in range(iterations):
        rel = relax(cp, lam)
        if rel.value > best + 1e-12 * max(1.0, abs(rel.value)):
            best, best_lam, best_chosen, stall = rel.value, lam, rel.chosen, 0
        else:
            stall += 1
            if stall >= patience:
                theta, stall = theta / 2.0, 0
                if theta < 1e-3:
                    break
        if rounded_bound(best, integral) >= upper - 1e-9 * max(1.0, abs(upper)):
            break
        moved = subgradient_step(cp, lam, rel, upper, theta, cap)
        if moved is None:
            return rel.value, lam, rel.chosen, True
        lam = moved
    return best, best_lam, best_chosen, False


def _restrict(cp: CostPairs, closed: np.ndarray, opened: np.ndarray, keep: np.ndarray) -> CostPairs:
    return replace(
        cp,
        rows=cp.rows[keep],
        cols=cp.cols[keep],
        cost=cp.cost[keep],
        allowed=cp.allowed & ~closed,
        required=cp.required | opened,
    )


def _branch_site(cp: CostPairs, lam: np.ndarray, chosen: np.ndarray) -> int:
    """The chosen free site whose closing raises the bound the most (-1 if none): its "closed"
    child is pruned soonest, its "open" child is a smaller problem."""
    rel = relax(cp, lam)
    free = rel.chosen & ~cp.required
    out = cp.allowed & ~rel.chosen
    if not free.any() or not out.any():
        return -1
    rho_out = float(rel.rho[out].min())
    penalty = np.where(free, rho_out - rel.rho, -np.inf)
    return int(np.argmax(penalty))


def lagrangian_branch_and_bound(
    cp: CostPairs,
    lam: np.ndarray,
    selected: np.ndarray,
    upper: float,
    *,
    deadline: float | None = None,
    full: CostPairs | None = None,
    shared: Incumbent | None = None,
    iterations: int = 100,
    theta0: float = 1.0,
    patience: int = 5,
) -> TreeResult:
    """Prove (or improve) an incumbent by Lagrangian branch-and-bound.

    Parameters
    ----------
    cp : CostPairs
        The instance, usually already reduced by root fixing (every solution of cost at most
        ``upper`` must be representable in it).
    lam : ndarray
        Root multipliers (the best ones of the root's subgradient optimisation).
    selected, upper : ndarray of bool, float
        Incumbent sites and their cost.
    deadline : float, optional
        ``time.perf_counter()`` value at which to stop (the result is then incomplete).
    full : CostPairs, optional
        Pairs on which to price candidate solutions (default ``cp``).
    shared : Incumbent, optional
        An incumbent that searches running beside the tree improve: read before each node
        (pruning with its value), and offered the tree's own improvements.
    iterations, theta0, patience : int, float, int
        Subgradient iterations per node, initial step factor, stall count before halving.
    """
    t0 = time.perf_counter()
    price = full if full is not None else cp
    integral = integral_costs(price)
    best_sel, best_obj = selected.copy(), float(upper)
    counter = itertools.count()
    heap: list[tuple[float, int, _Node]] = [
        (-math.inf, next(counter), _Node(cp, lam, -math.inf, 0))
    ]
    nodes = 0
    complete = True

    def improve(sites: np.ndarray) -> None:
        nonlocal best_sel, best_obj
        if int(sites.sum()) != price.p:
            return
        value = price.objective(sites)
        if value < best_obj - 1e-9 * max(1.0, abs(best_obj)):
            best_sel, best_obj = sites.copy(), value
            log.debug("lagrangian tree: new incumbent %.10g", value)
            if shared is not None:
                shared.offer(best_sel, best_obj)

    def adopt_shared() -> None:
        nonlocal best_sel, best_obj
        if shared is not None and shared.value < best_obj - 1e-9 * max(1.0, abs(best_obj)):
            best_sel, best_obj = shared.best()
            log.debug("lagrangian tree: incumbent %.10g from the search beside", best_obj)

    def pruned(bound: float) -> bool:
        return rounded_bound(bound, integral) >= best_obj - 1e-9 * max(1.0, abs(best_obj))

    # running mean of an evaluated node's time: a node is begun only if it fits the deadline
    node_s, began = 0.0, math.nan
    while heap:
        now = time.perf_counter()
        if math.isfinite(began):
            node_s, began = 0.5 * (node_s + now - began), math.nan
        if deadline is not None and now + node_s >= deadline:
            complete = False
            break
        _, _, node = heapq.heappop(heap)
        adopt_shared()
        if pruned(node.bound):
            continue
        nodes += 1
        began = now
        ncp = node.cp
        if int(ncp.required.sum()) >= ncp.p or int(ncp.allowed.sum()) <= ncp.p:
            sites = ncp.required.copy() if int(ncp.required.sum()) >= ncp.p else ncp.allowed.copy()
            improve(sites)
            continue
        bound, nlam, chosen, feasible = _node_bound(
            ncp, node.lam, best_obj, iterations, theta0, patience, integral
        )
        bound = max(bound, node.bound)
        improve(chosen)
        if feasible or pruned(bound):
            continue
        fix = reduced_cost_fixing(ncp, nlam, best_obj)
        ncp = _restrict(ncp, fix.closed, fix.opened, fix.keep)
        if int(ncp.allowed.sum()) < ncp.p:
            continue  # no solution of cost at most the incumbent in this node
        if int(ncp.required.sum()) >= ncp.p or int(ncp.allowed.sum()) == ncp.p:
            heapq.heappush(heap, (bound, next(counter), _Node(ncp, nlam, bound, node.depth + 1)))
            continue
        j = _branch_site(ncp, nlam, chosen)
        if j < 0:
            continue
        no = ncp.allowed.copy()
        no[j] = False
        yes = ncp.required.copy()
        yes[j] = True
        for child in (replace(ncp, allowed=no), replace(ncp, required=yes)):
            heapq.heappush(heap, (bound, next(counter), _Node(child, nlam, bound, node.depth + 1)))
    if complete:
        bound_all = best_obj
    else:
        open_bounds = [b for b, _, _ in heap]
        bound_all = min([best_obj, *open_bounds]) if open_bounds else best_obj
        bound_all = rounded_bound(bound_all, integral) if math.isfinite(bound_all) else bound_all
    elapsed = time.perf_counter() - t0
    log.info(
        "lagrangian tree: %s after %d nodes, objective %.10g, bound %.10g, %.2f s",
        "exhausted" if complete else "stopped",
        nodes,
        best_obj,
        bound_all,
        elapsed,
    )
    return TreeResult(_tree_result(best_obj, bound_all, complete, nodes, elapsed), best_sel)


def _tree_result(
    objective: float, bound: float, complete: bool, nodes: int, elapsed: float
) -> Result:
    """The tree's answer: exhausted is proven (optimal, or infeasible without any solution);
    stopped early is the deadline's doing."""
    if not complete:
        status = Status.FEASIBLE if math.isfinite(objective) else Status.NO_SOLUTION
        stop = StopReason.TIME_LIMIT
    elif math.isfinite(objective):
        status, stop = Status.OPTIMAL, StopReason.OPTIMAL
    else:
        status, stop = Status.INFEASIBLE, StopReason.INFEASIBLE
    return Result(
        status=status,
        objective=objective,
        bound=bound,
        x=None,
        solver="lagrangian-tree",
        solve_s=elapsed,
        nodes=nodes,
        stop=stop,
    )
