r"""Maximal covering by Benders decomposition (Cordeau, Furini & Ljubić, 2019, EJOR 275).

Formulation
-----------
After the exact reductions (:func:`optimizer.models.covering.reductions.reduce_mclp`: required
sites fixed, rows with identical coverage sets merged with summed weights, dominated sites
dropped) the master holds the site variables :math:`y` and one variable per (merged) demand
row, :math:`z_i = \theta_i / w_i`:

.. math::

    \max \; & \sum_i w_i z_i \\
    \text{s.t.}\; & z_i \le \textstyle\sum_{j \in N_i} y_j && i \in C
        && \text{(Benders / coverage cuts, only those found violated)} \\
    & \sum_j y_j = p \ (\text{or} \le p), \quad \sum_j c_j y_j \le B \\
    & y \in \{0, 1\}^n, \quad 0 \le z_i \le 1

For fixed :math:`y` the subproblem of row :math:`i` is :math:`\max\{z_i : z_i \le 1, z_i \le
\sum_{N_i} y_j\}`; its optimality cuts are exactly :math:`\theta_i \le w_i \sum_{N_i} y_j` and
:math:`\theta_i \le w_i` (the latter is the column bound). They are separated in closed form for
all rows at once (one sparse product :math:`A y^*` compared with :math:`z^*`) and added in one
``addRows`` call per round; the master keeps only the rows that were ever violated, so on
instances with millions of pairs it stays small.

Phases, on one :class:`~optimizer.deadline.Deadline`:

1. **Incumbent**: greedy + swap descent
   (:func:`optimizer.models.covering.heuristics.mclp_heuristic`).
2. **LP master**: cut rounds on the LP relaxation of the master until no cut is violated
   (then its value is the LP bound of the whole model); the value of every master LP is an
   upper bound, since the master is a relaxation.
3. **Reduced-cost fixing** against the incumbent: a site at its lower (upper) bound in the
   optimal LP whose reduced cost takes the LP value below the incumbent (+1 with integer
   weights) is fixed closed (open); fixings against the incumbent are skipped, so it stays a
   feasible warm start and no solution better than it is cut off.
4. **Integer phase**: the master MIP (HiGHS) with the cuts, warm-started with the incumbent;
   the violated cuts of its solution are added and it is solved again, until its solution is
   priced right (optimal) or the time is up. Its dual bound is an upper bound (a relaxation).
   Beside it, in the calling thread, the search that improves the incumbent
   (:func:`optimizer.models.covering.heuristics.mclp_search`: with a facility count the
   iterated swap search, then the large-neighbourhood search; under a budget the latter). The
   search stops as soon as the MIP proves optimality.

The answer is OPTIMAL only when the bound meets the objective.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass, field

import highspy
import numpy as np
import scipy.sparse as sp

from optimizer.backends import Backend, SolveOptions, SolveProgress
from optimizer.backends.highs import presolve_fits, report_progress, set_run_limit
from optimizer.deadline import Background, Deadline
from optimizer.models.covering.heuristics import (
    _is_integral,
    _Mclp,
    mclp_heuristic,
    mclp_search,
    mclp_search_name,
)
from optimizer.models.covering.mclp import MclpData
from optimizer.models.covering.reductions import reduce_mclp
from optimizer.models.covering.solve import (
    ABANDON_GRACE_S,
    CoverRun,
    _infeasible,
    _mclp_feasible,
    _over_budget,
    mclp_answer,
)

log = logging.getLogger(__name__)

__all__ = ["solve_mclp_benders"]

LP_SHARE = 0.35
"""Most of the time left that the LP cut rounds get (their bound is already certified)."""

MIP_RESERVE = 0.1
"""Share of the time left that the master MIP leaves unused: HiGHS may run past its limit
(see :data:`optimizer.models.covering.solve.MIP_RESERVE`)."""

IPM_SHARE = 0.2
"""A round that added more than this share of the master's cuts is solved by the interior
point (with crossover, for the reduced costs), others by the dual simplex from the last basis."""

STALL_ROUNDS = 3
"""LP rounds without a smaller bound after which the cut rounds hand over to the MIP (on the
city 20,000 x 5,000 at 500 m the LP value is the total weight from the first round on, and
rounds of a few dozen cuts went on for minutes)."""

ASSEMBLY_S = 0.1
"""Seconds kept for assembling the answer after the search."""

VIOLATION = 1e-6
"""A cut is violated when :math:`z_i` exceeds :math:`\\sum_{N_i} y_j` by more than this."""


@dataclass
class _Master:
    """The master on a HiGHS instance: columns ``[y (n) | z (m)]``, the count and budget rows
    first, then the cuts; ``in_master`` marks the rows whose cut is there."""

    prob: _Mclp
    h: highspy.Highs = field(init=False)
    in_master: np.ndarray = field(init=False)
    rounds: int = 0

    def __post_init__(self) -> None:
        prob = self.prob
        n, m = prob.n, prob.m
        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        cost = np.r_[np.zeros(n), prob.weight]
        h.addCols(
            n + m,
            cost,
            np.zeros(n + m),
            np.ones(n + m),
            0,
            np.zeros(n + m, dtype=np.int32),
            np.zeros(0, dtype=np.int32),
            np.zeros(0),
        )
        h.changeObjectiveSense(highspy.ObjSense.kMaximize)
        sites = np.arange(n, dtype=np.int32)
        if prob.p is not None:
            lo = float(prob.p) if prob.p_exact else -math.inf
            h.addRows(
                1,
                np.array([lo]),
                np.array([float(prob.p)]),
                n,
                np.array([0], dtype=np.int32),
                sites,
                np.ones(n),
            )
        if prob.budget is not None:
            h.addRows(
                1,
                np.array([-math.inf]),
                np.array([float(prob.budget)]),
                n,
                np.array([0], dtype=np.int32),
                sites,
                prob.cost.astype(float),
            )
        self.h = h
        self.in_master = np.zeros(m, dtype=bool)

    def add_cuts(self, rows: np.ndarray) -> int:
        """Add :math:`z_i - \\sum_{N_i} y_j \\le 0` for ``rows`` in one ``addRows`` call."""
        rows = rows[~self.in_master[rows]]
        if rows.size == 0:
            return 0
        k = rows.size
        sites = self.prob.a[rows]
        z = sp.csr_matrix((np.ones(k), (np.arange(k), rows)), shape=(k, self.prob.m))
        block = sp.hstack([-sites.astype(float), z], format="csr")
        block.sort_indices()
        self.h.addRows(
            k,
            np.full(k, -math.inf),
            np.zeros(k),
            block.nnz,
            block.indptr[:-1].astype(np.int32),
            block.indices.astype(np.int32),
            block.data.astype(float),
        )
        self.in_master[rows] = True
        return int(k)

    def violated(self, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        """Rows whose cut :math:`y` and :math:`z` violate (all rows at once)."""
        reach = np.asarray(self.prob.a @ y).ravel()
        return np.flatnonzero(z > reach + VIOLATION)

    def run(
        self, time_limit: float | None, mip: bool = False
    ) -> tuple[np.ndarray, np.ndarray, float] | None:
        """Solve; ``(y, z, objective)`` of its solution, or None without one. The ``mip``
        master runs without presolve where presolve could not end in time (HiGHS does not
        read its clock inside it: :func:`optimizer.backends.highs.presolve_fits`)."""
        set_run_limit(self.h, time_limit, mip=mip)
        if mip:
            fits = presolve_fits(int(self.h.getNumNz()), time_limit)
            self.h.setOptionValue("presolve", "choose" if fits else "off")
        self.h.run()
        if int(self.h.getInfo().primal_solution_status) != 2:
            return None
        x = np.asarray(self.h.getSolution().col_value, dtype=float)
        n = self.prob.n
        return x[:n], x[n:], float(self.h.getInfo().objective_function_value)

    def optimal(self) -> bool:
        return bool(self.h.getModelStatus() == highspy.HighsModelStatus.kOptimal)


def _lp_rounds(master: _Master, dl: Deadline, info: dict[str, object]) -> tuple[float, bool]:
    """Cut rounds on the LP master, until no cut is violated, the bound stalls for
    :data:`STALL_ROUNDS` rounds (the MIP loop adds the rest) or the LP share of the time is
    spent; (the smallest optimal LP value, whether the master holds the optimal LP of its
    last round: its reduced costs may fix sites)."""
    stop_at = dl.remaining(LP_SHARE)
    t_end = math.inf if stop_at is None else time.monotonic() + stop_at
    value, fixable, cuts, stall = math.inf, False, 0, 0
    added = 0
    while time.monotonic() < t_end:
        # many new rows: the interior point (the master LPs are degenerate: the simplex took
        # 11.5 s, 17,894 iterations, on the random 5,000 x 1,000 at 800 m, the interior point
        # with crossover 1.6 s); a few rows added to an optimal basis: the dual simplex
        many = added > IPM_SHARE * int(master.in_master.sum())
        master.h.setOptionValue("solver", "ipm" if many else "simplex")
        out = master.run(None if stop_at is None else t_end - time.monotonic())
        fixable = out is not None and master.optimal()
        if not fixable or out is None:
            break
        master.rounds += 1
        y, z, v = out
        stall = stall + 1 if v >= value - 1e-7 * max(1.0, abs(value)) else 0
        value = min(value, v)
        rows = master.violated(y, z)
        if rows.size == 0 or stall >= STALL_ROUNDS:
            break
        added = master.add_cuts(rows)
        cuts += added
        fixable = False  # the solution no longer matches the rows
    info.update(benders_lp_rounds=master.rounds, benders_lp_cuts=cuts, benders_lp_bound=value)
    return value, fixable


def _fixings(
    master: _Master, lp_value: float, lower: float, delta: float, incumbent: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Reduced-cost fixing at the optimal LP master: sites closed / open in every solution
    better than ``lower`` (by ``delta``), never against ``incumbent``."""
    n = master.prob.n
    status = master.h.getBasis().col_status
    dual = np.abs(np.asarray(master.h.getSolution().col_dual, dtype=float)[:n])
    at = np.array([int(s) for s in status[:n]])
    need = lower + delta - 1e-9 * max(1.0, abs(lower))
    drop = lp_value - dual < need
    fix0 = drop & (at == int(highspy.HighsBasisStatus.kLower)) & ~incumbent
    fix1 = drop & (at == int(highspy.HighsBasisStatus.kUpper)) & incumbent
    return fix0, fix1


def _start_values(prob: _Mclp, y: np.ndarray) -> list[float]:
    return list(np.r_[y.astype(float), (prob.count(y) > 0).astype(float)])


@dataclass
class _MipOutcome:
    found: list[np.ndarray] = field(default_factory=list)
    bound: float = math.inf
    proven: bool = False
    rounds: int = 0
    cuts: int = 0


def _integer_phase(
    master: _Master,
    incumbent: np.ndarray,
    time_limit: float | None,
    options: SolveOptions,
    proven: threading.Event,
) -> _MipOutcome:
    """The master MIP, re-solved with the violated cuts of its solution until it is priced
    right or the time is up."""
    out = _MipOutcome()
    prob, h = master.prob, master.h
    n = prob.n
    t_end = math.inf if time_limit is None else time.monotonic() + time_limit
    h.setOptionValue("solver", "choose")
    h.changeColsIntegrality(n, np.arange(n, dtype=np.int32), np.ones(n, dtype=np.uint8))
    h.setOptionValue("mip_rel_gap", float(options.mip_gap))
    h.setOptionValue("random_seed", int(options.seed))
    if options.threads is not None:
        h.setOptionValue("threads", int(options.threads))
    best = incumbent
    best_value = prob.value(incumbent)
    while t_end - time.monotonic() > 0.1:
        start = highspy.HighsSolution()
        start.col_value = _start_values(prob, best)
        start.value_valid = True
        h.setSolution(start)
        res = master.run(None if time_limit is None else t_end - time.monotonic(), mip=True)
        out.rounds += 1
        mip_bound = float(h.getInfo().mip_dual_bound)
        if math.isfinite(mip_bound):
            out.bound = min(out.bound, mip_bound)
        if res is None:
            break
        y = res[0] > 0.5
        out.found.append(y)
        value = prob.value(y)
        if value > best_value:
            best, best_value = y, value
        if not master.optimal():
            break  # stopped by its limit
        rows = master.violated(y.astype(float), res[1])
        if rows.size == 0:  # priced right: the master's optimum is the model's
            out.bound = min(out.bound, res[2])
            out.proven = True
            proven.set()
            break
        out.cuts += master.add_cuts(rows)
    return out


def solve_mclp_benders(
    data: MclpData,
    *,
    backend: Backend | None = None,
    options: SolveOptions | None = None,
) -> CoverRun:
    """Maximal covering by Benders branch-and-cut (see the module docstring).

    Parameters
    ----------
    data : MclpData
    backend : Backend, optional
        Solves the small MIPs of the neighbourhood search under a budget (none: swap search
        only, which keeps the budget too). The master always runs on HiGHS.
    options : SolveOptions
    """
    options = options or SolveOptions()
    dl = Deadline(options.time_limit_s)
    t0 = time.perf_counter()
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
    name = "highs-benders+" + mclp_search_name(red.budget, backend)
    if _over_budget(red.cost, red.fill_from, data.cost, red.p, red.budget, data.p_exact):
        return _infeasible(name, "no selection of the required count fits the budget", red.seconds)
    prob = _Mclp.of(red.coverage, red.weight, red.cost, red.p, red.p_exact, red.budget)
    info: dict[str, object] = {
        "reductions": red.summary(),
        "reduced_rows": red.n_rows,
        "reduced_sites": red.n_sites,
    }
    y, hinfo = mclp_heuristic(
        prob, None if dl.limit_s is None else time.perf_counter() + (dl.remaining(0.2) or 0.0)
    )
    info.update(hinfo)
    value = prob.value(y)
    total = float(prob.weight.sum())
    integral = _is_integral(prob.weight)
    bound = total
    build_s = time.perf_counter() - t0
    note = "heuristic"
    if prob.m > 0 and prob.n > 0 and value < total:
        master = _Master(prob)
        lp_value, fixable = _lp_rounds(master, dl, info)
        if math.isfinite(lp_value):
            bound = min(bound, math.floor(lp_value + 1e-6) if integral else lp_value)
        note = f"LP master, {master.rounds} rounds, {int(master.in_master.sum())} cuts"
        if bound > value and fixable:
            fix0, fix1 = _fixings(master, lp_value, value, 1.0 if integral else 0.0, y)
            if fix0.any() or fix1.any():
                idx = np.flatnonzero(fix0 | fix1).astype(np.int32)
                v = fix1[idx].astype(float)
                master.h.changeColsBounds(idx.size, idx, v, v)
            info.update(benders_fixed_closed=int(fix0.sum()), benders_fixed_open=int(fix1.sum()))
        left = dl.remaining()
        if bound > value and (left is None or left >= 0.3):
            y, value, mip = _side_by_side(master, prob, y, dl, options, backend, bound, info)
            if math.isfinite(mip.bound):
                bound = min(bound, math.floor(mip.bound + 1e-6) if integral else mip.bound)
            info.update(
                benders_mip_rounds=mip.rounds,
                benders_mip_cuts=mip.cuts,
                benders_mip_bound=mip.bound,
                benders_mip_proven=mip.proven,
            )
            note += f"; master MIP {'proven' if mip.proven else 'stopped'}"
    return mclp_answer(data, red, y, bound, name, note, info, options, build_s, t0)


def _side_by_side(
    master: _Master,
    prob: _Mclp,
    y: np.ndarray,
    dl: Deadline,
    options: SolveOptions,
    backend: Backend | None,
    bound: float,
    info: dict[str, object],
) -> tuple[np.ndarray, float, _MipOutcome]:
    """The integer phase in a worker thread (HiGHS releases the interpreter lock) beside the
    search in this one; the best solution of both, and the MIP's outcome."""
    proven = threading.Event()
    left = dl.remaining()
    found: list[np.ndarray] = []
    if left is None:  # no limit: the MIP alone, to optimality
        mip = _integer_phase(master, y, None, options, proven)
    else:
        # the MIP in the background, the search here
        progress = SolveProgress()
        report_progress(master.h, progress)
        job = Background(
            lambda: _integer_phase(master, y, (1.0 - MIP_RESERVE) * left, options, proven)
        )
        search_s = max(0.0, (dl.remaining() or 0.0) - ASSEMBLY_S)
        if search_s >= 0.3:
            found.append(
                mclp_search(
                    prob,
                    y,
                    backend,
                    time_limit_s=search_s,
                    seed=options.seed,
                    upper=bound,
                    stop=proven.is_set,
                    info=info,
                )
            )
        # a MIP still running past the deadline is left behind: no solutions, the last bound
        # it reported
        mip = job.result((dl.remaining() or 0.0) + ABANDON_GRACE_S) or _MipOutcome(
            bound=progress.bound if math.isfinite(progress.bound) else math.inf
        )
    value = prob.value(y)
    for cand in [*found, *mip.found]:
        v = prob.value(cand)
        if _mclp_feasible(prob, cand) and v > value + 1e-9 * max(1.0, value):
            y, value = cand, v
    return y, value, mip
