"""The planning model's primal heuristic: its plans are feasible (model rows and the
independent verification), keep the budgets and the columns the bounds fix, never beat the
exact optimum found by enumeration, and a warm-started solve never ends below them."""

from __future__ import annotations

import itertools
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from optimizer.backends import SolveOptions, Status, get_backend
from optimizer.distances.engine import make_engine
from optimizer.inputs import read_inputs
from optimizer.instance import PlanningInstance, build_instance
from optimizer.milp import MILP
from optimizer.models.planning import decomposition as planning_decomp
from optimizer.models.planning import heuristic
from optimizer.models.planning import model as planning
from optimizer.models.planning import solve as planning_solve
from optimizer.pipeline import planning_data
from optimizer.scenario import load_scenario
from optimizer.verify import verify_plan
from tests.helpers import blocks_frame, sites_frame, write_scenario

HIGHS = get_backend("highs")
OPTIONS = SolveOptions(time_limit_s=30, mip_gap=0.0)


def _random_case(
    tmp_path: Path,
    seed: int,
    n_blocks: int = 12,
    n_sites: int = 9,
    types: tuple[str, ...] = ("elder_care", "convenience"),
    **model: object,
) -> tuple[PlanningInstance, planning.PlanningData]:
    """Three neighbourhoods 3 km apart with blocks and candidate sites around each; two
    annual budgets that buy some of the sites."""
    rng = np.random.default_rng(seed)
    centres = np.repeat([0.0, 3000.0, 6000.0], n_blocks // 3)
    blocks = blocks_frame(
        list(centres + rng.uniform(-250, 250, centres.size)),
        list(rng.uniform(-200, 200, centres.size)),
        households=(hh := rng.integers(200, 900, centres.size)),
        population=(hh * rng.uniform(2.5, 3.2, centres.size)).astype(int),
    )
    site_centres = np.repeat([0.0, 3000.0, 6000.0], n_sites // 3)
    sites = sites_frame(
        list(site_centres + rng.uniform(-250, 250, site_centres.size)),
        floor=list(rng.choice([120, 400, 500, 900], site_centres.size)),
        fixed=list(rng.integers(1, 30, site_centres.size) * 10_000),
        ys=list(rng.uniform(-200, 200, site_centres.size)),
        available_year=list(rng.choice([2026, 2027], site_centres.size)),
    )
    settings = {"objective": "max_coverage", "budgets": {2026: 600_000, 2027: 700_000}}
    settings.update(model)
    path = write_scenario(tmp_path, blocks, sites, facility_types=list(types), model=settings)
    scenario = load_scenario(path)
    inputs = read_inputs(scenario)
    inst = build_instance(inputs, scenario.catalog, make_engine(scenario.distances, inputs))
    return inst, planning_data(inst, scenario.model)


def _coverage_problem(data: planning.PlanningData) -> tuple[MILP, np.ndarray]:
    milp = planning.build_model(data, must_cover=False)
    return milp, planning.objective(data, "coverage")


def _plan(data: planning.PlanningData, milp: MILP, c: np.ndarray) -> heuristic.HeuristicPlan:
    plan = heuristic.heuristic_plan(data, milp, c, HIGHS, OPTIONS, time_s=2.0)
    assert plan is not None
    return plan


def _within_budgets(data: planning.PlanningData, sol: planning.PlanningSolution) -> bool:
    assert data.budgets is not None
    spent = planning.spending(data, sol)
    if data.carry_over:
        return bool(np.all(np.cumsum(spent) <= np.cumsum(data.budgets) * (1 + 1e-9)))
    return bool(np.all(spent <= data.budgets * (1 + 1e-9)))


@pytest.mark.parametrize(("seed", "carry_over"), [(0, False), (1, False), (2, True)])
def test_the_plan_is_feasible_and_keeps_the_budgets(
    tmp_path: Path, seed: int, carry_over: bool
) -> None:
    inst, data = _random_case(tmp_path, seed, carry_over=carry_over)
    milp, c = _coverage_problem(data)
    plan = _plan(data, milp, c)
    assert milp.max_violation(plan.x) <= 1e-6
    assert plan.value == pytest.approx(float(c @ plan.x))
    assert plan.value > 0  # the budgets buy something that serves someone
    sol = planning.decode(data, milp, plan.x)
    assert _within_budgets(data, sol)
    # the independent check of the plan against the inputs: every check that ran passed
    report = verify_plan(inst, data, sol, raise_on_failure=False)
    assert report.checks and not [f for f in report.failures if "could not run" not in f]


def test_the_plan_respects_columns_fixed_by_the_bounds(tmp_path: Path) -> None:
    _, data = _random_case(tmp_path, 3)
    milp, c = _coverage_problem(data)
    free = _plan(data, milp, c)
    lay = planning.Layout.of(data)
    S = data.n_sites
    # forbid the site the free plan leans on most (its costliest), commit an unused one
    sol = planning.decode(data, milp, free.x)
    spent_per_site = data.fixed_cost * sol.opened
    banned = int(np.argmax(spent_per_site))
    t = data.types[0]
    unused = [int(s) for s in t.sites if not sol.opened[s] and s != banned]
    assert unused, "the case needs a site the free plan leaves unused"
    committed = min(unused, key=lambda s: data.fixed_cost[s])
    e = int(np.flatnonzero(t.sites == committed)[0])
    k = data.n_periods - 1  # the larger budget pays for it
    lo, up = milp.col_lower.copy(), milp.col_upper.copy()
    up[lay.y(np.arange(data.n_periods), np.full(data.n_periods, banned))] = 0.0
    for i, ti in enumerate(data.types):
        hit = np.flatnonzero(ti.sites == banned)
        for kk in range(data.n_periods):
            up[lay.x0[i] + kk * ti.n_e + hit] = 0.0
    lo[k * S + committed] = 1.0
    lo[lay.x0[0] + k * t.n_e + e] = 1.0
    fixed = replace(milp, col_lower=lo, col_upper=up)
    plan = heuristic.heuristic_plan(data, fixed, c, HIGHS, OPTIONS, time_s=2.0)
    assert plan is not None
    assert fixed.max_violation(plan.x) <= 1e-6
    assert plan.x[k * S + committed] == 1.0 and plan.x[lay.x0[0] + k * t.n_e + e] == 1.0
    assert not plan.x[lay.y(np.arange(data.n_periods), np.full(data.n_periods, banned))].any()


def _enumerated_optimum(data: planning.PlanningData, milp: MILP, c: np.ndarray) -> float:
    """The best plan by enumeration: every site's conversion year (or none), every type's
    build on each converted site; sizes and assignment by the LP with those fixed."""
    lay = planning.Layout.of(data)
    K, S = data.n_periods, data.n_sites
    best = 0.0
    for years in itertools.product(range(-1, K), repeat=S):
        for builds in itertools.product([0, 1], repeat=sum(t.n_e for t in data.types)):
            fix_lo, fix_up = milp.col_lower.copy(), milp.col_upper.copy()
            fix_up[: K * S] = 0.0
            fix_lo[: K * S] = 0.0
            for s, k in enumerate(years):
                if k >= 0:
                    fix_lo[k * S + s] = fix_up[k * S + s] = 1.0
            pos = 0
            ok = True
            for i, t in enumerate(data.types):
                for e, s in enumerate(t.sites):
                    cols = lay.x0[i] + np.arange(K) * t.n_e + e
                    fix_lo[cols] = fix_up[cols] = 0.0
                    if builds[pos]:
                        if years[s] < 0:
                            ok = False
                        else:
                            fix_lo[cols[years[s]]] = fix_up[cols[years[s]]] = 1.0
                    pos += 1
            if not ok or np.any(fix_lo > milp.col_upper) or np.any(fix_up < milp.col_lower):
                continue
            m = replace(milp, c=c, sense="max", col_lower=fix_lo, col_upper=fix_up)
            res = HIGHS.solve(m, OPTIONS)
            if res.x is not None and res.status is Status.OPTIMAL:
                best = max(best, float(c @ res.x))
    return best


@pytest.mark.parametrize("seed", range(4))
def test_the_plan_never_beats_the_enumerated_optimum(tmp_path: Path, seed: int) -> None:
    # three sites, one type, two years: 3^3 conversion choices x 2^3 builds, each an LP
    _, data = _random_case(tmp_path, seed, n_blocks=6, n_sites=3, types=("elder_care",))
    milp, c = _coverage_problem(data)
    plan = _plan(data, milp, c)
    best = _enumerated_optimum(data, milp, c)
    assert plan.value <= best + 1e-6 * max(1.0, best)
    exact = planning_solve.solve(data, ["coverage"], HIGHS, OPTIONS, reassign=False, method="mip")
    assert exact.result.objective == pytest.approx(best, rel=1e-6, abs=1e-9)


@pytest.mark.parametrize("method", ["mip", "decomposition"])
@pytest.mark.parametrize("limit", [0.5, 5.0])
@pytest.mark.slow
def test_a_warm_started_solve_never_ends_below_the_heuristic(
    tmp_path: Path, method: str, limit: float
) -> None:
    _, data = _random_case(tmp_path, 4, n_blocks=18, n_sites=15)
    out = planning_solve.solve(
        data,
        ["coverage"],
        HIGHS,
        SolveOptions(time_limit_s=limit, mip_gap=0.0),
        reassign=False,
        method=method,  # type: ignore[arg-type]
    )
    assert out.result.x is not None
    extra = out.result.extra
    assert "+heuristic" in out.result.solver
    assert extra["method"] == ("mip" if method == "mip" else "lagrangian decomposition")
    c = planning.objective(data, "coverage")
    assert float(c @ out.result.x) >= extra["heuristic_value"] - 1e-6 * max(
        1.0,
        float(extra["heuristic_value"]),  # type: ignore[arg-type]
    )
    assert out.milp.max_violation(out.result.x) <= 1e-6


def test_auto_keeps_the_mip_for_small_models(tmp_path: Path) -> None:
    _, data = _random_case(tmp_path, 5)
    small = planning.build_model(data, must_cover=False)
    assert not planning_solve._decompose("auto", "coverage", data, small, False)
    out = planning_solve.solve(data, ["coverage"], HIGHS, OPTIONS, reassign=False, method="auto")
    assert out.result.solver == "highs+heuristic"
    assert out.result.extra["method"] == "mip"


def test_auto_gives_district_sized_models_the_decomposition_when_time_allows(
    tmp_path: Path,
) -> None:
    # only the count of binary columns of the compiled model matters to the choice
    _, data = _random_case(tmp_path, 5)
    n = planning_decomp.MIN_BINARIES
    big = MILP(
        c=np.zeros(n),
        A=sp.csr_matrix((0, n)),
        row_lower=np.zeros(0),
        row_upper=np.zeros(0),
        col_lower=np.zeros(n),
        col_upper=np.ones(n),
        integrality=np.ones(n, dtype=bool),
    )
    decide = planning_solve._decompose
    assert decide("auto", "coverage", data, big, False, None)
    assert decide("auto", "coverage", data, big, False, 60.0)
    assert not decide("auto", "coverage", data, big, False, 5.0)  # too short: the MIP
    assert decide("decomposition", "coverage", data, big, False, 5.0)  # asked for
    assert not decide("auto", "coverage", data, big, True, None)  # full cover ties pieces
