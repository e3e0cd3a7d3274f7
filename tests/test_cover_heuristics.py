"""Covering heuristics and bounds (LSCP Lagrangian, MCLP greedy + swaps + Lagrangian), the LNS,
the ``lscp-*`` / ``mclp-*`` classic variants against plain ``lscp`` / ``mclp`` and brute force,
OR-Library set covering, warm starts reaching HiGHS, and ``siting solve --model lscp-warm``."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from optimizer.backends import SolveOptions, Status, StopReason, get_backend
from optimizer.bench import instances as benchdata
from optimizer.classic.registry import solve_classic
from optimizer.cli import main
from optimizer.models.covering import lscp
from optimizer.models.covering.heuristics import (
    _Mclp,
    greedy_cover,
    lscp_lagrangian,
    mclp_greedy,
    mclp_heuristic,
    mclp_lagrangian,
    mclp_lns,
    remove_redundant,
)
from optimizer.models.covering.lscp import LscpData
from optimizer.models.covering.mclp import MclpData
from tests.oracles import brute_force_lscp, brute_force_mclp

OPTS = SolveOptions(time_limit_s=20)


def _cover(seed: int, m: int = 14, n: int = 10) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = (rng.random((m, n)) < 0.3).astype(np.int8)
    a[np.arange(m), rng.integers(0, n, m)] = 1
    return a, rng.integers(1, 9, n).astype(float)


def _all_covers(a: np.ndarray, cost: np.ndarray) -> list[tuple[float, np.ndarray]]:
    out = []
    for mask in itertools.product([False, True], repeat=a.shape[1]):
        sel = np.array(mask, dtype=bool)
        if a[:, sel].any(axis=1).all():
            out.append((float(cost[sel].sum()), sel))
    return out


# --------------------------------------------------------------------------- LSCP


@pytest.mark.parametrize("seed", range(10))
def test_greedy_cover_is_feasible_and_irredundant(seed: int) -> None:
    a, cost = _cover(seed)
    x = greedy_cover(sp.csr_matrix(a), cost)
    assert a[:, x].any(axis=1).all()
    for j in np.flatnonzero(x):  # no open site can be closed
        rest = x.copy()
        rest[j] = False
        assert not a[:, rest].any(axis=1).all()
    assert (remove_redundant(sp.csr_matrix(a), x, cost) == x).all()


@pytest.mark.parametrize("seed", range(12))
def test_lscp_lagrangian_brackets_the_optimum_and_fixes_soundly(seed: int) -> None:
    a, cost = _cover(seed)
    covers = _all_covers(a, cost)
    best = min(v for v, _ in covers)
    res = lscp_lagrangian(sp.csr_matrix(a), cost, time_limit_s=5)
    out = res.result
    assert out.bound <= best + 1e-9 <= out.objective + 1e-9
    assert a[:, res.selected].any(axis=1).all()
    assert float(cost[res.selected].sum()) == pytest.approx(out.objective)
    # a cover better than the incumbent never opens a site fixed closed nor closes one fixed open
    for v, sel in covers:
        if v < out.objective - 1e-9:
            assert not (sel & res.fix_zero).any()
            assert (sel[res.fix_one]).all()
    assert out.proven_optimal is (out.gap == 0.0)
    assert out.stop is not None and out.nodes is not None
    if out.proven_optimal:
        assert out.objective == best


@pytest.mark.parametrize("name", ["scp41", "scp45"])
@pytest.mark.orlib
def test_orlib_scp_proven_by_the_new_paths(name: str) -> None:
    inst = benchdata.read_scp(name)
    heur = solve_classic("lscp-heuristic", inst.data(), options=OPTS)
    warm = solve_classic("lscp-warm", inst.data(), options=OPTS)
    assert heur.bound <= inst.optimum <= heur.objective  # type: ignore[operator]
    assert warm.status is Status.OPTIMAL and warm.objective == inst.optimum
    assert warm.report.passed and heur.report.passed


@pytest.mark.orlib
def test_warm_start_reaches_highs() -> None:
    """With no time to search, HiGHS returns exactly the warm start (and nothing without it)."""
    inst = benchdata.read_scp("scp41")
    x = greedy_cover(inst.reach, inst.cost)
    milp = lscp.build_model(inst.data())
    highs = get_backend("highs")
    warm = highs.solve(milp, SolveOptions(time_limit_s=1e-6, warm_start=x.astype(float)))
    cold = highs.solve(milp, SolveOptions(time_limit_s=1e-6))
    assert warm.status is Status.FEASIBLE
    assert warm.objective == pytest.approx(float(inst.cost[x].sum()))
    assert cold.status is Status.NO_SOLUTION


# --------------------------------------------------------------------------- MCLP


def _mclp(seed: int, p: int | None = 3, budget: float | None = None, exact: bool = True) -> _Mclp:
    a, cost = _cover(seed, m=16, n=9)
    w = np.random.default_rng(seed + 50).integers(1, 20, a.shape[0]).astype(float)
    return _Mclp.of(sp.csr_matrix(a), w, cost, p, exact, budget)


def _mclp_best(prob: _Mclp) -> float:
    cost = prob.cost if prob.budget is not None else None
    return brute_force_mclp(prob.a.toarray(), prob.weight, prob.p, prob.p_exact, cost, prob.budget)


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize(
    "limits", [(3, None, True), (3, None, False), (None, 9.0, True), (3, 9.0, True)]
)
def test_mclp_greedy_and_swaps_are_feasible_and_below_the_optimum(
    seed: int, limits: tuple[int | None, float | None, bool]
) -> None:
    prob = _mclp(seed, *limits)
    best = _mclp_best(prob)
    if not np.isfinite(best):  # no selection fits (the solver reports INFEASIBLE first)
        return
    y0 = mclp_greedy(prob)
    y, _ = mclp_heuristic(prob)
    for sel in (y0, y):
        k = int(sel.sum())
        if prob.p is not None:
            assert k == prob.p if prob.p_exact else k <= prob.p
        if prob.budget is not None:
            assert prob.cost[sel].sum() <= prob.budget + 1e-9
    assert prob.value(y0) <= prob.value(y) <= best + 1e-9


@pytest.mark.parametrize("seed", range(8))
def test_mclp_lagrangian_bounds_and_fixes_soundly(seed: int) -> None:
    prob = _mclp(seed, p=3)
    y, _ = mclp_heuristic(prob)
    res = mclp_lagrangian(prob, y, time_limit_s=5)
    best = _mclp_best(prob)
    assert res.bound >= best - 1e-9
    lower = prob.value(y)
    for combo in itertools.combinations(range(prob.n), 3):
        sel = np.zeros(prob.n, dtype=bool)
        sel[list(combo)] = True
        if prob.value(sel) > lower + 1e-9:  # better than the incumbent
            assert not (sel & res.fix_zero).any()
            assert sel[res.fix_one].all()


def test_mclp_lns_keeps_limits_and_never_loses() -> None:
    prob = _mclp(3, p=3, budget=12.0)
    y0 = mclp_greedy(prob)
    y, rounds, _ = mclp_lns(prob, y0, get_backend("highs"), time_limit_s=1.0)
    assert rounds > 0
    assert int(y.sum()) == 3 and prob.cost[y].sum() <= 12.0 + 1e-9
    assert prob.value(y) >= prob.value(y0)


# --------------------------------------------------------------------------- classic variants


@pytest.mark.parametrize("seed", range(8))
def test_lscp_variants_match_plain_lscp_and_brute_force(seed: int) -> None:
    a, cost = _cover(seed, m=12, n=8)
    required = [seed % 8] if seed % 3 == 0 else None
    forbidden = [(seed + 3) % 8] if seed % 2 == 0 else None
    data = LscpData.from_arrays(sp.csr_matrix(a), cost, required=required, forbidden=forbidden)
    expected = brute_force_lscp(a, cost, tuple(required or ()), tuple(forbidden or ()))
    plain = solve_classic("lscp", data, options=OPTS, method="mip")
    if not np.isfinite(expected):
        assert plain.status is Status.INFEASIBLE
        for variant in ("lscp-heuristic", "lscp-warm"):
            assert solve_classic(variant, data, options=OPTS).status is Status.INFEASIBLE
        return
    assert plain.objective == pytest.approx(expected)
    warm = solve_classic("lscp-warm", data, options=OPTS)
    assert warm.status is Status.OPTIMAL and warm.objective == pytest.approx(expected)
    assert warm.gap == 0.0 and warm.report.passed
    assert warm.result.stop is StopReason.OPTIMAL
    heur = solve_classic("lscp-heuristic", data, options=OPTS)
    assert heur.bound <= expected + 1e-9 <= heur.objective + 1e-9
    assert heur.status is (Status.OPTIMAL if heur.gap == 0 else Status.FEASIBLE)
    assert heur.result.stop is (StopReason.OPTIMAL if heur.gap == 0 else StopReason.ITERATION_LIMIT)
    assert warm.assignment is not None and (warm.assignment >= 0).all()


MCLP_LIMITS = [
    {"p": 3},
    {"p": 3, "p_exact": False},
    {"budget": 10.0},
    {"p": 3, "budget": 10.0},
]


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("case", range(len(MCLP_LIMITS)))
def test_mclp_variants_match_plain_mclp(seed: int, case: int) -> None:
    kw = MCLP_LIMITS[case]
    a, cost = _cover(seed, m=15, n=8)
    w = np.random.default_rng(seed).integers(1, 30, a.shape[0]).astype(float)
    required = [seed % 8] if seed % 3 == 0 else None
    forbidden = [(seed + 3) % 8] if seed % 2 == 1 else None
    data = MclpData.from_arrays(
        sp.csr_matrix(a),
        w,
        kw.get("p"),  # type: ignore[arg-type]
        cost=cost if "budget" in kw else None,
        budget=kw.get("budget"),
        p_exact=bool(kw.get("p_exact", True)),
        required=required,
        forbidden=forbidden,
    )
    plain = solve_classic("mclp", data, options=OPTS, method="mip")
    warm = solve_classic("mclp-warm", data, options=OPTS)
    heur = solve_classic("mclp-heuristic", data, options=OPTS)
    if not plain.status.has_solution:
        assert not warm.status.has_solution and not heur.status.has_solution
        return
    assert plain.status is Status.OPTIMAL
    assert warm.status is Status.OPTIMAL and warm.objective == pytest.approx(plain.objective)
    assert heur.objective <= plain.objective + 1e-9 <= heur.bound + 1e-9
    assert warm.report.passed and heur.report.passed


def test_required_sites_beyond_the_budget_are_infeasible() -> None:
    a, _ = _cover(1, m=10, n=6)
    data = MclpData.from_arrays(
        sp.csr_matrix(a), np.ones(10), 3, cost=np.full(6, 5.0), budget=12.0, required=[0]
    )
    assert solve_classic("mclp", data, options=OPTS, method="mip").status is Status.INFEASIBLE
    for variant in ("mclp-heuristic", "mclp-warm"):
        res = solve_classic(variant, data, options=OPTS)
        assert res.status is Status.INFEASIBLE and res.result.stop is StopReason.INFEASIBLE


def test_siting_solve_lscp_warm(tmp_path: Path) -> None:
    import pandas as pd

    rng = np.random.default_rng(0)
    dxy, sxy = rng.integers(0, 100, (12, 2)), rng.integers(0, 100, (6, 2))
    dist = np.hypot(*(dxy[:, None, :] - sxy[None, :, :]).transpose(2, 0, 1))
    pd.DataFrame({"demand_id": [f"D{i}" for i in range(12)], "pop": 1}).to_csv(
        tmp_path / "demand.csv", index=False
    )
    pd.DataFrame({"site_id": [f"S{j}" for j in range(6)], "price": rng.integers(1, 9, 6)}).to_csv(
        tmp_path / "sites.csv", index=False
    )
    i, j = np.nonzero(np.ones_like(dist))
    pd.DataFrame(
        {"demand_id": [f"D{k}" for k in i], "site_id": [f"S{k}" for k in j], "distance": dist[i, j]}
    ).to_csv(tmp_path / "od.csv", index=False)
    args = [
        "--demand",
        str(tmp_path / "demand.csv"),
        "--sites",
        str(tmp_path / "sites.csv"),
        "--distances",
        str(tmp_path / "od.csv"),
        "--cost",
        "price",
        "--radius",
        "60",
        "-q",
    ]
    out = {}
    for model, method in (("lscp", ["--method", "mip"]), ("lscp-warm", [])):
        argv = ["solve", "--model", model, *method, "--out", str(tmp_path / model), *args]
        assert main([*argv]) == 0
        out[model] = json.loads((tmp_path / model / "summary.json").read_text())
    assert out["lscp"]["method"] == "mip" and out["lscp-warm"]["method"] == "warm"
    assert out["lscp-warm"]["status"] == "OPTIMAL"
    assert out["lscp-warm"]["objective"] == pytest.approx(out["lscp"]["objective"])
