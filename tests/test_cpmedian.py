"""The capacitated p-median solver (optimizer.models.pmedian.capacitated): exact knapsacks,
a valid Lagrangian bound, safe fixing, known optima, and the registry's default method."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from optimizer.backends import SolveOptions, Status, get_backend
from optimizer.backends import base as backends_base
from optimizer.bench.instances import read_osman_christofides
from optimizer.classic.registry import resolve_model, solve_classic
from optimizer.deadline import Deadline
from optimizer.models.pmedian import capacitated as cap
from optimizer.models.pmedian.model import PMedianData
from tests.oracles import brute_force_pmedian

OPTS = SolveOptions(time_limit_s=30, threads=1)
SEEDS = range(8)


def _random_cpmp(
    seed: int, n: int = 6, m: int = 4, p: int = 2, fractional: bool = False, **rules: object
) -> tuple[PMedianData, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A tiny random instance with binding capacities; returns data, dist, weight, demand,
    capacity."""
    rng = np.random.default_rng(seed)
    dist = rng.integers(0, 50, (n, m)).astype(float)
    weight = rng.integers(1, 4, n).astype(float)
    demand = rng.integers(1, 10, n).astype(float)
    if fractional:
        demand = demand + rng.random(n).round(3)
    capacity = np.full(m, math.ceil(demand.sum() / p * 1.15))
    data = PMedianData.from_arrays(
        dist,
        p,
        weight,
        demand=demand,
        capacity=capacity,
        **rules,  # type: ignore[arg-type]
    )
    return data, dist, weight, demand, capacity


def _optimum(
    dist: np.ndarray,
    weight: np.ndarray,
    p: int,
    demand: np.ndarray,
    capacity: np.ndarray,
    **rules: object,
) -> float:
    return brute_force_pmedian(
        dist,
        weight,
        p,
        demand=demand,
        capacity=capacity,
        **rules,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("seed", SEEDS)
def test_knapsacks_are_exact(seed: int) -> None:
    """Each site's value is the least reduced cost of a subset within capacity."""
    data, *_ = _random_cpmp(seed, n=7, m=3)
    items = cap.SiteItems.from_data(data)
    lam = np.random.default_rng(seed).uniform(0, 60, data.n_demand)
    take = np.zeros(items.rows.size, dtype=np.bool_)
    forced = np.random.default_rng(seed + 100).random(items.rows.size) < 0.15
    value = cap._knapsacks(
        items.indptr, items.rows, items.cost, items.units, items.cap_units, lam, forced, take
    )
    for j in range(data.n_sites):
        lo, hi = items.indptr[j], items.indptr[j + 1]
        rc = items.cost[lo:hi] - lam[items.rows[lo:hi]]
        best = math.inf
        for mask in itertools.product([0, 1], repeat=hi - lo):
            chosen = np.asarray(mask, dtype=bool)
            if np.any(forced[lo:hi] & ~chosen):
                continue  # a forced item left out
            if items.units[lo:hi][chosen].sum() <= items.cap_units[j]:
                best = min(best, float(rc[chosen].sum()))
        assert value[j] == pytest.approx(best)
        if math.isfinite(best):
            assert np.all(take[lo:hi][forced[lo:hi]])
            assert float(rc[take[lo:hi]].sum()) == pytest.approx(value[j])


@pytest.mark.parametrize("fractional", [False, True])
@pytest.mark.parametrize("seed", SEEDS)
def test_lagrangian_bound_never_exceeds_the_optimum(seed: int, fractional: bool) -> None:
    """For any multipliers (the bound must hold even with scaled, non-integer demands)."""
    data, dist, weight, demand, capacity = _random_cpmp(seed, fractional=fractional)
    opt = _optimum(dist, weight, 2, demand, capacity)
    items = cap.SiteItems.from_data(data)
    rng = np.random.default_rng(seed)
    for _ in range(20):
        lam = rng.uniform(-20, 150, data.n_demand)
        assert cap.relax(items, lam).value <= opt + 1e-9


@pytest.mark.parametrize("seed", SEEDS)
def test_matches_brute_force(seed: int) -> None:
    rules: dict[str, object] = {}
    if seed % 3 == 1:
        rules["required"] = [seed % 4]
    if seed % 3 == 2:
        rules["forbidden"] = [seed % 4]
    data, dist, weight, demand, capacity = _random_cpmp(seed, **rules)
    opt = _optimum(
        dist,
        weight,
        2,
        demand,
        capacity,
        **{k: tuple(v) for k, v in rules.items()},  # type: ignore[call-overload]
    )
    run = cap.solve_cpmedian(data, "highs", OPTS)
    assert run.result.status is Status.OPTIMAL
    assert run.result.objective == pytest.approx(opt)
    assert run.result.bound <= opt + 1e-6


@pytest.mark.parametrize("seed", SEEDS)
def test_penalty_and_fractional_demands_match_brute_force(seed: int) -> None:
    _, dist, weight, demand, capacity = _random_cpmp(seed, fractional=True)
    soft = PMedianData.from_arrays(
        dist, 2, weight, demand=demand, capacity=capacity * 0.7, unserved_penalty=40.0
    )
    opt = brute_force_pmedian(dist, weight, 2, penalty=40.0, demand=demand, capacity=capacity * 0.7)
    res = solve_classic("cpmedian", soft, options=OPTS)
    assert res.status is Status.OPTIMAL
    assert res.objective == pytest.approx(opt)
    assert res.bound <= opt + 1e-6
    assert res.report.passed


@pytest.mark.parametrize("seed", SEEDS)
def test_fixing_keeps_every_solution_cheaper_than_the_incumbent(seed: int) -> None:
    """Fixed against UB = optimum + 1 (integer costs), an optimal solution survives."""
    data, dist, weight, demand, capacity = _random_cpmp(seed)
    items = cap.SiteItems.from_data(data)
    best_cost, best_assign = math.inf, None
    for choice in itertools.product(range(data.n_sites), repeat=data.n_demand):
        a = np.asarray(choice)
        load = np.bincount(a, weights=demand, minlength=data.n_sites)
        if len(set(choice)) > 2 or np.any(load > capacity):
            continue
        c = float(np.sum(weight * dist[np.arange(data.n_demand), a]))
        if c < best_cost:
            best_cost, best_assign = c, a
    assert best_assign is not None
    rng = np.random.default_rng(seed)
    for _ in range(10):
        lam = rng.uniform(0, 120, data.n_demand)
        rel = cap.relax(items, lam)
        fixing = cap.fix_by_reduced_cost(data, items, lam, rel, best_cost + 1.0)
        used = np.unique(best_assign)
        assert not fixing.closed[used].any()
        pairs = data.pairs
        hit = fixing.keep_pairs & (best_assign[pairs.rows] == pairs.cols)
        assert hit.sum() == data.n_demand


@pytest.mark.parametrize("name", ["pmedcap02", "pmedcap04", "pmedcap06"])
def test_osman_christofides_optimum_proven(name: str) -> None:
    inst = read_osman_christofides(name)
    res = solve_classic("cpmedian", inst.data(), options=SolveOptions(time_limit_s=60, threads=1))
    assert res.status is Status.OPTIMAL
    assert res.objective == inst.optimum
    assert res.bound == inst.optimum
    assert res.report.passed


def test_reproducible() -> None:
    inst = read_osman_christofides("pmedcap03")
    runs = [cap.solve_cpmedian(inst.data(), "highs", OPTS) for _ in range(2)]
    assert runs[0].result.objective == runs[1].result.objective
    assert runs[0].selected is not None and runs[1].selected is not None
    assert np.array_equal(runs[0].selected, runs[1].selected)


def test_infeasible_capacity_ends_without_a_solution() -> None:
    dist = np.arange(12, dtype=float).reshape(4, 3)
    data = PMedianData.from_arrays(dist, 1, demand=np.full(4, 5.0), capacity=np.full(3, 8.0))
    run = cap.solve_cpmedian(data, "highs", SolveOptions(time_limit_s=10, threads=1))
    assert not run.result.status.has_solution
    assert run.selected is None


def test_default_method_is_the_lagrangian_path_and_mip_stays() -> None:
    assert resolve_model("cpmedian").method == "exact"
    assert resolve_model("cpmedian", "mip").method == "mip"
    data, *_ = _random_cpmp(3)
    exact = solve_classic("cpmedian", data, options=OPTS)
    plain = solve_classic("cpmedian", data, options=OPTS, method="mip")
    assert exact.result.extra["method"] == "exact"
    assert plain.result.extra["method"] == "mip"
    assert exact.objective == pytest.approx(plain.objective)


@pytest.mark.parametrize("seed", SEEDS)
def test_tree_from_a_weak_start_proves_the_brute_force_optimum(seed: int) -> None:
    """The Lagrangian branch-and-bound alone (zero multipliers, no incumbent) finds and
    proves the optimum of a tiny instance."""
    data, dist, weight, demand, capacity = _random_cpmp(seed, n=7, m=5)
    opt = _optimum(dist, weight, 2, demand, capacity)
    items = cap.SiteItems.from_data(data)
    inc = cap._Incumbent()
    assigner = cap._Assigner(data, items, cap._dense_costs(data), get_backend("highs"), 1)
    lam = np.zeros(data.n_demand)
    stats = cap.lagrangian_tree(data, items, lam, -math.inf, inc, assigner, Deadline(30))
    assert stats.complete
    assert inc.objective == pytest.approx(opt)
    assert stats.bound == pytest.approx(opt)


@pytest.mark.parametrize("seed", SEEDS)
def test_stopped_tree_resumes_to_the_brute_force_optimum(seed: int) -> None:
    """A tree stopped at once keeps its open nodes and a valid bound; resumed, it proves
    the optimum (the run resumes it after the subset-row phase)."""
    data, dist, weight, demand, capacity = _random_cpmp(seed, n=7, m=5)
    opt = _optimum(dist, weight, 2, demand, capacity)
    items = cap.SiteItems.from_data(data)
    inc = cap._Incumbent()
    assigner = cap._Assigner(data, items, cap._dense_costs(data), get_backend("highs"), 1)
    lam = np.zeros(data.n_demand)
    stopped = cap.lagrangian_tree(data, items, lam, -math.inf, inc, assigner, Deadline(0.0))
    assert not stopped.complete and stopped.heap
    assert stopped.bound <= opt + 1e-9
    stats = cap.lagrangian_tree(
        data, items, lam, -math.inf, inc, assigner, Deadline(30), resume=stopped
    )
    assert stats.complete
    assert inc.objective == pytest.approx(opt)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 3])
def test_reduced_mip_path_matches_the_plain_mip(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Beyond the tree's size the reduced MIP (fixing + Lagrangian cut) finishes the job: on
    instances the root bound does not close, it proves the plain MIP's optimum."""
    data, *_ = _random_cpmp(seed, n=30, m=15, p=4)
    plain = solve_classic("cpmedian", data, options=OPTS, method="mip")
    assert plain.status is Status.OPTIMAL
    monkeypatch.setattr(cap, "TREE_MAX_SITES", 0)
    run = cap.solve_cpmedian(data, "highs", OPTS)
    assert "mip_s" in run.phases and "tree_nodes" not in run.phases
    assert float(run.phases["lagrangian_bound"]) < plain.objective  # the MIP had work to do
    assert run.result.status is Status.OPTIMAL
    assert run.result.objective == pytest.approx(plain.objective)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 3])
def test_tree_proves_the_plain_mip_optimum(seed: int) -> None:
    """On instances the root bound leaves open the tree branches and proves the optimum."""
    data, *_ = _random_cpmp(seed, n=30, m=15, p=4)
    plain = solve_classic("cpmedian", data, options=OPTS, method="mip")
    items = cap.SiteItems.from_data(data)
    inc = cap._Incumbent()
    assigner = cap._Assigner(data, items, cap._dense_costs(data), get_backend("highs"), 1)
    lam = np.zeros(data.n_demand)
    stats = cap.lagrangian_tree(data, items, lam, -math.inf, inc, assigner, Deadline(60))
    assert stats.complete and stats.nodes > 1
    assert inc.objective == pytest.approx(plain.objective)
    assert stats.bound == pytest.approx(plain.objective)


@pytest.mark.parametrize("seed", SEEDS)
def test_client_branching_tree_proves_the_brute_force_optimum(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Branching on assignments (a point to a site, or not) and on sites both prove the
    optimum from a weak start: every child keeps the solutions of its parent."""
    data, dist, weight, demand, capacity = _random_cpmp(seed, n=8, m=5)
    opt = _optimum(dist, weight, 2, demand, capacity)
    for clients in (True, False):
        monkeypatch.setattr(cap, "BRANCH_ON_CLIENTS", clients)
        items = cap.SiteItems.from_data(data)
        inc = cap._Incumbent()
        assigner = cap._Assigner(data, items, cap._dense_costs(data), get_backend("highs"), 1)
        lam = np.zeros(data.n_demand)
        stats = cap.lagrangian_tree(data, items, lam, -math.inf, inc, assigner, Deadline(30))
        assert stats.complete
        assert inc.objective == pytest.approx(opt)
        assert stats.bound == pytest.approx(opt)


@pytest.mark.parametrize("seed", SEEDS)
def test_sparse_quick_assign_is_feasible_and_matches_the_dense_cost(seed: int) -> None:
    """The pair-wise greedy (for instances too large for dense costs) returns a solution
    within capacity whose cost is that of its assignment; with a penalty it may leave
    points unserved."""
    for penalty in (None, 30.0):
        data, *_ = _random_cpmp(seed, n=12, m=6, p=3, unserved_penalty=penalty)
        opened = np.zeros(data.n_sites, dtype=bool)
        opened[:3] = True
        found = cap.sparse_quick_assign(data, cap._SparseCosts.from_data(data), opened)
        if found is None:
            assert penalty is None
            continue
        assignment, cost = found
        assert cap.within_capacity(data, assignment)
        assert np.all(opened[assignment[assignment >= 0]])
        assert cost == pytest.approx(cap.pmedian.solution_cost(data, assignment))


def test_a_mip_too_large_for_the_time_is_not_started(monkeypatch: pytest.MonkeyPatch) -> None:
    """HiGHS cannot be stopped inside its root: with almost no nonzeros per second allowed
    the run ends on the Lagrangian bound and heuristic, never OPTIMAL without a proof, and
    within its limit."""
    data, *_ = _random_cpmp(1, n=30, m=15, p=4)
    monkeypatch.setattr(backends_base, "MIP_NNZ_PER_S", 1e-3)
    monkeypatch.setattr(cap, "TREE_MAX_SITES", 0)
    run = cap.solve_cpmedian(data, "highs", SolveOptions(time_limit_s=2, threads=1))
    assert run.result.solve_s <= 2.0
    assert run.result.objective >= run.result.bound - 1e-6
    if run.result.status is Status.OPTIMAL:
        assert run.result.bound == pytest.approx(run.result.objective)


def test_a_run_with_no_time_still_answers_where_points_may_stay_unserved() -> None:
    # an unserved penalty makes every selection feasible: the first answer comes before any
    # phase, so even a run out of time at once returns a verified solution of p sites
    data, *_ = _random_cpmp(3, n=40, m=12, p=4, unserved_penalty=100.0)
    out = solve_classic("cpmedian", data, options=SolveOptions(time_limit_s=1e-6))
    assert out.result.status.has_solution and out.report.passed
    assert out.selected is not None and len(out.selected) == 4
