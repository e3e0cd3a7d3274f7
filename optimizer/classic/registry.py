"""Classic location models on plain arrays or generic tables: solve one, check it, report it.

With :func:`solve_classic` and :func:`from_tables` from here and
:class:`~optimizer.models.pmedian.model.PMedianData`::

    data = PMedianData.from_arrays(dist, p=5)                 # arrays ...
    res = solve_classic("pmedian", data, backend="highs")     # the default method for its size
    res.status, res.objective, res.bound, res.gap, res.selected, res.assignment
    res = solve_classic("pmedian", data, method="mip")        # the plain MIP

    tables = from_tables("mclp", demand_df, sites_df, od_df, weight="pop", radius=300, p=4)
    res = solve_classic("mclp", tables.data)                 # ... or tables

Models and methods
------------------
A model (*family*) is solved by one of its *methods*; without ``method`` the strongest this
project has for the model runs (the default column). Every ``family-method`` name (e.g.
``lscp-warm``, ``pmedian-exact``, ``pcenter-mip``) is accepted as a model name too, so bench
configurations and recorded results that name a method keep working. The method that ran is
recorded in ``result.extra["method"]`` and :attr:`ClassicResult.method`.

=========== ===================================== ========= ===============================
family      problem                               default   methods
=========== ===================================== ========= ===============================
``lscp``    location set covering                 warm      mip, heuristic, warm, cft
``mclp``    maximal covering                      warm      mip, heuristic, warm, benders
``pmedian`` p-median (uncapacitated)              exact     mip, heuristic, warm, exact, benders
``cpmedian`` capacitated p-median, single sourcing exact     mip, exact
``pcenter`` p-center                              exact     mip, exact
``backup``  backup (double) coverage, BACOP1      mip       mip
=========== ===================================== ========= ===============================

* ``mip``: the model's MIP (:mod:`optimizer.models.covering.lscp`, ``.mclp``, ``.backup``,
  :mod:`optimizer.models.pmedian.model`, :mod:`optimizer.models.pcenter`) on the backend.
* ``heuristic``: no MIP. LSCP / MCLP: exact reductions, the Lagrangian heuristic or greedy +
  swaps, a Lagrangian / LP bound (:mod:`optimizer.models.covering.solve`); p-median: greedy +
  swap local search + Lagrangian bound (:mod:`optimizer.models.pmedian.lagrangian`). FEASIBLE
  with a certified gap, OPTIMAL only when the bound closes it.
* ``cft`` (LSCP): ``heuristic`` with the Caprara–Fischetti–Toth Lagrangian (core problem
  priced on the full matrix, refinement; :mod:`optimizer.models.covering.cft`), no MIP.
* ``warm``: the heuristic, then the MIP warm-started from it (LSCP / MCLP: beside a
  row-weighting local search, a swap search or a large-neighbourhood search); the bound is the
  better of the two.
* ``exact`` (capacitated p-median): Lagrangian bound with knapsack subproblems, GAP
  heuristic with locate–allocate, reduced-cost fixing and Lagrangian branch-and-bound on the
  sites (:mod:`optimizer.models.pmedian.capacitated`).
* ``exact``: p-median: Lagrangian bound, reduced-cost fixing, window sub-MIPs and Lagrangian
  branch-and-bound (:mod:`optimizer.models.pmedian.solve`); p-center: binary search over
  covering problems (:func:`optimizer.models.pcenter.solve_search`).
* ``benders``: MCLP: Benders branch-and-cut on the site variables, coverage cuts per demand
  point (Cordeau, Furini & Ljubić 2019; :mod:`optimizer.models.covering.benders`); p-median:
  Benders cuts on the radius formulation (García, Labbé & Marín 2011; Duran-Mateluna, Ales &
  Elloumi 2023; :mod:`optimizer.models.pmedian.benders`). Both keep the master on HiGHS.

Every solution is checked by :mod:`optimizer.classic.verify` (feasibility and objective
recomputed from the input arrays) before it is returned; a failed check raises
:class:`~optimizer.errors.VerificationError`.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import partial

import numpy as np
import pandas as pd
import scipy.sparse as sp

from optimizer.backends import (
    Backend,
    Result,
    SolveOptions,
    Status,
    StopReason,
    get_backend,
    mip_root_fits,
)
from optimizer.classic.verify import (
    verify_backup,
    verify_lscp,
    verify_mclp,
    verify_pcenter,
    verify_pmedian,
)
from optimizer.deadline import Deadline
from optimizer.errors import ProblemCollector
from optimizer.milp import MILP
from optimizer.models import pcenter
from optimizer.models.common import Pairs, nearest_open
from optimizer.models.covering import backup, lscp, mclp
from optimizer.models.covering import solve as cover_solver
from optimizer.models.covering.benders import solve_mclp_benders
from optimizer.models.covering.lscp import LscpData
from optimizer.models.pmedian import heuristics as pmedian_heuristics
from optimizer.models.pmedian import lagrangian as pmedian_lagrangian
from optimizer.models.pmedian import model as pmedian
from optimizer.models.pmedian.benders import solve_pmedian_benders
from optimizer.models.pmedian.capacitated import solve_cpmedian
from optimizer.models.pmedian.solve import solve_pmedian
from optimizer.verify_report import VerifyReport

log = logging.getLogger(__name__)

WARM_PMEDIAN_LAGRANGIAN_SHARE = 0.25
"""``pmedian-warm``: the share of the time limit the Lagrangian heuristic gets before the MIP."""

__all__ = [
    "DEFAULT_METHOD",
    "METHODS",
    "MODELS",
    "PMEDIAN_BENDERS_FROM_POINTS",
    "ClassicModel",
    "ClassicResult",
    "ClassicTables",
    "LscpData",
    "default_method",
    "from_tables",
    "model_names",
    "resolve_model",
    "result_tables",
    "solve_classic",
]

ModelData = LscpData | mclp.MclpData | backup.BackupData | pmedian.PMedianData | pcenter.PCenterData
"""The data classes the classic models take."""

Solution = (
    lscp.LscpSolution
    | mclp.MclpSolution
    | backup.BackupSolution
    | pmedian.PMedianSolution
    | pcenter.PCenterSolution
)
"""The models' own solution objects."""


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class ClassicResult:
    """A solved and verified classic model.

    Attributes
    ----------
    model : str
        The model family (``lscp``, ``mclp``, ``pmedian``, ...).
    method : str
        The method that ran (``mip``, ``heuristic``, ``warm``, ``exact``).
    result : Result
        The solver's normalised answer (``build_s``: building the model, including the
        backend's own model loading where it reports it; ``solve_s``: the solve;
        ``extra["method"]``: the method).
    objective : float
        The objective of the returned solution, recomputed from the input arrays (equal to the
        solver's objective up to tolerance, or better where the solution was improved after the
        solve: uncapacitated p-median / p-center reassign each point to its nearest open site).
    selected : ndarray of int
        Indices of the opened sites.
    assignment : ndarray of int or None
        The site serving each demand point (``-1``: none). Covering models: the lowest-index
        selected site that covers the point.
    cover_count : ndarray of int or None
        Covering models: how many selected sites cover each point.
    report : VerifyReport
        The independent check (empty when there is no solution).
    solution : the model's solution object, or None
    milp : MILP or None
        The model solved (the last covering problem for the p-center search).
    method_choice : str
        Why ``method`` ran: ``named`` by the caller, or the default (with the size rule that
        picked it, see :func:`default_method`).
    """

    model: str
    method: str
    result: Result
    objective: float
    selected: np.ndarray
    assignment: np.ndarray | None
    cover_count: np.ndarray | None
    report: VerifyReport
    solution: Solution | None = None
    milp: MILP | None = None
    method_choice: str = "named"

    @property
    def name(self) -> str:
        """``family-method``, e.g. ``lscp-warm``."""
        return f"{self.model}-{self.method}"

    @property
    def status(self) -> Status:
        return self.result.status

    @property
    def bound(self) -> float:
        return self.result.bound

    @property
    def gap(self) -> float:
        """The gap of the recomputed objective against the bound (:attr:`Result.gap`)."""
        return self.result.replace(objective=self.objective).gap

    @property
    def build_s(self) -> float:
        return self.result.build_s

    @property
    def solve_s(self) -> float:
        return self.result.solve_s

    def as_dict(self) -> dict[str, object]:
        """The headline numbers, JSON-ready (site indices, not ids)."""
        return {
            "model": self.model,
            "method": self.method,
            "solver": self.result.solver,
            "status": self.status.value,
            "objective": self.objective,
            "bound": self.bound,
            "gap": self.gap,
            "stop": self.result.stop_text,
            "build_s": round(self.build_s, 4),
            "solve_s": round(self.solve_s, 4),
            "nodes": self.result.nodes,
            "message": self.result.message,
            "selected": self.selected.tolist(),
        }


@dataclass(frozen=True)
class _Run:
    """What a runner hands back: the answer, and the solution arrays it decoded."""

    result: Result
    milp: MILP | None
    selected: np.ndarray | None  # bool mask
    assignment: np.ndarray | None = None
    cover_count: np.ndarray | None = None
    solution: Solution | None = None


Runner = Callable[[ModelData, Backend, SolveOptions], _Run]
Check = Callable[[ModelData, _Run], VerifyReport]


@dataclass(frozen=True)
class ClassicModel:
    """One entry of the model registry: a family solved by one method."""

    family: str
    method: str
    description: str
    data_type: type
    run: Runner
    check: Check
    sense: str = "min"
    accepts: Callable[[ModelData], str | None] | None = None

    @property
    def name(self) -> str:
        return f"{self.family}-{self.method}"


def _timed_solve(
    build: Callable[[], MILP],
    backend: Backend,
    options: SolveOptions,
    deadline: Deadline | None = None,
) -> tuple[MILP, Result]:
    """Build a MIP and solve it; the build draws on the same ``deadline`` (default:
    ``options.time_limit_s`` from now) as the solve, which gets what is left of it."""
    deadline = deadline if deadline is not None else Deadline(options.time_limit_s)
    t0 = time.perf_counter()
    milp = build()
    build_s = time.perf_counter() - t0
    result = backend.solve(milp, replace(options, time_limit_s=deadline.remaining()))
    # backends report their own loading time, if any
    return milp, result.replace(build_s=build_s + result.build_s)


def _integral(backend: Backend) -> bool:
    """Solvers without LP support (CP-SAT) need every variable integer."""
    return "lp" not in type(backend).capabilities


def _first_cover(coverage: sp.spmatrix, selected: np.ndarray) -> np.ndarray:
    coo = sp.coo_matrix(coverage)
    pairs = Pairs.from_coo(coo.row, coo.col, np.zeros(coo.nnz), coo.shape)
    return nearest_open(pairs, selected)


def _count(coverage: sp.spmatrix, selected: np.ndarray) -> np.ndarray:
    return np.asarray(sp.csr_matrix(coverage) @ selected.astype(np.int64)).ravel()


def _covering_run(
    result: Result, milp: MILP | None, coverage: sp.spmatrix, selected: np.ndarray | None
) -> _Run:
    """The run of a covering model: first covering site and cover count of every point."""
    if selected is None:
        return _Run(result, milp, None)
    return _Run(
        result, milp, selected, _first_cover(coverage, selected), _count(coverage, selected)
    )


def _mip_run(
    data: ModelData,
    backend: Backend,
    options: SolveOptions,
    build: Callable[[], MILP],
    decode: Callable[[MILP, np.ndarray], Solution],
) -> _Run:
    """Build and solve a model's MIP, decode its solution: covering models report the first
    covering site and the cover count of every point, the others their assignment."""
    milp, result = _timed_solve(build, backend, options)
    if not result.status.has_solution or result.x is None:
        return _Run(result, milp, None)
    sol = decode(milp, result.x)
    if isinstance(sol, pmedian.PMedianSolution | pcenter.PCenterSolution):
        return _Run(result, milp, sol.selected, sol.assignment, None, sol)
    if isinstance(data, LscpData):
        coverage = data.reach
    else:
        assert isinstance(data, mclp.MclpData | backup.BackupData)
        coverage = data.coverage
    return replace(_covering_run(result, milp, coverage, sol.selected), solution=sol)


# -- runners: the MIPs


def _run_lscp_mip(data: ModelData, backend: Backend, options: SolveOptions) -> _Run:
    assert isinstance(data, LscpData)
    return _mip_run(
        data, backend, options, lambda: lscp.build_model(data), partial(lscp.decode, data)
    )


def _run_mclp_mip(data: ModelData, backend: Backend, options: SolveOptions) -> _Run:
    assert isinstance(data, mclp.MclpData)
    build = partial(mclp.build_model, data, integral=_integral(backend))
    return _mip_run(data, backend, options, build, partial(mclp.decode, data))


def _run_backup_mip(data: ModelData, backend: Backend, options: SolveOptions) -> _Run:
    assert isinstance(data, backup.BackupData)
    build = partial(backup.build_model, data, integral=_integral(backend))
    return _mip_run(data, backend, options, build, partial(backup.decode, data))


def _run_pmedian_mip(model_name: str) -> Runner:
    def run(data: ModelData, backend: Backend, options: SolveOptions) -> _Run:
        assert isinstance(data, pmedian.PMedianData)
        build = partial(pmedian.build_model, data, _integral(backend), model_name)
        return _mip_run(data, backend, options, build, partial(pmedian.decode, data))

    return run


def _run_pcenter_mip(data: ModelData, backend: Backend, options: SolveOptions) -> _Run:
    assert isinstance(data, pcenter.PCenterData)
    build = partial(pcenter.build_model, data, _integral(backend), "pcenter-mip")
    return _mip_run(data, backend, options, build, partial(pcenter.decode, data))


# -- runners: beyond one MIP


def _run_pcenter_search(data: ModelData, backend: Backend, options: SolveOptions) -> _Run:
    assert isinstance(data, pcenter.PCenterData)
    out = pcenter.solve_search(data, backend, options)
    if out.solution is None:
        return _Run(out.result, None, None)
    sol = out.solution
    return _Run(out.result, None, sol.selected, sol.assignment, None, sol)


def _run_pmedian_exact(data: ModelData, backend: Backend, options: SolveOptions) -> _Run:
    """Heuristic, Lagrangian bound, reduced-cost fixing, window search and Lagrangian
    branch-and-bound (:mod:`optimizer.models.pmedian.solve`); OPTIMAL only when the bound closes
    the gap (within ``mip_gap``)."""
    assert isinstance(data, pmedian.PMedianData)
    run = solve_pmedian(data, backend, options)
    extra: dict[str, object] = {
        **run.result.extra,
        **{k: v for k, v in run.phases.items() if not isinstance(v, np.ndarray)},
        "proven_by": run.proven_by,
    }
    note = f"certified gap {run.result.gap:.3g}" + (
        f"; proven by {run.proven_by}" if run.proven_by else ""
    )
    result = run.result.replace(
        solver=f"lagrangian+{backend.name}", message=note, extra=extra, x=None
    )
    if not result.status.has_solution:
        return _Run(result, None, None)
    sol = pmedian.PMedianSolution(run.selected, run.assignment, result.objective)
    return _Run(result, None, run.selected, run.assignment, None, sol)


def _run_pmedian_benders(data: ModelData, backend: Backend, options: SolveOptions) -> _Run:
    """Benders decomposition of the radius formulation on HiGHS
    (:mod:`optimizer.models.pmedian.benders`; the master always runs on HiGHS, ``backend`` is
    not used); OPTIMAL only when the bound closes the gap (within ``mip_gap``)."""
    assert isinstance(data, pmedian.PMedianData)
    run = solve_pmedian_benders(data, options)
    extra: dict[str, object] = {**run.result.extra, **run.phases, "proven_by": run.proven_by}
    note = f"certified gap {run.result.gap:.3g}" + (
        f"; proven by {run.proven_by}" if run.proven_by else ""
    )
    result = run.result.replace(message=note, extra=extra, x=None)
    if not result.status.has_solution:
        return _Run(result, None, None)
    sol = pmedian.PMedianSolution(run.selected, run.assignment, result.objective)
    return _Run(result, None, run.selected, run.assignment, None, sol)


def _run_cpmedian_exact(data: ModelData, backend: Backend, options: SolveOptions) -> _Run:
    """Capacitated p-median: Lagrangian bound, GAP heuristic, reduced-cost fixing and
    Lagrangian branch-and-bound (:mod:`optimizer.models.pmedian.capacitated`); OPTIMAL only
    when the bound closes the gap (within ``mip_gap``)."""
    assert isinstance(data, pmedian.PMedianData)
    run = solve_cpmedian(data, backend, options)
    result = run.result.replace(solver=f"lagrangian+{backend.name}")
    if run.selected is None or run.assignment is None:
        return _Run(result, None, None)
    sol = pmedian.PMedianSolution(run.selected, run.assignment, result.objective)
    return _Run(result, None, run.selected, run.assignment, None, sol)


def _run_pmedian_lagrangian(warm: bool) -> Runner:
    """Greedy + swap local search + Lagrangian bound
    (:mod:`optimizer.models.pmedian.lagrangian`); alone (``heuristic``: FEASIBLE, or OPTIMAL
    only when the bound closes the gap) or as the warm start of the MIP (``warm``; the
    reported bound is the better of the two; the MIP is skipped when the Lagrangian bound
    already proves the heuristic's solution optimal, and not built when the backend could not
    set it up in its share of the time: the heuristic then gets all of it)."""

    def run(data: ModelData, backend: Backend, options: SolveOptions) -> _Run:
        assert isinstance(data, pmedian.PMedianData)
        deadline = Deadline(options.time_limit_s)
        mip_time = deadline.remaining(1.0 - WARM_PMEDIAN_LAGRANGIAN_SHARE)
        columns = pmedian.column_count(data)
        # a MIP the backend could not set up, or whose root would not end, in its share: the
        # heuristic gets all the time (a dense city's MIP ran 2.1 s past a 20 s limit)
        mip = (
            warm
            and backend.starts_in_time(columns, mip_time)
            and mip_root_fits(pmedian.nonzero_count(data), mip_time)
        )
        share = deadline.remaining(WARM_PMEDIAN_LAGRANGIAN_SHARE if mip else 1.0)
        lag = pmedian_lagrangian.solve_lagrangian(data, time_limit_s=share, seed=options.seed)
        info: dict[str, object] = {
            "heuristic_objective": lag.heuristic_objective,
            "lagrangian_upper": lag.result.objective,
            "lagrangian_bound": lag.result.bound,
            "lagrangian_iterations": lag.iterations,
            "lagrangian_s": lag.result.solve_s,
        }
        proven = lag.result.proven_optimal
        note = f"certified gap {lag.result.gap:.3g}"
        if warm and proven:
            note += "; proven optimal by the Lagrangian bound, MIP skipped"
        elif warm and not mip:
            note += f"; MIP not started ({columns:,} columns: too many for the time limit)"
        heur = lag.result.replace(
            solver="heuristic+lagrangian",
            build_s=0.0,
            message=note,
            extra={**lag.result.extra, **info},
        )
        if not mip or proven:  # a MIP adds nothing once the Lagrangian bound closes the gap
            if not heur.status.has_solution:
                return _Run(heur, None, None)
            assignment = pmedian_heuristics.assign_nearest(data, lag.selected)
            sol = pmedian.PMedianSolution(
                lag.selected, assignment, pmedian.solution_cost(data, assignment)
            )
            return _Run(heur, None, lag.selected, assignment, None, sol)
        return _warm_pmedian_mip(data, backend, options, lag, info, deadline)

    return run


def _warm_pmedian_mip(
    data: pmedian.PMedianData,
    backend: Backend,
    options: SolveOptions,
    lag: pmedian_lagrangian.LagrangianResult,
    info: dict[str, object],
    deadline: Deadline,
) -> _Run:
    """The p-median MIP warm-started from the Lagrangian heuristic's solution; the bound is
    the better of the MIP's and the Lagrangian one. The build and the solve get what is
    left of the run's ``deadline``."""
    milp = pmedian.build_model(data, integral=_integral(backend), name="pmedian-warm")
    x0 = None
    if lag.result.status.has_solution:
        x0 = pmedian_heuristics.warm_start_vector(data, milp, lag.selected)
    milp, result = _timed_solve(lambda: milp, backend, replace(options, warm_start=x0), deadline)
    result = result.replace(extra={**result.extra, **info})
    lag_obj, lag_bound = lag.result.objective, lag.result.bound
    if not result.status.has_solution or result.x is None:
        if x0 is None:
            return _Run(result, milp, None)
        result = result.replace(status=Status.FEASIBLE, objective=lag_obj, x=x0)
    if math.isfinite(lag_bound) and not (result.bound >= lag_bound):
        result = result.replace(bound=lag_bound)  # the Lagrangian bound holds for the MIP
    assert result.x is not None
    sol = pmedian.decode(data, milp, result.x)
    if x0 is not None and lag_obj < sol.objective - 1e-9 * max(1.0, lag_obj):
        # the solver ignored or lost the warm start: keep the heuristic's solution
        result = result.replace(objective=lag_obj, x=x0)
        sol = pmedian.decode(data, milp, x0)
    if result.status is Status.FEASIBLE and result.replace(objective=sol.objective).gap == 0.0:
        result = result.replace(
            status=Status.OPTIMAL,
            stop=StopReason.OPTIMAL,
            message=(result.message + "; proven by the Lagrangian bound").lstrip("; "),
        )
    return _Run(result, milp, sol.selected, sol.assignment, None, sol)


def _run_lscp_fast(warm: bool, cft: bool | None = None) -> Runner:
    """LSCP beyond a plain MIP (:func:`optimizer.models.covering.solve.solve_lscp`): exact
    reductions, the Lagrangian heuristic with a certified bound (``cft``: the
    Caprara–Fischetti–Toth one, :mod:`optimizer.models.covering.cft`), and for ``warm`` the MIP
    warm-started from it beside the row-weighting local search."""

    def run(data: ModelData, backend: Backend, options: SolveOptions) -> _Run:
        assert isinstance(data, LscpData)
        out = cover_solver.solve_lscp(
            data.reach,
            data.cost,
            required=data.required,
            forbidden=data.forbidden,
            backend=backend if warm else None,
            options=options,
            cft=cft,
        )
        return _covering_run(out.result, None, data.reach, out.selected)

    return run


def _run_mclp_fast(warm: bool) -> Runner:
    """MCLP beyond a plain MIP (:func:`optimizer.models.covering.solve.solve_mclp`): exact
    reductions, greedy + swaps with a Lagrangian / LP bound, and for ``warm`` the MIP
    warm-started from them beside the swap search (count) or the neighbourhood search
    (budget)."""

    def run(data: ModelData, backend: Backend, options: SolveOptions) -> _Run:
        assert isinstance(data, mclp.MclpData)
        mip = backend if warm else None
        out = cover_solver.solve_mclp(data, backend=mip, options=options, lp_backend=backend)
        return _covering_run(out.result, None, data.coverage, out.selected)

    return run


def _run_mclp_benders(data: ModelData, backend: Backend, options: SolveOptions) -> _Run:
    """MCLP by Benders branch-and-cut (:mod:`optimizer.models.covering.benders`): reductions,
    greedy + swaps, LP cut rounds, reduced-cost fixing, the master MIP (HiGHS) beside the
    swap search; ``backend`` solves the neighbourhood MIPs under a budget."""
    assert isinstance(data, mclp.MclpData)
    out = solve_mclp_benders(data, backend=backend, options=options)
    return _covering_run(out.result, None, data.coverage, out.selected)


# -- checks (independent: optimizer.classic.verify)


def _check_lscp(data: ModelData, run: _Run) -> VerifyReport:
    assert isinstance(data, LscpData) and run.selected is not None
    return verify_lscp(
        data.reach,
        data.cost,
        run.selected,
        required=data.required,
        forbidden=data.forbidden,
        reported=run.result.objective,
        bound=run.result.bound,
    )


def _check_mclp(data: ModelData, run: _Run) -> VerifyReport:
    assert isinstance(data, mclp.MclpData) and run.selected is not None
    return verify_mclp(data, run.selected, reported=run.result.objective, bound=run.result.bound)


def _check_backup(data: ModelData, run: _Run) -> VerifyReport:
    assert isinstance(data, backup.BackupData) and run.selected is not None
    return verify_backup(data, run.selected, reported=run.result.objective, bound=run.result.bound)


def _check_pmedian(data: ModelData, run: _Run) -> VerifyReport:
    assert isinstance(data, pmedian.PMedianData)
    assert run.selected is not None and run.assignment is not None
    return verify_pmedian(
        data, run.selected, run.assignment, reported=run.result.objective, bound=run.result.bound
    )


def _check_pcenter(data: ModelData, run: _Run) -> VerifyReport:
    assert isinstance(data, pcenter.PCenterData)
    assert run.selected is not None and run.assignment is not None
    return verify_pcenter(
        data, run.selected, run.assignment, reported=run.result.objective, bound=run.result.bound
    )


def _needs_capacity(data: ModelData) -> str | None:
    assert isinstance(data, pmedian.PMedianData)
    return None if data.capacitated else "cpmedian needs site capacities"


def _no_capacity(data: ModelData) -> str | None:
    assert isinstance(data, pmedian.PMedianData)
    return "use the cpmedian model for capacitated data" if data.capacitated else None


PMD = pmedian.PMedianData
_ENTRIES = (
    ClassicModel(
        "lscp", "mip", "location set covering: the MIP", LscpData, _run_lscp_mip, _check_lscp
    ),
    ClassicModel(
        "lscp",
        "heuristic",
        "location set covering: reductions + Lagrangian heuristic and bound (no MIP)",
        LscpData,
        _run_lscp_fast(warm=False),
        _check_lscp,
    ),
    ClassicModel(
        "lscp",
        "warm",
        "location set covering: reductions, Lagrangian, warm-started MIP + local search",
        LscpData,
        _run_lscp_fast(warm=True),
        _check_lscp,
    ),
    ClassicModel(
        "lscp",
        "cft",
        "location set covering: reductions + CFT Lagrangian (core problem, refinement; no MIP)",
        LscpData,
        _run_lscp_fast(warm=False, cft=True),
        _check_lscp,
    ),
    ClassicModel(
        "mclp", "mip", "maximal covering: the MIP", mclp.MclpData, _run_mclp_mip, _check_mclp, "max"
    ),
    ClassicModel(
        "mclp",
        "heuristic",
        "maximal covering: reductions, greedy + swaps, Lagrangian / LP bound (no MIP)",
        mclp.MclpData,
        _run_mclp_fast(warm=False),
        _check_mclp,
        "max",
    ),
    ClassicModel(
        "mclp",
        "warm",
        "maximal covering: reductions, greedy + swaps, warm-started MIP + swap search / LNS",
        mclp.MclpData,
        _run_mclp_fast(warm=True),
        _check_mclp,
        "max",
    ),
    ClassicModel(
        "mclp",
        "benders",
        "maximal covering: Benders branch-and-cut (LP cut rounds, fixing, master MIP + swaps)",
        mclp.MclpData,
        _run_mclp_benders,
        _check_mclp,
        "max",
    ),
    ClassicModel(
        "pmedian",
        "mip",
        "p-median (uncapacitated): the MIP",
        PMD,
        _run_pmedian_mip("pmedian"),
        _check_pmedian,
        accepts=_no_capacity,
    ),
    ClassicModel(
        "pmedian",
        "heuristic",
        "p-median: greedy + swaps + Lagrangian bound (no MIP)",
        PMD,
        _run_pmedian_lagrangian(warm=False),
        _check_pmedian,
        accepts=_no_capacity,
    ),
    ClassicModel(
        "pmedian",
        "warm",
        "p-median: MIP warm-started by the heuristic, Lagrangian bound",
        PMD,
        _run_pmedian_lagrangian(warm=True),
        _check_pmedian,
        accepts=_no_capacity,
    ),
    ClassicModel(
        "pmedian",
        "exact",
        "p-median: Lagrangian bound, reduced-cost fixing, window search, Lagrangian B&B",
        PMD,
        _run_pmedian_exact,
        _check_pmedian,
        accepts=_no_capacity,
    ),
    ClassicModel(
        "pmedian",
        "benders",
        "p-median: Benders on the radius formulation (LP cut rounds, fixing, iterative MIP)",
        PMD,
        _run_pmedian_benders,
        _check_pmedian,
        accepts=_no_capacity,
    ),
    ClassicModel(
        "cpmedian",
        "mip",
        "capacitated p-median (single sourcing): the MIP",
        PMD,
        _run_pmedian_mip("cpmedian"),
        _check_pmedian,
        accepts=_needs_capacity,
    ),
    ClassicModel(
        "cpmedian",
        "exact",
        "capacitated p-median: Lagrangian bound, GAP heuristic, fixing, Lagrangian B&B",
        PMD,
        _run_cpmedian_exact,
        _check_pmedian,
        accepts=_needs_capacity,
    ),
    ClassicModel(
        "pcenter",
        "exact",
        "p-center: binary search over covering problems",
        pcenter.PCenterData,
        _run_pcenter_search,
        _check_pcenter,
    ),
    ClassicModel(
        "pcenter",
        "mip",
        "p-center: the standard MIP",
        pcenter.PCenterData,
        _run_pcenter_mip,
        _check_pcenter,
    ),
    ClassicModel(
        "backup",
        "mip",
        "backup coverage (BACOP1): the MIP",
        backup.BackupData,
        _run_backup_mip,
        _check_backup,
        "max",
    ),
)

MODELS: dict[str, ClassicModel] = {m.name: m for m in _ENTRIES}
"""Every ``family-method`` of the registry."""

DEFAULT_METHOD: dict[str, str] = {
    "lscp": "warm",
    "mclp": "warm",
    "pmedian": "exact",
    "cpmedian": "exact",
    "pcenter": "exact",
    "backup": "mip",
}
"""The strongest method of each family: what runs when no method is named (unless
:func:`default_method` picks another one for the instance's size)."""

PMEDIAN_BENDERS_FROM_POINTS = 1_000
"""Uncapacitated p-median instances with at least this many demand points run ``benders`` by
default, smaller ones ``exact``. Measured: ``exact`` proves all of OR-Library pmed1-40 (100-900
points; ``benchmarks/results/pmedian_exact.md``), but from about a thousand points its
Lagrangian bound converges too slowly for a minute: TSPLIB (1,304-2,103 points, 60 s) 14 of 15
runs within 0.1 % (11 proven) with ``benders`` against 7 with ``exact`` (``tsplib.md``),
clustered cities of 20,000 points 0.02-0.08 % against 0.08-36 % (``city_targets.md``)."""

METHODS = ("mip", "warm", "heuristic", "exact", "benders", "cft")
"""Every method name `siting solve --method` accepts (not every family has every method:
benders for pmedian and mclp, cft for lscp)."""


def model_names() -> list[str]:
    """Every name :func:`solve_classic` takes: the families, then every ``family-method``."""
    return [*DEFAULT_METHOD, *MODELS]


def default_method(family: str, data: ModelData | None = None) -> tuple[str, str]:
    """The method a family runs when none is named, and why (for the run's summary): the
    family's :data:`DEFAULT_METHOD`, or the one chosen for ``data``'s size."""
    if (
        family == "pmedian"
        and isinstance(data, pmedian.PMedianData)
        and data.n_demand >= PMEDIAN_BENDERS_FROM_POINTS
    ):
        return "benders", (
            f"default for {data.n_demand:,} demand points "
            f"(>= {PMEDIAN_BENDERS_FROM_POINTS:,}: benders, fewer: exact)"
        )
    if family == "pmedian":
        return DEFAULT_METHOD[family], (
            f"default for fewer than {PMEDIAN_BENDERS_FROM_POINTS:,} demand points"
        )
    return DEFAULT_METHOD[family], "default"


def resolve_model(
    model_name: str, method: str | None = None, data: ModelData | None = None
) -> ClassicModel:
    """The registry entry of a family (its default method for ``data``, see
    :func:`default_method`, or ``method``) or of a ``family-method`` name (``method``, when
    given, replaces the named one).

    Raises
    ------
    ValueError
        Unknown model, or a method the family does not have.
    """
    if model_name in DEFAULT_METHOD:
        family = model_name
    elif model_name in MODELS:
        family = MODELS[model_name].family
        method = method or MODELS[model_name].method
    else:
        raise ValueError(f"unknown model '{model_name}'; choose one of: {', '.join(model_names())}")
    key = f"{family}-{method or default_method(family, data)[0]}"
    if key not in MODELS:
        have = [m.method for m in MODELS.values() if m.family == family]
        raise ValueError(f"{family} has no method '{method}' (methods: {', '.join(have)})")
    return MODELS[key]


def solve_classic(
    model_name: str,
    data: ModelData,
    backend: str | Backend = "highs",
    options: SolveOptions | None = None,
    method: str | None = None,
) -> ClassicResult:
    """Solve one classic model and verify the answer against its input arrays.

    Parameters
    ----------
    model_name : str
        A family (``lscp``, ``mclp``, ``pmedian``, ``cpmedian``, ``pcenter``, ``backup``) or a
        ``family-method`` name of :data:`MODELS` (``lscp-warm``, ``pmedian-exact``, ...).
    data : the model's data class
        Built with its ``from_arrays`` (or :func:`from_tables`).
    backend : str or Backend
        Solver backend name (see :func:`optimizer.backends.available_backends`) or instance.
    options : SolveOptions, optional
        Time limit, gap, threads, seed.
    method : str, optional
        ``mip``, ``warm``, ``heuristic`` or ``exact``; default: the family's strongest
        (:data:`DEFAULT_METHOD`).

    Returns
    -------
    ClassicResult
        With an empty selection and ``nan`` objective when the solver found no solution
        (status INFEASIBLE, NO_SOLUTION, ...).

    Raises
    ------
    ValueError
        Unknown model or method, or data of the wrong kind.
    VerificationError
        If the solution fails the independent check.
    SolverNotAvailable
        If the backend is not installed.
    """
    spec = resolve_model(model_name, method, data)
    choice = _method_choice(model_name, method, data)
    if not isinstance(data, spec.data_type):
        raise ValueError(
            f"model '{model_name}' takes {spec.data_type.__name__}, got {type(data).__name__}"
        )
    refused = spec.accepts(data) if spec.accepts is not None else None
    if refused:
        raise ValueError(refused)
    solver = get_backend(backend) if isinstance(backend, str) else backend
    options = options or SolveOptions()
    run = spec.run(data, solver, options)
    res = run.result.replace(extra={**run.result.extra, "method": spec.method})
    log.info(
        "%s on %s: %s, objective %s, bound %s, build %.2f s, solve %.2f s",
        spec.name,
        res.solver,
        res.status.value,
        res.objective,
        res.bound,
        res.build_s,
        res.solve_s,
    )
    if run.selected is None:
        none = np.zeros(0, dtype=np.int64)
        return ClassicResult(
            spec.family,
            spec.method,
            res,
            math.nan,
            none,
            None,
            None,
            VerifyReport(),
            None,
            run.milp,
            choice,
        )
    report = spec.check(data, run)
    return ClassicResult(
        model=spec.family,
        method=spec.method,
        result=res,
        objective=report.recomputed_cost,
        selected=np.flatnonzero(run.selected),
        assignment=run.assignment,
        cover_count=run.cover_count,
        report=report,
        solution=run.solution,
        milp=run.milp,
        method_choice=choice,
    )


def _method_choice(model_name: str, method: str | None, data: ModelData) -> str:
    """Why the method that runs was chosen: named by the caller, or the family's default."""
    if method is not None or model_name in MODELS:
        return "named"
    return default_method(model_name, data)[1]


# --------------------------------------------------------------------------- tables


COVERAGE_FAMILIES = frozenset({"lscp", "mclp", "backup"})
"""Families whose sites cover the demand points within a radius."""
COUNT_FAMILIES = frozenset({"mclp", "pmedian", "cpmedian", "pcenter", "backup"})
"""Families that take a facility count ``p`` (MCLP: ``p``, a budget or both)."""
ASSIGN_FAMILIES = frozenset({"pmedian", "cpmedian", "pcenter"})
"""Families that assign every demand point to an open site."""


def _family(model_name: str) -> str | None:
    """The family of a model name, or None when it names none."""
    if model_name in DEFAULT_METHOD:
        return model_name
    spec = MODELS.get(model_name)
    return None if spec is None else spec.family


@dataclass(frozen=True)
class ClassicTables:
    """A classic problem read from generic tables: the model data and the ids behind it.

    ``pairs`` holds every pair of the distance table (before any radius or distance cap).
    """

    model: str
    data: ModelData
    demand_ids: np.ndarray
    site_ids: np.ndarray
    pairs: Pairs
    weight: np.ndarray
    cost: np.ndarray | None
    capacity: np.ndarray | None
    radius: float | None
    params: dict[str, object]

    @property
    def family(self) -> str:
        return _family(self.model) or self.model


def from_tables(
    model_name: str,
    demand: pd.DataFrame,
    sites: pd.DataFrame,
    distances: pd.DataFrame,
    *,
    weight: str | None = None,
    cost: str | None = None,
    capacity: str | None = None,
    radius: float | None = None,
    p: int | None = None,
    budget: float | None = None,
    p_exact: bool = True,
    max_distance: float | None = None,
    unserved_penalty: float | None = None,
    required: Sequence[object] | None = None,
    forbidden: Sequence[object] | None = None,
    labels: Mapping[str, str] | None = None,
) -> ClassicTables:
    """Build a classic model's arrays from a demand table, a site table and an OD table.

    Parameters
    ----------
    model_name : str
        A family or a ``family-method`` name (see :func:`resolve_model`); only the family
        matters here.
    demand : DataFrame
        ``demand_id`` and, if ``weight`` names one, a weight column (default weight 1).
    sites : DataFrame
        ``site_id`` and optionally the ``cost`` (default 1) and ``capacity`` columns.
    distances : DataFrame
        ``demand_id, site_id, distance``: the allowed pairs (a pair that is absent is out of
        reach; a site covers a demand point when ``distance <= radius``).
    weight, cost, capacity : str, optional
        Column names in ``demand`` / ``sites``.
    radius : float
        Service radius (lscp, mclp, backup).
    p : int
        Number of facilities (every model but lscp; mclp takes ``p``, ``budget`` or both).
    budget : float, optional
        MCLP budget on the sites' cost.
    p_exact : bool
        MCLP / backup: ``sum y = p`` (default) or ``<= p``.
    max_distance, unserved_penalty : float, optional
        p-median / p-center: keep only pairs within ``max_distance``; p-median: let a point
        stay unserved at ``weight * unserved_penalty``.
    required, forbidden : sequences of site ids, optional
        Sites that must be / cannot be opened.
    labels : mapping, optional
        Names of the three tables in messages (keys ``demand``, ``sites``, ``distances``),
        e.g. their file names.

    Raises
    ------
    InputError
        Every problem found, each naming the table, the column and the offending ids: missing
        or duplicate ids, unknown ids in the distance table, missing / non-numeric / negative
        values, duplicate pairs, missing model options, demand points nothing can serve.
    """
    lab = {"demand": "demand table", "sites": "sites table", "distances": "distance table"}
    lab.update(labels or {})
    problems = ProblemCollector()
    family = _family(model_name)
    if family is None:
        known = ", ".join(model_names())
        problems.add("model", None, f"unknown model '{model_name}' ({known})")
        problems.raise_if_any()
    assert family is not None
    demand_ids = _id_column(demand, "demand_id", lab["demand"], problems)
    site_ids = _id_column(sites, "site_id", lab["sites"], problems)
    w = _numeric_column(demand, weight, lab["demand"], demand_ids, problems, default=1.0)
    c = _numeric_column(sites, cost, lab["sites"], site_ids, problems, default=1.0)
    cap = _numeric_column(sites, capacity, lab["sites"], site_ids, problems, default=None)
    n_sites = None if site_ids is None else int(site_ids.size)
    _check_options(family, problems, capacity, radius, p, budget, cost, n_sites)
    req = _site_list(required, site_ids, "required", problems)
    forb = _site_list(forbidden, site_ids, "forbidden", problems)
    both = np.intersect1d(req, forb)
    if both.size and site_ids is not None:
        problems.add(
            "model options",
            "required, forbidden",
            "sites both required and forbidden",
            site_ids[both],
            field_kind="option",
        )
    if demand_ids is None or site_ids is None:
        problems.raise_if_any()
    assert demand_ids is not None and site_ids is not None
    pairs = _distance_pairs(distances, demand_ids, site_ids, lab["distances"], problems)
    problems.raise_if_any()
    assert pairs is not None and w is not None and c is not None

    # demand points that nothing can serve make the problem infeasible: say so now
    allowed = np.ones(site_ids.size, dtype=bool)
    allowed[forb] = False
    usable = pairs.subset(allowed[pairs.cols])
    if family in COVERAGE_FAMILIES - {"mclp"}:
        assert radius is not None
        lonely = usable.within(radius).demand_without_pair()
        what = f"demand points with no allowed site within the radius {radius:g}"
    elif family in ASSIGN_FAMILIES and unserved_penalty is None:
        capped = usable if max_distance is None else usable.within(max_distance)
        lonely = capped.demand_without_pair()
        what = "demand points with no allowed site in the distance table" + (
            "" if max_distance is None else f" within {max_distance:g}"
        )
    else:
        lonely = np.zeros(0, dtype=np.int64)
        what = ""
    if lonely.size:
        problems.add(lab["distances"], "demand_id", what, demand_ids[lonely])
    problems.raise_if_any()

    try:
        data = _make_data(
            family,
            pairs,
            w,
            c,
            cap,
            (radius, p, budget, p_exact, max_distance, unserved_penalty),
            req,
            forb,
            cost is not None,
        )
    except ValueError as exc:  # a combination of options the model cannot take (e.g. p < R)
        problems.add("model options", None, f"{model_name}: {exc}")
        problems.raise_if_any()
    params = {
        "radius": radius,
        "p": p,
        "budget": budget,
        "p_exact": p_exact,
        "max_distance": max_distance,
        "unserved_penalty": unserved_penalty,
        "weight": weight,
        "cost": cost,
        "capacity": capacity,
        "required": site_ids[req].tolist(),
        "forbidden": site_ids[forb].tolist(),
    }
    return ClassicTables(
        model_name, data, demand_ids, site_ids, pairs, w, c if cost else None, cap, radius, params
    )


def _make_data(
    family: str,
    pairs: Pairs,
    w: np.ndarray,
    c: np.ndarray,
    cap: np.ndarray | None,
    options: tuple[float | None, int | None, float | None, bool, float | None, float | None],
    req: np.ndarray,
    forb: np.ndarray,
    has_cost: bool,
) -> ModelData:
    radius, p, budget, p_exact, max_distance, unserved_penalty = options
    rules = {"required": req, "forbidden": forb}
    if family in COVERAGE_FAMILIES:
        assert radius is not None
        reach = pairs.within(radius).reach_matrix()
        if family == "lscp":
            return LscpData.from_arrays(reach, c, **rules)
        if family == "mclp":
            cost = c if has_cost else None
            return mclp.MclpData.from_arrays(
                reach, w, p, cost=cost, budget=budget, p_exact=p_exact, **rules
            )
        assert p is not None
        return backup.BackupData.from_arrays(reach, w, p, p_exact=p_exact, **rules)
    assert p is not None
    if family == "pcenter":
        return pcenter.PCenterData.from_arrays(pairs, p, w, max_distance=max_distance, **rules)
    return pmedian.PMedianData.from_arrays(
        pairs,
        p,
        w,
        capacity=cap if family == "cpmedian" else None,
        max_distance=max_distance,
        unserved_penalty=unserved_penalty,
        **rules,
    )


def _check_options(
    family: str,
    problems: ProblemCollector,
    capacity: str | None,
    radius: float | None,
    p: int | None,
    budget: float | None,
    cost: str | None,
    n_sites: int | None,
) -> None:
    def bad(option: str, message: str) -> None:
        problems.add("model options", option, f"{family}: {message}", field_kind="option")

    if family in COVERAGE_FAMILIES:
        if radius is None:
            bad("radius", "a service radius is required")
        elif not (math.isfinite(radius) and radius >= 0):
            bad("radius", "the radius must be a non-negative number")
    if family == "mclp" and p is None and budget is None:
        bad("p, budget", "give a facility count p, a budget, or both")
    elif family in COUNT_FAMILIES - {"mclp"} and p is None:
        bad("p", "the number of facilities p is required")
    if p is not None and (p != int(p) or p < 1 or (n_sites is not None and p > n_sites)):
        bad("p", f"p must be an integer between 1 and the number of sites ({n_sites})")
    if budget is not None and cost is None:
        bad("budget", "a budget needs a site cost column (--cost)")
    if family == "cpmedian" and capacity is None:
        bad("capacity", "the capacitated p-median needs a site capacity column (--capacity)")


def _id_column(
    df: pd.DataFrame, col: str, label: str, problems: ProblemCollector
) -> np.ndarray | None:
    if col not in df.columns:
        problems.add(label, col, "required column missing")
        return None
    raw = df[col]
    text = raw.astype("string").str.strip()
    missing = (raw.isna() | (text == "")).to_numpy(dtype=bool)
    ids = text.to_numpy(dtype=object)
    if missing.any():
        rows = np.flatnonzero(missing)
        problems.add(label, col, "missing id", [f"row {i + 2}" for i in rows])
        ids[rows] = [f"row {i + 2}" for i in rows]
    dup = pd.Series(ids).duplicated(keep=False).to_numpy() & ~missing
    if dup.any():
        problems.add(label, col, "duplicate ids", sorted(set(ids[dup])))
    return ids.astype(str)


def _numeric_column(
    df: pd.DataFrame,
    col: str | None,
    label: str,
    ids: np.ndarray | None,
    problems: ProblemCollector,
    default: float | None,
) -> np.ndarray | None:
    if col is None:
        return None if default is None else np.full(len(df), default)
    if col not in df.columns:
        problems.add(label, col, "column not found")
        return None
    raw = df[col]
    values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
    given = (raw.notna() & (raw.astype("string").str.strip() != "")).to_numpy(dtype=bool)
    names = ids if ids is not None else np.array([f"row {i + 2}" for i in range(len(df))])
    for mask, message in (
        (~given, "missing values"),
        (given & np.isnan(values), "not a number"),
        (np.isinf(values), "infinite values"),
        (values < 0, "negative values"),
    ):
        if mask.any():
            problems.add(label, col, message, names[mask])
    return values


def _site_list(
    wanted: Sequence[object] | None,
    site_ids: np.ndarray | None,
    what: str,
    problems: ProblemCollector,
) -> np.ndarray:
    if not wanted or site_ids is None:
        return np.zeros(0, dtype=np.int64)
    names = np.asarray([str(s).strip() for s in wanted], dtype=str)
    pos = _positions(site_ids, names)
    if (pos < 0).any():
        problems.add("model options", what, "unknown site ids", names[pos < 0], field_kind="option")
    return np.unique(pos[pos >= 0]).astype(np.int64)


def _positions(ids: np.ndarray, names: np.ndarray) -> np.ndarray:
    """Position of each name among ``ids`` (-1 when absent; the first of duplicated ids).

    Duplicate ids are reported as such by :func:`_id_column`; looking them up must not crash
    before that report is raised.
    """
    index = pd.Index(ids)
    keep = np.flatnonzero(~index.duplicated())
    found = index[keep].get_indexer(names)
    if keep.size == 0:
        return found  # no ids at all: every name is absent (-1)
    return np.where(found >= 0, keep[np.maximum(found, 0)], -1)


@dataclass(frozen=True)
class _IdCodes:
    """A distance-table id column as codes into its distinct values (stripped text).

    Only the distinct values are turned into text and looked up: a table of millions of
    pairs names a few thousand ids, and converting and matching text per row took seconds of
    the run's time limit.
    """

    codes: np.ndarray
    """Per row, the index of its value in :attr:`names` (-1: missing, reads "")."""
    names: np.ndarray
    """The distinct values as stripped text, then "" (what code -1 reads)."""

    @classmethod
    def of(cls, column: pd.Series) -> _IdCodes:
        codes, uniques = pd.factorize(column, use_na_sentinel=True)
        text = pd.Series(uniques).astype("string").str.strip().fillna("").to_numpy(dtype=str)
        return cls(codes, np.append(text, ""))

    def missing(self) -> np.ndarray:
        """Which rows have no id (missing or blank)."""
        return (self.names == "")[self.codes]

    def text(self, mask: np.ndarray) -> np.ndarray:
        """The ids of the rows in ``mask``."""
        return self.names[self.codes[mask]]

    def positions(self, ids: np.ndarray) -> np.ndarray:
        """Per row, the position of its id among ``ids`` (-1: absent or missing)."""
        found = _positions(ids, self.names)
        found[-1] = -1  # "" is never an id
        return found[self.codes]


def _given(column: pd.Series) -> np.ndarray:
    """Which cells of a value column hold something (not missing, not blank text)."""
    if pd.api.types.is_numeric_dtype(column):
        return column.notna().to_numpy(dtype=bool)  # numbers are never blank text
    return (column.notna() & (column.astype("string").str.strip() != "")).to_numpy(dtype=bool)


def _pair_names(d_ids: _IdCodes, s_ids: _IdCodes, mask: np.ndarray) -> np.ndarray:
    """``demand->site`` names of the pairs in ``mask`` (for messages only)."""
    return np.char.add(np.char.add(d_ids.text(mask), "->"), s_ids.text(mask))


def _duplicate_pairs(rows: np.ndarray, cols: np.ndarray, ok: np.ndarray, m: int) -> np.ndarray:
    """Which pairs among ``ok`` name the same (demand, site) as another one."""
    key = np.where(ok, rows * max(m, 1) + cols, -1 - np.arange(rows.size))
    return pd.Series(key).duplicated(keep=False).to_numpy() & ok


def _distance_pairs(
    df: pd.DataFrame,
    demand_ids: np.ndarray,
    site_ids: np.ndarray,
    label: str,
    problems: ProblemCollector,
) -> Pairs | None:
    missing_cols = [c for c in ("demand_id", "site_id", "distance") if c not in df.columns]
    if missing_cols:
        problems.add(label, ", ".join(missing_cols), "required column missing")
        return None
    d_ids, s_ids = _IdCodes.of(df["demand_id"]), _IdCodes.of(df["site_id"])
    d_missing, s_missing = d_ids.missing(), s_ids.missing()
    for col, miss in (("demand_id", d_missing), ("site_id", s_missing)):
        if miss.any():
            problems.add(label, col, "missing id", [f"row {i + 2}" for i in np.flatnonzero(miss)])
    rows = d_ids.positions(demand_ids)
    cols = s_ids.positions(site_ids)
    unknown_d = np.unique(d_ids.text((rows < 0) & ~d_missing))
    unknown_s = np.unique(s_ids.text((cols < 0) & ~s_missing))
    if unknown_d.size:
        problems.add(label, "demand_id", "unknown demand ids (not in the demand table)", unknown_d)
    if unknown_s.size:
        problems.add(label, "site_id", "unknown site ids (not in the sites table)", unknown_s)
    raw = df["distance"]
    dist = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
    given = _given(raw)
    for mask, message in (
        (~given, "missing distances"),
        (given & np.isnan(dist), "not a number"),
        (np.isinf(dist), "infinite distances"),
        (dist < 0, "negative distances"),
    ):
        if mask.any():
            problems.add(label, "distance", message, _pair_names(d_ids, s_ids, mask))
    ok = (rows >= 0) & (cols >= 0)
    dup = _duplicate_pairs(rows, cols, ok, site_ids.size)
    if dup.any():
        names = _pair_names(d_ids, s_ids, dup)
        problems.add(label, "demand_id, site_id", "duplicate pairs", sorted(set(names)))
    if problems:
        return None
    return Pairs.from_coo(rows, cols, dist, (demand_ids.size, site_ids.size))


def result_tables(tables: ClassicTables, res: ClassicResult) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``selected`` (one row per opened site) and ``assignment`` (one row per demand point).

    Covering models assign each point to its nearest selected site within the radius.
    """
    n_sites = tables.site_ids.size
    selected = np.zeros(n_sites, dtype=bool)
    selected[res.selected] = True
    if tables.family in COVERAGE_FAMILIES and tables.radius is not None:
        assign = nearest_open(tables.pairs.within(tables.radius), selected)
    elif res.assignment is not None:
        assign = np.asarray(res.assignment, dtype=np.int64)
    else:
        assign = np.full(tables.demand_ids.size, -1, dtype=np.int64)
    on = np.flatnonzero(assign >= 0)
    dist = np.full(assign.size, np.nan)
    key = tables.pairs.rows * n_sites + tables.pairs.cols
    dist[on] = tables.pairs.dist[np.searchsorted(key, on * n_sites + assign[on])]
    assignment = pd.DataFrame(
        {
            "demand_id": tables.demand_ids,
            "site_id": np.where(assign >= 0, tables.site_ids[np.maximum(assign, 0)], ""),
            "distance": dist,
            "weight": tables.weight,
        }
    )
    if res.cover_count is not None:
        assignment["cover_count"] = res.cover_count
    served_weight = np.bincount(assign[on], weights=tables.weight[on], minlength=n_sites)
    served_count = np.bincount(assign[on], minlength=n_sites)
    idx = np.asarray(res.selected, dtype=np.int64)
    sel = pd.DataFrame(
        {
            "site_id": tables.site_ids[idx],
            "assigned": served_count[idx],
            "assigned_weight": served_weight[idx],
        }
    )
    if tables.cost is not None:
        sel["cost"] = tables.cost[idx]
    if tables.capacity is not None:
        sel["capacity"] = tables.capacity[idx]
    sel["required"] = np.isin(idx, tables.data.required)
    return sel, assignment
