"""CBC through PuLP: one PuLP expression per row, built straight from the CSR slices.

PuLP has no bulk matrix interface, so one ``LpAffineExpression`` per row is unavoidable; the
variables are created once and each row zips a slice of a flat, precomputed list of variables
with a slice of the coefficient list, so no Python runs per nonzero beyond PuLP's own dict
build. CBC runs as a subprocess (``pulp.PULP_CBC_CMD``); its log is captured to read the best
bound, which PuLP does not expose.
"""

from __future__ import annotations

import math
import re
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from optimizer.backends.base import (
    Backend,
    Result,
    SolveOptions,
    Status,
    StopReason,
    optimal_stop,
    reached_time_limit,
    register,
    relative_gap,
    time_left,
)
from optimizer.errors import SolverError
from optimizer.milp import MILP

_BOUND_RE = re.compile(r"^(Lower|Upper) bound:\s*(\S+)", re.MULTILINE)
_NODES_RE = re.compile(r"^Enumerated nodes:\s*(\d+)", re.MULTILINE)
_WALL_RE = re.compile(r"^Total time \(CPU seconds\):\s*\S+\s+\(Wallclock seconds\):\s*(\S+)", re.M)
_WITHIN_GAP = "within gap tolerance"
_RESULT_RE = re.compile(r"^Result - (.*)$", re.MULTILINE)
_LOG_STOPS = (
    ("time limit", StopReason.TIME_LIMIT),
    ("iterations or time", StopReason.TIME_LIMIT),  # told apart by the time (_log_stop)
    ("nodes", StopReason.ITERATION_LIMIT),
    ("solutions", StopReason.ITERATION_LIMIT),
    ("ctrl-c", StopReason.INTERRUPTED),
    ("infeasible", StopReason.INFEASIBLE),
    ("unbounded", StopReason.UNBOUNDED),
    ("difficulties", StopReason.ERROR),
    ("optimal", StopReason.OPTIMAL),
)
"""CBC's final ``Result - ...`` line (e.g. ``Result - Stopped on time limit``) to stop reasons."""


@register
class CbcBackend(Backend):
    """COIN-OR CBC branch-and-cut through PuLP's bundled binary (``PULP_CBC_CMD``)."""

    name = "cbc"
    package = "pulp"
    capabilities = frozenset({"mip", "lp", "warm_start", "threads", "seed", "time_limit", "gap"})

    @classmethod
    def is_available(cls) -> bool:
        try:
            import pulp
        except ImportError:
            return False
        try:
            return bool(_cbc_command(pulp, msg=False).available())
        except Exception:  # PuLP 4 drops PULP_CBC_CMD; any failure means "not here"
            return False

    def solve(self, milp: MILP, options: SolveOptions) -> Result:
        import pulp

        t0 = time.perf_counter()
        prob, xs = _to_pulp(milp, pulp)
        build_s = time.perf_counter() - t0
        if options.warm_start is not None:
            _set_initial_values(xs, milp, options.warm_start)
        options = time_left(options, t0)  # the translation counts against the limit

        cbc_options = []
        if options.seed:
            # CBC reads 0 as "seed from the clock"; leave its fixed default for seed 0.
            cbc_options.append(f"randomCbcSeed {int(options.seed) % 2_147_483_647}")
        with tempfile.TemporaryDirectory(prefix="siting-cbc-") as tmp:
            log_path = Path(tmp) / "cbc.log"
            solver = _cbc_command(
                pulp,
                msg=False,
                timeLimit=options.time_limit_s,
                gapRel=float(options.mip_gap),
                threads=options.threads,
                warmStart=options.warm_start is not None,
                logPath=str(log_path),
                options=cbc_options,
            )
            t1 = time.perf_counter()
            try:
                prob.solve(solver)
            except pulp.PulpSolverError as exc:
                raise SolverError(f"CBC failed to run: {exc}") from exc
            call_s = time.perf_counter() - t1
            log = log_path.read_text(errors="replace") if log_path.exists() else ""
        if options.verbose and log:
            sys.stdout.write(log)
        return _read_result(prob, xs, milp, options, pulp, log, build_s, call_s)


def _cbc_command(pulp: Any, **kwargs: Any) -> Any:
    """``pulp.PULP_CBC_CMD(**kwargs)`` without PuLP's 4.0 deprecation warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return pulp.PULP_CBC_CMD(**kwargs)


def _to_pulp(milp: MILP, pulp: Any) -> tuple[Any, list[Any]]:
    """Build the PuLP problem: variables once, then one expression per row from CSR slices."""
    sense = pulp.LpMaximize if milp.sense == "max" else pulp.LpMinimize
    prob = pulp.LpProblem("milp", sense)
    make_var = getattr(prob, "add_variable", None)  # PuLP >= 3.3; LpVariable() warns there
    if make_var is None:
        make_var = pulp.LpVariable
    lows = [lo if math.isfinite(lo) else None for lo in milp.col_lower.tolist()]
    ups = [up if math.isfinite(up) else None for up in milp.col_upper.tolist()]
    cats = [pulp.LpInteger if b else pulp.LpContinuous for b in milp.integrality.tolist()]
    xs = [
        make_var(f"x{j}", lo, up, cat)
        for j, (lo, up, cat) in enumerate(zip(lows, ups, cats, strict=True))
    ]
    # Every variable enters the objective (zero costs included) so that PuLP writes all
    # columns, even those in no row; the offset stays out (CBC ignores it) and is added back.
    prob.setObjective(pulp.LpAffineExpression(zip(xs, milp.c.tolist(), strict=True)))

    a = _canonical_csr(milp)
    xv = np.empty(len(xs), dtype=object)
    xv[:] = xs
    row_vars = xv[a.indices].tolist()
    coefs = a.data.tolist()
    ptr = a.indptr.tolist()
    lower, upper = milp.row_lower, milp.row_upper
    has_lo, has_up = np.isfinite(lower), np.isfinite(upper)
    is_eq = has_lo & has_up & (lower == upper)
    expr_cls, con_cls = pulp.LpAffineExpression, pulp.LpConstraint
    ge, le, eq = pulp.LpConstraintGE, pulp.LpConstraintLE, pulp.LpConstraintEQ
    add = prob.addConstraint
    for i, lo, up, hlo, hup, heq in zip(
        range(milp.num_rows),
        lower.tolist(),
        upper.tolist(),
        has_lo.tolist(),
        has_up.tolist(),
        is_eq.tolist(),
        strict=True,
    ):
        if not (hlo or hup):
            continue
        s, e = ptr[i], ptr[i + 1]
        expr = expr_cls(zip(row_vars[s:e], coefs[s:e], strict=True))
        if heq:
            add(con_cls(expr, eq, f"r{i}", lo))
            continue
        if hlo:
            add(con_cls(expr, ge, f"r{i}_lo", lo))
        if hup:
            add(con_cls(expr.copy() if hlo else expr, le, f"r{i}_up", up))
    return prob, xs


def _canonical_csr(milp: MILP) -> sp.csr_matrix:
    """A CSR copy with duplicate entries summed (PuLP's dict would keep only the last)."""
    a = sp.csr_matrix(milp.A, dtype=np.float64, copy=True)
    a.sum_duplicates()
    a.eliminate_zeros()
    return a


def _set_initial_values(xs: list[Any], milp: MILP, warm_start: np.ndarray) -> None:
    values = np.clip(np.asarray(warm_start, dtype=float), milp.col_lower, milp.col_upper)
    values = np.where(milp.integrality, np.round(values), values)
    for var, val in zip(xs, values.tolist(), strict=True):
        var.setInitialValue(val, check=False)


def _read_result(
    prob: Any,
    xs: list[Any],
    milp: MILP,
    options: SolveOptions,
    pulp: Any,
    log: str,
    build_s: float,
    call_s: float,
) -> Result:
    lp_status, sol_status = prob.status, getattr(prob, "sol_status", None)
    if lp_status == pulp.LpStatusInfeasible or sol_status == pulp.LpSolutionInfeasible:
        status = Status.INFEASIBLE
    elif lp_status == pulp.LpStatusUnbounded or sol_status == pulp.LpSolutionUnbounded:
        status = Status.UNBOUNDED
    elif sol_status == pulp.LpSolutionOptimal:
        status = Status.OPTIMAL
    elif sol_status == pulp.LpSolutionIntegerFeasible:  # stopped on a limit with a solution
        status = Status.FEASIBLE
    elif lp_status == pulp.LpStatusNotSolved:
        status = Status.NO_SOLUTION
    else:
        status = Status.ERROR
    message = pulp.LpStatus.get(lp_status, str(lp_status))

    x: np.ndarray | None = None
    objective = bound = math.nan
    if status.has_solution:
        x = np.array([0.0 if v.varValue is None else v.varValue for v in xs], dtype=float)
        x[milp.integrality] = np.round(x[milp.integrality])  # CBC prints integers to 1e-6
        objective = milp.objective_value(x)
        bound = _log_bound(log, milp)
        within_gap = _WITHIN_GAP in log
        if status is Status.OPTIMAL and not within_gap:
            bound = objective  # search completed: optimality proven
        elif status is Status.OPTIMAL and relative_gap(objective, bound) > options.mip_gap + 1e-9:
            # CBC's own gap measure accepted it; ours (|obj - bound| / |obj|) does not.
            status = Status.FEASIBLE
            message = "stopped within CBC's gap tolerance, above the requested mip_gap"
        if status is Status.OPTIMAL and within_gap:
            message = "Optimal (within gap tolerance)"
        elif status is Status.FEASIBLE and sol_status == pulp.LpSolutionIntegerFeasible:
            message = "stopped on a limit with an integer solution"

    nodes_match = _NODES_RE.search(log)
    wall = _WALL_RE.findall(log)
    solve_s = float(wall[-1]) if wall else call_s
    stop = _log_stop(log, status, solve_s, options.time_limit_s)
    if status is Status.OPTIMAL:
        stop = optimal_stop(objective, bound, options.mip_gap)
    elif stop is StopReason.OPTIMAL:  # CBC's gap tolerance accepted what ours does not
        stop = StopReason.GAP_REACHED
    return Result(
        status=status,
        objective=objective,
        bound=bound,
        x=x,
        solver="cbc",
        build_s=build_s,
        solve_s=solve_s,
        nodes=int(nodes_match.group(1)) if nodes_match else None,
        message=message,
        extra={"model_build_s": build_s, "call_s": call_s},
        stop=stop,
    )


def _log_stop(
    log: str, status: Status, solve_s: float, time_limit_s: float | None
) -> StopReason | None:
    """Why CBC stopped, from its ``Result - ...`` line (PuLP reports a limit stop with a
    solution as optimal ``status`` with an integer-feasible ``sol_status`` and keeps no
    reason); without that line, from the status and the time used."""
    match = _RESULT_RE.search(log)
    text = match.group(1).lower() if match else ""
    for key, reason in _LOG_STOPS:
        if key in text:
            if key == "iterations or time" and not reached_time_limit(solve_s, time_limit_s):
                return StopReason.ITERATION_LIMIT
            return reason
    if status is Status.INFEASIBLE:
        return StopReason.INFEASIBLE
    if status is Status.UNBOUNDED:
        return StopReason.UNBOUNDED
    if status is Status.ERROR:
        return StopReason.ERROR
    if reached_time_limit(solve_s, time_limit_s):
        return StopReason.TIME_LIMIT
    return None


def _log_bound(log: str, milp: MILP) -> float:
    """CBC's best bound from its final report, widened by the printed rounding; nan if absent.

    CBC prints ``Lower bound:`` (min) or ``Upper bound:`` (max) in the user's sense, without
    the objective constant and with few decimals, so the value is moved outward by half a unit
    of the last printed digit and, when the objective is integral, rounded to the integers.
    """
    match = _BOUND_RE.search(log)
    if match is None:
        return math.nan
    text = match.group(2)
    try:
        value = float(text)
    except ValueError:
        return math.nan
    if not math.isfinite(value) or abs(value) >= 1e30:
        return math.nan
    decimals = len(text.split(".", 1)[1]) if "." in text and "e" not in text.lower() else 0
    slack = 0.5 * 10.0 ** (-decimals) if decimals else 0.0
    is_max = milp.sense == "max"
    value = value + slack if is_max else value - slack
    if _objective_is_integral(milp):
        value = math.floor(value + 1e-9) if is_max else math.ceil(value - 1e-9)
    return value + float(milp.offset)


def _objective_is_integral(milp: MILP) -> bool:
    """True when ``c @ x`` is an integer for every integer-feasible ``x``."""
    used = milp.c != 0
    if not np.all(milp.integrality[used]):
        return False
    c = milp.c[used]
    return bool(np.all(c == np.round(c)))
