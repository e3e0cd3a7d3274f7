"""The one result type: immutability, the gap rules, the weakest status, and stop reasons as
HiGHS reports them (a limit is kept as the reason and never turned into OPTIMAL)."""

from __future__ import annotations

import dataclasses
import math

import highspy
import numpy as np
import pytest
import scipy.sparse as sp

from optimizer.backends import SolveOptions, optimal_stop, reached_time_limit
from optimizer.backends.highs import HighsBackend, _status_and_stop
from optimizer.bench.generators import random_uniform
from optimizer.milp import MILP
from optimizer.models.pmedian.model import PMedianData, build_model
from optimizer.result import Result, Status, StopReason, relative_gap, weakest


def _result(**changes: object) -> Result:
    base = Result(Status.FEASIBLE, 10.0, 8.0, np.zeros(3), "test", stop=StopReason.TIME_LIMIT)
    return base.replace(**changes)


def hard_pmedian() -> MILP:
    """A generated p-median (300 points, 60 sites, p = 15): HiGHS needs about a second."""
    prob = random_uniform(300, 60, seed=0)
    return build_model(PMedianData.from_arrays(prob.pairs(None), 15, prob.weight))


def set_cover(n: int = 150, m: int = 500, per_row: int = 5, seed: int = 1) -> MILP:
    """A random unicost-row set cover whose LP bound leaves a gap at the root."""
    rng = np.random.default_rng(seed)
    rows = np.repeat(np.arange(m), per_row)
    cols = np.concatenate([rng.choice(n, per_row, replace=False) for _ in range(m)])
    return MILP(
        c=rng.integers(1, 100, n).astype(float),
        A=sp.csr_matrix((np.ones(m * per_row), (rows, cols)), shape=(m, n)),
        row_lower=np.ones(m),
        row_upper=np.full(m, np.inf),
        col_lower=np.zeros(n),
        col_upper=np.ones(n),
        integrality=np.ones(n, dtype=bool),
        name="cover",
    )


# ------------------------------------------------------------------------- the type itself


def test_result_is_frozen() -> None:
    res = _result()
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.objective = 1.0  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.stop = StopReason.OPTIMAL  # type: ignore[misc]


def test_replace_makes_a_new_result_and_leaves_the_old_one() -> None:
    res = _result()
    better = res.replace(bound=10.0, status=Status.OPTIMAL, stop=StopReason.OPTIMAL)
    assert better is not res
    assert (better.bound, better.status, better.stop) == (10.0, Status.OPTIMAL, StopReason.OPTIMAL)
    assert (res.bound, res.status, res.stop) == (8.0, Status.FEASIBLE, StopReason.TIME_LIMIT)
    assert better.objective == res.objective and better.solver == res.solver
    assert better.proven_optimal and not res.proven_optimal
    assert better.stop_text == "optimal" and _result(stop=None).stop_text == ""


def test_gap_is_relative_to_the_objective() -> None:
    assert _result().gap == pytest.approx(0.2)
    assert _result(objective=-10.0, bound=-12.0).gap == pytest.approx(0.2)
    assert relative_gap(10.0, 8.0) == _result().gap


def test_gap_is_zero_within_1e_9() -> None:
    assert _result(objective=1e6, bound=1e6 * (1 - 5e-10)).gap == 0.0
    assert _result(objective=0.0, bound=5e-10).gap == 0.0
    assert _result(objective=1e6, bound=1e6 * (1 - 1e-8)).gap > 0.0


@pytest.mark.parametrize(
    ("objective", "bound"),
    [(10.0, math.nan), (math.nan, 8.0), (math.nan, math.nan), (math.inf, 8.0), (10.0, -math.inf)],
)
def test_gap_is_infinite_when_a_side_is_unknown(objective: float, bound: float) -> None:
    assert _result(objective=objective, bound=bound).gap == math.inf


def test_weakest_is_the_least_proven_status() -> None:
    assert weakest([Status.OPTIMAL, Status.OPTIMAL]) is Status.OPTIMAL
    assert weakest([Status.OPTIMAL, Status.FEASIBLE, Status.OPTIMAL]) is Status.FEASIBLE
    assert weakest([Status.FEASIBLE, Status.NO_SOLUTION]) is Status.NO_SOLUTION
    assert weakest([Status.INFEASIBLE, Status.OPTIMAL]) is Status.INFEASIBLE
    assert weakest([Status.ERROR, Status.UNBOUNDED, Status.OPTIMAL]) is Status.ERROR
    assert weakest([]) is Status.NO_SOLUTION


def test_optimal_stop_and_time_limit_helpers() -> None:
    assert optimal_stop(10.0, 10.0, 0.0) is StopReason.OPTIMAL
    assert optimal_stop(10.0, 9.0, 0.0) is StopReason.OPTIMAL  # mip_gap 0: the solver's proof
    assert optimal_stop(10.0, 9.0, 0.2) is StopReason.GAP_REACHED
    assert optimal_stop(10.0, 10.0 * (1 - 1e-10), 0.2) is StopReason.OPTIMAL
    assert reached_time_limit(1.0, 1.0) and reached_time_limit(0.99, 1.0)
    assert not reached_time_limit(0.5, 1.0) and not reached_time_limit(1e9, None)


# -------------------------------------------------------------------- HiGHS stop reasons


@pytest.mark.parametrize(
    ("status", "has_solution", "expected"),
    [
        ("kOptimal", True, (Status.OPTIMAL, StopReason.OPTIMAL)),
        ("kTimeLimit", True, (Status.FEASIBLE, StopReason.TIME_LIMIT)),
        ("kTimeLimit", False, (Status.NO_SOLUTION, StopReason.TIME_LIMIT)),
        ("kIterationLimit", True, (Status.FEASIBLE, StopReason.ITERATION_LIMIT)),
        ("kSolutionLimit", True, (Status.FEASIBLE, StopReason.ITERATION_LIMIT)),
        ("kInterrupt", True, (Status.FEASIBLE, StopReason.INTERRUPTED)),
        ("kInterrupt", False, (Status.NO_SOLUTION, StopReason.INTERRUPTED)),
        ("kInfeasible", False, (Status.INFEASIBLE, StopReason.INFEASIBLE)),
        ("kUnboundedOrInfeasible", False, (Status.UNBOUNDED, StopReason.UNBOUNDED)),
        ("kSolveError", False, (Status.ERROR, StopReason.ERROR)),
        ("kMemoryLimit", True, (Status.FEASIBLE, StopReason.ERROR)),
    ],
)
def test_highs_model_status_maps_to_status_and_stop(
    status: str, has_solution: bool, expected: tuple[Status, StopReason]
) -> None:
    st = highspy.HighsModelStatus
    assert _status_and_stop(getattr(st, status), st, has_solution) == expected


def test_highs_time_limit_is_never_optimal() -> None:
    """A tiny time limit on a generated p-median that HiGHS needs about a second for."""
    milp = hard_pmedian()
    result = HighsBackend().solve(milp, SolveOptions(time_limit_s=0.05, threads=1))
    assert result.stop is StopReason.TIME_LIMIT, result.message
    assert result.status in (Status.FEASIBLE, Status.NO_SOLUTION)
    assert result.status.has_solution == (result.x is not None)


def test_highs_optimal_solve_says_optimal() -> None:
    milp = hard_pmedian()
    result = HighsBackend().solve(milp, SolveOptions(time_limit_s=60.0, threads=1))
    assert result.status is Status.OPTIMAL and result.stop is StopReason.OPTIMAL
    assert result.gap <= 1e-6


def test_highs_node_limit_is_an_iteration_limit() -> None:
    milp = set_cover(n=80, m=250)
    result = HighsBackend({"mip_max_nodes": 1}).solve(
        milp, SolveOptions(time_limit_s=30.0, threads=1)
    )
    assert result.status is Status.FEASIBLE and result.stop is StopReason.ITERATION_LIMIT
    assert result.gap > 0.0


def test_highs_mip_gap_stop_says_gap_reached() -> None:
    milp = set_cover()
    result = HighsBackend().solve(milp, SolveOptions(time_limit_s=30.0, mip_gap=0.5, threads=1))
    assert result.status is Status.OPTIMAL
    assert 0.0 < result.gap <= 0.5 + 1e-9  # stopped early, with a gap left
    assert result.stop is StopReason.GAP_REACHED
