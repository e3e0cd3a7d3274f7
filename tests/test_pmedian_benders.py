"""Benders decomposition of the p-median radius formulation
(:mod:`optimizer.models.pmedian.benders`): exact optima against hand-built cases, brute force
and the plain MIP; cut separation; the time limit; the registry entry."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from optimizer.backends import SolveOptions, Status, get_backend
from optimizer.bench import instances as benchdata
from optimizer.classic.registry import MODELS, solve_classic
from optimizer.models.pmedian import benders
from optimizer.models.pmedian.benders import (
    BendersRun,
    RadiusPairs,
    separate,
    solve_pmedian_benders,
)
from optimizer.models.pmedian.heuristics import CostPairs, best_two
from optimizer.models.pmedian.model import PMedianData, build_model
from tests.helpers import pmedian_optimum, pmedian_points
from tests.oracles import brute_force_pmedian

OPTS = SolveOptions(time_limit_s=20.0)


def _proven(data: PMedianData, expected: float, integer: str = "tree") -> BendersRun:
    run = solve_pmedian_benders(data, OPTS, integer=integer)
    assert run.result.status is Status.OPTIMAL
    assert run.result.objective == pytest.approx(expected, abs=1e-6)
    assert run.result.bound == pytest.approx(expected, abs=1e-6)
    # the selection's cost is recomputed from the input arrays
    assert int(run.selected.sum()) == data.p
    assert run.proven_by in ("lp", integer)
    return run


def test_hand_built_line() -> None:
    # points at 0, 1, 2, 10, 11 on a line, sites at the same places, p = 2: open 1 and 10
    # (or 11): 1 + 0 + 1 + 0 + 1 = 3
    x = np.array([0.0, 1.0, 2.0, 10.0, 11.0])
    dist = np.abs(x[:, None] - x[None, :])
    _proven(PMedianData.from_arrays(dist, 2), 3.0)


def test_hand_built_penalty_required_forbidden() -> None:
    # site 1 (at 1) forbidden, site 4 (at 11) required, p = 2; cap 3, penalty 5:
    # best: open 4 and one of 0 / 2 -> points 0, 1, 2 cost 2 + 1 + 0 (site 2) = 3; 10 -> 1
    x = np.array([0.0, 1.0, 2.0, 10.0, 11.0])
    dist = np.abs(x[:, None] - x[None, :])
    w = np.array([1.0, 1.0, 1.0, 1.0, 1.0])
    data = PMedianData.from_arrays(
        dist, 2, w, max_distance=3.0, unserved_penalty=5.0, required=[4], forbidden=[1]
    )
    expected = brute_force_pmedian(
        np.where(dist <= 3.0, dist, np.inf), w, 2, required=(4,), forbidden=(1,), penalty=5.0
    )
    assert expected == 4.0
    _proven(data, expected)


@pytest.mark.parametrize("integer", ["tree", "mip"])
@pytest.mark.parametrize("seed", range(6))
def test_random_matches_brute_force(seed: int, integer: str) -> None:
    rng = np.random.default_rng(seed)
    n, m = int(rng.integers(8, 25)), int(rng.integers(5, 10))
    dist = rng.integers(1, 40, size=(n, m)).astype(float)
    w = rng.integers(1, 6, size=n).astype(float)
    p = int(rng.integers(1, 4))
    kw: dict[str, object] = {}
    capped = np.where(dist <= 20.0, dist, np.inf)
    penalty = None
    required: tuple[int, ...] = ()
    forbidden: tuple[int, ...] = ()
    if seed % 2:  # a distance cap with the unserved penalty
        penalty = 30.0
        kw = {"max_distance": 20.0, "unserved_penalty": penalty}
    if seed % 3 == 0:
        required, forbidden = (0,), (1,)
        kw |= {"required": list(required), "forbidden": list(forbidden)}
    data = PMedianData.from_arrays(dist, p, w, **kw)  # type: ignore[arg-type]
    expected = brute_force_pmedian(
        capped if penalty is not None else dist, w, p, required, forbidden, penalty
    )
    _proven(data, expected, integer)


@pytest.mark.parametrize("lp", ["simplex", "ipm"])
@pytest.mark.parametrize("integer", ["tree", "mip"])
@pytest.mark.parametrize("seed", range(3))
def test_random_matches_plain_mip(
    seed: int, integer: str, lp: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both LP solvers of the master (IPM without crossover from IPM_FROM_POINTS points)."""
    if lp == "ipm":
        monkeypatch.setattr(benders, "IPM_FROM_POINTS", 0)
    rng = np.random.default_rng(100 + seed)
    n, m, p = 120, 40, 6
    pts, sites = rng.random((n, 2)), rng.random((m, 2))
    dist = np.floor(1000 * np.hypot(*(pts[:, None, :] - sites[None, :, :]).transpose(2, 0, 1)))
    data = PMedianData.from_arrays(dist, p, max_distance=300.0, unserved_penalty=600.0)
    mip = get_backend("highs").solve(build_model(data), OPTS)
    assert mip.status is Status.OPTIMAL
    assert _proven(data, mip.objective, integer).phases["lp_solver"] == lp


def test_a_stalled_ipm_round_is_finished_by_crossover(monkeypatch: pytest.MonkeyPatch) -> None:
    """An IPM master that ends short of optimal (status unknown) is solved again with
    crossover rather than ending the LP phase at the previous round's bound."""
    monkeypatch.setattr(benders, "IPM_FROM_POINTS", 0)
    real_solve, real_optimal = benders._Master.solve, benders._Master.lp_optimal
    solves: list[str] = []

    def recorded(self: benders._Master, time_limit: float) -> object:
        solves.append(str(self.h.getOptionValue("run_crossover")[1]))
        return real_solve(self, time_limit)

    def first_stalls(self: benders._Master) -> bool:
        return real_optimal(self) and len(solves) > 1

    monkeypatch.setattr(benders._Master, "solve", recorded)
    monkeypatch.setattr(benders._Master, "lp_optimal", first_stalls)
    rng = np.random.default_rng(7)
    pts, sites = rng.random((80, 2)), rng.random((30, 2))
    dist = np.floor(1000 * np.hypot(*(pts[:, None, :] - sites[None, :, :]).transpose(2, 0, 1)))
    data = PMedianData.from_arrays(dist, 5, max_distance=350.0, unserved_penalty=700.0)
    mip = get_backend("highs").solve(build_model(data), OPTS)
    _proven(data, mip.objective)
    assert solves[:2] == ["off", "on"]  # the stalled round, then the same round with crossover


def test_separation_is_exact_at_integral_points() -> None:
    # at an integral y the most violated cut of each point is its cost; at a fractional y
    # every cut is at most the point's cost under any integral y (a valid lower bound)
    rng = np.random.default_rng(7)
    dist = rng.integers(1, 20, size=(30, 12)).astype(float)  # ties on purpose
    data = PMedianData.from_arrays(dist, 3, max_distance=12.0, unserved_penalty=15.0)
    cp = CostPairs.from_data(data)
    rp = RadiusPairs.from_cost_pairs(cp)
    for _ in range(20):
        opened = np.zeros(12, dtype=bool)
        opened[rng.choice(12, 3, replace=False)] = True
        d1, _, _ = best_two(cp, opened)
        y = opened.astype(float)
        np.testing.assert_allclose(separate(rp, y).value(rp, y), d1)
        frac = rng.random(12)
        frac *= 3.0 / frac.sum()
        assert np.all(separate(rp, np.minimum(frac, 1.0)).value(rp, y) <= d1 + 1e-9)


def test_time_limit_is_kept() -> None:
    rng = np.random.default_rng(3)
    pts = rng.random((1500, 2))
    dist = np.floor(10_000 * np.hypot(*(pts[:, None, :] - pts[None, :400, :]).transpose(2, 0, 1)))
    data = PMedianData.from_arrays(dist, 12)
    t0 = time.perf_counter()
    run = solve_pmedian_benders(data, SolveOptions(time_limit_s=0.5))
    # the issue allows 2 s over the limit; 1 s leaves room for a loaded machine (0.1-0.3 s
    # over at load 9 on 2 cores, 1.0 s limit)
    assert time.perf_counter() - t0 < 0.5 + 1.0
    res = run.result
    assert res.status in (Status.OPTIMAL, Status.FEASIBLE)
    assert math.isfinite(res.bound) and res.bound <= res.objective
    if res.status is Status.FEASIBLE:
        assert res.gap > 0


def test_registry_entry() -> None:
    assert "pmedian-benders" in MODELS
    x = np.array([0.0, 1.0, 2.0, 10.0, 11.0])
    data = PMedianData.from_arrays(np.abs(x[:, None] - x[None, :]), 2)
    answer = solve_classic("pmedian", data, options=OPTS, method="benders")
    assert answer.result.status is Status.OPTIMAL
    assert answer.result.objective == pytest.approx(3.0)


@pytest.mark.orlib
@pytest.mark.skipif(
    not (benchdata.benchmarks_dir() / "orlib-pmed").is_dir(),
    reason="shared benchmark instances not present",
)
def test_orlib_pmed1_proven() -> None:
    data = benchdata.read_pmed("pmed1").data()
    run = solve_pmedian_benders(data, SolveOptions(time_limit_s=60.0))
    assert run.result.status is Status.OPTIMAL
    assert run.result.objective == 5819.0
    assert run.result.bound == 5819.0


@pytest.mark.parametrize(("below", "expected"), [(10_000, "mip"), (10, "tree")])
def test_auto_runs_the_mip_on_small_masters_and_the_tree_on_large(
    below: int, expected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(benders, "MIP_BELOW_POINTS", below)
    data = pmedian_points(5, n=60, m=20, p=4)
    optimum, _ = pmedian_optimum(data)
    run = solve_pmedian_benders(data, OPTS)
    assert run.phases["integer"] == expected
    assert run.result.status is Status.OPTIMAL
    assert run.result.objective == pytest.approx(optimum)


def test_auto_falls_back_to_the_tree_when_the_mip_root_does_not_fit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(benders, "mip_root_fits", lambda nonzeros, seconds: False)
    # an LP that stops short of the integer optimum leaves work for the integer phase
    found = None
    for seed in range(40):
        data = pmedian_points(seed, n=60, m=20, p=4)
        run = solve_pmedian_benders(data, OPTS)
        if run.proven_by != "lp":
            found, (optimum, _) = run, pmedian_optimum(data)
            break
    assert found is not None, "no instance with an LP gap among 40 seeds"
    assert found.phases["mip_rounds"] == 0
    assert found.phases["integer"] == "tree" and "tree" in found.phases
    assert found.result.status is Status.OPTIMAL
    assert found.result.objective == pytest.approx(optimum)


def test_an_unknown_integer_phase_is_refused() -> None:
    with pytest.raises(ValueError, match="integer"):
        solve_pmedian_benders(pmedian_points(0), OPTS, integer="lagrange")
