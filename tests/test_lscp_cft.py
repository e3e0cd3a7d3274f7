"""The CFT Lagrangian for set covering (optimizer/models/covering/cft.py) and LSCP runs that
always end with a bound, within their time limit."""

from __future__ import annotations

import itertools
import math
import time

import numpy as np
import pytest
import scipy.sparse as sp

from optimizer.backends import SolveOptions, Status, get_backend
from optimizer.bench import instances as benchdata
from optimizer.bench.generators import city_like
from optimizer.classic.registry import solve_classic
from optimizer.models.covering import lscp
from optimizer.models.covering.cft import cft_lagrangian
from optimizer.models.covering.heuristics import lscp_lagrangian
from optimizer.models.covering.lscp import LscpData
from optimizer.models.covering.solve import solve_lscp
from tests.oracles import brute_force_lscp


def _cover(seed: int, m: int = 14, n: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """A random coverable 0/1 matrix (every row has a site) and integer costs."""
    rng = np.random.default_rng(seed)
    a = rng.random((m, n)) < 0.3
    a[np.arange(m), rng.integers(0, n, m)] = True
    cost = rng.integers(1, 6, n).astype(float)
    return a, cost


def _mip_optimum(a: np.ndarray, cost: np.ndarray) -> float:
    """The plain MIP on HiGHS: an oracle independent of the Lagrangian."""
    milp = lscp.build_model(LscpData.from_arrays(sp.csr_matrix(a), cost))
    res = get_backend("highs").solve(milp, SolveOptions())
    assert res.status is Status.OPTIMAL
    return res.objective


@pytest.mark.parametrize("seed", range(10))
def test_bound_below_the_mip_optimum_and_the_cover_feasible(seed: int) -> None:
    a, cost = _cover(seed)
    best = _mip_optimum(a, cost)
    assert best == brute_force_lscp(a, cost)
    res = cft_lagrangian(sp.csr_matrix(a), cost, time_limit_s=2.0, seed=seed)
    out = res.result
    assert out.bound <= best + 1e-9 <= out.objective + 1e-9
    assert a[:, res.selected].any(axis=1).all()
    assert float(cost[res.selected].sum()) == pytest.approx(out.objective)
    # fixing is exact: no cover better than the incumbent opens a site fixed closed or closes
    # one fixed open
    for k in range(a.shape[1] + 1):
        for combo in itertools.combinations(range(a.shape[1]), k):
            sel = np.zeros(a.shape[1], dtype=bool)
            sel[list(combo)] = True
            if a[:, sel].any(axis=1).all() and cost[sel].sum() < out.objective - 1e-9:
                assert not (sel & res.fix_zero).any()
                assert sel[res.fix_one].all()
    if out.status is Status.OPTIMAL:
        assert out.objective == best


def test_bound_equals_the_optimum_on_interval_rows() -> None:
    """Consecutive-ones rows (totally unimodular): the LP, hence the Lagrangian dual, has no
    gap. Sites cover blocks [j, j+1] of a row of 9 blocks; the optimum takes 5 sites."""
    m = 9
    a = np.zeros((m, m - 1), dtype=bool)
    for j in range(m - 1):
        a[j : j + 2, j] = True
    cost = np.ones(m - 1)
    assert brute_force_lscp(a, cost) == 5.0
    res = cft_lagrangian(sp.csr_matrix(a), cost, time_limit_s=2.0)
    assert res.result.bound == 5.0 and res.result.objective == 5.0
    assert res.result.status is Status.OPTIMAL


def test_bound_equals_the_optimum_on_disjoint_rows() -> None:
    """Every row has its own sites: the optimum is each row's cheapest, and u_i = that cost
    proves it."""
    a = sp.block_diag([np.ones((1, 3)), np.ones((1, 2)), np.ones((1, 4))]).tocsr()
    cost = np.array([3.0, 2.0, 5.0, 4.0, 1.5, 2.5, 2.0, 7.0, 0.5])
    res = cft_lagrangian(a, cost, time_limit_s=2.0)
    assert res.result.objective == pytest.approx(2.0 + 1.5 + 0.5)
    assert res.result.bound == pytest.approx(4.0)


def test_no_time_still_gives_a_bound_and_a_cover() -> None:
    """A component given no time (the last of several after an overrun) ended with a bound of
    -inf in the plain subgradient; both Lagrangians now give a finite bound and a cover."""
    a, cost = _cover(3, m=30, n=20)
    best = brute_force_lscp(a, cost) if a.shape[1] <= 12 else _mip_optimum(a, cost)
    for run in (cft_lagrangian, lscp_lagrangian):
        out = run(sp.csr_matrix(a), cost, time_limit_s=0.0)
        assert math.isfinite(out.result.bound) and out.result.bound <= best + 1e-9
        assert a[:, out.selected].any(axis=1).all()


def test_ends_within_its_time_limit() -> None:
    prob = city_like(3000, 800, seed=1)
    reach = prob.reach(600.0)
    reach = reach[np.diff(reach.indptr) > 0]
    cft_lagrangian(reach[:20], np.ones(reach.shape[1]), time_limit_s=0.1)  # compiled, cached
    t0 = time.perf_counter()
    out = cft_lagrangian(reach, np.ones(reach.shape[1]), time_limit_s=0.3)
    assert time.perf_counter() - t0 < 0.3 + 0.25
    assert math.isfinite(out.result.bound) and out.result.bound <= out.result.objective
    t0 = time.perf_counter()
    run = solve_lscp(
        reach,
        np.ones(reach.shape[1]),
        backend=get_backend("highs"),
        options=SolveOptions(time_limit_s=1.0),
        cft=True,
    )
    assert time.perf_counter() - t0 < 1.0 + 0.5
    assert math.isfinite(run.result.bound) and run.result.bound <= run.result.objective
    assert np.asarray(reach @ run.selected.astype(np.int32)).ravel().min() > 0


@pytest.mark.parametrize("seed", range(4))
def test_registry_method_cft_matches_the_oracle(seed: int) -> None:
    a, cost = _cover(seed + 20)
    best = brute_force_lscp(a, cost)
    res = solve_classic("lscp-cft", LscpData.from_arrays(sp.csr_matrix(a), cost))
    assert res.method == "cft" and res.report.passed
    assert res.bound <= best + 1e-9 <= res.objective + 1e-9


@pytest.mark.orlib
def test_orlib_scp41_bound_within_one_percent() -> None:
    inst = benchdata.read_scp("scp41")
    out = cft_lagrangian(inst.reach, inst.cost, time_limit_s=10.0).result
    assert inst.optimum == 429
    assert 0.99 * 429 <= out.bound <= 429 <= out.objective


def _affine_lines(d: int) -> sp.csr_matrix:
    """Lines (rows) over points (columns) of the affine space AG(d, 3): a Steiner triple
    system whose covers are hard to prove optimal (d = 4: 1,080 x 81, optimum 61, LP 27)."""
    n = 3**d
    digits = (np.arange(n)[:, None] // 3 ** np.arange(d)) % 3
    a, b = np.triu_indices(n, 1)
    c = ((-(digits[a] + digits[b])) % 3) @ (3 ** np.arange(d))  # the line's third point
    lines = np.unique(np.sort(np.c_[a, b, c], axis=1), axis=0)
    rows = np.repeat(np.arange(lines.shape[0]), 3)
    return sp.csr_matrix((np.ones(rows.size), (rows, lines.ravel())), shape=(lines.shape[0], n))


def _intervals(m: int, width: int) -> sp.csr_matrix:
    """Rows of ``width`` consecutive sites: an easy cover (optimum ceil(m / width))."""
    rows = np.repeat(np.arange(m), width)
    cols = (np.arange(m)[:, None] + np.arange(width)).ravel()
    return sp.csr_matrix((np.ones(rows.size), (rows, cols)), shape=(m, m + width - 1))


def test_time_left_after_the_components_goes_to_the_open_ones() -> None:
    # a hard component (AG(4, 3)) beside an easy one with more nonzeros: the hard one gets
    # its share first and stays open, the easy one is proven at once, and the time left goes
    # back to the hard one instead of ending the run early
    a = sp.block_diag([_affine_lines(4), _intervals(2000, 5)]).tocsr()
    optimum = 61 + 400
    t0 = time.perf_counter()
    run = solve_lscp(
        a, np.ones(a.shape[1]), backend=get_backend("highs"), options=SolveOptions(time_limit_s=4)
    )
    wall = time.perf_counter() - t0
    out = run.result
    assert run.selected is not None and (a @ run.selected.astype(np.int64) > 0).all()
    assert out.status is Status.FEASIBLE
    assert out.extra["passes"] >= 2
    assert 400 + 27 <= out.bound <= optimum <= out.objective == run.selected.sum()
    assert 3.5 <= wall <= 4 + 2.0  # it used its time, within the project's limit + 2 s
