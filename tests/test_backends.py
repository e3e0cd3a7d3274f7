"""Every available solver backend against small problems with known answers.

The optima are computed inside the tests by brute force, so a backend that reads the arrays
wrongly (sense, offset, ranged rows, integrality) fails here.
"""

from __future__ import annotations

import itertools
import math
import time

import highspy
import numpy as np
import pytest
import scipy.sparse as sp

from optimizer.backends import (
    SolveOptions,
    SolveProgress,
    Status,
    StopReason,
    available_backends,
    backend_names,
    get_backend,
)
from optimizer.backends.highs import (
    PRESOLVE_NNZ_PER_S,
    PRESOLVE_S_PER_MNNZ2,
    _silenced_stdout,
    presolve_fits,
    set_run_limit,
)
from optimizer.errors import SolverError, SolverNotAvailable
from optimizer.milp import MILP, Sense
from optimizer.models.covering.lscp import LscpData
from optimizer.models.covering.lscp import build_model as build_lscp

BACKENDS = available_backends()
EXPECTED = {"highs", "cbc", "scip", "cpsat"}


def weighted_set_cover(n: int, m: int, seed: int) -> MILP:
    """A random weighted (multi-)cover: each row needs 1 or 2 of its columns chosen."""
    rng = np.random.default_rng(seed)
    rows, cols, need = [], [], []
    for i in range(m):
        k = int(rng.integers(2, 5))
        chosen = rng.choice(n, size=k, replace=False)
        rows += [i] * k
        cols += chosen.tolist()
        need.append(2.0 if rng.random() < 0.2 else 1.0)
    a = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(m, n))
    # Quarter costs: exact in floating point, and CP-SAT must scale the objective by 4.
    cost = rng.integers(4, 160, size=n) / 4.0
    return MILP(
        c=cost,
        A=a,
        row_lower=np.array(need),
        row_upper=np.full(m, np.inf),
        col_lower=np.zeros(n),
        col_upper=np.ones(n),
        integrality=np.ones(n, dtype=bool),
        name=f"cover-{seed}",
    )


def brute_force_cover(milp: MILP) -> float:
    """Optimum over all 2**n binary choices."""
    n = milp.num_vars
    choices = ((np.arange(2**n)[:, None] >> np.arange(n)) & 1).astype(float)
    feasible = np.all(milp.row_lower[:, None] <= milp.A @ choices.T, axis=0)
    assert feasible.any()
    return float(np.min(choices[feasible] @ milp.c) + milp.offset)


def big_set_cover(n: int = 400, m: int = 1500, per_row: int = 5, seed: int = 1) -> MILP:
    rng = np.random.default_rng(seed)
    rows = np.repeat(np.arange(m), per_row)
    cols = np.concatenate([rng.choice(n, per_row, replace=False) for _ in range(m)])
    a = sp.csr_matrix((np.ones(m * per_row), (rows, cols)), shape=(m, n))
    return MILP(
        c=rng.integers(1, 100, n).astype(float),
        A=a,
        row_lower=np.ones(m),
        row_upper=np.full(m, np.inf),
        col_lower=np.zeros(n),
        col_upper=np.ones(n),
        integrality=np.ones(n, dtype=bool),
        name="big-cover",
    )


def test_all_backends_registered() -> None:
    assert set(backend_names()) >= EXPECTED


@pytest.mark.parametrize("name", BACKENDS)
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_set_cover_matches_brute_force(name: str, seed: int) -> None:
    milp = weighted_set_cover(n=10, m=14, seed=seed)
    expected = brute_force_cover(milp)
    result = get_backend(name).solve(milp, SolveOptions(time_limit_s=30.0, threads=1))
    assert result.status is Status.OPTIMAL, result.message
    assert result.x is not None
    assert result.objective == pytest.approx(expected, abs=1e-6)
    assert result.gap == 0.0
    assert milp.max_violation(result.x) <= 1e-6
    assert milp.objective_value(result.x) == pytest.approx(expected, abs=1e-6)
    assert result.solver == name


@pytest.mark.parametrize("name", BACKENDS)
def test_without_primal_heuristics_the_optimum_is_still_proven(name: str) -> None:
    """``primal_heuristics=False`` (a search beside the MIP finds the solutions) changes how
    a backend searches, never what it proves."""
    for seed in range(3):
        milp = weighted_set_cover(n=10, m=14, seed=seed)
        options = SolveOptions(time_limit_s=30.0, threads=1, primal_heuristics=False)
        result = get_backend(name).solve(milp, options)
        assert result.status is Status.OPTIMAL, result.message
        assert result.objective == pytest.approx(brute_force_cover(milp), abs=1e-6)


def test_presolve_rule_grows_faster_than_the_nonzeros() -> None:
    """Linear for small MIPs, quadratic for large ones (HiGHS reads no clock in presolve)."""
    small, big = 100_000, 1_000_000
    assert presolve_fits(small, small / PRESOLVE_NNZ_PER_S)
    assert not presolve_fits(small, 0.9 * small / PRESOLVE_NNZ_PER_S)
    linear_s = big / PRESOLVE_NNZ_PER_S
    assert linear_s < PRESOLVE_S_PER_MNNZ2  # the quadratic term is what binds at a million
    assert not presolve_fits(big, 2 * linear_s)
    assert presolve_fits(big, PRESOLVE_S_PER_MNNZ2)
    assert presolve_fits(big, None)


def _box_problem(sense: Sense) -> MILP:
    """3x0 + 2.5x1 + 4x2 + x3 + 7.5 over x in {0..4}^4 with a ranged and an equality row."""
    a = np.array(
        [
            [1.0, 1.0, 1.0, 0.0],  # 2 <= . <= 5   (ranged)
            [0.0, 0.0, 1.0, 2.0],  # . == 4        (equality)
            [3.0, 0.0, 0.0, 1.0],  # . <= 7
        ]
    )
    return MILP(
        c=np.array([3.0, 2.5, 4.0, 1.0]),
        A=sp.csr_matrix(a),
        row_lower=np.array([2.0, 4.0, -np.inf]),
        row_upper=np.array([5.0, 4.0, 7.0]),
        col_lower=np.zeros(4),
        col_upper=np.full(4, 4.0),
        integrality=np.ones(4, dtype=bool),
        sense=sense,
        offset=7.5,
    )


def _brute_force_box(milp: MILP) -> tuple[float, np.ndarray]:
    lo, hi = milp.col_lower.astype(int), milp.col_upper.astype(int)
    ranges = (range(a, b + 1) for a, b in zip(lo, hi, strict=True))
    grid = np.array(list(itertools.product(*ranges)), dtype=float)
    ax = milp.A @ grid.T
    ok = np.all((ax >= milp.row_lower[:, None]) & (ax <= milp.row_upper[:, None]), axis=0)
    values = grid[ok] @ milp.c + milp.offset
    best = int(np.argmax(values) if milp.sense == "max" else np.argmin(values))
    return float(values[best]), grid[ok][best]


@pytest.mark.parametrize("name", BACKENDS)
@pytest.mark.parametrize(
    ("sense", "expected", "expected_x"),
    [
        ("max", 26.5, [1.0, 0.0, 4.0, 0.0]),  # ranged row binds at its upper side
        ("min", 14.5, [0.0, 2.0, 0.0, 2.0]),  # ranged row binds at its lower side
    ],
)
def test_ranged_and_equality_rows_with_offset(
    name: str, sense: Sense, expected: float, expected_x: list[float]
) -> None:
    milp = _box_problem(sense)
    brute, brute_x = _brute_force_box(milp)
    assert brute == expected and np.array_equal(brute_x, expected_x)  # the unique optimum
    result = get_backend(name).solve(milp, SolveOptions(time_limit_s=30.0))
    assert result.status is Status.OPTIMAL, result.message
    assert result.stop is StopReason.OPTIMAL
    assert result.x is not None
    assert result.objective == pytest.approx(expected, abs=1e-6)
    assert result.bound == pytest.approx(expected, abs=1e-6)
    np.testing.assert_allclose(result.x, expected_x, atol=1e-6)
    assert milp.max_violation(result.x) <= 1e-6


@pytest.mark.parametrize("name", BACKENDS)
def test_infeasible_model_is_reported(name: str) -> None:
    # 2 x0 + 2 x1 = 3 has LP solutions but no integer one.
    milp = MILP(
        c=np.array([1.0, 1.0, 1.0]),
        A=sp.csr_matrix(np.array([[2.0, 2.0, 0.0], [1.0, 1.0, 1.0]])),
        row_lower=np.array([3.0, -np.inf]),
        row_upper=np.array([3.0, 5.0]),
        col_lower=np.zeros(3),
        col_upper=np.full(3, 5.0),
        integrality=np.ones(3, dtype=bool),
    )
    result = get_backend(name).solve(milp, SolveOptions(time_limit_s=30.0))
    assert result.status is Status.INFEASIBLE, result.message
    assert result.stop is StopReason.INFEASIBLE
    assert result.x is None
    assert not result.status.has_solution


@pytest.mark.parametrize("name", BACKENDS)
def test_time_limit_never_claims_unproven_optimality(name: str) -> None:
    milp = big_set_cover()
    options = SolveOptions(time_limit_s=0.5, threads=1)
    result = get_backend(name).solve(milp, options)
    assert result.status in (Status.OPTIMAL, Status.FEASIBLE, Status.NO_SOLUTION), result.message
    if result.status is Status.OPTIMAL:
        assert result.gap <= options.mip_gap + 1e-9
        assert result.stop is StopReason.OPTIMAL
    else:  # the limit is kept as the reason, never dropped
        assert result.stop is StopReason.TIME_LIMIT, (result.message, result.solve_s)
    if result.status.has_solution:
        assert result.x is not None
        assert milp.max_violation(result.x) <= 1e-6
        assert result.objective == pytest.approx(milp.objective_value(result.x), abs=1e-6)
        if math.isfinite(result.bound):  # a lower bound on a minimisation
            assert result.bound <= result.objective + 1e-6
    else:
        assert result.x is None
    assert result.solve_s < 10.0


@pytest.mark.parametrize("name", BACKENDS)
def test_warm_start_with_the_optimum_is_accepted(name: str) -> None:
    milp = weighted_set_cover(n=10, m=14, seed=5)
    first = get_backend(name).solve(milp, SolveOptions(time_limit_s=30.0))
    assert first.status is Status.OPTIMAL and first.x is not None
    again = get_backend(name).solve(milp, SolveOptions(time_limit_s=30.0, warm_start=first.x))
    assert again.status is Status.OPTIMAL, again.message
    assert again.objective == pytest.approx(first.objective, abs=1e-6)


def test_unknown_backend_names_the_choices() -> None:
    with pytest.raises(SolverNotAvailable) as info:
        get_backend("nope")
    message = str(info.value)
    assert "nope" in message
    for name in backend_names():
        assert name in message


@pytest.mark.skipif("cpsat" not in BACKENDS, reason="CP-SAT not installed")
@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"integrality": [True, False]}, "continuous"),
        ({"col_upper": np.inf}, "finite bounds"),
        ({"A": sp.csr_matrix(np.array([[math.pi, 1.0]]))}, "integer data"),
        ({"c": np.array([math.sqrt(2.0), 1.0])}, "integer data"),
    ],
)
def test_cpsat_rejects_data_it_cannot_scale(change: dict[str, object], fragment: str) -> None:
    fields: dict[str, object] = {
        "c": np.array([1.0, 1.0]),
        "A": sp.csr_matrix(np.array([[1.0, 1.0]])),
        "row_lower": np.array([1.0]),
        "row_upper": np.array([5.0]),
        "col_lower": 0.0,
        "col_upper": 3.0,
        "integrality": True,
    }
    fields.update(change)
    milp = MILP(**fields)  # type: ignore[arg-type]
    with pytest.raises(SolverError, match=fragment):
        get_backend("cpsat").solve(milp, SolveOptions())


@pytest.mark.skipif("cpsat" not in BACKENDS, reason="CP-SAT not installed")
def test_cpsat_scales_rational_rows_exactly() -> None:
    # Rows in sevenths and tenths, costs in thirds: optimum 7/12 at x = (1, 1, 0).
    milp = MILP(
        c=np.array([0.25, 1.0 / 3.0, 0.1]),
        A=sp.csr_matrix(np.array([[0.5, 1.5, 0.2], [1.0 / 7.0, 2.0 / 7.0, 0.0]])),
        row_lower=np.array([1.1, 0.3]),
        row_upper=np.array([np.inf, 10.0]),
        col_lower=np.zeros(3),
        col_upper=np.full(3, 10.0),
        integrality=np.ones(3, dtype=bool),
    )
    result = get_backend("cpsat").solve(milp, SolveOptions())
    assert result.status is Status.OPTIMAL
    assert result.objective == pytest.approx(7.0 / 12.0, abs=1e-9)
    assert result.x is not None and milp.max_violation(result.x) <= 1e-9
    assert result.extra["objective_scale"] == 60


def test_highs_stray_prints_are_silenced_and_stdout_restored(
    capfd: pytest.CaptureFixture[str],
) -> None:
    # HiGHS 1.12 printf()s some debug lines whatever its output_flag: a solve sends
    # descriptor 1 to /dev/null (nested and threaded solves share one redirect) and restores it
    import os
    import threading

    def inner() -> None:
        with _silenced_stdout():
            os.write(1, b"from a thread\n")

    with _silenced_stdout():
        os.write(1, b"hidden\n")
        worker = threading.Thread(target=inner)
        worker.start()
        worker.join()
        os.write(1, b"still hidden\n")
    os.write(1, b"shown\n")
    assert capfd.readouterr().out == "shown\n"


@pytest.mark.parametrize("name", BACKENDS)
def test_a_positive_mip_gap_stop_says_gap_reached(name: str) -> None:
    """With ``mip_gap`` 0.5 a solver may stop early: OPTIMAL (to that gap) with the reason
    GAP_REACHED where a gap is left (all four, at 150 x 500), OPTIMAL where none is."""
    milp = big_set_cover(n=150, m=500)
    options = SolveOptions(time_limit_s=20.0, mip_gap=0.5, threads=1)
    result = get_backend(name).solve(milp, options)
    assert result.status is Status.OPTIMAL, result.message
    assert result.gap <= options.mip_gap + 1e-9
    expected = StopReason.GAP_REACHED if result.gap > 0.0 else StopReason.OPTIMAL
    assert result.stop is expected, (result.objective, result.bound, result.message)


def test_highs_reports_its_bound_while_it_runs() -> None:
    # a unicost cover that needs some branching: HiGHS passes its interrupt checks, and
    # the bound it reported there is a bound of the optimum (what a caller that stopped
    # waiting for the call keeps)
    rng = np.random.default_rng(0)
    m, n = 200, 80
    a = (rng.random((m, n)) < 0.05).astype(float)
    a[np.arange(m), np.arange(m) % n] = 1.0
    data = LscpData.from_arrays(sp.csr_matrix(a), np.ones(n))
    progress = SolveProgress()
    res = get_backend("highs").solve(
        build_lscp(data), SolveOptions(time_limit_s=30, progress=progress)
    )
    assert res.status is Status.OPTIMAL
    assert "progress" in type(get_backend("highs")).capabilities
    assert math.isfinite(progress.bound) and progress.bound <= res.objective + 1e-6
    left = progress.result("left behind")
    assert left.status is Status.NO_SOLUTION and left.bound == progress.bound


def test_a_highs_object_run_again_gets_its_full_limit_each_time() -> None:
    """HiGHS compares ``time_limit`` with its accumulated run time: without
    :func:`set_run_limit` the runs after the first few stop at once (kTimeLimit)."""
    rng = np.random.default_rng(0)
    n, m = 3000, 1200
    a = sp.random(m, n, density=0.01, random_state=0, format="csc")
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = n, m
    lp.col_cost_ = rng.random(n)
    lp.col_lower_, lp.col_upper_ = np.zeros(n), np.full(n, highspy.kHighsInf)
    lp.row_lower_, lp.row_upper_ = np.ones(m), np.full(m, highspy.kHighsInf)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_, lp.a_matrix_.index_, lp.a_matrix_.value_ = a.indptr, a.indices, a.data
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.passModel(lp)
    h.run()
    once = max(h.getRunTime(), 1e-3)
    limit = 5.0 * once  # each run fits with room to spare; a few runs together do not
    statuses = []
    while h.getRunTime() < 2.0 * limit and len(statuses) < 60:
        h.clearSolver()
        set_run_limit(h, limit, mip=False)
        h.run()
        statuses.append(h.getModelStatus())
    assert h.getRunTime() >= 2.0 * limit  # the runs together used twice the limit
    assert all(s == highspy.HighsModelStatus.kOptimal for s in statuses)


def test_a_highs_mip_run_again_stops_at_its_own_limit() -> None:
    """A MIP run reads ``time_limit`` on a clock that starts at zero with the run: adding the
    accumulated run time (as LP runs need) would double each re-run's allowance."""
    n, m = 3000, 1500
    a = sp.random(m, n, density=0.01, random_state=0, format="csr")
    a.data[:] = 1.0
    a = a[np.diff(a.indptr) > 0]  # a hard unicost set cover: never solved within the limit
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.addCols(
        n,
        np.ones(n),
        np.zeros(n),
        np.ones(n),
        0,
        np.zeros(n, np.int32),
        np.zeros(0, np.int32),
        np.zeros(0),
    )
    rows = a.shape[0]
    h.addRows(rows, np.ones(rows), np.full(rows, highspy.kHighsInf), a.nnz,
              a.indptr[:-1].astype(np.int32), a.indices.astype(np.int32), a.data)  # fmt: skip
    h.changeColsIntegrality(n, np.arange(n, dtype=np.int32), np.ones(n, dtype=np.uint8))
    limit = 0.5
    walls = []
    for _ in range(4):
        set_run_limit(h, limit, mip=True)
        began = time.perf_counter()
        h.run()
        walls.append(time.perf_counter() - began)
        assert h.getModelStatus() == highspy.HighsModelStatus.kTimeLimit
    # with the accumulated time added the fourth run would take about 8 x the limit
    assert max(walls) < 3.0 * limit, walls
