r"""Covering models beyond a plain MIP call: reductions, heuristics, bounds, warm-started MIP.

LSCP (:func:`solve_lscp`), each step stopping as soon as the gap is closed:

1. **Reductions** (:func:`optimizer.models.covering.reductions.reduce_lscp`): exact; the rest is
   solved per
   independent component (:func:`optimizer.models.covering.reductions.lscp_components`), each with
   a share of
   the time in proportion to its size.
   Components run smallest first (each with its share of the time left), so that a large one
   cannot leave the others no time.
2. **Lagrangian heuristic** (:func:`optimizer.models.covering.heuristics.lscp_lagrangian`; on
   components of :data:`CFT_MIN_NNZ` nonzeros or more the Caprara–Fischetti–Toth one,
   :func:`optimizer.models.covering.cft.cft_lagrangian`): a cover (upper bound), a certified
   lower bound (never -inf: the first multipliers' bound is computed even with no time), sites
   fixed by their reduced costs.
3. With a MIP backend (``lscp-warm``): the MIP on the sites left after fixing, warm-started
   with the cover, for the bound (its bound is a bound of the whole component, since the fixed
   sites cannot be in a better cover), side by side with the row-weighting local search
   (:func:`optimizer.models.covering.search.cover_local_search`, compiled) that improves the cover.
   A MIP whose root would not end in the time it would get is not started
   (:func:`~optimizer.backends.base.mip_root_fits`); the search alone gets the time and the
   bound stays the Lagrangian's.
4. **Further passes** (:func:`_lscp_pass`): when every component has had its turn, time is left
   and some component is still open, the open ones run steps 2-3 again with the time left
   (shares by size again, another seed), starting from their best cover and keeping their best
   bound. Component sizes do not tell which is hard: on the city 50,000 x 10,000 at 300 m
   (27 components) every component but one was proven within 60 s of 120, and the open one
   (985 x 759, cover 130) had had 37 s, where HiGHS alone proves it in 75 s; the run used to
   end there, at 55 s with a gap of 2 sites.

MCLP (:func:`solve_mclp`):

1. **Reductions** (:func:`optimizer.models.covering.reductions.reduce_mclp`).
2. **Greedy + swap descent** (:func:`optimizer.models.covering.heuristics.mclp_heuristic`,
   the compiled swap search without kicks) and an upper bound: the Lagrangian relaxation of
   the coverage rows with a facility count, the LP relaxation when there is a budget.
3. With a MIP backend (``mclp-warm``): the MIP on the reduced problem warm-started with the
   heuristic's solution, for the bound, side by side with a search that improves the solution
   (:func:`optimizer.models.covering.heuristics.mclp_search`): with a facility count the
   iterated swap search (:func:`optimizer.models.covering.search.mclp_swap_search`, compiled,
   with local kicks and late acceptance once it stalls) for a fifth of the time, then the
   large-neighbourhood search (:func:`optimizer.models.covering.heuristics.mclp_lns`, small
   MIPs over regions) from its best solution; under a budget the latter alone.

"Side by side": the MIP runs in a worker thread (the solver releases the interpreter lock)
while the search runs in the calling thread, unless ``options.threads == 1``, in which case
the search runs first (60 % of the time left) and the MIP after it. The search stops early
only when the MIP proves optimality; the MIP gets 90 % of the time left (HiGHS can run past
its limit, see :data:`MIP_RESERVE`). Without a time limit the search is skipped and the MIP
runs to optimality.

The answer (:class:`CoverRun`: a :class:`~optimizer.result.Result` and the opened sites) is
FEASIBLE unless the bound meets the objective (then OPTIMAL, or within a positive ``mip_gap``);
its stop reason says which, or whether the time limit or the steps' own limits ended it. The
bound is the best of the Lagrangian / LP bound and the MIP's.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import scipy.sparse as sp

from optimizer.backends import (
    Backend,
    Result,
    SolveOptions,
    SolveProgress,
    Status,
    StopReason,
    mip_root_fits,
    optimal_stop,
    reached_time_limit,
    relative_gap,
)
from optimizer.deadline import Background
from optimizer.models.common import IndexLike
from optimizer.models.covering import lscp
from optimizer.models.covering.cft import cft_lagrangian
from optimizer.models.covering.heuristics import (
    _Mclp,
    _mclp_milp,
    lscp_lagrangian,
    mclp_heuristic,
    mclp_lagrangian,
    mclp_lp_bound,
    mclp_search,
    mclp_search_name,
)
from optimizer.models.covering.mclp import MclpData
from optimizer.models.covering.reductions import (
    InfeasibleCover,
    ReducedLscp,
    ReducedMclp,
    lscp_components,
    reduce_lscp,
    reduce_mclp,
)
from optimizer.models.covering.search import cover_local_search

log = logging.getLogger(__name__)

__all__ = ["CoverRun", "solve_lscp", "solve_mclp"]

SEARCH_SHARE = 0.6
"""Share of the time left that the search gets when it cannot run beside the MIP."""

ASSEMBLY_S = 0.1
"""Seconds the search leaves for assembling the answer after it (candidates compared, the
selection lifted to the original sites, coverage recounted): without it the random
5,000 x 1,000 MCLP ended 10 ms past its limit."""

ABANDON_GRACE_S = 0.5
"""Seconds past the deadline that a run waits for a MIP beside its search before it goes on
without it (HiGHS ran a city LSCP's MIP 68 s past a 54 s limit, in a phase without a clock)."""

MIP_RESERVE = 0.1
"""Share of the time left that the MIP leaves unused, for the run to end by its limit. HiGHS
runs past its own limit in the root node of the city MCLP (20,000 x 5,000, p = 800), where
its interrupt callback is not reached either: alone, by 1-7.5 s on a 30 s limit (1 s with
``mip_heuristic_effort = 0``); beside the search, whole runs ended 0.4-2.7 s past 60 s when
it had all the time left. The search beside it uses the whole time."""


CFT_MIN_NNZ = 100_000
"""Components with at least this many nonzeros get the CFT Lagrangian
(:func:`optimizer.models.covering.cft.cft_lagrangian`) rather than the plain subgradient."""

CFT_SHARE = 0.25
"""Share of a component's time the CFT Lagrangian gets before the MIP and the search."""


@dataclass(frozen=True)
class CoverRun:
    """Outcome of :func:`solve_lscp` / :func:`solve_mclp`: the normalised :class:`Result` (no
    ``x``: the model solved is not one MILP; ``extra`` holds the figures of each step:
    reductions, heuristic, bound, search, MIP) and the opened sites of the original problem.

    Attributes
    ----------
    result : Result
        OPTIMAL only when the bound meets the objective (LSCP: cost and a lower bound; MCLP:
        covered weight and an upper bound); ``build_s`` is reductions and model building,
        ``solve_s`` everything else; ``solver`` what produced the answer (e.g.
        ``highs+lagrangian+rwls``).
    selected : ndarray of bool or None
        Opened sites of the original problem (None without a solution).
    """

    result: Result
    selected: np.ndarray | None


def _settled(result: Result, options: SolveOptions, elapsed_s: float) -> Result:
    """``result`` (a heuristic answer with a certified bound) with its status and stop reason:
    OPTIMAL when the bound meets the objective (or is within a positive ``mip_gap``), else
    FEASIBLE, stopped by the time limit or by the limits of its own steps."""
    if result.gap == 0.0 or result.gap <= options.mip_gap:
        stop = optimal_stop(result.objective, result.bound, options.mip_gap)
        return result.replace(status=Status.OPTIMAL, stop=stop)
    if reached_time_limit(elapsed_s, options.time_limit_s):
        return result.replace(status=Status.FEASIBLE, stop=StopReason.TIME_LIMIT)
    return result.replace(status=Status.FEASIBLE, stop=StopReason.ITERATION_LIMIT)


def _infeasible(solver: str, why: str, build_s: float) -> CoverRun:
    result = Result(
        Status.INFEASIBLE,
        math.nan,
        math.nan,
        None,
        solver,
        build_s,
        0.0,
        message=why,
        stop=StopReason.INFEASIBLE,
    )
    return CoverRun(result, None)


def _left(deadline: float | None) -> float | None:
    return None if deadline is None else max(0.0, deadline - time.perf_counter())


def _side_by_side(
    mip: Callable[[float | None, SolveProgress], Result],
    search: Callable[[float, Callable[[], bool]], object],
    deadline: float | None,
    parallel: bool,
    backend: Backend,
) -> Result:
    """Run ``mip`` (on ``backend``, for the bound, with :data:`MIP_RESERVE` of the time left
    unused; it passes the :class:`~optimizer.backends.SolveProgress` it is given to the
    backend) and ``search`` (until the deadline, or until the MIP proves optimality when they
    run side by side); see the module notes. A MIP that has not returned
    :data:`ABANDON_GRACE_S` after the deadline is left behind
    (:class:`~optimizer.deadline.Background`, :meth:`Backend.leave_behind`): its answer is a
    no-solution result with the last bound it reported, and the run ends with the search's
    solution."""
    progress = SolveProgress()
    if deadline is None:
        return mip(None, progress)
    left = _left(deadline) or 0.0
    if parallel:
        job = Background(lambda: mip((1.0 - MIP_RESERVE) * left, progress))

        def proven() -> bool:  # a MIP stopped by its limit leaves the search running
            res = job.peek()
            return res is not None and res.status is Status.OPTIMAL

        search(max(0.0, left - ASSEMBLY_S), proven)
    else:
        search(SEARCH_SHARE * left, lambda: False)
        rest = (1.0 - MIP_RESERVE) * (_left(deadline) or 0.0)
        job = Background(lambda: mip(rest, progress))
    res = job.result((_left(deadline) or 0.0) + ABANDON_GRACE_S)
    if res is not None:
        return res
    backend.leave_behind()
    return progress.result("the MIP did not stop by its time limit; left behind")


# --------------------------------------------------------------------------- LSCP


def solve_lscp(
    reach: sp.spmatrix,
    cost: np.ndarray,
    *,
    required: IndexLike | None = None,
    forbidden: IndexLike | None = None,
    backend: Backend | None = None,
    options: SolveOptions | None = None,
    cft: bool | None = None,
) -> CoverRun:
    """Least-cost cover of every row of ``reach`` (see the module docstring).

    Parameters
    ----------
    reach : sparse (m x n)
        Nonzero where a site covers a row.
    cost : ndarray (n,)
        Site costs.
    required, forbidden : index arrays, optional
    backend : Backend, optional
        The MIP backend for the search and the bound; None: reductions and the Lagrangian
        heuristic only.
    options : SolveOptions
        ``time_limit_s`` for everything, ``threads``, ``seed``.
    cft : bool, optional
        True: the Lagrangian step is :func:`optimizer.models.covering.cft.cft_lagrangian`
        (core problem, refinement); False: :func:`lscp_lagrangian`; None: CFT on components of
        at least :data:`CFT_MIN_NNZ` nonzeros.
    """
    options = options or SolveOptions()
    t0 = time.perf_counter()
    deadline = None if options.time_limit_s is None else t0 + options.time_limit_s
    try:
        red = reduce_lscp(reach, cost, required, forbidden)
    except InfeasibleCover as exc:
        return _infeasible(_name(backend, "lscp", "rwls"), str(exc), time.perf_counter() - t0)
    build_s = red.seconds
    parts = lscp_components(red)
    chosen = np.zeros(red.n_sites, dtype=bool)
    objective = bound = red.offset
    info: dict[str, object] = {
        "reductions": red.summary(),
        "reduced_rows": red.n_rows,
        "reduced_sites": red.n_sites,
        "components": len(parts),
    }
    sizes = np.array([red.reach[r].nnz for r, _ in parts], dtype=float)
    # smallest first: the small ones end early (often proven) and leave their time to the
    # large ones; largest first, the largest used its whole share and left nothing after it
    order = np.argsort(sizes, kind="stable")
    solved = _lscp_pass(red, parts, order, sizes, {}, backend, options, deadline, cft)
    passes = 1
    while backend is not None and _worth_another_pass(solved, deadline):
        # time is left and some component is open: the open ones get it, again in
        # proportion to their size, starting from their best cover and bound (with another
        # seed, so that the Lagrangian's and the search's perturbations differ)
        open_parts = order[[solved[k].bound < solved[k].objective for k in order]]
        again = replace(options, seed=options.seed + passes)
        solved = _lscp_pass(red, parts, open_parts, sizes, solved, backend, again, deadline, cft)
        passes += 1
    info["passes"] = passes
    for k in order:
        cols = parts[k][1]
        chosen[cols[solved[k].selected]] = True
        objective += solved[k].objective
        bound += solved[k].bound
        build_s += solved[k].build_s
    if parts:
        info.update(solved[int(order[-1])].info)  # the figures of the largest component
    selected = red.lift(chosen)
    objective = float(np.asarray(cost, dtype=float)[selected].sum())
    bound = min(bound, objective)
    message = f"reduced to {red.n_rows} x {red.n_sites} in {len(parts)} components"
    if len(parts) == 1:
        message += f"; {solved[0].note}"
    total = time.perf_counter() - t0
    result = Result(
        Status.FEASIBLE,
        objective,
        bound,
        None,
        _name(backend, "lscp", "rwls"),
        build_s,
        total - build_s,
        message=message,
        extra=info,
    )
    return CoverRun(_settled(result, options, total), selected)


PASS_MIN_S = 1.0
"""Seconds that must be left after a pass over the components for another pass over the open
ones: below that a restart (Lagrangian, then MIP or search) brings nothing."""


def _lscp_pass(
    red: ReducedLscp,
    parts: list[tuple[np.ndarray, np.ndarray]],
    which: np.ndarray,
    sizes: np.ndarray,
    before: dict[int, _Part],
    backend: Backend | None,
    options: SolveOptions,
    deadline: float | None,
    cft: bool | None,
) -> dict[int, _Part]:
    """Solve the components ``which`` (indices into ``parts``) one after another, each with
    the time left in proportion to its size among those still to come; a component solved
    ``before`` starts from that cover and bound and keeps the better of each."""
    solved = dict(before)
    for done, k in enumerate(which):
        rows, cols = parts[k]
        share = None
        if deadline is not None:
            share = (_left(deadline) or 0.0) * sizes[k] / max(sizes[which[done:]].sum(), 1.0)
        sub = red.reach[rows][:, cols]
        prior = before.get(int(k))
        started = time.perf_counter()
        part = _lscp_part(sub, red.cost[cols], backend, options, share, cft, prior)
        solved[int(k)] = part if prior is None else _better(prior, part)
        log.debug(
            "lscp component %d (%d x %d): %g, bound %g in %.1f s of %s (%s)",
            k, rows.size, cols.size, solved[int(k)].objective, solved[int(k)].bound,
            time.perf_counter() - started, "no limit" if share is None else f"{share:.1f} s",
            part.note,
        )  # fmt: skip
    return solved


def _better(old: _Part, new: _Part) -> _Part:
    """The better cover of two runs on one component, with the better of their bounds (and
    the building time of both)."""
    best = new if new.objective < old.objective else old
    bound = min(max(old.bound, new.bound), best.objective)
    return replace(best, bound=bound, build_s=old.build_s + new.build_s)


def _worth_another_pass(solved: dict[int, _Part], deadline: float | None) -> bool:
    """Some component is open and a pass would have :data:`PASS_MIN_S` or more."""
    if deadline is None or (_left(deadline) or 0.0) < PASS_MIN_S:
        return False
    return any(part.bound < part.objective for part in solved.values())


def _name(backend: Backend | None, model: str, search: str) -> str:
    """``model-heuristic`` without a backend, else the backend, the bound and the search
    beside the MIP (e.g. ``highs+lagrangian+rwls``)."""
    if backend is None:
        return f"{model}-heuristic"
    return f"{backend.name}+lagrangian+{search}"


@dataclass
class _Part:
    selected: np.ndarray
    objective: float
    bound: float
    build_s: float
    note: str
    info: dict[str, object]


def _lscp_part(
    a: sp.csr_matrix,
    c: np.ndarray,
    backend: Backend | None,
    options: SolveOptions,
    limit: float | None,
    cft: bool | None = None,
    prior: _Part | None = None,
) -> _Part:
    """One component: Lagrangian (CFT on large ones), then (with a backend) the MIP beside the
    search, or the search alone where the MIP's root would not fit the time
    (:func:`~optimizer.backends.base.mip_root_fits`). ``prior``, an earlier run's answer on
    this component, is the Lagrangian's known cover (so the MIP and the search start from
    it) and its bound is kept."""
    t0 = time.perf_counter()
    deadline = None if limit is None else t0 + limit
    integral = bool(np.all(c == np.round(c)))
    use_cft = a.nnz >= CFT_MIN_NNZ if cft is None else cft
    share = CFT_SHARE if use_cft else 0.15
    lag_limit = None if limit is None else (limit if backend is None else share * limit)
    upper = None if prior is None else (prior.selected, prior.objective)
    if use_cft:
        lag = cft_lagrangian(a, c, time_limit_s=lag_limit, seed=options.seed, upper=upper)
    else:
        lag = lscp_lagrangian(a, c, time_limit_s=lag_limit, seed=options.seed, upper=upper)
    info: dict[str, object] = {
        "lagrangian_method": "cft" if use_cft else "subgradient",
        "greedy_objective": lag.result.extra["greedy_objective"],
        "lagrangian_objective": lag.result.objective,
        "lagrangian_bound": lag.result.bound,
        "lagrangian_iterations": lag.result.nodes,
        "lagrangian_s": round(lag.result.solve_s, 3),
        "fixed_closed": int(lag.fix_zero.sum()),
        "fixed_open": int(lag.fix_one.sum()),
    }
    x, ub, lb = lag.selected, lag.result.objective, lag.result.bound
    if prior is not None:
        lb = max(lb, prior.bound)
    if lag.result.proven_optimal or lb >= ub or backend is None:
        proven = lag.result.proven_optimal or lb >= ub
        note = "proven by the Lagrangian bound" if proven else "Lagrangian heuristic"
        return _Part(x, ub, lb, 0.0, note, info)

    tb = time.perf_counter()
    keep = ~lag.fix_zero
    restricted = lscp.LscpData.from_arrays(
        a[:, keep], c[keep], required=np.flatnonzero(lag.fix_one[keep])
    )
    milp = lscp.build_model(restricted, name="lscp-warm")
    build_s = time.perf_counter() - tb
    x0 = x[keep].astype(float)
    found: list[tuple[np.ndarray, float]] = []

    def mip(left: float | None, progress: SolveProgress) -> Result:
        opts = replace(options, time_limit_s=left, warm_start=x0, progress=progress)
        return backend.solve(milp, opts)

    def search(left: float, stop: Callable[[], bool]) -> None:
        if left < 0.5:
            return
        ls = cover_local_search(
            a[:, keep],
            c[keep],
            x[keep],
            time_limit_s=left,
            seed=options.seed,
            lower=lb,
            stop=stop,
        )
        cand = np.zeros(a.shape[1], dtype=bool)
        cand[np.flatnonzero(keep)[ls.selected]] = True
        found.append((cand, ls.result.objective))
        info.update(
            local_search_objective=ls.result.objective,
            local_search_steps=ls.result.nodes,
            local_search_improved=ls.result.extra["improved"],
        )

    def more_cft(left: float | None, _progress: SolveProgress) -> Result:
        # the subgradient continued from the multipliers reached, on the sites not fixed
        out = cft_lagrangian(
            a[:, keep],
            c[keep],
            time_limit_s=left,
            seed=options.seed + 1,
            upper=(x[keep], ub),
            refine=False,
            multipliers=lag.multipliers,
        )
        return out.result.replace(x=out.selected.astype(float), solver="cft")

    left = _left(deadline)
    if left is not None and not mip_root_fits(milp.A.nnz, (1.0 - MIP_RESERVE) * left):
        # the MIP's root LP would not end in time (HiGHS does not stop inside it): the CFT
        # subgradient goes on in its place (its bound on the sites left is a bound here, as
        # the MIP's is) beside the search
        log.info("lscp: MIP skipped (%d nonzeros, %.1f s left); CFT beside the search",
                 milp.A.nnz, left)  # fmt: skip
        res = _side_by_side(more_cft, search, deadline, options.threads != 1, backend)
    else:
        res = _side_by_side(mip, search, deadline, options.threads != 1, backend)
    info.update(mip_status=res.status.value, mip_objective=res.objective, mip_bound=res.bound)
    if res.status.has_solution and res.x is not None:
        cand = np.zeros(a.shape[1], dtype=bool)
        cand[np.flatnonzero(keep)[np.asarray(res.x) > 0.5]] = True
        found.append((cand, float(c[cand].sum())))
    for cand, value in found:
        covered = np.asarray(a @ cand.astype(np.int32)).ravel() > 0
        if covered.all() and value < ub - 1e-9 * max(1.0, ub):
            x, ub = cand, value
    if math.isfinite(res.bound):
        # fixed sites: only covers >= that incumbent
        mip_bound = min(res.bound, lag.result.objective)
        if res.status is Status.OPTIMAL:
            mip_bound = min(res.objective, lag.result.objective)
        if integral:
            mip_bound = math.ceil(mip_bound - 1e-6)
        lb = max(lb, mip_bound)
    lb = min(lb, ub)
    note = f"MIP {res.status.value} beside the search"
    if res.solver == "cft":
        note = "MIP skipped (too large for the time); CFT beside the search"
    return _Part(x, ub, lb, build_s, note, info)


# --------------------------------------------------------------------------- MCLP


def solve_mclp(
    data: MclpData,
    *,
    backend: Backend | None = None,
    options: SolveOptions | None = None,
    lp_backend: Backend | None = None,
) -> CoverRun:
    """Maximal covering (see the module docstring).

    Parameters
    ----------
    data : MclpData
    backend : Backend, optional
        The MIP backend for the search and the bound; None: reductions, heuristic and the
        Lagrangian (or LP) bound only.
    options : SolveOptions
    lp_backend : Backend, optional
        Solves the LP relaxation for the bound under a budget when there is no ``backend``.
    """
    options = options or SolveOptions()
    t0 = time.perf_counter()
    deadline = None if options.time_limit_s is None else t0 + options.time_limit_s
    red = reduce_mclp(
        data.coverage,
        data.weight,
        data.cost,
        data.p,
        p_exact=data.p_exact,
        budget=data.budget,
        required=data.required,
        forbidden=data.forbidden,
    )
    build_s = red.seconds
    # the search beside the MIP: swap search then neighbourhood search (count), or the latter
    name = _name(backend, "mclp", mclp_search_name(red.budget, backend))
    if _over_budget(red.cost, red.fill_from, data.cost, red.p, red.budget, data.p_exact):
        return _infeasible(name, "no selection of the required count fits the budget", build_s)
    prob = _Mclp.of(red.coverage, red.weight, red.cost, red.p, red.p_exact, red.budget)
    info: dict[str, object] = {
        "reductions": red.summary(),
        "reduced_rows": red.n_rows,
        "reduced_sites": red.n_sites,
    }
    y, hinfo = mclp_heuristic(prob, deadline)
    info.update(hinfo)
    value = prob.value(y)
    bound = _mclp_bound(prob, y, backend or lp_backend, deadline, info)
    note = "heuristic"
    if backend is not None and relative_gap(value, bound) > 0.0:
        tb = time.perf_counter()
        milp = _mclp_milp(prob, integral="lp" not in type(backend).capabilities)
        build_s += time.perf_counter() - tb
        x0 = np.r_[y.astype(float), (prob.count(y) > 0).astype(float)]
        found: list[np.ndarray] = []

        def mip(left: float | None, progress: SolveProgress) -> Result:
            # the search finds the solutions: the MIP runs for its bound, without primal
            # heuristics (HiGHS's ran its root node 10 s past a 54 s limit on the city MCLP)
            opts = replace(
                options,
                time_limit_s=left,
                warm_start=x0,
                primal_heuristics=False,
                progress=progress,
            )
            return backend.solve(milp, opts)

        def search(left: float, stop: Callable[[], bool]) -> None:
            if left >= 0.5:
                found.append(
                    mclp_search(
                        prob,
                        y,
                        backend,
                        time_limit_s=left,
                        seed=options.seed,
                        upper=bound,
                        stop=stop,
                        info=info,
                    )
                )

        res = _side_by_side(mip, search, deadline, options.threads != 1, backend)
        info.update(mip_status=res.status.value, mip_objective=res.objective, mip_bound=res.bound)
        if res.status.has_solution and res.x is not None:
            found.append(np.asarray(res.x)[: prob.n] > 0.5)
        for cand in found:
            v = prob.value(cand)
            if _mclp_feasible(prob, cand) and v > value + 1e-9 * max(1.0, value):
                y, value = cand, v
        if math.isfinite(res.bound):
            mip_bound = res.objective if res.status is Status.OPTIMAL else res.bound
            if bool(np.all(prob.weight == np.round(prob.weight))):
                mip_bound = math.floor(mip_bound + 1e-6)
            bound = min(bound, mip_bound)
        note = f"MIP {res.status.value} beside the search"
    return mclp_answer(data, red, y, bound, name, note, info, options, build_s, t0)


def mclp_answer(
    data: MclpData,
    red: ReducedMclp,
    y: np.ndarray,
    bound: float,
    name: str,
    note: str,
    info: dict[str, object],
    options: SolveOptions,
    build_s: float,
    started: float,
) -> CoverRun:
    """The answer of an MCLP solved on its reduction: ``y`` (reduced sites) lifted to the
    original ones, its covered weight recomputed from ``data``, the reduced problem's
    ``bound`` shifted by the reduction's offset, settled against ``options``."""
    selected = red.lift(y)
    covered = np.asarray(data.coverage @ selected.astype(np.int32)).ravel() > 0
    objective = float(data.weight[covered].sum())
    bound = max(bound + red.offset, objective)
    total = time.perf_counter() - started
    result = Result(
        Status.FEASIBLE,
        objective,
        bound,
        None,
        name,
        build_s,
        total - build_s,
        message=f"reduced to {red.n_rows} x {red.n_sites}; {note}",
        extra=info,
    )
    log.info("%s: %.10g, bound %.10g, %.2f s (%s)", name, objective, bound, total, note)
    return CoverRun(_settled(result, options, total), selected)


def _over_budget(
    cost: np.ndarray,
    fill_from: np.ndarray,
    all_cost: np.ndarray,
    p: int | None,
    budget: float | None,
    exact: bool,
) -> bool:
    """True when no selection can respect the budget (required sites too dear, or an exact
    count whose cheapest sites already exceed it)."""
    if budget is None:
        return False
    if budget < -1e-9:
        return True
    if not exact or p is None or p <= 0:
        return False
    costs = np.sort(np.r_[cost, all_cost[fill_from]])
    return costs.size < p or float(costs[:p].sum()) > budget + 1e-9


def _mclp_feasible(prob: _Mclp, y: np.ndarray) -> bool:
    k = int(y.sum())
    if prob.p is not None and (k > prob.p or (prob.p_exact and k != prob.p)):
        return False
    return prob.budget is None or float(prob.cost[y].sum()) <= prob.budget + 1e-9


def _mclp_bound(
    prob: _Mclp,
    y: np.ndarray,
    lp: Backend | None,
    deadline: float | None,
    info: dict[str, object],
) -> float:
    """Lagrangian bound (count only) or the LP bound (budget), on the reduced problem."""
    total = float(prob.weight.sum())
    if prob.p is not None and prob.budget is None:
        left = _left(deadline)
        lag = mclp_lagrangian(prob, y, time_limit_s=None if left is None else 0.1 * left)
        info.update(lagrangian_bound=lag.bound, lagrangian_iterations=lag.iterations)
        return min(lag.bound, total)
    if lp is None:
        return total
    left = _left(deadline)
    lp_bound = mclp_lp_bound(prob, lp, None if left is None else 0.2 * left)
    info.update(lp_bound=lp_bound)
    return min(lp_bound, total)
