"""HiGHS through highspy: the model is passed as one CSR matrix, no per-row calls."""

from __future__ import annotations

import logging
import math
import os
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np

from optimizer.backends.base import (
    Backend,
    Result,
    SolveOptions,
    SolveProgress,
    Status,
    StopReason,
    importable,
    optimal_stop,
    register,
    time_left,
)
from optimizer.milp import MILP

log = logging.getLogger(__name__)

if TYPE_CHECKING:  # highspy is imported when a solve runs (an optional solver package)
    import highspy


@register
class HighsBackend(Backend):
    """HiGHS MIP solver (branch-and-cut with presolve, default backend)."""

    name = "highs"
    package = "highspy==1.12.0"
    capabilities = frozenset(
        {"mip", "lp", "warm_start", "threads", "seed", "time_limit", "gap", "duals", "progress"}
    )

    @classmethod
    def is_available(cls) -> bool:
        return importable("highspy")

    def __init__(self, highs_options: Mapping[str, object] | None = None) -> None:
        self.highs_options = dict(highs_options or {})
        """Further HiGHS options (name -> value), set after the common ones."""

    def leave_behind(self) -> None:
        """Give descriptor 1 back now (:func:`_silenced_stdout`): the run's own output must
        not go to /dev/null while a HiGHS call left behind at its deadline still runs."""
        _release_stdout()

    def starts_in_time(self, n_columns: int, time_limit_s: float | None) -> bool:
        """False for a MIP too large to be set up within ``time_limit_s``
        (:data:`MIP_COLUMNS_PER_S`): such a MIP is answered NO_SOLUTION without starting."""
        return time_limit_s is None or n_columns <= MIP_COLUMNS_PER_S * time_limit_s

    def solve(self, milp: MILP, options: SolveOptions) -> Result:
        import highspy

        if milp.integrality.any() and not self.starts_in_time(milp.num_vars, options.time_limit_s):
            return _not_started(milp, options)
        started = time.perf_counter()
        h = highspy.Highs()
        h.setOptionValue("output_flag", bool(options.verbose))
        h.setOptionValue("mip_rel_gap", float(options.mip_gap))
        h.setOptionValue("random_seed", int(options.seed))
        if options.threads is not None:
            h.setOptionValue("threads", int(options.threads))
        for key, value in self.highs_options.items():
            h.setOptionValue(key, value)
        h.passModel(_to_highs_lp(milp, highspy))
        if options.warm_start is not None:
            sol = highspy.HighsSolution()
            sol.col_value = list(np.asarray(options.warm_start, dtype=float))
            sol.value_valid = True
            h.setSolution(sol)
        options = time_left(options, started)  # passing a big model takes seconds
        if options.time_limit_s is not None and "time_limit" not in self.highs_options:
            h.setOptionValue("time_limit", float(options.time_limit_s))
        if "presolve" not in self.highs_options and _presolve_too_slow(milp, options):
            h.setOptionValue("presolve", "off")
        if not options.primal_heuristics and "mip_heuristic_effort" not in self.highs_options:
            h.setOptionValue("mip_heuristic_effort", 0.0)
        if options.progress is not None and milp.integrality.any():
            report_progress(h, options.progress)
        self._before_run(h)
        t0 = time.perf_counter()
        if options.verbose:
            h.run()
        else:
            with _silenced_stdout():
                h.run()
        solve_s = time.perf_counter() - t0
        result = _read_result(h, milp, highspy, solve_s, float(options.mip_gap))
        self._after_run(h, result)
        return result

    @classmethod
    def refused_options(cls, highs_options: Mapping[str, object]) -> list[str]:
        """The names among ``highs_options`` that HiGHS refuses (unknown, wrong type or out
        of range), checked on a fresh solver."""
        import highspy

        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        ok = highspy.HighsStatus.kOk
        return [
            str(key)
            for key, value in highs_options.items()
            if h.setOptionValue(str(key), value) != ok
        ]

    def _before_run(self, h: highspy.Highs) -> None:
        """Hook for subclasses: called with the loaded ``highspy.Highs`` before it runs."""

    def _after_run(self, h: highspy.Highs, result: Result) -> None:
        """Hook for subclasses: called with the finished solver and its result."""


PRESOLVE_NNZ_PER_S = 20_000.0
"""A MIP with more nonzeros than this per second of its time limit runs without presolve
(and one whose :data:`PRESOLVE_S_PER_MNNZ2` time exceeds the limit).

HiGHS 1.12 reads its clock only between presolve passes (and in probing not at all), and one
pass over a few hundred thousand nonzeros can take tens of seconds: the 296,000-nonzero
backup-coverage MIP of a 20,000 x 5,000 city stopped after 19-26 s under a 4 s limit, and
after 1 s with presolve off (ERGO-Code/HiGHS issues 1501 and 2226). Without presolve the
search checks its clock often; where presolve could not end in time, it adds nothing.
"""


PRESOLVE_S_PER_MNNZ2 = 230.0
"""Seconds HiGHS's MIP presolve may take per (million nonzeros) squared: its passes grow
faster than the nonzeros. The backup MIP above (0.3 million) took about 20 s; the reduced MCLP of
a 100,000 x 20,000 city (969,185 nonzeros, p = 4,000) ran 170 s under a 97 s limit, beyond
what the linear rule allows for it, and stopped at 40.1 s of 40 s with presolve off."""


def presolve_fits(nonzeros: int, time_limit_s: float | None) -> bool:
    """True when HiGHS's MIP presolve on ``nonzeros`` can end within ``time_limit_s``
    (:data:`PRESOLVE_NNZ_PER_S` and :data:`PRESOLVE_S_PER_MNNZ2`; always without a limit)."""
    if time_limit_s is None:
        return True
    quadratic_s = PRESOLVE_S_PER_MNNZ2 * (nonzeros / 1e6) ** 2
    return nonzeros <= PRESOLVE_NNZ_PER_S * time_limit_s and quadratic_s <= time_limit_s


def set_run_limit(h: highspy.Highs, time_limit_s: float | None, *, mip: bool) -> None:
    """Let the next ``h.run()`` take at most ``time_limit_s`` seconds (None: no limit).

    HiGHS 1.12 reads its ``time_limit`` against two different clocks. An LP run compares it
    with the run time the object has accumulated over all its runs, not with the current run's
    (HiGHS issues #1331 and #1477): a master re-solved round after round with ``time_limit``
    set to the time left stops at once when its earlier rounds took longer than that (the
    dense city's p-median LP master ended its rounds at 29 s of the 51 s it had, its seventh
    round stopped at once). A MIP run compares it with a clock of its own that starts at zero:
    there the accumulated time must not be added (re-runs of one MIP with a 3 s limit so
    computed took 3, 6, 12 and 25 s; the TSPLIB fl1400 p-median master MIP ran 71 s of its
    56). ``mip``: whether the model now has integer columns (HiGHS solves it as a MIP)."""
    if time_limit_s is None:
        limit = math.inf
    else:
        limit = max(0.05, time_limit_s) + (0.0 if mip else float(h.getRunTime()))
    h.setOptionValue("time_limit", limit)


def _presolve_too_slow(milp: MILP, options: SolveOptions) -> bool:
    """True for a MIP too large for presolve to end within its time limit
    (:func:`presolve_fits`); LPs keep presolve (the LP solvers check their clock)."""
    return bool(milp.integrality.any()) and not presolve_fits(milp.A.nnz, options.time_limit_s)


MIP_COLUMNS_PER_S = 50_000.0
"""A MIP with more columns than this per second of its time limit is not started.

Before its first clock reading HiGHS 1.12 sets the MIP up in time linear in the columns, about
20 microseconds each on the 2-core benchmark machine (presolve off): the p-median MIP of pmed40
(810,900 columns) ended after 15-20 s under a 4 s limit, that of a 20,000 x 5,000 city at 800 m
(1.35 million columns) after 33 s. Such a MIP finds nothing in its time; saying so at once
keeps the run within its limit.
"""


WARM_START_TOL = 1e-6
"""Largest violation of a warm start returned as the answer of a MIP not started (HiGHS's own
``mip_feasibility_tolerance``)."""


def _not_started(milp: MILP, options: SolveOptions) -> Result:
    """The answer of a MIP not started (:meth:`HighsBackend.starts_in_time`), at the time
    limit: its warm start when that is feasible (FEASIBLE, no bound), else no solution."""
    message = (
        f"Time limit reached: the MIP's {milp.num_vars:,} columns cannot be set up within "
        f"{options.time_limit_s:.3g} s (HiGHS does not read its clock meanwhile); not started"
    )
    log.info("highs: %s", message)
    x = options.warm_start
    if x is not None and len(x) == milp.num_vars and milp.max_violation(x) <= WARM_START_TOL:
        x = np.asarray(x, dtype=float)
        return Result(
            status=Status.FEASIBLE,
            objective=milp.objective_value(x),
            bound=-math.inf if milp.sense == "min" else math.inf,
            x=x,
            solver="highs",
            message=message + "; the warm start is the answer",
            stop=StopReason.TIME_LIMIT,
        )
    return Result(
        status=Status.NO_SOLUTION,
        objective=math.nan,
        bound=math.nan,
        x=None,
        solver="highs",
        message=message,
        stop=StopReason.TIME_LIMIT,
    )


_silence_lock = threading.Lock()
_silence_depth = 0
_saved_stdout_fd: int | None = None


@contextmanager
def _silenced_stdout() -> Iterator[None]:
    """Send file descriptor 1 to /dev/null while HiGHS runs.

    HiGHS 1.12 prints some debug lines with a plain ``printf`` (e.g.
    ``HighsMipSolverData::transformNewIntegerFeasibleSolution tmpSolver.run();``) that its
    ``output_flag`` does not silence. Solves may run in several threads at once (the covering
    search runs sub-MIPs beside the main MIP), so the first one in redirects and the last one
    out restores, under a lock.
    """
    global _silence_depth, _saved_stdout_fd
    with _silence_lock:
        if _silence_depth == 0:
            try:
                sys.stdout.flush()
                saved = os.dup(1)
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, 1)
                os.close(devnull)
                _saved_stdout_fd = saved
            except OSError:  # no usable descriptor 1: nothing to silence
                _saved_stdout_fd = None
        _silence_depth += 1
    try:
        yield
    finally:
        with _silence_lock:
            _silence_depth -= 1
            if _silence_depth == 0 and _saved_stdout_fd is not None:
                os.dup2(_saved_stdout_fd, 1)
                os.close(_saved_stdout_fd)
                _saved_stdout_fd = None


def _release_stdout() -> None:
    """Restore descriptor 1 now, though HiGHS calls may still run (their stray lines may then
    show); the last call out then has nothing to restore."""
    global _saved_stdout_fd
    with _silence_lock:
        if _saved_stdout_fd is not None:
            sys.stdout.flush()
            os.dup2(_saved_stdout_fd, 1)
            os.close(_saved_stdout_fd)
            _saved_stdout_fd = None


def _to_highs_lp(milp: MILP, highspy: ModuleType) -> highspy.HighsLp:
    lp = highspy.HighsLp()
    a = milp.A.tocsr()
    a.sort_indices()
    lp.num_col_ = milp.num_vars
    lp.num_row_ = milp.num_rows
    lp.col_cost_ = milp.c
    lp.col_lower_ = milp.col_lower
    lp.col_upper_ = milp.col_upper
    lp.row_lower_ = milp.row_lower
    lp.row_upper_ = milp.row_upper
    lp.offset_ = float(milp.offset)
    lp.sense_ = highspy.ObjSense.kMaximize if milp.sense == "max" else highspy.ObjSense.kMinimize
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.start_ = a.indptr.astype(np.int32)
    lp.a_matrix_.index_ = a.indices.astype(np.int32)
    lp.a_matrix_.value_ = a.data.astype(float)
    lp.a_matrix_.num_col_ = milp.num_vars
    lp.a_matrix_.num_row_ = milp.num_rows
    if milp.integrality.any():
        kint, kcont = highspy.HighsVarType.kInteger, highspy.HighsVarType.kContinuous
        lp.integrality_ = [kint if b else kcont for b in milp.integrality]
    return lp


def report_progress(h: highspy.Highs, progress: SolveProgress) -> None:
    """Copy the MIP's dual bound into ``progress`` at each of its interrupt checks (40 in
    108 s on the 50,000-block city MCLP: the cost is nil)."""

    def note(event: highspy.highs.HighsCallbackEvent) -> None:
        bound = float(event.data_out.mip_dual_bound)
        if math.isfinite(bound):
            progress.bound = bound

    h.cbMipInterrupt.subscribe(note)


def _read_result(
    h: highspy.Highs, milp: MILP, highspy: ModuleType, solve_s: float, mip_gap: float
) -> Result:
    ms = h.getModelStatus()
    info = h.getInfo()
    has_primal = int(info.primal_solution_status) == 2  # kSolutionStatusFeasible
    x = np.asarray(h.getSolution().col_value, dtype=float) if has_primal else None
    is_mip = bool(milp.integrality.any())
    objective = float(info.objective_function_value) if has_primal else math.nan
    if is_mip:
        bound = float(info.mip_dual_bound)
        nodes: int | None = int(info.mip_node_count)
    else:
        bound = objective
        nodes = None

    status, stop = _status_and_stop(ms, highspy.HighsModelStatus, x is not None)
    row_dual = None
    if status is Status.OPTIMAL and not is_mip:
        bound = objective
        if int(info.dual_solution_status) == 2:
            row_dual = np.asarray(h.getSolution().row_dual, dtype=float)
    bound = bound if math.isfinite(bound) else math.nan
    if stop is StopReason.OPTIMAL:
        stop = optimal_stop(objective, bound, mip_gap)
    return Result(
        status=status,
        objective=objective,
        bound=bound,
        x=x,
        solver="highs",
        solve_s=solve_s,
        nodes=nodes,
        message=h.modelStatusToString(ms),
        row_dual=row_dual,
        stop=stop,
    )


def _status_and_stop(
    ms: highspy.HighsModelStatus, st: type[highspy.HighsModelStatus], has_solution: bool
) -> tuple[Status, StopReason]:
    """Status and stop reason of a HiGHS model status (``st`` is ``HighsModelStatus``).

    A limit or an interrupt with a solution in hand is FEASIBLE, never OPTIMAL; the limit
    itself is kept as the stop reason.
    """
    limit_stops = {
        st.kTimeLimit: StopReason.TIME_LIMIT,
        st.kIterationLimit: StopReason.ITERATION_LIMIT,
        st.kSolutionLimit: StopReason.ITERATION_LIMIT,  # also node and leaf limits
        st.kObjectiveBound: StopReason.ITERATION_LIMIT,  # a user objective cut-off
        st.kObjectiveTarget: StopReason.ITERATION_LIMIT,
        st.kInterrupt: StopReason.INTERRUPTED,
        st.kHighsInterrupt: StopReason.INTERRUPTED,
    }
    found = Status.FEASIBLE if has_solution else Status.NO_SOLUTION
    if ms == st.kOptimal:
        return Status.OPTIMAL, StopReason.OPTIMAL
    if ms == st.kInfeasible:
        return Status.INFEASIBLE, StopReason.INFEASIBLE
    if ms in (st.kUnbounded, st.kUnboundedOrInfeasible):
        return Status.UNBOUNDED, StopReason.UNBOUNDED
    if ms in limit_stops:
        return found, limit_stops[ms]
    # load, presolve, solve, postsolve or memory errors: keep a solution if there is one
    return (found if has_solution else Status.ERROR), StopReason.ERROR
