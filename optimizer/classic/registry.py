"""Classic location models on plain arrays or generic tables: solve one, check it, report it.

::

    from optimizer.classic.registry import solve_classic, from_tables
    from optimizer.models.pmedian.model import PMedianData

    data = PMedianData.from_arrays(dist, p=5)                 # arrays ...
    res = solve_classic("pmedian", data, backend="highs")
    res.status, res.objective, res.bound, res.gap, res.selected, res.assignment

    tables = from_tables("mclp", demand_df, sites_df, od_df, weight="pop", radius=300, p=4)
    res = solve_classic("mclp", tables.data)                 # ... or tables

Models (the registry :data:`MODELS`; each name maps to its data class, runner and check):

=============== ================================================ =================
name            problem                                          data
=============== ================================================ =================
``lscp``        location set covering (least-cost cover)         :class:`LscpData`
``mclp``        maximal covering                                 ``MclpData``
``pmedian``     p-median (uncapacitated)                         ``PMedianData``
``cpmedian``    capacitated p-median, single sourcing            ``PMedianData``
``pcenter``     p-center, binary search over covering problems   ``PCenterData``
``pcenter-mip`` p-center, the standard MIP                       ``PCenterData``
``backup``      backup (double) coverage, BACOP1                 ``BackupData``
=============== ================================================ =================

``pmedian-heuristic`` (greedy + swap local search + Lagrangian bound, no MIP: FEASIBLE with a
certified gap, OPTIMAL only when the bound closes it) and ``pmedian-warm`` (the same, then the
MIP warm-started from its solution) take the uncapacitated ``PMedianData`` too
(:mod:`optimizer.models.pmedian.heuristics`, :mod:`optimizer.models.pmedian.lagrangian`); so does
``pmedian-exact``
(Lagrangian bound, reduced-cost fixing, window sub-MIPs and Lagrangian branch-and-bound,
:mod:`optimizer.models.pmedian.solve`), the fastest route to a proven optimum.

``lscp-heuristic`` / ``mclp-heuristic`` (exact reductions, Lagrangian heuristic or greedy + swaps,
Lagrangian / LP bound, no MIP) and ``lscp-warm`` / ``mclp-warm`` (the same, then the MIP
warm-started from the heuristic beside a row-weighting local search (LSCP) or a
large-neighbourhood search (MCLP)) take ``LscpData`` /
``MclpData`` (:mod:`optimizer.models.covering.solve`, :mod:`optimizer.models.covering.reductions`,
:mod:`optimizer.models.covering.heuristics`).

Every solution is checked by :mod:`optimizer.classic.verify` (feasibility and objective
recomputed from the input arrays) before it is returned; a failed check raises
:class:`~optimizer.errors.VerificationError`.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

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
    relative_gap,
)
from optimizer.classic.verify import (
    verify_backup,
    verify_lscp,
    verify_mclp,
    verify_pcenter,
    verify_pmedian,
)
from optimizer.errors import ProblemCollector
from optimizer.milp import MILP
from optimizer.models import pcenter
from optimizer.models.common import IndexLike, Pairs, nearest_open, site_bounds, site_rules
from optimizer.models.covering import backup, mclp
from optimizer.models.covering import multitype as covering
from optimizer.models.pmedian import model as pmedian
from optimizer.verify import VerifyReport

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- LSCP data


@dataclass(frozen=True)
class LscpData:
    """The classic LSCP: :class:`~optimizer.models.covering.multitype.CoveringData`
    (one type, built with
    ``CoveringData.from_arrays``) plus required and forbidden sites."""

    covering_data: covering.CoveringData
    required: np.ndarray
    forbidden: np.ndarray

    @property
    def reach(self) -> sp.csr_matrix:
        return self.covering_data.cover[0]

    @property
    def cost(self) -> np.ndarray:
        return self.covering_data.fitout_cost[0]

    @property
    def n_sites(self) -> int:
        return self.covering_data.n_sites

    @classmethod
    def from_arrays(
        cls,
        reach: sp.spmatrix | np.ndarray,
        cost: Sequence[float] | np.ndarray | None = None,
        *,
        required: IndexLike | None = None,
        forbidden: IndexLike | None = None,
    ) -> LscpData:
        """Cover every row of ``reach`` (demand x sites, nonzero = covers) at least cost
        (unit costs by default)."""
        reach = sp.csr_matrix(reach)
        reach.eliminate_zeros()
        n_sites = reach.shape[1]
        c = np.ones(n_sites) if cost is None else np.asarray(cost, dtype=float).ravel()
        if c.shape != (n_sites,) or np.any(~np.isfinite(c)) or np.any(c < 0):
            raise ValueError("cost must hold one finite, non-negative value per site")
        req, forb = site_rules(n_sites, required, forbidden)
        return cls(covering.CoveringData.from_arrays(reach, c), req, forb)

    @classmethod
    def wrap(cls, data: covering.CoveringData) -> LscpData:
        """A single-type :class:`CoveringData` without site rules."""
        if len(data.type_keys) != 1 or np.any(data.fixed_cost != 0):
            raise ValueError("lscp takes single-type covering data built with from_arrays")
        empty = np.zeros(0, dtype=np.int64)
        return cls(data, empty, empty)


# --------------------------------------------------------------------------- results


@dataclass
class ClassicResult:
    """A solved and verified classic model.

    Attributes
    ----------
    model : str
        The model name.
    result : Result
        The solver's normalised answer (``build_s``: building the model, including the
        backend's own model loading where it reports it; ``solve_s``: the solve).
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
    solution : object
        The model module's own solution object.
    milp : MILP or None
        The model solved (the last covering problem for the p-center search).
    """

    model: str
    result: Result
    objective: float
    selected: np.ndarray
    assignment: np.ndarray | None
    cover_count: np.ndarray | None
    report: VerifyReport
    solution: Any = None
    milp: MILP | None = None

    @property
    def status(self) -> Status:
        return self.result.status

    @property
    def bound(self) -> float:
        return self.result.bound

    @property
    def gap(self) -> float:
        return relative_gap(self.objective, self.bound)

    @property
    def build_s(self) -> float:
        return self.result.build_s

    @property
    def solve_s(self) -> float:
        return self.result.solve_s

    def as_dict(self) -> dict[str, Any]:
        """The headline numbers, JSON-ready (site indices, not ids)."""
        return {
            "model": self.model,
            "solver": self.result.solver,
            "status": self.status.value,
            "objective": self.objective,
            "bound": self.bound,
            "gap": self.gap,
            "build_s": round(self.build_s, 4),
            "solve_s": round(self.solve_s, 4),
            "nodes": self.result.nodes,
            "message": self.result.message,
            "selected": self.selected.tolist(),
        }


@dataclass
class _Run:
    result: Result
    milp: MILP | None
    selected: np.ndarray | None  # bool mask
    assignment: np.ndarray | None = None
    cover_count: np.ndarray | None = None
    solution: Any = None


@dataclass(frozen=True)
class ClassicModel:
    """One entry of the model registry."""

    name: str
    description: str
    data_type: type
    run: Callable[[Any, Backend, SolveOptions], _Run]
    check: Callable[[Any, _Run], VerifyReport]
    sense: str = "min"
    accepts: Callable[[Any], str | None] = field(default=lambda data: None)


def _timed_solve(
    build: Callable[[], MILP], backend: Backend, options: SolveOptions
) -> tuple[MILP, Result]:
    t0 = time.perf_counter()
    milp = build()
    build_s = time.perf_counter() - t0
    result = backend.solve(milp, options)
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


# -- runners


def _run_lscp(data: LscpData, backend: Backend, options: SolveOptions) -> _Run:
    def build() -> MILP:
        milp = covering.build_model(data.covering_data, name="lscp")
        for blk in (milp.blocks["open"], milp.blocks["build:cover"]):
            lo, up = site_bounds(data.n_sites, data.required, data.forbidden)
            milp.col_lower[blk] = lo
            milp.col_upper[blk] = up
        return milp

    milp, result = _timed_solve(build, backend, options)
    if not result.status.has_solution or result.x is None:
        return _Run(result, milp, None)
    sol = covering.decode(data.covering_data, milp, result.x)
    selected = sol.built["cover"]
    return _Run(
        result,
        milp,
        selected,
        _first_cover(data.reach, selected),
        _count(data.reach, selected),
        sol,
    )


def _run_coverage(module: Any) -> Callable[[Any, Backend, SolveOptions], _Run]:
    def run(data: Any, backend: Backend, options: SolveOptions) -> _Run:
        milp, result = _timed_solve(
            lambda: module.build_model(data, integral=_integral(backend)), backend, options
        )
        if not result.status.has_solution or result.x is None:
            return _Run(result, milp, None)
        sol = module.decode(data, milp, result.x)
        assignment = _first_cover(data.coverage, sol.selected)
        return _Run(result, milp, sol.selected, assignment, sol.cover_count, sol)

    return run


def _run_assign(module: Any, model_name: str) -> Callable[[Any, Backend, SolveOptions], _Run]:
    def run(data: Any, backend: Backend, options: SolveOptions) -> _Run:
        milp, result = _timed_solve(
            lambda: module.build_model(data, integral=_integral(backend), name=model_name),
            backend,
            options,
        )
        if not result.status.has_solution or result.x is None:
            return _Run(result, milp, None)
        sol = module.decode(data, milp, result.x)
        return _Run(result, milp, sol.selected, sol.assignment, None, sol)

    return run


def _run_pcenter_search(data: pcenter.PCenterData, backend: Backend, options: SolveOptions) -> _Run:
    out = pcenter.solve_search(data, backend, options)
    if out.solution is None:
        return _Run(out.result, None, None)
    sol = out.solution
    return _Run(out.result, None, sol.selected, sol.assignment, None, sol)


def _run_pmedian_exact(data: pmedian.PMedianData, backend: Backend, options: SolveOptions) -> _Run:
    """Heuristic, Lagrangian bound, reduced-cost fixing, window search and Lagrangian
    branch-and-bound (:mod:`optimizer.models.pmedian.solve`); OPTIMAL only when the bound closes
    the gap (within ``mip_gap``)."""
    from optimizer.models.pmedian.solve import solve_pmedian

    t0 = time.perf_counter()
    run = solve_pmedian(data, backend, options)
    setup = float(run.phases.get("setup", 0.0))  # type: ignore[arg-type]
    solve_s = time.perf_counter() - t0 - setup
    extra: dict[str, object] = {
        k: v for k, v in run.phases.items() if not isinstance(v, np.ndarray)
    }
    extra["proven_by"] = run.proven_by
    result = Result(
        run.status,
        run.objective,
        run.bound,
        None,
        f"lagrangian+{backend.name}",
        setup,
        solve_s,
        message=f"certified gap {run.gap:.3g}"
        + (f"; proven by {run.proven_by}" if run.proven_by else ""),
        extra=extra,
        stop=StopReason.OPTIMAL if run.status is Status.OPTIMAL else None,
    )
    if not run.status.has_solution:
        return _Run(result, None, None)
    sol = pmedian.PMedianSolution(run.selected, run.assignment, run.objective)
    return _Run(result, None, run.selected, run.assignment, None, sol)


def _run_pmedian_lagrangian(warm: bool) -> Callable[[Any, Backend, SolveOptions], _Run]:
    """Greedy + swap local search + Lagrangian bound
    (:mod:`optimizer.models.pmedian.lagrangian`); alone
    (``pmedian-heuristic``: FEASIBLE, or OPTIMAL only when the bound closes the gap) or as the
    warm start of the MIP (``pmedian-warm``; the reported bound is the better of the two; the
    MIP is skipped when the Lagrangian bound already proves the heuristic's solution optimal)."""

    def run(data: pmedian.PMedianData, backend: Backend, options: SolveOptions) -> _Run:
        from optimizer.models.pmedian import heuristics, lagrangian

        limit = options.time_limit_s
        share = None if limit is None else (0.25 if warm else 1.0) * limit
        lag = lagrangian.solve_lagrangian(data, time_limit_s=share, seed=options.seed)
        info: dict[str, object] = {
            "heuristic_objective": lag.heuristic_objective,
            "lagrangian_upper": lag.objective,
            "lagrangian_bound": lag.bound,
            "lagrangian_iterations": lag.iterations,
            "lagrangian_s": lag.total_s,
        }
        proven = lag.proven_optimal and math.isfinite(lag.objective)
        status = Status.OPTIMAL if proven else Status.FEASIBLE
        if not math.isfinite(lag.objective):
            status = Status.NO_SOLUTION
        note = f"certified gap {relative_gap(lag.objective, lag.bound):.3g}"
        if warm and proven:
            note += "; proven optimal by the Lagrangian bound, MIP skipped"
        heur = Result(
            status,
            lag.objective,
            lag.bound,
            None,
            "heuristic+lagrangian",
            0.0,
            lag.total_s,
            message=note,
            extra=dict(info),
            stop=StopReason.OPTIMAL if proven else None,
        )
        if not warm or proven:  # a MIP adds nothing once the Lagrangian bound closes the gap
            if not status.has_solution:
                return _Run(heur, None, None)
            assignment = heuristics.assign_nearest(data, lag.selected)
            sol = pmedian.PMedianSolution(
                lag.selected, assignment, pmedian.solution_cost(data, assignment)
            )
            return _Run(heur, None, lag.selected, assignment, None, sol)
        name = "pmedian-warm"
        milp = pmedian.build_model(data, integral=_integral(backend), name=name)
        x0 = None
        if status.has_solution:
            x0 = heuristics.warm_start_vector(data, milp, lag.selected)
        left = None if limit is None else max(1.0, limit - lag.total_s)
        milp, result = _timed_solve(
            lambda: milp, backend, replace(options, time_limit_s=left, warm_start=x0)
        )
        result = result.replace(extra={**result.extra, **info})
        if not result.status.has_solution or result.x is None:
            if x0 is None:
                return _Run(result, milp, None)
            result = replace(result, status=Status.FEASIBLE, objective=lag.objective, x=x0)
        if math.isfinite(lag.bound) and not (result.bound >= lag.bound):
            result = result.replace(bound=lag.bound)  # the Lagrangian bound holds for the MIP
        assert result.x is not None
        sol = pmedian.decode(data, milp, result.x)
        if x0 is not None and lag.objective < sol.objective - 1e-9 * max(1.0, lag.objective):
            # the solver ignored or lost the warm start: keep the heuristic's solution
            result = replace(result, objective=lag.objective, x=x0)
            sol = pmedian.decode(data, milp, x0)
        if result.status is Status.FEASIBLE and relative_gap(sol.objective, result.bound) == 0.0:
            result = result.replace(
                status=Status.OPTIMAL,
                stop=StopReason.OPTIMAL,
                message=(result.message + "; proven by the Lagrangian bound").lstrip("; "),
            )
        return _Run(result, milp, sol.selected, sol.assignment, None, sol)

    return run


def _run_cover_fast(model: str, warm: bool) -> Callable[[Any, Backend, SolveOptions], _Run]:
    """LSCP / MCLP beyond a plain MIP (:mod:`optimizer.models.covering.solve`): exact reductions, a
    heuristic with a certified bound (``*-heuristic``: no MIP; FEASIBLE, or OPTIMAL when the
    bound closes the gap), and for ``*-warm`` the MIP warm-started from the heuristic beside a
    local search (LSCP) or large-neighbourhood search (MCLP); the bound is the better of the
    MIP's and the heuristic's."""

    def run(data: Any, backend: Backend, options: SolveOptions) -> _Run:
        from optimizer.models.covering import solve as cover_solver

        mip = backend if warm else None
        if model == "lscp":
            out = cover_solver.solve_lscp(
                data.reach,
                data.cost,
                required=data.required,
                forbidden=data.forbidden,
                backend=mip,
                options=options,
            )
            coverage = data.reach
        else:
            out = cover_solver.solve_mclp(data, backend=mip, options=options, lp_backend=backend)
            coverage = data.coverage
        result = out.as_result()
        if out.selected is None:
            return _Run(result, None, None)
        selected = out.selected
        return _Run(
            result, None, selected, _first_cover(coverage, selected), _count(coverage, selected)
        )

    return run


# -- checks (independent: optimizer.classic.verify)


def _check_lscp(data: LscpData, run: _Run) -> VerifyReport:
    assert run.selected is not None
    return verify_lscp(
        data.reach,
        data.cost,
        run.selected,
        required=data.required,
        forbidden=data.forbidden,
        reported=run.result.objective,
        bound=run.result.bound,
    )


def _check_mclp(data: mclp.MclpData, run: _Run) -> VerifyReport:
    assert run.selected is not None
    return verify_mclp(data, run.selected, reported=run.result.objective, bound=run.result.bound)


def _check_backup(data: backup.BackupData, run: _Run) -> VerifyReport:
    assert run.selected is not None
    return verify_backup(data, run.selected, reported=run.result.objective, bound=run.result.bound)


def _check_pmedian(data: pmedian.PMedianData, run: _Run) -> VerifyReport:
    assert run.selected is not None and run.assignment is not None
    return verify_pmedian(
        data, run.selected, run.assignment, reported=run.result.objective, bound=run.result.bound
    )


def _check_pcenter(data: pcenter.PCenterData, run: _Run) -> VerifyReport:
    assert run.selected is not None and run.assignment is not None
    return verify_pcenter(
        data, run.selected, run.assignment, reported=run.result.objective, bound=run.result.bound
    )


def _needs_capacity(data: pmedian.PMedianData) -> str | None:
    return None if data.capacitated else "cpmedian needs site capacities"


def _no_capacity(data: pmedian.PMedianData) -> str | None:
    return "use the cpmedian model for capacitated data" if data.capacitated else None


MODELS: dict[str, ClassicModel] = {
    m.name: m
    for m in (
        ClassicModel("lscp", "location set covering", LscpData, _run_lscp, _check_lscp),
        ClassicModel(
            "lscp-heuristic",
            "location set covering: reductions + Lagrangian heuristic and bound (no MIP)",
            LscpData,
            _run_cover_fast("lscp", warm=False),
            _check_lscp,
        ),
        ClassicModel(
            "lscp-warm",
            "location set covering: reductions, Lagrangian, warm-started MIP + local search",
            LscpData,
            _run_cover_fast("lscp", warm=True),
            _check_lscp,
        ),
        ClassicModel(
            "mclp", "maximal covering", mclp.MclpData, _run_coverage(mclp), _check_mclp, "max"
        ),
        ClassicModel(
            "mclp-heuristic",
            "maximal covering: reductions, greedy + swaps, Lagrangian / LP bound (no MIP)",
            mclp.MclpData,
            _run_cover_fast("mclp", warm=False),
            _check_mclp,
            "max",
        ),
        ClassicModel(
            "mclp-warm",
            "maximal covering: reductions, greedy + swaps, warm-started MIP + swap search / LNS",
            mclp.MclpData,
            _run_cover_fast("mclp", warm=True),
            _check_mclp,
            "max",
        ),
        ClassicModel(
            "pmedian",
            "p-median (uncapacitated)",
            pmedian.PMedianData,
            _run_assign(pmedian, "pmedian"),
            _check_pmedian,
            accepts=_no_capacity,
        ),
        ClassicModel(
            "pmedian-heuristic",
            "p-median: greedy + swaps + Lagrangian bound (no MIP)",
            pmedian.PMedianData,
            _run_pmedian_lagrangian(warm=False),
            _check_pmedian,
            accepts=_no_capacity,
        ),
        ClassicModel(
            "pmedian-warm",
            "p-median: MIP warm-started by the heuristic, Lagrangian bound",
            pmedian.PMedianData,
            _run_pmedian_lagrangian(warm=True),
            _check_pmedian,
            accepts=_no_capacity,
        ),
        ClassicModel(
            "pmedian-exact",
            "p-median: Lagrangian bound, reduced-cost fixing, window search, Lagrangian B&B",
            pmedian.PMedianData,
            _run_pmedian_exact,
            _check_pmedian,
            accepts=_no_capacity,
        ),
        ClassicModel(
            "cpmedian",
            "capacitated p-median (single sourcing)",
            pmedian.PMedianData,
            _run_assign(pmedian, "cpmedian"),
            _check_pmedian,
            accepts=_needs_capacity,
        ),
        ClassicModel(
            "pcenter",
            "p-center (binary search over covering problems)",
            pcenter.PCenterData,
            _run_pcenter_search,
            _check_pcenter,
        ),
        ClassicModel(
            "pcenter-mip",
            "p-center (standard MIP)",
            pcenter.PCenterData,
            _run_assign(pcenter, "pcenter-mip"),
            _check_pcenter,
        ),
        ClassicModel(
            "backup",
            "backup coverage (BACOP1)",
            backup.BackupData,
            _run_coverage(backup),
            _check_backup,
            "max",
        ),
    )
}


def solve_classic(
    model_name: str,
    data: Any,
    backend: str | Backend = "highs",
    options: SolveOptions | None = None,
) -> ClassicResult:
    """Solve one classic model and verify the answer against its input arrays.

    Parameters
    ----------
    model_name : str
        A key of :data:`MODELS`.
    data : the model's data class
        Built with its ``from_arrays`` (or :func:`from_tables`); ``lscp`` also takes a
        single-type :class:`~optimizer.models.covering.multitype.CoveringData`.
    backend : str or Backend
        Solver backend name (see :func:`optimizer.backends.available_backends`) or instance.
    options : SolveOptions, optional
        Time limit, gap, threads, seed.

    Returns
    -------
    ClassicResult
        With an empty selection and ``nan`` objective when the solver found no solution
        (status INFEASIBLE, NO_SOLUTION, ...).

    Raises
    ------
    ValueError
        Unknown model, or data of the wrong kind.
    VerificationError
        If the solution fails the independent check.
    SolverNotAvailable
        If the backend is not installed.
    """
    try:
        spec = MODELS[model_name]
    except KeyError:
        raise ValueError(
            f"unknown model '{model_name}'; choose one of: {', '.join(MODELS)}"
        ) from None
    if model_name in LSCP_VARIANTS and isinstance(data, covering.CoveringData):
        data = LscpData.wrap(data)
    if not isinstance(data, spec.data_type):
        raise ValueError(
            f"model '{model_name}' takes {spec.data_type.__name__}, got {type(data).__name__}"
        )
    refused = spec.accepts(data)
    if refused:
        raise ValueError(refused)
    solver = get_backend(backend) if isinstance(backend, str) else backend
    options = options or SolveOptions()
    run = spec.run(data, solver, options)
    res = run.result
    log.info(
        "%s on %s: %s, objective %s, bound %s, build %.2f s, solve %.2f s",
        model_name,
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
            model_name, res, math.nan, none, None, None, VerifyReport(), None, run.milp
        )
    report = spec.check(data, run)
    return ClassicResult(
        model=model_name,
        result=res,
        objective=report.recomputed_cost,
        selected=np.flatnonzero(run.selected),
        assignment=run.assignment,
        cover_count=run.cover_count,
        report=report,
        solution=run.solution,
        milp=run.milp,
    )


# --------------------------------------------------------------------------- tables


LSCP_VARIANTS = frozenset({"lscp", "lscp-heuristic", "lscp-warm"})
MCLP_VARIANTS = frozenset({"mclp", "mclp-heuristic", "mclp-warm"})
COVERAGE_MODELS = LSCP_VARIANTS | MCLP_VARIANTS | {"backup"}
PMEDIAN_VARIANTS = frozenset({"pmedian", "pmedian-heuristic", "pmedian-warm", "pmedian-exact"})
COUNT_MODELS = PMEDIAN_VARIANTS | MCLP_VARIANTS | {"cpmedian", "pcenter", "pcenter-mip", "backup"}
ASSIGN_MODELS = PMEDIAN_VARIANTS | {"cpmedian", "pcenter", "pcenter-mip"}


@dataclass(frozen=True)
class ClassicTables:
    """A classic problem read from generic tables: the model data and the ids behind it.

    ``pairs`` holds every pair of the distance table (before any radius or distance cap).
    """

    model: str
    data: Any
    demand_ids: np.ndarray
    site_ids: np.ndarray
    pairs: Pairs
    weight: np.ndarray
    cost: np.ndarray | None
    capacity: np.ndarray | None
    radius: float | None
    params: dict[str, Any]


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
        A key of :data:`MODELS`.
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
    if model_name not in MODELS:
        problems.add("model", None, f"unknown model '{model_name}' ({', '.join(MODELS)})")
        problems.raise_if_any()
    demand_ids = _id_column(demand, "demand_id", lab["demand"], problems)
    site_ids = _id_column(sites, "site_id", lab["sites"], problems)
    w = _numeric_column(demand, weight, lab["demand"], demand_ids, problems, default=1.0)
    c = _numeric_column(sites, cost, lab["sites"], site_ids, problems, default=1.0)
    cap = _numeric_column(sites, capacity, lab["sites"], site_ids, problems, default=None)
    n_sites = None if site_ids is None else int(site_ids.size)
    _check_options(model_name, problems, capacity, radius, p, budget, cost, n_sites)
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
    if model_name in COVERAGE_MODELS - MCLP_VARIANTS:
        assert radius is not None
        lonely = usable.within(radius).demand_without_pair()
        what = f"demand points with no allowed site within the radius {radius:g}"
    elif model_name in ASSIGN_MODELS and unserved_penalty is None:
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
            model_name,
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
    model_name: str,
    pairs: Pairs,
    w: np.ndarray,
    c: np.ndarray,
    cap: np.ndarray | None,
    options: tuple[float | None, int | None, float | None, bool, float | None, float | None],
    req: np.ndarray,
    forb: np.ndarray,
    has_cost: bool,
) -> Any:
    radius, p, budget, p_exact, max_distance, unserved_penalty = options
    rules = {"required": req, "forbidden": forb}
    if model_name in COVERAGE_MODELS:
        assert radius is not None
        reach = pairs.within(radius).reach_matrix()
        if model_name in LSCP_VARIANTS:
            return LscpData.from_arrays(reach, c, **rules)
        if model_name in MCLP_VARIANTS:
            cost = c if has_cost else None
            return mclp.MclpData.from_arrays(
                reach, w, p, cost=cost, budget=budget, p_exact=p_exact, **rules
            )
        assert p is not None
        return backup.BackupData.from_arrays(reach, w, p, p_exact=p_exact, **rules)
    assert p is not None
    if model_name in ("pcenter", "pcenter-mip"):
        return pcenter.PCenterData.from_arrays(pairs, p, w, max_distance=max_distance, **rules)
    return pmedian.PMedianData.from_arrays(
        pairs,
        p,
        w,
        capacity=cap if model_name == "cpmedian" else None,
        max_distance=max_distance,
        unserved_penalty=unserved_penalty,
        **rules,
    )


def _check_options(
    model_name: str,
    problems: ProblemCollector,
    capacity: str | None,
    radius: float | None,
    p: int | None,
    budget: float | None,
    cost: str | None,
    n_sites: int | None,
) -> None:
    def bad(option: str, message: str) -> None:
        problems.add("model options", option, f"{model_name}: {message}", field_kind="option")

    if model_name in COVERAGE_MODELS:
        if radius is None:
            bad("radius", "a service radius is required")
        elif not (math.isfinite(radius) and radius >= 0):
            bad("radius", "the radius must be a non-negative number")
    if model_name in MCLP_VARIANTS and p is None and budget is None:
        bad("p, budget", "give a facility count p, a budget, or both")
    elif model_name in COUNT_MODELS - MCLP_VARIANTS and p is None:
        bad("p", "the number of facilities p is required")
    if p is not None and (p != int(p) or p < 1 or (n_sites is not None and p > n_sites)):
        bad("p", f"p must be an integer between 1 and the number of sites ({n_sites})")
    if budget is not None and cost is None:
        bad("budget", "a budget needs a site cost column (--cost)")
    if model_name == "cpmedian" and capacity is None:
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
    pos = pd.Index(site_ids).get_indexer(names)
    if (pos < 0).any():
        problems.add("model options", what, "unknown site ids", names[pos < 0], field_kind="option")
    return np.unique(pos[pos >= 0]).astype(np.int64)


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
    d_ids = df["demand_id"].astype("string").str.strip()
    s_ids = df["site_id"].astype("string").str.strip()
    d_missing = (df["demand_id"].isna() | (d_ids == "")).to_numpy(dtype=bool)
    s_missing = (df["site_id"].isna() | (s_ids == "")).to_numpy(dtype=bool)
    for col, miss in (("demand_id", d_missing), ("site_id", s_missing)):
        if miss.any():
            problems.add(label, col, "missing id", [f"row {i + 2}" for i in np.flatnonzero(miss)])
    d_text = d_ids.fillna("").to_numpy(dtype=str)
    s_text = s_ids.fillna("").to_numpy(dtype=str)
    rows = pd.Index(demand_ids).get_indexer(d_text)
    cols = pd.Index(site_ids).get_indexer(s_text)
    unknown_d = np.unique(d_text[(rows < 0) & ~d_missing])
    unknown_s = np.unique(s_text[(cols < 0) & ~s_missing])
    if unknown_d.size:
        problems.add(label, "demand_id", "unknown demand ids (not in the demand table)", unknown_d)
    if unknown_s.size:
        problems.add(label, "site_id", "unknown site ids (not in the sites table)", unknown_s)
    pair_names = np.char.add(np.char.add(d_text, "->"), s_text)
    raw = df["distance"]
    dist = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
    given = (raw.notna() & (raw.astype("string").str.strip() != "")).to_numpy(dtype=bool)
    for mask, message in (
        (~given, "missing distances"),
        (given & np.isnan(dist), "not a number"),
        (np.isinf(dist), "infinite distances"),
        (dist < 0, "negative distances"),
    ):
        if mask.any():
            problems.add(label, "distance", message, pair_names[mask])
    ok = (rows >= 0) & (cols >= 0)
    dup = pd.Series(pair_names).duplicated(keep=False).to_numpy() & ok
    if dup.any():
        problems.add(label, "demand_id, site_id", "duplicate pairs", sorted(set(pair_names[dup])))
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
    if tables.model in COVERAGE_MODELS and tables.radius is not None:
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
    sel["required"] = np.isin(tables.site_ids[idx], tables.params.get("required") or [])
    return sel, assignment
