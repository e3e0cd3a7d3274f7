"""The compiled swap search of the p-median (optimizer.models.pmedian.swap)."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from optimizer.models.pmedian.heuristics import CostPairs, greedy
from optimizer.models.pmedian.model import PMedianData
from optimizer.models.pmedian.swap import (
    Incumbent,
    SwapState,
    _swap,
    _work,
    iterated_swap_search,
    swap_search,
)
from tests.helpers import pmedian_optimum, pmedian_points


def _data(seed: int, n: int = 40, m: int = 14, p: int = 4, **kw: object) -> PMedianData:
    return pmedian_points(seed, n, m, p, **kw)


def _variants(seed: int) -> PMedianData:
    """Dense; capped with a penalty; with required and forbidden sites."""
    kind = seed % 3
    if kind == 0:
        return _data(seed)
    if kind == 1:
        return _data(seed, max_distance=45.0, unserved_penalty=60.0)
    return _data(seed, required=[seed % 14], forbidden=[(seed + 5) % 14, (seed + 9) % 14])


@pytest.mark.parametrize("seed", range(6))
def test_incremental_state_equals_a_fresh_one_after_random_swaps(seed: int) -> None:
    cp = CostPairs.from_data(_variants(seed))
    index = cp.swap_index
    state = SwapState.start(index, greedy(cp))
    work = _work(index)
    rng = np.random.default_rng(seed)
    for _ in range(60):
        closed = np.flatnonzero(~state.opened & cp.allowed)
        open_ = np.flatnonzero(state.opened & ~cp.required)
        s, r = int(rng.choice(closed)), int(rng.choice(open_))
        before = state.objective
        change = _swap(index.arrays(), state.arrays(), work, s, r)
        fresh = SwapState.start(index, state.opened)
        assert state.objective == pytest.approx(before + change)
        np.testing.assert_array_equal(state.d1, fresh.d1)
        np.testing.assert_array_equal(state.d2, fresh.d2)
        np.testing.assert_array_equal(state.phi1, fresh.phi1)
        np.testing.assert_allclose(state.gain, fresh.gain, atol=1e-7)
        np.testing.assert_allclose(state.loss, fresh.loss, atol=1e-7)
        assert state.objective == pytest.approx(cp.objective(state.opened))


@pytest.mark.parametrize("seed", range(6))
def test_swap_search_ends_where_no_swap_improves(seed: int) -> None:
    cp = CostPairs.from_data(_variants(seed))
    state, _, optimum = swap_search(cp.swap_index, greedy(cp))
    assert optimum
    obj = cp.objective(state.opened)
    assert state.objective == pytest.approx(obj)
    assert int(state.opened.sum()) == cp.p
    assert np.all(state.opened[cp.required]) and not np.any(state.opened[~cp.allowed])
    for s in np.flatnonzero(~state.opened & cp.allowed):
        for r in np.flatnonzero(state.opened & ~cp.required):
            trial = state.opened.copy()
            trial[s], trial[r] = True, False
            assert cp.objective(trial) >= obj - 1e-9


@pytest.mark.parametrize("seed", range(6))
def test_iterated_search_finds_the_brute_force_optimum(seed: int) -> None:
    data = _variants(seed)
    cp = CostPairs.from_data(data)
    deadline = time.perf_counter() + 30.0
    opened, obj, kicks, _ = iterated_swap_search(cp.swap_index, greedy(cp), deadline, max_kicks=300)
    assert kicks == 300
    assert obj == pytest.approx(cp.objective(opened))
    assert obj == pytest.approx(pmedian_optimum(data)[0])
    assert int(opened.sum()) == cp.p and np.all(opened[cp.required])
    assert not np.any(opened[~cp.allowed])


def test_iterated_search_is_deterministic_given_the_seed_and_rounds() -> None:
    cp = CostPairs.from_data(_data(3, n=120, m=40, p=8))
    far = time.perf_counter() + 60.0
    runs = [iterated_swap_search(cp.swap_index, greedy(cp), far, seed=7, max_kicks=200)]
    runs.append(iterated_swap_search(cp.swap_index, greedy(cp), far, seed=7, max_kicks=200))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    assert runs[0][1] == runs[1][1]


def test_an_unserved_point_prices_at_inf_where_service_is_compulsory() -> None:
    cp = CostPairs.from_data(_data(1, max_distance=30.0))
    opened = np.zeros(cp.n_sites, dtype=bool)
    opened[: cp.p] = True
    state = SwapState.start(cp.swap_index, opened)
    assert math.isfinite(state.objective)  # the search works on the big-M costs
    assert state.price(cp.swap_index) == cp.objective(opened) == math.inf


def test_incumbent_keeps_only_improvements_and_the_search_adopts_a_better_one() -> None:
    data = _data(5, n=60, m=20, p=5)
    cp = CostPairs.from_data(data)
    start = np.zeros(cp.n_sites, dtype=bool)
    start[: cp.p] = True
    shared = Incumbent(start, cp.objective(start))
    assert not shared.offer(~start, cp.objective(start) + 1.0)
    assert not shared.offer(~start, cp.objective(start))  # as good is not better
    # a search told to stop at once still hands its first descent to the incumbent
    descent, _, _ = swap_search(cp.swap_index, start)
    assert descent.objective < cp.objective(start)
    iterated_swap_search(
        cp.swap_index, start, time.perf_counter() + 30, stop=lambda: True, incumbent=shared
    )
    sites, value = shared.best()
    assert value == pytest.approx(descent.objective) == pytest.approx(cp.objective(sites))
    # a search started far off moves to a better shared incumbent (here: the optimum)
    optimum, best = pmedian_optimum(data)
    assert optimum < value
    assert shared.offer(best, optimum)
    _, obj, _, _ = iterated_swap_search(
        cp.swap_index, start, time.perf_counter() + 30, max_kicks=1, incumbent=shared
    )
    assert obj == pytest.approx(optimum)
