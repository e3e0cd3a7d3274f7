r"""Uncapacitated p-median by Benders decomposition of the radius formulation.

Formulation (García, Labbé & Marín, 2011; Benders as in Duran-Mateluna, Ales & Elloumi, 2023)
-----------------------------------------------------------------------------------------------
With :math:`c_{ij} = w_i d_{ij}` over the allowed pairs and :math:`f_i` the cost of leaving
point :math:`i` unserved (``weight * unserved_penalty``, or a big-M when service is
compulsory, as in :class:`~optimizer.models.pmedian.heuristics.CostPairs`), let
:math:`D_i^1 < \dots < D_i^{K_i}` be the distinct values among :math:`\{c_{ij}\} \cup \{f_i\}`
up to :math:`f_i`. The radius formulation charges :math:`D_i^1` plus
:math:`D_i^{k+1} - D_i^k` whenever no open site lies within :math:`D_i^k`. Projecting out its
radius variables leaves the master

.. math::

    \min \; & \sum_i \theta_i \\
    \text{s.t.}\; & \theta_i + \sum_{j:\,c_{ij} < D} (D - c_{ij})\, y_j \ge D
        && \forall i,\ D \in \{D_i^1, \dots, D_i^{K_i}\} && \text{(Benders cuts)} \\
    & \sum_j y_j = p, \quad y_j = 1\ (j \in R), \quad y_j = 0\ (j \in F),
        \quad y \in \{0, 1\}^m, \quad \theta_i \ge D_i^1 .

For a given (fractional) :math:`y` the most violated cut of point :math:`i` is the one at the
first level :math:`D_i^k` whose sites :math:`\{j: c_{ij} \le D_i^k\}` carry a total
:math:`y`-weight of at least 1 (:math:`f_i` when none does): the right-hand side is a concave
piecewise-linear function of :math:`D` whose slope :math:`1 - \sum_{c_{ij} < D} y_j` changes
sign there. It is found for every point at once from a cumulative sum over the pairs sorted by
(point, cost) (:func:`separate`). At an integral :math:`y` that cut is exact (its value is
the point's cost), and the LP of the master with every cut equals the LP of the strong
formulation.

Algorithm
---------
1. **Incumbent**: greedy + fast interchange
   (:func:`~optimizer.models.pmedian.heuristics.solve_heuristic`), then the iterated swap
   search (:func:`~optimizer.models.pmedian.swap.iterated_swap_search`) in a thread beside
   every later phase until the run ends (HiGHS and the compiled search both release the GIL),
   sharing the incumbent (:class:`~optimizer.models.pmedian.swap.Incumbent`) with them: the
   LP rounding offers its solution, the tree prunes with the search's best as it improves and
   offers its own. With ``threads=1`` the search runs alone first, for
   :data:`HEURISTIC_SHARE` of the time. On TSPLIB rl1304 p = 10 it found 2,134,295 where the
   LP and tree alone ended at 2,135,581; on the dense city seed 1 (20,000 x 5,000, p = 800)
   the 60 s gap went from 0.20 % to 0.13 % (``city_targets.md``, before the HiGHS run-time
   fix of :func:`~optimizer.backends.highs.set_run_limit`).
2. **LP phase**: the LP master on HiGHS (dual simplex, re-solved after each round of cuts added
   in one ``addRows`` call), separated at an in-out point (Ben-Ameur & Neto, 2007; Fischetti,
   Ljubić & Sinnl, 2017) :math:`\lambda y^* + (1 - \lambda) y^\circ` between the LP solution
   :math:`y^*` and a core point :math:`y^\circ` that moves towards :math:`y^*`; plain Kelley at
   :math:`y^*` when the in-out cuts are not violated at :math:`y^*`; done when no cut is. Each
   LP value is a valid lower bound. Slack cuts are dropped when the master grows large.
3. **LP rounding + reduced-cost fixing**: the ``p`` largest :math:`y^*` seed a local search;
   with the LP bound :math:`L` and reduced costs :math:`r_j`, a site with :math:`L + r_j > UB`
   is closed (:math:`r_j > 0` at 0) or kept open (:math:`L - r_j > UB`, at 1): every solution
   cheaper than the incumbent survives.
4. **Integer phase**: the master as a MIP (``integer="mip"``: same cuts, ``y`` integer,
   HiGHS's branch-and-cut) warm-started with the incumbent; its solution is priced exactly,
   cuts are added there and the MIP re-solved until its value meets the price or time runs
   out. The MIP's dual bound is a bound of the full problem (a relaxation of it, restricted
   only by the fixing). Or the Lagrangian branch-and-bound of
   :mod:`optimizer.models.pmedian.bnb` from the LP duals on the pairs fixing keeps
   (``integer="tree"``). ``integer="auto"`` (the default) runs the MIP below
   :data:`MIP_BELOW_POINTS` demand points and the tree from there, and the tree too when the
   MIP's root cannot end in the time left.

The selection is re-assigned on the full pairs and its cost recomputed from the input arrays.
Memory is linear in the pairs (one sorted copy, shared with the swap search and its copy by
site, one cumulative sum per separation).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass, field, replace

import highspy
import numpy as np
import scipy.sparse as sp

from optimizer.backends import (
    Result,
    SolveOptions,
    Status,
    StopReason,
    mip_root_fits,
    optimal_stop,
    relative_gap,
)
from optimizer.backends.highs import presolve_fits, set_run_limit
from optimizer.deadline import Background
from optimizer.models.pmedian import model as pmedian
from optimizer.models.pmedian.bnb import lagrangian_branch_and_bound
from optimizer.models.pmedian.heuristics import (
    CostPairs,
    assign_nearest,
    best_two,
    local_search,
    solve_heuristic,
)
from optimizer.models.pmedian.lagrangian import integral_costs, reduced_cost_fixing
from optimizer.models.pmedian.model import PMedianData
from optimizer.models.pmedian.swap import Incumbent, iterated_swap_search

log = logging.getLogger(__name__)

__all__ = ["BendersRun", "RadiusPairs", "separate", "solve_pmedian_benders"]

TIME_SLACK_S = 0.3
"""Seconds kept back from the time limit for the final re-assignment and HiGHS's own
overrun of its time limit."""

HEURISTIC_SHARE = 0.1
"""Share of the time limit for the first heuristic when it runs alone (``threads=1``): greedy,
swap descent and the iterated swap search. Otherwise the iterated search runs beside the LP
and integer phases for the whole run (module docstring)."""

SEARCH_STOP_WAIT_S = 1.0
"""Seconds the run waits for the iterated search beside it to return once told to stop (it
reads its stop flag every few hundredths of a second)."""

LP_SHARE = 0.6
"""Share of the time limit after which the LP phase stops even when cuts are still violated
(unless its bound still moves, :data:`LP_PROGRESS`)."""

LP_SHARE_MAX = 0.85
"""Share of the time limit after which no LP round runs. On a 100,000 x 20,000 city a round
takes 15-40 s and the bound still rises by a percent per round at :data:`LP_SHARE`; cutting
the round in progress left 1.7-4.4 % gaps where one more round gives 0.3 %."""

LP_PROGRESS = 1e-3
"""Relative rise of the bound in the last round above which rounds go on past
:data:`LP_SHARE`."""

LP_ROUND_SHARE = 0.25
"""An LP round begins only if the last one took at most this share of the time left; otherwise
the Lagrangian tree, warm-started from the LP's duals, gets the rest: it raises the bound faster
per second once rounds are long. On the 100,000 x 20,000 city (rounds of 12-37 s) four rounds
and an 11 s tree ended at 0.26 % in 120 s, three rounds and a 55 s tree at 0.11 %; on the
dense 20,000 x 5,000 city seed 1 (rounds of 2-8 s, 60 s) seven rounds and a 26 s tree ended at
0.083 %, eight rounds and a 21 s tree at 0.098 %."""

IN_OUT_LAMBDA = 0.3
"""Weight of the LP solution in the in-out separation point (the rest: the core point)."""

VIOLATION_TOL = 1e-7
"""Relative violation below which a cut counts as satisfied."""

PURGE_FACTOR = 6
"""Drop the slack cuts once the master holds more than this many cuts per point."""

IPM_FROM_POINTS = 10_000
"""LP masters of at least this many points are solved by HiGHS's interior point method without
crossover: the first master of a 100,000 x 20,000 city (100,000 cuts) took 43 s by dual simplex
and 3.2 s by IPM, which outweighs the simplex's warm start over the rounds."""

MIP_BELOW_POINTS = 10_000
"""``integer="auto"`` runs the master MIP below this many demand points, the Lagrangian tree
from there. Measured in 60 s (30 s for the 5,000-point city): on the 15 TSPLIB runs
(1,304-2,103 points, p 10-500) the MIP proved 12 optima and met 0.1 % in 14, the tree proved 2
and met it in 13 (fl1400 p = 500: bound 3,763 against 3,756); city_like 5,000 x 2,000, p = 200:
0.019 % against 0.045 %. On 20,000-point cities the MIP's root does not end before the limit
and the bound stays the LP's (city_like seed 0 0.041 % against the tree's 0.040 %, city_dense
seed 1 0.095 % against 0.083 %)."""

IPM_BOUND_MARGIN = 1e-6
"""Relative margin taken off an IPM master's value before it counts as a bound: without
crossover the value is optimal only to the IPM's tolerances (1e-8)."""


@dataclass(frozen=True)
class RadiusPairs:
    """Pairs sorted by (point, cost) in CSR layout, pairs no cheaper than the fallback dropped.

    Attributes
    ----------
    starts : ndarray of int64 (n + 1,)
        First pair of each point.
    rows, cols : ndarray of int64 (k,)
        Point and site of each pair.
    cost : ndarray (k,)
        Weighted cost, ascending within a point.
    fallback : ndarray (n,)
        Unserved cost (penalty or big-M) of each point: its last level.
    first : ndarray (n,)
        Each point's cheapest level :math:`D_i^1`.
    """

    starts: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    cost: np.ndarray
    fallback: np.ndarray
    first: np.ndarray

    @classmethod
    def from_cost_pairs(cls, cp: CostPairs) -> RadiusPairs:
        """``cp``'s pairs sorted by (point, cost), as the swap search lays them out (one sort
        for both); pairs to forbidden sites are already gone."""
        index = cp.swap_index
        counts = np.diff(index.row_ptr)
        rows = np.repeat(np.arange(cp.n_demand, dtype=np.int64), counts)
        first = index.fallback.copy()
        has = counts > 0
        first[has] = index.row_cost[index.row_ptr[:-1][has]]
        return cls(index.row_ptr, rows, index.row_site, index.row_cost, index.fallback, first)

    @property
    def n_demand(self) -> int:
        return int(self.fallback.size)


@dataclass(frozen=True)
class Cuts:
    """The most violated cut of every point at one separation point.

    Attributes
    ----------
    level : ndarray (n,)
        :math:`D` of each point's cut (its right-hand side).
    inside : ndarray of bool (k,)
        Pairs with a positive coefficient :math:`D - c_{ij}`.
    """

    level: np.ndarray
    inside: np.ndarray

    def value(self, rp: RadiusPairs, y: np.ndarray) -> np.ndarray:
        """Each cut's right-hand side minus its ``y`` terms at ``y``: the bound it puts on
        ``theta``."""
        sel = np.flatnonzero(self.inside)
        coef = self.level[rp.rows[sel]] - rp.cost[sel]
        drop = np.bincount(rp.rows[sel], coef * y[rp.cols[sel]], minlength=rp.n_demand)
        return np.asarray(self.level - drop)


def separate(rp: RadiusPairs, y: np.ndarray) -> Cuts:
    """The most violated Benders cut of every point at ``y`` (module docstring), vectorised.

    Parameters
    ----------
    rp : RadiusPairs
        The sorted pairs.
    y : ndarray (n_sites,)
        Site values in [0, 1].
    """
    yv = y[rp.cols]
    cs = np.cumsum(yv)
    before = np.r_[0.0, cs][rp.starts[:-1]]
    # the site weight within each pair's cost, ties included (all pairs of equal cost count)
    row_cum = cs - np.repeat(before, np.diff(rp.starts))
    k = rp.cost.size
    last_tie = np.r_[rp.cost[1:] != rp.cost[:-1], True] | np.r_[rp.rows[1:] != rp.rows[:-1], True]
    # the cumulative weight at the last pair of each run of equal costs holds for the run
    tie_end = np.flatnonzero(last_tie)
    run_of = np.searchsorted(tie_end, np.arange(k))
    reached = row_cum[tie_end][run_of] >= 1.0 - 1e-9
    level = rp.fallback.copy()
    hit = np.flatnonzero(reached)
    if hit.size:
        rows_hit = rp.rows[hit]
        firsts = np.flatnonzero(np.r_[True, rows_hit[1:] != rows_hit[:-1]])
        level[rows_hit[firsts]] = rp.cost[hit[firsts]]
    inside = rp.cost < level[rp.rows]
    return Cuts(level, inside)


@dataclass(frozen=True)
class BendersRun:
    """Outcome of :func:`solve_pmedian_benders`.

    Attributes
    ----------
    result : Result
        OPTIMAL when the bound meets the objective (within ``mip_gap``), FEASIBLE otherwise,
        NO_SOLUTION without a feasible selection; ``objective``: the cost of ``selected`` on
        the full pairs; ``bound``: the certified lower bound.
    selected : ndarray of bool (n_sites,)
        Open sites.
    assignment : ndarray of int (n_demand,)
        Site serving each point (``-1``: unserved).
    phases : dict
        Seconds per phase (``setup``, ``heuristic``, ``lp``, ``mip``, ``tree``), LP rounds and
        cuts, the LP bound, the integer phase chosen (``integer``: ``mip`` or ``tree``), fixed
        sites, MIP rounds, tree nodes.
    """

    result: Result
    selected: np.ndarray
    assignment: np.ndarray
    phases: dict[str, float | int | str] = field(default_factory=dict)

    @property
    def proven_by(self) -> str:
        """What closed the gap: ``lp`` (the LP bound), ``tree`` or ``mip`` (the integer
        phase) or ``""``."""
        if self.result.status is not Status.OPTIMAL:
            return ""
        if "tree" in self.phases:
            return "tree"
        return "mip" if int(self.phases.get("mip_rounds", 0)) > 0 else "lp"


class _Master:
    """The master problem on a HiGHS instance: columns ``[y (m) | theta (n)]``, row 0 the
    facility count, then the cuts."""

    def __init__(self, cp: CostPairs, rp: RadiusPairs) -> None:
        m, n = cp.n_sites, cp.n_demand
        self.m, self.n = m, n
        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        lower = np.r_[cp.required.astype(float), rp.first]
        upper = np.r_[cp.allowed.astype(float), np.full(n, math.inf)]
        cost = np.r_[np.zeros(m), np.ones(n)]
        empty_i = np.zeros(0, dtype=np.int32)
        h.addCols(
            m + n, cost, lower, upper, 0, np.zeros(m + n, dtype=np.int32), empty_i, np.zeros(0)
        )
        count = float(cp.p)
        h.addRows(
            1,
            np.array([count]),
            np.array([count]),
            m,
            np.array([0], dtype=np.int32),
            np.arange(m, dtype=np.int32),
            np.ones(m),
        )
        self.h = h
        self.mip = False  # set by make_integer: HiGHS then times runs on a MIP's clock
        self.cuts = 0
        # point and level of each cut row (row k + 1), for the Lagrangian multipliers
        self.row_point = np.zeros(0, dtype=np.int64)
        self.row_level = np.zeros(0)

    def add(self, rp: RadiusPairs, cuts: Cuts, points: np.ndarray) -> int:
        """Add the cuts of ``points`` in one ``addRows`` call; the number added."""
        if points.size == 0:
            return 0
        chosen = np.zeros(self.n, dtype=bool)
        chosen[points] = True
        sel = np.flatnonzero(cuts.inside & chosen[rp.rows])
        cut_id = np.full(self.n, -1, dtype=np.int64)
        cut_id[points] = np.arange(points.size)
        r = np.r_[cut_id[rp.rows[sel]], np.arange(points.size)]
        c = np.r_[rp.cols[sel], self.m + points]
        v = np.r_[cuts.level[rp.rows[sel]] - rp.cost[sel], np.ones(points.size)]
        a = sp.csr_matrix((v, (r, c)), shape=(points.size, self.m + self.n))
        a.sort_indices()
        self.h.addRows(
            points.size,
            cuts.level[points].astype(float),
            np.full(points.size, math.inf),
            a.nnz,
            a.indptr[:-1].astype(np.int32),
            a.indices.astype(np.int32),
            a.data.astype(float),
        )
        self.cuts += points.size
        self.row_point = np.r_[self.row_point, points]
        self.row_level = np.r_[self.row_level, cuts.level[points]]
        return int(points.size)

    def solve(self, time_limit: float) -> tuple[bool, np.ndarray, np.ndarray, float]:
        """Run HiGHS; (has a solution, y, theta, objective) (for a MIP: its best solution)."""
        set_run_limit(self.h, time_limit, mip=self.mip)
        self.h.run()
        info = self.h.getInfo()
        if int(info.primal_solution_status) != 2:
            return False, np.zeros(self.m), np.zeros(self.n), math.nan
        x = np.asarray(self.h.getSolution().col_value, dtype=float)
        return True, x[: self.m], x[self.m :], float(info.objective_function_value)

    def make_integer(self) -> None:
        """Make the ``y`` columns integer: later solves are MIPs."""
        self.h.changeColsIntegrality(
            self.m, np.arange(self.m, dtype=np.int32), np.ones(self.m, dtype=np.uint8)
        )
        self.mip = True

    def lp_optimal(self) -> bool:
        return bool(self.h.getModelStatus() == highspy.HighsModelStatus.kOptimal)

    def purge(self) -> None:
        """Drop the cuts with slack at the current solution (a basic slack: the basis stays
        valid)."""
        act = np.asarray(self.h.getSolution().row_value, dtype=float)
        lower = np.asarray(self.h.getLp().row_lower_, dtype=float)
        if act.size != lower.size:  # rows added since the last solve: no activities for them
            return
        slack = act - lower
        drop = np.flatnonzero(slack > 1e-6 * np.maximum(1.0, np.abs(lower)))
        drop = drop[drop > 0].astype(np.int32)
        if drop.size:
            self.h.deleteRows(drop.size, drop)
            self.cuts -= int(drop.size)
            keep = np.ones(self.row_point.size, dtype=bool)
            keep[drop - 1] = False
            self.row_point, self.row_level = self.row_point[keep], self.row_level[keep]

    def multipliers(self, rp: RadiusPairs) -> np.ndarray | None:
        r"""Lagrangian multipliers of the assignment rows from the LP duals of the cuts:
        :math:`\lambda_i = \sum_c \pi_c D_c` over the cuts of point :math:`i` (their duals sum
        to 1); at the LP optimum :math:`L(\lambda)` equals the LP bound, and any
        :math:`\lambda` gives a valid bound. None without valid duals."""
        sol = self.h.getSolution()
        dual = np.asarray(sol.row_dual, dtype=float)
        if not sol.dual_valid or dual.size != self.row_point.size + 1:
            return None
        pi = np.abs(dual[1:])
        lam = np.bincount(self.row_point, pi * self.row_level, minlength=self.n)
        weight = np.bincount(self.row_point, pi, minlength=self.n)
        # a point whose theta sits at its lower bound has no dual weight: its cheapest level
        return np.asarray(np.where(weight > 1e-9, lam / np.maximum(weight, 1e-12), rp.first))


def _left(deadline: float | None) -> float:
    return math.inf if deadline is None else deadline - time.perf_counter()


def _violated(cuts: Cuts, rp: RadiusPairs, y: np.ndarray, theta: np.ndarray) -> np.ndarray:
    value = cuts.value(rp, y)
    return np.flatnonzero(value - theta > VIOLATION_TOL * np.maximum(1.0, np.abs(value)))


def _lp_phase(
    master: _Master,
    rp: RadiusPairs,
    core: np.ndarray,
    deadline: float | None,
    lp_deadline: tuple[float | None, float | None],
    phases: dict[str, float | int | str],
) -> tuple[float, np.ndarray, np.ndarray | None, bool]:
    """Cut rounds on the LP master: (the last LP bound, its ``y``, the multipliers its duals
    give (None before any LP), converged). ``lp_deadline``: no round starts after the first
    one (:data:`LP_SHARE`) unless the last round still raised the bound by
    :data:`LP_PROGRESS`, and none runs past the second (:data:`LP_SHARE_MAX`)."""
    # every point pays at least its cheapest level: the bound before any LP
    bound, y_lp, converged, rounds = float(rp.first.sum()), core.copy(), False, 0
    soft, hard = lp_deadline
    progress = math.inf
    lam: np.ndarray | None = None
    ipm = master.n >= IPM_FROM_POINTS
    if ipm:
        master.h.setOptionValue("solver", "ipm")
        master.h.setOptionValue("run_crossover", "off")
    round_s = 0.0
    while _left(hard if progress >= LP_PROGRESS else soft) > 0.05 or (
        rounds == 0 and _left(deadline) > 0.05
    ):
        if rounds > 0 and deadline is not None and round_s > LP_ROUND_SHARE * _left(deadline):
            break  # the tree raises the bound faster than another round this long
        began = time.perf_counter()
        # the first LP always ends (it gives the first bound); later ones stop at the LP
        # phase's own deadline
        ok, y, theta, obj = master.solve(_left(deadline if rounds == 0 else hard))
        if ipm and not master.lp_optimal() and _left(hard) > 0.05:
            # the IPM can stall short of its tolerances (status unknown: its value is no
            # bound); with crossover the simplex finishes it (a 50k city's round 2 stalled,
            # leaving the round-1 bound, 19 % below the incumbent)
            log.debug("benders LP round %d: IPM %s, again with crossover", rounds + 1,
                      master.h.getModelStatus())  # fmt: skip
            master.h.setOptionValue("run_crossover", "on")
            ok, y, theta, obj = master.solve(_left(hard))
            master.h.setOptionValue("run_crossover", "off")
        if not ok or not master.lp_optimal():
            break
        rounds += 1
        value = obj - IPM_BOUND_MARGIN * abs(obj) if ipm else obj
        if rounds > 1:
            progress = (value - bound) / max(1.0, abs(value))
        bound, y_lp = max(bound, value), y
        log.debug("benders LP round %d: bound %.10g, %d cuts", rounds, obj, master.cuts)
        # taken before the next cuts go in (their duals are gone once rows are added)
        lam = master.multipliers(rp)
        sep = IN_OUT_LAMBDA * y + (1.0 - IN_OUT_LAMBDA) * core
        cuts = separate(rp, sep)
        points = _violated(cuts, rp, y, theta)
        if points.size == 0:  # the in-out point gives nothing here: plain Kelley at y
            cuts = separate(rp, y)
            points = _violated(cuts, rp, y, theta)
            if points.size == 0:
                converged = True
                break
        core = 0.5 * (core + y)
        if master.cuts + points.size > PURGE_FACTOR * master.n:
            master.purge()
        master.add(rp, cuts, points)
        round_s = time.perf_counter() - began
    phases["lp_rounds"] = rounds
    phases["lp_cuts"] = master.cuts
    phases["lp_solver"] = "ipm" if ipm else "simplex"
    if ipm:  # the MIP phase's node LPs need the simplex
        master.h.setOptionValue("solver", "choose")
    return bound, y_lp, lam, converged


def _round(cp: CostPairs, y: np.ndarray, deadline: float | None) -> tuple[np.ndarray, float]:
    """The required sites plus the largest other ``y`` up to ``p``, then the swap search:
    the sites and their cost."""
    score = np.where(cp.allowed, y, -1.0) + 2.0 * cp.required
    opened = np.zeros(cp.n_sites, dtype=bool)
    opened[np.argsort(-score, kind="stable")[: cp.p]] = True
    sites, _, _ = local_search(cp, opened, deadline)
    return np.asarray(sites), cp.objective(sites)


class _SearchBeside:
    """The iterated swap search in a thread beside the LP and integer phases, sharing the
    incumbent with them (its compiled rounds release the GIL; HiGHS releases it too)."""

    def __init__(self, cp: CostPairs, shared: Incumbent, deadline: float | None, seed: int):
        self._done = threading.Event()
        start, _ = shared.best()
        end = math.inf if deadline is None else deadline
        self._job = Background(
            lambda: iterated_swap_search(
                cp.swap_index, start, end, seed=seed, stop=self._done.is_set, incumbent=shared
            )
        )

    def finish(self) -> int:
        """Stop the search and wait for it (briefly); the perturbation rounds it made."""
        self._done.set()
        out = self._job.result(SEARCH_STOP_WAIT_S)
        return 0 if out is None else int(out[2])


def _fix(master: _Master, bound: float, upper: float, integral: bool) -> tuple[int, int]:
    """Reduced-cost fixing of the ``y`` against the incumbent (module docstring); the
    numbers of sites fixed closed and open."""
    sol = master.h.getSolution()
    if not sol.dual_valid:
        return 0, 0
    rc = np.asarray(sol.col_dual, dtype=float)[: master.m]
    y = np.asarray(sol.col_value, dtype=float)[: master.m]
    # solutions at least as dear as the incumbent may go: with integer costs, those above
    # UB - 1; a margin keeps floating noise from cutting off an optimum
    limit = upper - (1.0 if integral else 0.0) + 1e-6 * max(1.0, abs(upper))
    close = np.flatnonzero((y < 1e-9) & (bound + rc > limit)).astype(np.int32)
    open_ = np.flatnonzero((y > 1.0 - 1e-9) & (bound - rc > limit)).astype(np.int32)
    if close.size:
        master.h.changeColsBounds(close.size, close, np.zeros(close.size), np.zeros(close.size))
    if open_.size:
        master.h.changeColsBounds(open_.size, open_, np.ones(open_.size), np.ones(open_.size))
    return int(close.size), int(open_.size)


def _mip_phase(
    master: _Master,
    cp: CostPairs,
    rp: RadiusPairs,
    incumbent: np.ndarray,
    upper: float,
    bound: float,
    deadline: float | None,
    options: SolveOptions,
    phases: dict[str, float | int | str],
) -> tuple[np.ndarray, float, float, bool]:
    """Iterative master MIP: (selection, its cost, bound, proven)."""
    m = master.m
    master.purge()  # the slack cuts only slow the MIP's node LPs down
    master.make_integer()
    master.h.setOptionValue("mip_rel_gap", float(options.mip_gap))
    master.h.setOptionValue("random_seed", int(options.seed))
    if options.threads is not None:
        master.h.setOptionValue("threads", int(options.threads))
    rounds, proven = 0, False
    while _left(deadline) > 0.2:
        nonzeros = int(master.h.getNumNz())
        if rounds == 0 and deadline is not None and not mip_root_fits(nonzeros, _left(deadline)):
            # HiGHS would not end its root in time (no clock read inside it); a re-solve
            # with a few more cuts goes through a root of the size the first one ended
            break
        presolve = deadline is None or presolve_fits(nonzeros, _left(deadline))
        master.h.setOptionValue("presolve", "choose" if presolve else "off")
        d1, _, _ = best_two(cp, incumbent)
        start = highspy.HighsSolution()
        start.col_value = list(np.r_[incumbent.astype(float), d1])
        start.value_valid = True
        master.h.setSolution(start)
        master.solve(_left(deadline))
        rounds += 1
        ms = master.h.getModelStatus()
        info = master.h.getInfo()
        log.debug(
            "benders MIP round %d: %s, value %.10g, bound %.10g, %d nodes",
            rounds, ms, info.objective_function_value, info.mip_dual_bound, info.mip_node_count,
        )  # fmt: skip
        if ms == highspy.HighsModelStatus.kInfeasible:
            bound, proven = upper, True  # fixing left nothing cheaper than the incumbent
            break
        mip_bound = float(info.mip_dual_bound)
        if math.isfinite(mip_bound):
            bound = max(bound, mip_bound)
        if int(info.primal_solution_status) != 2:
            break
        x = np.asarray(master.h.getSolution().col_value, dtype=float)
        y = x[:m] > 0.5
        theta = x[m:]
        price = cp.objective(y)
        if price < upper:
            incumbent, upper = y, price
        if relative_gap(upper, bound) <= max(options.mip_gap, 0.0):
            proven = True
            break
        if ms != highspy.HighsModelStatus.kOptimal:
            break  # the time limit stopped the MIP
        cuts = separate(rp, y.astype(float))
        points = _violated(cuts, rp, y.astype(float), theta)
        if points.size == 0:  # the MIP's optimum is priced right: optimal
            bound, proven = max(bound, min(upper, price)), True
            break
        master.add(rp, cuts, points)
    phases["mip_rounds"] = rounds
    return incumbent, upper, bound, proven


def _tree_phase(
    cp: CostPairs,
    lam: np.ndarray,
    incumbent: np.ndarray,
    upper: float,
    bound: float,
    deadline: float | None,
    phases: dict[str, float | int | str],
    shared: Incumbent | None = None,
) -> tuple[np.ndarray, float, float, bool]:
    """Lagrangian branch-and-bound (:mod:`optimizer.models.pmedian.bnb`) from the LP's
    multipliers, on the pairs and sites that reduced-cost fixing keeps (the tree takes the
    ``shared`` incumbent's improvements as they come): (selection, its cost, bound, proven)."""
    fixing = reduced_cost_fixing(cp, lam, upper)
    reduced = replace(
        cp,
        rows=cp.rows[fixing.keep],
        cols=cp.cols[fixing.keep],
        cost=cp.cost[fixing.keep],
        allowed=cp.allowed & ~fixing.closed,
        required=cp.required | fixing.opened,
    )
    phases["fixed_closed"] = int((fixing.closed & cp.allowed).sum())
    phases["fixed_open"] = int((fixing.opened & ~cp.required).sum())
    phases["reduced_pairs"] = int(fixing.keep.sum())
    tree = lagrangian_branch_and_bound(
        reduced, lam, incumbent, upper, deadline=deadline, full=cp, shared=shared
    )
    phases["tree_nodes"] = tree.result.nodes or 0
    if tree.result.objective < upper:
        incumbent, upper = tree.selected, cp.objective(tree.selected)
    bound = max(bound, tree.result.bound)
    return incumbent, upper, bound, tree.result.status is Status.OPTIMAL


def solve_pmedian_benders(
    data: PMedianData,
    options: SolveOptions | None = None,
    *,
    integer: str = "auto",
) -> BendersRun:
    """Solve an uncapacitated p-median problem by Benders decomposition (module docstring).

    Parameters
    ----------
    data : PMedianData
        Uncapacitated data (required / forbidden sites and an unserved penalty allowed).
    options : SolveOptions, optional
        ``time_limit_s`` for everything, ``mip_gap``, ``threads``, ``seed``.
    integer : {"auto", "mip", "tree"}
        The integer phase: the iterative master MIP (``mip``), Lagrangian branch-and-bound
        from the multipliers the LP duals give (``tree``), or the MIP below
        :data:`MIP_BELOW_POINTS` demand points and the tree from there (``auto``; the tree
        also when the MIP's root does not fit the time left).

    Raises
    ------
    ValueError
        Capacitated data, or an unknown ``integer``.
    """
    if integer not in ("auto", "mip", "tree"):
        raise ValueError(f"integer must be 'auto', 'mip' or 'tree', not {integer!r}")
    options = options or SolveOptions()
    t0 = time.perf_counter()
    limit = options.time_limit_s
    deadline = None if limit is None else t0 + max(0.1, limit - TIME_SLACK_S)
    cp = CostPairs.from_data(data)
    integral = integral_costs(cp)
    rp = RadiusPairs.from_cost_pairs(cp)
    phases: dict[str, float | int | str] = {"setup": time.perf_counter() - t0}

    t1 = time.perf_counter()
    beside = limit is not None and options.threads != 1
    h_limit = None if limit is None else HEURISTIC_SHARE * limit
    heur = solve_heuristic(cp, time_limit_s=h_limit, seed=options.seed, iterate=not beside)
    incumbent = heur.selected.copy()
    upper = cp.objective(incumbent)
    phases["heuristic"] = time.perf_counter() - t1
    phases["heuristic_objective"] = upper
    shared = Incumbent(incumbent, upper)
    search = _SearchBeside(cp, shared, deadline, options.seed) if beside else None

    t2 = time.perf_counter()
    master = _Master(cp, rp)
    master.add(rp, separate(rp, incumbent.astype(float)), np.arange(cp.n_demand))
    share = np.where(cp.allowed & ~cp.required, 1.0, 0.0)
    free = max(1.0, float(share.sum()))
    core = np.where(cp.required, 1.0, share * max(0, cp.p - int(cp.required.sum())) / free)
    core = 0.5 * core + 0.5 * incumbent
    lp_deadline = (
        None if limit is None else t0 + LP_SHARE * limit,
        None if limit is None else t0 + LP_SHARE_MAX * limit,
    )
    bound, y_lp, lam, converged = _lp_phase(master, rp, core, deadline, lp_deadline, phases)
    phases["lp"] = time.perf_counter() - t2
    phases["lp_bound"] = bound
    phases["lp_converged"] = int(converged)
    if math.isfinite(bound) and _left(deadline) > 0.5:
        shared.offer(*_round(cp, y_lp, deadline))
    incumbent, upper = shared.best()
    stop = StopReason.TIME_LIMIT
    proven = relative_gap(upper, _rounded(bound, integral)) <= max(options.mip_gap, 0.0)
    tree = integer == "tree" or (integer == "auto" and cp.n_demand >= MIP_BELOW_POINTS)
    phases["integer"] = "tree" if tree else "mip"
    ready = math.isfinite(upper) and math.isfinite(bound)
    if not proven and not tree and ready and _left(deadline) > 0.5:
        closed, opened = _fix(master, bound, upper, integral)
        phases["fixed_closed"], phases["fixed_open"] = closed, opened
        t3 = time.perf_counter()
        incumbent, upper, bound, proven = _mip_phase(
            master, cp, rp, incumbent, upper, bound, deadline, options, phases
        )
        phases["mip"] = time.perf_counter() - t3
        shared.offer(incumbent, upper)  # the MIP phase does not offer as it goes
        incumbent, upper = shared.best()
        # the MIP's root did not fit the time left: the tree, which reads its clock per node
        tree = integer == "auto" and int(phases["mip_rounds"]) == 0
    if not proven and tree and _left(deadline) > 0.5 and math.isfinite(upper) and lam is not None:
        phases["integer"] = "tree"
        t3 = time.perf_counter()
        incumbent, upper, bound, proven = _tree_phase(
            cp, lam, incumbent, upper, bound, deadline, phases, shared
        )
        phases["tree"] = time.perf_counter() - t3
    if proven:
        stop = StopReason.OPTIMAL
    if search is not None:
        phases["search_kicks"] = search.finish()
    shared.offer(incumbent, upper)
    incumbent, upper = shared.best()
    return _record(data, t0, incumbent, bound, integral, stop, options, phases)


def _rounded(bound: float, integral: bool) -> float:
    """An integer optimum is at least the bound rounded up."""
    if integral and math.isfinite(bound):
        return float(math.ceil(bound - 1e-6 * max(1.0, abs(bound))))
    return bound


def _record(
    data: PMedianData,
    started: float,
    selected: np.ndarray,
    bound: float,
    integral: bool,
    stop: StopReason,
    options: SolveOptions,
    phases: dict[str, float | int | str],
) -> BendersRun:
    """The run's answer: ``selected`` re-assigned and priced on the full pairs."""
    assignment = assign_nearest(data, selected)
    objective = pmedian.solution_cost(data, assignment)
    bound = _rounded(bound, integral)
    if not math.isfinite(objective):
        status, stop = Status.NO_SOLUTION, StopReason.TIME_LIMIT
        objective = math.nan
    else:
        bound = min(bound, objective)  # noise only: a bound never beats a solution
        closed = relative_gap(objective, bound) <= max(options.mip_gap, 0.0)
        status = Status.OPTIMAL if closed else Status.FEASIBLE
        if closed:
            stop = optimal_stop(objective, bound, options.mip_gap)
        elif stop is StopReason.OPTIMAL:
            stop = StopReason.ITERATION_LIMIT
    setup = float(phases["setup"])
    result = Result(
        status=status,
        objective=objective,
        bound=bound if math.isfinite(bound) else math.nan,
        x=None,
        solver="benders+highs",
        build_s=setup,
        solve_s=time.perf_counter() - started - setup,
        stop=stop,
        message=f"{phases.get('lp_rounds', 0)} LP rounds, {phases.get('mip_rounds', 0)} MIPs",
    )
    log.info(
        "p-median benders: %s, objective %.10g, bound %.10g, gap %.3g (%s)",
        result.status.value,
        result.objective,
        result.bound,
        result.gap,
        ", ".join(
            f"{k} {phases[k]:.2f} s"
            for k in ("setup", "heuristic", "lp", "tree", "mip")
            if k in phases
        ),
    )
    return BendersRun(result, selected, assignment, phases)
