"""Lagrangian decomposition of the planning model: pieces, restriction, known optima, and
agreement with the plain MIP (its plan is feasible and never beats the MIP optimum; its bound
never falls below it)."""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import pytest

from optimizer.backends import Result, SolveOptions, Status, get_backend
from optimizer.distances.engine import make_engine
from optimizer.inputs import read_inputs
from optimizer.instance import build_instance
from optimizer.milp import MILP
from optimizer.models.planning import decomposition as planning_decomp
from optimizer.models.planning import model as planning
from optimizer.models.planning import solve as planning_solve
from optimizer.pipeline import planning_data, run_plan
from optimizer.scenario import load_scenario
from tests.helpers import blocks_frame, sites_frame, write_scenario

HIGHS = get_backend("highs")


def _data(path: Path) -> planning.PlanningData:
    scenario = load_scenario(path)
    inputs = read_inputs(scenario)
    inst = build_instance(inputs, scenario.catalog, make_engine(scenario.distances, inputs))
    return planning_data(inst, scenario.model)


def _two_clusters_scenario(tmp_path: Path, **solver: object) -> Path:
    # The phased case of test_planning: cluster A (2 blocks, 400 aged 60+) at x = 0, cluster
    # B (1 block) at x = 5000; one 450k site per year fits each 500k budget.
    blocks = blocks_frame([0, 0, 5000])
    sites = sites_frame([0, 5000], floor=[400, 400], fixed=[100_000, 100_000])
    return write_scenario(
        tmp_path,
        blocks,
        sites,
        facility_types=["elder_care"],
        model={"objective": "max_coverage", "budgets": {2026: 500_000, 2027: 500_000}},
        solver={"name": "highs", "time_limit_s": 30, **solver},
    )


def _two_clusters(tmp_path: Path) -> planning.PlanningData:
    return _data(_two_clusters_scenario(tmp_path))


def test_pieces_split_the_clusters_and_restriction_rebuilds_the_model(tmp_path: Path) -> None:
    data = _two_clusters(tmp_path)
    pieces = planning_decomp.find_pieces(data)
    assert pieces.n_pieces == 2
    assert sorted(pieces.site_piece.tolist()) == [0, 1]
    sub, cols = planning_decomp.restrict(data, np.arange(data.n_sites), np.arange(data.n_blocks))
    whole = planning.build_model(data.with_changes(budgets=None), must_cover=False)
    again = planning.build_model(sub, must_cover=False)
    assert sorted(cols.tolist()) == list(range(whole.num_vars))
    # the restricted model is the same model with its columns in ``cols`` order
    assert (whole.A[:, cols] != again.A).nnz == 0


def test_decomposition_reaches_the_known_optimum(tmp_path: Path) -> None:
    data = _two_clusters(tmp_path)
    out = planning_solve.solve(
        data,
        ["coverage"],
        HIGHS,
        SolveOptions(time_limit_s=30, mip_gap=1e-6),
        tiebreak="cost",
        method="decomposition",
    )
    assert out.result.status is Status.OPTIMAL
    assert out.result.extra["method"] == "lagrangian decomposition"
    assert out.result.objective == pytest.approx(2 * 200 * 2 / 3 + 200 / 3, rel=1e-6)
    assert out.solution is not None
    assert out.solution.open_period.tolist() == [0, 1]


def test_the_menu_knapsack_alone_gives_a_feasible_budgeted_plan(tmp_path: Path) -> None:
    # With a 5 % tolerance the dual's first multipliers suffice (its duality gap here is
    # 2.2 %): the plan is the menu knapsack's, with no MIP after it, and it is the optimum.
    data = _two_clusters(tmp_path)
    base = planning.build_model(data, must_cover=False)
    c = planning.objective(data, "coverage")
    res = planning_decomp.solve_decomposed(
        data, base, c, HIGHS, SolveOptions(time_limit_s=30, mip_gap=0.05)
    )
    assert res.status is Status.OPTIMAL and res.x is not None
    assert res.extra["iterations"] >= 1
    assert res.bound == res.extra["lagrangian_bound"]  # no MIP ran to lower it
    assert base.max_violation(res.x) <= 1e-7
    assert res.objective == pytest.approx(2 * 200 * 2 / 3 + 200 / 3, rel=1e-9)
    assert res.bound >= res.objective and res.gap <= 0.05


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.slow
def test_decomposition_agrees_with_the_mip(tmp_path: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    # three neighbourhoods 3 km apart, each with blocks and candidate sites around it
    centres = np.repeat([0.0, 3000.0, 6000.0], 4)
    n_blocks = centres.size
    blocks = blocks_frame(
        list(centres + rng.uniform(-250, 250, n_blocks)),
        list(rng.uniform(-200, 200, n_blocks)),
        households=(hh := rng.integers(200, 900, n_blocks)),
        population=(hh * rng.uniform(2.5, 3.2, n_blocks)).astype(int),
    )
    site_centres = np.repeat([0.0, 3000.0, 6000.0], 3)
    n_sites = site_centres.size
    sites = sites_frame(
        list(site_centres + rng.uniform(-250, 250, n_sites)),
        floor=list(rng.choice([400, 500, 900, 2500], n_sites)),
        fixed=list(rng.integers(1, 30, n_sites) * 10_000),
        ys=list(rng.uniform(-200, 200, n_sites)),
    )
    budgets = {2026: 600_000, 2027: 900_000}
    path = write_scenario(
        tmp_path, blocks, sites, model={"objective": "max_coverage", "budgets": budgets}
    )
    data = _data(path)
    exact = SolveOptions(time_limit_s=60, mip_gap=0.0)
    mip = planning_solve.solve(data, ["coverage"], HIGHS, exact, reassign=False, method="mip")
    assert mip.result.status is Status.OPTIMAL
    dec = planning_solve.solve(
        data,
        ["coverage"],
        HIGHS,
        SolveOptions(time_limit_s=20, mip_gap=0.0),
        reassign=False,
        method="decomposition",
    )
    assert dec.result.status in (Status.OPTIMAL, Status.FEASIBLE)
    assert dec.result.x is not None
    assert dec.milp.max_violation(dec.result.x) <= 1e-6
    opt = mip.result.objective
    assert dec.result.objective <= opt + 1e-6 * max(1.0, opt)
    assert dec.result.bound >= opt - 1e-6 * max(1.0, opt)
    if dec.result.status is Status.OPTIMAL:
        assert dec.result.objective == pytest.approx(opt, rel=1e-6)


def test_the_scenario_can_ask_for_the_decomposition(tmp_path: Path) -> None:
    # solver.method: decomposition runs it even on a small model; the plan passes verify
    run = run_plan(_two_clusters_scenario(tmp_path, method="decomposition"), write=False)
    assert run.result.solver == "highs+decomposition+heuristic"  # started from its plan
    assert run.result.objective == pytest.approx(2 * 200 * 2 / 3 + 200 / 3, rel=1e-6)
    assert run.verify.passed
    default = run_plan(_two_clusters_scenario(tmp_path / "auto"), write=False)
    assert default.result.solver == "highs+heuristic"  # small: one MIP, warm-started


class _PausingHighs:
    """HiGHS, then a pause after every solve: the clock runs out after the first batch."""

    name = "highs"

    def __init__(self, pause_s: float) -> None:
        self.pause_s = pause_s

    def solve(self, milp: MILP, options: SolveOptions) -> Result:
        res = HIGHS.solve(milp, options)
        time.sleep(self.pause_s)
        return res


def test_an_iteration_cut_short_keeps_the_batches_it_solved(tmp_path: Path) -> None:
    # Two pieces in two batches; the time (less the knapsack's reserve) ends after the first
    # batch: its plan is kept, the second batch keeps the fill's part, and no bound is claimed.
    data = _two_clusters(tmp_path)
    pieces = planning_decomp.find_pieces(data, batch_sites=1)
    batches = planning_decomp._batches(data, pieces)
    assert len(batches) == 2
    base = planning.build_model(data, must_cover=False)
    c = planning.objective(data, "coverage")
    R, limits = planning_decomp.budget_rows(data, base)
    lam = np.zeros(limits.size)
    opts = SolveOptions(time_limit_s=30, mip_gap=1e-6)
    full = planning_decomp._evaluate(batches, pieces, c, lam, base, R, HIGHS, opts, math.inf)
    assert full is not None and math.isfinite(full[0])
    fill = np.full(base.num_vars, 7.0)  # a marker: the unsolved batch's columns keep it
    slow = _PausingHighs(0.7)
    deadline = time.perf_counter() + 1.2
    got = planning_decomp._evaluate(
        batches, pieces, c, lam, base, R, slow, opts, deadline, fill, reserve=0.5
    )
    assert got is not None
    total, x = got
    assert math.isnan(total)
    first, second = batches[0].cols, batches[1].cols
    assert c[first] @ x[first] == pytest.approx(c[first] @ full[1][first], rel=1e-9)
    assert np.all(x[second] == 7.0)
    # without a fill (the "build nothing" start) an unfinished evaluation gives nothing
    deadline = time.perf_counter() + 0.7
    none = planning_decomp._evaluate(batches, pieces, c, lam, base, R, slow, opts, deadline)
    assert none is None
