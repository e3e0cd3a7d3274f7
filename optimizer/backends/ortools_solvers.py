"""SCIP and CP-SAT through OR-Tools.

SCIP goes through OR-Tools' model builder: ``fill_model_from_sparse_data`` takes the CSR
matrix, the bounds and the costs as whole arrays, so the model is loaded in C++ without a
Python call per row or per nonzero (only one call per integer column, to mark it integer).
CP-SAT needs integers: each row and the objective are scaled to integer coefficients (exactly,
with a factor of at most ``1e6``, found for all coefficients at once by vectorised continued
fractions) and written into the ``CpModelProto`` with bulk ``extend`` calls, one set per row.
"""

from __future__ import annotations

import math
import re
import time
from typing import Any

import numpy as np
import scipy.sparse as sp

from optimizer.backends.base import (
    Backend,
    Result,
    SolveOptions,
    Status,
    StopReason,
    importable,
    optimal_stop,
    reached_time_limit,
    register,
    relative_gap,
    time_left,
)
from optimizer.errors import SolverError, SolverNotAvailable, preview_ids
from optimizer.milp import MILP

ORTOOLS_PACKAGE = "ortools==9.15.6755"
MAX_SCALE = 1_000_000
"""Largest factor CP-SAT scaling may multiply a row (or the objective) by."""
_INT_TOL = 1e-9  # rounding tolerance for bounds and sides of integer rows
_EXACT = 64 * float(np.finfo(float).eps)  # "integral" up to the float rounding of the data
_MAX_INT = float(2**53)  # largest magnitude kept exact through float arithmetic
_SCIP_CODE_RE = re.compile(r"SCIP status code (\d+)")
_SCIP_STOPS = {
    10: StopReason.INTERRUPTED,  # user interrupt
    11: StopReason.INTERRUPTED,  # terminate
    20: StopReason.ITERATION_LIMIT,  # node limit
    21: StopReason.ITERATION_LIMIT,  # total node limit
    22: StopReason.ITERATION_LIMIT,  # stall node limit
    23: StopReason.TIME_LIMIT,
    24: StopReason.ERROR,  # memory limit
    25: StopReason.GAP_REACHED,
    26: StopReason.ITERATION_LIMIT,  # primal limit
    27: StopReason.ITERATION_LIMIT,  # dual limit
    28: StopReason.ITERATION_LIMIT,  # solution limit
    29: StopReason.ITERATION_LIMIT,  # best solution limit
    30: StopReason.ITERATION_LIMIT,  # restart limit
}
"""SCIP 10's ``SCIP_STATUS`` codes (the SCIP in OR-Tools 9.15; a time-limit stop without a
solution reads "SCIP status code 23") to stop reasons. OR-Tools names the code only when no
solution was found; with one, a limit stop is told apart by the time used."""


@register
class ScipBackend(Backend):
    """SCIP branch-and-cut through OR-Tools' model builder (matrix loaded in bulk).

    SCIP inside OR-Tools runs its sequential solver: ``threads`` is passed on as
    ``parallel/maxnthreads`` but does not make the search parallel.
    """

    name = "scip"
    package = ORTOOLS_PACKAGE
    capabilities = frozenset({"mip", "lp", "warm_start", "seed", "time_limit", "gap"})

    @classmethod
    def is_available(cls) -> bool:
        try:
            from ortools.linear_solver.python import model_builder_helper as mbh
        except ImportError:
            return False
        return bool(mbh.ModelSolverHelper("SCIP").solver_is_supported())

    def solve(self, milp: MILP, options: SolveOptions) -> Result:
        from ortools.linear_solver.python import model_builder_helper as mbh

        t0 = time.perf_counter()
        model = _to_model_builder(milp, mbh)
        build_s = time.perf_counter() - t0
        options = time_left(options, t0)  # the translation counts against the limit
        if options.warm_start is not None:
            warm = _clip_warm_start(milp, options.warm_start)
            for j, value in enumerate(warm.tolist()):
                model.add_hint(j, value)

        solver = mbh.ModelSolverHelper("SCIP")
        if not solver.solver_is_supported():
            raise SolverNotAvailable(
                f"this OR-Tools build has no SCIP: install it with `pip install {self.package}`"
            )
        solver.enable_output(bool(options.verbose))
        if options.time_limit_s is not None:
            solver.set_time_limit_in_seconds(float(options.time_limit_s))
        params = [
            f"limits/gap = {float(options.mip_gap)!r}",
            f"randomization/randomseedshift = {int(options.seed) % 2_147_483_647}",
        ]
        if options.threads is not None:
            params.append(f"parallel/maxnthreads = {max(1, int(options.threads))}")
        solver.set_solver_specific_parameters("\n".join(params) + "\n")

        t1 = time.perf_counter()
        solver.solve(model)
        solve_s = time.perf_counter() - t1
        return _read_scip_result(solver, milp, options, mbh, build_s, solve_s)


def _to_model_builder(milp: MILP, mbh: Any) -> Any:
    """Load the whole MILP into a ``ModelBuilderHelper`` from its arrays."""
    model = mbh.ModelBuilderHelper()
    model.fill_model_from_sparse_data(
        np.ascontiguousarray(milp.col_lower, dtype=np.float64),
        np.ascontiguousarray(milp.col_upper, dtype=np.float64),
        np.ascontiguousarray(milp.c, dtype=np.float64),
        np.ascontiguousarray(milp.row_lower, dtype=np.float64),
        np.ascontiguousarray(milp.row_upper, dtype=np.float64),
        _canonical_csr(milp.A),
    )
    for j in np.flatnonzero(milp.integrality).tolist():
        model.set_var_integrality(j, True)
    model.set_maximize(milp.sense == "max")
    model.set_objective_offset(float(milp.offset))
    return model


def _read_scip_result(
    solver: Any, milp: MILP, options: SolveOptions, mbh: Any, build_s: float, solve_s: float
) -> Result:
    st = mbh.SolveStatus
    raw = solver.status()
    has_solution = bool(solver.has_solution())
    x = np.asarray(solver.variable_values(), dtype=float) if has_solution else None
    if raw == st.OPTIMAL and x is not None:
        status = Status.OPTIMAL
    elif raw == st.INFEASIBLE:
        status = Status.INFEASIBLE
    elif raw == st.UNBOUNDED:
        status = Status.UNBOUNDED
    elif x is not None:  # a limit (FEASIBLE, NOT_SOLVED) or ABNORMAL with a solution in hand
        status = Status.FEASIBLE
    elif raw in (st.FEASIBLE, st.NOT_SOLVED, st.CANCELLED_BY_USER, st.OPTIMAL):
        status = Status.NO_SOLUTION
    else:  # MODEL_INVALID, INVALID_SOLVER_PARAMETERS, ABNORMAL, ...
        status = Status.ERROR

    objective = bound = math.nan
    if x is not None and status.has_solution:
        objective = milp.objective_value(x)
        is_mip = bool(milp.integrality.any())
        bound = float(solver.best_objective_bound()) if is_mip else objective
    else:
        x = None
    proven = status is Status.OPTIMAL
    status = _check_optimal_gap(status, objective, bound, options)
    message = str(solver.status_string()) or raw.name
    if status is Status.OPTIMAL:
        stop: StopReason | None = optimal_stop(objective, bound, options.mip_gap)
    elif proven:  # SCIP's gap limit (OR-Tools reports it as optimal), above our measure
        stop = StopReason.GAP_REACHED
    else:
        stop = _scip_stop(status, raw, st, message, solve_s, options.time_limit_s)
    return Result(
        status=status,
        objective=objective,
        bound=bound if math.isfinite(bound) else math.nan,
        x=x,
        solver="scip",
        build_s=build_s,
        solve_s=solve_s,
        message=message,
        extra={"model_build_s": build_s},
        stop=stop,
    )


def _scip_stop(
    status: Status, raw: Any, st: Any, message: str, solve_s: float, time_limit_s: float | None
) -> StopReason:
    """Why SCIP stopped short of a proof: the SCIP status code where OR-Tools names it, else
    the model builder's status and the time used (``st`` is ``SolveStatus``)."""
    if status is Status.INFEASIBLE:
        return StopReason.INFEASIBLE
    if status is Status.UNBOUNDED:
        return StopReason.UNBOUNDED
    match = _SCIP_CODE_RE.search(message)
    if match is not None and int(match.group(1)) in _SCIP_STOPS:
        return _SCIP_STOPS[int(match.group(1))]
    if raw == st.CANCELLED_BY_USER:
        return StopReason.INTERRUPTED
    if status is Status.ERROR:
        return StopReason.ERROR
    if reached_time_limit(solve_s, time_limit_s):
        return StopReason.TIME_LIMIT
    return StopReason.ITERATION_LIMIT  # the other SCIP limits: nodes, solutions, stalling


@register
class CpSatBackend(Backend):
    """CP-SAT (OR-Tools' constraint-programming / SAT solver) on pure integer programs.

    Every variable must be integer with finite bounds, and every row and the objective must
    scale to integers with a factor of at most :data:`MAX_SCALE`; otherwise :meth:`solve`
    raises :class:`~optimizer.errors.SolverError`.
    """

    name = "cpsat"
    package = ORTOOLS_PACKAGE
    capabilities = frozenset({"mip", "warm_start", "threads", "seed", "time_limit", "gap"})

    @classmethod
    def is_available(cls) -> bool:
        return importable("ortools.sat.python.cp_model")

    def solve(self, milp: MILP, options: SolveOptions) -> Result:
        from ortools.sat.python import cp_model

        t0 = time.perf_counter()
        model, objective_scale = _to_cp_model(milp, cp_model, options.warm_start)
        build_s = time.perf_counter() - t0
        invalid = model.validate()
        if invalid:
            raise SolverError(f"CP-SAT rejected the scaled model: {invalid}")
        options = time_left(options, t0)  # the translation counts against the limit

        solver = cp_model.CpSolver()
        params = solver.parameters
        if options.time_limit_s is not None:
            params.max_time_in_seconds = float(options.time_limit_s)
        params.relative_gap_limit = float(options.mip_gap)
        params.random_seed = int(options.seed) % 2_147_483_647
        if options.threads is not None:
            params.num_workers = max(1, int(options.threads))
        params.log_search_progress = bool(options.verbose)
        # Put every row (clauses included) into the LP relaxation: without it a single worker
        # proves no objective bound at all on covering models.
        params.linearization_level = 2

        t1 = time.perf_counter()
        raw = solver.solve(model)
        solve_s = time.perf_counter() - t1
        return _read_cpsat_result(
            solver, raw, milp, options, cp_model, build_s, solve_s, objective_scale
        )


def _to_cp_model(
    milp: MILP, cp_model: Any, warm_start: np.ndarray | None
) -> tuple[Any, int | None]:
    """Write the integer-scaled MILP into a ``CpModel``; returns it and the objective factor.

    Raises
    ------
    SolverError
        If a variable is continuous or unbounded, or a row or the objective cannot be scaled
        exactly to integers with a factor of at most :data:`MAX_SCALE`.
    """
    n = milp.num_vars
    continuous = np.flatnonzero(~milp.integrality)
    if continuous.size:
        raise SolverError(
            f"CP-SAT needs integer data: {continuous.size} continuous variable(s) "
            f"(columns {preview_ids(continuous.tolist())}); use highs, scip or cbc instead"
        )
    lb = np.ceil(milp.col_lower - _INT_TOL)
    ub = np.floor(milp.col_upper + _INT_TOL)
    unbounded = np.flatnonzero(~(np.isfinite(lb) & np.isfinite(ub)))
    if unbounded.size:
        raise SolverError(
            "CP-SAT needs finite bounds on every variable: "
            f"{unbounded.size} variable(s) unbounded (columns {preview_ids(unbounded.tolist())})"
        )
    if np.any(np.abs(lb) > _MAX_INT) or np.any(np.abs(ub) > _MAX_INT):
        raise SolverError("CP-SAT needs variable bounds within ±2**53")
    infeasible = bool(np.any(lb > ub))
    ub = np.maximum(lb, ub)

    a = _canonical_csr(milp.A)
    row_nnz = np.diff(a.indptr)
    row_scale = _row_scales(a.data, a.indptr, "row")
    coef = np.rint(a.data * np.repeat(row_scale, row_nnz))
    scaled = sp.csr_matrix((coef, a.indices, a.indptr), shape=a.shape)
    pos, neg = scaled.maximum(0), scaled.minimum(0)
    min_act = pos @ lb + neg @ ub
    max_act = pos @ ub + neg @ lb
    if np.any(np.abs(min_act) > _MAX_INT) or np.any(np.abs(max_act) > _MAX_INT):
        raise SolverError("CP-SAT needs row activities within ±2**53 after integer scaling")
    # Integer rows have integer activities: round the scaled sides inward, then clamp them
    # to the reachable activity range so every domain is finite.
    lo = np.maximum(_round_inward(milp.row_lower * row_scale, upper=False), min_act)
    up = np.minimum(_round_inward(milp.row_upper * row_scale, upper=True), max_act)
    empty = lo > up
    infeasible = infeasible or bool(np.any(empty))
    needed = ~empty & ((lo > min_act) | (up < max_act))  # other rows can never bind

    model = cp_model.CpModel()
    proto = model.proto
    for low, high in zip(lb.astype(np.int64).tolist(), ub.astype(np.int64).tolist(), strict=True):
        proto.variables.add().domain.extend([low, high])
    indices = a.indices.tolist()
    coefs = coef.astype(np.int64).tolist()
    ptr = a.indptr.tolist()
    add_constraint = proto.constraints.add
    for i, low, high in zip(
        np.flatnonzero(needed).tolist(),
        lo[needed].astype(np.int64).tolist(),
        up[needed].astype(np.int64).tolist(),
        strict=True,
    ):
        s, e = ptr[i], ptr[i + 1]
        lin = add_constraint().linear
        lin.vars.extend(indices[s:e])
        lin.coeffs.extend(coefs[s:e])
        lin.domain.extend([low, high])
    if infeasible:
        # An empty row or column domain: CP-SAT rejects empty domains, so state "0 = 1".
        add_constraint().linear.domain.extend([1, 1])

    objective_scale: int | None = None
    used = np.flatnonzero(milp.c)
    if used.size:
        objective_scale = int(_row_scales(milp.c[used], np.array([0, used.size]), "objective")[0])
        obj_coef = np.rint(milp.c[used] * objective_scale)
        if float(np.abs(obj_coef) @ np.maximum(np.abs(lb[used]), np.abs(ub[used]))) > _MAX_INT:
            raise SolverError("CP-SAT needs the objective within ±2**53 after integer scaling")
        sign = -1.0 if milp.sense == "max" else 1.0
        objective = proto.objective
        objective.vars.extend(used.tolist())
        objective.coeffs.extend((sign * obj_coef).astype(np.int64).tolist())
        objective.scaling_factor = sign / objective_scale
        objective.offset = sign * float(milp.offset) * objective_scale

    if warm_start is not None:
        hint = np.clip(np.rint(np.asarray(warm_start, dtype=float)), lb, ub).astype(np.int64)
        proto.solution_hint.vars.extend(range(n))
        proto.solution_hint.values.extend(hint.tolist())
    return model, objective_scale


def _row_scales(data: np.ndarray, indptr: np.ndarray, what: str) -> np.ndarray:
    """Smallest positive integer per row that makes every coefficient of the row integral.

    ``data`` and ``indptr`` are CSR arrays; ``what`` names the rows in the error message.

    Raises
    ------
    SolverError
        If a coefficient is irrational-looking, or a row needs a factor above
        :data:`MAX_SCALE`.
    """
    scale = np.ones(len(indptr) - 1, dtype=np.int64)
    den = _denominators(data)
    if np.all(den == 1):
        return scale
    bad = den == 0
    if not bad.any():
        nonempty = np.flatnonzero(np.diff(indptr) > 0)
        scale[nonempty] = np.lcm.reduceat(den, indptr[nonempty])
        # lcm may overflow int64 silently: accept a factor only if it really makes the row
        # integral and stays within the limit.
        factor = np.repeat(scale, np.diff(indptr))
        bad = (factor < 1) | (factor > MAX_SCALE) | ~_is_integral(data * factor, factor)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        row = int(np.searchsorted(indptr, k, side="right") - 1)
        where = f"{what} {row}" if what == "row" else f"the {what}"
        raise SolverError(
            f"CP-SAT needs integer data: {where} has coefficient {float(data[k])!r}, and no "
            f"factor up to {MAX_SCALE:.0e} makes that {what}'s coefficients exact integers; "
            "use highs, scip or cbc instead"
        )
    return scale


def _is_integral(prod: np.ndarray, factor: np.ndarray | float) -> np.ndarray:
    """True where ``prod = value * factor`` is an integer up to float rounding of ``value``."""
    return np.abs(prod - np.rint(prod)) <= _EXACT * np.maximum(factor, np.abs(prod))


def _denominators(values: np.ndarray) -> np.ndarray:
    """Per value, the smallest ``q <= MAX_SCALE`` with ``q * value`` integral; 0 where none.

    Continued-fraction convergents, computed for all distinct values at once.
    """
    v = np.abs(np.asarray(values, dtype=float))
    den = np.zeros(v.shape, dtype=np.int64)
    finite = np.isfinite(v)
    integral = np.zeros(v.shape, dtype=bool)
    integral[finite] = _is_integral(v[finite], 1.0)
    den[integral] = 1
    todo = np.flatnonzero(finite & ~integral)
    if todo.size == 0:
        return den
    target, inverse = np.unique(v[todo], return_inverse=True)
    found = np.zeros(target.shape, dtype=np.int64)
    active = np.ones(target.shape, dtype=bool)
    x = target.copy()
    h_prev, h = np.zeros_like(x), np.ones_like(x)  # numerators h_{k-2}, h_{k-1}
    k_prev, k = np.ones_like(x), np.zeros_like(x)  # denominators k_{k-2}, k_{k-1}
    for _ in range(64):
        a = np.floor(x)
        h_prev, h = h, a * h + h_prev
        k_prev, k = k, a * k + k_prev
        hit = active & (k <= MAX_SCALE) & _is_integral(target * k, k)
        found[hit] = k[hit].astype(np.int64)
        active &= ~hit & (k <= MAX_SCALE)
        if not active.any():
            break
        rest = x - a
        active &= rest > 0
        x = np.where(active, 1.0 / np.where(rest > 0, rest, 1.0), 1.0)
    den[todo] = found[inverse]
    return den


def _round_inward(values: np.ndarray, upper: bool) -> np.ndarray:
    """Round finite sides to integers: a lower side up (ceil), an upper side down (floor)."""
    out = np.array(values, dtype=float)
    fin = np.isfinite(out)
    v = out[fin]
    tol = _INT_TOL * np.maximum(1.0, np.abs(v))
    out[fin] = np.floor(v + tol) if upper else np.ceil(v - tol)
    return out


def _read_cpsat_result(
    solver: Any,
    raw: Any,
    milp: MILP,
    options: SolveOptions,
    cp_model: Any,
    build_s: float,
    solve_s: float,
    objective_scale: int | None,
) -> Result:
    if raw == cp_model.OPTIMAL:
        status = Status.OPTIMAL
    elif raw == cp_model.FEASIBLE:
        status = Status.FEASIBLE
    elif raw == cp_model.INFEASIBLE:
        status = Status.INFEASIBLE
    elif raw == cp_model.UNKNOWN:
        status = Status.NO_SOLUTION
    else:  # MODEL_INVALID
        status = Status.ERROR

    x: np.ndarray | None = None
    objective = bound = math.nan
    if status.has_solution:
        x = np.array(list(solver.response_proto.solution), dtype=float)
        objective = milp.objective_value(x)
        if objective_scale is None:  # constant objective
            bound = objective if status is Status.OPTIMAL else math.nan
        else:
            bound = float(solver.best_objective_bound)
    proven = status is Status.OPTIMAL
    status = _check_optimal_gap(status, objective, bound, options)
    if status is Status.OPTIMAL:
        stop = optimal_stop(objective, bound, options.mip_gap)
    elif proven:  # CP-SAT's relative_gap_limit, above our gap measure
        stop = StopReason.GAP_REACHED
    else:
        stop = _cpsat_stop(status, float(solver.wall_time), options.time_limit_s)
    return Result(
        status=status,
        objective=objective,
        bound=bound if math.isfinite(bound) else math.nan,
        x=x,
        solver="cpsat",
        build_s=build_s,
        solve_s=solve_s,
        nodes=int(solver.num_branches),
        message=str(solver.status_name(raw)),
        extra={"model_build_s": build_s, "objective_scale": objective_scale},
        stop=stop,
    )


def _cpsat_stop(status: Status, wall_s: float, time_limit_s: float | None) -> StopReason:
    """Why CP-SAT stopped short of a proof. CP-SAT names no limit (FEASIBLE or UNKNOWN for
    all of them); the only one set here besides the gap is the time limit, so the time used
    tells it apart from an interrupt."""
    if status is Status.INFEASIBLE:
        return StopReason.INFEASIBLE
    if status is Status.ERROR:
        return StopReason.ERROR
    if reached_time_limit(wall_s, time_limit_s):
        return StopReason.TIME_LIMIT
    return StopReason.INTERRUPTED


def _check_optimal_gap(
    status: Status, objective: float, bound: float, options: SolveOptions
) -> Status:
    """Report OPTIMAL only when our gap measure is within ``mip_gap``; else FEASIBLE."""
    if status is Status.OPTIMAL and relative_gap(objective, bound) > options.mip_gap + 1e-9:
        return Status.FEASIBLE
    return status


def _canonical_csr(a: sp.spmatrix) -> sp.csr_matrix:
    """A float64 CSR copy with duplicate entries summed and explicit zeros dropped."""
    out = sp.csr_matrix(a, dtype=np.float64, copy=True)
    out.sum_duplicates()
    out.eliminate_zeros()
    return out


def _clip_warm_start(milp: MILP, warm_start: np.ndarray) -> np.ndarray:
    values = np.clip(np.asarray(warm_start, dtype=float), milp.col_lower, milp.col_upper)
    return np.where(milp.integrality, np.round(values), values)
