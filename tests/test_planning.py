"""The planning model on small instances with known optimal plans: co-location, capacity,
phasing, budgets, infeasible targets; and a brute-force oracle on random tiny instances.

Numbers used below (tests/helpers.py): every block has 1,000 residents, 361 households and 200
residents aged 60+; elder care needs 20 m2 per 100 households = 72.2 m2 per block and is built
at 350-750 m2; a store needs 50 m2 per 1,000 residents and is built at 50-300 m2; fit-out is
1,000 yuan/m2 for both; elder care has priority 2, stores 1.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import linprog

from optimizer.backends import SolveOptions, Status, get_backend
from optimizer.distances.engine import make_engine
from optimizer.errors import InfeasibleError
from optimizer.inputs import read_inputs
from optimizer.instance import build_instance
from optimizer.models.planning import model as planning
from optimizer.models.planning import solve as planning_solve
from optimizer.pipeline import planning_data, run_plan
from optimizer.scenario import load_scenario
from tests.helpers import SIMPLE_CATALOG, blocks_frame, sites_frame, write_scenario

HIGHS = get_backend("highs")
EXACT = SolveOptions(time_limit_s=30, mip_gap=0.0)


def test_colocation_is_chosen_when_cheaper(tmp_path: Path) -> None:
    # S1 hosts both types for 100k + 350k + 50k = 500k; apart, S2 (elder care, 350 m2: no room
    # for a store) and S3 (store) cost 60k + 350k + 60k + 50k = 520k.
    blocks = blocks_frame([0])
    sites = sites_frame([0, 10, 20], floor=[500, 350, 100], fixed=[100_000, 60_000, 60_000])
    run = run_plan(write_scenario(tmp_path, blocks, sites), write=False)
    cl = run.plan.construction_list
    assert run.result.status is Status.OPTIMAL
    assert run.result.objective == pytest.approx(500_000)
    assert set(cl["site_id"]) == {"S1"} and len(cl) == 2
    assert run.summary["sites_with_several_types"] == 1
    assert "shares the site and its opening cost" in cl.loc[0, "reason"]


def test_capacity_needs_a_second_facility(tmp_path: Path) -> None:
    # 12 blocks need 12 x 72.2 = 866.4 m2 of elder care; one facility holds at most 750 m2, so
    # two sites open (2 x 100k); elder care is built in 50 m2 steps, so 900 m2 are fitted out
    # (the least multiple-of-50 total holding 866.4): 1,100,000 yuan.
    blocks = blocks_frame([0] * 12)
    sites = sites_frame([0, 0], floor=[1000, 1000], fixed=[100_000, 100_000])
    path = write_scenario(tmp_path, blocks, sites, facility_types=["elder_care"])
    run = run_plan(path, write=False)
    cl = run.plan.construction_list
    assert run.result.objective == pytest.approx(1_100_000)
    assert cl["floor_area_m2"].sum() == pytest.approx(900)
    assert (cl["floor_area_m2"] % 50 == 0).all()
    assert (cl["capacity"] <= 750 + 1e-6).all() and len(cl) == 2
    assert run.verify.passed and run.plan.coverage["covered_after"].all()


def _phased(tmp_path: Path, available: list[int], **model: object) -> Path:
    # Cluster A: 2 blocks at x = 0 (400 aged 60+); cluster B: 1 block at x = 5000 (200).
    # Each site costs 100k + 350k = 450k; a year's 500k buys one of them.
    blocks = blocks_frame([0, 0, 5000])
    sites = sites_frame(
        [0, 5000], floor=[400, 400], fixed=[100_000, 100_000], available_year=available
    )
    budgets = {2026: 500_000, 2027: 500_000}
    return write_scenario(
        tmp_path,
        blocks,
        sites,
        facility_types=["elder_care"],
        model={"objective": "max_coverage", "budgets": budgets, **model},
    )


def test_phasing_serves_the_most_residents_first(tmp_path: Path) -> None:
    run = run_plan(_phased(tmp_path, [2026, 2026]), write=False)
    cl = run.plan.construction_list
    assert cl[["year", "site_id"]].values.tolist() == [[2026, "S1"], [2027, "S2"]]
    # points: 400/600 of the 60+ at priority 2 for two years, then 200/600 for one
    assert run.result.objective == pytest.approx(2 * 200 * 2 / 3 + 200 / 3, rel=1e-9)
    budgets = run.summary["budgets"]
    assert all(v["spent"] <= v["budget"] for v in budgets.values())
    per_year = run.plan.per_year["coverage_pct:elder_care"].tolist()
    assert per_year == pytest.approx([200 / 3, 100.0], abs=1e-3)


def test_a_site_waits_for_its_available_year(tmp_path: Path) -> None:
    run = run_plan(_phased(tmp_path / "a", [2027, 2026]), write=False)
    cl = run.plan.construction_list
    assert cl[["year", "site_id"]].values.tolist() == [[2026, "S2"], [2027, "S1"]]


def test_carry_over_lets_a_later_year_spend_more(tmp_path: Path) -> None:
    # Without carry-over nothing can pay for both in 2027; with it, 2026's 50k left over and
    # 2027's 500k still cannot buy a second 450k site, but a 1,000k 2027 budget with nothing
    # in 2026 can only be used with carry-over semantics the same way: one per year.
    run = run_plan(_phased(tmp_path, [2026, 2026], carry_over=True), write=False)
    spent = [v["spent"] for v in run.summary["budgets"].values()]
    assert np.cumsum(spent) == pytest.approx(np.cumsum([450_000, 450_000]))


def test_infeasible_target_says_what_it_would_cost(tmp_path: Path) -> None:
    path = _phased(tmp_path, [2026, 2026], coverage_targets={2026: 1.0})
    with pytest.raises(InfeasibleError) as err:
        run_plan(path, write=False)
    text = str(err.value)
    assert "a 2026 coverage target of 100% for elder_care cannot be met" in text
    assert "the cheapest plan reaching it costs 900,000 yuan" in text
    assert "the budget through 2026 is 500,000" in text


def test_min_cost_cover_over_budget_serves_the_most_and_says_why(tmp_path: Path) -> None:
    # one year, 500k: serving all three blocks (900k) is out of reach; the plan serves
    # cluster A (the larger) and says what serving everyone would cost
    path = _phased(tmp_path, [2026, 2026], objective="min_cost_cover", budgets={2026: 500_000})
    run = run_plan(path, write=False)
    notes = run.summary["notes"]
    assert any("serving every reachable resident costs 900,000 yuan" in n for n in notes)
    assert run.plan.construction_list["site_id"].tolist() == ["S1"]


# --------------------------------------------------------------------------- oracle


def _brute_force_min_cost(data: planning.PlanningData) -> float:
    """Least cost of serving every reachable block in full, one period, by enumerating which
    (type, site) facilities exist and solving the sizing/assignment LP of each choice with
    scipy's linprog (a formulation written independently of the model builder)."""
    options = [(i, int(s)) for i, t in enumerate(data.types) for s in t.sites]
    best = np.inf
    for mask in itertools.product([0, 1], repeat=len(options)):
        chosen = [o for o, m in zip(options, mask, strict=True) if m]
        cost = _lp_cost(data, chosen)
        best = min(best, cost)
    return best


def _lp_cost(data: planning.PlanningData, chosen: list[tuple[int, int]]) -> float:
    # variables: area of each chosen facility, then a share per (type, block, facility) pair
    fixed = sum(data.fixed_cost[s] for s in {s for _, s in chosen})
    n_a = len(chosen)
    pairs = []  # (facility k, type i, block b)
    for k, (i, s) in enumerate(chosen):
        t = data.types[i]
        e = int(np.flatnonzero(t.sites == s)[0])
        for b in t.pair_block[t.pair_site == e]:
            pairs.append((k, i, int(b)))
    n = n_a + len(pairs)
    c = np.zeros(n)
    lo, up = np.zeros(n), np.ones(n)
    for k, (i, s) in enumerate(chosen):
        t = data.types[i]
        c[k] = t.rate[s]
        lo[k], up[k] = t.min_area, min(t.max_area, data.floor_area[s])
        if lo[k] > up[k]:
            return np.inf
    a_ub, b_ub, a_eq, b_eq = [], [], [], []
    for k, (i, _) in enumerate(chosen):  # capacity
        row = np.zeros(n)
        row[k] = -1.0 / data.types[i].area_per_unit
        for j, (kk, _, b) in enumerate(pairs):
            if kk == k:
                row[n_a + j] = data.types[i].need[b]
        a_ub.append(row)
        b_ub.append(0.0)
    for s in {s for _, s in chosen}:  # floor area
        row = np.zeros(n)
        for k, (_, ss) in enumerate(chosen):
            row[k] = 1.0 if ss == s else 0.0
        a_ub.append(row)
        b_ub.append(data.floor_area[s])
    for i, t in enumerate(data.types):  # every reachable block served in full
        for b in np.flatnonzero(t.reachable):
            row = np.zeros(n)
            for j, (_, ii, bb) in enumerate(pairs):
                row[n_a + j] = 1.0 if (ii == i and bb == b) else 0.0
            if not row.any():
                return np.inf
            a_eq.append(row)
            b_eq.append(1.0)
    res = linprog(
        c,
        A_ub=np.array(a_ub) if a_ub else None,
        b_ub=b_ub or None,
        A_eq=np.array(a_eq) if a_eq else None,
        b_eq=b_eq or None,
        bounds=list(zip(lo, up, strict=True)),
        method="highs",
    )
    return float(res.fun + fixed) if res.status == 0 else np.inf


@pytest.mark.parametrize("seed", range(6))
def test_random_tiny_instances_match_brute_force(tmp_path: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_blocks, n_sites = 5, 4
    blocks = blocks_frame(
        list(rng.uniform(0, 600, n_blocks)),
        list(rng.uniform(0, 300, n_blocks)),
        households=(hh := rng.integers(200, 900, n_blocks)),
        population=(hh * rng.uniform(2.5, 3.2, n_blocks)).astype(int),
    )
    sites = sites_frame(
        list(rng.uniform(0, 600, n_sites)),
        floor=list(rng.choice([120, 400, 500, 900], n_sites)),
        fixed=list(rng.integers(1, 20, n_sites) * 10_000),
        ys=list(rng.uniform(0, 300, n_sites)),
    )
    # the oracle's LP sizes facilities continuously: standard sizes off (tests/test_sizes_costs.py)
    any_size = {k: {**v, "size_step_m2": None} for k, v in SIMPLE_CATALOG.items()}
    path = write_scenario(tmp_path, blocks, sites, catalog=any_size)
    scenario = load_scenario(path)
    inputs = read_inputs(scenario)
    inst = build_instance(inputs, scenario.catalog, make_engine(scenario.distances, inputs))
    data = planning.from_instance(inst)
    expected = _brute_force_min_cost(data)
    out = planning_solve.solve(data, ["cost"], HIGHS, EXACT, must_cover=True)
    if not np.isfinite(expected):
        assert out.result.status is Status.INFEASIBLE
        return
    assert out.result.status is Status.OPTIMAL
    assert out.result.objective == pytest.approx(expected, rel=1e-7)
    assert out.solution is not None
    assert planning.spending(data, out.solution).sum() == pytest.approx(expected, rel=1e-7)


def test_a_converted_site_without_facilities_is_dropped(tmp_path: Path) -> None:
    # A time-limited incumbent can open a site and build nothing on it: that only spends
    # money, so decoding drops it and the listed cost equals the recomputed cost.
    path = write_scenario(tmp_path, blocks_frame([0]), sites_frame([0], floor=[500], fixed=[1]))
    scenario = load_scenario(path)
    inputs = read_inputs(scenario)
    inst = build_instance(inputs, scenario.catalog, make_engine(scenario.distances, inputs))
    data = planning.from_instance(inst)
    milp = planning.build_model(data, must_cover=False)
    x = np.zeros(milp.num_vars)
    x[milp.blocks["open"]] = 1.0
    sol = planning.decode(data, milp, x)
    assert not sol.opened.any()
    assert planning.spending(data, sol).sum() == 0.0


def test_a_plan_encodes_back_to_a_feasible_start(tmp_path: Path) -> None:
    # encode() inverts decode(): the plan's columns satisfy the model, cost what the plan
    # spends, and warm-start a larger budget's solve (a sweep's next step) to its optimum.
    scenario = load_scenario(_phased(tmp_path, [2026, 2026]))
    inputs = read_inputs(scenario)
    inst = build_instance(inputs, scenario.catalog, make_engine(scenario.distances, inputs))
    data = planning_data(inst, scenario.model)
    out = planning_solve.solve(data, ["coverage"], HIGHS, EXACT)
    assert out.solution is not None
    x = planning.encode(data, out.solution)
    assert x is not None
    assert out.milp.max_violation(x) <= 1e-7
    assert out.milp.objective_value(x) == pytest.approx(planning.spending(data, out.solution).sum())
    assert data.budgets is not None
    richer = data.with_changes(budgets=data.budgets * 2)
    warm = planning_solve.solve(richer, ["coverage"], HIGHS, EXACT, start=x)
    cold = planning_solve.solve(richer, ["coverage"], HIGHS, EXACT)
    assert warm.result.status is Status.OPTIMAL
    assert warm.result.objective == pytest.approx(cold.result.objective, rel=1e-9)
    assert warm.result.objective > out.result.objective
    other = planning.from_instance(inst)  # one period: another layout
    assert planning.encode(other, out.solution) is None
