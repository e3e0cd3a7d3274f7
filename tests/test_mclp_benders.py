"""MCLP by Benders branch-and-cut (``mclp-benders``, optimizer.models.covering.benders): hand-built
cases, and random small ones where it must equal the plain MIP (``mclp-mip``) and brute force
exactly (count and budget forms, required / forbidden sites), within its time limit."""

from __future__ import annotations

import time

import numpy as np
import pytest
import scipy.sparse as sp

from optimizer.backends import SolveOptions, Status, StopReason
from optimizer.classic.registry import solve_classic
from optimizer.models.covering.benders import solve_mclp_benders
from optimizer.models.covering.mclp import MclpData
from tests.oracles import brute_force_mclp

OPTS = SolveOptions(time_limit_s=20)


def test_hand_built_path() -> None:
    # a path of 5 demand points, sites covering {0,1}, {1,2,3}, {3,4}, {4}
    a = np.array(
        [
            [1, 0, 0, 0],
            [1, 1, 0, 0],
            [0, 1, 0, 0],
            [0, 1, 1, 0],
            [0, 0, 1, 1],
        ]
    )
    w = np.array([5.0, 1.0, 4.0, 2.0, 7.0])
    # p = 1: site 1 covers 1 + 4 + 2 = 7, site 2 covers 2 + 7 = 9, site 3 covers 7
    one = solve_mclp_benders(MclpData.from_arrays(sp.csr_matrix(a), w, 1), options=OPTS)
    assert one.result.objective == 9.0 and one.result.status is Status.OPTIMAL
    assert one.selected is not None and list(np.flatnonzero(one.selected)) == [2]
    # p = 2: sites 0 and 2 cover 5 + 1 + 2 + 7 = 15, 1 and 2 cover 1 + 4 + 2 + 7 = 14
    two = solve_mclp_benders(MclpData.from_arrays(sp.csr_matrix(a), w, 2), options=OPTS)
    assert two.result.objective == 15.0 and two.result.bound == 15.0
    assert two.result.stop is StopReason.OPTIMAL
    # site 2 forbidden, p = 2: 0 and 3 cover 5 + 1 + 7 = 13, 1 and 3 cover 1 + 4 + 2 + 7 = 14
    data = MclpData.from_arrays(sp.csr_matrix(a), w, 2, forbidden=[2])
    assert solve_mclp_benders(data, options=OPTS).result.objective == 14.0
    # budget 3 with costs 1, 1, 3, 1 and no count: 0, 1, 3 cover everything
    data = MclpData.from_arrays(sp.csr_matrix(a), w, None, cost=[1.0, 1.0, 3.0, 1.0], budget=3.0)
    run = solve_mclp_benders(data, options=OPTS)
    assert run.result.objective == 19.0 and run.result.status is Status.OPTIMAL


def test_required_beyond_budget_is_infeasible() -> None:
    a = sp.csr_matrix(np.eye(4))
    data = MclpData.from_arrays(a, np.ones(4), 2, cost=np.full(4, 5.0), budget=8.0, required=[0])
    res = solve_classic("mclp-benders", data, options=OPTS)
    assert res.status is Status.INFEASIBLE


LIMITS = [
    {"p": 4},
    {"p": 4, "p_exact": False},
    {"budget": 12.0},
    {"p": 4, "budget": 12.0},
]


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("case", range(len(LIMITS)))
def test_random_matches_plain_mip_and_brute_force(seed: int, case: int) -> None:
    kw = LIMITS[case]
    rng = np.random.default_rng(100 + seed)
    m, n = 40, 11
    a = (rng.random((m, n)) < 0.2).astype(np.int8)
    a[rng.integers(0, m, 4)] = a[0]  # identical rows, merged by the reductions
    w = rng.integers(1, 30, m).astype(float)
    cost = rng.integers(1, 6, n).astype(float)
    required = (seed % n,) if seed % 2 == 0 else ()
    forbidden = ((seed + 5) % n,) if seed >= 2 else ()
    data = MclpData.from_arrays(
        sp.csr_matrix(a),
        w,
        kw.get("p"),  # type: ignore[arg-type]
        cost=cost if "budget" in kw else None,
        budget=kw.get("budget"),
        p_exact=bool(kw.get("p_exact", True)),
        required=list(required),
        forbidden=list(forbidden),
    )
    expected = brute_force_mclp(
        a,
        w,
        kw.get("p"),  # type: ignore[arg-type]
        bool(kw.get("p_exact", True)),
        cost if "budget" in kw else None,
        kw.get("budget"),
        required,
        forbidden,
    )
    plain = solve_classic("mclp-mip", data, options=OPTS)
    benders = solve_classic("mclp-benders", data, options=OPTS)
    if not np.isfinite(expected):
        assert benders.status is Status.INFEASIBLE
        return
    assert plain.status is Status.OPTIMAL and plain.objective == pytest.approx(expected)
    assert benders.status is Status.OPTIMAL
    assert benders.objective == expected and benders.bound == expected
    assert benders.report.passed


def test_fractional_weights_exact_against_the_mip() -> None:
    rng = np.random.default_rng(7)
    a = (rng.random((80, 20)) < 0.12).astype(np.int8)
    w = rng.random(80) * 10.0
    data = MclpData.from_arrays(sp.csr_matrix(a), w, 5)
    plain = solve_classic("mclp-mip", data, options=OPTS)
    benders = solve_classic("mclp-benders", data, options=OPTS)
    assert benders.status is Status.OPTIMAL
    assert benders.objective == pytest.approx(plain.objective, rel=1e-9)


def test_ends_within_its_time_limit() -> None:
    rng = np.random.default_rng(3)
    a = sp.random(3000, 600, density=0.02, random_state=4, format="csr")
    w = rng.integers(1, 100, 3000).astype(float)
    data = MclpData.from_arrays(a, w, 40)
    t0 = time.perf_counter()
    res = solve_classic("mclp-benders", data, options=SolveOptions(time_limit_s=1.0))
    assert time.perf_counter() - t0 < 1.5
    assert res.status.has_solution and res.objective <= res.bound
    assert res.report.passed
