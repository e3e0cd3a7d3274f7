"""Exact optima of the covering model: hand-built instances, checked by brute force."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from optimizer.backends import SolveOptions, Status, get_backend
from optimizer.distances.base import make_engine
from optimizer.inputs import read_inputs
from optimizer.instance import build_instance
from optimizer.models.covering import multitype as covering
from optimizer.models.covering.multitype import coverage_points
from optimizer.scenario import load_scenario
from tests.helpers import blocks_frame, sites_frame, write_scenario
from tests.oracles import brute_force_covering

HIGHS = get_backend("highs")
EXACT = SolveOptions(time_limit_s=30, mip_gap=0.0)


def _data(path: Path) -> tuple[covering.CoveringData, object]:
    scenario = load_scenario(path)
    inst = build_instance(read_inputs(scenario), scenario.catalog, make_engine(scenario.distances))
    return covering.CoveringData.from_instance(inst), inst


def test_line_city_has_the_hand_computed_optimum(line_city: Path) -> None:
    data, _ = _data(line_city)
    outcome = covering.solve(data, HIGHS, EXACT)
    assert outcome.result.status is Status.OPTIMAL
    assert outcome.result.gap == 0.0
    # S1 hosts elder care + convenience (100k + 350k + 100k), S2 elder care (100k + 350k),
    # S5 convenience (10k + 100k): S2 (400 m2) cannot also take the 100 m2 store.
    assert outcome.result.objective == pytest.approx(1_110_000)
    assert brute_force_covering(data)[0] == pytest.approx(1_110_000)
    sol = outcome.solution
    assert list(np.flatnonzero(sol.built["elder_care"])) == [0, 1]
    assert list(np.flatnonzero(sol.built["convenience"])) == [0, 4]
    assert sol.cost == pytest.approx(1_110_000)


def test_classic_lscp_from_arrays() -> None:
    # 4 demand points, 3 sites: site 2 alone covers everything but costs more than 0 + 1
    reach = sp.csr_matrix(np.array([[1, 0, 1], [1, 0, 1], [0, 1, 1], [0, 1, 1]]))
    data = covering.CoveringData.from_arrays(reach, cost=[2.0, 3.0, 6.0])
    outcome = covering.solve(data, HIGHS, EXACT)
    assert outcome.result.objective == pytest.approx(5.0)
    data = covering.CoveringData.from_arrays(reach, cost=[2.0, 3.0, 4.5])
    assert covering.solve(data, HIGHS, EXACT).result.objective == pytest.approx(4.5)


@pytest.mark.parametrize("seed", range(8))
def test_random_tiny_instances_match_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_blocks, n_sites, n_types = 7, 5, 2
    eligible = [rng.random(n_sites) < 0.8 for _ in range(n_types)]
    cover = []
    for e in eligible:
        m = (rng.random((n_blocks, n_sites)) < 0.35) & e
        cover.append(sp.csr_matrix(m[m.any(axis=1)].astype(np.int8)))
    data = covering.CoveringData(
        type_keys=["a", "b"],
        fixed_cost=rng.integers(1, 20, n_sites).astype(float),
        floor_area=rng.integers(2, 6, n_sites).astype(float),
        eligible=eligible,
        fitout_cost=[rng.integers(1, 10, n_sites).astype(float) for _ in range(n_types)],
        area=[2.0, 3.0],
        cover=cover,
        cover_rows=[np.arange(c.shape[0]) for c in cover],
    )
    best, _ = brute_force_covering(data)
    outcome = covering.solve(data, HIGHS, EXACT)
    if np.isinf(best):
        assert outcome.result.status is Status.INFEASIBLE
    else:
        assert outcome.result.status is Status.OPTIMAL
        assert outcome.result.objective == pytest.approx(best)
        assert outcome.solution.cost == pytest.approx(best)


def test_conflicting_floor_area_maximises_coverage_then_cost(tmp_path: Path) -> None:
    # Block B1 reaches only S1 (400 m2): elder care (350) and a store (100) cannot share it.
    # Block B2 (far away) reaches S2 for both types. The plan covers B1 for the type whose
    # target group is the larger share of its total, leaves the other, and says so.
    blocks = blocks_frame([0, 5000], pop_60_plus=[300, 100])
    sites = sites_frame(xs=[0, 5000], floor=[400, 1000], fixed=[1000, 1000])
    path = write_scenario(tmp_path, blocks, sites)
    data, inst = _data(path)
    assert covering.solve(data, HIGHS, EXACT, shortfall_weight=None).result.status is (
        Status.INFEASIBLE
    )
    outcome = covering.solve(data, HIGHS, EXACT, shortfall_weight=coverage_points(inst, data))
    assert outcome.result.status is Status.OPTIMAL
    # elder care: B1 holds 75 % of the 60+; convenience: B1 holds 50 % of residents
    assert outcome.solution.built["elder_care"].tolist() == [True, True]
    assert outcome.solution.built["convenience"].tolist() == [False, True]
    assert list(outcome.left_uncovered["convenience"]) == [0]
    assert outcome.result.objective == pytest.approx(2 * (1000 + 350_000) + 100_000)
