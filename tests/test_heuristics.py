"""p-median heuristics (greedy + fast interchange) and the Lagrangian bound."""

from __future__ import annotations

import dataclasses
import itertools
import math
import time

import numpy as np
import pytest

from optimizer.backends import SolveOptions, Status, StopReason, get_backend
from optimizer.bench import instances as benchdata
from optimizer.classic.registry import solve_classic
from optimizer.models.common import nearest_open
from optimizer.models.pmedian import model as pmedian
from optimizer.models.pmedian.bnb import lagrangian_branch_and_bound
from optimizer.models.pmedian.heuristics import (
    CostPairs,
    best_two,
    greedy,
    heuristic_cost,
    local_search,
    solve_heuristic,
    warm_start_vector,
)
from optimizer.models.pmedian.lagrangian import reduced_cost_fixing, solve_lagrangian
from optimizer.models.pmedian.model import PMedianData
from optimizer.models.pmedian.solve import solve_pmedian, window_search
from tests.helpers import pmedian_optimum, pmedian_points

OPTS = SolveOptions(time_limit_s=30)


def test_best_two_matches_dense() -> None:
    data = pmedian_points(0)
    cp = CostPairs.from_data(data)
    opened = np.zeros(data.n_sites, dtype=bool)
    opened[[1, 4, 6]] = True
    d1, d2, phi1 = best_two(cp, opened)
    c = np.full((data.n_demand, data.n_sites), np.inf)
    c[cp.rows, cp.cols] = cp.cost
    sub = np.sort(c[:, opened], axis=1)
    assert np.allclose(d1, sub[:, 0]) and np.allclose(d2, sub[:, 1])
    assert np.allclose(c[np.arange(data.n_demand), phi1], d1)


def test_heuristic_matches_brute_force_mostly_and_never_beats_it() -> None:
    hits = 0
    seeds = range(12)
    for seed in seeds:
        data = pmedian_points(seed, p=2 + seed % 3)
        opt = pmedian_optimum(data)[0]
        res = solve_heuristic(data, seed=seed)
        assert res.selected.sum() == data.p
        assert res.result.objective == pytest.approx(heuristic_cost(data, res.selected))
        assert res.result.objective >= opt - 1e-9
        assert res.result.objective <= res.greedy_objective + 1e-9
        assert res.result.status is Status.FEASIBLE and res.result.stop is StopReason.NO_BOUND
        assert math.isinf(res.result.gap)  # no bound: nothing certified
        hits += res.result.objective <= opt + 1e-9
    assert hits >= 10


def test_heuristic_respects_required_and_forbidden() -> None:
    data = pmedian_points(3, p=3, required=[0], forbidden=[1, 2])
    res = solve_heuristic(data, restarts=3, seed=1)
    assert res.selected[0] and not res.selected[1] and not res.selected[2]
    assert res.selected.sum() == 3
    assert res.result.objective >= pmedian_optimum(data)[0] - 1e-9


def test_heuristic_is_deterministic_given_a_seed() -> None:
    data = pmedian_points(5, n=30, m=15, p=4)
    a = solve_heuristic(data, restarts=4, seed=7)
    b = solve_heuristic(data, restarts=4, seed=7)
    assert np.array_equal(a.selected, b.selected) and a.result.objective == b.result.objective


def _eager_greedy(cp: CostPairs) -> np.ndarray:
    """The textbook greedy: every saving recomputed at every step (ties: lowest index)."""
    opened = cp.required.copy()
    cur = best_two(cp, opened)[0] if opened.any() else cp.fallback.copy()
    for _ in range(cp.p - int(opened.sum())):
        saving = np.zeros(cp.n_sites)
        for r, j, c in zip(cp.rows, cp.cols, cp.cost, strict=True):
            saving[j] += max(0.0, cur[r] - c)
        saving[opened | ~cp.allowed] = -np.inf
        j = int(np.argmax(saving))
        opened[j] = True
        on = cp.cols == j
        np.minimum.at(cur, cp.rows[on], cp.cost[on])
    return opened


@pytest.mark.parametrize("seed", range(6))
def test_lazy_greedy_opens_what_the_textbook_greedy_opens(seed: int) -> None:
    """Lazy evaluation (savings as upper bounds) changes the work, not the sites: ties
    included (integer distances), required and forbidden sites, unserved penalties, pairs
    capped at a walking limit."""
    kw: dict[str, object] = {}
    if seed % 2:
        kw = {"required": [seed % 9], "forbidden": [(seed + 3) % 9], "unserved_penalty": 30.0}
    if seed >= 4:
        kw = {"max_distance": 45.0, "unserved_penalty": 90.0}
    cp = CostPairs.from_data(pmedian_points(seed, n=40, m=9, p=4, **kw))
    assert np.array_equal(greedy(cp), _eager_greedy(cp))


def test_local_search_reaches_a_swap_local_optimum() -> None:
    data = pmedian_points(8, n=20, m=10, p=3)
    cp = CostPairs.from_data(data)
    opened, obj, _ = local_search(cp, greedy(cp))
    for s in np.flatnonzero(~opened):
        for r in np.flatnonzero(opened):
            trial = opened.copy()
            trial[s], trial[r] = True, False
            assert cp.objective(trial) >= obj - 1e-9


def test_unserved_penalty_and_distance_cap() -> None:
    data = pmedian_points(4, p=2, max_distance=40.0, unserved_penalty=50.0)
    res = solve_lagrangian(data, time_limit_s=10).result
    opt = pmedian_optimum(data)[0]
    assert res.bound <= opt + 1e-9 <= res.objective + 2e-9
    mip = solve_classic("pmedian", data, options=OPTS, method="mip")
    assert mip.objective == pytest.approx(opt)


def test_compulsory_service_out_of_reach_is_refused() -> None:
    data = pmedian_points(4, p=2, max_distance=5.0)
    with pytest.raises(ValueError, match="no allowed site in reach"):
        solve_lagrangian(data)


def test_capacitated_data_is_refused() -> None:
    data = pmedian_points(1, capacity=100.0)
    with pytest.raises(ValueError, match="uncapacitated"):
        solve_heuristic(data)


@pytest.mark.parametrize("seed", range(6))
def test_lagrangian_bound_is_valid_and_gap_is_certified(seed: int) -> None:
    data = pmedian_points(100 + seed, n=40, m=20, p=4)
    mip = solve_classic("pmedian", data, options=OPTS, method="mip")
    assert mip.status is Status.OPTIMAL
    lag = solve_lagrangian(data, time_limit_s=10, seed=seed)
    res = lag.result
    assert res.bound <= mip.objective + 1e-9
    assert res.objective >= mip.objective - 1e-9
    assert res.objective == pytest.approx(heuristic_cost(data, lag.selected))
    expected = 0.0 if res.objective == res.bound else (res.objective - res.bound) / res.objective
    assert res.gap == pytest.approx(expected, abs=1e-12)
    if res.proven_optimal:
        assert res.objective == pytest.approx(mip.objective)
        assert res.gap == 0.0 and res.stop is StopReason.OPTIMAL
    else:
        assert res.status is Status.FEASIBLE and res.stop is not StopReason.OPTIMAL


def test_warm_start_vector_is_feasible() -> None:
    data = pmedian_points(2, p=3, max_distance=60.0, unserved_penalty=80.0)
    milp = pmedian.build_model(data)
    res = solve_heuristic(data)
    x = warm_start_vector(data, milp, res.selected)
    act = milp.A @ x
    assert np.all(act >= milp.row_lower - 1e-9) and np.all(act <= milp.row_upper + 1e-9)
    assert float(milp.c @ x) == pytest.approx(res.result.objective)


@pytest.mark.parametrize("seed", range(3))
def test_classic_paths_agree_with_the_plain_mip(seed: int) -> None:
    data = pmedian_points(200 + seed, n=50, m=25, p=5)
    plain = solve_classic("pmedian", data, options=OPTS, method="mip")
    warm = solve_classic("pmedian-warm", data, options=OPTS)
    heur = solve_classic("pmedian-heuristic", data, options=OPTS)
    assert plain.status is Status.OPTIMAL and warm.status is Status.OPTIMAL
    assert warm.objective == pytest.approx(plain.objective)
    assert warm.report.passed and heur.report.passed
    assert heur.objective >= plain.objective - 1e-9
    assert heur.bound <= plain.objective + 1e-9
    assert heur.status in (Status.OPTIMAL, Status.FEASIBLE)
    if heur.status is Status.OPTIMAL:
        assert heur.gap == 0.0 and heur.objective == pytest.approx(plain.objective)
    else:
        assert heur.gap > 0.0


needs_orlib = pytest.mark.skipif(
    not (benchdata.benchmarks_dir() / "orlib-pmed").is_dir(),
    reason="shared benchmark instances not present",
)


@needs_orlib
@pytest.mark.orlib
def test_orlib_pmed1() -> None:
    inst = benchdata.read_pmed("pmed1")
    assert inst.optimum == 5819.0
    heur = solve_heuristic(inst.data())
    assert heur.result.objective <= 1.01 * 5819.0
    lag = solve_lagrangian(inst.data(), time_limit_s=20).result
    assert lag.bound <= 5819.0
    assert lag.objective <= 1.01 * 5819.0
    res = solve_classic("pmedian-heuristic", inst.data(), options=OPTS)
    assert res.bound <= 5819.0 and res.report.passed
    if res.status is Status.OPTIMAL:
        assert res.objective == 5819.0


@pytest.mark.parametrize("seed", [1, 4])
@pytest.mark.slow
def test_warm_started_mip_on_instances_the_bound_does_not_close(seed: int) -> None:
    """Random (non-metric) distances leave a duality gap: the warm path runs the MIP."""
    rng = np.random.default_rng(seed)
    data = PMedianData.from_arrays(rng.integers(0, 100, (40, 20)).astype(float), 4)
    plain = solve_classic("pmedian", data, options=OPTS, method="mip")
    warm = solve_classic("pmedian-warm", data, options=OPTS)
    heur = solve_classic("pmedian-heuristic", data, options=OPTS)
    assert warm.result.solver == "highs"
    assert warm.status is Status.OPTIMAL and plain.status is Status.OPTIMAL
    assert warm.objective == pytest.approx(plain.objective)
    assert float(warm.result.extra["lagrangian_bound"]) < plain.objective  # type: ignore[arg-type]
    assert heur.status is Status.FEASIBLE and heur.gap > 0.0
    assert heur.bound <= plain.objective + 1e-9 <= heur.objective + 2e-9


# -- reduced-cost fixing, truncated pairs, Lagrangian branch-and-bound, the exact path


def _all_solutions(data: PMedianData) -> list[tuple[np.ndarray, float]]:
    """Every feasible selection with its cost (brute force)."""
    m = data.n_sites
    free = np.setdiff1d(np.setdiff1d(np.arange(m), data.forbidden), data.required)
    out = []
    for combo in itertools.combinations(free.tolist(), data.p - data.required.size):
        opened = np.zeros(m, dtype=bool)
        opened[data.required] = True
        opened[list(combo)] = True
        out.append((opened, heuristic_cost(data, opened)))
    return out


def _random_data(seed: int, metric: bool) -> PMedianData:
    if metric:
        return pmedian_points(300 + seed, n=16, m=10, p=2 + seed % 3)
    rng = np.random.default_rng(seed)
    dist = rng.integers(0, 60, (16, 10)).astype(float)
    return PMedianData.from_arrays(dist, 2 + seed % 3, rng.integers(1, 5, 16).astype(float))


@pytest.mark.parametrize("seed", range(8))
def test_reduced_cost_fixing_never_removes_an_optimal_site_or_pair(seed: int) -> None:
    data = _random_data(seed, metric=seed % 2 == 0)
    cp = CostPairs.from_data(data)
    sols = _all_solutions(data)
    opt = min(c for _, c in sols)
    lag = solve_lagrangian(data, time_limit_s=5)
    rng = np.random.default_rng(seed)
    for lam in (lag.multipliers, rng.uniform(0, 2, data.n_demand) * lag.multipliers):
        for upper in (opt, lag.result.objective, opt * 1.02):
            fix = reduced_cost_fixing(cp, lam, upper)
            kept = set(zip(cp.rows[fix.keep].tolist(), cp.cols[fix.keep].tolist(), strict=True))
            for opened, cost in sols:
                if cost > upper + 1e-9:
                    continue
                assert not np.any(opened & fix.closed)
                assert np.all(opened[fix.opened])
                assign = nearest_open(data.pairs, opened)
                assert {(i, int(j)) for i, j in enumerate(assign)} <= kept


def test_reduced_cost_fixing_fixes_something_with_a_tight_bound() -> None:
    data = pmedian_points(11, n=60, m=30, p=4)
    lag = solve_lagrangian(data, time_limit_s=5)
    fix = reduced_cost_fixing(CostPairs.from_data(data), lag.multipliers, lag.result.objective)
    assert fix.closed.sum() > 0 and fix.keep.sum() < fix.keep.size


@pytest.mark.parametrize("keep", [1, 2, 4])
def test_truncated_pairs_keep_the_bound_valid(keep: int) -> None:
    data = pmedian_points(21, n=40, m=20, p=3)
    cp = CostPairs.from_data(data)
    small = cp.truncated(keep)
    assert small.size == 40 * keep and small.cap is not None
    # every point keeps its `keep` cheapest pairs; the cap is the next cheapest cost
    c = np.sort(cp.cost.reshape(40, 20), axis=1)
    assert np.allclose(np.sort(small.cost.reshape(40, keep), axis=1), c[:, :keep])
    assert np.allclose(small.cap, c[:, keep])
    res = solve_lagrangian(small, time_limit_s=5, keep_per_demand=None)
    assert res.result.bound <= pmedian_optimum(data)[0] + 1e-9
    assert np.all(res.multipliers <= small.cap + 1e-12)


@pytest.mark.parametrize("seed", range(6))
def test_lagrangian_tree_reaches_the_brute_force_optimum(seed: int) -> None:
    data = _random_data(seed, metric=seed % 2 == 0)
    opt = min(c for _, c in _all_solutions(data))
    cp = CostPairs.from_data(data)
    heur = solve_heuristic(cp)
    lag = solve_lagrangian(data, time_limit_s=5)
    tree = lagrangian_branch_and_bound(cp, lag.multipliers, heur.selected, heur.result.objective)
    assert tree.result.status is Status.OPTIMAL and tree.result.stop is StopReason.OPTIMAL
    assert tree.result.objective == pytest.approx(opt)
    assert tree.result.bound == pytest.approx(opt) and tree.result.gap == 0.0
    assert tree.result.objective == pytest.approx(cp.objective(tree.selected))


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("exact", ["tree", "mip"])
def test_solve_pmedian_is_exact(seed: int, exact: str) -> None:
    data = _random_data(seed, metric=seed % 2 == 1)
    opt = min(c for _, c in _all_solutions(data))
    run = solve_pmedian(data, options=OPTS, exact=exact)
    assert run.result.status is Status.OPTIMAL and run.result.stop is StopReason.OPTIMAL
    assert run.result.objective == pytest.approx(opt) and run.result.bound == pytest.approx(opt)
    assert run.proven_by in ("lagrangian", exact)
    with pytest.raises(dataclasses.FrozenInstanceError):
        run.selected = run.selected  # type: ignore[misc]


def test_limits_are_kept_as_stop_reasons_never_as_optimal() -> None:
    """Random (non-metric) costs leave a duality gap: one subgradient step, a tree whose
    deadline has passed and a run without the MIP phases all stop short of a proof."""
    rng = np.random.default_rng(1)
    data = PMedianData.from_arrays(rng.integers(0, 100, (40, 20)).astype(float), 4)
    cp = CostPairs.from_data(data)
    lag = solve_lagrangian(data, max_iter=1)
    assert lag.result.status is Status.FEASIBLE and lag.result.gap > 0.0
    assert lag.result.stop is StopReason.ITERATION_LIMIT and lag.iterations == 1
    tree = lagrangian_branch_and_bound(
        cp, lag.multipliers, lag.selected, lag.result.objective, deadline=time.perf_counter()
    )
    assert tree.result.status is Status.FEASIBLE and tree.result.stop is StopReason.TIME_LIMIT
    assert tree.result.nodes == 0 and tree.result.gap > 0.0
    alone = solve_pmedian(data, options=OPTS, run_mip=False)
    assert alone.result.status is Status.FEASIBLE and alone.result.gap > 0.0
    assert alone.result.stop is alone.lagrangian.result.stop
    assert alone.result.stop not in (StopReason.OPTIMAL, None)
    assert alone.proven_by == ""
    loose = solve_pmedian(data, options=SolveOptions(time_limit_s=30, mip_gap=0.5))
    assert loose.result.status is Status.OPTIMAL  # to the requested gap, which is not closed
    assert 0.0 < loose.result.gap <= 0.5 and loose.result.stop is StopReason.GAP_REACHED


def test_solve_pmedian_with_penalty_and_required_sites() -> None:
    data = pmedian_points(
        5, n=18, m=10, p=3, max_distance=40.0, unserved_penalty=45.0, required=[2]
    )
    run = solve_pmedian(data, options=OPTS)
    assert run.result.status is Status.OPTIMAL and run.selected[2]
    assert run.result.objective == pytest.approx(pmedian_optimum(data)[0])
    res = solve_classic("pmedian-exact", data, options=OPTS)
    assert res.report.passed and res.objective == pytest.approx(pmedian_optimum(data)[0])


def test_window_search_never_worsens_and_reaches_small_optima() -> None:
    data = pmedian_points(8, n=40, m=14, p=4)
    cp = CostPairs.from_data(data)
    start = greedy(cp)
    backend = get_backend("highs")
    sel, obj, stats = window_search(cp, start, backend, None, window_sites=14)
    assert obj <= cp.objective(start) + 1e-9 and int(sel.sum()) == data.p
    assert obj == pytest.approx(cp.objective(sel))
    assert obj == pytest.approx(pmedian_optimum(data)[0])  # one window holds every site: exact
    assert stats.windows >= 1
    small, small_obj, _ = window_search(cp, start, backend, None, window_sites=5)
    assert small_obj <= cp.objective(start) + 1e-9 and int(small.sum()) == data.p


@needs_orlib
@pytest.mark.orlib
def test_pmedian_exact_proves_orlib_pmed2() -> None:
    """pmed2 (p = 10): the Lagrangian bound alone leaves a gap; the tree closes it."""
    inst = benchdata.read_pmed("pmed2")
    res = solve_classic("pmedian-exact", inst.data(), options=OPTS)
    assert res.status is Status.OPTIMAL and res.objective == 4093.0 and res.gap == 0.0
    assert res.report.passed
