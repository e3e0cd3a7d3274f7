"""Instance generators: determinism, sizes, reach and pairs against brute force."""

from __future__ import annotations

import numpy as np
import pytest

from optimizer.bench.generators import (
    DENSE_SHRINK,
    PointsProblem,
    city_dense,
    city_like,
    city_side_m,
    random_uniform,
)


def brute_distance(prob: PointsProblem) -> np.ndarray:
    diff = prob.demand_xy[:, None, :] - prob.site_xy[None, :, :]
    return np.sqrt((diff**2).sum(axis=2))


@pytest.mark.parametrize("make", [random_uniform, city_like, city_dense])
def test_deterministic_by_seed(make) -> None:
    a, b, c = make(300, 80, seed=7), make(300, 80, seed=7), make(300, 80, seed=8)
    for field in ("demand_xy", "site_xy", "weight", "site_cost"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert a.name == b.name != c.name
    assert not np.array_equal(a.demand_xy, c.demand_xy)


@pytest.mark.parametrize("make", [random_uniform, city_like, city_dense])
def test_sizes_and_values(make) -> None:
    prob = make(500, 120, seed=1)
    assert prob.demand_xy.shape == (500, 2) and prob.site_xy.shape == (120, 2)
    assert prob.weight.shape == (500,) and prob.site_cost.shape == (120,)
    assert prob.n_demand == 500 and prob.n_sites == 120
    assert np.all(prob.weight >= 1) and np.all(prob.weight == np.round(prob.weight))
    np.testing.assert_array_equal(prob.site_cost, np.ones(120))


def test_random_uniform_ranges() -> None:
    prob = random_uniform(2000, 50, side_m=500.0, weight_low=3, weight_high=5, seed=2)
    assert prob.demand_xy.min() >= 0 and prob.demand_xy.max() <= 500.0
    assert set(np.unique(prob.weight)) == {3.0, 4.0, 5.0}


def test_city_like_inside_its_square() -> None:
    prob = city_like(1500, 400, seed=3)
    side = city_side_m(1500)
    for xy in (prob.demand_xy, prob.site_xy):
        assert xy.min() >= 0.0 and xy.max() <= side


@pytest.mark.parametrize("make", [random_uniform, city_like, city_dense])
@pytest.mark.parametrize("radius", [0.0, 300.0, 1500.0])
def test_reach_matches_brute_force(make, radius: float) -> None:
    prob = (
        make(200, 60, seed=4)
        if make is not random_uniform
        else make(200, 60, side_m=3000.0, seed=4)
    )
    want = (brute_distance(prob) <= radius).astype(np.int8)
    got = prob.reach(radius)
    assert got.shape == (200, 60)
    np.testing.assert_array_equal(got.toarray(), want)


def test_reach_counts_coincident_points() -> None:
    prob = PointsProblem(
        "tiny",
        np.array([[0.0, 0.0], [5.0, 0.0]]),
        np.array([[0.0, 0.0], [9.0, 0.0]]),
        np.ones(2),
        np.ones(2),
    )
    np.testing.assert_array_equal(prob.reach(4.0).toarray(), [[1, 0], [0, 1]])
    pairs = prob.pairs(4.0)
    assert pairs.rows.tolist() == [0, 1] and pairs.cols.tolist() == [0, 1]
    np.testing.assert_allclose(pairs.dist, [0.0, 4.0])


@pytest.mark.parametrize("cap", [None, 250.0])
def test_pairs_match_brute_force(cap: float | None) -> None:
    prob = city_like(150, 40, seed=5)
    dense = brute_distance(prob)
    pairs = prob.pairs(cap)
    mask = np.ones_like(dense, bool) if cap is None else dense <= cap
    rows, cols = np.nonzero(mask)  # row-major: sorted by demand then site, as Pairs must be
    np.testing.assert_array_equal(pairs.rows, rows)
    np.testing.assert_array_equal(pairs.cols, cols)
    np.testing.assert_allclose(pairs.dist, dense[rows, cols])
    assert pairs.shape == (150, 40)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        random_uniform(0, 5)
    with pytest.raises(ValueError):
        random_uniform(5, 5, weight_low=9, weight_high=2)
    with pytest.raises(ValueError):
        city_like(5, 0)


def test_city_dense_inside_its_smaller_square() -> None:
    prob = city_dense(1500, 400, seed=3)
    side = DENSE_SHRINK * city_side_m(1500)
    for xy in (prob.demand_xy, prob.site_xy):
        assert xy.min() >= 0.0 and xy.max() <= side
    assert prob.name == "dense-1500x400-s3"


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_city_dense_is_denser_with_blocks_out_of_reach(seed: int) -> None:
    # issue 19's second city: some blocks (a few dozen to ~150 of 20,000) out of reach of every
    # site at 300 m, and more pairs per block than city_like on the same sizes
    dense = city_dense(20_000, 5_000, seed=seed).reach(300.0)
    like = city_like(20_000, 5_000, seed=seed).reach(300.0)
    unreached = int((np.diff(dense.indptr) == 0).sum())
    assert 20 <= unreached <= 200
    assert dense.nnz > 1.2 * like.nnz
    assert np.median(np.diff(dense.indptr)) > 2 * np.median(np.diff(like.indptr))
