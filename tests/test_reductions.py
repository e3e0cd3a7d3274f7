"""Exact reductions of the covering models: reduced and unreduced optima agree (brute force on
small random cases), solutions lift back exactly, and each rule says what it removed."""

from __future__ import annotations

import itertools
import logging

import numpy as np
import pytest
import scipy.sparse as sp

from optimizer.models.covering.reductions import (
    InfeasibleCover,
    contained_pairs,
    duplicate_rows,
    lscp_components,
    reduce_lscp,
    reduce_mclp,
)
from tests.oracles import brute_force_lscp, brute_force_mclp


def _random_cover(seed: int, m: int = 9, n: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """A small 0/1 matrix with repeated rows and columns and small integer costs (ties)."""
    rng = np.random.default_rng(seed)
    a = (rng.random((m, n)) < 0.35).astype(np.int8)
    a[np.arange(m), rng.integers(0, n, m)] = 1
    if m > 3:
        a[1] = a[0]  # a duplicate row
        a[2] = a[0] | a[3]  # an implied row
    if n > 3:
        a[:, 1] = a[:, 0]  # a duplicate column
    cost = rng.integers(0 if seed % 5 == 0 else 1, 4, n).astype(float)
    return a, cost


def _best_cover(a: np.ndarray, cost: np.ndarray) -> tuple[float, np.ndarray | None]:
    """Brute-force optimum of an unconstrained cover and one optimal selection."""
    n = a.shape[1]
    if a.shape[0] == 0:
        return 0.0, np.zeros(n, dtype=bool)
    best, pick = np.inf, None
    for mask in itertools.product([False, True], repeat=n):
        sel = np.array(mask, dtype=bool)
        if a[:, sel].any(axis=1).all() and cost[sel].sum() < best - 1e-12:
            best, pick = float(cost[sel].sum()), sel
    return best, pick


@pytest.mark.parametrize("seed", range(40))
def test_lscp_reduction_keeps_the_optimum(seed: int) -> None:
    a, cost = _random_cover(seed)
    n = a.shape[1]
    rng = np.random.default_rng(100 + seed)
    required = (int(rng.integers(n)),) if seed % 3 == 0 else ()
    forb = int(rng.integers(n))
    forbidden = (forb,) if seed % 4 == 1 and forb not in required else ()
    expected = brute_force_lscp(a, cost, required, forbidden)
    if not np.isfinite(expected):
        with pytest.raises(InfeasibleCover):
            reduce_lscp(sp.csr_matrix(a), cost, required, forbidden)
        return
    red = reduce_lscp(sp.csr_matrix(a), cost, required, forbidden)
    value, pick = _best_cover(red.reach.toarray(), red.cost)
    assert red.offset + value == pytest.approx(expected)
    assert pick is not None
    lifted = red.lift(pick)
    assert a[:, lifted].any(axis=1).all()
    assert cost[lifted].sum() == pytest.approx(expected)
    assert lifted[list(required)].all() and not lifted[list(forbidden)].any()
    # every part is independent: the reduced optimum is the sum of the parts' optima
    parts = lscp_components(red)
    total = sum(_best_cover(red.reach[r][:, c].toarray(), red.cost[c])[0] for r, c in parts)
    assert red.offset + total == pytest.approx(expected)


def test_lscp_rules_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    # rows 0 and 1 identical; row 2 contains row 3; site 4 is a dearer copy of site 3; site 5
    # costs more than the sites that replace it; row 4 has a single site (forced open)
    a = np.array(
        [
            [1, 1, 0, 0, 0, 1],
            [1, 1, 0, 0, 0, 1],
            [0, 1, 1, 1, 1, 0],
            [0, 0, 1, 1, 1, 0],
            [0, 0, 0, 0, 0, 0],
            [1, 0, 1, 0, 0, 1],
        ]
    )
    a = np.c_[a, [0, 0, 0, 0, 1, 0]]
    cost = np.array([1.0, 1.0, 1.0, 1.0, 2.0, 5.0, 3.0])
    with caplog.at_level(logging.INFO, logger="optimizer.models.covering.reductions"):
        red = reduce_lscp(sp.csr_matrix(a), cost)
    removed = red.removed
    assert removed["sites forced open by singleton rows"][1] >= 1
    assert removed["duplicate rows merged"][0] >= 1
    assert removed["dominated sites"][1] >= 1
    assert removed["sites costing more than a replacement"][1] >= 1
    assert 6 in red.fixed
    assert "lscp reductions" in caplog.text and "duplicate rows merged" in caplog.text
    value, _ = _best_cover(red.reach.toarray(), red.cost)
    assert red.offset + value == pytest.approx(brute_force_lscp(a, cost))


def test_lscp_components_split_block_diagonal_problems() -> None:
    block = np.array([[1, 1, 0], [0, 1, 1], [1, 0, 1]])
    a = sp.block_diag([block, block, block]).tocsr()
    red = reduce_lscp(a, np.ones(9))
    parts = lscp_components(red)
    assert len(parts) == 3
    assert sorted(int(r.size) for r, _ in parts) == [3, 3, 3]


def test_infeasible_cover_names_the_rows() -> None:
    a = sp.csr_matrix(np.array([[1, 0], [0, 1], [0, 1]]))
    with pytest.raises(InfeasibleCover, match="2 demand rows") as info:
        reduce_lscp(a, np.ones(2), forbidden=[1])
    assert info.value.rows.tolist() == [1, 2]


@pytest.mark.parametrize("seed", range(12))
def test_duplicate_rows_and_containment_match_a_direct_check(seed: int) -> None:
    rng = np.random.default_rng(seed)
    a = (rng.random((30, 6)) < 0.3).astype(np.int8)
    rep = duplicate_rows(sp.csr_matrix(a))
    for i in range(a.shape[0]):
        first = next(k for k in range(a.shape[0]) if (a[k] == a[i]).all())
        assert rep[i] == first
    pairs = contained_pairs(sp.csr_matrix(a))
    assert pairs is not None
    got = set(zip(pairs[0].tolist(), pairs[1].tolist(), strict=True))
    want = {
        (i, k)
        for i in range(a.shape[0])
        for k in range(a.shape[0])
        if i != k and a[i].any() and (a[i] <= a[k]).all()
    }
    assert got == want


def _containment_by_product(a: np.ndarray) -> set[tuple[int, int]]:
    inter = a.astype(np.int64) @ a.T.astype(np.int64)
    length = a.sum(axis=1)
    sub, sup = np.nonzero((inter == length[:, None]) & (length[:, None] > 0))
    return {(i, k) for i, k in zip(sub.tolist(), sup.tolist(), strict=True) if i != k}


@pytest.mark.parametrize("seed", range(6))
def test_containment_matches_the_product_on_walking_areas(seed: int) -> None:
    # blocks and sites in a square, a block covered by the sites within a radius: rows with
    # many candidates (the witness-driven intersection runs), nested and equal rows
    rng = np.random.default_rng(seed)
    blocks, sites = rng.random((400, 2)), rng.random((90, 2))
    dist = np.hypot(*(blocks[:, None, :] - sites[None, :, :]).transpose(2, 0, 1))
    a = (dist <= 0.12 + 0.08 * (seed % 3)).astype(np.int8)
    a[: 40 * (seed % 2)] = a[0]  # a block of equal rows on odd seeds
    for x in (a, a.T):
        pairs = contained_pairs(sp.csr_matrix(x))
        assert pairs is not None
        assert set(zip(pairs[0].tolist(), pairs[1].tolist(), strict=True)) == (
            _containment_by_product(x)
        )


def test_containment_is_skipped_beyond_the_work_limit(caplog: pytest.LogCaptureFixture) -> None:
    a = sp.csr_matrix(np.ones((20, 20)))
    with caplog.at_level(logging.INFO, logger="optimizer.models.covering.reductions"):
        assert contained_pairs(a, max_work=10) is None
    assert "containment test skipped" in caplog.text


MCLP_CASES = [
    {"p": 2},
    {"p": 3, "p_exact": False},
    {"p": None, "budget": 4.0},
    {"p": 2, "budget": 4.0},
    {"p": 3, "budget": 6.0, "p_exact": False},
]


@pytest.mark.parametrize("seed", range(16))
@pytest.mark.parametrize("case", range(len(MCLP_CASES)))
def test_mclp_reduction_keeps_the_optimum(seed: int, case: int) -> None:
    kw = MCLP_CASES[case]
    a, cost = _random_cover(seed, m=10, n=7)
    cost = np.maximum(cost, 1.0)
    rng = np.random.default_rng(200 + seed)
    weight = rng.integers(0, 6, a.shape[0]).astype(float)
    required = (int(rng.integers(7)),) if seed % 3 == 0 else ()
    forb = int(rng.integers(7))
    forbidden = (forb,) if seed % 4 == 1 and forb not in required else ()
    p, p_exact, budget = kw.get("p"), bool(kw.get("p_exact", True)), kw.get("budget")
    with_cost = cost if budget is not None else None
    expected = brute_force_mclp(a, weight, p, p_exact, with_cost, budget, required, forbidden)
    if not np.isfinite(expected):
        return
    red = reduce_mclp(
        sp.csr_matrix(a),
        weight,
        cost if budget is not None else np.zeros(7),
        p,
        p_exact=p_exact,
        budget=budget,
        required=required,
        forbidden=forbidden,
    )
    ra = red.coverage.toarray()
    best, best_pick = -np.inf, None
    sizes = range(red.n_sites + 1)
    for k in sizes:
        if red.p is not None and (k > red.p or (red.p_exact and k != red.p)):
            continue
        for combo in itertools.combinations(range(red.n_sites), k):
            sel = np.zeros(red.n_sites, dtype=bool)
            sel[list(combo)] = True
            if red.budget is not None and red.cost[sel].sum() > red.budget + 1e-9:
                continue
            v = float(red.weight[ra[:, sel].any(axis=1)].sum())
            if v > best:
                best, best_pick = v, sel
    assert red.offset + best == pytest.approx(expected)
    assert best_pick is not None
    lifted = red.lift(best_pick)
    assert lifted[list(required)].all() and not lifted[list(forbidden)].any()
    if p is not None:
        assert lifted.sum() == p if p_exact else lifted.sum() <= p
    if budget is not None:
        assert cost[lifted].sum() <= budget + 1e-9
    assert float(weight[a[:, lifted].any(axis=1)].sum()) == pytest.approx(expected)


def test_mclp_merges_identical_rows_with_summed_weights() -> None:
    a = np.array([[1, 0, 0], [1, 0, 0], [0, 1, 1], [0, 0, 0], [0, 1, 0]])
    red = reduce_mclp(sp.csr_matrix(a), np.array([2.0, 3.0, 1.0, 7.0, 4.0]), np.zeros(3), 1)
    assert red.removed["duplicate rows merged"] == (1, 0)
    assert red.removed["rows no site covers"] == (1, 0)
    assert red.removed["dominated sites"] == (0, 1)  # site 2 covers a subset of site 1
    assert sorted(red.weight.tolist()) == [1.0, 4.0, 5.0]
