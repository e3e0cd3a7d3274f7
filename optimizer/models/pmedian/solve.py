r"""Uncapacitated p-median to a certified gap: heuristic, Lagrangian bound, fixing, exact search.

The path, in order, each step skipped once the gap is closed:

1. **Heuristic + Lagrangian** (:func:`optimizer.models.pmedian.lagrangian.solve_lagrangian`):
   greedy + fast
   interchange, subgradient optimisation of the Lagrangian dual (on each point's cheapest pairs
   for large instances, the multipliers capped so that the bound stays valid), Lagrangian
   heuristic. Gives an incumbent (UB) and a certified bound (LB).
2. **Reduced-cost fixing** (:func:`optimizer.models.pmedian.lagrangian.reduced_cost_fixing`): sites
   and pairs
   that cannot occur in any solution of cost at most UB are removed; every optimal solution and
   the incumbent survive, so the reduced problem has the same optimum.
3. **Window search** (:func:`window_search`), when fixing leaves most sites free (large p,
   many near-equivalent sites: the gap is then the incumbent's, not the bound's): p-median
   sub-MIPs on windows of ~100 neighbouring sites re-choose their open sites optimally, swap
   local search rebalances between windows; then fixing again with the better UB.
4. **Exact search on the reduced problem** for the time left (at once when fixing leaves few
   free sites, as with small p):
   Lagrangian branch-and-bound (:mod:`optimizer.models.pmedian.bnb`, default) or the strong
   formulation (:func:`optimizer.models.pmedian.model.build_model`) on a MIP backend, warm-started
   from the incumbent. Either bound is a bound of the full problem (the reduced problem keeps
   every solution of cost at most UB); the reported bound is the best one found.

The returned selection is re-assigned on the full pairs (each point to its nearest open site,
or unserved where the penalty is cheaper), so its cost is recomputed from the input arrays.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field, replace

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import breadth_first_order

from optimizer.backends import (
    Backend,
    Result,
    SolveOptions,
    Status,
    StopReason,
    get_backend,
    optimal_stop,
    relative_gap,
)
from optimizer.models.common import Pairs
from optimizer.models.pmedian import model as pmedian
from optimizer.models.pmedian.bnb import lagrangian_branch_and_bound
from optimizer.models.pmedian.heuristics import (
    CostPairs,
    assign_nearest,
    best_two,
    group_starts,
    local_search,
    warm_start_vector,
)
from optimizer.models.pmedian.lagrangian import (
    Fixing,
    LagrangianResult,
    integral_costs,
    pairs_to_keep,
    reduced_cost_fixing,
    solve_lagrangian,
)
from optimizer.models.pmedian.model import PMedianData, build_model

log = logging.getLogger(__name__)

TIME_SLACK = 0.01
"""Share of the time limit left unused, for the run to end by it: the window search's last
steps and the final assignment ran up to 0.7 s past 60 s on the 5,000 x 1,000 p-median."""

LAGRANGIAN_STOP_GAP = 1e-4
"""The subgradient ends once its gap is this small and its step would shrink: reduced-cost
fixing and the Lagrangian tree close such gaps in a fraction of a second, while the
subgradient's tail can take seconds (1,000 x 200 random, p = 50: the proof took 11.9 s with
the full tail, 3.4 s with this stop; pmed1-pmed40, whose root gaps are 0 or above 5e-4, are
unaffected: benchmarks/results/pmedian_exact.md)."""

TIME_PHASES = ("setup", "lagrangian", "fixing", "windows", "mip_build", "mip", "tree")
"""Keys of :attr:`PMedianRun.phases` that hold seconds."""

__all__ = ["PMedianRun", "WindowStats", "reduce_data", "solve_pmedian", "window_search"]


@dataclass(frozen=True)
class PMedianRun:
    """Outcome of :func:`solve_pmedian`.

    Attributes
    ----------
    result : Result
        OPTIMAL when the bound meets the objective (within the requested gap), FEASIBLE on a
        limit stop, NO_SOLUTION when nothing feasible was found; ``objective`` is the cost of
        ``selected`` (full pairs), ``bound`` the certified lower bound; ``stop`` says why it
        ended (``OPTIMAL``, ``GAP_REACHED``, ``TIME_LIMIT``, or the Lagrangian phase's reason
        when it ran alone).
    selected : ndarray of bool (n_sites,)
        Open sites.
    assignment : ndarray of int (n_demand,)
        Site serving each point (``-1``: unserved).
    lagrangian : LagrangianResult
        The first phase.
    fixing : Fixing or None
        Reduced-cost fixing (when the first phase left a gap).
    exact : Result or None
        The exact phase's own answer (the Lagrangian tree's or the reduced MIP's), when it ran.
    phases : dict
        Seconds per phase (``setup``, ``lagrangian``, ``fixing``, ``mip_build``, ``mip``),
        sizes of the reduced problem and the MIP's message.
    """

    result: Result
    selected: np.ndarray
    assignment: np.ndarray
    lagrangian: LagrangianResult
    fixing: Fixing | None = None
    exact: Result | None = None
    phases: dict[str, float | int | str] = field(default_factory=dict)

    @property
    def proven_by(self) -> str:
        """What closed the gap: ``lagrangian`` (the root bound, possibly after the window
        search improved the incumbent), ``tree`` (Lagrangian branch-and-bound), ``mip`` (the
        reduced MIP) or ``""`` (not closed)."""
        if self.result.status is not Status.OPTIMAL:
            return ""
        if "tree" in self.phases:
            return "tree"
        if "mip" in self.phases:
            return "mip"
        return "lagrangian"


@dataclass(frozen=True)
class _Incumbent:
    """A selection re-assigned on the full pairs, its cost, the bound and their status."""

    status: Status
    objective: float
    bound: float
    selected: np.ndarray
    assignment: np.ndarray


def reduce_data(data: PMedianData, cp: CostPairs, fixing: Fixing) -> PMedianData:
    """``data`` restricted to the sites and pairs that survive ``fixing``.

    ``cp`` must be the untruncated :meth:`CostPairs.from_data` of ``data`` (same pair order).
    """
    pairs = data.pairs
    allowed_pair = cp.allowed[pairs.cols]
    keep = np.zeros(pairs.size, dtype=bool)
    keep[np.flatnonzero(allowed_pair)[fixing.keep]] = True
    sub = Pairs(pairs.rows[keep], pairs.cols[keep], pairs.dist[keep], *pairs.shape)
    return replace(
        data,
        pairs=sub,
        required=np.flatnonzero(fixing.opened),
        forbidden=np.flatnonzero(fixing.closed),
    )


def _finish(
    data: PMedianData,
    selected: np.ndarray,
    bound: float,
    mip_gap: float,
    integral: bool,
) -> _Incumbent:
    assignment = assign_nearest(data, selected)
    objective = pmedian.solution_cost(data, assignment)
    if not math.isfinite(objective):
        return _Incumbent(Status.NO_SOLUTION, math.nan, bound, selected, assignment)
    if integral and math.isfinite(bound):  # an integer optimum: round the bound up
        bound = float(math.ceil(bound - 1e-6 * max(1.0, abs(bound))))
    bound = min(bound, objective)  # noise only: a bound never beats a solution
    closed = relative_gap(objective, bound) <= max(mip_gap, 0.0)
    status = Status.OPTIMAL if closed else Status.FEASIBLE
    return _Incumbent(status, objective, bound, selected, assignment)


def solve_pmedian(
    data: PMedianData,
    backend: str | Backend = "highs",
    options: SolveOptions | None = None,
    *,
    lagrangian_share: float = 0.4,
    run_mip: bool = True,
    mip_share_sites: float = 0.5,
    window_sites: int = 100,
    exact: str = "tree",
    keep_per_demand: int | str | None = "auto",
) -> PMedianRun:
    """Solve an uncapacitated p-median problem to a certified gap (module docstring).

    Parameters
    ----------
    data : PMedianData
        Uncapacitated data.
    backend : str or Backend
        MIP backend for the reduced problem and the windows.
    options : SolveOptions, optional
        ``time_limit_s`` for everything, ``mip_gap`` (relative gap at which to stop),
        ``threads``, ``seed``.
    lagrangian_share : float
        Share of the time limit for the heuristic + Lagrangian phase.
    run_mip : bool
        Allow the MIP phases (reduced MIP, window search); without them the run stops after
        the Lagrangian phase.
    mip_share_sites : float
        When fixing leaves more than this share of the allowed sites free, improve the
        incumbent by window search first (and fix again); the exact phase then gets the time
        left.
    window_sites : int
        Sites per window of :func:`window_search`.
    exact : {"tree", "mip"}
        How the reduced problem is solved: Lagrangian branch-and-bound
        (:mod:`optimizer.models.pmedian.bnb`) or the strong formulation on the MIP backend.
    keep_per_demand : int, "auto" or None
        Pair truncation of the relaxation and the heuristics
        (:func:`optimizer.models.pmedian.lagrangian.pairs_to_keep`).

    Raises
    ------
    ValueError
        Capacitated data, or compulsory service with a point out of reach.
    """
    options = options or SolveOptions()
    t0 = time.perf_counter()
    limit = options.time_limit_s
    deadline = None if limit is None else t0 + (1.0 - TIME_SLACK) * limit
    cp = CostPairs.from_data(data)
    integral = integral_costs(cp)
    keep = pairs_to_keep(cp, keep_per_demand)
    work = cp if keep is None else cp.truncated(keep)
    phases: dict[str, float | int | str] = {
        "setup": time.perf_counter() - t0,
        "pairs_used": work.size,
    }
    lag_limit = None if limit is None else lagrangian_share * limit
    lag = solve_lagrangian(
        work,
        time_limit_s=lag_limit,
        seed=options.seed,
        keep_per_demand=None,
        stop_gap=LAGRANGIAN_STOP_GAP,
    )
    phases["lagrangian"] = lag.result.solve_s
    phases["heuristic_objective"] = lag.heuristic_objective
    phases["lagrangian_upper"] = lag.result.objective
    phases["lagrangian_bound"] = lag.result.bound
    phases["lagrangian_iterations"] = lag.iterations
    found = _finish(data, lag.selected, lag.result.bound, options.mip_gap, integral)
    if found.status is not Status.FEASIBLE or not run_mip:
        return _record(t0, found, lag.result.stop, lag, options, phases)
    solver = get_backend(backend) if isinstance(backend, str) else backend
    fixing, reduced = _fix(data, cp, lag.multipliers, found.objective, phases)
    free_sites = int((~fixing.closed & ~fixing.opened).sum())
    if free_sites > mip_share_sites * max(1, int(cp.allowed.sum())) and _left(deadline) > 1.0:
        t1 = time.perf_counter()
        selected, _, stats = window_search(
            work, found.selected, solver, deadline, window_sites=window_sites, seed=options.seed
        )
        phases["windows"] = time.perf_counter() - t1
        phases["windows_solved"] = stats.windows
        phases["windows_improved"] = stats.improved
        found = _finish(data, selected, found.bound, options.mip_gap, integral)
        if found.status is Status.FEASIBLE and _left(deadline) > 1.0:
            # fix again against the better incumbent, only for an exact phase to use (0.4 s
            # on 5,000 x 1,000: without time left it would only overrun the limit)
            fixing, reduced = _fix(data, cp, lag.multipliers, found.objective, phases)
    if found.status is not Status.FEASIBLE or _left(deadline) <= 1.0:
        # not closed and no time left for an exact phase: the time limit stopped it
        return _record(t0, found, StopReason.TIME_LIMIT, lag, options, phases, fixing)
    if exact == "tree":
        selected, bound, phase = _tree(cp, fixing, lag, found, deadline, phases)
    else:
        selected, bound, phase = _reduced_mip(
            data, reduced, found, solver, options, deadline, phases
        )
    found = _finish(data, selected, bound, options.mip_gap, integral)
    return _record(t0, found, phase.stop, lag, options, phases, fixing, phase)


def _tree(
    cp: CostPairs,
    fixing: Fixing,
    lag: LagrangianResult,
    found: _Incumbent,
    deadline: float | None,
    phases: dict[str, float | int | str],
) -> tuple[np.ndarray, float, Result]:
    """Lagrangian branch-and-bound on the reduced pairs: the better selection and bound, and
    the tree's answer."""
    reduced = replace(
        cp,
        rows=cp.rows[fixing.keep],
        cols=cp.cols[fixing.keep],
        cost=cp.cost[fixing.keep],
        allowed=cp.allowed & ~fixing.closed,
        required=cp.required | fixing.opened,
    )
    tree = lagrangian_branch_and_bound(
        reduced, lag.multipliers, found.selected, found.objective, deadline=deadline, full=cp
    )
    phases["tree"] = tree.result.solve_s
    phases["tree_nodes"] = tree.result.nodes or 0
    selected = tree.selected if tree.result.objective < found.objective else found.selected
    return selected, max(found.bound, tree.result.bound), tree.result


def _left(deadline: float | None) -> float:
    return math.inf if deadline is None else deadline - time.perf_counter()


def _fix(
    data: PMedianData,
    cp: CostPairs,
    lam: np.ndarray,
    upper: float,
    phases: dict[str, float | int | str],
) -> tuple[Fixing, PMedianData]:
    t1 = time.perf_counter()
    fixing = reduced_cost_fixing(cp, lam, upper)
    reduced = reduce_data(data, cp, fixing)
    phases["fixing"] = time.perf_counter() - t1
    phases["reduced_sites"] = int(data.n_sites - fixing.closed.sum())
    phases["reduced_pairs"] = reduced.pairs.size
    return fixing, reduced


def _reduced_mip(
    data: PMedianData,
    reduced: PMedianData,
    found: _Incumbent,
    solver: Backend,
    options: SolveOptions,
    deadline: float | None,
    phases: dict[str, float | int | str],
) -> tuple[np.ndarray, float, Result]:
    """Solve the reduced MIP warm-started from the incumbent: the better selection and bound,
    and the MIP's answer."""
    t2 = time.perf_counter()
    milp = pmedian.build_model(reduced, name="pmedian-reduced")
    x0 = warm_start_vector(reduced, milp, found.selected)
    phases["mip_build"] = time.perf_counter() - t2
    left = None if deadline is None else max(1.0, deadline - time.perf_counter())
    result = solver.solve(milp, replace(options, time_limit_s=left, warm_start=x0))
    phases["mip"] = result.solve_s
    phases["mip_message"] = result.message
    selected, bound = found.selected, found.bound
    if result.status.has_solution and result.x is not None:
        mip_sel = pmedian.decode(reduced, milp, result.x).selected
        if pmedian.solution_cost(data, assign_nearest(data, mip_sel)) < found.objective:
            selected = mip_sel
    mip_bound = result.bound
    if result.status is Status.OPTIMAL and math.isnan(mip_bound):
        mip_bound = result.objective
    if math.isfinite(mip_bound) and mip_bound > bound:
        bound = mip_bound
    if result.status is Status.INFEASIBLE:  # nothing at most UB beyond the incumbent: optimal
        bound = found.objective
    return selected, bound, result


def _run_stop(found: _Incumbent, phase_stop: StopReason | None, mip_gap: float) -> StopReason:
    """Why the run ended: proven (to ``mip_gap``), or the last phase's limit. A phase that
    ended proven while the run's gap stays open (its bound rounded or capped) counts as a
    step limit, so that a FEASIBLE run never reads as stopped at the optimum."""
    if found.status is Status.OPTIMAL:
        return optimal_stop(found.objective, found.bound, mip_gap)
    if phase_stop is None or phase_stop in (StopReason.OPTIMAL, StopReason.INFEASIBLE):
        return StopReason.ITERATION_LIMIT
    return phase_stop


def _record(
    started: float,
    found: _Incumbent,
    phase_stop: StopReason | None,
    lag: LagrangianResult,
    options: SolveOptions,
    phases: dict[str, float | int | str],
    fixing: Fixing | None = None,
    exact: Result | None = None,
) -> PMedianRun:
    """The run's answer from the final incumbent and the reason the last phase stopped
    (``build_s``: the setup, ``solve_s``: everything after it)."""
    solver = "lagrangian" if exact is None else f"lagrangian+{exact.solver}"
    setup = float(phases["setup"])
    result = Result(
        status=found.status,
        objective=found.objective,
        bound=found.bound,
        x=None,
        solver=solver,
        build_s=setup,
        solve_s=time.perf_counter() - started - setup,
        nodes=None if exact is None else exact.nodes,
        stop=_run_stop(found, phase_stop, options.mip_gap),
    )
    log.info(
        "p-median: %s (%s), objective %.10g, bound %.10g, gap %.3g (%s)",
        result.status.value,
        result.stop_text,
        result.objective,
        result.bound,
        result.gap,
        ", ".join(f"{k} {phases[k]:.2f} s" for k in TIME_PHASES if k in phases),
    )
    return PMedianRun(result, found.selected, found.assignment, lag, fixing, exact, phases=phases)


# --------------------------------------------------------------------------- window search


@dataclass
class WindowStats:
    """What :func:`window_search` did."""

    windows: int = 0
    improved: int = 0
    passes: int = 0
    mip_s: float = 0.0
    start_objective: float = math.nan
    objective: float = math.nan


def site_neighbours(cp: CostPairs, nearest: int = 8) -> sp.csr_matrix:
    """Site adjacency: two sites are neighbours when one demand point has both among its
    ``nearest`` cheapest pairs (a coordinate-free notion of "close", also for graph data)."""
    order = np.lexsort((cp.cost, cp.rows))
    rows_s = cp.rows[order]
    starts = group_starts(rows_s)
    counts = np.diff(np.r_[starts, rows_s.size])
    rank = np.arange(rows_s.size) - np.repeat(starts, counts)
    sel = order[rank < nearest]
    r = sp.csr_matrix(
        (np.ones(sel.size), (cp.rows[sel], cp.cols[sel])), shape=(cp.n_demand, cp.n_sites)
    )
    adj = (r.T @ r).tocsr()
    adj.setdiag(0)
    adj.eliminate_zeros()
    return adj


def _window_pairs(
    cp: CostPairs, by_site: tuple[np.ndarray, np.ndarray], window: np.ndarray, outside: np.ndarray
) -> Pairs | None:
    """Pairs of the p-median on the sites of ``window``: the points they can serve for less
    than ``outside`` (each point's cost at its nearest open site outside the window, or its
    fallback), which stays available as a dummy site (index ``window.size``, to be required).
    ``None`` when the window cannot serve any point better."""
    order, starts = by_site
    lo, hi = starts[window], starts[window + 1]
    length = hi - lo
    first = np.r_[0, np.cumsum(length)[:-1]]
    idx = order[np.repeat(lo - first, length) + np.arange(int(length.sum()))]
    rows, cost = cp.rows[idx], cp.cost[idx]
    local_site = np.repeat(np.arange(window.size), length)
    useful = cost < outside[rows]
    rows, cost, local_site = rows[useful], cost[useful], local_site[useful]
    if rows.size == 0:
        return None
    points, local_row = np.unique(rows, return_inverse=True)
    k = points.size
    all_rows = np.r_[local_row, np.arange(k)]
    all_cols = np.r_[local_site, np.full(k, window.size)]
    all_cost = np.r_[cost, outside[points]]
    return Pairs.from_coo(all_rows, all_cols, all_cost, (k, window.size + 1))


def window_search(
    cp: CostPairs,
    opened: np.ndarray,
    backend: Backend,
    deadline: float | None,
    *,
    window_sites: int = 100,
    sub_time_s: float = 10.0,
    seed: int = 0,
    adjacency: sp.csr_matrix | None = None,
) -> tuple[np.ndarray, float, WindowStats]:
    """Improve a solution by solving p-median sub-MIPs on windows of neighbouring sites.

    A window is the ``window_sites`` sites nearest (breadth-first in :func:`site_neighbours`)
    to a seed site; its open sites are re-chosen optimally (their count kept) for the points
    they can serve, every other site staying as it is. Windows are seeded at the open sites in
    random order; after a pass with an improvement a swap local search rebalances the sites
    between windows; a pass without one makes the windows 1.5 times larger. Passes repeat
    until the deadline or until a window holding every free site brings nothing.

    Returns
    -------
    opened, objective, stats
    """
    rng = np.random.default_rng(seed)
    opened = opened.copy()
    adj = site_neighbours(cp) if adjacency is None else adjacency
    order = np.argsort(cp.cols, kind="stable")
    starts = np.r_[0, np.cumsum(np.bincount(cp.cols, minlength=cp.n_sites))]
    obj = cp.objective(opened)
    stats = WindowStats(start_objective=obj, objective=obj)
    free = cp.allowed & ~cp.required
    while deadline is None or time.perf_counter() < deadline:
        stats.passes += 1
        improved_pass = False
        seen = np.zeros(cp.n_sites, dtype=bool)
        stopped = False
        for s in rng.permutation(np.flatnonzero(opened & free)):
            if deadline is not None and time.perf_counter() >= deadline:
                stopped = True
                break
            if seen[s] or not opened[s]:
                continue
            ball = breadth_first_order(adj, int(s), directed=False, return_predecessors=False)
            window = np.sort(ball[free[ball]][:window_sites])
            count = int(opened[window].sum())
            seen[window[opened[window]]] = True
            if count == 0 or count == window.size:
                continue
            rest = opened.copy()
            rest[window] = False
            outside, _, _ = best_two(cp, rest)
            pairs = _window_pairs(cp, (order, starts), window, outside)
            if pairs is None:
                continue
            data = PMedianData.from_arrays(pairs, count + 1, required=[window.size])
            milp = build_model(data, name="pmedian-window")
            current = np.r_[opened[window], True]
            x0 = warm_start_vector(data, milp, current)
            left = sub_time_s
            if deadline is not None:
                left = min(sub_time_s, deadline - time.perf_counter())
            if left <= 0.05:
                stopped = True
                break
            res = backend.solve(milp, SolveOptions(time_limit_s=left, warm_start=x0, threads=1))
            stats.windows += 1
            stats.mip_s += res.solve_s
            if not res.status.has_solution or res.x is None:
                continue
            chosen = res.x[milp.blocks["open"]][: window.size] > 0.5
            trial = rest.copy()
            trial[window] = chosen
            new = cp.objective(trial)
            if new < obj - 1e-9 * max(1.0, abs(obj)):
                opened, obj = trial, new
                stats.improved += 1
                improved_pass = True
        log.debug(
            "window pass %d (%d sites): %.10g after %d windows",
            stats.passes,
            window_sites,
            obj,
            stats.windows,
        )
        if improved_pass:
            opened, obj, _ = local_search(cp, opened, deadline)
        if stopped:
            break
        if improved_pass:
            continue
        if window_sites >= int(free.sum()):
            break  # one window held every free site: nothing left to try
        window_sites = math.ceil(1.5 * window_sites)  # stuck: look wider
    stats.objective = obj
    log.info(
        "window search: %.10g -> %.10g, %d windows (%d improved), %d passes, MIP %.2f s",
        stats.start_objective,
        obj,
        stats.windows,
        stats.improved,
        stats.passes,
        stats.mip_s,
    )
    return opened, obj, stats
